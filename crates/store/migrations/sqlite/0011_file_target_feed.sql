-- Ferry store, version 11 (issue 11): per file mapping, the target drive's change feed. A OneDrive or
-- SharePoint target hands out an `@odata.deltaLink` at the end of each delta enumeration; the next pass asks
-- it for what changed on the target since (edits and deletions made by people between passes) instead of
-- listing the tree. A mapping without a row starts a new feed. Never edit after it lands; add the next number.
CREATE TABLE file_target_feed (
    mapping_id     TEXT PRIMARY KEY REFERENCES mapping(id),
    delta_link     TEXT NOT NULL,           -- the last @odata.deltaLink (a URL with its token)
    updated_at     TEXT NOT NULL
);
