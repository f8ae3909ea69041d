//! `ferry worker`: runs passes only — no API, no scheduler. It takes passes from the job queue that
//! `ferry serve --queue` pushes them to (`DATA/queue.db` beside the SQLite store in `--data`, or, with
//! `--store postgres://…` / `FERRY_STORE`, the `apalis` schema of that PostgreSQL database, from any
//! machine, with no store in `--data`), each under a lease on the pass's row, `--slots` at once. Several workers may run on one store; a worker killed mid-pass
//! has its passes taken over by another (or by itself when restarted) once their leases expire, and
//! resumed from the journal. SIGTERM (or Ctrl-C) drains: running passes stop where they are and are given
//! back to the queue at once, none is left held. docs/deploy.md ("Workers") has the rules.

use crate::serve::{StoreArg, load_settings};
use crate::{Ctx, Outcome};
use clap::Args;
use ferry_core::{Error, ErrorKind, Result};
use ferry_server::queue::{LeaseSettings, PassHandler, PassQueue};
use ferry_server::{AppState, ServiceConfig, SystemClock, Vault};
use ferry_store::StoreLocation;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// How many passes this worker runs at once (each is one mailbox or one file tree).
    #[arg(long, env = "FERRY_WORKER_SLOTS", default_value_t = ferry_server::scheduler::PASS_SLOTS)]
    slots: usize,
    /// Seconds between the heartbeats that keep a running pass's lease; a lease not renewed for three
    /// heartbeats has expired and another worker takes the pass over. Every process on one store must use
    /// the same value.
    #[arg(long, env = "FERRY_HEARTBEAT_SECS", default_value_t = ferry_server::queue::LeaseSettings::DEFAULT_HEARTBEAT_SECS)]
    heartbeat_secs: u64,
    /// The credential key: a copy of the key `ferry serve` uses (see `ferry serve --key-file`), or the
    /// FERRY_CREDENTIAL_KEY variable; default DATA/credential.key. Never created here: without the serve's
    /// key, stored credentials cannot be read.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// The store `ferry serve --queue` runs on: a PostgreSQL URL (`postgres://USER:PASSWORD@HOST:5432/DB`;
    /// prefer the FERRY_STORE variable, a flag shows in process lists), whose queue this worker takes passes
    /// from, from any machine; or a SQLite file. Default: DATA/ferry.db and its DATA/queue.db.
    #[arg(
        long,
        env = "FERRY_STORE",
        hide_env_values = true,
        value_name = "URL|FILE"
    )]
    store: Option<StoreArg>,
    /// The programme's settings (TOML), as given to `ferry serve`.
    #[arg(long, env = "FERRY_SETTINGS", value_name = "FILE")]
    settings: Option<PathBuf>,
}

pub async fn run(ctx: &Ctx, a: WorkerArgs) -> Result<Outcome> {
    if a.slots == 0 {
        return Err(Error::config(
            "--slots must be at least 1: a worker with no slots runs nothing".to_string(),
        ));
    }
    let settings = load_settings(a.settings.as_deref())?;
    let store = match &a.store {
        Some(arg) => StoreLocation::parse(arg.as_str())?,
        None => StoreLocation::in_data_dir(&ctx.data),
    };
    if let StoreLocation::Sqlite(file) = &store
        && !file.exists()
    {
        return Err(Error::config(format!(
            "no store at {}: start `ferry serve --queue --data {}` first (it creates the store and the key), \
             then the workers with the same --data",
            file.display(),
            ctx.data.display()
        )));
    }
    let key_file = a
        .key_file
        .unwrap_or_else(|| ctx.data.join("credential.key"));
    if std::env::var_os(ferry_server::crypto::KEY_ENV).is_none() && !key_file.exists() {
        return Err(Error::config(format!(
            "no credential key at {}: copy the key file of `ferry serve` to this machine and give it with \
             --key-file (or set {}); a worker never makes a key of its own, it could not read the stored \
             credentials",
            key_file.display(),
            ferry_server::crypto::KEY_ENV
        )));
    }
    let vault = Vault::load_or_create(&key_file)?;
    let state = ferry_server::open(ServiceConfig {
        data_dir: ctx.data.clone(),
        store: Some(store.clone()),
        settings,
        clock: Arc::new(SystemClock),
        vault,
    })
    .await?;
    let leases = LeaseSettings::every(a.heartbeat_secs);
    let queue = PassQueue::open(&store, &ctx.data, leases).await?;
    state.use_queue(Arc::new(queue.clone()), leases);
    println!(
        "Ferry worker {} runs passes from {} ({} at once; leases renewed every {} s). Ctrl-C or SIGTERM gives \
         its passes back and stops it.",
        state.worker_id,
        queue.describe(),
        a.slots,
        leases.heartbeat.as_secs()
    );
    tracing::info!(worker = %state.worker_id, slots = a.slots, "worker started");
    run_queue_worker(&state, &queue, a.slots, crate::serve::shutdown()).await?;
    println!("Stopped.");
    Ok(Outcome::Ok)
}

/// Run `state`'s passes from `queue` until `shutdown`; then drain: no new job is taken, and running passes
/// are given back until the worker returned and every pass let go (bounded: a pass that cannot reach the
/// store to give itself back has its lease expire instead).
///
/// Each job's pass runs in a task of its own, `slots` at once: a queue worker that lost its database
/// (PostgreSQL restarted) and is started again by [`PassQueue::run_worker`] does not stop the passes it
/// had started — they renew their leases through the pass table and record their ends once the database
/// answers again.
pub async fn run_queue_worker(
    state: &AppState,
    queue: &PassQueue,
    slots: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let st = state.clone();
    let permits = Arc::new(tokio::sync::Semaphore::new(slots.max(1)));
    let handler: PassHandler = Arc::new(move |job| {
        let st = st.clone();
        let permits = permits.clone();
        Box::pin(async move {
            let run = tokio::spawn(async move {
                // Closed never: the semaphore lives as long as the handler.
                let _slot = permits.acquire_owned().await;
                ferry_server::scheduler::run_job(st, job).await
            });
            run.await.map_err(|e| {
                Error::new(
                    ErrorKind::Unexpected,
                    format!("a pass's task ended abnormally: {e}"),
                )
            })?
        })
    });
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        let _ = stopping_tx.send(true);
    };
    let drainer = {
        let st = state.clone();
        let mut rx = stopping_rx;
        tokio::spawn(async move {
            if rx.wait_for(|s| *s).await.is_err() {
                return;
            }
            tracing::info!("draining: running passes are given back");
            // A job taken just before the signal registers a moment later: drain until the worker returns.
            loop {
                st.workers.drain();
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
    };
    let r = queue
        .run_worker(&state.worker_id, slots, handler, signal)
        .await;
    drainer.abort();
    // Passes started by a queue worker that lost its database and was replaced are not awaited by the
    // last one: give them back too.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while state.workers.running() > 0 && tokio::time::Instant::now() < deadline {
        state.workers.drain();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    r
}
