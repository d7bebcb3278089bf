-- Certificates of stsd's own hosts in the service zone (`reports.<zone>`, where reporters
-- POST TLS reports), kept apart from customers' certificates: no registration owns them.
CREATE TABLE service_certificates (
    id              TEXT PRIMARY KEY,
    host            TEXT NOT NULL,
    chain_pem       TEXT NOT NULL,
    key_ciphertext  BLOB NOT NULL,
    key_id          TEXT NOT NULL,
    not_before      INTEGER NOT NULL,
    not_after       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX service_certificates_host ON service_certificates (host, not_after);

-- An HTTP-01 challenge for a service host belongs to no registration. SQLite cannot drop a
-- NOT NULL constraint, so the table is rebuilt (nothing references it).
CREATE TABLE acme_challenges_new (
    token              TEXT PRIMARY KEY,
    domain_id          TEXT REFERENCES domains(id) ON DELETE CASCADE,
    key_authorization  TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL
);
INSERT INTO acme_challenges_new SELECT token, domain_id, key_authorization, created_at, expires_at
    FROM acme_challenges;
DROP TABLE acme_challenges;
ALTER TABLE acme_challenges_new RENAME TO acme_challenges;

-- Reports delivered by mail: the DKIM verdict (`pass`, `fail`, `none`, `length_limited`; NULL
-- for other transports) and notes where the message's headers and the report disagree.
ALTER TABLE tlsrpt_reports ADD COLUMN dkim TEXT;
ALTER TABLE tlsrpt_reports ADD COLUMN flags TEXT NOT NULL DEFAULT '';

-- How long a tenant's reports are kept (by their start date). The daily rollups stay, so
-- summaries keep their history after the reports are gone.
ALTER TABLE tenants ADD COLUMN report_retention_days INTEGER NOT NULL DEFAULT 400;
