-- A package balance grain keeps only its recent and unsettled redemptions in memory (issue 14 §7: the state every
-- write carries must not grow with the package's history). An older redemption is read back from its row when its
-- operation id is replayed, or when it is reversed or released: the row carries what the grain needs for that — the
-- request's fingerprint (a different request under the same id is a conflict), exactly what it took (restored as is)
-- and the income category its revenue went to (a reversal mirrors it).

ALTER TABLE package_redemptions
    ADD COLUMN fingerprint text,
    ADD COLUMN take bigint[] CHECK (take IS NULL OR cardinality(take) = 9),
    ADD COLUMN income_category text;

-- A replayed reversal is found by its own operation id.
CREATE INDEX package_redemptions_reversal ON package_redemptions (tenant_id, purchase_id, reversal_operation_id)
    WHERE reversal_operation_id IS NOT NULL;
