//! An event's report without a line per mapping (issue 13): the report's head (state, grade, completion,
//! totals) and a line for each mapping that has a pass in any event, computed by the rules; every other
//! mapping of the event has no pass anywhere, so the rules decide the same for all of them and they share
//! one line, counted, not computed one by one. The full report ([`super::reports::event_report`]), the
//! report page, the live view and the project report are all read from it, so they never disagree, and a
//! page's cost is the mappings that ran plus the page's rows, not every mapping of the event.

use crate::db::{self, Project};
use crate::programme::events::Event;
use crate::programme::passes::{StoredPass, approvals, decide, logins_supplied, outcome_of};
use crate::programme::reports::when;
use crate::{ApiResult, AppState};
use chrono::{DateTime, Utc};
use ferry_core::id::MappingId;
use ferry_core::programme::event::{self as event_rule, EventState};
use ferry_core::programme::pass::PassDecision;
use ferry_store::programme::MappingRecord;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// The passes given back until a server's wait is over (issue 12 §3), by pass id, with when they resume:
/// running, held by no worker, with a run-after time still ahead (wall time: the queue's).
pub async fn pass_waits(st: &AppState) -> ApiResult<HashMap<String, DateTime<Utc>>> {
    let wall = Utc::now();
    Ok(st
        .programme
        .pass_leases()
        .await?
        .into_iter()
        .filter(|l| l.owner.is_none())
        .filter_map(|l| l.run_after.filter(|t| *t > wall).map(|t| (l.pass, t)))
        .collect())
}

/// An event's report, its mappings' lines kept apart.
pub struct Digest {
    /// The report without `mappings`.
    pub head: Value,
    /// The lines of the mappings with a pass in any event, without the mapping's id, label, source and
    /// target; by mapping (import order).
    pub lines: BTreeMap<MappingId, Value>,
    /// The line of each other mapping of the event.
    pub idle: Value,
    /// How many mappings of the event share [`Digest::idle`].
    pub idle_count: usize,
    /// The event's own passes, oldest first (the report's throughput chart reads them from here instead
    /// of the store again).
    pub passes: Vec<StoredPass>,
}

impl Digest {
    /// A mapping's whole report line.
    pub fn line(&self, m: &MappingRecord) -> Value {
        let mut v = self.lines.get(&m.id).unwrap_or(&self.idle).clone();
        v["mapping"] = json!(m.id);
        v["label"] = json!(m.label);
        v["source"] = json!(m.source);
        v["target"] = json!(m.target);
        v
    }

    /// Each mapping's grade (`None`: not graded yet), the idle ones included.
    pub fn grades(&self) -> impl Iterator<Item = Option<&str>> {
        self.lines
            .values()
            .map(|l| l["grade"].as_str())
            .chain(std::iter::repeat_n(
                self.idle["grade"].as_str(),
                self.idle_count,
            ))
    }
}

/// The counters a pass of `mapping` running on this server has reached so far, if one does.
pub(crate) fn live_progress(st: &AppState, mapping: MappingId) -> Option<Value> {
    st.workers.progress(mapping).map(|p| {
        json!({
            "discovered": p.discovered, "copied": p.copied, "skipped": p.skipped, "failed": p.failed,
            "bytes": p.copied_bytes,
        })
    })
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

pub(crate) fn zero_counters() -> Value {
    json!({ "discovered": 0, "copied": 0, "skipped": 0, "failed": 0, "bytes": 0 })
}

/// One mapping's decision in the event and what the line needs besides.
pub(crate) struct Decided<'a> {
    pub mapping: MappingId,
    pub history: &'a [StoredPass],
    pub decision: &'a PassDecision,
    pub outcome: Option<&'a event_rule::MappingOutcome>,
    pub last_approval: Option<DateTime<Utc>>,
}

/// A mapping's report line (without its id, label, source and target): the last pass (kind, outcome,
/// counters, grade), the attempts, whether its skipped items were approved, and what comes next.
pub(crate) fn mapping_line(
    st: &AppState,
    e: &Event,
    d: &Decided<'_>,
    waits: &HashMap<String, DateTime<Utc>>,
    totals: &mut Value,
) -> Value {
    let mine: Vec<&StoredPass> = d.history.iter().filter(|p| p.event == e.id).collect();
    // What the passes did, summed: a message that failed in one pass and was copied by the retry is in both.
    let mut work = zero_counters();
    for p in &mine {
        if let Some(c) = &p.counters {
            add_counters(&mut work, c);
        }
    }
    let outcome = d.outcome;
    let grade = outcome.map(|o| o.grade(&st.settings.grade));
    // Approved: an approval of its skipped items at or after its outcome.
    let approved = outcome.is_some_and(|o| d.last_approval.is_some_and(|at| at >= o.finished_at));
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
        .and_then(|_| live_progress(st, d.mapping));
    let waiting = mine
        .last()
        .filter(|p| p.outcome_name() == "running")
        .and_then(|p| waits.get(&p.id))
        .copied();
    let mut last_pass = mine.last().map(|p| p.view());
    if let (Some(v), Some(t)) = (last_pass.as_mut(), waiting) {
        v["waiting_until"] = json!(t.to_rfc3339());
    }
    let next_text = match (waiting, d.decision) {
        (Some(t), PassDecision::Running { kind, .. }) => format!(
            "queued: the server asked to wait; its {kind} pass resumes at {}",
            t.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        _ => next_text(e, d.decision),
    };
    json!({
        "live": live,
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
        "next": d.decision,
        "next_text": next_text,
    })
}

/// `e`'s report at `now`, its lines kept apart (see [`Digest`]). One query for the passes of the event's
/// mappings; the mappings themselves are not read.
pub async fn digest(
    st: &AppState,
    p: &Project,
    e: &Event,
    now: DateTime<Utc>,
) -> ApiResult<Digest> {
    // Every pass of the event's mappings, in any event, in one query: the mappings with a history.
    let mut histories: BTreeMap<MappingId, Vec<StoredPass>> = BTreeMap::new();
    let mut passes = Vec::new();
    for pass in st.programme.event_mapping_passes(e.id).await? {
        if pass.event == e.id {
            passes.push(pass.clone());
        }
        histories.entry(pass.mapping).or_default().push(pass);
    }
    let logins = logins_supplied(st, p).await?;
    let decisions: BTreeMap<MappingId, PassDecision> = histories
        .iter()
        .map(|(m, h)| (*m, decide(&st.settings, e, h, &logins, *m, now)))
        .collect();
    // Without a pass anywhere, the logins do not count (they only discount failed passes): one decision.
    let idle_decision = decide(&st.settings, e, &[], &logins, MappingId::default(), now);
    let outcomes: Vec<event_rule::MappingOutcome> = histories
        .iter()
        .filter_map(|(m, h)| outcome_of(e, *m, h, &decisions[m], false))
        .collect();
    let tenant = db::load_tenant(&*st.programme, p.tenant).await?;
    let eligibility = tenant.eligibility(&st.settings);
    let approvals = approvals(st, p, e, false).await?;
    let policy = &st.settings.grade;
    // By mapping, not a scan of every outcome and approval per mapping: quadratic with 20,000 mappings
    // that all ran (issue 12 §5).
    let outcome_of: HashMap<MappingId, &event_rule::MappingOutcome> =
        outcomes.iter().map(|o| (o.mapping, o)).collect();
    let mut last_approval: HashMap<MappingId, DateTime<Utc>> = HashMap::new();
    for a in &approvals {
        let at = last_approval.entry(a.mapping).or_insert(a.at);
        *at = (*at).max(a.at);
    }
    let waits = pass_waits(st).await?;
    let mut totals = zero_counters();
    let mut lines = BTreeMap::new();
    for (m, h) in &histories {
        let d = Decided {
            mapping: *m,
            history: h,
            decision: &decisions[m],
            outcome: outcome_of.get(m).copied(),
            last_approval: last_approval.get(m).copied(),
        };
        lines.insert(*m, mapping_line(st, e, &d, &waits, &mut totals));
    }
    let idle = mapping_line(
        st,
        e,
        &Decided {
            mapping: MappingId::default(),
            history: &[],
            decision: &idle_decision,
            outcome: None,
            last_approval: None,
        },
        &waits,
        &mut zero_counters(),
    );
    let idle_count = e.mappings.iter().filter(|m| !lines.contains_key(m)).count();
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
    let head = json!({
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
    Ok(Digest {
        head,
        lines,
        idle,
        idle_count,
        passes,
    })
}
