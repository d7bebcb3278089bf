-- Alerts: signed webhooks per tenant. The signing secret is sealed under the master key
-- (the sender needs it back to sign). Deliveries form an outbox: rows are written in the
-- same transaction as the change they announce, and a worker sends them with retries.
CREATE TABLE webhooks (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url                TEXT NOT NULL,
    events             TEXT NOT NULL,
    secret_ciphertext  BLOB NOT NULL,
    key_id             TEXT NOT NULL,
    created_at         INTEGER NOT NULL
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id);

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event            TEXT NOT NULL,
    body             TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    delivered_at     INTEGER,
    failed_at        INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, created_at);
