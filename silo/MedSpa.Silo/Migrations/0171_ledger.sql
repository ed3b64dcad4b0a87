-- The double-entry ledger of checkout. Entries are written from the invoice grains' outboxes, keyed by operation
-- id (a repeat insert is a no-op), and are append-only: a correction is a reversing entry.

CREATE TABLE journal_entries (
    tenant_id      uuid NOT NULL,
    operation_id   text NOT NULL CHECK (length(operation_id) BETWEEN 1 AND 200),
    clinic_id      uuid NOT NULL,
    invoice_id     uuid,
    kind           text NOT NULL,
    reference      text NOT NULL,
    -- The clinic's local date of the operation: what "the day" means for trial balance and cash reconciliation.
    business_date  date NOT NULL,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, operation_id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

CREATE INDEX journal_entries_clinic_date ON journal_entries (tenant_id, clinic_id, business_date);
CREATE INDEX journal_entries_invoice ON journal_entries (tenant_id, invoice_id) WHERE invoice_id IS NOT NULL;

CREATE TABLE journal_postings (
    tenant_id      uuid NOT NULL,
    operation_id   text NOT NULL,
    line_no        integer NOT NULL,
    account        text NOT NULL,
    account_kind   text NOT NULL,
    qualifier      text,
    side           text NOT NULL CHECK (side IN ('debit', 'credit')),
    amount         bigint NOT NULL CHECK (amount > 0),
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    PRIMARY KEY (tenant_id, operation_id, line_no),
    FOREIGN KEY (tenant_id, operation_id) REFERENCES journal_entries (tenant_id, operation_id)
);

CREATE INDEX journal_postings_account ON journal_postings (tenant_id, account_kind, qualifier);

-- Every entry balances per currency, checked at commit (the postings of one entry arrive row by row).
CREATE FUNCTION journal_entry_must_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM journal_postings
        WHERE tenant_id = NEW.tenant_id AND operation_id = NEW.operation_id
        GROUP BY currency
        HAVING sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END) <> 0
    ) THEN
        RAISE EXCEPTION 'journal entry % does not balance', NEW.operation_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER journal_postings_balance
    AFTER INSERT ON journal_postings
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION journal_entry_must_balance();

CREATE FUNCTION journal_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only (% on %)', TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_is_append_only();
CREATE TRIGGER journal_postings_append_only BEFORE UPDATE OR DELETE ON journal_postings
    FOR EACH ROW EXECUTE FUNCTION journal_is_append_only();

-- Cash counted in a clinic's drawer at the end of a day, against what the ledger expects.
CREATE TABLE cash_counts (
    tenant_id      uuid NOT NULL,
    id             uuid NOT NULL,
    clinic_id      uuid NOT NULL,
    business_date  date NOT NULL,
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    counted        bigint NOT NULL,
    expected       bigint NOT NULL,
    difference     bigint NOT NULL,
    counted_by     uuid NOT NULL,
    note           text CHECK (note IS NULL OR length(note) <= 2000),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

CREATE INDEX cash_counts_clinic_date ON cash_counts (tenant_id, clinic_id, business_date, created_at);
