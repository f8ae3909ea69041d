//! Passes and reports: an engineer launches or retries a mapping's pass now, a customer approves skipped
//! items, anyone on the tenant reads an event's report and its per-item results.
//!
//! Launch and retry answer at once with a transaction `in_progress`; the worker moves it to `completed` or
//! `failed` when the pass ends (`GET …/transactions/{id}`). The report is live while the event runs (per
//! mapping: the last pass, its counters and grade, the attempts, and what happens next) and, once the event
//! is Completed, the final report stored at completion. Items come from the engine's journal (one row per
//! message or file), as JSON or CSV, read from the store a page at a time.

use super::{path_id, project_of};
use crate::auth::Caller;
use crate::db::{self, Change, changed};
use crate::programme::events::{load_event, set_event_state};
use crate::programme::load_mappings;
use crate::programme::passes::{self, StoredPass};
use crate::programme::reports::{report_of, when};
use crate::scheduler;
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use ferry_core::grade::Grade;
use ferry_core::id::MappingId;
use ferry_core::programme::event::{self as event_rule, EventState};
use ferry_core::programme::pass::{self, EventContext};
use ferry_core::programme::role::Role;
use ferry_core::programme::{ProjectState, TransactionStatus, Workload};
use ferry_store::{FileItemLine, MailItemLine};
use serde::Deserialize;
use serde_json::{Value, json};

// --- launch, retry, approve -----------------------------------------------------------------------------

pub async fn launch(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, event, mapping)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    start_now(&st, &c, (&tenant, &project, &event, &mapping), false).await
}

pub async fn retry(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, event, mapping)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    start_now(&st, &c, (&tenant, &project, &event, &mapping), true).await
}

/// Start the mapping's next pass now (`pass::launch` decides which, within the attempt limit).
async fn start_now(
    st: &AppState,
    c: &Caller,
    (tenant, project, event, mapping): (&str, &str, &str, &str),
    retry: bool,
) -> ApiResult<Json<Value>> {
    let _w = st.write.lock().await;
    let p = project_of(st, tenant, project).await?;
    if p.state == ProjectState::Paused {
        return Err(ApiError::refused(
            "the project is paused: resume it (new credentials and a confirmed schedule) before running passes",
        ));
    }
    if !p.state.is_active() {
        return Err(ApiError::refused(format!(
            "the project is {}: it runs no passes",
            p.state.as_str()
        )));
    }
    let e = load_event(&*st.programme, p.id, path_id(event, "event")?).await?;
    let m: MappingId = path_id(mapping, "mapping")?;
    if !e.mappings.contains(&m) {
        return Err(ApiError::not_found(format!(
            "mapping {m} is not in event {}",
            e.id
        )));
    }
    match e.state {
        EventState::Running
        | EventState::Done
        | EventState::DoneWithErrors
        | EventState::NeedsApproval => {}
        EventState::Scheduled => {
            return Err(ApiError::refused(format!(
                "the event has not started: it starts at {}, when the scheduler starts it (once its gates are met)",
                when(e.start)
            )));
        }
        EventState::Completed | EventState::Cancelled => {
            return Err(ApiError::refused(format!(
                "the event is {}: it runs no more passes; schedule the mapping in a new event",
                e.state
            )));
        }
    }
    let mv = load_mappings(st, p.id)
        .await?
        .into_iter()
        .find(|x| x.id == m)
        .ok_or_else(|| ApiError::not_found(format!("no mapping {m} in this project")))?;
    let now = st.clock.now();
    let history = passes::mapping_passes(&*st.programme, m).await?;
    if retry {
        match history.iter().rev().find(|h| h.event == e.id) {
            Some(last) if last.reason().is_some() => {}
            Some(last) => {
                return Err(ApiError::refused(format!(
                    "the last pass of this mapping in this event ({} pass, attempt {}) is {}: only a failed pass \
                     is retried; use launch to run the next pass early",
                    last.kind,
                    last.attempt,
                    last.outcome_name()
                )));
            }
            None => {
                return Err(ApiError::refused(
                    "no pass of this mapping has run in this event: there is nothing to retry; use launch",
                ));
            }
        }
    }
    let ctx = EventContext {
        id: e.id,
        kind: e.kind,
        start: e.start,
    };
    let logins = passes::logins_supplied(st, &p).await?;
    let records = passes::decision_records(&history, passes::logins_changed_at(&logins, m));
    let (kind, attempt) = pass::launch(&ctx, &records, now, &st.settings)?;
    let tx = st.programme.begin().await?;
    if e.state != EventState::Running {
        set_event_state(&*tx, &e, EventState::Running, now).await?;
        db::record(
            &*tx,
            c.actor(),
            Change {
                tenant: Some(p.tenant),
                action: "event.round",
                target: format!("event/{}", e.id),
                before: Some(json!({ "state": e.state })),
                after: Some(
                    json!({ "state": EventState::Running, "reason": "a pass was launched" }),
                ),
            },
            TransactionStatus::Completed,
            now,
        )
        .await?;
    }
    let action = if retry { "pass.retry" } else { "pass.launch" };
    let (pass_id, txn) =
        passes::insert_pass(&*tx, c.actor(), &p, e.id, &mv, kind, attempt, action, now).await?;
    db::touch_project(&*tx, p.id, now).await?;
    tx.commit().await?;
    if e.state != EventState::Running {
        st.feed.event_changed(e.id);
    }
    scheduler::dispatch_pass(
        st,
        p.clone(),
        e.id,
        mv.clone(),
        pass_id.clone(),
        kind,
        txn.id,
    )
    .await?;
    Ok(changed(
        txn,
        json!({ "pass": pass_id, "event": e.id, "mapping": mv.id, "label": mv.label, "kind": kind, "attempt": attempt }),
    ))
}

pub async fn approve(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project, event, mapping)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    let e = load_event(&*st.programme, p.id, path_id(&event, "event")?).await?;
    let m: MappingId = path_id(&mapping, "mapping")?;
    if !e.mappings.contains(&m) {
        return Err(ApiError::not_found(format!(
            "mapping {m} is not in event {}",
            e.id
        )));
    }
    // The operator stands in for the customer.
    let role = match (c.role, c.operator) {
        (Some(r), _) => r,
        (None, true) => Role::CustomerAdmin,
        (None, false) => {
            return Err(ApiError::forbidden(
                "you have no role on this tenant: only its customer-admin or partner approves skipped items",
            ));
        }
    };
    let now = st.clock.now();
    let approval = event_rule::approve_skipped(role, c.user, m, now)?;
    if e.state != EventState::NeedsApproval {
        return Err(ApiError::refused(format!(
            "the event is {}: skipped items are approved while an event waits in needs_approval",
            e.state
        )));
    }
    let statuses = passes::mapping_statuses(&st, &p, &e, now).await?;
    let outcomes = passes::outcomes(&e, &statuses, false);
    let grade = outcomes
        .iter()
        .find(|o| o.mapping == m)
        .map(|o| o.grade(&st.settings.grade));
    if grade != Some(Grade::Investigate) {
        return Err(ApiError::refused(format!(
            "mapping {m} is graded {}: only a mapping graded Investigate needs an approval of its skipped items",
            grade
                .map(|g| g.to_string())
                .unwrap_or_else(|| "nothing yet".into())
        )));
    }
    let tx = st.programme.begin().await?;
    tx.insert_approval(e.id, m, c.user, now).await?;
    db::touch_project(&*tx, p.id, now).await?;
    let after = json!({
        "event": e.id, "mapping": m, "approved_by": approval.by, "role": approval.role, "at": approval.at,
        "note": "the event completes at the scheduler's next step once every mapping graded Investigate is approved",
    });
    let txn = db::commit(
        tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "skipped.approve",
            target: format!("event/{}/mapping/{m}", e.id),
            before: Some(json!({ "grade": "Investigate" })),
            after: Some(after.clone()),
        },
        now,
    )
    .await?;
    Ok(changed(txn, after))
}

// --- reports --------------------------------------------------------------------------------------------

pub async fn report(
    State(st): State<AppState>,
    Path((tenant, project, event)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    let e = load_event(&*st.programme, p.id, path_id(&event, "event")?).await?;
    Ok(Json(report_of(&st, &p, &e).await?))
}

// --- items ----------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemsQuery {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Rows read from the store at once.
const ITEM_PAGE: i64 = 1000;

const MAIL_COLUMNS: [&str; 13] = [
    "mapping",
    "pass_kind",
    "attempt",
    "folder",
    "uid_validity",
    "uid",
    "message_id",
    "size",
    "status",
    "reason",
    "target_folder",
    "target_uid",
    "note",
];

const FILE_COLUMNS: [&str; 8] = [
    "mapping",
    "pass_kind",
    "attempt",
    "path",
    "size",
    "status",
    "reason",
    "target_path",
];

/// Where the items go: a CSV writer or JSON text, both appended a page at a time.
enum Sink {
    Csv(Box<csv::Writer<Vec<u8>>>),
    Json { out: String, first: bool },
}

impl Sink {
    fn row(&mut self, columns: &[&str], values: Vec<Value>) -> ApiResult<()> {
        match self {
            Sink::Csv(w) => {
                let cells: Vec<String> = values
                    .iter()
                    .map(|v| match v {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                w.write_record(&cells)
                    .map_err(|e| ApiError::internal(format!("writing the CSV: {e}")))
            }
            Sink::Json { out, first } => {
                let obj: serde_json::Map<String, Value> =
                    columns.iter().map(|c| c.to_string()).zip(values).collect();
                if !*first {
                    out.push(',');
                }
                *first = false;
                out.push_str(&Value::Object(obj).to_string());
                Ok(())
            }
        }
    }
}

/// A folder stored as a JSON array of segments, shown with `/`.
fn folder_text(raw: &str) -> String {
    serde_json::from_str::<Vec<String>>(raw)
        .map(|s| s.join("/"))
        .unwrap_or_else(|_| raw.to_string())
}

pub async fn items(
    State(st): State<AppState>,
    Path((tenant, project, event)): Path<(String, String, String)>,
    Query(q): Query<ItemsQuery>,
) -> ApiResult<Response> {
    let p = project_of(&st, &tenant, &project).await?;
    let e = load_event(&*st.programme, p.id, path_id(&event, "event")?).await?;
    let csv_out = match q.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "format={other}: use format=json or format=csv"
            )));
        }
    };
    let columns: &[&str] = match p.workload {
        Workload::Mail => &MAIL_COLUMNS,
        Workload::Files => &FILE_COLUMNS,
    };
    let mut sink = if csv_out {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(columns)
            .map_err(|e| ApiError::internal(format!("writing the CSV: {e}")))?;
        Sink::Csv(Box::new(w))
    } else {
        Sink::Json {
            out: String::from("["),
            first: true,
        }
    };
    let labels: std::collections::HashMap<MappingId, String> = load_mappings(&st, p.id)
        .await?
        .into_iter()
        .map(|m| (m.id, m.label))
        .collect();
    let exchange =
        p.workload == Workload::Mail && crate::workload::mail::exchange_target(&st, p.id).await?;
    let mut count = 0u64;
    for pass in passes::event_passes(&*st.programme, e.id).await? {
        let Some(run) = &pass.run_id else { continue };
        let engine = st.store.run_passes(run).await?;
        let label = labels.get(&pass.mapping).cloned().unwrap_or_default();
        for (engine_pass, engine_mapping) in engine {
            count += match p.workload {
                Workload::Mail => {
                    let mine = (engine_pass.as_str(), engine_mapping.as_str());
                    mail_items(&st, &mut sink, &pass, &label, mine, exchange).await?
                }
                Workload::Files => {
                    file_items(&st, &mut sink, &pass, &label, &engine_pass, &engine_mapping).await?
                }
            };
        }
    }
    let name = format!("event-{}-items", e.id);
    Ok(match sink {
        Sink::Csv(w) => {
            let bytes = w
                .into_inner()
                .map_err(|e| ApiError::internal(format!("writing the CSV: {e}")))?;
            (
                [
                    (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (
                        CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}.csv\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Sink::Json { mut out, .. } => {
            out.push(']');
            let body = format!(
                "{{\"event\":\"{}\",\"workload\":\"{}\",\"count\":{count},\"items\":{out}}}",
                e.id,
                p.workload.as_str()
            );
            ([(CONTENT_TYPE, "application/json".to_string())], body).into_response()
        }
    })
}

/// One pass's mail journal rows. `exchange`: the target is Exchange Online, whose reserved folder names the
/// connector writes renamed; such rows show the name on the target and a `note` saying why.
/// The per-item rows of `passes` (one mapping's, as the event download writes them), as JSON objects with
/// the download's columns, at most `limit` of them whose `status` is in `statuses`. For the dashboard's
/// mapping page; reads the journal a page at a time like the download.
pub async fn mapping_items(
    st: &AppState,
    p: &db::Project,
    passes: &[StoredPass],
    label: &str,
    statuses: &[&str],
    limit: usize,
) -> ApiResult<Vec<Value>> {
    let exchange =
        p.workload == Workload::Mail && crate::workload::mail::exchange_target(st, p.id).await?;
    let mut out = Vec::new();
    for pass in passes {
        let Some(run) = &pass.run_id else { continue };
        for (engine_pass, engine_mapping) in st.store.run_passes(run).await? {
            let mut sink = Sink::Json {
                out: String::from("["),
                first: true,
            };
            match p.workload {
                Workload::Mail => {
                    let mine = (engine_pass.as_str(), engine_mapping.as_str());
                    mail_items(st, &mut sink, pass, label, mine, exchange).await?
                }
                Workload::Files => {
                    file_items(st, &mut sink, pass, label, &engine_pass, &engine_mapping).await?
                }
            };
            let Sink::Json { out: mut text, .. } = sink else {
                continue;
            };
            text.push(']');
            let rows: Vec<Value> = serde_json::from_str(&text)
                .map_err(|e| ApiError::internal(format!("reading the items back: {e}")))?;
            out.extend(
                rows.into_iter()
                    .filter(|r| r["status"].as_str().is_some_and(|s| statuses.contains(&s))),
            );
            if out.len() >= limit {
                out.truncate(limit);
                return Ok(out);
            }
        }
    }
    Ok(out)
}

async fn mail_items(
    st: &AppState,
    sink: &mut Sink,
    pass: &StoredPass,
    label: &str,
    (engine_pass, engine_mapping): (&str, &str),
    exchange: bool,
) -> ApiResult<u64> {
    let mut n = 0;
    // Keyset paging over the journal's primary key: constant memory however many messages.
    let mut after: (String, i64, i64) = (String::new(), -1, -1);
    loop {
        let rows = st
            .store
            .mail_items_page(
                engine_mapping,
                engine_pass,
                (&after.0, after.1, after.2),
                ITEM_PAGE,
            )
            .await?;
        let Some(last) = rows.last() else { break };
        after = (last.folder.clone(), last.uid_validity, last.uid);
        let full = rows.len() as i64 == ITEM_PAGE;
        for r in rows {
            let MailItemLine {
                folder,
                uid_validity: uv,
                uid,
                message_id: mid,
                size,
                status,
                reason,
                target_folder: tfolder,
                target_uid: tuid,
                note: changed,
            } = r;
            let renamed = tfolder
                .as_deref()
                .filter(|_| exchange)
                .and_then(|t| serde_json::from_str::<Vec<String>>(t).ok())
                .and_then(|segments| ferry_mail::exo::shown_folder(&segments));
            let (tfolder, renamed) = match renamed {
                Some((shown, note)) => (Some(shown), Some(note)),
                None => (tfolder.as_deref().map(folder_text), None),
            };
            let note = match (renamed, changed) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b),
            };
            sink.row(
                &MAIL_COLUMNS,
                vec![
                    json!(label),
                    json!(pass.kind),
                    json!(pass.attempt),
                    json!(folder_text(&folder)),
                    json!(uv),
                    json!(uid),
                    json!(mid),
                    json!(size),
                    json!(status),
                    json!(reason),
                    json!(tfolder),
                    json!(tuid),
                    json!(note),
                ],
            )?;
            n += 1;
        }
        if !full {
            break;
        }
    }
    Ok(n)
}

async fn file_items(
    st: &AppState,
    sink: &mut Sink,
    pass: &StoredPass,
    label: &str,
    engine_pass: &str,
    engine_mapping: &str,
) -> ApiResult<u64> {
    let mut n = 0;
    let mut after: Option<String> = None;
    loop {
        let rows = st
            .store
            .file_items_page(engine_mapping, engine_pass, after.as_deref(), ITEM_PAGE)
            .await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.path.clone());
        let full = rows.len() as i64 == ITEM_PAGE;
        for r in rows {
            let FileItemLine {
                path,
                size,
                status,
                reason,
                target_path: target,
            } = r;
            sink.row(
                &FILE_COLUMNS,
                vec![
                    json!(label),
                    json!(pass.kind),
                    json!(pass.attempt),
                    json!(path),
                    json!(size),
                    json!(status),
                    json!(reason),
                    json!(target),
                ],
            )?;
            n += 1;
        }
        if !full {
            break;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_show_with_slashes() {
        assert_eq!(folder_text(r#"["Projets","Données"]"#), "Projets/Données");
        assert_eq!(folder_text("INBOX"), "INBOX");
    }

    #[test]
    fn csv_cells_are_plain_text() {
        let mut s = Sink::Csv(Box::new(csv::Writer::from_writer(Vec::new())));
        s.row(&["a", "b", "c"], vec![json!("x,y"), Value::Null, json!(3)])
            .unwrap();
        let Sink::Csv(w) = s else { unreachable!() };
        assert_eq!(
            String::from_utf8(w.into_inner().unwrap()).unwrap(),
            "\"x,y\",,3\n"
        );
    }
}
