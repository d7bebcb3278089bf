//! TLS-RPT report upload, list and summary, over HTTP on both backends.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Client, TestServer};

fn report(org: &str, id: &str, domain: &str, ok: u64, failed: u64) -> Value {
    json!({
        "organization-name": org,
        "date-range": {"start-datetime": "2026-11-20T00:00:00Z", "end-datetime": "2026-11-20T23:59:59Z"},
        "contact-info": "tlsrpt@reporter.example",
        "report-id": id,
        "policies": [{
            "policy": {"policy-type": "sts", "policy-domain": domain, "mx-host": "mx1.example.org",
                       "policy-string": ["version: STSv1", "mode: testing", "mx: mx1.example.org", "max_age: 86400"]},
            "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed},
            "failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "198.51.100.1",
                                 "receiving-mx-hostname": "mx1.example.org", "failed-session-count": failed}]
        }]
    })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    stsd_core::tlsrpt::gzip(data)
}

async fn setup(server: &TestServer) -> (Client, String) {
    server.dns.set_mx("example.org", &[(10, "mx1.example.org")]);
    let (mut c, tenant) = server.signup("owner@example.com", "T").await;
    let (status, body) = c
        .post(
            &format!("/api/v1/tenants/{tenant}/domains"),
            json!({ "name": "example.org" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        c,
        format!("/api/v1/tenants/{tenant}/domains/example.org/reports"),
    )
}

async fn upload(c: &mut Client, path: &str, ct: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let (s, _, v) = c.raw(Method::POST, path, Some((ct, body)), &[]).await;
    (s, v)
}

async fn upload_gzip_and_json_then_summarize(server: &TestServer) {
    let (mut c, path) = setup(server).await;
    let a = serde_json::to_vec(&report("Google Inc.", "r1", "example.org", 40, 2)).unwrap();
    let (s, v) = upload(&mut c, &path, "application/tlsrpt+gzip", gzip(&a)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["duplicate"], false);
    assert_eq!(v["media_type_flagged"], false);
    let b = serde_json::to_vec(&report("Microsoft", "r2", "example.org", 10, 0)).unwrap();
    let (s, v) = upload(&mut c, &path, "application/tlsrpt+json", b).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    let q = "from=2026-11-19&to=2026-11-21";
    let (s, sum) = c.get(&format!("{path}/summary?{q}&group_by=day")).await;
    assert_eq!(s, StatusCode::OK, "{sum}");
    assert_eq!(sum["totals"]["reports"], 2);
    assert_eq!(sum["totals"]["successful_sessions"], 50);
    assert_eq!(sum["totals"]["failed_sessions"], 2);
    let rate = sum["totals"]["success_rate"].as_f64().unwrap();
    assert!((rate - 50.0 / 52.0).abs() < 1e-9);
    let days = sum["groups"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(days[1]["key"], "2026-11-20");
    assert_eq!(days[1]["reports"], 2);
    assert_eq!(days[0]["reports"], 0);

    let (_, by_result) = c.get(&format!("{path}/summary?{q}&group_by=result")).await;
    let groups = by_result["groups"].as_array().unwrap();
    assert_eq!(groups[0]["key"], "success");
    assert_eq!(groups[1]["key"], "certificate-expired");
    assert_eq!(groups[1]["failed_sessions"], 2);
    assert!(groups[1]["fix"].as_str().unwrap().contains("Renew"));

    let (_, by_org) = c
        .get(&format!("{path}/summary?{q}&group_by=organization"))
        .await;
    assert_eq!(by_org["groups"].as_array().unwrap().len(), 2);
    let (_, by_mx) = c.get(&format!("{path}/summary?{q}&group_by=mx")).await;
    assert_eq!(by_mx["groups"][0]["key"], "mx1.example.org");

    let (s, list) = c.get(&format!("{path}?limit=1")).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["next_offset"], 1);
    let (_, list) = c.get(&format!("{path}?organization=Microsoft")).await;
    assert_eq!(list["items"][0]["report_id"], "r2");
    assert_eq!(list["next_offset"], Value::Null);

    // Offsets near i64::MAX (found by schemathesis: `offset + limit` overflowed and the
    // connection dropped) are an empty last page.
    for offset in [i64::MAX, i64::MAX - 200, 9_223_372_036_854_775_608] {
        let (s, list) = c.get(&format!("{path}?limit=200&offset={offset}")).await;
        assert_eq!(s, StatusCode::OK, "{list}");
        assert_eq!(list["items"].as_array().unwrap().len(), 0);
        assert_eq!(list["next_offset"], Value::Null);
    }
    let (s, list) = c.get(&format!("{path}?offset=-5&limit=1")).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(
        list["next_offset"], 1,
        "a negative offset is the first page"
    );
}

async fn duplicates_count_once_per_organization(server: &TestServer) {
    let (mut c, path) = setup(server).await;
    let a = serde_json::to_vec(&report("Google Inc.", "same-id", "example.org", 5, 1)).unwrap();
    let (s, first) = upload(&mut c, &path, "application/tlsrpt+json", a.clone()).await;
    assert_eq!(s, StatusCode::CREATED);
    // The same report again, gzip this time and mislabelled: still a duplicate.
    let (s, again) = upload(&mut c, &path, "application/octet-stream", gzip(&a)).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["media_type_flagged"], true);
    // Same report id from another organization: a different report.
    let b = serde_json::to_vec(&report("Yahoo", "same-id", "example.org", 5, 1)).unwrap();
    let (s, _) = upload(&mut c, &path, "application/json", b).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, sum) = c
        .get(&format!("{path}/summary?from=2026-11-20&to=2026-11-20"))
        .await;
    assert_eq!(sum["totals"]["reports"], 2);
    assert_eq!(sum["totals"]["successful_sessions"], 10);
    let (_, list) = c.get(&path).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

/// The finding: a member uploading a report about another domain got it stored with
/// `domain_mismatch: true`. Now it is refused with a reason, and nothing is stored, also when
/// only one of its policies names another domain.
async fn uploads_about_another_domain_are_refused(server: &TestServer) {
    let (mut c, path) = setup(server).await;
    let other = serde_json::to_vec(&report("Google Inc.", "x", "other.example", 100, 0)).unwrap();
    let (s, v) = upload(&mut c, &path, "application/tlsrpt+json", other.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "domain_mismatch", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("other.example") && message.contains("not example.org"),
        "{message}"
    );
    // Gzip, mislabelled: the same.
    let (s, _) = upload(&mut c, &path, "application/octet-stream", gzip(&other)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let mut mixed = report("Yahoo", "y", "example.org", 5, 0);
    let mut foreign = mixed["policies"][0].clone();
    foreign["policy"]["policy-domain"] = json!("Other.Example.");
    mixed["policies"].as_array_mut().unwrap().push(foreign);
    let (s, v) = upload(
        &mut c,
        &path,
        "application/tlsrpt+json",
        serde_json::to_vec(&mixed).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "domain_mismatch", "{v}");
    let (_, list) = c.get(&path).await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    // The domain's own, in any case and with a trailing dot, is taken.
    let own = serde_json::to_vec(&report("Google Inc.", "z", "EXAMPLE.org.", 1, 0)).unwrap();
    let (s, v) = upload(&mut c, &path, "application/tlsrpt+json", own).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["domain_mismatch"], false, "{v}");
}

async fn bad_bodies_are_refused(server: &TestServer) {
    let (mut c, path) = setup(server).await;
    let (s, v) = upload(
        &mut c,
        &path,
        "application/tlsrpt+json",
        b"not a report".to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
    // Over the 10 MiB upload limit. The server answers 413 before reading the whole body and
    // then closes the connection, so the client may see the reset before the answer.
    let sent = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .bearer_auth(c.token.clone().unwrap())
        .header("content-type", "application/tlsrpt+json")
        .body(vec![b' '; 11 << 20])
        .send()
        .await;
    match sent {
        Ok(resp) => assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    let (s, v) = upload(&mut c, &path, "application/json", b"{\"a\": 1}".to_vec()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (_, list) = c.get(&path).await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

async fn foreign_tenant_sees_nothing(server: &TestServer) {
    let (mut c, path) = setup(server).await;
    let a = serde_json::to_vec(&report("Google Inc.", "r1", "example.org", 1, 0)).unwrap();
    assert_eq!(
        upload(&mut c, &path, "application/tlsrpt+json", a.clone())
            .await
            .0,
        StatusCode::CREATED
    );
    let (mut other, _) = server.signup("other@example.com", "O").await;
    let (s, _) = upload(&mut other, &path, "application/tlsrpt+json", a).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(other.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        other.get(&format!("{path}/summary")).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn policies_of_one_report_are_not_added(server: &TestServer) {
    let (mut c, path) = setup(server).await;
    let mut r = report("Provider", "two", "example.org", 10, 3);
    let policy = r["policies"][0].clone();
    let mut tlsa = policy.clone();
    tlsa["policy"]["policy-type"] = json!("tlsa");
    r["policies"] = json!([policy, tlsa]);
    let (s, v) = upload(
        &mut c,
        &path,
        "application/tlsrpt+json",
        serde_json::to_vec(&r).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let q = "from=2026-11-20&to=2026-11-20";
    let (_, sum) = c.get(&format!("{path}/summary?{q}&group_by=result")).await;
    assert_eq!(sum["totals"]["successful_sessions"], 10);
    assert_eq!(sum["totals"]["failed_sessions"], 3);
    assert_eq!(sum["groups"][1]["failed_sessions"], 3);
}

/// A report of yesterday (so that it is "recent" for the readiness check).
fn recent_report(org: &str, id: &str, ok: u64, failed: u64) -> Value {
    let day = time::OffsetDateTime::now_utc().date() - time::Duration::days(1);
    let mut r = report(org, id, "example.org", ok, failed);
    r["date-range"] = json!({
        "start-datetime": format!("{day}T00:00:00Z"),
        "end-datetime": format!("{day}T23:59:59Z"),
    });
    r
}

async fn report_detail_raw_export_and_settings(server: &TestServer) {
    let (mut c, path) = setup(server).await;
    let sent = recent_report("Google Inc.", "g-1", 40, 2);
    let (s, v) = upload(
        &mut c,
        &path,
        "application/tlsrpt+json",
        serde_json::to_vec(&sent).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();

    let (s, d) = c.get(&format!("{path}/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["report"]["report_id"], "g-1");
    assert_eq!(d["raw"], sent, "the raw report is exactly what was sent");
    let failure = &d["policies"][0]["failures"][0];
    assert_eq!(failure["result_type"], "certificate-expired");
    assert_eq!(failure["failed_sessions"], 2);
    assert!(
        failure["fix"].as_str().unwrap().contains("Renew"),
        "{failure}"
    );

    let (s, headers, _) = c
        .raw(Method::GET, &format!("{path}/{id}/raw"), None, &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/tlsrpt+json");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"tlsrpt-"),
        "{headers:?}"
    );
    assert_eq!(
        c.get(&format!("{path}/nope")).await.0,
        StatusCode::NOT_FOUND
    );

    // What the reports say reaches the summary's signals and the enforce gate.
    let (_, sum) = c.get(&format!("{path}/summary")).await;
    assert_eq!(sum["signals"]["recent_failed_sessions"], 2, "{sum}");
    assert_eq!(sum["signals"]["silent"], false);
    assert!(sum["signals"]["last_received_at"].is_string());
    let mode = path.replace("/reports", "/mode");
    let (s, refused) = c.post(&mode, json!({ "mode": "enforce" })).await;
    assert_eq!(s, StatusCode::CONFLICT, "{refused}");
    let failing: Vec<&str> = refused["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "fail")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["tlsrpt_failures"], "{refused}");

    // The domain list shows the recent report totals beside the domain.
    let domains_path = path.split("/example.org/").next().unwrap().to_owned();
    let (_, list) = c.get(&domains_path).await;
    let item = &list["items"][0];
    assert_eq!(item["name"], "example.org", "{list}");
    assert_eq!(item["reports_30d"], 1, "{list}");
    let rate = item["success_rate_30d"].as_f64().unwrap();
    assert!((rate - 40.0 / 42.0).abs() < 1e-9, "{list}");
    assert!(item["certificate_not_after"].is_null());
    assert_eq!(item["mode"], "testing");

    // The tenant-wide summary, per domain.
    let tenant_path = path.split("/domains/").next().unwrap().to_owned();
    let (s, t) = c
        .get(&format!("{tenant_path}/reports/summary?group_by=domain"))
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["groups"][0]["key"], "example.org");
    assert_eq!(t["groups"][0]["failed_sessions"], 2);
    assert!(t.get("signals").is_none());

    // Retention: a setting per tenant, within bounds, for admins.
    let settings = format!("{tenant_path}/reports/settings");
    let (_, v) = c.get(&settings).await;
    assert_eq!(v["retention_days"], 400);
    let (s, v) = c.put(&settings, json!({ "retention_days": 1 })).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = c.put(&settings, json!({ "retention_days": 30 })).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(c.get(&settings).await.1["retention_days"], 30);

    // Another tenant sees none of it.
    let (mut other, _) = server.signup("other@example.com", "O").await;
    assert_eq!(
        other.get(&format!("{path}/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other.get(&format!("{path}/{id}/raw")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other.get(&format!("{tenant_path}/reports/summary")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(other.get(&settings).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        other.put(&settings, json!({ "retention_days": 9 })).await.0,
        StatusCode::NOT_FOUND
    );
}

/// A report POSTed over HTTPS from an unverified address (stored through the store, as the
/// receiver does): listed with its origin, left out of the summary by default and said so,
/// counted once the tenant chooses, in the summary, the signals and the domain list; the
/// choice is audited, and a PUT without it keeps it.
async fn unverified_https_reports_are_left_out_until_the_tenant_counts_them(server: &TestServer) {
    let (mut c, path) = setup(server).await;
    let tenant_path = path.split("/domains/").next().unwrap().to_owned();
    let tenant_id = tenant_path.rsplit('/').next().unwrap().to_owned();
    let honest = serde_json::to_vec(&recent_report("Microsoft", "m-1", 100, 0)).unwrap();
    let (s, v) = upload(&mut c, &path, "application/tlsrpt+json", honest).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let domain = server
        .store
        .domain(
            &stsd_store::TenantId::from_raw(tenant_id),
            &"example.org".parse().unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let forged = serde_json::to_vec(&recent_report("Google Inc.", "forged", 0, 999_999)).unwrap();
    server
        .store
        .all_tenants()
        .ingest_submission(&stsd_store::Submission {
            domain: &domain,
            body: &forged,
            declared_media_type: Some("application/tlsrpt+json"),
            transport: stsd_store::Transport::Https,
            origin: stsd_store::ReportOrigin::UnverifiedHttps,
            dkim: None,
            flags: &[],
            max_decompressed: 1 << 20,
        })
        .await
        .unwrap();

    let (_, list) = c.get(&path).await;
    let origins: Vec<(&str, &str, bool)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["report_id"].as_str().unwrap(),
                r["origin"].as_str().unwrap(),
                r["counted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(origins.contains(&("m-1", "upload", true)), "{list}");
    assert!(
        origins.contains(&("forged", "unverified_https", false)),
        "{list}"
    );
    let (_, sum) = c.get(&format!("{path}/summary")).await;
    assert_eq!(sum["totals"]["reports"], 1, "{sum}");
    assert_eq!(sum["totals"]["success_rate"], 1.0, "{sum}");
    assert_eq!(sum["left_out"]["total"], 1, "{sum}");
    assert_eq!(sum["left_out"]["unverified_https"], 1, "{sum}");
    assert_eq!(sum["count_unverified_https"], false);
    assert_eq!(sum["signals"]["recent_failed_sessions"], 0, "{sum}");
    let (_, t) = c.get(&format!("{tenant_path}/reports/summary")).await;
    assert_eq!(t["left_out"]["unverified_https"], 1, "{t}");
    let domains_path = path.split("/example.org/").next().unwrap().to_owned();
    assert_eq!(c.get(&domains_path).await.1["items"][0]["reports_30d"], 1);

    let settings = format!("{tenant_path}/reports/settings");
    let (_, v) = c.get(&settings).await;
    assert_eq!(v["count_unverified_https"], false, "off by default: {v}");
    let (s, v) = c
        .put(
            &settings,
            json!({ "retention_days": 400, "count_unverfied_https": true }),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a misspelt field is refused: {v}"
    );
    let (s, v) = c
        .put(
            &settings,
            json!({ "retention_days": 400, "count_unverified_https": true }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["count_unverified_https"], true);
    let (_, audit) = c.get(&format!("{tenant_path}/audit")).await;
    assert_eq!(audit["items"][0]["action"], "reports.settings", "{audit}");
    assert_eq!(
        audit["items"][0]["details"]["before"]["count_unverified_https"],
        false
    );
    assert_eq!(
        audit["items"][0]["details"]["after"]["count_unverified_https"],
        true
    );
    let (_, sum) = c.get(&format!("{path}/summary")).await;
    assert_eq!(sum["totals"]["reports"], 2, "{sum}");
    assert_eq!(sum["totals"]["failed_sessions"], 999_999, "{sum}");
    assert_eq!(sum["left_out"]["total"], 0, "{sum}");
    assert_eq!(sum["count_unverified_https"], true);
    assert_eq!(sum["signals"]["recent_failed_sessions"], 999_999, "{sum}");
    assert_eq!(c.get(&domains_path).await.1["items"][0]["reports_30d"], 2);
    let (_, list) = c.get(&path).await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["counted"] == true),
        "{list}"
    );

    // A PUT that leaves the choice out keeps it.
    let (s, v) = c.put(&settings, json!({ "retention_days": 100 })).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["count_unverified_https"], true);
    assert_eq!(c.get(&settings).await.1["count_unverified_https"], true);
    let (s, _) = c
        .put(
            &settings,
            json!({ "retention_days": 100, "count_unverified_https": false }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, sum) = c.get(&format!("{path}/summary")).await;
    assert_eq!(sum["totals"]["reports"], 1, "{sum}");
}

crate::both_backends!(
    unverified_https_reports_are_left_out_until_the_tenant_counts_them,
    report_detail_raw_export_and_settings,
    policies_of_one_report_are_not_added,
    upload_gzip_and_json_then_summarize,
    uploads_about_another_domain_are_refused,
    duplicates_count_once_per_organization,
    bad_bodies_are_refused,
    foreign_tenant_sees_nothing,
);
