-- Open-vial sessions (issue 16 §1): a reconstituted vial of a lot, its stability window and what is left; closing it
-- records the waste reason, who and when. A projection of the inventory grain (version: see 0250).

CREATE TABLE inventory_vials (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    clinic_id          uuid NOT NULL,
    product_id         uuid NOT NULL,
    id                 uuid NOT NULL,
    lot_number         text NOT NULL,
    reconstituted_at   timestamptz NOT NULL,
    stable_until       timestamptz,
    diluent            text CHECK (diluent IS NULL OR length(diluent) <= 100),
    diluent_ml         numeric(8, 3),
    units_per_ml       numeric(12, 3),
    quantity_opened    numeric(14, 3) NOT NULL CHECK (quantity_opened >= 0),
    quantity_left      numeric(14, 3) NOT NULL CHECK (quantity_left >= 0),
    opened_by          uuid,
    closed             boolean NOT NULL DEFAULT false,
    closed_reason      text CHECK (closed_reason IS NULL OR closed_reason IN ('depleted', 'expired', 'stability-exceeded', 'contamination', 'manual')),
    closed_at          timestamptz,
    closed_by          uuid,
    note               text CHECK (note IS NULL OR length(note) <= 1000),
    version            bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX inventory_vials_open ON inventory_vials (tenant_id, clinic_id, product_id) WHERE NOT closed;

ALTER TABLE inventory_vials ENABLE ROW LEVEL SECURITY;
ALTER TABLE inventory_vials FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON inventory_vials
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
