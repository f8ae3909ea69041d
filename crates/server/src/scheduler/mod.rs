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

mod dispatch;
mod wait;
mod workers;

pub use dispatch::{dispatch_pass, run_job};
pub use workers::{PASS_SLOTS, ProgressGuard, Workers, spawn_pass};

use crate::db::{self, Change, Project, ts};
use crate::programme::apply_actions;
use crate::programme::events::{self, Event, set_event_state};
use crate::programme::passes::{MappingStatus, approvals, insert_pass, mapping_statuses, outcomes};
use crate::{ApiError, ApiResult, AppState};
use chrono::{DateTime, Utc};
use ferry_core::id::EventId;
use ferry_core::programme::event::{self as event_rule, EventKind, EventState};
use ferry_core::programme::gate::{GatedAction, check_gates};
use ferry_core::programme::lifecycle::{self, Action};
use ferry_core::programme::pass::PassDecision;
use ferry_core::programme::{PassKind, ProjectState, TransactionStatus};
use ferry_store::programme::PassEnd;
use serde_json::{Value, json};

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

/// Run [`tick`] every few seconds until aborted — while this process is the scheduler's leader
/// ([`ferry_store::Leadership`]): of several `ferry serve` processes on one PostgreSQL store only the one
/// holding the leader lock ticks, the others ask again at every turn and take over when it is gone.
pub fn spawn_loop(st: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut leading = None;
        loop {
            let lead = match st.leader.lead().await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot tell whether this process schedules; it does not until it can");
                    false
                }
            };
            if leading != Some(lead) {
                if lead {
                    tracing::info!(worker = %st.worker_id, "this process schedules (the scheduler's leader)");
                } else {
                    tracing::info!(
                        "another process schedules; this one serves the API and takes over if that one stops"
                    );
                }
                leading = Some(lead);
            }
            if lead && let Err(e) = tick(&st).await {
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

/// Passes recorded `running` that no worker holds any more are recorded failed ("interrupted"): without a
/// queue, those not run by this process whose lease expired or whose holder was an earlier start of a
/// process on this machine (killed); with a queue, the queue brings a dead worker's pass back to another
/// worker, which resumes it, so only passes never claimed and not queued would be orphans — none.
async fn reap_orphans(st: &AppState) -> ApiResult<usize> {
    if st.dispatcher().is_some() {
        return Ok(0);
    }
    let _w = st.write.lock().await;
    let wall = chrono::Utc::now();
    let rows = st.programme.pass_leases().await?;
    let orphans: Vec<(String, EventId)> = rows
        .into_iter()
        .filter(|l| !st.workers.is_running(&l.pass))
        // Given back until a server's wait is over (scheduler::wait): its run comes then, give or take a
        // lease's length.
        .filter(|l| {
            l.owner.is_some()
                || l.run_after.is_none_or(|t| {
                    t + chrono::Duration::from_std(st.leases().ttl()).unwrap_or_default() < wall
                })
        })
        .filter(|l| {
            !l.held_at(wall)
                || l.owner
                    .as_deref()
                    .is_some_and(|o| st.worker_id.is_dead_local(o))
        })
        .map(|l| (l.pass, l.event))
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
    st.feed.event_changed(e.id);
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
        st.feed.event_changed(e.id);
        e.state = EventState::Running;
        changes += 1;
    }
    if e.state == EventState::Running {
        if !due.is_empty() {
            // Only as many as there are free slots: a pass recorded `running` runs, and the rest start at a
            // later step (settle steps until nothing is due). With a queue, the workers' slots bound how
            // many run; every due pass is queued.
            let free = if st.dispatcher().is_some() {
                usize::MAX
            } else {
                PASS_SLOTS.saturating_sub(st.workers.running())
            };
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
                dispatch_pass(
                    st,
                    project.clone(),
                    e.id,
                    s.mapping.clone(),
                    pass_id,
                    *kind,
                    txn.id,
                )
                .await?;
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
        st.feed.event_changed(e.id);
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
    let mut report = crate::programme::reports::event_report(st, project, e, now).await?;
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
    st.feed.event_changed(e.id);
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

#[cfg(test)]
mod tests {
    use ferry_store::programme::graded_counts;
    use serde_json::{Value, json};

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
}
