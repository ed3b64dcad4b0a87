-- Guessing limit of gift card lookups by code (issue 15 §1): every wrong code is counted per caller and per client
-- address (both as SHA-256, never in clear); 10 in 10 minutes in either scope answers 429 until the window moves on
-- (api/Features/GiftCards/GiftCardLookupThrottle.cs). Being refused is recorded once per block in
-- gift_card_security_events, the audit trail an owner reads.

CREATE TABLE gift_card_lookup_failures (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    scope       text NOT NULL CHECK (scope IN ('caller', 'address')),
    key         bytea NOT NULL CHECK (length(key) = 32),
    failed_at   timestamptz NOT NULL
);

CREATE INDEX gift_card_lookup_failures_key ON gift_card_lookup_failures (tenant_id, scope, key, failed_at);
CREATE INDEX gift_card_lookup_failures_age ON gift_card_lookup_failures (failed_at);

CREATE TABLE gift_card_security_events (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('lookup-throttled')),
    scope         text NOT NULL CHECK (scope IN ('caller', 'address')),
    user_id       uuid,
    address_hash  bytea CHECK (address_hash IS NULL OR length(address_hash) = 32),
    failures      integer NOT NULL,
    blocked_until timestamptz NOT NULL,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX gift_card_security_events_time ON gift_card_security_events (tenant_id, occurred_at DESC);

ALTER TABLE gift_card_lookup_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE gift_card_lookup_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gift_card_lookup_failures
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE gift_card_security_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE gift_card_security_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gift_card_security_events
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
