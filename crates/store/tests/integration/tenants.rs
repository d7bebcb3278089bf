use stsd_store::{Role, StoreError};

use crate::harness::TestDb;

async fn users_tenants_and_roles(db: &TestDb) {
    let s = &db.store;
    let alice = s
        .create_user("Alice@Example.COM ", "$argon2id$fake")
        .await
        .unwrap();
    assert_eq!(alice.email, "alice@example.com");
    let again = s.create_user("alice@example.com", "x").await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");
    assert_eq!(
        s.user_by_email("ALICE@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        alice.id
    );
    assert_eq!(s.user(&alice.id).await.unwrap().unwrap().email, alice.email);
    assert!(
        s.user_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let acme = s.create_tenant_with_owner("Acme", &alice.id).await.unwrap();
    assert_eq!(s.tenant(&acme.id).await.unwrap().unwrap(), acme);
    assert_eq!(
        s.role_in(&acme.id, &alice.id).await.unwrap(),
        Some(Role::Owner)
    );

    let bob = s.create_user("bob@example.com", "h").await.unwrap();
    assert_eq!(s.role_in(&acme.id, &bob.id).await.unwrap(), None);
    s.add_member(&acme.id, &bob.id, Role::Viewer).await.unwrap();
    assert_eq!(
        s.role_in(&acme.id, &bob.id).await.unwrap(),
        Some(Role::Viewer)
    );
    let dup = s
        .add_member(&acme.id, &bob.id, Role::Admin)
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");

    let other = s.create_tenant("Other").await.unwrap();
    s.add_member(&other.id, &bob.id, Role::Editor)
        .await
        .unwrap();
    let ms = s.memberships(&bob.id).await.unwrap();
    let names: Vec<_> = ms
        .iter()
        .map(|m| (m.tenant.name.as_str(), m.role))
        .collect();
    assert_eq!(names, vec![("Acme", Role::Viewer), ("Other", Role::Editor)]);
}

crate::both_backends!(users_tenants_and_roles);
