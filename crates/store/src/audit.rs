//! The audit log: who did what, when, to which tenant's data.

use time::OffsetDateTime;

use crate::Result;
use crate::clock::{from_ms, now, to_ms};
use crate::db::Store;
use crate::ids::TenantId;

/// An entry to append.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    /// The tenant whose data was touched (`None` for account-level events).
    pub tenant_id: Option<&'a TenantId>,
    /// Who: a user id, `token:<id>` or `system`.
    pub actor: &'a str,
    /// What, e.g. `domain.create`, `policy.update`, `domain.transition`.
    pub action: &'a str,
    /// The object, e.g. a domain name.
    pub target: &'a str,
    /// Extra facts as a JSON object. Never secrets.
    pub details: &'a str,
    /// The client address, when the action came from a request.
    pub client_ip: Option<&'a str>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position; strictly increasing, usable as a cursor.
    pub id: i64,
    /// Tenant.
    pub tenant_id: Option<TenantId>,
    /// Actor.
    pub actor: String,
    /// Action.
    pub action: String,
    /// Target.
    pub target: String,
    /// JSON details.
    pub details: String,
    /// Client address.
    pub client_ip: Option<String>,
    /// When.
    pub at: OffsetDateTime,
}

type AuditRow = (
    i64,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
);

impl Store {
    /// Appends an entry.
    pub async fn append_audit(&self, entry: &NewAuditEntry<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (tenant_id, actor, action, target, details, client_ip, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(entry.tenant_id.map(|t| t.as_str().to_owned()))
        .bind(entry.actor)
        .bind(entry.action)
        .bind(entry.target)
        .bind(entry.details)
        .bind(entry.client_ip.map(str::to_owned))
        .bind(to_ms(now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The tenant's entries, newest first, before the cursor `before_id` if given.
    pub async fn audit_log(
        &self,
        tenant: &TenantId,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, tenant_id, actor, action, target, details, client_ip, at FROM audit_log
             WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(
                |(id, tenant_id, actor, action, target, details, client_ip, at)| {
                    Ok(AuditEntry {
                        id,
                        tenant_id: tenant_id.map(TenantId::from_raw),
                        actor,
                        action,
                        target,
                        details,
                        client_ip,
                        at: from_ms(at)?,
                    })
                },
            )
            .collect()
    }
}
