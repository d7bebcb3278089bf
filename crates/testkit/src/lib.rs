//! Test support for stsd.
//!
//! [`FakeDns`] is a real authoritative DNS server on loopback (UDP and TCP on the same port)
//! that plays "the customer's DNS zone" in tests: a test sets records, points a resolver at
//! [`FakeDns::addr`], and the code under test sees ordinary DNS answers, NXDOMAIN, NODATA,
//! SERVFAIL and truncation.
//!
//! Behaviour, in brief:
//! - names are case-insensitive, with or without a trailing dot;
//! - every answer is authoritative (AA) with TTL 60;
//! - reverse names (`in-addr.arpa`, `ip6.arpa`) are ordinary names: [`FakeDns::set_ptr`]
//!   fills them from an address;
//! - a CNAME is followed inside the fake zone: the answer holds the CNAME and the target's
//!   records of the asked type, when there are any;
//! - a name with no records and nothing below it is NXDOMAIN; a name with records of other types
//!   (or only names below it) is NODATA; both carry an SOA in the authority section;
//! - over UDP a response larger than 512 octets (or the query's EDNS payload size) is truncated
//!   (TC set, answers dropped); over TCP the two-octet length prefix is honoured;
//! - malformed queries never panic the server: they get FORMERR or no answer.

mod client_hello;
mod database;
mod fake_mx;
mod fake_policy_host;
mod pebble;
mod postgres_server;
mod server;
mod test_ca;
mod zone;

pub use client_hello::client_hello;
pub use database::{TestDatabase, postgres_admin_url};
pub use fake_mx::FakeMx;
pub use fake_policy_host::{FakePolicyHost, PolicyResponse};
pub use pebble::{
    PEBBLE_ARI_ENV, PEBBLE_EAB_HMAC_KEY, PEBBLE_EAB_KID, PebbleOptions, PebbleServer,
    pebble_ari_program, tls_connector,
};
pub use postgres_server::PostgresServer;
pub use test_ca::TestCa;

/// A loopback TCP port free now and never handed out before in this process: the kernel may
/// give a just-released port to the next `bind(0)`, so two servers started one after the
/// other (before either has bound its ports) could otherwise be given the same one, the
/// second failing to bind while probes of it reach the first.
///
/// # Panics
/// When no loopback port can be bound at all.
#[allow(
    clippy::expect_used,
    reason = "test support: failing loudly is the point"
)]
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut handed = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if handed.insert(port) {
            return port;
        }
    }
}

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use hickory_proto::rr::rdata::{A, AAAA, CAA, CNAME, MX, PTR, TXT};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use crate::server::Shared;
use crate::zone::{key_of, wire_name};

/// How many ephemeral UDP ports to try before giving up on finding one whose TCP twin is free.
const BIND_TRIES: usize = 16;
/// Longest character-string inside a TXT record (RFC 1035 §3.3).
const TXT_CHUNK: usize = 255;

/// A running fake authoritative DNS server on `127.0.0.1`.
///
/// It starts empty (every name is NXDOMAIN); the `set_*` methods change the zone at once, also
/// while queries are in flight. Dropping the handle stops the server.
#[derive(Debug)]
pub struct FakeDns {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeDns {
    /// Binds UDP and TCP on `127.0.0.1` at the same ephemeral port and starts answering.
    ///
    /// Must be called inside a Tokio runtime; the server runs as tasks of that runtime.
    pub async fn start() -> io::Result<FakeDns> {
        for _ in 0..BIND_TRIES {
            let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            let addr = udp.local_addr()?;
            let tcp = match TcpListener::bind(addr).await {
                Ok(tcp) => tcp,
                Err(err) if err.kind() == io::ErrorKind::AddrInUse => continue,
                Err(err) => return Err(err),
            };
            let shared = Arc::new(Shared::default());
            let tasks = vec![
                tokio::spawn(server::serve_udp(udp, Arc::clone(&shared))),
                tokio::spawn(server::serve_tcp(tcp, Arc::clone(&shared))),
            ];
            return Ok(FakeDns {
                addr,
                shared,
                tasks,
            });
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no ephemeral port free for both UDP and TCP on 127.0.0.1",
        ))
    }

    /// The address (UDP and TCP) the server answers on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the MX records at `name` with `records` (preference, exchange); an empty slice
    /// removes them. An exchange of `"."` makes a null MX (RFC 7505).
    ///
    /// # Panics
    ///
    /// If an exchange is not a DNS name at all (for example a label over 63 octets): that is
    /// a mistake in the test, not something to answer.
    pub fn set_mx(&self, name: &str, records: &[(u16, &str)]) {
        let rdatas = records
            .iter()
            .map(|&(preference, exchange)| RData::MX(MX::new(preference, parse_target(exchange))))
            .collect();
        self.replace(name, RecordType::MX, rdatas);
    }

    /// Replaces the A records at `name`; an empty slice removes them.
    pub fn set_a(&self, name: &str, addrs: &[Ipv4Addr]) {
        let rdatas = addrs.iter().map(|&addr| RData::A(A(addr))).collect();
        self.replace(name, RecordType::A, rdatas);
    }

    /// Replaces the AAAA records at `name`; an empty slice removes them.
    pub fn set_aaaa(&self, name: &str, addrs: &[Ipv6Addr]) {
        let rdatas = addrs.iter().map(|&addr| RData::AAAA(AAAA(addr))).collect();
        self.replace(name, RecordType::AAAA, rdatas);
    }

    /// Replaces the TXT records at `name`, one record per text; an empty slice removes them.
    ///
    /// Texts longer than 255 octets are split into several character-strings of one record, as
    /// a zone file would; resolvers join them again.
    pub fn set_txt(&self, name: &str, texts: &[&str]) {
        let rdatas = texts
            .iter()
            .map(|text| RData::TXT(TXT::from_bytes(text.as_bytes().chunks(TXT_CHUNK).collect())))
            .collect();
        self.replace(name, RecordType::TXT, rdatas);
    }

    /// Replaces the CAA records at `name` with one `issue` record per entry; an entry `""`
    /// is the empty issuer (`0 issue ";"`: no CA may issue). An empty slice removes them.
    pub fn set_caa_issue(&self, name: &str, issuers: &[&str]) {
        let rdatas = issuers
            .iter()
            .map(|issuer| {
                let name = (!issuer.is_empty()).then(|| parse_target(issuer));
                RData::CAA(CAA::new_issue(false, name, Vec::new()))
            })
            .collect();
        self.replace(name, RecordType::CAA, rdatas);
    }

    /// Makes `name` an alias of `target`, dropping every other record at `name` (a CNAME owns
    /// its name alone, RFC 1034 §3.6.2). Setting another type at `name` later drops the CNAME.
    ///
    /// # Panics
    ///
    /// If `target` is not a DNS name at all (for example a label over 63 octets).
    pub fn set_cname(&self, name: &str, target: &str) {
        let rdatas = vec![RData::CNAME(CNAME(parse_target(target)))];
        self.replace(name, RecordType::CNAME, rdatas);
    }

    /// Replaces the PTR records of `addr` (at its `in-addr.arpa` or `ip6.arpa` name) with
    /// `names`; an empty slice removes them.
    ///
    /// A resolver never asks for a loopback address's PTR: hickory answers `localhost.` for
    /// 127.0.0.0/8 and ::1 itself (RFC 6761), so records for those are never read.
    ///
    /// # Panics
    ///
    /// If a name is not a DNS name at all (for example a label over 63 octets).
    pub fn set_ptr(&self, addr: IpAddr, names: &[&str]) {
        let rdatas = names
            .iter()
            .map(|name| RData::PTR(PTR(parse_target(name))))
            .collect();
        self.replace(&Name::from(addr).to_ascii(), RecordType::PTR, rdatas);
    }

    /// Removes every record at `name` (names below it keep theirs).
    pub fn remove(&self, name: &str) {
        self.shared
            .zone
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key_of(name));
    }

    /// Makes queries for `name` (exactly that name, any type) answer SERVFAIL while `on`.
    pub fn set_servfail(&self, name: &str, on: bool) {
        self.shared
            .zone
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .set_servfail(key_of(name), on);
    }

    /// How many queries the server has answered so far (over UDP and TCP, errors included).
    pub fn queries(&self) -> usize {
        self.shared.queries.load(Ordering::Relaxed)
    }

    fn replace(&self, name: &str, rtype: RecordType, rdatas: Vec<RData>) {
        self.shared
            .zone
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(key_of(name), rtype, rdatas);
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A target name given by a test; an unusable one is a bug in the test.
fn parse_target(name: &str) -> Name {
    match wire_name(name) {
        Some(name) => name,
        None => panic!("FakeDns: `{name}` is not a DNS name"),
    }
}

#[cfg(test)]
mod tests;
