//! Domain registrations: add (with MX discovery and a proposed policy), list, show, records,
//! and offboarding.

use std::str::FromStr;

use axum::Json as AxumJson;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stsd_core::{DomainName, MaxAge, Mode, MxPattern, Policy};
use stsd_store::{Domain, DomainFilter, DomainState, Ownership, PolicyVersion, StoreError};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit::record;
use crate::auth::{Access, ClientIp, Need, Principal};
use crate::discovery::{MxHost, MxLookup};
use crate::error::{ApiError, ErrorEnvelope, FieldError};
use crate::extract::{Path, Query, has_control};
use crate::json::Json;
use crate::policy::{PolicyInput, PolicyVersionView};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, offboard))
        .routes(routes!(records))
}

/// One DNS record a customer publishes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct DnsRecord {
    /// Owner name, without the trailing dot.
    name: String,
    /// `CNAME` or `TXT`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// Target (CNAME) or text (TXT).
    value: String,
    /// What the record is for.
    purpose: &'static str,
}

/// A domain registration.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DomainView {
    /// The name, in A-label (ASCII) form.
    name: String,
    /// The name in Unicode.
    display_name: String,
    /// The opaque label that the CNAME targets carry.
    label: String,
    /// `pending`, `verified`, `active`, `degraded`, `detached`, `offboarding` or `removed`.
    state: &'static str,
    /// How ownership is proven: `cname` or `txt`.
    ownership: &'static str,
    /// The newest policy version's mode; null if there is no policy yet.
    #[schema(required = true)]
    mode: Option<&'static str>,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds.
    state_changed_at: i64,
    /// While offboarding: when serving stops (Unix seconds); null otherwise.
    #[schema(required = true)]
    serve_until: Option<i64>,
    /// The records to publish.
    records: Vec<DnsRecord>,
    /// The same records as a zone-file snippet.
    zone_file: String,
    /// A reminder about subdomains.
    note: &'static str,
    /// Report destinations the hosted `_smtp._tls` record lists after stsd's own: the
    /// customer's, kept from before stsd; empty for none.
    extra_rua: Vec<String>,
}

/// What MX discovery found when the domain was added.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MxDiscovery {
    /// `found`, `null_mx`, `no_mx` or `error`.
    status: &'static str,
    /// The MX hosts found (empty unless `found`).
    hosts: Vec<MxHost>,
    /// Why there are no hosts; absent when `found`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    explanation: Option<String>,
}

/// A just-added domain: the registration, the discovery result and its first policy.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedDomain {
    #[serde(flatten)]
    domain: DomainView,
    /// What MX discovery found.
    mx_discovery: MxDiscovery,
    /// The MTA-STS and TLS-RPT the domain published before stsd, read as senders read it;
    /// a valid policy there becomes the first version unless one was given.
    existing: crate::existing::ExistingSetup,
    /// The first policy version (given or proposed); null if none could be proposed.
    #[schema(required = true)]
    policy: Option<PolicyVersionView>,
    /// A warning or advice about the first policy, as for a policy edit (e.g. a `max_age`
    /// under a day); absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    suggestion: Option<String>,
}

/// A domain with its newest policy and latest checks.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DomainDetail {
    #[serde(flatten)]
    domain: DomainView,
    /// The newest policy version; null if none.
    #[schema(required = true)]
    policy: Option<PolicyVersionView>,
    /// The verifier's latest check results (any JSON); null until checks ran.
    #[schema(required = true)]
    checks: Option<Value>,
    /// Organizations that usually send TLS reports about this domain and have not for days
    /// (announced as `domain.reporters_silent`); empty when none is silent.
    silent_reporters: Vec<SilentReporter>,
}

/// A reporter that went quiet.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SilentReporter {
    /// The reporting organization, as its reports name it.
    organization: String,
    /// When its last report arrived (Unix seconds).
    last_received: i64,
}

/// A domain being removed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LeavingDomain {
    #[serde(flatten)]
    domain: DomainView,
    /// The `mode: none` version served while leaving; present only when offboarding started
    /// with this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    policy: Option<PolicyVersionView>,
    /// Keep the DNS records at least until then (Unix seconds); present only when offboarding
    /// started with this request. An estimate: the window is counted from the moment the
    /// `mode: none` version is live on every edge and its id in DNS (the largest `max_age`
    /// ever served plus an hour from then), and the domain's `serve_until` moves to that end
    /// once it is known; the domain is never removed before.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    keep_records_until: Option<i64>,
}

/// A domain as listed: the registration and what a list shows beside it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DomainListItem {
    #[serde(flatten)]
    domain: DomainView,
    /// When the served certificate expires (Unix seconds); null without a valid one.
    #[schema(required = true)]
    certificate_not_after: Option<i64>,
    /// The worst result of the latest checks (`pass`, `warn`, `fail`, `error`); null
    /// before the first run.
    #[schema(required = true)]
    last_check: Option<&'static str>,
    /// Counted TLS reports of the last 30 days.
    reports_30d: i64,
    /// Their success rate (successful / all sessions); null without sessions.
    #[schema(required = true)]
    success_rate_30d: Option<f64>,
}

/// The worst result in stored check results.
fn worst_check(json: Option<&str>) -> Option<&'static str> {
    use stsd_core::Outcome;
    let rank = |r: Outcome| match r {
        Outcome::Fail => 3,
        Outcome::Error => 2,
        Outcome::Warn => 1,
        Outcome::Pass => 0,
    };
    stsd_core::parse_checks(json?)?
        .iter()
        .map(|c| c.result)
        .max_by_key(|r| rank(*r))
        .map(Outcome::as_str)
}

/// A page of domains.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DomainPage {
    /// Domains in name order.
    items: Vec<DomainListItem>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// A domain's DNS records.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Records {
    /// The records as a zone-file snippet.
    zone_file: String,
    /// The records.
    records: Vec<DnsRecord>,
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

/// The three records a customer publishes.
fn record_list(state: &AppState, d: &Domain) -> Vec<DnsRecord> {
    let zone = state.inner.config.service_zone.as_str();
    let label = d.label.as_str();
    let name = d.name.as_str();
    let mut records = vec![DnsRecord {
        name: format!("mta-sts.{name}"),
        kind: "CNAME",
        value: format!("{label}.edge.{zone}"),
        purpose: "serves the policy over HTTPS with stsd's certificate",
    }];
    match d.ownership {
        Ownership::Cname => records.push(DnsRecord {
            name: format!("_mta-sts.{name}"),
            kind: "CNAME",
            value: format!("{label}.policy.{zone}"),
            purpose: "proves ownership and publishes the policy id, rotated on every edit",
        }),
        Ownership::Txt => records.push(DnsRecord {
            name: format!("_mta-sts-verify.{name}"),
            kind: "TXT",
            value: format!("stsd-verify={label}"),
            purpose: "proves ownership once; publish the _mta-sts TXT yourself after every edit",
        }),
    }
    records.push(DnsRecord {
        name: format!("_smtp._tls.{name}"),
        kind: "CNAME",
        value: format!("{label}.report.{zone}"),
        purpose: "sends TLS reports (RFC 8460) to stsd",
    });
    records
}

fn zone_snippet(records: &[DnsRecord]) -> String {
    records
        .iter()
        .map(|r| {
            let (name, value) = (&r.name, &r.value);
            if r.kind == "TXT" {
                format!("{name}. 3600 IN TXT \"{value}\"\n")
            } else {
                format!("{name}. 3600 IN CNAME {value}.\n")
            }
        })
        .collect()
}

pub(crate) fn domain_view(
    state: &AppState,
    d: &Domain,
    latest: Option<&PolicyVersion>,
) -> DomainView {
    domain_view_with_mode(state, d, latest.map(|v| v.policy.mode().as_str()))
}

fn domain_view_with_mode(state: &AppState, d: &Domain, mode: Option<&'static str>) -> DomainView {
    let records = record_list(state, d);
    DomainView {
        name: d.name.as_str().to_owned(),
        display_name: d.name.to_unicode(),
        label: d.label.as_str().to_owned(),
        state: d.state.as_str(),
        ownership: d.ownership.as_str(),
        mode,
        created_at: d.created_at.unix_timestamp(),
        state_changed_at: d.state_changed_at.unix_timestamp(),
        serve_until: d.serve_until.map(|t| t.unix_timestamp()),
        zone_file: zone_snippet(&records),
        records,
        note: "each mail subdomain needs its own three records: senders never use a parent domain's policy",
        extra_rua: d.extra_rua.clone(),
    }
}

/// Filtering and paging the domain list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only domains in this state (`pending`, `verified`, `active`, `degraded`, `detached`,
    /// `offboarding`).
    state: Option<String>,
    /// Only domains whose newest policy version is in this mode (`none`, `testing`,
    /// `enforce`).
    mode: Option<String>,
    /// Only names containing this text.
    q: Option<String>,
    /// Names after this one (the previous page's `next_cursor`).
    cursor: Option<String>,
    /// Domains per page, 1 to 200 (default 50; out-of-range values are clamped).
    limit: Option<i64>,
}

/// Lists the tenant's domains in name order (numbers in numeric order, internationalized names
/// among their letters), a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains",
    operation_id = "listDomains",
    tag = "domains",
    params(("tenant" = String, Path, description = "Tenant id"), ListQuery),
    responses((status = 200, description = "A page of domains", body = DomainPage)),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<AxumJson<DomainPage>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    for (field, value) in [("q", &query.q), ("cursor", &query.cursor)] {
        if value.as_deref().is_some_and(has_control) {
            return Err(ApiError::invalid_field(
                field,
                "must not contain control characters",
            ));
        }
    }
    let filter = DomainFilter {
        state: query
            .state
            .as_deref()
            .map(DomainState::from_str)
            .transpose()
            .map_err(|e| ApiError::invalid_field("state", e))?,
        mode: query
            .mode
            .as_deref()
            .map(stsd_core::Mode::from_str)
            .transpose()
            .map_err(|e| ApiError::invalid_field("mode", e.to_string()))?,
        name_contains: query.q.filter(|q| !q.trim().is_empty()),
        after_name: query.cursor,
        include_removed: false,
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let store = &state.inner.store;
    let domains = store.list_domains(&access.tenant, &filter, limit).await?;
    let today = time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(86_400);
    let ids: Vec<_> = domains.iter().map(|d| d.id.clone()).collect();
    let overviews = store
        .domain_overviews(&access.tenant, &ids, today - 29)
        .await?;
    let items = domains
        .iter()
        .map(|d| {
            let o = overviews.get(d.id.as_str()).cloned().unwrap_or_default();
            let mode = o
                .mode
                .as_deref()
                .and_then(|m| m.parse::<Mode>().ok())
                .map(|m| m.as_str());
            let all = o.successful_sessions.saturating_add(o.failed_sessions);
            DomainListItem {
                domain: domain_view_with_mode(&state, d, mode),
                certificate_not_after: o.certificate_not_after.map(|t| t.unix_timestamp()),
                last_check: worst_check(d.last_checks.as_deref()),
                reports_30d: o.reports,
                // Session counts stay far below 2^53; the ratio is for display.
                success_rate_30d: (all > 0).then(|| o.successful_sessions as f64 / all as f64),
            }
        })
        .collect();
    let next = if i64::try_from(domains.len()).unwrap_or(0) == limit {
        domains.last().map(|d| d.name.as_str().to_owned())
    } else {
        None
    };
    Ok(AxumJson(DomainPage {
        items,
        next_cursor: next,
    }))
}

/// A domain to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateDomain {
    /// The domain, in Unicode or A-label form.
    #[schema(examples("example.com"))]
    name: String,
    /// How ownership is proven: `cname` (default) or `txt`.
    ownership: Option<String>,
    /// The first policy; absent means the domain's own current policy is kept when it
    /// publishes a valid one, and otherwise a `testing` policy is proposed from its MX hosts.
    policy: Option<PolicyInput>,
    /// Keep the report destinations of the domain's own `_smtp._tls` record in the hosted
    /// one, after stsd's (default true); they can be changed later through
    /// `PUT …/extra-rua`.
    keep_existing_rua: Option<bool>,
}

/// Adds a domain: creates its label and records, discovers its MX hosts, reads the MTA-STS it
/// may already publish and proposes a first policy: that one when it is valid, otherwise a
/// `testing` policy covering the MX hosts. A DNS failure still adds the domain.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant}/domains",
    operation_id = "createDomain",
    tag = "domains",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = CreateDomain,
    responses(
        (status = 201, description = "Added", body = CreatedDomain),
        (status = 403, description = "The caller's role or token scope does not allow this (`forbidden`), or the tenant's domain quota is used up (`quota_exceeded`)", body = ErrorEnvelope),
        (status = 409, description = "Already registered in this tenant (`domain_exists`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(req): Json<CreateDomain>,
) -> Result<(StatusCode, AxumJson<CreatedDomain>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Write).await?;
    let mut errors = Vec::new();
    let name = DomainName::from_str(&req.name)
        .map_err(|e| FieldError {
            field: "name".into(),
            message: e.to_string(),
        })
        .and_then(|n| {
            // The longest name a customer publishes is `_smtp._tls.<name>`; it must fit in
            // 253 octets too.
            if n.as_str().len() + "_smtp._tls.".len() > 253 {
                Err(FieldError {
                    field: "name".into(),
                    message: format!(
                        "is {} octets long; at most 242 leave room for the _smtp._tls. record",
                        n.as_str().len()
                    ),
                })
            } else {
                Ok(n)
            }
        })
        .and_then(|n| not_in_service_zone(n, &state.inner.config.service_zone));
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
    let (lookup, reading) = tokio::join!(
        state.inner.resolvers.mx_hosts(&name),
        state.inner.sender.read(&name)
    );
    let hosts = match &lookup {
        Ok(MxLookup::Hosts(hosts)) => hosts.as_slice(),
        _ => &[],
    };
    let mut existing = crate::existing::setup(&reading, hosts, &state.inner.config.service_zone);
    let (imported, imported_id) = match (&policy, crate::existing::importable(&reading)) {
        (None, Some((fetched, old_id))) => {
            // Senders refetch only when the id changes: stsd's first id must differ.
            store.avoid_policy_id(&name, old_id).await?;
            existing.mark_imported();
            (
                Some(fetched.policy.clone()),
                Some(old_id.as_str().to_owned()),
            )
        }
        _ => (None, None),
    };
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
            (
                MxDiscovery {
                    status: "found",
                    hosts: hosts.clone(),
                    explanation: None,
                },
                proposed,
            )
        }
        Ok(MxLookup::NullMx) => (
            MxDiscovery {
                status: "null_mx",
                hosts: Vec::new(),
                explanation: Some("the domain publishes a null MX (RFC 7505): it accepts no mail, so MTA-STS protects nothing".to_owned()),
            },
            None,
        ),
        Ok(MxLookup::NoMx) => (
            MxDiscovery {
                status: "no_mx",
                hosts: Vec::new(),
                explanation: Some("the domain has no MX records; add them, then set the policy's mx patterns".to_owned()),
            },
            None,
        ),
        Err(e) => (
            MxDiscovery {
                status: "error",
                hosts: Vec::new(),
                explanation: Some(format!("MX lookup failed: {e}")),
            },
            None,
        ),
    };
    let mut domain = domain;
    if req.keep_existing_rua != Some(false) && !existing.tlsrpt_rua().is_empty() {
        let rua = existing.tlsrpt_rua().to_vec();
        if let Some(updated) = store
            .set_extra_rua(&access.tenant, &domain.id, &rua)
            .await?
        {
            domain = updated;
            existing.mark_rua_kept();
        }
    }
    let author = principal.actor();
    let initial = policy.or(imported).or(proposed);
    let version = match &initial {
        Some(p) => Some(
            store
                .create_policy_version(&access.tenant, &domain.id, p, &author)
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
        json!({
            "after": { "label": domain.label.as_str(), "policy": version.as_ref().map(|v| &v.body) },
            "imported_from_id": imported_id,
            "extra_rua": domain.extra_rua,
        }),
        Some(peer),
    )
    .await;
    let body = CreatedDomain {
        domain: domain_view(&state, &domain, version.as_ref()),
        mx_discovery: discovery,
        existing,
        policy: version.as_ref().map(PolicyVersionView::from),
        suggestion: initial.as_ref().and_then(crate::policy::suggestion),
    };
    Ok((StatusCode::CREATED, AxumJson(body)))
}

/// Refuses stsd's own service zone and the names under it: they are the operator's
/// (`<label>.policy.Z`, `edge.Z`, `reports.Z`), and a tenant holding one could have
/// certificates issued for, and policies served on, the operator's names.
fn not_in_service_zone(name: DomainName, zone: &DomainName) -> Result<DomainName, FieldError> {
    if name.is_subdomain_of(zone) {
        let place = if &name == zone {
            "stsd's own service zone"
        } else {
            "under stsd's own service zone"
        };
        return Err(FieldError {
            field: "name".into(),
            message: format!("{name} is {place} {zone}; add your own mail domain"),
        });
    }
    Ok(name)
}

/// Shows a domain with its records, newest policy version and latest checks.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}",
    operation_id = "getDomain",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    responses((status = 200, description = "The domain", body = DomainDetail)),
    security(("bearer" = []))
)]
async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<DomainDetail>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let latest = state
        .inner
        .store
        .latest_policy_version(&access.tenant, &domain.id)
        .await?;
    let checks = domain
        .last_checks
        .as_deref()
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .filter(|v| !v.is_null());
    let silent_reporters = state
        .inner
        .store
        .reporter_silences(&access.tenant, &domain.id)
        .await?
        .into_iter()
        .map(|s| SilentReporter {
            organization: s.organization,
            last_received: s.last_received.unix_timestamp(),
        })
        .collect();
    Ok(AxumJson(DomainDetail {
        domain: domain_view(&state, &domain, latest.as_ref()),
        policy: latest.as_ref().map(PolicyVersionView::from),
        checks,
        silent_reporters,
    }))
}

/// The records to publish, also as a zone-file snippet.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/records",
    operation_id = "getDomainRecords",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    responses((status = 200, description = "The records", body = Records)),
    security(("bearer" = []))
)]
async fn records(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<Records>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let records = record_list(&state, &domain);
    Ok(AxumJson(Records {
        zone_file: zone_snippet(&records),
        records,
    }))
}

/// Starts leaving (DESIGN.md, "Leave"). A domain never served is removed at once; a served
/// one switches to `mode: none` and keeps serving it until every sender's cached policy has
/// expired: the largest `max_age` ever published, counted from the moment the `none`
/// version is live on every edge and its id in DNS (the store sets the end then). The first
/// answer estimates it as now plus that `max_age` plus a day.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenant}/domains/{name}",
    operation_id = "offboardDomain",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    responses(
        (status = 200, description = "Removed at once: it was never served", body = LeavingDomain),
        (status = 202, description = "Offboarding: `mode: none` is served until senders' caches expire; keep the records until `keep_records_until`", body = LeavingDomain),
        (status = 409, description = "The domain changed state meanwhile (`state_conflict`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn offboard(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<(StatusCode, AxumJson<LeavingDomain>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Write).await?;
    let domain = load(&state, &access, &name).await?;
    let store = &state.inner.store;
    let actor = principal.actor();
    if domain.state == DomainState::Offboarding {
        let body = LeavingDomain {
            domain: domain_view(
                &state,
                &domain,
                store
                    .latest_policy_version(&access.tenant, &domain.id)
                    .await?
                    .as_ref(),
            ),
            policy: None,
            keep_records_until: None,
        };
        return Ok((StatusCode::ACCEPTED, AxumJson(body)));
    }
    let versions = store.policy_versions(&access.tenant, &domain.id).await?;
    let served: Vec<&PolicyVersion> = versions
        .iter()
        .filter(|v| v.published_at.is_some())
        .collect();
    if served.is_empty() {
        let removed = store
            .transition_domain(
                &access.tenant,
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
            Some(peer),
        )
        .await;
        return Ok((
            StatusCode::OK,
            AxumJson(LeavingDomain {
                domain: domain_view(&state, &removed, None),
                policy: None,
                keep_records_until: None,
            }),
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
        .create_policy_version(&access.tenant, &domain.id, &none, &actor)
        .await?
        .version;
    store
        .set_serve_until(&access.tenant, &domain.id, Some(serve_until))
        .await?;
    let leaving = store
        .transition_domain(
            &access.tenant,
            &domain.id,
            domain.state,
            DomainState::Offboarding,
            "offboarding requested: serving mode none until senders' caches expire",
        )
        .await?;
    // `mode: none` goes live at once when the domain is served (the publisher would later).
    if let Err(e) = store.publish_latest(&access.tenant, &domain.id).await {
        tracing::warn!(domain = %domain.name, error = %e, "cannot publish mode none now; the publisher will");
    }
    record(
        &state,
        Some(&access.tenant),
        &actor,
        "domain.offboard",
        domain.name.as_str(),
        json!({ "before": { "state": domain.state.as_str() }, "after": { "state": "offboarding", "serve_until": serve_until.unix_timestamp() } }),
        Some(peer),
    )
    .await;
    let body = LeavingDomain {
        domain: domain_view(&state, &leaving, Some(&version)),
        policy: Some(PolicyVersionView::from(&version)),
        keep_records_until: Some(serve_until.unix_timestamp()),
    };
    Ok((StatusCode::ACCEPTED, AxumJson(body)))
}
