-- Push device registrations (issue 18 §2): a patient's app registers its FCM registration token; push messages go to
-- the patient's most recently seen devices. A token FCM answers UNREGISTERED for is deleted. A token belongs to one
-- patient of one tenant at a time (registering it again moves it: a shared tablet handed to another patient).
CREATE TABLE patient_devices (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    patient_id    uuid NOT NULL,
    token         text NOT NULL CHECK (length(token) BETWEEN 1 AND 4096),
    platform      text NOT NULL CHECK (platform IN ('ios', 'android', 'web')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, token),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
);

CREATE INDEX patient_devices_patient ON patient_devices (tenant_id, patient_id, last_seen_at DESC);

ALTER TABLE patient_devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE patient_devices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON patient_devices
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
