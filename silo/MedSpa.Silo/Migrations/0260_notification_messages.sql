-- Patient messaging (issue 18 §2): every message handed to a channel, with its delivery status as the provider
-- reports it (Twilio's status callback). "to_address" is the real address (needed to show the history and match
-- replies); logs only ever show it masked.

CREATE TABLE notification_messages (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    clinic_id     uuid,
    patient_id    uuid NOT NULL,
    channel       text NOT NULL CHECK (channel IN ('email', 'sms', 'push')),
    purpose       text NOT NULL CHECK (purpose IN ('transactional', 'marketing')),
    kind          text NOT NULL CHECK (length(kind) BETWEEN 1 AND 60),
    to_address    text NOT NULL CHECK (length(to_address) <= 4096),
    body          text NOT NULL CHECK (length(body) <= 2000),
    status        text NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'failed', 'undelivered')),
    provider_id   text,
    error_code    text,
    error         text CHECK (error IS NULL OR length(error) <= 1000),
    sent_by       uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

CREATE INDEX notification_messages_patient ON notification_messages (tenant_id, patient_id, created_at DESC);
-- Rate limits count a clinic's recent messages.
CREATE INDEX notification_messages_clinic ON notification_messages (tenant_id, clinic_id, created_at);
CREATE UNIQUE INDEX notification_messages_provider ON notification_messages (tenant_id, channel, provider_id) WHERE provider_id IS NOT NULL;

ALTER TABLE notification_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notification_messages
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
