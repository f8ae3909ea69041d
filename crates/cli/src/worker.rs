//! `ferry worker`: runs passes only — no API, no scheduler. It takes passes from the job queue that
//! `ferry serve --queue` pushes them to (`DATA/queue.db` beside the store in `--data`), each under a lease
//! on the pass's row, `--slots` at once. Several workers may run on one store; a worker killed mid-pass
//! has its passes taken over by another (or by itself when restarted) once their leases expire, and
//! resumed from the journal. SIGTERM (or Ctrl-C) drains: running passes stop where they are and are given
//! back to the queue at once, none is left held. docs/deploy.md ("Workers") has the rules.

use crate::serve::load_settings;
use crate::{Ctx, Outcome};
use clap::Args;
use ferry_core::{Error, Result};
use ferry_server::queue::LeaseSettings;
use ferry_server::queue::sqlite::{PassHandler, SqliteQueue};
use ferry_server::{AppState, ServiceConfig, SystemClock, Vault};
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
    #[arg(long, env = "FERRY_HEARTBEAT_SECS", default_value_t = 10)]
    heartbeat_secs: u64,
    /// The credential key (see `ferry serve --key-file`); default DATA/credential.key.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
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
    if !ctx.data.join("ferry.db").exists() {
        return Err(Error::config(format!(
            "no store in {}: start `ferry serve --queue --data {}` first (it creates the store and the key), \
             then the workers with the same --data",
            ctx.data.display(),
            ctx.data.display()
        )));
    }
    let key_file = a
        .key_file
        .unwrap_or_else(|| ctx.data.join("credential.key"));
    let vault = Vault::load_or_create(&key_file)?;
    let state = ferry_server::open(ServiceConfig {
        data_dir: ctx.data.clone(),
        store: None,
        settings,
        clock: Arc::new(SystemClock),
        vault,
    })
    .await?;
    let leases = LeaseSettings::every(a.heartbeat_secs);
    let queue = SqliteQueue::open(&ctx.data, leases).await?;
    state.use_queue(Arc::new(queue.clone()), leases);
    println!(
        "Ferry worker {} runs passes from {} ({} at once; leases renewed every {} s). Ctrl-C or SIGTERM gives \
         its passes back and stops it.",
        state.worker_id,
        ctx.data.join("queue.db").display(),
        a.slots,
        leases.heartbeat.as_secs()
    );
    tracing::info!(worker = %state.worker_id, slots = a.slots, "worker started");
    run_queue_worker(&state, &queue, a.slots, crate::serve::shutdown()).await?;
    println!("Stopped.");
    Ok(Outcome::Ok)
}

/// Run `state`'s passes from `queue` until `shutdown`; then drain: no new job is taken, and running passes
/// are given back until the worker returned.
pub async fn run_queue_worker(
    state: &AppState,
    queue: &SqliteQueue,
    slots: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let st = state.clone();
    let handler: PassHandler =
        Arc::new(move |job| Box::pin(ferry_server::scheduler::run_job(st.clone(), job)));
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
    r
}
