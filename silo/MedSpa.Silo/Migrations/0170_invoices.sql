-- Invoices: the header projection of the invoice grains (the grain state is the commit point; this table is for
-- listing and search), and the per-clinic, per-year number counter.

CREATE TABLE invoices (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL,
    clinic_id     uuid NOT NULL,
    patient_id    uuid,
    -- INV-YYYY-NNNN; null while draft. Assigned in the same transaction that advances invoice_number_counters.
    number        text,
    number_year   integer,
    number_seq    bigint,
    status        text NOT NULL CHECK (status IN ('draft', 'open', 'partially-paid', 'paid', 'refunded', 'void')),
    currency      text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    subtotal      bigint NOT NULL DEFAULT 0,
    discounts     bigint NOT NULL DEFAULT 0,
    tax           bigint NOT NULL DEFAULT 0,
    tips          bigint NOT NULL DEFAULT 0,
    total         bigint NOT NULL DEFAULT 0,
    paid          bigint NOT NULL DEFAULT 0,
    refunded      bigint NOT NULL DEFAULT 0,
    balance_due   bigint NOT NULL DEFAULT 0,
    -- The grain's state version this row reflects: an older projection never overwrites a newer one.
    version       bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    opened_at     timestamptz,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

CREATE UNIQUE INDEX invoices_number_unique ON invoices (tenant_id, clinic_id, number) WHERE number IS NOT NULL;
CREATE UNIQUE INDEX invoices_number_seq_unique ON invoices (tenant_id, clinic_id, number_year, number_seq) WHERE number_seq IS NOT NULL;
CREATE INDEX invoices_clinic_created ON invoices (tenant_id, clinic_id, created_at DESC);
CREATE INDEX invoices_patient ON invoices (tenant_id, patient_id) WHERE patient_id IS NOT NULL;

-- The last number given out per clinic and year. The UPDATE row lock serialises concurrent finalisations of one
-- clinic, and the number is written to the invoice row in the same transaction, so a rollback returns it unused.
CREATE TABLE invoice_number_counters (
    tenant_id      uuid NOT NULL,
    clinic_id      uuid NOT NULL,
    year           integer NOT NULL,
    last_sequence  bigint NOT NULL CHECK (last_sequence >= 0),
    PRIMARY KEY (tenant_id, clinic_id, year),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);
