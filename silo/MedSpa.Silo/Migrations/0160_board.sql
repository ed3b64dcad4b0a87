-- Live clinic boards (issue 3): each board's snapshot as of its last sequence number, and its recent events so a
-- wall screen that reconnects gets exactly what it missed. Payloads are Orleans-serialized records (versioned by
-- their [Id]s and aliases, like grain state), written only by the clinic's board grain.

CREATE TABLE board_states (
    tenant_id   uuid NOT NULL,
    clinic_id   uuid NOT NULL,
    last_seq    bigint NOT NULL CHECK (last_seq >= 0),
    state       bytea NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, clinic_id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

-- Only the newest ~1,000 per board are kept; the board prunes older ones as it writes.
CREATE TABLE board_events (
    tenant_id   uuid NOT NULL,
    clinic_id   uuid NOT NULL,
    seq         bigint NOT NULL CHECK (seq >= 1),
    event       text NOT NULL,
    at          timestamptz NOT NULL,
    payload     bytea NOT NULL,
    PRIMARY KEY (tenant_id, clinic_id, seq)
);

-- Wall-screen links: a login-free link for a TV, bound to one clinic and to a `display` user. Only a hash of the
-- link's secret is stored; the secret is shown once, when the link is created. Revoking stops new tokens at once.
CREATE TABLE display_links (
    tenant_id    uuid NOT NULL,
    id           uuid NOT NULL,
    clinic_id    uuid NOT NULL,
    user_id      uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    secret_hash  bytea NOT NULL UNIQUE,
    created_by   uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
