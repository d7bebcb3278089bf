use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use stsd_core::{DomainName, Mode};
use stsd_store::{DomainState, Ownership};
use stsd_testkit::TestDatabase;

use crate::world::{World, ZONE, dns_query, policy};

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
    let served = w.fx.store.served_domains().await.unwrap();
    let alpha = &served[0];
    let label = alpha.label.as_str().to_owned();
    let id = alpha.dns_policy_id.clone().unwrap();
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
    }
    w.finish().await;
}

async fn new_id_in_dns_within_a_second(db: TestDatabase) {
    let w = World::start(db, &["alpha.example"]).await;
    let served = w.fx.store.served_domains().await.unwrap();
    let (id, label) = (
        served[0].domain_id.clone(),
        served[0].label.as_str().to_owned(),
    );
    let v =
        w.fx.store
            .create_policy_version(&id, &policy(Mode::Enforce, &["mx.alpha.example"]), "t")
            .await
            .unwrap()
            .version;
    w.fx.store.set_live_version(&id, &v.id).await.unwrap();
    let start = Instant::now();
    w.fx.store.set_dns_version(&id, &v.id).await.unwrap();
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

crate::both_backends!(
    every_record_kind_over_udp_and_tcp,
    new_id_in_dns_within_a_second
);
