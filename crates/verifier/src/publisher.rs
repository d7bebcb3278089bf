//! The publisher step: makes the latest saved policy version the one the edges serve.
//!
//! Only the edge side moves here. DNS announces a live version's id only after every live
//! edge has applied it; that ordering lives in the serving crate and is not repeated here.

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
    for (domain, version) in store.versions_awaiting_publication().await? {
        match store.set_live_version(&domain, &version).await {
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
