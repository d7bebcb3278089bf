-- Reporters announced as silent for a registration (`domain.reporters_silent`): one row per
-- organization, with the arrival time of its last report, so that one silence is announced
-- once and a new one (after reports resumed) again.
CREATE TABLE reporter_silences (
    domain_id         TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    organization      TEXT NOT NULL,
    last_received_ms  BIGINT NOT NULL,
    PRIMARY KEY (domain_id, organization)
);
