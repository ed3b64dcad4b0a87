-- Consent per channel AND purpose (issue 18 §2). Transactional messages on a channel need only the absence of an
-- opt-out (notification_opt_outs: STOP, the unsubscribe link, staff); marketing on a channel needs the patient's
-- marketing consent for THAT channel: a row here when the patient (or staff for them) chose for the channel, else the
-- patient's general marketing_consent. An opt-out still stops everything on its channel.
CREATE TABLE notification_marketing_consents (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    patient_id  uuid NOT NULL,
    channel     text NOT NULL CHECK (channel IN ('email', 'sms', 'push')),
    allowed     boolean NOT NULL,
    source      text NOT NULL CHECK (source IN ('link', 'staff')),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, patient_id, channel),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
);

ALTER TABLE notification_marketing_consents ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_marketing_consents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notification_marketing_consents
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
