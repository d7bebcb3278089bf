//! A domain's MX hosts as they are now, each against the newest policy's `mx` patterns: what
//! the policy editor shows while the customer edits (RFC 8461 §4.1 matching).

use axum::Json as AxumJson;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Access, Need, Principal};
use crate::discovery::MxLookup;
use crate::domains::load;
use crate::error::ApiError;
use crate::extract::Path;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(mx))
}

/// One MX host and the pattern that covers it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MxCoverageHost {
    /// The MX preference.
    preference: u16,
    /// The host, A-label form.
    host: String,
    /// The newest policy's first `mx` pattern matching it; null when none does (senders
    /// enforcing the policy would not deliver to it).
    #[schema(required = true)]
    covered_by: Option<String>,
}

/// The domain's MX hosts against its newest policy.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MxCoverage {
    /// `found`, `null_mx`, `no_mx` or `error`.
    status: &'static str,
    /// The MX hosts, by preference.
    hosts: Vec<MxCoverageHost>,
    /// Patterns of the newest policy that match no current MX host.
    unused_patterns: Vec<String>,
    /// What went wrong or what the status means; absent when `found`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    explanation: Option<String>,
}

/// Looks up the domain's MX hosts now and matches each against the newest policy's `mx`
/// patterns (RFC 8461 §4.1: `*.` covers exactly one leftmost label).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/mx",
    operation_id = "getMxCoverage",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    responses((status = 200, description = "The MX hosts and their coverage", body = MxCoverage)),
    security(("bearer" = []))
)]
async fn mx(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<MxCoverage>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let latest = state
        .inner
        .store
        .latest_policy_version(&access.tenant, &domain.id)
        .await?;
    let patterns: Vec<stsd_core::MxPattern> =
        latest.map(|v| v.policy.mx().to_vec()).unwrap_or_default();
    let (status, hosts, explanation) = match state.inner.resolvers.mx_hosts(&domain.name).await {
        Ok(MxLookup::Hosts(hosts)) => ("found", hosts, None),
        Ok(MxLookup::NullMx) => (
            "null_mx",
            Vec::new(),
            Some("the domain publishes a null MX: it accepts no mail".to_owned()),
        ),
        Ok(MxLookup::NoMx) => (
            "no_mx",
            Vec::new(),
            Some("the domain has no MX records".to_owned()),
        ),
        Err(e) => ("error", Vec::new(), Some(e.to_string())),
    };
    let unused_patterns = patterns
        .iter()
        .filter(|p| !hosts.iter().any(|h| p.matches(h.host.as_str())))
        .map(|p| p.as_str().to_owned())
        .collect();
    let hosts = hosts
        .iter()
        .map(|h| MxCoverageHost {
            preference: h.preference,
            host: h.host.as_str().to_owned(),
            covered_by: patterns
                .iter()
                .find(|p| p.matches(h.host.as_str()))
                .map(|p| p.as_str().to_owned()),
        })
        .collect();
    Ok(AxumJson(MxCoverage {
        status,
        hosts,
        unused_patterns,
        explanation,
    }))
}
