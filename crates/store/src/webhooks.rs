//! Webhooks and their delivery outbox. An event is written as one delivery row per matching
//! webhook of the tenant, in the transaction of the change it announces where there is one,
//! so that no committed change goes unannounced and no rolled-back one is announced.

use time::OffsetDateTime;

use crate::Result;
use crate::all_tenants::AllTenants;
use crate::clock::{from_ms, now, to_ms};
use crate::db::Store;
use crate::error::StoreError;
use crate::ids::{TenantId, row_id};

/// Every event a webhook can subscribe to.
pub const WEBHOOK_EVENTS: [&str; 6] = [
    "domain.state_changed",
    "domain.checks_failing",
    "domain.mx_uncovered",
    "domain.reporters_silent",
    "certificate.failed",
    "ping",
];

/// A webhook of a tenant.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its id.
    pub id: String,
    /// The tenant.
    pub tenant_id: TenantId,
    /// Where events are POSTed.
    pub url: String,
    /// The events it receives.
    pub events: Vec<String>,
    /// The signing secret, sealed under the master key.
    pub secret_ciphertext: Vec<u8>,
    /// Which master key sealed it.
    pub key_id: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// One delivery of an event to a webhook, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id (also sent as `Stsd-Delivery`).
    pub id: String,
    /// The event.
    pub event: String,
    /// The JSON body sent.
    pub body: String,
    /// Attempts made.
    pub attempts: i64,
    /// When it is (re)tried next, while pending.
    pub next_attempt_at: OffsetDateTime,
    /// When the receiver acknowledged it with a 2xx.
    pub delivered_at: Option<OffsetDateTime>,
    /// When stsd gave up on it.
    pub failed_at: Option<OffsetDateTime>,
    /// The receiver's last HTTP status.
    pub last_status: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the event happened.
    pub created_at: OffsetDateTime,
}

/// A delivery claimed for sending, with what is needed to send it.
#[derive(Clone)]
pub struct DueDelivery {
    /// The delivery.
    pub id: String,
    /// The event.
    pub event: String,
    /// The JSON body.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The webhook's URL.
    pub url: String,
    /// The webhook's sealed signing secret.
    pub secret_ciphertext: Vec<u8>,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("id", &self.id)
            .field("event", &self.event)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: String,
    tenant_id: String,
    url: String,
    events: String,
    secret_ciphertext: Vec<u8>,
    key_id: String,
    created_at: i64,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;
    fn try_from(r: WebhookRow) -> Result<Webhook> {
        Ok(Webhook {
            id: r.id,
            tenant_id: TenantId::from_raw(r.tenant_id),
            url: r.url,
            events: r.events.split(',').map(str::to_owned).collect(),
            secret_ciphertext: r.secret_ciphertext,
            key_id: r.key_id,
            created_at: from_ms(r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: String,
    event: String,
    body: String,
    attempts: i64,
    next_attempt_at: i64,
    delivered_at: Option<i64>,
    failed_at: Option<i64>,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
}

const WEBHOOK_COLUMNS: &str = "id, tenant_id, url, events, secret_ciphertext, key_id, created_at";

/// Writes one delivery per webhook of `tenant` subscribed to `event`, inside `tx`.
pub(crate) async fn enqueue(
    tx: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    event: &str,
    body: &str,
) -> Result<u64> {
    let at = to_ms(now());
    let hooks: Vec<(String, String)> =
        sqlx::query_as("SELECT id, events FROM webhooks WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_all(&mut *tx)
            .await?;
    let mut n = 0;
    for (id, events) in hooks {
        if !events.split(',').any(|e| e == event || e == "*") {
            continue;
        }
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, body, attempts,
                 next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, 0, $5, $5)",
        )
        .bind(row_id())
        .bind(&id)
        .bind(event)
        .bind(body)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        n += 1;
    }
    Ok(n)
}

impl Store {
    /// Creates a webhook. `events` must be names from [`WEBHOOK_EVENTS`] (or `*`).
    pub async fn create_webhook(
        &self,
        tenant: &TenantId,
        url: &str,
        events: &[String],
        secret_ciphertext: &[u8],
        key_id: &str,
    ) -> Result<Webhook> {
        let hook = Webhook {
            id: row_id(),
            tenant_id: tenant.clone(),
            url: url.to_owned(),
            events: events.to_vec(),
            secret_ciphertext: secret_ciphertext.to_vec(),
            key_id: key_id.to_owned(),
            created_at: now(),
        };
        sqlx::query(
            "INSERT INTO webhooks (id, tenant_id, url, events, secret_ciphertext, key_id,
                 created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&hook.id)
        .bind(tenant.as_str())
        .bind(&hook.url)
        .bind(hook.events.join(","))
        .bind(hook.secret_ciphertext.clone())
        .bind(&hook.key_id)
        .bind(to_ms(hook.created_at))
        .execute(&self.pool)
        .await?;
        Ok(hook)
    }

    /// The tenant's webhooks, oldest first.
    pub async fn webhooks(&self, tenant: &TenantId) -> Result<Vec<Webhook>> {
        let rows: Vec<WebhookRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant_id = $1 ORDER BY created_at, id"
        )))
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Webhook::try_from).collect()
    }

    /// One webhook of the tenant.
    pub async fn webhook(&self, tenant: &TenantId, id: &str) -> Result<Option<Webhook>> {
        let row: Option<WebhookRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Webhook::try_from).transpose()
    }

    /// Deletes a webhook of the tenant with its deliveries; false when there was none.
    pub async fn delete_webhook(&self, tenant: &TenantId, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Announces `event` with the JSON `body` to the tenant's subscribed webhooks.
    pub async fn enqueue_event(&self, tenant: &TenantId, event: &str, body: &str) -> Result<u64> {
        let mut tx = self.begin().await?;
        let n = enqueue(&mut tx, tenant, event, body).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Announces `event` to one webhook of the tenant only (a test ping). A webhook of
    /// another tenant is "not found" and gets nothing.
    pub async fn enqueue_ping(
        &self,
        tenant: &TenantId,
        webhook_id: &str,
        body: &str,
    ) -> Result<String> {
        let id = row_id();
        let at = to_ms(now());
        let done = sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, body, attempts,
                 next_attempt_at, created_at)
             SELECT $1, id, 'ping', $3, 0, $4, $4 FROM webhooks WHERE id = $2 AND tenant_id = $5",
        )
        .bind(&id)
        .bind(webhook_id)
        .bind(body)
        .bind(at)
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("webhook"));
        }
        Ok(id)
    }

    /// The latest deliveries of one of the tenant's webhooks, newest first; none for another
    /// tenant's webhook.
    pub async fn webhook_deliveries(
        &self,
        tenant: &TenantId,
        webhook_id: &str,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT id, event, body, attempts, next_attempt_at, delivered_at, failed_at,
                    last_status, last_error, created_at
             FROM webhook_deliveries WHERE webhook_id = $1
               AND EXISTS (SELECT 1 FROM webhooks WHERE webhooks.id = $1
                           AND webhooks.tenant_id = $3)
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(webhook_id)
        .bind(limit)
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.id,
                    event: r.event,
                    body: r.body,
                    attempts: r.attempts,
                    next_attempt_at: from_ms(r.next_attempt_at)?,
                    delivered_at: r.delivered_at.map(from_ms).transpose()?,
                    failed_at: r.failed_at.map(from_ms).transpose()?,
                    last_status: r.last_status,
                    last_error: r.last_error,
                    created_at: from_ms(r.created_at)?,
                })
            })
            .collect()
    }
}

impl AllTenants<'_> {
    /// Claims up to `limit` due deliveries for `lease`: each is pushed `lease` into the future
    /// first, so that another worker does not send it too; a claim that lost the race to
    /// another worker is skipped. Every tenant's: for the webhook sender.
    pub async fn claim_due_deliveries(
        &self,
        limit: i64,
        lease: std::time::Duration,
    ) -> Result<Vec<DueDelivery>> {
        let at = to_ms(now());
        let until = at.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        type Row = (String, String, String, i64, i64, String, Vec<u8>);
        let due: Vec<Row> = sqlx::query_as(
            "SELECT d.id, d.event, d.body, d.attempts, d.next_attempt_at, w.url, w.secret_ciphertext
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= $1
             ORDER BY d.next_attempt_at LIMIT $2",
        )
        .bind(at)
        .bind(limit)
        .fetch_all(&self.store.pool)
        .await?;
        let mut claimed = Vec::new();
        for (id, event, body, attempts, next, url, secret_ciphertext) in due {
            let won = sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at = $1
                 WHERE id = $2 AND next_attempt_at = $3 AND delivered_at IS NULL",
            )
            .bind(until)
            .bind(&id)
            .bind(next)
            .execute(&self.store.pool)
            .await?;
            if won.rows_affected() == 1 {
                claimed.push(DueDelivery {
                    id,
                    event,
                    body,
                    attempts,
                    url,
                    secret_ciphertext,
                });
            }
        }
        Ok(claimed)
    }

    /// Records a delivery's outcome: delivered, or retried at `retry_at`, or given up when
    /// `retry_at` is `None`. For the webhook sender, whatever the webhook's tenant.
    pub async fn record_delivery(
        &self,
        id: &str,
        delivered: bool,
        status: Option<u16>,
        error: Option<&str>,
        retry_at: Option<OffsetDateTime>,
    ) -> Result<()> {
        let at = to_ms(now());
        let (delivered_at, failed_at, next) = match (delivered, retry_at) {
            (true, _) => (Some(at), None, at),
            (false, Some(t)) => (None, None, to_ms(t)),
            (false, None) => (None, Some(at), at),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = $1,
                 failed_at = $2, next_attempt_at = $3, last_status = $4, last_error = $5
             WHERE id = $6",
        )
        .bind(delivered_at)
        .bind(failed_at)
        .bind(next)
        .bind(status.map(i64::from))
        .bind(error)
        .bind(id)
        .execute(&self.store.pool)
        .await?;
        Ok(())
    }
}
