//! Topic names: every Redis channel Parlor uses lives under one prefix, so several
//! deployments can share a Redis.

/// The topics of one deployment, seen from one process.
pub(super) struct Topics {
    /// `--redis-prefix`.
    prefix: String,
    /// This process's own topic (`send` to one of its channels).
    pub(super) process: String,
}

impl Topics {
    /// The topics under `prefix` for the process `process_id`.
    pub(super) fn new(prefix: &str, process_id: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            process: format!("{prefix}:process:{process_id}"),
        }
    }

    /// The topic of a group.
    pub(super) fn group(&self, group: &str) -> String {
        format!("{}:group:{group}", self.prefix)
    }

    /// The topic of another process.
    pub(super) fn process_of(&self, process: &str) -> String {
        format!("{}:process:{process}", self.prefix)
    }

    /// The group a topic belongs to, if it is a group topic.
    pub(super) fn group_of<'a>(&self, topic: &'a str) -> Option<&'a str> {
        topic
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix(":group:"))
    }
}

#[cfg(test)]
mod tests {
    use super::Topics;

    #[test]
    fn group_topics_round_trip_and_other_prefixes_are_not_ours() {
        let topics = Topics::new("parlor", "abc");
        assert_eq!(topics.process, "parlor:process:abc");
        let topic = topics.group("room:lobby");
        assert_eq!(topics.group_of(&topic), Some("room:lobby"));
        assert_eq!(topics.group_of("other:group:room:lobby"), None);
        assert_eq!(topics.process_of("xyz"), "parlor:process:xyz");
    }
}
