-- Sign-in: lockout and TOTP state on the user, one row per signed-in device (session), rotating refresh tokens,
-- and MFA recovery codes. Secrets are never stored in a usable form: refresh tokens and recovery codes as SHA-256
-- hashes, the TOTP secret as AES-GCM ciphertext produced by the api.

ALTER TABLE users
    ADD COLUMN failed_login_count  integer NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    ADD COLUMN locked_until        timestamptz,
    ADD COLUMN mfa_secret          text,         -- confirmed TOTP secret (ciphertext)
    ADD COLUMN mfa_pending_secret  text,         -- enrolment started, not yet confirmed with a code (ciphertext)
    ADD COLUMN mfa_enabled_at      timestamptz,
    ADD COLUMN mfa_last_time_step  bigint,       -- newest TOTP time step accepted: a code is good once
    ADD COLUMN password_changed_at timestamptz;

CREATE TABLE sessions (
    tenant_id         uuid NOT NULL,
    id                uuid NOT NULL,
    user_id           uuid NOT NULL,
    device_id         text CHECK (length(device_id) <= 200),
    device_name       text CHECK (length(device_name) <= 200),
    user_agent        text CHECK (length(user_agent) <= 512),
    fingerprint_hash  text CHECK (fingerprint_hash ~ '^[0-9a-f]{64}$'),
    ip                text CHECK (length(ip) <= 64),
    created_at        timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    revoked_at        timestamptz,
    revoked_reason    text,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id, created_at DESC);

-- One row per refresh token ever issued to a session (its "family"). A token is used once: refreshing marks it
-- used_at and issues the next one. Presenting a used token again means it leaked, so the whole session is revoked.
-- Used tokens are therefore kept until they expire; the housekeeping purge removes expired and revoked ones.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    tenant_id   uuid NOT NULL,
    session_id  uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX refresh_tokens_by_session ON refresh_tokens (tenant_id, session_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_revoked ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE mfa_recovery_codes (
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    code_hash   bytea NOT NULL CHECK (length(code_hash) = 32),
    created_at  timestamptz NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (tenant_id, user_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
