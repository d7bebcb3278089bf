//! An MTA-STS policy file as fetched from `https://mta-sts.<domain>/.well-known/mta-sts.txt`:
//! `Policy::parse`. What it accepts renders to text that parses back to the same policy,
//! without warnings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsd_core::{ParsedPolicy, Policy};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(parsed) = Policy::parse(&text) {
        let rendered = parsed.policy.render();
        let again = Policy::parse(&rendered);
        let expected = ParsedPolicy {
            policy: parsed.policy,
            warnings: Vec::new(),
        };
        assert_eq!(again, Ok(expected), "rendered as {rendered:?}");
    }
});
