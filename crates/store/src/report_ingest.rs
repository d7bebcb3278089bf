//! One way in for a TLS report, whatever carried it (dashboard upload, HTTPS POST, SMTP):
//! decode and parse the body with `stsd_core::tlsrpt`, judge it against the registration it
//! was delivered for, and store it in one transaction: a member's upload with
//! [`Store::ingest_prepared`], which takes the member's tenant, a delivery by label with
//! [`AllTenants::ingest_submission`].

use stsd_core::DomainName;
use stsd_core::tlsrpt::{self, Encoding, ReportError};

use crate::all_tenants::AllTenants;
use crate::db::Store;
use crate::domains::Domain;
use crate::error::StoreError;
use crate::ids::TenantId;
use crate::operations::ReportOutcome;
use crate::report_origin::ReportOrigin;
use crate::reports::{NewReport, NewReportFailure, NewReportPolicy, ReportIngest};

/// Media types RFC 8460 (and common practice) allows for a gzip report body.
const GZIP_TYPES: [&str; 2] = ["application/tlsrpt+gzip", "application/gzip"];
/// Media types RFC 8460 (and common practice) allows for a plain JSON report body.
const JSON_TYPES: [&str; 2] = ["application/tlsrpt+json", "application/json"];

/// How a report reached stsd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Uploaded by a member through the API or dashboard.
    Upload,
    /// `POST` to the `rua=https:` endpoint.
    Https,
    /// Mail to the `rua=mailto:` address.
    Smtp,
}

impl Transport {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Upload => "upload",
            Transport::Https => "https",
            Transport::Smtp => "smtp",
        }
    }
}

/// A report body delivered for one registration.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    /// The registration the report was addressed to (by its label or by a member).
    pub domain: &'a Domain,
    /// The body as received: gzip or JSON.
    pub body: &'a [u8],
    /// The media type the sender declared (`Content-Type`, or the MIME part's type), if any.
    pub declared_media_type: Option<&'a str>,
    /// How it arrived.
    pub transport: Transport,
    /// How its origin was established, which decides whether it may enter counts (mail
    /// without a valid DKIM signature never does: RFC 8460 §4.3 says such reports MUST be
    /// ignored). An HTTPS receiver that checks the origin after parsing passes
    /// [`ReportOrigin::UnverifiedHttps`] here and [`PreparedReport::with_origin`] later.
    pub origin: ReportOrigin,
    /// For mail: the DKIM verdict, stored and shown with the report.
    pub dkim: Option<&'a str>,
    /// Where the delivery and the report disagree, stored and shown with the report.
    pub flags: &'a [String],
    /// Largest decompressed size accepted.
    pub max_decompressed: usize,
}

/// What storing a submission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// stsd's id of the report (the earlier one for a duplicate).
    pub id: String,
    /// The same (organization, report id, policy domain) was stored before, by any
    /// transport; nothing changed.
    pub duplicate: bool,
    /// The reporting organization.
    pub organization: String,
    /// The reporter's report id.
    pub report_id: String,
    /// The report's first policy domain.
    pub policy_domain: Option<String>,
    /// The declared media type does not match the body.
    pub media_type_flagged: bool,
    /// A policy domain of the report is not the registration's name.
    pub domain_mismatch: bool,
    /// Whether the report entered the rollups (an unverified HTTPS report shows in
    /// summaries only when its tenant counts those).
    pub counted: bool,
    /// How its origin was established.
    pub origin: ReportOrigin,
}

/// Why a submission was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is not a usable TLS report (the sender's fault).
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The store failed (stsd's fault: the sender should retry).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The media type a declared `Content-Type` names, lower-case and without parameters.
pub fn essence(declared: &str) -> String {
    declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A submission decoded, parsed and judged against its registration, not stored yet: for a
/// caller that refuses some reports (a member uploading one for another domain) before
/// anything is written.
#[derive(Debug, Clone)]
pub struct PreparedReport {
    new: NewReport,
    organization: String,
    report_id: String,
    policy_domain: Option<String>,
    foreign_domains: Vec<String>,
    reporter_domain: Option<DomainName>,
    transport: Transport,
}

impl PreparedReport {
    /// Decodes and parses `s`'s body. Fails when it is not a usable TLS report.
    pub fn new(s: &Submission<'_>) -> Result<PreparedReport, ReportError> {
        let decoded = tlsrpt::decode(s.body, s.max_decompressed)?;
        let report = tlsrpt::parse_json(&decoded.json)?;
        let declared = s.declared_media_type.map(essence).unwrap_or_default();
        let media_type_flagged = !match decoded.encoding {
            Encoding::Gzip => GZIP_TYPES.contains(&declared.as_str()),
            Encoding::Json => JSON_TYPES.contains(&declared.as_str()),
        };
        let raw_gzip = match decoded.encoding {
            Encoding::Gzip => s.body.to_vec(),
            Encoding::Json => tlsrpt::gzip(&decoded.json),
        };
        let name = s.domain.name.as_str();
        let mut foreign_domains: Vec<String> = Vec::new();
        for d in report
            .policies
            .iter()
            .filter_map(|p| p.policy_domain.as_deref())
        {
            if !d.trim_end_matches('.').eq_ignore_ascii_case(name)
                && !foreign_domains.iter().any(|f| f == d)
            {
                foreign_domains.push(d.to_owned());
            }
        }
        let domain_mismatch = !foreign_domains.is_empty();
        let counted = s.origin.trust().is_some() && !domain_mismatch;
        let reporter_domain = tlsrpt::reporter_domain(&report);
        let policy_domain = report.policy_domain().map(str::to_owned);
        let new = NewReport {
            domain_id: s.domain.id.clone(),
            organization: report.organization.clone(),
            report_id: report.report_id.clone(),
            policy_domain: policy_domain.clone(),
            contact: report.contact.clone(),
            start: report.start,
            end: report.end,
            transport: s.transport.as_str().to_owned(),
            media_type: if declared.is_empty() {
                decoded.encoding.media_type().to_owned()
            } else {
                declared
            },
            media_type_flagged,
            domain_mismatch,
            counted,
            origin: s.origin,
            dkim: s.dkim.map(str::to_owned),
            flags: s.flags.to_vec(),
            successful_sessions: count(report.successful_sessions()),
            failed_sessions: count(report.failed_sessions()),
            failure_rollup: report
                .failures_by_result_and_mx()
                .into_iter()
                .map(|(r, m, n)| (r, m, count(n)))
                .collect(),
            raw_gzip,
            policies: report
                .policies
                .iter()
                .map(|p| NewReportPolicy {
                    policy_type: p.policy_type.clone(),
                    policy_domain: p.policy_domain.clone(),
                    policy_strings: p.policy_strings.clone(),
                    mx_hosts: p.mx_hosts.clone(),
                    successful_sessions: count(p.successful_sessions),
                    failed_sessions: count(p.failed_sessions),
                    failures: p
                        .failures
                        .iter()
                        .map(|f| NewReportFailure {
                            result_type: f.result_type.clone(),
                            sending_mta_ip: f.sending_mta_ip.clone(),
                            receiving_mx_hostname: f.receiving_mx_hostname.clone(),
                            receiving_mx_helo: f.receiving_mx_helo.clone(),
                            receiving_ip: f.receiving_ip.clone(),
                            failed_sessions: count(f.failed_sessions),
                            additional_information: f.additional_information.clone(),
                            failure_reason_code: f.failure_reason_code.clone(),
                        })
                        .collect(),
                })
                .collect(),
        };
        Ok(PreparedReport {
            new,
            organization: report.organization,
            report_id: report.report_id,
            policy_domain,
            foreign_domains,
            reporter_domain,
            transport: s.transport,
        })
    }

    /// The organizational domain the report names (its `contact-info`'s, else a domain-like
    /// organization name's; see [`tlsrpt::reporter_domain`]), to check its origin against.
    pub fn reporter_domain(&self) -> Option<&DomainName> {
        self.reporter_domain.as_ref()
    }

    /// The report with its origin established after parsing (an HTTPS report's, once the
    /// client's reverse DNS was checked against [`PreparedReport::reporter_domain`]).
    #[must_use]
    pub fn with_origin(mut self, origin: ReportOrigin) -> PreparedReport {
        self.new.origin = origin;
        self.new.counted = origin.trust().is_some() && !self.new.domain_mismatch;
        self
    }

    /// The policy domains the report names that are not the registration's name, in the
    /// report's order; empty when it is about the registration's domain only.
    pub fn foreign_policy_domains(&self) -> &[String] {
        &self.foreign_domains
    }
}

impl Store {
    /// Stores a report a member of `tenant` uploaded, prepared with [`PreparedReport::new`]
    /// for one of the tenant's registrations. A registration of another tenant is "not
    /// found" and nothing is stored. Returns only after the report is durably stored (or
    /// found to be a duplicate).
    pub async fn ingest_prepared(
        &self,
        tenant: &TenantId,
        p: PreparedReport,
    ) -> Result<Ingested, StoreError> {
        ingest(self, Some(tenant), p).await
    }
}

impl AllTenants<'_> {
    /// Decodes, parses and stores one report delivered for a registration found by its
    /// label, whatever its tenant (HTTPS POST and mail). Returns only after the report is
    /// durably stored (or found to be a duplicate), so callers may acknowledge it to the
    /// sender.
    pub async fn ingest_submission(&self, s: &Submission<'_>) -> Result<Ingested, IngestError> {
        let prepared = PreparedReport::new(s).inspect_err(|_| {
            self.store.count_rejected_report(s.transport);
        })?;
        Ok(self.ingest_prepared(prepared).await?)
    }

    /// Stores a report prepared with [`PreparedReport::new`], like
    /// [`AllTenants::ingest_submission`].
    pub async fn ingest_prepared(&self, p: PreparedReport) -> Result<Ingested, StoreError> {
        ingest(self.store, None, p).await
    }
}

/// `tenant`: the tenant the registration must belong to, or `None` for [`AllTenants`].
async fn ingest(
    store: &Store,
    tenant: Option<&TenantId>,
    p: PreparedReport,
) -> Result<Ingested, StoreError> {
    let transport = p.transport.as_str();
    let stored = store.ingest_report(tenant, &p.new).await.inspect_err(|_| {
        store.report_counts.record(transport, ReportOutcome::Failed);
    })?;
    let (id, duplicate) = match stored {
        ReportIngest::Stored(id) => (id, false),
        ReportIngest::Duplicate(id) => (id, true),
    };
    store.report_counts.record(
        transport,
        if duplicate {
            ReportOutcome::Duplicate
        } else {
            ReportOutcome::Stored
        },
    );
    Ok(Ingested {
        id,
        duplicate,
        organization: p.organization,
        report_id: p.report_id,
        policy_domain: p.policy_domain,
        media_type_flagged: p.new.media_type_flagged,
        domain_mismatch: p.new.domain_mismatch,
        counted: p.new.counted,
        origin: p.new.origin,
    })
}
