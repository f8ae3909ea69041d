//! A pass a server asked to wait longer than `max_wait_in_pass_secs` (issue 12 §3: a `Retry-After` or
//! Exchange's "Suggested Backoff Time" re-enqueues the pass instead of sleeping in a worker).
//!
//! The engine stopped the pass at a checkpoint (what it copied is journalled; unconfirmed appends stay
//! `pending` and are reconciled when it resumes) and reported the wait ([`ferry_engine::ServerWait`]). Here
//! the worker gives the pass's lease back with `run_after` = the end of the wait, so no slot is held
//! meanwhile; the pass stays `running` — it did not fail, so no attempt is used — and the report shows it
//! queued until then. An audit entry and a log line say which server asked. The queue
//! (or, without one, this process) runs it again at `run_after`; the engine resumes where it stopped.

use crate::db::{self, Change, Project};
use crate::programme::MappingView;
use crate::{ApiResult, AppState};
use chrono::{DateTime, Utc};
use ferry_core::id::EventId;
use ferry_core::programme::PassKind;
use ferry_engine::ServerWait;
use ferry_store::programme::Lease;
use serde_json::json;

/// When a pass that stopped at `now` for `wait` may run again.
pub(crate) fn run_after(now: DateTime<Utc>, wait: &ServerWait) -> DateTime<Utc> {
    now + chrono::Duration::seconds(i64::try_from(wait.secs).unwrap_or(i64::from(u32::MAX)))
}

/// Without a queue: wait (holding no slot) until `until`, then return `true` to claim and run the pass
/// again; `false` on a drain (the process is stopping: the pass stays given back). Another stop (pause,
/// cancel) is read when the pass runs again and ends it there.
pub(crate) async fn sleep_until(
    stop: &mut tokio::sync::watch::Receiver<Option<String>>,
    until: DateTime<Utc>,
    drain: &str,
) -> bool {
    let left = (until - Utc::now()).to_std().unwrap_or_default();
    let deadline = tokio::time::Instant::now() + left;
    let drained = tokio::select! {
        () = tokio::time::sleep_until(deadline) => return true,
        r = stop.wait_for(|r| r.as_deref() == Some(drain)) => r.is_ok(),
    };
    if drained {
        return false;
    }
    tokio::time::sleep_until(deadline).await;
    true
}

/// Give `lease`'s pass back until `until`, and record which server asked. `false` when the pass was taken
/// over before (fenced): the caller then queues nothing.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn release(
    st: &AppState,
    project: &Project,
    event: EventId,
    mapping: &MappingView,
    pass_id: &str,
    kind: PassKind,
    lease: &Lease,
    wait: &ServerWait,
    until: DateTime<Utc>,
) -> bool {
    match st.programme.release_pass(lease, Some(until)).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(pass = %pass_id, "fenced: the pass was taken over before it was given back for its wait");
            return false;
        }
        Err(e) => {
            tracing::error!(pass = %pass_id, error = %e, "cannot give a waiting pass back; its lease expires instead");
            return false;
        }
    }
    let server = server(st, project, wait).await;
    tracing::info!(
        project = %project.name,
        mapping = %mapping.label,
        kind = kind.as_str(),
        pass = %pass_id,
        event_id = %event,
        server = %server,
        wait_secs = wait.secs,
        until = %until.to_rfc3339(),
        reason = %wait.reason,
        "pass queued: the server asked to wait; its slot is given back until then"
    );
    if let Err(e) = audit(st, project, event, mapping, pass_id, wait, &server, until).await {
        tracing::warn!(pass = %pass_id, error = %e.message, "cannot record a pass's wait in the audit log");
    }
    true
}

/// The server that asked: the endpoint URL of the side that answered (the side named, else the target).
async fn server(st: &AppState, project: &Project, wait: &ServerWait) -> String {
    let side = wait.side.as_deref().unwrap_or("target");
    let url = st
        .programme
        .endpoints(project.id)
        .await
        .ok()
        .and_then(|rows| rows.into_iter().find(|e| e.side == side).map(|e| e.url));
    match url {
        Some(u) => format!("{side} {u}"),
        None => side.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn audit(
    st: &AppState,
    project: &Project,
    event: EventId,
    mapping: &MappingView,
    pass_id: &str,
    wait: &ServerWait,
    server: &str,
    until: DateTime<Utc>,
) -> ApiResult<()> {
    let _w = st.write.lock().await;
    let now = st.clock.now();
    let tx = st.programme.begin().await?;
    db::commit(
        tx,
        db::Actor::Scheduler,
        Change {
            tenant: Some(project.tenant),
            action: "pass.wait",
            target: format!("event/{event}/mapping/{}/pass/{pass_id}", mapping.id),
            before: Some(json!({ "outcome": "running" })),
            after: Some(json!({
                "outcome": "running", "waiting_until": until.to_rfc3339(), "server": server,
                "wait_secs": wait.secs, "reason": wait.reason,
            })),
        },
        now,
    )
    .await?;
    Ok(())
}
