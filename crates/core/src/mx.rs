//! MX host patterns of an MTA-STS policy (RFC 8461 §4.1).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::{DomainName, check_label_count, is_public_suffix, to_ascii_name};
use crate::error::{DomainNameError, MxPatternError};

/// Longest pattern: the `*` stands for at least one octet of a real host
/// name, so the pattern text obeys the same 253-octet limit.
const MAX_PATTERN_LEN: usize = 253;

/// An `mx` pattern: an exact host (`mail.example.com`) or a wildcard over one
/// leftmost label (`*.example.com`), stored in A-label form without a
/// trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MxPattern(String);

impl MxPattern {
    /// The pattern in A-label form, `*.` prefix included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern starts with `*.`.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// Whether `host` is covered by this pattern.
    ///
    /// The host is normalized like [`DomainName::parse_host`] (case, one
    /// trailing dot, Unicode to A-labels). A wildcard covers exactly one
    /// leftmost label: `*.example.com` matches `mail.example.com` but neither
    /// `example.com` nor `a.b.example.com`. A host that isn't a valid name
    /// matches nothing.
    pub fn matches(&self, host: &str) -> bool {
        let Ok(host) = DomainName::parse_host(host) else {
            return false;
        };
        match self.0.strip_prefix("*.") {
            Some(base) => host
                .as_str()
                .split_once('.')
                .is_some_and(|(_, parent)| parent == base),
            None => host.as_str() == self.0,
        }
    }
}

impl FromStr for MxPattern {
    type Err = MxPatternError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let trimmed = input.trim();
        let (wildcard, host) = match trimmed.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        if host.contains('*') {
            return Err(MxPatternError::MisplacedWildcard {
                pattern: trimmed.to_owned(),
            });
        }
        let host = match to_ascii_name(host) {
            Ok(host) => host,
            // A bare `*` or `*.` reads better as a wildcard mistake than as
            // an empty name.
            Err(DomainNameError::Empty) if trimmed.starts_with('*') => {
                return Err(MxPatternError::MisplacedWildcard {
                    pattern: trimmed.to_owned(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        if !wildcard {
            check_label_count(&host)?;
            return Ok(MxPattern(host));
        }
        // Checked before the label count so that `*.com` names the real
        // problem.
        if is_public_suffix(&host) {
            return Err(MxPatternError::WildcardOverPublicSuffix {
                pattern: trimmed.to_owned(),
                suffix: host,
            });
        }
        check_label_count(&host)?;
        let pattern = format!("*.{host}");
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(DomainNameError::NameTooLong { len: pattern.len() }.into());
        }
        Ok(MxPattern(pattern))
    }
}

impl TryFrom<String> for MxPattern {
    type Error = MxPatternError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<MxPattern> for String {
    fn from(value: MxPattern) -> Self {
        value.0
    }
}

impl fmt::Display for MxPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mx(s: &str) -> MxPattern {
        s.parse().unwrap()
    }

    #[test]
    fn normalizes() {
        assert_eq!(mx("Mail.Example.COM.").as_str(), "mail.example.com");
        assert_eq!(mx(" *.Example.com. ").as_str(), "*.example.com");
        assert_eq!(mx("*.bücher.example").as_str(), "*.xn--bcher-kva.example");
        assert!(mx("*.example.com").is_wildcard());
        assert!(!mx("mail.example.com").is_wildcard());
        assert_eq!(mx("*.example.com").to_string(), "*.example.com");
    }

    #[test]
    fn misplaced_wildcards_rejected() {
        for s in [
            "*mail.example.com",
            "mail.*.example.com",
            "*.*.example.com",
            "mail*.example.com",
            "*",
            "*.",
            "example.com.*",
        ] {
            let err = s.parse::<MxPattern>().unwrap_err();
            assert!(
                matches!(err, MxPatternError::MisplacedWildcard { .. }),
                "{s}: {err}"
            );
        }
    }

    #[test]
    fn wildcard_over_public_suffix_rejected() {
        for s in ["*.com", "*.co.uk", "*.COM.", "*.github.io"] {
            let err = s.parse::<MxPattern>().unwrap_err();
            assert!(
                matches!(err, MxPatternError::WildcardOverPublicSuffix { .. }),
                "{s}: {err}"
            );
        }
        // An exact host may be anything syntactically valid.
        assert!("co.uk".parse::<MxPattern>().is_ok());
        assert!("*.example.co.uk".parse::<MxPattern>().is_ok());
    }

    #[test]
    fn invalid_hosts_rejected() {
        for s in [
            "",
            "mail",
            "*.localhost",
            "1.2.3.4",
            "a..b",
            "mx_1.example.com",
        ] {
            let err = s.parse::<MxPattern>().unwrap_err();
            assert!(matches!(err, MxPatternError::Host(_)), "{s}: {err}");
        }
        // The wildcard counts towards the length limit.
        let label = "a".repeat(63);
        let base = format!("{label}.{label}.{label}.{}", "b".repeat(61));
        assert!(base.parse::<MxPattern>().is_ok());
        assert!(matches!(
            format!("*.{base}").parse::<MxPattern>(),
            Err(MxPatternError::Host(DomainNameError::NameTooLong { .. }))
        ));
    }

    #[test]
    fn wildcard_matches_one_label() {
        let p = mx("*.example.com");
        assert!(p.matches("mail.example.com"));
        assert!(p.matches("MAIL.Example.COM."));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("a.b.example.com"));
        assert!(!p.matches("mailexample.com"));
        assert!(!p.matches("mail.example.org"));
    }

    #[test]
    fn exact_matches_same_host() {
        let p = mx("mail.example.com");
        assert!(p.matches("mail.example.com"));
        assert!(p.matches("Mail.Example.Com."));
        assert!(!p.matches("x.mail.example.com"));
        assert!(!p.matches("example.com"));
    }

    #[test]
    fn unicode_hosts_match() {
        let p = mx("*.xn--bcher-kva.example");
        assert!(p.matches("mx.Bücher.example"));
        assert!(mx("bücher.example").matches("xn--bcher-kva.example."));
    }

    #[test]
    fn invalid_hosts_match_nothing() {
        let p = mx("*.example.com");
        for h in [
            "",
            ".",
            "*.example.com",
            "..example.com",
            "a..example.com",
            "\u{0}",
        ] {
            assert!(!p.matches(h), "{h:?}");
        }
    }

    #[test]
    fn serde() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StringDeserializer};
        let de: StringDeserializer<Error> = "*.Example.com".to_owned().into_deserializer();
        assert_eq!(
            MxPattern::deserialize(de).unwrap().as_str(),
            "*.example.com"
        );
        let de: StringDeserializer<Error> = "*.com".to_owned().into_deserializer();
        assert!(MxPattern::deserialize(de).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(pattern in any::<String>(), host in any::<String>()) {
            if let Ok(p) = pattern.parse::<MxPattern>() {
                let _ = p.matches(&host);
            }
            let _ = mx("*.example.com").matches(&host);
        }

        #[test]
        fn parse_is_idempotent(s in "\\*?[a-zA-Z0-9.\\-*ü]{0,40}") {
            if let Ok(p) = s.parse::<MxPattern>() {
                prop_assert_eq!(p.as_str().parse::<MxPattern>().unwrap(), p);
            }
        }

        #[test]
        fn wildcard_matches_any_single_label(
            first in "[a-z0-9]{1,20}",
            base in "[a-z]{1,10}\\.example\\.com",
        ) {
            let p = mx(&format!("*.{base}"));
            let host = format!("{first}.{base}");
            prop_assert!(p.matches(&host));
            prop_assert!(!p.matches(&base));
            let deeper = format!("x.{host}");
            prop_assert!(!p.matches(&deeper));
            prop_assert!(mx(&host).matches(&host.to_uppercase()));
        }
    }
}
