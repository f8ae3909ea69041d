//! The OpenAPI 3.1 document, generated from [`ROUTES`](crate::routes::ROUTES). A copy is checked in at
//! `docs/openapi.json`; a test (`tests/openapi.rs`) fails when the two drift apart and says how to
//! regenerate the copy.
//!
//! Each operation carries its permission twice: as `x-ferry-permission` (with `x-ferry-roles`, the roles
//! that hold it) for tools, and in its description for people. Request bodies are hand-written JSON
//! schemas keyed by route ([`request_body`]) — small, and checked by the same test, which sends each
//! schema's example to its route and expects the server to accept its shape.

use crate::routes::{ROUTES, Route, Scope};
use ferry_core::programme::role::{Permission, roles_with};
use serde_json::{Map, Value, json};

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let entry = paths
            .entry(r.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method.to_lowercase()] = operation(r);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Ferry migration programme API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Tenants, eligibility, gates, endpoints and credentials, mappings, assessments, events and passes, reports, tickets, pause and offboarding (see docs/api.md and docs/programme.md).\n\nSend `Authorization: Bearer <token>`. Every state-changing request answers `{transaction: {id, status}, result}` and writes an audit entry. Errors are `{kind, message, request_id}`: 400 bad input, 401 no or unknown token, 403 the caller's role may not, 404 not found (also a tenant the caller has no role on), 405 the route does not take the method (`Allow` lists those it does), 409 a programme rule refused the change, 413 the body is over 64 MB, 422 the body does not match the schema (an unknown field is named), 429 too many unknown tokens from the caller's address (wait `Retry-After` seconds), 500 a bug or the store.",
        },
        "security": [{ "bearer": [] }],
        "tags": tags(),
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "A Ferry token (`fy_…`): the operator's is printed once by `ferry serve` on an empty store (or set by FERRY_BOOTSTRAP_TOKEN); a member's is returned once when the member is added." } },
            "schemas": schemas(),
            "responses": {
                "Error": {
                    "description": "An error: `kind` is a stable word (`invalid_request`, `unauthenticated`, `forbidden`, `not_found`, `method_not_allowed`, `refused`, `credential_refused`, `too_large`, `too_many_requests`, `internal`…), `message` says what to do.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                },
            },
        },
    })
}

fn operation(r: &Route) -> Value {
    let params: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(path_param)
        .chain(query_params(r))
        .collect();
    let mut responses = Map::new();
    responses.insert("200".into(), ok_response(r));
    let mut errors: Vec<&str> = Vec::new();
    if r.scope != Scope::Public {
        // 429: the caller's address presented too many unknown tokens (see `crate::throttle`).
        errors.extend(["401", "429"]);
        if !(r.scope == Scope::Global && r.permission == Permission::Read) {
            errors.push("403");
        }
    }
    if r.scope == Scope::Tenant {
        errors.push("404");
    }
    if r.changes {
        errors.extend(["400", "409"]);
    } else if !query_params(r).is_empty() {
        // A query parameter out of range or unknown.
        errors.push("400");
    }
    if request_body(r).is_some() {
        errors.extend(["413", "422"]);
    }
    errors.sort_unstable();
    for code in errors {
        responses.insert(
            code.into(),
            json!({ "$ref": "#/components/responses/Error" }),
        );
    }
    let mut op = json!({
        "summary": r.summary,
        "description": description(r),
        "operationId": operation_id(r),
        "tags": [tag(r.path)],
        "parameters": params,
        "x-ferry-permission": r.permission.as_str(),
        "x-ferry-roles": holders(r),
        "x-ferry-scope": match r.scope { Scope::Public => "public", Scope::Global => "global", Scope::Tenant => "tenant" },
        "responses": responses,
    });
    if r.scope == Scope::Public {
        op["security"] = json!([]);
    }
    if let Some(schema) = request_body(r) {
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } },
        });
    }
    op
}

/// `get_tenants_projects_one`: the method and the path's fixed words; `_one` when it ends at an id.
fn operation_id(r: &Route) -> String {
    let words: Vec<String> = r
        .path
        .split('/')
        .filter(|s| !s.is_empty() && !s.starts_with('{') && *s != "api" && *s != "v1")
        .map(|s| s.replace(['.', '-'], "_"))
        .collect();
    let one = if r.path.ends_with('}') { "_one" } else { "" };
    format!("{}_{}{one}", r.method.to_lowercase(), words.join("_"))
}

/// The roles that may call the route (the operator always may).
fn holders(r: &Route) -> Vec<&'static str> {
    match r.scope {
        Scope::Public => Vec::new(),
        _ => roles_with(r.permission)
            .into_iter()
            .map(|x| x.as_str())
            .collect(),
    }
}

fn description(r: &Route) -> String {
    let who = match r.scope {
        Scope::Public => return format!("{}. Public: no token needed.", r.summary),
        Scope::Global if r.permission == Permission::Read => "any user with a token".to_string(),
        Scope::Global => format!(
            "the operator, or a user holding it on any tenant: {}",
            holders(r).join(", ")
        ),
        Scope::Tenant => {
            let h = holders(r);
            if h.is_empty() {
                "the operator only".to_string()
            } else {
                format!(
                    "the operator, or a user whose role on the tenant is one of: {}",
                    h.join(", ")
                )
            }
        }
    };
    let mut d = format!(
        "{}.\n\nPermission `{}`, held by {who}.",
        r.summary,
        r.permission.as_str()
    );
    if r.scope == Scope::Tenant {
        d.push_str(
            " A user without a role on the tenant gets 404: the tenant is invisible to them.",
        );
    }
    if r.changes {
        d.push_str(" Answers `{transaction, result}` and writes an audit entry.");
    }
    d
}

fn tag(path: &str) -> &'static str {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let has = |s: &str| segs.contains(&s);
    if !path.starts_with("/api/v1/tenants") {
        return "service";
    }
    if has("tickets") {
        "tickets"
    } else if has("events") {
        if has("mappings") || has("report") || has("items") {
            "passes and reports"
        } else {
            "events"
        }
    } else if has("assessments") {
        "assessments"
    } else if has("mappings") {
        "mappings"
    } else if has("endpoints") || has("credentials") {
        "endpoints and credentials"
    } else if has("gates") {
        "gates"
    } else if has("projects") {
        "projects"
    } else {
        "tenants"
    }
}

fn tags() -> Value {
    let mut seen: Vec<&str> = Vec::new();
    for r in ROUTES {
        let t = tag(r.path);
        if !seen.contains(&t) {
            seen.push(t);
        }
    }
    Value::Array(seen.into_iter().map(|t| json!({ "name": t })).collect())
}

fn path_param(name: &str) -> Value {
    let (description, schema) = match name {
        "tenant" => (
            "The tenant's id (UUID).",
            json!({ "type": "string", "format": "uuid" }),
        ),
        "project" => (
            "The project's id (UUID).",
            json!({ "type": "string", "format": "uuid" }),
        ),
        "event" => (
            "The event's id (UUID).",
            json!({ "type": "string", "format": "uuid" }),
        ),
        "mapping" => (
            "The mapping's id (UUID).",
            json!({ "type": "string", "format": "uuid" }),
        ),
        "ticket" => (
            "The ticket's id (UUID).",
            json!({ "type": "string", "format": "uuid" }),
        ),
        "user" => (
            "The user's id (UUID).",
            json!({ "type": "string", "format": "uuid" }),
        ),
        "transaction" => (
            "The transaction's id, as a state-changing request answered it.",
            json!({ "type": "string", "format": "uuid" }),
        ),
        "gate" => (
            "The gate's name, as the project's gates list it.",
            json!({ "type": "string", "enum": ["core_onboarding", "identity_synchronisation", "exchange_online_onboarding", "hybrid_configuration", "onedrive_sharepoint_onboarding", "targets_provisioned"] }),
        ),
        "side" => (
            "Which endpoint.",
            json!({ "type": "string", "enum": ["source", "target"] }),
        ),
        _ => ("", json!({ "type": "string" })),
    };
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": schema })
}

fn query_params(r: &Route) -> Vec<Value> {
    match (r.method, r.path) {
        ("GET", "/api/v1/tenants/{tenant}/audit") => vec![
            json!({ "name": "after", "in": "query", "description": "Entries after this sequence number, oldest first (paging; 0 or more, else 400).", "schema": { "type": "integer", "minimum": 0 } }),
            json!({ "name": "before", "in": "query", "description": "Entries before this sequence number, newest first (instead of after).", "schema": { "type": "integer", "minimum": 0 } }),
            json!({ "name": "limit", "in": "query", "description": "At most this many entries (default 500; 1 to 5,000, else 400 — not clamped).", "schema": { "type": "integer", "minimum": 1, "maximum": 5000 } }),
            actor_param(),
            action_param(),
            day_param("from", "From this day (UTC) or time (RFC 3339), included."),
            day_param("to", "To this day (UTC), included, or before this time."),
        ],
        ("GET", "/api/v1/tenants/{tenant}/transactions") => vec![
            json!({ "name": "before", "in": "query", "description": "Transactions older than this one (its id: the last of the previous page).", "schema": { "type": "string", "format": "uuid" } }),
            json!({ "name": "limit", "in": "query", "description": "At most this many (default and most 500; else 400).", "schema": { "type": "integer", "minimum": 1, "maximum": 500 } }),
            json!({ "name": "status", "in": "query", "description": "Only transactions in this status.", "schema": { "type": "string", "enum": ["created", "in_progress", "completed", "failed", "on_hold"] } }),
            actor_param(),
            action_param(),
            day_param(
                "from",
                "Created from this day (UTC) or time (RFC 3339), included.",
            ),
            day_param(
                "to",
                "Created to this day (UTC), included, or before this time.",
            ),
        ],
        ("GET", "/api/v1/tenants/{tenant}/projects/{project}/tickets") => vec![
            json!({ "name": "status", "in": "query", "description": "Only open or only resolved tickets.", "schema": { "type": "string", "enum": ["open", "resolved"] } }),
            json!({ "name": "mapping", "in": "query", "description": "Only the tickets of this mapping.", "schema": { "type": "string", "format": "uuid" } }),
            json!({ "name": "before", "in": "query", "description": "Tickets older than this one (its id: the last of the previous page).", "schema": { "type": "string", "format": "uuid" } }),
            json!({ "name": "limit", "in": "query", "description": "At most this many (default and most 500; else 400).", "schema": { "type": "integer", "minimum": 1, "maximum": 500 } }),
        ],
        (_, p) if p.ends_with("/items") => vec![
            json!({ "name": "format", "in": "query", "description": "`json` (default) or `csv`.", "schema": { "type": "string", "enum": ["json", "csv"] } }),
        ],
        _ => Vec::new(),
    }
}

fn actor_param() -> Value {
    json!({ "name": "actor", "in": "query", "description": "Only what this user did (the name shown for them), or `scheduler`.", "schema": { "type": "string" } })
}

fn action_param() -> Value {
    json!({ "name": "action", "in": "query", "description": "An action (`ticket.report`) or its family (`ticket`: every `ticket.…`).", "schema": { "type": "string" } })
}

fn day_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "description": description, "schema": { "type": "string" } })
}

fn ok_response(r: &Route) -> Value {
    match (r.method, r.path) {
        ("GET", "/metrics") => json!({
            "description": "Prometheus text exposition (version 0.0.4).",
            "content": { "text/plain": { "schema": { "type": "string" } } },
        }),
        (_, p) if p.ends_with("/items") => json!({
            "description": "Per-item results as JSON, or CSV with `?format=csv`.",
            "content": {
                "application/json": { "schema": { "type": "object" } },
                "text/csv": { "schema": { "type": "string" } },
            },
        }),
        _ if r.changes => json!({
            "description": "Done: the transaction and the changed resource.",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Changed" } } },
        }),
        _ => json!({
            "description": "OK",
            "content": { "application/json": { "schema": { "type": "object" } } },
        }),
    }
}

/// The request body's schema name, for routes that take one.
pub fn request_body(r: &Route) -> Option<&'static str> {
    Some(match (r.method, r.path) {
        ("POST", "/api/v1/tenants") => "TenantCreate",
        ("PATCH", "/api/v1/tenants/{tenant}") => "TenantUpdate",
        ("PUT", "/api/v1/tenants/{tenant}/window") => "WindowSet",
        ("POST", "/api/v1/tenants/{tenant}/members") => "MemberAdd",
        ("POST", "/api/v1/tenants/{tenant}/projects") => "ProjectCreate",
        ("PATCH", "/api/v1/tenants/{tenant}/projects/{project}") => "ProjectUpdate",
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/tasks") => "TaskRecord",
        ("PUT", "/api/v1/tenants/{tenant}/projects/{project}/endpoints/{side}") => "EndpointSet",
        ("PUT", "/api/v1/tenants/{tenant}/projects/{project}/endpoints/{side}/credential") => {
            "CredentialSupply"
        }
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/mappings") => "MappingImport",
        ("PATCH", "/api/v1/tenants/{tenant}/projects/{project}/mappings/{mapping}") => {
            "MappingUpdate"
        }
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/events") => "EventCreate",
        ("PATCH", "/api/v1/tenants/{tenant}/projects/{project}/events/{event}") => "EventChange",
        ("POST", "/api/v1/tenants/{tenant}/projects/{project}/tickets") => "TicketReport",
        ("PATCH", "/api/v1/tenants/{tenant}/projects/{project}/tickets/{ticket}") => "TicketUpdate",
        _ => return None,
    })
}

fn object(required: &[&str], properties: Value, example: Value, closed: bool) -> Value {
    let mut o = json!({ "type": "object", "required": required, "properties": properties, "example": example });
    if closed {
        o["additionalProperties"] = json!(false);
    }
    o
}

fn schemas() -> Value {
    let s = |d: &str| json!({ "type": "string", "description": d });
    let uuid = json!({ "type": "string", "format": "uuid" });
    let time = json!({ "type": "string", "format": "date-time" });
    let seats = json!({
        "type": "object", "additionalProperties": false,
        "description": "Seats by kind; missing kinds are 0. Trial and student seats never count; education plans count only paid faculty/staff seats.",
        "properties": {
            "paid": { "type": "integer", "minimum": 0 }, "trial": { "type": "integer", "minimum": 0 },
            "faculty_staff": { "type": "integer", "minimum": 0 }, "students": { "type": "integer", "minimum": 0 },
        },
    });
    let plan = json!({ "type": "string", "enum": ["commercial", "education"] });
    let cloud = json!({ "type": "string", "enum": ["commercial", "government"] });
    let window = json!({ "type": "string", "enum": ["24x7", "24x5"], "description": "24x7, or 24x5 (Mon 02:00 – Fri 24:00 UTC): events start only inside it." });
    let role = json!({ "type": "string", "enum": ["customer-admin", "partner", "migration-manager", "engineer", "viewer"] });
    json!({
        "Error": {
            "type": "object",
            "required": ["kind", "message", "request_id"],
            "properties": {
                "kind": s("A stable word for the kind of error."),
                "message": s("What went wrong and what to do; never a secret."),
                "request_id": s("The request's id (also in the `x-request-id` header and the audit log)."),
            },
        },
        "Transaction": {
            "type": "object",
            "required": ["id", "status"],
            "properties": {
                "id": uuid,
                "status": { "type": "string", "enum": ["created", "in_progress", "completed", "failed", "on_hold"] },
            },
        },
        "Changed": {
            "type": "object",
            "required": ["transaction", "result"],
            "description": "The answer to every state-changing request; query the transaction at GET /api/v1/tenants/{tenant}/transactions/{id}.",
            "properties": {
                "transaction": { "$ref": "#/components/schemas/Transaction" },
                "result": { "description": "The changed resource." },
            },
        },
        "TenantCreate": object(
            &["name", "plan", "seats", "first_purchase", "cloud", "window"],
            json!({ "name": s("1 to 200 characters."), "plan": plan, "seats": seats, "first_purchase": { "type": "string", "format": "date", "description": "First purchase of the plan (before 2017-09-01: the legacy threshold)." }, "cloud": cloud, "window": window }),
            json!({ "name": "Contoso", "plan": "commercial", "seats": { "paid": 800 }, "first_purchase": "2020-01-01", "cloud": "commercial", "window": "24x7" }),
            false,
        ),
        "TenantUpdate": object(
            &[],
            json!({ "name": s("1 to 200 characters."), "plan": plan, "seats": seats, "first_purchase": { "type": "string", "format": "date" }, "cloud": cloud }),
            json!({ "seats": { "paid": 900, "trial": 50 } }),
            true,
        ),
        "WindowSet": object(&["window"], json!({ "window": window }), json!({ "window": "24x5" }), true),
        "MemberAdd": object(
            &["user", "role"],
            json!({ "user": s("The user's name; a new user is created and its token returned once."), "role": role }),
            json!({ "user": "alice", "role": "engineer" }),
            true,
        ),
        "ProjectCreate": object(
            &["name", "workload"],
            json!({ "name": s("1 to 200 characters."), "workload": { "type": "string", "enum": ["mail", "files"] }, "source_system": { "type": "string", "enum": ["exchange_on_premises", "other"], "default": "other", "description": "exchange_on_premises adds the hybrid-configuration gate." } }),
            json!({ "name": "Mail wave 1", "workload": "mail" }),
            true,
        ),
        "ProjectUpdate": object(&["name"], json!({ "name": s("1 to 200 characters.") }), json!({ "name": "Mail" }), true),
        "TaskRecord": object(
            &["task"],
            json!({ "task": s("guidance, tooling, data_move, or a beyond-scope kind (project_management, workstation_preparation, remediation, …)."), "agreement": s("The services-agreement reference that covers beyond-scope work (required for it).") }),
            json!({ "task": "remediation", "agreement": "SA-2025-014" }),
            true,
        ),
        "EndpointSet": object(
            &["url"],
            json!({
                "url": s("Mail: imap://host:port, imaps://…, maildir:PATH, mbox:PATH. Files: a path, webdav://…, webdavs://…, sftp://user@host/path, s3://bucket/prefix. Never a password."),
                "username": s("The login (mail: an admin or master user; files: the SFTP/WebDAV user or S3 key id)."),
                "options": { "type": "object", "description": "Connector options: only the workload's known keys (mail: max_message_size, quota_mb, concurrency, max_connections, disarm_read_receipts, authority, tenant; files: target_rules, known_hosts, accept_unknown_host_key, s3_endpoint, endpoint, region), never a secret — unknown keys, bad values and secret-bearing keys are refused (400). E.g. {\"s3_endpoint\": \"http://127.0.0.1:9000\"}." },
            }),
            json!({ "url": "imaps://mail.contoso.com", "username": "admin" }),
            true,
        ),
        "CredentialSupply": object(
            &["secret"],
            json!({ "secret": { "type": "string", "minLength": 1, "maxLength": 16384, "writeOnly": true, "description": "Encrypted at rest (AES-256-GCM), never returned, expires after 70 days." } }),
            json!({ "secret": "correct horse battery staple" }),
            true,
        ),
        "MappingImport": object(
            &["csv"],
            json!({ "csv": { "type": "string", "writeOnly": true, "description": "Mail: EmailAddress,UserName,Password[,UserRoot][,TargetUserName,TargetPassword]. Files: Source,SourceDocLib,SourceSubFolder,TargetWeb,TargetDocLib,TargetSubFolder. At most 50,000 rows; all rows or none." } }),
            json!({ "csv": "EmailAddress,UserName,Password\nterry@contoso.com,terry,secret\n" }),
            true,
        ),
        "MappingUpdate": object(
            &[],
            json!({
                "password": { "type": "string", "writeOnly": true, "description": "The source mailbox's password (CSV Password); encrypted at rest, never returned." },
                "target_user": s("The target login (CSV TargetUserName); empty: the target endpoint's admin logs in."),
                "target_password": { "type": "string", "writeOnly": true, "description": "The target login's password (CSV TargetPassword); needs a target_user." },
                "user_root": s("Only folders under this source folder (CSV UserRoot); empty: the whole mailbox."),
            }),
            json!({ "password": "the corrected password" }),
            true,
        ),
        "EventCreate": object(
            &["name", "kind", "start", "mappings"],
            json!({
                "name": s("1 to 200 characters."),
                "kind": { "type": "string", "enum": ["synchronization", "completion"] },
                "pilot": { "type": "boolean", "default": false },
                "start": time,
                "mappings": { "type": "array", "items": uuid, "minItems": 1 },
            }),
            json!({ "name": "Wave 1", "kind": "synchronization", "pilot": false, "start": "2025-03-10T10:00:00Z", "mappings": ["0193c5a0-0000-7000-8000-000000000001"] }),
            true,
        ),
        "EventChange": object(
            &[],
            json!({
                "name": s("1 to 200 characters."),
                "start": time,
                "pilot": { "type": "boolean" },
                "add": { "type": "array", "items": uuid, "description": "Mappings to add (lead time applies)." },
                "remove": { "type": "array", "items": uuid, "description": "Mappings to remove (until the drop cut-off, 24 h before the start)." },
            }),
            json!({ "start": "2025-03-11T10:00:00Z", "add": ["0193c5a0-0000-7000-8000-000000000002"] }),
            true,
        ),
        "TicketReport": object(
            &["mapping", "title"],
            json!({ "mapping": uuid, "title": s("1 to 300 characters."), "body": s("At most 64 KiB.") }),
            json!({ "mapping": "0193c5a0-0000-7000-8000-000000000001", "title": "Calendar items missing", "body": "Since the completion event." }),
            true,
        ),
        "TicketUpdate": object(
            &[],
            json!({ "status": { "type": "string", "enum": ["open", "resolved"] }, "comment": s("Appended to the ticket's body with who and when.") }),
            json!({ "status": "resolved", "comment": "Re-ran the Delta pass." }),
            true,
        ),
    })
}
