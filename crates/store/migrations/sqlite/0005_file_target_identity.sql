-- Ferry store, version 5 (issue 9): what the file journal needs to trust the target, not itself.
-- - target_etag: the version tag (HTTP ETag) the target reported right after Ferry wrote the file. "Changed on
--   the target" is decided from it where the target offers one (an edit that keeps size and mtime changes it),
--   from size and mtime otherwise. Version 2 kept only target_size/target_mtime, and WebDAV reports no mtime
--   after a PUT, so every later source change was taken for a target edit.
-- - renamed: for a file written under a name the target rules changed, the rules that fired (shown by
--   `ferry report`).
-- - file_mapping: per file mapping, the target rules its passes used, so `ferry files verify` pairs names by
--   the same rules.
-- Never edit after it lands; add the next number instead.

ALTER TABLE file_item ADD COLUMN target_etag TEXT;
ALTER TABLE file_item ADD COLUMN renamed TEXT;

CREATE TABLE file_mapping (
    mapping_id     TEXT PRIMARY KEY REFERENCES mapping(id),
    target_rules   TEXT NOT NULL,           -- none | onedrive | sharepoint
    updated_at     TEXT NOT NULL
);
