//! Planning a move to new MX hosts through the API: the first version (old and new patterns)
//! is published by the request, the plan shows each step with its date, patterns and
//! `max_age`; a second plan waits for the first to end (viewers: the isolation walk); bad patterns and
//! dates are refused naming the field; a move closer than `max_age` lowers it at once and
//! says until when senders may still refuse the new hosts; in `enforce` the first version
//! passes the readiness gate.

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::harness::TestServer;

const DAY: i64 = 86_400;

async fn domain_with_policy(
    server: &TestServer,
    email: &str,
    name: &str,
    policy: Value,
) -> (crate::harness::Client, String, String) {
    let (mut owner, tenant) = server.signup(email, "Movers").await;
    server.dns.set_mx(name, &[(10, "mx1.old.example")]);
    let base = format!("/api/v1/tenants/{tenant}/domains");
    let (status, added) = owner.post(&base, json!({ "name": name })).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let (status, body) = owner.put(&format!("{base}/{name}/policy"), policy).await;
    assert!(status.is_success(), "{body}");
    (owner, tenant, format!("{base}/{name}"))
}

fn step<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {plan}"))
}

async fn a_move_is_planned_shown_and_cancelled(server: &TestServer) {
    let (mut owner, tenant, domain) = domain_with_policy(
        server,
        "ops@moving.example",
        "moving.example",
        json!({ "mode": "testing", "mx": ["mx1.old.example"], "max_age": 1_209_600 }),
    )
    .await;
    let path = format!("{domain}/mx-move");
    let (status, none) = owner.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none["plan"], Value::Null, "{none}");

    let now = OffsetDateTime::now_utc().unix_timestamp();
    let move_at = now + 60 * DAY;
    let (status, body) = owner
        .post(
            &path,
            json!({ "new_mx": ["*.new.example"], "move_at": move_at }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let plan = &body["plan"];
    assert_eq!(plan["state"], "active");
    assert_eq!(plan["old_mx"], json!(["mx1.old.example"]));
    assert_eq!(plan["new_mx"], json!(["*.new.example"]));
    assert_eq!(plan["move_at"], move_at);
    assert_eq!(plan["original_max_age"], 1_209_600);
    assert_eq!(plan["short_max_age"], 86_400);
    assert!(plan.get("early_until").is_none(), "{plan}");
    let cover = step(plan, "cover");
    assert_eq!(cover["done"], true);
    assert_eq!(cover["mx"], json!(["mx1.old.example", "*.new.example"]));
    assert_eq!(cover["max_age"], 1_209_600);
    let shorten = step(plan, "shorten");
    assert_eq!(shorten["done"], false);
    assert_eq!(shorten["due_at"], move_at - 1_209_600);
    assert_eq!(shorten["max_age"], 86_400);
    let finish = step(plan, "finish");
    assert_eq!(finish["due_at"], move_at + DAY);
    assert_eq!(finish["mx"], json!(["*.new.example"]));
    assert_eq!(finish["max_age"], 1_209_600);
    assert_eq!(step(plan, "move")["due_at"], move_at);

    // The first version is the policy now: old and new patterns, the mode kept.
    let (_, policy) = owner.get(&format!("{domain}/policy/versions")).await;
    let latest = &policy["items"][0];
    assert_eq!(latest["version_id"], cover["version_id"], "{policy}");
    assert_eq!(latest["mode"], "testing");
    assert_eq!(latest["mx"], json!(["mx1.old.example", "*.new.example"]));

    // One plan at a time.
    let (status, body) = owner
        .post(
            &path,
            json!({ "new_mx": ["mx.other.example"], "move_at": move_at }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "move_planned");

    // The audit log names it.
    let (_, audit) = owner.get(&format!("/api/v1/tenants/{tenant}/audit")).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"domain.mx_move"), "{actions:?}");
    assert!(actions.contains(&"policy.mx_move"), "{actions:?}");

    // Cancelled: the policy stays as it is; cancelling again finds nothing.
    let (status, body) = owner.delete(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["plan"]["state"], "cancelled");
    assert!(body["plan"]["ended_at"].is_i64(), "{body}");
    let (status, body) = owner.delete(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, after) = owner.get(&format!("{domain}/policy/versions")).await;
    assert_eq!(after["items"][0]["version_id"], latest["version_id"]);

    // A new plan replaces the ended one.
    let (status, body) = owner
        .post(
            &path,
            json!({ "new_mx": ["mx.third.example"], "move_at": move_at }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["plan"]["new_mx"], json!(["mx.third.example"]));
}

async fn a_move_sooner_than_max_age_lowers_it_at_once(server: &TestServer) {
    let (mut owner, _, domain) = domain_with_policy(
        server,
        "ops@soon.example",
        "soon.example",
        json!({ "mode": "testing", "mx": ["mx1.old.example"], "max_age": 604_800 }),
    )
    .await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let (status, body) = owner
        .post(
            &format!("{domain}/mx-move"),
            json!({ "new_mx": ["mx1.new.example"], "move_at": now + 2 * DAY }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let plan = &body["plan"];
    assert_eq!(step(plan, "shorten")["done"], true, "{plan}");
    assert_eq!(
        step(plan, "shorten")["version_id"],
        step(plan, "cover")["version_id"]
    );
    let early = plan["early_until"].as_i64().expect("early_until");
    assert!((early - (now + 604_800)).abs() <= 5, "{plan}");
    let (_, versions) = owner.get(&format!("{domain}/policy/versions")).await;
    assert_eq!(versions["items"][0]["max_age"], 86_400);
    assert_eq!(
        versions["items"][0]["mx"],
        json!(["mx1.old.example", "mx1.new.example"])
    );
}

async fn bad_plans_are_refused_naming_the_field(server: &TestServer) {
    let (mut owner, _, domain) = domain_with_policy(
        server,
        "ops@bad-move.example",
        "bad-move.example",
        json!({ "mode": "testing", "mx": ["mx1.old.example"], "max_age": 604_800 }),
    )
    .await;
    let path = format!("{domain}/mx-move");
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for (body, field) in [
        (
            json!({ "new_mx": ["not a host"], "move_at": now + DAY }),
            "new_mx[0]",
        ),
        (json!({ "new_mx": [], "move_at": now + DAY }), "new_mx"),
        (
            json!({ "new_mx": ["mx1.old.example"], "move_at": now + DAY }),
            "new_mx",
        ),
        (
            json!({ "new_mx": ["a.new.example", "a.new.example"], "move_at": now + DAY }),
            "new_mx",
        ),
        (
            json!({ "new_mx": ["mx.new.example"], "move_at": now + 60 }),
            "move_at",
        ),
        (
            json!({ "new_mx": ["mx.new.example"], "move_at": now + 500 * DAY }),
            "move_at",
        ),
        (
            json!({ "new_mx": ["mx.new.example"], "move_at": i64::MAX }),
            "move_at",
        ),
    ] {
        let (status, answer) = owner.post(&path, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} → {answer}"
        );
        assert_eq!(
            answer["error"]["details"][0]["field"], field,
            "{body} → {answer}"
        );
    }
    // No plan was left behind, and the policy is unchanged.
    let (_, shown) = owner.get(&path).await;
    assert_eq!(shown["plan"], Value::Null);

    // A `none` policy covers nothing: no move to plan.
    let (status, _) = owner
        .post(&format!("{domain}/mode"), json!({ "mode": "none" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = owner
        .post(
            &path,
            json!({ "new_mx": ["mx.new.example"], "move_at": now + DAY }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "mode_none");
}

/// In `enforce`, the first version of a plan passes the gate: with nothing to probe the MX
/// hosts, it is refused and no plan is kept; with a passing world it is published.
async fn in_enforce_the_first_version_passes_the_gate(server: &TestServer) {
    let (mut owner, _, domain) = domain_with_policy(
        server,
        "ops@gated-move.example",
        "gated-move.example",
        json!({
            "mode": "enforce", "mx": ["mx1.old.example"], "max_age": 604_800,
            "override": true, "override_reason": "set up before the test's worker runs",
        }),
    )
    .await;
    let path = format!("{domain}/mx-move");
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let plan = json!({ "new_mx": ["mx1.new.example"], "move_at": now + 30 * DAY });
    let (status, body) = owner.post(&path, plan.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_ready");
    let (_, shown) = owner.get(&path).await;
    assert_eq!(shown["plan"], Value::Null, "{shown}");

    let (_mx, _worker) =
        crate::gate::secure_mx(server, "gated-move.example", &["mx1.old.example"]).await;
    let (status, body) = owner.post(&path, plan).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["result"] != "fail" && c["result"] != "error"),
        "{body}"
    );
    let (_, versions) = owner.get(&format!("{domain}/policy/versions")).await;
    assert_eq!(versions["items"][0]["mode"], "enforce");
    assert_eq!(
        versions["items"][0]["mx"],
        json!(["mx1.old.example", "mx1.new.example"])
    );
}

fn short_gate(config: &mut stsd_api::ApiConfig) {
    config.enforce_gate_wait = std::time::Duration::from_secs(8);
}

crate::both_backends!(
    configure = super::short_gate;
    a_move_is_planned_shown_and_cancelled,
    a_move_sooner_than_max_age_lowers_it_at_once,
    bad_plans_are_refused_naming_the_field,
    in_enforce_the_first_version_passes_the_gate,
);
