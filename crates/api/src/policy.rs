//! Policies: the live and pending versions, edits, version history, and the one-click mode
//! switch with its readiness gate (DESIGN.md, "Enforce is deliberate").

use std::str::FromStr;

use axum::Json as AxumJson;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stsd_core::{MaxAge, Mode, MxPattern, Policy};
use stsd_store::{Domain, DomainId, PolicyVersion, TenantId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit::record;
use crate::auth::{Access, ClientIp, Need, Principal};
use crate::checks::Fresh;
use crate::discovery::MxLookup;
use crate::domains::load;
use crate::error::{ApiError, ErrorDetail, ErrorEnvelope, FieldError};
use crate::extract::Path;
use crate::json::Json;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show, update))
        .routes(routes!(versions))
        .routes(routes!(switch_mode))
}

/// A policy as clients send it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyInput {
    /// `none`, `testing` or `enforce`.
    #[schema(examples("testing"))]
    mode: String,
    /// `mx` patterns (`mx.example.com`, `*.example.net`), at most 64 (RFC 8461 section 3.2).
    #[schema(examples(json!(["mx1.example.com", "*.mail.example.net"])))]
    mx: Vec<String>,
    /// Seconds senders may cache the policy, 0 to 31557600.
    #[schema(examples(86400))]
    max_age: u64,
}

impl PolicyInput {
    /// Validates with core, naming each bad field (prefixed with `prefix`).
    pub(crate) fn to_policy(&self, prefix: &str) -> Result<Policy, Vec<FieldError>> {
        let mut errors = Vec::new();
        let field = |name: &str| format!("{prefix}{name}");
        let mode = Mode::from_str(&self.mode)
            .map_err(|e| {
                errors.push(FieldError {
                    field: field("mode"),
                    message: e.to_string(),
                })
            })
            .ok();
        let max_age = u32::try_from(self.max_age)
            .ok()
            .and_then(|n| MaxAge::new(n).ok());
        if max_age.is_none() {
            errors.push(FieldError {
                field: field("max_age"),
                message: format!("must be 0 to {} seconds", MaxAge::MAX.get()),
            });
        }
        if self.mx.len() > Policy::MAX_MX {
            errors.push(FieldError {
                field: field("mx"),
                message: format!("at most {} patterns", Policy::MAX_MX),
            });
        }
        let mut mx = Vec::new();
        for (i, raw) in self.mx.iter().enumerate().take(Policy::MAX_MX) {
            match MxPattern::from_str(raw) {
                Ok(p) => mx.push(p),
                Err(e) => errors.push(FieldError {
                    field: field(&format!("mx[{i}]")),
                    message: e.to_string(),
                }),
            }
        }
        let (Some(mode), Some(max_age)) = (mode, max_age) else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Policy::new(mode, mx, max_age).map_err(|e| {
            vec![FieldError {
                field: field("mx"),
                message: e.to_string(),
            }]
        })
    }
}

/// One immutable version of a domain's policy.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PolicyVersionView {
    /// The version's own id.
    pub(crate) version_id: String,
    /// The policy id published in DNS (`_mta-sts` TXT `id=`); changes only when the rendered
    /// policy changes.
    id: String,
    /// `none`, `testing` or `enforce`.
    mode: &'static str,
    /// The `mx` patterns.
    mx: Vec<String>,
    /// Seconds senders may cache the policy.
    max_age: u32,
    /// The policy file as served at `/.well-known/mta-sts.txt`.
    body: String,
    /// Who made it: `user:<id>` or `token:<id>`.
    author: String,
    /// Unix seconds.
    created_at: i64,
    /// When the edges started serving it (Unix seconds); null until then.
    #[schema(required = true)]
    published_at: Option<i64>,
    /// When DNS started publishing its id (Unix seconds); null until then.
    #[schema(required = true)]
    dns_at: Option<i64>,
    /// Why an owner or admin served it in `enforce` although the readiness checks did not
    /// pass; null when they passed or did not apply.
    #[schema(required = true)]
    override_reason: Option<String>,
}

impl From<&PolicyVersion> for PolicyVersionView {
    fn from(v: &PolicyVersion) -> PolicyVersionView {
        PolicyVersionView {
            version_id: v.id.clone(),
            id: v.policy_id.as_str().to_owned(),
            mode: v.policy.mode().as_str(),
            mx: v
                .policy
                .mx()
                .iter()
                .map(|p| MxPattern::as_str(p).to_owned())
                .collect(),
            max_age: v.policy.max_age().get(),
            body: v.body.clone(),
            author: v.author.clone(),
            created_at: v.created_at.unix_timestamp(),
            published_at: v.published_at.map(|t| t.unix_timestamp()),
            dns_at: v.dns_at.map(|t| t.unix_timestamp()),
            override_reason: v.override_reason.clone(),
        }
    }
}

/// One readiness check's outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ReadinessCheck {
    /// `mx_coverage`, `mx_starttls` or `tlsrpt_failures`.
    name: &'static str,
    /// `pass`, `warn`, `fail`, `error` or `not_run`; `fail` and `error` block `enforce`.
    result: &'static str,
    /// What was found, in plain language.
    explanation: String,
    /// For `mx_coverage` only: the MX hosts no pattern matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    uncovered: Option<Vec<String>>,
    /// For `mx_starttls` only: what each MX host came to when it was probed just now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    hosts: Option<Vec<HostProbe>>,
}

/// One MX host's STARTTLS probe.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct HostProbe {
    /// The MX host.
    host: String,
    /// `secure`, `no_starttls`, `tls_failed` (a certificate for another name, untrusted,
    /// expired, or a broken handshake), `not_public`, `no_address` or `unreachable`.
    status: &'static str,
    /// What was found, in English (the status is what a client translates).
    detail: String,
}

impl ReadinessCheck {
    /// Whether this outcome stops `enforce`. A check that could not run or did not finish
    /// blocks like a failing one: enforce is only allowed on evidence. The one exception is
    /// TLS reports: none in the window is no evidence of failures (`warn`), and waiting for
    /// them would keep every new domain out of enforce.
    fn blocks(&self) -> bool {
        !matches!(
            (self.name, self.result),
            (_, "pass") | ("tlsrpt_failures", "warn")
        )
    }
}

/// A domain's policy: what is served and what is waiting to be.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PolicyState {
    /// The version the edges serve; null if none yet.
    #[schema(required = true)]
    live: Option<PolicyVersionView>,
    /// The newest version if it is not live yet; null otherwise.
    #[schema(required = true)]
    pending: Option<PolicyVersionView>,
    /// The version whose id DNS publishes; null if none yet.
    #[schema(required = true)]
    dns_version_id: Option<String>,
}

/// The policy's history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PolicyVersionList {
    /// Every version, newest first.
    items: Vec<PolicyVersionView>,
}

/// The outcome of a policy edit or mode switch.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PolicyChange {
    /// Whether a new version was created (false: the policy was already like this).
    pub(crate) changed: bool,
    /// The resulting newest version.
    pub(crate) version: PolicyVersionView,
    /// The readiness checks that ran (for `enforce`); empty otherwise.
    pub(crate) checks: Vec<ReadinessCheck>,
    /// A warning or advice about the new policy: a `max_age` under a day (RFC 8461 §3.2
    /// advises weeks), or raising `max_age` once `enforce` is stable. Absent when there is
    /// none; the policy is saved either way.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    suggestion: Option<String>,
}

/// One day: a `max_age` below it is accepted, with a warning.
const SHORT_MAX_AGE: u32 = 86_400;
/// One week: the `max_age` RFC 8461 §3.2 recommends at least, once a policy is stable.
const STABLE_MAX_AGE: u32 = 604_800;

/// Advice for a policy just saved. A sender keeps a policy only `max_age` seconds after its
/// last fetch, and every re-fetch is a chance for an attacker to block it and strip
/// STARTTLS: under a day, senders are protected little, so say so. An `enforce` policy with
/// a `max_age` under a week should be raised once it has proven itself. `none` protects
/// nothing, whatever its `max_age`.
pub(crate) fn suggestion(policy: &Policy) -> Option<String> {
    let max_age = policy.max_age().get();
    if policy.mode() == Mode::None {
        return None;
    }
    if max_age < SHORT_MAX_AGE {
        return Some(format!(
            "warning: max_age is {max_age} seconds, under a day; senders keep the policy only \
             that long and must fetch it again and again, and each fetch an attacker blocks \
             lets them strip STARTTLS. RFC 8461 §3.2 advises weeks: at least a day now, and \
             a week ({STABLE_MAX_AGE}) or more once the policy works"
        ));
    }
    (policy.mode() == Mode::Enforce && max_age < STABLE_MAX_AGE).then(|| {
        format!(
            "max_age is {max_age} seconds; once enforce has run without TLS-RPT failures for a \
             while, raise it to at least a week ({STABLE_MAX_AGE}) so that senders keep \
             enforcing between fetches (RFC 8461 §3.2)"
        )
    })
}

/// The readiness checks for serving `policy` in `enforce`: MX coverage (looked up now), MX
/// STARTTLS (the verifier's latest probe, not run when older than a day — never passed
/// without a probe) and recent TLS-RPT failures.
async fn readiness(
    state: &AppState,
    access: &Access,
    domain: &Domain,
    policy: &Policy,
    probe: &Fresh,
) -> Vec<ReadinessCheck> {
    let name = &domain.name;
    let coverage = match state.inner.resolvers.mx_hosts(name).await {
        Ok(MxLookup::Hosts(hosts)) => {
            let uncovered: Vec<&str> = hosts
                .iter()
                .map(|h| h.host.as_str())
                .filter(|h| !policy.mx().iter().any(|p| p.matches(h)))
                .collect();
            if uncovered.is_empty() {
                ReadinessCheck {
                    name: "mx_coverage",
                    result: "pass",
                    explanation: format!("all {} MX hosts match a policy pattern", hosts.len()),
                    uncovered: Some(Vec::new()),
                    hosts: None,
                }
            } else {
                ReadinessCheck {
                    name: "mx_coverage",
                    result: "fail",
                    explanation: format!(
                        "{} MX host(s) match no mx pattern; senders enforcing the policy would refuse to deliver to them",
                        uncovered.len()
                    ),
                    uncovered: Some(uncovered.into_iter().map(str::to_owned).collect()),
                    hosts: None,
                }
            }
        }
        Ok(MxLookup::NoMx) => ReadinessCheck {
            name: "mx_coverage",
            result: "fail",
            explanation: "the domain has no MX records, so there is nothing to enforce".into(),
            uncovered: Some(Vec::new()),
            hosts: None,
        },
        Ok(MxLookup::NullMx) => ReadinessCheck {
            name: "mx_coverage",
            result: "fail",
            explanation: "the domain publishes a null MX (it accepts no mail)".into(),
            uncovered: Some(Vec::new()),
            hosts: None,
        },
        Err(e) => ReadinessCheck {
            name: "mx_coverage",
            result: "error",
            explanation: format!("could not look up the MX hosts: {e}"),
            uncovered: Some(Vec::new()),
            hosts: None,
        },
    };
    vec![
        coverage,
        mx_starttls(probe),
        tlsrpt_failures(state, &access.tenant, &domain.id).await,
    ]
}

/// The MX STARTTLS probe the gate just asked for: what senders enforcing the policy will
/// require of each MX host. No result from a run that began for this request (the worker is
/// busy or absent, or the probe did not finish) blocks like a failure.
fn mx_starttls(probe: &Fresh) -> ReadinessCheck {
    let blocked = |result: &'static str, explanation: &str| ReadinessCheck {
        name: "mx_starttls",
        result,
        explanation: explanation.to_owned(),
        uncovered: None,
        hosts: None,
    };
    let domain = match probe {
        Fresh::Ran(domain) => domain,
        Fresh::Waiting(_) => {
            return blocked(
                "error",
                "the MX hosts could not be probed for STARTTLS just now (the check did not \
                 finish in time); enforce needs a fresh probe, so try again in a minute",
            );
        }
    };
    let found = domain
        .last_checks
        .as_deref()
        .and_then(stsd_core::parse_checks)
        .and_then(|checks| {
            checks
                .into_iter()
                .find(|c| c.name == stsd_core::CheckName::MxStarttls)
        });
    let Some(check) = found else {
        return blocked(
            "not_run",
            "the MX hosts were not probed for STARTTLS (this installation's worker does not \
             probe them); enforce needs the probe",
        );
    };
    ReadinessCheck {
        name: "mx_starttls",
        result: check.result.as_str(),
        explanation: check.explanation,
        uncovered: None,
        hosts: Some(
            check
                .hosts
                .into_iter()
                .map(|h| HostProbe {
                    host: h.host,
                    status: h.status.as_str(),
                    detail: h.detail,
                })
                .collect(),
        ),
    }
}

/// What the counted TLS reports of the last [`crate::reports::RECENT_DAYS`] days say: senders
/// that failed to deliver over TLS in `testing` would bounce their mail under `enforce`.
async fn tlsrpt_failures(state: &AppState, tenant: &TenantId, domain: &DomainId) -> ReadinessCheck {
    let days = crate::reports::RECENT_DAYS;
    let signals = match crate::reports::signals(state, tenant, domain).await {
        Ok(s) => s,
        Err(e) => {
            return ReadinessCheck {
                name: "tlsrpt_failures",
                result: "error",
                explanation: format!("could not read the TLS reports: {}", e.message()),
                uncovered: None,
                hosts: None,
            };
        }
    };
    let (ok, failed) = (
        signals.recent_successful_sessions(),
        signals.recent_failed_sessions(),
    );
    let (result, explanation) = if failed > 0 {
        (
            "fail",
            format!(
                "TLS reports of the last {days} days show {failed} failed and {ok} successful \
                 sessions: under enforce, those senders would not deliver; see the report \
                 summary by result type for the cause and fix"
            ),
        )
    } else if ok > 0 {
        (
            "pass",
            format!("TLS reports of the last {days} days show {ok} sessions, none failed"),
        )
    } else {
        (
            "warn",
            format!(
                "no counted TLS reports in the last {days} days: nothing is known about senders' \
                 failures yet (reports arrive daily once _smtp._tls points at stsd)"
            ),
        )
    };
    ReadinessCheck {
        name: "tlsrpt_failures",
        result,
        explanation,
        uncovered: None,
        hosts: None,
    }
}

/// Runs the gate for a policy that would be served in `enforce`. Passes, or refuses with
/// 409 naming each failing check, unless an owner or admin overrides.
async fn gate(
    state: &AppState,
    access: &Access,
    domain: &Domain,
    policy: &Policy,
    override_: &Override,
) -> Result<(Vec<ReadinessCheck>, Option<String>), ApiError> {
    if override_.wanted && !access.may_override() {
        return Err(ApiError::forbidden(
            "only owners and admins can override the readiness checks",
        ));
    }
    let reason = override_reason(override_.wanted, override_.reason.as_deref())?;
    if policy.mode() != Mode::Enforce {
        return Ok((Vec::new(), None));
    }
    // The checks run now, the MX hosts probed as they are: a result from yesterday says
    // nothing about the certificate someone replaced this morning.
    let wait = state.inner.config.enforce_gate_wait;
    let probe = crate::checks::run_now(state, access, domain, wait).await?;
    let checks = readiness(state, access, domain, policy, &probe).await;
    let blocked = checks.iter().any(ReadinessCheck::blocks);
    if blocked && reason.is_none() {
        return Err(ApiError::conflict(
            "not_ready",
            "the readiness checks for enforce did not pass; fix what they name, or an owner or \
             admin may override with a written reason",
        )
        .with_details(checks.into_iter().map(ErrorDetail::Check).collect()));
    }
    // The reason is kept only when it took effect: the checks blocked and it let them pass.
    Ok((checks, reason.filter(|_| blocked)))
}

/// An override as asked for: `override` and its `override_reason`.
pub(crate) struct Override {
    /// Whether the caller asked to override.
    pub(crate) wanted: bool,
    /// The written reason.
    pub(crate) reason: Option<String>,
}

/// The written reason of an override: required with `override`, kept on the version and in
/// the audit log.
fn override_reason(override_: bool, reason: Option<&str>) -> Result<Option<String>, ApiError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match (override_, reason) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(ApiError::invalid_field(
            "override_reason",
            "a reason is given only with override",
        )),
        (true, None) => Err(ApiError::invalid_field(
            "override_reason",
            "an override needs a written reason: why enforce is safe although the checks \
             did not pass",
        )),
        (true, Some(r)) if r.chars().count() < 10 || r.chars().count() > 1000 => Err(
            ApiError::invalid_field("override_reason", "write 10 to 1000 characters"),
        ),
        (true, Some(r)) => Ok(Some(r.to_owned())),
    }
}

/// Shows the live version and any pending one.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/policy",
    operation_id = "getPolicy",
    tag = "policies",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    responses((status = 200, description = "The policy state", body = PolicyState)),
    security(("bearer" = []))
)]
async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<PolicyState>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let store = &state.inner.store;
    let latest = store
        .latest_policy_version(&access.tenant, &domain.id)
        .await?;
    let live = match &domain.live_version_id {
        Some(id) => store.policy_version(&access.tenant, &domain.id, id).await?,
        None => None,
    };
    let pending = latest.filter(|l| Some(&l.id) != domain.live_version_id.as_ref());
    Ok(AxumJson(PolicyState {
        live: live.as_ref().map(PolicyVersionView::from),
        pending: pending.as_ref().map(PolicyVersionView::from),
        dns_version_id: domain.dns_version_id,
    }))
}

/// Lists every version of the policy, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/policy/versions",
    operation_id = "listPolicyVersions",
    tag = "policies",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    responses((status = 200, description = "The versions", body = PolicyVersionList)),
    security(("bearer" = []))
)]
async fn versions(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<PolicyVersionList>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let all = state
        .inner
        .store
        .policy_versions(&access.tenant, &domain.id)
        .await?;
    Ok(AxumJson(PolicyVersionList {
        items: all.iter().map(PolicyVersionView::from).collect(),
    }))
}

/// A new policy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdatePolicy {
    /// `none`, `testing` or `enforce`.
    #[schema(examples("testing"))]
    mode: String,
    /// `mx` patterns, at most 64.
    #[schema(examples(json!(["mx1.example.com"])))]
    mx: Vec<String>,
    /// Seconds senders may cache the policy, 0 to 31557600.
    #[schema(examples(86400))]
    max_age: u64,
    /// Serve `enforce` although readiness checks fail (owners and admins only).
    #[serde(default, rename = "override")]
    override_: bool,
    /// Why, required with `override` (10 to 1000 characters); kept on the version.
    #[serde(default)]
    override_reason: Option<String>,
}

pub(crate) async fn apply(
    state: &AppState,
    access: &Access,
    domain: &Domain,
    policy: &Policy,
    override_: Override,
    peer: std::net::IpAddr,
    action: &str,
) -> Result<(StatusCode, AxumJson<PolicyChange>), ApiError> {
    let store = &state.inner.store;
    let before = store
        .latest_policy_version(&access.tenant, &domain.id)
        .await?;
    if let Some(unchanged) = before.as_ref().filter(|b| b.policy == *policy) {
        return Ok((
            StatusCode::OK,
            AxumJson(PolicyChange {
                changed: false,
                version: PolicyVersionView::from(unchanged),
                checks: Vec::new(),
                suggestion: suggestion(policy),
            }),
        ));
    }
    let (checks, overridden) = gate(state, access, domain, policy, &override_).await?;
    let actor = access.principal.actor();
    let mut outcome = store
        .create_policy_version(&access.tenant, &domain.id, policy, &actor)
        .await?;
    if let Some(reason) = &overridden
        && outcome.created
    {
        store
            .set_override_reason(&access.tenant, &domain.id, &outcome.version.id, reason)
            .await?;
        outcome.version.override_reason = Some(reason.clone());
    }
    // A served domain's edit goes live now, not when a worker next looks: the edges follow
    // the change feed at once, and DNS switches the id once every edge serves it.
    if outcome.created
        && let Err(e) = store.publish_latest(&access.tenant, &domain.id).await
    {
        tracing::warn!(domain = %domain.name, error = %e, "cannot publish the edit now; the publisher will");
    }
    record(
        state,
        Some(&access.tenant),
        &actor,
        action,
        domain.name.as_str(),
        json!({
            "before": before.as_ref().map(|b| &b.body),
            "after": outcome.version.body,
            "override": overridden.is_some(),
            "override_reason": overridden,
            "checks": checks
                .iter()
                .filter(|c| c.blocks())
                .map(|c| json!({ "name": c.name, "result": c.result }))
                .collect::<Vec<_>>(),
        }),
        Some(peer),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        AxumJson(PolicyChange {
            changed: outcome.created,
            version: PolicyVersionView::from(&outcome.version),
            checks,
            suggestion: suggestion(policy),
        }),
    ))
}

/// Sets a new policy, creating an immutable version. `enforce`, and edits of an `enforce`
/// policy, pass the readiness gate first.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{tenant}/domains/{name}/policy",
    operation_id = "updatePolicy",
    tag = "policies",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    request_body = UpdatePolicy,
    responses(
        (status = 200, description = "Unchanged: the policy was already like this", body = PolicyChange),
        (status = 201, description = "A new version", body = PolicyChange),
        (status = 409, description = "Readiness checks failed (`not_ready`); `details` lists each check", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
    Json(req): Json<UpdatePolicy>,
) -> Result<(StatusCode, AxumJson<PolicyChange>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Write).await?;
    let domain = load(&state, &access, &name).await?;
    let input = PolicyInput {
        mode: req.mode,
        mx: req.mx,
        max_age: req.max_age,
    };
    let policy = input.to_policy("").map_err(ApiError::validation)?;
    apply(
        &state,
        &access,
        &domain,
        &policy,
        Override {
            wanted: req.override_,
            reason: req.override_reason,
        },
        peer,
        "policy.update",
    )
    .await
}

/// The one-click mode switch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwitchMode {
    /// `none`, `testing` or `enforce`.
    #[schema(examples("enforce"))]
    mode: String,
    /// Switch to `enforce` although readiness checks fail (owners and admins only).
    #[serde(default, rename = "override")]
    override_: bool,
    /// Why, required with `override` (10 to 1000 characters); kept on the version.
    #[serde(default)]
    override_reason: Option<String>,
}

/// Switches the policy's mode, keeping its `mx` and `max_age`. `enforce` passes the readiness
/// gate first unless an owner or admin overrides.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant}/domains/{name}/mode",
    operation_id = "switchMode",
    tag = "policies",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    request_body = SwitchMode,
    responses(
        (status = 200, description = "Unchanged: already in this mode", body = PolicyChange),
        (status = 201, description = "A new version in the new mode", body = PolicyChange),
        (status = 409, description = "Readiness checks failed (`not_ready`), or the domain has no policy yet (`no_policy`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn switch_mode(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
    Json(req): Json<SwitchMode>,
) -> Result<(StatusCode, AxumJson<PolicyChange>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Write).await?;
    let domain = load(&state, &access, &name).await?;
    let mode =
        Mode::from_str(&req.mode).map_err(|e| ApiError::invalid_field("mode", e.to_string()))?;
    let Some(latest) = state
        .inner
        .store
        .latest_policy_version(&access.tenant, &domain.id)
        .await?
    else {
        return Err(ApiError::conflict(
            "no_policy",
            "this domain has no policy yet; set one first",
        ));
    };
    let policy = Policy::new(mode, latest.policy.mx().to_vec(), latest.policy.max_age())
        .map_err(|e| ApiError::invalid_field("mode", e.to_string()))?;
    apply(
        &state,
        &access,
        &domain,
        &policy,
        Override {
            wanted: req.override_,
            reason: req.override_reason,
        },
        peer,
        "policy.mode",
    )
    .await
}
