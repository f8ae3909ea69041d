//! Passes dispatched through a job queue (issue 12 §3): apalis 1.0 (`apalis-sqlite` here; `apalis-postgres`
//! for the scaled deployment), behind one thin trait, [`PassDispatcher`] (push / cancel / stats), so the
//! queue can be swapped without touching the scheduler or the workers.
//!
//! Ferry's pass table stays the truth; the queue only says "run pass X". A job carries the pass's ids
//! ([`PassJob`]); the worker that receives it *claims* the pass's lease on Ferry's own row
//! ([`ferry_store::programme::PassQueries::claim_pass`]), renews it every heartbeat, and writes the
//! pass's end fenced by (pass id, lease owner, lease attempt). A worker whose lease expired (it froze, or
//! its machine was cut off) and was claimed again by another writes nothing: its renewal finds 0 rows and
//! it abandons the pass. A job delivered twice finds the pass held or ended and does nothing. That makes
//! the queue's at-least-once delivery safe; the engine's journal makes re-running a pass copy nothing
//! twice.
//!
//! Two rules hold across processes and machines without the queue's help: a worker claims a pass only
//! while the pass's tenant has fewer than `tenant_pass_cap` passes under live leases
//! ([`ferry_store::programme::PassQueries::claim_pass_capped`]; a refused job is pushed again a heartbeat
//! later), and only the scheduler's leader ([`ferry_store::Leadership`], a PostgreSQL advisory lock)
//! records and pushes due passes, so no pass is queued twice by two schedulers.
//!
//! Every process start has its own [`WorkerId`] (`host:pid:uuid`): reusing an id after a crash would let
//! the new process heartbeat on the dead one's behalf and strand its passes.
//!
//! [`PassQueue`] is the queue of a store: on SQLite, the file `DATA/queue.db` ([`sqlite`]), apart from
//! `ferry.db`: apalis-sqlite sets `synchronous = OFF` on the pool it migrates, which Ferry's own store must
//! never run with (a power cut could lose journal rows); the queue holds nothing the pass table cannot
//! rebuild. On PostgreSQL, the `apalis` schema of the store's database ([`postgres`]), which `ferry
//! worker` processes on any machine reach with the store's URL. Both run the same worker loop (one
//! [`PassHandler`], `batch_size` 1, `concurrency(slots)`, heartbeats and orphan recovery on the
//! [`LeaseSettings`]); a push with a key already queued changes nothing on both.

pub mod postgres;
pub mod sqlite;

use apalis::prelude::{BoxDynError, Data, TaskBuilder};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{EventId, MappingId, ProjectId, TenantId, TransactionId};
use ferry_core::programme::PassKind;
use ferry_store::StoreLocation;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The one queue passes go through (apalis' queue name, on both backends).
pub const QUEUE: &str = "ferry-passes";

/// What a worker does with a job it received: run the pass (claiming its lease first). An error is the
/// queue's to retry (the store could not be reached); a pass that failed is not an error here.
pub type PassHandler = Arc<dyn Fn(PassJob) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// The apalis handler of both backends: hands the job to the process's [`PassHandler`].
async fn handle(job: PassJob, handler: Data<PassHandler>) -> std::result::Result<(), BoxDynError> {
    let pass = job.pass.clone();
    let run: &PassHandler = &handler;
    run(job).await.map_err(|e| {
        tracing::warn!(pass = %pass, error = %e, "a queued pass could not be run; the queue retries it");
        Box::new(e) as BoxDynError
    })
}

/// The queue task of `job` under idempotency `key`, to run from `run_after` on (`None`: now): the same
/// on every backend.
fn pass_task(job: &PassJob, key: &str, run_after: Option<DateTime<Utc>>) -> TaskBuilder<PassJob> {
    let task = TaskBuilder::new(job.clone())
        .idempotency_key(key)
        .max_attempts(25);
    match run_after {
        Some(at) => task.run_at_timestamp(run_at_secs(at)),
        None => task,
    }
}

/// A job's `run_after` as apalis stores it: whole seconds since the epoch, rounded up, so a job never
/// runs before its time (a lease would still be held).
fn run_at_secs(at: DateTime<Utc>) -> u64 {
    let secs = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
    u64::try_from(secs).unwrap_or(0)
}

/// The queue of a store: apalis-sqlite in `DATA/queue.db` beside a SQLite store, apalis-postgres (its
/// `apalis` schema) in the same database as a PostgreSQL store. The worker loop is the same on both.
#[derive(Clone)]
pub enum PassQueue {
    Sqlite(sqlite::SqliteQueue),
    Postgres(postgres::PostgresQueue),
}

impl PassQueue {
    /// Open (creating and migrating) the queue of the store at `location`: for a SQLite store,
    /// `data/queue.db` (`data` is the data directory); for PostgreSQL, the same database.
    pub async fn open(
        location: &StoreLocation,
        data: &Path,
        leases: LeaseSettings,
    ) -> Result<PassQueue> {
        Ok(match location {
            StoreLocation::Sqlite(_) => {
                PassQueue::Sqlite(sqlite::SqliteQueue::open(data, leases).await?)
            }
            StoreLocation::Postgres(url) => {
                PassQueue::Postgres(postgres::PostgresQueue::open(url, leases).await?)
            }
        })
    }

    /// Run passes from the queue, `slots` at once, as `id`, until `shutdown` resolves; then take no new
    /// job and return once the running ones returned (the caller makes them give their passes back).
    pub async fn run_worker(
        &self,
        id: &WorkerId,
        slots: usize,
        handler: PassHandler,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        match self {
            PassQueue::Sqlite(q) => q.run_worker(id, slots, handler, shutdown).await,
            PassQueue::Postgres(q) => q.run_worker(id, slots, handler, shutdown).await,
        }
    }

    /// Where the queue is, for people (a PostgreSQL URL without its password).
    pub fn describe(&self) -> String {
        match self {
            PassQueue::Sqlite(q) => q.describe(),
            PassQueue::Postgres(q) => q.describe(),
        }
    }
}

#[async_trait]
impl PassDispatcher for PassQueue {
    async fn push(&self, job: &PassJob, key: &str, run_after: Option<DateTime<Utc>>) -> Result<()> {
        match self {
            PassQueue::Sqlite(q) => q.push(job, key, run_after).await,
            PassQueue::Postgres(q) => q.push(job, key, run_after).await,
        }
    }

    async fn cancel(&self, pass: &str) -> Result<()> {
        match self {
            PassQueue::Sqlite(q) => q.cancel(pass).await,
            PassQueue::Postgres(q) => q.cancel(pass).await,
        }
    }

    async fn stats(&self) -> Result<QueueStats> {
        match self {
            PassQueue::Sqlite(q) => q.stats().await,
            PassQueue::Postgres(q) => q.stats().await,
        }
    }
}

/// What a queued job carries: one pass, by its ids (all fixed when the pass was recorded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassJob {
    pub pass: String,
    pub tenant: TenantId,
    pub project: ProjectId,
    pub event: EventId,
    pub mapping: MappingId,
    pub kind: PassKind,
    /// The programme transaction the pass's start opened (completed or failed at its end).
    pub txn: TransactionId,
}

impl PassJob {
    /// The queue's idempotency key for this pass's `n`-th dispatch (0 when recorded, then the lease
    /// attempt it was given back after): the same pass is never queued twice for the same turn, even by
    /// two schedulers.
    pub fn key(&self, n: u32) -> String {
        format!("pass:{}:{n}", self.pass)
    }

    /// The key of a job that comes back later because lease attempt `n` of the pass was held by another
    /// worker when it arrived (a job delivered twice, or a dead worker's lease not yet expired). Unique:
    /// the job may find the pass still held and must then be able to come back once more.
    pub fn wait_key(&self, n: u32) -> String {
        format!(
            "pass:{}:{n}:wait:{}",
            self.pass,
            uuid::Uuid::now_v7().simple()
        )
    }
}

/// What the queue holds now, for `/metrics` and the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueueStats {
    /// The queue's own figures (pending, running, done, failed, …) by name.
    pub figures: Vec<(String, String)>,
}

/// The job queue passes go through.
#[async_trait]
pub trait PassDispatcher: Send + Sync {
    /// Queue `job` under idempotency `key` ([`PassJob::key`], [`PassJob::wait_key`]), to run from
    /// `run_after` on (`None`: now). Pushing the same key again changes nothing.
    async fn push(&self, job: &PassJob, key: &str, run_after: Option<DateTime<Utc>>) -> Result<()>;
    /// Drop the pass's jobs not yet taken by a worker (a running one is stopped through the pass table:
    /// its next lease renewal is fenced).
    async fn cancel(&self, pass: &str) -> Result<()>;
    async fn stats(&self) -> Result<QueueStats>;
}

/// A worker process's identity, unique per process start: `host:pid:uuid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerId(String);

impl WorkerId {
    /// A new id for this process start.
    pub fn new() -> WorkerId {
        WorkerId(format!(
            "{}:{}:{}",
            host_name(),
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `owner` is another process start on this machine that no longer runs (its pid is gone,
    /// or it is this process's pid under an older start). Ids of other machines are never judged here:
    /// their leases expire instead.
    pub fn is_dead_local(&self, owner: &str) -> bool {
        let mine: Vec<&str> = self.0.rsplitn(3, ':').collect();
        let theirs: Vec<&str> = owner.rsplitn(3, ':').collect();
        let ([my_start, my_pid, my_host], [their_start, their_pid, their_host]) =
            (mine.as_slice(), theirs.as_slice())
        else {
            return false;
        };
        if my_host != their_host || my_start == their_start {
            return false;
        }
        if my_pid == their_pid {
            return true;
        }
        let Ok(pid) = their_pid.parse::<u32>() else {
            return false;
        };
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            && std::path::Path::new("/proc/self").exists()
    }
}

impl Default for WorkerId {
    fn default() -> Self {
        WorkerId::new()
    }
}

impl std::fmt::Display for WorkerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn host_name() -> String {
    let from_file = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    from_file
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_string())
        .replace(':', "-")
}

/// How leases are kept: a worker renews its passes' leases every `heartbeat`; a lease not renewed for
/// `heartbeat × missed` has expired and another worker may claim the pass. The queue's own orphan
/// recovery uses the same figures, so a dead worker's job comes back when its lease ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    pub heartbeat: Duration,
    pub missed: u32,
}

impl LeaseSettings {
    /// 2 s × 3: a killed worker's passes run again elsewhere within 10 s (issue 12 §5): its lease ends
    /// at most 6 s after its last renewal, and the queue gives its job back at the next heartbeat of a
    /// live worker after the same 6 s (at most 2 s later). A heartbeat is one small update per running
    /// pass and one per worker: with 100 workers of 4 slots, ~250 statements a second.
    pub const DEFAULT: LeaseSettings = LeaseSettings {
        heartbeat: Duration::from_secs(2),
        missed: 3,
    };

    /// [`LeaseSettings::DEFAULT`]'s heartbeat in seconds (the command line's default).
    pub const DEFAULT_HEARTBEAT_SECS: u64 = LeaseSettings::DEFAULT.heartbeat.as_secs();

    /// Heartbeats every `secs` seconds (at least 1), three missed before a lease expires.
    pub fn every(secs: u64) -> LeaseSettings {
        LeaseSettings {
            heartbeat: Duration::from_secs(secs.max(1)),
            missed: 3,
        }
    }

    /// How long a lease lasts without renewal.
    pub fn ttl(&self) -> Duration {
        self.heartbeat * self.missed
    }

    /// When a lease taken or renewed at `now` expires.
    pub fn until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.ttl()).unwrap_or(chrono::Duration::seconds(30))
    }
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_process_start_has_its_own_worker_id_and_only_a_gone_local_pid_counts_as_dead() {
        let a = WorkerId::new();
        let b = WorkerId::new();
        assert_ne!(a, b, "two starts in one process have two ids");
        assert_eq!(a.as_str().split(':').count(), 3, "{a}");
        // The same pid under another start: an earlier start of this process, dead.
        assert!(a.is_dead_local(b.as_str()));
        assert!(!a.is_dead_local(a.as_str()));
        let host = a.as_str().split(':').next().unwrap_or_default();
        // A pid that cannot exist on Linux (above pid_max's ceiling) is gone.
        assert!(a.is_dead_local(&format!("{host}:4194305:x")));
        // Pid 1 runs; another machine is never judged; a malformed id neither.
        assert!(!a.is_dead_local(&format!("{host}:1:x")));
        assert!(!a.is_dead_local("elsewhere:4194305:x"));
        assert!(!a.is_dead_local("garbage"));
    }

    #[test]
    fn a_lease_lasts_three_heartbeats() {
        let l = LeaseSettings::every(2);
        assert_eq!(l.ttl(), Duration::from_secs(6));
        let now = Utc::now();
        assert_eq!(l.until(now), now + chrono::Duration::seconds(6));
        assert_eq!(LeaseSettings::every(0).heartbeat, Duration::from_secs(1));
    }
}
