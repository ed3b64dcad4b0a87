-- Clinic details beyond 0100: postal address, contact, receipts, the wall-screen privacy switch, and archiving.
-- Clinics are referenced by users, rooms and (later) visits and invoices, so they are archived, never deleted.

ALTER TABLE clinics
    ADD COLUMN address                  jsonb,
    ADD COLUMN phone                    text CHECK (phone IS NULL OR length(phone) <= 40),
    ADD COLUMN email                    text CHECK (email IS NULL OR length(email) <= 320),
    ADD COLUMN website                  text CHECK (website IS NULL OR length(website) <= 500),
    -- Wall screens show patient initials unless the clinic opts in to full names (PHI on a public screen).
    ADD COLUMN show_full_patient_names  boolean NOT NULL DEFAULT false,
    ADD COLUMN receipt_footer           text CHECK (receipt_footer IS NULL OR length(receipt_footer) <= 2000),
    ADD COLUMN active                   boolean NOT NULL DEFAULT true;

CREATE INDEX clinics_tenant_name ON clinics (tenant_id, lower(name));
