//! The programme on PostgreSQL (issue 12 §2): one handle type, [`PgProgramme`], that runs each query either
//! on a connection of the pool (autocommit) or inside the transaction it owns — the same shape as
//! [`super::SqliteProgramme`], with the same SQL but for PostgreSQL's placeholders, `seq` columns where
//! SQLite ordered by `rowid`, and `FILTER`/`jsonb` where SQLite summed booleans and used `json_extract`.
//! Transactions are PostgreSQL's default READ COMMITTED.

mod access;
mod event_lines;
mod event_pages;
mod events;
mod findings;
mod grid;
mod mappings;
mod projects;

use super::{ProgrammeStore, ProgrammeTx};
use crate::pg::db_err;
use async_trait::async_trait;
use ferry_core::{Error, ErrorKind, Result};
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::ops::{Deref, DerefMut};
use tokio::sync::{Mutex, MutexGuard};

/// The programme tables of a PostgreSQL store: on the pool (each call its own statement) or inside one
/// transaction (from [`ProgrammeStore::begin`]).
pub struct PgProgramme {
    handle: Handle,
}

enum Handle {
    Pool(PgPool),
    Tx(Mutex<Transaction<'static, Postgres>>),
}

/// A connection to run one query on: a pooled one, or the transaction's.
pub(crate) enum Conn<'a> {
    Pooled(PoolConnection<Postgres>),
    Tx(MutexGuard<'a, Transaction<'static, Postgres>>),
}

impl Deref for Conn<'_> {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Tx(g) => g,
        }
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Tx(g) => g,
        }
    }
}

impl PgProgramme {
    /// The programme on `pool`.
    pub fn new(pool: PgPool) -> PgProgramme {
        PgProgramme {
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
impl ProgrammeStore for PgProgramme {
    async fn begin(&self) -> Result<Box<dyn ProgrammeTx>> {
        match &self.handle {
            Handle::Pool(p) => {
                let tx = p.begin().await.map_err(db_err)?;
                Ok(Box::new(PgProgramme {
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
impl ProgrammeTx for PgProgramme {
    async fn commit(self: Box<Self>) -> Result<()> {
        match self.handle {
            Handle::Tx(m) => m.into_inner().commit().await.map_err(db_err),
            Handle::Pool(_) => Ok(()),
        }
    }
}
