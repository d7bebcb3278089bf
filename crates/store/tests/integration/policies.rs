use std::collections::HashSet;
use std::str::FromStr;

use stsd_core::{DomainName, MaxAge, Mode, MxPattern, Policy};
use stsd_store::{DomainState, Ownership, StoreError};

use crate::harness::TestDb;

fn policy(mode: Mode, mx: &[&str], max_age: u32) -> Policy {
    Policy::new(
        mode,
        mx.iter().map(|m| MxPattern::from_str(m).unwrap()).collect(),
        MaxAge::new(max_age).unwrap(),
    )
    .unwrap()
}

async fn versions_and_noop_edits(db: &TestDb) {
    let s = &db.store;
    let t = s.create_tenant("T").await.unwrap();
    let d = s
        .create_domain(
            &t.id,
            &DomainName::from_str("example.com").unwrap(),
            Ownership::Cname,
        )
        .await
        .unwrap();
    let p1 = policy(
        Mode::Testing,
        &["mx1.example.com", "*.mail.example.com"],
        86400,
    );
    let v1 = s
        .create_policy_version(&d.tenant_id, &d.id, &p1, "user-1")
        .await
        .unwrap();
    assert!(v1.created);
    assert_eq!(v1.version.body, p1.render());
    assert_eq!(v1.version.policy, p1);

    // The same policy again: no new version, no new id.
    let same = s
        .create_policy_version(&d.tenant_id, &d.id, &p1, "user-2")
        .await
        .unwrap();
    assert!(!same.created);
    assert_eq!(same.version.policy_id, v1.version.policy_id);

    let p2 = policy(
        Mode::Enforce,
        &["mx1.example.com", "*.mail.example.com"],
        604800,
    );
    let v2 = s
        .create_policy_version(&d.tenant_id, &d.id, &p2, "user-1")
        .await
        .unwrap();
    assert!(v2.created);
    assert!(v2.version.policy_id > v1.version.policy_id);

    let all = s.policy_versions(&d.tenant_id, &d.id).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], v2.version);
    assert_eq!(all[1], v1.version);
    assert_eq!(
        s.latest_policy_version(&d.tenant_id, &d.id)
            .await
            .unwrap()
            .unwrap(),
        v2.version
    );
    assert_eq!(
        s.policy_version(&d.tenant_id, &d.id, &v1.version.id)
            .await
            .unwrap()
            .unwrap(),
        v1.version
    );

    // DNS may only publish the id of the version the edges serve.
    let refused = s
        .all_tenants()
        .set_dns_version(&d.id, &v1.version.id)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::StateMismatch { .. }),
        "{refused:?}"
    );
    s.all_tenants()
        .set_live_version(&d.id, &v1.version.id)
        .await
        .unwrap();
    s.all_tenants()
        .set_dns_version(&d.id, &v1.version.id)
        .await
        .unwrap();
    let dom = s.domain_by_id(&d.tenant_id, &d.id).await.unwrap().unwrap();
    assert_eq!(dom.live_version_id.as_deref(), Some(v1.version.id.as_str()));
    assert_eq!(dom.dns_version_id.as_deref(), Some(v1.version.id.as_str()));
    let v1 = s
        .policy_version(&d.tenant_id, &d.id, &v1.version.id)
        .await
        .unwrap()
        .unwrap();
    assert!(v1.published_at.is_some() && v1.dns_at.is_some());
    let missing = s
        .all_tenants()
        .set_live_version(&d.id, "no-such-version")
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
}

async fn ids_increase_under_fast_edits(db: &TestDb) {
    let s = &db.store;
    let t = s.create_tenant("T").await.unwrap();
    let name = DomainName::from_str("fast.example").unwrap();
    let d = s
        .create_domain(&t.id, &name, Ownership::Cname)
        .await
        .unwrap();
    let mut last = None;
    // Many edits within the same second or two: ids must strictly increase.
    for i in 0..60u32 {
        let p = policy(Mode::Testing, &["mx.fast.example"], 3600 + i);
        let v = s
            .create_policy_version(&d.tenant_id, &d.id, &p, "t")
            .await
            .unwrap()
            .version;
        if let Some(prev) = &last {
            assert!(v.policy_id > *prev, "{} !> {prev}", v.policy_id);
        }
        last = Some(v.policy_id);
    }
}

async fn ids_unique_per_name_across_registrations(db: &TestDb) {
    let s = &db.store;
    let name = DomainName::from_str("shared.example").unwrap();
    let a = s.create_tenant("A").await.unwrap();
    let b = s.create_tenant("B").await.unwrap();
    let da = s
        .create_domain(&a.id, &name, Ownership::Cname)
        .await
        .unwrap();
    let db_ = s
        .create_domain(&b.id, &name, Ownership::Cname)
        .await
        .unwrap();
    let p = policy(Mode::Testing, &["mx.shared.example"], 86400);
    let va = s
        .create_policy_version(&da.tenant_id, &da.id, &p, "a")
        .await
        .unwrap()
        .version;
    let vb = s
        .create_policy_version(&db_.tenant_id, &db_.id, &p, "b")
        .await
        .unwrap()
        .version;
    assert!(vb.policy_id > va.policy_id);
    // Re-registration after removal continues the same sequence.
    s.transition_domain(
        &da.tenant_id,
        &da.id,
        DomainState::Pending,
        DomainState::Removed,
        "gone",
    )
    .await
    .unwrap();
    let again = s
        .create_domain(&a.id, &name, Ownership::Cname)
        .await
        .unwrap();
    let vc = s
        .create_policy_version(&again.tenant_id, &again.id, &p, "a")
        .await
        .unwrap()
        .version;
    assert!(vc.policy_id > vb.policy_id);
}

async fn concurrent_allocation_is_unique(db: &TestDb) {
    let name = DomainName::from_str("race.example").unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = db.store.clone();
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..10 {
                ids.push(s.allocate_policy_id(&name).await.unwrap());
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let ids = t.await.unwrap();
        // Each writer sees its own ids increase.
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        all.extend(ids);
    }
    let unique: HashSet<_> = all.iter().map(|i| i.as_str().to_owned()).collect();
    assert_eq!(unique.len(), 80);
}

crate::both_backends!(
    versions_and_noop_edits,
    ids_increase_under_fast_edits,
    ids_unique_per_name_across_registrations,
    concurrent_allocation_is_unique,
);
