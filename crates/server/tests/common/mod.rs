//! A real `ferry-server` on a free loopback port with a manual clock, and a small JSON client for it.
#![allow(dead_code)]

pub mod web;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use ferry_server::{AppState, ManualClock, ServiceConfig, Vault};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

/// Random, as `FERRY_BOOTSTRAP_TOKEN` must be (at least 128 bits of entropy).
pub const OPERATOR_TOKEN: &str = "fy_8p6zZkl3uHiA0sY1oKExGALK2ZpcpdALabgrFr4jsRE";

/// Monday 2025-03-03 10:00 UTC: inside both availability windows.
pub fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 10, 0, 0)
        .single()
        .expect("a valid time")
}

/// Which store a test's server runs on.
#[derive(Clone, Copy, Debug)]
pub enum On {
    Sqlite,
    /// A PostgreSQL database of its own, labelled with the test's name (a reported skip without a cluster).
    Postgres(&'static str),
}

/// A test `case` (an `async fn(On)`) as two tests, `case::on_sqlite` and `case::on_postgres`: the same story
/// against a server on each store (issue 12 §4: every programme story passes on both).
#[macro_export]
macro_rules! on_both_stores {
    ($case:ident) => {
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$case($crate::common::On::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                super::$case($crate::common::On::Postgres(stringify!($case))).await;
            }
        }
    };
}

pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The PostgreSQL database of a server started on one (dropped after the server).
    pub db: Option<ferry_testkit::postgres::TestDatabase>,
}

/// An answer: status and JSON body (`Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// The body, asserting a 2xx status.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert!(
            self.status.is_success(),
            "expected success, got {} {}",
            self.status,
            self.body
        );
        self.body
    }

    /// The error body, asserting `status`.
    #[track_caller]
    pub fn err(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert!(
            self.body["kind"].is_string() && self.body["request_id"].is_string(),
            "{}",
            self.body
        );
        self.body
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(ferry_core::programme::ProgrammeSettings::default()).await
    }

    pub async fn start_with(settings: ferry_core::programme::ProgrammeSettings) -> TestServer {
        Self::start_on(settings, None).await
    }

    /// A server on the store `on` says, or `None` (a reported skip) on PostgreSQL without a test cluster.
    pub async fn start_on_store(
        on: On,
        settings: ferry_core::programme::ProgrammeSettings,
    ) -> Option<TestServer> {
        match on {
            On::Sqlite => Some(Self::start_with(settings).await),
            On::Postgres(test) => Self::start_on_postgres(test, settings).await,
        }
    }

    /// A server on a PostgreSQL database of its own (`ferry_testkit::postgres`), or `None` — a reported
    /// skip — when no test cluster is configured. `test` labels the database.
    pub async fn start_on_postgres(
        test: &str,
        settings: ferry_core::programme::ProgrammeSettings,
    ) -> Option<TestServer> {
        let db = ferry_testkit::postgres::TestDatabase::create(test).expect("a test database")?;
        Some(Self::start_on(settings, Some(db)).await)
    }

    /// A server on `db` (PostgreSQL), or on a SQLite file in its temp dir when `None`.
    pub async fn start_on(
        settings: ferry_core::programme::ProgrammeSettings,
        db: Option<ferry_testkit::postgres::TestDatabase>,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let clock = Arc::new(ManualClock::new(monday()));
        let store = db
            .as_ref()
            .map(|db| ferry_store::StoreLocation::parse(db.url()).expect("a PostgreSQL URL"));
        let state = ferry_server::open(ServiceConfig {
            data_dir: dir.path().to_path_buf(),
            store,
            settings,
            clock: clock.clone(),
            vault: Vault::ephemeral().expect("a key"),
        })
        .await
        .expect("the service opens");
        ferry_server::bootstrap(&state, Some(OPERATOR_TOKEN))
            .await
            .expect("bootstrap");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        tokio::spawn(async move {
            let _ = ferry_server::serve(st, listener, false, async move {
                let _ = rx.await;
            })
            .await;
        });
        TestServer {
            base,
            state,
            clock,
            dir,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            db,
        }
    }

    /// A second node on this server's store — as another `ferry serve` on the same database: its own data
    /// directory, workers, feed, worker id and HTTP port; the same credential key, settings and clock.
    pub async fn second_node(&self) -> TestServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = match &self.db {
            Some(db) => ferry_store::StoreLocation::parse(db.url()).expect("a PostgreSQL URL"),
            None => ferry_store::StoreLocation::Sqlite(self.dir.path().join("ferry.db")),
        };
        let state = ferry_server::open(ServiceConfig {
            data_dir: dir.path().to_path_buf(),
            store: Some(store),
            settings: self.state.settings.clone(),
            clock: self.clock.clone(),
            vault: self.state.vault.clone(),
        })
        .await
        .expect("the second node opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        tokio::spawn(async move {
            let _ = ferry_server::serve(st, listener, false, async move {
                let _ = rx.await;
            })
            .await;
        });
        TestServer {
            base,
            state,
            clock: self.clock.clone(),
            dir,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            db: None,
        }
    }

    /// The SQLite store's pool, for tests that change rows behind the server's back (SQLite servers only).
    pub fn sqlite_pool(&self) -> &sqlx::SqlitePool {
        self.state
            .store
            .sqlite()
            .expect("this test's server runs on SQLite")
            .pool()
    }

    pub fn advance(&self, d: TimeDelta) {
        self.clock.advance(d);
    }

    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    pub async fn get(&self, token: &str, path: &str) -> Answer {
        self.call(token, Method::GET, path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Answer {
        self.call(token, Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> Answer {
        self.call(token, Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> Answer {
        self.call(token, Method::PATCH, path, Some(body)).await
    }

    /// A tenant with `paid` seats, 24x7, created by the operator; returns its id.
    pub async fn tenant(&self, name: &str, paid: u32) -> String {
        let body = self
            .post(
                OPERATOR_TOKEN,
                "/api/v1/tenants",
                json!({
                    "name": name, "plan": "commercial", "seats": { "paid": paid },
                    "first_purchase": "2020-01-01", "cloud": "commercial", "window": "24x7",
                }),
            )
            .await
            .ok();
        body["result"]["id"]
            .as_str()
            .expect("a tenant id")
            .to_string()
    }

    /// Give `user` `role` on `tenant`; returns the new user's token.
    pub async fn member(&self, tenant: &str, user: &str, role: &str) -> String {
        let body = self
            .post(
                OPERATOR_TOKEN,
                &format!("/api/v1/tenants/{tenant}/members"),
                json!({ "user": user, "role": role }),
            )
            .await
            .ok();
        body["result"]["token"]
            .as_str()
            .expect("a new user's token")
            .to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestServer {
    /// A project of `workload` on `tenant`, created by the operator; returns its base path
    /// `/api/v1/tenants/{tenant}/projects/{id}`.
    pub async fn project(&self, tenant: &str, name: &str, workload: &str) -> String {
        let p = self
            .post(
                OPERATOR_TOKEN,
                &format!("/api/v1/tenants/{tenant}/projects"),
                json!({ "name": name, "workload": workload }),
            )
            .await
            .ok();
        let id = p["result"]["id"].as_str().expect("a project id");
        format!("/api/v1/tenants/{tenant}/projects/{id}")
    }

    /// Import `rows` (CSV lines `EmailAddress,UserName,Password`, no header) as `token` into the mail
    /// project at `api`, all or nothing; every mapping of the project afterwards, in import order.
    pub async fn import_mail(&self, token: &str, api: &str, rows: &str) -> Vec<Value> {
        let csv = format!("EmailAddress,UserName,Password\n{rows}");
        self.post(token, &format!("{api}/mappings"), json!({ "csv": csv }))
            .await
            .ok();
        let all = self.get(token, &format!("{api}/mappings")).await.ok();
        all["mappings"].as_array().expect("mappings").clone()
    }

    /// Confirm every gate of the project at `base` as the operator.
    pub async fn confirm_gates(&self, base: &str) {
        let gates = self
            .get(OPERATOR_TOKEN, &format!("{base}/gates"))
            .await
            .ok();
        for g in gates["gates"].as_array().expect("gates") {
            let kind = g["kind"].as_str().expect("a gate kind");
            self.post(
                OPERATOR_TOKEN,
                &format!("{base}/gates/{kind}/confirm"),
                json!({}),
            )
            .await
            .ok();
        }
    }
}
