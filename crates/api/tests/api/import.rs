//! Moving from a self-hosted policy: a customer world whose DNS publishes `_mta-sts`,
//! `_smtp._tls` and MX records, and whose own `mta-sts` host serves a policy over HTTPS with a
//! test CA's certificate. Adding the domain proposes that policy as the first version, flags
//! the MX host it does not cover, keeps the customer's report destination, and hands out a
//! first id that differs from theirs; an invalid policy is reported and not imported.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use stsd_core::PolicyId;
use stsd_sender::SenderView;
use stsd_testkit::{FakePolicyHost, PolicyResponse, TestCa, TestDatabase};

use crate::harness::TestServer;

const POLICY: &str = "version: STSv1\nmode: enforce\nmx: mx1.self.example\nmx: *.backup.self.example\nmax_age: 1209600\n";

struct World {
    server: TestServer,
    host: FakePolicyHost,
}

/// stsd with a view that trusts the test CA and fetches from the fake host's port.
async fn world(db: TestDatabase) -> World {
    let ca = TestCa::new("import test CA");
    let host = FakePolicyHost::start(
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        ca.server(&["mta-sts.self.example"]),
        PolicyResponse::policy(POLICY),
    )
    .await
    .unwrap();
    let port = host.addr().port();
    let server = TestServer::start_with_sender(
        db,
        |_| {},
        |dns| {
            let mut view = SenderView::new(&[dns], Duration::from_secs(2), Some(ca.pem())).unwrap();
            view.allow_private = true;
            view.port = port;
            view.fetch_timeout = Duration::from_secs(3);
            view
        },
    )
    .await;
    World { server, host }
}

/// The customer's zone: MX hosts (one not in their policy), their records, their host.
fn publish(w: &World, old_id: &str) {
    let dns = &w.server.dns;
    dns.set_mx(
        "self.example",
        &[(10, "mx1.self.example"), (20, "mx2.self.example")],
    );
    dns.set_txt(
        "_mta-sts.self.example",
        &[&format!("v=STSv1; id={old_id};")],
    );
    dns.set_txt(
        "_smtp._tls.self.example",
        &["v=TLSRPTv1; rua=mailto:tls-reports@self.example"],
    );
    dns.set_a("mta-sts.self.example", &[Ipv4Addr::LOCALHOST]);
}

async fn imports_the_policy_a_customer_hosts(w: &World) {
    // The id stsd itself would hand out this second: without care, the first id could be
    // the customer's and senders would never refetch.
    let old_id = PolicyId::next(None, time::OffsetDateTime::now_utc());
    publish(w, old_id.as_str());
    let (mut owner, tenant) = w.server.signup("ops@self.example", "Self").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    let (status, added) = owner.post(&base, json!({ "name": "self.example" })).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");

    let existing = &added["existing"];
    assert_eq!(existing["status"], "found", "{added}");
    assert_eq!(existing["imported"], true, "{added}");
    assert_eq!(existing["sts_id"], old_id.as_str(), "{added}");
    assert_eq!(
        existing["policy"],
        json!({ "mode": "enforce", "mx": ["mx1.self.example", "*.backup.self.example"], "max_age": 1209600 })
    );
    assert_eq!(
        existing["uncovered"],
        json!(["mx2.self.example"]),
        "{added}"
    );
    assert_eq!(
        existing["tlsrpt_rua"],
        json!(["mailto:tls-reports@self.example"])
    );
    // Their report destination stays, after stsd's, in the hosted record.
    assert_eq!(existing["tlsrpt_kept"], true, "{added}");
    assert_eq!(
        added["extra_rua"],
        json!(["mailto:tls-reports@self.example"])
    );

    // The first version is the customer's policy, under a new id.
    let policy = &added["policy"];
    assert_eq!(policy["mode"], "enforce", "{added}");
    assert_eq!(policy["max_age"], 1209600);
    assert_eq!(
        policy["mx"],
        json!(["mx1.self.example", "*.backup.self.example"])
    );
    assert_eq!(policy["body"], POLICY.replace('\n', "\r\n"), "{added}");
    assert_ne!(policy["id"], old_id.as_str(), "{added}");

    // Read again before the CNAMEs switch: the customer changed their policy meanwhile.
    w.host.set_response(PolicyResponse::policy(
        "version: STSv1\nmode: testing\nmx: mx1.self.example\nmx: mx2.self.example\nmax_age: 86400\n",
    ));
    let (status, again) = owner.get(&format!("{base}/self.example/existing")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["status"], "found");
    assert_eq!(again["imported"], false);
    assert_eq!(again["policy"]["mode"], "testing");
    assert_eq!(again["uncovered"], json!([]));

    // The audit log names the imported id.
    let (_, audit) = owner.get(&format!("/api/v1/tenants/{tenant}/audit")).await;
    let created = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "domain.create")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        created["details"]["imported_from_id"],
        old_id.as_str(),
        "{audit}"
    );
}

async fn an_invalid_policy_is_reported_not_imported(w: &World) {
    publish(w, "old1");
    // No mx lines in enforce: senders reject it.
    w.host.set_response(PolicyResponse::policy(
        "version: STSv1\nmode: enforce\nmax_age: 86400\n",
    ));
    let (mut owner, tenant) = w.server.signup("ops@self.example", "Self").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    let (status, added) = owner.post(&base, json!({ "name": "self.example" })).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let existing = &added["existing"];
    assert_eq!(existing["status"], "invalid", "{added}");
    assert_eq!(existing["imported"], false);
    assert_eq!(existing["sts_id"], "old1");
    assert!(existing.get("policy").is_none(), "{added}");
    let problem = existing["problems"][0].as_str().unwrap();
    assert!(problem.contains("not valid"), "{problem}");
    // The proposal is stsd's usual one: testing, covering the MX hosts found.
    assert_eq!(added["policy"]["mode"], "testing", "{added}");
    assert_eq!(
        added["policy"]["mx"],
        json!(["mx1.self.example", "mx2.self.example"])
    );

    // A certificate the customer's host cannot prove is no policy either.
    w.host.set_response(PolicyResponse::policy(POLICY));
    w.server
        .dns
        .set_a("mta-sts.self.example", &[Ipv4Addr::new(127, 0, 0, 2)]);
    let (status, again) = owner.get(&format!("{base}/self.example/existing")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["status"], "invalid", "{again}");
    assert!(
        again["problems"][0]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{again}"
    );
}

async fn a_given_policy_wins_and_a_domain_without_mta_sts_has_none(w: &World) {
    publish(w, "old2");
    let (mut owner, tenant) = w.server.signup("ops@self.example", "Self").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    let given = json!({ "mode": "testing", "mx": ["mx1.self.example"], "max_age": 86400 });
    let (status, added) = owner
        .post(
            &base,
            json!({ "name": "self.example", "policy": given, "keep_existing_rua": false }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["existing"]["status"], "found");
    assert_eq!(added["existing"]["imported"], false);
    assert_eq!(added["existing"]["tlsrpt_kept"], false);
    assert_eq!(added["extra_rua"], json!([]));
    assert_eq!(added["policy"]["mode"], "testing");

    // Destinations set by hand: checked one by one, stsd's own refused.
    let extra = format!("{base}/self.example/extra-rua");
    for (bad, field) in [
        (json!(["ftp://x.example/"]), "extra_rua[0]"),
        (
            json!([
                "mailto:a@self.example",
                "mailto:abc@reports.sts.test.example"
            ]),
            "extra_rua[1]",
        ),
        (
            json!(["mailto:a@self.example", "mailto:a@self.example"]),
            "extra_rua[1]",
        ),
        (
            json!(
                (0..6)
                    .map(|i| format!("mailto:r{i}@self.example"))
                    .collect::<Vec<_>>()
            ),
            "extra_rua",
        ),
    ] {
        let (status, body) = owner.put(&extra, json!({ "extra_rua": bad })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["details"][0]["field"], field, "{body}");
    }
    let (status, set) = owner
        .put(
            &extra,
            json!({ "extra_rua": ["mailto:tls@self.example", "https://collector.example/tlsrpt"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(
        set["extra_rua"],
        json!([
            "mailto:tls@self.example",
            "https://collector.example/tlsrpt"
        ])
    );
    let (_, shown) = owner.get(&format!("{base}/self.example")).await;
    assert_eq!(shown["extra_rua"], set["extra_rua"]);
    let (status, cleared) = owner.put(&extra, json!({ "extra_rua": [] })).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["extra_rua"], json!([]));

    w.server
        .dns
        .set_mx("plain.example", &[(10, "mx.plain.example")]);
    let (status, plain) = owner.post(&base, json!({ "name": "plain.example" })).await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    assert_eq!(plain["existing"]["status"], "none", "{plain}");
    assert_eq!(plain["existing"]["problems"], json!([]));
    assert_eq!(plain["policy"]["mode"], "testing");
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let w = super::world(stsd_testkit::TestDatabase::sqlite().await).await;
                    super::$name(&w).await;
                    w.server.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let w = super::world(stsd_testkit::TestDatabase::postgres().await).await;
                    super::$name(&w).await;
                    w.server.finish().await;
                }
            )*
        }
    };
}

on_both!(
    imports_the_policy_a_customer_hosts,
    an_invalid_policy_is_reported_not_imported,
    a_given_policy_wins_and_a_domain_without_mta_sts_has_none,
);
