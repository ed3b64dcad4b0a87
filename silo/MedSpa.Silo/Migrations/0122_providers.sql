-- Providers (injectors, aestheticians, physicians): the staff profile the board and the schedule show.
-- A provider may have no login (a visiting physician); when linked, one user has at most one provider profile.

CREATE TABLE providers (
    tenant_id       uuid NOT NULL,
    id              uuid NOT NULL,
    user_id         uuid,
    first_name      text NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
    last_name       text NOT NULL CHECK (length(last_name) BETWEEN 1 AND 100),
    display_name    text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    title           text NOT NULL CHECK (title ~ '^[a-z][a-z0-9-]{0,19}$'),
    credentials     text CHECK (credentials IS NULL OR length(credentials) <= 200),
    license_number  text CHECK (license_number IS NULL OR length(license_number) <= 100),
    license_state   text CHECK (license_state IS NULL OR length(license_state) <= 100),
    specialties     text[] NOT NULL DEFAULT '{}',
    color           text NOT NULL CHECK (color ~ '^#[0-9a-f]{6}$'),
    clinic_ids      uuid[] NOT NULL DEFAULT '{}',
    email           text CHECK (email IS NULL OR length(email) <= 320),
    phone           text CHECK (phone IS NULL OR length(phone) <= 40),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);

CREATE UNIQUE INDEX providers_user_unique ON providers (tenant_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX providers_clinics ON providers USING gin (clinic_ids);
