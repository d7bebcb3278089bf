//! A store, a fake customer DNS and a verifier configuration pointing at it.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use stsd_core::{DomainName, MaxAge, Mode, MxPattern, Policy};
use stsd_store::{Domain, DomainState, NewCertificate, Ownership, Store, TenantId};
use stsd_testkit::{FakeDns, TestDatabase};
use stsd_verifier::{CheckName, CheckResult, VerifierConfig};
use time::OffsetDateTime;

pub(crate) const ZONE: &str = "sts.example.net";
pub(crate) const EDGE_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const EDGE: IpAddr = IpAddr::V4(EDGE_V4);

pub(crate) struct World {
    pub(crate) dns: FakeDns,
    pub(crate) store: Store,
    pub(crate) cfg: VerifierConfig,
    pub(crate) tenant: TenantId,
    db: TestDatabase,
}

impl World {
    pub(crate) async fn sqlite() -> World {
        World::open(TestDatabase::sqlite().await).await
    }

    pub(crate) async fn postgres() -> World {
        World::open(TestDatabase::postgres().await).await
    }

    async fn open(db: TestDatabase) -> World {
        let dns = FakeDns::start().await.unwrap();
        let store = Store::connect(db.url()).await.unwrap();
        store.migrate().await.unwrap();
        let tenant = store.create_tenant("acme").await.unwrap().id;
        let mut cfg = VerifierConfig::new(
            ZONE.parse().unwrap(),
            vec![EDGE],
            &[dns.addr()],
            Duration::from_secs(3),
        )
        .unwrap();
        cfg.poll_interval = Duration::from_millis(50);
        World {
            dns,
            store,
            cfg,
            tenant,
            db,
        }
    }

    pub(crate) async fn close(self) {
        self.store.close().await;
        self.db.drop_database().await;
    }

    pub(crate) async fn domain(&self, name: &str, ownership: Ownership) -> Domain {
        let name: DomainName = name.parse().unwrap();
        self.store
            .create_domain(&self.tenant, &name, ownership)
            .await
            .unwrap()
    }

    /// Publishes the three CNAMEs the customer is told to publish.
    pub(crate) fn publish_cnames(&self, d: &Domain) {
        let (name, label) = (d.name.as_str(), d.label.as_str());
        self.dns.set_cname(
            &format!("_mta-sts.{name}"),
            &format!("{label}.policy.{ZONE}"),
        );
        self.dns
            .set_cname(&format!("mta-sts.{name}"), &format!("{label}.edge.{ZONE}"));
        self.dns.set_cname(
            &format!("_smtp._tls.{name}"),
            &format!("{label}.report.{ZONE}"),
        );
    }

    pub(crate) async fn save_policy(&self, d: &Domain, mx: &[&str]) -> String {
        let mx: Vec<MxPattern> = mx.iter().map(|p| p.parse().unwrap()).collect();
        let policy = Policy::new(Mode::Testing, mx, MaxAge::new(86_400).unwrap()).unwrap();
        self.store
            .create_policy_version(&d.tenant_id, &d.id, &policy, "test")
            .await
            .unwrap()
            .version
            .id
    }

    pub(crate) async fn add_certificate(&self, d: &Domain) {
        let now = OffsetDateTime::now_utc();
        self.store
            .all_tenants()
            .put_certificate(&NewCertificate {
                domain_id: d.id.clone(),
                chain_pem: "not read by the verifier".to_owned(),
                key_ciphertext: vec![0; 16],
                key_id: "test".to_owned(),
                not_before: now,
                not_after: now + time::Duration::days(90),
            })
            .await
            .unwrap();
    }

    /// Walks a fresh domain through the states to `to`.
    pub(crate) async fn force_state(&self, d: &Domain, path: &[DomainState]) -> Domain {
        let mut current = d.clone();
        for &to in path {
            current = self
                .store
                .all_tenants()
                .transition_domain(&d.id, current.state, to, "test setup")
                .await
                .unwrap();
        }
        current
    }

    pub(crate) async fn state(&self, d: &Domain) -> DomainState {
        self.store
            .all_tenants()
            .domain_by_id(&d.id)
            .await
            .unwrap()
            .unwrap()
            .state
    }

    pub(crate) async fn check(&self, d: &Domain) -> Vec<CheckResult> {
        stsd_verifier::check_now(&self.store, &self.cfg, &d.id)
            .await
            .unwrap()
    }
}

/// The result of check `name`.
pub(crate) fn find(checks: &[CheckResult], name: CheckName) -> &CheckResult {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name:?} check in {checks:#?}"))
}
