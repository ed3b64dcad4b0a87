-- Memberships: projections of the membership grains (the grain state is the commit point; these rows are written
-- from its outbox, idempotently) for lists, member pricing at checkout, charge history and reports.

CREATE TABLE memberships (
    tenant_id              uuid NOT NULL REFERENCES tenants (id),
    id                     uuid NOT NULL,
    patient_id             uuid NOT NULL,
    plan_id                uuid NOT NULL,
    clinic_id              uuid NOT NULL,
    plan_name              text NOT NULL,
    status                 text NOT NULL CHECK (status IN ('active', 'paused', 'past-due', 'cancelled', 'ended')),
    billing_interval       text NOT NULL CHECK (billing_interval IN ('monthly', 'annual')),
    price_amount           bigint NOT NULL,
    currency               text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    services_discount_percent numeric(5, 2) NOT NULL,
    products_discount_percent numeric(5, 2) NOT NULL,
    -- The clinics that honour the plan (empty: all), copied from the plan at enrolment.
    clinic_ids             uuid[] NOT NULL DEFAULT '{}',
    start_date             date NOT NULL,
    current_period         integer,
    current_period_start   date,
    current_period_end     date,
    next_charge_at         timestamptz,
    ends_on                date,
    version                bigint NOT NULL,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES membership_plans (tenant_id, id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

CREATE INDEX memberships_patient ON memberships (tenant_id, patient_id);

-- Every charge attempt of every period (keyed by the gateway idempotency key: period + attempt), and the skip of a
-- period whose retries all failed.
CREATE TABLE membership_charges (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    operation_id     text NOT NULL,
    membership_id    uuid NOT NULL,
    period           integer NOT NULL CHECK (period >= 0),
    attempt          integer NOT NULL CHECK (attempt >= 0),
    period_start     date NOT NULL,
    status           text NOT NULL CHECK (status IN ('succeeded', 'declined', 'failed', 'skipped')),
    amount           bigint NOT NULL CHECK (amount >= 0),
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    gateway          text,
    payment_id       text,
    decline_code     text,
    message          text,
    attempted_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, operation_id),
    FOREIGN KEY (tenant_id, membership_id) REFERENCES memberships (tenant_id, id)
);

CREATE INDEX membership_charges_membership ON membership_charges (tenant_id, membership_id, attempted_at);

-- Benefits used at checkout (committed membership tenders) and given back (released after a refund).
CREATE TABLE membership_benefit_usage (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    operation_id     text NOT NULL,
    membership_id    uuid NOT NULL,
    period           integer NOT NULL,
    invoice_id       uuid NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('used', 'released')),
    sessions         jsonb NOT NULL DEFAULT '[]',
    credit_amount    bigint NOT NULL DEFAULT 0,
    amount           bigint NOT NULL,
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    occurred_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, operation_id, kind),
    FOREIGN KEY (tenant_id, membership_id) REFERENCES memberships (tenant_id, id)
);

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE membership_charges ENABLE ROW LEVEL SECURITY;
ALTER TABLE membership_charges FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON membership_charges
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE membership_benefit_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE membership_benefit_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON membership_benefit_usage
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
