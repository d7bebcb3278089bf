//! A domain's own MTA-STS, from before stsd: read as senders read it (the `_mta-sts` record,
//! the policy on `mta-sts.<domain>` over validated HTTPS, the `_smtp._tls` record), so that a
//! customer who already hosts a policy keeps it. Registration proposes it as the first version
//! (same mode, MX patterns and `max_age`), keeps the customer's report destinations next to
//! stsd's, and makes sure the first id stsd publishes differs from theirs; before the CNAMEs
//! switch, `GET …/existing` reads it again.

use axum::Json as AxumJson;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use stsd_core::{DomainName, Policy, PolicyId, RuaUri};
use stsd_sender::{Fetched, Lookup, Reading};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit::record;
use crate::auth::{Access, ClientIp, Need, Principal};
use crate::discovery::MxHost;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::Path;
use crate::json::Json;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show))
        .routes(routes!(set_extra_rua))
}

/// The most destinations kept next to stsd's: the record stays far below DNS limits.
const MAX_EXTRA_RUA: usize = 5;

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
    /// Whether `tlsrpt_rua` are kept in the hosted record (only in the answer to adding a
    /// domain; see the domain's `extra_rua` later).
    tlsrpt_kept: bool,
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
        tlsrpt_kept: false,
    }
}

impl ExistingSetup {
    /// Marks the existing policy as the first version.
    pub(crate) fn mark_imported(&mut self) {
        self.imported = true;
    }

    /// Marks the report destinations as kept in the hosted record.
    pub(crate) fn mark_rua_kept(&mut self) {
        self.tlsrpt_kept = true;
    }

    /// The customer's own report destinations.
    pub(crate) fn tlsrpt_rua(&self) -> &[String] {
        &self.tlsrpt_rua
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
    rua.iter()
        .map(RuaUri::as_str)
        .filter(|uri| !is_own(uri, zone))
        .map(str::to_owned)
        .collect()
}

/// Whether `uri` is one of stsd's report addresses (`…@reports.<zone>`, `https://reports.<zone>/…`).
fn is_own(uri: &str, zone: &DomainName) -> bool {
    let host = format!("reports.{}", zone.as_str());
    let lower = uri.to_ascii_lowercase();
    lower.ends_with(&format!("@{host}"))
        || lower.starts_with(&format!("https://{host}/"))
        || lower == format!("https://{host}")
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

/// Report destinations for the hosted `_smtp._tls` record, after stsd's own.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExtraRua {
    /// `mailto:` or `https:` URIs (RFC 8460 §3), at most 5; empty removes them all.
    #[schema(examples(json!(["mailto:tls-reports@example.com"])))]
    extra_rua: Vec<String>,
}

/// Sets the report destinations the hosted `_smtp._tls` record lists after stsd's own, e.g.
/// the ones a domain had before stsd; reporters then send each report to every destination.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{tenant}/domains/{name}/extra-rua",
    operation_id = "setExtraRua",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    request_body = ExtraRua,
    responses(
        (status = 200, description = "The domain with its new destinations", body = crate::domains::DomainView),
        (status = 422, description = "A destination is not a TLS-RPT `rua` URI, is stsd's own, is repeated, or there are more than 5 (`validation_failed`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn set_extra_rua(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
    Json(req): Json<ExtraRua>,
) -> Result<AxumJson<crate::domains::DomainView>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Write).await?;
    let domain = crate::domains::load(&state, &access, &name).await?;
    let zone = &state.inner.config.service_zone;
    if req.extra_rua.len() > MAX_EXTRA_RUA {
        return Err(ApiError::invalid_field(
            "extra_rua",
            format!("at most {MAX_EXTRA_RUA} destinations"),
        ));
    }
    let mut rua: Vec<String> = Vec::with_capacity(req.extra_rua.len());
    for (i, raw) in req.extra_rua.iter().enumerate() {
        let field = format!("extra_rua[{i}]");
        let uri = RuaUri::parse(raw.trim())
            .map_err(|e| ApiError::invalid_field(&field, e.to_string()))?
            .as_str()
            .to_owned();
        if is_own(&uri, zone) {
            return Err(ApiError::invalid_field(
                &field,
                "is one of stsd's own report addresses, which the record already lists",
            ));
        }
        if rua.contains(&uri) {
            return Err(ApiError::invalid_field(&field, "is listed twice"));
        }
        rua.push(uri);
    }
    let before = domain.extra_rua.clone();
    let updated = state
        .inner
        .store
        .set_extra_rua(&access.tenant, &domain.id, &rua)
        .await?
        .ok_or_else(|| ApiError::not_found("domain"))?;
    record(
        &state,
        Some(&access.tenant),
        &principal.actor(),
        "domain.extra_rua",
        updated.name.as_str(),
        serde_json::json!({ "before": before, "after": updated.extra_rua }),
        Some(peer),
    )
    .await;
    let latest = state
        .inner
        .store
        .latest_policy_version(&access.tenant, &updated.id)
        .await?;
    Ok(AxumJson(crate::domains::domain_view(
        &state,
        &updated,
        latest.as_ref(),
    )))
}
