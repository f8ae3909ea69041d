//! Each event's mappings summed in the store (issue 13): the live view and the report pages read an event's
//! counts per phase and grade, its totals, a page's lines and its throughput, not every pass of its mappings.
//!
//! As with the grid's statuses ([`super::grid`]), the store keeps the rules' results, not the rules: the
//! server decides each line [`EventLineQueries::stale_event_lines`] names and stores it with
//! [`EventLineQueries::put_event_lines`]; the store's triggers mark a line stale in the same transaction as
//! any change it was decided from (a pass of the mapping in any event starting, ending, going, being claimed
//! or given back; the event's start or kind changing; a credential).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{EventId, MappingId};

/// A decided line to store.
#[derive(Clone, Debug, PartialEq)]
pub struct EventLineWrite {
    pub mapping: MappingId,
    /// The `version` of the stale line it was decided from: stored only if nothing changed since.
    pub version: i64,
    /// The line holds until then (a wait ends); `None`: until something changes.
    pub until: Option<DateTime<Utc>>,
    /// The settings the line was decided under (a line decided under others is stale).
    pub rules: String,
    /// `queued`, `running`, `done` or `failed` (the server names the phases).
    pub phase: String,
    pub grade: Option<String>,
    pub counters: LineCounters,
    /// The report's line as JSON.
    pub line: String,
    /// The mapping's outcome in the event as JSON.
    pub outcome: Option<String>,
}

/// A line's counters (or their sum).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineCounters {
    pub discovered: u64,
    pub copied: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: u64,
}

/// The event's lines of one phase and grade: how many, and their counters summed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineCount {
    pub phase: String,
    pub grade: Option<String>,
    pub mappings: u64,
    pub counters: LineCounters,
}

/// A stored line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLine {
    pub mapping: MappingId,
    pub phase: String,
    pub line: Option<String>,
    pub outcome: Option<String>,
}

/// Which of an event's lines to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineSelect {
    /// These mappings' (a page).
    Mappings(Vec<MappingId>),
    /// Those in this phase.
    Phase(String),
    /// Those with one of these grades.
    Grades(Vec<String>),
}

/// The event's passes that ended in one minute: when the first and the last of them ended, how many, and
/// the items (copied, skipped and failed) and bytes their counters hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassEnds {
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub passes: u64,
    pub items: u64,
    pub bytes: u64,
}

/// An event's lines, kept by the server and summed in the store.
#[async_trait]
pub trait EventLineQueries {
    /// The event's mappings whose line must be decided before the event is read, with their change count:
    /// a mapping with no line yet (a stale one is made here), one marked stale by a change, one whose
    /// time came (`until <= now`), one decided under other `rules`. In import order.
    async fn stale_event_lines(
        &self,
        event: EventId,
        now: DateTime<Utc>,
        rules: &str,
    ) -> Result<Vec<super::StaleStatus>>;
    /// Store decided lines of `event`, each only where its `gen` is still current; how many were stored.
    async fn put_event_lines(&self, event: EventId, lines: &[EventLineWrite]) -> Result<u64>;
    /// The event's lines counted and summed by phase and grade.
    async fn event_line_counts(&self, event: EventId) -> Result<Vec<LineCount>>;
    /// The event's lines `which` selects, in import order.
    async fn event_lines(&self, event: EventId, which: &LineSelect) -> Result<Vec<StoredLine>>;
    /// The graded mappings of the event and their grades, in import order.
    async fn event_line_grades(&self, event: EventId) -> Result<Vec<(MappingId, String)>>;
    /// The event's finished passes with counters, by the minute they ended, oldest first.
    async fn event_pass_ends(&self, event: EventId) -> Result<Vec<PassEnds>>;
    /// Every pass of these mappings, in any event; each mapping's oldest first (the stale lines' histories,
    /// without reading the rest of the event's).
    async fn mappings_passes(&self, mappings: &[MappingId]) -> Result<Vec<super::StoredPass>>;
}

/// A count row as both stores select it: phase, grade, mappings, discovered, copied, skipped, failed, bytes.
pub(crate) type CountTuple = (String, Option<String>, i64, i64, i64, i64, i64, i64);

pub(crate) fn line_count(t: CountTuple) -> LineCount {
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    LineCount {
        phase: t.0,
        grade: t.1,
        mappings: u(t.2),
        counters: LineCounters {
            discovered: u(t.3),
            copied: u(t.4),
            skipped: u(t.5),
            failed: u(t.6),
            bytes: u(t.7),
        },
    }
}

/// A pass-ends row as both stores select it: first end, last end, passes, items, bytes.
pub(crate) type EndsTuple = (String, String, i64, i64, i64);

pub(crate) fn pass_ends(t: EndsTuple) -> Result<PassEnds> {
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(PassEnds {
        first: super::parse_ts(&t.0)?,
        last: super::parse_ts(&t.1)?,
        passes: u(t.2),
        items: u(t.3),
        bytes: u(t.4),
    })
}

/// A stored-line row as both stores select it: mapping, phase, line, outcome.
pub(crate) type LineTuple = (String, String, Option<String>, Option<String>);

pub(crate) fn stored_line(t: LineTuple) -> Result<StoredLine> {
    Ok(StoredLine {
        mapping: super::parse_id(&t.0)?,
        phase: t.1,
        line: t.2,
        outcome: t.3,
    })
}
