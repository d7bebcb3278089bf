//! A TXT record's text as read from DNS: `StsRecord::parse` (`_mta-sts`),
//! `TlsRptRecord::parse` (`_smtp._tls`) and `RuaUri::parse`. What parses renders to text
//! that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsd_core::{RuaUri, StsRecord, TlsRptRecord};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(r) = StsRecord::parse(&text) {
        assert_eq!(StsRecord::parse(&r.render()), Ok(r));
    }
    if let Ok(r) = TlsRptRecord::parse(&text) {
        assert_eq!(TlsRptRecord::parse(&r.render()), Ok(r));
    }
    if let Ok(u) = RuaUri::parse(&text) {
        assert_eq!(RuaUri::parse(u.as_str()), Ok(u));
    }
});
