use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use stsd_core::{DomainName, Mode};
use stsd_store::{DomainState, Ownership};
use stsd_testkit::TestDatabase;

use stsd_serving::{Acknowledged, SnapshotHandle};
use time::OffsetDateTime;

use crate::world::{World, ZONE, dns_query, policy, policy_request};

fn txts(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect()
}

fn has_soa_authority(m: &Message) -> bool {
    m.authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA)
}

async fn every_record_kind_over_udp_and_tcp(db: TestDatabase) {
    let w = World::start(db, &["alpha.example"]).await;
    let served = w.fx.store.all_tenants().served_domains().await.unwrap();
    let alpha = &served[0];
    let label = alpha.label.as_str().to_owned();
    let id = alpha.live_ids[0].id.clone();
    // A verified domain (no certificate yet): edge and report answer, policy does not.
    let tenant = w.fx.store.create_tenant("U").await.unwrap();
    let v =
        w.fx.store
            .create_domain(
                &tenant.id,
                &DomainName::parse_host("verified.example").unwrap(),
                Ownership::Cname,
            )
            .await
            .unwrap();
    w.fx.store
        .all_tenants()
        .transition_domain(&v.id, DomainState::Pending, DomainState::Verified, "t")
        .await
        .unwrap();
    let pending =
        w.fx.store
            .create_domain(
                &tenant.id,
                &DomainName::parse_host("pending.example").unwrap(),
                Ownership::Cname,
            )
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    for tcp in [false, true] {
        let m = dns_query(
            w.dns,
            &format!("{label}.policy.{ZONE}."),
            RecordType::TXT,
            tcp,
        )
        .await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
        assert_eq!(txts(&m), [format!("v=STSv1; id={id};")]);
        assert_eq!(m.answers[0].ttl, 300);

        // Names are case-insensitive.
        let upper = format!("{}.POLICY.{}.", label.to_uppercase(), ZONE.to_uppercase());
        assert_eq!(
            txts(&dns_query(w.dns, &upper, RecordType::TXT, tcp).await).len(),
            1
        );

        let m = dns_query(
            w.dns,
            &format!("{label}.report.{ZONE}."),
            RecordType::TXT,
            tcp,
        )
        .await;
        assert_eq!(
            txts(&m),
            [format!(
                "v=TLSRPTv1; rua=mailto:{label}@reports.{ZONE},https://reports.{ZONE}/v1/tlsrpt/{label}"
            )]
        );
        let m = dns_query(w.dns, &format!("{label}.edge.{ZONE}."), RecordType::A, tcp).await;
        assert!(
            matches!(m.answers[..], [ref r] if r.data == RData::A("192.0.2.10".parse::<std::net::Ipv4Addr>().unwrap().into())),
            "{m:?}"
        );
        let m = dns_query(
            w.dns,
            &format!("{label}.edge.{ZONE}."),
            RecordType::AAAA,
            tcp,
        )
        .await;
        assert_eq!(m.answers.len(), 1);
        // NODATA: the name exists, the type does not.
        let m = dns_query(
            w.dns,
            &format!("{label}.edge.{ZONE}."),
            RecordType::TXT,
            tcp,
        )
        .await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.answers.is_empty() && has_soa_authority(&m));

        let vl = v.label.as_str();
        assert_eq!(
            dns_query(w.dns, &format!("{vl}.edge.{ZONE}."), RecordType::A, tcp)
                .await
                .answers
                .len(),
            1
        );
        assert_eq!(
            txts(&dns_query(w.dns, &format!("{vl}.report.{ZONE}."), RecordType::TXT, tcp).await)
                .len(),
            1
        );
        let m = dns_query(w.dns, &format!("{vl}.policy.{ZONE}."), RecordType::TXT, tcp).await;
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NoError,
            "NODATA before the policy is served"
        );
        assert!(m.answers.is_empty() && has_soa_authority(&m));

        // Pending registrations and unknown labels do not exist.
        for name in [
            format!("{}.edge.{ZONE}.", pending.label.as_str()),
            format!("zzzzzzzzzz.policy.{ZONE}."),
            format!("nothing.{ZONE}."),
        ] {
            let m = dns_query(w.dns, &name, RecordType::A, tcp).await;
            assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
            assert!(has_soa_authority(&m));
        }

        let m = dns_query(w.dns, &format!("reports.{ZONE}."), RecordType::MX, tcp).await;
        assert!(
            matches!(&m.answers[0].data, RData::MX(mx) if mx.exchange.to_string() == format!("reports.{ZONE}."))
        );
        assert_eq!(
            dns_query(w.dns, &format!("reports.{ZONE}."), RecordType::A, tcp)
                .await
                .answers
                .len(),
            1
        );
        assert_eq!(
            dns_query(w.dns, &format!("{ZONE}."), RecordType::SOA, tcp)
                .await
                .answers
                .len(),
            1
        );
        assert_eq!(
            dns_query(w.dns, &format!("{ZONE}."), RecordType::NS, tcp)
                .await
                .answers
                .len(),
            1
        );
        let m = dns_query(w.dns, "example.com.", RecordType::A, tcp).await;
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);

        // ANY: one RRset of the name (RFC 8482), not all of them.
        for (name, rtype) in [
            (format!("{label}.edge.{ZONE}."), RecordType::A),
            (format!("reports.{ZONE}."), RecordType::A),
            (format!("{ZONE}."), RecordType::SOA),
        ] {
            let m = dns_query(w.dns, &name, RecordType::ANY, tcp).await;
            let types: Vec<RecordType> = m.answers.iter().map(|r| r.record_type()).collect();
            assert_eq!(types, [rtype], "ANY {name} tcp={tcp}");
        }
    }
    w.finish().await;
}

async fn new_id_in_dns_within_a_second(db: TestDatabase) {
    let w = World::start(db, &["alpha.example"]).await;
    let served = w.fx.store.all_tenants().served_domains().await.unwrap();
    let (id, label) = (
        served[0].domain_id.clone(),
        served[0].label.as_str().to_owned(),
    );
    let v =
        w.fx.store
            .create_policy_version(
                &w.fx.tenant,
                &id,
                &policy(Mode::Enforce, &["mx.alpha.example"]),
                "t",
            )
            .await
            .unwrap()
            .version;
    w.fx.store
        .all_tenants()
        .set_live_version(&id, &v.id)
        .await
        .unwrap();
    let start = Instant::now();
    w.fx.store
        .all_tenants()
        .set_dns_version(&id, &v.id)
        .await
        .unwrap();
    let want = format!("v=STSv1; id={};", v.policy_id);
    loop {
        let m = dns_query(
            w.dns,
            &format!("{label}.policy.{ZONE}."),
            RecordType::TXT,
            false,
        )
        .await;
        let got = txts(&m);
        assert_eq!(
            got.len(),
            1,
            "exactly one STSv1 record, also during the switch"
        );
        if got[0] == want {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "new id not in DNS within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    w.finish().await;
}

/// Certificate and policy before id: with a second edge that lags, DNS keeps announcing the
/// old id until that edge reports the new snapshot; an edge that stops reporting stops
/// counting after the heartbeat window.
async fn id_waits_for_a_lagging_edge(db: TestDatabase) {
    let w = World::start(db, &["alpha.example"]).await;
    let store = w.fx.store.clone();
    let served = store.all_tenants().served_domains().await.unwrap();
    let (id, label) = (
        served[0].domain_id.clone(),
        served[0].label.as_str().to_owned(),
    );
    let old = served[0].live_ids[0].id.clone();
    let name = format!("{label}.policy.{ZONE}.");
    let announced = |m: &Message| txts(m).first().cloned().unwrap_or_default();

    // Node B loads the snapshot now, then only heartbeats (it never applies changes) until told.
    let b = SnapshotHandle::load(&store, w.fx.master.clone())
        .await
        .unwrap();
    let (go, mut go_rx) = tokio::sync::watch::channel(false);
    let beat = {
        let (store, b) = (store.clone(), b.clone());
        tokio::spawn(async move {
            loop {
                if *go_rx.borrow_and_update() {
                    b.catch_up(&store).await.unwrap();
                }
                store
                    .heartbeat(
                        "edge-b",
                        "edge,dns",
                        "test",
                        b.status().seq,
                        OffsetDateTime::now_utc(),
                    )
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };
    // Node A reads the other edges' heartbeats on its own heartbeat (every 500 ms here):
    // give it a few rounds to see B.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        w.snapshots.acknowledged(),
        Acknowledged::Seq(b.status().seq)
    );

    let enforce = policy(Mode::Enforce, &["mx.alpha.example"]);
    let v = store
        .create_policy_version(&w.fx.tenant, &id, &enforce, "t")
        .await
        .unwrap()
        .version;
    store
        .all_tenants()
        .set_live_version(&id, &v.id)
        .await
        .unwrap();
    let new = format!("v=STSv1; id={};", v.policy_id);
    // Node A serves the new policy at once...
    let start = Instant::now();
    while w
        .fetch(A_HOST, false, policy_request("GET", A_HOST, false))
        .await
        .unwrap()
        .2
        != enforce.render()
    {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "edit not on node A's edge"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...but DNS keeps the old id while B lags.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let m = dns_query(w.dns, &name, RecordType::TXT, false).await;
        assert_eq!(
            announced(&m),
            format!("v=STSv1; id={old};"),
            "new id announced before node B serves it"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // B catches up and reports it: the new id goes out.
    go.send(true).unwrap();
    let start = Instant::now();
    while announced(&dns_query(w.dns, &name, RecordType::TXT, false).await) != new {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "new id not announced after node B caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // B goes silent: after the heartbeat window it no longer holds anything back.
    beat.abort();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let third = policy(Mode::Testing, &["mx.alpha.example"]);
    let v3 = store
        .create_policy_version(&w.fx.tenant, &id, &third, "t")
        .await
        .unwrap()
        .version;
    store
        .all_tenants()
        .set_live_version(&id, &v3.id)
        .await
        .unwrap();
    let want = format!("v=STSv1; id={};", v3.policy_id);
    let start = Instant::now();
    while announced(&dns_query(w.dns, &name, RecordType::TXT, false).await) != want {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "a silent edge still holds the id back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.finish().await;
}

const A_HOST: &str = "mta-sts.alpha.example";

crate::both_backends!(
    every_record_kind_over_udp_and_tcp,
    new_id_in_dns_within_a_second,
    id_waits_for_a_lagging_edge,
);
