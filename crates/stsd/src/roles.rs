//! Which roles a process runs: `stsd serve` runs them all, `stsd api|worker|edge|dns|smtp`
//! one each, and `STSD_ROLES` (or `--roles`) any set in one process.

use std::fmt;
use std::str::FromStr;

/// One role of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    /// The REST API and the dashboard.
    Api,
    /// Verifier, publisher, certificates, webhooks, housekeeping, report retention.
    Worker,
    /// HTTPS for `mta-sts.<domain>` and `reports.<zone>`, HTTP-01 on plain HTTP.
    Edge,
    /// The authoritative DNS of the service zone.
    Dns,
    /// The SMTP receiver of TLS reports.
    Smtp,
}

impl Role {
    /// Every role, in the order they start.
    pub(crate) const ALL: [Role; 5] = [Role::Edge, Role::Dns, Role::Smtp, Role::Worker, Role::Api];

    /// The role's name in commands, `STSD_ROLES`, heartbeats and metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Worker => "worker",
            Role::Edge => "edge",
            Role::Dns => "dns",
            Role::Smtp => "smtp",
        }
    }

    /// Whether the role answers from the serving snapshot (and can start without the store,
    /// from the snapshot's local copy).
    pub(crate) fn serves_snapshot(self) -> bool {
        matches!(self, Role::Edge | Role::Dns | Role::Smtp)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("`{s}` is not a role (api, worker, edge, dns, smtp)"))
    }
}

/// A non-empty set of roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Roles(u8);

impl Roles {
    /// Every role (`stsd serve`).
    pub(crate) fn all() -> Roles {
        Role::ALL
            .into_iter()
            .map(Roles::one)
            .fold(Roles(0), Roles::with)
    }

    /// Just `role`.
    pub(crate) fn one(role: Role) -> Roles {
        Roles(1 << role as u8)
    }

    fn with(self, other: Roles) -> Roles {
        Roles(self.0 | other.0)
    }

    /// Parses a comma-separated list (`edge,dns`); empty or unknown names are an error.
    pub(crate) fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Roles, String> {
        let mut roles = Roles(0);
        for item in items {
            let item = item.as_ref().trim();
            if item.is_empty() {
                continue;
            }
            roles = roles.with(Roles::one(item.parse()?));
        }
        if roles.0 == 0 {
            return Err("names no role (api, worker, edge, dns, smtp)".to_owned());
        }
        Ok(roles)
    }

    /// Whether `role` is in the set.
    pub(crate) fn has(self, role: Role) -> bool {
        self.0 & Roles::one(role).0 != 0
    }

    /// The roles in the set, in start order.
    pub(crate) fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.has(*r))
    }

    /// Whether any role in the set answers from the serving snapshot.
    pub(crate) fn serves_snapshot(self) -> bool {
        self.iter().any(Role::serves_snapshot)
    }

    /// Whether the set takes TLS reports in from reporters (the edge over HTTPS, SMTP by
    /// mail).
    pub(crate) fn receives_reports(self) -> bool {
        self.has(Role::Edge) || self.has(Role::Smtp)
    }

    /// Whether every role in the set can start without the store (from the local copy).
    pub(crate) fn can_start_without_store(self) -> bool {
        self.iter().all(Role::serves_snapshot)
    }

    /// TCP listeners the set opens, for sharing the file limit.
    pub(crate) fn tcp_listeners(self) -> usize {
        self.iter()
            .map(|r| match r {
                Role::Edge => 2,
                Role::Api | Role::Dns | Role::Smtp => 1,
                Role::Worker => 0,
            })
            .sum::<usize>()
            .max(1)
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_print() {
        let r = Roles::parse_list(&["dns", " Edge ", ""]).unwrap();
        assert!(r.has(Role::Edge) && r.has(Role::Dns) && !r.has(Role::Api));
        assert_eq!(r.to_string(), "edge,dns");
        assert_eq!(Roles::all().to_string(), "edge,dns,smtp,worker,api");
        assert!(
            Roles::parse_list(&["edge", "web"])
                .unwrap_err()
                .contains("`web`")
        );
        assert!(Roles::parse_list::<&str>(&[]).is_err());
        assert!(Roles::parse_list(&[" , "]).is_err());
    }

    #[test]
    fn what_a_set_needs() {
        let serving = Roles::parse_list(&["edge", "dns"]).unwrap();
        assert!(serving.can_start_without_store() && serving.serves_snapshot());
        assert_eq!(serving.tcp_listeners(), 3);
        assert!(!Roles::all().can_start_without_store());
        assert!(!Roles::one(Role::Worker).serves_snapshot());
        assert_eq!(Roles::one(Role::Worker).tcp_listeners(), 1);
        assert_eq!(Roles::all().tcp_listeners(), 5);
    }
}
