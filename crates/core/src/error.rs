//! Error types of `stsd-core`, one enum per concept.
//!
//! Every message names the rule that failed, so the text can be shown to a
//! user as-is (for example in an API error body).

use thiserror::Error;

/// Why a string is not an acceptable domain name or host name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainNameError {
    /// The input is empty or only whitespace (or a lone `.`).
    #[error("domain name is empty")]
    Empty,
    /// The input is far longer than any domain name could be, even before IDNA
    /// mapping; rejected early to bound the work done on hostile input.
    #[error("input of {len} octets is too long to be a domain name (limit 253 octets)")]
    InputTooLong {
        /// Length of the trimmed input in octets.
        len: usize,
    },
    /// Two dots in a row, a leading dot, or more than one trailing dot.
    #[error("`{name}` contains an empty label")]
    EmptyLabel {
        /// The offending name.
        name: String,
    },
    /// The input is an IPv4 or IPv6 address literal.
    #[error("`{input}` is an IP address, not a domain name")]
    IpLiteral {
        /// The offending input.
        input: String,
    },
    /// The last label is all digits, which makes the name look like an IPv4
    /// address to many parsers.
    #[error("the last label of `{name}` is all-numeric, which is not a valid top-level domain")]
    NumericTld {
        /// The offending name.
        name: String,
    },
    /// A label starting with `xn--` does not decode to a valid U-label.
    #[error("label `{label}` is not valid punycode")]
    InvalidPunycode {
        /// The offending label.
        label: String,
    },
    /// A label with non-ASCII characters cannot be converted to an A-label.
    #[error("label `{label}` cannot be converted to an A-label (IDNA/UTS-46)")]
    InvalidUnicode {
        /// The offending label.
        label: String,
    },
    /// IDNA processing failed for the name as a whole.
    #[error("`{name}` is not a valid internationalized domain name (IDNA/UTS-46)")]
    InvalidIdn {
        /// The offending name.
        name: String,
    },
    /// A label has a character other than a letter, digit or hyphen.
    #[error(
        "label `{label}` contains `{ch}`; only letters, digits and hyphens are allowed (LDH rule)"
    )]
    InvalidChar {
        /// The offending label.
        label: String,
        /// The first character that is not allowed.
        ch: char,
    },
    /// A label starts or ends with `-`.
    #[error("label `{label}` starts or ends with a hyphen")]
    HyphenAtEdge {
        /// The offending label.
        label: String,
    },
    /// A label is longer than 63 octets (after A-label conversion).
    #[error("label `{label}` exceeds 63 octets ({len} octets)")]
    LabelTooLong {
        /// The offending label.
        label: String,
        /// Its length in octets.
        len: usize,
    },
    /// The whole name is longer than 253 octets (after A-label conversion).
    #[error("domain name exceeds 253 octets ({len} octets)")]
    NameTooLong {
        /// Length of the name in octets, without a trailing dot.
        len: usize,
    },
    /// The name has a single label.
    #[error("`{name}` has a single label; at least two labels are required")]
    SingleLabel {
        /// The offending name.
        name: String,
    },
    /// The whole name is a public suffix, which nobody can register.
    #[error("`{name}` is a public suffix, not a registrable domain")]
    PublicSuffix {
        /// The offending name.
        name: String,
    },
}

/// Why a string is not a valid MTA-STS `mx` pattern (RFC 8461 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MxPatternError {
    /// The host part is not a valid host name.
    #[error("invalid mx host: {0}")]
    Host(#[from] DomainNameError),
    /// A `*` appears somewhere other than as the whole leftmost label.
    #[error(
        "mx pattern `{pattern}`: `*` is only allowed as the whole leftmost label, as in `*.example.com`"
    )]
    MisplacedWildcard {
        /// The offending pattern.
        pattern: String,
    },
    /// A wildcard directly over a public suffix, e.g. `*.com`.
    #[error(
        "mx pattern `{pattern}`: a wildcard directly over the public suffix `{suffix}` is not allowed"
    )]
    WildcardOverPublicSuffix {
        /// The offending pattern.
        pattern: String,
        /// The public suffix under the wildcard.
        suffix: String,
    },
}

/// Why a `mode` value is not valid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModeError {
    /// The value is not exactly one of the three lowercase modes.
    #[error("mode `{value}` is not one of `none`, `testing`, `enforce`")]
    Unknown {
        /// The offending value.
        value: String,
    },
}

/// Why a policy could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// The policy body is larger than RFC 8461 allows senders to fetch.
    #[error("policy body is {len} bytes; the limit is 65536 bytes")]
    BodyTooLarge {
        /// Body length in bytes.
        len: usize,
    },
    /// A non-empty line without a `:`.
    #[error("line {line}: expected `key: value`, but the line has no `:`")]
    MissingColon {
        /// 1-based line number.
        line: usize,
    },
    /// A key with characters outside the RFC 8461 `sts-policy-ext-name` ABNF.
    #[error(
        "line {line}: key `{key}` is not valid (1 to 32 letters, digits, `_`, `-`, `.`, starting with a letter or digit)"
    )]
    InvalidKey {
        /// 1-based line number.
        line: usize,
        /// The offending key.
        key: String,
    },
    /// No `version` line.
    #[error("missing `version` line (must be `version: STSv1`)")]
    MissingVersion,
    /// A `version` value other than `STSv1`.
    #[error("line {line}: version `{value}` is not `STSv1`")]
    InvalidVersion {
        /// 1-based line number.
        line: usize,
        /// The offending value.
        value: String,
    },
    /// No `mode` line.
    #[error("missing `mode` line (must be `none`, `testing` or `enforce`)")]
    MissingMode,
    /// A `mode` value that is not a mode, even ignoring case.
    #[error("line {line}: mode `{value}` is not one of `none`, `testing`, `enforce`")]
    InvalidMode {
        /// 1-based line number.
        line: usize,
        /// The offending value.
        value: String,
    },
    /// No `max_age` line.
    #[error("missing `max_age` line")]
    MissingMaxAge,
    /// A `max_age` value that is not 1 to 10 digits.
    #[error("line {line}: max_age `{value}` is not 1 to 10 decimal digits")]
    InvalidMaxAge {
        /// 1-based line number.
        line: usize,
        /// The offending value.
        value: String,
    },
    /// A max_age above the RFC 8461 maximum of 31557600 seconds.
    #[error("max_age {value} exceeds 31557600 seconds (one year)")]
    MaxAgeOutOfRange {
        /// The offending value.
        value: u64,
    },
    /// An `mx` value that is not a valid pattern.
    #[error("line {line}: {source}")]
    InvalidMx {
        /// 1-based line number.
        line: usize,
        /// Why the pattern is invalid.
        source: MxPatternError,
    },
    /// Mode `testing` or `enforce` without any `mx` pattern.
    #[error("mode `{mode}` requires at least one `mx` pattern")]
    NoMx {
        /// The mode in effect.
        mode: crate::Mode,
    },
    /// The same pattern twice (after normalization).
    #[error("mx pattern `{pattern}` is listed more than once")]
    DuplicateMx {
        /// The repeated pattern.
        pattern: String,
    },
    /// More than [`crate::Policy::MAX_MX`] patterns.
    #[error("{count} mx patterns; at most 64 are allowed")]
    TooManyMx {
        /// Number of (distinct) patterns.
        count: usize,
    },
}

/// Why a string is not a valid MTA-STS policy id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyIdError {
    /// The id is empty.
    #[error("policy id is empty")]
    Empty,
    /// The id is longer than 32 characters.
    #[error("policy id is {len} characters; at most 32 are allowed")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// The id has a character that is not an ASCII letter or digit.
    #[error("policy id contains `{ch}`; only ASCII letters and digits are allowed")]
    InvalidChar {
        /// The first offending character.
        ch: char,
    },
}

/// Why a string is not a valid registration label.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LabelError {
    /// Not exactly 10 characters long.
    #[error("label must be exactly 10 characters, got {len}")]
    WrongLength {
        /// Length in characters.
        len: usize,
    },
    /// A character outside the label alphabet.
    #[error(
        "label contains `{ch}`, which is not in the label alphabet (a-z without `l` and `o`, 2-9)"
    )]
    InvalidChar {
        /// The first offending character.
        ch: char,
    },
    /// The first character is a digit.
    #[error("label must start with a letter")]
    StartsWithDigit,
}

/// Why a string is not a valid `rua` URI of a TLS-RPT record.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RuaUriError {
    /// The URI is empty.
    #[error("rua URI is empty")]
    Empty,
    /// The URI contains whitespace or control characters.
    #[error("rua URI `{uri}` contains whitespace or control characters")]
    InvalidChar {
        /// The offending URI.
        uri: String,
    },
    /// The scheme is neither `mailto:` nor `https:`.
    #[error("rua URI `{uri}` must use the `mailto:` or `https:` scheme")]
    UnsupportedScheme {
        /// The offending URI.
        uri: String,
    },
    /// A `mailto:` URI without a `local@domain` address.
    #[error("rua URI `{uri}` is not a valid `mailto:local@domain` address")]
    InvalidMailto {
        /// The offending URI.
        uri: String,
    },
    /// An `https:` URI that is not a valid URL with a host.
    #[error("rua URI `{uri}` is not a valid https URL with a host: {reason}")]
    InvalidHttps {
        /// The offending URI.
        uri: String,
        /// What the URL parser or host check reported.
        reason: String,
    },
}

/// Why a TXT record is not a valid `_mta-sts` or `_smtp._tls` record.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TxtRecordError {
    /// The record does not start with the expected `v=` field.
    #[error(
        "not {} {expected} record: it must start with `v={expected}`, found `{found}`",
        if .expected.starts_with('S') { "an" } else { "a" }
    )]
    WrongVersion {
        /// The expected version, `STSv1` or `TLSRPTv1`.
        expected: &'static str,
        /// The first field found.
        found: String,
    },
    /// A field that is not `name=value`.
    #[error("field `{field}` is not of the form `name=value`")]
    MalformedField {
        /// The offending field.
        field: String,
    },
    /// A known field appears more than once.
    #[error("field `{name}` appears more than once")]
    DuplicateField {
        /// The repeated field name.
        name: &'static str,
    },
    /// An `_mta-sts` record without `id=`.
    #[error("missing id: the record has no `id=` field")]
    MissingId,
    /// An `id=` value that is not a valid policy id.
    #[error("invalid id: {0}")]
    InvalidId(#[source] PolicyIdError),
    /// A `_smtp._tls` record without `rua=`.
    #[error("missing rua: the record has no `rua=` field")]
    MissingRua,
    /// A `rua=` URI that is not acceptable.
    #[error("invalid rua: {0}")]
    InvalidRua(#[from] RuaUriError),
}

/// Why a planned move to new MX hosts ([`crate::MovePlan`]) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MovePlanError {
    /// The policy is `none`: it names no hosts, so there is nothing to move.
    #[error(
        "the policy's mode is none: it covers no MX host, so a move needs no plan; edit the policy instead"
    )]
    ModeNone,
    /// No new patterns were given.
    #[error("name at least one MX host or pattern of the new provider")]
    NoNewMx,
    /// The new patterns are the current ones.
    #[error("the new MX patterns are the ones the policy has now")]
    Unchanged,
    /// The move date is under an hour away.
    #[error("the move date must be at least an hour from now")]
    TooSoon,
    /// The move date is over 400 days away.
    #[error("the move date must be within 400 days")]
    TooLate,
    /// Old and new patterns together do not make a valid policy.
    #[error("{0}")]
    Policy(PolicyError),
}
