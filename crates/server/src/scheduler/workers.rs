//! The worker pool of one process: passes run here, each as a task through the engine
//! ([`workload::run_pass`]); pause, close and cancel stop them; a drain (SIGTERM) gives them back.
//!
//! A pass runs under its lease on Ferry's pass row (issue 12 §3, [`crate::queue`]): the worker claims it
//! first, renews it every heartbeat while the engine works, and records the end fenced by (pass, owner,
//! lease attempt). A renewal or an end that finds 0 rows means another worker took the pass over: this one
//! abandons it and writes nothing.

use crate::db::{self, Change, Project};
use crate::programme::MappingView;
use crate::{ApiError, ApiResult, AppState, workload};
use chrono::{DateTime, Utc};
use ferry_core::grade::Grade;
use ferry_core::id::{EventId, MappingId, ProjectId, TransactionId};
use ferry_core::programme::pass::PassOutcome;
use ferry_core::programme::{EventState, PassKind, ProjectState, TransactionStatus};
use ferry_engine::progress::{Progress, ProgressSnapshot};
use ferry_store::RunStatus;
use ferry_store::programme::{Lease, PassEnd, graded_counts};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
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

/// The reason recorded for a pass whose project was stopped (here or on another node).
const STOPPED_PROJECT: &str =
    "stopped: the project's workers were stopped (paused, offboarded or closed)";
/// The reason recorded for a pass whose event was cancelled (here or on another node).
const STOPPED_EVENT: &str = "stopped: the event was cancelled";

/// The stop reason of a drain: the pass is given back (still running) for another worker, not ended.
const DRAIN: &str = "drain: this process is shutting down";

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
        self.stop_where(|r| r.project == project, STOPPED_PROJECT);
    }

    /// Stop the event's running passes (recorded failed with reason "stopped: …").
    pub fn stop_event(&self, event: EventId) {
        self.stop_where(|r| r.event == event, STOPPED_EVENT);
    }

    /// Give every running pass back (SIGTERM): each stops where it is (the journal keeps what was copied)
    /// and its lease is released, so another worker resumes it at once; none is left held.
    pub fn drain(&self) {
        self.stop_where(|_| true, DRAIN);
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

    pub(crate) fn is_running(&self, pass: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(pass)
    }

    pub(crate) fn register(
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

    pub(crate) fn unregister(&self, pass: &str) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(pass);
    }

    pub(crate) fn push_handle(&self, h: JoinHandle<()>) {
        let mut hs = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        hs.retain(|h| !h.is_finished());
        hs.push(h);
    }

    pub(crate) fn take_handles(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *self.handles.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Hand an inserted pass to a worker. Call under the write lock, after the pass row is committed.
pub fn spawn_pass(
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
        let mut stop = stop;
        loop {
            let now = chrono::Utc::now();
            let claimed = task_st
                .programme
                .claim_pass(
                    &pass_id,
                    task_st.worker_id.as_str(),
                    now,
                    task_st.leases().until(now),
                )
                .await;
            let lease = match claimed {
                Ok(Some(lease)) => lease,
                Ok(None) => {
                    tracing::warn!(pass = %pass_id, "the pass is held by another worker or ended; not run here");
                    task_st.workers.unregister(&pass_id);
                    return;
                }
                Err(e) => {
                    tracing::error!(pass = %pass_id, error = %e, "cannot claim a pass; the next tick records it interrupted");
                    task_st.workers.unregister(&pass_id);
                    return;
                }
            };
            let end = run_leased(
                &task_st, &project, event, &mapping, &pass_id, kind, txn, &lease, stop,
            )
            .await;
            // Without a queue, this task brings a pass given back for a server's wait back itself: it
            // holds no slot meanwhile, and stays registered so a stop reaches it.
            let until = match end {
                WorkerEnd::Waiting { until, .. } => until,
                // Stopped before its lease could end unconfirmed, and given back: claim it again (once the
                // database answers; fenced if another worker took it meanwhile).
                WorkerEnd::LeaseLost => chrono::Utc::now(),
                _ => return,
            };
            stop = task_st.workers.register(&pass_id, project.id, event);
            if !super::wait::sleep_until(&mut stop, until, DRAIN).await {
                task_st.workers.unregister(&pass_id);
                return;
            }
        }
    });
    st.workers.push_handle(h);
}

/// Run a claimed pass and record its end under `lease` (or give it back on a drain). Unregisters it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_leased(
    st: &AppState,
    project: &Project,
    event: EventId,
    mapping: &MappingView,
    pass_id: &str,
    kind: PassKind,
    txn: TransactionId,
    lease: &Lease,
    stop: watch::Receiver<Option<String>>,
) -> WorkerEnd {
    // Every path that runs a pass (this process's pool, a queue worker) comes through here: live views on
    // any node hear of its start and end from these two notices.
    st.feed.pass_started(event, mapping.id);
    let end = run_worker(st, project, event, mapping, kind, stop, lease).await;
    let kept = match &end {
        WorkerEnd::Fenced => {
            tracing::warn!(
                pass = %pass_id,
                worker = %lease.owner,
                attempt = lease.attempt,
                "fenced: another worker took this pass over (this one's lease expired); abandoned, nothing written"
            );
            Ok(())
        }
        WorkerEnd::LeaseLost => {
            tracing::warn!(
                pass = %pass_id,
                worker = %lease.owner,
                attempt = lease.attempt,
                "stopped: this pass's lease could not be renewed before its end (is the database down?); nothing more is sent, giving it back"
            );
            match st.programme.release_pass(lease, None).await {
                Ok(true) => {
                    tracing::info!(pass = %pass_id, "pass given back after its lease was lost")
                }
                Ok(false) => {
                    tracing::warn!(pass = %pass_id, "fenced: the pass was taken over before it was given back")
                }
                Err(e) => {
                    tracing::error!(pass = %pass_id, error = %e, "cannot give the pass back; its lease expires instead")
                }
            }
            Ok(())
        }
        WorkerEnd::Drained => {
            match st.programme.release_pass(lease, None).await {
                Ok(true) => {
                    tracing::info!(pass = %pass_id, "pass given back for another worker (drain)")
                }
                Ok(false) => {
                    tracing::warn!(pass = %pass_id, "fenced: the pass was taken over before it was given back")
                }
                Err(e) => {
                    tracing::error!(pass = %pass_id, error = %e, "cannot give the pass back; its lease expires instead")
                }
            }
            Ok(())
        }
        WorkerEnd::Waiting { until, wait } => {
            super::wait::release(
                st, project, event, mapping, pass_id, kind, lease, wait, *until,
            )
            .await;
            Ok(())
        }
        _ => record_end(st, project, event, mapping, pass_id, kind, txn, lease, &end).await,
    };
    if let Err(e) = kept {
        tracing::error!(pass = %pass_id, error = %e.message, "cannot record a pass's outcome; its lease expires and it is taken over");
    }
    st.workers.unregister(pass_id);
    // After the end is recorded (or the pass given back): a view that wakes on it reads the new state.
    st.feed.pass_finished(event, mapping.id);
    end
}

/// How a worker ended.
pub(crate) enum WorkerEnd {
    Ran(ApiResult<workload::PassResult>),
    Stopped(String),
    /// Its lease was taken over: it must write nothing.
    Fenced,
    /// Stopped because its lease's end came without a confirmed renewal ([`keep_lease`]): given back
    /// (fenced, so harmless if another worker took it) and run again, reconciling with the target.
    LeaseLost,
    /// Given back for another worker (SIGTERM).
    Drained,
    /// Stopped at a checkpoint for a server's wait longer than `max_wait_in_pass_secs`: given back until
    /// `until` ([`super::wait`]).
    Waiting {
        until: chrono::DateTime<chrono::Utc>,
        wait: ferry_engine::ServerWait,
    },
}

/// Why [`keep_lease`] returned.
enum LeaseEnd {
    /// A renewal was fenced: another worker holds the pass, or it ended.
    Fenced,
    /// The lease's end (less [`lease_margin`]) came and no renewal was confirmed: another worker may
    /// claim the pass from then on, so this one stops sending before.
    Lost,
    /// The project was stopped or the event cancelled, maybe by another process: stop with this reason.
    Stop(String),
}

/// How long before its lease's end a pass whose renewal was not confirmed stops: room for clocks a
/// little apart between the nodes and the database, and for the stop to reach the engine's tasks.
pub(crate) fn lease_margin(heartbeat: Duration) -> Duration {
    heartbeat / 2
}

/// The instant, on this process's clock, `margin` before a lease ending at `until`.
fn lease_deadline(until: DateTime<Utc>, margin: Duration) -> tokio::time::Instant {
    let left = (until - Utc::now()).to_std().unwrap_or_default();
    tokio::time::Instant::now() + left.saturating_sub(margin)
}

/// Renew `lease` every heartbeat, and read whether the pass's project was stopped (paused, offboarded,
/// closed) or its event cancelled: that may have happened on another node, whose `stop_project` /
/// `stop_event` reaches only its own workers. A notice of the event on the feed reads it at once. A
/// renewal or a read the store could not answer is tried again at the next beat, but never past the
/// lease's end: `valid_until` is the end of the last confirmed lease, and when it comes (less
/// [`lease_margin`]) without a confirmed renewal — the database is down, or a renewal waits for a
/// connection — this returns [`LeaseEnd::Lost`] at once, so the pass stops before another worker may claim
/// it (issue 12: nothing doubled).
async fn keep_lease(
    st: &AppState,
    project: ProjectId,
    event: EventId,
    lease: &Lease,
    valid_until: &mut DateTime<Utc>,
    fence: &ferry_core::fence::Fence,
) -> LeaseEnd {
    let leases = st.leases();
    let margin = lease_margin(leases.heartbeat);
    let mut notices = st.feed.subscribe();
    let mut next_beat = tokio::time::Instant::now() + leases.heartbeat;
    loop {
        let expiry = lease_deadline(*valid_until, margin);
        let beat = tokio::select! {
            () = tokio::time::sleep_until(expiry) => return LeaseEnd::Lost,
            () = tokio::time::sleep_until(next_beat) => true,
            n = notices.recv() => match n {
                Ok(n) => {
                    if n.event != event || n.mapping.is_some() {
                        continue;
                    }
                    false
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => false,
                // No feed any more: heartbeats only.
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    notices = tokio::sync::broadcast::channel(1).1;
                    continue;
                }
            },
        };
        if beat {
            next_beat = tokio::time::Instant::now() + leases.heartbeat;
            let until = leases.until(Utc::now());
            match tokio::time::timeout_at(expiry, st.programme.renew_lease(lease, until)).await {
                Err(_) => return LeaseEnd::Lost,
                Ok(Ok(true)) => {
                    *valid_until = until;
                    fence.set(lease_deadline(until, margin).into_std());
                }
                Ok(Ok(false)) => return LeaseEnd::Fenced,
                Ok(Err(e)) => {
                    tracing::warn!(pass = %lease.pass, error = %e, "cannot renew a pass's lease; trying again until it ends")
                }
            }
        }
        let expiry = lease_deadline(*valid_until, margin);
        match tokio::time::timeout_at(expiry, stop_reason(st, project, event)).await {
            Err(_) => return LeaseEnd::Lost,
            Ok(Ok(Some(reason))) => return LeaseEnd::Stop(reason),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::warn!(pass = %lease.pass, error = %e.message, "cannot read whether a pass was stopped; reading again at the next heartbeat")
            }
        }
    }
}

/// The reason a pass of `project`'s `event` must stop now, as its project's or event's state says.
async fn stop_reason(
    st: &AppState,
    project: ProjectId,
    event: EventId,
) -> ApiResult<Option<String>> {
    let state = st.programme.project_state(project).await?;
    if state.is_some_and(|s| {
        matches!(
            s,
            ProjectState::Paused | ProjectState::Offboarded | ProjectState::Closed
        )
    }) {
        return Ok(Some(STOPPED_PROJECT.to_string()));
    }
    let e = st.programme.load_event(project, event).await?;
    if e.is_some_and(|e| e.state == EventState::Cancelled) {
        return Ok(Some(STOPPED_EVENT.to_string()));
    }
    Ok(None)
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
    event: EventId,
    mapping: &MappingView,
    kind: PassKind,
    mut stop: watch::Receiver<Option<String>>,
    lease: &Lease,
) -> WorkerEnd {
    let stop_end = |r: String| {
        if r == DRAIN {
            WorkerEnd::Drained
        } else {
            WorkerEnd::Stopped(r)
        }
    };
    let lease_end = |e: LeaseEnd| match e {
        LeaseEnd::Fenced => WorkerEnd::Fenced,
        LeaseEnd::Lost => WorkerEnd::LeaseLost,
        LeaseEnd::Stop(r) => WorkerEnd::Stopped(r),
    };
    // The end of the last confirmed lease, kept across both waits below, and the pass's write fence
    // (the same instant less the margin, on this process's clock), moved on with each renewal.
    let mut valid_until = lease.until;
    let fence = ferry_core::fence::Fence::until(
        lease_deadline(valid_until, lease_margin(st.leases().heartbeat)).into_std(),
    );
    let slots = st.workers.slots.clone();
    let _slot = tokio::select! {
        s = slots.acquire_owned() => s.ok(),
        r = stopped(&mut stop) => return stop_end(r),
        e = keep_lease(st, project.id, event, lease, &mut valid_until, &fence) => return lease_end(e),
    };
    // Dropping the pass future on a stop drops the engine's tasks with it: nothing more is copied, and the
    // journal keeps what was.
    tokio::select! {
        r = workload::run_pass(st, project, mapping, kind, &fence) => match r {
            Ok(workload::PassResult { server_wait: Some(wait), .. }) => WorkerEnd::Waiting {
                until: super::wait::run_after(chrono::Utc::now(), &wait),
                wait,
            },
            r => WorkerEnd::Ran(r),
        },
        r = stopped(&mut stop) => stop_end(r),
        e = keep_lease(st, project.id, event, lease, &mut valid_until, &fence) => lease_end(e),
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
    lease: &Lease,
    end: &WorkerEnd,
) -> ApiResult<()> {
    // Outside the lock: the journal counts (reads only).
    let (outcome, counters, grade, run_id) = match end {
        WorkerEnd::Fenced
        | WorkerEnd::LeaseLost
        | WorkerEnd::Drained
        | WorkerEnd::Waiting { .. } => return Ok(()),
        WorkerEnd::Stopped(reason) => (
            PassOutcome::Failed {
                reason: reason.clone(),
            },
            None,
            None,
            None,
        ),
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
        .finish_leased_pass(
            lease,
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
    if !updated {
        tracing::warn!(
            pass = %pass_id,
            worker = %lease.owner,
            attempt = lease.attempt,
            "fenced: the pass was taken over or ended before this worker finished; its outcome is not recorded"
        );
        return Ok(());
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::id::{EventId, ProjectId};

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
