-- Appointment reminders and quiet hours (issue 18 §2).

-- A clinic's reminder settings. No row: the built-in ones (grains/Domain/Notifications/ReminderPlan.cs: 48 h and 2 h,
-- quiet 21:00-08:00 in the clinic's time zone). quiet_start/quiet_end both NULL in a row: no quiet hours.
CREATE TABLE notification_clinic_settings (
    tenant_id                uuid NOT NULL REFERENCES tenants (id),
    clinic_id                uuid NOT NULL,
    reminder_offset_minutes  integer[] NOT NULL CHECK (cardinality(reminder_offset_minutes) BETWEEN 1 AND 5),
    quiet_start              time,
    quiet_end                time,
    updated_by               uuid,
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, clinic_id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

ALTER TABLE notification_clinic_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_clinic_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notification_clinic_settings
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- A send that must happen once (an appointment's reminder for one offset) carries a key; a repeat finds the message.
ALTER TABLE notification_messages ADD COLUMN dedupe_key text CHECK (dedupe_key IS NULL OR length(dedupe_key) <= 200);
CREATE UNIQUE INDEX notification_messages_dedupe ON notification_messages (tenant_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
