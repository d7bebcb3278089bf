//! The recursive resolver of the world: Debian's `unbound`, with stub zones sending the
//! customer zone to the fake customer DNS and the service zone to stsd's own DNS. Pebble and
//! the MTA-STS client resolve through it, as mail senders resolve through theirs.
//!
//! It caches next to nothing (`cache-max-ttl: 0`): the test changes records and rotates ids
//! within seconds and must see each change at once, not after the records' TTLs. (Unbound
//! counts time in whole seconds, so an answer stays cached for the rest of the second it was
//! fetched in: the walk waits for the next second after changing a record it checks at once.)
//! Every other name is refused, so nothing ever leaves the machine.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use crate::dns::ask;
use crate::process::Proc;

/// A running Unbound on `<ip>:53`; stopped on drop.
pub(crate) struct Unbound {
    pub(crate) addr: SocketAddr,
    proc: Proc,
}

impl Unbound {
    /// Starts Unbound on `ip:53` with a stub zone per `(zone, authoritative server)`; waits
    /// until it answers. Files go to `dir`.
    pub(crate) async fn start(ip: Ipv4Addr, stubs: &[(&str, SocketAddr)], dir: &Path) -> Unbound {
        let mut conf = format!(
            "server:
  interface: {ip}
  port: 53
  do-ip6: no
  do-daemonize: no
  username: \"\"
  chroot: \"\"
  directory: \"{dir}\"
  pidfile: \"{dir}/unbound.pid\"
  use-syslog: no
  logfile: \"\"
  log-queries: yes
  verbosity: 1
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: \"iterator\"
  qname-minimisation: no
  harden-below-nxdomain: no
  cache-max-ttl: 0
  cache-max-negative-ttl: 0
  prefetch: no
  infra-host-ttl: 1
  local-zone: \"test.\" nodefault
  local-zone: \".\" refuse
",
            dir = dir.display()
        );
        for (zone, _) in stubs {
            conf.push_str(&format!("  local-zone: \"{zone}.\" transparent\n"));
        }
        conf.push_str("remote-control:\n  control-enable: no\n");
        for (zone, server) in stubs {
            conf.push_str(&format!(
                "stub-zone:\n  name: \"{zone}.\"\n  stub-addr: {}@{}\n",
                server.ip(),
                server.port()
            ));
        }
        let conf_path = dir.join("unbound.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let check = Command::new("unbound-checkconf")
            .arg(&conf_path)
            .output()
            .expect("unbound is not installed (apt-get install unbound)");
        assert!(
            check.status.success(),
            "unbound-checkconf: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let mut cmd = Command::new("unbound");
        cmd.arg("-d").arg("-c").arg(&conf_path);
        let mut proc = Proc::spawn(
            "unbound",
            cmd,
            &dir.join("unbound.log"),
            "apt-get install unbound",
        );
        let addr = SocketAddr::from((ip, 53));
        let start = Instant::now();
        // Any answer at all (REFUSED for the root) means it is up.
        while ask(addr, ".", RecordType::SOA).await.is_none() {
            proc.assert_running();
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "unbound does not answer on {addr}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Unbound { addr, proc }
    }

    /// Fails the test if Unbound has exited.
    pub(crate) fn assert_running(&mut self) {
        self.proc.assert_running();
    }
}
