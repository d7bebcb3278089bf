//! The worker's part of a planned move to new MX hosts ([`stsd_core::MovePlan`]): when a
//! step is due, publish its version. The shorten step lowers `max_age`; the finish step drops
//! the old patterns, and only once the domain's MX records name no old host — a move that
//! slipped holds the plan rather than making senders refuse the hosts still in use.

use crate::dns::MxAnswer;
use stsd_core::{Mode, MovePlan, MoveStep};
use stsd_store::{DomainState, MxMove, Store, TenantId};
use time::OffsetDateTime;

use crate::config::VerifierConfig;
use crate::error::VerifyError;

/// The author of the versions the worker publishes for a plan.
pub const MOVE_AUTHOR: &str = "stsd (planned MX move)";

/// Runs every step of a planned move that is due at `now`. Returns how many versions were
/// published. A plan whose registration left service, or whose policy was switched to
/// `none` meanwhile, is cancelled.
pub async fn advance_mx_moves(
    store: &Store,
    cfg: &VerifierConfig,
    now: OffsetDateTime,
) -> Result<usize, VerifyError> {
    let mut published = 0;
    for (tenant, mv) in store.all_tenants().due_mx_moves(now).await? {
        match advance(store, cfg, &tenant, &mv, now).await {
            Ok(true) => published += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(domain = %mv.domain_id, error = %err, "planned MX move step failed");
            }
        }
    }
    Ok(published)
}

async fn advance(
    store: &Store,
    cfg: &VerifierConfig,
    tenant: &TenantId,
    mv: &MxMove,
    now: OffsetDateTime,
) -> Result<bool, VerifyError> {
    let Some(step) = mv.next_step() else {
        return Ok(false);
    };
    let domain = store
        .domain_by_id(tenant, &mv.domain_id)
        .await?
        .ok_or_else(|| VerifyError::DomainNotFound(mv.domain_id.to_string()))?;
    let latest = store.latest_policy_version(tenant, &domain.id).await?;
    let latest = match latest {
        Some(v) if v.policy.mode() != Mode::None => v.policy,
        _ => {
            store.cancel_mx_move(tenant, &domain.id, now).await?;
            return Ok(false);
        }
    };
    if matches!(
        domain.state,
        DomainState::Offboarding | DomainState::Removed
    ) {
        store.cancel_mx_move(tenant, &domain.id, now).await?;
        return Ok(false);
    }
    if step == MoveStep::Finish
        && let Some(waiting) = not_moved_yet(cfg, &mv.plan, domain.name.as_str()).await
    {
        if mv.waiting.as_deref() != Some(waiting.as_str()) {
            store
                .set_move_waiting(tenant, &domain.id, Some(&waiting))
                .await?;
        }
        return Ok(false);
    }
    let Some(policy) = mv.plan.policy_after(step, &latest).map_err(|e| {
        VerifyError::Config(format!("the planned move's {} step: {e}", step.as_str()))
    })?
    else {
        return Ok(false);
    };
    let outcome = store
        .create_policy_version(tenant, &domain.id, &policy, MOVE_AUTHOR)
        .await?;
    if !store
        .record_move_step(tenant, &domain.id, step, &outcome.version.id, now)
        .await?
    {
        return Ok(false);
    }
    if outcome.created
        && let Err(err) = store.publish_latest(tenant, &domain.id).await
    {
        tracing::warn!(domain = %domain.name, error = %err, "cannot publish the planned version now; the publisher will");
    }
    tracing::info!(
        domain = %domain.name,
        step = step.as_str(),
        version = %outcome.version.id,
        "planned MX move step published"
    );
    Ok(outcome.created)
}

/// Why the finish step cannot run yet: the MX records still name hosts no new pattern
/// matches, or they could not be read. `None` when every MX host is a new one.
async fn not_moved_yet(cfg: &VerifierConfig, plan: &MovePlan, name: &str) -> Option<String> {
    match cfg.dns().mx(name).await {
        Ok(MxAnswer::Hosts(hosts)) => {
            let old = plan.not_moved(&hosts);
            (!old.is_empty()).then(|| {
                format!(
                    "the MX records still name {}, which the new patterns do not cover; the \
                     final version drops the old hosts only once the MX records point at the \
                     new ones",
                    old.join(", ")
                )
            })
        }
        Ok(MxAnswer::NoMx | MxAnswer::NullMx) => Some(
            "the domain has no usable MX records now; the final version waits until they \
             name the new hosts"
                .into(),
        ),
        Err(e) => Some(format!(
            "the MX records could not be read ({}); trying again shortly",
            e.detail
        )),
    }
}
