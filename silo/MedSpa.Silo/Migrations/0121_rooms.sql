-- Treatment rooms of a clinic. Live status (who is in it, timers) belongs to the room grain; this is the list.

CREATE TABLE rooms (
    tenant_id              uuid NOT NULL,
    id                     uuid NOT NULL,
    clinic_id              uuid NOT NULL,
    number                 text NOT NULL CHECK (length(number) BETWEEN 1 AND 20),
    name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind                   text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9-]{0,39}$'),
    sort_order             integer NOT NULL DEFAULT 0,
    out_of_service         boolean NOT NULL DEFAULT false,
    out_of_service_reason  text CHECK (out_of_service_reason IS NULL OR length(out_of_service_reason) <= 500),
    active                 boolean NOT NULL DEFAULT true,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

-- Archived rooms keep their number: reactivate the old room rather than creating a second "Room 3".
CREATE UNIQUE INDEX rooms_number_unique ON rooms (tenant_id, clinic_id, lower(number));
