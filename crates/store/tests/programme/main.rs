//! The programme store's suite (issue 12 §1): every area trait of `ferry_store::programme`, written against
//! `&dyn ProgrammeStore` so the PostgreSQL implementation runs the same cases. Each case gets a fresh store
//! from [`fresh`]; today that is a SQLite file in a temp dir.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

mod access;
mod events;
mod projects;

use ferry_store::SqliteStore;
use ferry_store::programme::{ProgrammeStore, SqliteProgramme};

/// A fresh, migrated programme store (and what keeps it alive).
pub async fn fresh() -> (Box<dyn ProgrammeStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ferry.db"))
        .await
        .unwrap();
    (Box::new(SqliteProgramme::new(store.pool().clone())), dir)
}

/// A fixed time, plus `secs` seconds.
pub fn at(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap()
}
