-- A clinic's locale (issue 18 §2: messages in the clinic's time zone and locale): a .NET culture name such as en-US,
-- en-GB, fr-CA, es-US, checked by the API against .NET's cultures. Every clinic before this one speaks en-US, as all
-- messages were rendered until now.
ALTER TABLE clinics ADD COLUMN locale text NOT NULL DEFAULT 'en-US' CHECK (length(locale) BETWEEN 2 AND 35);

-- A clinic's own wording is per kind AND locale (a culture, fr-CA, or a language, fr): the wording written so far was
-- English for en-US clinics, so it keeps that locale (the default fills the rows without reading through RLS).
ALTER TABLE notification_templates ADD COLUMN locale text NOT NULL DEFAULT 'en-US' CHECK (length(locale) BETWEEN 2 AND 35);
ALTER TABLE notification_templates DROP CONSTRAINT notification_templates_pkey;
ALTER TABLE notification_templates ADD PRIMARY KEY (tenant_id, clinic_id, kind, locale);
