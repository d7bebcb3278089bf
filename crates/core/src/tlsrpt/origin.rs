//! Who a report says it comes from, to compare with where it came from.
//!
//! A report POSTed over HTTPS carries no signature (RFC 8460 §4.3 asks for DKIM on mail
//! only), so the one link between a report and its sender is the client's address: the
//! receiver checks that the address's forward-confirmed reverse DNS name lies within the
//! organizational domain the report names. This module holds the pure half of that rule —
//! which domain a report names, and whether a host name lies within it; the DNS lookups are
//! the receiver's.
//!
//! The domain a report names is that of its `contact-info` (the party responsible for the
//! report, an e-mail address or a URI, RFC 8460 §4.4), else its `organization-name` when that
//! is itself a domain name (a few reporters put their domain there; most write a company
//! name such as "Google Inc.", which names no domain). `contact-info` comes first because it
//! is the field that is meant to be machine-readable. Either is reduced to its
//! organizational domain (the registrable domain by the public suffix list, as DMARC does),
//! so that `tlsrpt@reports.example.net` and a sender named `out1.mail.example.net` match.

use super::model::Report;
use crate::DomainName;

/// The host a `contact-info` names: the domain of an e-mail address (bare or `mailto:`, also
/// inside `<…>`), or the host of a URI; lower case, without a trailing dot.
pub fn contact_host(contact: &str) -> Option<String> {
    let c = contact.trim();
    let c = c.strip_prefix("mailto:").unwrap_or(c);
    let host = if let Some((_, rest)) = c.split_once("://") {
        // The authority ends at the path, port or query; a user part is dropped.
        let authority = rest.split(['/', '?', '#']).next()?;
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        authority.split(':').next()?
    } else {
        c.rsplit_once('@')?.1
    };
    let host = host
        .trim()
        .trim_end_matches(['.', '>'])
        .to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// The organizational domain of `host`: its registrable domain by the public suffix list
/// (a name under an unlisted top-level domain counts its last label as the suffix, as the
/// list's default rule says). `None` for a public suffix itself, a single label, or text
/// that is no domain name.
pub fn organizational_domain(host: &str) -> Option<DomainName> {
    let name = DomainName::parse_host(host).ok()?;
    let registrable = psl::domain_str(name.as_str())?;
    DomainName::parse_host(registrable).ok()
}

/// The organizational domain a report names: that of its `contact-info` host when it has
/// one, else that of its `organization-name` when that is a domain name.
pub fn reporter_domain(report: &Report) -> Option<DomainName> {
    if let Some(host) = report.contact.as_deref().and_then(contact_host) {
        return organizational_domain(&host);
    }
    let name = report.organization.trim();
    // A company name ("Google Inc.", "Yahoo") is no domain: it must look like one as typed.
    if name.contains('.') && !name.contains(char::is_whitespace) {
        return organizational_domain(name);
    }
    None
}

/// Whether `host` (a PTR target, with or without its trailing dot) is `organization` or lies
/// below it, label-wise (`badexample.com` is not within `example.com`).
pub fn within(host: &str, organization: &DomainName) -> bool {
    DomainName::parse_host(host).is_ok_and(|h| h.is_subdomain_of(organization))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::tlsrpt::parse_json;

    fn report(organization: &str, contact: Option<&str>) -> Report {
        let mut v = serde_json::json!({
            "organization-name": organization,
            "date-range": {"start-datetime": "2026-11-20T00:00:00Z",
                           "end-datetime": "2026-11-20T23:59:59Z"},
            "report-id": "r",
            "policies": []
        });
        if let Some(c) = contact {
            v["contact-info"] = c.into();
        }
        parse_json(&serde_json::to_vec(&v).unwrap()).unwrap()
    }

    #[test]
    fn contact_hosts() {
        for (contact, host) in [
            ("smtp-tls-reporting@google.com", Some("google.com")),
            (
                "mailto:TLSRPT@Reports.Example.NET.",
                Some("reports.example.net"),
            ),
            ("Ops <ops@example.org>", Some("example.org")),
            (
                "https://tlsrpt.example.com/contact",
                Some("tlsrpt.example.com"),
            ),
            ("https://user@example.com:8443/x", Some("example.com")),
            ("just a name", None),
            ("", None),
            ("@", None),
        ] {
            assert_eq!(contact_host(contact).as_deref(), host, "{contact}");
        }
    }

    #[test]
    fn organizational_domains() {
        let od = |h: &str| organizational_domain(h).map(|d| d.as_str().to_owned());
        assert_eq!(od("mail-a.out.google.com").as_deref(), Some("google.com"));
        assert_eq!(od("smtp.example.co.uk.").as_deref(), Some("example.co.uk"));
        assert_eq!(
            od("reports.reporter.example").as_deref(),
            Some("reporter.example")
        );
        assert_eq!(od("co.uk"), None);
        assert_eq!(od("com"), None);
        assert_eq!(od("not a name"), None);
    }

    #[test]
    fn the_contact_comes_before_the_organization_name() {
        let d = |r: &Report| reporter_domain(r).map(|d| d.as_str().to_owned());
        assert_eq!(
            d(&report(
                "Google Inc.",
                Some("smtp-tls-reporting@google.com")
            ))
            .as_deref(),
            Some("google.com")
        );
        assert_eq!(
            d(&report("mail.ru", Some("tlsrpt@corp.example.net"))).as_deref(),
            Some("example.net")
        );
        // No contact: an organization name that is a domain name stands in.
        assert_eq!(d(&report("Mail.Ru", None)).as_deref(), Some("mail.ru"));
        assert_eq!(d(&report("Google Inc.", None)), None);
        assert_eq!(d(&report("Yahoo", None)), None);
        // A contact without a host is as good as none.
        assert_eq!(
            d(&report("mail.ru", Some("call us"))).as_deref(),
            Some("mail.ru")
        );
    }

    #[test]
    fn within_is_label_wise() {
        let org: DomainName = "example.com".parse().unwrap();
        assert!(within("example.com", &org));
        assert!(within("Out-1.Mail.Example.COM.", &org));
        assert!(!within("badexample.com", &org));
        assert!(!within("example.com.evil.net", &org));
        assert!(!within("", &org));
    }
}
