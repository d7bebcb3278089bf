//! Master-key rotation: every sealed column is re-sealed under the new key, in batches,
//! idempotently, and afterwards only a key ring holding the new key reads it.

use std::str::FromStr;

use stsd_core::DomainName;
use stsd_store::{AcmeAccount, MasterKey, NewCertificate, Ownership, ServiceCertificate};
use time::{Duration, OffsetDateTime};

use crate::harness::TestDb;

fn old_key() -> MasterKey {
    MasterKey::from_bytes([11; 32])
}

fn new_key() -> MasterKey {
    MasterKey::from_bytes([22; 32])
}

/// Every sealed value in the store, as the store returns it.
async fn sealed_values(
    db: &TestDb,
    domain: &stsd_store::DomainId,
    tenant: &stsd_store::TenantId,
) -> Vec<(String, Vec<u8>)> {
    let s = &db.store;
    let mut out = Vec::new();
    let acct = s
        .acme_account("https://ca.example/dir")
        .await
        .unwrap()
        .unwrap();
    out.push((acct.key_id, acct.credentials_ciphertext));
    let cert = s
        .all_tenants()
        .current_certificate(domain)
        .await
        .unwrap()
        .unwrap();
    out.push((cert.key_id, cert.key_ciphertext));
    for c in s.service_certificates().await.unwrap() {
        out.push((c.key_id, c.key_ciphertext));
    }
    let ca = s.local_ca().await.unwrap().unwrap();
    out.push((ca.key_id, ca.key_ciphertext));
    for w in s.webhooks(tenant).await.unwrap() {
        out.push((w.key_id, w.secret_ciphertext));
    }
    out
}

async fn rotation_reseals_every_secret(db: &TestDb) {
    let s = &db.store;
    let old = old_key();
    let seal = |text: &str| old.seal(text.as_bytes()).unwrap();
    let t = s.create_tenant("T").await.unwrap();
    let d = s
        .create_domain(
            &t.id,
            &DomainName::from_str("rot.example").unwrap(),
            Ownership::Cname,
        )
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    s.put_acme_account(&AcmeAccount {
        directory_url: "https://ca.example/dir".into(),
        contact: None,
        credentials_ciphertext: seal("secret-account"),
        key_id: old.id().into(),
    })
    .await
    .unwrap();
    for i in 0..5 {
        s.all_tenants()
            .put_certificate(&NewCertificate {
                domain_id: d.id.clone(),
                chain_pem: format!("chain {i}"),
                key_ciphertext: seal("secret-cert-key"),
                key_id: old.id().into(),
                not_before: now - Duration::days(1),
                not_after: now + Duration::days(90 + i),
            })
            .await
            .unwrap();
    }
    s.put_service_certificate(&ServiceCertificate {
        host: "reports.sts.example".into(),
        chain_pem: "chain".into(),
        key_ciphertext: seal("secret-service-key"),
        key_id: old.id().into(),
        not_before: now - Duration::days(1),
        not_after: now + Duration::days(90),
    })
    .await
    .unwrap();
    s.put_local_ca_if_absent("ca pem", &seal("secret-ca-key"), old.id())
        .await
        .unwrap();
    s.create_webhook(
        &t.id,
        "https://hooks.example/a",
        &["*".to_owned()],
        &seal("secret-hook"),
        old.id(),
    )
    .await
    .unwrap();
    // One value under a key nobody configured: reported, never touched.
    let stray = MasterKey::from_bytes([33; 32]);
    s.create_webhook(
        &t.id,
        "https://hooks.example/b",
        &["*".to_owned()],
        &stray.seal(b"x").unwrap(),
        stray.id(),
    )
    .await
    .unwrap();

    // Without the old key listed as previous nothing can be read, so nothing is rewritten.
    let counts = s.all_tenants().reseal_all(&new_key(), 2).await.unwrap();
    assert!(counts.iter().all(|c| c.resealed == 0), "{counts:?}");
    assert_eq!(counts.iter().map(|c| c.unreadable).sum::<u64>(), 10);

    let ring = new_key().with_previous([old_key()]);
    // Batches of two: five certificates take three transactions.
    let counts = s.all_tenants().reseal_all(&ring, 2).await.unwrap();
    let by_table = |table: &str| counts.iter().find(|c| c.table == table).unwrap().clone();
    assert_eq!(counts.len(), 5);
    assert_eq!(by_table("certificates").resealed, 5);
    assert_eq!(by_table("acme_accounts").resealed, 1);
    assert_eq!(by_table("service_certificates").resealed, 1);
    assert_eq!(by_table("local_ca").resealed, 1);
    assert_eq!(by_table("webhooks").resealed, 1);
    assert_eq!(
        by_table("webhooks").unreadable,
        1,
        "the stray value is reported"
    );
    let shown = format!("{counts:?}");
    assert!(!shown.contains("secret"), "counts only: {shown}");

    // Idempotent: a second run finds everything current.
    let again = s.all_tenants().reseal_all(&ring, 2).await.unwrap();
    assert_eq!(
        again.iter().map(|c| c.resealed).sum::<u64>(),
        0,
        "{again:?}"
    );
    assert_eq!(again.iter().map(|c| c.current).sum::<u64>(), 9);

    let values = sealed_values(db, &d.id, &t.id).await;
    let new_alone = new_key();
    let old_alone = old_key();
    let mut read = 0;
    for (key_id, sealed) in &values {
        if key_id == stray.id() {
            continue;
        }
        assert_eq!(key_id, new_alone.id());
        let plain = String::from_utf8(new_alone.open(sealed).unwrap()).unwrap();
        assert!(plain.starts_with("secret-"), "{plain}");
        assert_eq!(
            ring.open(sealed).unwrap(),
            plain.as_bytes(),
            "the rollout ring reads it"
        );
        assert!(old_alone.open(sealed).is_err(), "the old key alone cannot");
        read += 1;
    }
    assert_eq!(
        read, 5,
        "account, current certificate, service cert, CA, webhook"
    );
}

crate::both_backends!(rotation_reseals_every_secret);
