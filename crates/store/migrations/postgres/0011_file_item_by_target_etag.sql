-- Issue 11 (SQLite 0018_file_item_by_target_etag.sql; PostgreSQL 0011): a pass leaves Ferry's own writes out
-- of the target's change feed by looking the feed's eTags up among the mapping's copied files
-- (FileStore::file_own_etags). Without an index on target_etag that read every copied row of the mapping;
-- this one answers by eTag. Partial: only copied rows are asked for.
CREATE INDEX file_item_by_target_etag ON file_item (mapping_id, target_etag) WHERE status = 'copied';
