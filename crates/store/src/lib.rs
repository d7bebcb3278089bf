//! Persistence for stsd.
//!
//! One code path serves both backends: the sqlx `Any` driver with portable SQL, and
//! per-backend SQL only where the engines really differ (job leases use
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serialises writers instead). Times are
//! stored as unix milliseconds and ids as text because `Any` knows only integers, floats,
//! text, blobs and booleans.
//!
//! Every write that changes what edges or DNS serve appends a row to the change feed in the
//! same transaction ([`feed`]); the serving snapshot follows it.
//!
//! Tenants are walls by construction: a [`Store`] method for a tenant's object takes that
//! tenant and finds nothing of another's; the queries that cross tenants, for the roles that
//! must, are on [`AllTenants`] ([`Store::all_tenants`]).

mod all_tenants;
mod audit;
mod certificates;
mod certs_jobs;
mod clock;
mod db;
mod domains;
mod error;
pub mod feed;
mod fetches;
mod health;
mod ids;
mod invitations;
mod jobs;
mod mx_moves;
mod nodes;
mod operations;
mod overview;
mod policies;
mod rate_limits;
mod renewals;
mod report_ingest;
#[cfg(test)]
mod report_migration_tests;
mod report_origin;
mod report_rollups;
mod reporters;
mod reports;
mod rotation;
mod sealing;
mod service_certs;
mod serving;
mod sessions;
mod tenants;
mod tokens;
mod verify_jobs;
mod webhooks;

pub use all_tenants::AllTenants;
pub use audit::{AuditEntry, NewAuditEntry};
pub use certificates::{AcmeAccount, Certificate, Challenge, ChallengeKind, NewCertificate};
pub use certs_jobs::{
    CERT_JOB_KIND, CertificateHealth, JobStatus, LocalCaRecord, SERVICE_CERT_JOB_KIND,
};
pub use db::{Backend, ConnectOptions, Store, mask_url};
pub use domains::{Domain, DomainFilter, DomainState, Ownership, Transition};
pub use error::StoreError;
pub use feed::{Change, ChangeKind, ChangeSubscription};
pub use fetches::{MAX_NETWORKS_PER_DAY, PolicyFetches};
pub use health::StoreHealth;
pub use ids::{DomainId, TenantId, UserId};
pub use invitations::{Invitation, InvitationState};
pub use jobs::{Job, JobCount};
pub use mx_moves::{MoveState, MxMove};
pub use nodes::Node;
pub use operations::{JobBacklog, Operations, ReportCount, ReportOutcome};
pub use overview::DomainOverview;
pub use policies::{PolicyVersion, VersionOutcome};
pub use rate_limits::{RateDecision, RateQuota};
pub use renewals::{RenewalPlan, RenewalSource};
pub use report_ingest::{IngestError, Ingested, PreparedReport, Submission, Transport, essence};
pub use report_origin::ReportOrigin;
pub use reporters::{ReporterActivity, Silence};
pub use reports::{
    FailuresBy, LeftOut, NewReport, NewReportFailure, NewReportPolicy, ReportDetail, ReportFilter,
    ReportIngest, ReportScope, ReportTotals, StoredReport, TotalsBy,
};
pub use rotation::ResealCount;
pub use sealing::{MasterKey, SealError};
pub use service_certs::ServiceCertificate;
pub use serving::{ANNOUNCE_CANDIDATES, LiveId, ServedDomain};
pub use sessions::RefreshOutcome;
pub use tenants::{Member, MemberChange, Membership, Role, Tenant, User};
pub use tokens::{ApiToken, TokenCredential, TokenScope};
pub use verify_jobs::VERIFY_JOB_KIND;
pub use webhooks::{Delivery, DueDelivery, WEBHOOK_EVENTS, Webhook};

/// Result type of every store operation.
pub type Result<T> = std::result::Result<T, StoreError>;
