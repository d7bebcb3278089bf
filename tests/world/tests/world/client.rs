//! A real MTA-STS client: `mta-sts-query` of postfix-mta-sts-resolver (PyPI, installed by
//! `scripts/mta-sts-client.sh`). It does what a sending MTA does: looks up the
//! `_mta-sts.<domain>` TXT record and fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt`,
//! both through the system resolver, verifying the certificate against the system's roots.
//!
//! It runs in a private mount namespace (`unshare -m`, needs root) where `/etc/resolv.conf`
//! is bind-mounted over with one naming the world's Unbound, so the machine's own resolver
//! configuration is never touched. Its only trusted root is Pebble's (`SSL_CERT_FILE`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

/// What the client saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A valid policy under the id of the TXT record.
    Policy {
        id: String,
        mode: String,
        mx: Vec<String>,
        max_age: u32,
    },
    /// No (single, valid) `v=STSv1` record: the domain has no MTA-STS for this sender.
    NoPolicy,
    /// The record is there but the policy could not be fetched or parsed.
    FetchError,
}

impl Seen {
    /// The mode, for a policy.
    pub(crate) fn mode(&self) -> Option<&str> {
        match self {
            Seen::Policy { mode, .. } => Some(mode),
            _ => None,
        }
    }

    /// The id, for a policy.
    pub(crate) fn id(&self) -> Option<&str> {
        match self {
            Seen::Policy { id, .. } => Some(id),
            _ => None,
        }
    }
}

/// The path of `mta-sts-query`, installing it first if needed (once per test run).
pub(crate) fn query_tool() -> &'static Path {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mta-sts-client.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .expect("cannot run scripts/mta-sts-client.sh");
        assert!(
            out.status.success(),
            "scripts/mta-sts-client.sh failed: the MTA-STS client (postfix-mta-sts-resolver from \
             PyPI, python3 with venv) is required"
        );
        let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        assert!(path.is_file(), "no mta-sts-query at {}", path.display());
        path
    })
}

/// The client, resolving through `resolver` (port 53) and trusting only `root_pem`.
pub(crate) struct MtaStsClient {
    resolv_conf: PathBuf,
    roots: PathBuf,
}

impl MtaStsClient {
    /// Writes the client's `resolv.conf` and trust roots into `dir`.
    pub(crate) fn new(resolver: SocketAddr, root_pem: &str, dir: &Path) -> MtaStsClient {
        assert_eq!(resolver.port(), 53, "resolv.conf can only name port 53");
        query_tool();
        let resolv_conf = dir.join("client-resolv.conf");
        std::fs::write(
            &resolv_conf,
            format!(
                "nameserver {}\noptions timeout:2 attempts:2\n",
                resolver.ip()
            ),
        )
        .unwrap();
        let roots = dir.join("client-roots.pem");
        std::fs::write(&roots, root_pem).unwrap();
        MtaStsClient { resolv_conf, roots }
    }

    /// Asks for `domain`'s policy once.
    pub(crate) async fn query(&self, domain: &str) -> Seen {
        let mut cmd = tokio::process::Command::new("unshare");
        cmd.arg("--mount")
            .arg("--propagation")
            .arg("private")
            .arg("sh")
            .arg("-c")
            .arg(r#"mount --bind "$1" /etc/resolv.conf && exec "$2" "$3""#)
            .arg("sh")
            .arg(&self.resolv_conf)
            .arg(query_tool())
            .arg(domain)
            .env("SSL_CERT_FILE", &self.roots)
            .env("SSL_CERT_DIR", "/nonexistent")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for proxy in [
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
        ] {
            cmd.env_remove(proxy);
        }
        let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
            .await
            .expect("mta-sts-query took over 30 s")
            .expect("cannot run unshare (util-linux) for mta-sts-query");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "mta-sts-query failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        parse(stdout.trim()).unwrap_or_else(|| panic!("unexpected mta-sts-query output: {stdout}"))
    }
}

/// Parses the tool's output, the Python repr of its result, e.g.
/// `(<STSFetchResult.VALID: 1>, ('20261122T174417', {'version': 'STSv1', 'mode': 'testing',
/// 'mx': ['mx1.example.test'], 'max_age': 86400}))`.
fn parse(out: &str) -> Option<Seen> {
    if out.starts_with("(<STSFetchResult.NONE") {
        return Some(Seen::NoPolicy);
    }
    if out.starts_with("(<STSFetchResult.FETCH_ERROR") {
        return Some(Seen::FetchError);
    }
    let rest = out.strip_prefix("(<STSFetchResult.VALID: 1>, ('")?;
    let (id, rest) = rest.split_once('\'')?;
    let quoted = |key: &str| -> Option<String> {
        let at = rest.find(&format!("'{key}': '"))? + key.len() + 5;
        Some(rest[at..].split_once('\'')?.0.to_owned())
    };
    let mode = quoted("mode")?;
    let max_age_at = rest.find("'max_age': ")? + "'max_age': ".len();
    let max_age = rest[max_age_at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    let mx = match rest.find("'mx': [") {
        Some(at) => rest[at + 7..]
            .split_once(']')?
            .0
            .split(',')
            .map(|s| s.trim().trim_matches('\'').to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        None => Vec::new(),
    };
    Some(Seen::Policy {
        id: id.to_owned(),
        mode,
        mx,
        max_age,
    })
}

#[test]
fn parses_the_tools_output() {
    let out = "(<STSFetchResult.VALID: 1>, ('20261122T174417', {'version': 'STSv1', 'mode': \
               'testing', 'mx': ['mx1.example.test', '*.backup.example.test'], 'max_age': 86400}))";
    assert_eq!(
        parse(out),
        Some(Seen::Policy {
            id: "20261122T174417".into(),
            mode: "testing".into(),
            mx: vec!["mx1.example.test".into(), "*.backup.example.test".into()],
            max_age: 86400,
        })
    );
    assert_eq!(
        parse(
            "(<STSFetchResult.VALID: 1>, ('abc', {'version': 'STSv1', 'mode': 'none', 'max_age': 86400}))"
        ),
        Some(Seen::Policy {
            id: "abc".into(),
            mode: "none".into(),
            mx: vec![],
            max_age: 86400
        })
    );
    assert_eq!(
        parse("(<STSFetchResult.NONE: 0>, None)"),
        Some(Seen::NoPolicy)
    );
    assert_eq!(
        parse("(<STSFetchResult.FETCH_ERROR: 2>, None)"),
        Some(Seen::FetchError)
    );
    assert_eq!(parse("garbage"), None);
}
