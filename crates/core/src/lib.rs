//! Pure types and rules of stsd, a hosted MTA-STS (RFC 8461) and TLS-RPT
//! (RFC 8460) service.
//!
//! Everything here is validated on construction and free of I/O:
//!
//! - [`DomainName`]: customer domains and hosts, normalized to A-labels.
//! - [`MxPattern`]: `mx` entries of a policy, exact or `*.` wildcard.
//! - [`Mode`], [`MaxAge`], [`Policy`]: the policy and its canonical text
//!   ([`Policy::render`]); [`Policy::parse`] reads what real servers publish
//!   and reports [`PolicyWarning`]s for what strict senders would reject.
//! - [`MovePlan`]: a planned move to new MX hosts, as the policy versions it publishes.
//! - [`PolicyId`]: the `id=` of the `_mta-sts` record, with a generator whose
//!   ids always increase.
//! - [`Label`]: the random per-registration token.
//! - [`StsRecord`], [`TlsRptRecord`], [`RuaUri`]: the TXT records.
//! - [`tlsrpt`]: RFC 8460 reports: bounded decoding, tolerant parsing, result types.
//! - [`CheckResult`], [`CheckName`], [`Outcome`], [`HostCheck`]: the results of checking a
//!   customer's domain, as the verifier stores them and the API and enforce gate read them.
//!
//! Errors are in one enum per concept, all re-exported here; their messages
//! name the rule that failed.

mod backoff;
mod check;
mod domain;
mod error;
mod label;
mod mode;
mod mx;
mod mx_move;
mod net;
mod policy;
mod policy_id;
mod policy_parse;
pub mod tlsrpt;
mod txt;

pub use backoff::backoff;
pub use check::{CheckName, CheckResult, HostCheck, HostStatus, Outcome, outcome_of, parse_checks};
pub use domain::DomainName;
pub use error::{
    DomainNameError, LabelError, ModeError, MovePlanError, MxPatternError, PolicyError,
    PolicyIdError, RuaUriError, TxtRecordError,
};
pub use label::Label;
pub use mode::{MaxAge, Mode};
pub use mx::MxPattern;
pub use mx_move::{MAX_LEAD, MIN_LEAD, MovePlan, MoveStep, SHORT_MAX_AGE};
pub use net::is_public_address;
pub use policy::Policy;
pub use policy_id::PolicyId;
pub use policy_parse::{ParsedPolicy, PolicyWarning};
pub use txt::{RuaUri, StsRecord, TlsRptRecord};
