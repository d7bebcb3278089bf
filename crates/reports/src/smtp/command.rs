//! SMTP command lines (RFC 5321 §4.1): the verb and its argument, and the paths and
//! parameters of `MAIL` and `RCPT`. Pure syntax: the dialogue decides what a command means in
//! its state.

use std::borrow::Cow;

/// A command line as text: invalid UTF-8 replaced, the line ending removed.
pub(crate) fn text(line: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(line) {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim_end_matches(['\r', '\n'])),
        Cow::Owned(s) => Cow::Owned(s.trim_end_matches(['\r', '\n']).to_owned()),
    }
}

/// A command, as far as its syntax goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command<'a> {
    /// `EHLO` (`extended`) or `HELO`, with the client's domain or address literal (empty
    /// when none was given).
    Hello { extended: bool, domain: &'a str },
    /// `STARTTLS`, which takes no argument.
    StartTls { argument: bool },
    /// `MAIL` with its argument (see [`MailFrom::parse`]).
    Mail(&'a str),
    /// `RCPT` with its argument (see [`RcptTo::parse`]).
    Rcpt(&'a str),
    /// `DATA`, which takes no argument.
    Data { argument: bool },
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `VRFY`.
    Vrfy,
    /// `HELP`.
    Help,
    /// `QUIT`.
    Quit,
    /// Anything else.
    Unknown,
}

impl<'a> Command<'a> {
    /// Reads a command line (from [`text`]): the verb up to the first space, in any case, and
    /// the rest, trimmed, as its argument.
    pub(crate) fn parse(line: &'a str) -> Command<'a> {
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v, a.trim()),
            None => (line, ""),
        };
        let is = |name: &str| verb.eq_ignore_ascii_case(name);
        if is("EHLO") || is("HELO") {
            Command::Hello {
                extended: is("EHLO"),
                domain: arg,
            }
        } else if is("STARTTLS") {
            Command::StartTls {
                argument: !arg.is_empty(),
            }
        } else if is("MAIL") {
            Command::Mail(arg)
        } else if is("RCPT") {
            Command::Rcpt(arg)
        } else if is("DATA") {
            Command::Data {
                argument: !arg.is_empty(),
            }
        } else if is("RSET") {
            Command::Rset
        } else if is("NOOP") {
            Command::Noop
        } else if is("VRFY") {
            Command::Vrfy
        } else if is("HELP") {
            Command::Help
        } else if is("QUIT") {
            Command::Quit
        } else {
            Command::Unknown
        }
    }
}

/// The argument of `MAIL`: `FROM:<path>` and parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MailFrom<'a> {
    /// The reverse path, without brackets or source route (empty for `<>`).
    pub(crate) path: &'a str,
    /// The largest `SIZE=` parameter given, if any (RFC 1870).
    pub(crate) size: Option<u64>,
}

/// Why a `MAIL` argument is unreadable; each is a `501` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MailSyntax {
    /// It does not start with `FROM:`.
    NoFrom,
    /// The path is not in angle brackets.
    BadPath,
    /// A `SIZE=` parameter is not a number.
    BadSize,
}

impl<'a> MailFrom<'a> {
    /// Reads the argument of `MAIL`.
    pub(crate) fn parse(arg: &'a str) -> Result<MailFrom<'a>, MailSyntax> {
        let rest = strip_prefix_ci(arg, "FROM:").ok_or(MailSyntax::NoFrom)?;
        let (path, params) = path_and_params(rest).ok_or(MailSyntax::BadPath)?;
        let mut size = None;
        for p in params.split_whitespace() {
            if let Some(value) = strip_prefix_ci(p, "SIZE=") {
                let n = value.parse::<u64>().map_err(|_| MailSyntax::BadSize)?;
                size = size.max(Some(n));
            }
        }
        Ok(MailFrom { path, size })
    }
}

/// The argument of `RCPT`: `TO:<local@domain>` (parameters ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RcptTo<'a> {
    /// The local part: a report address's label.
    pub(crate) local: &'a str,
    /// The domain, without a trailing dot.
    pub(crate) domain: &'a str,
}

/// Why a `RCPT` argument is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RcptSyntax {
    /// It does not start with `TO:` (`501`).
    NoTo,
    /// The path is not in angle brackets (`501`).
    BadPath,
    /// The path has no `@`: no address here (`550`).
    NoDomain,
}

impl<'a> RcptTo<'a> {
    /// Reads the argument of `RCPT`.
    pub(crate) fn parse(arg: &'a str) -> Result<RcptTo<'a>, RcptSyntax> {
        let rest = strip_prefix_ci(arg, "TO:").ok_or(RcptSyntax::NoTo)?;
        let (path, _) = path_and_params(rest).ok_or(RcptSyntax::BadPath)?;
        let (local, domain) = path.rsplit_once('@').ok_or(RcptSyntax::NoDomain)?;
        Ok(RcptTo {
            local,
            domain: domain.trim_end_matches('.'),
        })
    }
}

fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Splits `<path> params` into the address inside the brackets and the parameters.
fn path_and_params(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    let rest = s.strip_prefix('<')?;
    let end = rest.find('>')?;
    let path = &rest[..end];
    // A source route (`@a,@b:user@host`) is obsolete; keep only the mailbox.
    let path = path.rsplit_once(':').map_or(path, |(_, mailbox)| mailbox);
    Some((path, &rest[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            path_and_params("<a@b.example> SIZE=10"),
            Some(("a@b.example", " SIZE=10"))
        );
        assert_eq!(path_and_params("<>"), Some(("", "")));
        assert_eq!(
            path_and_params("<@relay.example:a@b.example>"),
            Some(("a@b.example", ""))
        );
        assert_eq!(path_and_params("a@b.example"), None);
        assert_eq!(path_and_params("<a@b"), None);
        assert_eq!(strip_prefix_ci("from:<x>", "FROM:"), Some("<x>"));
        assert_eq!(strip_prefix_ci("fr", "FROM:"), None);
        assert_eq!(strip_prefix_ci("é", "FROM:"), None);
    }

    #[test]
    fn commands() {
        assert_eq!(
            Command::parse("ehlo  client.example "),
            Command::Hello {
                extended: true,
                domain: "client.example"
            }
        );
        assert_eq!(
            Command::parse("HELO"),
            Command::Hello {
                extended: false,
                domain: ""
            }
        );
        assert_eq!(
            Command::parse("StartTLS x"),
            Command::StartTls { argument: true }
        );
        assert_eq!(
            Command::parse("MAIL FROM:<a@b>"),
            Command::Mail("FROM:<a@b>")
        );
        assert_eq!(Command::parse("DATA"), Command::Data { argument: false });
        assert_eq!(Command::parse("QUITX"), Command::Unknown);
        assert_eq!(Command::parse(""), Command::Unknown);
        assert_eq!(text(b"NOOP\r\n"), "NOOP");
        assert_eq!(text(b"NO\xFFOP\n"), "NO\u{FFFD}OP");
    }

    #[test]
    fn mail_and_rcpt_arguments() {
        assert_eq!(
            MailFrom::parse("FROM:<a@b.example> SIZE=10 size=20 BODY=8BITMIME"),
            Ok(MailFrom {
                path: "a@b.example",
                size: Some(20)
            })
        );
        assert_eq!(MailFrom::parse("TO:<a@b>"), Err(MailSyntax::NoFrom));
        assert_eq!(MailFrom::parse("FROM:a@b"), Err(MailSyntax::BadPath));
        assert_eq!(MailFrom::parse("FROM:<> SIZE=-1"), Err(MailSyntax::BadSize));
        assert_eq!(
            RcptTo::parse("to:<abc@Reports.Example.>"),
            Ok(RcptTo {
                local: "abc",
                domain: "Reports.Example"
            })
        );
        assert_eq!(RcptTo::parse("TO:<postmaster>"), Err(RcptSyntax::NoDomain));
        assert_eq!(RcptTo::parse("TO:abc@x"), Err(RcptSyntax::BadPath));
        assert_eq!(RcptTo::parse("FROM:<a@b>"), Err(RcptSyntax::NoTo));
    }
}
