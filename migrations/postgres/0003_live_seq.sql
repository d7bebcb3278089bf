-- The change-feed position at which a version went live on the edges. DNS announces a
-- version's id only once every live edge node reports a snapshot at or after it.
ALTER TABLE policy_versions ADD COLUMN live_seq BIGINT;
