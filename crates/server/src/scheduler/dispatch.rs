//! Passes handed to workers: straight to this process's pool, or through the job queue
//! ([`crate::queue`]) to any worker process; and a queued job's run on the worker's side.

use super::workers::{WorkerEnd, run_leased, spawn_pass};
use crate::db::{self, Project};
use crate::programme::MappingView;
use crate::programme::mappings::load_mappings;
use crate::queue::PassJob;
use crate::{ApiError, ApiResult, AppState};
use chrono::Utc;
use ferry_core::id::{EventId, TransactionId};
use ferry_core::programme::PassKind;

/// Hand a recorded pass to a worker: push it to the queue when the process runs with one, else run it
/// here. Call under the write lock, after the pass row is committed.
pub async fn dispatch_pass(
    st: &AppState,
    project: Project,
    event: EventId,
    mapping: MappingView,
    pass_id: String,
    kind: PassKind,
    txn: TransactionId,
) -> ApiResult<()> {
    let Some(queue) = st.dispatcher() else {
        spawn_pass(st, project, event, mapping, pass_id, kind, txn);
        return Ok(());
    };
    let job = PassJob {
        pass: pass_id,
        tenant: project.tenant,
        project: project.id,
        event,
        mapping: mapping.id,
        kind,
        txn,
    };
    queue.push(&job, &job.key(0), None).await?;
    tracing::info!(
        project = %project.name,
        mapping = %mapping.label,
        kind = kind.as_str(),
        pass = %job.pass,
        event_id = %event,
        "pass queued"
    );
    Ok(())
}

/// A queued job, on the worker's side: claim the pass's lease and run it; a pass another worker holds
/// comes back when that lease would expire; an ended pass is done. `Err` only when the store could not
/// be reached (the queue retries the job).
pub async fn run_job(st: AppState, job: PassJob) -> ferry_core::Result<()> {
    let now = Utc::now();
    let leases = st.leases();
    let claimed = st
        .programme
        .claim_pass_capped(
            &job.pass,
            st.worker_id.as_str(),
            now,
            leases.until(now),
            st.settings.tenant_pass_cap,
        )
        .await?;
    let Some(lease) = claimed else {
        let held = st
            .programme
            .pass_leases()
            .await?
            .into_iter()
            .find(|l| l.pass == job.pass);
        let Some(held) = held else {
            tracing::debug!(pass = %job.pass, "a queued pass has ended already; nothing to do");
            return Ok(());
        };
        // Held by a live lease, or waiting for its run_after: look again then.
        let back = held
            .until
            .into_iter()
            .chain(held.run_after)
            .max()
            .filter(|t| *t > now)
            .unwrap_or(now + chrono::Duration::from_std(leases.heartbeat).unwrap_or_default());
        if let Some(q) = st.dispatcher() {
            q.push(&job, &job.wait_key(held.attempt), Some(back))
                .await?;
        }
        match held.owner.as_deref() {
            Some(holder) => {
                tracing::info!(pass = %job.pass, holder, "a queued pass is held by another worker; looked at again when its lease would expire")
            }
            None => {
                tracing::info!(pass = %job.pass, "a queued pass waits (its run-after time, or its tenant runs tenant_pass_cap passes already); looked at again later")
            }
        }
        return Ok(());
    };
    let loaded = load(&st, &job).await;
    let (project, mapping) = match loaded {
        Ok(x) => x,
        Err(e) => {
            // The project or mapping is gone (deleted): give the pass back so the scheduler's reaper ends it.
            let _ = st.programme.release_pass(&lease, None).await;
            tracing::warn!(pass = %job.pass, error = %e.message, "a queued pass's project or mapping cannot be loaded");
            return Ok(());
        }
    };
    tracing::info!(
        project = %project.name,
        mapping = %mapping.label,
        kind = job.kind.as_str(),
        pass = %job.pass,
        worker = %lease.owner,
        attempt = lease.attempt,
        event_id = %job.event,
        "pass started"
    );
    let stop = st.workers.register(&job.pass, job.project, job.event);
    let end = run_leased(
        &st, &project, job.event, &mapping, &job.pass, job.kind, job.txn, &lease, stop,
    )
    .await;
    let again = match &end {
        // Given back: queued again for whichever worker is next.
        WorkerEnd::Drained => Some(None),
        // Stopped before its lease could end unconfirmed, and given back: queued again (a claim is fenced
        // while another worker holds it; the next one reconciles with the target).
        WorkerEnd::LeaseLost => Some(None),
        // Given back for a server's wait: queued again for when it is over. The job ends well, so the
        // queue counts no failed attempt.
        WorkerEnd::Waiting { until, .. } => Some(Some(*until)),
        _ => None,
    };
    if let (Some(at), Some(q)) = (again, st.dispatcher()) {
        q.push(&job, &job.key(lease.attempt), at).await?;
    }
    Ok(())
}

async fn load(st: &AppState, job: &PassJob) -> ApiResult<(Project, MappingView)> {
    let project = db::load_project(&*st.programme, job.tenant, job.project).await?;
    let mapping = load_mappings(st, job.project)
        .await?
        .into_iter()
        .find(|m| m.id == job.mapping)
        .ok_or_else(|| ApiError::not_found(format!("no mapping {} in the project", job.mapping)))?;
    Ok((project, mapping))
}
