//! How a connection waits for SQLite's write lock when another process holds it.
//!
//! SQLite's own busy handler (`busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25 ms … between
//! attempts. With several server processes sharing one file, each committing a batch every
//! few milliseconds, a writer that finds the lock taken sleeps through several of the other
//! process's commits and its senders wait 10–40 ms for nothing (measured: S1 with two
//! processes had p90 16 ms against 2.6 ms for one). This handler retries every 100 µs for
//! the first 20 ms, then every millisecond, and gives up after about ten seconds, as
//! `busy_timeout` did. It runs on sqlx's worker thread for the connection, so sleeping there
//! blocks no async task.

use sqlx::SqliteConnection;
use std::{
    ffi::{c_int, c_void},
    time::Duration,
};

/// Attempts at the short step before switching to the long one.
const SHORT_ATTEMPTS: c_int = 200;
const SHORT_STEP: Duration = Duration::from_micros(100);
/// Attempts at the long step before giving up (≈ 10 s).
const LONG_ATTEMPTS: c_int = 10_000;
const LONG_STEP: Duration = Duration::from_millis(1);

/// Installs the handler on one connection (it replaces the `busy_timeout` handler).
pub(super) async fn install(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is the live connection handle, locked for the duration of the call;
    // the callback is a plain function with no captured state (null user data).
    let rc = unsafe {
        libsqlite3_sys::sqlite3_busy_handler(db, Some(retry_soon_c), std::ptr::null_mut())
    };
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!(
            "sqlite3_busy_handler failed with code {rc}"
        )))
    }
}

/// SQLite calls this with the number of earlier attempts for the same lock; non-zero means
/// "try again". It must not unwind (it is called from C): it only sleeps.
extern "C" fn retry_soon_c(_: *mut c_void, attempts: c_int) -> c_int {
    c_int::from(retry_soon(attempts))
}

/// Whether to try again after `attempts` earlier attempts (sleeping first): the rule for
/// the pooled connections and for the message writer's own.
pub(super) fn retry_soon(attempts: c_int) -> bool {
    if attempts < SHORT_ATTEMPTS {
        std::thread::sleep(SHORT_STEP);
        true
    } else if attempts < SHORT_ATTEMPTS + LONG_ATTEMPTS {
        std::thread::sleep(LONG_STEP);
        true
    } else {
        false
    }
}
