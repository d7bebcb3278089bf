//! Tenant walls by construction.
//!
//! A method on [`Store`] that reads or changes a tenant's objects — registrations, policy
//! versions, certificates, reports, policy fetch statistics, webhooks and their deliveries,
//! invitations, tokens, the audit log — takes that tenant's [`TenantId`](crate::TenantId)
//! and filters by it in SQL: asked for another tenant's object it finds nothing, exactly as
//! for an id that names nothing, so a request handler that holds the caller's tenant cannot
//! reach past it even when it is handed another tenant's ids.
//!
//! Some roles must see every tenant: the verifier and the publisher, the certificate
//! worker, the serving snapshot and the edges' statistics, report ingestion by label (the
//! label in a report's address is what names the registration), the webhook sender,
//! housekeeping sweeps and the admin CLI. Their queries live on [`AllTenants`], reached
//! through [`Store::all_tenants`], so that every place that crosses the walls says so and
//! can be found with one search. The API crate is not allowed to call it (its
//! `clippy.toml`).
//!
//! Not walled, because they hold no tenant's data or are addressed by a secret: users and
//! sessions, API tokens and invitations looked up by their secret's hash (the secret is the
//! capability), the job queue, ACME challenges (public by design) and accounts, service
//! certificates, nodes, the change feed and rate limits.

use crate::db::Store;

/// The store's queries for the roles that act on every tenant's data (see the module
/// documentation for who they are and why this is a separate entry point). Request
/// handlers never use it: they hold a tenant and use the [`Store`] methods that take it.
#[derive(Debug, Clone, Copy)]
pub struct AllTenants<'a> {
    pub(crate) store: &'a Store,
}

impl Store {
    /// The queries that cross tenant walls, for the verifier, the certificate worker, the
    /// serving snapshot, report ingestion by label, housekeeping and the admin CLI — never
    /// for request handlers.
    pub fn all_tenants(&self) -> AllTenants<'_> {
        AllTenants { store: self }
    }
}

/// SQL that holds when the registration named by placeholder `$domain` belongs to the
/// tenant named by placeholder `$tenant`: the wall of every table keyed by a registration.
/// A primary-key lookup, so it costs the same for a tenant with ten registrations as for
/// one with a hundred thousand.
pub(crate) fn domain_of_tenant(domain: u8, tenant: u8) -> String {
    format!(
        "EXISTS (SELECT 1 FROM domains WHERE domains.id = ${domain} \
         AND domains.tenant_id = ${tenant})"
    )
}

/// Whether `domain` is a registration of `tenant`, read inside the transaction that then
/// writes the registration's rows, so that a write keyed by the registration alone stays
/// behind the tenant's wall.
pub(crate) async fn tenant_owns_domain(
    tx: &mut sqlx::AnyConnection,
    tenant: &crate::TenantId,
    domain: &str,
) -> crate::Result<bool> {
    let owned: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM domains WHERE id = $1 AND tenant_id = $2")
            .bind(domain)
            .bind(tenant.as_str())
            .fetch_optional(tx)
            .await?;
    Ok(owned.is_some())
}
