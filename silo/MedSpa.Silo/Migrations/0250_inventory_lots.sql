-- Injectable lots held by a clinic (issue 16 §1): a projection of the inventory grain of the clinic and product
-- (grains/Inventory/InventoryGrain.cs), written from its outbox after the grain state (the commit point). `version` is
-- the grain version of the snapshot, so an older snapshot written again after a crash never overwrites a newer one.
-- Quantities are numeric in the product's unit (12.5 units, 0.3 ml); money is integer cents.

CREATE TABLE inventory_lots (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    clinic_id          uuid NOT NULL,
    product_id         uuid NOT NULL,
    lot_number         text NOT NULL CHECK (length(lot_number) BETWEEN 1 AND 60),
    expires_on         date NOT NULL,
    status             text NOT NULL CHECK (status IN ('available', 'quarantine', 'expired', 'recalled', 'depleted', 'damaged')),
    quantity_received  numeric(14, 3) NOT NULL CHECK (quantity_received >= 0),
    quantity_on_hand   numeric(14, 3) NOT NULL CHECK (quantity_on_hand >= 0),
    unit_cost_amount   bigint NOT NULL CHECK (unit_cost_amount >= 0),
    cost_on_hand       bigint NOT NULL CHECK (cost_on_hand >= 0),
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    supplier           text CHECK (supplier IS NULL OR length(supplier) <= 200),
    received_by        uuid,
    received_at        timestamptz NOT NULL,
    version            bigint NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, clinic_id, product_id, lot_number),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
);

-- Which clinics hold a lot number (a recall marks it everywhere) and what expires soon.
CREATE INDEX inventory_lots_lot ON inventory_lots (tenant_id, product_id, lot_number);
CREATE INDEX inventory_lots_expiry ON inventory_lots (tenant_id, expires_on) WHERE status IN ('available', 'quarantine');

ALTER TABLE inventory_lots ENABLE ROW LEVEL SECURITY;
ALTER TABLE inventory_lots FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON inventory_lots
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
