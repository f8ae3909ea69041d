//! Projects: create, rename, list; scope tasks and gates; the end of a project's life (resume, close).
//! Endpoints and credentials are in [`super::endpoints`], mappings in [`super::mappings`].

use super::{path_id, project_of};
use crate::auth::Caller;
use crate::db::{self, Change, Project, changed, ts};
use crate::programme::apply_actions;
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, State};
use ferry_core::id::{ProjectId, TenantId};
use ferry_core::programme::gate::{GateKind, applicable_gates};
use ferry_core::programme::lifecycle;
use ferry_core::programme::scope::{Task, check_task};
use ferry_core::programme::{ProjectState, SourceSystem, Workload};
use ferry_store::programme::TaskRow;
use serde::Deserialize;
use serde_json::{Value, json};

/// A project with its gates, as answers show it.
pub async fn view(st: &AppState, p: &Project) -> ApiResult<Value> {
    let gates = db::gates(&*st.programme, p.id).await?;
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
    for p in db::tenant_projects(&*st.programme, t).await? {
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
    let tx = st.programme.begin().await?;
    tx.insert_project(id, t, b.name.trim(), b.workload, b.source_system, now)
        .await?;
    for g in applicable_gates(b.workload, b.source_system) {
        tx.insert_gate(id, g).await?;
    }
    let summary = json!({ "name": b.name.trim(), "workload": b.workload, "source_system": b.source_system, "state": "draft" });
    let txn = db::commit(
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
    let p = db::load_project(&*st.programme, t, id).await?;
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
    let tx = st.programme.begin().await?;
    tx.rename_project(p.id, b.name.trim(), now).await?;
    let txn = db::commit(
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
    let p = db::load_project(&*st.programme, p.tenant, p.id).await?;
    Ok(changed(txn, view(&st, &p).await?))
}

// --- tasks (scope guard) ----------------------------------------------------------------------------------

pub async fn tasks(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    let tasks: Vec<Value> = st
        .programme
        .tasks(p.id)
        .await?
        .into_iter()
        .map(|t| {
            json!({ "id": t.id, "task": t.task, "agreement": t.agreement, "in_scope": t.in_scope, "created_by": t.created_by, "created_at": t.created_at })
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
    let tx = st.programme.begin().await?;
    tx.insert_task(
        p.id,
        &TaskRow {
            id: id.clone(),
            task: task.name().to_string(),
            agreement,
            in_scope: task.in_scope(),
            created_by: c.user.to_string(),
            created_at: ts(now),
        },
    )
    .await?;
    let after =
        json!({ "id": id, "task": task.name(), "in_scope": task.in_scope(), "decision": decision });
    let txn = db::commit(
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
    let gates: Vec<Value> = db::gates(&*st.programme, p.id)
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

/// `POST …/gates/{gate}/check`: the check behind the "targets provisioned and active" gate — log in to every
/// mapping's target mailbox, or (files projects) open every mapping's target drive, library or share
/// (read-only), and report the ones that are missing or refused, so a migration manager can see it before
/// confirming the gate. It changes nothing (the gate stays as it is).
pub async fn check_gate(
    State(st): State<AppState>,
    Path((tenant, project, gate)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    if gate != GateKind::TargetsProvisioned.as_str() {
        return Err(ApiError::not_found(format!(
            "gate {gate:?} has no check: only targets_provisioned is checked by Ferry (confirm the others \
             after checking them yourself)"
        )));
    }
    let p = project_of(&st, &tenant, &project).await?;
    let mappings = crate::programme::load_mappings(&st, p.id).await?;
    if mappings.is_empty() {
        return Err(ApiError::refused(
            "the project has no mappings to check: import them first (POST …/mappings)",
        ));
    }
    // A few mailboxes at a time: a large project is checked in minutes, not hours, without a login storm.
    let mut results = Vec::with_capacity(mappings.len());
    for chunk in mappings.chunks(8) {
        let checks = chunk.iter().map(|m| async {
            match p.workload {
                Workload::Mail => crate::workload::mail::check_target(&st, &p, m).await,
                Workload::Files => crate::workload::files::check_target(&st, &p, m).await,
            }
        });
        for r in futures_util::future::join_all(checks).await {
            results.push(r?);
        }
    }
    let problems = results.iter().filter(|r| r["status"] != "active").count();
    Ok(Json(json!({
        "gate": gate,
        "checked": results.len(),
        "active": results.len() - problems,
        "problems": problems,
        "mappings": results,
    })))
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
    let mut statuses = db::gates(&*st.programme, p.id).await?;
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
    let tx = st.programme.begin().await?;
    if newly {
        tx.confirm_gate(p.id, kind, c.user, now).await?;
        db::touch_project(&*tx, p.id, now).await?;
    }
    let after = json!({
        "kind": kind,
        "met": true,
        "confirmed_by": confirmation.map(|c| c.by),
        "confirmed_at": confirmation.map(|c| c.at),
        "changed": newly,
    });
    let txn = db::commit(
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

pub async fn resume(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let now = st.clock.now();
    let since = p.paused_since.unwrap_or(p.last_progress);
    let fresh = st.programme.fresh_credentials(p.id, since, now).await?;
    let confirmed = st.programme.schedule_confirmed(p.id, now).await?;
    let paused_from = p.paused_from.unwrap_or(ProjectState::Draft);
    let actions = lifecycle::resume(p.state, paused_from, fresh > 0, confirmed)?;
    let tx = st.programme.begin().await?;
    let done = apply_actions(&st, &*tx, &p, &actions, now).await?;
    let txn = db::commit(
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
    let p = db::load_project(&*st.programme, p.tenant, p.id).await?;
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
    let tx = st.programme.begin().await?;
    let done = apply_actions(&st, &*tx, &p, &actions, now).await?;
    let txn = db::commit(
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
    let p = db::load_project(&*st.programme, p.tenant, p.id).await?;
    Ok(changed(txn, view(&st, &p).await?))
}
