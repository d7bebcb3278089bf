//! The first TLS record of an edge connection: the ClientHello screen that refuses IP-address
//! and malformed server names before rustls (`stsd_serving::fuzzing::client_hello`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|record: &[u8]| {
    if let Some(alert) = stsd_serving::fuzzing::client_hello(record) {
        assert!([10, 47, 112].contains(&alert), "alert {alert}");
    }
});
