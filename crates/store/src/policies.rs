//! Immutable policy versions and policy-id allocation.

use std::str::FromStr;

use stsd_core::{DomainName, MaxAge, Mode, MxPattern, Policy, PolicyId};
use time::OffsetDateTime;

use crate::Result;
use crate::all_tenants::{AllTenants, domain_of_tenant};
use crate::clock::{from_ms, from_ms_opt, now, to_ms};
use crate::db::Store;
use crate::error::{StoreError, corrupt};
use crate::feed::{self, ChangeKind};
use crate::ids::{DomainId, TenantId, row_id};

/// One immutable version of a registration's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// Row id of the version.
    pub id: String,
    /// The registration it belongs to.
    pub domain_id: DomainId,
    /// The MTA-STS `id` senders see in the `_mta-sts` TXT record.
    pub policy_id: PolicyId,
    /// The policy.
    pub policy: Policy,
    /// The exact bytes served (`policy.render()` at creation).
    pub body: String,
    /// Who created it (a user id, a token id or `system`).
    pub author: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it went live on the edges.
    pub published_at: Option<OffsetDateTime>,
    /// When DNS switched to its id.
    pub dns_at: Option<OffsetDateTime>,
    /// Why an owner or admin served it in `enforce` although the readiness checks did not
    /// pass; `None` when the checks passed or did not apply.
    pub override_reason: Option<String>,
}

/// Result of [`Store::create_policy_version`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionOutcome {
    /// The new version, or the latest one when the edit changed nothing.
    pub version: PolicyVersion,
    /// False for a no-op edit: no version was created and no id rotated.
    pub created: bool,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: String,
    domain_id: String,
    policy_id: String,
    mode: String,
    mx: String,
    max_age: i64,
    body: String,
    author: String,
    created_at: i64,
    published_at: Option<i64>,
    dns_at: Option<i64>,
    override_reason: Option<String>,
}

const VERSION_COLUMNS: &str = "id, domain_id, policy_id, mode, mx, max_age, body, author, \
    created_at, published_at, dns_at, override_reason";

impl TryFrom<VersionRow> for PolicyVersion {
    type Error = StoreError;
    fn try_from(r: VersionRow) -> Result<PolicyVersion> {
        let mode = Mode::from_str(&r.mode).map_err(|e| corrupt("policy mode")(&e))?;
        let mx =
            r.mx.lines()
                .filter(|l| !l.is_empty())
                .map(|l| MxPattern::from_str(l).map_err(|e| corrupt("mx pattern")(&e)))
                .collect::<Result<Vec<_>>>()?;
        let max_age = u32::try_from(r.max_age)
            .ok()
            .and_then(|n| MaxAge::new(n).ok())
            .ok_or_else(|| corrupt("max_age")(&r.max_age))?;
        Ok(PolicyVersion {
            id: r.id,
            domain_id: DomainId::from_raw(r.domain_id),
            policy_id: PolicyId::from_str(&r.policy_id).map_err(|e| corrupt("policy id")(&e))?,
            policy: Policy::new(mode, mx, max_age).map_err(|e| corrupt("policy")(&e))?,
            body: r.body,
            author: r.author,
            created_at: from_ms(r.created_at)?,
            published_at: from_ms_opt(r.published_at)?,
            dns_at: from_ms_opt(r.dns_at)?,
            override_reason: r.override_reason,
        })
    }
}

/// What an offboarding domain keeps serving `mode: none` beyond the largest `max_age`,
/// counted from the moment its id is in DNS: the TXT record's TTL (5 minutes) and clock
/// differences, with room to spare.
const OFFBOARDING_MARGIN_MS: i64 = 3_600_000;

fn sql(s: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(s)
}

impl Store {
    /// Makes sure the next id handed out for `name` differs from `foreign`, an id the domain
    /// published before stsd (senders refetch a policy only when the id changes): `foreign`
    /// becomes the last id unless a later one was already handed out.
    pub async fn avoid_policy_id(&self, name: &DomainName, foreign: &PolicyId) -> Result<()> {
        sqlx::query(
            "INSERT INTO policy_id_sequences (domain_name, last_id) VALUES ($1, $2)
             ON CONFLICT (domain_name) DO UPDATE SET last_id = excluded.last_id
             WHERE policy_id_sequences.last_id < excluded.last_id",
        )
        .bind(name.as_str())
        .bind(foreign.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Hands out the next policy id for a domain *name*. Ids are unique per name across every
    /// registration and tenant and strictly increasing, even for many calls in one second and
    /// across nodes whose clocks differ: the last id is kept in the store and each new one is
    /// derived from it with a compare-and-swap.
    pub async fn allocate_policy_id(&self, name: &DomainName) -> Result<PolicyId> {
        loop {
            let last: Option<String> = sqlx::query_scalar(
                "SELECT last_id FROM policy_id_sequences WHERE domain_name = $1",
            )
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
            let last = last
                .map(|s| PolicyId::from_str(&s).map_err(|e| corrupt("policy id")(&e)))
                .transpose()?;
            let next = PolicyId::next(last.as_ref(), OffsetDateTime::now_utc());
            let swapped = match &last {
                None => sqlx::query(
                    "INSERT INTO policy_id_sequences (domain_name, last_id) VALUES ($1, $2)
                     ON CONFLICT (domain_name) DO NOTHING",
                )
                .bind(name.as_str())
                .bind(next.as_str())
                .execute(&self.pool)
                .await?
                .rows_affected(),
                Some(prev) => sqlx::query(
                    "UPDATE policy_id_sequences SET last_id = $1
                     WHERE domain_name = $2 AND last_id = $3",
                )
                .bind(next.as_str())
                .bind(name.as_str())
                .bind(prev.as_str())
                .execute(&self.pool)
                .await?
                .rows_affected(),
            };
            if swapped == 1 {
                return Ok(next);
            }
            // Another writer allocated in between: derive from its id instead.
        }
    }

    /// Creates a new version of the tenant's registration's policy with a fresh id, unless the
    /// policy is identical to the latest version (a no-op edit does not rotate the id). An id
    /// that names another tenant's registration is "not found".
    pub async fn create_policy_version(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        policy: &Policy,
        author: &str,
    ) -> Result<VersionOutcome> {
        let name: Option<String> =
            sqlx::query_scalar("SELECT name FROM domains WHERE id = $1 AND tenant_id = $2")
                .bind(domain.as_str())
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await?;
        let name = name.ok_or(StoreError::NotFound("domain"))?;
        let name = DomainName::parse_host(&name).map_err(|e| corrupt("domain name")(&e))?;
        let body = policy.render();
        if let Some(latest) = self.latest_policy_version(tenant, domain).await?
            && latest.body == body
        {
            return Ok(VersionOutcome {
                version: latest,
                created: false,
            });
        }
        let policy_id = self.allocate_policy_id(&name).await?;
        let version = PolicyVersion {
            id: row_id(),
            domain_id: domain.clone(),
            policy_id,
            policy: policy.clone(),
            body,
            author: author.to_owned(),
            created_at: now(),
            published_at: None,
            dns_at: None,
            override_reason: None,
        };
        let mx: Vec<&str> = policy.mx().iter().map(MxPattern::as_str).collect();
        sqlx::query(
            "INSERT INTO policy_versions (id, domain_id, policy_id, mode, mx, max_age, body,
                                          author, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&version.id)
        .bind(domain.as_str())
        .bind(version.policy_id.as_str())
        .bind(policy.mode().as_str())
        .bind(mx.join("\n"))
        .bind(i64::from(policy.max_age().get()))
        .bind(&version.body)
        .bind(author)
        .bind(to_ms(version.created_at))
        .execute(&self.pool)
        .await?;
        Ok(VersionOutcome {
            version,
            created: true,
        })
    }

    /// The versions of the tenant's registration, newest first; none for another tenant's.
    pub async fn policy_versions(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
    ) -> Result<Vec<PolicyVersion>> {
        let rows: Vec<VersionRow> = sqlx::query_as(sql(format!(
            "SELECT {VERSION_COLUMNS} FROM policy_versions WHERE domain_id = $1 AND {}
             ORDER BY created_at DESC, policy_id DESC",
            domain_of_tenant(1, 2)
        )))
        .bind(domain.as_str())
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(PolicyVersion::try_from).collect()
    }

    /// The newest version of the tenant's registration, live or not.
    pub async fn latest_policy_version(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
    ) -> Result<Option<PolicyVersion>> {
        self.latest_version(Some(tenant), domain).await
    }

    /// One version of the tenant's registration.
    pub async fn policy_version(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        version_id: &str,
    ) -> Result<Option<PolicyVersion>> {
        self.version(Some(tenant), domain, version_id).await
    }

    /// Records why a version was served in `enforce` although the readiness checks did not
    /// pass (the version of `domain` in `tenant`).
    pub async fn set_override_reason(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        version_id: &str,
        reason: &str,
    ) -> Result<()> {
        let done = sqlx::query(sql(format!(
            "UPDATE policy_versions SET override_reason = $3 WHERE domain_id = $1 AND id = $2 \
             AND {}",
            domain_of_tenant(1, 4)
        )))
        .bind(domain.as_str())
        .bind(version_id)
        .bind(reason)
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("policy version"));
        }
        Ok(())
    }

    /// `tenant`: the tenant the registration must belong to, or `None` for [`AllTenants`].
    async fn latest_version(
        &self,
        tenant: Option<&TenantId>,
        domain: &DomainId,
    ) -> Result<Option<PolicyVersion>> {
        let wall = match tenant {
            Some(_) => format!(" AND {}", domain_of_tenant(1, 2)),
            None => String::new(),
        };
        let q = sqlx::query_as::<_, VersionRow>(sql(format!(
            "SELECT {VERSION_COLUMNS} FROM policy_versions WHERE domain_id = $1{wall}
             ORDER BY created_at DESC, policy_id DESC LIMIT 1"
        )))
        .bind(domain.as_str());
        let q = match tenant {
            Some(t) => q.bind(t.as_str()),
            None => q,
        };
        let row = q.fetch_optional(&self.pool).await?;
        row.map(PolicyVersion::try_from).transpose()
    }

    /// `tenant`: the tenant the registration must belong to, or `None` for [`AllTenants`].
    async fn version(
        &self,
        tenant: Option<&TenantId>,
        domain: &DomainId,
        version_id: &str,
    ) -> Result<Option<PolicyVersion>> {
        let wall = match tenant {
            Some(_) => format!(" AND {}", domain_of_tenant(1, 3)),
            None => String::new(),
        };
        let q = sqlx::query_as::<_, VersionRow>(sql(format!(
            "SELECT {VERSION_COLUMNS} FROM policy_versions WHERE domain_id = $1 AND id = $2{wall}"
        )))
        .bind(domain.as_str())
        .bind(version_id);
        let q = match tenant {
            Some(t) => q.bind(t.as_str()),
            None => q,
        };
        let row = q.fetch_optional(&self.pool).await?;
        row.map(PolicyVersion::try_from).transpose()
    }
}

impl AllTenants<'_> {
    /// The newest version of a registration, whatever its tenant: for the publisher.
    pub async fn latest_policy_version(&self, domain: &DomainId) -> Result<Option<PolicyVersion>> {
        self.store.latest_version(None, domain).await
    }

    /// One version of a registration, whatever its tenant: for the publisher.
    pub async fn policy_version(
        &self,
        domain: &DomainId,
        version_id: &str,
    ) -> Result<Option<PolicyVersion>> {
        self.store.version(None, domain, version_id).await
    }

    /// Makes `version_id` the version the edges serve for the registration, and records the
    /// change-feed position at which it went live (DNS announces its id once every edge has
    /// reached that position). Ids only move forward: a version older than the live one is
    /// refused — going back means publishing its content again as a new version. For the
    /// publisher (and [`Store::publish_latest`]), whatever the registration's tenant.
    pub async fn set_live_version(&self, domain: &DomainId, version_id: &str) -> Result<()> {
        let at = now();
        let mut tx = self.store.begin().await?;
        let target: Option<String> = sqlx::query_scalar(
            "SELECT policy_id FROM policy_versions WHERE domain_id = $1 AND id = $2",
        )
        .bind(domain.as_str())
        .bind(version_id)
        .fetch_optional(&mut *tx)
        .await?;
        let target = target.ok_or(StoreError::NotFound("policy version"))?;
        let current: Option<String> = sqlx::query_scalar(
            "SELECT lv.policy_id FROM domains d
             JOIN policy_versions lv ON lv.id = d.live_version_id WHERE d.id = $1",
        )
        .bind(domain.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        match current {
            Some(live) if live == target => return Ok(()),
            Some(live) if target < live => {
                return Err(StoreError::StateMismatch {
                    what: "policy version",
                    expected: format!("an id after the live {live}"),
                    actual: target,
                });
            }
            _ => {}
        }
        let seq = feed::append(
            &mut tx,
            self.store.backend,
            ChangeKind::Policy,
            Some(domain),
            at,
        )
        .await?;
        sqlx::query(
            "UPDATE policy_versions SET published_at = COALESCE(published_at, $1), live_seq = $2
             WHERE domain_id = $3 AND id = $4",
        )
        .bind(to_ms(at))
        .bind(seq)
        .bind(domain.as_str())
        .bind(version_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE domains SET live_version_id = $1, updated_at = $2 WHERE id = $3")
            .bind(version_id)
            .bind(to_ms(at))
            .bind(domain.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.store.changed_locally();
        Ok(())
    }

    /// Makes DNS publish `version_id`'s id. Refused unless that version is the one the edges
    /// serve: DNS must never announce an id whose policy is not yet served. For the
    /// publisher, whatever the registration's tenant.
    pub async fn set_dns_version(&self, domain: &DomainId, version_id: &str) -> Result<()> {
        let at = now();
        let mut tx = self.store.begin().await?;
        let live: Option<Option<String>> =
            sqlx::query_scalar("SELECT live_version_id FROM domains WHERE id = $1")
                .bind(domain.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let live = live.ok_or(StoreError::NotFound("domain"))?;
        if live.as_deref() != Some(version_id) {
            return Err(StoreError::StateMismatch {
                what: "policy version",
                expected: "live on the edges".to_owned(),
                actual: "not live".to_owned(),
            });
        }
        sqlx::query(
            "UPDATE policy_versions SET dns_at = COALESCE(dns_at, $1) WHERE domain_id = $2 AND id = $3",
        )
        .bind(to_ms(at))
        .bind(domain.as_str())
        .bind(version_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE domains SET dns_version_id = $1, updated_at = $2 WHERE id = $3")
            .bind(version_id)
            .bind(to_ms(at))
            .bind(domain.as_str())
            .execute(&mut *tx)
            .await?;
        // Leaving: the window in which senders' cached policies expire starts now, when the
        // `mode: none` version is live on every edge and its id in DNS — not when the
        // customer asked (a lagging edge or publisher would otherwise eat into it). It lasts
        // the largest `max_age` ever served, plus a margin for the TXT record's TTL and
        // clocks.
        sqlx::query(
            "UPDATE domains SET serve_until = (
                 SELECT v.dns_at + 1000 * (SELECT MAX(p.max_age) FROM policy_versions p
                                           WHERE p.domain_id = v.domain_id
                                             AND p.published_at IS NOT NULL) + $3
                 FROM policy_versions v WHERE v.id = $2)
             WHERE id = $1 AND state = 'offboarding'
               AND EXISTS (SELECT 1 FROM policy_versions v WHERE v.id = $2 AND v.mode = 'none')",
        )
        .bind(domain.as_str())
        .bind(version_id)
        .bind(OFFBOARDING_MARGIN_MS)
        .execute(&mut *tx)
        .await?;
        feed::append(
            &mut tx,
            self.store.backend,
            ChangeKind::Dns,
            Some(domain),
            at,
        )
        .await?;
        tx.commit().await?;
        self.store.changed_locally();
        Ok(())
    }
}
