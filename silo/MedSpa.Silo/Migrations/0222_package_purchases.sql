-- Sold packages (issue 14), projected from each package balance grain (the commit point) through its outbox: one row
-- per purchase, kept to the grain's newest version (an older write never overwrites a newer one), and the family
-- members sharing it (so a member sees the package in their own list). Lists and reports read these; balances are
-- decided only by the grain.

CREATE TABLE package_purchases (
    tenant_id            uuid NOT NULL REFERENCES tenants (id),
    id                   uuid NOT NULL,
    definition_id        uuid NOT NULL,
    definition_version   integer NOT NULL,
    name                 text NOT NULL,
    type                 text NOT NULL CHECK (type IN ('standard', 'wallet', 'buy-get-free', 'multi-service', 'threshold', 'no-upfront')),
    owner_patient_id     uuid NOT NULL,
    clinic_id            uuid NOT NULL,
    invoice_id           uuid,
    status               text NOT NULL CHECK (status IN ('active', 'expired', 'depleted', 'cancelled', 'refunded')),
    currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    net_paid             bigint NOT NULL CHECK (net_paid >= 0),
    sessions_total       integer NOT NULL,
    sessions_left        integer NOT NULL,
    free_sessions_left   integer NOT NULL,
    credit_left          bigint,
    threshold_progress   bigint NOT NULL,
    rewards_available    integer NOT NULL,
    liability_left       bigint NOT NULL CHECK (liability_left >= 0),
    reserved             bigint NOT NULL CHECK (reserved >= 0),
    purchased_at         timestamptz NOT NULL,
    expires_at           timestamptz,
    version              bigint NOT NULL,
    updated_at           timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX package_purchases_owner ON package_purchases (tenant_id, owner_patient_id, expires_at);
CREATE INDEX package_purchases_definition ON package_purchases (tenant_id, definition_id);

CREATE TABLE package_members (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    purchase_id      uuid NOT NULL,
    patient_id       uuid NOT NULL,
    session_limit    integer,
    amount_limit     bigint,
    sessions_used    integer NOT NULL,
    amount_used      bigint NOT NULL,
    added_at         timestamptz NOT NULL,
    removed_at       timestamptz,
    added_by         uuid NOT NULL,
    version          bigint NOT NULL,
    PRIMARY KEY (tenant_id, purchase_id, patient_id),
    FOREIGN KEY (tenant_id, purchase_id) REFERENCES package_purchases (tenant_id, id)
);

CREATE INDEX package_members_patient ON package_members (tenant_id, patient_id) WHERE removed_at IS NULL;

ALTER TABLE package_purchases ENABLE ROW LEVEL SECURITY;
ALTER TABLE package_purchases FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON package_purchases
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE package_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE package_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON package_members
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
