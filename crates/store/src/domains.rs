//! Domain registrations and their state.

use std::fmt;
use std::str::FromStr;

use stsd_core::{DomainName, Label};
use time::OffsetDateTime;

use crate::Result;
use crate::all_tenants::{AllTenants, domain_of_tenant};
use crate::clock::{from_ms, from_ms_opt, now, to_ms};
use crate::db::Store;
use crate::error::{StoreError, corrupt};
use crate::feed::{self, ChangeKind};
use crate::ids::{DomainId, TenantId, random_label};

/// Where a registration stands (DESIGN.md, data flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainState {
    /// Registered; the customer's records are not verified yet.
    Pending,
    /// Ownership and the `mta-sts` CNAME check out; waiting for a certificate.
    Verified,
    /// Certificate stored; the policy is served.
    Active,
    /// A record or the certificate broke; still served during the grace period.
    Degraded,
    /// Ownership gone past the grace period: not served, data kept.
    Detached,
    /// Being removed: serving `mode: none` until senders' caches expire.
    Offboarding,
    /// Gone; kept only for history and id uniqueness.
    Removed,
}

impl DomainState {
    /// Every state, in lifecycle order.
    pub const ALL: [DomainState; 7] = [
        DomainState::Pending,
        DomainState::Verified,
        DomainState::Active,
        DomainState::Degraded,
        DomainState::Detached,
        DomainState::Offboarding,
        DomainState::Removed,
    ];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainState::Pending => "pending",
            DomainState::Verified => "verified",
            DomainState::Active => "active",
            DomainState::Degraded => "degraded",
            DomainState::Detached => "detached",
            DomainState::Offboarding => "offboarding",
            DomainState::Removed => "removed",
        }
    }
}

impl fmt::Display for DomainState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DomainState {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        DomainState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown domain state `{s}`"))
    }
}

/// How ownership of a registration is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// `_mta-sts.<domain>` is a CNAME to this registration's label (the default).
    Cname,
    /// The customer publishes the `_mta-sts` TXT themselves and proves ownership once with
    /// `_mta-sts-verify.<domain>` TXT `stsd-verify=<label>`.
    Txt,
}

impl Ownership {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Ownership::Cname => "cname",
            Ownership::Txt => "txt",
        }
    }
}

impl FromStr for Ownership {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cname" => Ok(Ownership::Cname),
            "txt" => Ok(Ownership::Txt),
            _ => Err(format!("unknown ownership mode `{s}` (cname, txt)")),
        }
    }
}

/// One registration of a domain name by a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// The registration's id.
    pub id: DomainId,
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The normalized name (A-labels, no trailing dot).
    pub name: DomainName,
    /// The random label the customer's CNAMEs point at; never reused.
    pub label: Label,
    /// How ownership is proven.
    pub ownership: Ownership,
    /// Lifecycle state.
    pub state: DomainState,
    /// Registration time.
    pub created_at: OffsetDateTime,
    /// Last change of any column.
    pub updated_at: OffsetDateTime,
    /// When `state` was last changed.
    pub state_changed_at: OffsetDateTime,
    /// The policy version the edges serve.
    pub live_version_id: Option<String>,
    /// The policy version whose id DNS publishes.
    pub dns_version_id: Option<String>,
    /// For offboarding: when serving may stop (RFC 8461 §8.3).
    pub serve_until: Option<OffsetDateTime>,
    /// The latest check results as JSON, written by the verifier.
    pub last_checks: Option<String>,
    /// When the checks last ran.
    pub last_checked_at: Option<OffsetDateTime>,
    /// Report destinations (`rua` URIs in record form) the hosted `_smtp._tls` record lists
    /// next to stsd's: the customer's own, kept from before stsd.
    pub extra_rua: Vec<String>,
}

/// A recorded state transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub from: DomainState,
    /// State after.
    pub to: DomainState,
    /// Why, in plain language.
    pub reason: String,
    /// When.
    pub at: OffsetDateTime,
}

/// Which registrations a listing returns.
#[derive(Debug, Clone, Default)]
pub struct DomainFilter {
    /// Only this state.
    pub state: Option<DomainState>,
    /// Only names containing this text.
    pub name_contains: Option<String>,
    /// Only registrations whose newest policy version has this mode.
    pub mode: Option<stsd_core::Mode>,
    /// Only names sorting after this one (keyset cursor).
    pub after_name: Option<String>,
    /// Include removed registrations.
    pub include_removed: bool,
}

#[derive(sqlx::FromRow)]
struct DomainRow {
    id: String,
    tenant_id: String,
    name: String,
    label: String,
    ownership: String,
    state: String,
    created_at: i64,
    updated_at: i64,
    state_changed_at: i64,
    live_version_id: Option<String>,
    dns_version_id: Option<String>,
    serve_until: Option<i64>,
    last_checks: Option<String>,
    last_checked_at: Option<i64>,
    extra_rua: String,
}

const DOMAIN_COLUMNS: &str = "id, tenant_id, name, label, ownership, state, created_at, \
    updated_at, state_changed_at, live_version_id, dns_version_id, serve_until, last_checks, \
    last_checked_at, extra_rua";

impl TryFrom<DomainRow> for Domain {
    type Error = StoreError;
    fn try_from(r: DomainRow) -> Result<Domain> {
        Ok(Domain {
            id: DomainId::from_raw(r.id),
            tenant_id: TenantId::from_raw(r.tenant_id),
            name: DomainName::parse_host(&r.name).map_err(|e| corrupt("domain name")(&e))?,
            label: Label::from_str(&r.label).map_err(|e| corrupt("label")(&e))?,
            ownership: r
                .ownership
                .parse()
                .map_err(|e: String| corrupt("ownership")(&e))?,
            state: r.state.parse().map_err(|e: String| corrupt("state")(&e))?,
            created_at: from_ms(r.created_at)?,
            updated_at: from_ms(r.updated_at)?,
            state_changed_at: from_ms(r.state_changed_at)?,
            live_version_id: r.live_version_id,
            dns_version_id: r.dns_version_id,
            serve_until: from_ms_opt(r.serve_until)?,
            last_checks: r.last_checks,
            last_checked_at: from_ms_opt(r.last_checked_at)?,
            extra_rua: split_rua(&r.extra_rua),
        })
    }
}

/// The stored list of `rua` URIs: separated by spaces, which a URI in record form never holds.
pub(crate) fn split_rua(stored: &str) -> Vec<String> {
    stored.split_whitespace().map(str::to_owned).collect()
}

fn sql(s: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(s)
}

impl Store {
    /// Registers `name` for `tenant` with a fresh label, in state `pending`. A tenant can hold
    /// one live registration of a name; other tenants may register the same name.
    pub async fn create_domain(
        &self,
        tenant: &TenantId,
        name: &DomainName,
        ownership: Ownership,
    ) -> Result<Domain> {
        // A label collision is astronomically unlikely but must not become an error.
        for _ in 0..4 {
            let label = random_label()?;
            match self.insert_domain(tenant, name, &label, ownership).await {
                Err(StoreError::Conflict("label")) => continue,
                other => return other,
            }
        }
        Err(StoreError::Conflict("label"))
    }

    async fn insert_domain(
        &self,
        tenant: &TenantId,
        name: &DomainName,
        label: &Label,
        ownership: Ownership,
    ) -> Result<Domain> {
        let at = now();
        let id = DomainId::generate();
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO domains (id, tenant_id, name, label, ownership, state, created_at,
                                  updated_at, state_changed_at, sort_key)
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6, $7)",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .bind(name.as_str())
        .bind(label.as_str())
        .bind(ownership.as_str())
        .bind(to_ms(at))
        .bind(name.sort_key())
        .execute(&mut *tx)
        .await;
        if let Err(sqlx::Error::Database(db)) = &inserted
            && db.is_unique_violation()
        {
            let msg = db.message().to_owned();
            // Both engines name the violated column or index in the message.
            return Err(if msg.contains("label") {
                StoreError::Conflict("label")
            } else {
                StoreError::Conflict("registration of this domain in this tenant")
            });
        }
        inserted?;
        feed::append(&mut tx, self.backend, ChangeKind::Domain, Some(&id), at).await?;
        tx.commit().await?;
        self.changed_locally();
        Ok(Domain {
            id,
            tenant_id: tenant.clone(),
            name: name.clone(),
            label: label.clone(),
            ownership,
            state: DomainState::Pending,
            created_at: at,
            updated_at: at,
            state_changed_at: at,
            live_version_id: None,
            dns_version_id: None,
            serve_until: None,
            last_checks: None,
            last_checked_at: None,
            extra_rua: Vec::new(),
        })
    }

    /// Sets the report destinations the hosted `_smtp._tls` record lists next to stsd's (`rua`
    /// URIs in record form, validated by the caller) on the tenant's registration `id`, and
    /// tells the edges' DNS. `None` when `id` names nothing of the tenant's.
    pub async fn set_extra_rua(
        &self,
        tenant: &TenantId,
        id: &DomainId,
        rua: &[String],
    ) -> Result<Option<Domain>> {
        let at = now();
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "UPDATE domains SET extra_rua = $1, updated_at = $2
             WHERE id = $3 AND tenant_id = $4 AND state <> 'removed'",
        )
        .bind(rua.join(" "))
        .bind(to_ms(at))
        .bind(id.as_str())
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        feed::append(&mut tx, self.backend, ChangeKind::Domain, Some(id), at).await?;
        tx.commit().await?;
        self.changed_locally();
        self.domain_by_id(tenant, id).await
    }

    /// The tenant's live (not removed) registration of `name`.
    pub async fn domain(&self, tenant: &TenantId, name: &DomainName) -> Result<Option<Domain>> {
        let row: Option<DomainRow> = sqlx::query_as(sql(format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains
             WHERE tenant_id = $1 AND name = $2 AND state <> 'removed'"
        )))
        .bind(tenant.as_str())
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(Domain::try_from).transpose()
    }

    /// The tenant's registration with this id (removed ones included); `None` when the id
    /// names nothing or another tenant's registration.
    pub async fn domain_by_id(&self, tenant: &TenantId, id: &DomainId) -> Result<Option<Domain>> {
        let row: Option<DomainRow> = sqlx::query_as(sql(format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains WHERE id = $1 AND tenant_id = $2"
        )))
        .bind(id.as_str())
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(Domain::try_from).transpose()
    }

    /// A page of the tenant's registrations ordered by name, at most `limit` (1…500).
    pub async fn list_domains(
        &self,
        tenant: &TenantId,
        filter: &DomainFilter,
        limit: i64,
    ) -> Result<Vec<Domain>> {
        let mut q = format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE tenant_id = $1");
        let mut n = 1;
        let mut next = || {
            n += 1;
            n
        };
        if let Some(_state) = filter.state {
            q.push_str(&format!(" AND state = ${}", next()));
        } else if !filter.include_removed {
            q.push_str(" AND state <> 'removed'");
        }
        if filter.name_contains.is_some() {
            q.push_str(&format!(" AND name LIKE ${} ESCAPE '\\'", next()));
        }
        if filter.mode.is_some() {
            q.push_str(&format!(
                " AND (SELECT pv.mode FROM policy_versions pv WHERE pv.domain_id = domains.id
                       ORDER BY pv.created_at DESC, pv.policy_id DESC LIMIT 1) = ${}",
                next()
            ));
        }
        if filter.after_name.is_some() {
            let (k, n) = (next(), next());
            q.push_str(&format!(
                " AND (sort_key > ${k} OR (sort_key = ${k} AND name > ${n}))"
            ));
        }
        q.push_str(&format!(" ORDER BY sort_key, name, id LIMIT ${}", next()));
        let mut query = sqlx::query_as::<_, DomainRow>(sql(q)).bind(tenant.as_str());
        if let Some(state) = filter.state {
            query = query.bind(state.as_str());
        }
        if let Some(text) = &filter.name_contains {
            query = query.bind(format!("%{}%", escape_like(&text.to_lowercase())));
        }
        if let Some(mode) = filter.mode {
            query = query.bind(mode.as_str());
        }
        if let Some(after) = &filter.after_name {
            // The cursor is the last name of the previous page; its key is derived again.
            let key =
                DomainName::parse_host(after).map_or_else(|_| after.clone(), |n| n.sort_key());
            query = query.bind(key).bind(after.clone());
        }
        let rows = query
            .bind(limit.clamp(1, 500))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Domain::try_from).collect()
    }

    /// Moves the tenant's registration from `from` to `to`, recording the transition and
    /// appending to the change feed. Fails with [`StoreError::StateMismatch`] when the state
    /// is no longer `from` (another worker got there first), and with
    /// [`StoreError::NotFound`] when the id names no registration of the tenant.
    pub async fn transition_domain(
        &self,
        tenant: &TenantId,
        id: &DomainId,
        from: DomainState,
        to: DomainState,
        reason: &str,
    ) -> Result<Domain> {
        self.transition(Some(tenant), id, from, to, reason, false)
            .await
    }

    /// `tenant`: the tenant the registration must belong to, or `None` for [`AllTenants`].
    async fn transition(
        &self,
        tenant: Option<&TenantId>,
        id: &DomainId,
        from: DomainState,
        to: DomainState,
        reason: &str,
        relaxed: bool,
    ) -> Result<Domain> {
        let at = now();
        let mut tx = if relaxed {
            self.begin_relaxed().await?
        } else {
            self.begin().await?
        };
        let wall = if tenant.is_some() {
            " AND tenant_id = $5"
        } else {
            ""
        };
        let updated = sqlx::query(sql(format!(
            "UPDATE domains SET state = $1, state_changed_at = $2, updated_at = $2
             WHERE id = $3 AND state = $4{wall}"
        )))
        .bind(to.as_str())
        .bind(to_ms(at))
        .bind(id.as_str())
        .bind(from.as_str());
        let updated = match tenant {
            Some(t) => updated.bind(t.as_str()),
            None => updated,
        };
        let updated = updated.execute(&mut *tx).await?;
        if updated.rows_affected() == 0 {
            // Another tenant's registration is "not found", never "in another state".
            let wall = if tenant.is_some() {
                " AND tenant_id = $2"
            } else {
                ""
            };
            let actual = sqlx::query_scalar::<_, String>(sql(format!(
                "SELECT state FROM domains WHERE id = $1{wall}"
            )))
            .bind(id.as_str());
            let actual = match tenant {
                Some(t) => actual.bind(t.as_str()),
                None => actual,
            };
            let actual = actual.fetch_optional(&mut *tx).await?;
            return Err(match actual {
                None => StoreError::NotFound("domain"),
                Some(actual) => StoreError::StateMismatch {
                    what: "domain",
                    expected: from.to_string(),
                    actual,
                },
            });
        }
        sqlx::query(
            "INSERT INTO domain_transitions (domain_id, from_state, to_state, reason, at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.as_str())
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(reason)
        .bind(to_ms(at))
        .execute(&mut *tx)
        .await?;
        let row: DomainRow = sqlx::query_as(sql(format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let domain = Domain::try_from(row)?;
        // Audited and announced in the same transaction: a committed transition is never
        // missing from the log or the webhooks, a rolled-back one never in them.
        let details =
            serde_json::json!({ "from": from.as_str(), "to": to.as_str(), "reason": reason });
        sqlx::query(
            "INSERT INTO audit_log (tenant_id, actor, action, target, details, client_ip, at)
             VALUES ($1, 'system', 'domain.transition', $2, $3, NULL, $4)",
        )
        .bind(domain.tenant_id.as_str())
        .bind(domain.name.as_str())
        .bind(details.to_string())
        .bind(to_ms(at))
        .execute(&mut *tx)
        .await?;
        let event = serde_json::json!({
            "event": "domain.state_changed",
            "domain": domain.name.as_str(),
            "from": from.as_str(),
            "to": to.as_str(),
            "reason": reason,
            "at": at.unix_timestamp(),
        });
        crate::webhooks::enqueue(
            &mut tx,
            &domain.tenant_id,
            "domain.state_changed",
            &event.to_string(),
        )
        .await?;
        // Last: appending takes the feed's lock (PostgreSQL), held until the commit, so
        // every other feed writer waits only for this one's commit, not its other writes.
        feed::append(&mut tx, self.backend, ChangeKind::Domain, Some(id), at).await?;
        tx.commit().await?;
        self.changed_locally();
        Ok(domain)
    }

    /// The transitions of the tenant's registration, oldest first; none for an id that names
    /// another tenant's.
    pub async fn transitions(&self, tenant: &TenantId, id: &DomainId) -> Result<Vec<Transition>> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(sql(format!(
            "SELECT from_state, to_state, reason, at FROM domain_transitions
             WHERE domain_id = $1 AND {} ORDER BY id",
            domain_of_tenant(1, 2)
        )))
        .bind(id.as_str())
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(from, to, reason, at)| {
                Ok(Transition {
                    from: from.parse().map_err(|e: String| corrupt("state")(&e))?,
                    to: to.parse().map_err(|e: String| corrupt("state")(&e))?,
                    reason,
                    at: from_ms(at)?,
                })
            })
            .collect()
    }

    /// How many live (not removed) registrations the tenant has, for its quota.
    pub async fn count_domains(&self, tenant: &TenantId) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM domains WHERE tenant_id = $1 AND state <> 'removed'",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.pool)
        .await?)
    }

    /// Sets until when the tenant's offboarding registration must keep serving (RFC 8461
    /// §8.3).
    pub async fn set_serve_until(
        &self,
        tenant: &TenantId,
        id: &DomainId,
        until: Option<OffsetDateTime>,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE domains SET serve_until = $1, updated_at = $2 WHERE id = $3 AND tenant_id = $4",
        )
        .bind(until.map(to_ms))
        .bind(to_ms(now()))
        .bind(id.as_str())
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("domain"));
        }
        Ok(())
    }
}

impl Store {
    /// Fills in the sort key of registrations made before it existed (run by `migrate`).
    /// Returns how many were filled.
    pub(crate) async fn backfill_sort_keys(&self) -> Result<u64> {
        let mut filled = 0;
        loop {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT id, name FROM domains WHERE sort_key IS NULL LIMIT 500")
                    .fetch_all(&self.pool)
                    .await?;
            if rows.is_empty() {
                return Ok(filled);
            }
            for (id, raw) in rows {
                let key =
                    DomainName::parse_host(&raw).map_or_else(|_| raw.clone(), |n| n.sort_key());
                sqlx::query("UPDATE domains SET sort_key = $1 WHERE id = $2")
                    .bind(key)
                    .bind(&id)
                    .execute(&self.pool)
                    .await?;
                filled += 1;
            }
        }
    }
}

impl AllTenants<'_> {
    /// A registration by id, whatever its tenant: for the verifier and the certificate
    /// worker, which are handed ids by their job queues.
    pub async fn domain_by_id(&self, id: &DomainId) -> Result<Option<Domain>> {
        let row: Option<DomainRow> = sqlx::query_as(sql(format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.store.pool)
        .await?;
        row.map(Domain::try_from).transpose()
    }

    /// A registration by its label, whatever its tenant: the label is what DNS queries and
    /// report addresses carry, and it alone names the registration.
    pub async fn domain_by_label(&self, label: &Label) -> Result<Option<Domain>> {
        let row: Option<DomainRow> = sqlx::query_as(sql(format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains WHERE label = $1"
        )))
        .bind(label.as_str())
        .fetch_optional(&self.store.pool)
        .await?;
        row.map(Domain::try_from).transpose()
    }

    /// [`Store::transition_domain`] for the workers, whatever the registration's tenant.
    pub async fn transition_domain(
        &self,
        id: &DomainId,
        from: DomainState,
        to: DomainState,
        reason: &str,
    ) -> Result<Domain> {
        self.store
            .transition(None, id, from, to, reason, false)
            .await
    }

    /// [`AllTenants::transition_domain`] for the verifier's own decisions, which it makes
    /// again at the next check should a power failure lose one: the commit does not wait
    /// for the disk ([`Store::begin_relaxed`]). Requests of users use
    /// [`Store::transition_domain`].
    pub async fn transition_domain_relaxed(
        &self,
        id: &DomainId,
        from: DomainState,
        to: DomainState,
        reason: &str,
    ) -> Result<Domain> {
        self.store
            .transition(None, id, from, to, reason, true)
            .await
    }

    /// Offboarding registrations of every tenant whose serving period ended before `at`: the
    /// verifier's sweep.
    pub async fn offboarding_done(&self, at: OffsetDateTime) -> Result<Vec<DomainId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            // Only once the `mode: none` version is live on every edge and its id in DNS
            // (which is when `serve_until` is counted from, `set_dns_version`): a domain
            // whose none version a lagging edge has not applied stays.
            "SELECT d.id FROM domains d JOIN policy_versions v ON v.id = d.dns_version_id
             WHERE d.state = 'offboarding' AND d.serve_until IS NOT NULL
               AND d.serve_until <= $1 AND v.mode = 'none' AND v.dns_at IS NOT NULL
               AND d.live_version_id = d.dns_version_id
             ORDER BY d.id",
        )
        .bind(to_ms(at))
        .fetch_all(&self.store.pool)
        .await?;
        Ok(ids.into_iter().map(DomainId::from_raw).collect())
    }

    /// Deletes a removed registration's certificates and private keys, and its pending jobs
    /// and challenges: nothing of it is served or renewed again. Returns the certificates
    /// deleted. Refuses registrations that are not removed. For the verifier, whatever the
    /// registration's tenant.
    pub async fn purge_removed(&self, id: &DomainId) -> Result<u64> {
        let mut tx = self.store.begin().await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM domains WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        match state.as_deref() {
            None => return Err(StoreError::NotFound("domain")),
            Some("removed") => {}
            Some(actual) => {
                return Err(StoreError::StateMismatch {
                    what: "domain",
                    expected: "removed".to_owned(),
                    actual: actual.to_owned(),
                });
            }
        }
        let certs = sqlx::query("DELETE FROM certificates WHERE domain_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM acme_challenges WHERE domain_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM jobs WHERE subject = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        feed::append(
            &mut tx,
            self.store.backend,
            ChangeKind::Certificate,
            Some(id),
            now(),
        )
        .await?;
        tx.commit().await?;
        self.store.changed_locally();
        Ok(certs)
    }

    /// Stores the verifier's latest check results (JSON) for a registration, as of `started`:
    /// when the run that produced them began asking DNS, so that "results newer than my
    /// request" means results of lookups made after it. For the verifier, whatever the
    /// registration's tenant.
    pub async fn record_checks(
        &self,
        id: &DomainId,
        checks_json: &str,
        started: OffsetDateTime,
    ) -> Result<()> {
        let at = to_ms(started);
        let mut tx = self.store.begin_relaxed().await?;
        let done = sqlx::query(
            "UPDATE domains SET last_checks = $1, last_checked_at = $2, updated_at = $2 WHERE id = $3",
        )
        .bind(checks_json)
        .bind(at)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("domain"));
        }
        Ok(())
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for s in DomainState::ALL {
            assert_eq!(s.as_str().parse::<DomainState>().unwrap(), s);
        }
        assert!("bogus".parse::<DomainState>().is_err());
    }

    #[test]
    fn like_escaping() {
        assert_eq!(escape_like("a_b%c\\"), "a\\_b\\%c\\\\");
    }
}
