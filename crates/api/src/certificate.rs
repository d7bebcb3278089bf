//! A domain's certificate for `mta-sts.<domain>`: what is served and how its renewal stands.

use axum::Json as AxumJson;
use axum::extract::State;
use serde::Serialize;
use stsd_store::{CERT_JOB_KIND, RenewalSource};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Access, Need, Principal};
use crate::domains::load;
use crate::error::ApiError;
use crate::extract::Path;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(certificate))
}

/// The certificate the edges serve.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CurrentCertificate {
    /// Validity start (Unix seconds).
    not_before: i64,
    /// Validity end (Unix seconds).
    not_after: i64,
    /// Who issued it (the leaf's issuer name), e.g. `CN=R11, O=Let's Encrypt, C=US`.
    issuer: String,
    /// The leaf's serial number, hex.
    serial: String,
}

/// Where the next issuance or renewal stands.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Renewal {
    /// When the certificate worker acts next (Unix seconds): the renewal moment, or the next
    /// attempt after a failure.
    next_attempt_at: i64,
    /// Failed attempts since the last success.
    attempts: i64,
    /// The last failure, as the CA or the network put it.
    last_error: Option<String>,
}

/// Where a renewal window comes from.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WindowSource {
    /// The CA's renewal information (ACME ARI, RFC 9773).
    Ari,
    /// The CA has none: the last twentieth of the lifetime before two thirds of it.
    TwoThirds,
}

/// When the served certificate is to be renewed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RenewalWindow {
    /// Where the window comes from.
    source: WindowSource,
    /// The window's start (Unix seconds).
    start: i64,
    /// The window's end (Unix seconds).
    end: i64,
    /// The moment picked at random inside it (Unix seconds; never later than a tenth of the
    /// lifetime before expiry). A moment already past means: renew now — a window in the
    /// past is how a CA asks for a revoked certificate to be replaced.
    renew_at: i64,
    /// The CA's page explaining the window, when it gave one (`explanationURL`).
    #[schema(required = true)]
    explanation_url: Option<String>,
    /// When the CA's renewal information is asked again (Unix seconds; after its
    /// `Retry-After`); null when the CA has none.
    #[schema(required = true)]
    next_check_at: Option<i64>,
}

/// A domain's certificate and its renewal.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CertificateStatus {
    /// The host the certificate is for.
    host: String,
    /// The certificate served now; null before the first issuance.
    #[schema(required = true)]
    current: Option<CurrentCertificate>,
    /// The served certificate's renewal window; null before the worker planned one.
    #[schema(required = true)]
    window: Option<RenewalWindow>,
    /// The worker's next step; null when nothing is scheduled (the domain is not served).
    /// While `attempts` is above zero, renewal is failing and backing off: the certificate
    /// in `current` is still served until it expires.
    #[schema(required = true)]
    renewal: Option<Renewal>,
}

/// The leaf's issuer and serial from a PEM chain.
fn leaf_details(chain_pem: &str) -> (String, String) {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let Some(Ok(der)) = CertificateDer::pem_slice_iter(chain_pem.as_bytes()).next() else {
        return (String::new(), String::new());
    };
    match x509_parser::parse_x509_certificate(&der) {
        Ok((_, cert)) => (cert.issuer().to_string(), cert.raw_serial_as_string()),
        Err(_) => (String::new(), String::new()),
    }
}

/// The certificate of `mta-sts.<name>`: validity, issuer, the renewal window (from the CA's
/// renewal information or the two-thirds rule, with the CA's explanation URL), and the
/// worker's next step with the last error and attempts when issuance or renewal fails.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/certificate",
    operation_id = "getCertificate",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    responses((status = 200, description = "The certificate and its renewal", body = CertificateStatus)),
    security(("bearer" = []))
)]
async fn certificate(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<CertificateStatus>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let store = &state.inner.store;
    let served = store
        .current_certificate(&access.tenant, &domain.id)
        .await?
        .filter(|c| c.not_after > time::OffsetDateTime::now_utc());
    let window = match &served {
        Some(c) => store
            .renewal_plan(&access.tenant, &c.id)
            .await?
            .map(|p| RenewalWindow {
                source: match p.source {
                    RenewalSource::Ari => WindowSource::Ari,
                    RenewalSource::TwoThirds => WindowSource::TwoThirds,
                },
                start: p.window_start.unix_timestamp(),
                end: p.window_end.unix_timestamp(),
                renew_at: p.renew_at.unix_timestamp(),
                explanation_url: p.explanation_url,
                next_check_at: p.next_poll.map(time::OffsetDateTime::unix_timestamp),
            }),
        None => None,
    };
    let current = served.map(|c| {
        let (issuer, serial) = leaf_details(&c.chain_pem);
        CurrentCertificate {
            not_before: c.not_before.unix_timestamp(),
            not_after: c.not_after.unix_timestamp(),
            issuer,
            serial,
        }
    });
    let renewal = store
        .job_status(&access.tenant, CERT_JOB_KIND, &domain.id)
        .await?
        .map(|j| Renewal {
            next_attempt_at: j.run_at.unix_timestamp(),
            attempts: j.attempts,
            last_error: j.last_error,
        });
    Ok(AxumJson(CertificateStatus {
        host: format!("mta-sts.{}", domain.name),
        current,
        window,
        renewal,
    }))
}
