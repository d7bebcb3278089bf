//! The process's file limit, and how it is shared between listeners.
//!
//! Every connection holds a descriptor. A process whose listeners together may hold more
//! connections than its file limit lets one flooded listener starve the others (their
//! `accept` fails with `EMFILE`) and the database pool with them. So at start the soft limit
//! is raised to the hard one, and each TCP listener's connection cap is at most an equal share
//! of what remains after a reserve for the pool, UDP sockets and files.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept out of the listeners' shares: the database pool, UDP sockets, listening
/// sockets, log and snapshot files, outgoing connections of the workers.
pub const RESERVED_FILES: u64 = 512;

/// The file limit before and after [`raise_file_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimit {
    /// The soft limit found at start (`None`: unlimited).
    pub before: Option<u64>,
    /// The soft limit in force now.
    pub soft: Option<u64>,
    /// The hard limit.
    pub hard: Option<u64>,
}

impl FileLimit {
    /// The limit in force as a number (`u64::MAX` when unlimited).
    pub fn effective(&self) -> u64 {
        self.soft.unwrap_or(u64::MAX)
    }

    /// The connection cap of each of `listeners` TCP listeners: an equal share of the limit
    /// after [`RESERVED_FILES`], so that together they can never exhaust it.
    pub fn share(&self, listeners: usize) -> usize {
        share(self.effective(), listeners)
    }
}

/// An equal share of `limit` minus the reserve for each of `listeners` (at least 16 each, so
/// a tiny limit still serves something).
pub fn share(limit: u64, listeners: usize) -> usize {
    let listeners = u64::try_from(listeners.max(1)).unwrap_or(u64::MAX);
    let available = limit.saturating_sub(RESERVED_FILES);
    usize::try_from(available / listeners)
        .unwrap_or(usize::MAX)
        .max(16)
}

/// Raises the soft file limit to the hard limit and says what it is now. When raising fails
/// (a sandbox may forbid it) the limit stays as it was, which the result shows.
pub fn raise_file_limit() -> FileLimit {
    let found = getrlimit(Resource::Nofile);
    let mut limit = FileLimit {
        before: found.current,
        soft: found.current,
        hard: found.maximum,
    };
    if found.current != found.maximum
        && setrlimit(
            Resource::Nofile,
            Rlimit {
                current: found.maximum,
                maximum: found.maximum,
            },
        )
        .is_ok()
    {
        limit.soft = getrlimit(Resource::Nofile).current;
    }
    limit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_leave_the_reserve_free() {
        assert_eq!(share(20_000, 5), 3_897);
        assert!(share(20_000, 5) as u64 * 5 + RESERVED_FILES <= 20_000);
        assert_eq!(
            share(u64::MAX, 5),
            usize::try_from((u64::MAX - 512) / 5).unwrap()
        );
        assert_eq!(share(100, 5), 16);
        assert_eq!(share(20_000, 0), 19_488);
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let limit = raise_file_limit();
        assert_eq!(limit.soft, limit.hard);
        assert_eq!(limit.soft, getrlimit(Resource::Nofile).current);
    }
}
