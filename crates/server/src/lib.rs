//! Ferry's migration-programme service (issue 4, DESIGN §1 and §3): the REST API under `/api/v1`, bearer
//! tokens and the role matrix, the audit log and transactions, encrypted credentials, and the scheduler
//! whose workers run passes through the engine.
//!
//! Everything a rule decides lives in [`ferry_core::programme`] as pure functions; this crate loads the
//! data, calls the rule with the clock's `now`, and stores what it returns — with an audit entry and a
//! transaction — in one database transaction.
//!
//! - [`routes::ROUTES`] is the route table: method, path, permission, summary. The router, the
//!   authorisation middleware, the OpenAPI document and the role × route test are all generated from it.
//! - State-changing requests are serialised by one write lock (SQLite has one writer anyway), so 50 clients
//!   changing events at once see each other's changes, never half of one.
//! - Time comes from a [`Clock`]: tests and `ferry quickstart` use a [`ManualClock`].

pub mod api;
pub mod auth;
pub mod clock;
pub mod crypto;
pub mod db;
pub mod error;
pub mod feed;
pub mod metrics;
pub mod openapi;
pub mod programme;
pub mod queue;
pub mod routes;
pub mod scheduler;
pub mod throttle;
pub mod web;
pub mod workload;

pub use clock::{Clock, ManualClock, SystemClock};
pub use crypto::Vault;
pub use error::{ApiError, ApiResult};

use ferry_core::programme::ProgrammeSettings;
use ferry_core::{Error, ErrorKind, Result};
use ferry_store::programme::{NewUser, ProgrammeStore};
use ferry_store::{Journal, StoreLocation};
use std::net::SocketAddr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The environment variable that fixes the operator's token on first start.
pub const BOOTSTRAP_TOKEN_ENV: &str = "FERRY_BOOTSTRAP_TOKEN";

/// Everything a request handler or worker needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    /// The movers' journal (its programme-wide, unscoped view): SQLite or PostgreSQL, as `--store` says.
    /// [`workload::journal`] scopes it to one programme mapping.
    pub store: Arc<dyn Journal>,
    /// The programme tables behind their trait: every programme query goes through it.
    pub programme: Arc<dyn ProgrammeStore>,
    pub settings: ProgrammeSettings,
    pub clock: Arc<dyn Clock>,
    pub vault: Vault,
    /// Held by every state-changing request and by the scheduler while it changes state.
    pub write: tokio::sync::Mutex<()>,
    /// Where the store, the key and archived reports live.
    pub data_dir: PathBuf,
    pub metrics: metrics::Metrics,
    /// Failed authentications per client address (brute-force protection).
    pub throttle: throttle::AuthThrottle,
    /// Workers and their cancellation (see [`scheduler`]).
    pub workers: scheduler::Workers,
    /// Pass started/finished notices for live views (see [`feed`]).
    pub feed: Arc<dyn feed::Feed>,
    /// Whether this process schedules: only one process per store does ([`scheduler::spawn_loop`]).
    pub leader: Arc<dyn ferry_store::Leadership>,
    /// This process start's worker id: the owner of the pass leases it takes.
    pub worker_id: queue::WorkerId,
    /// How often leases are renewed and when they expire; set once at start ([`AppState::use_queue`]).
    leases: std::sync::OnceLock<queue::LeaseSettings>,
    /// The job queue passes go through, when the process runs with one ([`AppState::use_queue`]); without
    /// it the scheduler hands passes straight to this process's workers.
    queue: std::sync::OnceLock<Arc<dyn queue::PassDispatcher>>,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// How to build the service.
pub struct ServiceConfig {
    pub data_dir: PathBuf,
    /// Where the store lives; `None`: the SQLite file `DATA/ferry.db`.
    pub store: Option<StoreLocation>,
    pub settings: ProgrammeSettings,
    pub clock: Arc<dyn Clock>,
    pub vault: Vault,
}

impl ServiceConfig {
    /// Defaults for `data_dir`: the wall clock, default settings and the key from the environment or
    /// `DATA/credential.key`.
    pub fn new(data_dir: &Path) -> Result<ServiceConfig> {
        Ok(ServiceConfig {
            data_dir: data_dir.to_path_buf(),
            store: None,
            settings: ProgrammeSettings::default(),
            clock: Arc::new(SystemClock),
            vault: Vault::load_or_create(&data_dir.join("credential.key"))?,
        })
    }
}

/// How many connections `ferry serve` keeps to a PostgreSQL store (SQLite keeps its own small pool).
pub const PG_CONNECTIONS: u32 = 16;

/// Open the store (`config.store`, or the SQLite file in `config.data_dir`), creating it and applying
/// migrations.
pub async fn open(config: ServiceConfig) -> Result<AppState> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!(
                "cannot create the data directory {}: {e}",
                config.data_dir.display()
            ),
        )
    })?;
    let location = config
        .store
        .clone()
        .unwrap_or_else(|| StoreLocation::in_data_dir(&config.data_dir));
    let (store, programme) = location.open(PG_CONNECTIONS).await?;
    // On PostgreSQL every process (`ferry serve`, `ferry worker`) shares one feed through LISTEN/NOTIFY;
    // on SQLite the feed is this process's own.
    let feed: Arc<dyn feed::Feed> = match &location {
        StoreLocation::Postgres(url) => Arc::new(feed::pg::PgFeed::start(url).await?),
        StoreLocation::Sqlite(_) => Arc::new(feed::LocalFeed::default()),
    };
    Ok(AppState(Arc::new(Inner {
        store,
        programme,
        settings: config.settings,
        clock: config.clock,
        vault: config.vault,
        write: tokio::sync::Mutex::new(()),
        data_dir: config.data_dir,
        metrics: metrics::Metrics::default(),
        throttle: throttle::AuthThrottle::default(),
        workers: scheduler::Workers::default(),
        feed,
        leader: location.leadership()?,
        worker_id: queue::WorkerId::new(),
        leases: std::sync::OnceLock::new(),
        queue: std::sync::OnceLock::new(),
    })))
}

impl AppState {
    /// Send passes through `dispatcher` from now on, with `leases` (once, at start).
    pub fn use_queue(
        &self,
        dispatcher: Arc<dyn queue::PassDispatcher>,
        leases: queue::LeaseSettings,
    ) {
        let _ = self.leases.set(leases);
        let _ = self.queue.set(dispatcher);
    }

    /// Keep leases with `leases` (once, at start; the default otherwise).
    pub fn set_leases(&self, leases: queue::LeaseSettings) {
        let _ = self.leases.set(leases);
    }

    /// The queue passes go through, if any.
    pub fn dispatcher(&self) -> Option<&Arc<dyn queue::PassDispatcher>> {
        self.queue.get()
    }

    pub fn leases(&self) -> queue::LeaseSettings {
        self.leases.get().copied().unwrap_or_default()
    }
}

/// The HTTP application: every route of [`routes::ROUTES`] behind the request-id and auth middleware.
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Serve the API on `listener` until `shutdown` resolves. Runs the scheduler in the same process when
/// `run_scheduler` is set.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    run_scheduler: bool,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let ticker = run_scheduler.then(|| scheduler::spawn_loop(state.clone()));
    let app = app(state);
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| Error::new(ErrorKind::Io, format!("the server stopped: {e}")));
    if let Some(t) = ticker {
        t.abort();
    }
    result
}

/// On an empty store, create the operator account. Returns the operator's new token when Ferry made it
/// (print it once: it is not stored, only its hash); `None` when users exist already or the token came from
/// `bootstrap_token` (e.g. `FERRY_BOOTSTRAP_TOKEN`).
pub async fn bootstrap(state: &AppState, bootstrap_token: Option<&str>) -> Result<Option<String>> {
    let _w = state.write.lock().await;
    if state.programme.count_users().await? > 0 {
        return Ok(None);
    }
    let (token, generated) = match bootstrap_token.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if auth::token_bits(t) < auth::MIN_TOKEN_BITS => {
            return Err(Error::config(format!(
                "{BOOTSTRAP_TOKEN_ENV} is too easy to guess (about {:.0} bits of entropy; at least {:.0} are needed): \
                 use a random one, e.g. `openssl rand -base64 32`, or unset it and Ferry makes one and prints it once",
                auth::token_bits(t).floor(),
                auth::MIN_TOKEN_BITS
            )));
        }
        Some(t) => (t.to_string(), false),
        None => (auth::new_token()?, true),
    };
    let now = state.clock.now();
    let id = ferry_core::id::UserId::new();
    let tx = state.programme.begin().await?;
    tx.insert_user(&NewUser {
        id,
        name: "operator".into(),
        display_name: None,
        operator: true,
        created_at: now,
    })
    .await?;
    tx.insert_token(&auth::token_hash(&token), id, now).await?;
    tx.commit().await?;
    Ok(generated.then_some(token))
}
