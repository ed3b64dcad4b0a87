-- Orleans cluster membership (AdoNet clustering), scoped by ClusterOptions.ClusterId (bound as @DeploymentId).
--
-- Every member row shares the version of its deployment's version row: the membership protocol is optimistic,
-- each write names the version it last read, and exactly one of several writers holding the same version may
-- succeed. Writers serialise on the version row (SELECT ... FOR UPDATE), so a loser re-reads the bumped version
-- after the winner commits and fails without changing anything.

CREATE TABLE orleans_membership_version (
    deployment_id  text PRIMARY KEY,
    version        integer NOT NULL DEFAULT 0 CHECK (version >= 0),
    changed_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orleans_membership (
    deployment_id    text NOT NULL REFERENCES orleans_membership_version (deployment_id) ON DELETE CASCADE,
    address          text NOT NULL,      -- IPAddress.ToString(): text, not inet, because Orleans casts it back to string
    port             integer NOT NULL,
    generation       integer NOT NULL,
    silo_name        text NOT NULL,
    host_name        text NOT NULL,
    status           integer NOT NULL CHECK (status BETWEEN 0 AND 6),   -- 3 Active, 6 Dead
    proxy_port       integer NOT NULL DEFAULT 0,                        -- gateway port, 0 when not a gateway
    suspect_times    text NULL,          -- opaque to us: "ip:port@gen,time|..." written and parsed by Orleans
    start_time       timestamptz NOT NULL,
    i_am_alive_time  timestamptz NOT NULL,
    PRIMARY KEY (deployment_id, address, port, generation)
);

-- Insert a silo's own row (status Joining) if the caller's version is still current and the member is new.
CREATE FUNCTION orleans_membership_insert(
    p_deployment_id text, p_address text, p_port integer, p_generation integer, p_silo_name text, p_host_name text,
    p_status integer, p_proxy_port integer, p_start_time timestamptz, p_i_am_alive_time timestamptz, p_version integer)
RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM 1 FROM orleans_membership_version
     WHERE deployment_id = p_deployment_id AND version = p_version
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;   -- stale version (or no version row): the caller re-reads and retries
    END IF;

    INSERT INTO orleans_membership (deployment_id, address, port, generation, silo_name, host_name, status,
                                    proxy_port, suspect_times, start_time, i_am_alive_time)
    VALUES (p_deployment_id, p_address, p_port, p_generation, p_silo_name, p_host_name, p_status,
            p_proxy_port, NULL, p_start_time, p_i_am_alive_time)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;   -- the member key exists already; nothing was written, so the version stays
    END IF;

    UPDATE orleans_membership_version SET version = version + 1, changed_at = now()
     WHERE deployment_id = p_deployment_id;
    RETURN true;
END
$fn$;

-- Status changes, suspicion votes and death declarations: only status, suspect times and the alive time change.
CREATE FUNCTION orleans_membership_update(
    p_deployment_id text, p_address text, p_port integer, p_generation integer, p_status integer,
    p_suspect_times text, p_i_am_alive_time timestamptz, p_version integer)
RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM 1 FROM orleans_membership_version
     WHERE deployment_id = p_deployment_id AND version = p_version
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    UPDATE orleans_membership
       SET status = p_status, suspect_times = p_suspect_times, i_am_alive_time = p_i_am_alive_time
     WHERE deployment_id = p_deployment_id AND address = p_address AND port = p_port AND generation = p_generation;
    IF NOT FOUND THEN
        RETURN false;   -- no such member: the version must not move
    END IF;

    UPDATE orleans_membership_version SET version = version + 1, changed_at = now()
     WHERE deployment_id = p_deployment_id;
    RETURN true;
END
$fn$;

-- Every silo runs this at start, possibly at the same moment as others: create-if-absent, never an error.
INSERT INTO orleansquery (querykey, querytext) VALUES ('InsertMembershipVersionKey', $q$
WITH created AS (
    INSERT INTO orleans_membership_version (deployment_id, version) VALUES (@DeploymentId, 0)
    ON CONFLICT (deployment_id) DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM created)
$q$);

-- One SELECT so the version and the members come from one snapshot. The LEFT JOIN yields the single all-NULL
-- "no members" marker row Orleans expects when the deployment has a version row but no members.
INSERT INTO orleansquery (querykey, querytext) VALUES ('MembershipReadAllKey', $q$
SELECT v.version AS Version, m.address AS Address, m.port AS Port, m.generation AS Generation,
       m.silo_name AS SiloName, m.host_name AS HostName, m.status AS Status, m.proxy_port AS ProxyPort,
       m.suspect_times AS SuspectTimes, m.start_time AS StartTime, m.i_am_alive_time AS IAmAliveTime
FROM orleans_membership_version v
LEFT JOIN orleans_membership m ON m.deployment_id = v.deployment_id
WHERE v.deployment_id = @DeploymentId
$q$);

-- The member conditions sit in the join, not the WHERE, so a missing member still yields the marker row.
INSERT INTO orleansquery (querykey, querytext) VALUES ('MembershipReadRowKey', $q$
SELECT v.version AS Version, m.address AS Address, m.port AS Port, m.generation AS Generation,
       m.silo_name AS SiloName, m.host_name AS HostName, m.status AS Status, m.proxy_port AS ProxyPort,
       m.suspect_times AS SuspectTimes, m.start_time AS StartTime, m.i_am_alive_time AS IAmAliveTime
FROM orleans_membership_version v
LEFT JOIN orleans_membership m
       ON m.deployment_id = v.deployment_id AND m.address = @Address AND m.port = @Port AND m.generation = @Generation
WHERE v.deployment_id = @DeploymentId
$q$);

-- SuspectTimes is not bound for inserts in Orleans 10.4.2, so it must not appear here.
INSERT INTO orleansquery (querykey, querytext) VALUES ('InsertMembershipKey', $q$
SELECT orleans_membership_insert(@DeploymentId, @Address, @Port, @Generation, @SiloName, @HostName, @Status,
                                 @ProxyPort, @StartTime, @IAmAliveTime, @Version)
$q$);

INSERT INTO orleansquery (querykey, querytext) VALUES ('UpdateMembershipKey', $q$
SELECT orleans_membership_update(@DeploymentId, @Address, @Port, @Generation, @Status, @SuspectTimes,
                                 @IAmAliveTime, @Version)
$q$);

-- Heartbeat: never touches the version, so it cannot make a concurrent membership write look stale.
INSERT INTO orleansquery (querykey, querytext) VALUES ('UpdateIAmAlivetimeKey', $q$
UPDATE orleans_membership SET i_am_alive_time = @IAmAliveTime
WHERE deployment_id = @DeploymentId AND address = @Address AND port = @Port AND generation = @Generation
$q$);

INSERT INTO orleansquery (querykey, querytext) VALUES ('GatewaysQueryKey', $q$
SELECT address AS Address, proxy_port AS ProxyPort, generation AS Generation
FROM orleans_membership
WHERE deployment_id = @DeploymentId AND status = @Status AND proxy_port > 0
$q$);

INSERT INTO orleansquery (querykey, querytext) VALUES ('DeleteMembershipTableEntriesKey', $q$
DELETE FROM orleans_membership WHERE deployment_id = @DeploymentId;
DELETE FROM orleans_membership_version WHERE deployment_id = @DeploymentId
$q$);

-- Required at start-up, but Orleans runs it only if the per-row key below is missing. Only Dead (6) rows older
-- than the cutoff go: a silo that is merely slow or shutting down keeps its row.
INSERT INTO orleansquery (querykey, querytext) VALUES ('CleanupDefunctSiloEntriesKey', $q$
DELETE FROM orleans_membership
WHERE deployment_id = @DeploymentId AND status = 6
  AND i_am_alive_time < @IAmAliveTime AND start_time < @IAmAliveTime
$q$);

-- Per-row cleanup: delete the Dead row only if it is still exactly what Orleans read, so a row changed in the
-- meantime survives. NULL and empty suspect times are the same "none".
INSERT INTO orleansquery (querykey, querytext) VALUES ('CleanupDefunctSiloEntryKey', $q$
DELETE FROM orleans_membership
WHERE deployment_id = @DeploymentId AND address = @Address AND port = @Port AND generation = @Generation
  AND status = 6
  AND start_time = @StartTime AND i_am_alive_time = @IAmAliveTime
  AND coalesce(suspect_times, '') = coalesce(@SuspectTimes, '')
$q$);
