//! Tenant walls by construction: every query for a tenant's object takes the tenant, and asked
//! with another tenant's id for the victim's objects it finds nothing — the same answer as for
//! an id that names nothing, never an error that tells the two apart — and writes nothing.
//! Each refusal is paired with the victim's own query finding the object, so that a wall
//! that held only because the object was missing would fail here.

use std::collections::BTreeSet;
use std::str::FromStr;

use stsd_core::{DomainName, MaxAge, Mode, MxPattern, Policy};
use stsd_store::{
    CERT_JOB_KIND, Domain, DomainId, DomainState, FailuresBy, LeftOut, NewCertificate, Ownership,
    PreparedReport, ReportFilter, ReportOrigin, ReportScope, Role, StoreError, Submission,
    TenantId, TokenScope, TotalsBy, Transport, Webhook,
};
use time::{Duration, OffsetDateTime};

use crate::harness::TestDb;

/// A tenant with one of everything, and the ids an attacker would have to guess.
struct Victim {
    tenant: TenantId,
    domain: Domain,
    version: String,
    report: String,
    hook: Webhook,
    token: String,
    invitation: String,
}

fn policy(mode: Mode) -> Policy {
    Policy::new(
        mode,
        vec![MxPattern::from_str("mx.victim.example").unwrap()],
        MaxAge::new(86_400).unwrap(),
    )
    .unwrap()
}

fn report_body(id: &str) -> Vec<u8> {
    let day = OffsetDateTime::now_utc().date();
    serde_json::to_vec(&serde_json::json!({
        "organization-name": "Reporter",
        "date-range": {"start-datetime": format!("{day}T00:00:00Z"),
                       "end-datetime": format!("{day}T23:59:59Z")},
        "report-id": id,
        "policies": [{
            "policy": {"policy-type": "sts", "policy-domain": "victim.example"},
            "summary": {"total-successful-session-count": 7, "total-failure-session-count": 1},
            "failure-details": [{"result-type": "certificate-expired", "failed-session-count": 1}]
        }]
    }))
    .unwrap()
}

fn upload<'a>(domain: &'a Domain, body: &'a [u8]) -> Submission<'a> {
    Submission {
        domain,
        body,
        declared_media_type: Some("application/tlsrpt+json"),
        transport: Transport::Upload,
        origin: ReportOrigin::Upload,
        dkim: None,
        flags: &[],
        max_decompressed: 1 << 20,
    }
}

fn today() -> i64 {
    OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(86_400)
}

/// Tenant B: an active registration with a certificate, a saved (not yet live) policy
/// version, a certificate job, policy fetches, a counted and an uncounted report, a webhook
/// with deliveries, an API token and an invitation.
async fn victim(db: &TestDb) -> Victim {
    let s = &db.store;
    let b = s.create_tenant("B").await.unwrap().id;
    let d = s
        .create_domain(
            &b,
            &DomainName::from_str("victim.example").unwrap(),
            Ownership::Cname,
        )
        .await
        .unwrap();
    let hook = s
        .create_webhook(
            &b,
            "https://hooks.victim.example/",
            &["*".to_owned()],
            b"s",
            "k",
        )
        .await
        .unwrap();
    let version = s
        .create_policy_version(&b, &d.id, &policy(Mode::Testing), "user:b")
        .await
        .unwrap()
        .version
        .id;
    let now = OffsetDateTime::now_utc();
    s.all_tenants()
        .put_certificate(&NewCertificate {
            domain_id: d.id.clone(),
            chain_pem: "chain".to_owned(),
            key_ciphertext: vec![1, 2, 3],
            key_id: "k".to_owned(),
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(90),
        })
        .await
        .unwrap();
    // Both transitions announce themselves to the webhook.
    s.transition_domain(&b, &d.id, DomainState::Pending, DomainState::Verified, "t")
        .await
        .unwrap();
    let domain = s
        .transition_domain(&b, &d.id, DomainState::Verified, DomainState::Active, "t")
        .await
        .unwrap();
    s.schedule_job(CERT_JOB_KIND, d.id.as_str(), now + Duration::days(60))
        .await
        .unwrap();
    let networks: BTreeSet<String> = ["192.0.2.0/24".to_owned()].into();
    s.all_tenants()
        .add_policy_fetches(&d.id, today(), 3, &networks)
        .await
        .unwrap();
    let body = report_body("counted");
    let report = s
        .all_tenants()
        .ingest_submission(&upload(&domain, &body))
        .await
        .unwrap()
        .id;
    // Unsigned mail: stored, left out of the counts.
    let body = report_body("unsigned");
    s.all_tenants()
        .ingest_submission(&Submission {
            transport: Transport::Smtp,
            origin: ReportOrigin::UnauthenticatedMail,
            dkim: Some("none"),
            ..upload(&domain, &body)
        })
        .await
        .unwrap();
    let token = s
        .create_api_token(&b, "b", "victim-token-hash", TokenScope::Write, None, None)
        .await
        .unwrap()
        .id;
    let invitation = s
        .create_invitation(
            &b,
            "colleague@victim.example",
            Role::Admin,
            "victim-invitation-hash",
            None,
            now + Duration::days(7),
        )
        .await
        .unwrap()
        .id;
    Victim {
        tenant: b,
        domain,
        version,
        report,
        hook,
        token,
        invitation,
    }
}

async fn another_tenants_objects_read_as_missing(db: &TestDb) {
    let s = &db.store;
    let v = victim(db).await;
    let a = s.create_tenant("A").await.unwrap().id;
    let (b, id) = (&v.tenant, &v.domain.id);
    let (from, to) = (today() - 1, today());

    assert_eq!(
        s.domain_by_id(b, id).await.unwrap().as_ref(),
        Some(&v.domain)
    );
    assert_eq!(s.domain_by_id(&a, id).await.unwrap(), None);
    assert!(s.all_tenants().domain_by_id(id).await.unwrap().is_some());

    assert_eq!(s.transitions(b, id).await.unwrap().len(), 2);
    assert!(s.transitions(&a, id).await.unwrap().is_empty());

    assert_eq!(s.policy_versions(b, id).await.unwrap().len(), 1);
    assert!(s.policy_versions(&a, id).await.unwrap().is_empty());
    assert!(s.latest_policy_version(b, id).await.unwrap().is_some());
    assert_eq!(s.latest_policy_version(&a, id).await.unwrap(), None);
    assert!(s.policy_version(b, id, &v.version).await.unwrap().is_some());
    assert_eq!(s.policy_version(&a, id, &v.version).await.unwrap(), None);

    assert!(s.current_certificate(b, id).await.unwrap().is_some());
    assert!(s.current_certificate(&a, id).await.unwrap().is_none());
    assert!(s.job_status(b, CERT_JOB_KIND, id).await.unwrap().is_some());
    assert_eq!(s.job_status(&a, CERT_JOB_KIND, id).await.unwrap(), None);

    assert_eq!(s.policy_fetches(b, id, 0).await.unwrap().len(), 1);
    assert!(s.policy_fetches(&a, id, 0).await.unwrap().is_empty());

    let ids = std::slice::from_ref(id);
    let theirs = &s.domain_overviews(b, ids, from).await.unwrap()[id.as_str()];
    assert_eq!(
        (
            theirs.mode.as_deref(),
            theirs.reports,
            theirs.certificate_not_after.is_some()
        ),
        (Some("testing"), 1, true)
    );
    let seen = &s.domain_overviews(&a, ids, from).await.unwrap()[id.as_str()];
    assert_eq!(seen, &Default::default(), "an overview of another tenant's");

    let all = ReportFilter::default();
    assert_eq!(s.reports(b, id, &all, 10, 0).await.unwrap().len(), 2);
    assert!(s.reports(&a, id, &all, 10, 0).await.unwrap().is_empty());
    assert!(s.report_detail(b, id, &v.report).await.unwrap().is_some());
    assert!(s.report_detail(&a, id, &v.report).await.unwrap().is_none());
    assert!(s.last_report_received(b, id).await.unwrap().is_some());
    assert_eq!(s.last_report_received(&a, id).await.unwrap(), None);
    let (mine, foreign) = (ReportScope::Domain(b, id), ReportScope::Domain(&a, id));
    let totals = s
        .report_totals(mine, from, to, TotalsBy::All)
        .await
        .unwrap();
    assert_eq!(totals[0].reports, 1, "{totals:?}");
    let totals = s
        .report_totals(foreign, from, to, TotalsBy::All)
        .await
        .unwrap();
    assert!(totals.is_empty(), "{totals:?}");
    let by = FailuresBy::Result;
    assert_eq!(
        s.report_failures(mine, from, to, by).await.unwrap(),
        [("certificate-expired".to_owned(), 1)]
    );
    assert!(
        s.report_failures(foreign, from, to, by)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.reports_left_out(mine, from, to)
            .await
            .unwrap()
            .unauthenticated_mail,
        1
    );
    assert_eq!(
        s.reports_left_out(foreign, from, to).await.unwrap(),
        LeftOut::default()
    );

    assert_eq!(
        s.webhook_deliveries(b, &v.hook.id, 10).await.unwrap().len(),
        2,
        "the two transitions"
    );
    assert!(
        s.webhook_deliveries(&a, &v.hook.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.webhook(&a, &v.hook.id).await.unwrap().is_none());
    // The attacker's own tenant lists none of it.
    assert!(s.api_tokens(&a).await.unwrap().is_empty());
    assert!(s.pending_invitations(&a).await.unwrap().is_empty());
    assert!(s.webhooks(&a).await.unwrap().is_empty());
}

/// What a write with the attacker's tenant and the victim's ids answers, next to the same
/// write with an id that names nothing: the two must not be told apart.
fn same_refusal(foreign: StoreError, made_up: StoreError) {
    assert!(
        matches!(foreign, StoreError::NotFound(_)),
        "another tenant's object must be \"not found\": {foreign:?}"
    );
    assert_eq!(foreign.to_string(), made_up.to_string());
}

async fn another_tenants_objects_refuse_writes(db: &TestDb) {
    let s = &db.store;
    let v = victim(db).await;
    let a = s.create_tenant("A").await.unwrap().id;
    let (b, id) = (&v.tenant, &v.domain.id);
    let nothing = DomainId::from_raw("00000000-0000-0000-0000-000000000000");
    let before = s.domain_by_id(b, id).await.unwrap().unwrap();

    // A transition from the state the registration is in, and from another one: both "not
    // found", never "in another state" (which would confirm that the id exists).
    for from in [DomainState::Active, DomainState::Pending] {
        let to = DomainState::Offboarding;
        same_refusal(
            s.transition_domain(&a, id, from, to, "attack")
                .await
                .unwrap_err(),
            s.transition_domain(&a, &nothing, from, to, "attack")
                .await
                .unwrap_err(),
        );
    }
    let later = Some(OffsetDateTime::now_utc() + Duration::days(1));
    same_refusal(
        s.set_serve_until(&a, id, later).await.unwrap_err(),
        s.set_serve_until(&a, &nothing, later).await.unwrap_err(),
    );
    let enforce = policy(Mode::Enforce);
    same_refusal(
        s.create_policy_version(&a, id, &enforce, "user:a")
            .await
            .unwrap_err(),
        s.create_policy_version(&a, &nothing, &enforce, "user:a")
            .await
            .unwrap_err(),
    );
    // The victim's saved version could go live; the attacker cannot make it.
    assert!(!s.publish_latest(&a, id).await.unwrap());
    same_refusal(
        s.enqueue_ping(&a, &v.hook.id, "{}").await.unwrap_err(),
        s.enqueue_ping(&a, "no-such-hook", "{}").await.unwrap_err(),
    );
    let body = report_body("planted");
    let planted = PreparedReport::new(&upload(&v.domain, &body)).unwrap();
    let made_up = Domain {
        id: nothing.clone(),
        ..v.domain.clone()
    };
    same_refusal(
        s.ingest_prepared(&a, planted).await.unwrap_err(),
        s.ingest_prepared(&a, PreparedReport::new(&upload(&made_up, &body)).unwrap())
            .await
            .unwrap_err(),
    );
    s.touch_api_token(&a, &v.token).await.unwrap();
    same_refusal(
        s.revoke_api_token(&a, &v.token).await.unwrap_err(),
        s.revoke_api_token(&a, "no-such-token").await.unwrap_err(),
    );
    same_refusal(
        s.revoke_invitation(&a, &v.invitation).await.unwrap_err(),
        s.revoke_invitation(&a, "no-such-invitation")
            .await
            .unwrap_err(),
    );
    assert!(!s.delete_webhook(&a, &v.hook.id).await.unwrap());

    // Nothing of the victim's changed.
    assert_eq!(s.domain_by_id(b, id).await.unwrap().unwrap(), before);
    assert_eq!(s.transitions(b, id).await.unwrap().len(), 2);
    assert_eq!(s.policy_versions(b, id).await.unwrap().len(), 1);
    let all = ReportFilter::default();
    assert_eq!(s.reports(b, id, &all, 10, 0).await.unwrap().len(), 2);
    assert_eq!(
        s.webhook_deliveries(b, &v.hook.id, 10).await.unwrap().len(),
        2
    );
    let tokens = s.api_tokens(b).await.unwrap();
    assert_eq!(
        (tokens[0].last_used_at, tokens[0].revoked_at),
        (None, None),
        "{tokens:?}"
    );
    assert_eq!(s.pending_invitations(b).await.unwrap().len(), 1);
    assert!(s.webhook(b, &v.hook.id).await.unwrap().is_some());

    // The same writes with the victim's own tenant succeed: the refusals above were walls.
    assert!(s.publish_latest(b, id).await.unwrap());
    assert_eq!(
        s.domain_by_id(b, id)
            .await
            .unwrap()
            .unwrap()
            .live_version_id,
        Some(v.version.clone())
    );
    s.enqueue_ping(b, &v.hook.id, "{}").await.unwrap();
    s.touch_api_token(b, &v.token).await.unwrap();
    assert!(s.api_tokens(b).await.unwrap()[0].last_used_at.is_some());
    s.transition_domain(
        b,
        id,
        DomainState::Active,
        DomainState::Offboarding,
        "leaving",
    )
    .await
    .unwrap();
}

crate::both_backends!(
    another_tenants_objects_read_as_missing,
    another_tenants_objects_refuse_writes
);
