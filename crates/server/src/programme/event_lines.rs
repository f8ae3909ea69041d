//! An event's figures without reading every pass (issue 13): each (event, mapping) line of the report, as
//! [`super::digest`] decides it, is kept in the store with its phase, grade and counters
//! (`ferry_store::programme::EventLineQueries`); the store marks a line stale in the same transaction as
//! any change it was decided from, and [`summary`] decides the stale ones again before it reads. The live
//! view and the report pages then sum the event with one `GROUP BY`, read only their page's lines, and
//! draw throughput from the passes' ends grouped by minute in the store. What a stored line cannot hold is
//! added when it is read: the counters of a pass running on this server now, and whether the mapping's
//! skipped items were approved (the approvers' roles are read now). The API's whole report is still built
//! by the digest; both come from the same [`super::digest::mapping_line`].

use crate::db::{self, Project};
use crate::programme::digest::{Decided, live_progress, mapping_line, pass_waits, zero_counters};
use crate::programme::events::Event;
use crate::programme::grid::rules_tag;
use crate::programme::live::live_row;
use crate::programme::passes::{approvals, decide, logins_supplied, outcome_of};
use crate::{ApiResult, AppState};
use chrono::{DateTime, Utc};
use ferry_core::id::MappingId;
use ferry_core::programme::event::{self as event_rule, EventState, MappingOutcome};
use ferry_core::programme::pass::PassDecision;
use ferry_store::programme::{
    EventLineWrite, LineCount, LineCounters, LineSelect, MappingRecord, StoredPass,
};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// The grades, best first (the event's grade is its worst mapping's).
const GRADES: [&str; 4] = ["Perfect", "Good", "Investigate", "Poor"];

/// The settings a line is decided under: the rules' and the grade policy (a change decides again).
fn lines_tag(st: &AppState) -> String {
    let g = &st.settings.grade;
    format!(
        "{};good={};investigate={}",
        rules_tag(&st.settings),
        g.good_max_fraction,
        g.investigate_max_fraction
    )
}

fn counters_of(c: &Value) -> LineCounters {
    let n = |k: &str| c.get(k).and_then(Value::as_u64).unwrap_or(0);
    LineCounters {
        discovered: n("discovered"),
        copied: n("copied"),
        skipped: n("skipped"),
        failed: n("failed"),
        bytes: n("bytes"),
    }
}

/// Decide the event's stale lines again and store them; how many.
pub async fn refresh_lines(
    st: &AppState,
    p: &Project,
    e: &Event,
    now: DateTime<Utc>,
) -> ApiResult<usize> {
    // A line holds until the rules' time or a server's wait (wall time, the queue's) is over.
    let due = now.max(Utc::now());
    let stale = st
        .programme
        .stale_event_lines(e.id, due, &lines_tag(st))
        .await?;
    if stale.is_empty() {
        return Ok(0);
    }
    let wanted: HashSet<MappingId> = stale.iter().map(|s| s.mapping).collect();
    // Most of the event stale (its first reading): every pass of its mappings in one query; else only the
    // stale mappings' (after a few passes ended: theirs).
    let passes = if wanted.len() * 2 > e.mappings.len() {
        st.programme.event_mapping_passes(e.id).await?
    } else {
        let ids: Vec<MappingId> = stale.iter().map(|s| s.mapping).collect();
        st.programme.mappings_passes(&ids).await?
    };
    let mut histories: HashMap<MappingId, Vec<StoredPass>> = HashMap::new();
    for pass in passes {
        if wanted.contains(&pass.mapping) {
            histories.entry(pass.mapping).or_default().push(pass);
        }
    }
    let logins = logins_supplied(st, p).await?;
    let waits = pass_waits(st).await?;
    let rules = lines_tag(st);
    let mut writes = Vec::with_capacity(stale.len());
    for s in &stale {
        let history = histories.get(&s.mapping).map(Vec::as_slice).unwrap_or(&[]);
        let decision = decide(&st.settings, e, history, &logins, s.mapping, now);
        let outcome = outcome_of(e, s.mapping, history, &decision, false);
        let mut line = mapping_line(
            st,
            e,
            &Decided {
                mapping: s.mapping,
                history,
                decision: &decision,
                outcome: outcome.as_ref(),
                last_approval: None,
            },
            &waits,
            &mut zero_counters(),
        );
        // Added when read: what a running pass reached, whether the skipped items were approved.
        line["live"] = Value::Null;
        line["approved"] = json!(false);
        let wait_over = line["last_pass"]["waiting_until"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let rule_time = match &decision {
            PassDecision::WaitUntil { at, .. } => Some(*at),
            _ => None,
        };
        let until = match (rule_time, wait_over) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        writes.push(EventLineWrite {
            mapping: s.mapping,
            version: s.version,
            until,
            rules: rules.clone(),
            phase: live_row(&line).phase.as_str().to_owned(),
            grade: line["grade"].as_str().map(str::to_owned),
            counters: counters_of(&line["counters"]),
            line: line.to_string(),
            outcome: outcome.as_ref().and_then(|o| serde_json::to_string(o).ok()),
        });
    }
    let n = writes.len();
    st.programme.put_event_lines(e.id, &writes).await?;
    Ok(n)
}

/// An event's report as the pages read it: its head, and its lines counted by phase and grade.
pub struct Summary {
    /// The report without `mappings` (as the digest's head).
    pub head: Value,
    /// The event's lines by phase and grade.
    pub counts: Vec<LineCount>,
    /// The latest approval of each mapping's skipped items in the event (by an approver with a role now).
    last_approval: HashMap<MappingId, DateTime<Utc>>,
}

impl Summary {
    /// Each mapping's grade (`None`: not graded yet).
    pub fn grades(&self) -> impl Iterator<Item = Option<&str>> {
        self.counts
            .iter()
            .flat_map(|c| std::iter::repeat_n(c.grade.as_deref(), c.mappings as usize))
    }

    /// The whole report lines of `rows` (mappings of the event), in their order.
    pub async fn lines(
        &self,
        st: &AppState,
        e: &Event,
        rows: &[MappingRecord],
    ) -> ApiResult<Vec<Value>> {
        let ids: Vec<MappingId> = rows.iter().map(|m| m.id).collect();
        let stored: HashMap<MappingId, Value> = st
            .programme
            .event_lines(e.id, &LineSelect::Mappings(ids))
            .await?
            .into_iter()
            .map(|l| {
                let line = self.completed(st, l.mapping, l.line.as_deref(), l.outcome.as_deref());
                (l.mapping, line)
            })
            .collect();
        Ok(rows
            .iter()
            .map(|m| {
                let mut v = stored.get(&m.id).cloned().unwrap_or(Value::Null);
                v["mapping"] = json!(m.id);
                v["label"] = json!(m.label);
                v["source"] = json!(m.source);
                v["target"] = json!(m.target);
                v
            })
            .collect())
    }

    /// The event's lines in `phase` (no labels).
    pub async fn lines_in(&self, st: &AppState, e: &Event, phase: &str) -> ApiResult<Vec<Value>> {
        Ok(st
            .programme
            .event_lines(e.id, &LineSelect::Phase(phase.to_owned()))
            .await?
            .into_iter()
            .map(|l| self.completed(st, l.mapping, l.line.as_deref(), l.outcome.as_deref()))
            .collect())
    }

    /// A stored line with what it cannot hold: a running pass's counters so far, the approval.
    fn completed(
        &self,
        st: &AppState,
        m: MappingId,
        line: Option<&str>,
        outcome: Option<&str>,
    ) -> Value {
        let mut v: Value = line
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null);
        if v["last_pass"]["outcome"].as_str() == Some("running") {
            v["live"] = live_progress(st, m).unwrap_or(Value::Null);
        }
        let finished = outcome
            .and_then(|o| serde_json::from_str::<MappingOutcome>(o).ok())
            .map(|o| o.finished_at);
        let approved =
            finished.is_some_and(|f| self.last_approval.get(&m).is_some_and(|at| *at >= f));
        v["approved"] = json!(approved);
        v
    }
}

/// `e`'s report at `now` as a [`Summary`]: the stale lines decided first, then counted in the store. Its
/// head is the digest's: the same state, grade, completion and totals.
pub async fn summary(
    st: &AppState,
    p: &Project,
    e: &Event,
    now: DateTime<Utc>,
) -> ApiResult<Summary> {
    refresh_lines(st, p, e, now).await?;
    let counts = st.programme.event_line_counts(e.id).await?;
    let mut totals = zero_counters();
    let mut worst: Option<usize> = None;
    for c in &counts {
        let t = &c.counters;
        for (k, v) in [
            ("discovered", t.discovered),
            ("copied", t.copied),
            ("skipped", t.skipped),
            ("failed", t.failed),
            ("bytes", t.bytes),
        ] {
            totals[k] = json!(totals[k].as_u64().unwrap_or(0) + v);
        }
        if let Some(i) = c
            .grade
            .as_deref()
            .and_then(|g| GRADES.iter().position(|x| *x == g))
        {
            worst = Some(worst.map_or(i, |w| w.max(i)));
        }
    }
    let approvals = approvals(st, p, e, false).await?;
    let mut last_approval: HashMap<MappingId, DateTime<Utc>> = HashMap::new();
    for a in &approvals {
        let at = last_approval.entry(a.mapping).or_insert(a.at);
        *at = (*at).max(a.at);
    }
    let policy = &st.settings.grade;
    // Completion looks only at the mappings graded Investigate or Poor: the others never hold it up.
    let (completion, completion_text) = if e.state.is_finished_round() {
        let outcomes: Vec<MappingOutcome> = st
            .programme
            .event_lines(
                e.id,
                &LineSelect::Grades(vec!["Investigate".into(), "Poor".into()]),
            )
            .await?
            .into_iter()
            .filter_map(|l| serde_json::from_str(l.outcome.as_deref()?).ok())
            .collect();
        let completion = event_rule::completion(&outcomes, &approvals, policy);
        let text = match e.state {
            EventState::Completed => "completed".to_string(),
            s => match event_rule::complete(s, &outcomes, &approvals, policy) {
                Ok(_) if e.kind == event_rule::EventKind::Synchronization => {
                    "the round is over; the event completes when a Completion event has sealed every mapping"
                        .to_string()
                }
                Ok(_) => "ready to complete at the scheduler's next step".to_string(),
                Err(err) => err.message().to_string(),
            },
        };
        (Some(completion), Some(text))
    } else if e.state == EventState::Completed {
        (None, Some("completed".to_string()))
    } else {
        (None, None)
    };
    let tenant = db::load_tenant(&*st.programme, p.tenant).await?;
    let eligibility = tenant.eligibility(&st.settings);
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
        "grade": worst.map(|i| GRADES[i]),
        "completion": completion,
        "completion_text": completion_text,
        "totals": totals,
    });
    Ok(Summary {
        head,
        counts,
        last_approval,
    })
}
