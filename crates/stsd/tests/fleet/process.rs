//! Starting, probing and stopping role processes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub(crate) const ZONE: &str = "sts.fleet.test";
pub(crate) const MASTER_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

pub(crate) use stsd_testkit::free_port;

/// One `stsd` process; killed when dropped. Its log is kept in its own file.
pub(crate) struct Role {
    pub(crate) name: String,
    child: Option<Child>,
    pub(crate) metrics: u16,
    pub(crate) ports: Ports,
    log: PathBuf,
}

/// Every listener a role might open, each on its own free port.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    pub(crate) api: u16,
    pub(crate) https: u16,
    pub(crate) http: u16,
    pub(crate) dns: u16,
    pub(crate) smtp: u16,
}

impl Ports {
    pub(crate) fn free() -> Ports {
        Ports {
            api: free_port(),
            https: free_port(),
            http: free_port(),
            dns: free_port(),
            smtp: free_port(),
        }
    }
}

/// `stsd <args>` with the fleet's shared settings, in `dir`.
pub(crate) fn command(dir: &Path, database_url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stsd"));
    for (k, _) in std::env::vars() {
        if k.starts_with("STSD_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir)
        .args(args)
        .env("STSD_DATABASE_URL", database_url)
        // Tests run side by side on one shared PostgreSQL (100 connections in all).
        .env("STSD_DATABASE_MAX_CONNECTIONS", "4")
        .env("STSD_SERVICE_ZONE", ZONE)
        .env("STSD_MASTER_KEY", MASTER_KEY)
        .env("STSD_DATA_DIR", dir.join("data"))
        .env("RUST_LOG", "info,sqlx=warn");
    cmd
}

impl Role {
    /// Starts `stsd <args>` named `name` in its own directory under `root`.
    pub(crate) fn start(root: &Path, name: &str, database_url: &str, args: &[&str]) -> Role {
        Role::start_with(root, name, database_url, args, Ports::free())
    }

    /// Like [`Role::start`] with extra environment variables.
    pub(crate) fn start_env(
        root: &Path,
        name: &str,
        database_url: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Role {
        Role::spawn(root, name, database_url, args, Ports::free(), env)
    }

    /// Like [`Role::start`] on the given public ports (to restart a role where it was).
    pub(crate) fn start_with(
        root: &Path,
        name: &str,
        database_url: &str,
        args: &[&str],
        ports: Ports,
    ) -> Role {
        Role::spawn(root, name, database_url, args, ports, &[])
    }

    /// Like [`Role::start_with`] with extra environment variables.
    pub(crate) fn start_with_env(
        root: &Path,
        name: &str,
        database_url: &str,
        args: &[&str],
        ports: Ports,
        env: &[(&str, &str)],
    ) -> Role {
        Role::spawn(root, name, database_url, args, ports, env)
    }

    fn spawn(
        root: &Path,
        name: &str,
        database_url: &str,
        args: &[&str],
        ports: Ports,
        env: &[(&str, &str)],
    ) -> Role {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let metrics = free_port();
        let log = dir.join("stsd.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = command(&dir, database_url, args)
            .env("STSD_API_LISTEN", format!("127.0.0.1:{}", ports.api))
            .env(
                "STSD_EDGE_HTTPS_LISTEN",
                format!("127.0.0.1:{}", ports.https),
            )
            .env("STSD_EDGE_HTTP_LISTEN", format!("127.0.0.1:{}", ports.http))
            .env("STSD_DNS_LISTEN", format!("127.0.0.1:{}", ports.dns))
            .env("STSD_SMTP_LISTEN", format!("127.0.0.1:{}", ports.smtp))
            .env("STSD_METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Role {
            name: name.to_owned(),
            child: Some(child),
            metrics,
            ports,
            log,
        }
    }

    /// The role's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` on the metrics listener: status and body, or `None` when nothing answers.
    pub(crate) fn ops(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.metrics, path, Duration::from_secs(3))
    }

    /// Waits until `/readyz` answers `want`.
    pub(crate) fn wait_ready(&mut self, want: u16, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some((status, body)) = self.ops("/readyz")
                && status == want
            {
                return body;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("{} exited with {status}:\n{}", self.name, self.log());
            }
            assert!(
                start.elapsed() < limit,
                "{} never answered /readyz {want}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit status.
    pub(crate) fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "{} did not stop within {limit:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (at most `limit`) for the process to exit by itself.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(start.elapsed() < limit, "{} kept running", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, at once.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A minimal HTTP/1.1 GET: status and body, bounded by `limit`.
pub(crate) fn http_get(port: u16, path: &str, limit: Duration) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), limit).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.get(9..12)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Runs `stsd <args>` to the end; panics with its output when it fails.
pub(crate) fn run(dir: &Path, database_url: &str, args: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    let out = command(dir, database_url, args).output().unwrap();
    assert!(
        out.status.success(),
        "stsd {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
