-- Ferry store, version 19: each event's mappings summed in the store (issue 13).
--
-- The live view and the report pages need from every mapping of an event only its phase (queued, running,
-- done, failed), its grade and its counters; a page's rows need only that page's lines. The server decides
-- each (event, mapping) line by the pass rules (in Rust, the only place they live) and stores it here with
-- those figures, so the pages sum the event with one GROUP BY instead of reading every pass. The triggers
-- below mark a line stale, in the same transaction, whenever something it was decided from changes: a pass
-- of the mapping (in any event) starts, ends, goes, is claimed or given back; the event's start or kind
-- changes; a credential is supplied or removed. The server decides the stale lines again before it reads
-- them. `gen` counts the changes: a line is stored only over the `gen` it was decided from.
-- Never edit after it lands; add the next number instead.

CREATE TABLE prog_event_line (
    event_id     TEXT NOT NULL,
    mapping_id   TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    stale        INTEGER NOT NULL,          -- 1: decide again before reading
    gen          INTEGER NOT NULL,          -- bumped by every change that makes the line stale
    until_at     TEXT,                      -- the line holds until then (a wait ends); NULL: until a change
    rules        TEXT NOT NULL,             -- the settings the line was decided under
    phase        TEXT NOT NULL,             -- queued | running | done | failed
    grade        TEXT,                      -- the mapping's grade in the event; NULL: not graded
    discovered   INTEGER NOT NULL,          -- the line's counters (what is on the target and outstanding)
    copied       INTEGER NOT NULL,
    skipped      INTEGER NOT NULL,
    failed       INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    line         TEXT,                      -- JSON: the report's line for the mapping (without its labels)
    outcome      TEXT,                      -- JSON: the mapping's outcome in the event; NULL: none yet
    PRIMARY KEY (event_id, mapping_id)
);
CREATE INDEX prog_event_line_by_mapping ON prog_event_line (mapping_id);

CREATE TRIGGER prog_event_line_pass_insert AFTER INSERT ON prog_pass BEGIN
    UPDATE prog_event_line SET stale = 1, gen = gen + 1 WHERE mapping_id = NEW.mapping_id;
END;
CREATE TRIGGER prog_event_line_pass_update
    AFTER UPDATE OF event_id, mapping_id, kind, attempt, started_at, finished_at, outcome, reason, counters, grade,
        lease_owner, run_after
    ON prog_pass BEGIN
    UPDATE prog_event_line SET stale = 1, gen = gen + 1 WHERE mapping_id IN (OLD.mapping_id, NEW.mapping_id);
END;
CREATE TRIGGER prog_event_line_pass_delete AFTER DELETE ON prog_pass BEGIN
    UPDATE prog_event_line SET stale = 1, gen = gen + 1 WHERE mapping_id = OLD.mapping_id;
END;
CREATE TRIGGER prog_event_line_event_mapping_delete AFTER DELETE ON prog_event_mapping BEGIN
    DELETE FROM prog_event_line WHERE event_id = OLD.event_id AND mapping_id = OLD.mapping_id;
END;
CREATE TRIGGER prog_event_line_event_update AFTER UPDATE OF start_at, kind ON prog_event BEGIN
    UPDATE prog_event_line SET stale = 1, gen = gen + 1 WHERE event_id = NEW.id;
END;
CREATE TRIGGER prog_event_line_event_delete AFTER DELETE ON prog_event BEGIN
    DELETE FROM prog_event_line WHERE event_id = OLD.id;
END;
-- A mapping's own credential ('mapping:<id>:<slot>') changes that mapping; an endpoint's, the project.
CREATE TRIGGER prog_event_line_credential_insert AFTER INSERT ON prog_credential BEGIN
    UPDATE prog_event_line SET stale = 1, gen = gen + 1
        WHERE (NEW.owner LIKE 'mapping:%'
               AND mapping_id = substr(NEW.owner, 9, instr(substr(NEW.owner, 9), ':') - 1))
           OR (NEW.owner NOT LIKE 'mapping:%' AND project_id = NEW.project_id);
END;
CREATE TRIGGER prog_event_line_credential_update AFTER UPDATE ON prog_credential BEGIN
    UPDATE prog_event_line SET stale = 1, gen = gen + 1
        WHERE (NEW.owner LIKE 'mapping:%'
               AND mapping_id = substr(NEW.owner, 9, instr(substr(NEW.owner, 9), ':') - 1))
           OR (NEW.owner NOT LIKE 'mapping:%' AND project_id = NEW.project_id);
END;
CREATE TRIGGER prog_event_line_credential_delete AFTER DELETE ON prog_credential BEGIN
    UPDATE prog_event_line SET stale = 1, gen = gen + 1
        WHERE (OLD.owner LIKE 'mapping:%'
               AND mapping_id = substr(OLD.owner, 9, instr(substr(OLD.owner, 9), ':') - 1))
           OR (OLD.owner NOT LIKE 'mapping:%' AND project_id = OLD.project_id);
END;
CREATE TRIGGER prog_event_line_mapping_delete AFTER DELETE ON prog_mapping BEGIN
    DELETE FROM prog_event_line WHERE mapping_id = OLD.id;
END;
