//! The mappings grid (paged and filtered on the server; bulk launch, retry, approve for the roles that
//! may) and a mapping's detail (its pass timeline with attempts, durations, counts and reasons, and the
//! per-item downloads).
//!
//! A mapping's state on the grid is its state in the latest event (by start) that holds it, as the rules
//! decide it (`programme::passes::decide`, the scheduler's own reading): `not scheduled`, `due` (a pass
//! should start now), `waiting` (the next pass is due at a time), `running`, `failed` (every attempt of
//! the pass failed) or `done` (a Final pass sealed it). Counts, bytes and grade are the latest pass's.
//! The store keeps each decision, filters, counts and pages (`programme::grid`): a page reads its own
//! rows, not the project's passes. Bulk actions call the API's handlers (`api::runs::{launch, retry, approve}`) once per
//! selected mapping, with the caller the page check made.

use super::frame::Frame;
use super::page::{APPROVE_MAPPINGS, LAUNCH_MAPPINGS, RETRY_MAPPINGS, Signed, may, path_id};
use super::report_assessment::{self, FindingLine, findings_of};
use super::{api_error_page, internal};
use crate::api::{project_of, runs};
use crate::auth::Caller;
use crate::programme::digest::pass_waits;
use crate::programme::events::{Event, project_events};
use crate::programme::grid::{
    GRADES, NOT_SCHEDULED, STATES, grid_page, grid_state, mapping_status,
};
use crate::programme::passes::mapping_passes;
use crate::programme::{load_mappings, reports::when};
use crate::{AppState, db};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ferry_core::id::{EventId, MappingId};
use ferry_core::programme::pass::PassDecision;
use ferry_store::programme::{GridFilter, GridRow, StoredPass};
use serde::Deserialize;
use std::collections::HashMap;

/// Rows per page of the grid.
pub const PAGE_SIZE: usize = 100;

/// One row of the grid.
pub struct Row {
    pub id: String,
    pub href: String,
    pub label: String,
    pub event: String,
    /// `{event}:{mapping}` for the bulk form (empty when the mapping is in no event).
    pub key: String,
    pub state: &'static str,
    /// The state as a CSS class (`not-scheduled`).
    pub state_class: String,
    pub last_pass: String,
    pub copied: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: String,
    pub grade: String,
    pub next_due: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "mapping/grid.html")]
struct GridPage {
    frame: Frame,
    action_base: String,
    rows: Vec<Row>,
    total: u64,
    matching: u64,
    page: u64,
    pages: u64,
    state: String,
    q: String,
    states: [&'static str; 6],
    event: String,
    events: Vec<EventChoice>,
    grade: String,
    grades: [&'static str; 4],
    prev_href: Option<String>,
    next_href: Option<String>,
    can_launch: bool,
    can_retry: bool,
    can_approve: bool,
    results: Vec<String>,
}

/// Bytes for people (binary units, one decimal).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn counter(p: &StoredPass, k: &str) -> u64 {
    p.counters
        .as_ref()
        .and_then(|c| c.get(k))
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

/// A pass's grade, shown only for a pass that succeeded (a failed pass copied nothing to grade).
fn shown_grade(p: &StoredPass) -> String {
    if p.outcome_name() == "succeeded" {
        p.grade.clone().unwrap_or_default()
    } else {
        String::new()
    }
}

/// The grid's query: `state`, `q` (a substring of the mapping's address or login), `event` (its id),
/// `grade`, `page` (from 1).
#[derive(Deserialize, Default, Clone)]
pub struct GridQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    grade: String,
    #[serde(default)]
    page: Option<String>,
}

/// A choice of the event filter.
pub struct EventChoice {
    pub id: String,
    pub name: String,
}

/// A decision's state on the grid and the next pass it names (`waiting`: when). `wait`: the running pass
/// was given back until a server's wait is over (it holds no worker and resumes then).
fn state_of(d: &PassDecision, wait: Option<&DateTime<Utc>>) -> (&'static str, String) {
    let due = match (d, wait) {
        (PassDecision::Run { kind, attempt }, _) => format!("{kind} now (attempt {attempt})"),
        (PassDecision::WaitUntil { kind, at }, _) => format!("{kind} {}", when(*at)),
        (PassDecision::Running { kind, .. }, Some(t)) => format!(
            "{kind} queued: the server asked to wait; resumes {}",
            when(*t)
        ),
        (PassDecision::Running { kind, .. }, None) => format!("{kind} running"),
        (PassDecision::Failed { .. } | PassDecision::Sealed, _) => String::new(),
    };
    (grid_state(d), due)
}

fn row_of(base: &str, r: GridRow, waits: &HashMap<String, DateTime<Utc>>) -> Row {
    let decision: Option<PassDecision> = r
        .decision
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok());
    let wait = r.last.as_ref().and_then(|p| waits.get(&p.id));
    let (state, next_due) = match (&r.event, &decision) {
        (Some(_), Some(d)) => state_of(d, wait),
        _ => (NOT_SCHEDULED, String::new()),
    };
    let last = r.last.as_ref();
    let (_, skipped, failed) = last.map(|p| p.graded_counts()).unwrap_or((0, 0, 0));
    Row {
        id: r.mapping.to_string(),
        href: format!("{base}/mappings/{}", r.mapping),
        label: r.label,
        event: r.event.as_ref().map(|e| e.1.clone()).unwrap_or_default(),
        key: r
            .event
            .as_ref()
            .map(|e| format!("{}:{}", e.0, r.mapping))
            .unwrap_or_default(),
        state,
        state_class: state.replace(' ', "-"),
        last_pass: last
            .map(|p| format!("{} #{} {}", p.kind, p.attempt, p.outcome_name()))
            .unwrap_or_default(),
        copied: last.map(|p| counter(p, "copied")).unwrap_or(0),
        skipped,
        failed,
        bytes: last
            .map(|p| human_bytes(counter(p, "bytes")))
            .unwrap_or_default(),
        grade: last.map(shown_grade).unwrap_or_default(),
        next_due,
    }
}

async fn render(
    st: &AppState,
    signed: &Signed,
    c: &Caller,
    tenant: &str,
    project: &str,
    q: GridQuery,
    results: Vec<String>,
) -> Response {
    let p = match project_of(st, tenant, project).await {
        Ok(p) => p,
        Err(e) => return api_error_page(e),
    };
    let t = match db::load_tenant(&*st.programme, p.tenant).await {
        Ok(t) => t,
        Err(e) => return api_error_page(e),
    };
    let events = match st.programme.event_names(p.id).await {
        Ok(e) => e,
        Err(e) => return internal(e),
    };
    let base = format!("/tenants/{}/projects/{}", p.tenant, p.id);
    let needle = q.q.trim().to_lowercase();
    let pick = |v: &str, among: &[&str]| {
        if among.contains(&v) {
            v.to_owned()
        } else {
            String::new()
        }
    };
    let state_filter = pick(&q.state, &STATES);
    let grade_filter = pick(&q.grade, &GRADES);
    let event_filter: Option<EventId> = events
        .iter()
        .map(|e| e.0)
        .find(|e| e.to_string() == q.event);
    let filter = GridFilter {
        search: (!needle.is_empty()).then(|| needle.clone()),
        state: (!state_filter.is_empty()).then(|| state_filter.clone()),
        event: event_filter,
        grade: (!grade_filter.is_empty()).then(|| grade_filter.clone()),
    };
    let asked = q
        .page
        .as_deref()
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    let size = PAGE_SIZE as u64;
    let mut found = match grid_page(st, &p, &filter, (asked - 1).saturating_mul(size), size).await {
        Ok(g) => g,
        Err(e) => return api_error_page(e),
    };
    let pages = found.matching.div_ceil(size).max(1);
    let page = asked.min(pages);
    if page != asked {
        // Past the last page: show the last.
        found = match st
            .programme
            .mapping_grid(p.id, &filter, (page - 1) * size, size)
            .await
        {
            Ok(g) => g,
            Err(e) => return internal(e),
        };
    }
    let waits = match pass_waits(st).await {
        Ok(w) => w,
        Err(e) => return api_error_page(e),
    };
    let event_id = event_filter.map(|e| e.to_string()).unwrap_or_default();
    let link = |n: u64| {
        let mut u = url::Url::parse("http://x/").ok()?;
        u.query_pairs_mut()
            .append_pair("state", &state_filter)
            .append_pair("q", q.q.trim())
            .append_pair("event", &event_id)
            .append_pair("grade", &grade_filter)
            .append_pair("page", &n.to_string());
        Some(format!("{base}/mappings?{}", u.query().unwrap_or("")))
    };
    GridPage {
        frame: Frame::new(signed, c)
            .tenant(p.tenant, &t.name)
            .project(p.id, &p.name)
            .here("Mappings"),
        action_base: format!("{base}/mappings"),
        total: found.total,
        matching: found.matching,
        rows: found
            .rows
            .into_iter()
            .map(|r| row_of(&base, r, &waits))
            .collect(),
        page,
        pages,
        state: state_filter.clone(),
        q: q.q.trim().to_owned(),
        states: STATES,
        event: event_id.clone(),
        events: events
            .into_iter()
            .map(|(id, name)| EventChoice {
                id: id.to_string(),
                name,
            })
            .collect(),
        grade: grade_filter.clone(),
        grades: GRADES,
        prev_href: (page > 1).then(|| link(page - 1)).flatten(),
        next_href: (page < pages).then(|| link(page + 1)).flatten(),
        can_launch: may(c, &LAUNCH_MAPPINGS),
        can_retry: may(c, &RETRY_MAPPINGS),
        can_approve: may(c, &APPROVE_MAPPINGS),
        results,
    }
    .into_response()
}

/// `GET /tenants/{tenant}/projects/{project}/mappings`.
pub async fn grid(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
    Query(q): Query<GridQuery>,
) -> Response {
    render(&st, &signed, &c, &tenant, &project, q, Vec::new()).await
}

#[derive(Clone, Copy)]
enum Bulk {
    Launch,
    Retry,
    Approve,
}

async fn bulk(
    st: AppState,
    signed: Signed,
    c: Caller,
    (tenant, project): (String, String),
    body: axum::body::Bytes,
    action: Bulk,
) -> Response {
    // Repeated fields (`m=…&m=…`) as a list: serde_urlencoded reads pairs, not repeats.
    let keys: Vec<String> = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "m")
        .map(|(_, v)| v.into_owned())
        .collect();
    let names: HashMap<String, String> = match project_of(&st, &tenant, &project).await {
        Ok(p) => match load_mappings(&st, p.id).await {
            Ok(m) => m.into_iter().map(|m| (m.id.to_string(), m.label)).collect(),
            Err(e) => return api_error_page(e),
        },
        Err(e) => return api_error_page(e),
    };
    let verb = match action {
        Bulk::Launch => "launched",
        Bulk::Retry => "retried",
        Bulk::Approve => "approved",
    };
    let mut results = Vec::new();
    if keys.is_empty() {
        results.push("Select one or more mappings first.".to_owned());
    }
    for key in keys {
        let Some((event, mapping)) = key.split_once(':') else {
            results.push(format!("{key:?}: not a mapping of an event"));
            continue;
        };
        let label = names
            .get(mapping)
            .cloned()
            .unwrap_or_else(|| mapping.to_owned());
        let path = Path((
            tenant.clone(),
            project.clone(),
            event.to_owned(),
            mapping.to_owned(),
        ));
        let r = match action {
            Bulk::Launch => runs::launch(State(st.clone()), Extension(c.clone()), path).await,
            Bulk::Retry => runs::retry(State(st.clone()), Extension(c.clone()), path).await,
            Bulk::Approve => runs::approve(State(st.clone()), Extension(c.clone()), path).await,
        };
        results.push(match r {
            Ok(_) => format!("{label}: {verb}."),
            Err(e) if e.status.is_server_error() => {
                tracing::error!(error = %e.message, "bulk action failed");
                format!("{label}: failed on the server (see its log); try again.")
            }
            Err(e) => format!("{label}: not {verb}: {}", e.message),
        });
    }
    render(
        &st,
        &signed,
        &c,
        &tenant,
        &project,
        GridQuery::default(),
        results,
    )
    .await
}

/// `POST …/mappings/launch`.
pub async fn launch(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path(tp): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    bulk(st, signed, c, tp, body, Bulk::Launch).await
}

/// `POST …/mappings/retry`.
pub async fn retry(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path(tp): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    bulk(st, signed, c, tp, body, Bulk::Retry).await
}

/// `POST …/mappings/approve`.
pub async fn approve(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path(tp): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    bulk(st, signed, c, tp, body, Bulk::Approve).await
}

/// A pass on the mapping's timeline.
pub struct PassLine {
    pub event: String,
    pub kind: String,
    pub attempt: u32,
    pub started: String,
    pub duration: String,
    pub outcome: &'static str,
    pub reason: String,
    pub copied: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: String,
    pub grade: String,
}

/// A skipped or failed item of the mapping.
pub struct ItemLine {
    pub pass: String,
    /// The folder and message (mail) or the path (files).
    pub what: String,
    pub status: String,
    pub reason: String,
    pub todo: &'static str,
}

/// At most this many skipped or failed items are listed on the page (the download has them all).
pub const ITEM_LIMIT: usize = 200;

fn item_todo(status: &str) -> &'static str {
    if status == "skipped" {
        "Ferry does not copy this item (the reason says why); it is counted in the grade and listed in the          report. When the mapping is graded Investigate a customer-admin approves the skipped items."
    } else {
        "The next pass tries it again; if it keeps failing, fix what the reason names on the source or          the target, then Retry."
    }
}

/// The per-item downloads of an event holding the mapping.
pub struct Download {
    pub event: String,
    pub csv: String,
    pub json: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "mapping/detail.html")]
struct DetailPage {
    frame: Frame,
    label: String,
    source: String,
    target: String,
    line: i64,
    state: &'static str,
    next_due: String,
    failure: Option<String>,
    passes: Vec<PassLine>,
    items: Vec<ItemLine>,
    item_limit: usize,
    downloads: Vec<Download>,
    grid_href: String,
    /// The mapping's findings in the project's latest assessment (`None`: not in one).
    findings: Option<Vec<FindingLine>>,
    assessed: String,
    assessment_href: String,
    /// The mapping's tickets (their page, filtered to it, where a ticket is opened against it).
    tickets_href: String,
}

fn duration(p: &StoredPass) -> String {
    match p.finished_at {
        None => "running".to_owned(),
        Some(f) => {
            let s = (f - p.started_at).num_seconds().max(0);
            if s < 60 {
                format!("{s} s")
            } else if s < 3600 {
                format!("{} min {} s", s / 60, s % 60)
            } else {
                format!("{} h {} min", s / 3600, (s % 3600) / 60)
            }
        }
    }
}

/// What the person reading a failed pass should do next.
fn what_to_do(reason: &str) -> &'static str {
    let r = reason.to_lowercase();
    if r.contains("auth")
        || r.contains("password")
        || r.contains("login")
        || r.contains("credential")
    {
        "Correct the mapping's password (PATCH …/mappings/{mapping} or a new CSV row) or the endpoint's \
         credential on the project page, then Retry: a corrected login gives the mapping fresh attempts."
    } else if r.contains("connect") || r.contains("timed out") || r.contains("unreachable") {
        "Check that the server is reachable from Ferry (address, port, firewall, TLS), then Retry."
    } else {
        "Read the reason, fix it on the source or the target, then Retry from the mappings grid."
    }
}

/// `GET /tenants/{tenant}/projects/{project}/mappings/{mapping}`.
pub async fn detail(
    State(st): State<AppState>,
    Extension(signed): Extension<Signed>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, mapping)): Path<(String, String, String)>,
) -> Response {
    let p = match project_of(&st, &tenant, &project).await {
        Ok(p) => p,
        Err(e) => return api_error_page(e),
    };
    let id: MappingId = match path_id(&mapping, "mapping") {
        Ok(id) => id,
        Err(e) => return api_error_page(e),
    };
    let t = match db::load_tenant(&*st.programme, p.tenant).await {
        Ok(t) => t,
        Err(e) => return api_error_page(e),
    };
    let Some(m) = (match load_mappings(&st, p.id).await {
        Ok(all) => all.into_iter().find(|m| m.id == id),
        Err(e) => return api_error_page(e),
    }) else {
        return api_error_page(crate::ApiError::not_found(
            "There is no such mapping in this project.",
        ));
    };
    let history = match mapping_passes(&*st.programme, id).await {
        Ok(h) => h,
        Err(e) => return internal(e.message),
    };
    let events = match project_events(&*st.programme, p.id, &[]).await {
        Ok(es) => es,
        Err(e) => return api_error_page(e),
    };
    let decision = match mapping_status(&st, &p, &events, id, &history).await {
        Ok(d) => d,
        Err(e) => return api_error_page(e),
    };
    let events: HashMap<EventId, Event> = events.into_iter().map(|e| (e.id, e)).collect();
    let waits = match pass_waits(&st).await {
        Ok(w) => w,
        Err(e) => return api_error_page(e),
    };
    let wait = history.last().and_then(|p| waits.get(&p.id));
    let (state, next_due, failure) = match &decision {
        Some(d) => {
            let (state, due) = state_of(d, wait);
            let failure = match d {
                PassDecision::Failed {
                    kind,
                    attempts,
                    reason,
                } => Some(format!(
                    "Every attempt of the {kind} pass failed ({attempts}): {reason}. What to do: {}",
                    what_to_do(reason)
                )),
                _ => None,
            };
            (state, due, failure)
        }
        None => (NOT_SCHEDULED, String::new(), None),
    };
    let assessment = match report_assessment::latest(&st, &p).await {
        Ok(a) => a,
        Err(e) => return api_error_page(e),
    };
    let findings = assessment.as_ref().and_then(|a| {
        a["report"]["mappings"]
            .as_array()?
            .iter()
            .find(|m| m["mapping"].as_str() == Some(id.to_string().as_str()))
            .map(findings_of)
    });
    let assessed = assessment
        .as_ref()
        .and_then(|a| a["assessment"]["finished_at"].as_str())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| when(t.with_timezone(&chrono::Utc)))
        .unwrap_or_default();
    let base = format!("/tenants/{}/projects/{}", p.tenant, p.id);
    let passes = history
        .iter()
        .rev()
        .map(|h| {
            let (_, skipped, failed) = h.graded_counts();
            PassLine {
                event: events
                    .get(&h.event)
                    .map(|e| e.name.clone())
                    .unwrap_or_default(),
                kind: h.kind.to_string(),
                attempt: h.attempt,
                started: when(h.started_at),
                duration: duration(h),
                outcome: h.outcome_name(),
                reason: h
                    .reason()
                    .map(|r| format!("{r} — {}", what_to_do(r)))
                    .unwrap_or_default(),
                copied: counter(h, "copied"),
                skipped,
                failed,
                bytes: human_bytes(counter(h, "bytes")),
                grade: shown_grade(h),
            }
        })
        .collect();
    let items = match runs::mapping_items(
        &st,
        &p,
        &history,
        &m.label,
        &["skipped", "failed"],
        ITEM_LIMIT,
    )
    .await
    {
        Ok(rows) => rows
            .into_iter()
            .map(|r| {
                let text = |k: &str| match &r[k] {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                let status = text("status");
                let what = if r.get("path").is_some() {
                    text("path")
                } else {
                    let mid = text("message_id");
                    format!(
                        "{} · UID {}{}",
                        text("folder"),
                        text("uid"),
                        if mid.is_empty() {
                            String::new()
                        } else {
                            format!(" · {mid}")
                        }
                    )
                };
                ItemLine {
                    pass: format!("{} #{}", text("pass_kind"), text("attempt")),
                    what,
                    todo: item_todo(&status),
                    status,
                    reason: text("reason"),
                }
            })
            .collect(),
        Err(e) => return api_error_page(e),
    };
    let mut downloads: Vec<Download> = events
        .values()
        .filter(|e| e.mappings.contains(&id))
        .map(|e| Download {
            event: e.name.clone(),
            csv: format!("{base}/events/{}/items?format=csv", e.id),
            json: format!("{base}/events/{}/items?format=json", e.id),
        })
        .collect();
    downloads.sort_by(|a, b| a.event.cmp(&b.event));
    DetailPage {
        frame: Frame::new(&signed, &c)
            .tenant(p.tenant, &t.name)
            .project(p.id, &p.name)
            .here("Mappings"),
        label: m.label,
        source: m.source,
        target: m.target,
        line: m.line,
        state,
        next_due,
        failure,
        passes,
        items,
        item_limit: ITEM_LIMIT,
        downloads,
        grid_href: format!("{base}/mappings"),
        findings,
        assessed,
        assessment_href: format!("{base}/assessment"),
        tickets_href: format!("{base}/tickets?mapping={}", m.id),
    }
    .into_response()
}

/// `GET /tenants/{tenant}/projects/{project}/events/{event}/items?format=csv|json`: the API's per-item
/// download, for a signed-in browser (the API itself wants a bearer token).
pub async fn items(
    State(st): State<AppState>,
    Path(path): Path<(String, String, String)>,
    Query(q): Query<runs::ItemsQuery>,
) -> Response {
    match runs::items(State(st), Path(path), Query(q)).await {
        Ok(r) => r,
        Err(e) => api_error_page(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
