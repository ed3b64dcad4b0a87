-- Orleans reminders (AdoNet reminder table), scoped by ClusterOptions.ServiceId.
-- grain_hash is the grain's uniform hash reinterpreted as a signed int: signed order is the ring order Orleans
-- assumes when it asks for the reminders of a silo's ring range.

CREATE TABLE orleans_reminders (
    service_id     text NOT NULL,
    grain_id       text NOT NULL,        -- GrainId.ToString(), parsed back by Orleans: stored exactly as received
    reminder_name  text NOT NULL,
    start_time     timestamptz NOT NULL,
    period         bigint NOT NULL,      -- milliseconds; bigint because periods over 24.8 days exceed int
    grain_hash     integer NOT NULL,
    version        integer NOT NULL CHECK (version >= 0),
    PRIMARY KEY (service_id, grain_id, reminder_name)
);

CREATE INDEX orleans_reminders_ring ON orleans_reminders (service_id, grain_hash);

-- One statement, so insert-or-bump is atomic under concurrent registrations of the same reminder.
INSERT INTO orleansquery (querykey, querytext) VALUES ('UpsertReminderRowKey', $q$
INSERT INTO orleans_reminders (service_id, grain_id, reminder_name, start_time, period, grain_hash, version)
VALUES (@ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash, 0)
ON CONFLICT (service_id, grain_id, reminder_name) DO UPDATE
   SET start_time = EXCLUDED.start_time, period = EXCLUDED.period, grain_hash = EXCLUDED.grain_hash,
       version = orleans_reminders.version + 1
RETURNING version AS Version
$q$);

INSERT INTO orleansquery (querykey, querytext) VALUES ('ReadReminderRowsKey', $q$
SELECT grain_id AS GrainId, reminder_name AS ReminderName, start_time AS StartTime, period AS Period, version AS Version
FROM orleans_reminders
WHERE service_id = @ServiceId AND grain_id = @GrainId
$q$);

INSERT INTO orleansquery (querykey, querytext) VALUES ('ReadReminderRowKey', $q$
SELECT grain_id AS GrainId, reminder_name AS ReminderName, start_time AS StartTime, period AS Period, version AS Version
FROM orleans_reminders
WHERE service_id = @ServiceId AND grain_id = @GrainId AND reminder_name = @ReminderName
$q$);

-- A range that does not wrap: (begin, end].
INSERT INTO orleansquery (querykey, querytext) VALUES ('ReadRangeRows1Key', $q$
SELECT grain_id AS GrainId, reminder_name AS ReminderName, start_time AS StartTime, period AS Period, version AS Version
FROM orleans_reminders
WHERE service_id = @ServiceId AND grain_hash > @BeginHash AND grain_hash <= @EndHash
$q$);

-- A range that wraps past the top of the ring (begin >= end; begin = end is the whole ring).
INSERT INTO orleansquery (querykey, querytext) VALUES ('ReadRangeRows2Key', $q$
SELECT grain_id AS GrainId, reminder_name AS ReminderName, start_time AS StartTime, period AS Period, version AS Version
FROM orleans_reminders
WHERE service_id = @ServiceId AND (grain_hash > @BeginHash OR grain_hash <= @EndHash)
$q$);

INSERT INTO orleansquery (querykey, querytext) VALUES ('DeleteReminderRowKey', $q$
WITH deleted AS (
    DELETE FROM orleans_reminders
    WHERE service_id = @ServiceId AND grain_id = @GrainId AND reminder_name = @ReminderName AND version = @Version
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM deleted)
$q$);

INSERT INTO orleansquery (querykey, querytext) VALUES ('DeleteReminderRowsKey', $q$
DELETE FROM orleans_reminders WHERE service_id = @ServiceId
$q$);
