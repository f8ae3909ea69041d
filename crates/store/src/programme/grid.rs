//! The mappings grid (issue 13): one page of a project's mappings, filtered and counted in the store, each
//! with its status as the pass rules last decided it (`prog_mapping_status`).
//!
//! The rules live in Rust (`ferry_core::programme::pass`), so the store keeps their decisions, not the rules:
//! the server decides each mapping [`GridQueries::stale_statuses`] names and stores the decisions with
//! [`GridQueries::put_statuses`]; the store's triggers mark a status stale in the same transaction as any
//! change it was decided from (a pass starting, ending or going; the mapping joining or leaving an event; an
//! event's start or kind; a credential). [`GridQueries::mapping_grid`] then reads one page: its cost is the
//! page's rows plus one count over the project's status rows, not the project's passes.

use super::rows::StoredPass;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{EventId, MappingId, ProjectId};

/// What the grid filters on (each `None`: any).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GridFilter {
    /// A substring of the mapping's label, source or target, in lower case (compared with their lower case).
    pub search: Option<String>,
    /// The stored state (the server names the states).
    pub state: Option<String>,
    /// The mapping's grid event: the latest (by start) that holds it.
    pub event: Option<EventId>,
    /// The grade of the mapping's latest pass, when that pass succeeded.
    pub grade: Option<String>,
}

/// A mapping whose status must be decided, and its change count (the `gen` column) when read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleStatus {
    pub mapping: MappingId,
    pub version: i64,
}

impl StaleStatus {
    /// The `(mapping_id, gen)` rows a store read (the grid's statuses or an event's lines), in order.
    pub(crate) fn from_rows(rows: Vec<(String, i64)>) -> Result<Vec<StaleStatus>> {
        rows.into_iter()
            .map(|(m, version)| {
                Ok(StaleStatus {
                    mapping: crate::programme::parse_id(&m)?,
                    version,
                })
            })
            .collect()
    }
}

/// A decided status to store.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusWrite {
    pub mapping: MappingId,
    /// The `version` of the [`StaleStatus`] it was decided from: stored only if nothing changed since.
    pub version: i64,
    /// The latest event (by start) holding the mapping (`None`: in no event).
    pub event: Option<EventId>,
    pub state: String,
    /// The rules' decision as JSON.
    pub decision: Option<String>,
    /// The decision holds until then (a wait ends); `None`: until something changes.
    pub until: Option<DateTime<Utc>>,
    /// The mapping's latest pass, in any event.
    pub last_pass: Option<String>,
    /// The settings the decision was made under (a status made under others is stale).
    pub rules: String,
}

/// One row of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct GridRow {
    pub mapping: MappingId,
    pub label: String,
    /// The grid event's id and name.
    pub event: Option<(EventId, String)>,
    pub state: String,
    pub decision: Option<String>,
    /// The mapping's latest pass.
    pub last: Option<StoredPass>,
}

/// One page of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct GridPage {
    /// The project's mappings.
    pub total: u64,
    /// Those the filter keeps.
    pub matching: u64,
    /// The page's rows, in import order (by mapping id).
    pub rows: Vec<GridRow>,
}

/// A grid row as both stores select it: mapping id, label, event id, event name, state, decision, latest
/// pass id.
pub(crate) type GridTuple = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A page from the rows both stores selected and their latest passes by id (taken out of `passes`).
pub(crate) fn grid_page(
    total: i64,
    matching: i64,
    rows: Vec<GridTuple>,
    mut passes: std::collections::HashMap<String, StoredPass>,
) -> Result<GridPage> {
    let mut out = Vec::with_capacity(rows.len());
    for (id, label, event, name, state, decision, last) in rows {
        out.push(GridRow {
            mapping: super::parse_id(&id)?,
            label,
            event: match event {
                Some(e) => Some((super::parse_id(&e)?, name.unwrap_or_default())),
                None => None,
            },
            state: state.unwrap_or_default(),
            decision,
            last: last.and_then(|l| passes.remove(&l)),
        });
    }
    Ok(GridPage {
        total: u64::try_from(total).unwrap_or(0),
        matching: u64::try_from(matching).unwrap_or(0),
        rows: out,
    })
}

/// The grid's statuses and pages.
#[async_trait]
pub trait GridQueries {
    /// The project's mappings whose status must be decided before a page is read: a mapping with none yet
    /// (a row is made for it here), one marked stale by a change, one whose decision's time came
    /// (`until <= now`), one decided under other `rules`.
    async fn stale_statuses(
        &self,
        project: ProjectId,
        now: DateTime<Utc>,
        rules: &str,
    ) -> Result<Vec<StaleStatus>>;
    /// Store decided statuses, each only where its `gen` is still current (a change since keeps the row
    /// stale for the next reader); how many were stored.
    async fn put_statuses(&self, statuses: &[StatusWrite]) -> Result<u64>;
    /// One page (`offset`, `limit` rows) of the project's mappings the filter keeps, in import order, with
    /// the count of all and of those kept.
    async fn mapping_grid(
        &self,
        project: ProjectId,
        filter: &GridFilter,
        offset: u64,
        limit: u64,
    ) -> Result<GridPage>;
    /// The project's events for the grid's event filter: (id, name), by start.
    async fn event_names(&self, project: ProjectId) -> Result<Vec<(EventId, String)>>;
}
