-- Tenancy: organisations, their clinics (locations) and their users. Every application row carries tenant_id,
-- and every key is (tenant_id, id) so a row can only be reached through its tenant.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE clinics (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    time_zone   text NOT NULL,
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE users (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role           text NOT NULL CHECK (role IN ('owner', 'admin', 'provider', 'front-desk', 'patient', 'display')),
    password_hash  text NOT NULL,
    is_active      boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- Sign-in takes an email without a tenant, so an email belongs to exactly one user across the deployment.
CREATE UNIQUE INDEX users_email_unique ON users (lower(email));

-- The clinics a user works at. Owners and admins see every clinic of their tenant whatever this says.
CREATE TABLE user_clinics (
    tenant_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    clinic_id  uuid NOT NULL,
    PRIMARY KEY (tenant_id, user_id, clinic_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id) ON DELETE CASCADE
);
