-- How each report's origin was established, and which reports count.
--
-- `origin`: `upload` (a member uploaded it), `dkim` (mail with a valid DKIM signature of the
-- reporting domain), `unauthenticated_mail` (mail without one: never counted, RFC 8460
-- §4.3), `verified_https` (POSTed from an address whose forward-confirmed reverse DNS name
-- lies within the organizational domain the report names), `unverified_https` (any other
-- POST: RFC 8460 asks no proof of origin over HTTPS, so anyone can send one).
--
-- `counted` keeps meaning "in the daily rollups"; the rollups now hold authenticated and
-- unverified reports apart (`trust`), and summaries add the unverified ones only for tenants
-- that chose to count them (`tenants.count_unverified_https`, off by default), so the choice
-- applies to the whole history, purged reports included.
ALTER TABLE tlsrpt_reports ADD COLUMN origin TEXT NOT NULL DEFAULT 'unverified_https';
-- Reports so far: HTTPS ones were never checked. A mail copy without a valid signature that
-- counted did so because an HTTPS copy (or an upload: the row cannot tell) came later; it is
-- taken as HTTPS, the weaker, and counts again once a member uploads it or a signed copy comes.
UPDATE tlsrpt_reports SET origin = CASE
    WHEN transport = 'upload' THEN 'upload'
    WHEN transport = 'smtp' AND dkim = 'pass' THEN 'dkim'
    WHEN transport = 'smtp' AND counted <> 0 THEN 'unverified_https'
    WHEN transport = 'smtp' THEN 'unauthenticated_mail'
    ELSE 'unverified_https'
END;

ALTER TABLE tenants ADD COLUMN count_unverified_https BIGINT NOT NULL DEFAULT 0;

-- The rollups get `trust` in their key (`authenticated` or `unverified`).
ALTER TABLE tlsrpt_daily ADD COLUMN trust TEXT NOT NULL DEFAULT 'authenticated';
ALTER TABLE tlsrpt_daily ALTER COLUMN trust DROP DEFAULT;
ALTER TABLE tlsrpt_daily DROP CONSTRAINT tlsrpt_daily_pkey;
ALTER TABLE tlsrpt_daily ADD PRIMARY KEY (domain_id, day, organization, trust);
ALTER TABLE tlsrpt_daily_failures ADD COLUMN trust TEXT NOT NULL DEFAULT 'authenticated';
ALTER TABLE tlsrpt_daily_failures ALTER COLUMN trust DROP DEFAULT;
ALTER TABLE tlsrpt_daily_failures DROP CONSTRAINT tlsrpt_daily_failures_pkey;
ALTER TABLE tlsrpt_daily_failures
    ADD PRIMARY KEY (domain_id, day, organization, trust, result_type, receiving_mx);

-- The counted HTTPS reports still kept move from the authenticated rollups to the unverified
-- ones (those already purged stay where they are: what they said is gone). A report's
-- failures per result type and MX are the largest over its policies, as on ingest.
INSERT INTO tlsrpt_daily (domain_id, day, organization, trust, reports, successful_sessions,
        failed_sessions)
    SELECT domain_id, day, organization, 'unverified', COUNT(*), SUM(successful_sessions),
        SUM(failed_sessions)
    FROM tlsrpt_reports WHERE origin = 'unverified_https' AND counted <> 0
    GROUP BY domain_id, day, organization;
UPDATE tlsrpt_daily SET
    reports = reports - (SELECT u.reports FROM tlsrpt_daily u
        WHERE u.domain_id = tlsrpt_daily.domain_id AND u.day = tlsrpt_daily.day
          AND u.organization = tlsrpt_daily.organization AND u.trust = 'unverified'),
    successful_sessions = successful_sessions - (SELECT u.successful_sessions
        FROM tlsrpt_daily u
        WHERE u.domain_id = tlsrpt_daily.domain_id AND u.day = tlsrpt_daily.day
          AND u.organization = tlsrpt_daily.organization AND u.trust = 'unverified'),
    failed_sessions = failed_sessions - (SELECT u.failed_sessions FROM tlsrpt_daily u
        WHERE u.domain_id = tlsrpt_daily.domain_id AND u.day = tlsrpt_daily.day
          AND u.organization = tlsrpt_daily.organization AND u.trust = 'unverified')
WHERE trust = 'authenticated' AND EXISTS (SELECT 1 FROM tlsrpt_daily u
        WHERE u.domain_id = tlsrpt_daily.domain_id AND u.day = tlsrpt_daily.day
          AND u.organization = tlsrpt_daily.organization AND u.trust = 'unverified');
DELETE FROM tlsrpt_daily WHERE reports <= 0;

INSERT INTO tlsrpt_daily_failures (domain_id, day, organization, trust, result_type,
        receiving_mx, failed_sessions)
    SELECT r.domain_id, r.day, r.organization, 'unverified', m.result_type, m.receiving_mx,
        SUM(m.n)
    FROM tlsrpt_reports r JOIN (
        SELECT report_id, result_type, receiving_mx, MAX(n) AS n FROM (
            SELECT report_id, policy_idx, result_type,
                COALESCE(receiving_mx_hostname, receiving_ip, '') AS receiving_mx,
                SUM(failed_sessions) AS n
            FROM tlsrpt_failures
            GROUP BY report_id, policy_idx, result_type,
                COALESCE(receiving_mx_hostname, receiving_ip, '')
        ) per_policy
        GROUP BY report_id, result_type, receiving_mx
    ) m ON m.report_id = r.id
    WHERE r.origin = 'unverified_https' AND r.counted <> 0
    GROUP BY r.domain_id, r.day, r.organization, m.result_type, m.receiving_mx;
UPDATE tlsrpt_daily_failures SET
    failed_sessions = failed_sessions - (SELECT u.failed_sessions FROM tlsrpt_daily_failures u
        WHERE u.domain_id = tlsrpt_daily_failures.domain_id
          AND u.day = tlsrpt_daily_failures.day
          AND u.organization = tlsrpt_daily_failures.organization
          AND u.result_type = tlsrpt_daily_failures.result_type
          AND u.receiving_mx = tlsrpt_daily_failures.receiving_mx
          AND u.trust = 'unverified')
WHERE trust = 'authenticated' AND EXISTS (SELECT 1 FROM tlsrpt_daily_failures u
        WHERE u.domain_id = tlsrpt_daily_failures.domain_id
          AND u.day = tlsrpt_daily_failures.day
          AND u.organization = tlsrpt_daily_failures.organization
          AND u.result_type = tlsrpt_daily_failures.result_type
          AND u.receiving_mx = tlsrpt_daily_failures.receiving_mx
          AND u.trust = 'unverified');
DELETE FROM tlsrpt_daily_failures WHERE trust = 'authenticated' AND failed_sessions <= 0
    AND EXISTS (SELECT 1 FROM tlsrpt_daily_failures u
        WHERE u.domain_id = tlsrpt_daily_failures.domain_id
          AND u.day = tlsrpt_daily_failures.day
          AND u.organization = tlsrpt_daily_failures.organization
          AND u.result_type = tlsrpt_daily_failures.result_type
          AND u.receiving_mx = tlsrpt_daily_failures.receiving_mx
          AND u.trust = 'unverified');
