-- Ferry store, version 9: what people need to find a skipped or failed message in their mail client
-- (issue 9, item 17): its internal date, sender and subject, cleaned and truncated by the engine.
-- Kept for skipped and failed messages only; NULL for the rest and for rows written before.
-- Never edit after it lands; add the next number instead.

ALTER TABLE item ADD COLUMN internal_date TEXT;
ALTER TABLE item ADD COLUMN sender TEXT;
ALTER TABLE item ADD COLUMN subject TEXT;
