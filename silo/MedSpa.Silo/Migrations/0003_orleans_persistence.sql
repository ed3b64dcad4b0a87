-- Orleans grain state (AdoNet grain storage), scoped by ClusterOptions.ServiceId.
--
-- A row's identity is (service, state name, N0, N1, key extension). The hashes Orleans also sends are stored but
-- never used to find a row: matching on them would mix grains on a collision and hide every row if the hasher
-- ever changed. grain_type is the *state name* from [PersistentState("name", ...)], not the grain class, so two
-- grain classes must not share a state name for the same key.
--
-- The version is the ETag. Every write names the version it read (NULL = "I saw no row"); a write that finds a
-- different version changes nothing and returns NULL, which Orleans turns into InconsistentStateException.

-- NULL (no extension) and '' are different identities. Comparing through this key keeps every lookup a plain
-- equality the unique index serves (IS NOT DISTINCT FROM cannot use an index).
CREATE FUNCTION orleans_grain_extension_key(extension text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN extension IS NULL THEN '' ELSE '+' || extension END;

CREATE TABLE orleans_grain_state (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id              text NOT NULL,
    grain_type              text NOT NULL,
    grain_type_hash         integer NOT NULL,
    grain_id_n0             bigint NOT NULL,
    grain_id_n1             bigint NOT NULL,
    grain_id_extension      text NULL,
    grain_id_extension_key  text NOT NULL GENERATED ALWAYS AS (orleans_grain_extension_key(grain_id_extension)) STORED,
    grain_id_hash           integer NOT NULL,
    payload                 bytea NULL,       -- NULL after a clear: the row (and its version) stays
    version                 integer NOT NULL CHECK (version > 0),
    modified_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orleans_grain_state_identity
        UNIQUE (service_id, grain_type, grain_id_n0, grain_id_n1, grain_id_extension_key)
);

CREATE FUNCTION orleans_grain_state_write(
    p_service_id text, p_grain_type text, p_grain_type_hash integer, p_n0 bigint, p_n1 bigint,
    p_extension text, p_grain_id_hash integer, p_expected_version integer, p_payload bytea)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    new_version integer;
BEGIN
    IF p_expected_version IS NULL THEN
        -- First write of a grain. Concurrent first writers (duplicate activations) all reach here; the unique
        -- constraint lets exactly one insert and the others get NULL - never a unique-violation error, and never
        -- the existing version, which Orleans would take for success.
        INSERT INTO orleans_grain_state (service_id, grain_type, grain_type_hash, grain_id_n0, grain_id_n1,
                                         grain_id_extension, grain_id_hash, payload, version)
        VALUES (p_service_id, p_grain_type, p_grain_type_hash, p_n0, p_n1,
                p_extension, p_grain_id_hash, p_payload, 1)
        ON CONFLICT ON CONSTRAINT orleans_grain_state_identity DO NOTHING
        RETURNING version INTO new_version;
        RETURN new_version;
    END IF;

    UPDATE orleans_grain_state
       SET payload = p_payload, version = version + 1, modified_at = now()
     WHERE service_id = p_service_id AND grain_type = p_grain_type
       AND grain_id_n0 = p_n0 AND grain_id_n1 = p_n1
       AND grain_id_extension_key = orleans_grain_extension_key(p_extension)
       AND version = p_expected_version
    RETURNING version INTO new_version;
    RETURN new_version;   -- NULL when the row moved on (stale ETag) or is gone
END
$fn$;

INSERT INTO orleansquery (querykey, querytext) VALUES ('ReadFromStorageKey', $q$
SELECT payload AS PayloadBinary, version AS Version
FROM orleans_grain_state
WHERE service_id = @ServiceId AND grain_type = @GrainTypeString
  AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1
  AND grain_id_extension_key = orleans_grain_extension_key(@GrainIdExtensionString)
$q$);

-- Orleans reads exactly one row with NewGrainStateVersion; the function always returns one (NULL = not written).
INSERT INTO orleansquery (querykey, querytext) VALUES ('WriteToStorageKey', $q$
SELECT orleans_grain_state_write(@ServiceId, @GrainTypeString, @GrainTypeHash, @GrainIdN0, @GrainIdN1,
                                 @GrainIdExtensionString, @GrainIdHash, @GrainStateVersion, @PayloadBinary)
       AS NewGrainStateVersion
$q$);

-- Clear keeps the row with a NULL payload and a bumped version, so a stale activation can never "re-create"
-- state with a NULL ETag after a clear. No row back (stale ETag) means InconsistentStateException.
INSERT INTO orleansquery (querykey, querytext) VALUES ('ClearStorageKey', $q$
UPDATE orleans_grain_state
   SET payload = NULL, version = version + 1, modified_at = now()
 WHERE service_id = @ServiceId AND grain_type = @GrainTypeString
   AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1
   AND grain_id_extension_key = orleans_grain_extension_key(@GrainIdExtensionString)
   AND version = @GrainStateVersion
RETURNING version AS NewGrainStateVersion
$q$);

-- Used only by a storage configured with DeleteStateOnClear=true. Orleans needs a value different from the ETag
-- it sent to count the delete as done.
INSERT INTO orleansquery (querykey, querytext) VALUES ('DeleteStorageKey', $q$
DELETE FROM orleans_grain_state
 WHERE service_id = @ServiceId AND grain_type = @GrainTypeString
   AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1
   AND grain_id_extension_key = orleans_grain_extension_key(@GrainIdExtensionString)
   AND version = @GrainStateVersion
RETURNING version + 1 AS NewGrainStateVersion
$q$);
