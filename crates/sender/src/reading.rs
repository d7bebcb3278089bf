//! What a reading found.

use stsd_core::{Policy, PolicyId, PolicyWarning, RuaUri};

/// The result of looking one thing up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    /// Nothing is published (for the policy: not fetched, because no record names an id).
    Absent,
    /// Published and usable.
    Found(T),
    /// Published but unusable to a sender; the text says why.
    Invalid(String),
    /// Could not be read now (a DNS failure, a timeout); the text says why. Trying again
    /// later may succeed.
    Failed(String),
}

/// A policy as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The policy, normalized.
    pub policy: Policy,
    /// What the parser tolerated but strict senders may reject.
    pub warnings: Vec<PolicyWarning>,
}

/// Everything a domain publishes for MTA-STS and TLS-RPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The id in the `_mta-sts` TXT record.
    pub sts_record: Lookup<PolicyId>,
    /// The policy at `https://mta-sts.<domain>/.well-known/mta-sts.txt`.
    pub policy: Lookup<Fetched>,
    /// The `rua` destinations of the `_smtp._tls` TXT record.
    pub tlsrpt: Lookup<Vec<RuaUri>>,
}
