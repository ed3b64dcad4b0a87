-- Gift card delivery (issue 15 §2): the projection of each card's delivery grain, for listing delivery status, and
-- the images clinics upload for the `custom` design. The grain state is the truth; a row is written after it with
-- the grain's version (an older write never overwrites a newer one).

CREATE TABLE gift_card_deliveries (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    card_id          uuid NOT NULL,
    status           text NOT NULL CHECK (status IN ('scheduled', 'sent', 'delivered', 'bounced', 'failed')),
    recipient_name   text NOT NULL,
    recipient_email  text NOT NULL,
    design           text NOT NULL CHECK (design IN ('standard', 'birthday', 'holiday', 'spa', 'custom')),
    send_at          timestamptz,
    sent_at          timestamptz,
    next_attempt_at  timestamptz,
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_detail      text,
    message_id       text,
    order_id         uuid,
    version          bigint NOT NULL CHECK (version >= 1),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, card_id)
);

CREATE INDEX gift_card_deliveries_status ON gift_card_deliveries (tenant_id, status, send_at);
CREATE INDEX gift_card_deliveries_order ON gift_card_deliveries (tenant_id, order_id) WHERE order_id IS NOT NULL;

ALTER TABLE gift_card_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE gift_card_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gift_card_deliveries
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- PNG/JPEG only (sniffed and decoded by the API before it is stored), 512 KiB at most.
CREATE TABLE gift_card_designs (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    content_type     text NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg')),
    content          bytea NOT NULL CHECK (octet_length(content) BETWEEN 1 AND 524288),
    width            integer NOT NULL CHECK (width > 0),
    height           integer NOT NULL CHECK (height > 0),
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

ALTER TABLE gift_card_designs ENABLE ROW LEVEL SECURITY;
ALTER TABLE gift_card_designs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gift_card_designs
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
