//! The embedded queue: apalis-sqlite in `DATA/queue.db`, one file beside the store that every process of
//! one machine (`ferry serve`, `ferry worker`) opens.

use super::{LeaseSettings, PassDispatcher, PassJob, QueueStats, WorkerId};
use apalis::prelude::*;
use apalis_sqlite::{Config, SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteStorage};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::{Error, ErrorKind, Result};
use futures_util::future::BoxFuture;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

/// The one queue passes go through.
pub const QUEUE: &str = "ferry-passes";

/// What a worker does with a job it received: run the pass (claiming its lease first). An error is the
/// queue's to retry (the store could not be reached); a pass that failed is not an error here.
pub type PassHandler = Arc<dyn Fn(PassJob) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// `DATA/queue.db` through apalis-sqlite.
#[derive(Clone)]
pub struct SqliteQueue {
    storage: SqliteStorage<PassJob>,
    leases: LeaseSettings,
}

fn queue_err(e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Store,
        format!(
            "the pass queue (queue.db) failed: {e}; check the data directory's disk and permissions"
        ),
    )
}

impl SqliteQueue {
    /// Open (creating and migrating) the queue in `dir/queue.db`.
    pub async fn open(dir: &Path, leases: LeaseSettings) -> Result<SqliteQueue> {
        let path = dir.join("queue.db");
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(queue_err)?
            .create_if_missing(true)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool: SqlitePool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(queue_err)?;
        SqliteStorage::setup(&pool).await.map_err(queue_err)?;
        let config = Config::default()
            .queue(QUEUE)
            .batch_size(1)
            .heartbeat_interval(leases.heartbeat)
            .missed_heartbeats(leases.missed as usize);
        Ok(SqliteQueue {
            storage: SqliteStorage::new(&pool).with_config(config),
            leases,
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
        let _ = self.leases;
        let worker = WorkerBuilder::new(id.as_str())
            .backend(self.storage.clone())
            .concurrency(slots.max(1))
            .data(handler)
            .build(handle);
        worker
            .run_until(async move {
                shutdown.await;
                Ok::<(), std::io::Error>(())
            })
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Store,
                    format!("the pass worker stopped: {e}; it is restarted by starting `ferry worker` again"),
                )
            })
    }
}

async fn handle(job: PassJob, handler: Data<PassHandler>) -> std::result::Result<(), BoxDynError> {
    let pass = job.pass.clone();
    let run: &PassHandler = &handler;
    run(job).await.map_err(|e| {
        tracing::warn!(pass = %pass, error = %e, "a queued pass could not be run; the queue retries it");
        Box::new(e) as BoxDynError
    })
}

#[async_trait]
impl PassDispatcher for SqliteQueue {
    async fn push(&self, job: &PassJob, key: &str, run_after: Option<DateTime<Utc>>) -> Result<()> {
        let mut b = TaskBuilder::new(job.clone())
            .idempotency_key(key)
            .max_attempts(25);
        if let Some(at) = run_after {
            // Whole seconds, rounded up: a job never runs before its time (a lease would still be held).
            let secs = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
            b = b.run_at_timestamp(u64::try_from(secs).unwrap_or(0));
        }
        let mut storage = self.storage.clone();
        storage.push_task(b.build()).await.map_err(queue_err)
    }

    async fn cancel(&self, _pass: &str) -> Result<()> {
        // A job not yet taken finds its pass ended and does nothing; a running one is fenced at its next
        // renewal. Nothing to delete.
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats> {
        let figures = self
            .storage
            .fetch_by_queue()
            .await
            .map_err(queue_err)?
            .into_iter()
            .map(|s| (s.title, s.value))
            .collect();
        Ok(QueueStats { figures })
    }
}
