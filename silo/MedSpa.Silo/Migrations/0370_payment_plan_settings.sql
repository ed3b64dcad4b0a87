-- Payment plans per clinic (issue 18 §1): what cancelling a plan does with its money. 'balance-stays-due' (the default
-- when a clinic has no row): what is unpaid stays due on the invoice; 'refund-unused': the unpaid rest is written off and
-- what the plan's packages still hold of what was paid is refunded on the cards that paid it.
CREATE TABLE payment_plan_clinic_settings (
    tenant_id    uuid NOT NULL,
    clinic_id    uuid NOT NULL,
    cancel_rule  text NOT NULL CHECK (cancel_rule IN ('balance-stays-due', 'refund-unused')),
    updated_by   uuid,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, clinic_id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

ALTER TABLE payment_plan_clinic_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE payment_plan_clinic_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON payment_plan_clinic_settings
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
