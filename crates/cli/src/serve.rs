//! `ferry serve`: the programme service — the REST API under `/api/v1`, `/healthz`, `/metrics` — with the
//! scheduler and its workers in the same process, on the SQLite store in `--data` or, with `--store
//! postgres://…` (or `FERRY_STORE`), on PostgreSQL (issue 12 §2). The store URL's password is never printed.
//!
//! The port is bound before the store is touched, so a taken port fails at once and an operator token is
//! never created (and printed) by a server that then cannot serve. On an empty store the operator account
//! is created: with the token from `FERRY_BOOTSTRAP_TOKEN`, or with a new one printed once here (only its
//! hash is stored, so it cannot be shown again).

use crate::{Ctx, Outcome};
use clap::Args;
use ferry_core::programme::ProgrammeSettings;
use ferry_core::{Error, ErrorKind, Result};
use ferry_server::{BOOTSTRAP_TOKEN_ENV, ServiceConfig, SystemClock, Vault};
use ferry_store::StoreLocation;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The address and port to listen on (`0.0.0.0:8080` for every interface; put TLS in front of it).
    #[arg(long, env = "FERRY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The credential key: 32 bytes, raw or base64. Created (mode 0600) when missing. Default
    /// DATA/credential.key; the FERRY_CREDENTIAL_KEY variable (base64), when set, is used instead. Keep it
    /// out of backups of the store: without it stored credentials cannot be read.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// The programme's settings (TOML): lead times, availability windows, delta cadence, attempts, size
    /// limits, pause and offboarding days, ticket window… (docs/programme.md has a sample). Missing keys
    /// keep their defaults; a misspelt key or an impossible value stops the server at start, naming it.
    #[arg(long, env = "FERRY_SETTINGS", value_name = "FILE")]
    settings: Option<PathBuf>,
    /// Where the store lives: a PostgreSQL URL (`postgres://USER:PASSWORD@HOST:5432/DB`), for several
    /// machines sharing one database (prefer the FERRY_STORE variable: a flag shows in process lists), or
    /// a SQLite file. Default: DATA/ferry.db (SQLite, nothing to set up). The credential key stays a file
    /// (or FERRY_CREDENTIAL_KEY) on each machine. `ferry mail` and `ferry files` always use the SQLite
    /// store in --data.
    #[arg(
        long,
        env = "FERRY_STORE",
        hide_env_values = true,
        value_name = "URL|FILE"
    )]
    store: Option<StoreArg>,
    /// How the server logs (stderr): `text`, or `json` — one object per line with `timestamp`, `level`,
    /// `fields` (`message`, and `tenant`, `project`, `event`, `mapping` names where they apply).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Send passes through the job queue (DATA/queue.db beside a SQLite store; the `apalis` schema of the
    /// database with --store postgres://…) instead of straight to this process's workers, so `ferry worker`
    /// processes on the same store run them too (on PostgreSQL, from any machine), and a pass interrupted
    /// by a crash is resumed by the next worker instead of counted as a failed attempt.
    #[arg(long, env = "FERRY_QUEUE")]
    queue: bool,
    /// With --queue: how many passes this process runs itself (0: none, only `ferry worker` processes do).
    #[arg(long, env = "FERRY_WORKER_SLOTS", default_value_t = ferry_server::scheduler::PASS_SLOTS, requires = "queue")]
    slots: usize,
    /// Seconds between the heartbeats that keep a running pass's lease (a lease expires after three
    /// missed); every process on one store must use the same value.
    #[arg(long, env = "FERRY_HEARTBEAT_SECS", default_value_t = ferry_server::queue::LeaseSettings::DEFAULT_HEARTBEAT_SECS)]
    heartbeat_secs: u64,
}

/// `--store` as given; its `Debug` hides it (it may hold a password). Parsed in [`run`], so that a bad
/// value's error never repeats it.
#[derive(Clone)]
pub struct StoreArg(String);

impl std::str::FromStr for StoreArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<StoreArg, Self::Err> {
        Ok(StoreArg(s.to_string()))
    }
}

impl StoreArg {
    /// The value as given (may hold a password: never print it).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StoreArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreArg({})", ferry_core::redact_url(&self.0))
    }
}

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The programme's settings: the defaults, or `path`'s TOML over them, validated. Every problem is an
/// error naming the file and the key.
pub fn load_settings(path: Option<&std::path::Path>) -> Result<ProgrammeSettings> {
    let Some(path) = path else {
        return Ok(ProgrammeSettings::default());
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "cannot read the settings file {}: {e}",
            path.display()
        ))
    })?;
    let settings: ProgrammeSettings = toml::from_str(&text).map_err(|e| {
        Error::config(format!(
            "the settings file {} is not valid: {}",
            path.display(),
            e.to_string().trim_end()
        ))
    })?;
    settings.validate().map_err(|e| {
        Error::config(format!(
            "the settings file {}: {}",
            path.display(),
            e.message()
        ))
    })?;
    Ok(settings)
}

pub async fn run(ctx: &Ctx, a: ServeArgs) -> Result<Outcome> {
    // Settings and the store's location first: a bad file or URL stops the server before it binds or
    // touches the store.
    let settings = load_settings(a.settings.as_deref())?;
    let store = match &a.store {
        Some(StoreArg(text)) => StoreLocation::parse(text)?,
        None => StoreLocation::in_data_dir(&ctx.data),
    };
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "the address is already in use (is another `ferry serve` running?): choose another with --listen".to_string()
                }
                std::io::ErrorKind::PermissionDenied => {
                    "permission denied (ports below 1024 need privileges): choose another with --listen".to_string()
                }
                _ => e.to_string(),
            };
            Error::new(ErrorKind::Config, format!("cannot listen on {}: {why}", a.listen))
        })?;
    let addr = listener.local_addr().map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("the listening socket has no address: {e}"),
        )
    })?;
    std::fs::create_dir_all(&ctx.data).map_err(|e| {
        Error::config(format!(
            "cannot create the data directory {}: {e}",
            ctx.data.display()
        ))
    })?;
    let key_file = a
        .key_file
        .unwrap_or_else(|| ctx.data.join("credential.key"));
    let vault = Vault::load_or_create(&key_file)?;
    let state = ferry_server::open(ServiceConfig {
        data_dir: ctx.data.clone(),
        store: Some(store.clone()),
        settings,
        clock: Arc::new(SystemClock),
        vault,
    })
    .await?;
    let leases = ferry_server::queue::LeaseSettings::every(a.heartbeat_secs);
    state.set_leases(leases);
    let queue = if a.queue {
        let q = ferry_server::queue::PassQueue::open(&store, &ctx.data, leases).await?;
        state.use_queue(Arc::new(q.clone()), leases);
        Some(q)
    } else {
        None
    };
    let from_env = std::env::var(BOOTSTRAP_TOKEN_ENV).ok();
    if let Some(token) = ferry_server::bootstrap(&state, from_env.as_deref()).await? {
        println!(
            "Created the operator account. Its token is below: save it, it is not shown again."
        );
        println!("\n    {token}\n");
        println!(
            "Use it as FERRY_TOKEN (or --token) with the ferry commands, or as `Authorization: Bearer <token>`."
        );
    }
    let workers = match (&queue, a.slots) {
        (None, _) => "the scheduler and its workers run here".to_string(),
        (Some(_), 0) => {
            "the scheduler runs here and queues passes for `ferry worker` processes".to_string()
        }
        (Some(_), n) => format!(
            "the scheduler runs here and queues passes; {n} of them run here too, the rest in `ferry worker` processes"
        ),
    };
    println!(
        "Ferry is serving http://{addr}: API /api/v1 (document /api/v1/openapi.json), /healthz, /metrics; \
         store {store}; {workers}. Ctrl-C stops it."
    );
    tracing::info!(%addr, data = %ctx.data.display(), %store, worker = %state.worker_id, "listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = async move {
        shutdown().await;
        let _ = stop_tx.send(true);
    };
    // The in-process queue worker runs beside the server in this task (apalis' worker future is not
    // spawnable): it stops taking jobs and gives its passes back when the server is told to stop.
    let in_process = async {
        match &queue {
            Some(q) if a.slots > 0 => {
                let mut rx = stop_rx.clone();
                let stop = async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                crate::worker::run_queue_worker(&state, q, a.slots, stop).await
            }
            _ => Ok(()),
        }
    };
    let (served, worked) = tokio::join!(
        ferry_server::serve(state.clone(), listener, true, stopped),
        in_process
    );
    if queue.is_none() {
        drain_local(&state).await;
    }
    worked?;
    served?;
    println!("Stopped.");
    Ok(Outcome::Ok)
}

/// SIGTERM without a queue: give this process's running passes back (they stop where they are; the next
/// start records them interrupted and retries them), waiting a bounded time for each to let go.
async fn drain_local(state: &ferry_server::AppState) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while state.workers.running() > 0 && tokio::time::Instant::now() < deadline {
        state.workers.drain();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_settings_file_in_the_docs_holds_every_default() {
        let doc = include_str!("../../../docs/programme.md");
        let sample = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|s| s.split("```").next())
            .unwrap_or_default();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("settings.toml");
        std::fs::write(&path, sample).unwrap_or_else(|e| panic!("{e}"));
        let got = load_settings(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        let to_json = |s: &ProgrammeSettings| serde_json::to_value(s).unwrap_or_default();
        assert_eq!(to_json(&got), to_json(&ProgrammeSettings::default()));
        // Every setting is in the sample (min_batch_size as a comment: its default is "none").
        if let serde_json::Value::Object(fields) = to_json(&got) {
            for key in fields.keys() {
                assert!(
                    sample.contains(&format!("{key} ")) || sample.contains(&format!("[{key}]")),
                    "{key} is not in the sample"
                );
            }
        }
    }
}
