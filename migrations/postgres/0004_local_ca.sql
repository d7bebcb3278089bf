-- The development CA of the `local` issuer (STSD_ACME_DIRECTORY=local). One row: every node
-- signs with the same CA, whose root `stsd admin local-ca-root` prints. The key is sealed
-- under the master key like every other private key.
CREATE TABLE local_ca (
    id              TEXT PRIMARY KEY,
    cert_pem        TEXT NOT NULL,
    key_ciphertext  BYTEA NOT NULL,
    key_id          TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
