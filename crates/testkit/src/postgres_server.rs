//! A private PostgreSQL server for tests that stop and restart the database: the shared
//! server other tests use must not go away under them.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A PostgreSQL cluster in a temporary directory, on its own loopback port. Stopped when
/// dropped.
#[derive(Debug)]
pub struct PostgresServer {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

/// The newest installed PostgreSQL's binaries (Debian layout).
fn bin_dir() -> io::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, p)| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no PostgreSQL under /usr/lib/postgresql",
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root (PostgreSQL refuses
/// to run as root).
fn run(program: &Path, args: &[&str]) -> io::Result<()> {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd.args(args).stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{} {}: {}{}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

impl PostgresServer {
    /// Creates and starts a cluster with trust authentication for `postgres`.
    pub fn start() -> io::Result<PostgresServer> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new().prefix("stsd-pg-").tempdir()?;
        if is_root() {
            // The cluster's files belong to the postgres user.
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()?;
            if !status.success() {
                return Err(io::Error::other(
                    "cannot hand the data directory to postgres",
                ));
            }
        }
        let data = dir.path().join("data");
        let data_str = data.to_string_lossy().into_owned();
        run(
            &bin.join("initdb"),
            &[
                "-D",
                &data_str,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let server = PostgresServer {
            bin,
            data,
            port,
            _dir: dir,
        };
        server.resume()?;
        Ok(server)
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (clients see their connections drop).
    pub fn stop(&self) -> io::Result<()> {
        let data = self.data.to_string_lossy().into_owned();
        run(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "fast", "-w", "stop"],
        )
    }

    /// Starts it again on the same port and data.
    pub fn resume(&self) -> io::Result<()> {
        let data = self.data.to_string_lossy().into_owned();
        let log = self.data.parent().unwrap_or(&self.data).join("server.log");
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.data.parent().unwrap_or(&self.data).display()
        );
        run(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &data,
                "-l",
                &log.to_string_lossy(),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        )
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        let _ = run(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "-w", "stop"],
        );
    }
}
