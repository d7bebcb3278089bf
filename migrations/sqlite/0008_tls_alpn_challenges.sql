-- ACME TLS-ALPN-01 (RFC 8737) challenges next to HTTP-01 ones. `kind` is `http-01` or
-- `tls-alpn-01`; a TLS-ALPN-01 row names the `host` whose handshake answers it, and its
-- `key_authorization` holds the hex SHA-256 of the key authorization: the value the edge puts
-- in the acmeIdentifier extension of its self-signed challenge certificate.
ALTER TABLE acme_challenges ADD COLUMN kind TEXT NOT NULL DEFAULT 'http-01';
ALTER TABLE acme_challenges ADD COLUMN host TEXT;
