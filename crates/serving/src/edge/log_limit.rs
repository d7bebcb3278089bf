//! A log line at most once per interval, for events a client can cause at will: the lines
//! left out are counted and the count goes into the next line written.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Admits one line per `every`; lock-free, so the handshake path never waits on it.
#[derive(Debug)]
pub(crate) struct LogLimit {
    every_ms: u64,
    /// The instant the millisecond counts below are taken from.
    origin: Instant,
    /// The earliest time (ms after `origin`) the next line may be written.
    next_ms: AtomicU64,
    /// Events since the last line written.
    suppressed: AtomicU64,
}

impl LogLimit {
    /// At most one line per `every`; the first event is always written.
    pub(crate) fn new(every: Duration) -> LogLimit {
        LogLimit {
            every_ms: millis(every),
            origin: Instant::now(),
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether a line may be written for an event now: `Some(n)` with the number of events
    /// left out since the last line, or `None` (the event is counted).
    pub(crate) fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let now_ms = millis(now.saturating_duration_since(self.origin));
        let next = self.next_ms.load(Ordering::Acquire);
        // Of events racing for the same slot, exactly one wins the exchange.
        if now_ms >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now_ms.saturating_add(self.every_ms),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::AcqRel));
        }
        self.suppressed.fetch_add(1, Ordering::AcqRel);
        None
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_of_the_rest() {
        let limit = LogLimit::new(Duration::from_secs(10));
        let t0 = limit.origin;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(limit.admit_at(at(0)), Some(0));
        // 5,000 events in the next half second: none written.
        for i in 0..5_000 {
            assert_eq!(limit.admit_at(at(i / 10)), None);
        }
        assert_eq!(limit.admit_at(at(9_999)), None);
        // The next line after the interval carries the count.
        assert_eq!(limit.admit_at(at(10_000)), Some(5_001));
        assert_eq!(limit.admit_at(at(10_001)), None);
        // A quiet spell: the next event is written at once, counting the one left out.
        assert_eq!(limit.admit_at(at(60_000)), Some(1));
        assert_eq!(limit.admit_at(at(60_000)), None);
    }

    #[test]
    fn racing_threads_write_one_line() {
        let limit = std::sync::Arc::new(LogLimit::new(Duration::from_secs(3600)));
        let written: u64 = (0..4)
            .map(|_| {
                let limit = limit.clone();
                std::thread::spawn(move || {
                    (0..1_000).filter(|_| limit.admit().is_some()).count() as u64
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(written, 1);
        assert_eq!(limit.suppressed.load(Ordering::Acquire), 3_999);
    }
}
