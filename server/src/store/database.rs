//! Which database a `--database` value names: the URL scheme chooses the adapter.

use std::{fmt, path::PathBuf};

/// Where Parlor keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (one machine; several processes on it may share the file).
    Sqlite(PathBuf),
    /// A PostgreSQL server, as a `postgres://` URL (many machines).
    Postgres(String),
}

impl Database {
    /// Parses a `--database` value: a file path, `sqlite:path` / `sqlite://path`, or a
    /// `postgres://` / `postgresql://` URL. Anything else that looks like a URL is refused
    /// with a clear message: taken as a path, `mysql://host/db` would quietly create an SQLite
    /// file under a directory named `mysql:`.
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.trim().is_empty() {
            return Err("the database path is empty".to_owned());
        }
        if let Some(rest) = value.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            return match path.split_once('?') {
                _ if path.is_empty() => {
                    Err("`sqlite:` needs a file path, e.g. sqlite://data/parlor.db".to_owned())
                }
                Some(_) => Err(
                    "options in an sqlite: URL are not supported: give the file path alone"
                        .to_owned(),
                ),
                None => Ok(Self::Sqlite(PathBuf::from(path))),
            };
        }
        let scheme = value
            .split_once(':')
            .map(|(scheme, _)| scheme)
            .filter(|scheme| {
                scheme.len() > 1
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            });
        match scheme {
            Some("postgres" | "postgresql") => {
                value
                    .parse::<sqlx::postgres::PgConnectOptions>()
                    .map_err(|e| format!("not a usable PostgreSQL URL: {e}"))?;
                Ok(Self::Postgres(value.to_owned()))
            }
            Some(scheme) if value.contains("://") => Err(format!(
                "unsupported database URL scheme `{scheme}:`: give an SQLite file path, \
                 sqlite://path or postgres://user@host/db"
            )),
            _ => Ok(Self::Sqlite(PathBuf::from(value))),
        }
    }
}

/// For logs and messages: a PostgreSQL URL without its password.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => match url::Url::parse(url) {
                Ok(mut parsed) if parsed.password().is_some() => {
                    let _ = parsed.set_password(Some("***"));
                    write!(f, "{parsed}")
                }
                _ => f.write_str(url),
            },
        }
    }
}

/// Like [`fmt::Display`]: never prints a password.
impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_chooses_the_backend() {
        assert_eq!(
            Database::parse("x.db"),
            Ok(Database::Sqlite(PathBuf::from("x.db")))
        );
        assert_eq!(
            Database::parse("postgres://parlor@127.0.0.1:5432/parlor"),
            Ok(Database::Postgres(
                "postgres://parlor@127.0.0.1:5432/parlor".to_owned()
            ))
        );
        assert!(Database::parse("postgresql://u@h/db").is_ok());
        let refused = Database::parse("mysql://u@h/db").expect_err("mysql is refused");
        assert!(refused.contains("mysql"), "{refused}");
    }

    #[test]
    fn passwords_never_show() {
        let database =
            Database::parse("postgres://parlor:s3cret@db.internal/parlor").expect("a postgres url");
        assert!(!database.to_string().contains("s3cret"));
        assert!(!format!("{database:?}").contains("s3cret"));
    }
}
