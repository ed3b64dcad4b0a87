-- Every change of a clinic's stock (issue 16 §1): receive, use, return, waste, adjustment, count, transfers, status
-- changes and vial openings, written from the inventory grain's outbox. `sequence` is per clinic and product, so a
-- repeated write conflicts and adds nothing; `operation_id` is unique per clinic and product (a use taken from two lots
-- has `op` and `op:2`; `use_operation_id` is the use's own id on both and on their returns). Use rows carry the lot,
-- product, clinic, patient, visit, chart, provider and quantity: the recall query reads them (`returned` is set when the
-- use was undone). `quantity` is what the lot's on-hand moved by (signed), `cost` the cents that moved (signed).

CREATE TABLE inventory_movements (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    clinic_id          uuid NOT NULL,
    product_id         uuid NOT NULL,
    sequence           bigint NOT NULL CHECK (sequence >= 1),
    operation_id       text NOT NULL CHECK (length(operation_id) BETWEEN 1 AND 200),
    kind               text NOT NULL CHECK (kind IN ('receive', 'use', 'return', 'waste', 'adjustment', 'count', 'transfer-out',
                                                     'transfer-in', 'status-change', 'vial-opened')),
    lot_number         text NOT NULL,
    quantity           numeric(14, 3) NOT NULL,
    cost               bigint NOT NULL,
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    vial_id            uuid,
    visit_id           uuid,
    chart_id           uuid,
    provider_id        uuid,
    patient_id         uuid,
    other_clinic_id    uuid,
    use_operation_id   text,
    returned           boolean NOT NULL DEFAULT false,
    created_by         uuid,
    reason             text CHECK (reason IS NULL OR length(reason) <= 1000),
    occurred_at        timestamptz NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, clinic_id, product_id, sequence),
    UNIQUE (tenant_id, clinic_id, product_id, operation_id)
);

CREATE INDEX inventory_movements_lot ON inventory_movements (tenant_id, lot_number, product_id) WHERE kind = 'use';
CREATE INDEX inventory_movements_time ON inventory_movements (tenant_id, occurred_at, kind);
CREATE INDEX inventory_movements_lot_history ON inventory_movements (tenant_id, clinic_id, product_id, lot_number, sequence);

ALTER TABLE inventory_movements ENABLE ROW LEVEL SECURITY;
ALTER TABLE inventory_movements FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON inventory_movements
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
