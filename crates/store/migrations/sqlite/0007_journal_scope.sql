-- Ferry store, version 7: the movers' journal belongs to one programme mapping (issue 9 item 6).
-- Until now a journal mapping was found by (source, target) alone, so two projects — even two tenants —
-- moving the same mailbox to the same target address shared one journal: the second copied nothing and was
-- graded Perfect with the first one's counts. `scope` names the owner: the programme mapping's id for
-- passes run by `ferry serve`, '' for the CLI. SQLite cannot change a UNIQUE constraint, so the table is
-- rebuilt; the journal tables reference it by id, so foreign keys are checked at commit, not per statement.
-- Never edit after it lands; add the next number instead.

PRAGMA defer_foreign_keys = ON;

CREATE TABLE mapping_v7_copy AS SELECT id, source, target, label, created_at, sealed_at FROM mapping;
DROP TABLE mapping;
CREATE TABLE mapping (
    id          TEXT PRIMARY KEY,
    scope       TEXT NOT NULL DEFAULT '',   -- the owner: a programme mapping id (server), '' (CLI)
    source      TEXT NOT NULL,              -- endpoint description, no secrets (imap://alice@host:143)
    target      TEXT NOT NULL,
    label       TEXT NOT NULL,              -- what the user calls it (e-mail address)
    created_at  TEXT NOT NULL,
    sealed_at   TEXT,                       -- set by a Final pass
    UNIQUE (scope, source, target)
);
-- A journal the server made so far belongs to the programme mapping whose passes used it, when exactly one
-- did; a journal shared by several (the bug) or made by the CLI keeps the empty scope, so no programme
-- mapping inherits another's journal.
INSERT INTO mapping (id, scope, source, target, label, created_at, sealed_at)
    SELECT c.id,
           COALESCE((SELECT MIN(pp.mapping_id) FROM prog_pass pp JOIN pass p ON p.run_id = pp.run_id
                     WHERE p.mapping_id = c.id
                     HAVING COUNT(DISTINCT pp.mapping_id) = 1), ''),
           c.source, c.target, c.label, c.created_at, c.sealed_at
    FROM mapping_v7_copy c;
DROP TABLE mapping_v7_copy;
