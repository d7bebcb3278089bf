//! The silent-reporter alert: an organization that usually sends TLS reports on a domain
//! (reports on at least [`USUAL_DAYS`] days of the last [`HABIT`]) and sent none for
//! [`SILENT_AFTER`] is announced once with `domain.reporters_silent`. Its mail may have stopped
//! reaching the domain, or the `_smtp._tls` record may have broken; either way nothing shows in
//! the charts, so the customer must be told.

use std::time::Duration;

use stsd_store::{Domain, DomainState, Silence, Store};
use time::OffsetDateTime;

use crate::VerifyError;

/// How far back a reporter's habit is read.
pub const HABIT: Duration = Duration::from_secs(30 * 86_400);
/// On how many distinct days a reporter must have reported to count as usual.
pub const USUAL_DAYS: i64 = 5;
/// How long without a report makes a usual reporter silent.
pub const SILENT_AFTER: Duration = Duration::from_secs(3 * 86_400);

/// Announces the usual reporters of `domain` that went silent by `now`, once per silence, and
/// forgets silences that ended. Only served domains (active, degraded) are watched. Returns
/// the organizations announced by this call.
pub async fn check_reporters(
    store: &Store,
    domain: &Domain,
    now: OffsetDateTime,
) -> Result<Vec<String>, VerifyError> {
    if !matches!(domain.state, DomainState::Active | DomainState::Degraded) {
        return Ok(Vec::new());
    }
    let activity = store
        .reporter_activity(&domain.tenant_id, &domain.id, now - HABIT)
        .await?;
    let silent: Vec<_> = activity
        .iter()
        .filter(|a| a.days >= USUAL_DAYS && now - a.last_received >= SILENT_AFTER)
        .collect();
    let announced = store
        .reporter_silences(&domain.tenant_id, &domain.id)
        .await?;
    let new: Vec<_> = silent
        .iter()
        .filter(|a| {
            !announced
                .iter()
                .any(|s| s.organization == a.organization && s.last_received == a.last_received)
        })
        .collect();
    if !new.is_empty() {
        let reporters: Vec<serde_json::Value> = new
            .iter()
            .map(|a| {
                serde_json::json!({
                    "organization": a.organization,
                    "last_report_at": a.last_received.unix_timestamp(),
                    "days_reported": a.days,
                })
            })
            .collect();
        tracing::warn!(domain = %domain.name, reporters = ?new.iter().map(|a| &a.organization).collect::<Vec<_>>(), "usual TLS reporters went silent");
        let body = serde_json::json!({
            "event": "domain.reporters_silent",
            "domain": domain.name.as_str(),
            "reporters": reporters,
            "explanation": format!(
                "these organizations sent TLS reports on at least {USUAL_DAYS} of the last {} days \
                 and none for {} days: their mail may no longer reach the domain, or its \
                 _smtp._tls record may be broken",
                HABIT.as_secs() / 86_400,
                SILENT_AFTER.as_secs() / 86_400
            ),
            "fix": "check the domain's _smtp._tls record (stsd's checks show it) and whether mail \
                    from these senders still arrives",
            "at": now.unix_timestamp(),
        });
        store
            .enqueue_event(
                &domain.tenant_id,
                "domain.reporters_silent",
                &body.to_string(),
            )
            .await?;
    }
    let now_silent: Vec<Silence> = silent
        .iter()
        .map(|a| Silence {
            organization: a.organization.clone(),
            last_received: a.last_received,
        })
        .collect();
    if now_silent != announced {
        store
            .set_reporter_silences(&domain.tenant_id, &domain.id, &now_silent)
            .await?;
    }
    Ok(new.iter().map(|a| a.organization.clone()).collect())
}
