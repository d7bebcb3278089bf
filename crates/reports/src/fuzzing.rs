//! Entry points for the fuzz targets in `fuzz/` at the top of the repository. Not part of the
//! API (hidden from the docs, free to change): each runs the real parser that bytes from the
//! network reach. The mail parser needs no hook: it is [`crate::smtp::extract_report`].

use stsd_core::Label;

use crate::smtp::command::{self, Command, MailFrom, RcptTo};

/// Reads one SMTP command line the way the session does: the verb and argument, then the
/// argument of `MAIL` or `RCPT`, and the label of a `RCPT` address. Returns what was read,
/// in debug form.
pub fn smtp_command(line: &[u8]) -> String {
    let text = command::text(line);
    match Command::parse(&text) {
        Command::Mail(arg) => format!("{:?}", MailFrom::parse(arg)),
        Command::Rcpt(arg) => match RcptTo::parse(arg) {
            Ok(rcpt) => format!("{rcpt:?} {:?}", rcpt.local.parse::<Label>()),
            Err(e) => format!("{e:?}"),
        },
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read() {
        assert_eq!(
            smtp_command(b"MAIL FROM:<a@b> SIZE=5\r\n"),
            r#"Ok(MailFrom { path: "a@b", size: Some(5) })"#
        );
        assert!(smtp_command(b"rcpt to:<abc@reports.example>").starts_with("RcptTo"));
        assert_eq!(smtp_command(b"\xFF\xFE"), "Unknown");
    }
}
