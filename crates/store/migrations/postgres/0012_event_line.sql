-- Ferry store (PostgreSQL), version 12: each event's mappings summed in the store (issue 13).
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
    event_id     TEXT COLLATE "C" NOT NULL,
    mapping_id   TEXT COLLATE "C" NOT NULL,
    project_id   TEXT COLLATE "C" NOT NULL,
    stale        BOOLEAN NOT NULL,                 -- decide again before reading
    gen          BIGINT NOT NULL,                  -- bumped by every change that makes the line stale
    until_at     TEXT COLLATE "C",                 -- the line holds until then; NULL: until a change
    rules        TEXT COLLATE "C" NOT NULL,        -- the settings the line was decided under
    phase        TEXT COLLATE "C" NOT NULL,        -- queued | running | done | failed
    grade        TEXT COLLATE "C",                 -- the mapping's grade in the event; NULL: not graded
    discovered   BIGINT NOT NULL,                  -- the line's counters
    copied       BIGINT NOT NULL,
    skipped      BIGINT NOT NULL,
    failed       BIGINT NOT NULL,
    bytes        BIGINT NOT NULL,
    line         TEXT,                             -- JSON: the report's line (without the mapping's labels)
    outcome      TEXT,                             -- JSON: the mapping's outcome in the event; NULL: none yet
    PRIMARY KEY (event_id, mapping_id)
);
CREATE INDEX prog_event_line_by_mapping ON prog_event_line (mapping_id);

-- A pass of a mapping changed (in any event): the mapping's lines are stale.
CREATE FUNCTION prog_event_line_pass_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE prog_event_line SET stale = TRUE, gen = gen + 1 WHERE mapping_id = OLD.mapping_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE prog_event_line SET stale = TRUE, gen = gen + 1 WHERE mapping_id = NEW.mapping_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER prog_event_line_pass
    AFTER INSERT OR DELETE OR UPDATE OF event_id, mapping_id, kind, attempt, started_at, finished_at, outcome,
        reason, counters, grade, lease_owner, run_after
    ON prog_pass FOR EACH ROW EXECUTE FUNCTION prog_event_line_pass_changed();

-- A mapping left an event: its line goes.
CREATE FUNCTION prog_event_line_event_mapping_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM prog_event_line WHERE event_id = OLD.event_id AND mapping_id = OLD.mapping_id;
    RETURN NULL;
END $$;
CREATE TRIGGER prog_event_line_event_mapping AFTER DELETE ON prog_event_mapping
    FOR EACH ROW EXECUTE FUNCTION prog_event_line_event_mapping_deleted();

-- An event's start or kind changed: its lines are stale; an event deleted: its lines go.
CREATE FUNCTION prog_event_line_event_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM prog_event_line WHERE event_id = OLD.id;
    ELSE
        UPDATE prog_event_line SET stale = TRUE, gen = gen + 1 WHERE event_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER prog_event_line_event AFTER UPDATE OF start_at, kind OR DELETE ON prog_event
    FOR EACH ROW EXECUTE FUNCTION prog_event_line_event_changed();

-- A mapping's own credential ('mapping:<id>:<slot>') changes that mapping; an endpoint's, the project.
CREATE FUNCTION prog_event_line_credential_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r prog_credential%ROWTYPE;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    IF r.owner LIKE 'mapping:%' THEN
        UPDATE prog_event_line SET stale = TRUE, gen = gen + 1 WHERE mapping_id = split_part(r.owner, ':', 2);
    ELSE
        UPDATE prog_event_line SET stale = TRUE, gen = gen + 1 WHERE project_id = r.project_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER prog_event_line_credential AFTER INSERT OR UPDATE OR DELETE ON prog_credential
    FOR EACH ROW EXECUTE FUNCTION prog_event_line_credential_changed();

-- A deleted mapping has no lines.
CREATE FUNCTION prog_event_line_mapping_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM prog_event_line WHERE mapping_id = OLD.id;
    RETURN NULL;
END $$;
CREATE TRIGGER prog_event_line_mapping AFTER DELETE ON prog_mapping
    FOR EACH ROW EXECUTE FUNCTION prog_event_line_mapping_deleted();
