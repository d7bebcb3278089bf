//! TLS-RPT ingestion (RFC 8460): the transports that bring reports to stsd. Parsing and the
//! report model are in `stsd_core::tlsrpt`; storing is `stsd_store::Store::ingest_submission`,
//! shared with the dashboard's upload, so a report counts once whichever way it came.
//!
//! - [`https`]: `POST https://reports.<zone>/v1/tlsrpt/{label}`, routed here by the edge,
//!   rate limited per source and label, each report's origin checked by reverse DNS.
//! - [`smtp`]: mail to `<label>@reports.<zone>`, with STARTTLS and DKIM verification.
//! - [`report_resolver`]: the DNS resolver both checks use.
//! - [`run_retention`]: deletes reports past their tenant's retention period.

#[doc(hidden)]
pub mod fuzzing;
pub mod https;
mod resolver;
mod retention;
pub mod smtp;

pub use https::{HttpsReceiver, OriginCheck, OriginVerifier, ReceiverLimits};
pub use resolver::{ResolverError, report_resolver};
pub use retention::run_retention;
pub use smtp::{SmtpConfig, dkim_verifier, serve_smtp};
