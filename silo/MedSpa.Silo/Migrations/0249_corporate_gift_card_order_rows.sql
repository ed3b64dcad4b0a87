-- The recipient rows of a corporate order, one card each. card_id is drawn when the order is stored, so issuing
-- the row's card (IGiftCardGrain.IssueAsync on that card with the row's operation id) is idempotent across retries.
-- protected_code is the card's code encrypted by the code protector (key outside the database), kept only until the
-- purchaser takes the one export that carries the codes; it is set to NULL in the same statement that marks the
-- export taken.

CREATE TABLE corporate_gift_card_order_rows (
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    order_id          uuid NOT NULL,
    row_number        integer NOT NULL CHECK (row_number >= 1),
    recipient_name    text NOT NULL CHECK (length(recipient_name) BETWEEN 1 AND 200),
    recipient_email   text NOT NULL CHECK (length(recipient_email) BETWEEN 3 AND 320),
    amount            bigint NOT NULL CHECK (amount > 0),
    bonus             bigint NOT NULL CHECK (bonus >= 0),
    message           text CHECK (message IS NULL OR length(message) <= 500),
    send_at           timestamptz,
    card_id           uuid NOT NULL,
    last4             text CHECK (last4 IS NULL OR length(last4) = 4),
    protected_code    text,
    issued_at         timestamptz,
    PRIMARY KEY (tenant_id, order_id, row_number),
    UNIQUE (tenant_id, card_id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES corporate_gift_card_orders (tenant_id, id)
);

ALTER TABLE corporate_gift_card_order_rows ENABLE ROW LEVEL SECURITY;
ALTER TABLE corporate_gift_card_order_rows FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON corporate_gift_card_order_rows
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
