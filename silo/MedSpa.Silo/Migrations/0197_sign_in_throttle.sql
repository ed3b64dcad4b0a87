-- Sign-in throttle (issue 12 §9), replacing the per-account lockout (users.failed_login_count / locked_until, no
-- longer read): five wrong passwords from anywhere locked the owner out. Failures now count per (account, address),
-- per address, and per account with a bounded delay that does not apply at addresses the account signed in from
-- before. See api/Features/Auth/SignInThrottle.cs.

CREATE TABLE sign_in_throttle (
    scope            text NOT NULL CHECK (scope IN ('pair', 'address', 'account')),
    key              bytea NOT NULL CHECK (length(key) = 32),   -- SHA-256 of the scope's subject (no email or address in clear)
    account_key      bytea CHECK (length(account_key) = 32),    -- SHA-256 of the normalised email: what an unlock clears
    failures         integer NOT NULL CHECK (failures > 0),
    last_failure_at  timestamptz NOT NULL,
    blocked_until    timestamptz,
    PRIMARY KEY (scope, key)
);

CREATE INDEX sign_in_throttle_by_account ON sign_in_throttle (account_key) WHERE account_key IS NOT NULL;
CREATE INDEX sign_in_throttle_by_age ON sign_in_throttle (last_failure_at);

-- Where each user signed in successfully: the account-wide delay does not hold them up there.
CREATE TABLE sign_in_known_addresses (
    tenant_id        uuid NOT NULL,
    user_id          uuid NOT NULL,
    address          text NOT NULL CHECK (length(address) <= 64),
    last_success_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id, address),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
