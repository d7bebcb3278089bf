use reqwest::StatusCode;
use serde_json::json;

use crate::harness::TestServer;

async fn api_tokens_and_scopes(server: &TestServer) {
    let (mut owner, tenant) = server.signup("owner@example.com", "T").await;
    let base = format!("/api/v1/tenants/{tenant}");
    let (status, read) = owner
        .post(
            &format!("{base}/tokens"),
            json!({ "name": "monitoring", "scope": "read" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{read}");
    let read_secret = read["token"].as_str().unwrap().to_owned();
    assert!(read_secret.starts_with("stsd_"));
    let (_, write) = owner
        .post(
            &format!("{base}/tokens"),
            json!({ "name": "terraform", "scope": "write", "expires_in_days": 30 }),
        )
        .await;
    let write_secret = write["token"].as_str().unwrap().to_owned();

    // Listed without the secret.
    let (_, list) = owner.get(&format!("{base}/tokens")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&read_secret));

    let mut reader = server.client();
    reader.token = Some(read_secret);
    assert_eq!(
        reader.get(&format!("{base}/domains")).await.0,
        StatusCode::OK
    );
    let (status, _) = reader
        .post(&format!("{base}/domains"), json!({ "name": "example.com" }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "read scope cannot write");
    let (_, me) = reader.get("/api/v1/me").await;
    assert_eq!(me["token"]["scope"], "read");

    let mut writer = server.client();
    writer.token = Some(write_secret);
    let (status, body) = writer
        .post(&format!("{base}/domains"), json!({ "name": "example.com" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Tokens cannot manage tokens or members.
    assert_eq!(
        writer.get(&format!("{base}/tokens")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        writer
            .post(
                &format!("{base}/tokens"),
                json!({ "name": "x", "scope": "write" })
            )
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // last_used_at is recorded.
    let (_, list) = owner.get(&format!("{base}/tokens")).await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["last_used_at"].is_number()),
        "{list}"
    );

    // Revocation takes effect on the next request.
    let id = read["id"].as_str().unwrap();
    assert_eq!(
        owner.delete(&format!("{base}/tokens/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        reader.get(&format!("{base}/domains")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn members_and_roles(server: &TestServer) {
    let (mut owner, tenant) = server.signup("owner@example.com", "T").await;
    let base = format!("/api/v1/tenants/{tenant}");
    let (mut viewer, _) = server.signup("viewer@example.com", "Own").await;
    let (mut admin, _) = server.signup("admin@example.com", "Own2").await;

    let (status, body) = owner
        .post(
            &format!("{base}/members"),
            json!({ "email": "viewer@example.com", "role": "viewer" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let viewer_id = body["user_id"].as_str().unwrap().to_owned();
    let (_, body) = owner
        .post(
            &format!("{base}/members"),
            json!({ "email": "admin@example.com", "role": "admin" }),
        )
        .await;
    let admin_id = body["user_id"].as_str().unwrap().to_owned();
    assert_eq!(
        owner
            .post(
                &format!("{base}/members"),
                json!({ "email": "nobody@example.com", "role": "viewer" })
            )
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        owner
            .post(
                &format!("{base}/members"),
                json!({ "email": "viewer@example.com", "role": "editor" })
            )
            .await
            .0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        owner
            .post(
                &format!("{base}/members"),
                json!({ "email": "viewer@example.com", "role": "god" })
            )
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // The viewer reads but cannot write.
    assert_eq!(
        viewer.get(&format!("{base}/domains")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        viewer
            .post(&format!("{base}/domains"), json!({ "name": "example.org" }))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer.get(&format!("{base}/tokens")).await.0,
        StatusCode::FORBIDDEN
    );

    // Admins manage members but cannot create owners.
    assert_eq!(
        admin
            .patch(
                &format!("{base}/members/{viewer_id}"),
                json!({ "role": "editor" })
            )
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        admin
            .patch(
                &format!("{base}/members/{viewer_id}"),
                json!({ "role": "owner" })
            )
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer
            .post(&format!("{base}/domains"), json!({ "name": "example.org" }))
            .await
            .0,
        StatusCode::CREATED
    );

    // The last owner can neither be demoted nor leave.
    let (_, me) = owner.get("/api/v1/me").await;
    let owner_id = me["user"]["id"].as_str().unwrap().to_owned();
    let (status, body) = owner
        .patch(
            &format!("{base}/members/{owner_id}"),
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "last_owner");
    assert_eq!(
        owner.delete(&format!("{base}/members/{owner_id}")).await.0,
        StatusCode::CONFLICT
    );

    // Members may leave; admins remove others.
    assert_eq!(
        admin.delete(&format!("{base}/members/{viewer_id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        viewer.get(&format!("{base}/domains")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin.delete(&format!("{base}/members/{admin_id}")).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, members) = owner.get(&format!("{base}/members")).await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    let (_, audit) = owner.get(&format!("{base}/audit?limit=100")).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"member.add")
            && actions.contains(&"member.role")
            && actions.contains(&"member.remove"),
        "{actions:?}"
    );
}

/// A token acts with its creator's membership as it is now: an admin's write token is
/// narrowed to reading when they are demoted to viewer, and refused once they are removed
/// (found by probing: a removed admin's token still listed and deleted domains).
async fn tokens_follow_their_creators_membership(server: &TestServer) {
    let (mut owner, tenant) = server.signup("owner@example.com", "T").await;
    let base = format!("/api/v1/tenants/{tenant}");
    let (mut admin, _) = server.signup("admin@example.com", "Own").await;
    let (status, body) = owner
        .post(
            &format!("{base}/members"),
            json!({ "email": "admin@example.com", "role": "admin" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let admin_id = body["user_id"].as_str().unwrap().to_owned();
    let (status, created) = admin
        .post(
            &format!("{base}/tokens"),
            json!({ "name": "admin's script", "scope": "write" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["created_by"]["email"], "admin@example.com");
    let token_id = created["id"].as_str().unwrap().to_owned();
    let mut script = server.client();
    script.token = Some(created["token"].as_str().unwrap().to_owned());
    let (status, body) = script
        .post(&format!("{base}/domains"), json!({ "name": "example.com" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The owner's own token, which must keep working throughout.
    let (_, own) = owner
        .post(
            &format!("{base}/tokens"),
            json!({ "name": "owner's script", "scope": "write" }),
        )
        .await;
    let mut owners_script = server.client();
    owners_script.token = Some(own["token"].as_str().unwrap().to_owned());

    // Demoted to viewer: the write token reads, and writes are refused.
    assert_eq!(
        owner
            .patch(
                &format!("{base}/members/{admin_id}"),
                json!({ "role": "viewer" })
            )
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        script.get(&format!("{base}/domains")).await.0,
        StatusCode::OK
    );
    let (_, me) = script.get("/api/v1/me").await;
    assert_eq!(me["token"]["scope"], "read", "{me}");
    assert_eq!(
        script
            .delete(&format!("{base}/domains/example.com"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Promoted back: writes again.
    assert_eq!(
        owner
            .patch(
                &format!("{base}/members/{admin_id}"),
                json!({ "role": "editor" })
            )
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = script
        .post(&format!("{base}/domains"), json!({ "name": "example.org" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Removed: the token lists nothing and deletes nothing, and shows as revoked.
    assert_eq!(
        owner.delete(&format!("{base}/members/{admin_id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        script.get(&format!("{base}/domains")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        script
            .delete(&format!("{base}/domains/example.com"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (_, domains) = owner.get(&format!("{base}/domains")).await;
    assert_eq!(domains["items"].as_array().unwrap().len(), 2, "{domains}");
    let (_, list) = owner.get(&format!("{base}/tokens")).await;
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == token_id.as_str())
        .unwrap();
    assert!(listed["revoked_at"].is_number(), "{listed}");
    assert_eq!(listed["created_by"]["email"], "admin@example.com");
    // Re-adding the person does not bring the old token back.
    assert_eq!(
        owner
            .post(
                &format!("{base}/members"),
                json!({ "email": "admin@example.com", "role": "admin" }),
            )
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        script.get(&format!("{base}/domains")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The audit entry says how many tokens left with the member.
    let (_, audit) = owner.get(&format!("{base}/audit?limit=100")).await;
    let removal = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "member.remove")
        .unwrap()
        .clone();
    assert_eq!(removal["details"]["tokens_revoked"], 1, "{removal}");
    // Other members' tokens are untouched.
    assert_eq!(
        owners_script.get(&format!("{base}/domains")).await.0,
        StatusCode::OK
    );
}

crate::both_backends!(
    api_tokens_and_scopes,
    members_and_roles,
    tokens_follow_their_creators_membership
);
