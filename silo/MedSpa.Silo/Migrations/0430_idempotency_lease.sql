-- Idempotency-Key reservations carry a lease (issue 19 §2): the executing request renews it while its handler runs,
-- and a retry may take over an in-progress key only once its lease has lapsed. Before, a reservation could be taken
-- over only after a fixed 5 minutes; one orphaned by a PostgreSQL outage (its commit reached the server but the
-- acknowledgement was lost, or its release could not reach the database) answered 409 request_in_progress to the
-- client's every resend for those 5 minutes. With the lease a dead or failed attempt frees its key within seconds and
-- a live slow one keeps it.
-- NULL once completed: a completed record is replayed, never taken over, until it expires.
ALTER TABLE idempotency_records ADD COLUMN lease_until timestamptz;

-- Reservations in flight during the upgrade keep the rule they were made under.
UPDATE idempotency_records SET lease_until = created_at + interval '5 minutes' WHERE state = 'in-progress';

ALTER TABLE idempotency_records ADD CONSTRAINT idempotency_records_lease_check
    CHECK (state = 'completed' OR lease_until IS NOT NULL);
