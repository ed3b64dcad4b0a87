-- The patient's own app records their push consent (issue 18 §2: patients register their own push device): its
-- opt-outs and marketing choices carry source 'app' beside the SMS keyword, the consent link and staff.
ALTER TABLE notification_opt_outs DROP CONSTRAINT notification_opt_outs_source_check;
ALTER TABLE notification_opt_outs ADD CONSTRAINT notification_opt_outs_source_check
    CHECK (source IN ('sms-keyword', 'link', 'staff', 'app'));
ALTER TABLE notification_marketing_consents DROP CONSTRAINT notification_marketing_consents_source_check;
ALTER TABLE notification_marketing_consents ADD CONSTRAINT notification_marketing_consents_source_check
    CHECK (source IN ('link', 'staff', 'app'));
