//! A reporter that went quiet shows on the domain: Google reported on six days and then not
//! for four; once the verifier announced the silence, the domain's detail names it (the
//! dashboard's banner reads this), and a domain nobody fell silent on shows none.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stsd_core::DomainName;
use stsd_store::{DomainState, TenantId};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::harness::TestServer;

fn report(id: &str, day: OffsetDateTime) -> Vec<u8> {
    let start = day.replace_time(time::Time::MIDNIGHT);
    let end = start + Duration::hours(24) - Duration::seconds(1);
    serde_json::to_vec(&json!({
        "organization-name": "Google Inc.",
        "report-id": id,
        "date-range": {
            "start-datetime": start.format(&Rfc3339).unwrap(),
            "end-datetime": end.format(&Rfc3339).unwrap(),
        },
        "contact-info": "smtp-tls-reporting@google.com",
        "policies": [{
            "policy": { "policy-type": "sts", "policy-domain": "quiet.example" },
            "summary": { "total-successful-session-count": 10, "total-failure-session-count": 0 }
        }]
    }))
    .unwrap()
}

async fn a_silent_reporter_shows_on_the_domain(server: &TestServer) {
    let (mut owner, tenant) = server.signup("ops@quiet.example", "Quiet").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    let (status, body) = owner.post(&base, json!({ "name": "quiet.example" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let path = format!("{base}/quiet.example");
    let now = OffsetDateTime::now_utc();
    for back in 1..=6 {
        let (status, _, answer) = owner
            .raw(
                Method::POST,
                &format!("{path}/reports"),
                Some((
                    "application/tlsrpt+json",
                    report(&format!("g{back}"), now - Duration::days(back)),
                )),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    // Served (the worker's part, through the store here).
    let tenant_id = TenantId::from_raw(tenant.clone());
    let name: DomainName = "quiet.example".parse().unwrap();
    let domain = server
        .store
        .domain(&tenant_id, &name)
        .await
        .unwrap()
        .unwrap();
    let mut state = domain.state;
    for to in [DomainState::Verified, DomainState::Active] {
        state = server
            .store
            .all_tenants()
            .transition_domain(&domain.id, state, to, "test")
            .await
            .unwrap()
            .state;
    }
    let domain = server
        .store
        .domain(&tenant_id, &name)
        .await
        .unwrap()
        .unwrap();

    let (_, detail) = owner.get(&path).await;
    assert_eq!(detail["silent_reporters"], json!([]), "{detail}");
    // Four days on, the verifier's run announces Google's silence; the domain names it.
    let later = now + Duration::days(4);
    let silent = stsd_verifier::check_reporters(&server.store, &domain, later)
        .await
        .unwrap();
    assert_eq!(silent, ["Google Inc."]);
    let (status, detail) = owner.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    let quiet: &Value = &detail["silent_reporters"][0];
    assert_eq!(quiet["organization"], "Google Inc.", "{detail}");
    assert!(quiet["last_received"].as_i64().unwrap() >= now.unix_timestamp() - 60);
}

crate::both_backends!(a_silent_reporter_shows_on_the_domain);
