//! The verifier of stsd: checks customers' DNS records, drives each domain registration's
//! state, and makes saved policy versions live.
//!
//! - [`check_now`] runs every check of one domain ([`CheckResult`]: ownership, the
//!   `mta-sts` CNAME, TLS reporting, MX coverage), stores the results and applies the
//!   transition they imply ([`next_state`], a pure function).
//! - [`run_worker`] does that for leased `verify` jobs, reschedules them
//!   ([`next_check_in`]), gives every checked domain a job ([`schedule_all`]) and runs the
//!   publisher step ([`publish_pending`]).
//! - [`advance_mx_moves`] runs the due steps of planned moves to new MX hosts.
//!
//! Settings are one [`VerifierConfig`], which also holds the resolver.

mod alerts;
mod checks;
mod config;
mod dns;
mod error;
mod mx_moves;
mod publisher;
mod reporters;
mod smtp_probe;
mod state;
mod verify;
mod worker;

pub use alerts::{AlertConfig, run_alerts, signature};
pub use config::{DEFAULT_DNS_TIMEOUT, VerifierConfig};
pub use error::VerifyError;
pub use mx_moves::{MOVE_AUTHOR, advance_mx_moves};
pub use publisher::{DNS_SETTLE, publish_pending, record_dns_switches};
pub use reporters::{HABIT, SILENT_AFTER, USUAL_DAYS, check_reporters};
pub use smtp_probe::MxProbe;
pub use state::{
    CertificateHealth, DEFAULT_GRACE_PERIOD, Decision, EXPIRING_WITHIN, next_check_in, next_state,
};
pub use stsd_core::{CheckName, CheckResult, HostCheck, HostStatus, Outcome, outcome_of};
pub use verify::check_now;
pub use worker::{finish_offboarding, run_publisher, run_worker, schedule_all};
