//! How a report's origin was established, and what that means for counting it.
//!
//! Counting follows from the origin: a report proven to come from the organization it names
//! (DKIM on mail, a forward-confirmed reverse DNS name over HTTPS) or uploaded by a member
//! counts; mail without a valid signature never does (RFC 8460 §4.3 says such reports MUST
//! be ignored); a report POSTed over HTTPS from anywhere else counts only for tenants that
//! chose so (`tenants.count_unverified_https`), because anyone can send one — and one report
//! claiming a million failed sessions turns a domain's success rate to zero.
//!
//! The daily rollups keep the two kinds apart ([`Trust`]), so that a tenant's choice applies
//! to its whole history at once, reports already purged included.

/// How the origin of a stored report was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportOrigin {
    /// Uploaded by a member through the API or dashboard.
    Upload,
    /// Mail with a valid DKIM signature of the reporting domain.
    Dkim,
    /// Mail without a valid DKIM signature of the reporting domain: never counted.
    UnauthenticatedMail,
    /// POSTed over HTTPS from an address whose forward-confirmed reverse DNS name lies
    /// within the organizational domain the report names.
    VerifiedHttps,
    /// POSTed over HTTPS with nothing tying it to the organization it names.
    UnverifiedHttps,
}

/// Which rollups a counted report is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trust {
    /// Counted for every tenant.
    Authenticated,
    /// Counted for tenants that count unverified HTTPS reports.
    Unverified,
}

impl Trust {
    /// The stored name (`tlsrpt_daily.trust`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Trust::Authenticated => "authenticated",
            Trust::Unverified => "unverified",
        }
    }
}

impl ReportOrigin {
    /// Every origin, strongest first.
    pub const ALL: [ReportOrigin; 5] = [
        ReportOrigin::Upload,
        ReportOrigin::Dkim,
        ReportOrigin::VerifiedHttps,
        ReportOrigin::UnverifiedHttps,
        ReportOrigin::UnauthenticatedMail,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportOrigin::Upload => "upload",
            ReportOrigin::Dkim => "dkim",
            ReportOrigin::UnauthenticatedMail => "unauthenticated_mail",
            ReportOrigin::VerifiedHttps => "verified_https",
            ReportOrigin::UnverifiedHttps => "unverified_https",
        }
    }

    /// The origin a stored name stands for.
    pub fn parse(name: &str) -> Option<ReportOrigin> {
        ReportOrigin::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// Which rollups the report enters (when it is about the registration's domain);
    /// `None`: it is never counted.
    pub(crate) fn trust(self) -> Option<Trust> {
        match self {
            ReportOrigin::Upload | ReportOrigin::Dkim | ReportOrigin::VerifiedHttps => {
                Some(Trust::Authenticated)
            }
            ReportOrigin::UnverifiedHttps => Some(Trust::Unverified),
            ReportOrigin::UnauthenticatedMail => None,
        }
    }

    /// How much the origin proves. A second copy of a stored report replaces it only when
    /// it proves more: the first copy may be a forgery that took the real report's
    /// (often guessable) report id, and must not keep out the real one.
    pub(crate) fn rank(self) -> u8 {
        match self {
            ReportOrigin::UnauthenticatedMail => 0,
            ReportOrigin::UnverifiedHttps => 1,
            ReportOrigin::Upload | ReportOrigin::Dkim | ReportOrigin::VerifiedHttps => 2,
        }
    }
}

impl std::fmt::Display for ReportOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SQL: the registrations whose tenant counts unverified HTTPS reports.
pub(crate) const COUNTING_UNVERIFIED: &str = "(SELECT d.id FROM domains d \
     JOIN tenants t ON t.id = d.tenant_id WHERE t.count_unverified_https <> 0)";

/// SQL condition on a rollup table (`domain_id`, `trust`): the rows that count for their
/// tenant.
pub(crate) fn counted_rollups() -> String {
    format!("(trust = 'authenticated' OR domain_id IN {COUNTING_UNVERIFIED})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ranks_order_proof() {
        for o in ReportOrigin::ALL {
            assert_eq!(ReportOrigin::parse(o.as_str()), Some(o));
        }
        assert_eq!(ReportOrigin::parse("https"), None);
        assert!(ReportOrigin::Dkim.rank() > ReportOrigin::UnverifiedHttps.rank());
        assert!(ReportOrigin::UnverifiedHttps.rank() > ReportOrigin::UnauthenticatedMail.rank());
        assert_eq!(ReportOrigin::UnauthenticatedMail.trust(), None);
        assert_eq!(
            ReportOrigin::UnverifiedHttps.trust(),
            Some(Trust::Unverified)
        );
    }
}
