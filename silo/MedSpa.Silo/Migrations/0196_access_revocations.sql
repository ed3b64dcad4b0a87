-- Revocation that bites (issue 12 §3). Access tokens are stateless JWTs, so revoking a session, a display link or a
-- user's rights has to reach every api host's in-memory deny list. Each revocation is one row here, written in the
-- same transaction as the change it follows from; the writer also NOTIFYs channel medspa_access_revoked, which every
-- host LISTENs on. A host that missed notifications (restart, lost connection) re-reads the rows that can still
-- matter: those younger than an access token's lifetime.
--   session_id set: every token of that session (a display link's tokens carry the link id as their session).
--   user_id + min_token_epoch set: every token of that user whose epoch is below it (role, clinics, deactivation).

ALTER TABLE users ADD COLUMN token_epoch integer NOT NULL DEFAULT 0 CHECK (token_epoch >= 0);

CREATE TABLE access_revocations (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    session_id       uuid,
    user_id          uuid,
    min_token_epoch  integer,
    revoked_at       timestamptz NOT NULL,
    reason           text NOT NULL CHECK (length(reason) <= 100),
    CHECK ((session_id IS NOT NULL) <> (user_id IS NOT NULL)),
    CHECK ((user_id IS NULL) = (min_token_epoch IS NULL))
);

CREATE INDEX access_revocations_by_time ON access_revocations (revoked_at);
