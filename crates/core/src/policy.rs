//! A validated MTA-STS policy and its canonical text form (RFC 8461 §3.2).

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::error::PolicyError;
use crate::mode::{MaxAge, Mode};
use crate::mx::MxPattern;

/// A valid MTA-STS policy.
///
/// Invariants: at least one mx pattern unless the mode is `none`, no
/// duplicate patterns, at most [`Policy::MAX_MX`] patterns. Parsing policy
/// text is in [`Policy::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    mode: Mode,
    mx: Vec<MxPattern>,
    max_age: MaxAge,
}

impl Policy {
    /// The most mx patterns a policy may have. 64 patterns of at most 253
    /// octets keep the body around 17 KB, far below the 64 KB that senders
    /// are required to fetch (RFC 8461 §3.3).
    pub const MAX_MX: usize = 64;

    /// Builds a policy, checking its invariants. The order of `mx` is kept.
    pub fn new(mode: Mode, mx: Vec<MxPattern>, max_age: MaxAge) -> Result<Policy, PolicyError> {
        if mx.is_empty() && mode != Mode::None {
            return Err(PolicyError::NoMx { mode });
        }
        if mx.len() > Self::MAX_MX {
            return Err(PolicyError::TooManyMx { count: mx.len() });
        }
        let mut seen = HashSet::with_capacity(mx.len());
        for pattern in &mx {
            if !seen.insert(pattern.as_str()) {
                return Err(PolicyError::DuplicateMx {
                    pattern: pattern.as_str().to_owned(),
                });
            }
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// The policy mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The mx patterns, in the order they were given.
    pub fn mx(&self) -> &[MxPattern] {
        &self.mx
    }

    /// How long senders may cache the policy.
    pub fn max_age(&self) -> MaxAge {
        self.max_age
    }

    /// The canonical policy text as served at
    /// `https://mta-sts.<domain>/.well-known/mta-sts.txt`.
    ///
    /// `version` first, then `mode`, one `mx` line per pattern in stored
    /// order, then `max_age`; every line ends in CRLF, including the last,
    /// with no blank lines and no trailing spaces. CRLF is what the RFC's
    /// examples use and what every sender accepts.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(64 + self.mx.len() * 40);
        out.push_str("version: STSv1\r\n");
        // Writing to a String can't fail; the results are ignored for that
        // reason rather than unwrapped.
        let _ = write!(out, "mode: {}\r\n", self.mode);
        for pattern in &self.mx {
            let _ = write!(out, "mx: {pattern}\r\n");
        }
        let _ = write!(out, "max_age: {}\r\n", self.max_age);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(s: &str) -> MxPattern {
        s.parse().unwrap()
    }

    fn age(n: u32) -> MaxAge {
        MaxAge::new(n).unwrap()
    }

    #[test]
    fn render_exact() {
        let p = Policy::new(
            Mode::Enforce,
            vec![mx("mail.example.com"), mx("*.Bücher.example.")],
            age(604_800),
        )
        .unwrap();
        assert_eq!(
            p.render(),
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.xn--bcher-kva.example\r\nmax_age: 604800\r\n"
        );
    }

    #[test]
    fn render_mode_none_without_mx() {
        let p = Policy::new(Mode::None, vec![], age(0)).unwrap();
        assert_eq!(p.render(), "version: STSv1\r\nmode: none\r\nmax_age: 0\r\n");
    }

    #[test]
    fn getters() {
        let p = Policy::new(Mode::Testing, vec![mx("mx.example.com")], age(86_400)).unwrap();
        assert_eq!(p.mode(), Mode::Testing);
        assert_eq!(p.mx(), &[mx("mx.example.com")]);
        assert_eq!(p.max_age().get(), 86_400);
    }

    #[test]
    fn requires_mx_unless_none() {
        for mode in [Mode::Testing, Mode::Enforce] {
            let err = Policy::new(mode, vec![], age(1)).unwrap_err();
            assert_eq!(err, PolicyError::NoMx { mode });
            assert!(err.to_string().contains("requires at least one `mx`"));
        }
        assert!(Policy::new(Mode::None, vec![mx("a.example.com")], age(1)).is_ok());
    }

    #[test]
    fn rejects_duplicates_after_normalization() {
        let err = Policy::new(
            Mode::Enforce,
            vec![mx("mail.example.com"), mx("MAIL.example.com.")],
            age(1),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PolicyError::DuplicateMx {
                pattern: "mail.example.com".into()
            }
        );
    }

    #[test]
    fn mx_limit() {
        let patterns = |n: usize| -> Vec<MxPattern> {
            (0..n).map(|i| mx(&format!("mx{i}.example.com"))).collect()
        };
        assert!(Policy::new(Mode::Enforce, patterns(Policy::MAX_MX), age(1)).is_ok());
        assert_eq!(
            Policy::new(Mode::Enforce, patterns(Policy::MAX_MX + 1), age(1)),
            Err(PolicyError::TooManyMx { count: 65 })
        );
    }
}
