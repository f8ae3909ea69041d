//! PostgreSQL `LISTEN/NOTIFY` for the progress feed of several `ferry` processes on one database: a
//! [`PgNotifier`] sends `pg_notify(channel, payload)`, a [`PgSubscription`] hears every notification of
//! one channel (through sqlx's `PgListener`). A notification is transient: one sent while a listener's
//! connection is down is not replayed, so what rides on it must be a hint (the feed's notices are: a view
//! refreshes on its own as well), never data.

use crate::pg::db_err;
use ferry_core::{Error, ErrorKind, Result};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// Sends notifications and opens subscriptions on one database. Not `Debug`: nothing about the connection
/// (its password) is ever printed.
#[derive(Clone)]
pub struct PgNotifier {
    pool: PgPool,
}

/// The longest wait between two attempts to listen again after the connection was lost.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl PgNotifier {
    /// A small pool of its own on `url` (connected lazily: the store's own connect has checked the
    /// database already).
    pub fn connect(url: &str) -> Result<PgNotifier> {
        let opts = PgConnectOptions::from_str(url).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "the store URL {} is not a PostgreSQL URL: {}",
                    ferry_core::error::redact_url(url),
                    super::scrub(&e.to_string(), url)
                ),
            )
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(opts.application_name("ferry-feed"));
        Ok(PgNotifier { pool })
    }

    /// `pg_notify(channel, payload)` (PostgreSQL limits a payload to 8000 bytes).
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Listen on `channel` from now on.
    pub async fn listen(&self, channel: &str) -> Result<PgSubscription> {
        let listener = listener(&self.pool, channel).await?;
        Ok(PgSubscription {
            pool: self.pool.clone(),
            channel: channel.to_string(),
            listener: Some(listener),
        })
    }
}

async fn listener(pool: &PgPool, channel: &str) -> Result<PgListener> {
    let mut l = PgListener::connect_with(pool).await.map_err(db_err)?;
    l.ignore_pool_close_event(true);
    l.listen(channel).await.map_err(db_err)?;
    Ok(l)
}

/// What a subscription hears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// A notification's payload.
    Payload(String),
    /// The connection was lost and is listening again: notifications sent meanwhile are gone.
    Reconnected,
}

/// The notifications of one channel.
pub struct PgSubscription {
    pool: PgPool,
    channel: String,
    /// `None` after a lost connection, until listening again succeeds.
    listener: Option<PgListener>,
}

impl PgSubscription {
    /// The next notification. A lost connection (the database restarted, the backend was terminated) is
    /// listened on again, waiting up to [`MAX_BACKOFF`] between attempts for as long as it takes; then
    /// [`Heard::Reconnected`] says that some notifications may have been missed.
    pub async fn recv(&mut self) -> Heard {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.listener.as_mut() {
                Some(l) => match l.try_recv().await {
                    Ok(Some(n)) => return Heard::Payload(n.payload().to_string()),
                    // sqlx has reconnected (and listens again) already.
                    Ok(None) => return Heard::Reconnected,
                    Err(e) => {
                        tracing::warn!(
                            channel = %self.channel,
                            error = %db_err(e),
                            "the store's notification connection was lost; listening again"
                        );
                        // A fresh listener rather than the one in an unknown state.
                        self.listener = None;
                    }
                },
                None => match listener(&self.pool, &self.channel).await {
                    Ok(l) => {
                        self.listener = Some(l);
                        return Heard::Reconnected;
                    }
                    Err(e) => {
                        tracing::warn!(channel = %self.channel, error = %e, "cannot listen to the store's notifications yet; trying again");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                },
            }
        }
    }
}
