//! SMTP command lines as the report receiver reads them: the verb and argument, the paths and
//! parameters of `MAIL` and `RCPT`, the label of a report address
//! (`stsd_reports::fuzzing::smtp_command`). Each input is split into lines, as a client's
//! pipelined commands would be.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split_inclusive(|&b| b == b'\n') {
        let _ = stsd_reports::fuzzing::smtp_command(line);
    }
});
