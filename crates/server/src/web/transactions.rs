//! The transactions page: a tenant's transactions newest first — what each state-changing request
//! started, by whom, and where it stands — filtered by actor, action (or its family), status and days,
//! a page of [`PAGE_SIZE`] at a time; read through the API's reader
//! ([`crate::api::tenants::transaction_entries`]), so a bad filter or paging value is refused with the
//! API's sentence (400 page).

use super::audit::{link, named_target, names};
use super::frame::Frame;
use super::page::{Signed, path_id};
use super::{api_error_page, error_page, internal};
use crate::api::logs::LogQuery;
use crate::api::tenants::transaction_entries;
use crate::auth::Caller;
use crate::programme::reports::when;
use crate::{AppState, db};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_core::id::TenantId;
use ferry_core::programme::TransactionStatus;

/// Transactions per page.
pub const PAGE_SIZE: i64 = 100;

/// One transaction as the page shows it.
pub struct Line {
    pub id: String,
    pub created: String,
    pub updated: String,
    pub who: String,
    pub action: String,
    pub target: String,
    pub status: &'static str,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "logs/transactions.html")]
struct TransactionsPage {
    frame: Frame,
    base: String,
    rows: Vec<Line>,
    actor: String,
    action: String,
    status: String,
    statuses: Vec<&'static str>,
    from: String,
    to: String,
    error: Option<String>,
    older_href: Option<String>,
    filtered: bool,
}

/// `GET /tenants/{tenant}/transactions`.
pub async fn page(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path(tenant): Path<String>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Response {
    let id: TenantId = match path_id(&tenant, "tenant") {
        Ok(id) => id,
        Err(e) => return api_error_page(e),
    };
    let t = match db::load_tenant(&*st.programme, id).await {
        Ok(t) => t,
        Err(e) => return api_error_page(e),
    };
    let Ok(Query(q)) = query else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This page takes actor, action, status, from, to and before: start again from the Transactions link.",
        );
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_default().trim().to_owned();
    let base = format!("/tenants/{id}/transactions");
    let mut view = TransactionsPage {
        frame: Frame::new(&signed, &c)
            .tenant(id, &t.name)
            .here("Transactions"),
        base: base.clone(),
        rows: Vec::new(),
        actor: text(&q.actor),
        action: text(&q.action),
        status: text(&q.status),
        statuses: TransactionStatus::ALL.map(|s| s.as_str()).to_vec(),
        from: text(&q.from),
        to: text(&q.to),
        error: None,
        older_href: None,
        filtered: false,
    };
    view.filtered = [
        &view.actor,
        &view.action,
        &view.status,
        &view.from,
        &view.to,
    ]
    .iter()
    .any(|v| !v.is_empty());
    let rows = match transaction_entries(&st, id, &q, PAGE_SIZE).await {
        Ok(r) => r,
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            view.error = Some(e.message);
            return (StatusCode::BAD_REQUEST, view).into_response();
        }
        Err(e) => return api_error_page(e),
    };
    let names = match names(&st, id).await {
        Ok(n) => n,
        Err(e) => return internal(e.message),
    };
    if rows.len() as i64 == PAGE_SIZE
        && let Some(last) = rows.last()
    {
        let before = last.id.to_string();
        view.older_href = Some(link(
            &base,
            &[
                ("actor", &view.actor),
                ("action", &view.action),
                ("status", &view.status),
                ("from", &view.from),
                ("to", &view.to),
                ("before", &before),
            ],
        ));
    }
    view.rows = rows
        .into_iter()
        .map(|e| Line {
            id: e.id.to_string(),
            created: when(e.row.created_at),
            updated: when(e.row.updated_at),
            who: e.who.unwrap_or_else(|| "scheduler".to_owned()),
            target: named_target(&e.row.target, &names),
            action: e.row.action,
            status: e.row.status.as_str(),
            detail: e.row.detail.unwrap_or_default(),
        })
        .collect();
    view.into_response()
}
