-- The patient wallet's history (issue 14 §4): one row per change of a wallet grain, written from its outbox after the
-- grain state (the commit point). `sequence` is the wallet version the change produced, so a repeated write after a
-- crash conflicts and adds nothing. `amount` is what the balance moved (signed; a hold and its release move only
-- `reserved_after`). The ledger side is in journal_entries (see grains/Domain/Packages/WalletRules.cs, WalletLedger).

CREATE TABLE wallet_transactions (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    patient_id      uuid NOT NULL,
    sequence        bigint NOT NULL CHECK (sequence >= 1),
    operation_id    text NOT NULL CHECK (length(operation_id) BETWEEN 1 AND 200),
    kind            text NOT NULL CHECK (kind IN ('credit', 'adjustment', 'hold', 'release', 'spend', 'spend-undone')),
    amount          bigint NOT NULL,
    balance_after   bigint NOT NULL CHECK (balance_after >= 0),
    reserved_after  bigint NOT NULL CHECK (reserved_after >= 0),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    source          text CHECK (source IS NULL OR source IN ('wallet-package', 'overpayment', 'refund-to-credit', 'gift-card-transfer', 'adjustment')),
    reference       text CHECK (reference IS NULL OR length(reference) <= 200),
    invoice_id      uuid,
    clinic_id       uuid,
    created_by      uuid,
    note            text CHECK (note IS NULL OR length(note) <= 500),
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, patient_id, sequence)
);

CREATE INDEX wallet_transactions_invoice ON wallet_transactions (tenant_id, invoice_id) WHERE invoice_id IS NOT NULL;

ALTER TABLE wallet_transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE wallet_transactions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON wallet_transactions
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
