//! The operations listener of every role (`STSD_METRICS_LISTEN`): `/healthz`, `/readyz` and
//! `/metrics`, apart from the public ports so that an edge exposes no metrics to the world.
//!
//! `/readyz` answers from memory, within milliseconds whatever the database does: the store's
//! health is kept by a background ping ([`stsd_store::StoreHealth`]), the snapshot's state by
//! its follower. A role that serves from the snapshot (edge, DNS, SMTP) is ready while it
//! serves one, even a stale one; the API and the worker are ready while the store answers. A
//! process is ready when its serving roles are (or, without any, when its other roles are):
//! that is what a load balancer in front of its public ports needs. `/readyz?role=api` asks
//! about one role. After SIGTERM every role answers 503 `stopping`, so that load balancers
//! stop sending before the listeners close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use serde_json::json;
use stsd_net::{ConnectionGate, GateLimits, HttpSizes, HttpTimeouts, Shutdown};
use stsd_serving::SnapshotHandle;
use stsd_store::StoreHealth;
use tokio::net::TcpListener;

use crate::roles::{Role, Roles};

/// What the operations listener reports on.
pub(crate) struct Ops {
    roles: Roles,
    store: stsd_store::Store,
    health: StoreHealth,
    snapshots: Option<SnapshotHandle>,
    api: Option<stsd_api::AppState>,
    stopping: AtomicBool,
    registry: Registry,
    gauges: Gauges,
}

struct Gauges {
    store_up: Gauge,
    snapshot_seq: Gauge,
    snapshot_stale: Gauge,
    snapshot_age: Gauge,
    renewals_failing: Gauge,
    orders_failing: Gauge,
    earliest_expiry: Gauge,
    jobs_due: Family<Vec<(String, String)>, Gauge>,
    jobs_oldest_due: Family<Vec<(String, String)>, Gauge>,
    webhooks_retrying: Gauge,
    webhooks_abandoned: Gauge,
    silent_reporters: Gauge,
}

/// A role's state in `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    NotReady,
    Stopping,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::NotReady => "not_ready",
            State::Stopping => "stopping",
        }
    }
}

impl Ops {
    /// The reporter of a process running `roles`.
    pub(crate) fn new(
        roles: Roles,
        store: stsd_store::Store,
        health: StoreHealth,
        snapshots: Option<SnapshotHandle>,
        api: Option<stsd_api::AppState>,
    ) -> Arc<Ops> {
        let mut registry = Registry::default();
        registry.register(
            "stsd_build",
            "The running stsd build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let roles_info: Vec<(&str, String)> = vec![("roles", roles.to_string())];
        registry.register(
            "stsd_roles",
            "The roles this process runs",
            Info::new(roles_info),
        );
        let gauges = Gauges {
            store_up: Gauge::default(),
            snapshot_seq: Gauge::default(),
            snapshot_stale: Gauge::default(),
            snapshot_age: Gauge::default(),
            renewals_failing: Gauge::default(),
            orders_failing: Gauge::default(),
            earliest_expiry: Gauge::default(),
            jobs_due: Family::default(),
            jobs_oldest_due: Family::default(),
            webhooks_retrying: Gauge::default(),
            webhooks_abandoned: Gauge::default(),
            silent_reporters: Gauge::default(),
        };
        if roles.has(Role::Worker) {
            registry.register(
                "stsd_certificate_renewals_failing",
                "Served domains whose certificate renewal failed and is being retried (the valid certificate is still served)",
                gauges.renewals_failing.clone(),
            );
            registry.register(
                "stsd_certificate_orders_failing",
                "Domains waiting for their first certificate whose order failed and is being retried",
                gauges.orders_failing.clone(),
            );
            registry.register(
                "stsd_certificate_earliest_expiry_timestamp_seconds",
                "Unix time of the soonest expiry among served certificates; 0 when none is served",
                gauges.earliest_expiry.clone(),
            );
            registry.register(
                "stsd_jobs_due",
                "Jobs due now that no worker holds, by kind (the whole fleet's queue)",
                gauges.jobs_due.clone(),
            );
            registry.register(
                "stsd_jobs_oldest_due_seconds",
                "How long the longest-waiting due job of each kind has waited; 0 when none is due",
                gauges.jobs_oldest_due.clone(),
            );
            registry.register(
                "stsd_webhook_deliveries_retrying",
                "Webhook deliveries that failed at least once and are being retried",
                gauges.webhooks_retrying.clone(),
            );
            registry.register(
                "stsd_webhook_deliveries_abandoned_24h",
                "Webhook deliveries given up on after their last attempt failed, in the last 24 hours",
                gauges.webhooks_abandoned.clone(),
            );
            registry.register(
                "stsd_domains_silent_reporters",
                "Domains with a reporting organization that used to send TLS reports and went quiet",
                gauges.silent_reporters.clone(),
            );
        }
        registry.register(
            "stsd_store_up",
            "1 while the store answered its last health ping",
            gauges.store_up.clone(),
        );
        if snapshots.is_some() {
            registry.register(
                "stsd_snapshot_seq",
                "The change-feed position the serving snapshot reflects",
                gauges.snapshot_seq.clone(),
            );
            registry.register(
                "stsd_snapshot_stale",
                "1 while the store cannot be read and the last snapshot is served",
                gauges.snapshot_stale.clone(),
            );
            registry.register(
                "stsd_snapshot_age_seconds",
                "Seconds since the serving snapshot was last in step with the store",
                gauges.snapshot_age.clone(),
            );
        }
        Arc::new(Ops {
            roles,
            store,
            health,
            snapshots,
            api,
            stopping: AtomicBool::new(false),
            registry,
            gauges,
        })
    }

    /// Keeps the worker's fleet gauges current (certificates, job queues, webhook
    /// deliveries, silent reporters): reads the store every `every`, each read bounded, so
    /// that a scrape answers from memory even while the database is down. Runs until aborted.
    pub(crate) async fn watch_store(self: Arc<Self>, every: Duration) {
        loop {
            self.read_store().await;
            tokio::time::sleep(every).await;
        }
    }

    async fn read_store(&self) {
        const BOUND: Duration = Duration::from_secs(5);
        let all = self.store.all_tenants();
        match tokio::time::timeout(BOUND, all.certificate_health()).await {
            Ok(Ok(health)) => {
                self.gauges.renewals_failing.set(health.renewals_failing);
                self.gauges.orders_failing.set(health.orders_failing);
                self.gauges
                    .earliest_expiry
                    .set(health.earliest_expiry.map_or(0, |t| t.unix_timestamp()));
            }
            Ok(Err(err)) => tracing::debug!(error = %err, "cannot read certificate health"),
            Err(_) => tracing::debug!("reading certificate health timed out"),
        }
        let now = time::OffsetDateTime::now_utc();
        match tokio::time::timeout(BOUND, all.operations(now)).await {
            Ok(Ok(ops)) => {
                for job in &ops.jobs {
                    let labels = vec![("kind".to_owned(), job.kind.clone())];
                    self.gauges.jobs_due.get_or_create(&labels).set(job.due);
                    let waited = job
                        .oldest_due_at
                        .map_or(0, |t| (now - t).whole_seconds().max(0));
                    self.gauges
                        .jobs_oldest_due
                        .get_or_create(&labels)
                        .set(waited);
                }
                self.gauges
                    .webhooks_retrying
                    .set(ops.webhook_deliveries_retrying);
                self.gauges
                    .webhooks_abandoned
                    .set(ops.webhook_deliveries_abandoned_24h);
                self.gauges
                    .silent_reporters
                    .set(ops.domains_with_silent_reporters);
            }
            Ok(Err(err)) => tracing::debug!(error = %err, "cannot read the job queues"),
            Err(_) => tracing::debug!("reading the job queues timed out"),
        }
    }

    /// From now on every role answers `stopping` (SIGTERM).
    pub(crate) fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn role_state(&self, role: Role) -> State {
        if self.stopping.load(Ordering::Relaxed) {
            return State::Stopping;
        }
        let ready = if role.serves_snapshot() {
            // Loaded once, a snapshot is served until the process ends, stale or not.
            self.snapshots.is_some()
        } else {
            self.health.is_up()
        };
        if ready { State::Ready } else { State::NotReady }
    }

    /// Seconds since the snapshot was last in step with the store.
    fn snapshot_age(&self, snapshots: &SnapshotHandle) -> i64 {
        let status = snapshots.status();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if status.stale {
            now.saturating_sub(status.last_sync).max(0)
        } else {
            0
        }
    }

    fn readiness(&self, only: Option<&str>) -> (StatusCode, serde_json::Value) {
        let roles: Vec<(Role, State)> =
            self.roles.iter().map(|r| (r, self.role_state(r))).collect();
        let deciding: Vec<State> = match only {
            Some(name) => match roles.iter().find(|(r, _)| r.as_str() == name) {
                Some((_, s)) => vec![*s],
                None => {
                    return (
                        StatusCode::NOT_FOUND,
                        json!({ "error": format!("this process does not run the role `{name}`"),
                                "roles": self.roles.to_string() }),
                    );
                }
            },
            None if self.roles.serves_snapshot() => roles
                .iter()
                .filter(|(r, _)| r.serves_snapshot())
                .map(|(_, s)| *s)
                .collect(),
            None => roles.iter().map(|(_, s)| *s).collect(),
        };
        let state = if deciding.contains(&State::Stopping) {
            State::Stopping
        } else if deciding.iter().all(|s| *s == State::Ready) {
            State::Ready
        } else {
            State::NotReady
        };
        let mut body = json!({
            "status": state.as_str(),
            "roles": roles
                .iter()
                .map(|(r, s)| (r.as_str().to_owned(), json!(s.as_str())))
                .collect::<serde_json::Map<_, _>>(),
            "store": if self.health.is_up() { "up" } else { "down" },
        });
        if let Some(snapshots) = &self.snapshots {
            let status = snapshots.status();
            body["snapshot"] = json!({
                "seq": status.seq,
                "stale": status.stale,
                "age_seconds": self.snapshot_age(snapshots),
                "last_sync": status.last_sync,
                "from_copy": status.from_copy,
                "copy_written_at": status.copy_written_at,
            });
        }
        let code = if state == State::Ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (code, body)
    }

    fn metrics(&self) -> Result<String, std::fmt::Error> {
        self.gauges.store_up.set(i64::from(self.health.is_up()));
        if let Some(snapshots) = &self.snapshots {
            let status = snapshots.status();
            self.gauges.snapshot_seq.set(status.seq);
            self.gauges.snapshot_stale.set(i64::from(status.stale));
            self.gauges.snapshot_age.set(self.snapshot_age(snapshots));
        }
        let mut out = String::new();
        prometheus_text::encode(&mut out, &self.registry)?;
        if self.roles.has(Role::Worker) {
            jobs_text(&mut out, &self.store.job_counts())?;
        }
        if self.roles.receives_reports() {
            reports_text(&mut out, &self.store.report_counts())?;
        }
        if let Some(api) = &self.api {
            out.push_str(&api.metrics_text()?);
        }
        Ok(out)
    }

    fn answer(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
        }
        match req.uri().path() {
            "/healthz" => json_response(StatusCode::OK, &json!({ "status": "ok" })),
            "/readyz" => {
                let role = req
                    .uri()
                    .query()
                    .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("role=")));
                let (code, body) = self.readiness(role);
                json_response(code, &body)
            }
            "/metrics" => match self.metrics() {
                Ok(body) => {
                    let mut r = Response::new(Full::new(Bytes::from(body)));
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        header::HeaderValue::from_static(prometheus_text::CONTENT_TYPE),
                    );
                    r
                }
                Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n"),
            },
            _ => text(StatusCode::NOT_FOUND, "/healthz, /readyz or /metrics\n"),
        }
    }
}

/// `stsd_worker_jobs_total{kind, outcome}`: the jobs this worker ended (a job kind has no
/// series until one ended, so the counts are written here rather than registered).
fn jobs_text(out: &mut String, counts: &[stsd_store::JobCount]) -> std::fmt::Result {
    use std::fmt::Write;
    writeln!(
        out,
        "# HELP stsd_worker_jobs_total Jobs this worker ended, by kind and outcome (failed ones are retried)"
    )?;
    writeln!(out, "# TYPE stsd_worker_jobs_total counter")?;
    for c in counts {
        // Kinds are stsd's own constants (`verify`, `cert`, …), never input.
        writeln!(
            out,
            "stsd_worker_jobs_total{{kind=\"{}\",outcome=\"finished\"}} {}",
            c.kind, c.finished
        )?;
        writeln!(
            out,
            "stsd_worker_jobs_total{{kind=\"{}\",outcome=\"failed\"}} {}",
            c.kind, c.failed
        )?;
    }
    Ok(())
}

/// `stsd_reports_received_total{transport, outcome}`: TLS report bodies this process took in
/// (edge: HTTPS, smtp: mail), stored, duplicate, rejected (not a usable report) or failed
/// (the store failed; the sender retries). Every outcome of each receiving transport has a
/// series from the start, so that a rate over it is defined before the first failure.
fn reports_text(out: &mut String, counts: &[stsd_store::ReportCount]) -> std::fmt::Result {
    use std::fmt::Write;
    use stsd_store::ReportOutcome;
    writeln!(
        out,
        "# HELP stsd_reports_received_total TLS report bodies received by this process, by transport and outcome"
    )?;
    writeln!(out, "# TYPE stsd_reports_received_total counter")?;
    for transport in ["https", "smtp"] {
        for outcome in ReportOutcome::ALL {
            let n = counts
                .iter()
                .find(|c| c.transport == transport && c.outcome == outcome)
                .map_or(0, |c| c.count);
            writeln!(
                out,
                "stsd_reports_received_total{{transport=\"{transport}\",outcome=\"{}\"}} {n}",
                outcome.as_str()
            )?;
        }
    }
    Ok(())
}

fn text(code: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = code;
    r
}

fn json_response(code: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Serves the operations endpoints on `listener` until `stop` fires.
pub(crate) async fn serve(listener: TcpListener, ops: Arc<Ops>, mut stop: Shutdown) {
    // Scrapers and probes: a few connections, never many.
    let gate = ConnectionGate::new(GateLimits {
        max_connections: 64,
        max_per_client: 16,
    });
    let timeouts = HttpTimeouts {
        header: Duration::from_secs(5),
        idle: Duration::from_secs(30),
        lifetime: Duration::from_secs(300),
        grace: Duration::from_secs(1),
    };
    let builder = Arc::new(stsd_net::http::builder(
        &timeouts,
        &HttpSizes {
            max_header_bytes: 8 * 1024,
            max_streams: 8,
        },
    ));
    loop {
        let (tcp, peer): (_, SocketAddr) = tokio::select! {
            accepted = stsd_net::accept(&listener, "metrics") => accepted,
            () = stop.wait() => return,
        };
        let Ok(admission) = gate.admit(peer.ip()) else {
            continue;
        };
        let (ops, builder, stop) = (ops.clone(), builder.clone(), stop.clone());
        tokio::spawn(async move {
            let _admission = admission;
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let response = ops.answer(&req);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            stsd_net::serve_connection(builder, tcp, service, timeouts, stop).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serving_roles_stay_ready_without_the_store_and_others_do_not() {
        // A file, not `:memory:`: every pooled connection must see the same database.
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/stsd.db", dir.path().display());
        let store = stsd_store::Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let (health, ping) = store
            .monitor_health(Duration::from_millis(20), Duration::from_millis(200))
            .await;
        let key = Arc::new(stsd_store::MasterKey::from_bytes([7; 32]));
        let snapshots = SnapshotHandle::load(&store, key).await.unwrap();
        let roles = Roles::parse_list(&["edge", "api"]).unwrap();
        let ops = Ops::new(roles, store.clone(), health, Some(snapshots), None);
        let (code, body) = ops.readiness(None);
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["roles"]["api"], "ready");
        assert_eq!(body["snapshot"]["stale"], false);

        // The store goes away: the edge stays ready, the API does not.
        store.close().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (code, body) = ops.readiness(None);
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["store"], "down");
        assert_eq!(body["roles"]["edge"], "ready");
        assert_eq!(body["roles"]["api"], "not_ready");
        assert_eq!(
            ops.readiness(Some("api")).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(ops.readiness(Some("edge")).0, StatusCode::OK);
        assert_eq!(ops.readiness(Some("dns")).0, StatusCode::NOT_FOUND);
        let metrics = ops.metrics().unwrap();
        assert!(metrics.contains("stsd_store_up 0"), "{metrics}");
        assert!(
            metrics.contains("stsd_roles_info{roles=\"edge,api\"} 1"),
            "{metrics}"
        );

        // After SIGTERM every role answers `stopping`.
        ops.stopping();
        let (code, body) = ops.readiness(Some("edge"));
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "stopping");
        ping.abort();
    }

    #[tokio::test]
    async fn a_process_without_serving_roles_follows_the_store() {
        let store = stsd_store::Store::connect("sqlite::memory:").await.unwrap();
        let (health, ping) = store
            .monitor_health(Duration::from_millis(20), Duration::from_millis(200))
            .await;
        let ops = Ops::new(Roles::one(Role::Worker), store.clone(), health, None, None);
        assert_eq!(ops.readiness(None).0, StatusCode::OK);
        assert!(ops.metrics().unwrap().contains("stsd_worker_jobs_total"));
        store.close().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (code, body) = ops.readiness(None);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.get("snapshot").is_none());
        ping.abort();
    }
}
