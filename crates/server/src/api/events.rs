//! Events: created and changed by the customer's roles under the schedule policy and the gates; cancelled.
//! Running them is the scheduler's job ([`crate::scheduler`]).

use super::{path_id, project_of};
use crate::auth::Caller;
use crate::db::{self, Change, Project, changed, parse_enum, parse_ts, ts};
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, State};
use chrono::{DateTime, Utc};
use ferry_core::id::{EventId, MappingId, ProjectId};
use ferry_core::programme::ProjectState;
use ferry_core::programme::event::{EventKind, EventState};
use ferry_core::programme::gate::{GatedAction, check_gates};
use ferry_core::programme::schedule::{self, EventSchedule, ScheduleRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::SqlitePool;
use std::collections::BTreeSet;

/// An event as stored.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub id: EventId,
    pub project: ProjectId,
    pub name: String,
    pub kind: EventKind,
    pub pilot: bool,
    pub start: DateTime<Utc>,
    pub state: EventState,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub mappings: Vec<MappingId>,
}

type EventRow = (
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

const EVENT_COLUMNS: &str = "id, project_id, name, kind, pilot, start_at, state, created_by, created_at, updated_at, completed_at";

async fn event_from(pool: &SqlitePool, r: EventRow) -> ApiResult<Event> {
    let (id, project, name, kind, pilot, start, state, by, created, updated, completed) = r;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT mapping_id FROM prog_event_mapping WHERE event_id = ? ORDER BY mapping_id",
    )
    .bind(&id)
    .fetch_all(pool)
    .await?;
    Ok(Event {
        id: path_id(&id, "event")?,
        project: path_id(&project, "project")?,
        name,
        kind: parse_enum(&kind)?,
        pilot: pilot != 0,
        start: parse_ts(&start)?,
        state: parse_enum(&state)?,
        created_by: by,
        created_at: parse_ts(&created)?,
        updated_at: parse_ts(&updated)?,
        completed_at: completed.as_deref().map(parse_ts).transpose()?,
        mappings: ids
            .iter()
            .map(|m| path_id(m, "mapping"))
            .collect::<ApiResult<_>>()?,
    })
}

/// One event of `project`.
pub async fn load_event(pool: &SqlitePool, project: ProjectId, id: EventId) -> ApiResult<Event> {
    let row: Option<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM prog_event WHERE id = ? AND project_id = ?"
    ))
    .bind(id.to_string())
    .bind(project.to_string())
    .fetch_optional(pool)
    .await?;
    event_from(
        pool,
        row.ok_or_else(|| ApiError::not_found(format!("no event {id} in this project")))?,
    )
    .await
}

/// Events of a project (all of them when `states` is empty), oldest first.
pub async fn project_events(
    pool: &SqlitePool,
    project: ProjectId,
    states: &[EventState],
) -> ApiResult<Vec<Event>> {
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM prog_event WHERE project_id = ? ORDER BY id"
    ))
    .bind(project.to_string())
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let e = event_from(pool, r).await?;
        if states.is_empty() || states.contains(&e.state) {
            out.push(e);
        }
    }
    Ok(out)
}

/// Record an event's new state (checked against its lifecycle).
pub async fn set_event_state(
    conn: &mut sqlx::SqliteConnection,
    event: &Event,
    to: EventState,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    if event.state == to {
        return Ok(());
    }
    event.state.transition(to)?;
    let completed = (to == EventState::Completed).then(|| ts(now));
    sqlx::query("UPDATE prog_event SET state = ?, updated_at = ?, completed_at = COALESCE(?, completed_at) WHERE id = ?")
        .bind(to.as_str())
        .bind(ts(now))
        .bind(completed)
        .bind(event.id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn list(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    Ok(Json(
        json!({ "events": project_events(st.pool(), p.id, &[]).await? }),
    ))
}

pub async fn get(
    State(st): State<AppState>,
    Path((tenant, project, event)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    let e = load_event(st.pool(), p.id, path_id(&event, "event")?).await?;
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
    for id in ids {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM prog_mapping WHERE id = ? AND project_id = ?")
                .bind(id.to_string())
                .bind(p.id.to_string())
                .fetch_optional(st.pool())
                .await?;
        if found.is_none() {
            return Err(ApiError::bad_request(format!(
                "mapping {id} is not a mapping of this project"
            )));
        }
        let sealed: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM prog_pass WHERE mapping_id = ? AND kind = 'final' AND outcome = 'succeeded'",
        )
        .bind(id.to_string())
        .fetch_one(st.pool())
        .await?;
        if sealed > 0 {
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
    let mut tx = st.pool().begin().await?;
    sqlx::query(
        "INSERT INTO prog_event (id, project_id, name, kind, pilot, start_at, state, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(p.id.to_string())
    .bind(b.name.trim())
    .bind(db::enum_name(&b.kind))
    .bind(b.pilot as i64)
    .bind(ts(b.start))
    .bind(EventState::Scheduled.as_str())
    .bind(c.user.to_string())
    .bind(ts(now))
    .bind(ts(now))
    .execute(&mut *tx)
    .await?;
    for m in &ids {
        sqlx::query(
            "INSERT INTO prog_event_mapping (event_id, mapping_id, added_at) VALUES (?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(m.to_string())
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
    }
    db::touch_project_sqlx(&mut tx, p.id, now).await?;
    let summary = json!({ "name": b.name.trim(), "kind": b.kind, "pilot": b.pilot, "start": b.start, "mappings": ids.len() });
    let txn = db::commit_sqlx(
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
    let e = load_event(st.pool(), p.id, id).await?;
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
    let e = load_event(st.pool(), p.id, path_id(&event, "event")?).await?;
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
    let mut tx = st.pool().begin().await?;
    sqlx::query(
        "UPDATE prog_event SET name = ?, start_at = ?, pilot = ?, updated_at = ? WHERE id = ?",
    )
    .bind(b.name.as_deref().map(str::trim).unwrap_or(&e.name))
    .bind(ts(proposed.start))
    .bind(proposed.pilot as i64)
    .bind(ts(now))
    .bind(e.id.to_string())
    .execute(&mut *tx)
    .await?;
    for m in &add {
        sqlx::query(
            "INSERT INTO prog_event_mapping (event_id, mapping_id, added_at) VALUES (?, ?, ?)",
        )
        .bind(e.id.to_string())
        .bind(m.to_string())
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
    }
    for m in &remove {
        sqlx::query("DELETE FROM prog_event_mapping WHERE event_id = ? AND mapping_id = ?")
            .bind(e.id.to_string())
            .bind(m.to_string())
            .execute(&mut *tx)
            .await?;
    }
    db::touch_project_sqlx(&mut tx, p.id, now).await?;
    let before =
        json!({ "name": e.name, "start": e.start, "pilot": e.pilot, "mappings": current.len() });
    let after = json!({
        "name": b.name.as_deref().map(str::trim).unwrap_or(&e.name),
        "start": proposed.start, "pilot": proposed.pilot, "mappings": proposed.mappings,
        "added": add.len(), "removed": remove.len(),
    });
    let txn = db::commit_sqlx(
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
    let e = load_event(st.pool(), p.id, e.id).await?;
    Ok(changed(txn, e))
}

pub async fn cancel(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, event)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let e = load_event(st.pool(), p.id, path_id(&event, "event")?).await?;
    if e.state == EventState::Cancelled {
        return Err(ApiError::refused("the event is cancelled already"));
    }
    let now = st.clock.now();
    let mut tx = st.pool().begin().await?;
    set_event_state(&mut tx, &e, EventState::Cancelled, now).await?;
    db::touch_project_sqlx(&mut tx, p.id, now).await?;
    let txn = db::commit_sqlx(
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
    let e = load_event(st.pool(), p.id, e.id).await?;
    Ok(changed(txn, e))
}
