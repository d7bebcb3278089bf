//! Policies: the live and pending versions, edits, version history, and the one-click mode
//! switch with its readiness gate (DESIGN.md, "Enforce is deliberate").

use std::net::SocketAddr;
use std::str::FromStr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json as AxumJson, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use stsd_core::{DomainName, MaxAge, Mode, MxPattern, Policy};
use stsd_store::{Domain, PolicyVersion};

use crate::AppState;
use crate::audit::record;
use crate::auth::{Access, Need, Principal};
use crate::discovery::MxLookup;
use crate::domains::load;
use crate::error::{ApiError, FieldError};
use crate::json::Json;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenants/{tenant}/domains/{name}/policy",
            get(show).put(update),
        )
        .route(
            "/api/v1/tenants/{tenant}/domains/{name}/policy/versions",
            get(versions),
        )
        .route(
            "/api/v1/tenants/{tenant}/domains/{name}/mode",
            post(switch_mode),
        )
}

/// A policy as clients send it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyInput {
    mode: String,
    mx: Vec<String>,
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

pub(crate) fn version_json(v: &PolicyVersion) -> Value {
    json!({
        "version_id": v.id,
        "id": v.policy_id.as_str(),
        "mode": v.policy.mode().as_str(),
        "mx": v.policy.mx().iter().map(MxPattern::as_str).collect::<Vec<_>>(),
        "max_age": v.policy.max_age().get(),
        "body": v.body,
        "author": v.author,
        "created_at": v.created_at.unix_timestamp(),
        "published_at": v.published_at.map(|t| t.unix_timestamp()),
        "dns_at": v.dns_at.map(|t| t.unix_timestamp()),
    })
}

/// One readiness check's outcome.
#[derive(Debug, Clone)]
struct Check {
    name: &'static str,
    result: &'static str,
    explanation: String,
    extra: Value,
}

impl Check {
    fn blocks(&self) -> bool {
        matches!(self.result, "fail" | "error")
    }

    fn to_json(&self) -> Value {
        let mut v =
            json!({ "name": self.name, "result": self.result, "explanation": self.explanation });
        if let (Some(obj), Some(extra)) = (v.as_object_mut(), self.extra.as_object()) {
            obj.extend(extra.clone());
        }
        v
    }
}

/// The readiness checks for serving `policy` in `enforce`: today MX coverage; the STARTTLS
/// and TLS-RPT checks arrive with the verifier and reports and are reported as not run —
/// never as passed.
async fn readiness(state: &AppState, name: &DomainName, policy: &Policy) -> Vec<Check> {
    let coverage = match state.inner.resolvers.mx_hosts(name).await {
        Ok(MxLookup::Hosts(hosts)) => {
            let uncovered: Vec<&str> = hosts
                .iter()
                .map(|h| h.host.as_str())
                .filter(|h| !policy.mx().iter().any(|p| p.matches(h)))
                .collect();
            if uncovered.is_empty() {
                Check {
                    name: "mx_coverage",
                    result: "pass",
                    explanation: format!("all {} MX hosts match a policy pattern", hosts.len()),
                    extra: json!({ "uncovered": [] }),
                }
            } else {
                Check {
                    name: "mx_coverage",
                    result: "fail",
                    explanation: format!(
                        "{} MX host(s) match no mx pattern; senders enforcing the policy would refuse to deliver to them",
                        uncovered.len()
                    ),
                    extra: json!({ "uncovered": uncovered }),
                }
            }
        }
        Ok(MxLookup::NoMx) => Check {
            name: "mx_coverage",
            result: "fail",
            explanation: "the domain has no MX records, so there is nothing to enforce".into(),
            extra: json!({ "uncovered": [] }),
        },
        Ok(MxLookup::NullMx) => Check {
            name: "mx_coverage",
            result: "fail",
            explanation: "the domain publishes a null MX (it accepts no mail)".into(),
            extra: json!({ "uncovered": [] }),
        },
        Err(e) => Check {
            name: "mx_coverage",
            result: "error",
            explanation: format!("could not look up the MX hosts: {e}"),
            extra: json!({ "uncovered": [] }),
        },
    };
    vec![
        coverage,
        Check {
            name: "mx_starttls",
            result: "not_run",
            explanation: "STARTTLS and certificate checks of each MX are not available yet".into(),
            extra: json!({}),
        },
        Check {
            name: "tlsrpt_failures",
            result: "not_run",
            explanation: "TLS-RPT report analysis is not available yet".into(),
            extra: json!({}),
        },
    ]
}

/// Runs the gate for a policy that would be served in `enforce`. Passes, or refuses with
/// 409 naming each failing check, unless an owner or admin overrides.
async fn gate(
    state: &AppState,
    access: &Access,
    domain: &Domain,
    policy: &Policy,
    override_: bool,
) -> Result<Vec<Check>, ApiError> {
    if policy.mode() != Mode::Enforce {
        return Ok(Vec::new());
    }
    if override_ && !access.may_override() {
        return Err(ApiError::forbidden(
            "only owners and admins can override the readiness checks",
        ));
    }
    let checks = readiness(state, &domain.name, policy).await;
    if checks.iter().any(Check::blocks) && !override_ {
        return Err(ApiError::conflict(
            "not_ready",
            "the readiness checks for enforce failed; fix them or override",
        )
        .with_details(json!(checks.iter().map(Check::to_json).collect::<Vec<_>>())));
    }
    Ok(checks)
}

async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<Value>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let store = &state.inner.store;
    let latest = store.latest_policy_version(&domain.id).await?;
    let live = match &domain.live_version_id {
        Some(id) => store.policy_version(&domain.id, id).await?,
        None => None,
    };
    let pending = latest.filter(|l| Some(&l.id) != domain.live_version_id.as_ref());
    Ok(AxumJson(json!({
        "live": live.as_ref().map(version_json),
        "pending": pending.as_ref().map(version_json),
        "dns_version_id": domain.dns_version_id,
    })))
}

async fn versions(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<Value>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let all = state.inner.store.policy_versions(&domain.id).await?;
    Ok(AxumJson(
        json!({ "items": all.iter().map(version_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePolicy {
    mode: String,
    mx: Vec<String>,
    max_age: u64,
    #[serde(default, rename = "override")]
    override_: bool,
}

async fn apply(
    state: &AppState,
    access: &Access,
    domain: &Domain,
    policy: &Policy,
    override_: bool,
    peer: SocketAddr,
    action: &str,
) -> Result<(StatusCode, AxumJson<Value>), ApiError> {
    let store = &state.inner.store;
    let before = store.latest_policy_version(&domain.id).await?;
    if before.as_ref().is_some_and(|b| b.policy == *policy) {
        let v = before.as_ref().map(version_json).unwrap_or(Value::Null);
        return Ok((
            StatusCode::OK,
            AxumJson(json!({ "changed": false, "version": v, "checks": [] })),
        ));
    }
    let checks = gate(state, access, domain, policy, override_).await?;
    let actor = access.principal.actor();
    let outcome = store
        .create_policy_version(&domain.id, policy, &actor)
        .await?;
    record(
        state,
        Some(&access.tenant),
        &actor,
        action,
        domain.name.as_str(),
        json!({
            "before": before.as_ref().map(|b| &b.body),
            "after": outcome.version.body,
            "override": override_ && checks.iter().any(Check::blocks),
        }),
        Some(peer.ip()),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        AxumJson(json!({
            "changed": outcome.created,
            "version": version_json(&outcome.version),
            "checks": checks.iter().map(Check::to_json).collect::<Vec<_>>(),
        })),
    ))
}

async fn update(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
    Json(req): Json<UpdatePolicy>,
) -> Result<(StatusCode, AxumJson<Value>), ApiError> {
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
        req.override_,
        peer,
        "policy.update",
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwitchMode {
    mode: String,
    #[serde(default, rename = "override")]
    override_: bool,
}

async fn switch_mode(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
    Json(req): Json<SwitchMode>,
) -> Result<(StatusCode, AxumJson<Value>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Write).await?;
    let domain = load(&state, &access, &name).await?;
    let mode =
        Mode::from_str(&req.mode).map_err(|e| ApiError::invalid_field("mode", e.to_string()))?;
    let Some(latest) = state.inner.store.latest_policy_version(&domain.id).await? else {
        return Err(ApiError::conflict(
            "no_policy",
            "this domain has no policy yet; set one with PUT …/policy",
        ));
    };
    let policy = Policy::new(mode, latest.policy.mx().to_vec(), latest.policy.max_age())
        .map_err(|e| ApiError::invalid_field("mode", e.to_string()))?;
    apply(
        &state,
        &access,
        &domain,
        &policy,
        req.override_,
        peer,
        "policy.mode",
    )
    .await
}
