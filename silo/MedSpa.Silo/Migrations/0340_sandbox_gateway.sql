-- The sandbox card processor's own records (the default gateway without a Stripe key), shared by every api host and
-- silo so that a card saved through one host is charged by a grain on any silo. These are the processor's side, like
-- Stripe's account: payment_customers / saved_cards / card_payments remain the clinic's side.
CREATE TABLE sandbox_customers (
    tenant_id                  uuid NOT NULL REFERENCES tenants (id),
    id                         text NOT NULL,
    patient_id                 uuid NOT NULL,
    default_payment_method_id  text,
    next_attach_sequence       bigint NOT NULL DEFAULT 0,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE sandbox_payment_methods (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           text NOT NULL,
    profile      jsonb NOT NULL,
    customer_id  text,
    attached_at  bigint NOT NULL DEFAULT 0,
    detached     boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX sandbox_payment_methods_customer ON sandbox_payment_methods (tenant_id, customer_id) WHERE customer_id IS NOT NULL;

CREATE TABLE sandbox_payments (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    id                 text NOT NULL,
    payment_method_id  text NOT NULL,
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount             bigint NOT NULL CHECK (amount > 0),
    captured           bigint NOT NULL CHECK (captured >= 0 AND captured <= amount),
    refunded           bigint NOT NULL CHECK (refunded >= 0 AND refunded <= captured),
    status             int NOT NULL,
    card               jsonb NOT NULL,
    decline_code       text,
    message            text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- The first answer to each idempotency key, for 24 hours (as Stripe keeps them).
CREATE TABLE sandbox_idempotency_keys (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    key          text NOT NULL,
    fingerprint  text NOT NULL,
    answer       jsonb NOT NULL,
    answered_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE INDEX sandbox_idempotency_keys_age ON sandbox_idempotency_keys (tenant_id, answered_at);

ALTER TABLE sandbox_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE sandbox_customers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sandbox_customers
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE sandbox_payment_methods ENABLE ROW LEVEL SECURITY;
ALTER TABLE sandbox_payment_methods FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sandbox_payment_methods
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE sandbox_payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE sandbox_payments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sandbox_payments
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE sandbox_idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE sandbox_idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sandbox_idempotency_keys
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
