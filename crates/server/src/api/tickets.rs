//! Post-migration tickets: accepted against a mapping within the reporting window after its event
//! completed.

use super::{path_id, project_of};
use crate::auth::Caller;
use crate::db::{self, Change, changed, parse_ts, ts};
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, State};
use ferry_core::id::{MappingId, TicketId};
use ferry_core::programme::ticket::check_ticket;
use serde::Deserialize;
use serde_json::{Value, json};

type TicketRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

fn ticket_view(r: TicketRow) -> Value {
    let (id, mapping, event, title, body, status, by, created, updated) = r;
    json!({ "id": id, "mapping": mapping, "event": event, "title": title, "body": body, "status": status,
            "created_by": by, "created_at": created, "updated_at": updated })
}

const TICKET_COLUMNS: &str =
    "id, mapping_id, event_id, title, body, status, created_by, created_at, updated_at";

pub async fn list(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    let rows: Vec<TicketRow> = sqlx::query_as(&format!(
        "SELECT {TICKET_COLUMNS} FROM prog_ticket WHERE project_id = ? ORDER BY id"
    ))
    .bind(p.id.to_string())
    .fetch_all(st.pool())
    .await?;
    Ok(Json(
        json!({ "tickets": rows.into_iter().map(ticket_view).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    pub mapping: MappingId,
    pub title: String,
    #[serde(default)]
    pub body: String,
}

pub async fn create(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    Json(b): Json<CreateTicket>,
) -> ApiResult<Json<Value>> {
    super::check_name("a ticket title", &b.title, 300)?;
    if b.body.len() > 64 * 1024 {
        return Err(ApiError::bad_request(
            "a ticket needs a title of 1 to 300 characters and a body of at most 64 KiB",
        ));
    }
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let now = st.clock.now();
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM prog_mapping WHERE id = ? AND project_id = ?")
            .bind(b.mapping.to_string())
            .bind(p.id.to_string())
            .fetch_optional(st.pool())
            .await?;
    if exists.is_none() {
        return Err(ApiError::not_found(format!(
            "no mapping {} in this project",
            b.mapping
        )));
    }
    // The mapping's latest completed event.
    let latest: Option<(String, String)> = sqlx::query_as(
        "SELECT e.id, e.completed_at FROM prog_event e JOIN prog_event_mapping m ON m.event_id = e.id
         WHERE m.mapping_id = ? AND e.state = 'completed' AND e.completed_at IS NOT NULL ORDER BY e.completed_at DESC LIMIT 1",
    )
    .bind(b.mapping.to_string())
    .fetch_optional(st.pool())
    .await?;
    let completed_at = latest.as_ref().map(|(_, at)| parse_ts(at)).transpose()?;
    check_ticket(completed_at, now, &st.settings)?;
    let Some((event, _)) = latest else {
        return Err(ApiError::internal("a ticket window without an event"));
    };
    let id = TicketId::new();
    let mut tx = st.pool().begin().await?;
    sqlx::query(
        "INSERT INTO prog_ticket (id, project_id, mapping_id, event_id, title, body, status, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(p.id.to_string())
    .bind(b.mapping.to_string())
    .bind(&event)
    .bind(b.title.trim())
    .bind(&b.body)
    .bind(c.user.to_string())
    .bind(ts(now))
    .bind(ts(now))
    .execute(&mut *tx)
    .await?;
    let after = json!({ "id": id, "mapping": b.mapping, "event": event, "title": b.title.trim(), "status": "open" });
    let txn = db::commit_sqlx(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "ticket.report",
            target: format!("ticket/{id}"),
            before: None,
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    /// `open` or `resolved`.
    pub status: Option<String>,
    pub comment: Option<String>,
}

pub async fn update(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, ticket)): Path<(String, String, String)>,
    Json(b): Json<UpdateTicket>,
) -> ApiResult<Json<Value>> {
    if let Some(s) = &b.status
        && s != "open"
        && s != "resolved"
    {
        return Err(ApiError::bad_request(format!(
            "status {s:?}: use open or resolved"
        )));
    }
    if b.comment.as_ref().is_some_and(|c| c.len() > 64 * 1024) {
        return Err(ApiError::bad_request("a comment holds at most 64 KiB"));
    }
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let id: TicketId = path_id(&ticket, "ticket")?;
    let now = st.clock.now();
    let row: Option<TicketRow> = sqlx::query_as(&format!(
        "SELECT {TICKET_COLUMNS} FROM prog_ticket WHERE id = ? AND project_id = ?"
    ))
    .bind(id.to_string())
    .bind(p.id.to_string())
    .fetch_optional(st.pool())
    .await?;
    let row = row.ok_or_else(|| ApiError::not_found(format!("no ticket {id} in this project")))?;
    let (status_before, body_before) = (row.5.clone(), row.4.clone());
    let status = b.status.clone().unwrap_or(status_before.clone());
    let body = match &b.comment {
        Some(comment) => format!("{body_before}\n\n--- {} at {}:\n{comment}", c.name, ts(now)),
        None => body_before,
    };
    let mut tx = st.pool().begin().await?;
    sqlx::query("UPDATE prog_ticket SET status = ?, body = ?, updated_at = ? WHERE id = ?")
        .bind(&status)
        .bind(&body)
        .bind(ts(now))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    let txn = db::commit_sqlx(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "ticket.update",
            target: format!("ticket/{id}"),
            before: Some(json!({ "status": status_before })),
            after: Some(json!({ "status": status, "commented": b.comment.is_some() })),
        },
        now,
    )
    .await?;
    let row: TicketRow = sqlx::query_as(&format!(
        "SELECT {TICKET_COLUMNS} FROM prog_ticket WHERE id = ?"
    ))
    .bind(id.to_string())
    .fetch_one(st.pool())
    .await?;
    Ok(changed(txn, ticket_view(row)))
}
