//! Domain names as users type them, normalized to the A-label form used on
//! the wire.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use serde::{Deserialize, Serialize};

use crate::error::DomainNameError;

/// Longest name in octets, without the trailing dot (RFC 1035 §2.3.4 allows
/// 255 octets on the wire, which is 253 in presentation form).
const MAX_NAME_LEN: usize = 253;
/// Longest label in octets (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;
/// Inputs longer than this are rejected before IDNA processing. UTS-46 mapping
/// can only shrink a name by dropping ignorable code points, so nothing
/// legitimate comes close; the bound keeps the cost of hostile input small.
const MAX_INPUT_LEN: usize = 1024;

/// A normalized, syntactically valid domain name in A-label form.
///
/// Normalization: surrounding whitespace is trimmed, one trailing dot is
/// stripped, and the name goes through UTS-46 (IDNA) processing, which
/// lower-cases it and converts Unicode labels to `xn--` A-labels.
///
/// [`DomainName::from_str`] (and `TryFrom<String>`, and deserialization)
/// additionally reject bare public suffixes such as `com` or `co.uk`, because
/// such a name can't be registered by a customer. [`DomainName::parse_host`]
/// skips that rule, for MX hosts and service zones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainName(String);

impl DomainName {
    /// Parses a host name: same normalization and syntax rules as
    /// [`DomainName::from_str`], but a public suffix is accepted (an MX host
    /// or service zone may legitimately sit anywhere in the tree).
    ///
    /// At least two labels are still required.
    pub fn parse_host(input: &str) -> Result<DomainName, DomainNameError> {
        let name = to_ascii_name(input)?;
        check_label_count(&name)?;
        Ok(DomainName(name))
    }

    /// The name in A-label form, lower case, without a trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The labels from left to right, in A-label form.
    pub fn labels(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.split('.')
    }

    /// The name for display, with `xn--` labels converted back to Unicode.
    ///
    /// Falls back to the A-label form if conversion fails, which can't happen
    /// for a validated name but costs nothing to handle.
    pub fn to_unicode(&self) -> String {
        let (unicode, result) = idna::domain_to_unicode(&self.0);
        match result {
            Ok(()) => unicode,
            Err(_) => self.0.clone(),
        }
    }

    /// The key lists sort by: the Unicode form with its accents taken off (so `bücher` sorts
    /// among the b's, where its readers look for it), lower case, with every run of digits written as its length (two digits) and then
    /// the digits without leading zeros, so that `shop2` sorts before `shop10`. Keys compare
    /// bytewise.
    pub fn sort_key(&self) -> String {
        use unicode_normalization::UnicodeNormalization;
        use unicode_normalization::char::is_combining_mark;
        let unicode: String = self
            .to_unicode()
            .to_lowercase()
            .nfd()
            .filter(|c| !is_combining_mark(*c))
            .collect();
        let mut key = String::with_capacity(unicode.len() + 8);
        let mut chars = unicode.chars().peekable();
        while let Some(c) = chars.next() {
            if !c.is_ascii_digit() {
                key.push(c);
                continue;
            }
            let mut run = String::from(c);
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                run.push(d);
            }
            let digits = run.trim_start_matches('0');
            let digits = if digits.is_empty() { "0" } else { digits };
            // A label has at most 63 characters, so two digits hold any run's length.
            key.push_str(&format!("{:02}", digits.len().min(99)));
            key.push_str(digits);
        }
        key
    }

    /// Whether `self` is `other` or lies below it in the DNS tree.
    ///
    /// The comparison is label-wise, so `badexample.com` is not a subdomain
    /// of `example.com`. A name counts as a subdomain of itself, as in
    /// RFC 1034 terminology.
    pub fn is_subdomain_of(&self, other: &DomainName) -> bool {
        match self.0.strip_suffix(other.as_str()) {
            Some("") => true,
            Some(prefix) => prefix.ends_with('.'),
            None => false,
        }
    }
}

impl FromStr for DomainName {
    type Err = DomainNameError;

    /// Parses a registrable-or-below domain name; rejects public suffixes.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let name = to_ascii_name(input)?;
        // Checked before the label count so that `com` reports the more
        // useful reason.
        if is_public_suffix(&name) {
            return Err(DomainNameError::PublicSuffix { name });
        }
        check_label_count(&name)?;
        Ok(DomainName(name))
    }
}

impl TryFrom<String> for DomainName {
    type Error = DomainNameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<DomainName> for String {
    fn from(value: DomainName) -> Self {
        value.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DomainName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Whether `name` (normalized A-label form) is exactly a suffix on the public
/// suffix list, ICANN or private section.
pub(crate) fn is_public_suffix(name: &str) -> bool {
    psl::suffix(name.as_bytes()).is_some_and(|s| s.is_known() && s.as_bytes() == name.as_bytes())
}

/// Rejects single-label names.
pub(crate) fn check_label_count(name: &str) -> Result<(), DomainNameError> {
    if name.contains('.') {
        Ok(())
    } else {
        Err(DomainNameError::SingleLabel {
            name: name.to_owned(),
        })
    }
}

/// Applies every syntax rule except the label count and the public-suffix
/// rule, returning the normalized A-label form.
pub(crate) fn to_ascii_name(input: &str) -> Result<String, DomainNameError> {
    let trimmed = input.trim();
    if trimmed.len() > MAX_INPUT_LEN {
        return Err(DomainNameError::InputTooLong { len: trimmed.len() });
    }
    if is_ip_literal(trimmed) {
        return Err(DomainNameError::IpLiteral {
            input: trimmed.to_owned(),
        });
    }
    let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if name.is_empty() {
        return Err(DomainNameError::Empty);
    }
    // Checks on the raw labels first: they give a precise reason for the
    // common mistakes, where the IDNA error would only say "invalid".
    for label in name.split('.') {
        check_raw_label(name, label)?;
    }
    let ascii = Uts46::new()
        .to_ascii(
            name.as_bytes(),
            AsciiDenyList::EMPTY,
            // Hyphen rules are checked below with a clearer message; `ab--c`
            // is legal in the DNS, so only the edges are restricted.
            Hyphens::Allow,
            DnsLength::Ignore,
        )
        .map_err(|_| diagnose_idna(name))?;
    // Mapping can introduce dots (e.g. U+3002 IDEOGRAPHIC FULL STOP) and
    // other ASCII, so the LDH rules are checked again on the result.
    for label in ascii.split('.') {
        check_ascii_label(&ascii, label)?;
    }
    for label in ascii.split('.') {
        check_a_label(label)?;
    }
    if ascii.len() > MAX_NAME_LEN {
        return Err(DomainNameError::NameTooLong { len: ascii.len() });
    }
    let last = ascii.rsplit('.').next().unwrap_or_default();
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainNameError::NumericTld {
            name: ascii.into_owned(),
        });
    }
    Ok(ascii.into_owned())
}

fn is_ip_literal(input: &str) -> bool {
    let unbracketed = input
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(input);
    let no_dot = input.strip_suffix('.').unwrap_or(input);
    unbracketed.parse::<Ipv6Addr>().is_ok()
        || no_dot.parse::<Ipv4Addr>().is_ok()
        || (input.starts_with('[') && input.ends_with(']'))
}

/// Label checks that can be done on user input before IDNA mapping.
fn check_raw_label(name: &str, label: &str) -> Result<(), DomainNameError> {
    if label.is_empty() {
        return Err(DomainNameError::EmptyLabel {
            name: name.to_owned(),
        });
    }
    // Non-ASCII labels are left to IDNA; mapping may turn them into LDH.
    if !label.is_ascii() {
        return Ok(());
    }
    match label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        Some(ch) => Err(DomainNameError::InvalidChar {
            label: label.to_owned(),
            ch,
        }),
        None => Ok(()),
    }
}

/// Label checks on the A-label form.
fn check_ascii_label(name: &str, label: &str) -> Result<(), DomainNameError> {
    if label.is_empty() {
        return Err(DomainNameError::EmptyLabel {
            name: name.to_owned(),
        });
    }
    if let Some(ch) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(DomainNameError::InvalidChar {
            label: label.to_owned(),
            ch,
        });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(DomainNameError::HyphenAtEdge {
            label: label.to_owned(),
        });
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(DomainNameError::LabelTooLong {
            label: label.to_owned(),
            len: label.len(),
        });
    }
    Ok(())
}

/// Checks that an `xn--` label is the A-label of its own Unicode form, so that the name's
/// display form ([`DomainName::to_unicode`]) parses back to it. With hyphens allowed, IDNA
/// accepts A-labels whose decoded label is no U-label: one that itself starts with `xn--`
/// (UTS-46 §4.1 rules those out), or plain ASCII.
fn check_a_label(label: &str) -> Result<(), DomainNameError> {
    if !label.starts_with("xn--") {
        return Ok(());
    }
    let uts46 = Uts46::new();
    let (unicode, decoded) =
        uts46.to_unicode(label.as_bytes(), AsciiDenyList::EMPTY, Hyphens::Allow);
    let starts_xn = unicode
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("xn--"));
    let round_trips = decoded.is_ok()
        && !starts_xn
        && uts46
            .to_ascii(
                unicode.as_bytes(),
                AsciiDenyList::EMPTY,
                Hyphens::Allow,
                DnsLength::Ignore,
            )
            .is_ok_and(|again| again == label);
    if round_trips {
        Ok(())
    } else {
        Err(DomainNameError::InvalidPunycode {
            label: label.to_owned(),
        })
    }
}

/// Finds the label that made IDNA processing fail, to name it in the error.
fn diagnose_idna(name: &str) -> DomainNameError {
    let uts46 = Uts46::new();
    for label in name.split('.') {
        let failed = uts46
            .to_ascii(
                label.as_bytes(),
                AsciiDenyList::EMPTY,
                Hyphens::Allow,
                DnsLength::Ignore,
            )
            .is_err();
        if failed {
            let is_punycode = label
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("xn--"));
            return if is_punycode {
                DomainNameError::InvalidPunycode {
                    label: label.to_owned(),
                }
            } else {
                DomainNameError::InvalidUnicode {
                    label: label.to_owned(),
                }
            };
        }
    }
    DomainNameError::InvalidIdn {
        name: name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dn(s: &str) -> Result<DomainName, DomainNameError> {
        s.parse()
    }

    #[test]
    fn normalizes_case_whitespace_and_trailing_dot() {
        assert_eq!(dn("Example.COM").unwrap().as_str(), "example.com");
        assert_eq!(dn("  example.com \t\n").unwrap().as_str(), "example.com");
        assert_eq!(dn("example.com.").unwrap().as_str(), "example.com");
        assert_eq!(dn(" EXAMPLE.com. ").unwrap().as_str(), "example.com");
    }

    #[test]
    fn only_one_trailing_dot_is_stripped() {
        assert!(matches!(
            dn("example.com.."),
            Err(DomainNameError::EmptyLabel { .. })
        ));
    }

    #[test]
    fn empty_inputs() {
        assert_eq!(dn(""), Err(DomainNameError::Empty));
        assert_eq!(dn("   "), Err(DomainNameError::Empty));
        assert_eq!(dn("."), Err(DomainNameError::Empty));
    }

    #[test]
    fn empty_labels() {
        for s in ["a..b", ".example.com", "example..com."] {
            assert!(
                matches!(dn(s), Err(DomainNameError::EmptyLabel { .. })),
                "{s}"
            );
        }
    }

    #[test]
    fn idn_to_a_labels() {
        assert_eq!(
            dn("Bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        // Upper-case non-ASCII is lower-cased by the UTS-46 mapping.
        assert_eq!(
            dn("BÜCHER.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        // An A-label input stays as it is.
        assert_eq!(
            dn("XN--BCHER-KVA.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        // Ideographic full stop is a label separator under UTS-46.
        assert_eq!(
            dn("bücher。example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn to_unicode_round_trip() {
        let d = dn("xn--bcher-kva.example").unwrap();
        assert_eq!(d.to_unicode(), "bücher.example");
        assert_eq!(dn("example.com").unwrap().to_unicode(), "example.com");
    }

    #[test]
    fn emoji_follow_uts46() {
        // UTS-46 maps emoji to A-labels; registries decide whether such names
        // exist, so they are accepted here.
        assert_eq!(dn("💩.la").unwrap().as_str(), "xn--ls8h.la");
    }

    #[test]
    fn invalid_unicode_rejected() {
        // U+FFFD and unassigned/disallowed code points fail UTS-46.
        assert!(matches!(
            dn("a\u{FFFD}b.example"),
            Err(DomainNameError::InvalidUnicode { label }) if label == "a\u{FFFD}b"
        ));
        assert!(matches!(
            dn("\u{E000}.example"),
            Err(DomainNameError::InvalidUnicode { .. })
        ));
    }

    #[test]
    fn invalid_punycode_rejected() {
        assert_eq!(
            dn("xn--a.example"),
            Err(DomainNameError::InvalidPunycode {
                label: "xn--a".into()
            })
        );
        let err = dn("xn--zz.example").unwrap_err();
        assert!(matches!(err, DomainNameError::InvalidPunycode { .. }));
        assert_eq!(err.to_string(), "label `xn--zz` is not valid punycode");
    }

    #[test]
    fn public_suffixes_rejected() {
        for s in ["com", "COM.", "co.uk", "github.io", " co.uk. "] {
            let err = dn(s).unwrap_err();
            assert!(
                matches!(err, DomainNameError::PublicSuffix { .. }),
                "{s}: {err}"
            );
        }
        assert_eq!(
            dn("co.uk").unwrap_err().to_string(),
            "`co.uk` is a public suffix, not a registrable domain"
        );
        // Internationalized suffixes are matched in A-label form.
        assert!(matches!(
            dn("рф"),
            Err(DomainNameError::PublicSuffix { .. })
        ));
    }

    #[test]
    fn registrable_and_below_accepted() {
        for s in [
            "example.co.uk",
            "mail.example.co.uk",
            "user.github.io",
            "example.com",
        ] {
            assert!(dn(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn single_label_rejected() {
        assert_eq!(
            dn("localhost"),
            Err(DomainNameError::SingleLabel {
                name: "localhost".into()
            })
        );
        assert!(matches!(
            DomainName::parse_host("localhost"),
            Err(DomainNameError::SingleLabel { .. })
        ));
    }

    #[test]
    fn parse_host_allows_public_suffix() {
        assert_eq!(DomainName::parse_host("co.uk").unwrap().as_str(), "co.uk");
        assert_eq!(
            DomainName::parse_host("sts.localhost.").unwrap().as_str(),
            "sts.localhost"
        );
        assert!(matches!(
            DomainName::parse_host("com"),
            Err(DomainNameError::SingleLabel { .. })
        ));
    }

    #[test]
    fn label_length() {
        let ok = format!("{}.example", "a".repeat(63));
        assert!(dn(&ok).is_ok());
        let long = format!("{}.example", "a".repeat(64));
        let err = dn(&long).unwrap_err();
        assert!(matches!(err, DomainNameError::LabelTooLong { len: 64, .. }));
        assert!(err.to_string().contains("exceeds 63 octets"));
        // The limit applies after A-label conversion.
        // 30 distinct CJK characters: 90 octets of UTF-8, well over 63 as
        // an A-label (repeated characters would compress too well).
        let cjk: String = (0..30u32)
            .filter_map(|i| char::from_u32(0x4E00 + i * 97))
            .collect();
        let unicode = format!("{cjk}.example");
        assert!(matches!(
            dn(&unicode),
            Err(DomainNameError::LabelTooLong { .. })
        ));
    }

    #[test]
    fn name_length() {
        // 4 * 63 + 3 dots = 255 > 253
        let label = "a".repeat(63);
        let long = [label.as_str(); 4].join(".");
        assert_eq!(dn(&long), Err(DomainNameError::NameTooLong { len: 255 }));
        // 3 * 63 + 61 + 3 dots = 253
        let ok = format!("{label}.{label}.{label}.{}", "b".repeat(61));
        assert_eq!(ok.len(), 253);
        assert!(dn(&ok).is_ok());
        // The trailing dot doesn't count.
        assert!(dn(&format!("{ok}.")).is_ok());
        let huge = "a.".repeat(5000);
        assert!(matches!(
            dn(&huge),
            Err(DomainNameError::InputTooLong { .. })
        ));
    }

    #[test]
    fn ldh_rule() {
        let err = dn("_mta-sts.example.com").unwrap_err();
        assert_eq!(
            err,
            DomainNameError::InvalidChar {
                label: "_mta-sts".into(),
                ch: '_'
            }
        );
        assert!(matches!(
            dn("exa mple.com"),
            Err(DomainNameError::InvalidChar { ch: ' ', .. })
        ));
        assert!(matches!(
            dn("example.com:443"),
            Err(DomainNameError::InvalidChar { ch: ':', .. })
        ));
        assert!(matches!(
            dn("*.example.com"),
            Err(DomainNameError::InvalidChar { ch: '*', .. })
        ));
        // Fullwidth low line maps to `_`, caught after mapping.
        assert!(matches!(
            dn("a\u{FF3F}b.example.com"),
            Err(DomainNameError::InvalidChar { ch: '_', .. })
        ));
        assert!(matches!(
            dn("-a.example.com"),
            Err(DomainNameError::HyphenAtEdge { .. })
        ));
        assert!(matches!(
            dn("a-.example.com"),
            Err(DomainNameError::HyphenAtEdge { .. })
        ));
        assert!(dn("a-b.example.com").is_ok());
        assert!(dn("ab--cd.example.com").is_ok());
        assert!(dn("0example.com").is_ok());
    }

    #[test]
    fn ip_literals_rejected() {
        for s in [
            "1.2.3.4",
            "1.2.3.4.",
            "[::1]",
            "::1",
            "[1.2.3.4]",
            "2001:db8::1",
        ] {
            assert!(
                matches!(dn(s), Err(DomainNameError::IpLiteral { .. })),
                "{s}"
            );
        }
        for s in ["example.123", "1.2.3", "999.999.999.999"] {
            assert!(
                matches!(dn(s), Err(DomainNameError::NumericTld { .. })),
                "{s}"
            );
        }
        assert!(matches!(
            DomainName::parse_host("10.0.0.1"),
            Err(DomainNameError::IpLiteral { .. })
        ));
        assert!(dn("123.example").is_ok());
    }

    #[test]
    fn labels_and_subdomains() {
        let d = dn("mail.example.com").unwrap();
        assert_eq!(d.labels().collect::<Vec<_>>(), ["mail", "example", "com"]);
        let parent = dn("example.com").unwrap();
        assert!(d.is_subdomain_of(&parent));
        assert!(parent.is_subdomain_of(&parent));
        assert!(!parent.is_subdomain_of(&d));
        assert!(!dn("badexample.com").unwrap().is_subdomain_of(&parent));
    }

    #[test]
    fn serde_and_conversions() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StringDeserializer};
        let de: StringDeserializer<Error> = "Example.COM.".to_owned().into_deserializer();
        assert_eq!(DomainName::deserialize(de).unwrap().as_str(), "example.com");
        let de: StringDeserializer<Error> = "co.uk".to_owned().into_deserializer();
        assert!(DomainName::deserialize(de).is_err());
        let d = DomainName::try_from("example.com".to_owned()).unwrap();
        assert_eq!(d.to_string(), "example.com");
        assert_eq!(String::from(d), "example.com");
    }

    fn label() -> impl Strategy<Value = String> {
        // `xn--` labels must be valid punycode, which random text isn't.
        "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?".prop_filter("no A-labels", |l| !l.starts_with("xn--"))
    }

    /// Found by the `domain` fuzz target: an A-label whose Unicode form itself starts with
    /// `xn--` was accepted, and its display form did not parse back.
    #[test]
    fn a_label_decoding_to_an_xn_label_is_refused() {
        let input: &[u8] = b"xn--xn--bcher-kvbcher-kva.e";
        let text = std::str::from_utf8(input).unwrap();
        assert!(matches!(
            DomainName::parse_host(text),
            Err(DomainNameError::InvalidPunycode { .. })
        ));
        // Punycode of plain ASCII is no A-label either.
        assert!(DomainName::parse_host("xn--abc-.example").is_err());
        // Real A-labels still pass, and their display form parses back.
        let d = DomainName::parse_host("xn--bcher-kva.example").unwrap();
        assert_eq!(DomainName::parse_host(&d.to_unicode()).unwrap(), d);
    }

    proptest! {
        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = dn(&s);
            let _ = DomainName::parse_host(&s);
        }

        #[test]
        fn never_panics_on_name_like(s in "[a-zA-Z0-9.\\-_üß* \u{3002}]{0,80}") {
            let _ = dn(&s);
        }

        #[test]
        fn normalization_is_idempotent(s in any::<String>()) {
            if let Ok(d) = DomainName::parse_host(&s) {
                let again = DomainName::parse_host(d.as_str()).unwrap();
                prop_assert_eq!(&again, &d);
                prop_assert_eq!(DomainName::parse_host(&d.to_unicode()).unwrap(), d);
            }
        }

        #[test]
        fn valid_names_parse_to_lowercase(labels in proptest::collection::vec(label(), 1..4)) {
            let name = format!("{}.example", labels.join("."));
            let d = dn(&name.to_uppercase()).unwrap();
            prop_assert_eq!(d.as_str(), name.as_str());
            let with_dot = format!(" {name}. ");
            prop_assert_eq!(dn(&with_dot).unwrap(), d);
        }
    }
    #[test]
    fn sort_keys_put_numbers_in_order_and_idns_by_their_unicode_form() {
        let key = |n: &str| DomainName::parse_host(n).unwrap().sort_key();
        let mut names = vec![
            "shop10.example",
            "shop2.example",
            "shop1.example",
            "xn--bcher-kva.example",
            "bz.example",
            "shop.example",
            "shop02.example",
        ];
        names.sort_by_key(|n| (key(n), n.to_string()));
        assert_eq!(
            names,
            [
                "xn--bcher-kva.example",
                "bz.example",
                "shop.example",
                "shop1.example",
                "shop02.example",
                "shop2.example",
                "shop10.example",
            ]
        );
        assert_eq!(key("shop10.example"), "shop0210.example");
        assert_eq!(key("a0.example"), "a010.example");
    }
}
