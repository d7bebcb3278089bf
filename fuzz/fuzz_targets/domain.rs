//! Domain names as customers, reports and DNS give them: `DomainName::parse_host` and
//! `FromStr`. A parsed name is normalized: it parses back to itself, from its A-label text
//! and from its Unicode form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsd_core::DomainName;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(d) = DomainName::parse_host(&text) {
        assert_eq!(DomainName::parse_host(d.as_str()).as_ref(), Ok(&d));
        let unicode = d.to_unicode();
        assert_eq!(
            DomainName::parse_host(&unicode).as_ref(),
            Ok(&d),
            "via {unicode:?}"
        );
        assert!(d.labels().count() >= 1);
    }
    if let Ok(d) = text.parse::<DomainName>() {
        assert_eq!(d.as_str().parse::<DomainName>().as_ref(), Ok(&d));
        let _ = d.is_subdomain_of(&d);
    }
});
