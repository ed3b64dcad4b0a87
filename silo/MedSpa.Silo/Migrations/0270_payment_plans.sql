-- Payment plans (issue 18 §1): an open invoice's balance paid by installments on the patient's saved card. The plan
-- grain's state is the source of truth; these rows are its projection (lists per patient, reports, the history of
-- charge attempts). The money itself stays on the invoice: each installment is a card tender of the invoice.

CREATE TABLE payment_plans (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    invoice_id       uuid NOT NULL,
    patient_id       uuid NOT NULL,
    clinic_id        uuid NOT NULL,
    status           text NOT NULL CHECK (status IN ('active', 'past-due', 'completed', 'cancelled', 'written-off')),
    frequency        text NOT NULL CHECK (frequency IN ('weekly', 'every-two-weeks', 'monthly')),
    total_amount     bigint NOT NULL CHECK (total_amount > 0),
    paid_amount      bigint NOT NULL CHECK (paid_amount >= 0 AND paid_amount <= total_amount),
    currency         char(3) NOT NULL,
    installments     int NOT NULL CHECK (installments BETWEEN 1 AND 60),
    next_charge_at   timestamptz,
    version          bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    closed_at        timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX payment_plans_patient ON payment_plans (tenant_id, patient_id, created_at DESC);
CREATE INDEX payment_plans_invoice ON payment_plans (tenant_id, invoice_id) WHERE status IN ('active', 'past-due');

-- One row per charge attempt, keyed by its operation id (the invoice payment's operation id): a re-flush adds nothing.
CREATE TABLE payment_plan_charges (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    operation_id   text NOT NULL,
    plan_id        uuid NOT NULL,
    installment    int NOT NULL CHECK (installment >= 0),
    attempt        int NOT NULL CHECK (attempt >= 0),
    status         text NOT NULL CHECK (status IN ('succeeded', 'settled', 'declined')),
    amount         bigint NOT NULL CHECK (amount >= 0),
    currency       char(3) NOT NULL,
    decline_code   text,
    message        text,
    attempted_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, operation_id),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES payment_plans (tenant_id, id)
);

CREATE INDEX payment_plan_charges_plan ON payment_plan_charges (tenant_id, plan_id, attempted_at);

ALTER TABLE payment_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE payment_plans FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON payment_plans
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE payment_plan_charges ENABLE ROW LEVEL SECURITY;
ALTER TABLE payment_plan_charges FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON payment_plan_charges
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
