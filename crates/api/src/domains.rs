//! Domain registrations: add (with MX discovery and a proposed policy), list, show, records,
//! and offboarding.

use std::net::SocketAddr;
use std::str::FromStr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json as AxumJson, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use stsd_core::{DomainName, MaxAge, Mode, MxPattern, Policy};
use stsd_store::{Domain, DomainFilter, DomainState, Ownership, PolicyVersion, StoreError};

use crate::AppState;
use crate::audit::record;
use crate::auth::{Access, Need, Principal};
use crate::discovery::MxLookup;
use crate::error::{ApiError, FieldError};
use crate::json::Json;
use crate::policy::{PolicyInput, version_json};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{tenant}/domains", get(list).post(create))
        .route(
            "/api/v1/tenants/{tenant}/domains/{name}",
            get(show).delete(offboard),
        )
        .route(
            "/api/v1/tenants/{tenant}/domains/{name}/records",
            get(records),
        )
}

/// `max_age` of a proposed policy and of the `mode: none` policy served while leaving.
const DEFAULT_MAX_AGE: u32 = 86_400;

/// Finds the tenant's registration named in the path; any name that is not one answers 404.
pub(crate) async fn load(
    state: &AppState,
    access: &Access,
    name: &str,
) -> Result<Domain, ApiError> {
    let Ok(name) = DomainName::from_str(name) else {
        return Err(ApiError::not_found("domain"));
    };
    state
        .inner
        .store
        .domain(&access.tenant, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("domain"))
}

/// The three CNAMEs a customer publishes.
fn record_list(state: &AppState, d: &Domain) -> Vec<Value> {
    let zone = state.inner.config.service_zone.as_str();
    let label = d.label.as_str();
    let name = d.name.as_str();
    let mut records = vec![json!({
        "name": format!("mta-sts.{name}"),
        "type": "CNAME",
        "value": format!("{label}.edge.{zone}"),
        "purpose": "serves the policy over HTTPS with stsd's certificate",
    })];
    match d.ownership {
        Ownership::Cname => records.push(json!({
            "name": format!("_mta-sts.{name}"),
            "type": "CNAME",
            "value": format!("{label}.policy.{zone}"),
            "purpose": "proves ownership and publishes the policy id, rotated on every edit",
        })),
        Ownership::Txt => records.push(json!({
            "name": format!("_mta-sts-verify.{name}"),
            "type": "TXT",
            "value": format!("stsd-verify={label}"),
            "purpose": "proves ownership once; publish the _mta-sts TXT yourself after every edit",
        })),
    }
    records.push(json!({
        "name": format!("_smtp._tls.{name}"),
        "type": "CNAME",
        "value": format!("{label}.report.{zone}"),
        "purpose": "sends TLS reports (RFC 8460) to stsd",
    }));
    records
}

fn zone_snippet(records: &[Value]) -> String {
    records
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap_or_default();
            let kind = r["type"].as_str().unwrap_or_default();
            let value = r["value"].as_str().unwrap_or_default();
            if kind == "TXT" {
                format!("{name}. 3600 IN TXT \"{value}\"\n")
            } else {
                format!("{name}. 3600 IN CNAME {value}.\n")
            }
        })
        .collect()
}

pub(crate) fn domain_json(state: &AppState, d: &Domain, latest: Option<&PolicyVersion>) -> Value {
    let records = record_list(state, d);
    json!({
        "name": d.name.as_str(),
        "display_name": d.name.to_unicode(),
        "label": d.label.as_str(),
        "state": d.state.as_str(),
        "ownership": d.ownership.as_str(),
        "mode": latest.map(|v| v.policy.mode().as_str()),
        "created_at": d.created_at.unix_timestamp(),
        "state_changed_at": d.state_changed_at.unix_timestamp(),
        "serve_until": d.serve_until.map(|t| t.unix_timestamp()),
        "records": records,
        "zone_file": zone_snippet(&records),
        "note": "each mail subdomain needs its own three records: senders never use a parent domain's policy",
    })
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<AxumJson<Value>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let filter = DomainFilter {
        state: query
            .state
            .as_deref()
            .map(DomainState::from_str)
            .transpose()
            .map_err(|e| ApiError::invalid_field("state", e))?,
        name_contains: query.q.filter(|q| !q.trim().is_empty()),
        after_name: query.cursor,
        include_removed: false,
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let store = &state.inner.store;
    let domains = store.list_domains(&access.tenant, &filter, limit).await?;
    let mut items = Vec::with_capacity(domains.len());
    for d in &domains {
        let latest = store.latest_policy_version(&d.id).await?;
        items.push(domain_json(&state, d, latest.as_ref()));
    }
    let next = if i64::try_from(domains.len()).unwrap_or(0) == limit {
        domains.last().map(|d| d.name.as_str().to_owned())
    } else {
        None
    };
    Ok(AxumJson(json!({ "items": items, "next_cursor": next })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateDomain {
    name: String,
    /// `cname` (default) or `txt`.
    ownership: Option<String>,
    policy: Option<PolicyInput>,
}

async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(req): Json<CreateDomain>,
) -> Result<(StatusCode, AxumJson<Value>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Write).await?;
    let mut errors = Vec::new();
    let name = DomainName::from_str(&req.name).map_err(|e| FieldError {
        field: "name".into(),
        message: e.to_string(),
    });
    let ownership = match req.ownership.as_deref() {
        None => Ok(Ownership::Cname),
        Some(raw) => Ownership::from_str(raw).map_err(|e| FieldError {
            field: "ownership".into(),
            message: e,
        }),
    };
    let policy = req.policy.as_ref().map(|p| p.to_policy("policy."));
    let name = name.map_err(|e| errors.push(e)).ok();
    let ownership = ownership.map_err(|e| errors.push(e)).ok();
    let policy = match policy {
        Some(Err(mut e)) => {
            errors.append(&mut e);
            None
        }
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let (Some(name), Some(ownership)) = (name, ownership) else {
        return Err(ApiError::validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let store = &state.inner.store;
    if store.count_domains(&access.tenant).await? >= state.inner.config.domain_quota {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "quota_exceeded",
            format!(
                "this tenant has reached its limit of {} domains",
                state.inner.config.domain_quota
            ),
        ));
    }
    let domain = match store.create_domain(&access.tenant, &name, ownership).await {
        Ok(d) => d,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "domain_exists",
                format!("{name} is already registered in this tenant"),
            ));
        }
        Err(e) => return Err(e.into()),
    };

    // A DNS failure must not lose the registration: it is created either way, and the
    // discovery result (or error) is part of the answer.
    let lookup = state.inner.resolvers.mx_hosts(&name).await;
    let (discovery, proposed) = match &lookup {
        Ok(MxLookup::Hosts(hosts)) => {
            let mx: Vec<MxPattern> = hosts
                .iter()
                .filter_map(|h| MxPattern::from_str(h.host.as_str()).ok())
                .take(Policy::MAX_MX)
                .collect();
            let proposed = MaxAge::new(DEFAULT_MAX_AGE)
                .ok()
                .and_then(|age| Policy::new(Mode::Testing, mx, age).ok());
            (json!({ "status": "found", "hosts": hosts }), proposed)
        }
        Ok(MxLookup::NullMx) => (
            json!({ "status": "null_mx", "hosts": [], "explanation": "the domain publishes a null MX (RFC 7505): it accepts no mail, so MTA-STS protects nothing" }),
            None,
        ),
        Ok(MxLookup::NoMx) => (
            json!({ "status": "no_mx", "hosts": [], "explanation": "the domain has no MX records; add them, then set the policy's mx patterns" }),
            None,
        ),
        Err(e) => (
            json!({ "status": "error", "hosts": [], "explanation": format!("MX lookup failed: {e}") }),
            None,
        ),
    };
    let author = principal.actor();
    let initial = policy.or(proposed);
    let version = match &initial {
        Some(p) => Some(
            store
                .create_policy_version(&domain.id, p, &author)
                .await?
                .version,
        ),
        None => None,
    };
    record(
        &state,
        Some(&access.tenant),
        &author,
        "domain.create",
        domain.name.as_str(),
        json!({ "after": { "label": domain.label.as_str(), "policy": version.as_ref().map(|v| &v.body) } }),
        Some(peer.ip()),
    )
    .await;
    let mut body = domain_json(&state, &domain, version.as_ref());
    body["mx_discovery"] = discovery;
    body["policy"] = version.as_ref().map(version_json).unwrap_or(Value::Null);
    Ok((StatusCode::CREATED, AxumJson(body)))
}

async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<Value>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let latest = state.inner.store.latest_policy_version(&domain.id).await?;
    let mut body = domain_json(&state, &domain, latest.as_ref());
    body["policy"] = latest.as_ref().map(version_json).unwrap_or(Value::Null);
    body["checks"] = domain
        .last_checks
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or(Value::Null);
    Ok(AxumJson(body))
}

async fn records(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<Value>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let records = record_list(&state, &domain);
    Ok(AxumJson(
        json!({ "zone_file": zone_snippet(&records), "records": records }),
    ))
}

/// Starts leaving (DESIGN.md, "Leave"). A domain never served is removed at once; a served
/// one switches to `mode: none` and keeps serving it until every sender's cached policy has
/// expired: the largest `max_age` ever published, counted from now, plus a day for the
/// publisher to make the `none` version live.
async fn offboard(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<(StatusCode, AxumJson<Value>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Write).await?;
    let domain = load(&state, &access, &name).await?;
    let store = &state.inner.store;
    let actor = principal.actor();
    if domain.state == DomainState::Offboarding {
        let body = domain_json(
            &state,
            &domain,
            store.latest_policy_version(&domain.id).await?.as_ref(),
        );
        return Ok((StatusCode::ACCEPTED, AxumJson(body)));
    }
    let versions = store.policy_versions(&domain.id).await?;
    let served: Vec<&PolicyVersion> = versions
        .iter()
        .filter(|v| v.published_at.is_some())
        .collect();
    if served.is_empty() {
        let removed = store
            .transition_domain(
                &domain.id,
                domain.state,
                DomainState::Removed,
                "removed by the customer before it was ever served",
            )
            .await?;
        record(
            &state,
            Some(&access.tenant),
            &actor,
            "domain.remove",
            domain.name.as_str(),
            json!({ "before": { "state": domain.state.as_str() } }),
            Some(peer.ip()),
        )
        .await;
        return Ok((
            StatusCode::OK,
            AxumJson(domain_json(&state, &removed, None)),
        ));
    }
    let largest = served
        .iter()
        .map(|v| v.policy.max_age().get())
        .max()
        .unwrap_or(DEFAULT_MAX_AGE);
    let serve_until = time::OffsetDateTime::now_utc()
        + time::Duration::seconds(i64::from(largest))
        + time::Duration::days(1);
    let mx = versions
        .first()
        .map(|v| v.policy.mx().to_vec())
        .unwrap_or_default();
    let none = MaxAge::new(DEFAULT_MAX_AGE)
        .and_then(|age| Policy::new(Mode::None, mx, age))
        .map_err(|e| ApiError::internal(&e))?;
    let version = store
        .create_policy_version(&domain.id, &none, &actor)
        .await?
        .version;
    store.set_serve_until(&domain.id, Some(serve_until)).await?;
    let leaving = store
        .transition_domain(
            &domain.id,
            domain.state,
            DomainState::Offboarding,
            "offboarding requested: serving mode none until senders' caches expire",
        )
        .await?;
    record(
        &state,
        Some(&access.tenant),
        &actor,
        "domain.offboard",
        domain.name.as_str(),
        json!({ "before": { "state": domain.state.as_str() }, "after": { "state": "offboarding", "serve_until": serve_until.unix_timestamp() } }),
        Some(peer.ip()),
    )
    .await;
    let mut body = domain_json(&state, &leaving, Some(&version));
    body["policy"] = version_json(&version);
    body["keep_records_until"] = json!(serve_until.unix_timestamp());
    Ok((StatusCode::ACCEPTED, AxumJson(body)))
}
