//! Plain-language explanations of the result types of RFC 8460 §4.3 and their likely fixes.

/// What a result type means and what usually fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultInfo {
    /// Whether RFC 8460 defines the type (unknown types are kept, with a generic text).
    pub known: bool,
    /// What happened, in plain language.
    pub explanation: &'static str,
    /// The likely fix.
    pub fix: &'static str,
}

/// Every result type RFC 8460 §4.3 defines, plus `success` for the session summary.
pub const RESULT_TYPES: [&str; 12] = [
    "success",
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
    "validation-failure",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
];

/// The explanation and likely fix of `result_type` (case-insensitive).
pub fn explain(result_type: &str) -> ResultInfo {
    let (explanation, fix) = match result_type.trim().to_ascii_lowercase().as_str() {
        "success" => (
            "The sending server delivered over TLS and the certificate checked out.",
            "Nothing to do.",
        ),
        "starttls-not-supported" => (
            "Your mail server did not offer STARTTLS, so the sender could not encrypt the \
             connection.",
            "Enable STARTTLS on every MX host listed in your policy, with a valid certificate.",
        ),
        "certificate-host-mismatch" => (
            "Your mail server's certificate does not name the MX host the sender connected to.",
            "Install a certificate whose subject alternative names include each MX host name, \
             or list the names the certificates do cover in the policy's mx lines.",
        ),
        "certificate-expired" => (
            "Your mail server presented an expired certificate.",
            "Renew the certificate on the MX host and automate renewal.",
        ),
        "certificate-not-trusted" => (
            "Your mail server's certificate is not signed by a public CA the sender trusts \
             (self-signed, private CA, or a missing intermediate).",
            "Use a certificate from a public CA and serve the full chain including \
             intermediates.",
        ),
        "validation-failure" => (
            "The certificate or TLS negotiation failed for a reason not covered by a more \
             specific type.",
            "Check the additional information and failure reason code in the details; test \
             the MX with an SMTP TLS checker.",
        ),
        "tlsa-invalid" => (
            "The DANE TLSA record published for your MX does not match its certificate.",
            "Update the TLSA records before rotating keys or certificates, and publish both \
             during a rollover.",
        ),
        "dnssec-invalid" => (
            "The sender could not validate DNSSEC for your domain's records.",
            "Repair the DNSSEC chain (DS record at the parent, valid signatures, key \
             rollovers).",
        ),
        "dane-required" => (
            "DANE was expected for the MX but no usable TLSA records were found.",
            "Publish TLSA records for each MX host in a DNSSEC-signed zone, or stop \
             advertising DANE.",
        ),
        "sts-policy-fetch-error" => (
            "The sender could not fetch your MTA-STS policy over HTTPS.",
            "Check that mta-sts.<your domain> points at stsd and that the policy is served; \
             the _mta-sts record must only exist while a policy is published.",
        ),
        "sts-policy-invalid" => (
            "The sender fetched your MTA-STS policy but it did not parse or was not valid.",
            "Check the policy's syntax: version, mode, mx and max_age lines.",
        ),
        "sts-webpki-invalid" => (
            "The HTTPS certificate of mta-sts.<your domain> did not validate when the sender \
             fetched the policy.",
            "Make sure the mta-sts CNAME points at stsd so stsd's certificate is used, and that \
             no other server answers for that name.",
        ),
        _ => {
            return ResultInfo {
                known: false,
                explanation: "A result type not defined by RFC 8460, reported as sent.",
                fix: "Read the additional information in the failure details or ask the \
                      reporting organization.",
            };
        }
    };
    ResultInfo {
        known: true,
        explanation,
        fix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rfc_type_is_explained() {
        for t in RESULT_TYPES {
            let info = explain(t);
            assert!(info.known, "{t}");
            assert!(!info.explanation.is_empty() && !info.fix.is_empty());
        }
        assert!(explain("STARTTLS-Not-Supported").known);
        assert!(!explain("x-new-thing").known);
    }
}
