//! What the world's mail servers talk to.
//!
//! Everything served comes from one immutable in-memory [`Snapshot`], swapped atomically
//! when the store's change feed moves ([`SnapshotHandle`]). Lookups on the request path take
//! no lock and touch no database, so serving survives the store: when the database goes away
//! the node keeps answering from its last snapshot and reports that it is stale.
//!
//! - [`edge`]: the HTTPS server for `mta-sts.<domain>` (certificate chosen by SNI) and the
//!   plain-HTTP listener for ACME HTTP-01 challenges.
//! - [`dns`]: the authoritative DNS of the service zone, over UDP and TCP.

mod alpn;
mod build;
mod copy;
pub mod dns;
pub mod edge;
mod error;
mod fetch_log;
mod follower;
#[doc(hidden)]
pub mod fuzzing;
mod shards;
mod snapshot;

pub use error::{CopyProblem, ServingError};
pub use follower::{DEFAULT_COPY_INTERVAL, NodeInfo, SnapshotHandle, SnapshotStatus};
pub use snapshot::{Acknowledged, EdgeHost, LabelRecords, Snapshot};
