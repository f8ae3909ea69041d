-- Ferry store on PostgreSQL, version 1: the movers' journal — runs, mappings, passes, folder checkpoints,
-- the per-message and per-file journals and resumable uploads. The same tables as SQLite's 0001–0009 (their
-- journal half) in their current shape; the programme's tables follow in 0002.
-- Never edit after it lands; add the next number instead.
--
-- Choices that keep the SQLite semantics:
-- - Times are RFC 3339 UTC text with milliseconds (`…T12:00:00.000Z`), as on SQLite: one format in both
--   stores, compared and ordered as text (fixed width, so text order is time order), no time-zone surprises.
-- - Every text column is COLLATE "C": ordering and keyset paging (`path > $1`) are by byte, as SQLite's
--   BINARY collation, whatever locale the cluster was created with.
-- - Integers are BIGINT (SQLite integers are 64-bit); JSON stays text.

CREATE TABLE run (
    id          TEXT COLLATE "C" PRIMARY KEY,
    workload    TEXT COLLATE "C" NOT NULL,
    started_at  TEXT COLLATE "C" NOT NULL,
    finished_at TEXT COLLATE "C",
    status      TEXT COLLATE "C" NOT NULL,              -- running | done | done_with_errors | failed
    options     TEXT COLLATE "C" NOT NULL DEFAULT '{}'  -- JSON, no secrets
);

CREATE TABLE mapping (
    id          TEXT COLLATE "C" PRIMARY KEY,
    scope       TEXT COLLATE "C" NOT NULL DEFAULT '',   -- the owner: a programme mapping id (server), '' (CLI)
    source      TEXT COLLATE "C" NOT NULL,              -- endpoint description, no secrets
    target      TEXT COLLATE "C" NOT NULL,
    label       TEXT COLLATE "C" NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL,
    sealed_at   TEXT COLLATE "C",                       -- set by a Final pass
    UNIQUE (scope, source, target)
);

CREATE TABLE pass (
    id          TEXT COLLATE "C" PRIMARY KEY,
    mapping_id  TEXT COLLATE "C" NOT NULL REFERENCES mapping(id),
    run_id      TEXT COLLATE "C" NOT NULL REFERENCES run(id),
    kind        TEXT COLLATE "C" NOT NULL,              -- initial | delta | final
    status      TEXT COLLATE "C" NOT NULL,
    started_at  TEXT COLLATE "C" NOT NULL,
    finished_at TEXT COLLATE "C",
    discovered  BIGINT NOT NULL DEFAULT 0,
    copied      BIGINT NOT NULL DEFAULT 0,
    skipped     BIGINT NOT NULL DEFAULT 0,
    failed      BIGINT NOT NULL DEFAULT 0,
    bytes       BIGINT NOT NULL DEFAULT 0,
    error       TEXT COLLATE "C"
);
CREATE INDEX pass_by_mapping ON pass (mapping_id, started_at);
CREATE INDEX pass_by_run ON pass (run_id);

-- One row per source folder: the checkpoint.
CREATE TABLE folder_state (
    mapping_id          TEXT COLLATE "C" NOT NULL REFERENCES mapping(id),
    folder              TEXT COLLATE "C" NOT NULL,      -- FolderPath as JSON array of segments
    target_folder       TEXT COLLATE "C" NOT NULL,
    uid_validity        BIGINT NOT NULL,
    uid_next            BIGINT NOT NULL,
    messages            BIGINT NOT NULL,
    hwm                 BIGINT NOT NULL,                -- every source uid <= hwm has a journal row
    error               TEXT COLLATE "C",
    target_uid_validity BIGINT,
    source_modseq       BIGINT,
    PRIMARY KEY (mapping_id, folder)
);

-- The message journal: one row per source message (folder, uid_validity, uid), with its outcome.
CREATE TABLE item (
    mapping_id     TEXT COLLATE "C" NOT NULL REFERENCES mapping(id),
    folder         TEXT COLLATE "C" NOT NULL,
    uid_validity   BIGINT NOT NULL,
    uid            BIGINT NOT NULL,
    fingerprint    TEXT COLLATE "C" NOT NULL,
    message_id     TEXT COLLATE "C",
    size           BIGINT NOT NULL,
    status         TEXT COLLATE "C" NOT NULL,           -- pending | copied | skipped | failed
    reason         TEXT COLLATE "C",
    target_folder  TEXT COLLATE "C",
    target_uid     BIGINT,
    probe_from     BIGINT,                              -- target uid_next before a pending append
    attempts       BIGINT NOT NULL DEFAULT 0,
    pass_id        TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT COLLATE "C" NOT NULL,
    content_hash   TEXT COLLATE "C",
    flags          TEXT COLLATE "C",
    internal_date  TEXT COLLATE "C",
    sender         TEXT COLLATE "C",
    subject        TEXT COLLATE "C",
    PRIMARY KEY (mapping_id, folder, uid_validity, uid)
);
CREATE INDEX item_by_fingerprint ON item (mapping_id, folder, fingerprint);
CREATE INDEX item_by_status ON item (mapping_id, folder, status);
CREATE INDEX item_by_pass ON item (mapping_id, pass_id, folder, uid_validity, uid);

CREATE TABLE file_item (
    mapping_id     TEXT COLLATE "C" NOT NULL REFERENCES mapping(id),
    path           TEXT COLLATE "C" NOT NULL,
    dir            TEXT COLLATE "C" NOT NULL,
    size           BIGINT NOT NULL,
    mtime          TEXT COLLATE "C",
    hash           TEXT COLLATE "C",
    hash_kind      TEXT COLLATE "C",
    status         TEXT COLLATE "C" NOT NULL,
    reason         TEXT COLLATE "C",
    target_path    TEXT COLLATE "C",
    target_size    BIGINT,
    target_mtime   TEXT COLLATE "C",
    attempts       BIGINT NOT NULL DEFAULT 0,
    pass_id        TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT COLLATE "C" NOT NULL,
    target_etag    TEXT COLLATE "C",
    renamed        TEXT COLLATE "C",
    PRIMARY KEY (mapping_id, path)
);
CREATE INDEX file_item_by_dir ON file_item (mapping_id, dir);
CREATE INDEX file_item_by_status ON file_item (mapping_id, status);
CREATE INDEX file_item_by_pass ON file_item (mapping_id, pass_id, path);

CREATE TABLE file_upload (
    mapping_id     TEXT COLLATE "C" NOT NULL REFERENCES mapping(id),
    path           TEXT COLLATE "C" NOT NULL,
    state          TEXT COLLATE "C" NOT NULL,           -- JSON of ferry_core::file::UploadState
    source_size    BIGINT NOT NULL,
    source_mtime   TEXT COLLATE "C",
    updated_at     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (mapping_id, path)
);

CREATE TABLE file_mapping (
    mapping_id     TEXT COLLATE "C" PRIMARY KEY REFERENCES mapping(id),
    target_rules   TEXT COLLATE "C" NOT NULL,           -- none | onedrive | sharepoint
    updated_at     TEXT COLLATE "C" NOT NULL
);
