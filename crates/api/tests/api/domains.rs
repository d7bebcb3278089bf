use reqwest::StatusCode;
use serde_json::{Value, json};
use std::str::FromStr;
use stsd_core::DomainName;

use crate::harness::TestServer;

async fn add_domain_with_mx_discovery(server: &TestServer) {
    server.dns.set_mx(
        "example.com",
        &[(20, "MX2.Example.com."), (10, "mx1.example.com")],
    );
    let (mut c, tenant) = server.signup("ops@example.com", "T").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    let (status, d) = c.post(&base, json!({ "name": " Example.COM. " })).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["name"], "example.com");
    assert_eq!(d["state"], "pending");
    assert_eq!(d["mode"], "testing");
    let label = d["label"].as_str().unwrap();
    assert_eq!(label.len(), 10);
    assert_eq!(d["mx_discovery"]["status"], "found");
    assert_eq!(
        d["policy"]["mx"],
        json!(["mx1.example.com", "mx2.example.com"])
    );
    assert_eq!(d["policy"]["max_age"], 86400);
    assert_eq!(
        d["policy"]["body"],
        "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: mx2.example.com\r\nmax_age: 86400\r\n"
    );
    let records = d["records"].as_array().unwrap();
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "mta-sts.example.com",
            "_mta-sts.example.com",
            "_smtp._tls.example.com"
        ]
    );
    assert_eq!(
        records[0]["value"],
        format!("{label}.edge.sts.test.example")
    );
    assert_eq!(
        records[1]["value"],
        format!("{label}.policy.sts.test.example")
    );
    assert_eq!(
        records[2]["value"],
        format!("{label}.report.sts.test.example")
    );
    let (status, r) = c.get(&format!("{base}/example.com/records")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        r["zone_file"].as_str().unwrap().contains(&format!(
            "_mta-sts.example.com. 3600 IN CNAME {label}.policy.sts.test.example."
        )),
        "{r}"
    );

    // Duplicates in the tenant are refused; another tenant may register the same name.
    assert_eq!(
        c.post(&base, json!({ "name": "example.com" })).await.0,
        StatusCode::CONFLICT
    );
    let (mut other, other_tenant) = server.signup("other@example.com", "O").await;
    let (status, d2) = other
        .post(
            &format!("/api/v1/tenants/{other_tenant}/domains"),
            json!({ "name": "example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(d2["label"], d["label"]);

    // A DNS failure still creates the domain, with the error shown.
    server.dns.set_servfail("broken.example", true);
    let (status, b) = c.post(&base, json!({ "name": "broken.example" })).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert_eq!(b["mx_discovery"]["status"], "error");
    assert!(b["policy"].is_null());
    let (status, n) = c.post(&base, json!({ "name": "nomx.example" })).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(n["mx_discovery"]["status"], "no_mx");

    // Names are validated with the rule that failed.
    let (status, e) = c.post(&base, json!({ "name": "co.uk" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["error"]["details"][0]["field"], "name");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("public suffix"),
        "{e}"
    );
    let (status, e) = c.post(&base, json!({ "name": "a.example", "policy": { "mode": "enforce", "mx": ["*.*.bad"], "max_age": 99999999999u64 } })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = e["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["policy.max_age", "policy.mx[0]"]);

    // A name whose _smtp._tls record could not exist is refused.
    let long = format!(
        "{}.{}.{}.{}.example",
        "a".repeat(60),
        "b".repeat(60),
        "c".repeat(60),
        "d".repeat(55)
    );
    let (status, e) = c.post(&base, json!({ "name": long })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("_smtp._tls"),
        "{e}"
    );

    // The quota (5 in tests) holds.
    assert_eq!(
        c.post(&base, json!({ "name": "four.example" })).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        c.post(&base, json!({ "name": "five.example" })).await.0,
        StatusCode::CREATED
    );
    let (status, q) = c.post(&base, json!({ "name": "six.example" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(q["error"]["code"], "quota_exceeded");

    // Listing pages by name and filters.
    let (_, page) = c.get(&format!("{base}?limit=2")).await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["broken.example", "example.com"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page2) = c.get(&format!("{base}?limit=10&cursor={cursor}")).await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 3);
    assert!(page2["next_cursor"].is_null());
    let (_, found) = c.get(&format!("{base}?q=nomx")).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        c.get(&format!("{base}?state=bogus")).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // By the mode of the newest version: every domain here proposes `testing` or has none.
    let (_, testing) = c.get(&format!("{base}?mode=testing&limit=10")).await;
    let (_, enforcing) = c.get(&format!("{base}?mode=enforce")).await;
    assert!(
        !testing["items"].as_array().unwrap().is_empty(),
        "{testing}"
    );
    assert!(
        testing["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["mode"] == "testing"),
        "{testing}"
    );
    assert_eq!(
        enforcing["items"].as_array().unwrap().len(),
        0,
        "{enforcing}"
    );
    let (status, e) = c.get(&format!("{base}?mode=strict")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["error"]["details"][0]["field"], "mode");
}

async fn policy_versions_and_mode_switch(server: &TestServer) {
    server.dns.set_mx(
        "example.net",
        &[(10, "mx1.example.net"), (20, "mx2.example.net")],
    );
    let (mut owner, tenant) = server.signup("ops@example.net", "T").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    assert_eq!(
        owner.post(&base, json!({ "name": "example.net" })).await.0,
        StatusCode::CREATED
    );
    let p = format!("{base}/example.net/policy");
    let (_, start) = owner.get(&p).await;
    assert!(start["live"].is_null());
    let first_id = start["pending"]["id"].as_str().unwrap().to_owned();

    // A no-op edit keeps the id.
    let (status, same) = owner.put(&p, json!({ "mode": "testing", "mx": ["mx1.example.net", "mx2.example.net"], "max_age": 86400 })).await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["changed"], false);
    assert_eq!(same["version"]["id"], first_id.as_str());

    // A real edit rotates it, forward.
    let (status, edit) = owner
        .put(
            &p,
            json!({ "mode": "testing", "mx": ["*.example.net"], "max_age": 604800 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{edit}");
    let second_id = edit["version"]["id"].as_str().unwrap().to_owned();
    assert!(second_id > first_id);
    let (_, versions) = owner.get(&format!("{p}/versions")).await;
    let ids: Vec<&str> = versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second_id.as_str(), first_id.as_str()]);

    // One click to enforce: every MX is covered and offers STARTTLS with a valid
    // certificate (probed now by the verifier), so it passes.
    let (_mx, _worker) = crate::gate::secure_mx(server, "example.net", &["mx1.example.net"]).await;
    let (status, sw) = owner
        .post(
            &format!("{base}/example.net/mode"),
            json!({ "mode": "enforce" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sw}");
    assert_eq!(sw["version"]["mode"], "enforce");
    assert!(
        sw.get("suggestion").is_none(),
        "a week's max_age needs no advice: {sw}"
    );
    let results: Vec<(&str, &str)> = sw["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("mx_coverage", "pass"),
            ("mx_starttls", "pass"),
            // No reports yet: nothing known, nothing blocking.
            ("tlsrpt_failures", "warn")
        ]
    );

    // A new MX appears that the policy does not cover: an enforce edit is refused, naming it.
    server.dns.set_mx(
        "example.net",
        &[(10, "mx1.example.net"), (30, "backup.other.example")],
    );
    let (status, cover) = owner.get(&format!("{base}/example.net/mx")).await;
    assert_eq!(status, StatusCode::OK, "{cover}");
    assert_eq!(cover["status"], "found");
    assert_eq!(
        cover["hosts"],
        json!([
            {"preference": 10, "host": "mx1.example.net", "covered_by": "*.example.net"},
            {"preference": 30, "host": "backup.other.example", "covered_by": null}
        ]),
        "{cover}"
    );
    assert_eq!(cover["unused_patterns"], json!([]));
    let (status, refused) = owner
        .put(
            &p,
            json!({ "mode": "enforce", "mx": ["*.example.net"], "max_age": 86400 }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "not_ready");
    assert_eq!(refused["error"]["details"][0]["name"], "mx_coverage");
    assert_eq!(refused["error"]["details"][0]["result"], "fail");
    assert_eq!(
        refused["error"]["details"][0]["uncovered"],
        json!(["backup.other.example"])
    );
    // Editors and tokens cannot override; an owner can.
    let (_, token) = owner
        .post(
            &format!("/api/v1/tenants/{tenant}/tokens"),
            json!({ "name": "ci", "scope": "write" }),
        )
        .await;
    let mut bot = server.client();
    bot.token = Some(token["token"].as_str().unwrap().to_owned());
    let forced = json!({ "mode": "enforce", "mx": ["*.example.net"], "max_age": 86400, "override": true, "override_reason": "backup MX is retired on Friday" });
    assert_eq!(bot.put(&p, forced.clone()).await.0, StatusCode::FORBIDDEN);
    let (status, forced) = owner.put(&p, forced).await;
    assert_eq!(status, StatusCode::CREATED, "{forced}");
    let (_, audit) = owner.get(&format!("/api/v1/tenants/{tenant}/audit")).await;
    assert_eq!(audit["items"][0]["action"], "policy.update");
    assert_eq!(audit["items"][0]["details"]["override"], true);
    // Back to testing needs no gate.
    let (status, _) = owner
        .post(
            &format!("{base}/example.net/mode"),
            json!({ "mode": "testing" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        owner
            .post(
                &format!("{base}/example.net/mode"),
                json!({ "mode": "loud" })
            )
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn offboarding(server: &TestServer) {
    server
        .dns
        .set_mx("leave.example", &[(10, "mx.leave.example")]);
    let (mut c, tenant) = server.signup("ops@leave.example", "T").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    assert_eq!(
        c.post(&base, json!({ "name": "never.example" })).await.0,
        StatusCode::CREATED
    );
    let (status, gone) = c.delete(&format!("{base}/never.example")).await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["state"], "removed");
    assert_eq!(
        c.get(&format!("{base}/never.example")).await.0,
        StatusCode::NOT_FOUND
    );

    let (_, d) = c.post(&base, json!({ "name": "leave.example" })).await;
    // The publisher (a later issue) makes versions live; do it through the store here.
    let tenant_id = stsd_store::TenantId::from_raw(tenant.clone());
    let name: DomainName = "leave.example".parse().unwrap();
    let domain = server
        .store
        .domain(&tenant_id, &name)
        .await
        .unwrap()
        .unwrap();
    let version = d["policy"]["version_id"].as_str().unwrap();
    server
        .store
        .all_tenants()
        .set_live_version(&domain.id, version)
        .await
        .unwrap();
    let (status, leaving) = c.delete(&format!("{base}/leave.example")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{leaving}");
    assert_eq!(leaving["state"], "offboarding");
    assert_eq!(leaving["policy"]["mode"], "none");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let until = leaving["keep_records_until"].as_i64().unwrap();
    assert!(
        until >= now + 86400,
        "keeps serving at least the largest max_age"
    );
    let (_, shown) = c.get(&format!("{base}/leave.example")).await;
    assert_eq!(shown["state"], "offboarding");
    assert_eq!(shown["serve_until"], until);
}

async fn policy_fetches_per_day(server: &TestServer) {
    let (mut c, tenant) = server.signup("ops@fetch.example", "T").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    assert_eq!(
        c.post(&base, json!({ "name": "fetch.example" })).await.0,
        StatusCode::CREATED
    );
    let tenant_id = stsd_store::TenantId::from_raw(tenant.clone());
    let domain = server
        .store
        .domain(&tenant_id, &"fetch.example".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let today = time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(86_400);
    let nets: std::collections::BTreeSet<String> = ["192.0.2.0/24".to_owned()].into();
    server
        .store
        .all_tenants()
        .add_policy_fetches(&domain.id, today, 3, &nets)
        .await
        .unwrap();
    server
        .store
        .all_tenants()
        .add_policy_fetches(&domain.id, today - 1, 1, &nets)
        .await
        .unwrap();
    server
        .store
        .all_tenants()
        .add_policy_fetches(&domain.id, today - 90, 1, &nets)
        .await
        .unwrap();
    let (status, body) = c
        .get(&format!("{base}/fetch.example/fetches?days=30"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "the day 90 days ago is outside the window");
    assert_eq!(items[0]["fetches"], 3);
    assert_eq!(items[0]["networks"], json!(["192.0.2.0/24"]));
    assert_eq!(items[0]["date"].as_str().unwrap().len(), 10);
}

async fn checks_run_through_the_worker(server: &TestServer) {
    let (mut c, tenant) = server.signup("ops@checks.example", "T").await;
    let base = format!("/api/v1/tenants/{tenant}/domains/checks.example/checks");
    assert_eq!(
        c.post(
            &format!("/api/v1/tenants/{tenant}/domains"),
            json!({ "name": "checks.example" })
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let (status, before) = c.get(&base).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert!(before["checked_at"].is_null());
    assert_eq!(before["items"], json!([]));
    // A stand-in for the verifier worker, speaking the store protocol it uses: lease the
    // domain's verify job, record results, finish.
    let store = server.store.clone();
    let worker = tokio::spawn(async move {
        loop {
            if let Some(job) = store
                .lease_job(
                    stsd_store::VERIFY_JOB_KIND,
                    "test-worker",
                    std::time::Duration::from_secs(30),
                )
                .await
                .unwrap()
            {
                let id = stsd_store::DomainId::from_raw(job.subject.clone());
                let results = r#"[{"name":"ownership","record":"_mta-sts.checks.example","result":"fail","explanation":"no CNAME","fix":"publish it"}]"#;
                store
                    .all_tenants()
                    .record_checks(&id, results, time::OffsetDateTime::now_utc())
                    .await
                    .unwrap();
                store.finish_job(&job, None).await.unwrap();
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
    let (status, after) = c.post(&base, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["state"], "pending");
    assert_eq!(after["items"][0]["name"], "ownership");
    assert_eq!(after["items"][0]["record"], "_mta-sts.checks.example");
    assert_eq!(after["items"][0]["fix"], "publish it");
    assert!(after["checked_at"].is_number());
    worker.await.unwrap();
}

/// Overriding the enforce gate is for owners and admins: an admin may, an editor may not,
/// through both the mode switch and a policy edit; the audit log names the override.
async fn only_admins_override_the_enforce_gate(server: &TestServer) {
    server
        .dns
        .set_mx("gate.example", &[(10, "mx1.gate.example")]);
    let (mut owner, tenant) = server.signup("owner@gate.example", "T").await;
    let (mut admin, _) = server.signup("admin@gate.example", "A").await;
    let (mut editor, _) = server.signup("editor@gate.example", "E").await;
    let members = format!("/api/v1/tenants/{tenant}/members");
    for (email, role) in [
        ("admin@gate.example", "admin"),
        ("editor@gate.example", "editor"),
    ] {
        let (status, body) = owner
            .post(&members, json!({ "email": email, "role": role }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let base = format!("/api/v1/tenants/{tenant}/domains");
    let (status, body) = owner.post(&base, json!({ "name": "gate.example" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let policy = format!("{base}/gate.example/policy");
    let mode = format!("{base}/gate.example/mode");
    // A second MX the policy does not cover: enforce is not ready.
    server.dns.set_mx(
        "gate.example",
        &[(10, "mx1.gate.example"), (20, "backup.elsewhere.example")],
    );
    let enforce = json!({ "mode": "enforce", "mx": ["mx1.gate.example"], "max_age": 604800 });
    let mut forced = enforce.clone();
    forced["override"] = json!(true);
    forced["override_reason"] = json!("the backup MX takes no mail from outside");
    let forced_switch = json!({ "mode": "enforce", "override": true, "override_reason": "the backup MX takes no mail from outside" });
    for who in [&mut admin, &mut editor] {
        let (status, body) = who.post(&mode, json!({ "mode": "enforce" })).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "not_ready");
        assert_eq!(
            who.put(&policy, enforce.clone()).await.0,
            StatusCode::CONFLICT
        );
    }

    // The editor may edit, but not override.
    let (status, body) = editor.post(&mode, forced_switch.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = editor.put(&policy, forced.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, current) = owner.get(&policy).await;
    assert_ne!(current["pending"]["mode"], "enforce", "{current}");

    // The admin may, both ways.
    let (status, body) = admin
        .post(&mode, json!({ "mode": "enforce", "override": true }))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is needed: {body}"
    );
    let (status, body) = admin.post(&mode, forced_switch).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["version"]["override_reason"],
        "the backup MX takes no mail from outside"
    );
    assert_eq!(body["version"]["mode"], "enforce");
    let (_, audit) = owner.get(&format!("/api/v1/tenants/{tenant}/audit")).await;
    assert_eq!(audit["items"][0]["action"], "policy.mode");
    assert_eq!(audit["items"][0]["details"]["override"], true);
    let (_, me) = admin.get("/api/v1/me").await;
    assert_eq!(
        audit["items"][0]["actor"],
        format!("user:{}", me["user"]["id"].as_str().unwrap())
    );
    assert_eq!(
        editor.post(&mode, json!({ "mode": "testing" })).await.0,
        StatusCode::CREATED,
        "leaving enforce needs no gate"
    );
    let (status, body) = admin.put(&policy, forced).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"]["mode"], "enforce");
    let (_, audit) = owner.get(&format!("/api/v1/tenants/{tenant}/audit")).await;
    assert_eq!(audit["items"][0]["action"], "policy.update");
    assert_eq!(audit["items"][0]["details"]["override"], true);
}

/// The newest audit entry of the tenant at `t` (`/api/v1/tenants/<id>`).
async fn last_audit(c: &mut crate::harness::Client, t: &str) -> Value {
    let (status, body) = c.get(&format!("{t}/audit?limit=1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"][0].clone()
}

/// The audit log keeps what a change replaced: a policy edit's old and new policy, a role
/// change's old and new role, report settings, and report uploads.
async fn audit_keeps_before_and_after(server: &TestServer) {
    server
        .dns
        .set_mx("audit.example", &[(10, "mx1.audit.example")]);
    let (mut owner, tenant) = server.signup("owner@audit.example", "T").await;
    let (_viewer, _) = server.signup("viewer@audit.example", "V").await;
    let t = format!("/api/v1/tenants/{tenant}");
    let (status, _) = owner
        .post(&format!("{t}/domains"), json!({ "name": "audit.example" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let policy = format!("{t}/domains/audit.example/policy");
    let (_, start) = owner.get(&policy).await;
    let old_body = start["pending"]["body"].as_str().unwrap().to_owned();
    let (status, edit) = owner
        .put(
            &policy,
            json!({ "mode": "testing", "mx": ["*.audit.example"], "max_age": 604800 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{edit}");
    let entry = last_audit(&mut owner, &t).await;
    assert_eq!(entry["action"], "policy.update");
    assert_eq!(entry["target"], "audit.example");
    assert_eq!(entry["details"]["before"], old_body.as_str());
    assert_eq!(entry["details"]["after"], edit["version"]["body"]);
    assert!(
        entry["details"]["after"]
            .as_str()
            .unwrap()
            .contains("mx: *.audit.example")
    );

    let (status, added) = owner
        .post(
            &format!("{t}/members"),
            json!({ "email": "viewer@audit.example", "role": "viewer" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let user = added["user_id"].as_str().unwrap();
    let (status, _) = owner
        .patch(&format!("{t}/members/{user}"), json!({ "role": "editor" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let entry = last_audit(&mut owner, &t).await;
    assert_eq!(entry["action"], "member.role");
    assert_eq!(entry["target"], user);
    assert_eq!(
        entry["details"],
        json!({ "before": { "role": "viewer" }, "after": { "role": "editor" } })
    );

    let (status, _) = owner
        .put(
            &format!("{t}/reports/settings"),
            json!({ "retention_days": 30 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let entry = last_audit(&mut owner, &t).await;
    assert_eq!(entry["action"], "reports.settings");
    assert_eq!(
        entry["details"]["after"],
        json!({ "retention_days": 30, "count_unverified_https": false })
    );
    assert!(
        entry["details"]["before"]["retention_days"].is_number(),
        "{entry}"
    );

    let report = json!({
        "organization-name": "Reporter", "report-id": "audit-1",
        "date-range": {"start-datetime": "2026-11-20T00:00:00Z", "end-datetime": "2026-11-20T23:59:59Z"},
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": "audit.example"},
                      "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}}]
    });
    let (status, uploaded) = owner
        .post(&format!("{t}/domains/audit.example/reports"), report)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let entry = last_audit(&mut owner, &t).await;
    assert_eq!(entry["action"], "report.upload");
    assert_eq!(entry["target"], "audit.example");
    assert_eq!(entry["details"]["report"], uploaded["id"]);
    assert_eq!(entry["details"]["report_id"], "audit-1");
    assert_eq!(entry["details"]["duplicate"], false);
}

/// An edit of a served domain goes live with the request itself: no worker runs in these
/// tests, yet the edges' view (`served_domain`) has the new policy when the answer arrives.
/// Before, edits waited for the verifier worker's round (publish every 2 s, after up to 100
/// checks).
async fn edits_of_served_domains_go_live_without_a_worker(server: &TestServer) {
    server.dns.set_mx("example.org", &[(10, "mx1.example.org")]);
    let (mut owner, tenant) = server.signup("ops@example.org", "T").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    let (status, added) = owner.post(&base, json!({ "name": "example.org" })).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let label = stsd_core::Label::from_str(added["label"].as_str().unwrap()).unwrap();
    let store = &server.store;
    let domain = store
        .all_tenants()
        .domain_by_label(&label)
        .await
        .unwrap()
        .unwrap();
    // The domain becomes served, as the verifier and the certificate worker would make it.
    let now = time::OffsetDateTime::now_utc();
    store
        .all_tenants()
        .put_certificate(&stsd_store::NewCertificate {
            domain_id: domain.id.clone(),
            chain_pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into(),
            key_ciphertext: vec![1, 2, 3],
            key_id: "k".into(),
            not_before: now - time::Duration::hours(1),
            not_after: now + time::Duration::days(60),
        })
        .await
        .unwrap();
    for (from, to) in [
        (
            stsd_store::DomainState::Pending,
            stsd_store::DomainState::Verified,
        ),
        (
            stsd_store::DomainState::Verified,
            stsd_store::DomainState::Active,
        ),
    ] {
        store
            .all_tenants()
            .transition_domain(&domain.id, from, to, "test")
            .await
            .unwrap();
    }
    let p = format!("{base}/example.org/policy");
    let (status, edit) = owner
        .put(
            &p,
            json!({ "mode": "testing", "mx": ["*.example.org"], "max_age": 604800 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{edit}");
    let served = store
        .all_tenants()
        .served_domain(&domain.id)
        .await
        .unwrap()
        .unwrap();
    let body = served.policy_body.unwrap();
    assert!(body.contains("mx: *.example.org\r\n"), "{body}");
    assert_eq!(
        served.live_ids[0].id.as_str(),
        edit["version"]["id"].as_str().unwrap()
    );
    // Not served (pending): an edit waits for the domain to be served.
    server.dns.set_mx("example.com", &[(10, "mx1.example.com")]);
    assert_eq!(
        owner.post(&base, json!({ "name": "example.com" })).await.0,
        StatusCode::CREATED
    );
    let (status, _) = owner
        .put(
            &format!("{base}/example.com/policy"),
            json!({ "mode": "testing", "mx": ["*.example.com"], "max_age": 604800 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, view) = owner.get(&format!("{base}/example.com/policy")).await;
    assert!(view["live"].is_null(), "{view}");
}

/// The finding: with the service zone `sts.localhost`, a tenant could add `sts.localhost` and
/// `edge.sts.localhost` as its own domains. The zone (here `sts.test.example`) and every
/// name under it are refused on `name`; neighbours are not.
async fn the_service_zone_is_not_a_customer_domain(server: &TestServer) {
    let (mut c, tenant) = server.signup("ops@example.com", "T").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    for name in [
        "sts.test.example",
        "STS.Test.Example.",
        "edge.sts.test.example",
        "abc.policy.sts.test.example",
        "reports.sts.test.example",
    ] {
        let (status, err) = c.post(&base, json!({ "name": name })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {err}");
        assert_eq!(err["error"]["code"], "validation_failed", "{err}");
        let detail = &err["error"]["details"][0];
        assert_eq!(detail["field"], "name", "{err}");
        let message = detail["message"].as_str().unwrap();
        assert!(
            message.contains("stsd's own service zone sts.test.example"),
            "{name}: {message}"
        );
    }
    let (_, list) = c.get(&base).await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    // The zone's parent and names merely ending like it are customers' to add.
    for name in ["test.example", "notsts.test.example"] {
        let (status, body) = c.post(&base, json!({ "name": name })).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
    }
}

/// The finding: a `max_age` under a day was accepted silently. It is still accepted, and
/// the answer warns, citing RFC 8461 §3.2.
async fn short_max_age_is_accepted_with_a_warning(server: &TestServer) {
    server
        .dns
        .set_mx("short.example", &[(10, "mx1.short.example")]);
    let (mut c, tenant) = server.signup("ops@short.example", "T").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    let warned = |v: &Value| {
        v["suggestion"].as_str().is_some_and(|s| {
            s.starts_with("warning: max_age is 3600 seconds, under a day")
                && s.contains("RFC 8461 §3.2 advises weeks")
        })
    };
    // At creation, with a policy given.
    let (status, created) = c
        .post(
            &base,
            json!({ "name": "short.example", "policy": { "mode": "testing", "mx": ["mx1.short.example"], "max_age": 3600 } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["policy"]["max_age"], 3600);
    assert!(warned(&created), "{created}");
    // An edit, and the same policy again (unchanged, still warned).
    let p = format!("{base}/short.example/policy");
    let policy = json!({ "mode": "testing", "mx": ["*.short.example"], "max_age": 3600 });
    for expected in [StatusCode::CREATED, StatusCode::OK] {
        let (status, change) = c.put(&p, policy.clone()).await;
        assert_eq!(status, expected, "{change}");
        assert_eq!(change["version"]["max_age"], 3600);
        assert!(warned(&change), "{change}");
    }
    // Zero is allowed too (RFC 8461 permits it), and warned about.
    let (status, change) = c
        .put(
            &p,
            json!({ "mode": "testing", "mx": ["*.short.example"], "max_age": 0 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{change}");
    assert!(
        change["suggestion"]
            .as_str()
            .is_some_and(|s| s.contains("max_age is 0 seconds, under a day")),
        "{change}"
    );
    // A day is no warning in testing; `none` protects nothing, whatever its max_age.
    for policy in [
        json!({ "mode": "testing", "mx": ["*.short.example"], "max_age": 86400 }),
        json!({ "mode": "none", "mx": ["*.short.example"], "max_age": 60 }),
    ] {
        let (status, change) = c.put(&p, policy.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{change}");
        assert!(change.get("suggestion").is_none(), "{policy}: {change}");
    }
    // The OpenAPI document describes the field.
    let (_, doc) = c.get("/api/v1/openapi.json").await;
    let field = &doc["components"]["schemas"]["PolicyChange"]["properties"]["suggestion"];
    assert!(
        field["description"]
            .as_str()
            .is_some_and(|d| d.contains("under a day")),
        "{field}"
    );
}

/// `GET …/certificate` shows the served certificate's renewal window with its source and the
/// CA's explanation URL, and a failing renewal's attempts, error and next attempt while the
/// certificate is still shown as current.
async fn certificate_shows_its_renewal_window_and_failures(server: &TestServer) {
    server.dns.set_mx("example.org", &[(10, "mx1.example.org")]);
    let (mut owner, tenant) = server.signup("ops@example.org", "T").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    let (status, added) = owner.post(&base, json!({ "name": "example.org" })).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let url = format!("{base}/example.org/certificate");
    let (status, view) = owner.get(&url).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert!(
        view["current"].is_null() && view["window"].is_null(),
        "{view}"
    );

    let label = stsd_core::Label::from_str(added["label"].as_str().unwrap()).unwrap();
    let store = &server.store;
    let domain = store
        .all_tenants()
        .domain_by_label(&label)
        .await
        .unwrap()
        .unwrap();
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let cert = store
        .all_tenants()
        .put_certificate(&stsd_store::NewCertificate {
            domain_id: domain.id.clone(),
            chain_pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into(),
            key_ciphertext: vec![1, 2, 3],
            key_id: "k".into(),
            not_before: now - time::Duration::days(1),
            not_after: now + time::Duration::days(89),
        })
        .await
        .unwrap();
    // A revoked certificate: the CA's window lies in the past.
    store
        .all_tenants()
        .put_renewal_plan(
            &cert.id,
            &stsd_store::RenewalPlan {
                source: stsd_store::RenewalSource::Ari,
                window_start: now - time::Duration::hours(1),
                window_end: now - time::Duration::minutes(30),
                renew_at: now - time::Duration::minutes(40),
                explanation_url: Some("https://ca.example/incident".into()),
                next_poll: Some(now + time::Duration::hours(6)),
                updated_at: now,
            },
        )
        .await
        .unwrap();
    let kind = stsd_store::CERT_JOB_KIND;
    store
        .schedule_job(kind, domain.id.as_str(), now)
        .await
        .unwrap();
    let job = store
        .lease_job(kind, "w", std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let retry_at = now + time::Duration::minutes(5);
    store
        .fail_job(
            &job,
            "ACME order for mta-sts.example.org failed: connection refused",
            retry_at,
        )
        .await
        .unwrap();

    let (status, view) = owner.get(&url).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        view["current"]["not_after"],
        (now + time::Duration::days(89)).unix_timestamp()
    );
    let window = &view["window"];
    assert_eq!(window["source"], "ari", "{view}");
    assert_eq!(
        window["start"],
        (now - time::Duration::hours(1)).unix_timestamp()
    );
    assert_eq!(
        window["end"],
        (now - time::Duration::minutes(30)).unix_timestamp()
    );
    assert_eq!(
        window["renew_at"],
        (now - time::Duration::minutes(40)).unix_timestamp()
    );
    assert_eq!(window["explanation_url"], "https://ca.example/incident");
    assert_eq!(
        window["next_check_at"],
        (now + time::Duration::hours(6)).unix_timestamp()
    );
    let renewal = &view["renewal"];
    assert_eq!(renewal["attempts"], 1, "{view}");
    assert_eq!(renewal["next_attempt_at"], retry_at.unix_timestamp());
    assert!(
        renewal["last_error"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{view}"
    );

    // The two-thirds rule, for a CA without renewal information: no URL, no next check.
    store
        .all_tenants()
        .put_renewal_plan(
            &cert.id,
            &stsd_store::RenewalPlan {
                source: stsd_store::RenewalSource::TwoThirds,
                window_start: now + time::Duration::days(55),
                window_end: now + time::Duration::days(59),
                renew_at: now + time::Duration::days(57),
                explanation_url: None,
                next_poll: None,
                updated_at: now,
            },
        )
        .await
        .unwrap();
    let (_, view) = owner.get(&url).await;
    assert_eq!(view["window"]["source"], "two_thirds", "{view}");
    assert!(view["window"]["explanation_url"].is_null(), "{view}");
    assert!(view["window"]["next_check_at"].is_null(), "{view}");
}

crate::both_backends!(
    certificate_shows_its_renewal_window_and_failures,
    the_service_zone_is_not_a_customer_domain,
    short_max_age_is_accepted_with_a_warning,
    edits_of_served_domains_go_live_without_a_worker,
    only_admins_override_the_enforce_gate,
    audit_keeps_before_and_after,
    checks_run_through_the_worker,
    policy_fetches_per_day,
    add_domain_with_mx_discovery,
    policy_versions_and_mode_switch,
    offboarding
);
