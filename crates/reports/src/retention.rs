//! Report retention: reports older than their tenant's retention period are deleted (their
//! daily rollups stay, so summaries keep their history).

use std::time::Duration;

use stsd_store::Store;
use time::OffsetDateTime;

/// Deletes expired reports every `interval` until the task is aborted.
pub async fn run_retention(store: Store, interval: Duration) {
    loop {
        match store
            .all_tenants()
            .purge_expired_reports(OffsetDateTime::now_utc())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired TLS reports deleted"),
            Err(e) => tracing::warn!(error = %e, "report retention sweep failed"),
        }
        tokio::time::sleep(interval).await;
    }
}
