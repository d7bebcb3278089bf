//! Choosing the issuer from `STSD_ACME_DIRECTORY`.

use std::sync::Arc;

use instant_acme::LetsEncrypt;
use stsd_store::{MasterKey, Store};

use crate::acme::{Acme, AcmeChallenge, AcmeConfig, EabKey};
use crate::error::CertsError;
use crate::issuer::Issuer;
use crate::local_ca::LocalCa;

/// The directory URL for a `STSD_ACME_DIRECTORY` value: Let's Encrypt by name
/// (`letsencrypt`, `letsencrypt-staging`), any other value as a URL, and `None` for `local`
/// (the built-in development CA).
pub fn directory_url(directory: &str) -> Option<String> {
    match directory {
        "local" => None,
        "letsencrypt" => Some(LetsEncrypt::Production.url().to_owned()),
        "letsencrypt-staging" => Some(LetsEncrypt::Staging.url().to_owned()),
        url => Some(url.to_owned()),
    }
}

/// The issuer for a `STSD_ACME_DIRECTORY` value: the local CA (created in the store on
/// first use), or an ACME account on the directory (created on first use), trusting
/// `extra_roots_pem` (the contents of `STSD_ACME_CA_ROOTS`) besides the public roots and
/// binding the account to `eab` when the CA requires it and answering `challenge`.
pub async fn issuer_for_directory(
    store: &Store,
    master: Arc<MasterKey>,
    directory: &str,
    contact_email: Option<String>,
    extra_roots_pem: Option<String>,
    eab: Option<EabKey>,
    challenge: AcmeChallenge,
) -> Result<Arc<dyn Issuer>, CertsError> {
    match directory_url(directory) {
        None => Ok(Arc::new(LocalCa::load_or_create(store, &master).await?)),
        Some(url) => {
            let config = AcmeConfig {
                contact_email,
                extra_roots_pem,
                eab,
                challenge,
                ..AcmeConfig::new(url)
            };
            Ok(Arc::new(
                Acme::connect(store.clone(), master, config).await?,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names() {
        assert_eq!(directory_url("local"), None);
        assert_eq!(
            directory_url("letsencrypt").as_deref(),
            Some("https://acme-v02.api.letsencrypt.org/directory")
        );
        assert_eq!(
            directory_url("letsencrypt-staging").as_deref(),
            Some("https://acme-staging-v02.api.letsencrypt.org/directory")
        );
        assert_eq!(
            directory_url("https://ca.example/dir").as_deref(),
            Some("https://ca.example/dir")
        );
    }
}
