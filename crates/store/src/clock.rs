//! Time conversions: the schema stores unix milliseconds.

use time::OffsetDateTime;

use crate::error::StoreError;

/// The current time, truncated to milliseconds so that it survives a round trip.
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    from_ms(to_ms(t)).unwrap_or(t)
}

/// A time as unix milliseconds.
pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    // i128 -> i64 cannot overflow for any time `time` can represent divided by 1e6.
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Unix milliseconds as a time.
pub(crate) fn from_ms(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|e| {
        StoreError::Corrupt {
            what: "timestamp",
            detail: e.to_string(),
        }
    })
}

/// An optional column of unix milliseconds.
pub(crate) fn from_ms_opt(ms: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    ms.map(from_ms).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = now();
        assert_eq!(from_ms(to_ms(t)).unwrap(), t);
        assert!(from_ms(i64::MAX).is_err());
    }
}
