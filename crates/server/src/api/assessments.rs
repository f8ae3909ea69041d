//! Assessments: discovery of the source through the movers and the pre-flight rules, per mapping, into a
//! readiness report (issue 4 "Assessment").
//!
//! `POST …/assessments` answers at once with an `in_progress` transaction; a background task assesses
//! every mapping ([`ASSESS_CONCURRENCY`] at a time) through [`workload::assess`], stores the report, and
//! moves the transaction to `completed` (or `failed`, with the reason). The project goes Draft (or Ready)
//! → Assessing when the assessment starts and Assessing → Ready when every mapping is ready; a report that
//! is not ready leaves it Assessing until the findings are dealt with and it is assessed again.
//!
//! A row still `running` that no task of this process runs (the server stopped while it ran) is marked
//! failed when the next assessment of the project starts. [`wait_assessments`] lets tests and
//! `ferry quickstart` wait for the background work.

use super::project_of;
use crate::auth::Caller;
use crate::db::{self, Change, Project, changed, parse_ts};
use crate::workload;
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, State};
use ferry_core::id::TransactionId;
use ferry_core::programme::{ProjectState, TransactionStatus};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Mappings assessed at once.
pub const ASSESS_CONCURRENCY: usize = 4;

/// Errors of failed mappings named in the assessment's reason.
const REASONS_SHOWN: usize = 3;

/// Assessments a task of this process is running (by id).
fn running() -> &'static Mutex<HashSet<String>> {
    static RUNNING: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    RUNNING.get_or_init(Mutex::default)
}

fn is_running_here(id: &str) -> bool {
    running()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(id)
}

/// Marks an assessment as running in this process until dropped.
struct RunningGuard(String);

impl RunningGuard {
    fn new(id: &str) -> Self {
        running()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned());
        RunningGuard(id.to_owned())
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        running()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

/// Wait until no assessment of this store is running (tests and `ferry quickstart` call it after
/// starting one). Gives up after `timeout` with an error naming what still runs.
pub async fn wait_assessments(st: &AppState, timeout: Duration) -> ApiResult<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let ids = st.programme.running_assessments().await?;
        let busy: Vec<String> = ids.into_iter().filter(|id| is_running_here(id)).collect();
        if busy.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::internal(format!(
                "assessments still running after {timeout:?}: {}",
                busy.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn run(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let _w = st.write.lock().await;
    let p = project_of(&st, &tenant, &project).await?;
    match p.state {
        ProjectState::Closed | ProjectState::Offboarded => {
            return Err(ApiError::refused(format!(
                "the project is {}: it is not assessed any more",
                p.state.as_str()
            )));
        }
        ProjectState::Paused => {
            return Err(ApiError::refused(
                "the project is paused: resume it (supply the credentials again and confirm a schedule) before assessing",
            ));
        }
        _ => {}
    }
    let mappings = crate::programme::load_mappings(&st, p.id).await?;
    if mappings.is_empty() {
        return Err(ApiError::refused(
            "the project has no mappings to assess: import them first (POST …/mappings)",
        ));
    }
    let now = st.clock.now();
    let open = st.programme.project_running_assessments(p.id).await?;
    let tx = st.programme.begin().await?;
    for (id, started) in open {
        if is_running_here(&id) {
            return Err(ApiError::refused(format!(
                "assessment {id} of this project is running (started {started}): wait for it (GET …/assessments/latest)"
            )));
        }
        // Left `running` by a server that stopped: it will never finish.
        let report = json!({ "status": "failed", "reason": "interrupted: the server stopped while it ran; assess again" });
        tx.finish_assessment(&id, "failed", Some(&report.to_string()), now)
            .await?;
    }
    let id = uuid::Uuid::now_v7().to_string();
    tx.insert_assessment(&id, p.id, now).await?;
    let to = match p.state {
        ProjectState::Draft | ProjectState::Ready => ProjectState::Assessing,
        other => other,
    };
    db::set_project_state(&*tx, &p, to, now).await?;
    db::touch_project(&*tx, p.id, now).await?;
    let after =
        json!({ "assessment": id, "status": "running", "mappings": mappings.len(), "state": to });
    let txn = db::record(
        &*tx,
        c.actor(),
        Change {
            tenant: Some(p.tenant),
            action: "assessment.run",
            target: format!("project/{}", p.id),
            before: Some(json!({ "state": p.state })),
            after: Some(after),
        },
        TransactionStatus::InProgress,
        now,
    )
    .await?;
    tx.commit().await?;
    let mapping_count = mappings.len();
    let guard = RunningGuard::new(&id);
    let (st2, p2, id2, txn_id) = (st.clone(), p.clone(), id.clone(), txn.id);
    tokio::spawn(async move {
        let _guard = guard;
        finish(st2, p2, id2, txn_id, mappings).await;
    });
    Ok(changed(
        txn,
        json!({
            "assessment": { "id": id, "status": "running", "started_at": now },
            "mappings": mapping_count,
            "project_state": to,
        }),
    ))
}

/// Assess every mapping, store the report, move the project and the transaction on.
async fn finish(
    st: AppState,
    project: Project,
    id: String,
    txn: TransactionId,
    mappings: Vec<crate::programme::MappingView>,
) {
    // Assess in a task of its own so that even a panic ends as a failed assessment.
    let work = {
        let (st, project) = (st.clone(), project.clone());
        tokio::spawn(async move { assess_all(&st, &project, mappings).await })
    };
    let (report, reason) = match work.await {
        Ok(r) => r,
        Err(e) => (
            json!({}),
            Some(format!("the assessment stopped unexpectedly: {e}")),
        ),
    };
    if let Err(e) = store_result(&st, &project, &id, txn, report, reason).await {
        tracing::error!(assessment = %id, error = %e.message, "cannot store the assessment's result");
        let now = st.clock.now();
        let _ = st.programme.fail_running_assessment(&id, now).await;
        let _ = db::set_transaction(
            &*st.programme,
            txn,
            TransactionStatus::Failed,
            Some("the assessment's result could not be stored; run it again"),
            now,
        )
        .await;
    }
}

/// The report (without status) and, when the assessment failed, the reason.
async fn assess_all(
    st: &AppState,
    project: &Project,
    mappings: Vec<crate::programme::MappingView>,
) -> (Value, Option<String>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(ASSESS_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    let total = mappings.len();
    for (i, m) in mappings.into_iter().enumerate() {
        let (st, project, slots) = (st.clone(), project.clone(), slots.clone());
        set.spawn(async move {
            let _slot = slots.acquire_owned().await.ok();
            let r = workload::assess(&st, &project, &m).await;
            (i, m, r)
        });
    }
    let mut rows: Vec<(usize, Value)> = Vec::with_capacity(total);
    let mut errors: Vec<String> = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, _, Ok(v))) => rows.push((i, v)),
            Ok((i, m, Err(e))) => {
                errors.push(format!("{}: {}", m.label, e.message));
                rows.push((
                    i,
                    json!({ "mapping": m.id, "label": m.label, "ready": false, "error": e.message }),
                ));
            }
            Err(e) => errors.push(format!("a mapping's assessment stopped unexpectedly: {e}")),
        }
    }
    rows.sort_by_key(|(i, _)| *i);
    let per_mapping: Vec<Value> = rows.into_iter().map(|(_, v)| v).collect();
    let ready_count = per_mapping
        .iter()
        .filter(|m| m["ready"].as_bool() == Some(true))
        .count();
    let findings: u64 = per_mapping
        .iter()
        .map(|m| {
            m["findings_total"].as_u64().unwrap_or_else(|| {
                m["findings"]
                    .as_array()
                    .map(|a| a.len() as u64)
                    .unwrap_or(0)
            })
        })
        .sum();
    // Totals of the numeric inventory fields every mapping reports (files, bytes, messages…).
    let mut inventory = Map::new();
    for m in &per_mapping {
        if let Some(inv) = m["inventory"].as_object() {
            for (k, v) in inv {
                if let Some(n) = v.as_u64() {
                    let sum = inventory.get(k).and_then(Value::as_u64).unwrap_or(0) + n;
                    inventory.insert(k.clone(), json!(sum));
                }
            }
        }
    }
    let ready = errors.is_empty() && ready_count == total;
    let notice = match db::load_tenant(&*st.programme, project.tenant).await {
        Ok(t) => t.eligibility(&st.settings).notice(),
        Err(e) => {
            tracing::warn!(error = %e.message, "cannot load the tenant for the assessment's notice");
            None
        }
    };
    let reason = (!errors.is_empty()).then(|| {
        let mut r = format!(
            "{} of {total} mappings could not be assessed: {}",
            errors.len(),
            errors
                .iter()
                .take(REASONS_SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
        if errors.len() > REASONS_SHOWN {
            r.push_str(&format!("; and {} more", errors.len() - REASONS_SHOWN));
        }
        r
    });
    let report = json!({
        "workload": project.workload,
        "ready": ready,
        "self_service": notice.is_some(),
        "notice": notice,
        "totals": {
            "mappings": total,
            "ready_mappings": ready_count,
            "failed_mappings": errors.len(),
            "findings": findings,
            "inventory": inventory,
        },
        "mappings": per_mapping,
    });
    (report, reason)
}

async fn store_result(
    st: &AppState,
    project: &Project,
    id: &str,
    txn: TransactionId,
    mut report: Value,
    reason: Option<String>,
) -> ApiResult<()> {
    let _w = st.write.lock().await;
    let now = st.clock.now();
    let status = if reason.is_some() { "failed" } else { "done" };
    let ready = reason.is_none() && report["ready"].as_bool() == Some(true);
    if let Some(obj) = report.as_object_mut() {
        obj.insert("assessment".into(), json!(id));
        obj.insert("project".into(), json!(project.id));
        obj.insert("status".into(), json!(status));
        obj.insert("reason".into(), json!(reason));
        obj.insert("finished_at".into(), json!(now));
    }
    let tx = st.programme.begin().await?;
    tx.finish_assessment(id, status, Some(&report.to_string()), now)
        .await?;
    // The state as it is now: the project may have been paused or closed meanwhile.
    let current = db::load_project(&*st.programme, project.tenant, project.id).await?;
    if ready && current.state == ProjectState::Assessing {
        db::set_project_state(&*tx, &current, ProjectState::Ready, now).await?;
        db::record(
            &*tx,
            db::Actor::Scheduler,
            Change {
                tenant: Some(project.tenant),
                action: "project.assessed",
                target: format!("project/{}", project.id),
                before: Some(json!({ "state": current.state })),
                after: Some(json!({ "state": ProjectState::Ready, "assessment": id })),
            },
            TransactionStatus::Completed,
            now,
        )
        .await?;
    }
    if current.state.is_active() {
        db::touch_project(&*tx, project.id, now).await?;
    }
    tx.commit().await?;
    let (t_status, detail) = match &reason {
        Some(r) => (
            TransactionStatus::Failed,
            format!("assessment {id} failed: {r}"),
        ),
        None if ready => (
            TransactionStatus::Completed,
            format!("assessment {id} done: every mapping is ready"),
        ),
        None => (
            TransactionStatus::Completed,
            format!(
                "assessment {id} done: {} of {} mappings are not ready; see the report's findings",
                report["totals"]["mappings"].as_u64().unwrap_or(0)
                    - report["totals"]["ready_mappings"].as_u64().unwrap_or(0),
                report["totals"]["mappings"].as_u64().unwrap_or(0)
            ),
        ),
    };
    db::set_transaction(&*st.programme, txn, t_status, Some(&detail), now).await
}

pub async fn latest(
    State(st): State<AppState>,
    Path((tenant, project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let p = project_of(&st, &tenant, &project).await?;
    Ok(Json(latest_report(&st, &p).await?))
}

/// The project's latest assessment as `GET …/assessments/latest` answers it (and the dashboard's
/// assessment page shows it): `{"assessment": {id, status, started_at, finished_at, reason, ready, note},
/// "report": …}`; not found when the project was never assessed.
pub async fn latest_report(st: &AppState, p: &Project) -> ApiResult<Value> {
    let row = st.programme.latest_assessment(p.id).await?.ok_or_else(|| {
        ApiError::not_found("the project has no assessment yet: run one with POST …/assessments")
    })?;
    let (id, status, started, finished, report) = (
        row.id,
        row.status,
        row.started_at,
        row.finished_at,
        row.report,
    );
    let report: Option<Value> = report
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| {
            ApiError::internal(format!(
                "assessment {id}'s report is damaged in the store: {e}"
            ))
        })?;
    let reason = report
        .as_ref()
        .and_then(|r| r["reason"].as_str().map(str::to_owned));
    let note = match (&report, status.as_str()) {
        (None, "running") => Some("the assessment is running: ask again shortly"),
        (None, _) => Some("the report was destroyed when the project was offboarded"),
        _ => None,
    };
    Ok(json!({
        "assessment": {
            "id": id,
            "status": status,
            "started_at": parse_ts(&started)?,
            "finished_at": finished.as_deref().map(parse_ts).transpose()?,
            "reason": reason,
            "ready": report.as_ref().and_then(|r| r["ready"].as_bool()),
            "note": note,
        },
        "report": report,
    }))
}
