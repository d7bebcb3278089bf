//! A TLS-RPT report body as posted or mailed: `tlsrpt::decode` (gzip or JSON, size and depth
//! limits) then the tolerant `tlsrpt::parse_json`, and the summaries read from the report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsd_core::tlsrpt;

/// Smaller than the service's 20 MiB so that a gzip bomb costs milliseconds, not seconds;
/// the code path is the same.
const MAX_DECOMPRESSED: usize = 1 << 20;

fuzz_target!(|body: &[u8]| {
    let Ok(decoded) = tlsrpt::decode(body, MAX_DECOMPRESSED) else {
        return;
    };
    assert!(decoded.json.len() <= MAX_DECOMPRESSED);
    let Ok(report) = tlsrpt::parse_json(&decoded.json) else {
        return;
    };
    let _ = report.policy_domain();
    let _ = (report.successful_sessions(), report.failed_sessions());
    for (result, _mx, _count) in report.failures_by_result_and_mx() {
        let _ = tlsrpt::explain(&result);
    }
});
