//! A message received by `DATA`: MIME parsing and the search for the report part (gzip, JSON
//! or zip, under the decompressed-size limit) in `stsd_reports::smtp::extract_report`.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Smaller than the service's 20 MiB so that a compressed bomb costs milliseconds.
const MAX_DECOMPRESSED: usize = 1 << 20;

fuzz_target!(|raw: &[u8]| {
    let _ = stsd_reports::smtp::extract_report(raw, MAX_DECOMPRESSED);
});
