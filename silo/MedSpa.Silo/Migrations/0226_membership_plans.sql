-- Membership plans (issue 14 §5): a recurring price (monthly or annual), benefits included in every period
-- (sessions of listed services, a dollar credit), member pricing (% off services and products), a minimum term and
-- a cancellation notice. `benefits` is the JSON of the included sessions ([{serviceId, serviceName, quantity, value}]);
-- enrolment copies the whole plan into the membership, so later edits never change an enrolled member's terms.

CREATE TABLE membership_plans (
    tenant_id                   uuid NOT NULL REFERENCES tenants (id),
    id                          uuid NOT NULL,
    name                        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description                 text CHECK (description IS NULL OR length(description) <= 2000),
    status                      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'archived')),
    billing_interval            text NOT NULL CHECK (billing_interval IN ('monthly', 'annual')),
    price_amount                bigint NOT NULL CHECK (price_amount > 0),
    price_currency              text NOT NULL CHECK (price_currency ~ '^[A-Z]{3}$'),
    sessions                    jsonb NOT NULL DEFAULT '[]',
    credit_amount               bigint CHECK (credit_amount IS NULL OR credit_amount > 0),
    rollover_unused             boolean NOT NULL DEFAULT false,
    services_discount_percent   numeric(5, 2) NOT NULL DEFAULT 0 CHECK (services_discount_percent BETWEEN 0 AND 100),
    products_discount_percent   numeric(5, 2) NOT NULL DEFAULT 0 CHECK (products_discount_percent BETWEEN 0 AND 100),
    minimum_term_periods        integer NOT NULL DEFAULT 1 CHECK (minimum_term_periods BETWEEN 1 AND 60),
    cancellation_notice_days    integer NOT NULL DEFAULT 0 CHECK (cancellation_notice_days BETWEEN 0 AND 365),
    -- Empty: every clinic of the organisation honours the plan.
    clinic_ids                  uuid[] NOT NULL DEFAULT '{}',
    template_key                text,
    created_by                  uuid,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX membership_plans_name_unique ON membership_plans (tenant_id, lower(name)) WHERE status <> 'archived';

ALTER TABLE membership_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE membership_plans FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON membership_plans
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
