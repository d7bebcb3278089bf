//! A DNS message as the server receives it over UDP and over TCP: `wire::parse`, the zone's
//! answer and the response writer (`stsd_serving::fuzzing::Fixture::dns`). Every response must
//! echo the query's id, be a response, fit the transport and parse with hickory-proto.
#![no_main]

use std::sync::LazyLock;

use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use stsd_serving::fuzzing::Fixture;

static FIXTURE: LazyLock<Fixture> = LazyLock::new(Fixture::new);

fuzz_target!(|msg: &[u8]| {
    for udp in [true, false] {
        let Some(out) = FIXTURE.dns(msg, udp) else {
            continue;
        };
        assert_eq!(out.get(..2), msg.get(..2), "the response repeats the id");
        assert!(out[2] & 0x80 != 0, "QR is set");
        let limit = if udp { 1232 } else { 65_535 };
        assert!(out.len() <= limit, "{} bytes over {}", out.len(), limit);
        if let Err(e) = Message::from_vec(&out) {
            panic!("the response does not parse: {e}\nquery {msg:02x?}\nanswer {out:02x?}");
        }
    }
});
