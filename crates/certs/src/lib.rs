//! Certificates for every customer's `mta-sts.<domain>` host.
//!
//! An [`Issuer`] turns a verified registration into a certificate: [`Acme`] orders one from an
//! ACME CA and answers HTTP-01 by writing the key authorization to the store (every edge
//! serves it from its snapshot), [`LocalCa`] signs one with a development CA kept in the
//! store. The [`run_worker`] loop takes `cert` jobs with leases, stores each certificate with
//! its key sealed under the master key, makes verified registrations active, renews at a
//! random moment of the CA's suggested window (ACME Renewal Information, RFC 9773, naming the
//! certificate replaced) or, for a CA without it, before two thirds of the lifetime, and backs
//! off on failure without ever removing a certificate.
//! Certs meets the serving layer only in the store: certificates and challenges travel
//! through the change feed.

mod acme;
mod error;
mod fallback;
mod issuer;
mod local_ca;
mod plan;
mod propagation;
mod rate_limit;
mod select;
mod worker;

pub use acme::{Acme, AcmeChallenge, AcmeConfig, EabKey};
pub use error::CertsError;
pub use fallback::FallbackIssuer;
pub use issuer::{Issued, Issuer, RenewalInfo, leaf_validity, mta_sts_host};
pub use local_ca::LocalCa;
pub use plan::AriPolling;
pub use propagation::{Propagation, wait_for_edges};
pub use rate_limit::next_attempt;
pub use select::{directory_url, issuer_for_directory};
pub use worker::{
    Outcome, ServiceOutcome, WorkerConfig, jittered_renewal, renewal_due, renewal_point, run_next,
    run_next_service, run_worker, schedule_due, schedule_service_due,
};
