-- Planned moves to new MX hosts (a customer changing mail providers): one per registration,
-- the latest; the steps' versions and times as they happen. Patterns are newline-joined,
-- as in policy_versions.
CREATE TABLE mx_moves (
    domain_id         TEXT PRIMARY KEY REFERENCES domains(id) ON DELETE CASCADE,
    old_mx            TEXT NOT NULL,
    new_mx            TEXT NOT NULL,
    original_max_age  BIGINT NOT NULL,
    created_ms        BIGINT NOT NULL,
    move_ms           BIGINT NOT NULL,
    created_by        TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('active', 'done', 'cancelled')),
    cover_version     TEXT,
    shorten_version   TEXT,
    shortened_ms      BIGINT,
    finish_version    TEXT,
    ended_ms          BIGINT,
    waiting           TEXT
);
CREATE INDEX mx_moves_active ON mx_moves (state, move_ms);

-- When the verifier last looked for usual reporters that went silent: once an hour per
-- registration is plenty (a silence counts after days), not on every check run.
ALTER TABLE domains ADD COLUMN reporters_checked_ms BIGINT;

-- The key domain lists sort by (`DomainName::sort_key`: Unicode form without accents, numbers
-- in numeric order), written by stsd for each registration; `stsd migrate` fills it in for
-- registrations made before.
ALTER TABLE domains ADD COLUMN sort_key TEXT;
CREATE INDEX domains_tenant_sort ON domains (tenant_id, sort_key, name) WHERE state <> 'removed';
