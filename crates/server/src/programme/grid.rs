//! The mappings grid's reading (issue 13): each mapping's state in the latest event (by start) that holds
//! it, as the pass rules decide it ([`passes::decide`], the scheduler's own reading), kept in the store so a
//! page is filtered, counted and paged there.
//!
//! The store keeps the decisions and marks one stale, in the same transaction, when something it was
//! decided from changes (a pass starts or ends, the mapping joins or leaves an event, an event moves, a
//! credential changes; `ferry_store::programme::GridQueries`). Before a page is read, [`refresh_statuses`]
//! decides the stale ones again: after a pass ends that is one mapping, after a new event its mappings.

use crate::db::Project;
use crate::programme::events::{Event, project_events};
use crate::programme::passes::{self, logins_supplied};
use crate::{ApiResult, AppState};
use chrono::{DateTime, Utc};
use ferry_core::id::MappingId;
use ferry_core::programme::ProgrammeSettings;
use ferry_core::programme::pass::PassDecision;
use ferry_store::programme::{GridFilter, GridPage, StatusWrite, StoredPass};
use std::collections::{BTreeSet, HashMap, HashSet};

/// A mapping in no event.
pub const NOT_SCHEDULED: &str = "not scheduled";

/// The states a mapping can be in on the grid (the filter's choices).
pub const STATES: [&str; 6] = [NOT_SCHEDULED, "due", "waiting", "running", "failed", "done"];

/// The grades a pass can reach (the filter's choices).
pub const GRADES: [&str; 4] = ["Perfect", "Good", "Investigate", "Poor"];

/// At most this many stale mappings are read one by one; more are read event by event.
const ONE_BY_ONE: usize = 32;

/// A decision's state on the grid: `due` (a pass should start now), `waiting` (the next pass is due at a
/// time), `running`, `failed` (every attempt of the pass failed) or `done` (a Final pass sealed it).
pub fn grid_state(d: &PassDecision) -> &'static str {
    match d {
        PassDecision::Run { .. } => "due",
        PassDecision::WaitUntil { .. } => "waiting",
        PassDecision::Running { .. } => "running",
        PassDecision::Failed { .. } => "failed",
        PassDecision::Sealed => "done",
    }
}

/// The settings the rules decide under, stored with each decision (a change of settings decides again).
pub fn rules_tag(s: &ProgrammeSettings) -> String {
    format!(
        "attempts={};delta_cadence_hours={}",
        s.max_attempts_per_mapping, s.delta_cadence_hours
    )
}

/// The latest event (by start; of equal starts, the later made) holding each of `wanted`.
fn latest_events<'a>(
    events: &'a [Event],
    wanted: &HashSet<MappingId>,
) -> HashMap<MappingId, &'a Event> {
    let mut order: Vec<&Event> = events.iter().collect();
    order.sort_by_key(|e| e.start);
    let mut out = HashMap::new();
    for e in order {
        for m in &e.mappings {
            if wanted.contains(m) {
                out.insert(*m, e);
            }
        }
    }
    out
}

/// The status of one mapping: its latest event, the rules' decision there, its latest pass.
pub fn status_of(
    st: &AppState,
    event: Option<&Event>,
    history: &[StoredPass],
    logins: &HashMap<String, DateTime<Utc>>,
    mapping: MappingId,
    now: DateTime<Utc>,
) -> Option<PassDecision> {
    event.map(|e| passes::decide(&st.settings, e, history, logins, mapping, now))
}

/// Decide again every status of the project the store names stale, and store the decisions; how many.
pub async fn refresh_statuses(st: &AppState, p: &Project) -> ApiResult<usize> {
    let now = st.clock.now();
    let rules = rules_tag(&st.settings);
    let stale = st.programme.stale_statuses(p.id, now, &rules).await?;
    if stale.is_empty() {
        return Ok(0);
    }
    let events = project_events(&*st.programme, p.id, &[]).await?;
    let wanted: HashSet<MappingId> = stale.iter().map(|s| s.mapping).collect();
    let latest = latest_events(&events, &wanted);
    let mut histories: HashMap<MappingId, Vec<StoredPass>> = HashMap::new();
    if latest.len() <= ONE_BY_ONE {
        for m in latest.keys() {
            histories.insert(*m, passes::mapping_passes(&*st.programme, *m).await?);
        }
    } else {
        // Every pass of an event's mappings in one query, for each event that is some mapping's latest.
        let of: BTreeSet<_> = latest.values().map(|e| e.id).collect();
        for event in of {
            for pass in st.programme.event_mapping_passes(event).await? {
                if latest.get(&pass.mapping).map(|e| e.id) == Some(event) {
                    histories.entry(pass.mapping).or_default().push(pass);
                }
            }
        }
    }
    let logins = if latest.is_empty() {
        HashMap::new()
    } else {
        logins_supplied(st, p).await?
    };
    let writes: Vec<StatusWrite> = stale
        .into_iter()
        .map(|s| {
            let event = latest.get(&s.mapping).copied();
            let history = histories.remove(&s.mapping).unwrap_or_default();
            let decision = status_of(st, event, &history, &logins, s.mapping, now);
            StatusWrite {
                mapping: s.mapping,
                version: s.version,
                event: event.map(|e| e.id),
                state: decision
                    .as_ref()
                    .map(grid_state)
                    .unwrap_or(NOT_SCHEDULED)
                    .to_owned(),
                until: match &decision {
                    Some(PassDecision::WaitUntil { at, .. }) => Some(*at),
                    _ => None,
                },
                decision: decision.and_then(|d| serde_json::to_string(&d).ok()),
                last_pass: event.and(history.last()).map(|p| p.id.clone()),
                rules: rules.clone(),
            }
        })
        .collect();
    let n = writes.len();
    st.programme.put_statuses(&writes).await?;
    Ok(n)
}

/// One page of the project's grid (`offset`, `limit` rows), the stale statuses decided first.
pub async fn grid_page(
    st: &AppState,
    p: &Project,
    filter: &GridFilter,
    offset: u64,
    limit: u64,
) -> ApiResult<GridPage> {
    refresh_statuses(st, p).await?;
    Ok(st
        .programme
        .mapping_grid(p.id, filter, offset, limit)
        .await?)
}

/// One mapping's grid event and decision now (the mapping's detail page): the same reading as the grid's.
pub async fn mapping_status(
    st: &AppState,
    p: &Project,
    events: &[Event],
    mapping: MappingId,
    history: &[StoredPass],
) -> ApiResult<Option<PassDecision>> {
    let wanted = HashSet::from([mapping]);
    let latest = latest_events(events, &wanted);
    let Some(e) = latest.get(&mapping).copied() else {
        return Ok(None);
    };
    let logins = logins_supplied(st, p).await?;
    Ok(status_of(
        st,
        Some(e),
        history,
        &logins,
        mapping,
        st.clock.now(),
    ))
}
