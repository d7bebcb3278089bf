//! Queries of the verifier: which registrations need a verify job, and which have a saved
//! policy version that is not live yet (every tenant's: [`AllTenants`]); and the edit's own
//! publication of a tenant's latest version.

use crate::Result;
use crate::all_tenants::AllTenants;
use crate::db::Store;
use crate::domains::DomainState;
use crate::error::StoreError;
use crate::ids::{DomainId, TenantId};

/// The job kind of domain verification; the subject is the domain id.
pub const VERIFY_JOB_KIND: &str = "verify";

impl Store {
    /// Makes the latest version of the tenant's registration live at once when the
    /// registration is served (active, degraded or offboarding) and has a certificate — what
    /// the publisher would do on its next pass, done by the edit itself so that an edit never
    /// waits for a worker. Returns whether a version went live; `false` when there is nothing
    /// to publish, the registration is not served yet (the publisher does it once it is) or
    /// it is not the tenant's.
    pub async fn publish_latest(&self, tenant: &TenantId, domain: &DomainId) -> Result<bool> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT t.latest FROM (
                 SELECT d.live_version_id AS live,
                        (SELECT pv.id FROM policy_versions pv WHERE pv.domain_id = d.id
                         ORDER BY pv.created_at DESC, pv.policy_id DESC LIMIT 1) AS latest
                 FROM domains d
                 WHERE d.id = $1 AND d.tenant_id = $2
                   AND d.state IN ('active', 'degraded', 'offboarding')
                   AND EXISTS (SELECT 1 FROM certificates c WHERE c.domain_id = d.id)
             ) t
             WHERE t.latest IS NOT NULL AND (t.live IS NULL OR t.live <> t.latest)",
        )
        .bind(domain.as_str())
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some((latest,)) = row else {
            return Ok(false);
        };
        // The registration is the tenant's: the query above found it under the tenant.
        match self.all_tenants().set_live_version(domain, &latest).await {
            Ok(()) => Ok(true),
            // A newer version went live in between: the publisher's pass sorts it out.
            Err(StoreError::StateMismatch { .. } | StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl AllTenants<'_> {
    /// Registrations in one of `states` that have no job of `kind` (subject = domain id), so
    /// that a scheduler can give each one.
    pub async fn domains_without_job(
        &self,
        kind: &str,
        states: &[DomainState],
    ) -> Result<Vec<DomainId>> {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        // Placeholders $2… for the states; the values are bound, never spliced.
        let placeholders: Vec<String> = (0..states.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT d.id FROM domains d
             WHERE d.state IN ({})
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = $1 AND j.subject = d.id)
             ORDER BY d.id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(kind);
        for state in states {
            query = query.bind(state.as_str());
        }
        let ids = query.fetch_all(&self.store.pool).await?;
        Ok(ids.into_iter().map(DomainId::from_raw).collect())
    }

    /// `(domain, latest version id)` for every registration that is served (active,
    /// degraded or offboarding), has a certificate, and whose latest policy version is not
    /// the live one: what the publisher should make live.
    pub async fn versions_awaiting_publication(&self) -> Result<Vec<(DomainId, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT t.id, t.latest FROM (
                 SELECT d.id AS id, d.live_version_id AS live,
                        (SELECT pv.id FROM policy_versions pv WHERE pv.domain_id = d.id
                         ORDER BY pv.created_at DESC, pv.policy_id DESC LIMIT 1) AS latest
                 FROM domains d
                 WHERE d.state IN ('active', 'degraded', 'offboarding')
                   AND EXISTS (SELECT 1 FROM certificates c WHERE c.domain_id = d.id)
             ) t
             WHERE t.latest IS NOT NULL AND (t.live IS NULL OR t.live <> t.latest)
             ORDER BY t.id",
        )
        .fetch_all(&self.store.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, latest)| (DomainId::from_raw(id), latest))
            .collect())
    }

    /// Live versions whose id DNS does not announce yet by the store's record: the
    /// registration, the version, the change-feed position at which it went live and when.
    pub async fn versions_awaiting_dns(&self) -> Result<Vec<(DomainId, String, i64, i64)>> {
        let rows: Vec<(String, String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT d.id, d.live_version_id, pv.live_seq, pv.published_at
             FROM domains d JOIN policy_versions pv ON pv.id = d.live_version_id
             WHERE d.state IN ('active', 'degraded', 'offboarding')
               AND (d.dns_version_id IS NULL OR d.dns_version_id <> d.live_version_id)
             ORDER BY d.id",
        )
        .fetch_all(&self.store.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, v, seq, at)| Some((DomainId::from_raw(id), v, seq?, at?)))
            .collect())
    }
}
