//! One scheduler at a time (issue 12 §3): of all the `ferry serve` processes on one store, only the
//! *leader* schedules (starts events, records due passes and queues them), so two schedulers never record
//! or queue the same pass twice, and per-event rules see one writer.
//!
//! On PostgreSQL the leader holds a session-level advisory lock ([`SCHEDULER_LOCK`]) on a connection of
//! its own, outside every pool, for as long as it runs: the lock is the connection's, so a leader that
//! dies (killed, its machine cut off) loses it when PostgreSQL sees the connection close, and the next
//! process that asks takes the lead. A leader whose connection broke (the database restarted) steps down
//! at once and asks again like any other. On SQLite only one `ferry serve` runs on a file: it leads.

use crate::pg::db_err;
use async_trait::async_trait;
use ferry_core::{Error, ErrorKind, Result};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::str::FromStr;
use tokio::sync::Mutex;

/// The advisory lock key of the scheduler's leader (`ferrys` in ASCII; the migrations use `ferry`).
pub const SCHEDULER_LOCK: i64 = 0x6665_7272_7973;

/// Whether this process schedules.
#[async_trait]
pub trait Leadership: Send + Sync {
    /// `true` when this process leads now: it takes the lead when nobody holds it, and keeps it while its
    /// lock holds. Ask before every scheduling step; `false` means another process schedules.
    async fn lead(&self) -> Result<bool>;
}

/// The only process on its store (SQLite): always the leader.
pub struct Solo;

#[async_trait]
impl Leadership for Solo {
    async fn lead(&self) -> Result<bool> {
        Ok(true)
    }
}

/// The leader's lock on PostgreSQL. Not `Debug`: the options hold the password.
pub struct PgLeader {
    options: PgConnectOptions,
    key: i64,
    state: Mutex<LeaderState>,
}

#[derive(Default)]
struct LeaderState {
    /// The dedicated connection (kept while waiting for the lock too, not reopened at every ask).
    conn: Option<PgConnection>,
    /// Whether `conn`'s session holds the lock.
    held: bool,
}

impl PgLeader {
    /// The leader lock of the database at `url`, on the scheduler's key; nothing is connected yet.
    pub fn new(url: &str) -> Result<PgLeader> {
        PgLeader::with_key(url, SCHEDULER_LOCK)
    }

    /// As [`PgLeader::new`] on another key (tests).
    pub fn with_key(url: &str, key: i64) -> Result<PgLeader> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "the store URL {} is not a PostgreSQL URL",
                        ferry_core::redact_url(url)
                    ),
                )
            })?
            .application_name("ferry-scheduler");
        Ok(PgLeader {
            options,
            key,
            state: Mutex::new(LeaderState::default()),
        })
    }
}

#[async_trait]
impl Leadership for PgLeader {
    async fn lead(&self) -> Result<bool> {
        let mut s = self.state.lock().await;
        if s.held {
            // A session-level lock lasts as long as its session: a live connection still holds it.
            let alive = match s.conn.as_mut() {
                Some(c) => c.ping().await.is_ok(),
                None => false,
            };
            if alive {
                return Ok(true);
            }
            *s = LeaderState::default();
            return Err(Error::new(
                ErrorKind::Store,
                "the scheduler's leader lock was lost with its connection to PostgreSQL; this process \
                 stopped scheduling and asks again",
            )
            .temporary());
        }
        if s.conn.is_none() {
            s.conn = Some(
                PgConnection::connect_with(&self.options)
                    .await
                    .map_err(db_err)?,
            );
        }
        let Some(conn) = s.conn.as_mut() else {
            return Ok(false);
        };
        let got = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
            .bind(self.key)
            .fetch_one(&mut *conn)
            .await;
        match got {
            Ok(held) => {
                s.held = held;
                Ok(held)
            }
            Err(e) => {
                // A broken connection: open a new one at the next ask.
                *s = LeaderState::default();
                Err(db_err(e))
            }
        }
    }
}
