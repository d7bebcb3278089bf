//! Housekeeping of authentication state: expired refresh tokens and spent rate limits are
//! deleted, so that neither table grows without bound.

use std::time::Duration;

use stsd_store::Store;
use time::OffsetDateTime;

/// Purges expired refresh tokens and spent rate limits every `interval` until the task is
/// aborted. A failure is logged and retried at the next round.
pub async fn run_housekeeping(store: Store, interval: Duration) {
    loop {
        let at = OffsetDateTime::now_utc();
        match store.purge_expired_refresh_tokens(at).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired refresh tokens deleted"),
            Err(e) => tracing::warn!(error = %e, "refresh token sweep failed"),
        }
        match store.purge_rate_limits(at).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "spent rate limits deleted"),
            Err(e) => tracing::warn!(error = %e, "rate limit sweep failed"),
        }
        tokio::time::sleep(interval).await;
    }
}
