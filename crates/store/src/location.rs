//! Which store a process uses (issue 12 §2): a SQLite file (the default, zero set-up) or a PostgreSQL
//! database shared by several processes — and the two stores it holds, the movers' journal ([`Journal`])
//! and the programme ([`ProgrammeStore`]), opened from it in one step.

use crate::programme::{PgProgramme, ProgrammeStore, SqliteProgramme};
use crate::{FileStore, JournalReads, PgStore, SqliteStore};
use ferry_core::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The movers' journal of either store, as a server holds it: every journal method, and
/// [`Journal::scoped`] for the journal of one programme mapping. Coerces to `Arc<dyn Store>` and
/// `Arc<dyn FileStore>` for the engine.
pub trait Journal: FileStore + JournalReads {
    /// The same store, whose journal mappings are those of `scope` (a programme mapping's id).
    fn scoped(&self, scope: &str) -> Arc<dyn Journal>;
    /// The SQLite store behind this journal, when it is one (tests reach its pool to inject faults).
    fn sqlite(&self) -> Option<&SqliteStore> {
        None
    }
    /// The PostgreSQL store behind this journal, when it is one.
    fn postgres(&self) -> Option<&PgStore> {
        None
    }
}

impl Journal for SqliteStore {
    fn scoped(&self, scope: &str) -> Arc<dyn Journal> {
        Arc::new(SqliteStore::scoped(self, scope))
    }
    fn sqlite(&self) -> Option<&SqliteStore> {
        Some(self)
    }
}

impl Journal for PgStore {
    fn scoped(&self, scope: &str) -> Arc<dyn Journal> {
        Arc::new(PgStore::scoped(self, scope))
    }
    fn postgres(&self) -> Option<&PgStore> {
        Some(self)
    }
}

/// Where the store lives: `--store` / `FERRY_STORE`. Its `Debug` and `Display` never show a password.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file (created with its directory when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL URL, `postgres://user:password@host:port/database` (or `postgresql://`).
    Postgres(String),
}

impl StoreLocation {
    /// `postgres://…` or `postgresql://…` is PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a plain path is
    /// a SQLite file. Anything else with a scheme is refused, naming what is accepted.
    pub fn parse(text: &str) -> Result<StoreLocation> {
        let t = text.trim();
        if t.is_empty() {
            return Err(Error::config(
                "the store is empty: give a PostgreSQL URL (postgres://user@host/db) or a SQLite file path",
            ));
        }
        if t.starts_with("postgres://") || t.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(t.to_string()));
        }
        if let Some(path) = t
            .strip_prefix("sqlite://")
            .or_else(|| t.strip_prefix("sqlite:"))
        {
            return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = t.split_once("://") {
            return Err(Error::config(format!(
                "the store {} has the scheme {scheme:?}, which Ferry does not know: use postgres://… for \
                 PostgreSQL or a file path (or sqlite:PATH) for SQLite",
                ferry_core::redact_url(t)
            )));
        }
        Ok(StoreLocation::Sqlite(PathBuf::from(t)))
    }

    /// The default store of a data directory: `DATA/ferry.db`.
    pub fn in_data_dir(data: &Path) -> StoreLocation {
        StoreLocation::Sqlite(data.join("ferry.db"))
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, StoreLocation::Postgres(_))
    }

    /// Who schedules among the processes on this store ([`crate::Leadership`]): on SQLite the one
    /// process ([`crate::Solo`]); on PostgreSQL whoever holds the scheduler's advisory lock
    /// ([`crate::PgLeader`]; nothing is connected until it is asked).
    pub fn leadership(&self) -> Result<Arc<dyn crate::Leadership>> {
        Ok(match self {
            StoreLocation::Sqlite(_) => Arc::new(crate::Solo),
            StoreLocation::Postgres(url) => Arc::new(crate::PgLeader::new(url)?),
        })
    }

    /// Open both stores (applying pending migrations). `max_connections` sizes a PostgreSQL pool; SQLite
    /// keeps its own small pool (one writer at a time).
    pub async fn open(
        &self,
        max_connections: u32,
    ) -> Result<(Arc<dyn Journal>, Arc<dyn ProgrammeStore>)> {
        match self {
            StoreLocation::Sqlite(path) => {
                let store = SqliteStore::open(path).await?;
                let programme = Arc::new(SqliteProgramme::new(store.pool().clone()));
                Ok((Arc::new(store), programme))
            }
            StoreLocation::Postgres(url) => {
                let store = PgStore::connect(url, max_connections).await?;
                let programme = Arc::new(PgProgramme::new(store.pool().clone()));
                Ok((Arc::new(store), programme))
            }
        }
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(p) => write!(f, "{}", p.display()),
            StoreLocation::Postgres(url) => f.write_str(&ferry_core::redact_url(url)),
        }
    }
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            StoreLocation::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&ferry_core::redact_url(url))
                .finish(),
        }
    }
}

impl std::str::FromStr for StoreLocation {
    type Err = Error;
    fn from_str(s: &str) -> Result<StoreLocation> {
        StoreLocation::parse(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is a failure with a message
mod tests {
    use super::StoreLocation;
    use std::path::PathBuf;

    #[test]
    fn a_store_location_is_a_postgres_url_or_a_sqlite_path_and_never_shows_a_password() {
        let pg = StoreLocation::parse("postgres://ferry:hunter2@db.internal:5432/ferry").unwrap();
        assert!(pg.is_postgres());
        assert_eq!(
            pg.to_string(),
            "postgres://ferry:***@db.internal:5432/ferry"
        );
        assert!(!format!("{pg:?}").contains("hunter2"));
        assert!(
            StoreLocation::parse("postgresql://h/db")
                .unwrap()
                .is_postgres()
        );
        assert_eq!(
            StoreLocation::parse("/var/lib/ferry/ferry.db").unwrap(),
            StoreLocation::Sqlite(PathBuf::from("/var/lib/ferry/ferry.db"))
        );
        assert_eq!(
            StoreLocation::parse("sqlite:ferry.db").unwrap(),
            StoreLocation::Sqlite(PathBuf::from("ferry.db"))
        );
        let err = StoreLocation::parse("mysql://root:pw@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("postgres://") && !err.contains("pw@"), "{err}");
        assert!(StoreLocation::parse("  ").is_err());
    }
}
