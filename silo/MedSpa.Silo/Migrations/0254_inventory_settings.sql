-- Per clinic and product inventory settings (issue 16 §1): the low-stock threshold (in the product's unit). Written
-- from the inventory grain's outbox; the grain keeps the threshold, this row lets reports list it.

CREATE TABLE inventory_settings (
    tenant_id            uuid NOT NULL REFERENCES tenants (id),
    clinic_id            uuid NOT NULL,
    product_id           uuid NOT NULL,
    low_stock_threshold  numeric(14, 3) CHECK (low_stock_threshold IS NULL OR low_stock_threshold >= 0),
    version              bigint NOT NULL,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, clinic_id, product_id)
);

ALTER TABLE inventory_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE inventory_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON inventory_settings
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
