-- The sellable catalog of a tenant (services and products) and each clinic's tax rates.
-- Money is integer minor units with an ISO currency; tax rates are integer millipercent (8.875 % = 8875), so
-- nothing here is ever floating point.

CREATE TABLE services (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    id                 uuid NOT NULL,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    category           text NOT NULL CHECK (category ~ '^[a-z][a-z0-9-]{0,39}$'),
    description        text CHECK (description IS NULL OR length(description) <= 2000),
    duration_minutes   integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 720),
    price_amount       bigint NOT NULL CHECK (price_amount >= 0),
    price_currency     text NOT NULL CHECK (price_currency ~ '^[A-Z]{3}$'),
    tax_category       text NOT NULL,
    income_category    text NOT NULL CHECK (income_category ~ '^[a-z][a-z0-9-]{0,39}$'),
    hsa_fsa_eligible   boolean NOT NULL DEFAULT false,
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX services_name_unique ON services (tenant_id, lower(name));

CREATE TABLE products (
    tenant_id              uuid NOT NULL REFERENCES tenants (id),
    id                     uuid NOT NULL,
    name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    brand                  text CHECK (brand IS NULL OR length(brand) <= 200),
    sku                    text CHECK (sku IS NULL OR length(sku) <= 100),
    kind                   text NOT NULL,
    unit                   text NOT NULL,
    units_per_package      numeric(12, 3) NOT NULL CHECK (units_per_package > 0),
    price_per_unit_amount  bigint NOT NULL CHECK (price_per_unit_amount >= 0),
    price_currency         text NOT NULL CHECK (price_currency ~ '^[A-Z]{3}$'),
    cost_per_package_amount bigint CHECK (cost_per_package_amount IS NULL OR cost_per_package_amount >= 0),
    -- [{ "diluentMl": 2.5, "unitsPerMl": 40 }, ...]; the default is the option the tablet preselects.
    reconstitution_options jsonb NOT NULL DEFAULT '[]',
    default_diluent_ml     numeric(6, 2),
    diluent                text CHECK (diluent IS NULL OR length(diluent) <= 100),
    stability_hours        integer CHECK (stability_hours IS NULL OR stability_hours BETWEEN 1 AND 8760),
    syringe_size_ml        numeric(6, 2) CHECK (syringe_size_ml IS NULL OR syringe_size_ml > 0),
    tax_category           text NOT NULL,
    income_category        text NOT NULL CHECK (income_category ~ '^[a-z][a-z0-9-]{0,39}$'),
    hsa_fsa_eligible       boolean NOT NULL DEFAULT false,
    active                 boolean NOT NULL DEFAULT true,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX products_name_unique ON products (tenant_id, lower(name));

CREATE TABLE tax_rates (
    tenant_id        uuid NOT NULL,
    id               uuid NOT NULL,
    clinic_id        uuid NOT NULL,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    rate_millipercent integer NOT NULL CHECK (rate_millipercent BETWEEN 0 AND 100000),
    tax_category     text NOT NULL,
    -- Inclusive: the price already contains the tax (common outside the US); exclusive: tax is added on top.
    inclusive        boolean NOT NULL DEFAULT false,
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

CREATE UNIQUE INDEX tax_rates_name_unique ON tax_rates (tenant_id, clinic_id, lower(name));
