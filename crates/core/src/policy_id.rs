//! The `id` of an MTA-STS policy: validation and generation of ids that
//! always increase.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::error::PolicyIdError;

/// Longest id allowed by RFC 8461 §3.1 (`1*32(ALPHA / DIGIT)`).
const MAX_LEN: usize = 32;
/// Length of the time part `YYYYMMDDTHHMMSS`.
const TIME_LEN: usize = 15;
/// Width of the zero-padded sequence after `S`.
const SEQ_WIDTH: usize = 4;
/// Largest sequence number that fits [`SEQ_WIDTH`] digits.
const SEQ_MAX: u32 = 9_999;

/// A policy id: 1 to 32 ASCII letters and digits (RFC 8461 §3.1).
///
/// Senders refetch the policy whenever the id in the `_mta-sts` TXT record
/// changes, so ids from [`PolicyId::next`] are generated from the clock and
/// strictly increase. Ordering is plain string ordering, which for generated
/// ids is chronological.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PolicyId(String);

/// A generated id taken apart.
struct Generated<'a> {
    /// The `YYYYMMDDTHHMMSS` part.
    time_part: &'a str,
    time: PrimitiveDateTime,
    /// The number after `S`, if any.
    seq: Option<u32>,
}

impl PolicyId {
    /// The id as it appears in the TXT record.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Generates the id that follows `previous`, at time `now`.
    ///
    /// Generated ids are the UTC time as `YYYYMMDDTHHMMSS` (for example
    /// `20261122T174417`), optionally followed by `S` and a 4-digit
    /// zero-padded sequence number (`20261122T174417S0001`).
    ///
    /// - Without a previous id, or with one not in this format (a foreign
    ///   id), the result is the time of `now`; should a foreign id equal it,
    ///   `S0001` is appended so that the id still changes.
    /// - If `now` is later than the previous id's time part, the result is
    ///   the time of `now`.
    /// - Otherwise (several edits within one second, or a clock behind the
    ///   one that made `previous`) the previous time part is kept and the
    ///   sequence is incremented; after `S9999` the time part is advanced by
    ///   one second instead.
    ///
    /// So generated ids strictly increase, whatever the clock does. Times
    /// outside the years 0000 to 9999 are clamped to that range; at the very
    /// end of year 9999 with the sequence exhausted the previous id is
    /// returned unchanged, as no greater id of this format exists.
    pub fn next(previous: Option<&PolicyId>, now: OffsetDateTime) -> PolicyId {
        let t = format_time(clamp_to_utc(now));
        let Some(previous) = previous else {
            return PolicyId(t);
        };
        let Some(generated) = parse_generated(previous.as_str()) else {
            return if previous.as_str() == t {
                PolicyId(format!("{t}S{:0width$}", 1, width = SEQ_WIDTH))
            } else {
                PolicyId(t)
            };
        };
        // Fixed-width, zero-padded fields: string order is time order.
        if t.as_str() > generated.time_part {
            return PolicyId(t);
        }
        let seq = generated.seq.unwrap_or(0);
        if seq < SEQ_MAX {
            return PolicyId(format!(
                "{}S{:0width$}",
                generated.time_part,
                seq + 1,
                width = SEQ_WIDTH
            ));
        }
        match generated.time.checked_add(Duration::SECOND) {
            Some(later) if later.year() <= 9999 => PolicyId(format_time(later)),
            _ => previous.clone(),
        }
    }

    /// The UTC time encoded in a generated id, or `None` for other ids.
    pub fn generated_time(&self) -> Option<OffsetDateTime> {
        parse_generated(&self.0).map(|g| g.time.assume_utc())
    }
}

/// Converts to UTC, drops sub-second precision, and clamps to the years
/// that fit four digits.
fn clamp_to_utc(now: OffsetDateTime) -> PrimitiveDateTime {
    let min = PrimitiveDateTime::new(Date::MIN, Time::MIDNIGHT);
    let max = PrimitiveDateTime::new(Date::MAX, Time::MIDNIGHT);
    let first = Date::from_calendar_date(0, Month::January, 1).map_or(min, |d| d.midnight());
    let last = Date::from_calendar_date(9999, Month::December, 31)
        .ok()
        .and_then(|d| d.with_hms(23, 59, 59).ok())
        .unwrap_or(max);
    let Some(utc) = now.checked_to_offset(UtcOffset::UTC) else {
        // Only possible at the very edges of the representable range.
        return if now.year() < 0 { first } else { last };
    };
    PrimitiveDateTime::new(utc.date(), utc.time()).clamp(first, last)
}

/// `YYYYMMDDTHHMMSS`; the year must be in 0..=9999.
fn format_time(t: PrimitiveDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn digits(s: &str, range: std::ops::Range<usize>) -> Option<u32> {
    let part = s.get(range)?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// Recognizes `YYYYMMDDTHHMMSS` and `YYYYMMDDTHHMMSSSnnnn` with a real
/// calendar date and time.
fn parse_generated(s: &str) -> Option<Generated<'_>> {
    let seq = match s.len() {
        TIME_LEN => None,
        len if len == TIME_LEN + 1 + SEQ_WIDTH => {
            if s.get(TIME_LEN..=TIME_LEN) != Some("S") {
                return None;
            }
            Some(digits(s, TIME_LEN + 1..len)?)
        }
        _ => return None,
    };
    if s.get(8..9) != Some("T") {
        return None;
    }
    let year = i32::try_from(digits(s, 0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(s, 4..6)?).ok()?).ok()?;
    let day = u8::try_from(digits(s, 6..8)?).ok()?;
    let hour = u8::try_from(digits(s, 9..11)?).ok()?;
    let minute = u8::try_from(digits(s, 11..13)?).ok()?;
    let second = u8::try_from(digits(s, 13..15)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(Generated {
        time_part: s.get(..TIME_LEN)?,
        time: PrimitiveDateTime::new(date, time),
        seq,
    })
}

impl FromStr for PolicyId {
    type Err = PolicyIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(PolicyIdError::Empty);
        }
        if let Some(ch) = s.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(PolicyIdError::InvalidChar { ch });
        }
        if s.len() > MAX_LEN {
            return Err(PolicyIdError::TooLong { len: s.len() });
        }
        Ok(PolicyId(s.to_owned()))
    }
}

impl TryFrom<String> for PolicyId {
    type Error = PolicyIdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<PolicyId> for String {
    fn from(value: PolicyId) -> Self {
        value.0
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn id(s: &str) -> PolicyId {
        s.parse().unwrap()
    }

    fn is_valid(id: &PolicyId) -> bool {
        id.as_str().parse::<PolicyId>().as_ref() == Ok(id)
    }

    #[test]
    fn validation() {
        assert!("a".parse::<PolicyId>().is_ok());
        assert!("20160831085700Z".parse::<PolicyId>().is_ok());
        assert!("A".repeat(32).parse::<PolicyId>().is_ok());
        assert_eq!("".parse::<PolicyId>(), Err(PolicyIdError::Empty));
        assert_eq!(
            "A".repeat(33).parse::<PolicyId>(),
            Err(PolicyIdError::TooLong { len: 33 })
        );
        for (s, ch) in [("abc-1", '-'), ("a b", ' '), ("é", 'é'), ("x;", ';')] {
            let err = s.parse::<PolicyId>().unwrap_err();
            assert_eq!(err, PolicyIdError::InvalidChar { ch });
            assert!(err.to_string().contains("only ASCII letters and digits"));
        }
    }

    #[test]
    fn serde() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StringDeserializer};
        let de: StringDeserializer<Error> = "abc123".to_owned().into_deserializer();
        assert_eq!(PolicyId::deserialize(de).unwrap(), id("abc123"));
        let de: StringDeserializer<Error> = "abc-123".to_owned().into_deserializer();
        assert!(PolicyId::deserialize(de).is_err());
        assert_eq!(String::from(id("x1")), "x1");
    }

    #[test]
    fn first_id_is_the_time() {
        let now = datetime!(2026-11-22 17:44:17.987 UTC);
        assert_eq!(PolicyId::next(None, now).as_str(), "20261122T174417");
        // Converted to UTC.
        let now = datetime!(2026-11-22 18:44:17 +01:00);
        assert_eq!(PolicyId::next(None, now).as_str(), "20261122T174417");
    }

    #[test]
    fn later_time_wins() {
        let prev = id("20261122T174417S0042");
        let next = PolicyId::next(Some(&prev), datetime!(2026-11-22 17:44:18 UTC));
        assert_eq!(next.as_str(), "20261122T174418");
        assert!(next > prev);
    }

    #[test]
    fn same_second_uses_sequence() {
        let now = datetime!(2026-11-22 17:44:17 UTC);
        let a = PolicyId::next(None, now);
        let b = PolicyId::next(Some(&a), now);
        let c = PolicyId::next(Some(&b), now);
        assert_eq!(b.as_str(), "20261122T174417S0001");
        assert_eq!(c.as_str(), "20261122T174417S0002");
    }

    #[test]
    fn clock_going_backwards() {
        let prev = id("20261122T174417S0007");
        let next = PolicyId::next(Some(&prev), datetime!(2026-11-22 17:40:00 UTC));
        assert_eq!(next.as_str(), "20261122T174417S0008");
        let next = PolicyId::next(Some(&prev), datetime!(1999-01-01 00:00:00 UTC));
        assert!(next > prev);
    }

    #[test]
    fn sequence_overflow_bumps_second() {
        let prev = id("20261122T174417S9999");
        let next = PolicyId::next(Some(&prev), datetime!(2026-11-22 17:44:17 UTC));
        assert_eq!(next.as_str(), "20261122T174418");
        // Across a year boundary.
        let prev = id("20261231T235959S9999");
        let next = PolicyId::next(Some(&prev), datetime!(2026-01-01 00:00:00 UTC));
        assert_eq!(next.as_str(), "20270101T000000");
    }

    #[test]
    fn monotonic_over_10000_calls_in_one_second() {
        let now = datetime!(2026-11-22 17:44:17 UTC);
        let mut prev = PolicyId::next(None, now);
        for _ in 0..10_000 {
            let next = PolicyId::next(Some(&prev), now);
            assert!(next > prev, "{next} <= {prev}");
            assert!(is_valid(&next));
            prev = next;
        }
        // 1 + 9999 sequence numbers, then the next second.
        assert_eq!(prev.as_str(), "20261122T174418");
    }

    #[test]
    fn across_second_boundaries() {
        let mut prev = PolicyId::next(None, datetime!(2026-11-22 17:44:59 UTC));
        for now in [
            datetime!(2026-11-22 17:44:59.5 UTC),
            datetime!(2026-11-22 17:45:00 UTC),
            datetime!(2026-11-22 17:45:00.999 UTC),
            datetime!(2026-11-22 17:45:01 UTC),
        ] {
            let next = PolicyId::next(Some(&prev), now);
            assert!(next > prev);
            prev = next;
        }
        assert_eq!(prev.as_str(), "20261122T174501");
    }

    #[test]
    fn foreign_previous_ids() {
        let now = datetime!(2026-11-22 17:44:17 UTC);
        for foreign in [
            "20160831085700Z",
            "abc",
            "20261399T999999",
            "20261122T174417S00001",
        ] {
            let next = PolicyId::next(Some(&id(foreign)), now);
            assert_eq!(next.as_str(), "20261122T174417");
            assert_ne!(next.as_str(), foreign);
        }
    }

    #[test]
    fn generated_time() {
        let t = id("20261122T174417S0003").generated_time();
        assert_eq!(t, Some(datetime!(2026-11-22 17:44:17 UTC)));
        assert_eq!(
            id("20261122T174417").generated_time(),
            Some(datetime!(2026-11-22 17:44:17 UTC))
        );
        for s in [
            "abc",
            "20261322T174417",
            "20260230T000000",
            "20261122X174417",
            "20261122T174417X0001",
        ] {
            assert_eq!(id(s).generated_time(), None, "{s}");
        }
    }

    #[test]
    fn extreme_times() {
        let late = datetime!(9999-12-31 23:59:59 -05:00);
        let a = PolicyId::next(None, late);
        assert_eq!(a.as_str(), "99991231T235959");
        let early = OffsetDateTime::new_utc(
            Date::from_calendar_date(-5, Month::January, 1).unwrap(),
            Time::MIDNIGHT,
        );
        assert_eq!(PolicyId::next(None, early).as_str(), "00000101T000000");
        let last = id("99991231T235959S9999");
        assert_eq!(PolicyId::next(Some(&last), late), last);
    }

    proptest! {
        #[test]
        fn ids_strictly_increase(
            steps in proptest::collection::vec((-100_000i64..100_000, 0u32..1_000_000_000), 1..200),
            start in 0i64..4_102_444_800,
        ) {
            let mut ts = start;
            let mut prev: Option<PolicyId> = None;
            for (delta, nanos) in steps {
                ts = ts.saturating_add(delta).clamp(0, 253_402_300_000);
                let now = OffsetDateTime::from_unix_timestamp(ts)
                    .unwrap()
                    .replace_nanosecond(nanos)
                    .unwrap();
                let next = PolicyId::next(prev.as_ref(), now);
                prop_assert!(is_valid(&next));
                prop_assert!(next.generated_time().is_some());
                if let Some(p) = &prev {
                    prop_assert!(&next > p, "{} <= {}", next, p);
                }
                prev = Some(next);
            }
        }

        #[test]
        fn same_second_runs_increase(ts in 0i64..4_102_444_800, n in 1usize..50) {
            let now = OffsetDateTime::from_unix_timestamp(ts).unwrap();
            let mut prev = PolicyId::next(None, now);
            prop_assert_eq!(prev.generated_time(), Some(now));
            for _ in 0..n {
                let next = PolicyId::next(Some(&prev), now);
                prop_assert!(next > prev);
                prop_assert_eq!(next.generated_time(), Some(now));
                prev = next;
            }
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            if let Ok(id) = s.parse::<PolicyId>() {
                prop_assert!(!id.as_str().is_empty() && id.as_str().len() <= 32);
                let _ = id.generated_time();
                let _ = PolicyId::next(Some(&id), OffsetDateTime::UNIX_EPOCH);
            }
        }
    }
}
