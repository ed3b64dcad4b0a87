-- Corporate bulk orders of gift cards (issue 15 §3): one row per order. The order is stored before the purchaser's card
-- is charged (status 'placed'), so a failure between the charge and the answer is finished by resuming it with the
-- same idempotency key at the gateway; 'declined' charged nothing; 'paid' then 'issued' once every row has its card.
-- Amounts are integer minor units of the clinic's currency: subtotal is what the purchaser paid, bonus the volume
-- tier's extra value (posted by the cards as a promotional cost).

CREATE TABLE corporate_gift_card_orders (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    id                 uuid NOT NULL,
    clinic_id          uuid NOT NULL,
    status             text NOT NULL CHECK (status IN ('placed', 'declined', 'paid', 'issued')),
    company            text NOT NULL CHECK (length(company) BETWEEN 1 AND 200),
    contact_name       text NOT NULL CHECK (length(contact_name) BETWEEN 1 AND 200),
    contact_email      text NOT NULL CHECK (length(contact_email) BETWEEN 3 AND 320),
    design             text NOT NULL CHECK (design IN ('standard', 'birthday', 'holiday', 'spa', 'custom')),
    logo_image_id      uuid,
    message            text CHECK (message IS NULL OR length(message) <= 500),
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    subtotal           bigint NOT NULL CHECK (subtotal > 0),
    bonus_percent      integer NOT NULL CHECK (bonus_percent IN (0, 5, 10, 15)),
    bonus              bigint NOT NULL CHECK (bonus >= 0),
    row_count          integer NOT NULL CHECK (row_count BETWEEN 1 AND 1000),
    -- The purchaser's card token, kept only until the charge is settled (a resumed order charges with it again
    -- under the same idempotency key); never a card number (the gateway tokenises it).
    payment_method     text,
    gateway            text,
    payment_id         text,
    decline_code       text,
    created_by         uuid NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    paid_at            timestamptz,
    issued_at          timestamptz,
    codes_exported_at  timestamptz,
    codes_exported_by  uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

CREATE INDEX corporate_gift_card_orders_recent ON corporate_gift_card_orders (tenant_id, created_at DESC);

ALTER TABLE corporate_gift_card_orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE corporate_gift_card_orders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON corporate_gift_card_orders
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
