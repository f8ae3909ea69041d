//! Events: their lifecycle and completion by consistency grade (issue 4 "Events", "Consistency grade";
//! DESIGN §1). Which pass runs when is in [`super::pass`].
//!
//! ```text
//! Scheduled                            → Running | Cancelled
//! Running                              → Done | DoneWithErrors | NeedsApproval | Cancelled
//! Done | DoneWithErrors | NeedsApproval → Completed | Running (next round: Deltas, retries) | Cancelled
//! ```
//!
//! When a round of passes ends, [`finished_state`] picks the state from the mappings' outcomes:
//! DoneWithErrors when a mapping Failed or graded Poor, else NeedsApproval when one graded Investigate,
//! else Done. [`complete`] then decides:
//! - **Poor** (or Failed) cannot be completed: the refusal names the mappings. The way on: retry them
//!   while attempts remain, or withdraw them from the event (the outcomes passed in are those of the mappings
//!   still in the event) and schedule them again in a new one.
//! - **Investigate** waits in NeedsApproval until a user whose role may approve skipped items
//!   ([`super::role::Permission::ApproveSkippedItems`]) approved that mapping's skipped items, *after* the
//!   mapping's last result — a later pass may skip other items, so an older approval does not cover it.
//! - Perfect and Good complete.

use super::role::{Permission, Role, allowed, require};
use crate::grade::{Grade, GradePolicy};
use crate::id::{MappingId, UserId};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// What an event does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Initial pass, then Delta passes on a cadence.
    Synchronization,
    /// The Final pass, which seals each mapping.
    Completion,
}

/// Where an event is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventState {
    Scheduled,
    Running,
    Done,
    DoneWithErrors,
    NeedsApproval,
    Completed,
    Cancelled,
}

use EventState::*;

impl EventState {
    pub const ALL: [EventState; 7] = [
        Scheduled,
        Running,
        Done,
        DoneWithErrors,
        NeedsApproval,
        Completed,
        Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scheduled => "scheduled",
            Running => "running",
            Done => "done",
            DoneWithErrors => "done_with_errors",
            NeedsApproval => "needs_approval",
            Completed => "completed",
            Cancelled => "cancelled",
        }
    }

    /// The transition table.
    pub fn allowed_next(self) -> &'static [EventState] {
        match self {
            Scheduled => &[Running, Cancelled],
            Running => &[Done, DoneWithErrors, NeedsApproval, Cancelled],
            Done | DoneWithErrors | NeedsApproval => &[Completed, Running, Cancelled],
            Completed | Cancelled => &[],
        }
    }

    /// A round of passes has ended and the event waits for completion or its next round.
    pub fn is_finished_round(self) -> bool {
        matches!(self, Done | DoneWithErrors | NeedsApproval)
    }

    pub fn is_terminal(self) -> bool {
        self.allowed_next().is_empty()
    }

    /// Mappings and start may change only while the event is Scheduled.
    pub fn check_changeable(self) -> Result<()> {
        if self == Scheduled {
            return Ok(());
        }
        Err(Error::config(format!(
            "a {self} event cannot be changed; only scheduled events can"
        ))
        .with_context("rule", "event_lifecycle"))
    }

    /// Move to `to`, or an error naming the allowed transitions.
    pub fn transition(self, to: EventState) -> Result<EventState> {
        let allowed = self.allowed_next();
        if allowed.contains(&to) {
            return Ok(to);
        }
        let allowed = if allowed.is_empty() {
            "none: it is final".to_string()
        } else {
            allowed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(Error::config(format!(
            "a {self} event cannot become {to}; allowed from {self}: {allowed}"
        ))
        .with_context("rule", "event_lifecycle")
        .with_context("from", self)
        .with_context("to", to))
    }
}

impl fmt::Display for EventState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mapping's result in an event's last round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum MappingResult {
    /// The pass ran; items counted.
    Graded {
        discovered: u64,
        skipped: u64,
        failed: u64,
    },
    /// Every attempt failed (see [`super::pass`]).
    Failed { reason: String },
}

/// One mapping of the event and its result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingOutcome {
    pub mapping: MappingId,
    pub result: MappingResult,
    /// When the result was recorded (approvals must come after it).
    pub finished_at: DateTime<Utc>,
}

impl MappingOutcome {
    /// The grade; a Failed mapping is Poor.
    pub fn grade(&self, policy: &GradePolicy) -> Grade {
        match self.result {
            MappingResult::Graded {
                discovered,
                skipped,
                failed,
            } => policy.grade(discovered, skipped, failed),
            MappingResult::Failed { .. } => Grade::Poor,
        }
    }
}

/// The event's grade: its worst mapping's (Perfect for an event without mappings).
pub fn event_grade(outcomes: &[MappingOutcome], policy: &GradePolicy) -> Grade {
    outcomes
        .iter()
        .map(|o| o.grade(policy))
        .max()
        .unwrap_or(Grade::Perfect)
}

/// The state a Running event moves to when its round of passes ended.
pub fn finished_state(outcomes: &[MappingOutcome], policy: &GradePolicy) -> EventState {
    match event_grade(outcomes, policy) {
        Grade::Poor => DoneWithErrors,
        Grade::Investigate => NeedsApproval,
        Grade::Perfect | Grade::Good => Done,
    }
}

/// A user's approval of one mapping's skipped items.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedApproval {
    pub mapping: MappingId,
    pub by: UserId,
    pub role: Role,
    pub at: DateTime<Utc>,
}

/// Record an approval, refused for a role that may not approve skipped items.
pub fn approve_skipped(
    role: Role,
    by: UserId,
    mapping: MappingId,
    at: DateTime<Utc>,
) -> Result<SkippedApproval> {
    require(role, Permission::ApproveSkippedItems)?;
    Ok(SkippedApproval {
        mapping,
        by,
        role,
        at,
    })
}

/// Whether an event may complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "completion", rename_all = "snake_case")]
pub enum Completion {
    /// Every mapping is Perfect, Good, or Investigate with a valid approval.
    Complete,
    /// These Investigate mappings wait for an approval of their skipped items.
    NeedsApproval { mappings: Vec<MappingId> },
    /// These mappings are Poor or Failed: the event cannot complete with them.
    Blocked { mappings: Vec<MappingId> },
}

/// Decide completion from the outcomes of the mappings in the event and the approvals recorded.
pub fn completion(
    outcomes: &[MappingOutcome],
    approvals: &[SkippedApproval],
    policy: &GradePolicy,
) -> Completion {
    // The latest authorised approval per mapping, once: a scan of every approval per outcome was quadratic
    // when most of 20,000 mappings have one (issue 12 §5). An outcome is approved when its mapping's latest
    // authorised approval is at or after it, as when any one of them is.
    let mut latest: HashMap<MappingId, DateTime<Utc>> = HashMap::new();
    for a in approvals
        .iter()
        .filter(|a| allowed(a.role, Permission::ApproveSkippedItems))
    {
        let at = latest.entry(a.mapping).or_insert(a.at);
        *at = (*at).max(a.at);
    }
    let mut blocked = Vec::new();
    let mut waiting = Vec::new();
    for o in outcomes {
        match o.grade(policy) {
            Grade::Poor => blocked.push(o.mapping),
            Grade::Investigate => {
                let approved = latest
                    .get(&o.mapping)
                    .is_some_and(|at| *at >= o.finished_at);
                if !approved {
                    waiting.push(o.mapping);
                }
            }
            Grade::Perfect | Grade::Good => {}
        }
    }
    if !blocked.is_empty() {
        Completion::Blocked { mappings: blocked }
    } else if !waiting.is_empty() {
        Completion::NeedsApproval { mappings: waiting }
    } else {
        Completion::Complete
    }
}

/// Complete an event in `state`: `Ok(Completed)`, or the reason it cannot complete, naming the mappings.
pub fn complete(
    state: EventState,
    outcomes: &[MappingOutcome],
    approvals: &[SkippedApproval],
    policy: &GradePolicy,
) -> Result<EventState> {
    if !state.is_finished_round() {
        return state.transition(Completed);
    }
    let list = |ms: &[MappingId]| {
        ms.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match completion(outcomes, approvals, policy) {
        Completion::Complete => state.transition(Completed),
        Completion::NeedsApproval { mappings } => Err(Error::config(format!(
            "the event needs an approval of the skipped items of {} graded Investigate: {}",
            plural(mappings.len()),
            list(&mappings)
        ))
        .with_context("rule", "grade_investigate")),
        Completion::Blocked { mappings } => Err(Error::config(format!(
            "the event cannot be completed: {} graded Poor or failed: {}. Retry them or withdraw them from \
             the event and schedule them again.",
            plural(mappings.len()),
            list(&mappings)
        ))
        .with_context("rule", "grade_poor")),
    }
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 mapping".to_string()
    } else {
        format!("{n} mappings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::programme::testutil::at;

    fn graded(discovered: u64, skipped: u64, failed: u64) -> MappingOutcome {
        MappingOutcome {
            mapping: MappingId::new(),
            result: MappingResult::Graded {
                discovered,
                skipped,
                failed,
            },
            finished_at: at(2025, 3, 10, 12, 0),
        }
    }

    fn perfect() -> MappingOutcome {
        graded(10_000, 0, 0)
    }

    fn investigate() -> MappingOutcome {
        graded(10_000, 50, 0)
    }

    fn poor() -> MappingOutcome {
        graded(10_000, 500, 0)
    }

    fn p() -> GradePolicy {
        GradePolicy::default()
    }

    #[test]
    fn an_event_runs_scheduled_to_completed() {
        let s = Scheduled.transition(Running).unwrap();
        let s = s
            .transition(finished_state(&[perfect(), graded(10_000, 5, 0)], &p()))
            .unwrap();
        assert_eq!(s, Done);
        assert_eq!(complete(s, &[perfect()], &[], &p()).unwrap(), Completed);
    }

    #[test]
    fn a_refused_event_transition_names_the_allowed_ones() {
        let err = Scheduled.transition(Completed).unwrap_err();
        assert_eq!(
            err.message(),
            "a scheduled event cannot become completed; allowed from scheduled: running, cancelled"
        );
        assert!(
            Cancelled
                .transition(Running)
                .unwrap_err()
                .message()
                .contains("none: it is final")
        );
        assert!(Completed.transition(Cancelled).is_err());
    }

    #[test]
    fn only_scheduled_events_change_and_anything_unfinished_cancels() {
        Scheduled.check_changeable().unwrap();
        assert!(
            Running
                .check_changeable()
                .unwrap_err()
                .message()
                .contains("a running event cannot be changed")
        );
        for s in EventState::ALL {
            assert_eq!(s.transition(Cancelled).is_ok(), !s.is_terminal(), "{s}");
        }
    }

    #[test]
    fn a_finished_round_can_run_again_for_deltas_and_retries() {
        for s in [Done, DoneWithErrors, NeedsApproval] {
            assert_eq!(s.transition(Running).unwrap(), Running);
        }
    }

    #[test]
    fn failed_or_poor_mappings_finish_with_errors_and_investigate_needs_approval() {
        let failed = MappingOutcome {
            mapping: MappingId::new(),
            result: MappingResult::Failed {
                reason: "login refused".into(),
            },
            finished_at: at(2025, 3, 10, 12, 0),
        };
        assert_eq!(failed.grade(&p()), Grade::Poor);
        assert_eq!(finished_state(&[perfect(), failed], &p()), DoneWithErrors);
        assert_eq!(
            finished_state(&[perfect(), poor(), investigate()], &p()),
            DoneWithErrors
        );
        assert_eq!(
            finished_state(&[perfect(), investigate()], &p()),
            NeedsApproval
        );
        assert_eq!(finished_state(&[], &p()), Done);
    }

    #[test]
    fn investigate_waits_for_an_authorised_approval_of_the_skipped_items() {
        let inv = investigate();
        let err = complete(NeedsApproval, &[perfect(), inv.clone()], &[], &p()).unwrap_err();
        assert!(
            err.message().contains("1 mapping graded Investigate"),
            "{err}"
        );
        assert!(err.message().contains(&inv.mapping.to_string()), "{err}");

        let approval = approve_skipped(
            Role::CustomerAdmin,
            UserId::new(),
            inv.mapping,
            at(2025, 3, 10, 13, 0),
        )
        .unwrap();
        assert_eq!(
            complete(NeedsApproval, &[perfect(), inv], &[approval], &p()).unwrap(),
            Completed
        );
    }

    #[test]
    fn an_approval_by_an_unauthorised_role_is_refused() {
        let err = approve_skipped(
            Role::Viewer,
            UserId::new(),
            MappingId::new(),
            at(2025, 3, 10, 13, 0),
        )
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Auth);
        // A forged approval record with such a role does not count either.
        let inv = investigate();
        let forged = SkippedApproval {
            mapping: inv.mapping,
            by: UserId::new(),
            role: Role::Engineer,
            at: at(2025, 3, 10, 13, 0),
        };
        assert_eq!(
            completion(std::slice::from_ref(&inv), &[forged], &p()),
            Completion::NeedsApproval {
                mappings: vec![inv.mapping]
            }
        );
    }

    #[test]
    fn an_approval_older_than_the_result_or_for_another_mapping_does_not_count() {
        let inv = investigate();
        let old = SkippedApproval {
            mapping: inv.mapping,
            by: UserId::new(),
            role: Role::CustomerAdmin,
            at: at(2025, 3, 10, 11, 0),
        };
        let other = SkippedApproval {
            mapping: MappingId::new(),
            at: at(2025, 3, 10, 13, 0),
            ..old
        };
        assert_eq!(
            completion(std::slice::from_ref(&inv), &[old, other], &p()),
            Completion::NeedsApproval {
                mappings: vec![inv.mapping]
            }
        );
    }

    #[test]
    fn with_many_mappings_each_investigate_outcome_counts_only_its_own_latest_authorised_approval()
    {
        let outcomes: Vec<MappingOutcome> = (0..5_000).map(|_| investigate()).collect();
        let mut approvals = Vec::new();
        for (i, o) in outcomes.iter().enumerate() {
            let approval = |role, hour| SkippedApproval {
                mapping: o.mapping,
                by: UserId::new(),
                role,
                at: at(2025, 3, 10, hour, 0),
            };
            match i % 4 {
                // An authorised approval after the result, then an older one: approved.
                0 => approvals.extend([
                    approval(Role::CustomerAdmin, 13),
                    approval(Role::CustomerAdmin, 11),
                ]),
                // Only an older approval, and a later one by a role that may not approve: waiting.
                1 => approvals.extend([
                    approval(Role::CustomerAdmin, 11),
                    approval(Role::Engineer, 14),
                ]),
                // Approved at the very time of the result: approved.
                2 => approvals.push(approval(Role::CustomerAdmin, 12)),
                // None: waiting.
                _ => {}
            }
        }
        let waiting: Vec<MappingId> = outcomes
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 4 == 1 || i % 4 == 3)
            .map(|(_, o)| o.mapping)
            .collect();
        assert_eq!(
            completion(&outcomes, &approvals, &p()),
            Completion::NeedsApproval { mappings: waiting }
        );
        let approved: Vec<MappingOutcome> = outcomes
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 4 == 0 || i % 4 == 2)
            .map(|(_, o)| o.clone())
            .collect();
        assert_eq!(
            completion(&approved, &approvals, &p()),
            Completion::Complete
        );
    }

    #[test]
    fn poor_cannot_complete_even_with_an_approval() {
        let bad = poor();
        let approval = approve_skipped(
            Role::CustomerAdmin,
            UserId::new(),
            bad.mapping,
            at(2025, 3, 10, 13, 0),
        )
        .unwrap();
        let err =
            complete(DoneWithErrors, &[perfect(), bad.clone()], &[approval], &p()).unwrap_err();
        assert!(
            err.message()
                .contains("cannot be completed: 1 mapping graded Poor or failed"),
            "{err}"
        );
        assert!(err.message().contains(&bad.mapping.to_string()), "{err}");
        // Withdrawn from the event, the rest completes.
        assert_eq!(
            complete(DoneWithErrors, &[perfect()], &[], &p()).unwrap(),
            Completed
        );
    }

    #[test]
    fn a_running_event_cannot_complete() {
        assert!(
            complete(Running, &[perfect()], &[], &p())
                .unwrap_err()
                .message()
                .contains("allowed from running")
        );
    }

    #[test]
    fn the_event_grade_is_its_worst_mapping() {
        assert_eq!(
            event_grade(&[perfect(), investigate()], &p()),
            Grade::Investigate
        );
        assert_eq!(event_grade(&[], &p()), Grade::Perfect);
    }
}
