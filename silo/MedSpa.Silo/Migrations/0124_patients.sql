-- The patients directory, tenant-wide (a patient may visit any clinic of the organisation).
-- phone_digits is derived so that "(212) 555-0101", "212.555.0101" and "+1 212 555 0101" all match "5550101".

CREATE TABLE patients (
    tenant_id            uuid NOT NULL REFERENCES tenants (id),
    id                   uuid NOT NULL,
    first_name           text NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
    last_name            text NOT NULL CHECK (length(last_name) BETWEEN 1 AND 100),
    preferred_name       text CHECK (preferred_name IS NULL OR length(preferred_name) <= 100),
    date_of_birth        date,
    sex                  text,
    email                text CHECK (email IS NULL OR length(email) <= 320),
    phone                text CHECK (phone IS NULL OR length(phone) <= 40),
    phone_digits         text GENERATED ALWAYS AS (regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g')) STORED,
    address              jsonb,
    allergies            text[] NOT NULL DEFAULT '{}',
    medical_alerts       text[] NOT NULL DEFAULT '{}',
    notes                text CHECK (notes IS NULL OR length(notes) <= 10000),
    marketing_consent    boolean NOT NULL DEFAULT false,
    marketing_consent_at timestamptz,
    preferred_clinic_id  uuid,
    active               boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, preferred_clinic_id) REFERENCES clinics (tenant_id, id)
);

CREATE INDEX patients_last_first ON patients (tenant_id, lower(last_name), lower(first_name));
CREATE INDEX patients_email ON patients (tenant_id, lower(email));
CREATE INDEX patients_phone_digits ON patients (tenant_id, phone_digits);
