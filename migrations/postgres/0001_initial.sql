-- stsd schema, PostgreSQL flavour. Keep in step with ../sqlite/0001_initial.sql:
-- the store uses one portable code path, so column names and meanings must match.
-- Times are unix milliseconds (BIGINT) because the sqlx Any driver has no date type.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    disabled_at    BIGINT
);

CREATE TABLE memberships (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    token_hash   TEXT NOT NULL UNIQUE,
    invited_by   TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT
);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    scope         TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    created_by    TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id);

CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family_id   TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE domains (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    label             TEXT NOT NULL UNIQUE,
    ownership         TEXT NOT NULL CHECK (ownership IN ('cname', 'txt')),
    state             TEXT NOT NULL CHECK (state IN ('pending', 'verified', 'active', 'degraded', 'detached', 'offboarding', 'removed')),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    state_changed_at  BIGINT NOT NULL,
    live_version_id   TEXT,
    dns_version_id    TEXT,
    serve_until       BIGINT,
    last_checks       TEXT,
    last_checked_at   BIGINT
);
-- One live registration of a name per tenant; other tenants may register it too.
CREATE UNIQUE INDEX domains_tenant_name ON domains (tenant_id, name) WHERE state <> 'removed';
CREATE INDEX domains_name ON domains (name);
CREATE INDEX domains_tenant_state ON domains (tenant_id, state, name);

CREATE TABLE domain_transitions (
    id          BIGSERIAL PRIMARY KEY,
    domain_id   TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX domain_transitions_domain ON domain_transitions (domain_id, id);

CREATE TABLE policy_versions (
    id            TEXT PRIMARY KEY,
    domain_id     TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    policy_id     TEXT NOT NULL,
    mode          TEXT NOT NULL CHECK (mode IN ('none', 'testing', 'enforce')),
    mx            TEXT NOT NULL,
    max_age       BIGINT NOT NULL,
    body          TEXT NOT NULL,
    author        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    published_at  BIGINT,
    dns_at        BIGINT,
    UNIQUE (domain_id, policy_id)
);
CREATE INDEX policy_versions_domain ON policy_versions (domain_id, created_at);

-- The last policy id handed out per domain *name*, across every registration and tenant:
-- senders cache policies by name, so ids must never repeat for a name.
CREATE TABLE policy_id_sequences (
    domain_name  TEXT PRIMARY KEY,
    last_id      TEXT NOT NULL
);

CREATE TABLE certificates (
    id              TEXT PRIMARY KEY,
    domain_id       TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    chain_pem       TEXT NOT NULL,
    key_ciphertext  BYTEA NOT NULL,
    key_id          TEXT NOT NULL,
    not_before      BIGINT NOT NULL,
    not_after       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX certificates_domain ON certificates (domain_id, not_after);

CREATE TABLE acme_accounts (
    id                      TEXT PRIMARY KEY,
    directory_url           TEXT NOT NULL UNIQUE,
    contact                 TEXT,
    credentials_ciphertext  BYTEA NOT NULL,
    key_id                  TEXT NOT NULL,
    created_at              BIGINT NOT NULL
);

CREATE TABLE acme_challenges (
    token              TEXT PRIMARY KEY,
    domain_id          TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    key_authorization  TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL
);

CREATE TABLE jobs (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    run_at       BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    attempts     BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    UNIQUE (kind, subject)
);
CREATE INDEX jobs_due ON jobs (kind, run_at);

CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   TEXT,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    details     TEXT NOT NULL,
    client_ip   TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);

CREATE TABLE nodes (
    id            TEXT PRIMARY KEY,
    roles         TEXT NOT NULL,
    version       TEXT NOT NULL,
    snapshot_seq  BIGINT NOT NULL,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);

-- The change feed: every write that changes what edges or DNS serve appends a row in the
-- same transaction. Followers read it by sequence number.
CREATE TABLE changes (
    seq        BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL,
    domain_id  TEXT,
    at         BIGINT NOT NULL
);

-- Wakes followers on other nodes at commit time; the payload is the new sequence number.
CREATE FUNCTION stsd_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('stsd_changes', NEW.seq::text);
    RETURN NEW;
END;
$$;
CREATE TRIGGER changes_notify AFTER INSERT ON changes
    FOR EACH ROW EXECUTE FUNCTION stsd_notify_change();
