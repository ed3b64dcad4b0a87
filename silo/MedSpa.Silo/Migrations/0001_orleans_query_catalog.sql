-- The named queries Orleans' ADO.NET providers run (clustering, grain storage, reminders).
-- Each provider reads it at start with the literal "SELECT QueryKey, QueryText FROM OrleansQuery": unquoted, so
-- PostgreSQL folds the names to lowercase and this table and its columns must be lowercase too.
-- Keys are matched case-sensitively (note "UpdateIAmAlivetimeKey"), and texts are cached at provider start:
-- a later migration that changes a text takes effect only when every silo and client has restarted.
CREATE TABLE orleansquery (
    querykey   text PRIMARY KEY,
    querytext  text NOT NULL
);
