-- Ferry store, version 12: what Ferry changed in a message it copied (issue 10), e.g. a read-receipt request
-- disarmed; the report lists these messages. NULL: copied as it was (and for rows written before).
-- Never edit after it lands; add the next number instead.

ALTER TABLE item ADD COLUMN note TEXT;
