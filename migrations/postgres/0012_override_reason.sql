-- Why an owner or admin served a version in `enforce` although the readiness checks did not
-- pass (the enforce gate's override); NULL when the checks passed or did not apply.
ALTER TABLE policy_versions ADD COLUMN override_reason TEXT;
