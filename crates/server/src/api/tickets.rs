//! Post-migration tickets: accepted against a mapping within the reporting window after its event
//! completed.

use super::logs::{LogQuery, MAX_LIST_PAGE};
use super::{path_id, project_of};
use crate::auth::Caller;
use crate::db::{self, Change, changed, parse_ts, ts};
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use ferry_core::id::{MappingId, TicketId};
use ferry_core::programme::ticket::check_ticket;
use ferry_store::programme::TicketRow;
use serde::Deserialize;
use serde_json::{Value, json};

fn ticket_view(t: TicketRow) -> Value {
    json!({ "id": t.id, "mapping": t.mapping, "event": t.event, "title": t.title, "body": t.body, "status": t.status,
            "created_by": t.created_by, "created_at": t.created_at, "updated_at": t.updated_at })
}

/// A page of a project's tickets (newest first) as the API and the dashboard read it: `status`,
/// `mapping`, `before` (the last ticket's id) and `limit` checked, then the store.
pub async fn ticket_page(
    st: &AppState,
    project: ferry_core::id::ProjectId,
    q: &LogQuery,
    default_limit: i64,
) -> ApiResult<Vec<TicketRow>> {
    q.only(
        "the tickets list",
        &["status", "mapping", "before", "limit"],
    )?;
    let limit = q.limit(
        default_limit,
        MAX_LIST_PAGE,
        "before=<id of the last ticket>",
    )?;
    let before: Option<TicketId> = q.before_id()?;
    let filter = q.ticket_filter()?;
    Ok(st
        .programme
        .tickets_page(project, &filter, before, limit)
        .await?)
}

pub async fn list(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    let rows = ticket_page(&st, p.id, &q, MAX_LIST_PAGE).await?;
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
    if !st.programme.mapping_in_project(p.id, b.mapping).await? {
        return Err(ApiError::not_found(format!(
            "no mapping {} in this project",
            b.mapping
        )));
    }
    // The mapping's latest completed event.
    let latest = st.programme.latest_completed_event(b.mapping).await?;
    let completed_at = latest.as_ref().map(|(_, at)| parse_ts(at)).transpose()?;
    check_ticket(completed_at, now, &st.settings)?;
    let Some((event, _)) = latest else {
        return Err(ApiError::internal("a ticket window without an event"));
    };
    let id = TicketId::new();
    let tx = st.programme.begin().await?;
    tx.insert_ticket(
        p.id,
        &TicketRow {
            id: id.to_string(),
            mapping: b.mapping.to_string(),
            event: event.clone(),
            title: b.title.trim().to_string(),
            body: b.body.clone(),
            status: "open".into(),
            created_by: c.user.to_string(),
            created_at: ts(now),
            updated_at: ts(now),
        },
    )
    .await?;
    let after = json!({ "id": id, "mapping": b.mapping, "event": event, "title": b.title.trim(), "status": "open" });
    let txn = db::commit(
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
    let row = st
        .programme
        .ticket(p.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no ticket {id} in this project")))?;
    let (status_before, body_before) = (row.status.clone(), row.body.clone());
    let status = b.status.clone().unwrap_or(status_before.clone());
    let body = match &b.comment {
        Some(comment) => format!("{body_before}\n\n--- {} at {}:\n{comment}", c.name, ts(now)),
        None => body_before,
    };
    let tx = st.programme.begin().await?;
    tx.update_ticket(id, &status, &body, now).await?;
    let txn = db::commit(
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
    let row = st
        .programme
        .ticket(p.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no ticket {id} in this project")))?;
    Ok(changed(txn, ticket_view(row)))
}
