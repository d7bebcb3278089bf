//! Whether the store answers, known without asking it.
//!
//! A readiness probe must answer within a second whatever the database does; a ping through
//! the pool waits for a connection (up to the pool's acquire timeout, seconds) when the server
//! is gone. So a background task pings on its own schedule, each ping bounded in time, and
//! probes read the last result from memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use crate::clock::{now, to_ms};
use crate::db::Store;

/// The last known health of the store. Cheap to clone; reads take no lock.
#[derive(Debug, Clone)]
pub struct StoreHealth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    up: AtomicBool,
    /// Unix milliseconds of the last ping that answered; 0 before the first.
    last_ok_ms: AtomicI64,
}

impl StoreHealth {
    /// Whether the last ping answered.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Relaxed)
    }

    /// Unix milliseconds of the last ping that answered, if any did.
    pub fn last_ok_ms(&self) -> Option<i64> {
        Some(self.inner.last_ok_ms.load(Ordering::Relaxed)).filter(|ms| *ms > 0)
    }

    fn record(&self, ok: bool) {
        if ok {
            self.inner.last_ok_ms.store(to_ms(now()), Ordering::Relaxed);
        }
        let was = self.inner.up.swap(ok, Ordering::Relaxed);
        match (was, ok) {
            (true, false) => tracing::warn!("the store does not answer"),
            (false, true) => tracing::info!("the store answers"),
            _ => {}
        }
    }
}

impl Store {
    /// Pings the store every `interval`, each ping bounded by `timeout`, until the returned
    /// task is aborted; the first ping runs before this returns (bounded by `timeout` too).
    pub async fn monitor_health(
        &self,
        interval: Duration,
        timeout: Duration,
    ) -> (StoreHealth, tokio::task::JoinHandle<()>) {
        let health = StoreHealth {
            inner: Arc::new(Inner {
                up: AtomicBool::new(true),
                last_ok_ms: AtomicI64::new(0),
            }),
        };
        let ping = move |store: Store| async move {
            matches!(
                tokio::time::timeout(timeout, store.ping()).await,
                Ok(Ok(()))
            )
        };
        health.record(ping(self.clone()).await);
        let (store, watched) = (self.clone(), health.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                watched.record(ping(store.clone()).await);
            }
        });
        (health, task)
    }
}
