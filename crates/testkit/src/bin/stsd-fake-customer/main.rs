//! `stsd-fake-customer`: the customer's side of the world for the dashboard's browser test
//! (`frontend/e2e/run.sh`), on loopback, with real protocols:
//!
//! - their authoritative DNS ([`stsd_testkit::FakeDns`], UDP and TCP), which stsd is pointed
//!   at with `STSD_RESOLVERS`; it starts empty;
//! - their MX ([`stsd_testkit::FakeMx`]): SMTP with `STARTTLS` and a certificate from a test CA
//!   whose root goes to `--mx-ca-out` (for `STSD_MX_CA_ROOTS`); every MX host name resolves to
//!   this one server, probed on its port (`STSD_MX_SMTP_PORT`);
//! - with `--policy-listen`, their own `mta-sts.<domain>` host: HTTPS with certificates from
//!   the same CA for whatever name a client asks, answering what the test sets;
//! - a small HTTP control endpoint (see `control.rs`) through which the test publishes records
//!   and renews the MX certificate, as the customer would.
//!
//! Once everything listens, `--state-out` gets `KEY=value` lines (`CUSTOMER_DNS`,
//! `CUSTOMER_SMTP_PORT`, `CUSTOMER_CONTROL`, and `CUSTOMER_POLICY` with `--policy-listen`) for
//! a shell to source. Runs until SIGTERM or
//! Ctrl-C.

mod control;
mod mx_cert;
mod policy_cert;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use stsd_testkit::{FakeDns, FakeMx, FakePolicyHost, PolicyResponse};

use crate::control::World;
use crate::mx_cert::MxCertificate;
use crate::policy_cert::PolicyCertificates;

/// The customer's DNS and MX on loopback, controlled over HTTP (test support; never for
/// production).
#[derive(Debug, Parser)]
#[command(name = "stsd-fake-customer")]
struct Args {
    /// Where to write the MX CA's root certificate (PEM).
    #[arg(long)]
    mx_ca_out: PathBuf,
    /// Where to write the addresses once ready (`KEY=value` lines).
    #[arg(long)]
    state_out: PathBuf,
    /// Also serve their own `mta-sts` host here (senders use port 443, so does stsd).
    #[arg(long)]
    policy_listen: Option<SocketAddr>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let dns = Arc::new(
        FakeDns::start()
            .await
            .map_err(|e| format!("cannot start the fake DNS: {e}"))?,
    );
    let mx = Arc::new(MxCertificate::new()?);
    let smtp = FakeMx::start(Some(mx.server_config()?))
        .await
        .map_err(|e| format!("cannot start the fake MX: {e}"))?;
    let policy = match args.policy_listen {
        None => None,
        Some(addr) => {
            let certificates = Arc::new(PolicyCertificates::new(mx.clone()));
            let host = FakePolicyHost::start(
                addr,
                certificates.server_config()?,
                PolicyResponse {
                    status: "404 Not Found".to_owned(),
                    content_type: Some("text/plain".to_owned()),
                    headers: Vec::new(),
                    body: b"no policy yet".to_vec(),
                },
            )
            .await
            .map_err(|e| format!("cannot serve the policy host on {addr}: {e}"))?;
            Some(Arc::new(host))
        }
    };
    write_atomically(&args.mx_ca_out, &mx.root_pem())?;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| format!("cannot listen for control: {e}"))?;
    let control: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let world = World {
        dns: dns.clone(),
        mx,
        smtp: smtp.addr(),
        policy: policy.clone(),
    };
    let policy_line = policy
        .as_ref()
        .map(|p| format!("CUSTOMER_POLICY={}\n", p.addr()))
        .unwrap_or_default();
    write_atomically(
        &args.state_out,
        &format!(
            "CUSTOMER_DNS={}\nCUSTOMER_SMTP_PORT={}\nCUSTOMER_CONTROL=http://{control}\n{policy_line}",
            dns.addr(),
            smtp.addr().port()
        ),
    )?;
    eprintln!(
        "fake customer: DNS {}, MX {}, control http://{control}",
        dns.addr(),
        smtp.addr()
    );
    axum::serve(listener, control::router(world))
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| format!("control server: {e}"))?;
    drop(smtp);
    Ok(())
}

/// Writes `text` to `path` through a temporary file, so that a reader never sees half of it.
fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests;
