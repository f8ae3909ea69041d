-- Ferry store on PostgreSQL, version 2: the migration programme (users and tokens, tenants and members,
-- projects with gates, tasks, endpoints, credentials, mappings, assessments, events, passes, approvals,
-- tickets, the audit log and transactions) — SQLite's 0003, 0004 and 0008 in their current shape.
-- Never edit after it lands; add the next number instead.
--
-- As in 0001: times are RFC 3339 UTC text, text is COLLATE "C", integers are BIGINT (flags such as
-- `operator` or `pilot` are 0/1, as on SQLite). Where SQLite code ordered by `rowid` (insertion order), the
-- table has an explicit `seq` column. Secrets are only ever stored encrypted (AES-256-GCM), with the key
-- outside the database.

-- The JSON of a text column, or NULL when it is not JSON (SQLite's json_valid()): one damaged row must not
-- break a whole count.
CREATE FUNCTION ferry_try_jsonb(t TEXT) RETURNS JSONB LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN t::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

CREATE TABLE prog_user (
    id           TEXT COLLATE "C" PRIMARY KEY,
    name         TEXT COLLATE "C" NOT NULL UNIQUE,
    operator     BIGINT NOT NULL DEFAULT 0,        -- the server's operator account: every permission everywhere
    created_at   TEXT COLLATE "C" NOT NULL,
    display_name TEXT COLLATE "C"                  -- the name the adding tenant gave (NULL: `name`)
);

CREATE TABLE prog_token (
    hash        TEXT COLLATE "C" PRIMARY KEY,      -- SHA-256 of the bearer token (never the token)
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES prog_user(id) ON DELETE CASCADE,
    created_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE prog_tenant (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL,
    doc         TEXT COLLATE "C" NOT NULL,         -- JSON of ferry_core::programme::Tenant
    created_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE prog_member (
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES prog_tenant(id),
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES prog_user(id) ON DELETE CASCADE,
    role        TEXT COLLATE "C" NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX prog_member_by_user ON prog_member (user_id);

CREATE TABLE prog_project (
    id             TEXT COLLATE "C" PRIMARY KEY,
    tenant_id      TEXT COLLATE "C" NOT NULL REFERENCES prog_tenant(id),
    name           TEXT COLLATE "C" NOT NULL,
    workload       TEXT COLLATE "C" NOT NULL,      -- mail | files
    source_system  TEXT COLLATE "C" NOT NULL,
    state          TEXT COLLATE "C" NOT NULL,
    paused_from    TEXT COLLATE "C",
    paused_since   TEXT COLLATE "C",
    last_progress  TEXT COLLATE "C" NOT NULL,
    created_at     TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT COLLATE "C" NOT NULL
);
CREATE INDEX prog_project_by_tenant ON prog_project (tenant_id);

CREATE TABLE prog_gate (
    project_id    TEXT COLLATE "C" NOT NULL REFERENCES prog_project(id),
    kind          TEXT COLLATE "C" NOT NULL,
    confirmed_by  TEXT COLLATE "C",
    confirmed_at  TEXT COLLATE "C",
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (project_id, kind)
);

CREATE TABLE prog_task (
    id          TEXT COLLATE "C" PRIMARY KEY,
    project_id  TEXT COLLATE "C" NOT NULL REFERENCES prog_project(id),
    task        TEXT COLLATE "C" NOT NULL,
    agreement   TEXT COLLATE "C",
    in_scope    BIGINT NOT NULL,
    created_by  TEXT COLLATE "C" NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE prog_endpoint (
    id          TEXT COLLATE "C" PRIMARY KEY,
    project_id  TEXT COLLATE "C" NOT NULL REFERENCES prog_project(id),
    side        TEXT COLLATE "C" NOT NULL,         -- source | target
    url         TEXT COLLATE "C" NOT NULL,         -- never holds a secret
    username    TEXT COLLATE "C",
    options     TEXT COLLATE "C" NOT NULL DEFAULT '{}',  -- JSON, never a secret
    created_at  TEXT COLLATE "C" NOT NULL,
    UNIQUE (project_id, side)
);

CREATE TABLE prog_credential (
    id           TEXT COLLATE "C" PRIMARY KEY,
    project_id   TEXT COLLATE "C" NOT NULL REFERENCES prog_project(id),
    owner        TEXT COLLATE "C" NOT NULL,        -- 'endpoint:source' / 'endpoint:target' or 'mapping:<id>:<side>'
    nonce        BYTEA NOT NULL,
    ciphertext   BYTEA NOT NULL,
    supplied_by  TEXT COLLATE "C" NOT NULL,
    supplied_at  TEXT COLLATE "C" NOT NULL,
    expires_at   TEXT COLLATE "C" NOT NULL,
    UNIQUE (project_id, owner)
);
CREATE INDEX prog_credential_by_project ON prog_credential (project_id);

CREATE TABLE prog_mapping (
    id          TEXT COLLATE "C" PRIMARY KEY,
    project_id  TEXT COLLATE "C" NOT NULL REFERENCES prog_project(id),
    line        BIGINT NOT NULL,                   -- line in the imported CSV
    label       TEXT COLLATE "C" NOT NULL,
    source      TEXT COLLATE "C" NOT NULL,
    target      TEXT COLLATE "C" NOT NULL,
    doc         TEXT COLLATE "C" NOT NULL,         -- JSON: the row's other fields (never a secret)
    created_at  TEXT COLLATE "C" NOT NULL,
    UNIQUE (project_id, label)
);

CREATE TABLE prog_assessment (
    id           TEXT COLLATE "C" PRIMARY KEY,
    project_id   TEXT COLLATE "C" NOT NULL REFERENCES prog_project(id),
    status       TEXT COLLATE "C" NOT NULL,        -- running | done | failed
    started_at   TEXT COLLATE "C" NOT NULL,
    finished_at  TEXT COLLATE "C",
    report       TEXT COLLATE "C",                 -- JSON readiness report
    seq          BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX prog_assessment_by_project ON prog_assessment (project_id, seq);

CREATE TABLE prog_event (
    id            TEXT COLLATE "C" PRIMARY KEY,
    project_id    TEXT COLLATE "C" NOT NULL REFERENCES prog_project(id),
    name          TEXT COLLATE "C" NOT NULL,
    kind          TEXT COLLATE "C" NOT NULL,       -- synchronization | completion
    pilot         BIGINT NOT NULL,
    start_at      TEXT COLLATE "C" NOT NULL,
    state         TEXT COLLATE "C" NOT NULL,
    created_by    TEXT COLLATE "C" NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL,
    updated_at    TEXT COLLATE "C" NOT NULL,
    completed_at  TEXT COLLATE "C",
    final_report  TEXT COLLATE "C"                 -- JSON, written when the event completes
);
CREATE INDEX prog_event_by_project ON prog_event (project_id);

CREATE TABLE prog_event_mapping (
    event_id    TEXT COLLATE "C" NOT NULL REFERENCES prog_event(id),
    mapping_id  TEXT COLLATE "C" NOT NULL REFERENCES prog_mapping(id),
    added_at    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (event_id, mapping_id)
);
CREATE INDEX prog_event_mapping_by_mapping ON prog_event_mapping (mapping_id);

CREATE TABLE prog_pass (
    id           TEXT COLLATE "C" PRIMARY KEY,
    event_id     TEXT COLLATE "C" NOT NULL REFERENCES prog_event(id),
    mapping_id   TEXT COLLATE "C" NOT NULL REFERENCES prog_mapping(id),
    kind         TEXT COLLATE "C" NOT NULL,        -- initial | delta | final
    attempt      BIGINT NOT NULL,
    started_at   TEXT COLLATE "C" NOT NULL,
    finished_at  TEXT COLLATE "C",
    outcome      TEXT COLLATE "C" NOT NULL,        -- running | succeeded | failed
    reason       TEXT COLLATE "C",
    counters     TEXT COLLATE "C",                 -- JSON PassCounters
    grade        TEXT COLLATE "C",
    run_id       TEXT COLLATE "C",                 -- the engine run that did the work
    seq          BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX prog_pass_by_mapping ON prog_pass (mapping_id);
CREATE INDEX prog_pass_by_event ON prog_pass (event_id);

CREATE TABLE prog_approval (
    event_id     TEXT COLLATE "C" NOT NULL REFERENCES prog_event(id),
    mapping_id   TEXT COLLATE "C" NOT NULL REFERENCES prog_mapping(id),
    approved_by  TEXT COLLATE "C" NOT NULL,
    approved_at  TEXT COLLATE "C" NOT NULL,
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY
);
CREATE INDEX prog_approval_by_event ON prog_approval (event_id);
CREATE INDEX prog_approval_by_mapping ON prog_approval (mapping_id);

CREATE TABLE prog_ticket (
    id          TEXT COLLATE "C" PRIMARY KEY,
    project_id  TEXT COLLATE "C" NOT NULL REFERENCES prog_project(id),
    mapping_id  TEXT COLLATE "C" NOT NULL REFERENCES prog_mapping(id),
    event_id    TEXT COLLATE "C" NOT NULL REFERENCES prog_event(id),
    title       TEXT COLLATE "C" NOT NULL,
    body        TEXT COLLATE "C" NOT NULL,
    status      TEXT COLLATE "C" NOT NULL,         -- open | resolved
    created_by  TEXT COLLATE "C" NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE prog_audit (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   TEXT COLLATE "C",
    user_id     TEXT COLLATE "C",                  -- NULL: the scheduler
    action      TEXT COLLATE "C" NOT NULL,
    target      TEXT COLLATE "C" NOT NULL,
    before      TEXT COLLATE "C",                  -- JSON summary (never a secret)
    after       TEXT COLLATE "C",
    at          TEXT COLLATE "C" NOT NULL,
    request_id  TEXT COLLATE "C"
);
CREATE INDEX prog_audit_by_tenant ON prog_audit (tenant_id, seq);

CREATE TABLE prog_transaction (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT COLLATE "C",
    action      TEXT COLLATE "C" NOT NULL,
    target      TEXT COLLATE "C" NOT NULL,
    status      TEXT COLLATE "C" NOT NULL,         -- created | in_progress | completed | failed | on_hold
    detail      TEXT COLLATE "C",
    created_by  TEXT COLLATE "C",
    created_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL
);
