-- Two-way SMS (issue 18 §3): inbound texts that are not a keyword (STOP, START, C, HERE) land in the clinic's inbox,
-- one thread per phone number and clinic, where the front desk reads them and replies. Replies are sent through the
-- notification service: their delivery status is the one of the notification_messages row they point at.

-- Every inbound MessageSid once: Twilio retries a webhook it got no answer to with the same MessageSid, and a retry
-- must not land a second time (a second inbox message, a second notification, a second "HERE").
CREATE TABLE inbox_inbound_receipts (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    message_sid  text NOT NULL CHECK (length(message_sid) BETWEEN 1 AND 64),
    outcome      text NOT NULL DEFAULT 'processing' CHECK (length(outcome) <= 40),
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, message_sid)
);

CREATE TABLE inbox_threads (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    clinic_id        uuid NOT NULL,
    -- The number as Twilio sent it (E.164); phone_key its last ten digits, how the directory's numbers are matched.
    phone            text NOT NULL CHECK (length(phone) BETWEEN 1 AND 40),
    phone_key        text NOT NULL CHECK (length(phone_key) BETWEEN 1 AND 15),
    patient_id       uuid,
    assigned_to      uuid,
    unread_count     integer NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
    last_message_at  timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, clinic_id, phone_key),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id),
    FOREIGN KEY (tenant_id, assigned_to) REFERENCES users (tenant_id, id)
);

CREATE INDEX inbox_threads_clinic ON inbox_threads (tenant_id, clinic_id, last_message_at DESC);

CREATE TABLE inbox_messages (
    tenant_id                uuid NOT NULL REFERENCES tenants (id),
    id                       uuid NOT NULL,
    thread_id                uuid NOT NULL,
    direction                text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    body                     text NOT NULL CHECK (length(body) <= 2000),
    -- Inbound: Twilio's MessageSid. Outbound: the notification service's message (its status, provider id, error).
    provider_sid             text,
    notification_message_id  uuid,
    sent_by                  uuid,
    created_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, thread_id) REFERENCES inbox_threads (tenant_id, id),
    FOREIGN KEY (tenant_id, notification_message_id) REFERENCES notification_messages (tenant_id, id),
    CHECK (direction = 'inbound' OR notification_message_id IS NOT NULL)
);

CREATE INDEX inbox_messages_thread ON inbox_messages (tenant_id, thread_id, created_at, id);

ALTER TABLE inbox_inbound_receipts ENABLE ROW LEVEL SECURITY;
ALTER TABLE inbox_inbound_receipts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON inbox_inbound_receipts
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE inbox_threads ENABLE ROW LEVEL SECURITY;
ALTER TABLE inbox_threads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON inbox_threads
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE inbox_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE inbox_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON inbox_messages
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
