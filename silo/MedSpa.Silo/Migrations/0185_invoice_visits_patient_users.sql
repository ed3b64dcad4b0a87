-- Invoices made from a board visit, and the patient a `patient` user is.

-- The visit (appointment) an invoice was created from. The invoice id is derived from the visit id, so one visit
-- has one invoice; the unique index says so in the database too.
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS visit_id uuid;
CREATE UNIQUE INDEX IF NOT EXISTS invoices_visit_unique ON invoices (tenant_id, visit_id) WHERE visit_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS invoices_patient_created ON invoices (tenant_id, patient_id, created_at DESC) WHERE patient_id IS NOT NULL;

-- A user with role `patient` is linked to their row in the patients directory; they see only that patient's
-- invoices (and cards). IF NOT EXISTS: another feature may add the same link first. Read it through
-- PatientLink (api) rather than directly, so the link can move without touching every feature.
ALTER TABLE users ADD COLUMN IF NOT EXISTS patient_id uuid;
CREATE INDEX IF NOT EXISTS users_patient ON users (tenant_id, patient_id) WHERE patient_id IS NOT NULL;
