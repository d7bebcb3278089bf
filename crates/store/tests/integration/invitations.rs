use stsd_store::{InvitationState, Role, StoreError};
use time::{Duration, OffsetDateTime};

use crate::harness::TestDb;

async fn invitations_are_single_use_and_walled(db: &TestDb) {
    let s = &db.store;
    let a = s.create_tenant("A").await.unwrap();
    let b = s.create_tenant("B").await.unwrap();
    let week = OffsetDateTime::now_utc() + Duration::days(7);
    let first = s
        .create_invitation(&a.id, "New@Example.com", Role::Editor, "h1", None, week)
        .await
        .unwrap();
    assert_eq!(first.email, "new@example.com");
    // Inviting the same address again replaces the pending invitation.
    let inv = s
        .create_invitation(&a.id, "new@example.com", Role::Viewer, "h2", None, week)
        .await
        .unwrap();
    assert!(s.invitation_with_hash("h1").await.unwrap().is_none());
    let pending = s.pending_invitations(&a.id).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0], inv);
    assert!(s.pending_invitations(&b.id).await.unwrap().is_empty());
    // Another tenant cannot revoke it, even knowing its id.
    let wall = s.revoke_invitation(&b.id, &inv.id).await.unwrap_err();
    assert!(matches!(wall, StoreError::NotFound(_)), "{wall:?}");

    let user = s.create_user("new@example.com", "x").await.unwrap();
    let (found, hash) = s.invitation_with_hash("h2").await.unwrap().unwrap();
    assert_eq!((found.clone(), hash.as_str()), (inv.clone(), "h2"));
    assert_eq!(
        found.state_at(OffsetDateTime::now_utc()),
        InvitationState::Pending
    );
    let used = s.accept_invitation(&inv.id, &user.id).await.unwrap();
    assert!(used.accepted_at.is_some());
    assert_eq!(
        s.role_in(&a.id, &user.id).await.unwrap(),
        Some(Role::Viewer)
    );
    // Single use, and no longer pending or revocable.
    let again = s.accept_invitation(&inv.id, &user.id).await.unwrap_err();
    assert!(
        matches!(again, StoreError::StateMismatch { .. }),
        "{again:?}"
    );
    assert!(s.pending_invitations(&a.id).await.unwrap().is_empty());
    let (used, _) = s.invitation_with_hash("h2").await.unwrap().unwrap();
    assert_eq!(
        used.state_at(OffsetDateTime::now_utc()),
        InvitationState::Accepted
    );
    assert!(matches!(
        s.revoke_invitation(&a.id, &inv.id).await.unwrap_err(),
        StoreError::NotFound(_)
    ));

    // An expired invitation is refused and creates no account.
    let old = s
        .create_invitation(
            &b.id,
            "late@example.com",
            Role::Viewer,
            "h3",
            None,
            OffsetDateTime::now_utc() - Duration::minutes(1),
        )
        .await
        .unwrap();
    let late = s
        .create_user_accepting_invitation("late@example.com", "x", &old.id)
        .await
        .unwrap_err();
    assert!(matches!(late, StoreError::StateMismatch { .. }), "{late:?}");
    assert!(s.user_by_email("late@example.com").await.unwrap().is_none());
    // A member cannot accept a second invitation to the same tenant.
    let dup = s
        .create_invitation(&a.id, "new@example.com", Role::Admin, "h4", None, week)
        .await
        .unwrap();
    let member = s.accept_invitation(&dup.id, &user.id).await.unwrap_err();
    assert!(matches!(member, StoreError::Conflict(_)), "{member:?}");
    assert_eq!(
        s.invitation_with_hash("h4")
            .await
            .unwrap()
            .unwrap()
            .0
            .accepted_at,
        None,
        "a refused acceptance leaves the invitation unused"
    );
}

crate::both_backends!(invitations_are_single_use_and_walled);
