-- Issue 12 §3: a pass is run by one worker process at a time, under a lease on Ferry's own pass row.
-- The queue only says "run pass X"; this row says who may write for it. Every write a worker makes for the
-- pass is fenced by (id, lease_owner, lease_attempt): a worker whose lease expired and was taken over
-- writes nothing.
ALTER TABLE prog_pass ADD COLUMN lease_owner TEXT;                         -- worker id (host:pid:ulid), NULL: nobody holds it
ALTER TABLE prog_pass ADD COLUMN lease_attempt INTEGER NOT NULL DEFAULT 0; -- bumped at each claim: the fencing token
ALTER TABLE prog_pass ADD COLUMN lease_until TEXT;                         -- the holder must renew before this time
ALTER TABLE prog_pass ADD COLUMN run_after TEXT;                           -- not claimed before this time (a server's suggested backoff)
CREATE INDEX prog_pass_by_outcome ON prog_pass (outcome);
