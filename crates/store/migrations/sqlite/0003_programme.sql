-- Ferry store, version 3: the migration programme (issue 4): users and tokens, tenants and their members,
-- projects with gates, tasks, endpoints, credentials, mappings, assessments, events, passes, approvals,
-- tickets, the audit log and transactions. Never edit after it lands; add 0004_*.sql instead.
-- Times are RFC 3339 UTC text; ids are UUIDv7 text. Secrets are only ever stored encrypted (AES-256-GCM),
-- with the key outside the database.

CREATE TABLE prog_user (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    operator    INTEGER NOT NULL DEFAULT 0,  -- the server's operator account: every permission everywhere
    created_at  TEXT NOT NULL
);

CREATE TABLE prog_token (
    hash        TEXT PRIMARY KEY,            -- SHA-256 of the bearer token (the token itself is never stored)
    user_id     TEXT NOT NULL REFERENCES prog_user(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL
);

CREATE TABLE prog_tenant (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    doc         TEXT NOT NULL,               -- JSON of ferry_core::programme::Tenant
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE prog_member (
    tenant_id   TEXT NOT NULL REFERENCES prog_tenant(id),
    user_id     TEXT NOT NULL REFERENCES prog_user(id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE prog_project (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES prog_tenant(id),
    name           TEXT NOT NULL,
    workload       TEXT NOT NULL,            -- mail | files
    source_system  TEXT NOT NULL,
    state          TEXT NOT NULL,
    paused_from    TEXT,
    paused_since   TEXT,
    last_progress  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX prog_project_by_tenant ON prog_project (tenant_id);

CREATE TABLE prog_gate (
    project_id    TEXT NOT NULL REFERENCES prog_project(id),
    kind          TEXT NOT NULL,
    confirmed_by  TEXT,
    confirmed_at  TEXT,
    PRIMARY KEY (project_id, kind)
);

CREATE TABLE prog_task (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES prog_project(id),
    task        TEXT NOT NULL,
    agreement   TEXT,
    in_scope    INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE prog_endpoint (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES prog_project(id),
    side        TEXT NOT NULL,               -- source | target
    url         TEXT NOT NULL,               -- never holds a secret
    username    TEXT,
    options     TEXT NOT NULL DEFAULT '{}',  -- JSON
    created_at  TEXT NOT NULL,
    UNIQUE (project_id, side)
);

CREATE TABLE prog_credential (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES prog_project(id),
    owner        TEXT NOT NULL,              -- 'endpoint:<id>' or 'mapping:<id>:source' / 'mapping:<id>:target'
    nonce        BLOB NOT NULL,
    ciphertext   BLOB NOT NULL,
    supplied_by  TEXT NOT NULL,
    supplied_at  TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    UNIQUE (owner)
);
CREATE INDEX prog_credential_by_project ON prog_credential (project_id);

CREATE TABLE prog_mapping (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES prog_project(id),
    line        INTEGER NOT NULL,            -- line in the imported CSV
    label       TEXT NOT NULL,
    source      TEXT NOT NULL,               -- source identity (login or path)
    target      TEXT NOT NULL,               -- target identity (mailbox or path)
    doc         TEXT NOT NULL,               -- JSON: the row's other fields (never a secret)
    created_at  TEXT NOT NULL,
    UNIQUE (project_id, label)
);

CREATE TABLE prog_assessment (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES prog_project(id),
    status       TEXT NOT NULL,              -- running | done | failed
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    report       TEXT                        -- JSON readiness report
);

CREATE TABLE prog_event (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES prog_project(id),
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,             -- synchronization | completion
    pilot         INTEGER NOT NULL,
    start_at      TEXT NOT NULL,
    state         TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    completed_at  TEXT,
    final_report  TEXT                       -- JSON, written when the event completes
);
CREATE INDEX prog_event_by_project ON prog_event (project_id);

CREATE TABLE prog_event_mapping (
    event_id    TEXT NOT NULL REFERENCES prog_event(id),
    mapping_id  TEXT NOT NULL REFERENCES prog_mapping(id),
    added_at    TEXT NOT NULL,
    PRIMARY KEY (event_id, mapping_id)
);

CREATE TABLE prog_pass (
    id           TEXT PRIMARY KEY,
    event_id     TEXT NOT NULL REFERENCES prog_event(id),
    mapping_id   TEXT NOT NULL REFERENCES prog_mapping(id),
    kind         TEXT NOT NULL,              -- initial | delta | final
    attempt      INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    outcome      TEXT NOT NULL,              -- running | succeeded | failed
    reason       TEXT,
    counters     TEXT,                       -- JSON PassCounters
    grade        TEXT,
    run_id       TEXT                        -- the engine run that did the work (its per-item journal)
);
CREATE INDEX prog_pass_by_mapping ON prog_pass (mapping_id);
CREATE INDEX prog_pass_by_event ON prog_pass (event_id);

CREATE TABLE prog_approval (
    event_id     TEXT NOT NULL REFERENCES prog_event(id),
    mapping_id   TEXT NOT NULL REFERENCES prog_mapping(id),
    approved_by  TEXT NOT NULL,
    approved_at  TEXT NOT NULL
);

CREATE TABLE prog_ticket (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES prog_project(id),
    mapping_id  TEXT NOT NULL REFERENCES prog_mapping(id),
    event_id    TEXT NOT NULL REFERENCES prog_event(id),
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    status      TEXT NOT NULL,               -- open | resolved
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE prog_audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT,
    user_id     TEXT,                        -- NULL: the scheduler
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    before      TEXT,                        -- JSON summary (never a secret)
    after       TEXT,
    at          TEXT NOT NULL,
    request_id  TEXT
);
CREATE INDEX prog_audit_by_tenant ON prog_audit (tenant_id, seq);

CREATE TABLE prog_transaction (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    status      TEXT NOT NULL,               -- created | in_progress | completed | failed | on_hold
    detail      TEXT,
    created_by  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
