//! Planned moves to new MX hosts ([`stsd_core::MovePlan`]): the plan of a registration, the
//! versions its steps published and what its last step waits for. The API makes a plan and
//! publishes its first version; the verifier's worker runs the later steps when they are due.

use std::str::FromStr;

use stsd_core::{MaxAge, MovePlan, MoveStep, MxPattern};
use time::OffsetDateTime;

use crate::Result;
use crate::all_tenants::{AllTenants, domain_of_tenant, tenant_owns_domain};
use crate::clock::{from_ms, from_ms_opt, to_ms};
use crate::db::Store;
use crate::error::{StoreError, corrupt};
use crate::ids::{DomainId, TenantId};

/// Where a planned move stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveState {
    /// Steps are still to come.
    Active,
    /// The final version was published.
    Done,
    /// Stopped before the end (by a user, or because the registration left service).
    Cancelled,
}

impl MoveState {
    /// The state as stored and shown (`active`, `done`, `cancelled`).
    pub fn as_str(self) -> &'static str {
        match self {
            MoveState::Active => "active",
            MoveState::Done => "done",
            MoveState::Cancelled => "cancelled",
        }
    }
}

impl FromStr for MoveState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(MoveState::Active),
            "done" => Ok(MoveState::Done),
            "cancelled" => Ok(MoveState::Cancelled),
            other => Err(corrupt("move state")(&other)),
        }
    }
}

/// A registration's planned move and its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxMove {
    /// The registration.
    pub domain_id: DomainId,
    /// The plan: patterns, dates, `max_age`.
    pub plan: MovePlan,
    /// Who made it (a user id, a token id).
    pub created_by: String,
    /// Where it stands.
    pub state: MoveState,
    /// The version the cover step published.
    pub cover_version: Option<String>,
    /// The version the shorten step published (the cover version when both were one).
    pub shorten_version: Option<String>,
    /// When the shorten step ran.
    pub shortened_at: Option<OffsetDateTime>,
    /// The version the finish step published.
    pub finish_version: Option<String>,
    /// When the plan was done or cancelled.
    pub ended_at: Option<OffsetDateTime>,
    /// What the finish step waits for (MX records still naming old hosts), if it waits.
    pub waiting: Option<String>,
}

impl MxMove {
    /// The next step to run, if the plan is active; [`MoveStep::Move`] is the customer's.
    pub fn next_step(&self) -> Option<MoveStep> {
        if self.state != MoveState::Active {
            return None;
        }
        if self.cover_version.is_none() {
            Some(MoveStep::Cover)
        } else if self.shorten_version.is_none() {
            Some(MoveStep::Shorten)
        } else {
            Some(MoveStep::Finish)
        }
    }
}

#[derive(sqlx::FromRow)]
struct MoveRow {
    domain_id: String,
    old_mx: String,
    new_mx: String,
    original_max_age: i64,
    created_ms: i64,
    move_ms: i64,
    created_by: String,
    state: String,
    cover_version: Option<String>,
    shorten_version: Option<String>,
    shortened_ms: Option<i64>,
    finish_version: Option<String>,
    ended_ms: Option<i64>,
    waiting: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DueRow {
    tenant_id: String,
    #[sqlx(flatten)]
    plan: MoveRow,
}

const COLUMNS: &str = "domain_id, old_mx, new_mx, original_max_age, created_ms, move_ms, \
     created_by, state, cover_version, shorten_version, shortened_ms, finish_version, ended_ms, \
     waiting";

fn patterns(joined: &str) -> Result<Vec<MxPattern>> {
    joined
        .lines()
        .filter(|l| !l.is_empty())
        .map(|p| MxPattern::from_str(p).map_err(|e| corrupt("mx pattern")(&e)))
        .collect()
}

fn joined(patterns: &[MxPattern]) -> String {
    patterns
        .iter()
        .map(MxPattern::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

impl TryFrom<MoveRow> for MxMove {
    type Error = StoreError;

    fn try_from(r: MoveRow) -> Result<MxMove> {
        let max_age = u32::try_from(r.original_max_age)
            .ok()
            .and_then(|s| MaxAge::new(s).ok())
            .ok_or_else(|| corrupt("max_age")(&r.original_max_age))?;
        Ok(MxMove {
            domain_id: DomainId::from_raw(r.domain_id),
            plan: MovePlan::from_parts(
                patterns(&r.old_mx)?,
                patterns(&r.new_mx)?,
                max_age,
                from_ms(r.created_ms)?,
                from_ms(r.move_ms)?,
            ),
            created_by: r.created_by,
            state: r.state.parse()?,
            cover_version: r.cover_version,
            shorten_version: r.shorten_version,
            shortened_at: from_ms_opt(r.shortened_ms)?,
            finish_version: r.finish_version,
            ended_at: from_ms_opt(r.ended_ms)?,
            waiting: r.waiting,
        })
    }
}

impl Store {
    /// The tenant's registration's latest planned move, active or ended; `None` if it never
    /// had one (or is another tenant's).
    pub async fn mx_move(&self, tenant: &TenantId, domain: &DomainId) -> Result<Option<MxMove>> {
        let row: Option<MoveRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mx_moves WHERE domain_id = $1 AND {}",
            domain_of_tenant(1, 2)
        )))
        .bind(domain.as_str())
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(MxMove::try_from).transpose()
    }

    /// Records a new plan for the tenant's registration, replacing an ended one. Fails with
    /// [`StoreError::Conflict`] while another plan is active, [`StoreError::NotFound`] for
    /// another tenant's registration.
    pub async fn start_mx_move(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        plan: &MovePlan,
        created_by: &str,
    ) -> Result<MxMove> {
        let mut tx = self.begin().await?;
        if !tenant_owns_domain(&mut tx, tenant, domain.as_str()).await? {
            return Err(StoreError::NotFound("domain"));
        }
        sqlx::query("DELETE FROM mx_moves WHERE domain_id = $1 AND state <> 'active'")
            .bind(domain.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO mx_moves (domain_id, old_mx, new_mx, original_max_age, created_ms,
                                   move_ms, created_by, state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'active')",
        )
        .bind(domain.as_str())
        .bind(joined(plan.old_mx()))
        .bind(joined(plan.new_mx()))
        .bind(i64::from(plan.original_max_age().get()))
        .bind(to_ms(plan.created_at()))
        .bind(to_ms(plan.move_at()))
        .bind(created_by)
        .execute(&mut *tx)
        .await
        .map_err(crate::error::conflict("planned move"))?;
        tx.commit().await?;
        self.mx_move(tenant, domain)
            .await?
            .ok_or(StoreError::NotFound("planned move"))
    }

    /// Records that `step` of the tenant's active plan published `version` at `at`; the
    /// finish step ends the plan. Returns `false` when the plan is not active any more (it
    /// was cancelled, or another worker ran the step).
    pub async fn record_move_step(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        step: MoveStep,
        version: &str,
        at: OffsetDateTime,
    ) -> Result<bool> {
        let set = match step {
            MoveStep::Cover => "cover_version = $3",
            MoveStep::Shorten => "shorten_version = $3, shortened_ms = $4",
            MoveStep::Move => return Ok(false),
            MoveStep::Finish => {
                "finish_version = $3, ended_ms = $4, state = 'done', waiting = NULL"
            }
        };
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE mx_moves SET {set} WHERE domain_id = $1 AND state = 'active' AND {}",
            domain_of_tenant(1, 2)
        )))
        .bind(domain.as_str())
        .bind(tenant.as_str())
        .bind(version)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets (or clears, with `None`) what the tenant's active plan waits for.
    pub async fn set_move_waiting(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        waiting: Option<&str>,
    ) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE mx_moves SET waiting = $3 WHERE domain_id = $1 AND state = 'active' AND {}",
            domain_of_tenant(1, 2)
        )))
        .bind(domain.as_str())
        .bind(tenant.as_str())
        .bind(waiting)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Cancels the tenant's active plan at `at`. Returns `false` when none is active.
    pub async fn cancel_mx_move(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        at: OffsetDateTime,
    ) -> Result<bool> {
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE mx_moves SET state = 'cancelled', ended_ms = $3, waiting = NULL
             WHERE domain_id = $1 AND state = 'active' AND {}",
            domain_of_tenant(1, 2)
        )))
        .bind(domain.as_str())
        .bind(tenant.as_str())
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl AllTenants<'_> {
    /// The active plans with a step due at `now` (shorten or finish), each with its tenant:
    /// for the verifier's worker.
    pub async fn due_mx_moves(&self, now: OffsetDateTime) -> Result<Vec<(TenantId, MxMove)>> {
        // Every step after the cover comes at or after the shorten step's date, so that
        // bounds the rows read; which step is due is decided below, from the plan. The
        // tenant comes from a scalar subquery so that the plan's columns stay unqualified
        // (`domains` has a `state` too).
        let rows: Vec<DueRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT (SELECT d.tenant_id FROM domains d WHERE d.id = m.domain_id) AS tenant_id, {COLUMNS}
             FROM mx_moves m
             WHERE m.state = 'active'
               AND EXISTS (SELECT 1 FROM domains d WHERE d.id = m.domain_id)
               AND (m.move_ms - m.original_max_age * 1000 <= $1 OR m.shorten_version IS NULL)
             ORDER BY m.move_ms"
        )))
        .bind(to_ms(now))
        .fetch_all(&self.store.pool)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        for row in rows {
            let tenant = TenantId::from_raw(row.tenant_id);
            let mv = MxMove::try_from(row.plan)?;
            let step_due = match mv.next_step() {
                Some(step @ (MoveStep::Shorten | MoveStep::Finish)) => mv.plan.due_at(step) <= now,
                _ => false,
            };
            if step_due {
                due.push((tenant, mv));
            }
        }
        Ok(due)
    }
}
