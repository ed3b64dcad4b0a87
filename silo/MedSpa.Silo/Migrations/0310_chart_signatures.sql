-- Signing a treatment chart (issue 17 §4). The signatures themselves (who, how, when, IP, user agent, what they sign)
-- live in the chart grain's state with the chart they close; the drawn images (PNG) are kept here, named by the
-- signature id the grain derives from the operation id, with their SHA-256 (which the signature records). Append-only
-- for the application, like the audit trail: a signed record's images are never changed or removed.
CREATE TABLE chart_signature_images (
    tenant_id     uuid NOT NULL,
    signature_id  uuid NOT NULL,
    visit_id      uuid NOT NULL,
    png           bytea NOT NULL CHECK (octet_length(png) BETWEEN 8 AND 262144),
    sha256        text NOT NULL CHECK (length(sha256) = 64),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, signature_id)
);

CREATE INDEX chart_signature_images_visit ON chart_signature_images (tenant_id, visit_id);

-- Per clinic: whether a chart needs a supervising physician's co-signature, and who may give it (empty: any
-- provider, admin or owner other than the provider who signed). No row: no co-signature required.
CREATE TABLE chart_signing_settings (
    tenant_id            uuid NOT NULL,
    clinic_id            uuid NOT NULL,
    cosign_required      boolean NOT NULL,
    supervisor_user_ids  uuid[] NOT NULL DEFAULT '{}',
    updated_by           uuid NOT NULL,
    updated_at           timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, clinic_id)
);

ALTER TABLE chart_signature_images ENABLE ROW LEVEL SECURITY;
ALTER TABLE chart_signature_images FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chart_signature_images
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE chart_signing_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE chart_signing_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chart_signing_settings
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

REVOKE UPDATE, DELETE, TRUNCATE ON chart_signature_images FROM medspa_app;
