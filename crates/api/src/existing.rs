//! A domain's own MTA-STS, from before stsd: read as senders read it (the `_mta-sts` record,
//! the policy on `mta-sts.<domain>` over validated HTTPS, the `_smtp._tls` record), so that a
//! customer who already hosts a policy keeps it. Registration proposes it as the first version
//! (same mode, MX patterns and `max_age`), keeps the customer's report destinations next to
//! stsd's, and makes sure the first id stsd publishes differs from theirs; before the CNAMEs
//! switch, `GET …/existing` reads it again.

use axum::Json as AxumJson;
use axum::extract::State;
use serde::Serialize;
use stsd_core::{DomainName, Policy, PolicyId, RuaUri};
use stsd_sender::{Fetched, Lookup, Reading};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Access, Need, Principal};
use crate::discovery::MxHost;
use crate::error::ApiError;
use crate::extract::Path;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show))
}

/// What a domain published for MTA-STS and TLS-RPT before stsd, and what stsd makes of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ExistingSetup {
    /// `none` (no `_mta-sts` record: nothing to keep), `found` (a record and a valid policy),
    /// `invalid` (something is published that senders cannot use; see `problems`) or `error`
    /// (it could not be read now; see `problems`, and try again).
    #[schema(pattern = "^(none|found|invalid|error)$")]
    status: &'static str,
    /// The id in the domain's `_mta-sts` record; stsd's first id differs from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    sts_id: Option<String>,
    /// The policy served on `mta-sts.<domain>`, when it is valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    policy: Option<ExistingPolicy>,
    /// What makes the published setup unusable to senders, or why it could not be read.
    problems: Vec<String>,
    /// What the policy parser tolerated but strict senders may reject.
    warnings: Vec<String>,
    /// MX hosts the domain has now that the existing policy does not cover: in `enforce`,
    /// senders already refuse to deliver to them.
    uncovered: Vec<String>,
    /// The destinations of the domain's own `_smtp._tls` record; stsd's hosted record keeps
    /// them next to its own.
    tlsrpt_rua: Vec<String>,
    /// Why the `_smtp._tls` record could not be used; absent when it could.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    tlsrpt_problem: Option<String>,
    /// Whether this policy became the first version (only in the answer to adding a domain).
    imported: bool,
}

/// The fields of an existing policy.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ExistingPolicy {
    /// `enforce`, `testing` or `none`.
    mode: &'static str,
    /// The `mx` patterns.
    mx: Vec<String>,
    /// `max_age`, in seconds.
    max_age: u32,
}

/// A reading as the API shows it, against the MX hosts the domain has now, leaving out report
/// destinations that are stsd's own (`zone` is the service zone).
pub(crate) fn setup(reading: &Reading, mx: &[MxHost], zone: &DomainName) -> ExistingSetup {
    let mut problems = Vec::new();
    let sts_id = match &reading.sts_record {
        Lookup::Found(id) => Some(id.as_str().to_owned()),
        Lookup::Invalid(why) | Lookup::Failed(why) => {
            problems.push(why.clone());
            None
        }
        Lookup::Absent => None,
    };
    let fetched = match &reading.policy {
        Lookup::Found(fetched) => Some(fetched),
        Lookup::Invalid(why) | Lookup::Failed(why) => {
            problems.push(why.clone());
            None
        }
        Lookup::Absent => None,
    };
    let failed = matches!(reading.sts_record, Lookup::Failed(_))
        || matches!(reading.policy, Lookup::Failed(_));
    let status = match (&reading.sts_record, fetched) {
        (Lookup::Absent, _) => "none",
        _ if failed => "error",
        (_, Some(_)) => "found",
        _ => "invalid",
    };
    let (tlsrpt_rua, tlsrpt_problem) = match &reading.tlsrpt {
        Lookup::Found(rua) => (foreign_rua(rua, zone), None),
        Lookup::Invalid(why) | Lookup::Failed(why) => (Vec::new(), Some(why.clone())),
        Lookup::Absent => (Vec::new(), None),
    };
    ExistingSetup {
        status,
        sts_id,
        policy: fetched.map(|f| ExistingPolicy {
            mode: f.policy.mode().as_str(),
            mx: f
                .policy
                .mx()
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            max_age: f.policy.max_age().get(),
        }),
        problems,
        warnings: fetched
            .map(|f| f.warnings.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        uncovered: fetched
            .map(|f| uncovered(&f.policy, mx))
            .unwrap_or_default(),
        tlsrpt_rua,
        tlsrpt_problem,
        imported: false,
    }
}

impl ExistingSetup {
    /// Marks the existing policy as the first version.
    pub(crate) fn mark_imported(&mut self) {
        self.imported = true;
    }
}

/// The policy to import and the id it was published under, when there is one.
pub(crate) fn importable(reading: &Reading) -> Option<(&Fetched, &PolicyId)> {
    match (&reading.policy, &reading.sts_record) {
        (Lookup::Found(fetched), Lookup::Found(id)) => Some((fetched, id)),
        _ => None,
    }
}

/// The MX hosts `policy` does not cover.
fn uncovered(policy: &Policy, mx: &[MxHost]) -> Vec<String> {
    mx.iter()
        .map(|h| h.host.as_str())
        .filter(|host| !policy.mx().iter().any(|p| p.matches(host)))
        .map(str::to_owned)
        .collect()
}

/// The destinations that are not stsd's own report addresses (a domain registered again).
fn foreign_rua(rua: &[RuaUri], zone: &DomainName) -> Vec<String> {
    let own = format!("reports.{}", zone.as_str());
    rua.iter()
        .map(RuaUri::as_str)
        .filter(|uri| !uri.contains(&own))
        .map(str::to_owned)
        .collect()
}

/// Reads what the domain publishes now, as senders would: before the CNAMEs point to stsd,
/// its own policy; after, stsd's.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/existing",
    operation_id = "getExistingSetup",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    responses((status = 200, description = "What the domain publishes now", body = ExistingSetup)),
    security(("bearer" = []))
)]
async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<ExistingSetup>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = crate::domains::load(&state, &access, &name).await?;
    let (lookup, reading) = tokio::join!(
        state.inner.resolvers.mx_hosts(&domain.name),
        state.inner.sender.read(&domain.name)
    );
    let mx = match lookup {
        Ok(crate::discovery::MxLookup::Hosts(hosts)) => hosts,
        _ => Vec::new(),
    };
    Ok(AxumJson(setup(
        &reading,
        &mx,
        &state.inner.config.service_zone,
    )))
}
