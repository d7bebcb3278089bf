-- Rate limits shared by every API node (GCRA): one row per limited key, e.g. the hash of
-- "login-account:" + an e-mail. `tat_ms` is the theoretical arrival time of the next event;
-- `prev_ms` the value it had before the last attempt, so that a single upsert tells whether
-- that attempt was allowed (it moved) or refused (it did not). A row whose `tat_ms` has passed
-- carries no state and is swept.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat_ms BIGINT NOT NULL,
    prev_ms BIGINT NOT NULL
);
CREATE INDEX rate_limits_tat ON rate_limits (tat_ms);

-- Expired refresh tokens are purged by the same housekeeping.
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
