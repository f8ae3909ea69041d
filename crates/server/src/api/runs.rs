//! Passes and reports: an engineer launches or retries a mapping's pass now, a customer approves skipped
//! items, anyone on the tenant reads an event's report and its per-item results.
//!
//! Launch and retry answer at once with a transaction `in_progress`; the worker moves it to `completed` or
//! `failed` when the pass ends (`GET …/transactions/{id}`). The report is live while the event runs (per
//! mapping: the last pass, its counters and grade, the attempts, and what happens next) and, once the event
//! is Completed, the final report stored at completion. Items come from the engine's journal (one row per
//! message or file), as JSON or CSV, read from the store a page at a time.

use super::{path_id, project_of};
use crate::api::events::{Event, load_event, set_event_state};
use crate::auth::Caller;
use crate::db::{self, Change, Project, changed};
use crate::programme::load_mappings;
use crate::scheduler::{self, MappingStatus, StoredPass};
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ferry_core::grade::Grade;
use ferry_core::id::MappingId;
use ferry_core::programme::event::{self as event_rule, EventState};
use ferry_core::programme::pass::{self, EventContext, PassDecision};
use ferry_core::programme::role::Role;
use ferry_core::programme::{ProjectState, TransactionStatus, Workload};
use ferry_store::{FileItemLine, JournalReads, MailItemLine};
use serde::Deserialize;
use serde_json::{Value, json};

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

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
    let history = scheduler::mapping_passes(&*st.programme, m).await?;
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
    let logins = scheduler::logins_supplied(st, &p).await?;
    let records = scheduler::decision_records(&history, scheduler::logins_changed_at(&logins, m));
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
        scheduler::insert_pass(&*tx, c.actor(), &p, e.id, &mv, kind, attempt, action, now).await?;
    db::touch_project(&*tx, p.id, now).await?;
    tx.commit().await?;
    scheduler::spawn_pass(
        st,
        p.clone(),
        e.id,
        mv.clone(),
        pass_id.clone(),
        kind,
        txn.id,
    );
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
    let statuses = scheduler::mapping_statuses(&st, &p, &e, now).await?;
    let outcomes = scheduler::outcomes(&e, &statuses, false);
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
    if e.state == EventState::Completed {
        let stored = st.programme.final_report(e.id).await?;
        if let Some(r) = stored.and_then(|s| serde_json::from_str::<Value>(&s).ok()) {
            return Ok(Json(r));
        }
    }
    Ok(Json(event_report(&st, &p, &e, st.clock.now()).await?))
}

/// What happens next for a mapping, in words.
fn next_text(e: &Event, d: &PassDecision) -> String {
    match d {
        PassDecision::Run { kind, attempt } => format!("{kind} pass due now (attempt {attempt})"),
        PassDecision::WaitUntil { kind, at } => format!("{kind} due at {}", when(*at)),
        PassDecision::Running { kind, event } if *event == e.id => {
            format!("its {kind} pass is running")
        }
        PassDecision::Running { kind, event } => {
            format!("its {kind} pass runs in event {event}; this event waits for it")
        }
        PassDecision::Failed {
            kind,
            attempts,
            reason,
        } => format!(
            "failed: the {kind} pass failed {attempts} times, the limit; last failure: {reason}"
        ),
        PassDecision::Sealed => "sealed: its Final pass succeeded; nothing more is copied".into(),
    }
}

fn add_counters(total: &mut Value, c: &Value) {
    for k in ["discovered", "copied", "skipped", "failed", "bytes"] {
        let sum = total[k].as_u64().unwrap_or(0) + c[k].as_u64().unwrap_or(0);
        total[k] = json!(sum);
    }
}

/// A mapping's figures as they stand: from its journal after its latest pass — every item any pass
/// discovered, those on the target (`copied`), skipped, and still outstanding (`failed`: failed, pending, and
/// a folder that could not be read or written) — else, without a journal, what its passes counted.
/// `bytes` is what the passes moved.
fn current_counters(journal: &Value, work: &Value) -> Value {
    if !journal.is_object() {
        return work.clone();
    }
    let n = |k: &str| journal.get(k).and_then(Value::as_u64).unwrap_or(0);
    json!({
        "discovered": n("items") + n("folder_errors"),
        "copied": n("copied"),
        "skipped": n("skipped"),
        "failed": n("failed") + n("pending") + n("folder_errors"),
        "bytes": work["bytes"].as_u64().unwrap_or(0),
    })
}

fn zero_counters() -> Value {
    json!({ "discovered": 0, "copied": 0, "skipped": 0, "failed": 0, "bytes": 0 })
}

/// An event's report at `now`: state, grade, totals of its passes, and per mapping the last pass (kind,
/// outcome, counters, grade), the attempts, whether its skipped items were approved, and what comes next.
/// The scheduler stores it as the final report when the event completes.
pub async fn event_report(
    st: &AppState,
    p: &Project,
    e: &Event,
    now: DateTime<Utc>,
) -> ApiResult<Value> {
    let statuses = scheduler::mapping_statuses(st, p, e, now).await?;
    let tenant = db::load_tenant(&*st.programme, p.tenant).await?;
    let eligibility = tenant.eligibility(&st.settings);
    let outcomes = scheduler::outcomes(e, &statuses, false);
    let approvals = scheduler::approvals(st, p, e, false).await?;
    let policy = &st.settings.grade;
    let mut totals = zero_counters();
    let mut mappings = Vec::new();
    for s in &statuses {
        mappings.push(mapping_report(st, e, s, &outcomes, &approvals, &mut totals));
    }
    let grade = (!outcomes.is_empty()).then(|| event_rule::event_grade(&outcomes, policy));
    let completion = e
        .state
        .is_finished_round()
        .then(|| event_rule::completion(&outcomes, &approvals, policy));
    let completion_text = match e.state {
        EventState::Completed => Some("completed".to_string()),
        s if s.is_finished_round() => {
            Some(match event_rule::complete(s, &outcomes, &approvals, policy) {
                Ok(_) if e.kind == event_rule::EventKind::Synchronization => {
                    "the round is over; the event completes when a Completion event has sealed every mapping"
                        .to_string()
                }
                Ok(_) => "ready to complete at the scheduler's next step".to_string(),
                Err(err) => err.message().to_string(),
            })
        }
        _ => None,
    };
    Ok(json!({
        "final": false,
        "generated_at": now,
        "event": {
            "id": e.id, "name": e.name, "kind": e.kind, "pilot": e.pilot, "start": e.start,
            "state": e.state, "completed_at": e.completed_at, "mappings": e.mappings.len(),
        },
        "project": { "id": p.id, "name": p.name, "workload": p.workload, "state": p.state },
        "self_service": eligibility.tier.is_self_service(),
        "notice": eligibility.notice(),
        "grade": grade.map(|g| g.to_string()),
        "completion": completion,
        "completion_text": completion_text,
        "totals": totals,
        "mappings": mappings,
    }))
}

fn mapping_report(
    st: &AppState,
    e: &Event,
    s: &MappingStatus,
    outcomes: &[event_rule::MappingOutcome],
    approvals: &[event_rule::SkippedApproval],
    totals: &mut Value,
) -> Value {
    let mine: Vec<&StoredPass> = s.mine(e.id).collect();
    // What the passes did, summed: a message that failed in one pass and was copied by the retry is in both.
    let mut work = zero_counters();
    for p in &mine {
        if let Some(c) = &p.counters {
            add_counters(&mut work, c);
        }
    }
    let outcome = outcomes.iter().find(|o| o.mapping == s.mapping.id);
    let grade = outcome.map(|o| o.grade(&st.settings.grade));
    let approved = outcome.is_some_and(|o| {
        approvals
            .iter()
            .any(|a| a.mapping == o.mapping && a.at >= o.finished_at)
    });
    let journal = mine
        .iter()
        .rev()
        .find_map(|p| p.counters.as_ref().map(|c| c["journal"].clone()))
        .unwrap_or(Value::Null);
    // What is on the target and what is still outstanding (issue 9 item 15).
    let counters = current_counters(&journal, &work);
    add_counters(totals, &counters);
    // While a pass runs: the counters it has reached so far.
    let live = mine
        .last()
        .filter(|p| p.outcome_name() == "running")
        .and_then(|_| st.workers.progress(s.mapping.id))
        .map(|p| {
            json!({
                "discovered": p.discovered, "copied": p.copied, "skipped": p.skipped, "failed": p.failed,
                "bytes": p.copied_bytes,
            })
        });
    json!({
        "mapping": s.mapping.id,
        "label": s.mapping.label,
        "live": live,
        "source": s.mapping.source,
        "target": s.mapping.target,
        "last_pass": mine.last().map(|p| p.view()),
        "passes": mine.len(),
        "attempts": mine.last().map(|p| p.attempt).unwrap_or(0),
        "counters": counters,
        "outstanding": counters["failed"],
        "pass_totals": work,
        "journal": journal,
        "grade": grade.map(|g| g.to_string()),
        "result": outcome.map(|o| &o.result),
        "approved": approved,
        "next": s.decision,
        "next_text": next_text(e, &s.decision),
    })
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

const MAIL_COLUMNS: [&str; 12] = [
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
    let mut count = 0u64;
    for pass in scheduler::event_passes(&*st.programme, e.id).await? {
        let Some(run) = &pass.run_id else { continue };
        let engine = st.store.run_passes(run).await?;
        let label = labels.get(&pass.mapping).cloned().unwrap_or_default();
        for (engine_pass, engine_mapping) in engine {
            count += match p.workload {
                Workload::Mail => {
                    mail_items(&st, &mut sink, &pass, &label, &engine_pass, &engine_mapping).await?
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

async fn mail_items(
    st: &AppState,
    sink: &mut Sink,
    pass: &StoredPass,
    label: &str,
    engine_pass: &str,
    engine_mapping: &str,
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
            } = r;
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
                    json!(tfolder.as_deref().map(folder_text)),
                    json!(tuid),
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
