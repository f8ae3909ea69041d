//! An event's live status, as the live view shows it: how many of its mappings are running, queued, done
//! and failed, the items so far (with the counters of running passes), the grade once a round is over, and
//! a page of its mappings. Read from the event's stored report lines ([`super::event_lines`]), so the live
//! view and the report never disagree; the event is summed in the store, not read (issue 13).

use crate::db::Project;
use crate::programme::event_lines::summary;
use crate::programme::events::Event;
use crate::{ApiResult, AppState};
use chrono::{DateTime, Utc};
use ferry_core::programme::event::EventState;
use ferry_store::programme::{LineCounters, Membership};
use serde_json::Value;

/// Where one mapping of the event stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MappingPhase {
    /// No pass of this round has finished yet and none runs now.
    Queued,
    Running,
    /// Its last pass in this event succeeded (or it was sealed already).
    Done,
    /// Every attempt failed: it needs an engineer (retry) or a corrected credential.
    Failed,
}

impl MappingPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            MappingPhase::Queued => "queued",
            MappingPhase::Running => "running",
            MappingPhase::Done => "done",
            MappingPhase::Failed => "failed",
        }
    }
}

/// One mapping's row in the live view.
#[derive(Clone, Debug)]
pub struct LiveMapping {
    pub label: String,
    pub phase: MappingPhase,
    pub discovered: u64,
    pub copied: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: u64,
    pub grade: Option<String>,
    pub next: String,
}

/// The event's status now.
#[derive(Clone, Debug)]
pub struct LiveStatus {
    pub state: EventState,
    pub grade: Option<String>,
    pub completion: Option<String>,
    pub running: usize,
    pub queued: usize,
    pub done: usize,
    pub failed: usize,
    pub discovered: u64,
    pub copied: u64,
    pub skipped: u64,
    pub failed_items: u64,
    pub bytes: u64,
    /// Items discovered by the mappings that are done (what a queued one is expected to hold).
    pub done_discovered: u64,
    /// The page's mappings, in import order.
    pub mappings: Vec<LiveMapping>,
    /// The event's mappings.
    pub total: usize,
    /// The index of the page's first mapping among them.
    pub offset: usize,
    pub at: DateTime<Utc>,
}

impl LiveStatus {
    /// Items handled so far (copied, skipped or failed): what throughput counts.
    pub fn handled(&self) -> u64 {
        self.copied + self.skipped + self.failed_items
    }

    /// Items discovered but not yet handled, in mappings that ran or run.
    pub fn outstanding(&self) -> u64 {
        self.discovered.saturating_sub(self.handled())
    }

    /// Whether nothing will change any more without someone acting (the view stops refreshing).
    pub fn settled(&self) -> bool {
        matches!(self.state, EventState::Completed | EventState::Cancelled)
    }

    /// `mappings` mappings in `phase` whose counters sum to `t`.
    fn add_sum(&mut self, phase: MappingPhase, mappings: usize, t: &LineCounters) {
        match phase {
            MappingPhase::Queued => self.queued += mappings,
            MappingPhase::Running => self.running += mappings,
            MappingPhase::Done => {
                self.done += mappings;
                self.done_discovered += t.discovered;
            }
            MappingPhase::Failed => self.failed += mappings,
        }
        self.discovered += t.discovered;
        self.copied += t.copied;
        self.skipped += t.skipped;
        self.failed_items += t.failed;
        self.bytes += t.bytes;
    }

    fn add(&mut self, row: &LiveMapping, times: usize) {
        let n = times as u64;
        match row.phase {
            MappingPhase::Queued => self.queued += times,
            MappingPhase::Running => self.running += times,
            MappingPhase::Done => {
                self.done += times;
                self.done_discovered += row.discovered * n;
            }
            MappingPhase::Failed => self.failed += times,
        }
        self.discovered += row.discovered * n;
        self.copied += row.copied * n;
        self.skipped += row.skipped * n;
        self.failed_items += row.failed * n;
        self.bytes += row.bytes * n;
    }
}

fn n(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// A mapping's live row from its report line.
pub(crate) fn live_row(m: &Value) -> LiveMapping {
    let outcome = m["last_pass"]["outcome"].as_str().unwrap_or("");
    let decision = m["next"]["decision"].as_str().unwrap_or("");
    // A pass given back until a server's wait is over holds no slot: it counts as queued.
    let waiting = !m["last_pass"]["waiting_until"].is_null();
    let phase = if outcome == "running" && waiting {
        MappingPhase::Queued
    } else if outcome == "running" {
        MappingPhase::Running
    } else if decision == "failed" {
        MappingPhase::Failed
    } else if outcome == "succeeded" || decision == "sealed" {
        MappingPhase::Done
    } else {
        MappingPhase::Queued
    };
    // A running pass: the counters it reached so far on top of what is on the target already.
    let c = &m["counters"];
    let live = &m["live"];
    LiveMapping {
        label: m["label"].as_str().unwrap_or("").to_owned(),
        phase,
        discovered: n(c, "discovered").max(n(live, "discovered")),
        copied: n(c, "copied").max(n(live, "copied")),
        skipped: n(c, "skipped").max(n(live, "skipped")),
        failed: if phase == MappingPhase::Running {
            n(live, "failed")
        } else {
            n(c, "failed")
        },
        bytes: n(c, "bytes") + n(live, "bytes"),
        grade: m["grade"].as_str().map(str::to_owned),
        next: m["next_text"].as_str().unwrap_or("").to_owned(),
    }
}

/// A phase by its name.
fn phase_named(s: &str) -> Option<MappingPhase> {
    [
        MappingPhase::Queued,
        MappingPhase::Running,
        MappingPhase::Done,
        MappingPhase::Failed,
    ]
    .into_iter()
    .find(|p| p.as_str() == s)
}

/// `e`'s live status at `now`, with the page of `limit` mappings from `offset` (import order). The counts
/// and totals are summed in the store ([`summary`]); the running mappings are read to add the counters
/// their passes reached so far.
pub async fn live_status(
    st: &AppState,
    p: &Project,
    e: &Event,
    now: DateTime<Utc>,
    offset: usize,
    limit: usize,
) -> ApiResult<LiveStatus> {
    let s = summary(st, p, e, now).await?;
    let page = st
        .programme
        .event_mapping_page(p.id, e.id, Membership::In, offset as u64, limit as u64)
        .await?;
    let mut out = LiveStatus {
        state: e.state,
        grade: s.head["grade"].as_str().map(str::to_owned),
        completion: s.head["completion_text"].as_str().map(str::to_owned),
        running: 0,
        queued: 0,
        done: 0,
        failed: 0,
        discovered: 0,
        copied: 0,
        skipped: 0,
        failed_items: 0,
        bytes: 0,
        done_discovered: 0,
        mappings: s
            .lines(st, e, &page.rows)
            .await?
            .iter()
            .map(live_row)
            .collect(),
        total: usize::try_from(page.total).unwrap_or(usize::MAX),
        offset,
        at: now,
    };
    for c in &s.counts {
        let Some(phase) = phase_named(&c.phase) else {
            continue;
        };
        if phase == MappingPhase::Running {
            continue;
        }
        // A line that is not running shows its counters as stored: the group's sums.
        out.add_sum(
            phase,
            usize::try_from(c.mappings).unwrap_or(usize::MAX),
            &c.counters,
        );
    }
    for line in s.lines_in(st, e, MappingPhase::Running.as_str()).await? {
        out.add(&live_row(&line), 1);
    }
    Ok(out)
}
