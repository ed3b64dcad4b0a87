-- A user with role 'patient' signs in as one patient of the directory: users.patient_id is that link, so a patient
-- can reach their own saved cards (and later their own invoices) and nothing else. Staff users leave it NULL.
-- No role CHECK here: changing a user's role must not fail on this column; the endpoints check role AND link.

ALTER TABLE users ADD COLUMN patient_id uuid;
ALTER TABLE users ADD CONSTRAINT users_patient_fk FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id);
