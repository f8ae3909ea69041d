//! The migration programme's store (issue 12 §1): tenants, users and roles, projects, endpoints,
//! credentials, mappings, gates, assessments, events, passes, tickets, the audit log and transactions.
//!
//! The server holds no SQL: every programme query is a method of one of the area traits below, which
//! [`Programme`] gathers. A [`ProgrammeStore`] runs each method on its own (autocommit) or, through
//! [`ProgrammeStore::begin`], inside a [`ProgrammeTx`] that [`ProgrammeTx::commit`] ends; dropping a
//! transaction without committing rolls it back. Rows are typed structs ([`rows`]); ids and times are
//! Ferry's types. [`SqliteProgramme`] is the embedded implementation; [`PgProgramme`] implements the same
//! traits on PostgreSQL and runs the same test suite (`crates/store/tests/programme/*.rs`).

mod access;
mod event_lines;
mod event_pages;
mod events;
mod findings;
mod grid;
mod pg;
mod projects;
pub mod rows;
mod sqlite;

pub use access::{AccessQueries, AuditQueries};
pub use event_lines::{
    EventLineQueries, EventLineWrite, LineCount, LineCounters, LineSelect, PassEnds, StoredLine,
};
pub use event_pages::{EventPageQueries, MappingPage, Membership};
pub use events::{EventQueries, PassQueries};
pub use findings::{AssessmentQueries, TicketQueries};
pub use grid::{GridFilter, GridPage, GridQueries, GridRow, StaleStatus, StatusWrite};
pub use pg::PgProgramme;
pub use projects::{EndpointQueries, MappingQueries, ProjectQueries};
pub use rows::*;
pub use sqlite::SqliteProgramme;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::{Error, ErrorKind, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Rows per multi-row `INSERT` on SQLite: 8 columns × 500 rows stays far below its 32,766 bound
/// variables.
pub(crate) const SQLITE_BATCH: usize = 500;

/// Credentials to store in one statement: one per owner, the last given (an upsert may not touch a row
/// twice in one statement), in the order given.
pub(crate) fn last_per_owner(cs: &[CredentialWrite]) -> Vec<&CredentialWrite> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<&CredentialWrite> = cs
        .iter()
        .rev()
        .filter(|c| seen.insert((c.project, c.owner.as_str())))
        .collect();
    out.reverse();
    out
}

/// Every programme query, on the pool or inside a transaction.
pub trait Programme:
    AccessQueries
    + AuditQueries
    + ProjectQueries
    + EndpointQueries
    + MappingQueries
    + EventQueries
    + PassQueries
    + AssessmentQueries
    + TicketQueries
    + GridQueries
    + EventPageQueries
    + EventLineQueries
    + Send
    + Sync
{
}
impl<T> Programme for T where
    T: AccessQueries
        + AuditQueries
        + ProjectQueries
        + EndpointQueries
        + MappingQueries
        + EventQueries
        + PassQueries
        + AssessmentQueries
        + TicketQueries
        + GridQueries
        + EventPageQueries
        + EventLineQueries
        + Send
        + Sync
{
}

/// The programme store: queries on their own, or a transaction.
#[async_trait]
pub trait ProgrammeStore: Programme {
    /// Start a transaction; its queries see each other's writes and land together on
    /// [`ProgrammeTx::commit`].
    async fn begin(&self) -> Result<Box<dyn ProgrammeTx>>;
}

/// One database transaction over the programme tables. Dropped without a commit, it rolls back.
#[async_trait]
pub trait ProgrammeTx: Programme {
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// How programme times are stored: RFC 3339, UTC, milliseconds.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A stored time back into a time.
pub fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| damaged(format!("a stored time {s:?} is damaged: {e}")))
}

/// A stored snake_case enum name back into its type.
pub fn parse_enum<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_value(Value::String(s.to_string()))
        .map_err(|e| damaged(format!("a stored value {s:?} is damaged: {e}")))
}

/// A serde enum's snake_case name (how enums are stored).
pub fn enum_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

/// A stored id back into its type.
pub(crate) fn parse_id<T: std::str::FromStr<Err = Error>>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|e: Error| damaged(format!("a stored id {s:?} is damaged: {e}")))
}

/// A transaction row as both stores select it: id, who (the creator's shown name), action, target, status,
/// detail, created by, created at, updated at.
pub(crate) type TransactionTuple = (
    String,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

/// The [`TransactionEntry`] of a [`TransactionTuple`].
pub(crate) fn transaction_entry(
    (id, who, action, target, status, detail, created_by, created, updated): TransactionTuple,
) -> Result<TransactionEntry> {
    Ok(TransactionEntry {
        id: parse_id(&id)?,
        who,
        row: TransactionRow {
            action,
            target,
            status: parse_enum(&status)?,
            detail,
            created_by,
            created_at: parse_ts(&created)?,
            updated_at: parse_ts(&updated)?,
        },
    })
}

pub(crate) fn damaged(message: String) -> Error {
    Error::new(ErrorKind::Store, message)
}

/// A JSON document as stored.
pub(crate) fn to_doc<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::new(ErrorKind::Unexpected, e.to_string()))
}
