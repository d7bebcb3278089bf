//! Child processes of the world: killed and reaped on drop, their logs shown when the test
//! fails, and a free loopback address of the world's own.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running child process with its log file; killed (and reaped) on drop. When the test is
/// panicking, the log's last lines go to stderr so the failure explains itself.
pub(crate) struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Spawns `cmd` with stdout and stderr to `log`; a missing program fails the test loudly.
    pub(crate) fn spawn(name: &'static str, mut cmd: Command, log: &Path, install: &str) -> Proc {
        let file = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({install}): {e}"));
        Proc {
            name,
            child,
            log: log.to_owned(),
        }
    }

    /// Fails the test if the process has exited.
    pub(crate) fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited ({status}); its log:\n{}",
                self.name,
                tail(&self.log, 80)
            );
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "----- last lines of {} ({}) -----\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 60)
            );
        }
    }
}

/// The last `n` lines of a file.
pub(crate) fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A free TCP port on `ip`.
pub(crate) fn free_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_local_port() -> u16 {
    free_port(Ipv4Addr::LOCALHOST)
}

/// A loopback address of the world's own, not 127.0.0.1, on which TCP 443 and UDP and TCP
/// 53 are free: the edge serves HTTPS on 443 there (where real clients connect) and the
/// recursive resolver answers on 53 (the only port `resolv.conf` can name).
pub(crate) fn world_address() -> Ipv4Addr {
    for _ in 0..64 {
        let mut b = [0u8; 3];
        getrandom::fill(&mut b).unwrap();
        // 127.100-227.x.y with y in 2..=250: far from 127.0.0.x and from broadcast-like ends.
        let ip = Ipv4Addr::new(127, 100 + b[0] % 128, b[1], 2 + b[2] % 249);
        let free = TcpListener::bind((ip, 443)).is_ok()
            && TcpListener::bind((ip, 53)).is_ok()
            && UdpSocket::bind((ip, 53)).is_ok();
        if free {
            return ip;
        }
    }
    panic!("no free loopback address with ports 443 and 53 (binding them needs root)");
}
