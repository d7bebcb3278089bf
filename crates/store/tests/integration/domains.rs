use std::str::FromStr;

use stsd_core::DomainName;
use stsd_store::{DomainFilter, DomainState, Ownership, StoreError};

use crate::harness::TestDb;

fn name(s: &str) -> DomainName {
    DomainName::from_str(s).unwrap()
}

async fn register_and_read(db: &TestDb) {
    let s = &db.store;
    let a = s.create_tenant("A").await.unwrap();
    let b = s.create_tenant("B").await.unwrap();
    let d = s
        .create_domain(&a.id, &name("example.com"), Ownership::Cname)
        .await
        .unwrap();
    assert_eq!(d.state, DomainState::Pending);
    assert_eq!(d.name.as_str(), "example.com");

    assert_eq!(
        s.domain(&a.id, &name("example.com"))
            .await
            .unwrap()
            .unwrap(),
        d
    );
    assert_eq!(
        s.domain_by_id(&d.tenant_id, &d.id).await.unwrap().unwrap(),
        d
    );
    assert_eq!(
        s.all_tenants()
            .domain_by_label(&d.label)
            .await
            .unwrap()
            .unwrap(),
        d
    );
    // Tenants are walls: B does not see A's registration.
    assert!(
        s.domain(&b.id, &name("example.com"))
            .await
            .unwrap()
            .is_none()
    );

    let dup = s
        .create_domain(&a.id, &name("example.com"), Ownership::Cname)
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");
    // Another tenant may register the same name, under a different label.
    let d2 = s
        .create_domain(&b.id, &name("example.com"), Ownership::Txt)
        .await
        .unwrap();
    assert_ne!(d2.label, d.label);
    assert_eq!(d2.ownership, Ownership::Txt);
}

async fn list_filter_and_paginate(db: &TestDb) {
    let s = &db.store;
    let t = s.create_tenant("T").await.unwrap();
    let other = s.create_tenant("O").await.unwrap();
    for n in ["c.example", "a.example", "b.example", "mail-x.test"] {
        s.create_domain(&t.id, &name(n), Ownership::Cname)
            .await
            .unwrap();
    }
    s.create_domain(&other.id, &name("zzz.example"), Ownership::Cname)
        .await
        .unwrap();

    let all = s
        .list_domains(&t.id, &DomainFilter::default(), 100)
        .await
        .unwrap();
    let names: Vec<_> = all.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["a.example", "b.example", "c.example", "mail-x.test"]
    );

    // Numbers in numeric order, IDNs among their letters, in pages too; the key is filled in
    // by `migrate` for rows from before it existed.
    let n = s.create_tenant("N").await.unwrap();
    for name_ in [
        "shop10.example",
        "shop2.example",
        "xn--bcher-kva.example",
        "bz.example",
    ] {
        s.create_domain(&n.id, &name(name_), Ownership::Cname)
            .await
            .unwrap();
    }
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE domains SET sort_key = NULL WHERE name = 'shop10.example'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    s.migrate().await.unwrap();
    let natural: Vec<String> = s
        .list_domains(&n.id, &DomainFilter::default(), 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.name.as_str().to_owned())
        .collect();
    assert_eq!(
        natural,
        [
            "xn--bcher-kva.example",
            "bz.example",
            "shop2.example",
            "shop10.example"
        ]
    );
    let second_page = s
        .list_domains(
            &n.id,
            &DomainFilter {
                after_name: Some("shop2.example".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(second_page.len(), 1);
    assert_eq!(second_page[0].name.as_str(), "shop10.example");

    // By mode: the newest version's.
    let bz = s.domain(&n.id, &name("bz.example")).await.unwrap().unwrap();
    for mode in [stsd_core::Mode::Testing, stsd_core::Mode::Enforce] {
        let policy = stsd_core::Policy::new(
            mode,
            vec!["mx.bz.example".parse().unwrap()],
            stsd_core::MaxAge::new(86_400).unwrap(),
        )
        .unwrap();
        s.create_policy_version(&n.id, &bz.id, &policy, "t")
            .await
            .unwrap();
    }
    let by_mode = async |mode| {
        let filter = DomainFilter {
            mode: Some(mode),
            ..Default::default()
        };
        s.list_domains(&n.id, &filter, 10).await.unwrap()
    };
    let enforced = by_mode(stsd_core::Mode::Enforce).await;
    assert_eq!(enforced.len(), 1);
    assert_eq!(enforced[0].name.as_str(), "bz.example");
    assert!(by_mode(stsd_core::Mode::Testing).await.is_empty());

    let page1 = s
        .list_domains(&t.id, &DomainFilter::default(), 2)
        .await
        .unwrap();
    let page2 = s
        .list_domains(
            &t.id,
            &DomainFilter {
                after_name: Some(page1[1].name.as_str().to_owned()),
                ..Default::default()
            },
            2,
        )
        .await
        .unwrap();
    let names: Vec<_> = page1
        .iter()
        .chain(&page2)
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["a.example", "b.example", "c.example", "mail-x.test"]
    );

    let found = s
        .list_domains(
            &t.id,
            &DomainFilter {
                name_contains: Some("B.EX".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    // LIKE wildcards in the search text are literal.
    let none = s
        .list_domains(
            &t.id,
            &DomainFilter {
                name_contains: Some("%".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert!(none.is_empty());

    let b = &all[1];
    s.transition_domain(
        &b.tenant_id,
        &b.id,
        DomainState::Pending,
        DomainState::Verified,
        "records ok",
    )
    .await
    .unwrap();
    let verified = s
        .list_domains(
            &t.id,
            &DomainFilter {
                state: Some(DomainState::Verified),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].id, b.id);
}

async fn state_transitions(db: &TestDb) {
    let s = &db.store;
    let t = s.create_tenant("T").await.unwrap();
    let d = s
        .create_domain(&t.id, &name("example.org"), Ownership::Cname)
        .await
        .unwrap();
    let v = s
        .transition_domain(
            &d.tenant_id,
            &d.id,
            DomainState::Pending,
            DomainState::Verified,
            "ownership proven",
        )
        .await
        .unwrap();
    assert_eq!(v.state, DomainState::Verified);
    assert!(v.state_changed_at >= d.state_changed_at);
    let stale = s
        .transition_domain(
            &d.tenant_id,
            &d.id,
            DomainState::Pending,
            DomainState::Verified,
            "again",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(stale, StoreError::StateMismatch { .. }),
        "{stale:?}"
    );
    s.transition_domain(
        &d.tenant_id,
        &d.id,
        DomainState::Verified,
        DomainState::Active,
        "certificate stored",
    )
    .await
    .unwrap();
    let log = s.transitions(&d.tenant_id, &d.id).await.unwrap();
    let steps: Vec<_> = log
        .iter()
        .map(|t| (t.from, t.to, t.reason.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            (
                DomainState::Pending,
                DomainState::Verified,
                "ownership proven"
            ),
            (
                DomainState::Verified,
                DomainState::Active,
                "certificate stored"
            ),
        ]
    );
    let missing = s
        .transition_domain(
            &d.tenant_id,
            &stsd_store::DomainId::from_raw("nope"),
            DomainState::Pending,
            DomainState::Verified,
            "x",
        )
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");

    s.all_tenants()
        .record_checks(
            &d.id,
            r#"[{"name":"ownership","result":"pass"}]"#,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let d = s.domain_by_id(&d.tenant_id, &d.id).await.unwrap().unwrap();
    assert!(d.last_checks.unwrap().contains("ownership"));
    assert!(d.last_checked_at.is_some());

    // A removed registration frees the name for the tenant, and its label is never reused.
    s.transition_domain(
        &d.tenant_id,
        &d.id,
        DomainState::Active,
        DomainState::Removed,
        "offboarded",
    )
    .await
    .unwrap();
    assert!(s.domain(&t.id, &d.name).await.unwrap().is_none());
    let again = s
        .create_domain(&t.id, &d.name, Ownership::Cname)
        .await
        .unwrap();
    assert_ne!(again.label, d.label);
}

crate::both_backends!(
    register_and_read,
    list_filter_and_paginate,
    state_transitions
);
