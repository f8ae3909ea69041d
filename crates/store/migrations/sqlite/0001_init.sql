-- Ferry store, version 1: runs, mappings, passes, folder checkpoints, and the per-message journal.
-- Never edit after it lands; add 0002_*.sql instead.

CREATE TABLE run (
    id          TEXT PRIMARY KEY,
    workload    TEXT NOT NULL,              -- 'mail'
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,              -- running | done | done_with_errors | failed
    options     TEXT NOT NULL DEFAULT '{}'  -- JSON, no secrets
);

CREATE TABLE mapping (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL,              -- endpoint description, no secrets (imap://alice@host:143)
    target      TEXT NOT NULL,
    label       TEXT NOT NULL,              -- what the user calls it (e-mail address)
    created_at  TEXT NOT NULL,
    sealed_at   TEXT,                       -- set by a Final pass
    UNIQUE (source, target)
);

CREATE TABLE pass (
    id          TEXT PRIMARY KEY,
    mapping_id  TEXT NOT NULL REFERENCES mapping(id),
    run_id      TEXT NOT NULL REFERENCES run(id),
    kind        TEXT NOT NULL,              -- initial | delta | final
    status      TEXT NOT NULL,              -- running | done | done_with_errors | failed
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    discovered  INTEGER NOT NULL DEFAULT 0,
    copied      INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    error       TEXT
);
CREATE INDEX pass_by_mapping ON pass (mapping_id, started_at);

-- One row per source folder: the checkpoint.
CREATE TABLE folder_state (
    mapping_id     TEXT NOT NULL REFERENCES mapping(id),
    folder         TEXT NOT NULL,           -- FolderPath as JSON array of segments
    target_folder  TEXT NOT NULL,           -- FolderPath JSON on the target
    uid_validity   INTEGER NOT NULL,
    uid_next       INTEGER NOT NULL,
    messages       INTEGER NOT NULL,
    hwm            INTEGER NOT NULL,        -- every source uid <= hwm has a journal row
    error          TEXT,                    -- last folder-level error, if any
    PRIMARY KEY (mapping_id, folder)
);

-- The message journal: one row per source message (folder, uid_validity, uid), with its outcome.
CREATE TABLE item (
    mapping_id     TEXT NOT NULL REFERENCES mapping(id),
    folder         TEXT NOT NULL,
    uid_validity   INTEGER NOT NULL,
    uid            INTEGER NOT NULL,
    fingerprint    TEXT NOT NULL,
    message_id     TEXT,
    size           INTEGER NOT NULL,
    status         TEXT NOT NULL,           -- pending | copied | skipped | failed
    reason         TEXT,
    target_folder  TEXT,
    target_uid     INTEGER,
    probe_from     INTEGER,                 -- target uid_next before a pending append (crash recovery)
    attempts       INTEGER NOT NULL DEFAULT 0,
    pass_id        TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (mapping_id, folder, uid_validity, uid)
);
CREATE INDEX item_by_fingerprint ON item (mapping_id, folder, fingerprint);
CREATE INDEX item_by_status ON item (mapping_id, folder, status);
