//! The audit log page: a tenant's audit entries newest first, filtered by actor, action (or its family),
//! and days, a page of [`PAGE_SIZE`] at a time; read through the API's own reader
//! ([`crate::api::tenants::audit_entries`]), so a bad filter or paging value is refused with the API's
//! sentence (400 page). Who acted is shown by name; a project or event named in a target by its name; a
//! before/after summary never shows a secret (a key that names one, and a stored credential, read `set`).

use super::frame::Frame;
use super::page::{Signed, path_id};
use super::{api_error_page, error_page, internal};
use crate::api::logs::LogQuery;
use crate::api::tenants::audit_entries;
use crate::auth::Caller;
use crate::programme::events::project_events;
use crate::{ApiError, AppState, db};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_core::id::TenantId;
use serde_json::Value;
use std::collections::HashMap;

/// Entries per page.
pub const PAGE_SIZE: i64 = 100;

/// One audit entry as the page shows it.
pub struct Line {
    pub seq: i64,
    pub at: String,
    pub who: String,
    pub action: String,
    pub target: String,
    pub before: String,
    pub after: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "logs/audit.html")]
struct AuditPage {
    frame: Frame,
    base: String,
    rows: Vec<Line>,
    actor: String,
    action: String,
    from: String,
    to: String,
    error: Option<String>,
    older_href: Option<String>,
    filtered: bool,
}

/// A stored time (RFC 3339) as pages show it: `2026-12-06 17:49:16 UTC`.
pub fn shown_time(stored: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(stored)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| stored.to_owned())
}

/// Whether a summary key names a secret: its value is never shown, only that one is set.
fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["secret", "password", "token", "private_key", "certificate"]
        .iter()
        .any(|w| k.contains(w))
}

/// A before/after summary (JSON, as stored) in words: `key: value` pairs; a secret's value is `set`.
pub fn summary(stored: Option<&str>) -> String {
    let Some(s) = stored else {
        return String::new();
    };
    let Ok(v) = serde_json::from_str::<Value>(s) else {
        return String::new();
    };
    let text = match v {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                if secret_key(k) {
                    return format!("{k}: set");
                }
                if k == "stored" && v == &Value::Bool(true) {
                    return "credential: set".to_owned();
                }
                format!("{k}: {}", scalar(v))
            })
            .collect::<Vec<_>>()
            .join(" · "),
        other => scalar(&other),
    };
    clip(&text, 400)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Null => "—".to_owned(),
        Value::Object(map) if map.keys().any(|k| secret_key(k)) => {
            "(details, secrets set)".to_owned()
        }
        other => clip(&other.to_string(), 160),
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// Ids of the tenant's projects and events by their names, to show targets in words.
pub async fn names(st: &AppState, tenant: TenantId) -> Result<HashMap<String, String>, ApiError> {
    let mut names = HashMap::new();
    for p in db::tenant_projects(&*st.programme, tenant).await? {
        for e in project_events(&*st.programme, p.id, &[]).await? {
            names.insert(e.id.to_string(), format!("event “{}”", e.name));
        }
        names.insert(p.id.to_string(), format!("project “{}”", p.name));
    }
    Ok(names)
}

/// A target (`project/<id>/endpoint/source`) with the ids it names replaced by names where known.
pub fn named_target(target: &str, names: &HashMap<String, String>) -> String {
    let parts: Vec<&str> = target.split('/').collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < parts.len() {
        match (parts[i], parts.get(i + 1).and_then(|id| names.get(*id))) {
            ("project" | "event", Some(name)) => {
                out.push(name.clone());
                i += 2;
            }
            (part, _) => {
                out.push(part.to_owned());
                i += 1;
            }
        }
    }
    out.join(" / ")
}

/// The query of a page link: the filters given, plus `extra`.
pub fn link(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    let q = s.finish();
    if q.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{q}")
    }
}

/// `GET /tenants/{tenant}/audit`.
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
    let Ok(Query(mut q)) = query else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This page takes actor, action, from, to and before: start again from the Audit link.",
        );
    };
    // Newest first unless the link asks for entries after a sequence number.
    if q.after.is_none() && q.before.is_none() {
        q.before = Some(String::new());
    }
    let text = |v: &Option<String>| v.clone().unwrap_or_default().trim().to_owned();
    let base = format!("/tenants/{id}/audit");
    let mut view = AuditPage {
        frame: Frame::new(&signed, &c).tenant(id, &t.name).here("Audit"),
        base: base.clone(),
        rows: Vec::new(),
        actor: text(&q.actor),
        action: text(&q.action),
        from: text(&q.from),
        to: text(&q.to),
        error: None,
        older_href: None,
        filtered: false,
    };
    view.filtered = [&view.actor, &view.action, &view.from, &view.to]
        .iter()
        .any(|v| !v.is_empty());
    let rows = match audit_entries(&st, id, &q, PAGE_SIZE).await {
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
        let before = last.seq.to_string();
        view.older_href = Some(link(
            &base,
            &[
                ("actor", &view.actor),
                ("action", &view.action),
                ("from", &view.from),
                ("to", &view.to),
                ("before", &before),
            ],
        ));
    }
    view.rows = rows
        .into_iter()
        .map(|r| Line {
            seq: r.seq,
            at: shown_time(&r.at),
            who: r.who.unwrap_or_else(|| "scheduler".to_owned()),
            target: named_target(&r.target, &names),
            action: r.action,
            before: summary(r.before.as_deref()),
            after: summary(r.after.as_deref()),
        })
        .collect();
    view.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_shows_a_stored_credential_and_secret_keys_as_set_never_their_value() {
        let s = summary(Some(
            r#"{"side":"source","kind":"password","stored":true,"secret":"hunter2","password":"pw","expires_at":"2027-01-01"}"#,
        ));
        assert!(s.contains("credential: set"), "{s}");
        assert!(
            s.contains("secret: set") && s.contains("password: set"),
            "{s}"
        );
        assert!(!s.contains("hunter2") && !s.contains(": pw"), "{s}");
        assert_eq!(summary(None), "");
    }

    #[test]
    fn a_target_names_known_projects_and_events() {
        let names = HashMap::from([("p1".to_owned(), "project “Mail”".to_owned())]);
        assert_eq!(
            named_target("project/p1/endpoint/source", &names),
            "project “Mail” / endpoint / source"
        );
        assert_eq!(named_target("ticket/t9", &names), "ticket / t9");
    }
}
