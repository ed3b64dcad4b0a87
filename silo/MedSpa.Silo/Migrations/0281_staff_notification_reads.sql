-- Live staff notifications (issue 18 §4). A notification (0180) is written once by whatever noticed the thing (card
-- expiry housekeeping, the payment webhook, inventory alerts, an inbound text); who it concerns is decided by its kind
-- and clinic, the same rule for the list and for the live push; whether it was read is per user.

-- The roles a kind of notification concerns (owners and admins: everything). One place, used by the list's filter
-- and by the push's recipients.
CREATE FUNCTION notification_audience(kind text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        -- Stock, expiring lots and recalls: those who use and order the product.
        WHEN kind LIKE 'inventory-%' THEN ARRAY['owner', 'admin', 'provider']
        -- Texts, cards, payments, packages, memberships: the front desk's work.
        ELSE ARRAY['owner', 'admin', 'front-desk']
    END
$$;

CREATE TABLE notification_reads (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    notification_id  uuid NOT NULL,
    user_id          uuid NOT NULL,
    read_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, notification_id),
    FOREIGN KEY (tenant_id, notification_id) REFERENCES notifications (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);

ALTER TABLE notification_reads ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_reads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notification_reads
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Every new notification is announced to the api hosts, which push it to the connected users it concerns. A trigger,
-- so every writer (there are several, in the silo and the api) is covered, and NOTIFY is sent only if the writing
-- transaction commits. A deduplicated insert (ON CONFLICT DO NOTHING) inserts no row and announces nothing.
CREATE FUNCTION notification_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('medspa_staff_notification', NEW.tenant_id::text || '|' || NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER notifications_announce AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION notification_announce();
