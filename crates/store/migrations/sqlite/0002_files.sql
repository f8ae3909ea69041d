-- Ferry store, version 2: the per-file journal and resumable uploads (issue 3).
-- Never edit after it lands; add 0003_*.sql instead.

CREATE TABLE file_item (
    mapping_id     TEXT NOT NULL REFERENCES mapping(id),
    path           TEXT NOT NULL,           -- source path relative to the mapping's source root
    dir            TEXT NOT NULL,           -- its parent directory ('' at the root), for per-directory walks
    size           INTEGER NOT NULL,
    mtime          TEXT,                    -- source mtime, RFC 3339 with nanoseconds
    hash           TEXT,                    -- source hash when known (kind in hash_kind)
    hash_kind      TEXT,
    status         TEXT NOT NULL,           -- pending | copied | skipped | failed
    reason         TEXT,
    target_path    TEXT,                    -- after target-rule renames
    target_size    INTEGER,                 -- as the target reported it right after Ferry wrote it
    target_mtime   TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    pass_id        TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (mapping_id, path)
);
CREATE INDEX file_item_by_dir ON file_item (mapping_id, dir);
CREATE INDEX file_item_by_status ON file_item (mapping_id, status);

-- Multipart uploads in flight, so a re-run resumes mid-file.
CREATE TABLE file_upload (
    mapping_id     TEXT NOT NULL REFERENCES mapping(id),
    path           TEXT NOT NULL,
    state          TEXT NOT NULL,           -- JSON of ferry_core::file::UploadState
    source_size    INTEGER NOT NULL,
    source_mtime   TEXT,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (mapping_id, path)
);
