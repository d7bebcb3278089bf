//! Tenants are walls: every tenant-scoped operation of the OpenAPI document, called with
//! another tenant's credentials (a user session and an API token), answers 404 and changes
//! nothing; so does every operation on the attacker's own tenant path that names one of the
//! victim's objects (domains by name, reports, webhooks and their deliveries, invitations,
//! tokens, members). A member who was removed is refused everywhere, session and token; a
//! member demoted to viewer reads but writes nothing, session and write token alike. The
//! operations come from `stsd_api::openapi()`, so a new route without a sample request here
//! fails this test instead of going unchecked.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Client, TestServer};

/// Everything tenant B has, as B sees it.
async fn snapshot(b: &mut Client, v: &Victim) -> Vec<Value> {
    let base = format!("/api/v1/tenants/{}", v.tenant);
    let (hook, report) = (&v.hook, &v.report);
    let mut out = Vec::new();
    for path in [
        format!("{base}/domains"),
        format!("{base}/domains/victim.example"),
        format!("{base}/domains/victim.example/policy"),
        format!("{base}/domains/victim.example/policy/versions"),
        format!("{base}/domains/victim.example/reports"),
        format!("{base}/domains/victim.example/reports/{report}"),
        format!("{base}/members"),
        format!("{base}/members/invitations"),
        format!("{base}/tokens"),
        format!("{base}/webhooks"),
        format!("{base}/webhooks/{hook}/deliveries"),
        format!("{base}/reports/settings"),
        format!("{base}/audit?limit=200"),
    ] {
        let (status, mut body) = b.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        // last_used_at moves when a token is used; everything else must not.
        if let Some(items) = body.get_mut("items").and_then(Value::as_array_mut) {
            for item in items {
                if let Some(o) = item.as_object_mut() {
                    o.remove("last_used_at");
                }
            }
        }
        out.push(body);
    }
    out
}

/// The tenant-scoped operations of the OpenAPI document, as (METHOD, path template).
fn tenant_operations() -> Vec<(String, String)> {
    let doc = serde_json::to_value(stsd_api::openapi()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains("{tenant}") {
            continue;
        }
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// A TLS report about `domain`, as JSON.
fn tls_report(domain: &str, id: &str) -> Value {
    json!({
        "organization-name": "Reporter", "report-id": id,
        "date-range": {"start-datetime": "2026-11-20T00:00:00Z", "end-datetime": "2026-11-20T23:59:59Z"},
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": domain},
                      "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}}]
    })
}

type Samples = BTreeMap<(&'static str, &'static str), Option<Value>>;

/// A sample request per tenant-scoped operation: (METHOD, template) -> body. The bodies are
/// valid where possible, so that a missing wall would show as a change, not a 422. Fails when
/// an operation of the OpenAPI document has no sample, or a sample no operation.
fn samples() -> Samples {
    let policy = json!({ "mode": "enforce", "mx": ["*.attacker.example"], "max_age": 1 });
    let samples: Samples = BTreeMap::from([
        (("GET", "/api/v1/tenants/{tenant}/domains"), None),
        (
            ("POST", "/api/v1/tenants/{tenant}/domains"),
            Some(json!({ "name": "planted.example" })),
        ),
        (("GET", "/api/v1/tenants/{tenant}/domains/{name}"), None),
        (("DELETE", "/api/v1/tenants/{tenant}/domains/{name}"), None),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/records"),
            None,
        ),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/policy"),
            None,
        ),
        (
            ("PUT", "/api/v1/tenants/{tenant}/domains/{name}/policy"),
            Some(policy),
        ),
        (
            (
                "GET",
                "/api/v1/tenants/{tenant}/domains/{name}/policy/versions",
            ),
            None,
        ),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/fetches"),
            None,
        ),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/checks"),
            None,
        ),
        (
            ("POST", "/api/v1/tenants/{tenant}/domains/{name}/checks"),
            Some(json!({})),
        ),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/reports"),
            None,
        ),
        (
            ("POST", "/api/v1/tenants/{tenant}/domains/{name}/reports"),
            Some(tls_report("victim.example", "iso-planted")),
        ),
        (
            (
                "GET",
                "/api/v1/tenants/{tenant}/domains/{name}/reports/summary",
            ),
            None,
        ),
        (
            (
                "GET",
                "/api/v1/tenants/{tenant}/domains/{name}/reports/{id}",
            ),
            None,
        ),
        (
            (
                "GET",
                "/api/v1/tenants/{tenant}/domains/{name}/reports/{id}/raw",
            ),
            None,
        ),
        (
            ("POST", "/api/v1/tenants/{tenant}/domains/{name}/mode"),
            Some(json!({ "mode": "none" })),
        ),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/certificate"),
            None,
        ),
        (("GET", "/api/v1/tenants/{tenant}/domains/{name}/mx"), None),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/existing"),
            None,
        ),
        (
            ("PUT", "/api/v1/tenants/{tenant}/domains/{name}/extra-rua"),
            Some(json!({ "extra_rua": ["mailto:attacker@example.com"] })),
        ),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/mx-move"),
            None,
        ),
        (
            ("POST", "/api/v1/tenants/{tenant}/domains/{name}/mx-move"),
            Some(json!({ "new_mx": ["mx.attacker.example"], "move_at": 2_000_000_000 })),
        ),
        (
            ("DELETE", "/api/v1/tenants/{tenant}/domains/{name}/mx-move"),
            None,
        ),
        (("GET", "/api/v1/tenants/{tenant}/members"), None),
        (
            ("POST", "/api/v1/tenants/{tenant}/members"),
            Some(json!({ "email": "attacker@example.com", "role": "owner" })),
        ),
        (
            ("PATCH", "/api/v1/tenants/{tenant}/members/{user}"),
            Some(json!({ "role": "viewer" })),
        ),
        (("DELETE", "/api/v1/tenants/{tenant}/members/{user}"), None),
        (
            ("GET", "/api/v1/tenants/{tenant}/members/invitations"),
            None,
        ),
        (
            ("POST", "/api/v1/tenants/{tenant}/members/invitations"),
            Some(json!({ "email": "attacker@example.com", "role": "owner" })),
        ),
        (
            (
                "DELETE",
                "/api/v1/tenants/{tenant}/members/invitations/{id}",
            ),
            None,
        ),
        (("GET", "/api/v1/tenants/{tenant}/tokens"), None),
        (
            ("POST", "/api/v1/tenants/{tenant}/tokens"),
            Some(json!({ "name": "x", "scope": "write" })),
        ),
        (("DELETE", "/api/v1/tenants/{tenant}/tokens/{id}"), None),
        (("GET", "/api/v1/tenants/{tenant}/audit"), None),
        (("GET", "/api/v1/tenants/{tenant}/reports/summary"), None),
        (("GET", "/api/v1/tenants/{tenant}/reports/settings"), None),
        (
            ("PUT", "/api/v1/tenants/{tenant}/reports/settings"),
            Some(json!({ "retention_days": 7 })),
        ),
        (("GET", "/api/v1/tenants/{tenant}/webhooks"), None),
        (
            ("POST", "/api/v1/tenants/{tenant}/webhooks"),
            Some(json!({ "url": "https://attacker.example/hook" })),
        ),
        (("DELETE", "/api/v1/tenants/{tenant}/webhooks/{id}"), None),
        (
            ("GET", "/api/v1/tenants/{tenant}/webhooks/{id}/deliveries"),
            None,
        ),
        (
            ("POST", "/api/v1/tenants/{tenant}/webhooks/{id}/ping"),
            Some(json!({})),
        ),
    ]);
    let operations = tenant_operations();
    let missing: Vec<String> = operations
        .iter()
        .filter(|(m, p)| !samples.contains_key(&(m.as_str(), p.as_str())))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "tenant-scoped operations without a sample request in the isolation walk: {missing:?}"
    );
    let stale: Vec<String> = samples
        .keys()
        .filter(|(m, p)| !operations.iter().any(|(om, op)| om == m && op == p))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        stale.is_empty(),
        "samples for operations that no longer exist: {stale:?}"
    );
    samples
}

/// The ids a walk fills a template with.
struct Ids<'a> {
    tenant: &'a str,
    /// `{name}`: a domain name.
    name: &'a str,
    /// `{user}`: a user id.
    user: &'a str,
    report: &'a str,
    hook: &'a str,
    invitation: &'a str,
    token: &'a str,
}

impl Ids<'_> {
    /// The path of `template` with these ids.
    fn fill(&self, template: &str) -> String {
        let id = if template.contains("/members/invitations/") {
            self.invitation
        } else if template.contains("/tokens/") {
            self.token
        } else if template.contains("/webhooks/") {
            self.hook
        } else {
            self.report
        };
        let path = template
            .replace("{tenant}", self.tenant)
            .replace("{name}", self.name)
            .replace("{user}", self.user)
            .replace("{id}", id);
        assert!(!path.contains('{'), "unfilled parameter in {template}");
        path
    }
}

/// Every sample as a request with `ids`.
fn requests(samples: &Samples, ids: &Ids<'_>) -> Vec<(Method, String, Option<Value>)> {
    samples
        .iter()
        .map(|((method, template), body)| {
            (
                Method::from_bytes(method.as_bytes()).unwrap(),
                ids.fill(template),
                body.clone(),
            )
        })
        .collect()
}

/// Tenant B with one of everything, and the ids an attacker would try.
struct Victim {
    tenant: String,
    user: String,
    report: String,
    hook: String,
    invitation: String,
    /// The token of B's owner.
    token: String,
    /// The secret of B's invitation, for accepting it.
    invite_token: String,
}

impl Victim {
    fn ids(&self) -> Ids<'_> {
        Ids {
            tenant: &self.tenant,
            name: "victim.example",
            user: &self.user,
            report: &self.report,
            hook: &self.hook,
            invitation: &self.invitation,
            token: &self.token,
        }
    }
}

/// Signs up B's owner and gives B a domain, a report, a webhook, a token and an invitation.
async fn victim(server: &TestServer) -> (Client, Victim) {
    server
        .dns
        .set_mx("victim.example", &[(10, "mx.victim.example")]);
    let (mut b, tenant) = server.signup("victim@example.com", "B").await;
    let bb = format!("/api/v1/tenants/{tenant}");
    let (status, body) = b
        .post(
            &format!("{bb}/domains"),
            json!({ "name": "victim.example" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, token) = b
        .post(
            &format!("{bb}/tokens"),
            json!({ "name": "b", "scope": "read" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    // One stored report of B's, so that its id is a real one.
    let (status, _, uploaded) = b
        .raw(
            Method::POST,
            &format!("{bb}/domains/victim.example/reports"),
            Some((
                "application/tlsrpt+json",
                serde_json::to_vec(&tls_report("victim.example", "iso-1")).unwrap(),
            )),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let (status, hook) = b
        .post(
            &format!("{bb}/webhooks"),
            json!({ "url": "https://hooks.victim.example/stsd" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let (status, invited) = b
        .post(
            &format!("{bb}/members/invitations"),
            json!({ "email": "colleague@victim.example", "role": "editor" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    let (_, me) = b.get("/api/v1/me").await;
    let v = Victim {
        tenant,
        user: me["user"]["id"].as_str().unwrap().to_owned(),
        report: uploaded["id"].as_str().unwrap().to_owned(),
        hook: hook["webhook"]["id"].as_str().unwrap().to_owned(),
        invitation: invited["invitation"]["id"].as_str().unwrap().to_owned(),
        token: token["id"].as_str().unwrap().to_owned(),
        invite_token: invited["token"].as_str().unwrap().to_owned(),
    };
    (b, v)
}

/// Whether `resp` is the refusal of an operation API tokens may never use (members, tokens,
/// webhooks, overrides): decided before any object is looked up.
fn tokens_never(status: StatusCode, resp: &Value) -> bool {
    status == StatusCode::FORBIDDEN
        && resp["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("API tokens cannot"))
}

#[track_caller]
fn assert_no_leak(method: &Method, path: &str, resp: &Value) {
    assert!(
        !resp.to_string().contains("victim.example"),
        "{method} {path} leaked: {resp}"
    );
}

async fn foreign_credentials_see_nothing(server: &TestServer) {
    let (mut a, tenant_a) = server.signup("attacker@example.com", "A").await;
    let (mut b, v) = victim(server).await;
    let before = snapshot(&mut b, &v).await;

    // A's credentials: its session, and a write token of its own tenant.
    let aa = format!("/api/v1/tenants/{tenant_a}");
    let (_, a_token) = a
        .post(
            &format!("{aa}/tokens"),
            json!({ "name": "a", "scope": "write" }),
        )
        .await;
    let mut a_bot = server.client();
    a_bot.token = Some(a_token["token"].as_str().unwrap().to_owned());

    let samples = samples();
    // B's tenant path with B's real ids, so that a missing wall would find something.
    let routes = requests(&samples, &v.ids());
    for client in [&mut a, &mut a_bot] {
        for (method, path, body) in &routes {
            let (status, resp) = client.send(method.clone(), path, body.clone()).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{method} {path} answered {status}: {resp}"
            );
            assert_no_leak(method, path, &resp);
        }
    }
    // Made-up tenant ids answer the same as foreign ones.
    assert_eq!(
        a.get("/api/v1/tenants/00000000-0000-0000-0000-000000000000/domains")
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // A's own tenant path with B's ids: A is owner there, so every check up to the lookup
    // passes, and only the wall stands between A and B's objects. A has objects of its own
    // of each kind, which the same templates find (the control below).
    server
        .dns
        .set_mx("attacker.example", &[(10, "mx.attacker.example")]);
    let (status, body) = a
        .post(
            &format!("{aa}/domains"),
            json!({ "name": "attacker.example" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, uploaded) = a
        .raw(
            Method::POST,
            &format!("{aa}/domains/attacker.example/reports"),
            Some((
                "application/tlsrpt+json",
                serde_json::to_vec(&tls_report("attacker.example", "iso-a")).unwrap(),
            )),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let (status, hook) = a
        .post(
            &format!("{aa}/webhooks"),
            json!({ "url": "https://hooks.attacker.example/stsd" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let own = Ids {
        tenant: &tenant_a,
        name: "attacker.example",
        user: "",
        report: uploaded["id"].as_str().unwrap(),
        hook: hook["webhook"]["id"].as_str().unwrap(),
        invitation: "",
        token: "",
    };
    // B's domain by name; B's user, invitation, token, webhook (and its deliveries).
    let victims_in_own = Ids {
        tenant: &tenant_a,
        ..v.ids()
    };
    // B's report under A's own domain.
    let victims_report_in_own = Ids {
        tenant: &tenant_a,
        name: "attacker.example",
        ..v.ids()
    };
    let named = |t: &str| ["{name}", "{id}", "{user}"].iter().any(|p| t.contains(p));
    let mut walked = 0;
    for ((method, template), body) in &samples {
        if !named(template) {
            continue;
        }
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut paths = vec![victims_in_own.fill(template)];
        if template.contains("{name}") && template.contains("{id}") {
            paths.push(victims_report_in_own.fill(template));
        }
        for path in &paths {
            for client in [&mut a, &mut a_bot] {
                let (status, resp) = client.send(method.clone(), path, body.clone()).await;
                assert!(
                    status == StatusCode::NOT_FOUND || tokens_never(status, &resp),
                    "{method} {path} answered {status}: {resp}"
                );
                assert_no_leak(&method, path, &resp);
                walked += 1;
            }
        }
        // The control: A's own objects, by the same template, are found.
        if method == Method::GET {
            let path = own.fill(template);
            let (status, resp) = a.get(&path).await;
            assert_eq!(status, StatusCode::OK, "GET {path}: {resp}");
        }
    }
    assert!(walked >= 40, "the own-path walk covered {walked} requests");

    assert_eq!(
        snapshot(&mut b, &v).await,
        before,
        "tenant B's data changed"
    );
    // B's invitation cannot be accepted by A, who holds another e-mail address.
    let (status, _) = a
        .post(
            "/api/v1/invitations/accept",
            json!({ "token": v.invite_token }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another e-mail's invitation");
    // A's own tenant list does not show B.
    let (_, tenants) = a.get("/api/v1/tenants").await;
    assert_eq!(tenants["items"].as_array().unwrap().len(), 1);
}

/// Adds the account of `email` to B as `role` and has it create a write token in B; returns
/// its session, its user id and a client using its token (checked to work).
async fn insider(
    server: &TestServer,
    b: &mut Client,
    v: &Victim,
    email: &str,
    role: &str,
) -> (Client, String, Client) {
    let bb = format!("/api/v1/tenants/{}", v.tenant);
    let (mut session, _) = server.signup(email, "Own").await;
    let (status, body) = b
        .post(
            &format!("{bb}/members"),
            json!({ "email": email, "role": role }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let user = body["user_id"].as_str().unwrap().to_owned();
    let (status, created) = session
        .post(
            &format!("{bb}/tokens"),
            json!({ "name": email, "scope": "write" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let mut bot = server.client();
    bot.token = Some(created["token"].as_str().unwrap().to_owned());
    let (_, me) = bot.get("/api/v1/me").await;
    assert_eq!(me["token"]["scope"], "write", "{me}");
    let (status, body) = bot.get(&format!("{bb}/domains")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (session, user, bot)
}

/// A member removed from B is refused everywhere in B (the session as for any non-member,
/// the token as unknown); a member demoted from admin to viewer reads but writes nothing,
/// with their session or their write token.
async fn removed_and_demoted_members_are_refused(server: &TestServer) {
    let (mut b, v) = victim(server).await;
    let bb = format!("/api/v1/tenants/{}", v.tenant);
    let (mut removed, removed_id, mut removed_bot) =
        insider(server, &mut b, &v, "removed@victim.example", "admin").await;
    let (mut demoted, demoted_id, mut demoted_bot) =
        insider(server, &mut b, &v, "demoted@victim.example", "admin").await;
    let (status, body) = b.delete(&format!("{bb}/members/{removed_id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = b
        .patch(
            &format!("{bb}/members/{demoted_id}"),
            json!({ "role": "viewer" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = snapshot(&mut b, &v).await;

    let routes = requests(&samples(), &v.ids());
    for (method, path, body) in &routes {
        // A removed member is no member: B's existence is not confirmed to them.
        let (status, resp) = removed.send(method.clone(), path, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "removed member's session: {method} {path} answered {status}: {resp}"
        );
        assert_no_leak(method, path, &resp);
        // Their token left with them.
        let (status, resp) = removed_bot.send(method.clone(), path, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "removed member's token: {method} {path} answered {status}: {resp}"
        );
        assert_no_leak(method, path, &resp);

        // The demoted member and their write token: no write passes; reads do, except those
        // a viewer or a token may not make (members, tokens, webhooks, the audit log).
        for (who, client) in [("session", &mut demoted), ("token", &mut demoted_bot)] {
            let (status, resp) = client.send(method.clone(), path, body.clone()).await;
            if *method == Method::GET {
                assert!(
                    status == StatusCode::OK || status == StatusCode::FORBIDDEN,
                    "demoted member's {who}: {method} {path} answered {status}: {resp}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "demoted member's {who}: {method} {path} answered {status}: {resp}"
                );
            }
        }
    }
    // The demoted member's token reads: it was narrowed, not revoked.
    let (_, me) = demoted_bot.get("/api/v1/me").await;
    assert_eq!(me["token"]["scope"], "read", "{me}");
    let (status, body) = demoted_bot.get(&format!("{bb}/domains")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    assert_eq!(
        snapshot(&mut b, &v).await,
        before,
        "tenant B's data changed"
    );
}

crate::both_backends!(
    foreign_credentials_see_nothing,
    removed_and_demoted_members_are_refused
);
