//! Every check's pass / warn / fail / error on crafted answers of a fake authoritative DNS.

use std::net::Ipv4Addr;

use stsd_store::{DomainState, Ownership};
use stsd_verifier::{CheckName, CheckResult, Outcome};

use crate::world::{EDGE_V4, World, ZONE, find};

#[tokio::test]
async fn published_records_pass_and_verify_the_domain() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Cname).await;
    w.publish_cnames(&d);
    w.dns.set_mx(
        "example.com",
        &[(10, "mx1.example.com"), (20, "mx2.example.com")],
    );
    w.save_policy(&d, &["mx1.example.com", "*.example.com"])
        .await;

    let checks = w.check(&d).await;
    for c in &checks {
        assert_eq!(c.result, Outcome::Pass, "{c:#?}");
        assert!(c.fix.is_none());
    }
    assert_eq!(
        find(&checks, CheckName::Ownership).record,
        "_mta-sts.example.com"
    );
    assert_eq!(
        find(&checks, CheckName::MtaStsCname).record,
        "mta-sts.example.com"
    );
    assert_eq!(
        find(&checks, CheckName::Tlsrpt).record,
        "_smtp._tls.example.com"
    );
    assert_eq!(find(&checks, CheckName::MxCoverage).record, "example.com");

    assert_eq!(w.state(&d).await, DomainState::Verified);
    let transitions = w.store.transitions(&d.tenant_id, &d.id).await.unwrap();
    assert_eq!(transitions.len(), 1);
    assert_eq!(transitions[0].from, DomainState::Pending);
    let stored = w
        .store
        .all_tenants()
        .domain_by_id(&d.id)
        .await
        .unwrap()
        .unwrap();
    let stored: Vec<stsd_verifier::CheckResult> =
        serde_json::from_str(&stored.last_checks.unwrap()).unwrap();
    assert_eq!(stored, checks);
    w.close().await;
}

#[tokio::test]
async fn cname_comparison_ignores_case_and_trailing_dot() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Cname).await;
    let label = d.label.as_str().to_ascii_uppercase();
    w.dns.set_cname(
        "_MTA-STS.Example.com",
        &format!("{label}.POLICY.sts.Example.NET."),
    );
    let checks = w.check(&d).await;
    assert_eq!(find(&checks, CheckName::Ownership).result, Outcome::Pass);
    w.close().await;
}

#[tokio::test]
async fn missing_records_fail_with_the_exact_record_to_publish() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Cname).await;
    let label = d.label.as_str();
    let checks = w.check(&d).await;

    let own = find(&checks, CheckName::Ownership);
    assert_eq!(own.result, Outcome::Fail);
    assert!(own.explanation.contains("no CNAME record"), "{own:#?}");
    let expected = format!("_mta-sts.example.com. CNAME {label}.policy.{ZONE}.");
    assert!(own.fix.as_ref().unwrap().contains(&expected), "{own:#?}");

    let edge = find(&checks, CheckName::MtaStsCname);
    assert_eq!(edge.result, Outcome::Fail);
    let expected = format!("mta-sts.example.com. CNAME {label}.edge.{ZONE}.");
    assert!(edge.fix.as_ref().unwrap().contains(&expected), "{edge:#?}");

    let tlsrpt = find(&checks, CheckName::Tlsrpt);
    assert_eq!(tlsrpt.result, Outcome::Fail);
    let expected = format!("_smtp._tls.example.com. CNAME {label}.report.{ZONE}.");
    assert!(
        tlsrpt.fix.as_ref().unwrap().contains(&expected),
        "{tlsrpt:#?}"
    );

    // No MX at all is explained, not a failure of the customer's setup for stsd.
    let mx = find(&checks, CheckName::MxCoverage);
    assert_eq!(mx.result, Outcome::Warn);
    assert!(mx.explanation.contains("no MX records"), "{mx:#?}");

    assert_eq!(w.state(&d).await, DomainState::Pending);
    w.close().await;
}

#[tokio::test]
async fn a_cname_to_another_label_fails() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Cname).await;
    w.publish_cnames(&d);
    w.dns
        .set_cname("_mta-sts.example.com", &format!("otherlabel.policy.{ZONE}"));
    w.dns
        .set_cname("mta-sts.example.com", "somewhere.example.org");
    let checks = w.check(&d).await;
    let own = find(&checks, CheckName::Ownership);
    assert_eq!(own.result, Outcome::Fail);
    assert!(own.explanation.contains("another registration"), "{own:#?}");
    assert!(
        own.fix
            .as_ref()
            .unwrap()
            .contains(&format!("CNAME {}.policy.{ZONE}.", d.label)),
        "{own:#?}"
    );
    let edge = find(&checks, CheckName::MtaStsCname);
    assert_eq!(edge.result, Outcome::Fail);
    assert!(
        edge.explanation.contains("somewhere.example.org"),
        "{edge:#?}"
    );
    assert_eq!(w.state(&d).await, DomainState::Pending);
    w.close().await;
}

#[tokio::test]
async fn own_sts_txt_at_the_ownership_name_is_named() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Cname).await;
    w.dns
        .set_txt("_mta-sts.example.com", &["v=STSv1; id=20240101T000000;"]);
    let checks = w.check(&d).await;
    let own = find(&checks, CheckName::Ownership);
    assert_eq!(own.result, Outcome::Fail);
    assert!(
        own.explanation.contains("v=STSv1; id=20240101T000000;"),
        "{own:#?}"
    );
    assert!(
        own.fix.as_ref().unwrap().contains("Delete the TXT record"),
        "{own:#?}"
    );
    w.close().await;
}

#[tokio::test]
async fn conflicting_address_and_txt_records_are_named() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Cname).await;
    w.dns
        .set_a("mta-sts.example.com", &[Ipv4Addr::new(198, 51, 100, 7)]);
    w.dns.set_txt("mta-sts.example.com", &["hello"]);
    let checks = w.check(&d).await;
    let edge = find(&checks, CheckName::MtaStsCname);
    assert_eq!(edge.result, Outcome::Fail);
    assert!(edge.explanation.contains("A 198.51.100.7"), "{edge:#?}");
    assert!(edge.explanation.contains("TXT \"hello\""), "{edge:#?}");
    assert!(
        edge.fix
            .as_ref()
            .unwrap()
            .contains("Delete the A/TXT records"),
        "{edge:#?}"
    );
    w.close().await;
}

#[tokio::test]
async fn records_resolving_to_the_edge_addresses_warn_and_still_verify() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Cname).await;
    w.publish_cnames(&d);
    let edge = EDGE_V4;
    w.dns.set_a("mta-sts.example.com", &[edge]);
    let checks = w.check(&d).await;
    let c = find(&checks, CheckName::MtaStsCname);
    assert_eq!(c.result, Outcome::Warn, "{c:#?}");
    assert!(c.explanation.contains("192.0.2.10"), "{c:#?}");
    assert_eq!(w.state(&d).await, DomainState::Verified);

    // Through a CNAME to a name of the customer's own that points at the edges: also a warning.
    w.dns
        .set_cname("mta-sts.example.com", "edge-alias.example.com");
    w.dns.set_a("edge-alias.example.com", &[edge]);
    let c = find(&w.check(&d).await, CheckName::MtaStsCname).clone();
    assert_eq!(c.result, Outcome::Warn, "{c:#?}");
    assert!(c.explanation.contains("edge-alias.example.com"), "{c:#?}");
    w.close().await;
}

#[tokio::test]
async fn txt_mode_ownership() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Txt).await;
    w.dns
        .set_cname("mta-sts.example.com", &format!("{}.edge.{ZONE}", d.label));

    let own = find(&w.check(&d).await, CheckName::Ownership).clone();
    assert_eq!(own.result, Outcome::Fail);
    assert_eq!(own.record, "_mta-sts-verify.example.com");
    let expected = format!(
        "_mta-sts-verify.example.com. TXT \"stsd-verify={}\"",
        d.label
    );
    assert!(own.fix.as_ref().unwrap().contains(&expected), "{own:#?}");

    w.dns
        .set_txt("_mta-sts-verify.example.com", &["stsd-verify=someoneelse"]);
    let own = find(&w.check(&d).await, CheckName::Ownership).clone();
    assert_eq!(own.result, Outcome::Fail);
    assert!(own.explanation.contains("another registration"), "{own:#?}");

    w.dns.set_txt(
        "_mta-sts-verify.example.com",
        &["unrelated", &format!("stsd-verify={}", d.label)],
    );
    let own = find(&w.check(&d).await, CheckName::Ownership).clone();
    assert_eq!(own.result, Outcome::Pass, "{own:#?}");
    assert_eq!(w.state(&d).await, DomainState::Verified);

    // Proven once: removing the TXT afterwards is fine.
    w.dns.remove("_mta-sts-verify.example.com");
    let own = find(&w.check(&d).await, CheckName::Ownership).clone();
    assert_eq!(own.result, Outcome::Pass, "{own:#?}");
    assert_eq!(w.state(&d).await, DomainState::Verified);
    w.close().await;
}

#[tokio::test]
async fn tlsrpt_own_record_warns_and_duplicates_fail() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Cname).await;
    w.dns.set_txt(
        "_smtp._tls.example.com",
        &["v=TLSRPTv1; rua=mailto:tls@example.com"],
    );
    let c = find(&w.check(&d).await, CheckName::Tlsrpt).clone();
    assert_eq!(c.result, Outcome::Warn, "{c:#?}");
    assert!(c.explanation.contains("mailto:tls@example.com"), "{c:#?}");

    w.dns.set_txt(
        "_smtp._tls.example.com",
        &[
            "v=TLSRPTv1; rua=mailto:tls@example.com",
            "v=TLSRPTv1; rua=mailto:other@example.com",
        ],
    );
    let c = find(&w.check(&d).await, CheckName::Tlsrpt).clone();
    assert_eq!(c.result, Outcome::Fail, "{c:#?}");
    w.close().await;
}

#[tokio::test]
async fn mx_coverage() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Cname).await;

    w.dns.set_mx("example.com", &[(0, ".")]);
    let c = find(&w.check(&d).await, CheckName::MxCoverage).clone();
    assert_eq!(c.result, Outcome::Warn, "{c:#?}");
    assert!(c.explanation.contains("null MX"), "{c:#?}");

    w.dns.set_mx(
        "example.com",
        &[(10, "mx1.example.com"), (20, "backup.mail.example.org")],
    );
    let c = find(&w.check(&d).await, CheckName::MxCoverage).clone();
    assert_eq!(c.result, Outcome::Warn, "no policy yet: {c:#?}");

    w.save_policy(&d, &["mx1.example.com", "old.example.com"])
        .await;
    let c = find(&w.check(&d).await, CheckName::MxCoverage).clone();
    assert_eq!(c.result, Outcome::Fail, "{c:#?}");
    assert!(c.explanation.contains("backup.mail.example.org"), "{c:#?}");
    assert!(!c.explanation.contains("mx1.example.com"), "{c:#?}");
    assert!(
        c.fix
            .as_ref()
            .unwrap()
            .contains("\"mx: backup.mail.example.org\""),
        "{c:#?}"
    );

    w.save_policy(
        &d,
        &["*.example.com", "*.mail.example.org", "old.example.com"],
    )
    .await;
    let c = find(&w.check(&d).await, CheckName::MxCoverage).clone();
    assert_eq!(c.result, Outcome::Warn, "{c:#?}");
    assert!(c.explanation.contains("old.example.com"), "{c:#?}");
    w.close().await;
}

#[tokio::test]
async fn a_dns_failure_is_an_error_and_moves_nothing() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Cname).await;
    w.publish_cnames(&d);
    let d = w
        .force_state(&d, &[DomainState::Verified, DomainState::Active])
        .await;
    w.dns.set_servfail("_mta-sts.example.com", true);
    let c = find(&w.check(&d).await, CheckName::Ownership).clone();
    assert_eq!(c.result, Outcome::Error, "{c:#?}");
    assert_eq!(w.state(&d).await, DomainState::Active);
    w.close().await;
}

#[tokio::test]
async fn txt_mode_compares_the_published_id_with_the_live_one() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Txt).await;
    let d = w
        .force_state(&d, &[DomainState::Verified, DomainState::Active])
        .await;
    let sts = |checks: &[stsd_verifier::CheckResult]| find(checks, CheckName::StsRecord).clone();

    // Nothing published, nothing live.
    let c = sts(&w.check(&d).await);
    assert_eq!(c.result, Outcome::Fail, "{c:#?}");
    assert_eq!(c.record, "_mta-sts.example.com");

    w.save_policy(&d, &["mx.example.com"]).await;
    w.add_certificate(&d).await;
    assert_eq!(stsd_verifier::publish_pending(&w.store).await.unwrap(), 1);
    let live = w
        .store
        .all_tenants()
        .latest_policy_version(&d.id)
        .await
        .unwrap()
        .unwrap();
    let live_id = live.policy_id.as_str();
    let hook = w
        .store
        .create_webhook(
            &w.tenant,
            "https://hooks.example.net/x",
            &["domain.checks_failing".to_owned()],
            b"sealed",
            "k",
        )
        .await
        .unwrap();

    w.dns
        .set_txt("_mta-sts.example.com", &["v=STSv1; id=20200101T000000;"]);
    let c = sts(&w.check(&d).await);
    assert_eq!(c.result, Outcome::Warn, "{c:#?}");
    let exact = format!("_mta-sts.example.com. TXT \"v=STSv1; id={live_id};\"");
    assert!(c.fix.as_ref().unwrap().contains(&exact), "{c:#?}");
    // The drift is announced, with the exact record to publish.
    let sent = w
        .store
        .webhook_deliveries(&hook.tenant_id, &hook.id, 10)
        .await
        .unwrap();
    assert!(
        sent.iter().any(|d| d.event == "domain.checks_failing"
            && d.body.contains("sts_record")
            && d.body.contains(live_id)),
        "{sent:?}"
    );

    w.dns
        .set_txt("_mta-sts.example.com", &[&format!("v=STSv1; id={live_id}")]);
    let c = sts(&w.check(&d).await);
    assert_eq!(c.result, Outcome::Pass, "{c:#?}");

    // CNAME-mode domains have no such check: stsd's DNS publishes the id.
    let other = w.domain("example.org", Ownership::Cname).await;
    let checks = w.check(&other).await;
    assert!(checks.iter().all(|c| c.name != CheckName::StsRecord));
    w.close().await;
}

#[tokio::test]
async fn an_unreachable_resolver_gives_errors_within_the_timeout() {
    let w = World::sqlite().await;
    let d = w.domain("example.com", Ownership::Cname).await;
    // Bound, so nothing else gets the port, but never read: queries vanish.
    let silent = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let cfg = stsd_verifier::VerifierConfig::new(
        ZONE.parse().unwrap(),
        Vec::new(),
        &[silent.local_addr().unwrap()],
        std::time::Duration::from_millis(600),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let checks = stsd_verifier::check_now(&w.store, &cfg, &d.id)
        .await
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    for c in &checks {
        assert_eq!(c.result, Outcome::Error, "{c:#?}");
        assert!(c.fix.is_none());
    }
    assert_eq!(w.state(&d).await, DomainState::Pending);
    w.close().await;
}

/// CAA: climbs from `mta-sts.<d>` to the first name with `issue` records; stsd's CA must be
/// among them.
#[tokio::test]
async fn caa_must_allow_the_ca() {
    let w = World::sqlite().await;
    let mut cfg = w.cfg.clone();
    cfg.ca_identities = vec!["letsencrypt.org".to_owned()];
    let caa = |checks: Vec<CheckResult>| {
        checks
            .into_iter()
            .find(|c| c.name == CheckName::Caa)
            .expect("the CAA check runs when the CA is known")
    };
    let d = w.domain("mail.caa.example", Ownership::Cname).await;
    w.publish_cnames(&d);
    // No CAA anywhere: any CA may issue.
    let r = caa(stsd_verifier::check_now(&w.store, &cfg, &d.id)
        .await
        .unwrap());
    assert_eq!(r.result, Outcome::Pass, "{r:?}");
    // At the parent of the customer's domain, another CA only: found by climbing, fails.
    w.dns.set_caa_issue("caa.example", &["digicert.com"]);
    let r = caa(stsd_verifier::check_now(&w.store, &cfg, &d.id)
        .await
        .unwrap());
    assert_eq!(r.result, Outcome::Fail, "{r:?}");
    assert_eq!(r.record, "caa.example");
    assert!(
        r.fix
            .unwrap()
            .contains("caa.example. CAA 0 issue \"letsencrypt.org\"")
    );
    // The closest set wins: at the domain itself, ours is listed.
    w.dns
        .set_caa_issue("mail.caa.example", &["digicert.com", "letsencrypt.org"]);
    let r = caa(stsd_verifier::check_now(&w.store, &cfg, &d.id)
        .await
        .unwrap());
    assert_eq!(r.result, Outcome::Pass, "{r:?}");
    assert_eq!(r.record, "mail.caa.example");
    // The empty issuer forbids everyone.
    w.dns.set_caa_issue("mail.caa.example", &[""]);
    let r = caa(stsd_verifier::check_now(&w.store, &cfg, &d.id)
        .await
        .unwrap());
    assert_eq!(r.result, Outcome::Fail, "{r:?}");
    // Without a known CA identity (the local CA) the check does not run.
    let checks = stsd_verifier::check_now(&w.store, &w.cfg, &d.id)
        .await
        .unwrap();
    assert!(checks.iter().all(|c| c.name != CheckName::Caa));
    w.close().await;
}
