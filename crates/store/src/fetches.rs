//! Policy fetch statistics, written in batches by the edges.

use std::collections::BTreeSet;

use crate::Result;
use crate::all_tenants::{AllTenants, domain_of_tenant};
use crate::db::{Backend, Store};
use crate::error::corrupt;
use crate::ids::{DomainId, TenantId};

/// Most distinct networks kept per registration and day.
pub const MAX_NETWORKS_PER_DAY: usize = 1000;

/// Fetches of one registration's policy on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFetches {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// How many fetches.
    pub fetches: i64,
    /// Distinct sending networks (IPv4 /24, IPv6 /48), at most [`MAX_NETWORKS_PER_DAY`].
    pub networks: Vec<String>,
}

fn parse_networks(json: &str) -> Result<BTreeSet<String>> {
    // A JSON array of strings written by `render_networks`; a tiny parser keeps serde_json
    // out of the store.
    let inner = json
        .trim()
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| corrupt("network list")(&json))?;
    Ok(inner
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

fn render_networks(networks: &BTreeSet<String>) -> String {
    // Networks are written by the edge from parsed addresses: digits, dots, colons, slashes.
    let items: Vec<String> = networks
        .iter()
        .filter(|n| {
            n.bytes()
                .all(|b| b.is_ascii_hexdigit() || b"./:".contains(&b))
        })
        .map(|n| format!("\"{n}\""))
        .collect();
    format!("[{}]", items.join(","))
}

impl Store {
    /// The days of the tenant's registration from `since_day` on, newest first; none for
    /// another tenant's.
    pub async fn policy_fetches(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        since_day: i64,
    ) -> Result<Vec<PolicyFetches>> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT day, fetches, networks FROM policy_fetches
             WHERE domain_id = $1 AND day >= $2 AND {} ORDER BY day DESC",
            domain_of_tenant(1, 3)
        )))
        .bind(domain.as_str())
        .bind(since_day)
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(day, fetches, networks)| {
                Ok(PolicyFetches {
                    day,
                    fetches,
                    networks: parse_networks(&networks)?.into_iter().collect(),
                })
            })
            .collect()
    }
}

impl AllTenants<'_> {
    /// Adds `fetches` and `networks` to a registration's day, whatever its tenant: the
    /// edges count fetches by the host they served.
    pub async fn add_policy_fetches(
        &self,
        domain: &DomainId,
        day: i64,
        fetches: i64,
        networks: &BTreeSet<String>,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let lock = match self.store.backend {
            Backend::Postgres => " FOR UPDATE",
            // SQLite's BEGIN IMMEDIATE already holds the write lock.
            Backend::Sqlite => "",
        };
        let current: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT networks FROM policy_fetches WHERE domain_id = $1 AND day = $2{lock}"
        )))
        .bind(domain.as_str())
        .bind(day)
        .fetch_optional(&mut *tx)
        .await?;
        let mut merged = match current {
            Some(json) => parse_networks(&json)?,
            None => BTreeSet::new(),
        };
        for n in networks {
            if merged.len() >= MAX_NETWORKS_PER_DAY {
                break;
            }
            merged.insert(n.clone());
        }
        let done = sqlx::query(
            "INSERT INTO policy_fetches (domain_id, day, fetches, networks) VALUES ($1, $2, $3, $4)
             ON CONFLICT (domain_id, day) DO UPDATE
             SET fetches = policy_fetches.fetches + excluded.fetches, networks = excluded.networks",
        )
        .bind(domain.as_str())
        .bind(day)
        .bind(fetches)
        .bind(render_networks(&merged))
        .execute(&mut *tx)
        .await;
        match done {
            Ok(_) => {}
            // The registration was deleted meanwhile: its statistics go with it.
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_lists_round_trip() {
        let set: BTreeSet<String> = ["192.0.2.0/24", "2001:db8:1::/48"].map(String::from).into();
        assert_eq!(parse_networks(&render_networks(&set)).unwrap(), set);
        assert!(parse_networks("[]").unwrap().is_empty());
        assert!(parse_networks("nope").is_err());
        let evil: BTreeSet<String> = ["\"],x".to_owned()].into();
        assert_eq!(render_networks(&evil), "[]");
    }
}
