//! Certificates of stsd's own hosts in the service zone, such as `reports.<zone>` where
//! reporters POST TLS reports. Customers' certificates live in `certificates`.

use time::OffsetDateTime;

use crate::Result;
use crate::clock::{from_ms, now, to_ms};
use crate::db::Store;
use crate::feed::{self, ChangeKind};
use crate::ids::row_id;

/// A certificate of a service host. The private key is encrypted under the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceCertificate {
    /// The host it is for (lower case, no trailing dot).
    pub host: String,
    /// Leaf first, then intermediates, PEM.
    pub chain_pem: String,
    /// AES-256-GCM ciphertext of the PKCS#8 private key.
    pub key_ciphertext: Vec<u8>,
    /// Which master key encrypted it.
    pub key_id: String,
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// Validity end.
    pub not_after: OffsetDateTime,
}

impl std::fmt::Debug for ServiceCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCertificate")
            .field("host", &self.host)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    host: String,
    chain_pem: String,
    key_ciphertext: Vec<u8>,
    key_id: String,
    not_before: i64,
    not_after: i64,
}

impl TryFrom<Row> for ServiceCertificate {
    type Error = crate::StoreError;
    fn try_from(r: Row) -> Result<ServiceCertificate> {
        Ok(ServiceCertificate {
            host: r.host,
            chain_pem: r.chain_pem,
            key_ciphertext: r.key_ciphertext,
            key_id: r.key_id,
            not_before: from_ms(r.not_before)?,
            not_after: from_ms(r.not_after)?,
        })
    }
}

impl Store {
    /// Stores a service host's certificate; edges pick it up through the change feed (a
    /// `certificate` change without a registration). Older certificates stay until they
    /// expire, so a failed renewal never leaves the host without one.
    pub async fn put_service_certificate(&self, cert: &ServiceCertificate) -> Result<()> {
        let at = now();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO service_certificates (id, host, chain_pem, key_ciphertext, key_id,
                                               not_before, not_after, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(row_id())
        .bind(&cert.host)
        .bind(&cert.chain_pem)
        .bind(cert.key_ciphertext.clone())
        .bind(&cert.key_id)
        .bind(to_ms(cert.not_before))
        .bind(to_ms(cert.not_after))
        .bind(to_ms(at))
        .execute(&mut *tx)
        .await?;
        feed::append(&mut tx, self.backend, ChangeKind::Certificate, None, at).await?;
        tx.commit().await?;
        self.changed_locally();
        Ok(())
    }

    /// Per service host, the certificate valid longest among those valid now.
    pub async fn service_certificates(&self) -> Result<Vec<ServiceCertificate>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT host, chain_pem, key_ciphertext, key_id, not_before, not_after
             FROM service_certificates WHERE not_after > $1
             ORDER BY host, not_after DESC, created_at DESC",
        )
        .bind(to_ms(now()))
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<ServiceCertificate> = Vec::new();
        for row in rows {
            if out.last().is_some_and(|c| c.host == row.host) {
                continue;
            }
            out.push(row.try_into()?);
        }
        Ok(out)
    }
}
