-- Package definitions (issue 14): what a clinic sells as a package. The few columns lists and the catalog price
-- check need are columns; everything else the definition says is `terms`, the JSON of
-- grain-interfaces/Packages/PackageTerms (written and read through silo/MedSpa.Silo/Packages/PackageTermsJson.cs),
-- which a sale copies into the purchase, so later edits never change sold packages. `version` grows on every edit
-- and is stamped into the terms (DefinitionVersion).

CREATE TABLE package_definitions (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type             text NOT NULL CHECK (type IN ('standard', 'wallet', 'buy-get-free', 'multi-service', 'threshold', 'no-upfront')),
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'archived')),
    price_amount     bigint NOT NULL CHECK (price_amount >= 0),
    price_currency   text NOT NULL CHECK (price_currency ~ '^[A-Z]{3}$'),
    terms            jsonb NOT NULL,
    -- Set while the admin front end is still stepping through the creation flow; a draft is not sold.
    draft_step       text CHECK (draft_step IS NULL OR draft_step IN ('basics', 'services', 'pricing', 'restrictions')),
    template_key     text,
    version          integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX package_definitions_name_unique ON package_definitions (tenant_id, lower(name)) WHERE status <> 'archived';
CREATE INDEX package_definitions_status ON package_definitions (tenant_id, status, name);

ALTER TABLE package_definitions ENABLE ROW LEVEL SECURITY;
ALTER TABLE package_definitions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON package_definitions
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
