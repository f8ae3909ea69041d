-- Ferry store (PostgreSQL), version 4: what Ferry changed in a message it copied (issue 10), e.g. a
-- read-receipt request disarmed; the report lists these messages. NULL: copied as it was. The same column as
-- SQLite's 0012_item_note.sql. Never edit after it lands; add the next number instead.

ALTER TABLE item ADD COLUMN note TEXT;
