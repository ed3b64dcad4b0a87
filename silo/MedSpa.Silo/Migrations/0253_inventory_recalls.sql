-- Lot numbers a tenant has recalled (issue 16 §4): the recall marks the lot recalled in every clinic that holds it,
-- and a lot with this number that arrives later (delivery or transfer) arrives recalled.

CREATE TABLE inventory_recalls (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    product_id         uuid NOT NULL,
    lot_number         text NOT NULL CHECK (length(lot_number) BETWEEN 1 AND 60),
    reason             text CHECK (reason IS NULL OR length(reason) <= 1000),
    recalled_by        uuid,
    recalled_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, product_id, lot_number),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
);

ALTER TABLE inventory_recalls ENABLE ROW LEVEL SECURITY;
ALTER TABLE inventory_recalls FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON inventory_recalls
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
