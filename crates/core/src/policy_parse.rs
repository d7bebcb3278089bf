//! Parsing MTA-STS policy text as real servers publish it (RFC 8461 §3.2),
//! with warnings for what strict senders would reject.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use crate::error::PolicyError;
use crate::mode::{MaxAge, Mode};
use crate::mx::MxPattern;
use crate::policy::Policy;

/// Largest body senders must accept (RFC 8461 §3.3: 64 KB).
const MAX_BODY_LEN: usize = 65_536;
/// Longest key allowed by the `sts-policy-ext-name` ABNF.
const MAX_KEY_LEN: usize = 32;

/// The result of [`Policy::parse`]: the policy plus what was tolerated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPolicy {
    /// The (normalized) policy.
    pub policy: Policy,
    /// Deviations from RFC 8461 that the parser tolerated, in line order.
    /// Empty for the output of [`Policy::render`].
    pub warnings: Vec<PolicyWarning>,
}

/// Something in a policy file that was accepted and normalized, but that
/// differs from the RFC 8461 grammar or from the canonical form.
///
/// Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PolicyWarning {
    /// An empty or whitespace-only line; the ABNF has none.
    BlankLine {
        /// Line number.
        line: usize,
    },
    /// A line starting with spaces or tabs; the ABNF allows none.
    LeadingWhitespace {
        /// Line number.
        line: usize,
    },
    /// A known key in the wrong case, e.g. `Mode:`; senders treat it as an
    /// unknown extension field.
    KeyCase {
        /// Line number.
        line: usize,
        /// The key as written.
        found: String,
        /// The key as it must be written.
        expected: &'static str,
    },
    /// A mode value in the wrong case, e.g. `Enforce`; senders reject it.
    ModeCase {
        /// Line number.
        line: usize,
        /// The value as written.
        found: String,
        /// The mode it was read as.
        mode: Mode,
    },
    /// A max_age above 31557600, clamped to [`MaxAge::MAX`].
    MaxAgeClamped {
        /// Line number.
        line: usize,
        /// The value as written.
        found: u64,
    },
    /// A non-mx key repeated with a different value; the first one is used.
    ConflictingKey {
        /// Line number of the ignored repetition.
        line: usize,
        /// The key, in canonical spelling.
        key: &'static str,
        /// Line number of the value in effect.
        first_line: usize,
    },
    /// An mx pattern equal to an earlier one after normalization; dropped.
    DuplicateMx {
        /// Line number of the dropped repetition.
        line: usize,
        /// The normalized pattern.
        pattern: String,
    },
    /// An mx value with Unicode labels or a trailing dot, which was
    /// converted to its canonical A-label form.
    MxNormalized {
        /// Line number.
        line: usize,
        /// The value as written.
        found: String,
        /// The canonical pattern.
        normalized: String,
    },
}

impl fmt::Display for PolicyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyWarning::BlankLine { line } => write!(
                f,
                "line {line} is blank; RFC 8461 allows no blank lines, so the live policy is invalid for strict senders"
            ),
            PolicyWarning::LeadingWhitespace { line } => write!(
                f,
                "line {line} starts with whitespace; RFC 8461 allows none, so the live policy is invalid for strict senders"
            ),
            PolicyWarning::KeyCase {
                line,
                found,
                expected,
            } => write!(
                f,
                "line {line}: key `{found}` must be written `{expected}`; keys are case-sensitive, so senders ignore this line and the live policy is invalid for them"
            ),
            PolicyWarning::ModeCase { line, found, mode } => write!(
                f,
                "line {line}: mode `{found}` must be written `{mode}`; mode values are case-sensitive, so the live policy is invalid for senders"
            ),
            PolicyWarning::MaxAgeClamped { line, found } => write!(
                f,
                "line {line}: max_age {found} exceeds the maximum of {} seconds and was clamped; the live policy is invalid for strict senders",
                MaxAge::MAX
            ),
            PolicyWarning::ConflictingKey {
                line,
                key,
                first_line,
            } => write!(
                f,
                "line {line}: `{key}` repeats line {first_line} with a different value; the first value is used here, but senders may pick either"
            ),
            PolicyWarning::DuplicateMx { line, pattern } => write!(
                f,
                "line {line}: mx `{pattern}` repeats an earlier pattern and was dropped"
            ),
            PolicyWarning::MxNormalized {
                line,
                found,
                normalized,
            } => write!(
                f,
                "line {line}: mx `{found}` was normalized to `{normalized}`; senders expect A-labels without a trailing dot, so the live pattern may not match for them"
            ),
        }
    }
}

/// The fields this parser knows, by canonical key.
#[derive(Clone, Copy)]
enum Field {
    Version,
    Mode,
    Mx,
    MaxAge,
}

impl Field {
    fn from_key(key: &str) -> Option<(Field, &'static str)> {
        let field = match key.to_ascii_lowercase().as_str() {
            "version" => (Field::Version, "version"),
            "mode" => (Field::Mode, "mode"),
            "mx" => (Field::Mx, "mx"),
            "max_age" => (Field::MaxAge, "max_age"),
            _ => return None,
        };
        Some(field)
    }
}

/// A single-valued field as first seen: line number and normalized value.
struct First<T> {
    line: usize,
    value: T,
}

/// Parser state while walking the lines.
#[derive(Default)]
struct Fields {
    version: Option<First<String>>,
    mode: Option<First<Mode>>,
    max_age: Option<First<u64>>,
    mx: Vec<MxPattern>,
    seen_mx: HashSet<String>,
    warnings: Vec<PolicyWarning>,
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `sts-policy-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`
fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && key.len() <= MAX_KEY_LEN
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Reads a mode, tolerating wrong case (with a warning).
fn read_mode(value: &str) -> Option<(Mode, bool)> {
    if let Ok(mode) = value.parse::<Mode>() {
        return Some((mode, true));
    }
    value
        .to_ascii_lowercase()
        .parse::<Mode>()
        .ok()
        .map(|mode| (mode, false))
}

/// `sts-policy-max-age-value = 1*10(DIGIT)`
fn read_max_age(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

impl Fields {
    fn conflict(&mut self, line: usize, key: &'static str, first_line: usize) {
        self.warnings.push(PolicyWarning::ConflictingKey {
            line,
            key,
            first_line,
        });
    }

    fn field(&mut self, line: usize, field: Field, value: &str) -> Result<(), PolicyError> {
        match field {
            Field::Version => match &self.version {
                Some(first) => {
                    if first.value != value {
                        let first_line = first.line;
                        self.conflict(line, "version", first_line);
                    }
                }
                None => {
                    if value != "STSv1" {
                        return Err(PolicyError::InvalidVersion {
                            line,
                            value: value.to_owned(),
                        });
                    }
                    self.version = Some(First {
                        line,
                        value: value.to_owned(),
                    });
                }
            },
            Field::Mode => {
                let read = read_mode(value);
                match &self.mode {
                    Some(first) => {
                        if read.map(|(m, _)| m) != Some(first.value) {
                            let first_line = first.line;
                            self.conflict(line, "mode", first_line);
                        }
                    }
                    None => {
                        let Some((mode, exact)) = read else {
                            return Err(PolicyError::InvalidMode {
                                line,
                                value: value.to_owned(),
                            });
                        };
                        if !exact {
                            self.warnings.push(PolicyWarning::ModeCase {
                                line,
                                found: value.to_owned(),
                                mode,
                            });
                        }
                        self.mode = Some(First { line, value: mode });
                    }
                }
            }
            Field::MaxAge => {
                let read = read_max_age(value);
                match &self.max_age {
                    Some(first) => {
                        if read != Some(first.value) {
                            let first_line = first.line;
                            self.conflict(line, "max_age", first_line);
                        }
                    }
                    None => {
                        let Some(seconds) = read else {
                            return Err(PolicyError::InvalidMaxAge {
                                line,
                                value: value.to_owned(),
                            });
                        };
                        if seconds > u64::from(MaxAge::MAX.get()) {
                            self.warnings.push(PolicyWarning::MaxAgeClamped {
                                line,
                                found: seconds,
                            });
                        }
                        self.max_age = Some(First {
                            line,
                            value: seconds,
                        });
                    }
                }
            }
            Field::Mx => {
                let pattern: MxPattern = value
                    .parse()
                    .map_err(|source| PolicyError::InvalidMx { line, source })?;
                // Case differences are harmless (senders compare
                // case-insensitively); Unicode and trailing dots are not.
                if value.to_ascii_lowercase() != pattern.as_str() {
                    self.warnings.push(PolicyWarning::MxNormalized {
                        line,
                        found: value.to_owned(),
                        normalized: pattern.as_str().to_owned(),
                    });
                }
                if self.seen_mx.insert(pattern.as_str().to_owned()) {
                    self.mx.push(pattern);
                } else {
                    self.warnings.push(PolicyWarning::DuplicateMx {
                        line,
                        pattern: pattern.as_str().to_owned(),
                    });
                }
            }
        }
        Ok(())
    }
}

impl Policy {
    /// Parses policy text as published by real servers.
    ///
    /// Accepted per the RFC 8461 ABNF: LF or CRLF line ends (mixed too), an
    /// optional final line end, keys in any order, optional whitespace after
    /// `:` and after the value, unknown (extension) keys, which are ignored.
    /// Repeated `mx` lines form the list; for other repeated keys the first
    /// one wins.
    ///
    /// Tolerated with a [`PolicyWarning`], because the intent is clear even
    /// though senders may reject the file: keys and mode values in the wrong
    /// case, leading whitespace, blank lines, max_age above one year
    /// (clamped), repeated keys with different values, duplicate mx
    /// patterns (dropped), mx patterns with Unicode labels or a trailing dot.
    ///
    /// Rejected: bodies over 65536 bytes, lines without `:`, keys outside
    /// the ABNF, missing or invalid `version`, `mode` or `max_age`, invalid
    /// mx patterns, no mx unless the mode is `none`, and more than
    /// [`Policy::MAX_MX`] distinct patterns.
    pub fn parse(text: &str) -> Result<ParsedPolicy, PolicyError> {
        if text.len() > MAX_BODY_LEN {
            return Err(PolicyError::BodyTooLarge { len: text.len() });
        }
        let mut fields = Fields::default();
        // The final line end is optional, so the empty piece after it is not
        // a line; an empty text has no lines at all.
        let body = text.strip_suffix('\n').unwrap_or(text);
        if !text.is_empty() {
            for (index, raw) in body.split('\n').enumerate() {
                parse_line(&mut fields, index + 1, raw)?;
            }
        }
        let version = fields.version.ok_or(PolicyError::MissingVersion)?;
        debug_assert_eq!(version.value, "STSv1");
        let mode = fields.mode.ok_or(PolicyError::MissingMode)?.value;
        let max_age_seconds = fields.max_age.ok_or(PolicyError::MissingMaxAge)?.value;
        let max_age = u32::try_from(max_age_seconds)
            .ok()
            .and_then(|s| MaxAge::new(s).ok())
            .unwrap_or(MaxAge::MAX);
        if fields.mx.len() > Policy::MAX_MX {
            return Err(PolicyError::TooManyMx {
                count: fields.mx.len(),
            });
        }
        let policy = Policy::new(mode, fields.mx, max_age)?;
        Ok(ParsedPolicy {
            policy,
            warnings: fields.warnings,
        })
    }
}

fn parse_line(fields: &mut Fields, line: usize, raw: &str) -> Result<(), PolicyError> {
    let content = raw.strip_suffix('\r').unwrap_or(raw);
    if content.chars().all(is_wsp) {
        fields.warnings.push(PolicyWarning::BlankLine { line });
        return Ok(());
    }
    let trimmed = content.trim_start_matches(is_wsp);
    if trimmed.len() != content.len() {
        fields
            .warnings
            .push(PolicyWarning::LeadingWhitespace { line });
    }
    let Some((key, value)) = trimmed.split_once(':') else {
        return Err(PolicyError::MissingColon { line });
    };
    if !is_valid_key(key) {
        return Err(PolicyError::InvalidKey {
            line,
            key: key.to_owned(),
        });
    }
    let value = value.trim_matches(is_wsp);
    let Some((field, canonical)) = Field::from_key(key) else {
        // Extension field: ignored, as RFC 8461 §3.2 requires.
        return Ok(());
    };
    if key != canonical {
        fields.warnings.push(PolicyWarning::KeyCase {
            line,
            found: key.to_owned(),
            expected: canonical,
        });
    }
    fields.field(line, field, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{DomainNameError, MxPatternError};
    use proptest::prelude::*;

    const CANONICAL: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n";

    fn parse(text: &str) -> ParsedPolicy {
        Policy::parse(text).unwrap()
    }

    fn err(text: &str) -> PolicyError {
        Policy::parse(text).unwrap_err()
    }

    fn mx(s: &str) -> MxPattern {
        s.parse().unwrap()
    }

    #[test]
    fn canonical_has_no_warnings() {
        let parsed = parse(CANONICAL);
        assert!(parsed.warnings.is_empty());
        assert_eq!(parsed.policy.mode(), Mode::Enforce);
        assert_eq!(
            parsed.policy.mx(),
            &[mx("mail.example.com"), mx("*.example.net")]
        );
        assert_eq!(parsed.policy.max_age().get(), 604_800);
        assert_eq!(parsed.policy.render(), CANONICAL);
    }

    #[test]
    fn tolerated_without_warnings() {
        let variants = [
            // LF only, mixed line ends, no final line end.
            CANONICAL.replace("\r\n", "\n"),
            "version: STSv1\nmode: enforce\r\nmx: mail.example.com\nmx: *.example.net\r\nmax_age: 604800".to_owned(),
            // Keys in any order, no space after `:`, tabs, trailing space.
            "mode:enforce\r\nmax_age:\t604800 \r\nmx: mail.example.com\t\r\nversion: STSv1  \r\nmx:*.example.net\r\n".to_owned(),
            // Extension fields and an upper-case mx.
            "version: STSv1\nx-note: hello: world\nmode: enforce\nmx: MAIL.example.com\nmx: *.example.net\nmax_age: 604800\nfoo.bar_1-x:\n".to_owned(),
            // Same value repeated.
            "version: STSv1\nversion: STSv1\nmode: enforce\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\nmax_age: 604800\n".to_owned(),
        ];
        let expected = parse(CANONICAL).policy;
        for text in variants {
            let parsed = parse(&text);
            assert_eq!(parsed.policy, expected, "{text:?}");
            assert!(
                parsed.warnings.is_empty(),
                "{text:?}: {:?}",
                parsed.warnings
            );
        }
    }

    #[test]
    fn mode_none_without_mx() {
        let parsed = parse("version: STSv1\nmode: none\nmax_age: 0\n");
        assert_eq!(parsed.policy.mode(), Mode::None);
        assert!(parsed.policy.mx().is_empty());
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn warning_key_case() {
        let parsed = parse("Version: STSv1\nMode: enforce\nMX: mail.example.com\nMAX_AGE: 1\n");
        assert_eq!(parsed.policy.mode(), Mode::Enforce);
        assert_eq!(
            parsed.warnings,
            vec![
                PolicyWarning::KeyCase {
                    line: 1,
                    found: "Version".into(),
                    expected: "version"
                },
                PolicyWarning::KeyCase {
                    line: 2,
                    found: "Mode".into(),
                    expected: "mode"
                },
                PolicyWarning::KeyCase {
                    line: 3,
                    found: "MX".into(),
                    expected: "mx"
                },
                PolicyWarning::KeyCase {
                    line: 4,
                    found: "MAX_AGE".into(),
                    expected: "max_age"
                },
            ]
        );
        assert!(
            parsed.warnings[1]
                .to_string()
                .contains("live policy is invalid")
        );
    }

    #[test]
    fn warning_mode_case() {
        let parsed = parse("version: STSv1\nMode: Enforce\nmx: mail.example.com\nmax_age: 1\n");
        assert_eq!(parsed.policy.mode(), Mode::Enforce);
        assert_eq!(
            parsed.warnings,
            vec![
                PolicyWarning::KeyCase {
                    line: 2,
                    found: "Mode".into(),
                    expected: "mode"
                },
                PolicyWarning::ModeCase {
                    line: 2,
                    found: "Enforce".into(),
                    mode: Mode::Enforce
                },
            ]
        );
        assert_eq!(
            parsed.warnings[1].to_string(),
            "line 2: mode `Enforce` must be written `enforce`; mode values are case-sensitive, so the live policy is invalid for senders"
        );
    }

    #[test]
    fn warning_leading_whitespace_and_blank_lines() {
        let parsed = parse(
            "\r\nversion: STSv1\n  mode: testing\n\t\n\tmx: mail.example.com\n\nmax_age: 1\n",
        );
        assert_eq!(parsed.policy.mode(), Mode::Testing);
        assert_eq!(
            parsed.warnings,
            vec![
                PolicyWarning::BlankLine { line: 1 },
                PolicyWarning::LeadingWhitespace { line: 3 },
                PolicyWarning::BlankLine { line: 4 },
                PolicyWarning::LeadingWhitespace { line: 5 },
                PolicyWarning::BlankLine { line: 6 },
            ]
        );
        assert!(
            parsed.warnings[0]
                .to_string()
                .contains("invalid for strict senders")
        );
        // A blank line at the very end (two line ends) is a blank line too.
        let parsed = parse(&format!("{CANONICAL}\r\n"));
        assert_eq!(parsed.warnings, vec![PolicyWarning::BlankLine { line: 6 }]);
    }

    #[test]
    fn warning_max_age_clamped() {
        let parsed = parse("version: STSv1\nmode: none\nmax_age: 9999999999\n");
        assert_eq!(parsed.policy.max_age(), MaxAge::MAX);
        assert_eq!(
            parsed.warnings,
            vec![PolicyWarning::MaxAgeClamped {
                line: 3,
                found: 9_999_999_999
            }]
        );
        let parsed = parse("version: STSv1\nmode: none\nmax_age: 31557601\n");
        assert_eq!(parsed.policy.max_age(), MaxAge::MAX);
        assert_eq!(parsed.warnings.len(), 1);
        let parsed = parse("version: STSv1\nmode: none\nmax_age: 0031557600\n");
        assert_eq!(parsed.policy.max_age(), MaxAge::MAX);
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn warning_conflicting_keys() {
        let parsed = parse(
            "version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 1\nmode: enforce\nmax_age: 2\nversion: STSv2\nmode: bogus\n",
        );
        assert_eq!(parsed.policy.mode(), Mode::Testing);
        assert_eq!(parsed.policy.max_age().get(), 1);
        assert_eq!(
            parsed.warnings,
            vec![
                PolicyWarning::ConflictingKey {
                    line: 5,
                    key: "mode",
                    first_line: 2
                },
                PolicyWarning::ConflictingKey {
                    line: 6,
                    key: "max_age",
                    first_line: 4
                },
                PolicyWarning::ConflictingKey {
                    line: 7,
                    key: "version",
                    first_line: 1
                },
                PolicyWarning::ConflictingKey {
                    line: 8,
                    key: "mode",
                    first_line: 2
                },
            ]
        );
    }

    #[test]
    fn warning_duplicate_and_normalized_mx() {
        let parsed = parse(
            "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: MAIL.Example.com\nmx: mail.example.com.\nmx: Bücher.example\nmax_age: 1\n",
        );
        assert_eq!(
            parsed.policy.mx(),
            &[mx("mail.example.com"), mx("xn--bcher-kva.example")]
        );
        assert_eq!(
            parsed.warnings,
            vec![
                PolicyWarning::DuplicateMx {
                    line: 4,
                    pattern: "mail.example.com".into()
                },
                PolicyWarning::MxNormalized {
                    line: 5,
                    found: "mail.example.com.".into(),
                    normalized: "mail.example.com".into()
                },
                PolicyWarning::DuplicateMx {
                    line: 5,
                    pattern: "mail.example.com".into()
                },
                PolicyWarning::MxNormalized {
                    line: 6,
                    found: "Bücher.example".into(),
                    normalized: "xn--bcher-kva.example".into()
                },
            ]
        );
        for w in &parsed.warnings {
            assert!(w.to_string().starts_with("line "));
        }
    }

    #[test]
    fn reject_body_too_large() {
        let text = format!("{CANONICAL}x-pad: {}\n", "a".repeat(65_536));
        assert!(matches!(err(&text), PolicyError::BodyTooLarge { .. }));
        // Exactly at the limit is fine.
        let pad = 65_536 - CANONICAL.len() - "x-pad: \n".len();
        let text = format!("{CANONICAL}x-pad: {}\n", "a".repeat(pad));
        assert_eq!(text.len(), 65_536);
        assert!(Policy::parse(&text).is_ok());
    }

    #[test]
    fn reject_missing_colon() {
        let e = err("version: STSv1\nmode enforce\nmx: a.example.com\nmax_age: 1\n");
        assert_eq!(e, PolicyError::MissingColon { line: 2 });
        assert!(e.to_string().starts_with("line 2:"));
    }

    #[test]
    fn reject_invalid_keys() {
        for (text, key) in [
            ("version: STSv1\nmode : enforce\n", "mode "),
            ("version: STSv1\n: enforce\n", ""),
            ("version: STSv1\n_x: y\n", "_x"),
            ("version: STSv1\nmáx: 1\n", "máx"),
        ] {
            assert_eq!(
                err(text),
                PolicyError::InvalidKey {
                    line: 2,
                    key: key.into()
                },
                "{text:?}"
            );
        }
        let long = format!("version: STSv1\n{}: x\n", "k".repeat(33));
        assert!(matches!(
            err(&long),
            PolicyError::InvalidKey { line: 2, .. }
        ));
        let ok = format!("{CANONICAL}{}: x\n", "k".repeat(32));
        assert!(Policy::parse(&ok).is_ok());
    }

    #[test]
    fn reject_version() {
        assert_eq!(err("mode: none\nmax_age: 1\n"), PolicyError::MissingVersion);
        assert_eq!(err(""), PolicyError::MissingVersion);
        assert_eq!(err("\n"), PolicyError::MissingVersion);
        for v in ["STSv2", "stsv1", "", "STSv1;"] {
            let text = format!("mode: none\nversion: {v}\nmax_age: 1\n");
            assert_eq!(
                err(&text),
                PolicyError::InvalidVersion {
                    line: 2,
                    value: v.into()
                }
            );
        }
    }

    #[test]
    fn reject_mode() {
        assert_eq!(
            err("version: STSv1\nmax_age: 1\n"),
            PolicyError::MissingMode
        );
        for v in ["", "strict", "enforce;", "en force"] {
            let text = format!("version: STSv1\nmode: {v}\nmax_age: 1\n");
            let e = err(&text);
            assert_eq!(
                e,
                PolicyError::InvalidMode {
                    line: 2,
                    value: v.into()
                }
            );
            assert!(e.to_string().contains("line 2"));
        }
    }

    #[test]
    fn reject_max_age() {
        assert_eq!(
            err("version: STSv1\nmode: none\n"),
            PolicyError::MissingMaxAge
        );
        for v in ["", "-1", "+1", "1.5", "12345678901", "1 day", "0x10", "１"] {
            let text = format!("version: STSv1\nmode: none\nmax_age: {v}\n");
            assert_eq!(
                err(&text),
                PolicyError::InvalidMaxAge {
                    line: 3,
                    value: v.into()
                },
                "{v}"
            );
        }
    }

    #[test]
    fn reject_no_mx() {
        for mode in ["testing", "enforce"] {
            let text = format!("version: STSv1\nmode: {mode}\nmax_age: 1\n");
            assert!(matches!(err(&text), PolicyError::NoMx { .. }));
        }
    }

    #[test]
    fn reject_invalid_mx() {
        let e = err("version: STSv1\nmode: enforce\nmx: *.com\nmax_age: 1\n");
        assert!(matches!(
            e,
            PolicyError::InvalidMx {
                line: 3,
                source: MxPatternError::WildcardOverPublicSuffix { .. }
            }
        ));
        let e = err("version: STSv1\nmode: enforce\nmx: \nmax_age: 1\n");
        assert_eq!(
            e,
            PolicyError::InvalidMx {
                line: 3,
                source: MxPatternError::Host(DomainNameError::Empty)
            }
        );
        let e = err("version: STSv1\nmode: enforce\nmx: mail.*.example.com\nmax_age: 1\n");
        assert!(
            e.to_string()
                .starts_with("line 3: mx pattern `mail.*.example.com`")
        );
    }

    #[test]
    fn reject_too_many_mx() {
        let mut text = String::from("version: STSv1\nmode: enforce\nmax_age: 1\n");
        for i in 0..=Policy::MAX_MX {
            text.push_str(&format!("mx: mx{i}.example.com\n"));
        }
        assert_eq!(err(&text), PolicyError::TooManyMx { count: 65 });
        // Duplicates don't count towards the limit.
        let mut text = String::from("version: STSv1\nmode: enforce\nmax_age: 1\n");
        for _ in 0..100 {
            text.push_str("mx: mx.example.com\n");
        }
        assert_eq!(parse(&text).policy.mx().len(), 1);
    }

    fn host() -> impl Strategy<Value = String> {
        let label = "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"
            .prop_filter("no A-labels", |l| !l.starts_with("xn--"));
        (proptest::collection::vec(label, 1..4), "[a-z]{2,6}")
            .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
    }

    fn pattern() -> impl Strategy<Value = MxPattern> {
        (any::<bool>(), host()).prop_filter_map("valid pattern", |(wildcard, host)| {
            let text = if wildcard { format!("*.{host}") } else { host };
            text.parse().ok()
        })
    }

    fn policy() -> impl Strategy<Value = Policy> {
        (
            prop_oneof![Just(Mode::None), Just(Mode::Testing), Just(Mode::Enforce)],
            proptest::collection::vec(pattern(), 0..10),
            prop_oneof![Just(0u32), Just(31_557_600u32), 0u32..=31_557_600],
        )
            .prop_filter_map("valid policy", |(mode, mut mx, age)| {
                let mut seen = HashSet::new();
                mx.retain(|p| seen.insert(p.clone()));
                Policy::new(mode, mx, MaxAge::new(age).ok()?).ok()
            })
    }

    fn line() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("version"),
            Just("mode"),
            Just("mx"),
            Just("max_age"),
            Just("Mode"),
            Just("MX"),
            Just("x-ext"),
            Just(""),
            Just("bad key"),
        ];
        let value = prop_oneof![
            Just("STSv1".to_owned()),
            Just("enforce".to_owned()),
            Just("Testing".to_owned()),
            Just("none".to_owned()),
            Just("*.example.com".to_owned()),
            Just("86400".to_owned()),
            Just("99999999999".to_owned()),
            "\\PC{0,12}",
        ];
        (
            " ?",
            key,
            ":",
            " *",
            value,
            "[ \t]*",
            prop_oneof![Just("\n"), Just("\r\n"), Just("")],
        )
            .prop_map(|(a, k, c, s, v, t, e)| format!("{a}{k}{c}{s}{v}{t}{e}"))
    }

    proptest! {
        #[test]
        fn render_round_trips(p in policy()) {
            let parsed = Policy::parse(&p.render());
            prop_assert_eq!(parsed, Ok(ParsedPolicy { policy: p, warnings: vec![] }));
        }

        #[test]
        fn lf_only_round_trips(p in policy()) {
            let parsed = Policy::parse(&p.render().replace("\r\n", "\n"));
            prop_assert_eq!(parsed, Ok(ParsedPolicy { policy: p, warnings: vec![] }));
        }

        #[test]
        fn render_shape(p in policy()) {
            let text = p.render();
            prop_assert!(text.starts_with("version: STSv1\r\nmode: "));
            prop_assert!(text.ends_with("\r\n"));
            prop_assert!(!text.contains(" \r\n"));
            prop_assert!(!text.contains("\r\n\r\n"));
            prop_assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
            prop_assert_eq!(text.lines().count(), 3 + p.mx().len());
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = Policy::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_policy_like(lines in proptest::collection::vec(line(), 0..12)) {
            let text = lines.concat();
            if let Ok(parsed) = Policy::parse(&text) {
                // Whatever was accepted renders to something that parses
                // back cleanly.
                let again = Policy::parse(&parsed.policy.render());
                prop_assert_eq!(again, Ok(ParsedPolicy { policy: parsed.policy, warnings: vec![] }));
            }
        }
    }
}
