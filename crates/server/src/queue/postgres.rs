//! The scaled queue: apalis-postgres, in the `apalis` schema of the store's own PostgreSQL database, so
//! `ferry serve --store postgres://… --queue` and every `ferry worker --store postgres://…` on any machine
//! share it with nothing else to set up. Its migrations (apalis' own, applied under sqlx's migration lock,
//! so processes starting together are safe) create the `pgcrypto` and `hstore` extensions, which ship with
//! PostgreSQL (Debian: `postgresql-contrib`).
//!
//! apalis-postgres claims a job with `FOR UPDATE SKIP LOCKED`; each worker heartbeats its row in
//! `apalis.workers`, and a job whose worker was not seen for `heartbeat × missed` goes back to `Pending`
//! for the next worker (the same figures as Ferry's pass leases, see [`LeaseSettings`]).
//!
//! An idle worker looks for a job when PostgreSQL says one was queued ([`Pickup`]: apalis' trigger
//! notifies every insert on `apalis.jobs`), and every [`PICKUP_TICK`] for the jobs no notification
//! announces.

use super::{
    LeaseSettings, PassDispatcher, PassHandler, PassJob, QUEUE, QueueStats, WorkerId, handle,
};
use apalis::prelude::*;
use apalis_postgres::{Config, PgConnectOptions, PgPool, PostgresStorage, Pubsub};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::{Error, ErrorKind, Result, redact_url};
use futures_util::{FutureExt, StreamExt};
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::Duration;

/// The longest wait between two tries to reach the queue's database after it was lost.
pub const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// How often an idle worker looks for jobs besides the notifications: for a job due later (a server's
/// wait, a pass held by another worker looked at again when its lease ends — apalis notifies only jobs
/// due at once), one given back by the orphan recovery of a dead worker (an update, not an insert), or
/// one queued while the listening connection was being made again. A look is one small query.
pub const PICKUP_TICK: Duration = Duration::from_millis(500);

/// The `apalis` schema of the store's PostgreSQL database.
#[derive(Clone)]
pub struct PostgresQueue {
    storage: PostgresStorage<PassJob>,
    /// The URL without its password.
    shown: String,
    /// [`PICKUP_TICK`].
    tick: Duration,
}

fn queue_err(shown: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Store,
        format!(
            "the pass queue in PostgreSQL ({shown}) failed: {e}; check that the database is up and \
             reachable from this machine"
        ),
    )
}

impl PostgresQueue {
    /// Connect to `url` and create (or bring up to date) the queue's tables.
    pub async fn open(url: &str, leases: LeaseSettings) -> Result<PostgresQueue> {
        let shown = redact_url(url);
        // The options parser's errors may quote the URL: say what is wrong without it.
        let options = PgConnectOptions::from_str(url).map_err(|_| {
            Error::config(format!(
                "the store URL {shown} is not a valid PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DB)"
            ))
        })?;
        // A pool of its own (fetching, heartbeats, acknowledgements, pushes); passes use the store's.
        let pool = PgPool::connect_with(options.application_name("ferry-queue"))
            .await
            .map_err(|e| queue_err(&shown, e))?;
        PostgresStorage::setup(&pool)
            .await
            .map_err(|e| queue_err(&shown, e))?;
        let config = Config::default()
            .queue(QUEUE)
            .batch_size(1)
            .heartbeat_interval(leases.heartbeat)
            .missed_heartbeats(leases.missed as usize);
        Ok(PostgresQueue {
            storage: PostgresStorage::new(&pool).with_config(config),
            shown,
            tick: PICKUP_TICK,
        })
    }

    /// The same queue whose idle workers look for jobs every `tick` besides the notifications.
    #[cfg(test)]
    fn with_tick(self, tick: Duration) -> PostgresQueue {
        PostgresQueue { tick, ..self }
    }

    /// The database, without its password.
    pub fn describe(&self) -> String {
        format!("{} (schema apalis)", self.shown)
    }

    /// Run passes from the queue, `slots` at once, as `id`, until `shutdown` resolves; then take no new
    /// job and return once the running ones returned (the caller makes them give their passes back).
    ///
    /// apalis' worker stops for good at the first database error of its poller, heartbeat or
    /// acknowledgements (PostgreSQL restarted, the network cut). This loop then says so, waits until the
    /// database answers again (tries 1 s, 2 s, 4 s … at most [`RECONNECT_MAX`] apart) and starts a new
    /// apalis worker under a new name (`ID~N`), so the jobs the dead one had taken go back to the queue
    /// once its heartbeat is missed. Passes already running are not stopped by it (the caller runs each in
    /// a task of its own): their leases and ends go through the pass table.
    pub async fn run_worker(
        &self,
        id: &WorkerId,
        slots: usize,
        handler: PassHandler,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let shutdown = shutdown.boxed().shared();
        let mut restarts = 0u32;
        loop {
            let name = match restarts {
                0 => id.to_string(),
                n => format!("{id}~{n}"),
            };
            let pickup = Pickup::new(self.storage.pool().clone(), self.tick);
            let worker = WorkerBuilder::new(name.as_str())
                .backend(PollWith::new(self.storage.clone(), pickup))
                .concurrency(slots.max(1))
                .data(handler.clone())
                .build(handle);
            let stop = shutdown.clone();
            let ran = worker
                .run_until(async move {
                    stop.await;
                    Ok::<(), std::io::Error>(())
                })
                .await;
            let Err(e) = ran else {
                return Ok(());
            };
            if shutdown.peek().is_some() {
                return Ok(());
            }
            tracing::warn!(
                worker = %name,
                error = %e,
                "lost the pass queue in PostgreSQL ({}); running passes carry on, reconnecting",
                self.shown
            );
            if !self.reconnect(shutdown.clone()).await {
                return Ok(());
            }
            restarts += 1;
            tracing::info!(worker = %format!("{id}~{restarts}"), "reconnected to the pass queue; taking passes again");
        }
    }

    /// Wait until the queue's database answers again: a connection from the queue's pool (which tries for
    /// 30 s itself), tried again 1 s, 2 s, 4 s … at most [`RECONNECT_MAX`] apart. `false` when `shutdown`
    /// came first.
    async fn reconnect(&self, shutdown: impl std::future::Future<Output = ()>) -> bool {
        let pool = self.storage.pool().clone();
        let tries = async move {
            let mut wait = Duration::from_secs(1);
            loop {
                tokio::time::sleep(wait).await;
                match pool.acquire().await {
                    Ok(_) => return,
                    Err(e) => {
                        wait = (wait * 2).min(RECONNECT_MAX);
                        tracing::warn!(
                            error = %e,
                            next_try_secs = wait.as_secs(),
                            "the pass queue's database does not answer yet"
                        );
                    }
                }
            }
        };
        tokio::select! {
            () = tries => true,
            () = shutdown => false,
        }
    }
}

/// When an idle apalis worker looks for a job (its poll strategy): at once when PostgreSQL announces a
/// job due now (apalis' trigger on `apalis.jobs` notifies `apalis::job::insert`, heard by apalis'
/// [`Pubsub`] on a connection of the queue's pool), and every `tick` for what no notification announces
/// ([`PICKUP_TICK`]). apalis' worker otherwise looks only at its heartbeats: a pass queued waited half a
/// heartbeat on average before a worker started it (~5 s with 10 s heartbeats).
///
/// A busy worker (every slot taken) does not look; it looks again as soon as a pass ends. All the
/// notifications waiting are taken at once: one look fetches the next job, and apalis fetches again at
/// once after a job, until the queue has none for it.
struct Pickup {
    pool: PgPool,
    /// `None` after the listening connection was lost for good; listened again at the next tick.
    listener: Option<Pubsub>,
    tick: IntervalStrategy,
}

impl Pickup {
    fn new(pool: PgPool, tick: Duration) -> Pickup {
        Pickup {
            listener: Some(Pubsub::new(pool.clone(), QUEUE.to_string())),
            pool,
            tick: IntervalStrategy::new(tick),
        }
    }

    /// Whether a job was announced since the last look (or the listener ended: look once, it may have
    /// missed one).
    fn heard(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(listener) = self.listener.as_mut() else {
            return false;
        };
        let mut heard = false;
        loop {
            match listener.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(_))) => heard = true,
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!(error = %e, "the pass queue's listening connection failed; looking every tick until it listens again");
                }
                Poll::Ready(None) => {
                    self.listener = None;
                    return true;
                }
                Poll::Pending => return heard,
            }
        }
    }
}

impl PollStrategy for Pickup {
    fn poll_drive(&mut self, cx: &mut Context<'_>, snapshot: &PollSnapshot) -> Poll<Option<()>> {
        // Both are always polled, so both can wake the worker.
        let ticked = self.tick.poll_drive(cx, snapshot).is_ready();
        if ticked && self.listener.is_none() {
            self.listener = Some(Pubsub::new(self.pool.clone(), QUEUE.to_string()));
        }
        if self.heard(cx) || ticked {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

/// Whether a push failed only because a job with its idempotency key exists already (apalis-postgres
/// inserts without `ON CONFLICT`; the unique index refuses the second one).
fn is_duplicate(e: &TaskSinkError<apalis_postgres::Error>) -> bool {
    match e {
        TaskSinkError::PushError(apalis_postgres::Error::Database(e)) => e
            .as_database_error()
            .is_some_and(|db| db.is_unique_violation()),
        _ => false,
    }
}

#[async_trait]
impl PassDispatcher for PostgresQueue {
    async fn push(&self, job: &PassJob, key: &str, run_after: Option<DateTime<Utc>>) -> Result<()> {
        let mut storage = self.storage.clone();
        match storage
            .push_task(super::pass_task(job, key, run_after).build())
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_duplicate(&e) => Ok(()),
            Err(e) => Err(queue_err(&self.shown, e)),
        }
    }

    async fn cancel(&self, _pass: &str) -> Result<()> {
        // As on SQLite: a job not yet taken finds its pass ended and does nothing; a running one is fenced
        // at its next renewal.
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats> {
        let figures = self
            .storage
            .fetch_by_queue()
            .await
            .map_err(|e| queue_err(&self.shown, e))?
            .into_iter()
            .map(|s| (s.title, s.value))
            .collect();
        Ok(QueueStats { figures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::id::{EventId, MappingId, ProjectId, TenantId, TransactionId};
    use ferry_core::programme::PassKind;
    use ferry_testkit::postgres::TestDatabase;

    #[tokio::test]
    async fn pushing_a_pass_twice_under_one_key_queues_it_once_and_a_new_key_queues_it_again() {
        let Some(db) = TestDatabase::create("queue_pg_push").unwrap_or_else(|e| panic!("{e}"))
        else {
            return;
        };
        // The test cluster trusts loopback: a password in the URL is not checked, and must never show.
        let url = db
            .url()
            .replacen("://postgres@", "://postgres:s3cret-Pw@", 1);
        let q = PostgresQueue::open(&url, LeaseSettings::every(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!q.describe().contains("s3cret-Pw"), "{}", q.describe());
        let job = job("p1");
        let count = || {
            db.psql("SELECT count(*) FROM apalis.jobs")
                .unwrap_or_else(|e| panic!("{e}"))
                .trim()
                .to_string()
        };
        q.push(&job, &job.key(0), None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        q.push(&job, &job.key(0), None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(count(), "1", "the same key is queued once");
        let later = Utc::now() + chrono::Duration::seconds(30);
        q.push(&job, &job.wait_key(1), Some(later))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(count(), "2");
        let not_before = db
            .psql("SELECT count(*) FROM apalis.jobs WHERE run_at >= now() + interval '25 seconds'")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(not_before.trim(), "1", "the wait job runs at its time");
        assert!(q.stats().await.is_ok());
    }

    /// The job of a new pass `p` (its other ids are new too: the test handler only reads `pass`).
    fn job(p: &str) -> PassJob {
        PassJob {
            pass: p.into(),
            tenant: TenantId::new(),
            project: ProjectId::new(),
            event: EventId::new(),
            mapping: MappingId::new(),
            kind: PassKind::Initial,
            txn: TransactionId::new(),
        }
    }

    #[tokio::test]
    async fn an_idle_worker_starts_a_pushed_pass_when_postgresql_notifies_it_without_waiting_to_poll()
     {
        let Some(db) = TestDatabase::create("queue_pg_notify").unwrap_or_else(|e| panic!("{e}"))
        else {
            return;
        };
        // Heartbeats and the fallback tick an hour apart: only the insert's notification can wake the
        // worker within the test's minute.
        let hour = Duration::from_secs(3600);
        let q = PostgresQueue::open(db.url(), LeaseSettings::every(3600))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .with_tick(hour);
        let (ran_tx, mut ran) = tokio::sync::mpsc::unbounded_channel::<String>();
        let handler: PassHandler = std::sync::Arc::new(move |job: PassJob| {
            let ran_tx = ran_tx.clone();
            async move {
                let _ = ran_tx.send(job.pass);
                Ok(())
            }
            .boxed()
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        // The worker's future is not `Send` (apalis' handler types): it runs beside the test, in one task.
        let id = WorkerId::new();
        let worker = q.run_worker(&id, 1, handler, async move {
            let _ = stop_rx.await;
        });
        let test = async {
            // The worker is idle once it listens (its connection's last statement was the LISTEN, done)
            // and has looked once (before its first look it wrote its row in apalis.workers).
            let listening = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                             AND state = 'idle' AND query LIKE 'LISTEN %'";
            let mut waited = Duration::ZERO;
            while db.psql(listening).unwrap_or_else(|e| panic!("{e}")).trim() != "1" {
                assert!(
                    waited < Duration::from_secs(60),
                    "the worker never listened"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                waited += Duration::from_millis(100);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            q.push(&job("p1"), "pass:p1:0", None)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let got = tokio::time::timeout(Duration::from_secs(60), ran.recv()).await;
            let _ = stop_tx.send(());
            got.ok().flatten()
        };
        let (stopped, got) = tokio::join!(worker, test);
        assert_eq!(
            got.as_deref(),
            Some("p1"),
            "the pushed pass was not started within a minute, with polls an hour apart"
        );
        stopped.unwrap_or_else(|e| panic!("{e}"));
    }
}
