-- A clinic's own wording of a message kind (issue 18 §2). No row: the built-in default
-- (grains/Domain/Notifications/MessageTemplates.cs) is used, so a new default reaches every clinic that kept it.

CREATE TABLE notification_templates (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    clinic_id    uuid NOT NULL,
    kind         text NOT NULL CHECK (length(kind) BETWEEN 1 AND 60),
    subject      text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    body         text NOT NULL CHECK (length(body) BETWEEN 1 AND 1600),
    updated_by   uuid,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, clinic_id, kind),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

ALTER TABLE notification_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notification_templates
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
