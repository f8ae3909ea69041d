-- Ferry store, version 6: the mail journal is a cache, the target is the truth (issue 9, items 6–9).
-- - folder_state.target_uid_validity: the target folder's UIDVALIDITY when Ferry last wrote to it (NULL: not
--   known, e.g. a journal from before this version). A different value means the target folder was recreated
--   and the journal's copied rows for it no longer vouch for anything.
-- - folder_state.source_modseq: the source folder's HIGHESTMODSEQ after the last flag sync (CONDSTORE), so an
--   unchanged folder needs no flags fetch.
-- - item.content_hash: a hash of the message's bytes, written with every copy; it tells apart messages whose
--   headers and size are the same (same fingerprint) but whose bodies differ.
-- - item.flags: the flags Ferry last wrote to the target (space-separated, sorted), for the three-way flag sync.
-- Never edit after it lands; add the next number instead.

ALTER TABLE folder_state ADD COLUMN target_uid_validity INTEGER;
ALTER TABLE folder_state ADD COLUMN source_modseq INTEGER;
ALTER TABLE item ADD COLUMN content_hash TEXT;
ALTER TABLE item ADD COLUMN flags TEXT;
