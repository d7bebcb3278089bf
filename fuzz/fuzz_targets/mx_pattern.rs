//! An `mx` entry of a policy and a host name to match against it: `MxPattern::from_str` and
//! `MxPattern::matches`. The input is `pattern\nhost`. A parsed pattern parses back to
//! itself from its text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsd_core::MxPattern;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pattern, host) = text.split_once('\n').unwrap_or((&text, "mx.example.com"));
    if let Ok(p) = pattern.parse::<MxPattern>() {
        assert_eq!(p.as_str().parse::<MxPattern>().as_ref(), Ok(&p));
        let _ = p.matches(host);
        let _ = p.is_wildcard();
    }
});
