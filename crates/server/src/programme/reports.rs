//! Reports: an event's report (live, or frozen when it completed) and a project's archived final report.

use crate::db::{self, Project};
use crate::programme::events::{self, Event};
use crate::programme::load_mappings;
use crate::programme::passes::{
    MappingStatus, StoredPass, approvals, event_passes, mapping_statuses, outcomes,
};
use crate::{ApiError, ApiResult, AppState};
use chrono::{DateTime, Utc};
use ferry_core::id::MappingId;
use ferry_core::programme::event::{self as event_rule, EventState};
use ferry_core::programme::pass::PassDecision;
use serde_json::{Value, json};
use std::collections::HashMap;

/// A time as reports and refusals write it.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
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
    let statuses = mapping_statuses(st, p, e, now).await?;
    let tenant = db::load_tenant(&*st.programme, p.tenant).await?;
    let eligibility = tenant.eligibility(&st.settings);
    let outcomes = outcomes(e, &statuses, false);
    let approvals = approvals(st, p, e, false).await?;
    let policy = &st.settings.grade;
    let mut totals = zero_counters();
    // By mapping, not a scan of every outcome and approval per mapping: quadratic with 20,000 mappings
    // that all ran (issue 12 §5).
    let outcome_of: HashMap<MappingId, &event_rule::MappingOutcome> =
        outcomes.iter().map(|o| (o.mapping, o)).collect();
    let mut last_approval: HashMap<MappingId, DateTime<Utc>> = HashMap::new();
    for a in &approvals {
        let at = last_approval.entry(a.mapping).or_insert(a.at);
        *at = (*at).max(a.at);
    }
    // Passes given back until a server's wait is over (issue 12 §3): running, held by no worker, with a
    // run-after time still ahead (wall time: the queue's).
    let wall = Utc::now();
    let waits: HashMap<String, DateTime<Utc>> = st
        .programme
        .pass_leases()
        .await?
        .into_iter()
        .filter(|l| l.owner.is_none())
        .filter_map(|l| l.run_after.filter(|t| *t > wall).map(|t| (l.pass, t)))
        .collect();
    let mut mappings = Vec::with_capacity(statuses.len());
    for s in &statuses {
        mappings.push(mapping_report(
            st,
            e,
            s,
            outcome_of.get(&s.mapping.id).copied(),
            last_approval.get(&s.mapping.id).copied(),
            &waits,
            &mut totals,
        ));
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
    let mut report = json!({
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
    });
    // Moved in, not through `json!`: the macro serializes a `Vec<Value>` into a new tree (a deep copy of
    // 20,000 mapping objects, then the original dropped: a third of the report's time, issue 12 §5).
    report["mappings"] = Value::Array(mappings);
    Ok(report)
}

/// The report the API's `GET …/events/{event}/report` answers and the dashboard's report page shows: the
/// final report stored when the event completed, else the report at the clock's now.
pub async fn report_of(st: &AppState, p: &Project, e: &Event) -> ApiResult<Value> {
    if e.state == EventState::Completed
        && let Some(r) = st
            .programme
            .final_report(e.id)
            .await?
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
    {
        return Ok(r);
    }
    event_report(st, p, e, st.clock.now()).await
}

fn mapping_report(
    st: &AppState,
    e: &Event,
    s: &MappingStatus,
    outcome: Option<&event_rule::MappingOutcome>,
    last_approval: Option<DateTime<Utc>>,
    waits: &HashMap<String, DateTime<Utc>>,
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
    let grade = outcome.map(|o| o.grade(&st.settings.grade));
    // Approved: an approval of its skipped items at or after its outcome.
    let approved = outcome.is_some_and(|o| last_approval.is_some_and(|at| at >= o.finished_at));
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
    let waiting = mine
        .last()
        .filter(|p| p.outcome_name() == "running")
        .and_then(|p| waits.get(&p.id))
        .copied();
    let mut last_pass = mine.last().map(|p| p.view());
    if let (Some(v), Some(t)) = (last_pass.as_mut(), waiting) {
        v["waiting_until"] = json!(t.to_rfc3339());
    }
    let next_text = match (waiting, &s.decision) {
        (Some(t), PassDecision::Running { kind, .. }) => format!(
            "queued: the server asked to wait; its {kind} pass resumes at {}",
            t.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        _ => next_text(e, &s.decision),
    };
    json!({
        "mapping": s.mapping.id,
        "label": s.mapping.label,
        "live": live,
        "source": s.mapping.source,
        "target": s.mapping.target,
        "last_pass": last_pass,
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
        "next_text": next_text,
    })
}

/// Write the project's final report under `DATA/archive/` and return its path: the project, its mappings,
/// and per event its final report (or its status at archiving) with every pass summary. Never a secret.
pub async fn archive_final_report(st: &AppState, project: &Project) -> ApiResult<String> {
    let dir = st.data_dir.join("archive");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ApiError::internal(format!("cannot create {}: {e}", dir.display())))?;
    let now = st.clock.now();
    let mut evs = Vec::new();
    for e in events::project_events(&*st.programme, project.id, &[]).await? {
        let stored = st.programme.final_report(e.id).await?;
        let report = match stored.and_then(|s| serde_json::from_str::<Value>(&s).ok()) {
            Some(r) => r,
            None => event_report(st, project, &e, now).await?,
        };
        let passes: Vec<Value> = event_passes(&*st.programme, e.id)
            .await?
            .iter()
            .map(|p| {
                let mut v = p.view();
                v["mapping"] = json!(p.mapping);
                v
            })
            .collect();
        evs.push(json!({ "event": e, "report": report, "passes": passes }));
    }
    let mappings = load_mappings(st, project.id).await?;
    let doc = json!({
        "archived_at": now,
        "project": project,
        "mappings": mappings,
        "events": evs,
    });
    let path = dir.join(format!("project-{}.json", project.id));
    let text = serde_json::to_string_pretty(&doc)
        .map_err(|e| ApiError::internal(format!("the archive cannot be written as JSON: {e}")))?;
    std::fs::write(&path, text)
        .map_err(|e| ApiError::internal(format!("cannot write {}: {e}", path.display())))?;
    Ok(path.display().to_string())
}
