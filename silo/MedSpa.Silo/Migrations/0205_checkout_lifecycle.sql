-- Issue 12 §8/§9: why an entry was made (price overrides, write-offs, tip adjustments), and the payments list.

ALTER TABLE journal_entries ADD COLUMN memo text CHECK (memo IS NULL OR length(memo) <= 4000);

-- Every movement on a card as the processor's batch shows it, per clinic and business day: charges (captured),
-- authorisations released without capture (a split payment undone), refunds (including tip-adjustment refunds).
-- Written from the invoice grain's outbox, keyed by operation id, so a repeated flush adds nothing.
CREATE TABLE card_transactions (
    tenant_id          uuid NOT NULL,
    operation_id       text NOT NULL CHECK (length(operation_id) BETWEEN 1 AND 200),
    clinic_id          uuid NOT NULL,
    invoice_id         uuid NOT NULL,
    invoice_number     text,
    tender_id          uuid NOT NULL,
    tender_kind        text NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('charge', 'authorization', 'refund')),
    status             text NOT NULL,
    gateway            text NOT NULL,
    payment_id         text NOT NULL,
    gateway_refund_id  text,
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount             bigint NOT NULL CHECK (amount > 0),
    card_brand         text,
    card_last4         text,
    business_date      date NOT NULL,
    occurred_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, operation_id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

CREATE INDEX card_transactions_clinic_day ON card_transactions (tenant_id, clinic_id, business_date, occurred_at);
