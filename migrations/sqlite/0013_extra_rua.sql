-- Report destinations of the customer's own `_smtp._tls` record, kept in the hosted record
-- next to stsd's when a domain moves from self-hosting (space-separated `rua` URIs in record
-- form; empty for none).
ALTER TABLE domains ADD COLUMN extra_rua TEXT NOT NULL DEFAULT '';
