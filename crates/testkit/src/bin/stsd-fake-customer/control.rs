//! The HTTP control endpoint: the test edits the customer's DNS zone and the MX's certificate
//! as the customer would, through their DNS host's and mail server's admin panels.
//!
//! - `PUT /records/{name}/{type}` with `{"values": [...]}` replaces the records of one type
//!   (`CNAME`, `MX` as `"10 mx1.example.com"`, `A`, `AAAA`, `TXT`, `CAA` issuers); an empty
//!   list removes them.
//! - `DELETE /records/{name}` removes every record at the name.
//! - `PUT /servfail/{name}` with `{"on": true}` makes every query for the name fail.
//! - `PUT /mx-certificate` with `{"hosts": [...]}` gives the MX a new certificate.
//! - `PUT /policy` with `{"body": "...", "status": "200 OK", "content_type": "text/plain"}`
//!   sets what their own `mta-sts` host answers (status and media type optional).
//! - `GET /` describes the world (addresses, certificate names, queries answered).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use hickory_proto::rr::Name;
use serde::Deserialize;
use serde_json::{Value, json};
use stsd_testkit::{FakeDns, FakePolicyHost, PolicyResponse};

use crate::mx_cert::MxCertificate;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct World {
    pub(crate) dns: Arc<FakeDns>,
    pub(crate) mx: Arc<MxCertificate>,
    pub(crate) smtp: SocketAddr,
    /// Their own policy host, when one was asked for (`--policy-listen`).
    pub(crate) policy: Option<Arc<FakePolicyHost>>,
}

/// The control routes.
pub(crate) fn router(world: World) -> Router {
    Router::new()
        .route("/", get(describe))
        .route("/records/{name}/{rtype}", put(set_records))
        .route("/records/{name}", delete(remove_records))
        .route("/servfail/{name}", put(set_servfail))
        .route("/mx-certificate", put(set_mx_certificate))
        .route("/policy", put(set_policy))
        .with_state(world)
}

/// A refused change: 422 with the reason.
struct Refused(String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": self.0 })),
        )
            .into_response()
    }
}

#[derive(Deserialize)]
struct Values {
    values: Vec<String>,
}

#[derive(Deserialize)]
struct Switch {
    on: bool,
}

#[derive(Deserialize)]
struct Hosts {
    hosts: Vec<String>,
}

async fn describe(State(w): State<World>) -> Json<Value> {
    Json(json!({
        "dns": w.dns.addr().to_string(),
        "smtp": w.smtp.to_string(),
        "mx_certificate_hosts": w.mx.hosts(),
        "queries": w.dns.queries(),
    }))
}

async fn set_records(
    State(w): State<World>,
    Path((name, rtype)): Path<(String, String)>,
    Json(body): Json<Values>,
) -> Result<StatusCode, Refused> {
    owner(&name)?;
    apply(&w.dns, &name, &rtype, &body.values)?;
    eprintln!("fake customer: {name} {rtype} = {:?}", body.values);
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the `rtype` records at `name` with `values`, after checking every value.
fn apply(dns: &FakeDns, name: &str, rtype: &str, values: &[String]) -> Result<(), Refused> {
    match rtype.to_ascii_uppercase().as_str() {
        "CNAME" => match values {
            [] => dns.remove(name),
            [target] => {
                target_name(target)?;
                dns.set_cname(name, target);
            }
            _ => return Err(Refused("a name has at most one CNAME".to_owned())),
        },
        "MX" => {
            let records = values
                .iter()
                .map(|v| mx_value(v))
                .collect::<Result<Vec<_>, _>>()?;
            let borrowed: Vec<(u16, &str)> =
                records.iter().map(|(p, h)| (*p, h.as_str())).collect();
            dns.set_mx(name, &borrowed);
        }
        "A" => {
            let addrs = values
                .iter()
                .map(|v| {
                    v.parse::<Ipv4Addr>()
                        .map_err(|_| Refused(format!("`{v}` is not an IPv4 address")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            dns.set_a(name, &addrs);
        }
        "AAAA" => {
            let addrs = values
                .iter()
                .map(|v| {
                    v.parse::<Ipv6Addr>()
                        .map_err(|_| Refused(format!("`{v}` is not an IPv6 address")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            dns.set_aaaa(name, &addrs);
        }
        "TXT" => {
            let texts: Vec<&str> = values.iter().map(String::as_str).collect();
            dns.set_txt(name, &texts);
        }
        "CAA" => {
            for issuer in values.iter().filter(|v| !v.is_empty()) {
                target_name(issuer)?;
            }
            let issuers: Vec<&str> = values.iter().map(String::as_str).collect();
            dns.set_caa_issue(name, &issuers);
        }
        other => return Err(Refused(format!("record type `{other}` is not supported"))),
    }
    Ok(())
}

async fn remove_records(State(w): State<World>, Path(name): Path<String>) -> StatusCode {
    w.dns.remove(&name);
    eprintln!("fake customer: {name} removed");
    StatusCode::NO_CONTENT
}

async fn set_servfail(
    State(w): State<World>,
    Path(name): Path<String>,
    Json(body): Json<Switch>,
) -> Result<StatusCode, Refused> {
    owner(&name)?;
    w.dns.set_servfail(&name, body.on);
    eprintln!("fake customer: {name} SERVFAIL {}", body.on);
    Ok(StatusCode::NO_CONTENT)
}

async fn set_mx_certificate(
    State(w): State<World>,
    Json(body): Json<Hosts>,
) -> Result<StatusCode, Refused> {
    w.mx.reissue(body.hosts.clone()).map_err(Refused)?;
    eprintln!("fake customer: MX certificate for {:?}", body.hosts);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct PolicyAnswer {
    body: String,
    status: Option<String>,
    content_type: Option<String>,
}

async fn set_policy(
    State(w): State<World>,
    Json(answer): Json<PolicyAnswer>,
) -> Result<StatusCode, Refused> {
    let Some(host) = &w.policy else {
        return Err(Refused(
            "no policy host: start with --policy-listen".to_owned(),
        ));
    };
    host.set_response(PolicyResponse {
        status: answer.status.unwrap_or_else(|| "200 OK".to_owned()),
        content_type: Some(
            answer
                .content_type
                .unwrap_or_else(|| "text/plain".to_owned()),
        ),
        headers: Vec::new(),
        body: answer.body.into_bytes(),
    });
    eprintln!("fake customer: policy host answer set");
    Ok(StatusCode::NO_CONTENT)
}

/// An owner name: a DNS name (FakeDns keys it case-insensitively).
fn owner(name: &str) -> Result<(), Refused> {
    target_name(name)
}

/// A name the zone can hold as a target: `FakeDns` panics on anything else (a test's mistake),
/// so it is checked here first.
fn target_name(name: &str) -> Result<(), Refused> {
    let trimmed = name.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        return Ok(()); // the root, e.g. a null MX
    }
    Name::from_ascii(format!("{trimmed}."))
        .map(|_| ())
        .map_err(|_| Refused(format!("`{name}` is not a DNS name")))
}

/// `"<preference> <exchange>"`.
fn mx_value(value: &str) -> Result<(u16, String), Refused> {
    let bad = || {
        Refused(format!(
            "`{value}` is not an MX value like `10 mx1.example.com`"
        ))
    };
    let (preference, exchange) = value.trim().split_once(' ').ok_or_else(bad)?;
    let preference = preference.parse::<u16>().map_err(|_| bad())?;
    let exchange = exchange.trim();
    if exchange.is_empty() {
        return Err(bad());
    }
    target_name(exchange)?;
    Ok((preference, exchange.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mx_values_are_parsed_and_checked() {
        assert_eq!(
            mx_value("10 mx1.example.com").ok(),
            Some((10, "mx1.example.com".to_owned()))
        );
        assert_eq!(mx_value(" 0 . ").ok(), Some((0, ".".to_owned())));
        for bad in [
            "mx1.example.com",
            "x mx1.example.com",
            "10 ",
            "10 a..b",
            "70000 mx.example.com",
        ] {
            assert!(mx_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_that_would_panic_the_zone_are_refused() {
        assert!(target_name(&"a".repeat(64)).is_err());
        assert!(target_name("ok.example.com.").is_ok());
        assert!(target_name(".").is_ok());
    }
}
