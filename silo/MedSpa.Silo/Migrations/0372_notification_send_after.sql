-- A marketing message asked for in the clinic's quiet hours is logged 'queued' with the moment they end (send_after)
-- and handed over by a reminder then (issue 18 §2); its subject is kept for that later send. send_after is cleared
-- when the message is claimed for sending.
ALTER TABLE notification_messages ADD COLUMN send_after timestamptz;
ALTER TABLE notification_messages ADD COLUMN subject text CHECK (subject IS NULL OR length(subject) <= 300);
