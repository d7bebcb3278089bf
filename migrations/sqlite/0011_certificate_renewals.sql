-- When each certificate is to be renewed, and why then (ARI, RFC 9773, or the two-thirds
-- rule for CAs without it).
--
-- One row per certificate, written by the certificate worker; the edges never read it, so
-- it lives beside `certificates` rather than in it (a plan update is no certificate change).
-- `renew_at` is the random moment picked inside the window, kept until the window itself
-- changes, so the choice is stable across polls and restarts. `next_poll` (ARI only) is the
-- earliest time the CA's renewalInfo may be asked again (its Retry-After). Times are Unix
-- milliseconds, as everywhere else.
CREATE TABLE certificate_renewals (
    certificate_id   TEXT PRIMARY KEY REFERENCES certificates(id) ON DELETE CASCADE,
    source           TEXT NOT NULL CHECK (source IN ('ari', 'two_thirds')),
    window_start     INTEGER NOT NULL,
    window_end       INTEGER NOT NULL,
    renew_at         INTEGER NOT NULL,
    explanation_url  TEXT,
    next_poll        INTEGER,
    updated_at       INTEGER NOT NULL
);
