-- Idempotency-Key records: the first answer to a request, replayed for a repeat of the same key within the
-- retention window. A row is inserted ("reserved") before the handler runs, so of two concurrent duplicates
-- exactly one wins the INSERT and executes; the other sees the reservation and gets 409.
-- No foreign key to tenants: these rows are a short-lived cache, purged by housekeeping, and must never block
-- deleting a tenant.
CREATE TABLE idempotency_records (
    tenant_id             uuid NOT NULL,
    idempotency_key       text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    -- SHA-256 of caller, method, path and query, and body: the same key with another request is refused (422).
    request_hash          bytea NOT NULL,
    request_method        text NOT NULL,
    request_path          text NOT NULL,
    user_id               uuid NOT NULL,
    -- Identifies the execution that holds the reservation, so a late finisher cannot overwrite a takeover.
    attempt_id            uuid NOT NULL,
    state                 text NOT NULL CHECK (state IN ('in-progress', 'completed')),
    response_status       integer,
    response_content_type text,
    response_location     text,
    response_body         bytea,
    created_at            timestamptz NOT NULL,
    completed_at          timestamptz,
    expires_at            timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key),
    CHECK (state = 'in-progress' OR (response_status IS NOT NULL AND response_body IS NOT NULL AND completed_at IS NOT NULL))
);

-- Housekeeping deletes by expiry.
CREATE INDEX idempotency_records_expires_at ON idempotency_records (expires_at);
