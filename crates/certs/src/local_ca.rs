//! The local development CA (`STSD_ACME_DIRECTORY=local`): no CA to reach, the whole flow on a
//! laptop. Its root is printed by `stsd admin local-ca-root` for the browser or `curl --cacert`.

use async_trait::async_trait;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::PrivatePkcs8KeyDer;
use stsd_store::{DomainId, MasterKey, Store};
use time::{Duration, OffsetDateTime};

use crate::error::CertsError;
use crate::issuer::{Issued, Issuer};

/// How long the local CA's root is valid.
const ROOT_LIFETIME: Duration = Duration::days(3650);
/// How long leaves are valid, like Let's Encrypt's.
const LEAF_LIFETIME: Duration = Duration::days(90);
/// Backdating, so that a client whose clock is slightly behind still accepts a fresh leaf.
const BACKDATE: Duration = Duration::hours(1);

/// A CA whose key lives (sealed) in the store and which signs leaves for `mta-sts.<domain>`.
pub struct LocalCa {
    root_pem: String,
    issuer: rcgen::Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa").finish_non_exhaustive()
    }
}

impl LocalCa {
    /// Loads the CA from the store, creating (and storing) it first if there is none yet.
    pub async fn load_or_create(store: &Store, master: &MasterKey) -> Result<LocalCa, CertsError> {
        let record = match store.local_ca().await? {
            Some(record) => record,
            None => {
                let (cert_pem, key_der) = generate_root()?;
                let sealed = master.seal(&key_der)?;
                store
                    .put_local_ca_if_absent(&cert_pem, &sealed, master.id())
                    .await?
            }
        };
        let key_der = master.open(&record.key_ciphertext)?;
        let key = KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(key_der),
            &PKCS_ECDSA_P256_SHA256,
        )?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(&record.cert_pem, key)?;
        Ok(LocalCa {
            root_pem: record.cert_pem,
            issuer,
        })
    }

    /// The CA certificate, PEM: what `stsd admin local-ca-root` prints.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// Signs a leaf for `host` with a fresh ECDSA P-256 key.
    pub fn sign(&self, host: &str) -> Result<Issued, CertsError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec![host.to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, host);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + LEAF_LIFETIME;
        params.serial_number = Some(random_serial()?);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            chain_pem: cert.pem(),
            key_pkcs8: key.serialize_der(),
            // Whole seconds: what the certificate itself says.
            not_before: truncate(params.not_before),
            not_after: truncate(params.not_after),
        })
    }
}

#[async_trait]
impl Issuer for LocalCa {
    fn name(&self) -> &str {
        "local"
    }

    async fn issue_host(
        &self,
        host: &str,
        _owner: Option<&DomainId>,
    ) -> Result<Issued, CertsError> {
        self.sign(host)
    }
}

/// A new self-signed root: its PEM and its PKCS#8 key.
fn generate_root() -> Result<(String, Vec<u8>), CertsError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params
        .distinguished_name
        .push(DnType::CommonName, "stsd local development CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "stsd (not publicly trusted)");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + ROOT_LIFETIME;
    params.serial_number = Some(random_serial()?);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_der()))
}

/// A random positive 16-byte serial, so that no two leaves share one.
fn random_serial() -> Result<rcgen::SerialNumber, CertsError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| CertsError::Random(e.to_string()))?;
    bytes[0] &= 0x7f;
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}

fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}
