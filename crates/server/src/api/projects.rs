//! Projects and what hangs off them before events: tasks (scope guard), gates, endpoints, credentials,
//! mappings; and the end of a project's life: resume and close.

use super::{path_id, project_of};
use crate::auth::Caller;
use crate::db::{self, Change, Project, changed, enum_name, parse_enum, parse_ts, ts};
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, State};
use chrono::{DateTime, Utc};
use ferry_core::id::{MappingId, ProjectId, TenantId};
use ferry_core::programme::gate::{GateKind, applicable_gates};
use ferry_core::programme::lifecycle::{self, Action};
use ferry_core::programme::scope::{Task, check_task};
use ferry_core::programme::{ProjectState, SourceSystem, Workload};
use ferry_engine::endpoint::options;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::SqliteConnection;

/// A project with its gates, as answers show it.
pub async fn view(st: &AppState, p: &Project) -> ApiResult<Value> {
    let gates = db::gates(st.pool(), p.id).await?;
    let open: Vec<&str> = gates
        .iter()
        .filter(|g| !g.is_met())
        .map(|g| g.kind.as_str())
        .collect();
    let tenant = db::load_tenant(&*st.programme, p.tenant).await?;
    let e = tenant.eligibility(&st.settings);
    Ok(json!({
        "id": p.id,
        "tenant": p.tenant,
        "name": p.name,
        "workload": p.workload,
        "source_system": p.source_system,
        "state": p.state,
        "paused_from": p.paused_from,
        "paused_since": p.paused_since,
        "last_progress": p.last_progress,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "open_gates": open,
        "self_service": e.tier.is_self_service(),
        "notice": e.notice(),
    }))
}

pub async fn list(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Value>> {
    let t: TenantId = path_id(&tenant, "tenant")?;
    let mut out = Vec::new();
    for p in db::tenant_projects(st.pool(), t).await? {
        out.push(view(&st, &p).await?);
    }
    Ok(Json(json!({ "projects": out })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    pub name: String,
    pub workload: Workload,
    #[serde(default)]
    pub source_system: SourceSystem,
}

pub async fn create(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(tenant): Path<String>,
    Json(b): Json<CreateProject>,
) -> ApiResult<Json<Value>> {
    let t: TenantId = path_id(&tenant, "tenant")?;
    super::check_name("a project name", &b.name, 200)?;
    let _w = st.write.lock().await;
    let now = st.clock.now();
    let tenant_doc = db::load_tenant(&*st.programme, t).await?;
    tenant_doc.eligibility(&st.settings).check_programme()?;
    let id = ProjectId::new();
    let mut tx = st.pool().begin().await?;
    sqlx::query(
        "INSERT INTO prog_project (id, tenant_id, name, workload, source_system, state, last_progress, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(t.to_string())
    .bind(b.name.trim())
    .bind(b.workload.as_str())
    .bind(enum_name(&b.source_system))
    .bind(ProjectState::Draft.as_str())
    .bind(ts(now))
    .bind(ts(now))
    .bind(ts(now))
    .execute(&mut *tx)
    .await?;
    for g in applicable_gates(b.workload, b.source_system) {
        sqlx::query("INSERT INTO prog_gate (project_id, kind) VALUES (?, ?)")
            .bind(id.to_string())
            .bind(g.as_str())
            .execute(&mut *tx)
            .await?;
    }
    let summary = json!({ "name": b.name.trim(), "workload": b.workload, "source_system": b.source_system, "state": "draft" });
    let txn = db::commit_sqlx(
        tx,
        c.actor(),
        Change {
            tenant: Some(t),
            action: "project.create",
            target: format!("project/{id}"),
            before: None,
            after: Some(summary),
        },
        now,
    )
    .await?;
    let p = db::load_project(st.pool(), t, id).await?;
    Ok(changed(txn, view(&st, &p).await?))
}

pub async fn get(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    Ok(Json(view(&st, &p).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    pub name: String,
}

pub async fn update(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    Json(b): Json<UpdateProject>,
) -> ApiResult<Json<Value>> {
    super::check_name("a project name", &b.name, 200)?;
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let now = st.clock.now();
    let mut tx = st.pool().begin().await?;
    sqlx::query("UPDATE prog_project SET name = ?, updated_at = ? WHERE id = ?")
        .bind(b.name.trim())
        .bind(ts(now))
        .bind(p.id.to_string())
        .execute(&mut *tx)
        .await?;
    let txn = db::commit_sqlx(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "project.rename",
            target: format!("project/{}", p.id),
            before: Some(json!({ "name": p.name })),
            after: Some(json!({ "name": b.name.trim() })),
        },
        now,
    )
    .await?;
    let p = db::load_project(st.pool(), p.tenant, p.id).await?;
    Ok(changed(txn, view(&st, &p).await?))
}

// --- tasks (scope guard) ----------------------------------------------------------------------------------

pub async fn tasks(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    let rows: Vec<(String, String, Option<String>, i64, String, String)> = sqlx::query_as(
        "SELECT id, task, agreement, in_scope, created_by, created_at FROM prog_task WHERE project_id = ? ORDER BY id",
    )
    .bind(p.id.to_string())
    .fetch_all(st.pool())
    .await?;
    let tasks: Vec<Value> = rows
        .into_iter()
        .map(|(id, task, agreement, in_scope, by, at)| {
            json!({ "id": id, "task": task, "agreement": agreement, "in_scope": in_scope != 0, "created_by": by, "created_at": at })
        })
        .collect();
    Ok(Json(json!({ "tasks": tasks })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordTask {
    /// `guidance`, `tooling`, `data_move`, a beyond-scope kind (`project_management`,
    /// `workstation_preparation`, `remediation`, …) or free text.
    pub task: String,
    /// The services-agreement reference that covers beyond-scope work.
    pub agreement: Option<String>,
}

pub async fn record_task(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    Json(b): Json<RecordTask>,
) -> ApiResult<Json<Value>> {
    let task = Task::parse(&b.task)?;
    let decision = check_task(&task, b.agreement.as_deref())?;
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let now = st.clock.now();
    let id = uuid::Uuid::now_v7().to_string();
    let agreement = match &decision {
        ferry_core::programme::scope::ScopeDecision::BeyondScope { agreement } => {
            Some(agreement.clone())
        }
        ferry_core::programme::scope::ScopeDecision::InScope => None,
    };
    let mut tx = st.pool().begin().await?;
    sqlx::query(
        "INSERT INTO prog_task (id, project_id, task, agreement, in_scope, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(p.id.to_string())
    .bind(task.name())
    .bind(&agreement)
    .bind(task.in_scope() as i64)
    .bind(c.user.to_string())
    .bind(ts(now))
    .execute(&mut *tx)
    .await?;
    let after =
        json!({ "id": id, "task": task.name(), "in_scope": task.in_scope(), "decision": decision });
    let txn = db::commit_sqlx(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "task.record",
            target: format!("project/{}", p.id),
            before: None,
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}

// --- gates ------------------------------------------------------------------------------------------------

pub async fn gates(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    let gates: Vec<Value> = db::gates(st.pool(), p.id)
        .await?
        .into_iter()
        .map(|g| {
            json!({
                "kind": g.kind,
                "title": g.kind.title(),
                "met": g.is_met(),
                "confirmed_by": g.confirmed.map(|c| c.by),
                "confirmed_at": g.confirmed.map(|c| c.at),
            })
        })
        .collect();
    Ok(Json(json!({ "gates": gates })))
}

pub async fn confirm_gate(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, gate)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let kind: GateKind = serde_json::from_value(Value::String(gate.clone())).map_err(|_| {
        ApiError::not_found(format!(
            "no gate {gate:?}: see the project's gates for their names"
        ))
    })?;
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let now = st.clock.now();
    let mut statuses = db::gates(st.pool(), p.id).await?;
    let status = statuses
        .iter_mut()
        .find(|g| g.kind == kind)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "the {} gate does not apply to this {} project",
                kind.title(),
                p.workload
            ))
        })?;
    let before = json!({ "kind": kind, "met": status.is_met() });
    let newly = status.confirm(c.user, now);
    let confirmation = status.confirmed;
    let mut tx = st.pool().begin().await?;
    if newly {
        sqlx::query("UPDATE prog_gate SET confirmed_by = ?, confirmed_at = ? WHERE project_id = ? AND kind = ?")
            .bind(c.user.to_string())
            .bind(ts(now))
            .bind(p.id.to_string())
            .bind(kind.as_str())
            .execute(&mut *tx)
            .await?;
        db::touch_project(&mut tx, p.id, now).await?;
    }
    let after = json!({
        "kind": kind,
        "met": true,
        "confirmed_by": confirmation.map(|c| c.by),
        "confirmed_at": confirmation.map(|c| c.at),
        "changed": newly,
    });
    let txn = db::commit_sqlx(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "gate.confirm",
            target: format!("project/{}/gate/{}", p.id, kind.as_str()),
            before: Some(before),
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}

// --- endpoints and credentials ----------------------------------------------------------------------------

/// `source` or `target`.
fn side(raw: &str) -> ApiResult<&'static str> {
    match raw {
        "source" => Ok("source"),
        "target" => Ok("target"),
        _ => Err(ApiError::not_found(format!(
            "no endpoint side {raw:?}: use source or target"
        ))),
    }
}

pub async fn endpoints(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    let rows: Vec<(String, String, String, Option<String>, String, String)> = sqlx::query_as(
        "SELECT id, side, url, username, options, created_at FROM prog_endpoint WHERE project_id = ? ORDER BY side",
    )
    .bind(p.id.to_string())
    .fetch_all(st.pool())
    .await?;
    let mut out = Vec::new();
    for (id, side, url, username, options, at) in rows {
        let cred = credential_meta(&st, &format!("endpoint:{side}"), p.id).await?;
        out.push(json!({
            "id": id, "side": side, "url": url, "username": username,
            "options": shown_options(&options),
            "created_at": at,
            "credential": cred,
        }));
    }
    Ok(Json(json!({ "endpoints": out })))
}

/// An endpoint's stored options as answers show them. Options are checked when set
/// ([`options::check`]); a key that names a secret in a row stored before that check is never shown.
fn shown_options(stored: &str) -> Value {
    match serde_json::from_str::<Value>(stored) {
        Ok(Value::Object(m)) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !options::is_secret_key(k))
                .collect(),
        ),
        _ => Value::Object(serde_json::Map::new()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutEndpoint {
    /// `imap://host:port`, `imaps://…`, `maildir:PATH`, `mbox:PATH` (mail); a path, `webdav://…`,
    /// `sftp://…`, `s3://…` (files). Never a password: credentials are supplied separately.
    pub url: String,
    /// The login (mail: an admin or master user for the target; files: the SFTP/WebDAV user or S3 key id).
    pub username: Option<String>,
    /// Connector options (e.g. `{"s3_endpoint": "http://127.0.0.1:9000", "region": "us-east-1"}`): only the
    /// known keys of the workload ([`options::OPTIONS`]), never a secret.
    #[serde(default)]
    pub options: serde_json::Map<String, Value>,
}

/// Check an endpoint URL for the workload, refusing one with a password in it.
pub fn check_endpoint_url(workload: Workload, url: &str) -> ApiResult<()> {
    // Looked for in the text too: a URL that does not parse (a bad port) must not reach the connectors'
    // parsers, whose errors quote the URL.
    if has_password(url) || url::Url::parse(url).is_ok_and(|u| u.password().is_some()) {
        return Err(ApiError::bad_request(
            "the endpoint URL holds a password: remove it and supply it with PUT …/endpoints/{side}/credential (it is then encrypted)",
        ));
    }
    match workload {
        Workload::Mail => ferry_mail::config::MailEndpoint::parse(url).map(|_| ()),
        Workload::Files => ferry_files::config::FileEndpoint::parse(url).map(|_| ()),
    }
    .map_err(ApiError::from)
}

/// Whether `url` has `user:password@` in its authority.
fn has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

pub async fn put_endpoint(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, side_raw)): Path<(String, String, String)>,
    Json(b): Json<PutEndpoint>,
) -> ApiResult<Json<Value>> {
    let side = side(&side_raw)?;
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    check_endpoint_url(p.workload, b.url.trim())?;
    let options = Value::Object(options::check(p.workload, &b.options)?).to_string();
    let now = st.clock.now();
    let mut tx = st.pool().begin().await?;
    let before: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT url, username FROM prog_endpoint WHERE project_id = ? AND side = ?")
            .bind(p.id.to_string())
            .bind(side)
            .fetch_optional(&mut *tx)
            .await?;
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO prog_endpoint (id, project_id, side, url, username, options, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (project_id, side) DO UPDATE SET url = excluded.url, username = excluded.username, options = excluded.options",
    )
    .bind(&id)
    .bind(p.id.to_string())
    .bind(side)
    .bind(b.url.trim())
    .bind(&b.username)
    .bind(&options)
    .bind(ts(now))
    .execute(&mut *tx)
    .await?;
    // The secrets were supplied for the old server and login: re-pointing the endpoint (which roles that
    // may not supply secrets can do) must not send them somewhere else. The customer supplies them again.
    let moved = before
        .as_ref()
        .is_some_and(|(url, user)| url != b.url.trim() || *user != b.username);
    let mut purged = 0;
    if moved {
        purged = sqlx::query(
            "DELETE FROM prog_credential WHERE project_id = ? AND (owner = ? OR owner LIKE ?)",
        )
        .bind(p.id.to_string())
        .bind(format!("endpoint:{side}"))
        .bind(format!("mapping:%:{side}"))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    db::touch_project(&mut tx, p.id, now).await?;
    let after = json!({ "side": side, "url": b.url.trim(), "username": b.username, "credentials_purged": purged });
    let txn = db::commit_sqlx(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "endpoint.set",
            target: format!("project/{}/endpoint/{side}", p.id),
            before: before.map(|(u, n)| json!({ "url": u, "username": n })),
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}

pub async fn delete_endpoint(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, side_raw)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let side = side(&side_raw)?;
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let now = st.clock.now();
    let mut tx = st.pool().begin().await?;
    let r = sqlx::query("DELETE FROM prog_endpoint WHERE project_id = ? AND side = ?")
        .bind(p.id.to_string())
        .bind(side)
        .execute(&mut *tx)
        .await?;
    if r.rows_affected() == 0 {
        return Err(ApiError::not_found(format!(
            "the project has no {side} endpoint"
        )));
    }
    sqlx::query("DELETE FROM prog_credential WHERE project_id = ? AND owner = ?")
        .bind(p.id.to_string())
        .bind(format!("endpoint:{side}"))
        .execute(&mut *tx)
        .await?;
    let txn = db::commit_sqlx(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "endpoint.delete",
            target: format!("project/{}/endpoint/{side}", p.id),
            before: Some(json!({ "side": side })),
            after: None,
        },
        now,
    )
    .await?;
    Ok(changed(txn, json!({ "side": side, "deleted": true })))
}

/// What the API says about a stored credential: never the secret.
async fn credential_meta(st: &AppState, owner: &str, project: ProjectId) -> ApiResult<Value> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT supplied_by, supplied_at, expires_at FROM prog_credential WHERE project_id = ? AND owner = ?",
    )
    .bind(project.to_string())
    .bind(owner)
    .fetch_optional(st.pool())
    .await?;
    Ok(match row {
        None => json!({ "stored": false }),
        Some((by, at, exp)) => {
            let expires = parse_ts(&exp)?;
            json!({ "stored": true, "supplied_by": by, "supplied_at": at, "expires_at": exp, "expired": expires <= st.clock.now() })
        }
    })
}

/// Store (replace) an encrypted secret for `owner`.
pub async fn store_secret(
    st: &AppState,
    conn: &mut SqliteConnection,
    project: ProjectId,
    owner: &str,
    secret: &str,
    by: &Caller,
    now: DateTime<Utc>,
) -> ApiResult<DateTime<Utc>> {
    let (nonce, ct) = st.vault.seal(secret)?;
    let expires = st.settings.credential_expires_at(now);
    sqlx::query(
        "INSERT INTO prog_credential (id, project_id, owner, nonce, ciphertext, supplied_by, supplied_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (project_id, owner) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, supplied_by = excluded.supplied_by, supplied_at = excluded.supplied_at, expires_at = excluded.expires_at",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(project.to_string())
    .bind(owner)
    .bind(nonce)
    .bind(ct)
    .bind(by.user.to_string())
    .bind(ts(now))
    .bind(ts(expires))
    .execute(&mut *conn)
    .await?;
    Ok(expires)
}

/// The decrypted secret for `owner`, `None` when none is stored or it expired.
pub async fn load_secret(
    st: &AppState,
    project: ProjectId,
    owner: &str,
) -> ApiResult<Option<String>> {
    let row: Option<(Vec<u8>, Vec<u8>, String)> = sqlx::query_as(
        "SELECT nonce, ciphertext, expires_at FROM prog_credential WHERE project_id = ? AND owner = ?",
    )
    .bind(project.to_string())
    .bind(owner)
    .fetch_optional(st.pool())
    .await?;
    match row {
        None => Ok(None),
        Some((nonce, ct, exp)) => {
            if parse_ts(&exp)? <= st.clock.now() {
                return Ok(None);
            }
            Ok(Some(st.vault.open(&nonce, &ct)?))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutCredential {
    pub secret: String,
}

impl std::fmt::Debug for PutCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PutCredential { secret: <redacted> }")
    }
}

pub async fn put_credential(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, side_raw)): Path<(String, String, String)>,
    Json(b): Json<PutCredential>,
) -> ApiResult<Json<Value>> {
    let side = side(&side_raw)?;
    if b.secret.is_empty() || b.secret.len() > 16 * 1024 {
        return Err(ApiError::bad_request("a secret needs 1 to 16,384 bytes"));
    }
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    if matches!(p.state, ProjectState::Closed | ProjectState::Offboarded) {
        return Err(ApiError::refused(format!(
            "the project is {}: it takes no credentials",
            p.state.as_str()
        )));
    }
    let now = st.clock.now();
    let has_endpoint: Option<String> =
        sqlx::query_scalar("SELECT id FROM prog_endpoint WHERE project_id = ? AND side = ?")
            .bind(p.id.to_string())
            .bind(side)
            .fetch_optional(st.pool())
            .await?;
    if has_endpoint.is_none() {
        return Err(ApiError::not_found(format!(
            "the project has no {side} endpoint: set it first (PUT …/endpoints/{side})"
        )));
    }
    let mut tx = st.pool().begin().await?;
    let expires = store_secret(
        &st,
        &mut tx,
        p.id,
        &format!("endpoint:{side}"),
        &b.secret,
        &c,
        now,
    )
    .await?;
    db::touch_project(&mut tx, p.id, now).await?;
    let after = json!({ "side": side, "stored": true, "expires_at": expires });
    let txn = db::commit_sqlx(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "credential.supply",
            target: format!("project/{}/endpoint/{side}", p.id),
            before: None,
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}

pub async fn credentials(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT owner, supplied_by, supplied_at, expires_at FROM prog_credential WHERE project_id = ? ORDER BY owner",
    )
    .bind(p.id.to_string())
    .fetch_all(st.pool())
    .await?;
    let now = st.clock.now();
    let mut out = Vec::new();
    for (owner, by, at, exp) in rows {
        let expired = parse_ts(&exp)? <= now;
        out.push(json!({ "owner": owner, "supplied_by": by, "supplied_at": at, "expires_at": exp, "expired": expired }));
    }
    Ok(Json(json!({ "credentials": out })))
}

// --- mappings ---------------------------------------------------------------------------------------------

/// A mapping as stored.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MappingView {
    pub id: MappingId,
    pub line: i64,
    pub label: String,
    pub source: String,
    pub target: String,
    pub detail: Value,
}

/// Every mapping of the project, in import order.
pub async fn load_mappings(st: &AppState, project: ProjectId) -> ApiResult<Vec<MappingView>> {
    let rows: Vec<(String, i64, String, String, String, String)> = sqlx::query_as(
        "SELECT id, line, label, source, target, doc FROM prog_mapping WHERE project_id = ? ORDER BY id",
    )
    .bind(project.to_string())
    .fetch_all(st.pool())
    .await?;
    rows.into_iter()
        .map(|(id, line, label, source, target, doc)| {
            Ok(MappingView {
                id: path_id(&id, "mapping")?,
                line,
                label,
                source,
                target,
                detail: serde_json::from_str(&doc).unwrap_or(Value::Null),
            })
        })
        .collect()
}

pub async fn mappings(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    Ok(Json(json!({ "mappings": load_mappings(&st, p.id).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportMappings {
    /// The CSV text: mail projects take Exchange's `EmailAddress,UserName,Password[,UserRoot]
    /// [,TargetUserName,TargetPassword]`; file projects the SPMT format
    /// `Source,SourceDocLib,SourceSubFolder,TargetWeb,TargetDocLib,TargetSubFolder`.
    pub csv: String,
}

impl std::fmt::Debug for ImportMappings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ImportMappings {{ csv: <{} bytes, may hold passwords> }}",
            self.csv.len()
        )
    }
}

/// One row to insert: (line, label, source, target, detail, secrets by slot).
struct NewMapping {
    line: usize,
    label: String,
    source: String,
    target: String,
    detail: Value,
    secrets: Vec<(&'static str, String)>,
}

fn mail_rows(csv: &str) -> ApiResult<Vec<NewMapping>> {
    let rows = ferry_engine::mapping_csv::parse_mapping_csv(csv)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut secrets = vec![("source", r.password.expose().to_string())];
            if let Some(tp) = &r.target_password {
                secrets.push(("target", tp.expose().to_string()));
            }
            NewMapping {
                line: r.line,
                label: r.email.clone(),
                source: r.user.clone(),
                target: r.email.clone(),
                detail: json!({ "user_root": r.user_root, "target_user": r.target_user }),
                secrets,
            }
        })
        .collect())
}

/// A file row's directory relative to the endpoint: the endpoint URL prefix is dropped when the row repeats
/// it, so rows may name full URLs or paths under the endpoint.
fn relative_to(endpoint: Option<&str>, root: &str, dir: &str) -> String {
    let root = root.trim();
    let rel = match endpoint {
        Some(e) if root.starts_with(e.trim_end_matches('/')) => {
            &root[e.trim_end_matches('/').len()..]
        }
        _ => root,
    };
    let joined: Vec<&str> = rel
        .split(['/', '\\'])
        .chain(dir.split('/'))
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    joined.join("/")
}

async fn file_rows(st: &AppState, p: &Project, csv: &str) -> ApiResult<Vec<NewMapping>> {
    let rows = ferry_engine::files::spmt::parse_spmt_csv(csv)?;
    let urls: Vec<(String, String)> =
        sqlx::query_as("SELECT side, url FROM prog_endpoint WHERE project_id = ?")
            .bind(p.id.to_string())
            .fetch_all(st.pool())
            .await?;
    let url = |side: &str| {
        urls.iter()
            .find(|(s, _)| s == side)
            .map(|(_, u)| u.as_str())
    };
    let mut out = Vec::new();
    for r in rows {
        let source = relative_to(url("source"), &r.source, &r.source_dir());
        let target = relative_to(url("target"), &r.target_web, &r.target_dir());
        if source.split('/').any(|s| s == "..") || target.split('/').any(|s| s == "..") {
            return Err(ApiError::bad_request(format!(
                "mapping CSV line {}: a path may not contain `..`",
                r.line
            )));
        }
        out.push(NewMapping {
            line: r.line,
            label: format!("/{source} → /{target}"),
            source,
            target,
            detail: json!({
                "source": r.source, "source_doc_lib": r.source_doc_lib, "source_sub_folder": r.source_sub_folder,
                "target_web": r.target_web, "target_doc_lib": r.target_doc_lib, "target_sub_folder": r.target_sub_folder,
            }),
            secrets: Vec::new(),
        });
    }
    Ok(out)
}

pub async fn import_mappings(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    Json(b): Json<ImportMappings>,
) -> ApiResult<Json<Value>> {
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    if !p.state.is_active() && p.state != ProjectState::Paused {
        return Err(ApiError::refused(format!(
            "the project is {}: it takes no new mappings",
            p.state.as_str()
        )));
    }
    let max = st.settings.max_mapping_rows as usize;
    let data_lines = b.csv.lines().filter(|l| !l.trim().is_empty()).count();
    if data_lines > max + 1 {
        return Err(ApiError::refused(format!(
            "the mapping CSV has {} rows; one import holds at most {max}: split the file",
            data_lines - 1
        )));
    }
    let rows = match p.workload {
        Workload::Mail => mail_rows(&b.csv)?,
        Workload::Files => file_rows(&st, &p, &b.csv).await?,
    };
    if rows.len() > max {
        return Err(ApiError::refused(format!(
            "the mapping CSV has {} rows; one import holds at most {max}: split the file",
            rows.len()
        )));
    }
    if rows.is_empty() {
        return Err(ApiError::bad_request("the mapping CSV has no rows"));
    }
    let now = st.clock.now();
    let mut tx = st.pool().begin().await?;
    let mut seen = std::collections::HashSet::new();
    let mut added = 0usize;
    let mut updated = Vec::new();
    for r in &rows {
        if !seen.insert(r.label.clone()) {
            return Err(ApiError::bad_request(format!(
                "mapping CSV line {}: {} appears twice in the file",
                r.line, r.label
            )));
        }
        let exists: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT id, source, target, doc FROM prog_mapping WHERE project_id = ? AND label = ?",
        )
        .bind(p.id.to_string())
        .bind(&r.label)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((id, source, target, doc)) = exists {
            // A row the project has: the CSV corrects it (issue 9 item 14).
            let id: MappingId = path_id(&id, "mapping")?;
            let mut changes: Vec<String> = Vec::new();
            for (field, old, new) in [
                ("source", source.as_str(), r.source.as_str()),
                ("target", target.as_str(), r.target.as_str()),
            ] {
                if old != new {
                    changes.push(field.to_string());
                }
            }
            let old_doc: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
            if old_doc != r.detail {
                changes.push("options".to_string());
            }
            ferry_store::programme::update_mapping_row(
                &mut tx,
                &id.to_string(),
                r.line as i64,
                &r.source,
                &r.target,
                &r.detail.to_string(),
            )
            .await
            .map_err(ApiError::from)?;
            for slot in ["source", "target"] {
                let new = r.secrets.iter().find(|(s, _)| *s == slot).map(|(_, v)| v);
                if replace_secret(&st, &mut tx, &p, id, slot, new.map(String::as_str), &c, now)
                    .await?
                {
                    changes.push(format!("{slot} credential"));
                }
            }
            if !changes.is_empty() {
                updated.push(json!({ "mapping": id, "label": r.label, "changed": changes }));
            }
            continue;
        }
        added += 1;
        let id = MappingId::new();
        sqlx::query(
            "INSERT INTO prog_mapping (id, project_id, line, label, source, target, doc, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(p.id.to_string())
        .bind(r.line as i64)
        .bind(&r.label)
        .bind(&r.source)
        .bind(&r.target)
        .bind(r.detail.to_string())
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        for (slot, secret) in &r.secrets {
            store_secret(
                &st,
                &mut tx,
                p.id,
                &format!("mapping:{id}:{slot}"),
                secret,
                &c,
                now,
            )
            .await?;
        }
    }
    db::touch_project(&mut tx, p.id, now).await?;
    let after = json!({
        "imported": rows.len(),
        "added": added,
        "updated": updated.len(),
        "unchanged": rows.len() - added - updated.len(),
        "changes": updated,
    });
    let txn = db::commit_sqlx(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "mapping.import",
            target: format!("project/{}", p.id),
            before: None,
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}

/// Make the mapping's own `slot` credential (`source` or `target`) `new`: stored when it differs from the
/// one stored (or none is stored, or it expired), deleted when `new` is `None`. Returns whether it changed —
/// a changed credential gives the mapping fresh attempts (see [`crate::scheduler::decision_records`]).
#[allow(clippy::too_many_arguments)]
pub async fn replace_secret(
    st: &AppState,
    conn: &mut SqliteConnection,
    p: &Project,
    mapping: MappingId,
    slot: &str,
    new: Option<&str>,
    by: &Caller,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    let owner = format!("mapping:{mapping}:{slot}");
    let old = load_secret(st, p.id, &owner).await?;
    match (new, old) {
        (Some(n), Some(o)) if n == o => Ok(false),
        (Some(n), _) => {
            store_secret(st, conn, p.id, &owner, n, by, now).await?;
            Ok(true)
        }
        (None, _) => ferry_store::programme::delete_credential(conn, &p.id.to_string(), &owner)
            .await
            .map_err(ApiError::from),
    }
}

// --- resume and close -------------------------------------------------------------------------------------

/// Carry out lifecycle actions for a project inside `conn`'s transaction. Stopping workers and archiving
/// touch things outside the database and are done by the caller after commit via the returned flags.
pub async fn apply_actions(
    st: &AppState,
    conn: &mut SqliteConnection,
    project: &Project,
    actions: &[Action],
    now: DateTime<Utc>,
) -> ApiResult<Value> {
    let mut done = Vec::new();
    for a in actions {
        match a {
            Action::SetState { to, .. } => {
                let current = db::load_project(st.pool(), project.tenant, project.id).await?;
                let mut p = current.clone();
                // Read inside the transaction for the state as this transaction sees it.
                let state: String =
                    sqlx::query_scalar("SELECT state FROM prog_project WHERE id = ?")
                        .bind(project.id.to_string())
                        .fetch_one(&mut *conn)
                        .await?;
                p.state = parse_enum(&state)?;
                db::set_project_state(conn, &p, *to, now).await?;
                done.push(json!({ "action": "set_state", "to": to }));
            }
            Action::StopWorkers => {
                st.workers.stop_project(project.id);
                done.push(json!({ "action": "stop_workers" }));
            }
            Action::StartWorkers => done.push(json!({ "action": "start_workers" })),
            Action::PurgeCredentials => {
                let n = db::purge_credentials(conn, project.id).await?;
                done.push(json!({ "action": "purge_credentials", "purged": n }));
            }
            Action::DestroyCaches => {
                sqlx::query("UPDATE prog_assessment SET report = NULL WHERE project_id = ?")
                    .bind(project.id.to_string())
                    .execute(&mut *conn)
                    .await?;
                done.push(json!({ "action": "destroy_caches" }));
            }
            Action::ArchiveFinalReport => {
                let path = crate::scheduler::archive_final_report(st, project).await?;
                done.push(json!({ "action": "archive_final_report", "path": path }));
            }
        }
    }
    Ok(Value::Array(done))
}

pub async fn resume(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let now = st.clock.now();
    let since = p.paused_since.unwrap_or(p.last_progress);
    let fresh: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM prog_credential WHERE project_id = ? AND supplied_at >= ? AND expires_at > ?",
    )
    .bind(p.id.to_string())
    .bind(ts(since))
    .bind(ts(now))
    .fetch_one(st.pool())
    .await?;
    let confirmed = db::schedule_confirmed(st.pool(), p.id, now).await?;
    let paused_from = p.paused_from.unwrap_or(ProjectState::Draft);
    let actions = lifecycle::resume(p.state, paused_from, fresh > 0, confirmed)?;
    let mut tx = st.pool().begin().await?;
    let done = apply_actions(&st, &mut tx, &p, &actions, now).await?;
    let txn = db::commit_sqlx(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "project.resume",
            target: format!("project/{}", p.id),
            before: Some(json!({ "state": p.state })),
            after: Some(json!({ "state": paused_from, "actions": done })),
        },
        now,
    )
    .await?;
    let p = db::load_project(st.pool(), p.tenant, p.id).await?;
    Ok(changed(txn, view(&st, &p).await?))
}

pub async fn close(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let now = st.clock.now();
    let actions = lifecycle::close(p.state)?;
    let mut tx = st.pool().begin().await?;
    let done = apply_actions(&st, &mut tx, &p, &actions, now).await?;
    let txn = db::commit_sqlx(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "project.close",
            target: format!("project/{}", p.id),
            before: Some(json!({ "state": p.state })),
            after: Some(json!({ "state": "closed", "actions": done })),
        },
        now,
    )
    .await?;
    let p = db::load_project(st.pool(), p.tenant, p.id).await?;
    Ok(changed(txn, view(&st, &p).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_rows_are_relative_to_the_endpoint() {
        assert_eq!(
            relative_to(Some("/srv/share"), "/srv/share/dept", "Docs/2024"),
            "dept/Docs/2024"
        );
        assert_eq!(relative_to(Some("webdav://h:1/x"), "team", ""), "team");
        assert_eq!(relative_to(None, "./a/", "b"), "a/b");
    }

    #[test]
    fn a_password_in_an_endpoint_url_is_refused() {
        let e = check_endpoint_url(Workload::Mail, "imap://u:secret@127.0.0.1:143").unwrap_err();
        assert!(e.message.contains("credential"), "{}", e.message);
        assert!(!e.message.contains("secret@"));
        check_endpoint_url(Workload::Mail, "imap://127.0.0.1:143").unwrap();
        // Not a valid URL (bad port): still refused without quoting it.
        for (w, url) in [
            (Workload::Mail, "imaps://u:hunter2@host:99999"),
            (Workload::Files, "webdav://u:hunter2@host:99999/share"),
        ] {
            let e = check_endpoint_url(w, url).unwrap_err();
            assert!(!e.message.contains("hunter2"), "{}", e.message);
        }
        check_endpoint_url(Workload::Files, "sftp://u@host/share").unwrap();
    }
}
