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

crate::both_backends!(api_tokens_and_scopes, members_and_roles);
