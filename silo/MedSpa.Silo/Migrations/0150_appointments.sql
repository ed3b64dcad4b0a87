-- Appointments: the booked schedule. The patient-flow status of the day is owned by the visit grain, which keeps
-- `status` here in step (visit_version makes that update idempotent and ordered: an older version never overwrites
-- a newer one, so a retry after a crash between grain write and SQL update is harmless).
-- Double booking is refused by PostgreSQL itself (exclusion constraints over tstzrange), so two front desks
-- booking the same slot at the same instant cannot both win, whichever API host they reach.

-- Trusted extension (PG 13+): the database owner may create it. It gives gist operator classes for = on uuid.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE appointments (
    tenant_id         uuid NOT NULL,
    id                uuid NOT NULL,
    clinic_id         uuid NOT NULL,
    patient_id        uuid NOT NULL,
    provider_id       uuid NOT NULL,
    service_id        uuid NOT NULL,
    room_id           uuid,
    starts_at         timestamptz NOT NULL,
    duration_minutes  integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 720),
    -- Stored rather than generated: timestamptz + interval is only STABLE, and index expressions must be immutable.
    ends_at           timestamptz NOT NULL,
    notes             text CHECK (notes IS NULL OR length(notes) <= 2000),
    status            text NOT NULL DEFAULT 'scheduled'
                      CHECK (status IN ('scheduled', 'confirmed', 'arrived', 'in-progress', 'completed', 'cancelled', 'no-show')),
    priority          smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 2),
    cancel_reason     text CHECK (cancel_reason IS NULL OR length(cancel_reason) <= 500),
    created_by        uuid NOT NULL,
    -- Version of the visit grain state the status was last written from (0: never touched by the grain).
    visit_version     bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CHECK (ends_at = starts_at + make_interval(mins => duration_minutes)),
    CONSTRAINT appointments_clinic_fk FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id),
    CONSTRAINT appointments_patient_fk FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id),
    CONSTRAINT appointments_provider_fk FOREIGN KEY (tenant_id, provider_id) REFERENCES providers (tenant_id, id),
    CONSTRAINT appointments_service_fk FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id),
    CONSTRAINT appointments_room_fk FOREIGN KEY (tenant_id, room_id) REFERENCES rooms (tenant_id, id),
    -- Active = the slot is still held. Completed, cancelled and no-show free it (a provider who finished early
    -- can take the next patient). A NULL room never conflicts (= on NULL is not true).
    CONSTRAINT appointments_provider_no_overlap EXCLUDE USING gist (
        tenant_id WITH =, provider_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
        WHERE (status IN ('scheduled', 'confirmed', 'arrived', 'in-progress')),
    CONSTRAINT appointments_room_no_overlap EXCLUDE USING gist (
        tenant_id WITH =, room_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
        WHERE (status IN ('scheduled', 'confirmed', 'arrived', 'in-progress'))
);

CREATE INDEX appointments_clinic_day ON appointments (tenant_id, clinic_id, starts_at);
CREATE INDEX appointments_provider_start ON appointments (tenant_id, provider_id, starts_at);
CREATE INDEX appointments_room_start ON appointments (tenant_id, room_id, starts_at) WHERE room_id IS NOT NULL;
CREATE INDEX appointments_patient_start ON appointments (tenant_id, patient_id, starts_at);
