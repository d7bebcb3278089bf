//! The `mode` and `max_age` fields of an MTA-STS policy.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{ModeError, PolicyError};

/// The policy mode (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No policy: senders forget any cached policy.
    None,
    /// Senders report failures (TLS-RPT) but still deliver.
    Testing,
    /// Senders refuse delivery to hosts that fail validation.
    Enforce,
}

impl Mode {
    /// Every mode, in order of strictness.
    pub const ALL: [Mode; 3] = [Mode::None, Mode::Testing, Mode::Enforce];

    /// The value as written in a policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Testing => "testing",
            Mode::Enforce => "enforce",
        }
    }
}

impl FromStr for Mode {
    type Err = ModeError;

    /// Strict: only the lowercase spellings, since senders compare
    /// case-sensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Mode::None),
            "testing" => Ok(Mode::Testing),
            "enforce" => Ok(Mode::Enforce),
            _ => Err(ModeError::Unknown {
                value: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `max_age` of a policy in seconds, at most one year (RFC 8461 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct MaxAge(u32);

impl MaxAge {
    /// The largest allowed value: 31557600 seconds (365.25 days).
    pub const MAX: MaxAge = MaxAge(31_557_600);

    /// Checks that `seconds` is at most [`MaxAge::MAX`].
    ///
    /// Zero is allowed: RFC 8461 permits it, and it is how a domain tells
    /// senders to drop a cached policy quickly.
    pub fn new(seconds: u32) -> Result<MaxAge, PolicyError> {
        if seconds <= Self::MAX.0 {
            Ok(MaxAge(seconds))
        } else {
            Err(PolicyError::MaxAgeOutOfRange {
                value: u64::from(seconds),
            })
        }
    }

    /// The value in seconds.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for MaxAge {
    type Error = PolicyError;

    fn try_from(value: u32) -> Result<Self, Self::Error> {
        MaxAge::new(value)
    }
}

impl From<MaxAge> for u32 {
    fn from(value: MaxAge) -> Self {
        value.0
    }
}

impl fmt::Display for MaxAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error, StrDeserializer, U32Deserializer};

    #[test]
    fn mode_strict_lowercase() {
        for m in Mode::ALL {
            assert_eq!(m.as_str().parse::<Mode>(), Ok(m));
            assert_eq!(m.to_string(), m.as_str());
        }
        for s in ["Enforce", "ENFORCE", " enforce", "enforce ", "", "strict"] {
            let err = s.parse::<Mode>().unwrap_err();
            assert!(err.to_string().contains("is not one of"), "{s}");
        }
    }

    #[test]
    fn mode_serde() {
        let de: StrDeserializer<'_, Error> = "testing".into_deserializer();
        assert_eq!(Mode::deserialize(de).unwrap(), Mode::Testing);
        let de: StrDeserializer<'_, Error> = "Testing".into_deserializer();
        assert!(Mode::deserialize(de).is_err());
    }

    #[test]
    fn max_age_range() {
        assert_eq!(MaxAge::new(0).unwrap().get(), 0);
        assert_eq!(MaxAge::new(31_557_600).unwrap(), MaxAge::MAX);
        let err = MaxAge::new(31_557_601).unwrap_err();
        assert_eq!(err, PolicyError::MaxAgeOutOfRange { value: 31_557_601 });
        assert!(err.to_string().contains("exceeds 31557600"));
        assert_eq!(MaxAge::MAX.to_string(), "31557600");
    }

    #[test]
    fn max_age_serde() {
        let de: U32Deserializer<Error> = 86_400u32.into_deserializer();
        assert_eq!(MaxAge::deserialize(de).unwrap().get(), 86_400);
        let de: U32Deserializer<Error> = u32::MAX.into_deserializer();
        assert!(MaxAge::deserialize(de).is_err());
        assert_eq!(u32::from(MaxAge::MAX), 31_557_600);
    }

    proptest! {
        #[test]
        fn max_age_new_matches_range(n in any::<u32>()) {
            prop_assert_eq!(MaxAge::new(n).is_ok(), n <= 31_557_600);
        }

        #[test]
        fn mode_parse_never_panics(s in any::<String>()) {
            if let Ok(m) = s.parse::<Mode>() {
                prop_assert_eq!(m.as_str(), s.as_str());
            }
        }
    }
}
