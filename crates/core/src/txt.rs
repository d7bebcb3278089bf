//! The DNS TXT records: `_mta-sts` (RFC 8461 §3.1) and `_smtp._tls`
//! (RFC 8460 §3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::domain::DomainName;
use crate::error::{RuaUriError, TxtRecordError};
use crate::policy_id::PolicyId;

/// `*WSP` in the ABNF: space and horizontal tab.
fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits a record into `name=value` fields after checking that the first
/// field is exactly `v=<version>`.
///
/// Tolerates whitespace around the record and around `;`, a trailing `;`,
/// and empty fields (`;;`). Versions are case-sensitive (`%s` in the ABNF).
fn fields<'a>(
    record: &'a str,
    version: &'static str,
) -> Result<Vec<(&'a str, &'a str)>, TxtRecordError> {
    let mut parts = record.trim().split(';').map(|p| p.trim_matches(is_wsp));
    let first = parts.next().unwrap_or_default();
    if first.strip_prefix("v=") != Some(version) {
        return Err(TxtRecordError::WrongVersion {
            expected: version,
            found: first.to_owned(),
        });
    }
    parts
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .ok_or_else(|| TxtRecordError::MalformedField {
                    field: p.to_owned(),
                })
        })
        .collect()
}

/// The `_mta-sts.<domain>` TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsRecord {
    /// The policy id; senders refetch the policy when it changes.
    pub id: PolicyId,
}

impl StsRecord {
    /// The record text: exactly `v=STSv1; id=<id>;`.
    pub fn render(&self) -> String {
        format!("v=STSv1; id={};", self.id)
    }

    /// Parses a record per RFC 8461 §3.1: `v=STSv1` first, fields separated
    /// by `;` with optional whitespace around it, optional trailing `;`,
    /// `id=` required, extension fields ignored.
    pub fn parse(record: &str) -> Result<StsRecord, TxtRecordError> {
        let mut id = None;
        for (name, value) in fields(record, "STSv1")? {
            if name != "id" {
                continue;
            }
            if id.is_some() {
                return Err(TxtRecordError::DuplicateField { name: "id" });
            }
            id = Some(value.parse().map_err(TxtRecordError::InvalidId)?);
        }
        Ok(StsRecord {
            id: id.ok_or(TxtRecordError::MissingId)?,
        })
    }
}

impl fmt::Display for StsRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// A reporting URI of a TLS-RPT record: where daily reports are sent.
///
/// Kept in record form: RFC 8460 §3 requires `,` and `!` inside a URI to be
/// percent-encoded in the record (and `;` would end the field), so parsing
/// encodes them as `%2C`, `%21`, `%3B` and [`RuaUri::as_str`] is exactly
/// what goes into the record. Existing escapes are left alone, because in a
/// `mailto:` URI `%2C` and `,` mean different things (RFC 6068).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RuaUri {
    /// A `mailto:` URI with at least one `local@domain` address, kept as
    /// the full URI with the scheme in lower case.
    Mailto(String),
    /// An `https:` URL whose host is a valid host name or an IP address.
    Https(Url),
}

impl RuaUri {
    /// Parses a reporting URI; only `mailto:` and `https:` are accepted.
    ///
    /// Surrounding whitespace is trimmed; whitespace or control characters
    /// inside are rejected. A `mailto:` URI needs `local@domain` for every
    /// comma-separated address before any `?`; an `https:` URI must be a
    /// valid URL with a host.
    pub fn parse(input: &str) -> Result<RuaUri, RuaUriError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(RuaUriError::Empty);
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RuaUriError::InvalidChar {
                uri: trimmed.to_owned(),
            });
        }
        let uri = trimmed.to_owned();
        let Some((scheme, rest)) = trimmed.split_once(':') else {
            return Err(RuaUriError::UnsupportedScheme { uri });
        };
        if scheme.eq_ignore_ascii_case("mailto") {
            let addresses = rest.split_once('?').map_or(rest, |(to, _)| to);
            let valid = addresses.split(',').all(|address| {
                address.rsplit_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && DomainName::parse_host(domain).is_ok()
                })
            });
            if !valid {
                return Err(RuaUriError::InvalidMailto { uri });
            }
            Ok(RuaUri::Mailto(format!(
                "mailto:{}",
                encode_record_chars(rest)
            )))
        } else if scheme.eq_ignore_ascii_case("https") {
            let url = Url::parse(&encode_record_chars(trimmed)).map_err(|e| {
                RuaUriError::InvalidHttps {
                    uri: uri.clone(),
                    reason: e.to_string(),
                }
            })?;
            // The URL parser percent-decodes hosts and allows characters
            // that DNS doesn't; requiring a real host name keeps `,` `!` `;`
            // out of the host, where they could not be encoded.
            let host_ok = match url.host() {
                Some(Host::Domain(domain)) => DomainName::parse_host(domain).is_ok(),
                Some(Host::Ipv4(_) | Host::Ipv6(_)) => true,
                None => false,
            };
            if !host_ok {
                return Err(RuaUriError::InvalidHttps {
                    uri,
                    reason: "no valid host".to_owned(),
                });
            }
            Ok(RuaUri::Https(url))
        } else {
            Err(RuaUriError::UnsupportedScheme { uri })
        }
    }

    /// The URI in record form (`,` `!` `;` percent-encoded).
    pub fn as_str(&self) -> &str {
        match self {
            RuaUri::Mailto(uri) => uri,
            RuaUri::Https(url) => url.as_str(),
        }
    }
}

/// Percent-encodes the characters RFC 8460 §3 reserves inside the record.
fn encode_record_chars(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    for c in uri.chars() {
        match c {
            ',' => out.push_str("%2C"),
            '!' => out.push_str("%21"),
            ';' => out.push_str("%3B"),
            _ => out.push(c),
        }
    }
    out
}

impl FromStr for RuaUri {
    type Err = RuaUriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuaUri::parse(s)
    }
}

impl TryFrom<String> for RuaUri {
    type Error = RuaUriError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        RuaUri::parse(&value)
    }
}

impl From<RuaUri> for String {
    fn from(value: RuaUri) -> Self {
        match value {
            RuaUri::Mailto(uri) => uri,
            RuaUri::Https(url) => url.into(),
        }
    }
}

impl fmt::Display for RuaUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `_smtp._tls.<domain>` TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRptRecord {
    /// Where reports go; must not be empty for the record to be valid.
    pub rua: Vec<RuaUri>,
}

impl TlsRptRecord {
    /// The record text: `v=TLSRPTv1; rua=<uri1>,<uri2>`, with no trailing
    /// `;`, no spaces around commas, and `,` `!` `;` inside URIs
    /// percent-encoded.
    pub fn render(&self) -> String {
        // `as_str` is already in record form; encoding again is a no-op
        // that keeps the record well-formed even for a hand-built `Url`.
        let uris: Vec<String> = self
            .rua
            .iter()
            .map(|uri| encode_record_chars(uri.as_str()))
            .collect();
        format!("v=TLSRPTv1; rua={}", uris.join(","))
    }

    /// Parses a record per RFC 8460 §3: `v=TLSRPTv1` first, fields separated
    /// by `;` with optional whitespace, optional trailing `;`, `rua=`
    /// required with one or more comma-separated URIs (whitespace around
    /// commas allowed), extension fields ignored.
    pub fn parse(record: &str) -> Result<TlsRptRecord, TxtRecordError> {
        let mut rua = None;
        for (name, value) in fields(record, "TLSRPTv1")? {
            if name != "rua" {
                continue;
            }
            if rua.is_some() {
                return Err(TxtRecordError::DuplicateField { name: "rua" });
            }
            let uris = value
                .split(',')
                .map(|uri| RuaUri::parse(uri.trim_matches(is_wsp)))
                .collect::<Result<Vec<_>, _>>()?;
            rua = Some(uris);
        }
        Ok(TlsRptRecord {
            rua: rua.ok_or(TxtRecordError::MissingRua)?,
        })
    }
}

impl fmt::Display for TlsRptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PolicyIdError;
    use proptest::prelude::*;

    fn rua(s: &str) -> RuaUri {
        RuaUri::parse(s).unwrap()
    }

    #[test]
    fn sts_render() {
        let r = StsRecord {
            id: "20261122T174417".parse().unwrap(),
        };
        assert_eq!(r.render(), "v=STSv1; id=20261122T174417;");
        assert_eq!(r.to_string(), r.render());
    }

    #[test]
    fn sts_tolerant_parse() {
        for text in [
            "v=STSv1; id=abc123;",
            "v=STSv1;id=abc123",
            "v=STSv1 ;\tid=abc123 ; ",
            "  v=STSv1; id=abc123;  ",
            "v=STSv1; ext=foo; id=abc123; other.ext_1=x=y;",
            "v=STSv1;; id=abc123;;",
        ] {
            let r = StsRecord::parse(text).unwrap();
            assert_eq!(r.id.as_str(), "abc123", "{text:?}");
        }
    }

    #[test]
    fn sts_rejections() {
        for text in [
            "v=stsv1; id=abc;",
            "id=abc; v=STSv1;",
            "",
            "v=STSv1 id=abc",
            "v=TLSRPTv1; id=abc",
        ] {
            let err = StsRecord::parse(text).unwrap_err();
            assert!(
                matches!(err, TxtRecordError::WrongVersion { .. }),
                "{text:?}"
            );
            assert!(err.to_string().starts_with("not an STSv1 record"));
        }
        for text in ["v=STSv1;", "v=STSv1", "v=STSv1; ID=abc;"] {
            let err = StsRecord::parse(text).unwrap_err();
            assert_eq!(err, TxtRecordError::MissingId, "{text:?}");
            assert!(err.to_string().starts_with("missing id"));
        }
        let err = StsRecord::parse("v=STSv1; id=abc-1;").unwrap_err();
        assert_eq!(
            err,
            TxtRecordError::InvalidId(PolicyIdError::InvalidChar { ch: '-' })
        );
        assert!(err.to_string().starts_with("invalid id"));
        assert_eq!(
            StsRecord::parse("v=STSv1; id=;"),
            Err(TxtRecordError::InvalidId(PolicyIdError::Empty))
        );
        assert!(matches!(
            StsRecord::parse(&format!("v=STSv1; id={};", "a".repeat(33))),
            Err(TxtRecordError::InvalidId(PolicyIdError::TooLong { .. }))
        ));
        assert_eq!(
            StsRecord::parse("v=STSv1; id=a; id=b"),
            Err(TxtRecordError::DuplicateField { name: "id" })
        );
        assert_eq!(
            StsRecord::parse("v=STSv1; id=a; junk"),
            Err(TxtRecordError::MalformedField {
                field: "junk".into()
            })
        );
    }

    #[test]
    fn rua_uris() {
        assert_eq!(
            rua("mailto:tlsrpt@example.com"),
            RuaUri::Mailto("mailto:tlsrpt@example.com".into())
        );
        assert_eq!(rua("MAILTO:a@example.com").as_str(), "mailto:a@example.com");
        assert_eq!(
            rua("mailto:a@example.com?subject=TLS%20report").as_str(),
            "mailto:a@example.com?subject=TLS%20report"
        );
        assert_eq!(
            rua("https://reporting.example.com/v1/tlsrpt").as_str(),
            "https://reporting.example.com/v1/tlsrpt"
        );
        assert!(matches!(rua("https://example.com"), RuaUri::Https(_)));
        assert_eq!(
            rua("mailto:a%2Cb@example.com").as_str(),
            "mailto:a%2Cb@example.com"
        );
        assert_eq!(
            rua("mailto:a@x.example,b@y.example").as_str(),
            "mailto:a@x.example%2Cb@y.example"
        );
        assert_eq!(
            rua("https://example.com/a,b!c;d").as_str(),
            "https://example.com/a%2Cb%21c%3Bd"
        );
        assert_eq!(rua("https://192.0.2.1/r").as_str(), "https://192.0.2.1/r");
        assert_eq!(
            rua(" mailto:a@example.com ").to_string(),
            "mailto:a@example.com"
        );
    }

    #[test]
    fn rua_rejections() {
        assert_eq!(RuaUri::parse(""), Err(RuaUriError::Empty));
        for s in [
            "http://example.com/",
            "ftp://example.com/",
            "example.com",
            "a@example.com",
            "tel:123",
        ] {
            let err = RuaUri::parse(s).unwrap_err();
            assert!(
                matches!(err, RuaUriError::UnsupportedScheme { .. }),
                "{s}: {err}"
            );
            assert!(err.to_string().contains(s));
        }
        for s in [
            "mailto:",
            "mailto:example.com",
            "mailto:@example.com",
            "mailto:a@",
            "mailto:a@localhost",
            "mailto:a@b_c.example",
        ] {
            let err = RuaUri::parse(s).unwrap_err();
            assert!(
                matches!(err, RuaUriError::InvalidMailto { .. }),
                "{s}: {err}"
            );
        }
        for s in ["https:", "https://", "https://exa mple.com"] {
            assert!(RuaUri::parse(s).is_err(), "{s}");
        }
        assert!(matches!(
            RuaUri::parse("https://[::1"),
            Err(RuaUriError::InvalidHttps { .. })
        ));
        assert!(matches!(
            RuaUri::parse("mailto:a@example.com\u{0}"),
            Err(RuaUriError::InvalidChar { .. })
        ));
    }

    #[test]
    fn encode_chars() {
        assert_eq!(encode_record_chars("a,b!c;d%2C"), "a%2Cb%21c%3Bd%2C");
    }

    #[test]
    fn tlsrpt_render() {
        let r = TlsRptRecord {
            rua: vec![
                rua("mailto:tls!x;y@example.com?subject=a,b"),
                rua("https://reporting.example.com/v1/tlsrpt?a=1,2"),
            ],
        };
        assert_eq!(
            r.render(),
            "v=TLSRPTv1; rua=mailto:tls%21x%3By@example.com?subject=a%2Cb,https://reporting.example.com/v1/tlsrpt?a=1%2C2"
        );
        assert_eq!(TlsRptRecord::parse(&r.render()).unwrap(), r);
    }

    #[test]
    fn tlsrpt_tolerant_parse() {
        let expected = TlsRptRecord {
            rua: vec![rua("mailto:a@example.com"), rua("https://r.example.com/x")],
        };
        for text in [
            "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/x",
            "v=TLSRPTv1;rua=mailto:a@example.com , https://r.example.com/x;",
            "v=TLSRPTv1 ; rua=mailto:a@example.com,\thttps://r.example.com/x ; ext=1;",
            "  v=TLSRPTv1; foo=bar; rua=mailto:a@example.com, https://r.example.com/x  ",
        ] {
            assert_eq!(TlsRptRecord::parse(text).unwrap(), expected, "{text:?}");
        }
    }

    #[test]
    fn tlsrpt_rejections() {
        for text in [
            "v=tlsrptv1; rua=mailto:a@example.com",
            "rua=mailto:a@example.com",
            "v=STSv1; id=1",
        ] {
            let err = TlsRptRecord::parse(text).unwrap_err();
            assert!(
                matches!(err, TxtRecordError::WrongVersion { .. }),
                "{text:?}"
            );
            assert!(err.to_string().starts_with("not a TLSRPTv1 record"));
        }
        assert_eq!(
            TlsRptRecord::parse("v=TLSRPTv1;"),
            Err(TxtRecordError::MissingRua)
        );
        assert_eq!(
            TlsRptRecord::parse("v=TLSRPTv1; rua="),
            Err(TxtRecordError::InvalidRua(RuaUriError::Empty))
        );
        assert_eq!(
            TlsRptRecord::parse("v=TLSRPTv1; rua=mailto:a@example.com,,mailto:b@example.com"),
            Err(TxtRecordError::InvalidRua(RuaUriError::Empty))
        );
        let err = TlsRptRecord::parse("v=TLSRPTv1; rua=mailto:a@example.com,http://example.com/")
            .unwrap_err();
        assert_eq!(
            err,
            TxtRecordError::InvalidRua(RuaUriError::UnsupportedScheme {
                uri: "http://example.com/".into()
            })
        );
        assert!(err.to_string().contains("`http://example.com/`"));
        assert_eq!(
            TlsRptRecord::parse("v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com"),
            Err(TxtRecordError::DuplicateField { name: "rua" })
        );
    }

    #[test]
    fn rua_serde() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StringDeserializer};
        let de: StringDeserializer<Error> = "https://example.com".to_owned().into_deserializer();
        assert_eq!(
            RuaUri::deserialize(de).unwrap().as_str(),
            "https://example.com/"
        );
        let de: StringDeserializer<Error> = "http://example.com".to_owned().into_deserializer();
        assert!(RuaUri::deserialize(de).is_err());
        assert_eq!(
            String::from(rua("mailto:a@example.com")),
            "mailto:a@example.com"
        );
    }

    fn host() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9]{0,8}\\.[a-z]{2,5}"
    }

    fn rua_strategy() -> impl Strategy<Value = RuaUri> {
        prop_oneof![
            ("[a-z0-9.+!,;=%-]{1,12}", host()).prop_map(|(l, h)| format!("mailto:{l}@{h}")),
            (host(), "[a-zA-Z0-9/,!;=&?.%-]{0,20}").prop_map(|(h, p)| format!("https://{h}/{p}")),
        ]
        .prop_filter_map("valid rua", |s| RuaUri::parse(&s).ok())
    }

    proptest! {
        #[test]
        fn sts_round_trip(id in "[A-Za-z0-9]{1,32}") {
            let r = StsRecord { id: id.parse().unwrap() };
            prop_assert_eq!(StsRecord::parse(&r.render()), Ok(r.clone()));
        }

        #[test]
        fn sts_tolerates_spacing(
            id in "[A-Za-z0-9]{1,32}",
            a in "[ \t]{0,3}", b in "[ \t]{0,3}", trailing in any::<bool>(),
            ext in proptest::option::of((
                "[a-z][a-z0-9_.-]{0,8}".prop_filter("not id", |n| n != "id"),
                "[!-:<>-~]{1,8}",
            )),
        ) {
            let ext = ext.map(|(n, v)| format!("{n}={v}{a};{b}")).unwrap_or_default();
            let text = format!("v=STSv1{a};{b}{ext}id={id}{}", if trailing { ";" } else { "" });
            prop_assert_eq!(StsRecord::parse(&text).map(|r| r.id.to_string()), Ok(id));
        }

        #[test]
        fn tlsrpt_round_trip(uris in proptest::collection::vec(rua_strategy(), 1..4)) {
            let r = TlsRptRecord { rua: uris };
            let text = r.render();
            prop_assert!(text.starts_with("v=TLSRPTv1; rua="));
            prop_assert!(!text.ends_with(';'));
            prop_assert_eq!(TlsRptRecord::parse(&text), Ok(r));
        }

        #[test]
        fn rua_parse_is_idempotent(s in any::<String>()) {
            if let Ok(uri) = RuaUri::parse(&s) {
                prop_assert!(!uri.as_str().contains([',', '!', ';']));
                prop_assert_eq!(RuaUri::parse(uri.as_str()), Ok(uri));
            }
        }

        #[test]
        fn parsers_never_panic(s in any::<String>()) {
            let _ = StsRecord::parse(&s);
            let _ = TlsRptRecord::parse(&s);
            let _ = RuaUri::parse(&s);
        }
    }
}
