//! TLS for the test's own probes: a client trusting given roots, the policy fetched straight
//! from the edge, and the test CA that certifies the customer's MX.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A TLS connector that trusts exactly the certificates in `root_pem`.
pub(crate) fn connector(root_pem: &str) -> TlsConnector {
    stsd_testkit::tls_connector(root_pem).unwrap()
}

/// `GET https://<host>/.well-known/mta-sts.txt` from the edge at `edge`, the chain verified
/// against `root_pem`; the body of a 200, else `None`.
pub(crate) async fn fetch_policy(edge: SocketAddr, host: &str, root_pem: &str) -> Option<String> {
    let tcp = TcpStream::connect(edge).await.ok()?;
    let tls = connector(root_pem)
        .connect(ServerName::try_from(host.to_owned()).ok()?, tcp)
        .await
        .ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .ok()?;
    tokio::spawn(conn);
    let req = http::Request::get("/.well-known/mta-sts.txt")
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .ok()?;
    let resp = sender.send_request(req).await.ok()?;
    if resp.status() != 200 {
        return None;
    }
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    String::from_utf8(body.to_vec()).ok()
}

/// A CA of the test and a server configuration for `hosts` certified by it: what the
/// customer's MX presents, and the root stsd's STARTTLS check is told to trust.
pub(crate) fn mx_tls(hosts: &[&str]) -> (String, Arc<rustls::ServerConfig>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "world MX test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(hosts.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let chain = vec![cert.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    (ca.pem(), Arc::new(config))
}
