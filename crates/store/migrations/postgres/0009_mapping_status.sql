-- Ferry store (PostgreSQL), version 9: the mappings grid pages and filters in the store (issue 13).
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
    mapping_id    TEXT COLLATE "C" PRIMARY KEY,
    project_id    TEXT COLLATE "C" NOT NULL,
    stale         BOOLEAN NOT NULL,                 -- decide again before reading
    gen           BIGINT NOT NULL,                  -- bumped by every change that makes the row stale
    event_id      TEXT COLLATE "C",                 -- the latest event (by start) holding the mapping; NULL: none
    state         TEXT COLLATE "C" NOT NULL,        -- the grid's state (`not scheduled`, `due`, `waiting`, …)
    decision      TEXT,                             -- JSON: the rules' decision in that event
    until_at      TEXT COLLATE "C",                 -- the decision holds until then; NULL: until a change
    last_pass_id  TEXT COLLATE "C",                 -- the mapping's latest pass in any event
    rules         TEXT COLLATE "C" NOT NULL         -- the settings the decision was made under
);
CREATE INDEX prog_mapping_status_by_project ON prog_mapping_status (project_id, state);

-- A row (pass, event's mapping) of a mapping changed: that mapping's status is stale.
CREATE FUNCTION prog_mapping_status_row_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE prog_mapping_status SET stale = TRUE, gen = gen + 1 WHERE mapping_id = OLD.mapping_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE prog_mapping_status SET stale = TRUE, gen = gen + 1 WHERE mapping_id = NEW.mapping_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER prog_mapping_status_pass
    AFTER INSERT OR DELETE OR UPDATE OF event_id, mapping_id, kind, attempt, started_at, finished_at, outcome,
        reason, counters, grade
    ON prog_pass FOR EACH ROW EXECUTE FUNCTION prog_mapping_status_row_changed();
CREATE TRIGGER prog_mapping_status_event_mapping AFTER INSERT OR DELETE ON prog_event_mapping
    FOR EACH ROW EXECUTE FUNCTION prog_mapping_status_row_changed();

-- An event's start or kind changed: its mappings' statuses are stale.
CREATE FUNCTION prog_mapping_status_event_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE prog_mapping_status SET stale = TRUE, gen = gen + 1
        WHERE mapping_id IN (SELECT mapping_id FROM prog_event_mapping WHERE event_id = NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER prog_mapping_status_event AFTER UPDATE OF start_at, kind ON prog_event
    FOR EACH ROW EXECUTE FUNCTION prog_mapping_status_event_changed();

-- A mapping's own credential ('mapping:<id>:<slot>') changes that mapping; an endpoint's, the project.
CREATE FUNCTION prog_mapping_status_credential_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r prog_credential%ROWTYPE;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    IF r.owner LIKE 'mapping:%' THEN
        UPDATE prog_mapping_status SET stale = TRUE, gen = gen + 1
            WHERE mapping_id = split_part(r.owner, ':', 2);
    ELSE
        UPDATE prog_mapping_status SET stale = TRUE, gen = gen + 1 WHERE project_id = r.project_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER prog_mapping_status_credential AFTER INSERT OR UPDATE OR DELETE ON prog_credential
    FOR EACH ROW EXECUTE FUNCTION prog_mapping_status_credential_changed();

-- A deleted mapping has no status.
CREATE FUNCTION prog_mapping_status_mapping_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM prog_mapping_status WHERE mapping_id = OLD.id;
    RETURN NULL;
END $$;
CREATE TRIGGER prog_mapping_status_mapping AFTER DELETE ON prog_mapping
    FOR EACH ROW EXECUTE FUNCTION prog_mapping_status_mapping_deleted();
