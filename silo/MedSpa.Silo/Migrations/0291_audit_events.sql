-- The audit trail (issue 17 §5): every change to a chart and every read of a patient's chart or photos, append-only
-- and hash-chained per tenant. hash = SHA-256(prev_hash || canonical content of the row) where the canonical content
-- is built by silo/MedSpa.Silo/Audit/AuditCanonical.cs from the columns below (and nothing else); the first row of a
-- tenant chains to 32 zero bytes. Appends are serialised per tenant by a transaction-scoped advisory lock, so seq has
-- no gaps and each row names the hash of the one before. GET /api/audit/verify walks the chain.

CREATE TABLE audit_events (
    tenant_id     uuid NOT NULL,
    seq           bigint NOT NULL CHECK (seq >= 1),
    id            uuid NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor_id      uuid,
    actor_role    text,
    device_id     text,
    user_agent    text,
    action        text NOT NULL,
    patient_id    uuid,
    visit_id      uuid,
    subject_type  text,
    subject_id    uuid,
    details       text,
    prev_hash     bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash          bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (tenant_id, seq)
);

CREATE INDEX audit_events_patient ON audit_events (tenant_id, patient_id, seq DESC) WHERE patient_id IS NOT NULL;

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Append-only for the application: the runtime role (0210) may read and insert, never change or remove a row. The
-- default privileges of 0210 granted it everything on new tables; take the rest back here.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM medspa_app;
