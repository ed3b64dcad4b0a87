-- Package usage history (issue 14): one row per redemption or checkout reservation (keyed by its operation id within
-- the purchase), written from the balance grain's outbox and updated as its state moves (reserved → committed /
-- released, committed → reversed) — never older over newer (version). Who, what, when, where and by whom; the
-- ledger side is in journal_entries.

CREATE TABLE package_redemptions (
    tenant_id             uuid NOT NULL REFERENCES tenants (id),
    purchase_id           uuid NOT NULL,
    operation_id          text NOT NULL CHECK (length(operation_id) BETWEEN 1 AND 100),
    origin                text NOT NULL CHECK (origin IN ('front-desk', 'checkout')),
    state                 text NOT NULL CHECK (state IN ('reserved', 'committed', 'released', 'reversed')),
    service_id            uuid NOT NULL,
    service_name          text NOT NULL,
    quantity              integer NOT NULL CHECK (quantity >= 0),
    free_sessions         integer NOT NULL CHECK (free_sessions >= 0),
    value                 bigint NOT NULL CHECK (value >= 0),
    additional_charge     bigint NOT NULL CHECK (additional_charge >= 0),
    staff_compensation    bigint NOT NULL CHECK (staff_compensation >= 0),
    currency              text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    patient_id            uuid NOT NULL,
    clinic_id             uuid NOT NULL,
    provider_id           uuid,
    visit_id              uuid,
    invoice_id            uuid,
    redeemed_at           timestamptz NOT NULL,
    redeemed_by           uuid NOT NULL,
    recorded_at           timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    reversal_operation_id text,
    reversed_by           uuid,
    reversal_reason       text,
    version               bigint NOT NULL,
    PRIMARY KEY (tenant_id, purchase_id, operation_id),
    FOREIGN KEY (tenant_id, purchase_id) REFERENCES package_purchases (tenant_id, id)
);

CREATE INDEX package_redemptions_purchase ON package_redemptions (tenant_id, purchase_id, redeemed_at);
CREATE INDEX package_redemptions_patient ON package_redemptions (tenant_id, patient_id, redeemed_at);

ALTER TABLE package_redemptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE package_redemptions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON package_redemptions
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
