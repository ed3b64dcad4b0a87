-- Receipt settings per clinic: the footer printed on every receipt, whether the patient's name is printed, and the
-- clinic's logo (PNG or JPEG, at most 512 KB, validated by the API before it gets here).
-- Until a clinic saves these, its receipts use clinics.receipt_footer (0120); the first save copies that footer in,
-- so from then on this row is the one source of truth.

CREATE TABLE clinic_receipt_settings (
    tenant_id          uuid NOT NULL,
    clinic_id          uuid NOT NULL,
    footer_text        text CHECK (footer_text IS NULL OR length(footer_text) <= 1000),
    show_patient_name  boolean NOT NULL DEFAULT true,
    logo               bytea CHECK (logo IS NULL OR length(logo) <= 524288),
    logo_content_type  text CHECK (logo_content_type IS NULL OR logo_content_type IN ('image/png', 'image/jpeg')),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, clinic_id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id),
    CHECK ((logo IS NULL) = (logo_content_type IS NULL))
);
