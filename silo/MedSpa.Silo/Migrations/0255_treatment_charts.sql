-- Treatment charts (issue 16): the SQL copy of each visit's chart, written by the chart grain after its state is
-- durable (monotonic by version). chart_points is what recall and patient history query: the visit's clinic,
-- patient, provider and date are copied onto each point so a recall by lot is one index range, joined to the
-- appointments, patients, providers and clinics it names.

CREATE TABLE treatment_charts (
    tenant_id     uuid NOT NULL,
    visit_id      uuid NOT NULL,
    clinic_id     uuid NOT NULL,
    patient_id    uuid NOT NULL,
    provider_id   uuid,
    status        text NOT NULL CHECK (status IN ('in-progress', 'ready-for-review')),
    version       bigint NOT NULL CHECK (version >= 0),
    notes         jsonb NOT NULL DEFAULT '{}',
    visit_date    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, visit_id)
);

CREATE INDEX treatment_charts_patient ON treatment_charts (tenant_id, patient_id, visit_date DESC);

CREATE TABLE chart_points (
    tenant_id     uuid NOT NULL,
    visit_id      uuid NOT NULL,
    point_id      uuid NOT NULL,
    clinic_id     uuid NOT NULL,
    patient_id    uuid NOT NULL,
    provider_id   uuid,
    visit_date    timestamptz NOT NULL,
    zone          text NOT NULL,
    x             numeric(6, 3) NOT NULL CHECK (x BETWEEN 0 AND 100),
    y             numeric(6, 3) NOT NULL CHECK (y BETWEEN 0 AND 100),
    product_id    uuid NOT NULL,
    product_name  text NOT NULL,
    product_kind  text NOT NULL,
    lot_number    text NOT NULL,
    units         numeric(10, 2),
    volume_ml     numeric(8, 3),
    depth         text,
    technique     text,
    needle_gauge  text,
    notes         text,
    version       bigint NOT NULL,
    PRIMARY KEY (tenant_id, visit_id, point_id),
    FOREIGN KEY (tenant_id, visit_id) REFERENCES treatment_charts (tenant_id, visit_id) ON DELETE CASCADE
);

-- Recall: by lot (the common case) or by product and a date range; both name the visit date for ordering.
CREATE INDEX chart_points_lot ON chart_points (tenant_id, lot_number, visit_date);
CREATE INDEX chart_points_product ON chart_points (tenant_id, product_id, visit_date);

ALTER TABLE treatment_charts ENABLE ROW LEVEL SECURITY;
ALTER TABLE treatment_charts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON treatment_charts
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE chart_points ENABLE ROW LEVEL SECURITY;
ALTER TABLE chart_points FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chart_points
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
