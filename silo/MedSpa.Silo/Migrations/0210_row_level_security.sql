-- Issue 13 §1: tenant isolation enforced by PostgreSQL itself. Until now every statement typed
-- `tenant_id = @TenantId` by hand; one omission would have leaked a tenant's rows. From here on:
--
-- * Every application table with a tenant_id column has row-level security ENABLEd and FORCEd (FORCE: the owner is
--   held to the policies too, unless it is a superuser or has BYPASSRLS). Its policy `tenant_isolation` lets a
--   connection see and write only the rows of the tenant in the setting app.tenant_id, which the one connection
--   opener (silo/MedSpa.Silo/Data/TenantConnections.cs) sets on every open. A connection with no tenant set
--   (app.tenant_id absent or '') sees no tenant row at all and can write none.
-- * The server does its work as the role medspa_app: not the tables' owner, not a superuser, no BYPASSRLS, so the
--   policies apply to it. Its connections log in as the configured user (the owner, who runs these migrations) and
--   switch to medspa_app at connection start (Npgsql `Options=-c role=medspa_app`, set by DatabaseHosting), so
--   current_user is medspa_app for every statement. This script creates the role when it is missing (a NOLOGIN role
--   is cluster-wide: an existing database or a second database on the same server reuses it) and grants it to the
--   migrating user so that user may switch to it.
-- * Orleans' providers (clustering, grain state, reminders) and the migrator keep connecting as the owner: their
--   tables (orleans*, schemaversions) carry no tenant_id and medspa_app gets no rights on them.
--
-- Named exceptions, each with its reason:
-- * Tables without RLS, global by nature: tenants (no tenant_id: sign-up checks a slug across the deployment, the
--   demo seed finds its tenant by slug, the tenant row is the tenant), sign_in_throttle (no tenant_id: counts failed
--   sign-ins per hashed email/address before anyone is known to belong to a tenant), orleans* and schemaversions.
-- * Policies `global_*`, in force only on a connection opened with OpenUnscopedConnectionAsync (it sets
--   app.scope = 'global' and no tenant), each for one command on one table:
--     users, user_clinics            SELECT          sign-in looks a user up by email: the caller has no tenant yet
--                                                    (emails are unique across the deployment); the display link
--                                                    exchange joins the link's user
--     refresh_tokens                 SELECT, DELETE  a refresh token is looked up by its hash alone; housekeeping
--                                                    purges expired and revoked tokens of every tenant
--     access_revocations             SELECT, DELETE  every api host re-reads recent revocations of all tenants into
--                                                    its deny list; housekeeping purges old ones
--     sign_in_known_addresses        SELECT, DELETE  housekeeping purges addresses not seen for half a year
--     idempotency_records            SELECT, DELETE  housekeeping purges expired records of every tenant
--     display_links                  SELECT, UPDATE  a display screen exchanges its link key (no tenant) for a token
--     card_payments, payment_customers, saved_cards
--                                    SELECT          a Stripe webhook names a payment intent, customer or payment
--                                                    method, not a tenant; the handler finds the tenant this way,
--                                                    then scopes its transaction to it before it writes
--     gateway_events                 ALL             the webhook's journal of Stripe event ids (deduplication) is
--                                                    written before the tenant is known; its tenant_id is filled in
--                                                    afterwards for information and no tenant endpoint reads it
--   (DELETE and UPDATE read the rows they match, so PostgreSQL applies a SELECT policy to them too: that is why a
--   purge also has SELECT.) Everything else, even on an unscoped connection, sees no tenant row.
-- * Housekeeping that must write tenant rows (card expiry notifications) walks the tenants and works tenant by tenant
--   instead of getting a global policy.
--
-- A table added later with a tenant_id column needs `ENABLE`/`FORCE ROW LEVEL SECURITY` and a tenant_isolation
-- policy in its own migration: tests/MedSpa.Tests/Tenancy finds every such table from the catalog and fails until
-- it has them. Data migrations on tenant tables must run as a superuser or BYPASSRLS role, or set app.tenant_id.

-- The runtime role. Two databases migrating at once on one server (tests do) may race to create it: the loser's
-- CREATE fails with unique_violation/duplicate_object and finds it made.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'medspa_app') THEN
        BEGIN
            CREATE ROLE medspa_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    -- The login user switches to medspa_app at connection start, so it must be a member that may SET it (a superuser
    -- always may). PostgreSQL 16 gives a CREATEROLE creator only ADMIN on the role it made, not SET: ask for SET there.
    IF NOT pg_has_role(current_user, 'medspa_app',
                       CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END) THEN
        EXECUTE format('GRANT medspa_app TO %I', current_user);
    END IF;
END $$;

-- Its rights: data on the application tables (not Orleans' nor the migration journal), their sequences, and the
-- same on every table and sequence the migrating user creates later.
GRANT USAGE ON SCHEMA public TO medspa_app;
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
          AND c.relname NOT LIKE 'orleans%' AND c.relname <> 'schemaversions'
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.%I TO medspa_app', t.relname);
    END LOOP;
END $$;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO medspa_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO medspa_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO medspa_app;

-- Row-level security on every table with a tenant_id column (found from the catalog, so none is forgotten here).
-- NULLIF: an empty setting (cleared by the opener) is no tenant; the comparison with NULL is never true.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
    LOOP
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t.relname);
        EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', t.relname);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON public.%I'
            ' USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)'
            ' WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)',
            t.relname);
    END LOOP;
END $$;

-- The global exceptions listed above.
CREATE POLICY global_sign_in_lookup ON users FOR SELECT
    USING (current_setting('app.scope', true) = 'global');
CREATE POLICY global_sign_in_lookup ON user_clinics FOR SELECT
    USING (current_setting('app.scope', true) = 'global');

CREATE POLICY global_token_lookup ON refresh_tokens FOR SELECT
    USING (current_setting('app.scope', true) = 'global');
CREATE POLICY global_purge ON refresh_tokens FOR DELETE
    USING (current_setting('app.scope', true) = 'global');

CREATE POLICY global_deny_list ON access_revocations FOR SELECT
    USING (current_setting('app.scope', true) = 'global');
CREATE POLICY global_purge ON access_revocations FOR DELETE
    USING (current_setting('app.scope', true) = 'global');

CREATE POLICY global_purge_read ON sign_in_known_addresses FOR SELECT
    USING (current_setting('app.scope', true) = 'global');
CREATE POLICY global_purge ON sign_in_known_addresses FOR DELETE
    USING (current_setting('app.scope', true) = 'global');

CREATE POLICY global_purge_read ON idempotency_records FOR SELECT
    USING (current_setting('app.scope', true) = 'global');
CREATE POLICY global_purge ON idempotency_records FOR DELETE
    USING (current_setting('app.scope', true) = 'global');

CREATE POLICY global_key_exchange ON display_links FOR SELECT
    USING (current_setting('app.scope', true) = 'global');
CREATE POLICY global_key_exchange_use ON display_links FOR UPDATE
    USING (current_setting('app.scope', true) = 'global')
    WITH CHECK (current_setting('app.scope', true) = 'global');

CREATE POLICY global_webhook_lookup ON card_payments FOR SELECT
    USING (current_setting('app.scope', true) = 'global');
CREATE POLICY global_webhook_lookup ON payment_customers FOR SELECT
    USING (current_setting('app.scope', true) = 'global');
CREATE POLICY global_webhook_lookup ON saved_cards FOR SELECT
    USING (current_setting('app.scope', true) = 'global');

CREATE POLICY global_webhook_journal ON gateway_events FOR ALL
    USING (current_setting('app.scope', true) = 'global')
    WITH CHECK (current_setting('app.scope', true) = 'global');
