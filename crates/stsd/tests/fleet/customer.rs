//! A customer of the fleet, through its API as the dashboard would: signs up, adds a domain
//! and publishes the three records the API hands out in their own (fake) DNS, asks for checks.

use serde_json::{Value, json};
use stsd_testkit::FakeDns;

/// A signed-up customer and their tenant's domains.
pub(crate) struct Customer {
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
    /// `http://…/api/v1/tenants/<id>/domains`.
    pub(crate) domains: String,
}

impl Customer {
    /// Signs up on the API listening on `api_port` of loopback.
    pub(crate) async fn sign_up(api_port: u16, email: &str, tenant: &str) -> Customer {
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{api_port}/api/v1");
        let signup: Value = http
            .post(format!("{base}/auth/signup"))
            .json(&json!({ "email": email, "password": "violet quarry lantern 42 drift", "tenant_name": tenant }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = signup["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("sign-up failed: {signup}"))
            .to_owned();
        let domains = format!(
            "{base}/tenants/{}/domains",
            signup["tenant"]["id"].as_str().unwrap()
        );
        Customer {
            http,
            token,
            domains,
        }
    }

    /// Adds `name`, whose MX `mx` is published in `dns` first, and publishes the records the
    /// API gives for it there. Returns the registration's label.
    pub(crate) async fn add_domain(&self, dns: &FakeDns, name: &str, mx: &str) -> String {
        dns.set_mx(name, &[(10, mx)]);
        let resp = self
            .http
            .post(&self.domains)
            .bearer_auth(&self.token)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "adding {name}");
        let added: Value = resp.json().await.unwrap();
        let records = self.get(&format!("{name}/records")).await;
        for r in records["records"].as_array().unwrap() {
            dns.set_cname(r["name"].as_str().unwrap(), r["value"].as_str().unwrap());
        }
        added["label"].as_str().expect("a label").to_owned()
    }

    /// Asks for `name`'s checks now (200 when they ran, 202 when they are queued).
    pub(crate) async fn check_now(&self, name: &str) {
        let status = self
            .http
            .post(format!("{}/{name}/checks", self.domains))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!(status == 200 || status == 202, "checks of {name}: {status}");
    }

    /// `PUT <domains>/<path>` with `body`; the status.
    pub(crate) async fn put(&self, path: &str, body: &Value) -> u16 {
        self.http
            .put(format!("{}/{path}", self.domains))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// `GET <domains>/<path>` as JSON.
    pub(crate) async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/{path}", self.domains))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}
