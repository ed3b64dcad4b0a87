-- Photos and documents of a visit's chart (issue 17 §3). The image bytes live encrypted in a blob store (local
-- directory or S3); these rows say where (object_key: random, naming neither tenant nor patient), under which key
-- (key_id, so keys can rotate) and what the photo is (zone, before/after). A photo needs the patient's photo consent
-- first: photo_consents keeps every grant and withdrawal (who, when, how), the newest one decides.

CREATE TABLE photo_consents (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL,
    patient_id    uuid NOT NULL,
    granted       boolean NOT NULL,
    method        text NOT NULL CHECK (method IN ('verbal', 'written', 'electronic')),
    note          text,
    recorded_by   uuid NOT NULL,
    recorded_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX photo_consents_patient ON photo_consents (tenant_id, patient_id, recorded_at DESC);

CREATE TABLE chart_photos (
    tenant_id       uuid NOT NULL,
    id              uuid NOT NULL,
    visit_id        uuid NOT NULL,
    clinic_id       uuid NOT NULL,
    patient_id      uuid NOT NULL,
    visit_date      timestamptz NOT NULL,
    zone            text,
    pairing         text CHECK (pairing IN ('before', 'after')),
    content_type    text NOT NULL,
    byte_size       bigint NOT NULL CHECK (byte_size > 0),
    sha256          bytea NOT NULL,
    object_key      text NOT NULL UNIQUE,
    key_id          text NOT NULL,
    thumbnail_key   text UNIQUE,
    width           integer,
    height          integer,
    uploaded_by     uuid NOT NULL,
    uploaded_at     timestamptz NOT NULL,
    legal_hold      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, id),
    CHECK (pairing IS NULL OR zone IS NOT NULL)
);

CREATE INDEX chart_photos_visit ON chart_photos (tenant_id, visit_id, uploaded_at);
CREATE INDEX chart_photos_retention ON chart_photos (tenant_id, clinic_id, visit_date) WHERE NOT legal_hold;

-- Retention per clinic: photos of visits older than retention_years are deleted by housekeeping unless on legal hold.
-- No row: kept.
CREATE TABLE photo_retention (
    tenant_id        uuid NOT NULL,
    clinic_id        uuid NOT NULL,
    retention_years  integer NOT NULL CHECK (retention_years BETWEEN 1 AND 100),
    updated_by       uuid NOT NULL,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, clinic_id)
);

ALTER TABLE photo_consents ENABLE ROW LEVEL SECURITY;
ALTER TABLE photo_consents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON photo_consents
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE chart_photos ENABLE ROW LEVEL SECURITY;
ALTER TABLE chart_photos FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chart_photos
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE photo_retention ENABLE ROW LEVEL SECURITY;
ALTER TABLE photo_retention FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON photo_retention
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
