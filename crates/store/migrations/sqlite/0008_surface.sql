-- Ferry store, version 8: the server's surface (issue 9, items 10 and 13).
--
-- 1. An endpoint's options never hold a secret (item 10).
-- Until now `PUT …/endpoints/{side}` stored any option as given, so `{"password": …}` or `{"secret_key": …}`
-- sat in plaintext in prog_endpoint.options and was returned to every role. The API now refuses such keys
-- (ferry_engine::endpoint::options); this removes those already stored. Ferry never read them — secrets
-- are taken only from prog_credential — so nothing that worked stops working.
-- Never edit after it lands; add the next free number instead.

UPDATE prog_endpoint
SET options = COALESCE((
    SELECT json_group_object(
        key,
        CASE type
            WHEN 'true' THEN json('true')
            WHEN 'false' THEN json('false')
            WHEN 'object' THEN json(value)
            WHEN 'array' THEN json(value)
            ELSE value
        END
    )
    FROM json_each(prog_endpoint.options)
    WHERE key = 'accept_unknown_host_key'
       OR NOT (instr(lower(key), 'password') OR instr(lower(key), 'passwd') OR instr(lower(key), 'pwd')
            OR instr(lower(key), 'secret') OR instr(lower(key), 'token') OR instr(lower(key), 'credential')
            OR instr(lower(key), 'private') OR instr(lower(key), 'apikey') OR instr(lower(key), 'passphrase')
            OR instr(lower(key), 'bearer') OR instr(lower(key), 'auth') OR instr(lower(key), 'key'))
), '{}')
WHERE json_valid(options) AND json_type(options) = 'object';

-- 2. A user's name as the tenant that added them knows it (item 13). A customer-admin adding a member by
-- name must get the same answer whether another tenant has a user of that name or not, so such a member
-- is a new user: `name` (unique, what the operator and migration-managers add members by) is then made
-- unique, and `display_name` keeps the name the customer-admin gave. NULL: the same as `name`.
ALTER TABLE prog_user ADD COLUMN display_name TEXT;
