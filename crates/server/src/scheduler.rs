//! The scheduler: starts events, runs passes through the engine, grades and completes events, and pauses
//! and offboards idle projects (issue 4 "Events", "Pause / resume / offboard / close").
//!
//! Every decision is a pure rule of [`ferry_core::programme`], called with the clock's `now`:
//! [`lifecycle::tick`] (pause and offboarding), [`check_gates`] (an event starts only when its workload's
//! gates are met), [`pass::next_pass`] (which pass of which mapping is due), [`event::finished_state`] and
//! [`event::complete`] (how a round of passes ends, and whether the event completes). This module loads
//! the data, calls the rule and stores what it returns, with an audit entry, in one database transaction
//! under the service's write lock.
//!
//! One [`tick`] does one step per project at `now`:
//! 1. lifecycle: pause after 30 days without progress, offboard after 30 more days paused without a
//!    confirmed schedule (paused, offboarded and closed projects run nothing);
//! 2. events whose start has come move Scheduled → Running (the project to Migrating) — unless a gate is
//!    open, in which case the event stays Scheduled with one audit entry naming the open gates;
//! 3. per mapping of a Running event (or of a Synchronization event whose round ended, when a Delta is
//!    due), a due pass is recorded `running` and handed to a worker ([`workload::run_pass`]);
//! 4. when no mapping of a Running event has a pass running or due, the round ends: Done, DoneWithErrors
//!    or NeedsApproval from the mappings' grades; a Completion event that may complete is Completed with its
//!    final report; a Synchronization event completes once all its mappings are sealed;
//! 5. a project whose events are all over, with every mapping sealed, is Completed.
//!
//! [`settle`] ticks and waits for the workers it started until a tick changes nothing: tests and
//! `ferry quickstart` move a [`crate::ManualClock`] and call it, so weeks pass in seconds, deterministically.
//!
//! Choices where the issue is silent:
//! - A mapping's grade is taken over its whole journal (every message any pass discovered), not over the
//!   last pass alone: a Final pass that copies 3 new messages does not hide 40 skipped by the Initial one.
//! - A Final pass with failed items is a failed pass (the engine does not seal such a mapping either): it is
//!   retried, and after the attempt limit the mapping is Failed. Initial and Delta passes with item failures
//!   succeed, and their grade says how well.
//! - A pass interrupted by a server restart is recorded failed ("interrupted") at the next tick, so it counts
//!   as an attempt and is retried.

use crate::api::events::{self, Event, set_event_state};
use crate::db::{self, Change, Project, TransactionRef, parse_ts, ts};
use crate::programme::{MappingView, apply_actions, load_mappings};
use crate::{ApiError, ApiResult, AppState, workload};
use chrono::{DateTime, Utc};
use ferry_core::grade::Grade;
use ferry_core::id::{EventId, MappingId, ProjectId, TransactionId, UserId};
use ferry_core::programme::event::{
    self as event_rule, EventKind, EventState, MappingOutcome, MappingResult, SkippedApproval,
};
use ferry_core::programme::gate::{GatedAction, check_gates};
use ferry_core::programme::lifecycle::{self, Action};
use ferry_core::programme::pass::{self, EventContext, PassDecision, PassOutcome, PassRecord};
use ferry_core::programme::role::Role;
use ferry_core::programme::{PassKind, ProjectState, TransactionStatus};
use ferry_engine::progress::{Progress, ProgressSnapshot};
use ferry_store::JournalReads;
use ferry_store::RunStatus;
use ferry_store::programme::{NewPass, PassEnd, Programme};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

/// Passes that run at once in this process (each is one mailbox or one file tree; throughput comes from
/// many of them, bounded so the store's connections are not exhausted).
pub const PASS_SLOTS: usize = ferry_core::limits::DEFAULT_CONCURRENCY;

/// One running pass: whose it is and how to stop it.
struct RunningPass {
    project: ProjectId,
    event: EventId,
    stop: watch::Sender<Option<String>>,
}

/// Running workers, so pause, close and cancel can stop them.
pub struct Workers {
    /// By prog_pass id. A pass is in here from the moment its row is written `running` until its outcome
    /// is recorded, both under the write lock.
    running: Mutex<HashMap<String, RunningPass>>,
    /// Worker tasks not yet awaited (see [`wait_for_workers`]).
    handles: Mutex<Vec<JoinHandle<()>>>,
    slots: Arc<Semaphore>,
    /// Live counters of running passes, by mapping (a mapping never runs two passes at once).
    progress: Mutex<HashMap<MappingId, Arc<Progress>>>,
}

/// Keeps a pass's live counters visible to reports until dropped.
pub struct ProgressGuard<'a> {
    workers: &'a Workers,
    mapping: MappingId,
}

impl Drop for ProgressGuard<'_> {
    fn drop(&mut self) {
        self.workers
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.mapping);
    }
}

impl Default for Workers {
    fn default() -> Self {
        Workers {
            running: Mutex::new(HashMap::new()),
            handles: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(PASS_SLOTS)),
            progress: Mutex::new(HashMap::new()),
        }
    }
}

impl Workers {
    /// Stop the project's running passes: each is abandoned where it is (the engine's journal keeps what
    /// was copied) and recorded failed with reason "stopped: …".
    pub fn stop_project(&self, project: ProjectId) {
        self.stop_where(
            |r| r.project == project,
            "stopped: the project's workers were stopped (paused, offboarded or closed)",
        );
    }

    /// Stop the event's running passes (recorded failed with reason "stopped: …").
    pub fn stop_event(&self, event: EventId) {
        self.stop_where(|r| r.event == event, "stopped: the event was cancelled");
    }

    fn stop_where(&self, pick: impl Fn(&RunningPass) -> bool, reason: &str) {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        for r in running.values().filter(|r| pick(r)) {
            r.stop.send_if_modified(|cur| {
                if cur.is_none() {
                    *cur = Some(reason.to_string());
                    true
                } else {
                    false
                }
            });
        }
    }

    /// Show `progress` as the live counters of `mapping`'s running pass (in its event's report) until the
    /// guard is dropped. The workloads call this with the counters they hand to the engine.
    pub fn track(&self, mapping: MappingId, progress: Arc<Progress>) -> ProgressGuard<'_> {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(mapping, progress);
        ProgressGuard {
            workers: self,
            mapping,
        }
    }

    /// The live counters of `mapping`'s running pass, if it has one that reports them.
    pub fn progress(&self, mapping: MappingId) -> Option<ProgressSnapshot> {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&mapping)
            .map(|p| p.snapshot())
    }

    /// How many passes run now.
    pub fn running(&self) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn is_running(&self, pass: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(pass)
    }

    fn register(
        &self,
        pass: &str,
        project: ProjectId,
        event: EventId,
    ) -> watch::Receiver<Option<String>> {
        let (tx, rx) = watch::channel(None);
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                pass.to_string(),
                RunningPass {
                    project,
                    event,
                    stop: tx,
                },
            );
        rx
    }

    fn unregister(&self, pass: &str) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(pass);
    }

    fn push_handle(&self, h: JoinHandle<()>) {
        let mut hs = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        hs.retain(|h| !h.is_finished());
        hs.push(h);
    }

    fn take_handles(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *self.handles.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// One scheduler step at the clock's `now`.
pub async fn tick(st: &AppState) -> ApiResult<()> {
    step(st).await.map(|_| ())
}

/// Tick and wait for the passes it started, until a tick starts nothing new: what tests and
/// `ferry quickstart` call after moving the clock.
pub async fn settle(st: &AppState) -> ApiResult<()> {
    const MAX_STEPS: usize = 1000;
    for _ in 0..MAX_STEPS {
        let changes = step(st).await?;
        let waited = wait_for_workers(st).await;
        if changes == 0 && waited == 0 {
            return Ok(());
        }
    }
    Err(ApiError::internal(format!(
        "the scheduler did not settle after {MAX_STEPS} steps; something changes at every tick (a bug)"
    )))
}

/// Wait for every worker started so far (by ticks or by launch/retry requests) to record its outcome.
/// Returns how many were waited for.
pub async fn wait_for_workers(st: &AppState) -> usize {
    let mut n = 0;
    loop {
        let hs = st.workers.take_handles();
        if hs.is_empty() {
            return n;
        }
        for h in hs {
            n += 1;
            if let Err(e) = h.await {
                tracing::error!(error = %e, "a pass worker ended abnormally");
            }
        }
    }
}

/// Run [`tick`] every few seconds until aborted.
pub fn spawn_loop(st: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = tick(&st).await {
                tracing::warn!(error = %e.message, "scheduler tick failed");
            }
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    })
}

/// One step over every project; returns how many things changed (passes started, states moved).
async fn step(st: &AppState) -> ApiResult<usize> {
    let mut changes = reap_orphans(st).await?;
    for p in db::all_projects(&*st.programme).await? {
        if matches!(p.state, ProjectState::Closed | ProjectState::Offboarded) {
            continue;
        }
        match step_project(st, &p).await {
            Ok(n) => changes += n,
            Err(e) => {
                tracing::warn!(project = %p.id, error = %e.message, "scheduler step failed for a project")
            }
        }
    }
    Ok(changes)
}

/// Passes recorded `running` without a worker (the server stopped during them) are recorded failed.
async fn reap_orphans(st: &AppState) -> ApiResult<usize> {
    let _w = st.write.lock().await;
    let rows = st.programme.running_passes().await?;
    let orphans: Vec<(String, EventId)> = rows
        .into_iter()
        .filter(|(id, _)| !st.workers.is_running(id))
        .collect();
    if orphans.is_empty() {
        return Ok(0);
    }
    let now = st.clock.now();
    let tx = st.programme.begin().await?;
    for (id, event) in &orphans {
        tx.finish_pass(
            id,
            &PassEnd {
                outcome: "failed".into(),
                reason: Some(
                    "interrupted: the server stopped while the pass ran; it counts as an attempt and is retried"
                        .into(),
                ),
                counters: None,
                grade: None,
                run_id: None,
            },
            now,
        )
        .await?;
        let tenant = tx.event_tenant(*event).await?;
        db::record(
            &*tx,
            db::Actor::Scheduler,
            Change {
                tenant,
                action: "pass.interrupted",
                target: format!("event/{event}/pass/{id}"),
                before: Some(json!({ "outcome": "running" })),
                after: Some(json!({ "outcome": "failed", "reason": "interrupted" })),
            },
            TransactionStatus::Completed,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(orphans.len())
}

async fn step_project(st: &AppState, p: &Project) -> ApiResult<usize> {
    let _w = st.write.lock().await;
    let p = db::load_project(&*st.programme, p.tenant, p.id).await?;
    let now = st.clock.now();
    if let Some(n) = lifecycle_step(st, &p, now).await? {
        return Ok(n);
    }
    if !p.state.is_active() {
        return Ok(0);
    }
    let mut changes = 0;
    let mut project = p.clone();
    for e in events::project_events(&*st.programme, p.id, &[]).await? {
        match e.state {
            EventState::Scheduled if e.start <= now => {
                changes += start_event(st, &mut project, &e, now).await?;
                if project.state == ProjectState::Migrating {
                    let e = events::load_event(&*st.programme, p.id, e.id).await?;
                    if e.state == EventState::Running {
                        changes += drive_event(st, &project, e, now).await?;
                    }
                }
            }
            EventState::Running
            | EventState::Done
            | EventState::DoneWithErrors
            | EventState::NeedsApproval => {
                changes += drive_event(st, &project, e, now).await?;
            }
            _ => {}
        }
    }
    changes += complete_project(st, &project, now).await?;
    Ok(changes)
}

/// Pause or offboard the project when its time has come. `Some(changes)` when it did.
async fn lifecycle_step(
    st: &AppState,
    p: &Project,
    now: DateTime<Utc>,
) -> ApiResult<Option<usize>> {
    let confirmed = st.programme.schedule_confirmed(p.id, now).await?;
    let actions = lifecycle::tick(
        p.state,
        p.last_progress,
        p.paused_since,
        confirmed,
        now,
        &st.settings,
    );
    let Some(to) = actions.iter().find_map(|a| match a {
        Action::SetState { to, .. } => Some(*to),
        _ => None,
    }) else {
        return Ok(None);
    };
    let (action, why) = if to == ProjectState::Paused {
        (
            "project.pause",
            format!(
                "no progress for {} days (since {})",
                st.settings.pause_after_days,
                ts(p.last_progress)
            ),
        )
    } else {
        (
            "project.offboard",
            format!(
                "paused for {} days without a confirmed schedule",
                st.settings.offboard_after_days
            ),
        )
    };
    let tx = st.programme.begin().await?;
    let done = apply_actions(st, &*tx, p, &actions, now).await?;
    db::commit(
        tx,
        db::Actor::Scheduler,
        Change {
            tenant: Some(p.tenant),
            action,
            target: format!("project/{}", p.id),
            before: Some(json!({ "state": p.state })),
            after: Some(json!({ "state": to, "reason": why, "actions": done })),
        },
        now,
    )
    .await?;
    tracing::info!(project = %p.id, to = %to.as_str(), reason = %why, "project lifecycle");
    Ok(Some(1))
}

/// Start an event whose time has come, or hold it while a gate is open.
async fn start_event(
    st: &AppState,
    project: &mut Project,
    e: &Event,
    now: DateTime<Utc>,
) -> ApiResult<usize> {
    let gates = db::gates(&*st.programme, project.id).await?;
    if let Err(refusal) = check_gates(
        project.workload,
        project.source_system,
        &gates,
        GatedAction::StartEvent,
    ) {
        let reason = refusal.message().to_string();
        let target = format!("event/{}", e.id);
        let last = st.programme.last_audit_after("event.held", &target).await?;
        let same = last
            .and_then(|a| serde_json::from_str::<Value>(&a).ok())
            .is_some_and(|a| a["reason"] == reason.as_str());
        if !same {
            let tx = st.programme.begin().await?;
            db::record(
                &*tx,
                db::Actor::Scheduler,
                Change {
                    tenant: Some(project.tenant),
                    action: "event.held",
                    target,
                    before: Some(json!({ "state": e.state })),
                    after: Some(json!({ "state": e.state, "reason": reason })),
                },
                TransactionStatus::OnHold,
                now,
            )
            .await?;
            tx.commit().await?;
        }
        return Ok(0);
    }
    let tx = st.programme.begin().await?;
    set_event_state(&*tx, e, EventState::Running, now).await?;
    db::record(
        &*tx,
        db::Actor::Scheduler,
        Change {
            tenant: Some(project.tenant),
            action: "event.start",
            target: format!("event/{}", e.id),
            before: Some(json!({ "state": e.state })),
            after: Some(json!({ "state": EventState::Running, "start": e.start })),
        },
        TransactionStatus::Completed,
        now,
    )
    .await?;
    // Draft → Assessing → Ready → Migrating, one audited step at a time.
    let path: &[ProjectState] = match project.state {
        ProjectState::Draft => &[
            ProjectState::Assessing,
            ProjectState::Ready,
            ProjectState::Migrating,
        ],
        ProjectState::Assessing => &[ProjectState::Ready, ProjectState::Migrating],
        ProjectState::Ready => &[ProjectState::Migrating],
        _ => &[],
    };
    for next in path {
        db::set_project_state(&*tx, project, *next, now).await?;
        db::record(
            &*tx,
            db::Actor::Scheduler,
            Change {
                tenant: Some(project.tenant),
                action: "project.state",
                target: format!("project/{}", project.id),
                before: Some(json!({ "state": project.state })),
                after: Some(json!({ "state": next, "reason": format!("event {} started", e.id) })),
            },
            TransactionStatus::Completed,
            now,
        )
        .await?;
        project.state = *next;
    }
    db::touch_project(&*tx, project.id, now).await?;
    tx.commit().await?;
    tracing::info!(
        project = %project.name,
        event = %e.name,
        kind = %db::enum_name(&e.kind),
        pilot = e.pilot,
        mappings = e.mappings.len(),
        event_id = %e.id,
        "event started"
    );
    Ok(1)
}

/// One mapping of an event with its pass history and what should happen now.
pub(crate) struct MappingStatus {
    pub mapping: MappingView,
    pub history: Vec<StoredPass>,
    pub decision: PassDecision,
}

impl MappingStatus {
    /// This event's passes of the mapping, oldest first.
    pub fn mine(&self, event: EventId) -> impl Iterator<Item = &StoredPass> {
        self.history.iter().filter(move |p| p.event == event)
    }
}

/// The mappings of `e` with their decisions at `now`.
pub(crate) async fn mapping_statuses(
    st: &AppState,
    project: &Project,
    e: &Event,
    now: DateTime<Utc>,
) -> ApiResult<Vec<MappingStatus>> {
    let ctx = EventContext {
        id: e.id,
        kind: e.kind,
        start: e.start,
    };
    let all = load_mappings(st, project.id).await?;
    // Every pass of the event's mappings, in any event, in one query.
    let rows = st.programme.event_mapping_passes(e.id).await?;
    let mut by_mapping: HashMap<MappingId, Vec<StoredPass>> = HashMap::new();
    for p in rows {
        by_mapping.entry(p.mapping).or_default().push(p);
    }
    let logins = logins_supplied(st, project).await?;
    let mut out = Vec::new();
    for m in all.into_iter().filter(|m| e.mappings.contains(&m.id)) {
        let history = by_mapping.remove(&m.id).unwrap_or_default();
        let records = decision_records(&history, logins_changed_at(&logins, m.id));
        let decision = pass::next_pass(&ctx, &records, now, &st.settings);
        out.push(MappingStatus {
            mapping: m,
            history,
            decision,
        });
    }
    Ok(out)
}

/// When each credential of the project was last supplied, by owner.
pub(crate) async fn logins_supplied(
    st: &AppState,
    project: &Project,
) -> ApiResult<HashMap<String, DateTime<Utc>>> {
    let rows = st.programme.credentials_supplied(project.id).await?;
    rows.into_iter()
        .map(|(owner, at)| Ok((owner, parse_ts(&at)?)))
        .collect()
}

/// When `mapping`'s logins last changed: its own credentials or the project's endpoint credentials.
pub(crate) fn logins_changed_at(
    logins: &HashMap<String, DateTime<Utc>>,
    mapping: MappingId,
) -> Option<DateTime<Utc>> {
    [
        format!("mapping:{mapping}:source"),
        format!("mapping:{mapping}:target"),
        "endpoint:source".to_string(),
        "endpoint:target".to_string(),
    ]
    .iter()
    .filter_map(|o| logins.get(o).copied())
    .max()
}

/// The pass records the rules decide on: a pass that failed before the mapping's logins last changed no
/// longer counts as an attempt, so a corrected credential gives the mapping fresh attempts (issue 9 item
/// 14); the report still lists every pass.
pub(crate) fn decision_records(
    history: &[StoredPass],
    logins_changed: Option<DateTime<Utc>>,
) -> Vec<PassRecord> {
    history
        .iter()
        .filter(|p| !(p.reason().is_some() && logins_changed.is_some_and(|at| p.started_at < at)))
        .map(StoredPass::record)
        .collect()
}

/// Run what is due for a Running event (or a Synchronization event between rounds), end its round, and
/// complete it when it may.
async fn drive_event(
    st: &AppState,
    project: &Project,
    mut e: Event,
    now: DateTime<Utc>,
) -> ApiResult<usize> {
    let mut changes = 0;
    let statuses = mapping_statuses(st, project, &e, now).await?;
    let due: Vec<(&MappingStatus, PassKind, u32)> = statuses
        .iter()
        .filter_map(|s| match s.decision {
            PassDecision::Run { kind, attempt } => Some((s, kind, attempt)),
            _ => None,
        })
        .collect();
    let between_rounds = e.state.is_finished_round();
    if between_rounds && e.kind == EventKind::Synchronization && !due.is_empty() {
        // The next round: Deltas are due.
        let tx = st.programme.begin().await?;
        set_event_state(&*tx, &e, EventState::Running, now).await?;
        db::commit(
            tx,
            db::Actor::Scheduler,
            Change {
                tenant: Some(project.tenant),
                action: "event.round",
                target: format!("event/{}", e.id),
                before: Some(json!({ "state": e.state })),
                after: Some(json!({ "state": EventState::Running, "due": due.len() })),
            },
            now,
        )
        .await?;
        e.state = EventState::Running;
        changes += 1;
    }
    if e.state == EventState::Running {
        if !due.is_empty() {
            // Only as many as there are free slots: a pass recorded `running` runs, and the rest start at a
            // later step (settle steps until nothing is due).
            let free = PASS_SLOTS.saturating_sub(st.workers.running());
            for (s, kind, attempt) in due.iter().take(free) {
                let tx = st.programme.begin().await?;
                let (pass_id, txn) = insert_pass(
                    &*tx,
                    db::Actor::Scheduler,
                    project,
                    e.id,
                    &s.mapping,
                    *kind,
                    *attempt,
                    "pass.start",
                    now,
                )
                .await?;
                tx.commit().await?;
                spawn_pass(
                    st,
                    project.clone(),
                    e.id,
                    s.mapping.clone(),
                    pass_id,
                    *kind,
                    txn.id,
                );
                changes += 1;
            }
            return Ok(changes);
        }
        let busy = statuses
            .iter()
            .any(|s| matches!(s.decision, PassDecision::Running { .. }));
        if busy {
            return Ok(changes);
        }
        // The round ended.
        let outcomes = outcomes(&e, &statuses, false);
        let to = event_rule::finished_state(&outcomes, &st.settings.grade);
        let grade = event_rule::event_grade(&outcomes, &st.settings.grade);
        let tx = st.programme.begin().await?;
        set_event_state(&*tx, &e, to, now).await?;
        db::commit(
            tx,
            db::Actor::Scheduler,
            Change {
                tenant: Some(project.tenant),
                action: "event.round_end",
                target: format!("event/{}", e.id),
                before: Some(json!({ "state": e.state })),
                after: Some(json!({ "state": to, "grade": grade })),
            },
            now,
        )
        .await?;
        tracing::info!(
            project = %project.name,
            event = %e.name,
            state = %to,
            grade = %grade,
            event_id = %e.id,
            "event round ended"
        );
        e.state = to;
        changes += 1;
    }
    if e.state.is_finished_round() {
        changes += try_complete(st, project, &e, &statuses, now).await?;
    }
    Ok(changes)
}

/// Complete a Completion event whose round may complete, or a Synchronization event whose mappings are all
/// sealed.
async fn try_complete(
    st: &AppState,
    project: &Project,
    e: &Event,
    statuses: &[MappingStatus],
    now: DateTime<Utc>,
) -> ApiResult<usize> {
    let all_sealed = statuses
        .iter()
        .all(|s| matches!(s.decision, PassDecision::Sealed));
    let (outcomes, approvals) = match e.kind {
        EventKind::Completion => (
            outcomes(e, statuses, false),
            approvals(st, project, e, false).await?,
        ),
        EventKind::Synchronization if all_sealed => (
            outcomes(e, statuses, true),
            approvals(st, project, e, true).await?,
        ),
        EventKind::Synchronization => return Ok(0),
    };
    if event_rule::complete(e.state, &outcomes, &approvals, &st.settings.grade).is_err() {
        // NeedsApproval waits for an approval; DoneWithErrors cannot complete (the report says why).
        return Ok(0);
    }
    let mut report = crate::api::runs::event_report(st, project, e, now).await?;
    report["final"] = json!(true);
    report["event"]["state"] = json!(EventState::Completed);
    report["event"]["completed_at"] = json!(now);
    report["completion_text"] = json!("completed");
    let tx = st.programme.begin().await?;
    set_event_state(&*tx, e, EventState::Completed, now).await?;
    tx.set_final_report(e.id, &report.to_string()).await?;
    db::touch_project(&*tx, project.id, now).await?;
    db::commit(
        tx,
        db::Actor::Scheduler,
        Change {
            tenant: Some(project.tenant),
            action: "event.complete",
            target: format!("event/{}", e.id),
            before: Some(json!({ "state": e.state })),
            after: Some(json!({ "state": EventState::Completed, "grade": report["grade"] })),
        },
        now,
    )
    .await?;
    tracing::info!(
        project = %project.name,
        event = %e.name,
        grade = %report["grade"].as_str().unwrap_or("-"),
        event_id = %e.id,
        "event completed"
    );
    Ok(1)
}

/// A project whose events are all over (at least one Completed) and whose mappings are all sealed is
/// Completed.
async fn complete_project(st: &AppState, p: &Project, now: DateTime<Utc>) -> ApiResult<usize> {
    if p.state != ProjectState::Migrating {
        return Ok(0);
    }
    let evs = events::project_events(&*st.programme, p.id, &[]).await?;
    let all_over = evs.iter().all(|e| e.state.is_terminal());
    let any_completed = evs.iter().any(|e| e.state == EventState::Completed);
    if !all_over || !any_completed {
        return Ok(0);
    }
    let unsealed = st.programme.unsealed_mappings(p.id).await?;
    if unsealed > 0 {
        return Ok(0);
    }
    let tx = st.programme.begin().await?;
    db::set_project_state(&*tx, p, ProjectState::Completed, now).await?;
    db::commit(
tx,
        db::Actor::Scheduler,
        Change {
            tenant: Some(p.tenant),
            action: "project.complete",
            target: format!("project/{}", p.id),
            before: Some(json!({ "state": p.state })),
            after: Some(json!({ "state": ProjectState::Completed, "reason": "every event is over and every mapping is sealed" })),
        },
now,
)
.await?;
    Ok(1)
}

/// The mappings' results in `e`'s last round (`latest`: the mapping's latest result in any event, for a
/// Synchronization event whose mappings were sealed by a Completion event).
pub(crate) fn outcomes(e: &Event, statuses: &[MappingStatus], latest: bool) -> Vec<MappingOutcome> {
    let mut out = Vec::new();
    for s in statuses {
        let pool: Vec<&StoredPass> = if latest {
            s.history.iter().collect()
        } else {
            s.mine(e.id).collect()
        };
        let last_done = pool.iter().rev().find(|p| p.finished_at.is_some());
        if let PassDecision::Failed { reason, .. } = &s.decision {
            out.push(MappingOutcome {
                mapping: s.mapping.id,
                result: MappingResult::Failed {
                    reason: reason.clone(),
                },
                finished_at: last_done.and_then(|p| p.finished_at).unwrap_or(e.start),
            });
            continue;
        }
        let ok = pool
            .iter()
            .rev()
            .find(|p| p.outcome == PassOutcome::Succeeded)
            .copied()
            .or_else(|| {
                // Sealed by another event before this one ran it: its latest result counts.
                matches!(s.decision, PassDecision::Sealed)
                    .then(|| {
                        s.history
                            .iter()
                            .rev()
                            .find(|p| p.outcome == PassOutcome::Succeeded)
                    })
                    .flatten()
            });
        if let Some(p) = ok {
            let (discovered, skipped, failed) = p.graded_counts();
            out.push(MappingOutcome {
                mapping: s.mapping.id,
                result: MappingResult::Graded {
                    discovered,
                    skipped,
                    failed,
                },
                finished_at: p.finished_at.unwrap_or(p.started_at),
            });
        }
    }
    out
}

/// The approvals of skipped items recorded for `event`'s mappings — in `event`, or in any event when
/// `any_event` — with the approver's role on the tenant now (the operator counts as customer-admin).
pub(crate) async fn approvals(
    st: &AppState,
    project: &Project,
    event: &Event,
    any_event: bool,
) -> ApiResult<Vec<SkippedApproval>> {
    let rows = st.programme.approvals(event.id, any_event).await?;
    let mut roles: HashMap<UserId, Option<Role>> = HashMap::new();
    let mut out = Vec::new();
    for a in rows {
        let role = match roles.get(&a.by) {
            Some(r) => *r,
            None => {
                let r = approver_role(st, project, a.by).await?;
                roles.insert(a.by, r);
                r
            }
        };
        let Some(role) = role else { continue };
        out.push(SkippedApproval {
            mapping: a.mapping,
            by: a.by,
            role,
            at: a.at,
        });
    }
    Ok(out)
}

/// The role `user` holds on the project's tenant now (the operator: customer-admin).
pub(crate) async fn approver_role(
    st: &AppState,
    project: &Project,
    user: UserId,
) -> ApiResult<Option<Role>> {
    if st.programme.user_is_operator(user).await? == Some(true) {
        return Ok(Some(Role::CustomerAdmin));
    }
    let role = st.programme.member_role(project.tenant, user).await?;
    Ok(role.and_then(|r| Role::from_str(&r).ok()))
}

// --- passes ---------------------------------------------------------------------------------------------

pub use ferry_store::programme::{StoredPass, graded_counts};

/// Every pass of a mapping, in any event, oldest first.
pub async fn mapping_passes(
    store: &dyn Programme,
    mapping: MappingId,
) -> ApiResult<Vec<StoredPass>> {
    Ok(store.mapping_passes(mapping).await?)
}

/// Every pass of an event, oldest first.
pub async fn event_passes(store: &dyn Programme, event: EventId) -> ApiResult<Vec<StoredPass>> {
    Ok(store.event_passes(event).await?)
}

/// Record a pass `running` with its audit entry and an in-progress transaction (which the worker moves to
/// completed or failed), inside the caller's database transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_pass(
    tx: &dyn Programme,
    actor: db::Actor,
    project: &Project,
    event: EventId,
    mapping: &MappingView,
    kind: PassKind,
    attempt: u32,
    action: &'static str,
    now: DateTime<Utc>,
) -> ApiResult<(String, TransactionRef)> {
    let id = uuid::Uuid::now_v7().to_string();
    tx.insert_pass(&NewPass {
        id: id.clone(),
        event,
        mapping: mapping.id,
        kind,
        attempt,
        at: now,
    })
    .await?;
    let txn = db::record(
        tx,
        actor,
        Change {
            tenant: Some(project.tenant),
            action,
            target: format!("event/{event}/mapping/{}/pass/{id}", mapping.id),
            before: None,
            after: Some(
                json!({ "pass": id, "mapping": mapping.label, "kind": kind, "attempt": attempt }),
            ),
        },
        TransactionStatus::InProgress,
        now,
    )
    .await?;
    Ok((id, txn))
}

/// Hand an inserted pass to a worker. Call under the write lock, after the pass row is committed.
pub(crate) fn spawn_pass(
    st: &AppState,
    project: Project,
    event: EventId,
    mapping: MappingView,
    pass_id: String,
    kind: PassKind,
    txn: TransactionId,
) {
    let stop = st.workers.register(&pass_id, project.id, event);
    tracing::info!(
        project = %project.name,
        mapping = %mapping.label,
        kind = kind.as_str(),
        pass = %pass_id,
        event_id = %event,
        "pass started"
    );
    let task_st = st.clone();
    let h = tokio::spawn(async move {
        let end = run_worker(&task_st, &project, &mapping, kind, stop).await;
        if let Err(e) = record_end(
            &task_st, &project, event, &mapping, &pass_id, kind, txn, end,
        )
        .await
        {
            tracing::error!(pass = %pass_id, error = %e.message, "cannot record a pass's outcome");
            // The row stays running; the next tick records it interrupted.
            task_st.workers.unregister(&pass_id);
        }
    });
    st.workers.push_handle(h);
}

/// How a worker ended.
enum WorkerEnd {
    Ran(ApiResult<workload::PassResult>),
    Stopped(String),
}

async fn stopped(stop: &mut watch::Receiver<Option<String>>) -> String {
    let reason = match stop.wait_for(Option::is_some).await {
        Ok(r) => Some(r.clone().unwrap_or_default()),
        Err(_) => None,
    };
    match reason {
        Some(r) => r,
        // The sender is gone: nobody can stop this pass any more.
        None => std::future::pending().await,
    }
}

async fn run_worker(
    st: &AppState,
    project: &Project,
    mapping: &MappingView,
    kind: PassKind,
    mut stop: watch::Receiver<Option<String>>,
) -> WorkerEnd {
    let slots = st.workers.slots.clone();
    let _slot = tokio::select! {
        s = slots.acquire_owned() => s.ok(),
        r = stopped(&mut stop) => return WorkerEnd::Stopped(r),
    };
    // Dropping the pass future on a stop drops the engine's tasks with it: nothing more is copied, and the
    // journal keeps what was.
    tokio::select! {
        r = workload::run_pass(st, project, mapping, kind) => WorkerEnd::Ran(r),
        r = stopped(&mut stop) => WorkerEnd::Stopped(r),
    }
}

/// Counts of the engine mapping's journal that `run` worked on.
async fn journal_totals(st: &AppState, run: &str) -> ApiResult<Option<Value>> {
    let Some(mapping) = st.store.run_mapping(run).await? else {
        return Ok(None);
    };
    let counts = st.store.journal_counts(&mapping).await?;
    let rows = counts.by_status;
    let mut j = json!({ "items": 0, "copied": 0, "skipped": 0, "failed": 0, "pending": 0 });
    let mut items = 0i64;
    for (status, n) in rows {
        items += n;
        let cur = j[status.as_str()].as_i64().unwrap_or(0);
        j[status.as_str()] = json!(cur + n);
    }
    j["items"] = json!(items);
    // A folder that could not be read or written hides its messages from the counts: each counts as a
    // failure in the grade until a later pass gets through it.
    j["folder_errors"] = json!(counts.folder_errors);
    Ok(Some(j))
}

#[allow(clippy::too_many_arguments)]
async fn record_end(
    st: &AppState,
    project: &Project,
    event: EventId,
    mapping: &MappingView,
    pass_id: &str,
    kind: PassKind,
    txn: TransactionId,
    end: WorkerEnd,
) -> ApiResult<()> {
    // Outside the lock: the journal counts (reads only).
    let (outcome, counters, grade, run_id) = match end {
        WorkerEnd::Stopped(reason) => (PassOutcome::Failed { reason }, None, None, None),
        WorkerEnd::Ran(Err(e)) => (
            PassOutcome::Failed {
                reason: e.message.clone(),
            },
            None,
            None,
            None,
        ),
        WorkerEnd::Ran(Ok(r)) => {
            let run_id = r.run_id.map(|r| r.to_string());
            let journal = match &run_id {
                Some(run) => journal_totals(st, run).await?,
                None => None,
            };
            let mut counters = serde_json::to_value(r.counters)
                .map_err(|e| ApiError::internal(format!("counters: {e}")))?;
            counters["journal"] = journal.clone().unwrap_or(Value::Null);
            let (d, s, f) = graded_counts(&counters);
            let grade: Grade = st.settings.grade.grade(d, s, f);
            let outcome = match (r.status, &r.error) {
                (RunStatus::Failed, e) => PassOutcome::Failed {
                    reason: e
                        .clone()
                        .unwrap_or_else(|| "the pass failed as a whole".into()),
                },
                (RunStatus::DoneWithErrors, e) if kind == PassKind::Final => PassOutcome::Failed {
                    reason: format!(
                        "{}: a Final pass seals the mapping only when every item was copied or skipped, so it \
                         is retried",
                        match (r.counters.failed, e) {
                            (0, Some(e)) => e.clone(),
                            (0, None) => "a folder could not be read or written".to_string(),
                            (n, _) => format!("{n} item(s) failed"),
                        }
                    ),
                },
                _ => PassOutcome::Succeeded,
            };
            (outcome, Some(counters), Some(grade), run_id)
        }
    };
    let _w = st.write.lock().await;
    let now = st.clock.now();
    let (name, reason) = match &outcome {
        PassOutcome::Failed { reason } => ("failed", Some(reason.clone())),
        PassOutcome::Succeeded => ("succeeded", None),
        PassOutcome::Running => ("running", None),
    };
    let tx = st.programme.begin().await?;
    let updated = tx
        .finish_pass(
            pass_id,
            &PassEnd {
                outcome: name.to_string(),
                reason: reason.clone(),
                counters: counters.as_ref().map(Value::to_string),
                grade: grade.map(|g| g.to_string()),
                run_id: run_id.clone(),
            },
            now,
        )
        .await?;
    if updated {
        db::touch_project(&*tx, project.id, now).await?;
        db::record(
            &*tx,
            db::Actor::Scheduler,
            Change {
                tenant: Some(project.tenant),
                action: "pass.finish",
                target: format!("event/{event}/mapping/{}/pass/{pass_id}", mapping.id),
                before: Some(json!({ "outcome": "running" })),
                after: Some(json!({
                    "kind": kind, "outcome": name, "reason": reason,
                    "counters": counters, "grade": grade.map(|g| g.to_string()),
                })),
            },
            TransactionStatus::Completed,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    st.workers.unregister(pass_id);
    let status = if name == "succeeded" {
        TransactionStatus::Completed
    } else {
        TransactionStatus::Failed
    };
    let detail = match &reason {
        Some(r) => format!("{kind} pass of {} failed: {r}", mapping.label),
        None => format!("{kind} pass of {} succeeded", mapping.label),
    };
    db::set_transaction(&*st.programme, txn, status, Some(&detail), now).await?;
    let n = |k: &str| {
        counters
            .as_ref()
            .and_then(|c| c.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    match &reason {
        None => tracing::info!(
            project = %project.name,
            mapping = %mapping.label,
            kind = kind.as_str(),
            copied = n("copied"),
            skipped = n("skipped"),
            failed = n("failed"),
            grade = grade.map(|g| g.to_string()).unwrap_or_default(),
            pass = %pass_id,
            event_id = %event,
            "pass ended"
        ),
        Some(r) => tracing::warn!(
            project = %project.name,
            mapping = %mapping.label,
            kind = kind.as_str(),
            reason = %r,
            pass = %pass_id,
            event_id = %event,
            "pass failed"
        ),
    }
    Ok(())
}

// --- archive --------------------------------------------------------------------------------------------

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
            None => crate::api::runs::event_report(st, project, &e, now).await?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grade_counts_the_whole_journal_and_a_broken_folder_as_a_failure() {
        let pass_only = json!({ "discovered": 3, "copied": 3, "skipped": 0, "failed": 0 });
        assert_eq!(graded_counts(&pass_only), (3, 0, 0));
        let with_journal = json!({
            "discovered": 3, "copied": 3, "skipped": 0, "failed": 0,
            "journal": { "items": 60, "copied": 58, "skipped": 1, "failed": 0, "pending": 1, "folder_errors": 0 },
        });
        assert_eq!(graded_counts(&with_journal), (60, 1, 1));
        let broken_folder = json!({
            "journal": { "items": 10, "copied": 10, "skipped": 0, "failed": 0, "pending": 0, "folder_errors": 1 },
        });
        assert_eq!(graded_counts(&broken_folder), (11, 0, 1));
        assert_eq!(graded_counts(&Value::Null), (0, 0, 0));
    }

    #[tokio::test]
    async fn stopping_a_project_or_an_event_signals_only_its_passes() {
        let w = Workers::default();
        let (p1, p2) = (ProjectId::new(), ProjectId::new());
        let (e1, e2) = (EventId::new(), EventId::new());
        let mut a = w.register("a", p1, e1);
        let b = w.register("b", p2, e2);
        let mut c = w.register("c", p2, EventId::new());
        w.stop_project(p1);
        assert_eq!(
            stopped(&mut a).await,
            "stopped: the project's workers were stopped (paused, offboarded or closed)"
        );
        assert!(b.borrow().is_none());
        w.stop_event(e2);
        assert!(
            b.borrow()
                .as_deref()
                .is_some_and(|r| r.contains("cancelled"))
        );
        assert!(c.borrow_and_update().is_none());
        // A second stop keeps the first reason.
        w.stop_event(e1);
        assert!(a.borrow().as_deref().is_some_and(|r| r.contains("project")));
        assert_eq!(w.running(), 3);
        w.unregister("a");
        assert_eq!(w.running(), 2);
    }
}
