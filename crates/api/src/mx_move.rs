//! Planned moves to new MX hosts: a customer changing mail providers names the new hosts and
//! the date, and stsd publishes the versions that keep every sender delivering through the
//! switch ([`stsd_core::MovePlan`]). The first version (old and new patterns) is published
//! by the request, through the enforce gate; the worker runs the later steps.

use std::str::FromStr;

use axum::Json as AxumJson;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stsd_core::{Mode, MovePlan, MovePlanError, MoveStep, MxPattern, Policy};
use stsd_store::{MoveState, MxMove, StoreError};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit::record;
use crate::auth::{Access, ClientIp, Need, Principal};
use crate::domains::load;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::Path;
use crate::json::Json;
use crate::policy::{Override, ReadinessCheck, apply};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, start, cancel))
}

/// A move to plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartMove {
    /// The new provider's MX hosts or `*.` patterns, at most 64; they replace the policy's
    /// patterns after the move.
    #[schema(examples(json!(["*.mail.protection.outlook.com"])))]
    new_mx: Vec<String>,
    /// When the MX records switch (Unix seconds): at least an hour and at most 400 days away.
    #[schema(examples(1_800_000_000))]
    move_at: i64,
    /// Publish the first version in `enforce` although readiness checks fail (owners and
    /// admins only).
    #[serde(default, rename = "override")]
    override_: bool,
    /// Why, required with `override` (10 to 1000 characters); kept on the version.
    #[serde(default)]
    override_reason: Option<String>,
}

/// A domain's planned move, if it has one.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MoveAnswer {
    /// The latest plan, active or ended; null if the domain never had one.
    #[schema(required = true)]
    plan: Option<MoveView>,
    /// The readiness checks that ran for the first version (in `enforce`); empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checks: Vec<ReadinessCheck>,
}

/// A planned move and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MoveView {
    /// `active` (steps to come), `done` or `cancelled`.
    #[schema(pattern = "^(active|done|cancelled)$")]
    state: &'static str,
    /// The patterns before the move.
    old_mx: Vec<String>,
    /// The patterns after the move.
    new_mx: Vec<String>,
    /// When the MX records switch (Unix seconds).
    move_at: i64,
    /// The `max_age` before and after the move.
    original_max_age: u32,
    /// The `max_age` while the move is under way.
    short_max_age: u32,
    /// The steps in order: `cover`, `shorten`, `move`, `finish`.
    steps: Vec<MoveStepView>,
    /// What the last step waits for (the MX records still name old hosts); absent when it
    /// does not wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    waiting: Option<String>,
    /// When the move date is too soon for senders' caches: until this time (Unix seconds)
    /// senders that fetched the policy before the plan may still refuse the new hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    early_until: Option<i64>,
    /// Who planned it: `user:<id>` or `token:<id>`.
    created_by: String,
    /// When it was planned (Unix seconds).
    created_at: i64,
    /// When it was done or cancelled (Unix seconds); absent while active.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    ended_at: Option<i64>,
}

/// One step of a plan.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MoveStepView {
    /// `cover`, `shorten`, `move` or `finish`.
    #[schema(pattern = "^(cover|shorten|move|finish)$")]
    step: &'static str,
    /// When it is due (Unix seconds).
    due_at: i64,
    /// Whether it ran (`move`: whether its date passed).
    done: bool,
    /// The version it published; absent for `move` and steps to come.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    version_id: Option<String>,
    /// The patterns it publishes; empty for `move`.
    mx: Vec<String>,
    /// The `max_age` it publishes; absent for `move`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    max_age: Option<u32>,
}

fn strings(patterns: &[MxPattern]) -> Vec<String> {
    patterns.iter().map(|p| p.as_str().to_owned()).collect()
}

impl MoveView {
    fn new(mv: &MxMove, now: OffsetDateTime) -> MoveView {
        let plan = &mv.plan;
        let steps = MoveStep::ALL
            .iter()
            .map(|&step| {
                let (done, version_id) = match step {
                    MoveStep::Cover => (mv.cover_version.is_some(), mv.cover_version.clone()),
                    MoveStep::Shorten => (mv.shorten_version.is_some(), mv.shorten_version.clone()),
                    MoveStep::Move => (plan.move_at() <= now, None),
                    MoveStep::Finish => (mv.finish_version.is_some(), mv.finish_version.clone()),
                };
                // The mode does not change the patterns or max_age a step publishes.
                let policy = plan.policy(step, Mode::Testing).ok().flatten();
                MoveStepView {
                    step: step.as_str(),
                    due_at: plan.due_at(step).unix_timestamp(),
                    done,
                    version_id,
                    mx: policy.as_ref().map(|p| strings(p.mx())).unwrap_or_default(),
                    max_age: policy.map(|p| p.max_age().get()),
                }
            })
            .collect();
        MoveView {
            state: mv.state.as_str(),
            old_mx: strings(plan.old_mx()),
            new_mx: strings(plan.new_mx()),
            move_at: plan.move_at().unix_timestamp(),
            original_max_age: plan.original_max_age().get(),
            short_max_age: plan.short_max_age().get(),
            steps,
            waiting: mv.waiting.clone(),
            early_until: plan
                .is_early()
                .then(|| plan.covered_everywhere_at().unix_timestamp()),
            created_by: mv.created_by.clone(),
            created_at: plan.created_at().unix_timestamp(),
            ended_at: mv.ended_at.map(OffsetDateTime::unix_timestamp),
        }
    }
}

/// Shows the domain's latest planned move.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/mx-move",
    operation_id = "getMxMove",
    tag = "policies",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    responses((status = 200, description = "The latest plan, or null", body = MoveAnswer)),
    security(("bearer" = []))
)]
async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<MoveAnswer>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let mv = state
        .inner
        .store
        .mx_move(&access.tenant, &domain.id)
        .await?;
    Ok(AxumJson(MoveAnswer {
        plan: mv
            .as_ref()
            .map(|m| MoveView::new(m, OffsetDateTime::now_utc())),
        checks: Vec::new(),
    }))
}

/// Plans a move to new MX hosts and publishes its first version at once: the policy's
/// patterns and the new ones (`max_age` lowered to a day already when the move is closer
/// than `max_age`). In `enforce` that version passes the readiness gate first. Later steps
/// run on their dates; the last one waits until the MX records name the new hosts.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant}/domains/{name}/mx-move",
    operation_id = "startMxMove",
    tag = "policies",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    request_body = StartMove,
    responses(
        (status = 201, description = "Planned; the first version is published", body = MoveAnswer),
        (status = 409, description = "A move is planned already (`move_planned`), the domain has no policy (`no_policy`) or its mode is `none` (`mode_none`), it is leaving stsd (`not_served`), or the readiness checks for its first version failed (`not_ready`)", body = ErrorEnvelope),
        (status = 422, description = "A pattern or the date is not valid (`validation_failed`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn start(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
    Json(req): Json<StartMove>,
) -> Result<(StatusCode, AxumJson<MoveAnswer>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Write).await?;
    let domain = load(&state, &access, &name).await?;
    if matches!(
        domain.state,
        stsd_store::DomainState::Offboarding | stsd_store::DomainState::Removed
    ) {
        return Err(ApiError::conflict(
            "not_served",
            "this domain is leaving stsd; a move needs no plan any more",
        ));
    }
    let new_mx = patterns(&req.new_mx)?;
    let move_at = OffsetDateTime::from_unix_timestamp(req.move_at)
        .map_err(|_| ApiError::invalid_field("move_at", "not a valid time"))?;
    let store = &state.inner.store;
    let Some(latest) = store
        .latest_policy_version(&access.tenant, &domain.id)
        .await?
    else {
        return Err(ApiError::conflict(
            "no_policy",
            "this domain has no policy yet; set one first",
        ));
    };
    let now = OffsetDateTime::now_utc();
    let plan = MovePlan::new(&latest.policy, new_mx, move_at, now).map_err(plan_error)?;
    if store
        .mx_move(&access.tenant, &domain.id)
        .await?
        .is_some_and(|m| m.state == MoveState::Active)
    {
        return Err(planned_already());
    }
    // Closer than max_age, the shorten step is due now: publish it as the first version.
    let first = if plan.due_at(MoveStep::Shorten) <= now {
        MoveStep::Shorten
    } else {
        MoveStep::Cover
    };
    let policy: Policy = plan
        .policy_after(first, &latest.policy)
        .map_err(|e| ApiError::invalid_field("new_mx", e.to_string()))?
        .ok_or_else(|| ApiError::invalid_field("new_mx", "nothing to publish"))?;
    let (_, AxumJson(change)) = apply(
        &state,
        &access,
        &domain,
        &policy,
        Override {
            wanted: req.override_,
            reason: req.override_reason,
        },
        peer,
        "policy.mx_move",
    )
    .await?;
    let actor = access.principal.actor();
    let mv = match store
        .start_mx_move(&access.tenant, &domain.id, &plan, &actor)
        .await
    {
        Ok(mv) => mv,
        Err(StoreError::Conflict(_)) => return Err(planned_already()),
        Err(e) => return Err(e.into()),
    };
    let version = &change.version.version_id;
    for step in [MoveStep::Cover, MoveStep::Shorten] {
        if step == MoveStep::Cover || first == MoveStep::Shorten {
            store
                .record_move_step(&access.tenant, &domain.id, step, version, now)
                .await?;
        }
    }
    let mv = store
        .mx_move(&access.tenant, &domain.id)
        .await?
        .unwrap_or(mv);
    record(
        &state,
        Some(&access.tenant),
        &actor,
        "domain.mx_move",
        domain.name.as_str(),
        json!({
            "new_mx": req.new_mx,
            "move_at": req.move_at,
            "first_version": version,
        }),
        Some(peer),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        AxumJson(MoveAnswer {
            plan: Some(MoveView::new(&mv, now)),
            checks: change.checks,
        }),
    ))
}

/// Cancels the domain's active plan. The policy stays as it is now (it may still list the old
/// hosts next to the new ones, with `max_age` lowered): edit it if that is not what you want.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenant}/domains/{name}/mx-move",
    operation_id = "cancelMxMove",
    tag = "policies",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    responses(
        (status = 200, description = "Cancelled", body = MoveAnswer),
        (status = 404, description = "No move is planned (`not_found`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn cancel(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<MoveAnswer>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Write).await?;
    let domain = load(&state, &access, &name).await?;
    let store = &state.inner.store;
    let now = OffsetDateTime::now_utc();
    if !store
        .cancel_mx_move(&access.tenant, &domain.id, now)
        .await?
    {
        return Err(ApiError::not_found("planned move"));
    }
    record(
        &state,
        Some(&access.tenant),
        &access.principal.actor(),
        "domain.mx_move_cancelled",
        domain.name.as_str(),
        json!({}),
        Some(peer),
    )
    .await;
    let mv = store.mx_move(&access.tenant, &domain.id).await?;
    Ok(AxumJson(MoveAnswer {
        plan: mv.as_ref().map(|m| MoveView::new(m, now)),
        checks: Vec::new(),
    }))
}

fn planned_already() -> ApiError {
    ApiError::conflict(
        "move_planned",
        "a move is planned already for this domain; cancel it first to plan another",
    )
}

fn patterns(raw: &[String]) -> Result<Vec<MxPattern>, ApiError> {
    if raw.len() > Policy::MAX_MX {
        return Err(ApiError::invalid_field(
            "new_mx",
            format!("at most {} patterns", Policy::MAX_MX),
        ));
    }
    raw.iter()
        .enumerate()
        .map(|(i, p)| {
            MxPattern::from_str(p.trim())
                .map_err(|e| ApiError::invalid_field(&format!("new_mx[{i}]"), e.to_string()))
        })
        .collect()
}

fn plan_error(e: MovePlanError) -> ApiError {
    match e {
        MovePlanError::ModeNone => ApiError::conflict("mode_none", e.to_string()),
        MovePlanError::TooSoon | MovePlanError::TooLate => {
            ApiError::invalid_field("move_at", e.to_string())
        }
        MovePlanError::NoNewMx | MovePlanError::Unchanged | MovePlanError::Policy(_) => {
            ApiError::invalid_field("new_mx", e.to_string())
        }
    }
}
