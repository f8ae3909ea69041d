-- Ferry store, version 4: a credential's owner is unique per project, not across the store.
-- Version 3 made `owner` ('endpoint:source', 'endpoint:target', 'mapping:<id>:<slot>') unique on its own, so
-- supplying the source secret of one project replaced the row of whichever project stored it first — another
-- tenant's included — and the new project had none. SQLite cannot drop a constraint, so the table is rebuilt.
-- Never edit after it lands; add 0005_*.sql instead.

CREATE TABLE prog_credential_v4 (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES prog_project(id),
    owner        TEXT NOT NULL,              -- 'endpoint:source' / 'endpoint:target' or 'mapping:<id>:source' / 'mapping:<id>:target'
    nonce        BLOB NOT NULL,
    ciphertext   BLOB NOT NULL,
    supplied_by  TEXT NOT NULL,
    supplied_at  TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    UNIQUE (project_id, owner)
);
INSERT INTO prog_credential_v4 (id, project_id, owner, nonce, ciphertext, supplied_by, supplied_at, expires_at)
    SELECT id, project_id, owner, nonce, ciphertext, supplied_by, supplied_at, expires_at FROM prog_credential;
DROP TABLE prog_credential;
ALTER TABLE prog_credential_v4 RENAME TO prog_credential;
CREATE INDEX prog_credential_by_project ON prog_credential (project_id);
