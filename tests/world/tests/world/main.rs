//! The end-to-end world (issue 7): the real `stsd serve` binary on loopback, on SQLite and on
//! PostgreSQL, with
//! - Pebble as the CA (`STSD_ACME_DIRECTORY`), validating HTTP-01 against the edge;
//! - a fake customer DNS (`stsd_testkit::FakeDns`, authoritative, real protocol) holding
//!   `example.test`, whose records the test writes as the customer would;
//! - Unbound as the recursive resolver, with stub zones for the customer zone and stsd's
//!   service zone, used by everyone: stsd (`STSD_RESOLVERS`: MX discovery, the verifier),
//!   Pebble (`-dnsserver`) and the MTA-STS client (its `resolv.conf`);
//! - the customer's MX (`stsd_testkit::FakeMx`) with STARTTLS and a certificate for its name
//!   from a test CA (`STSD_MX_CA_ROOTS`);
//! - a webhook receiver checking the alerts' signatures;
//! - a real MTA-STS client, postfix-mta-sts-resolver's `mta-sts-query`, resolving through
//!   Unbound in a private mount namespace and trusting only Pebble's root.
//!
//! The walk: signup → add domain (MX discovered) → records shown → the customer publishes
//! the three CNAMEs → verified → certificate from Pebble → active → the client sees `testing`
//! → edit mx → the id in DNS rotates only once the edge serves the new policy → the client
//! sees it → one-click `enforce` passes its readiness checks → the client sees `enforce` →
//! the `_mta-sts` CNAME is removed → `degraded` and a signed alert → the record is back →
//! `active` → the domain is deleted → offboarding serves `mode: none`, and the client sees it.
//!
//! Needs root (port 443 and 53 on a loopback address of its own, `unshare -m`), `pebble`,
//! `unbound`, python3 with venv, and PostgreSQL (see `.ci/run` and `scripts/test.sh`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failed test with its location"
)]

mod client;
mod dns;
mod fleet;
mod process;
mod stsd;
mod tls;
mod unbound;
mod webhook;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use stsd_testkit::{FakeDns, FakeMx, PebbleOptions, PebbleServer, TestDatabase};

use crate::client::{MtaStsClient, Seen};
use crate::process::{free_local_port, free_port, world_address};
use crate::stsd::{Api, Stsd, StsdSetup, ZONE};
use crate::tls::{fetch_policy, mx_tls};
use crate::unbound::Unbound;
use crate::webhook::Receiver;

const DOMAIN: &str = "example.test";
const MX: &str = "mx1.example.test";
const HOST: &str = "mta-sts.example.test";
/// Longest wait for any one step.
const STEP: Duration = Duration::from_secs(60);
/// The whole walk, start-up included.
const WALK: Duration = Duration::from_secs(420);

/// Everything running for one walk. Fields drop in order: stsd stops first.
struct World {
    stsd: Stsd,
    pebble: PebbleServer,
    unbound: Unbound,
    customer: FakeDns,
    _mx: FakeMx,
    receiver: Receiver,
    client: MtaStsClient,
    /// The edge's HTTPS listener (`<world address>:443`).
    edge: SocketAddr,
    /// stsd's authoritative DNS.
    stsd_dns: SocketAddr,
    /// Pebble's issuing root.
    root_pem: String,
    dir: tempfile::TempDir,
}

impl World {
    async fn start(database_url: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let customer = FakeDns::start().await.unwrap();
        customer.set_mx(DOMAIN, &[(10, MX)]);
        customer.set_a(MX, &[Ipv4Addr::LOCALHOST]);
        let (mx_root, mx_config) = mx_tls(&[MX]);
        let mx = FakeMx::start(Some(mx_config)).await.unwrap();
        let mx_roots = dir.path().join("mx-roots.pem");
        std::fs::write(&mx_roots, mx_root).unwrap();

        let ip = world_address();
        let http_port = free_port(ip);
        let stsd_dns = SocketAddr::from((Ipv4Addr::LOCALHOST, free_local_port()));
        let unbound = Unbound::start(
            ip,
            &[(DOMAIN, customer.addr()), (ZONE, stsd_dns)],
            dir.path(),
        )
        .await;
        // The CA of the world validates HTTP-01 on the edge's HTTP port, at whatever address
        // the resolver gives for the name.
        let pebble = PebbleServer::start(PebbleOptions::new(unbound.addr, http_port))
            .await
            .unwrap();
        let stsd = Stsd::start(
            &StsdSetup {
                database_url,
                edge_ip: ip,
                http_port,
                dns: stsd_dns,
                resolvers: unbound.addr,
                acme_directory: pebble.directory(),
                acme_ca_roots: pebble.listener_root_path(),
                mx_ca_roots: &mx_roots,
                mx_smtp_port: mx.addr().port(),
            },
            dir.path(),
        )
        .await;
        let root_pem = pebble.issuing_root().await.unwrap();
        let client = MtaStsClient::new(unbound.addr, &root_pem, dir.path());
        World {
            stsd,
            pebble,
            unbound,
            customer,
            _mx: mx,
            receiver: Receiver::start().await,
            client,
            edge: SocketAddr::from((ip, 443)),
            stsd_dns,
            root_pem,
            dir,
        }
    }

    fn assert_running(&mut self) {
        self.stsd.assert_running();
        if let Err(e) = self.pebble.check_running() {
            panic!("{e}");
        }
        self.unbound.assert_running();
    }

    /// The policy the edge serves for `mta-sts.example.test`, fetched directly.
    async fn edge_policy(&self) -> Option<String> {
        fetch_policy(self.edge, HOST, &self.root_pem).await
    }

    /// The `v=STSv1` TXT record stsd's DNS serves for the label (`None`: no answer).
    async fn dns_record(&self, label: &str) -> Option<Vec<String>> {
        dns::txt(self.stsd_dns, &format!("{label}.policy.{ZONE}.")).await
    }

    /// Watches a rotation from `old_id` to `version` (a policy version of the API): DNS keeps
    /// exactly the old record until it switches to the new one, and every time DNS is seen
    /// with the new id, the edge (asked right after) already serves the new policy.
    async fn rotates(&self, label: &str, old_id: &str, version: &Value) {
        let new_record = format!("v=STSv1; id={};", version["id"].as_str().unwrap());
        let new_body = version["body"].as_str().unwrap();
        let start = Instant::now();
        loop {
            assert!(
                start.elapsed() < STEP,
                "the id never rotated to {new_record}"
            );
            let Some(in_dns) = self.dns_record(label).await else {
                continue;
            };
            let on_edge = self.edge_policy().await;
            if in_dns == [new_record.clone()] {
                assert_eq!(
                    on_edge.as_deref(),
                    Some(new_body),
                    "DNS serves the new id before the edge serves its policy"
                );
                return;
            }
            assert_eq!(
                in_dns,
                [format!("v=STSv1; id={old_id};")],
                "exactly the old record until the rotation"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks the real client until it sees what `want` accepts; returns that.
    async fn client_sees(&mut self, what: &str, want: impl Fn(&Seen) -> bool) -> Seen {
        let start = Instant::now();
        loop {
            self.assert_running();
            let seen = self.client.query(DOMAIN).await;
            if want(&seen) {
                return seen;
            }
            assert!(
                start.elapsed() < STEP,
                "the MTA-STS client does not see {what}; last seen: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Polls `f` every 200 ms until it is true; fails after `STEP`.
async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < STEP, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `POST …/checks`: runs the checks now; the answer (state and results).
async fn run_checks(api: &Api) -> Value {
    api.expect(
        Method::POST,
        &format!("/domains/{DOMAIN}/checks"),
        None,
        200,
    )
    .await
}

/// Waits until Unbound no longer holds what it resolved before a change of the customer's
/// records. Its cache keeps TTL-0 answers for the rest of the second they were fetched in
/// (its clock counts whole seconds), and the verifier now runs requested checks at once,
/// often within that second: a check would see the record as it was.
async fn resolver_forgets() {
    let into_second = time::OffsetDateTime::now_utc().millisecond();
    let rest = 1000 - u64::from(into_second);
    tokio::time::sleep(Duration::from_millis(rest + 50)).await;
}

/// The result of the check `name` in a checks answer.
fn check_result(checks: &Value, name: &str) -> String {
    checks["items"]
        .as_array()
        .and_then(|items| items.iter().find(|c| c["name"] == name))
        .and_then(|c| c["result"].as_str())
        .unwrap_or("missing")
        .to_owned()
}

async fn walk(w: &mut World) {
    let api = w.stsd.signup("ops@example.test").await;
    let hook = api
        .expect(
            Method::POST,
            "/webhooks",
            Some(json!({ "url": w.receiver.url, "events": ["*"] })),
            201,
        )
        .await;
    let secret = hook["secret"].as_str().unwrap().to_owned();

    // Add the domain: its MX is discovered in the customer's DNS and covered by the proposed
    // policy, in `testing`.
    let added = api
        .expect(
            Method::POST,
            "/domains",
            Some(json!({ "name": DOMAIN })),
            201,
        )
        .await;
    assert_eq!(added["state"], "pending", "{added}");
    assert_eq!(added["policy"]["mx"], json!([MX]), "{added}");
    assert_eq!(added["policy"]["mode"], "testing", "{added}");
    let label = added["label"].as_str().unwrap().to_owned();
    let first_id = added["policy"]["id"].as_str().unwrap().to_owned();

    // The records to publish, as shown.
    let shown = api
        .expect(
            Method::GET,
            &format!("/domains/{DOMAIN}/records"),
            None,
            200,
        )
        .await;
    let records = shown["records"].as_array().unwrap().clone();
    let value_of = |name: &str| {
        records
            .iter()
            .find(|r| r["name"].as_str().unwrap().trim_end_matches('.') == name)
            .map(|r| {
                assert_eq!(r["type"], "CNAME", "{r}");
                r["value"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches('.')
                    .to_owned()
            })
            .unwrap_or_else(|| panic!("no record for {name}: {shown}"))
    };
    assert_eq!(value_of(HOST), format!("{label}.edge.{ZONE}"));
    assert_eq!(
        value_of(&format!("_mta-sts.{DOMAIN}")),
        format!("{label}.policy.{ZONE}")
    );
    assert_eq!(
        value_of(&format!("_smtp._tls.{DOMAIN}")),
        format!("{label}.report.{ZONE}")
    );
    assert_eq!(records.len(), 3, "{shown}");
    // Nothing is served yet: the client finds no policy.
    assert_eq!(w.client.query(DOMAIN).await, Seen::NoPolicy);

    // The customer publishes them; the checks verify the domain.
    for r in &records {
        w.customer
            .set_cname(r["name"].as_str().unwrap(), r["value"].as_str().unwrap());
    }
    let checks = run_checks(&api).await;
    assert_eq!(checks["state"], "verified", "{checks}");
    for name in [
        "ownership",
        "mta_sts_cname",
        "tlsrpt",
        "mx_coverage",
        "mx_starttls",
    ] {
        assert_eq!(check_result(&checks, name), "pass", "{name}: {checks}");
    }

    // Pebble issues the certificate over HTTP-01 through the edge; the domain becomes active.
    wait_until("the active state (certificate from Pebble)", || {
        let api = &api;
        async move { api.state(DOMAIN).await == "active" }
    })
    .await;
    let cert = api
        .expect(
            Method::GET,
            &format!("/domains/{DOMAIN}/certificate"),
            None,
            200,
        )
        .await;
    assert_eq!(cert["host"], HOST, "{cert}");
    let issuer = cert["current"]["issuer"].as_str().unwrap_or_default();
    assert!(issuer.to_lowercase().contains("pebble"), "{cert}");

    // A real MTA-STS client finds the record, fetches the policy over HTTPS and sees testing.
    let seen = w
        .client_sees("the first policy in testing", |s| {
            s.id() == Some(first_id.as_str())
        })
        .await;
    assert_eq!(
        seen,
        Seen::Policy {
            id: first_id.clone(),
            mode: "testing".into(),
            mx: vec![MX.into()],
            max_age: 86400,
        }
    );

    // Edit the mx patterns: a new version, served on the edge first, and only then its id in
    // DNS. Every time DNS is seen with the new id, the edge (asked right after) must already
    // serve the new policy.
    let edited = api
        .expect(
            Method::PUT,
            &format!("/domains/{DOMAIN}/policy"),
            Some(json!({
                "mode": "testing",
                "mx": [MX, "*.backup.example.test"],
                "max_age": 604800
            })),
            201,
        )
        .await;
    let second_id = edited["version"]["id"].as_str().unwrap().to_owned();
    assert!(second_id > first_id, "{first_id} then {second_id}");
    w.rotates(&label, &first_id, &edited["version"]).await;
    let seen = w
        .client_sees("the edited policy", |s| s.id() == Some(second_id.as_str()))
        .await;
    assert_eq!(
        seen,
        Seen::Policy {
            id: second_id.clone(),
            mode: "testing".into(),
            mx: vec![MX.into(), "*.backup.example.test".into()],
            max_age: 604800,
        }
    );

    // One-click enforce: fresh checks first (the STARTTLS probe of the MX), then the switch
    // passes its readiness checks.
    let checks = run_checks(&api).await;
    assert_eq!(check_result(&checks, "mx_starttls"), "pass", "{checks}");
    let enforced = api
        .expect(
            Method::POST,
            &format!("/domains/{DOMAIN}/mode"),
            Some(json!({ "mode": "enforce" })),
            201,
        )
        .await;
    let readiness = enforced["checks"].as_array().unwrap();
    for name in ["mx_coverage", "mx_starttls"] {
        let r = readiness
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} readiness check: {enforced}"));
        assert_eq!(r["result"], "pass", "{enforced}");
    }
    let third_id = enforced["version"]["id"].as_str().unwrap().to_owned();
    assert!(third_id > second_id);
    w.rotates(&label, &second_id, &enforced["version"]).await;
    let seen = w
        .client_sees("enforce", |s| s.id() == Some(third_id.as_str()))
        .await;
    assert_eq!(seen.mode(), Some("enforce"), "{seen:?}");

    // The customer removes the `_mta-sts` CNAME: degraded, and a signed alert.
    let policy_cname = format!("_mta-sts.{DOMAIN}");
    w.customer.remove(&policy_cname);
    resolver_forgets().await;
    let checks = run_checks(&api).await;
    assert_eq!(checks["state"], "degraded", "{checks}");
    assert_eq!(check_result(&checks, "ownership"), "fail", "{checks}");
    let alert = w
        .receiver
        .wait_for(STEP, |r| {
            let v = r.json();
            v["event"] == "domain.state_changed" && v["to"] == "degraded"
        })
        .await;
    assert_eq!(alert.event.as_deref(), Some("domain.state_changed"));
    assert!(alert.signed_by(&secret), "bad signature: {alert:?}");
    assert!(!alert.signed_by("whsec_wrong"), "{alert:?}");
    assert_eq!(alert.json()["domain"], DOMAIN, "{alert:?}");
    // Senders no longer find the record; the edge still serves the policy (grace period).
    assert_eq!(w.client.query(DOMAIN).await, Seen::NoPolicy);
    assert!(
        w.edge_policy()
            .await
            .is_some_and(|p| p.contains("mode: enforce")),
        "a degraded domain is still served"
    );

    // The customer puts the record back: active again.
    w.customer
        .set_cname(&policy_cname, &format!("{label}.policy.{ZONE}"));
    resolver_forgets().await;
    let checks = run_checks(&api).await;
    assert_eq!(checks["state"], "active", "{checks}");
    w.client_sees("enforce again", |s| s.id() == Some(third_id.as_str()))
        .await;

    // The customer leaves: offboarding serves `mode: none` under a new id, and says until
    // when the records must stay.
    let left = api
        .expect(Method::DELETE, &format!("/domains/{DOMAIN}"), None, 202)
        .await;
    assert_eq!(left["state"], "offboarding", "{left}");
    assert_eq!(left["policy"]["mode"], "none", "{left}");
    w.rotates(&label, &third_id, &left["policy"]).await;
    let keep_until = left["keep_records_until"].as_i64().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(keep_until >= now + 604_800 - 60, "{left}");
    let seen = w
        .client_sees("mode none", |s| s.mode() == Some("none"))
        .await;
    let Seen::Policy { id, max_age, .. } = &seen else {
        unreachable!()
    };
    assert!(id.as_str() > third_id.as_str(), "{seen:?}");
    assert_eq!(*max_age, 86400, "{seen:?}");
    let served = w.edge_policy().await.unwrap();
    assert!(served.contains("mode: none"), "{served}");
    assert_eq!(api.state(DOMAIN).await, "offboarding");
}

async fn world_walk(db: TestDatabase) {
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .ok();
    // Built (or found fresh) and installed before the clock starts: neither is the walk.
    let bin = tokio::task::spawn_blocking(stsd::binary).await.unwrap();
    assert!(bin.is_file(), "no stsd binary at {}", bin.display());
    tokio::task::spawn_blocking(client::query_tool)
        .await
        .unwrap();
    let started = Instant::now();
    let outcome = tokio::time::timeout(WALK, async {
        let mut world = World::start(db.url()).await;
        walk(&mut world).await;
        let dir = world.dir.path().to_owned();
        drop(world);
        assert!(!dir.exists(), "the world's files are removed");
    })
    .await;
    db.drop_database().await;
    assert!(
        outcome.is_ok(),
        "the walk took longer than {WALK:?} (every process is stopped)"
    );
    eprintln!("the world walk took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn world_on_sqlite() {
    world_walk(TestDatabase::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn world_on_postgres() {
    world_walk(TestDatabase::postgres().await).await;
}
