-- Issue 11 (SQLite 0011_file_target_feed.sql; PostgreSQL 0005): per file mapping, the target drive's change feed: the last
-- `@odata.deltaLink` a OneDrive or SharePoint target handed out, read by the next pass to learn what changed
-- on the target since. A mapping without a row starts a new feed.
CREATE TABLE file_target_feed (
    mapping_id     TEXT COLLATE "C" PRIMARY KEY REFERENCES mapping(id),
    delta_link     TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT COLLATE "C" NOT NULL
);
