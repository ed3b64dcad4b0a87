-- Filler syringe adjustments made when a chart is billed (issue 16 §3): who allowed how many half syringes more or
-- less for a product and lot of a visit. Kept so that billing the chart again after a change keeps them, and so the
-- adjustment is on record (the invoice line carries the number, this row says who and when).

CREATE TABLE chart_billing_adjustments (
    tenant_id    uuid NOT NULL,
    visit_id     uuid NOT NULL,
    product_id   uuid NOT NULL,
    lot_number   text NOT NULL,
    syringes     numeric(4, 1) NOT NULL CHECK (syringes BETWEEN -2 AND 2 AND syringes * 2 = trunc(syringes * 2)),
    adjusted_by  uuid NOT NULL,
    adjusted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, visit_id, product_id, lot_number)
);

ALTER TABLE chart_billing_adjustments ENABLE ROW LEVEL SECURITY;
ALTER TABLE chart_billing_adjustments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chart_billing_adjustments
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
