-- A patient's opt-out of one channel (STOP by SMS, an unsubscribe link): while a row exists nothing is sent to the
-- patient on that channel, transactional or marketing. START (or the link's opt-in) deletes the row.

CREATE TABLE notification_opt_outs (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    patient_id    uuid NOT NULL,
    channel       text NOT NULL CHECK (channel IN ('email', 'sms', 'push')),
    source        text NOT NULL CHECK (source IN ('sms-keyword', 'link', 'staff')),
    opted_out_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, patient_id, channel),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
);

ALTER TABLE notification_opt_outs ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_opt_outs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notification_opt_outs
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
