-- The gift card code throttle counts only confirmed wrong codes toward a block (fourteenth session). A lookup still
-- takes its place in its scopes' counts before its code is checked (so concurrent guessers never have more codes
-- checked than the limit), but as a PENDING row of its own attempt: a right code deletes it, a wrong one confirms it.
-- A block is reached by confirmed rows only; a lookup that finds the count full of pending ones waits for them (bounded)
-- instead of being refused for the whole window. A pending row left by a crash counts as wrong after a short timeout.
-- (api/Features/GiftCards/GiftCardLookupThrottle.cs). Rows written before this have no attempt and count as wrong.

ALTER TABLE gift_card_lookup_failures ADD COLUMN attempt_id uuid;
ALTER TABLE gift_card_lookup_failures ADD COLUMN pending boolean NOT NULL DEFAULT false;

CREATE INDEX gift_card_lookup_failures_attempt ON gift_card_lookup_failures (tenant_id, attempt_id) WHERE attempt_id IS NOT NULL;
