-- At most one default among a patient's active saved cards. The endpoints and the webhook serialise their writes
-- per patient; this index makes the rule hold whatever writes them.
CREATE UNIQUE INDEX saved_cards_one_default ON saved_cards (tenant_id, patient_id) WHERE is_default AND removed_at IS NULL;
