//! The programme on SQLite: one handle type, [`SqliteProgramme`], that runs each query either on a
//! connection of the pool (autocommit) or inside the transaction it owns.

mod access;
mod event_lines;
mod event_pages;
mod events;
mod findings;
mod grid;
mod mappings;
mod projects;

use super::{ProgrammeStore, ProgrammeTx};
use crate::sqlite::db_err;
use async_trait::async_trait;
use ferry_core::{Error, ErrorKind, Result};
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::ops::{Deref, DerefMut};
use tokio::sync::{Mutex, MutexGuard};

/// The programme tables of a SQLite store: on the pool (each call its own statement) or inside one
/// transaction (from [`ProgrammeStore::begin`]).
pub struct SqliteProgramme {
    handle: Handle,
}

enum Handle {
    Pool(SqlitePool),
    Tx(Mutex<Transaction<'static, Sqlite>>),
}

/// A connection to run one query on: a pooled one, or the transaction's.
pub(crate) enum Conn<'a> {
    Pooled(PoolConnection<Sqlite>),
    Tx(MutexGuard<'a, Transaction<'static, Sqlite>>),
}

impl Deref for Conn<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Tx(g) => g,
        }
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Tx(g) => g,
        }
    }
}

impl SqliteProgramme {
    /// The programme on `pool`.
    pub fn new(pool: SqlitePool) -> SqliteProgramme {
        SqliteProgramme {
            handle: Handle::Pool(pool),
        }
    }

    pub(crate) async fn conn(&self) -> Result<Conn<'_>> {
        match &self.handle {
            Handle::Pool(p) => Ok(Conn::Pooled(p.acquire().await.map_err(db_err)?)),
            Handle::Tx(m) => Ok(Conn::Tx(m.lock().await)),
        }
    }
}

#[async_trait]
impl ProgrammeStore for SqliteProgramme {
    async fn begin(&self) -> Result<Box<dyn ProgrammeTx>> {
        match &self.handle {
            Handle::Pool(p) => {
                let tx = p.begin().await.map_err(db_err)?;
                Ok(Box::new(SqliteProgramme {
                    handle: Handle::Tx(Mutex::new(tx)),
                }))
            }
            Handle::Tx(_) => Err(Error::new(
                ErrorKind::Unexpected,
                "store: a programme transaction cannot begin another one",
            )),
        }
    }
}

#[async_trait]
impl ProgrammeTx for SqliteProgramme {
    async fn commit(self: Box<Self>) -> Result<()> {
        match self.handle {
            Handle::Tx(m) => m.into_inner().commit().await.map_err(db_err),
            Handle::Pool(_) => Ok(()),
        }
    }
}
