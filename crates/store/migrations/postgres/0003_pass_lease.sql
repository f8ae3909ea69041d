-- Issue 12 §3 (SQLite 0010_pass_lease.sql): a pass is run by one worker process at a time, under a lease on
-- Ferry's own pass row. Every write a worker makes for the pass is fenced by (id, lease_owner,
-- lease_attempt): a worker whose lease expired and was taken over writes nothing.
ALTER TABLE prog_pass ADD COLUMN lease_owner TEXT COLLATE "C";               -- worker id (host:pid:uuid), NULL: nobody holds it
ALTER TABLE prog_pass ADD COLUMN lease_attempt BIGINT NOT NULL DEFAULT 0;   -- bumped at each claim: the fencing token
ALTER TABLE prog_pass ADD COLUMN lease_until TEXT COLLATE "C";               -- the holder must renew before this time
ALTER TABLE prog_pass ADD COLUMN run_after TEXT COLLATE "C";                 -- not claimed before this time (a suggested backoff)
CREATE INDEX prog_pass_by_outcome ON prog_pass (outcome);
