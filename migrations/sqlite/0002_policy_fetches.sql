-- Policy fetches seen by the edges: per registration and UTC day, how many, and from which
-- sending networks (IPv4 /24, IPv6 /48; a capped JSON array), so customers can see that
-- the big senders fetched their policy.
CREATE TABLE policy_fetches (
    domain_id  TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    day        INTEGER NOT NULL,
    fetches    INTEGER NOT NULL,
    networks   TEXT NOT NULL,
    PRIMARY KEY (domain_id, day)
);
