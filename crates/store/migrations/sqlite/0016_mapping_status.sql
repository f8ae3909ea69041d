-- Ferry store, version 16: the mappings grid pages and filters in the store (issue 13).
--
-- A mapping's state on the grid is what the pass rules decide (`ferry_core::programme::pass::next_pass`, in
-- Rust, the only place the rule lives). The server stores each decision here with what it needs to show a
-- row; the triggers below mark a row stale, in the same transaction, whenever something the decision was made
-- from changes: a pass starts, ends or goes, the mapping joins or leaves an event, an event's start or kind
-- changes, a credential is supplied or removed (a corrected login gives fresh attempts). The server decides
-- the stale rows again before it reads a page. `gen` counts the changes: a decision is stored only over the
-- `gen` it was made from, so one made from an older reading stays stale.
-- Never edit after it lands; add the next number instead.

CREATE TABLE prog_mapping_status (
    mapping_id    TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL,
    stale         INTEGER NOT NULL,          -- 1: decide again before reading
    gen           INTEGER NOT NULL,          -- bumped by every change that makes the row stale
    event_id      TEXT,                      -- the latest event (by start) holding the mapping; NULL: none
    state         TEXT NOT NULL,             -- the grid's state (`not scheduled`, `due`, `waiting`, …)
    decision      TEXT,                      -- JSON: the rules' decision in that event
    until_at      TEXT,                      -- the decision holds until then (a wait ends); NULL: until a change
    last_pass_id  TEXT,                      -- the mapping's latest pass in any event (NULL: none, or in no event)
    rules         TEXT NOT NULL              -- the settings the decision was made under
);
CREATE INDEX prog_mapping_status_by_project ON prog_mapping_status (project_id, state);

CREATE TRIGGER prog_mapping_status_pass_insert AFTER INSERT ON prog_pass BEGIN
    UPDATE prog_mapping_status SET stale = 1, gen = gen + 1 WHERE mapping_id = NEW.mapping_id;
END;
CREATE TRIGGER prog_mapping_status_pass_update
    AFTER UPDATE OF event_id, mapping_id, kind, attempt, started_at, finished_at, outcome, reason, counters, grade
    ON prog_pass BEGIN
    UPDATE prog_mapping_status SET stale = 1, gen = gen + 1
        WHERE mapping_id IN (OLD.mapping_id, NEW.mapping_id);
END;
CREATE TRIGGER prog_mapping_status_pass_delete AFTER DELETE ON prog_pass BEGIN
    UPDATE prog_mapping_status SET stale = 1, gen = gen + 1 WHERE mapping_id = OLD.mapping_id;
END;
CREATE TRIGGER prog_mapping_status_event_mapping_insert AFTER INSERT ON prog_event_mapping BEGIN
    UPDATE prog_mapping_status SET stale = 1, gen = gen + 1 WHERE mapping_id = NEW.mapping_id;
END;
CREATE TRIGGER prog_mapping_status_event_mapping_delete AFTER DELETE ON prog_event_mapping BEGIN
    UPDATE prog_mapping_status SET stale = 1, gen = gen + 1 WHERE mapping_id = OLD.mapping_id;
END;
CREATE TRIGGER prog_mapping_status_event_update AFTER UPDATE OF start_at, kind ON prog_event BEGIN
    UPDATE prog_mapping_status SET stale = 1, gen = gen + 1
        WHERE mapping_id IN (SELECT mapping_id FROM prog_event_mapping WHERE event_id = NEW.id);
END;
-- A mapping's own credential ('mapping:<id>:<slot>') changes that mapping; an endpoint's, the project.
CREATE TRIGGER prog_mapping_status_credential_insert_mapping AFTER INSERT ON prog_credential
    WHEN NEW.owner LIKE 'mapping:%' BEGIN
    UPDATE prog_mapping_status SET stale = 1, gen = gen + 1
        WHERE mapping_id = substr(NEW.owner, 9, instr(substr(NEW.owner, 9), ':') - 1);
END;
CREATE TRIGGER prog_mapping_status_credential_insert_endpoint AFTER INSERT ON prog_credential
    WHEN NEW.owner NOT LIKE 'mapping:%' BEGIN
    UPDATE prog_mapping_status SET stale = 1, gen = gen + 1 WHERE project_id = NEW.project_id;
END;
CREATE TRIGGER prog_mapping_status_credential_update_mapping AFTER UPDATE ON prog_credential
    WHEN NEW.owner LIKE 'mapping:%' BEGIN
    UPDATE prog_mapping_status SET stale = 1, gen = gen + 1
        WHERE mapping_id = substr(NEW.owner, 9, instr(substr(NEW.owner, 9), ':') - 1);
END;
CREATE TRIGGER prog_mapping_status_credential_update_endpoint AFTER UPDATE ON prog_credential
    WHEN NEW.owner NOT LIKE 'mapping:%' BEGIN
    UPDATE prog_mapping_status SET stale = 1, gen = gen + 1 WHERE project_id = NEW.project_id;
END;
CREATE TRIGGER prog_mapping_status_credential_delete_mapping AFTER DELETE ON prog_credential
    WHEN OLD.owner LIKE 'mapping:%' BEGIN
    UPDATE prog_mapping_status SET stale = 1, gen = gen + 1
        WHERE mapping_id = substr(OLD.owner, 9, instr(substr(OLD.owner, 9), ':') - 1);
END;
CREATE TRIGGER prog_mapping_status_credential_delete_endpoint AFTER DELETE ON prog_credential
    WHEN OLD.owner NOT LIKE 'mapping:%' BEGIN
    UPDATE prog_mapping_status SET stale = 1, gen = gen + 1 WHERE project_id = OLD.project_id;
END;
CREATE TRIGGER prog_mapping_status_mapping_delete AFTER DELETE ON prog_mapping BEGIN
    DELETE FROM prog_mapping_status WHERE mapping_id = OLD.id;
END;
