use stsd_store::{StoreError, TokenScope};

use crate::harness::TestDb;

async fn api_tokens(db: &TestDb) {
    let s = &db.store;
    let a = s.create_tenant("A").await.unwrap();
    let b = s.create_tenant("B").await.unwrap();
    let tok = s
        .create_api_token(&a.id, "ci", "hash-1", TokenScope::Read, None, None)
        .await
        .unwrap();
    let dup = s
        .create_api_token(&a.id, "ci2", "hash-1", TokenScope::Write, None, None)
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");
    let found = s.api_token_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!(found, tok);
    assert!(s.api_token_by_hash("hash-2").await.unwrap().is_none());
    // Another tenant cannot revoke it, even knowing its id.
    let wall = s.revoke_api_token(&b.id, &tok.id).await.unwrap_err();
    assert!(matches!(wall, StoreError::NotFound(_)), "{wall:?}");
    s.revoke_api_token(&a.id, &tok.id).await.unwrap();
    assert!(
        s.api_token_by_hash("hash-1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert_eq!(s.api_tokens(&a.id).await.unwrap().len(), 1);
    assert!(s.api_tokens(&b.id).await.unwrap().is_empty());
}

async fn migrations_are_idempotent(db: &TestDb) {
    db.store.migrate().await.unwrap();
    db.store.migrate().await.unwrap();
    db.store.ping().await.unwrap();
}

crate::both_backends!(api_tokens, migrations_are_idempotent);
