//! A mapping's passes and what the rules decide from them: its status in an event, the outcomes of a
//! round, the approvals that count. Shared by the run handlers, the reports and the scheduler.

use crate::db::{self, Change, Project, TransactionRef, parse_ts};
use crate::programme::events::Event;
use crate::programme::{MappingView, load_mappings};
use crate::{ApiResult, AppState};
use chrono::{DateTime, Utc};
use ferry_core::id::{EventId, MappingId, UserId};
use ferry_core::programme::event::{MappingOutcome, MappingResult, SkippedApproval};
use ferry_core::programme::pass::{self, EventContext, PassDecision, PassOutcome, PassRecord};
use ferry_core::programme::role::Role;
use ferry_core::programme::{PassKind, ProgrammeSettings, TransactionStatus};
use ferry_store::programme::{NewPass, Programme};
use serde_json::json;
use std::collections::HashMap;
use std::str::FromStr;

pub use ferry_store::programme::{StoredPass, graded_counts};

/// Every pass of a mapping, in any event, oldest first.
pub async fn mapping_passes(
    store: &dyn Programme,
    mapping: MappingId,
) -> ApiResult<Vec<StoredPass>> {
    Ok(store.mapping_passes(mapping).await?)
}

/// Every pass of an event, oldest first.
pub async fn event_passes(store: &dyn Programme, event: EventId) -> ApiResult<Vec<StoredPass>> {
    Ok(store.event_passes(event).await?)
}

/// Record a pass `running` with its audit entry and an in-progress transaction (which the worker moves to
/// completed or failed), inside the caller's database transaction.
#[allow(clippy::too_many_arguments)]
pub async fn insert_pass(
    tx: &dyn Programme,
    actor: db::Actor,
    project: &Project,
    event: EventId,
    mapping: &MappingView,
    kind: PassKind,
    attempt: u32,
    action: &'static str,
    now: DateTime<Utc>,
) -> ApiResult<(String, TransactionRef)> {
    let id = uuid::Uuid::now_v7().to_string();
    tx.insert_pass(&NewPass {
        id: id.clone(),
        event,
        mapping: mapping.id,
        kind,
        attempt,
        at: now,
    })
    .await?;
    let txn = db::record(
        tx,
        actor,
        Change {
            tenant: Some(project.tenant),
            action,
            target: format!("event/{event}/mapping/{}/pass/{id}", mapping.id),
            before: None,
            after: Some(
                json!({ "pass": id, "mapping": mapping.label, "kind": kind, "attempt": attempt }),
            ),
        },
        TransactionStatus::InProgress,
        now,
    )
    .await?;
    Ok((id, txn))
}

/// One mapping of an event with its pass history and what should happen now.
pub struct MappingStatus {
    pub mapping: MappingView,
    pub history: Vec<StoredPass>,
    pub decision: PassDecision,
}

impl MappingStatus {
    /// This event's passes of the mapping, oldest first.
    pub fn mine(&self, event: EventId) -> impl Iterator<Item = &StoredPass> {
        self.history.iter().filter(move |p| p.event == event)
    }
}

/// The mappings of `e` with their decisions at `now`.
pub async fn mapping_statuses(
    st: &AppState,
    project: &Project,
    e: &Event,
    now: DateTime<Utc>,
) -> ApiResult<Vec<MappingStatus>> {
    let all = load_mappings(st, project.id).await?;
    // Every pass of the event's mappings, in any event, in one query.
    let rows = st.programme.event_mapping_passes(e.id).await?;
    let mut by_mapping: HashMap<MappingId, Vec<StoredPass>> = HashMap::new();
    for p in rows {
        by_mapping.entry(p.mapping).or_default().push(p);
    }
    let logins = logins_supplied(st, project).await?;
    // A set, not `Vec::contains`: with 20,000 mappings the scan was 4·10⁸ comparisons (issue 12 §5).
    let in_event: std::collections::HashSet<MappingId> = e.mappings.iter().copied().collect();
    let mut out = Vec::new();
    for m in all.into_iter().filter(|m| in_event.contains(&m.id)) {
        let history = by_mapping.remove(&m.id).unwrap_or_default();
        let decision = decide(&st.settings, e, &history, &logins, m.id, now);
        out.push(MappingStatus {
            mapping: m,
            history,
            decision,
        });
    }
    Ok(out)
}

/// What the rules decide for `mapping` in `e` at `now`, from its passes in any event (oldest first) and
/// when its logins last changed: the one reading the scheduler, the API, the reports and the grid share.
pub fn decide(
    settings: &ProgrammeSettings,
    e: &Event,
    history: &[StoredPass],
    logins: &HashMap<String, DateTime<Utc>>,
    mapping: MappingId,
    now: DateTime<Utc>,
) -> PassDecision {
    let ctx = EventContext {
        id: e.id,
        kind: e.kind,
        start: e.start,
    };
    let records = decision_records(history, logins_changed_at(logins, mapping));
    pass::next_pass(&ctx, &records, now, settings)
}

/// When each credential of the project was last supplied, by owner.
pub async fn logins_supplied(
    st: &AppState,
    project: &Project,
) -> ApiResult<HashMap<String, DateTime<Utc>>> {
    let rows = st.programme.credentials_supplied(project.id).await?;
    rows.into_iter()
        .map(|(owner, at)| Ok((owner, parse_ts(&at)?)))
        .collect()
}

/// When `mapping`'s logins last changed: its own credentials or the project's endpoint credentials.
pub fn logins_changed_at(
    logins: &HashMap<String, DateTime<Utc>>,
    mapping: MappingId,
) -> Option<DateTime<Utc>> {
    [
        format!("mapping:{mapping}:source"),
        format!("mapping:{mapping}:target"),
        "endpoint:source".to_string(),
        "endpoint:target".to_string(),
    ]
    .iter()
    .filter_map(|o| logins.get(o).copied())
    .max()
}

/// The pass records the rules decide on: a pass that failed before the mapping's logins last changed no
/// longer counts as an attempt, so a corrected credential gives the mapping fresh attempts (issue 9 item
/// 14); the report still lists every pass.
pub fn decision_records(
    history: &[StoredPass],
    logins_changed: Option<DateTime<Utc>>,
) -> Vec<PassRecord> {
    history
        .iter()
        .filter(|p| !(p.reason().is_some() && logins_changed.is_some_and(|at| p.started_at < at)))
        .map(StoredPass::record)
        .collect()
}

/// The mappings' results in `e`'s last round (`latest`: the mapping's latest result in any event, for a
/// Synchronization event whose mappings were sealed by a Completion event).
pub fn outcomes(e: &Event, statuses: &[MappingStatus], latest: bool) -> Vec<MappingOutcome> {
    statuses
        .iter()
        .filter_map(|s| outcome_of(e, s.mapping.id, &s.history, &s.decision, latest))
        .collect()
}

/// One mapping's result in `e`'s last round, from its passes in any event (oldest first) and the rules'
/// decision; `None` while it has none.
pub fn outcome_of(
    e: &Event,
    mapping: MappingId,
    history: &[StoredPass],
    decision: &PassDecision,
    latest: bool,
) -> Option<MappingOutcome> {
    let pool: Vec<&StoredPass> = if latest {
        history.iter().collect()
    } else {
        history.iter().filter(|p| p.event == e.id).collect()
    };
    let last_done = pool.iter().rev().find(|p| p.finished_at.is_some());
    if let PassDecision::Failed { reason, .. } = decision {
        return Some(MappingOutcome {
            mapping,
            result: MappingResult::Failed {
                reason: reason.clone(),
            },
            finished_at: last_done.and_then(|p| p.finished_at).unwrap_or(e.start),
        });
    }
    let ok = pool
        .iter()
        .rev()
        .find(|p| p.outcome == PassOutcome::Succeeded)
        .copied()
        .or_else(|| {
            // Sealed by another event before this one ran it: its latest result counts.
            matches!(decision, PassDecision::Sealed)
                .then(|| {
                    history
                        .iter()
                        .rev()
                        .find(|p| p.outcome == PassOutcome::Succeeded)
                })
                .flatten()
        });
    ok.map(|p| {
        let (discovered, skipped, failed) = p.graded_counts();
        MappingOutcome {
            mapping,
            result: MappingResult::Graded {
                discovered,
                skipped,
                failed,
            },
            finished_at: p.finished_at.unwrap_or(p.started_at),
        }
    })
}

/// The approvals of skipped items recorded for `event`'s mappings — in `event`, or in any event when
/// `any_event` — with the approver's role on the tenant now (the operator counts as customer-admin).
pub async fn approvals(
    st: &AppState,
    project: &Project,
    event: &Event,
    any_event: bool,
) -> ApiResult<Vec<SkippedApproval>> {
    let rows = st.programme.approvals(event.id, any_event).await?;
    let mut roles: HashMap<UserId, Option<Role>> = HashMap::new();
    let mut out = Vec::new();
    for a in rows {
        let role = match roles.get(&a.by) {
            Some(r) => *r,
            None => {
                let r = approver_role(st, project, a.by).await?;
                roles.insert(a.by, r);
                r
            }
        };
        let Some(role) = role else { continue };
        out.push(SkippedApproval {
            mapping: a.mapping,
            by: a.by,
            role,
            at: a.at,
        });
    }
    Ok(out)
}

/// The role `user` holds on the project's tenant now (the operator: customer-admin).
pub async fn approver_role(
    st: &AppState,
    project: &Project,
    user: UserId,
) -> ApiResult<Option<Role>> {
    if st.programme.user_is_operator(user).await? == Some(true) {
        return Ok(Some(Role::CustomerAdmin));
    }
    let role = st.programme.member_role(project.tenant, user).await?;
    Ok(role.and_then(|r| Role::from_str(&r).ok()))
}
