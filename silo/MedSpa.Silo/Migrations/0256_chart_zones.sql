-- Each clinic's face-chart zones with their typical dose (issue 16). Zones are data, not an enum: a clinic starts
-- from the presets of DOMAIN.md (seeded on first read) and edits its own list.

CREATE TABLE chart_zones (
    tenant_id          uuid NOT NULL,
    clinic_id          uuid NOT NULL,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    kind               text NOT NULL CHECK (kind IN ('toxin', 'filler')),
    default_units      numeric(10, 2) CHECK (default_units IS NULL OR default_units > 0),
    default_volume_ml  numeric(8, 3) CHECK (default_volume_ml IS NULL OR default_volume_ml > 0),
    position           integer NOT NULL,
    PRIMARY KEY (tenant_id, clinic_id, name),
    CHECK ((kind = 'toxin' AND default_volume_ml IS NULL) OR (kind = 'filler' AND default_units IS NULL))
);

ALTER TABLE chart_zones ENABLE ROW LEVEL SECURITY;
ALTER TABLE chart_zones FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chart_zones
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- "Notify these patients" of a recall: one row per patient and recall, so a repeated action sends nothing twice.
CREATE TABLE chart_recall_notices (
    tenant_id    uuid NOT NULL,
    recall_key   text NOT NULL,
    patient_id   uuid NOT NULL,
    email        text NOT NULL,
    sent_at      timestamptz NOT NULL DEFAULT now(),
    sent_by      uuid NOT NULL,
    PRIMARY KEY (tenant_id, recall_key, patient_id)
);

ALTER TABLE chart_recall_notices ENABLE ROW LEVEL SECURITY;
ALTER TABLE chart_recall_notices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chart_recall_notices
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
