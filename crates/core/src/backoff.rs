//! Retry pacing shared by the workers (certificate orders, alert deliveries).

use std::time::Duration;

/// The delay after the `attempts`-th failure: `base`, doubling per further failure, never
/// more than `cap`. Attempts below one count as one.
pub fn backoff(attempts: i64, base: Duration, cap: Duration) -> time::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let delay = base.saturating_mul(2u32.saturating_pow(doublings)).min(cap);
    time::Duration::try_from(delay).unwrap_or(time::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_base_up_to_the_cap() {
        let b = |n| backoff(n, Duration::from_secs(10), Duration::from_secs(100)).whole_seconds();
        assert_eq!(
            [b(i64::MIN), b(0), b(1), b(2), b(3), b(4)],
            [10, 10, 10, 20, 40, 80]
        );
        assert_eq!([b(5), b(i64::MAX)], [100, 100]);
    }
}
