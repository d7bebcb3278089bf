-- TLS-RPT reports (RFC 8460) received for a registration: the raw report (gzip), the
-- normalized report, its policies and failure details, and daily rollups maintained on
-- ingest so that summaries do not scan reports.
--
-- A report id is unique only per reporting organization, and the same report may arrive by
-- mail and by HTTPS: (registration, organization, report id, policy domain) is unique, with
-- '' standing for a report without a policy domain.
CREATE TABLE tlsrpt_reports (
    id                   TEXT PRIMARY KEY,
    domain_id            TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    organization         TEXT NOT NULL,
    report_id            TEXT NOT NULL,
    policy_domain        TEXT NOT NULL,
    contact              TEXT,
    start_ms             BIGINT NOT NULL,
    end_ms               BIGINT NOT NULL,
    day                  BIGINT NOT NULL,
    transport            TEXT NOT NULL,
    media_type           TEXT NOT NULL,
    media_type_flagged   BIGINT NOT NULL,
    domain_mismatch      BIGINT NOT NULL,
    counted              BIGINT NOT NULL,
    successful_sessions  BIGINT NOT NULL,
    failed_sessions      BIGINT NOT NULL,
    raw_gzip             BYTEA NOT NULL,
    received_ms          BIGINT NOT NULL,
    UNIQUE (domain_id, organization, report_id, policy_domain)
);
CREATE INDEX tlsrpt_reports_by_start ON tlsrpt_reports (domain_id, start_ms, id);

-- Policy strings and MX hosts are stored one per line.
CREATE TABLE tlsrpt_policies (
    report_id            TEXT NOT NULL REFERENCES tlsrpt_reports(id) ON DELETE CASCADE,
    idx                  BIGINT NOT NULL,
    policy_type          TEXT NOT NULL,
    policy_domain        TEXT,
    policy_strings       TEXT NOT NULL,
    mx_hosts             TEXT NOT NULL,
    successful_sessions  BIGINT NOT NULL,
    failed_sessions      BIGINT NOT NULL,
    PRIMARY KEY (report_id, idx)
);

CREATE TABLE tlsrpt_failures (
    report_id               TEXT NOT NULL REFERENCES tlsrpt_reports(id) ON DELETE CASCADE,
    policy_idx              BIGINT NOT NULL,
    idx                     BIGINT NOT NULL,
    result_type             TEXT NOT NULL,
    sending_mta_ip          TEXT,
    receiving_mx_hostname   TEXT,
    receiving_mx_helo       TEXT,
    receiving_ip            TEXT,
    failed_sessions         BIGINT NOT NULL,
    additional_information  TEXT,
    failure_reason_code     TEXT,
    PRIMARY KEY (report_id, policy_idx, idx)
);

-- Per registration, UTC day of the report's start and reporting organization: reports and
-- sessions (each report's largest policy, never the sum over its policies).
CREATE TABLE tlsrpt_daily (
    domain_id            TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    day                  BIGINT NOT NULL,
    organization         TEXT NOT NULL,
    reports              BIGINT NOT NULL,
    successful_sessions  BIGINT NOT NULL,
    failed_sessions      BIGINT NOT NULL,
    PRIMARY KEY (domain_id, day, organization)
);

-- Failed sessions per registration × day × organization × result type × receiving MX
-- (host name, else IP, else '').
CREATE TABLE tlsrpt_daily_failures (
    domain_id        TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    day              BIGINT NOT NULL,
    organization     TEXT NOT NULL,
    result_type      TEXT NOT NULL,
    receiving_mx     TEXT NOT NULL,
    failed_sessions  BIGINT NOT NULL,
    PRIMARY KEY (domain_id, day, organization, result_type, receiving_mx)
);
