//! RFC 8460 SMTP TLS reports (TLS-RPT): decoding (gzip or plain JSON, with size and depth
//! limits), tolerant parsing into a normalized model, and plain-language explanations of
//! every result type; and which organizational domain a report names ([`reporter_domain`]),
//! to check a report's origin against.
//!
//! Parsing uses `serde_json::Value` and tolerant extraction instead of `mail-auth`'s TLS-RPT
//! model: real reporters send `mx-host` as a string, leave out or null `policy-domain`,
//! `policy-string`, `sending-mta-ip` and `contact-info`, send numbers as strings and vary key
//! casing, and a typed strict model would reject those reports.

mod decode;
mod error;
mod model;
mod origin;
mod results;

pub use decode::{DEFAULT_MAX_DECOMPRESSED, Decoded, Encoding, MAX_DEPTH, decode, gzip};
pub use error::ReportError;
pub use model::{FailureDetail, Policy, Report, parse, parse_json};
pub use origin::{contact_host, organizational_domain, reporter_domain, within};
pub use results::{RESULT_TYPES, ResultInfo, explain};
