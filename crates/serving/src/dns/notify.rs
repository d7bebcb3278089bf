//! NOTIFY (RFC 1996): telling the secondaries that the zone changed, so that they transfer
//! it within seconds instead of at their next refresh (hours).
//!
//! Each `stsd dns` node watches the serial its snapshot and the edges' acknowledgement make
//! ([`ZoneConfig::serial`]) and, when it moves, sends a signed NOTIFY to every secondary,
//! retrying a few times until the secondary answers. Several nodes notifying the same
//! secondary is harmless: it asks for the SOA once and transfers only a newer serial.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use super::tsig::{self, TsigKey};
use super::zone::{Secondary, ZoneConfig, rtype};
use crate::follower::SnapshotHandle;

/// How often the serial is looked at. It costs two loads and an addition.
const WATCH: Duration = Duration::from_millis(200);
/// Sends of one NOTIFY before giving up (RFC 1996 §3.6: "several times").
const ATTEMPTS: u32 = 5;
/// Wait for the first answer; doubled after each unanswered send.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The NOTIFY opcode.
const OPCODE_NOTIFY: u8 = 4;

/// Sends NOTIFY to the zone's secondaries whenever its serial moves, and once at start (a
/// restarted primary may have changes the secondaries missed). Runs until aborted.
pub async fn notify_secondaries(zone: ZoneConfig, snapshots: SnapshotHandle) {
    let mut last = None;
    // One round per serial; a newer serial cancels the round still retrying.
    let mut round = JoinSet::new();
    loop {
        let serial = ZoneConfig::serial(&snapshots.current(), snapshots.acknowledged());
        if last != Some(serial) {
            last = Some(serial);
            round.abort_all();
            for secondary in zone.secondaries() {
                let Some(key) = zone.secondary_key(secondary.address.ip()).cloned() else {
                    continue;
                };
                let secondary = secondary.clone();
                let apex = zone.zone().to_owned();
                round.spawn(async move {
                    notify(&secondary, &key, &apex, serial).await;
                });
            }
        }
        tokio::select! {
            () = tokio::time::sleep(WATCH) => {}
            Some(_) = round.join_next(), if !round.is_empty() => {}
        }
    }
}

/// Sends one signed NOTIFY until `secondary` answers it or the attempts run out.
async fn notify(secondary: &Secondary, key: &TsigKey, apex: &str, serial: u32) {
    let to = secondary.address;
    let bind: SocketAddr = if to.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, secondary = %to, "cannot send NOTIFY");
            return;
        }
    };
    let mut wait = FIRST_WAIT;
    for _ in 0..ATTEMPTS {
        let id = random_id();
        let mut msg = message(id, apex);
        let mac = tsig::sign_request(key, &mut msg);
        if let Err(e) = socket.send_to(&msg, to).await {
            tracing::debug!(error = %e, secondary = %to, "NOTIFY not sent");
        } else if let Ok(answered) = tokio::time::timeout(wait, answer(&socket, to, id)).await {
            match answered {
                Some(reply) if tsig::verify_answer(key, &reply, &mac) => {
                    let rcode = reply.get(3).map_or(0, |b| b & 0x0F);
                    if rcode == 0 {
                        tracing::info!(secondary = %to, serial, "secondary notified");
                    } else {
                        tracing::warn!(secondary = %to, serial, rcode, "secondary refused NOTIFY");
                    }
                    return;
                }
                Some(_) => {
                    tracing::warn!(secondary = %to, "NOTIFY answer not signed with the secondary's key");
                    return;
                }
                None => {}
            }
        }
        wait = wait.saturating_mul(2);
    }
    tracing::warn!(secondary = %to, serial, attempts = ATTEMPTS, "secondary did not answer NOTIFY");
}

/// Waits for the answer to NOTIFY `id` from `from`; other datagrams are ignored.
async fn answer(socket: &UdpSocket, from: SocketAddr, id: [u8; 2]) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    loop {
        let (len, peer) = socket.recv_from(&mut buf).await.ok()?;
        let reply = buf.get(..len)?;
        let is_answer = reply.len() >= 12
            && reply[..2] == id
            && reply[2] & 0x80 != 0
            && (reply[2] >> 3) & 0x0F == OPCODE_NOTIFY;
        if peer == from && is_answer {
            return Some(reply.to_vec());
        }
    }
}

/// A NOTIFY for `apex`: opcode NOTIFY, AA, one question `<apex> SOA IN` (RFC 1996 §3.7).
fn message(id: [u8; 2], apex: &str) -> Vec<u8> {
    let mut msg = Vec::with_capacity(64 + apex.len());
    msg.extend_from_slice(&id);
    msg.extend_from_slice(&[(OPCODE_NOTIFY << 3) | 0x04, 0]);
    msg.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for label in apex.split('.').filter(|l| !l.is_empty()) {
        msg.push(u8::try_from(label.len()).unwrap_or(63));
        msg.extend_from_slice(label.as_bytes());
    }
    msg.push(0);
    msg.extend_from_slice(&rtype::SOA.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes());
    msg
}

fn random_id() -> [u8; 2] {
    let mut id = [0u8; 2];
    // A predictable id would only let someone forge the answer, which must be signed anyway.
    if aws_lc_rs::rand::fill(&mut id).is_err() {
        id = [0x5a, 0x5a];
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notify_names_the_zone_soa() {
        let msg = message([1, 2], "sts.example.net");
        assert_eq!(&msg[..4], &[1, 2, 0x24, 0]);
        assert_eq!(&msg[4..6], &[0, 1]);
        assert_eq!(&msg[12..29], b"\x03sts\x07example\x03net\x00");
        assert_eq!(&msg[29..], &[0, 6, 0, 1]);
    }
}
