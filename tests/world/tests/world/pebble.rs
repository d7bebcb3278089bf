//! The CA of the world: Debian's `pebble` (a real ACME server), validating HTTP-01 on the
//! port the edge's HTTP listener uses, at whatever address the resolver gives for the name.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::{Proc, free_local_port, wait_for_tcp};
use crate::tls::connector;

/// A running Pebble; stopped on drop.
pub(crate) struct Pebble {
    /// The ACME directory URL (`STSD_ACME_DIRECTORY`).
    pub(crate) directory: String,
    /// The root of Pebble's own HTTPS listeners, as a file (`STSD_ACME_CA_ROOTS`).
    pub(crate) listener_root: PathBuf,
    listener_root_pem: String,
    management: SocketAddr,
    proc: Proc,
}

impl Pebble {
    /// Starts Pebble resolving names through `dns` and validating HTTP-01 on `http_port`.
    pub(crate) async fn start(http_port: u16, dns: SocketAddr, dir: &Path) -> Pebble {
        // Pebble's listener certificate, from a throwaway CA of the test.
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pebble listener test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let cert_path = dir.join("pebble-cert.pem");
        let key_path = dir.join("pebble-key.pem");
        let listener_root = dir.join("pebble-listener-root.pem");
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        std::fs::write(&listener_root, ca.pem()).unwrap();
        let (listen, management) = (free_local_port(), free_local_port());
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{listen}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": cert_path,
                "privateKey": key_path,
                "httpPort": http_port,
                "tlsPort": free_local_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        let config_path = dir.join("pebble-config.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let mut cmd = Command::new("pebble");
        cmd.arg("-config")
            .arg(&config_path)
            .arg("-dnsserver")
            .arg(dns.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_VA_ALWAYS_VALID", "0")
            .env("PEBBLE_WFE_NONCEREJECT", "0");
        let mut proc = Proc::spawn(
            "pebble",
            cmd,
            &dir.join("pebble.log"),
            "apt-get install pebble",
        );
        let management = SocketAddr::from((Ipv4Addr::LOCALHOST, management));
        wait_for_tcp(
            "pebble",
            SocketAddr::from((Ipv4Addr::LOCALHOST, listen)),
            &mut proc,
        )
        .await;
        wait_for_tcp("pebble's management", management, &mut proc).await;
        Pebble {
            directory: format!("https://127.0.0.1:{listen}/dir"),
            listener_root,
            listener_root_pem: ca.pem(),
            management,
            proc,
        }
    }

    /// Pebble's issuing root (PEM), from its management interface.
    pub(crate) async fn issuing_root(&self) -> String {
        let tcp = TcpStream::connect(self.management).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector(&self.listener_root_pem)
            .connect(name, tcp)
            .await
            .unwrap();
        // HTTP/1.0: no chunked encoding, the body ends with the connection.
        tls.write_all(b"GET /roots/0 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        let _ = tls.read_to_end(&mut response).await;
        let response = String::from_utf8(response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        assert!(body.contains("BEGIN CERTIFICATE"), "{body}");
        body.to_owned()
    }

    /// Fails the test if Pebble has exited.
    pub(crate) fn assert_running(&mut self) {
        self.proc.assert_running();
    }
}
