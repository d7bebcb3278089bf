//! The publisher step: makes the latest saved policy version the one the edges serve.
//!
//! Only the edge side moves here. DNS announces a live version's id only after every live
//! edge has applied it; that ordering lives in the serving crate. [`record_dns_switches`]
//! records, by the same rule from the edges' heartbeats, when that happened, so that the API
//! can show when DNS switched to each version.

use stsd_store::{Store, StoreError};

use crate::error::VerifyError;

/// Makes the latest policy version live (`Store::set_live_version`) for every served
/// registration (active, degraded, offboarding) that has a certificate and whose latest
/// version is not live yet. Returns how many versions went live.
///
/// A registration that changed in between (a newer version already live, the registration
/// gone) is skipped, not an error: the next pass sees the new state.
pub async fn publish_pending(store: &Store) -> Result<usize, VerifyError> {
    let mut published = 0;
    for (domain, version) in store.all_tenants().versions_awaiting_publication().await? {
        match store
            .all_tenants()
            .set_live_version(&domain, &version)
            .await
        {
            Ok(()) => {
                tracing::info!(%domain, %version, "policy version made live");
                published += 1;
            }
            Err(err @ (StoreError::StateMismatch { .. } | StoreError::NotFound(_))) => {
                tracing::debug!(%domain, %version, error = %err, "not publishing: changed meanwhile");
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(published)
}

/// How long after going live a version counts as announced when no edge heartbeat is known
/// (the DNS side's settle delay).
pub const DNS_SETTLE: std::time::Duration = std::time::Duration::from_secs(30);
/// Heartbeats older than this do not count an edge as live.
const HEARTBEAT_WINDOW: time::Duration = time::Duration::seconds(30);

/// Records `dns_version_id` / `dns_at` for every live version that every live edge has
/// applied (its change-feed position is at or below the lowest position the edges report),
/// or, without heartbeats, that has been live for [`DNS_SETTLE`]. Returns how many.
pub async fn record_dns_switches(store: &Store) -> Result<usize, VerifyError> {
    let now = time::OffsetDateTime::now_utc();
    let acked = store
        .edge_acknowledged_seq("", now - HEARTBEAT_WINDOW)
        .await?;
    let settle_ms = i64::try_from(DNS_SETTLE.as_millis()).unwrap_or(i64::MAX);
    let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    let mut recorded = 0;
    for (domain, version, live_seq, live_at_ms) in
        store.all_tenants().versions_awaiting_dns().await?
    {
        let announced = match acked {
            Some(seq) => live_seq <= seq,
            None => live_at_ms <= now_ms.saturating_sub(settle_ms),
        };
        if !announced {
            continue;
        }
        match store.all_tenants().set_dns_version(&domain, &version).await {
            Ok(()) => recorded += 1,
            Err(StoreError::StateMismatch { .. } | StoreError::NotFound(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(recorded)
}
