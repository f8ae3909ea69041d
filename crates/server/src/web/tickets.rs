//! Ticket pages: a project's post-migration tickets (newest first, filtered by state and mapping, a page
//! of [`PAGE_SIZE`] at a time, read through the API's reader [`crate::api::tickets::ticket_page`]), one
//! ticket with its history (the report, then each comment with who wrote it and when), and the forms the
//! role may use: open a ticket against a mapping (`report_ticket`), comment, resolve or reopen
//! (`update_ticket`). Each form calls the API's own handler with the caller the page check made, so the
//! ticket window and the limits refuse exactly as on the API, shown on the form.

use super::audit::{link, shown_time};
use super::frame::Frame;
use super::page::{OPEN_TICKET, Signed, UPDATE_TICKET, may, path_id};
use super::{api_error_page, error_page};
use crate::api::logs::LogQuery;
use crate::api::project_of;
use crate::api::tickets::{self as api, CreateTicket, UpdateTicket, ticket_page};
use crate::auth::Caller;
use crate::db::Project;
use crate::programme::events::project_events;
use crate::programme::load_mappings;
use crate::{ApiError, AppState, db};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Json, Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ferry_core::id::{MappingId, TicketId};
use ferry_store::programme::TicketRow;
use serde::Deserialize;
use std::collections::HashMap;

/// Tickets per page.
pub const PAGE_SIZE: i64 = 50;

/// A ticket as the list shows it.
pub struct Line {
    pub id: String,
    pub href: String,
    pub title: String,
    pub mapping: String,
    pub event: String,
    pub status: String,
    pub opened_by: String,
    pub opened: String,
    pub updated: String,
}

/// What the list page's open form holds (kept after a refusal).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OpenForm {
    #[serde(default)]
    pub mapping: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/list.html")]
struct ListPage {
    frame: Frame,
    base: String,
    rows: Vec<Line>,
    status: String,
    mapping: String,
    mapping_label: String,
    error: Option<String>,
    older_href: Option<String>,
    can_open: bool,
    form: OpenForm,
}

/// An entry of a ticket's history.
pub struct Entry {
    pub who: String,
    pub at: String,
    pub text: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/show.html")]
struct ShowPage {
    frame: Frame,
    base: String,
    href: String,
    title: String,
    status: String,
    mapping: String,
    mapping_href: String,
    event: String,
    history: Vec<Entry>,
    error: Option<String>,
    done: Option<String>,
    can_update: bool,
    comment: String,
}

/// What a list or a ticket page shows around the tickets: the project and names by id.
struct Context {
    project: Project,
    frame: Frame,
    mappings: HashMap<String, String>,
    events: HashMap<String, String>,
    people: HashMap<String, String>,
}

async fn context(
    st: &AppState,
    signed: &Signed,
    c: &Caller,
    tenant: &str,
    project: &str,
) -> Result<Context, ApiError> {
    let p = project_of(st, tenant, project).await?;
    let t = db::load_tenant(&*st.programme, p.tenant).await?;
    let mappings = load_mappings(st, p.id)
        .await?
        .into_iter()
        .map(|m| (m.id.to_string(), m.label))
        .collect();
    let events = project_events(&*st.programme, p.id, &[])
        .await?
        .into_iter()
        .map(|e| (e.id.to_string(), e.name))
        .collect();
    let people = st
        .programme
        .members(p.tenant)
        .await?
        .into_iter()
        .map(|m| (m.user.to_string(), m.name))
        .collect();
    let frame = Frame::new(signed, c)
        .tenant(p.tenant, &t.name)
        .project(p.id, &p.name)
        .here("Tickets");
    Ok(Context {
        project: p,
        frame,
        mappings,
        events,
        people,
    })
}

fn name_of(names: &HashMap<String, String>, id: &str, unknown: &str) -> String {
    names.get(id).cloned().unwrap_or_else(|| unknown.to_owned())
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

#[allow(clippy::too_many_arguments)]
async fn render_list(
    st: &AppState,
    signed: &Signed,
    c: &Caller,
    (tenant, project): (&str, &str),
    q: &LogQuery,
    form: OpenForm,
    refused: Option<(StatusCode, String)>,
) -> Response {
    let ctx = match context(st, signed, c, tenant, project).await {
        Ok(x) => x,
        Err(e) => return api_error_page(e),
    };
    let base = format!(
        "/tenants/{}/projects/{}/tickets",
        ctx.project.tenant, ctx.project.id
    );
    let text = |v: &Option<String>| v.clone().unwrap_or_default().trim().to_owned();
    let mapping = text(&q.mapping);
    let mapping_label = ctx.mappings.get(&mapping).cloned().unwrap_or_default();
    let mut form = form;
    if form.mapping.is_empty() {
        form.mapping = mapping_label.clone();
    }
    let mut view = ListPage {
        can_open: may(c, &OPEN_TICKET),
        frame: ctx.frame.clone(),
        base: base.clone(),
        rows: Vec::new(),
        status: text(&q.status),
        mapping,
        mapping_label,
        error: None,
        older_href: None,
        form,
    };
    let mut status = StatusCode::OK;
    match ticket_page(st, ctx.project.id, q, PAGE_SIZE).await {
        Ok(rows) => {
            if rows.len() as i64 == PAGE_SIZE
                && let Some(last) = rows.last()
            {
                view.older_href = Some(link(
                    &base,
                    &[
                        ("status", &view.status),
                        ("mapping", &view.mapping),
                        ("before", &last.id),
                    ],
                ));
            }
            view.rows = rows
                .into_iter()
                .map(|t| Line {
                    href: format!("{base}/{}", t.id),
                    mapping: name_of(&ctx.mappings, &t.mapping, "(a removed mapping)"),
                    event: name_of(&ctx.events, &t.event, ""),
                    opened_by: name_of(&ctx.people, &t.created_by, "(no longer a member)"),
                    opened: shown_time(&t.created_at),
                    updated: shown_time(&t.updated_at),
                    id: t.id,
                    title: t.title,
                    status: t.status,
                })
                .collect();
        }
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            status = StatusCode::BAD_REQUEST;
            view.error = Some(e.message);
        }
        Err(e) => return api_error_page(e),
    }
    if let Some((s, message)) = refused {
        status = s;
        view.error = Some(message);
    }
    (status, view).into_response()
}

/// `GET /tenants/{tenant}/projects/{project}/tickets`.
pub async fn list(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This page takes status, mapping and before: start again from the Tickets link.",
        );
    };
    render_list(
        &st,
        &signed,
        &c,
        (&tenant, &project),
        &q,
        OpenForm::default(),
        None,
    )
    .await
}

/// `POST /tenants/{tenant}/projects/{project}/tickets`: open a ticket against a mapping, named by its
/// address or path (as the grid shows it) or its id.
pub async fn open(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    Form(form): Form<OpenForm>,
) -> Response {
    let again = |status: StatusCode, message: String, form: OpenForm| {
        let (st, signed, c, tenant, project) = (&st, &signed, &c, &tenant, &project);
        async move {
            render_list(
                st,
                signed,
                c,
                (tenant, project),
                &LogQuery::default(),
                form,
                Some((status, message)),
            )
            .await
        }
    };
    let p = match project_of(&st, &tenant, &project).await {
        Ok(p) => p,
        Err(e) => return api_error_page(e),
    };
    let wanted = form.mapping.trim();
    let mapping: Option<MappingId> = match wanted.parse() {
        Ok(id) => Some(id),
        Err(_) => match st.programme.mapping_by_label(p.id, wanted).await {
            Ok(m) => m.map(|m| m.id),
            Err(e) => return api_error_page(e.into()),
        },
    };
    let Some(mapping) = mapping else {
        let message = if wanted.is_empty() {
            "Name the mapping the ticket is about (its address or path, as the grid shows it)."
                .to_owned()
        } else {
            format!(
                "There is no mapping {wanted:?} in this project: copy its address or path from the grid."
            )
        };
        return again(StatusCode::BAD_REQUEST, message, form).await;
    };
    let body = CreateTicket {
        mapping,
        title: form.title.clone(),
        body: form.body.clone(),
    };
    let r = api::create(
        State(st.clone()),
        Extension(c.clone()),
        Path((tenant.clone(), project.clone())),
        Json(body),
    )
    .await;
    match r {
        Ok(Json(v)) => {
            let id = v["result"]["id"].as_str().unwrap_or_default();
            see_other(&format!(
                "/tenants/{}/projects/{}/tickets/{id}?done=opened",
                p.tenant, p.id
            ))
        }
        Err(e) if e.status.is_client_error() => again(e.status, e.message, form).await,
        Err(e) => api_error_page(e),
    }
}

/// The report and its comments: the API appends each comment to the body after a line
/// `--- NAME at TIME:`.
fn history(t: &TicketRow, opened_by: String) -> Vec<Entry> {
    let mut parts = t.body.split("\n\n--- ");
    let mut out = vec![Entry {
        who: opened_by,
        at: shown_time(&t.created_at),
        text: parts.next().unwrap_or_default().to_owned(),
    }];
    for part in parts {
        let (head, text) = part.split_once(":\n").unwrap_or((part, ""));
        let (who, at) = head.rsplit_once(" at ").unwrap_or((head, ""));
        out.push(Entry {
            who: who.to_owned(),
            at: shown_time(at),
            text: text.to_owned(),
        });
    }
    out
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    done: String,
}

async fn render_ticket(
    st: &AppState,
    signed: &Signed,
    c: &Caller,
    (tenant, project, ticket): (&str, &str, &str),
    done: Option<String>,
    refused: Option<(StatusCode, String, String)>,
) -> Response {
    let ctx = match context(st, signed, c, tenant, project).await {
        Ok(x) => x,
        Err(e) => return api_error_page(e),
    };
    let id: TicketId = match path_id(ticket, "ticket") {
        Ok(id) => id,
        Err(e) => return api_error_page(e),
    };
    let t = match st.programme.ticket(ctx.project.id, id).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "There is no such ticket in this project: start again from its Tickets page.",
            );
        }
        Err(e) => return api_error_page(e.into()),
    };
    let base = format!(
        "/tenants/{}/projects/{}/tickets",
        ctx.project.tenant, ctx.project.id
    );
    let (status, error, comment) = match refused {
        Some((s, m, comment)) => (s, Some(m), comment),
        None => (StatusCode::OK, None, String::new()),
    };
    let view = ShowPage {
        can_update: may(c, &UPDATE_TICKET),
        frame: ctx.frame.clone(),
        href: format!("{base}/{}", t.id),
        title: t.title.clone(),
        status: t.status.clone(),
        mapping: name_of(&ctx.mappings, &t.mapping, "(a removed mapping)"),
        mapping_href: format!(
            "/tenants/{}/projects/{}/mappings/{}",
            ctx.project.tenant, ctx.project.id, t.mapping
        ),
        event: name_of(&ctx.events, &t.event, ""),
        history: history(
            &t,
            name_of(&ctx.people, &t.created_by, "(no longer a member)"),
        ),
        base,
        error,
        done,
        comment,
    };
    (status, view).into_response()
}

/// `GET /tenants/{tenant}/projects/{project}/tickets/{ticket}`.
pub async fn show(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, ticket)): Path<(String, String, String)>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let done = match q.done.as_str() {
        "opened" => Some("Ticket opened.".to_owned()),
        "commented" => Some("Comment added.".to_owned()),
        "resolved" => Some("Ticket resolved.".to_owned()),
        "open" => Some("Ticket reopened.".to_owned()),
        _ => None,
    };
    render_ticket(&st, &signed, &c, (&tenant, &project, &ticket), done, None).await
}

#[derive(Debug, Default, Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    comment: String,
    /// `open` or `resolved` (the button pressed), empty for a comment alone.
    #[serde(default)]
    status: String,
}

/// `POST /tenants/{tenant}/projects/{project}/tickets/{ticket}`: comment, resolve or reopen.
pub async fn update(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, ticket)): Path<(String, String, String)>,
    Form(form): Form<UpdateForm>,
) -> Response {
    let comment = form.comment.trim().to_owned();
    let status = form.status.trim().to_owned();
    let keys = (tenant.as_str(), project.as_str(), ticket.as_str());
    if comment.is_empty() && status.is_empty() {
        return render_ticket(
            &st,
            &signed,
            &c,
            keys,
            None,
            Some((
                StatusCode::BAD_REQUEST,
                "Write a comment, or resolve or reopen the ticket.".to_owned(),
                String::new(),
            )),
        )
        .await;
    }
    let body = UpdateTicket {
        status: (!status.is_empty()).then(|| status.clone()),
        comment: (!comment.is_empty()).then(|| comment.clone()),
    };
    let r = api::update(
        State(st.clone()),
        Extension(c.clone()),
        Path((tenant.clone(), project.clone(), ticket.clone())),
        Json(body),
    )
    .await;
    match r {
        Ok(_) => {
            let done = if status.is_empty() {
                "commented"
            } else {
                status.as_str()
            };
            let to = format!("/tenants/{tenant}/projects/{project}/tickets/{ticket}?done={done}");
            see_other(&to)
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND => {
            render_ticket(
                &st,
                &signed,
                &c,
                keys,
                None,
                Some((e.status, e.message, comment)),
            )
            .await
        }
        Err(e) => api_error_page(e),
    }
}
