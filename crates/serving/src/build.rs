//! Building a whole snapshot from rows: the store's at start-up, or the local copy's when the
//! store cannot be reached. One path for both, so a snapshot from the copy serves exactly what
//! one from the store would.

use std::collections::HashMap;

use bytes::Bytes;
use rustls::crypto::CryptoProvider;
use stsd_store::{MasterKey, ServedDomain, ServiceCertificate};

use crate::snapshot::{EdgeHost, Snapshot, edge_host};

/// Everything a snapshot is built from, as the store holds it (private keys sealed).
#[derive(Debug, Default)]
pub(crate) struct Rows {
    /// The change-feed position the rows reflect.
    pub(crate) seq: i64,
    /// Every registration in a servable state.
    pub(crate) domains: Vec<ServedDomain>,
    /// Live HTTP-01 challenges: token and key authorization.
    pub(crate) challenges: Vec<(String, String)>,
    /// Live TLS-ALPN-01 challenges: host and hex SHA-256 of the key authorization.
    pub(crate) tls_alpn: Vec<(String, String)>,
    /// Certificates of stsd's own hosts.
    pub(crate) service: Vec<ServiceCertificate>,
}

/// The snapshot of `rows`; an unusable certificate is logged and its host left out.
pub(crate) fn build(rows: Rows, master: &MasterKey, provider: &CryptoProvider) -> Snapshot {
    let Rows {
        seq,
        domains,
        challenges,
        tls_alpn,
        service,
    } = rows;
    let mut snapshot = Snapshot {
        seq,
        tls_alpn: crate::alpn::challenge_keys(tls_alpn, &HashMap::new(), provider),
        ..Snapshot::default()
    };
    snapshot.set_service(service, master, provider);
    // Opening sealed keys and loading them into rustls is the bulk of a start with many
    // domains: spread it over the cores.
    let built = build_edge_hosts(&domains, master, provider);
    for (row, edge) in domains.iter().zip(built) {
        snapshot.put_domain_with(row, edge);
    }
    snapshot.challenges = challenges
        .into_iter()
        .map(|(t, k)| (t, Bytes::from(k.into_bytes())))
        .collect();
    snapshot
}

/// The edge entry of every row, built on all cores, in row order.
fn build_edge_hosts(
    rows: &[ServedDomain],
    master: &MasterKey,
    provider: &CryptoProvider,
) -> Vec<Option<EdgeHost>> {
    let threads = std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(1)
        .clamp(1, 16);
    let chunk = rows.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = rows
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|row| edge_host(row, master, provider))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        rows.chunks(chunk)
            .zip(workers)
            .flat_map(|(part, worker)| {
                // A worker that panicked (it should not: nothing in it unwraps) costs only
                // speed: its part is built again here.
                worker.join().unwrap_or_else(|_| {
                    part.iter()
                        .map(|row| edge_host(row, master, provider))
                        .collect()
                })
            })
            .collect()
    })
}
