//! Invitations: who may invite whom, and every way a token stops working.

use reqwest::StatusCode;
use serde_json::{Value, json};
use stsd_store::{Role, TenantId};

use crate::harness::{PASSWORD, TestServer, expect, token_hash};

fn actions(audit: &Value) -> Vec<&str> {
    audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

async fn invite_list_accept_revoke(server: &TestServer) {
    let (mut owner, tenant) = server.signup("owner@example.com", "T").await;
    let base = format!("/api/v1/tenants/{tenant}");
    let invitations = format!("{base}/members/invitations");
    let (mut admin, _) = server.signup("admin@example.com", "Own").await;
    let (mut viewer, _) = server.signup("viewer@example.com", "Own2").await;
    for (email, role) in [
        ("admin@example.com", "admin"),
        ("viewer@example.com", "viewer"),
    ] {
        expect(
            owner
                .post(
                    &format!("{base}/members"),
                    json!({ "email": email, "role": role }),
                )
                .await,
            StatusCode::CREATED,
        );
    }

    // An owner invites; the token is shown once, the listing has no token.
    let created = expect(
        owner
            .post(
                &invitations,
                json!({ "email": "New@Example.com", "role": "editor" }),
            )
            .await,
        StatusCode::CREATED,
    );
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("stsdinv_"), "{created}");
    assert_eq!(created["invitation"]["email"], "new@example.com");
    assert_eq!(created["invitation"]["role"], "editor");
    let lifetime = created["invitation"]["expires_at"].as_i64().unwrap()
        - created["invitation"]["created_at"].as_i64().unwrap();
    assert!(
        (7 * 86400 - 5..=7 * 86400 + 5).contains(&lifetime),
        "{created}"
    );
    let list = expect(owner.get(&invitations).await, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["email"], "new@example.com");
    assert!(!list.to_string().contains(&token));
    assert!(list["items"][0].get("token").is_none());

    // Role limits: viewers neither invite nor list; admins invite, but not owners; tokens
    // cannot invite; existing members and nonsense are refused.
    let viewer_invites = viewer
        .post(
            &invitations,
            json!({ "email": "x@example.com", "role": "viewer" }),
        )
        .await;
    assert_eq!(
        viewer_invites.0,
        StatusCode::FORBIDDEN,
        "{}",
        viewer_invites.1
    );
    assert_eq!(viewer.get(&invitations).await.0, StatusCode::FORBIDDEN);
    let admin_owner = admin
        .post(
            &invitations,
            json!({ "email": "boss@example.com", "role": "owner" }),
        )
        .await;
    assert_eq!(admin_owner.0, StatusCode::FORBIDDEN, "{}", admin_owner.1);
    let by_admin = expect(
        admin
            .post(
                &invitations,
                json!({ "email": "helper@example.com", "role": "viewer" }),
            )
            .await,
        StatusCode::CREATED,
    );
    expect(
        owner
            .post(
                &invitations,
                json!({ "email": "boss@example.com", "role": "owner" }),
            )
            .await,
        StatusCode::CREATED,
    );
    let bot_token = expect(
        owner
            .post(
                &format!("{base}/tokens"),
                json!({ "name": "ci", "scope": "write" }),
            )
            .await,
        StatusCode::CREATED,
    );
    let mut bot = server.client();
    bot.token = Some(bot_token["token"].as_str().unwrap().to_owned());
    assert_eq!(
        bot.post(
            &invitations,
            json!({ "email": "y@example.com", "role": "viewer" })
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let member = owner
        .post(
            &invitations,
            json!({ "email": "VIEWER@example.com", "role": "admin" }),
        )
        .await;
    assert_eq!(member.0, StatusCode::CONFLICT, "{}", member.1);
    assert_eq!(member.1["error"]["code"], "already_member");
    for bad in [
        json!({ "email": "not-an-address", "role": "viewer" }),
        json!({ "email": "z@example.com", "role": "god" }),
    ] {
        assert_eq!(
            owner.post(&invitations, bad).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    // The wrong account cannot use the token, and trying does not use it up.
    let (mut other, _) = server.signup("other@example.com", "Other").await;
    let wrong = other
        .post("/api/v1/invitations/accept", json!({ "token": token }))
        .await;
    assert_eq!(wrong.0, StatusCode::FORBIDDEN, "{}", wrong.1);
    assert_eq!(wrong.1["error"]["code"], "invitation_email_mismatch");
    let mut anon = server.client();
    let wrong_signup = anon
        .post(
            "/api/v1/auth/signup",
            json!({ "email": "intruder@example.com", "password": PASSWORD, "invitation": token }),
        )
        .await;
    assert_eq!(
        wrong_signup.0,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong_signup.1
    );
    assert_eq!(wrong_signup.1["error"]["details"][0]["field"], "invitation");
    assert_eq!(
        anon.post(
            "/api/v1/auth/login",
            json!({ "email": "intruder@example.com", "password": PASSWORD })
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED,
        "a refused sign-up creates no account"
    );
    // An invitation and a tenant name at once is ambiguous.
    let both = anon
        .post(
            "/api/v1/auth/signup",
            json!({ "email": "new@example.com", "password": PASSWORD, "invitation": token, "tenant_name": "Mine" }),
        )
        .await;
    assert_eq!(both.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", both.1);

    // Signing up with the token (e-mail case does not matter) joins the tenant instead of
    // creating one.
    let mut newbie = server.client();
    let joined = expect(
        newbie
            .post(
                "/api/v1/auth/signup",
                json!({ "email": "NEW@example.COM", "password": PASSWORD, "invitation": token }),
            )
            .await,
        StatusCode::CREATED,
    );
    assert_eq!(joined["tenant"]["id"], tenant.as_str());
    assert_eq!(joined["tenant"]["role"], "editor");
    newbie.token = Some(joined["access_token"].as_str().unwrap().to_owned());
    let me = expect(newbie.get("/api/v1/me").await, StatusCode::OK);
    assert_eq!(me["memberships"].as_array().unwrap().len(), 1, "{me}");
    assert_eq!(me["memberships"][0]["role"], "editor");
    expect(
        newbie
            .post(&format!("{base}/domains"), json!({ "name": "example.org" }))
            .await,
        StatusCode::CREATED,
    );
    // Used: neither accepting nor signing up works again.
    let used = other
        .post("/api/v1/invitations/accept", json!({ "token": token }))
        .await;
    assert_eq!(used.0, StatusCode::GONE, "{}", used.1);
    assert_eq!(used.1["error"]["code"], "invitation_used");
    let again = anon
        .post(
            "/api/v1/auth/signup",
            json!({ "email": "new2@example.com", "password": PASSWORD, "invitation": token }),
        )
        .await;
    assert_eq!(again.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", again.1);

    // A logged-in user accepts an invitation to their address.
    let for_other = expect(
        owner
            .post(
                &invitations,
                json!({ "email": "other@example.com", "role": "viewer" }),
            )
            .await,
        StatusCode::CREATED,
    );
    let other_token = for_other["token"].as_str().unwrap().to_owned();
    let accepted = expect(
        other
            .post(
                "/api/v1/invitations/accept",
                json!({ "token": other_token }),
            )
            .await,
        StatusCode::OK,
    );
    assert_eq!(accepted["id"], tenant.as_str());
    assert_eq!(accepted["role"], "viewer");
    assert_eq!(
        other.get(&format!("{base}/domains")).await.0,
        StatusCode::OK
    );
    let twice = other
        .post(
            "/api/v1/invitations/accept",
            json!({ "token": other_token }),
        )
        .await;
    assert_eq!(twice.0, StatusCode::GONE, "{}", twice.1);
    // API tokens cannot accept invitations; unknown tokens find nothing.
    assert_eq!(
        bot.post(
            "/api/v1/invitations/accept",
            json!({ "token": other_token })
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    for unknown in [
        "stsdinv_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "garbage",
        "stsdinv_\u{0}",
    ] {
        let (status, body) = other
            .post("/api/v1/invitations/accept", json!({ "token": unknown }))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}: {body}");
    }

    // Revoked: the token finds nothing; revoking twice is "not found".
    let helper_id = by_admin["invitation"]["id"].as_str().unwrap().to_owned();
    let helper_token = by_admin["token"].as_str().unwrap().to_owned();
    assert_eq!(
        viewer.delete(&format!("{invitations}/{helper_id}")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin.delete(&format!("{invitations}/{helper_id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin.delete(&format!("{invitations}/{helper_id}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (mut helper, _) = server.signup("helper@example.com", "H").await;
    let revoked = helper
        .post(
            "/api/v1/invitations/accept",
            json!({ "token": helper_token }),
        )
        .await;
    assert_eq!(revoked.0, StatusCode::NOT_FOUND, "{}", revoked.1);
    let pending = expect(owner.get(&invitations).await, StatusCode::OK);
    let emails: Vec<&str> = pending["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["boss@example.com"],
        "only the unused, unrevoked one"
    );

    // Expired: a token whose seven days are over.
    let expired = "stsdinv_expiredexpiredexpiredexpiredexpiredexp";
    server
        .store
        .create_invitation(
            &TenantId::from_raw(tenant.clone()),
            "helper@example.com",
            Role::Viewer,
            &token_hash(expired),
            None,
            time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
        )
        .await
        .unwrap();
    let late = helper
        .post("/api/v1/invitations/accept", json!({ "token": expired }))
        .await;
    assert_eq!(late.0, StatusCode::GONE, "{}", late.1);
    assert_eq!(late.1["error"]["code"], "invitation_expired");
    assert_eq!(
        helper.get(&format!("{base}/domains")).await.0,
        StatusCode::NOT_FOUND
    );

    let audit = expect(
        owner.get(&format!("{base}/audit?limit=200")).await,
        StatusCode::OK,
    );
    let done = actions(&audit);
    for action in [
        "invitation.create",
        "invitation.accept",
        "invitation.revoke",
    ] {
        assert!(done.contains(&action), "{action} missing: {done:?}");
    }
    let accept = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "invitation.accept" && e["target"] == "other@example.com")
        .unwrap();
    assert_eq!(accept["details"]["after"]["role"], "viewer");
}

crate::both_backends!(configure = crate::harness::generous_limits; invite_list_accept_revoke);
