//! The embedded queue: apalis-sqlite in `DATA/queue.db`, one file beside the store that every process of
//! one machine (`ferry serve`, `ferry worker`) opens.

/// The handler type, here too for callers that name the SQLite queue's path.
pub use super::PassHandler;
use super::{LeaseSettings, PassDispatcher, PassJob, QUEUE, QueueStats, WorkerId, handle};
use apalis::prelude::*;
use apalis_sqlite::{Config, SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteStorage};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::{Error, ErrorKind, Result};
use std::path::Path;
use std::str::FromStr;

/// `DATA/queue.db` through apalis-sqlite.
#[derive(Clone)]
pub struct SqliteQueue {
    storage: SqliteStorage<PassJob>,
    path: std::path::PathBuf,
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
            path,
        })
    }

    /// The queue's file.
    pub fn describe(&self) -> String {
        self.path.display().to_string()
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

#[async_trait]
impl PassDispatcher for SqliteQueue {
    async fn push(&self, job: &PassJob, key: &str, run_after: Option<DateTime<Utc>>) -> Result<()> {
        let mut storage = self.storage.clone();
        storage
            .push_task(super::pass_task(job, key, run_after).build())
            .await
            .map_err(queue_err)
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
