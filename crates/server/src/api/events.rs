//! Events: created and changed by the customer's roles under the schedule policy and the gates; cancelled.
//! Running them is the scheduler's job ([`crate::scheduler`]).

use super::{path_id, project_of};
use crate::auth::Caller;
use crate::db::{self, Change, Project, changed};
use crate::programme::events::{load_event, project_events, set_event_state};
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, State};
use chrono::{DateTime, Utc};
use ferry_core::id::{EventId, MappingId};
use ferry_core::programme::ProjectState;
use ferry_core::programme::event::{EventKind, EventState};
use ferry_core::programme::gate::{GatedAction, check_gates};
use ferry_core::programme::schedule::{self, EventSchedule, ScheduleRequest};
use ferry_store::programme::NewEvent;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub async fn list(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    Ok(Json(
        json!({ "events": project_events(&*st.programme, p.id, &[]).await? }),
    ))
}

pub async fn get(
    State(st): State<AppState>,
    Path((tenant, project, event)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    let e = load_event(&*st.programme, p.id, path_id(&event, "event")?).await?;
    Ok(Json(
        serde_json::to_value(e).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    pub name: String,
    pub kind: EventKind,
    #[serde(default)]
    pub pilot: bool,
    pub start: DateTime<Utc>,
    pub mappings: Vec<MappingId>,
}

/// Refuse work on a project that is not doing programme work.
fn check_project_open(p: &Project) -> ApiResult<()> {
    match p.state {
        ProjectState::Completed | ProjectState::Closed | ProjectState::Offboarded => {
            Err(ApiError::refused(format!(
                "the project is {}: it takes no events",
                p.state.as_str()
            )))
        }
        _ => Ok(()),
    }
}

/// Every id must be a mapping of the project, none sealed (its Final pass succeeded).
async fn check_mappings(st: &AppState, p: &Project, ids: &BTreeSet<MappingId>) -> ApiResult<()> {
    // The project's mappings in one query, not one query per id (20,000 ids: issue 12 §5).
    let own: std::collections::HashSet<MappingId> = st
        .programme
        .mappings(p.id)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    // The project's sealed mappings in one query, not one per id.
    let sealed: std::collections::HashSet<MappingId> = st
        .programme
        .sealed_mappings(p.id)
        .await?
        .into_iter()
        .collect();
    for id in ids {
        if !own.contains(id) {
            return Err(ApiError::bad_request(format!(
                "mapping {id} is not a mapping of this project"
            )));
        }
        if sealed.contains(id) {
            return Err(ApiError::refused(format!(
                "mapping {id} is sealed: its Final pass succeeded, so it never runs again"
            )));
        }
    }
    Ok(())
}

pub async fn create(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    Json(b): Json<CreateEvent>,
) -> ApiResult<Json<Value>> {
    super::check_name("an event name", &b.name, 200)?;
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    check_project_open(&p)?;
    let now = st.clock.now();
    let tenant_doc = db::load_tenant(&*st.programme, p.tenant).await?;
    tenant_doc.eligibility(&st.settings).check_programme()?;
    let gates = db::gates(&*st.programme, p.id).await?;
    check_gates(
        p.workload,
        p.source_system,
        &gates,
        GatedAction::CreateEvent,
    )?;
    let ids: BTreeSet<MappingId> = b.mappings.iter().copied().collect();
    check_mappings(&st, &p, &ids).await?;
    let sched = EventSchedule {
        pilot: b.pilot,
        start: b.start,
        mappings: ids.len() as u32,
    };
    schedule::check(
        &ScheduleRequest::Create(sched),
        tenant_doc.window,
        now,
        &st.settings,
    )?;
    let id = EventId::new();
    let tx = st.programme.begin().await?;
    tx.insert_event(&NewEvent {
        id,
        project: p.id,
        name: b.name.trim().to_string(),
        kind: b.kind,
        pilot: b.pilot,
        start: b.start,
        created_by: c.user,
        at: now,
    })
    .await?;
    // One batch, not one INSERT per mapping (20,000 mappings: issue 12 §5).
    let ids_vec: Vec<MappingId> = ids.iter().copied().collect();
    tx.add_event_mappings(id, &ids_vec, now).await?;
    db::touch_project(&*tx, p.id, now).await?;
    let summary = json!({ "name": b.name.trim(), "kind": b.kind, "pilot": b.pilot, "start": b.start, "mappings": ids.len() });
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "event.create",
            target: format!("event/{id}"),
            before: None,
            after: Some(summary),
        },
        now,
    )
    .await?;
    st.feed.event_changed(id);
    let e = load_event(&*st.programme, p.id, id).await?;
    Ok(changed(txn, e))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeEvent {
    pub name: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub pilot: Option<bool>,
    #[serde(default)]
    pub add: Vec<MappingId>,
    #[serde(default)]
    pub remove: Vec<MappingId>,
}

pub async fn change(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, event)): Path<(String, String, String)>,
    Json(b): Json<ChangeEvent>,
) -> ApiResult<Json<Value>> {
    if let Some(n) = &b.name {
        super::check_name("an event name", n, 200)?;
    }
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let e = load_event(&*st.programme, p.id, path_id(&event, "event")?).await?;
    e.state.check_changeable()?;
    let now = st.clock.now();
    let current: BTreeSet<MappingId> = e.mappings.iter().copied().collect();
    let add: BTreeSet<MappingId> = b
        .add
        .iter()
        .filter(|m| !current.contains(m))
        .copied()
        .collect();
    let remove: BTreeSet<MappingId> = b
        .remove
        .iter()
        .filter(|m| current.contains(m))
        .copied()
        .collect();
    if let Some(m) = b.remove.iter().find(|m| !current.contains(m)) {
        return Err(ApiError::bad_request(format!(
            "mapping {m} is not in this event"
        )));
    }
    if !add.is_empty() {
        let gates = db::gates(&*st.programme, p.id).await?;
        check_gates(
            p.workload,
            p.source_system,
            &gates,
            GatedAction::CreateEvent,
        )?;
        check_mappings(&st, &p, &add).await?;
    }
    let tenant_doc = db::load_tenant(&*st.programme, p.tenant).await?;
    let cur = EventSchedule {
        pilot: e.pilot,
        start: e.start,
        mappings: current.len() as u32,
    };
    let proposed = EventSchedule {
        pilot: b.pilot.unwrap_or(e.pilot),
        start: b.start.unwrap_or(e.start),
        mappings: (current.len() + add.len() - remove.len()) as u32,
    };
    schedule::check(
        &ScheduleRequest::Change {
            current: cur,
            proposed,
            added: add.len() as u32,
            removed: remove.len() as u32,
        },
        tenant_doc.window,
        now,
        &st.settings,
    )?;
    let tx = st.programme.begin().await?;
    tx.update_event(
        e.id,
        b.name.as_deref().map(str::trim).unwrap_or(&e.name),
        proposed.start,
        proposed.pilot,
        now,
    )
    .await?;
    let add_vec: Vec<MappingId> = add.iter().copied().collect();
    let remove_vec: Vec<MappingId> = remove.iter().copied().collect();
    tx.add_event_mappings(e.id, &add_vec, now).await?;
    tx.remove_event_mappings(e.id, &remove_vec).await?;
    db::touch_project(&*tx, p.id, now).await?;
    let before =
        json!({ "name": e.name, "start": e.start, "pilot": e.pilot, "mappings": current.len() });
    let after = json!({
        "name": b.name.as_deref().map(str::trim).unwrap_or(&e.name),
        "start": proposed.start, "pilot": proposed.pilot, "mappings": proposed.mappings,
        "added": add.len(), "removed": remove.len(),
    });
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "event.change",
            target: format!("event/{}", e.id),
            before: Some(before),
            after: Some(after),
        },
        now,
    )
    .await?;
    st.feed.event_changed(e.id);
    let e = load_event(&*st.programme, p.id, e.id).await?;
    Ok(changed(txn, e))
}

pub async fn cancel(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, event)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let e = load_event(&*st.programme, p.id, path_id(&event, "event")?).await?;
    if e.state == EventState::Cancelled {
        return Err(ApiError::refused("the event is cancelled already"));
    }
    let now = st.clock.now();
    let tx = st.programme.begin().await?;
    set_event_state(&*tx, &e, EventState::Cancelled, now).await?;
    db::touch_project(&*tx, p.id, now).await?;
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "event.cancel",
            target: format!("event/{}", e.id),
            before: Some(json!({ "state": e.state })),
            after: Some(json!({ "state": EventState::Cancelled })),
        },
        now,
    )
    .await?;
    st.workers.stop_event(e.id);
    st.feed.event_changed(e.id);
    let e = load_event(&*st.programme, p.id, e.id).await?;
    Ok(changed(txn, e))
}
