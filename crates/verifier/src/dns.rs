//! The verifier's DNS lookups: the resolver the sender's view uses too.

pub(crate) use stsd_sender::dns::{Dns, MxAnswer, normalize};
