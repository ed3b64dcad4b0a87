-- Gift cards (issue 15 §1). The card grain (grains/GiftCards/GiftCardGrain.cs) is the single writer and the commit
-- point; these tables are its projection, written from its outbox (keyed so a repeat after a crash adds nothing).
-- No raw code is stored anywhere: gift_card_codes keeps only HMAC-SHA256(key, tenant + code), the key lives in
-- configuration (GiftCards:CodeKey), and cards show their last 4 letters.

-- A clinic's gift card rules; a clinic without a row uses the defaults ($25–$5,000, no expiry).
CREATE TABLE gift_card_settings (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    clinic_id      uuid NOT NULL,
    min_amount     bigint NOT NULL DEFAULT 2500 CHECK (min_amount >= 100),
    max_amount     bigint NOT NULL DEFAULT 500000 CHECK (max_amount <= 100000000),
    expiry_months  integer CHECK (expiry_months IS NULL OR expiry_months BETWEEN 1 AND 600),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     uuid,
    PRIMARY KEY (tenant_id, clinic_id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id),
    CHECK (min_amount <= max_amount)
);

-- The lookup of a card by its code: claimed first when a card is issued (a collision draws another code).
CREATE TABLE gift_card_codes (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    code_hash   text NOT NULL CHECK (code_hash ~ '^[0-9a-f]{64}$'),
    card_id     uuid NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, code_hash)
);

CREATE UNIQUE INDEX gift_card_codes_card ON gift_card_codes (tenant_id, card_id);

CREATE TABLE gift_cards (
    tenant_id            uuid NOT NULL REFERENCES tenants (id),
    id                   uuid NOT NULL,
    code_hash            text NOT NULL CHECK (code_hash ~ '^[0-9a-f]{64}$'),
    last4                text NOT NULL CHECK (last4 ~ '^[A-Z2-9]{4}$'),
    status               text NOT NULL CHECK (status IN ('pending', 'active', 'depleted', 'expired', 'cancelled')),
    currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    initial_value        bigint NOT NULL CHECK (initial_value >= 0),
    paid_amount          bigint NOT NULL CHECK (paid_amount >= 0),
    bonus_amount         bigint NOT NULL CHECK (bonus_amount >= 0),
    balance              bigint NOT NULL CHECK (balance >= 0),
    reserved             bigint NOT NULL CHECK (reserved >= 0 AND reserved <= balance),
    source               text NOT NULL CHECK (source IN ('invoice-line', 'online-sale', 'corporate-order')),
    clinic_id            uuid NOT NULL,
    purchaser_patient_id uuid,
    recipient_patient_id uuid,
    order_id             uuid,
    invoice_id           uuid,
    invoice_line_id      uuid,
    payment_reference    text CHECK (payment_reference IS NULL OR length(payment_reference) <= 200),
    issued_at            timestamptz NOT NULL,
    expires_at           timestamptz,
    version              bigint NOT NULL CHECK (version >= 1),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code_hash)
);

CREATE INDEX gift_cards_status ON gift_cards (tenant_id, status, issued_at DESC);
CREATE INDEX gift_cards_purchaser ON gift_cards (tenant_id, purchaser_patient_id) WHERE purchaser_patient_id IS NOT NULL;
CREATE INDEX gift_cards_recipient ON gift_cards (tenant_id, recipient_patient_id) WHERE recipient_patient_id IS NOT NULL;
CREATE INDEX gift_cards_order ON gift_cards (tenant_id, order_id) WHERE order_id IS NOT NULL;
-- A paid invoice line issues one card, however often the payment is replayed.
CREATE UNIQUE INDEX gift_cards_invoice_line ON gift_cards (tenant_id, invoice_line_id) WHERE invoice_line_id IS NOT NULL;

-- A card's history: one row per change of the grain; `sequence` is the card version it produced.
CREATE TABLE gift_card_transactions (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    card_id        uuid NOT NULL,
    sequence       bigint NOT NULL CHECK (sequence >= 1),
    operation_id   text NOT NULL CHECK (length(operation_id) BETWEEN 1 AND 200),
    kind           text NOT NULL CHECK (kind IN ('issue', 'bonus', 'hold', 'release', 'redeem', 'redeem-undone', 'reload',
                                                 'transfer-out', 'transfer-in', 'cancel', 'expire', 'activate')),
    amount         bigint NOT NULL,
    balance_after  bigint NOT NULL CHECK (balance_after >= 0),
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    invoice_id     uuid,
    clinic_id      uuid,
    created_by     uuid,
    note           text CHECK (note IS NULL OR length(note) <= 500),
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, card_id, sequence)
);

CREATE INDEX gift_card_transactions_invoice ON gift_card_transactions (tenant_id, invoice_id) WHERE invoice_id IS NOT NULL;

ALTER TABLE gift_card_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE gift_card_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gift_card_settings
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE gift_card_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE gift_card_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gift_card_codes
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE gift_cards ENABLE ROW LEVEL SECURITY;
ALTER TABLE gift_cards FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gift_cards
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE gift_card_transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE gift_card_transactions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gift_card_transactions
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
