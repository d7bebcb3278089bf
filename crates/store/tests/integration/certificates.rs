use std::str::FromStr;

use stsd_core::DomainName;
use stsd_store::{
    AcmeAccount, Challenge, ChallengeKind, DomainState, NewCertificate, Ownership, RenewalPlan,
    RenewalSource, StoreError,
};
use time::{Duration, OffsetDateTime};

use crate::harness::TestDb;

async fn certificates_challenges_accounts(db: &TestDb) {
    let s = &db.store;
    let t = s.create_tenant("T").await.unwrap();
    let d = s
        .create_domain(
            &t.id,
            &DomainName::from_str("cert.example").unwrap(),
            Ownership::Cname,
        )
        .await
        .unwrap();
    assert!(
        s.current_certificate(&d.tenant_id, &d.id)
            .await
            .unwrap()
            .is_none()
    );
    let now = OffsetDateTime::now_utc();
    let new = |days: i64, pem: &str| NewCertificate {
        domain_id: d.id.clone(),
        chain_pem: pem.to_owned(),
        key_ciphertext: vec![0, 159, 255, 7],
        key_id: "k1".into(),
        not_before: now - Duration::days(1),
        not_after: now + Duration::days(days),
    };
    s.all_tenants()
        .put_certificate(&new(90, "long"))
        .await
        .unwrap();
    let short = s
        .all_tenants()
        .put_certificate(&new(30, "short"))
        .await
        .unwrap();
    let current = s
        .current_certificate(&d.tenant_id, &d.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        current.chain_pem, "long",
        "the certificate valid longest is served"
    );
    assert_eq!(current.key_ciphertext, vec![0, 159, 255, 7]);
    // What the edges load (all registrations at once, or one) is that same certificate; an
    // expired one is never picked.
    s.all_tenants()
        .put_certificate(&new(-1, "expired"))
        .await
        .unwrap();
    s.transition_domain(
        &d.tenant_id,
        &d.id,
        DomainState::Pending,
        DomainState::Verified,
        "t",
    )
    .await
    .unwrap();
    let all = s.all_tenants().served_domains().await.unwrap();
    let mine = all.iter().find(|r| r.domain_id == d.id).unwrap();
    assert_eq!(mine.certificate.as_ref().unwrap().chain_pem, "long");
    let one = s.all_tenants().served_domain(&d.id).await.unwrap().unwrap();
    assert_eq!(one.certificate.as_ref().unwrap().chain_pem, "long");
    // (Not a search for "159" alone: ids and times in the output may contain it by chance.)
    let shown = format!("{short:?}");
    assert!(
        !shown.contains("key_ciphertext") && !shown.contains("0, 159, 255, 7"),
        "Debug must not print key material"
    );

    let ch = Challenge {
        token: "tok-123".into(),
        domain_id: Some(d.id.clone()),
        key_authorization: "tok-123.thumbprint".into(),
        expires_at: now + Duration::hours(1),
        kind: ChallengeKind::Http01,
    };
    s.put_challenge(&ch).await.unwrap();
    let dup = s.put_challenge(&ch).await.unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");
    let got = s.challenge("tok-123").await.unwrap().unwrap();
    assert_eq!(got.key_authorization, "tok-123.thumbprint");
    // A TLS-ALPN-01 challenge is listed for its host, never among HTTP-01 tokens.
    let alpn = Challenge {
        token: "tok-alpn".into(),
        key_authorization: "ab".repeat(32),
        kind: ChallengeKind::TlsAlpn01 {
            host: "mta-sts.cert.example".into(),
        },
        ..ch.clone()
    };
    s.put_challenge(&alpn).await.unwrap();
    let got = s.challenge("tok-alpn").await.unwrap().unwrap();
    assert_eq!(
        (&got.kind, &got.key_authorization),
        (&alpn.kind, &alpn.key_authorization)
    );
    assert_eq!(
        s.live_challenges().await.unwrap(),
        [("tok-123".to_owned(), "tok-123.thumbprint".to_owned())]
    );
    assert_eq!(
        s.live_tls_alpn_challenges().await.unwrap(),
        [("mta-sts.cert.example".to_owned(), "ab".repeat(32))]
    );
    s.delete_challenge("tok-alpn").await.unwrap();
    assert!(s.live_tls_alpn_challenges().await.unwrap().is_empty());
    s.delete_challenge("tok-123").await.unwrap();
    assert!(s.challenge("tok-123").await.unwrap().is_none());
    s.delete_challenge("tok-123").await.unwrap();

    let dir = "https://acme.example/directory";
    assert!(s.acme_account(dir).await.unwrap().is_none());
    let mut acct = AcmeAccount {
        directory_url: dir.into(),
        contact: Some("ops@example.net".into()),
        credentials_ciphertext: vec![9; 40],
        key_id: "k1".into(),
    };
    s.put_acme_account(&acct).await.unwrap();
    acct.credentials_ciphertext = vec![8; 40];
    acct.key_id = "k2".into();
    s.put_acme_account(&acct).await.unwrap();
    assert_eq!(s.acme_account(dir).await.unwrap().unwrap(), acct);
}

/// A certificate's renewal plan round-trips, is replaced whole, belongs to one certificate,
/// and goes with the certificate when a removed registration is purged.
async fn renewal_plans(db: &TestDb) {
    let s = &db.store;
    let t = s.create_tenant("T").await.unwrap();
    let d = s
        .create_domain(
            &t.id,
            &DomainName::from_str("plan.example").unwrap(),
            Ownership::Cname,
        )
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc().replace_millisecond(0).unwrap();
    let cert = s
        .all_tenants()
        .put_certificate(&NewCertificate {
            domain_id: d.id.clone(),
            chain_pem: "pem".into(),
            key_ciphertext: vec![1],
            key_id: "k1".into(),
            not_before: now,
            not_after: now + Duration::days(90),
        })
        .await
        .unwrap();
    assert!(
        s.all_tenants()
            .renewal_plan(&cert.id)
            .await
            .unwrap()
            .is_none()
    );
    let ari = RenewalPlan {
        source: RenewalSource::Ari,
        window_start: now + Duration::days(59),
        window_end: now + Duration::days(61),
        renew_at: now + Duration::days(60),
        explanation_url: Some("https://ca.example/why".into()),
        next_poll: Some(now + Duration::hours(6)),
        updated_at: now,
    };
    let stored = s
        .all_tenants()
        .put_renewal_plan(&cert.id, &ari)
        .await
        .unwrap();
    assert_eq!(
        s.all_tenants()
            .renewal_plan(&cert.id)
            .await
            .unwrap()
            .unwrap(),
        stored
    );
    // Through the wall: the owner sees it, another tenant sees nothing.
    assert_eq!(
        s.renewal_plan(&t.id, &cert.id).await.unwrap().unwrap(),
        stored
    );
    let other = s.create_tenant("Other").await.unwrap();
    assert!(s.renewal_plan(&other.id, &cert.id).await.unwrap().is_none());
    assert_eq!(
        RenewalPlan {
            updated_at: now,
            ..stored.clone()
        },
        ari
    );
    let two_thirds = RenewalPlan {
        source: RenewalSource::TwoThirds,
        explanation_url: None,
        next_poll: None,
        ..ari.clone()
    };
    s.all_tenants()
        .put_renewal_plan(&cert.id, &two_thirds)
        .await
        .unwrap();
    let back = s
        .all_tenants()
        .renewal_plan(&cert.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.source, RenewalSource::TwoThirds);
    assert_eq!((back.explanation_url, back.next_poll), (None, None));
    assert!(matches!(
        s.all_tenants()
            .put_renewal_plan("no-such-certificate", &ari)
            .await,
        Err(StoreError::NotFound(_))
    ));

    // Purging the removed registration takes the plan with the certificate.
    s.all_tenants()
        .transition_domain(&d.id, DomainState::Pending, DomainState::Removed, "t")
        .await
        .unwrap();
    assert_eq!(s.all_tenants().purge_removed(&d.id).await.unwrap(), 1);
    assert!(
        s.all_tenants()
            .renewal_plan(&cert.id)
            .await
            .unwrap()
            .is_none()
    );
}

/// The worker's certificate metrics: a served registration whose renewal fails, one whose
/// first order fails, and the soonest expiry; a registration not served does not count.
async fn certificate_health(db: &TestDb) {
    let s = &db.store;
    let t = s.create_tenant("T").await.unwrap();
    let none = s.all_tenants().certificate_health().await.unwrap();
    assert_eq!(none, stsd_store::CertificateHealth::default());
    let mut domains = Vec::new();
    for (name, path) in [
        (
            "renewing.example",
            &[DomainState::Verified, DomainState::Active][..],
        ),
        ("ordering.example", &[DomainState::Verified][..]),
        ("waiting.example", &[][..]),
    ] {
        let d = s
            .create_domain(
                &t.id,
                &DomainName::from_str(name).unwrap(),
                Ownership::Cname,
            )
            .await
            .unwrap();
        let mut state = d.state;
        for &to in path {
            state = s
                .all_tenants()
                .transition_domain(&d.id, state, to, "t")
                .await
                .unwrap()
                .state;
        }
        domains.push(d);
    }
    let now = OffsetDateTime::now_utc();
    let expiry = now + Duration::days(9);
    s.all_tenants()
        .put_certificate(&NewCertificate {
            domain_id: domains[0].id.clone(),
            chain_pem: "pem".into(),
            key_ciphertext: vec![1],
            key_id: "k1".into(),
            not_before: now - Duration::days(80),
            not_after: expiry,
        })
        .await
        .unwrap();
    for d in &domains {
        s.schedule_job(
            stsd_store::CERT_JOB_KIND,
            d.id.as_str(),
            now - Duration::seconds(1),
        )
        .await
        .unwrap();
    }
    for _ in &domains {
        let job = s
            .lease_job(
                stsd_store::CERT_JOB_KIND,
                "w",
                std::time::Duration::from_secs(60),
            )
            .await
            .unwrap()
            .unwrap();
        s.fail_job(&job, "the CA said no", now + Duration::hours(1))
            .await
            .unwrap();
    }
    let health = s.all_tenants().certificate_health().await.unwrap();
    assert_eq!(health.renewals_failing, 1, "{health:?}");
    assert_eq!(health.orders_failing, 1, "{health:?}");
    let earliest = health.earliest_expiry.unwrap();
    assert!(
        (earliest - expiry).abs() < Duration::milliseconds(2),
        "{health:?}"
    );
}

crate::both_backends!(
    certificates_challenges_accounts,
    renewal_plans,
    certificate_health
);
