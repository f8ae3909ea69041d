//! The pass plan: which pass (if any) should run now for one mapping in one event, given the mapping's pass
//! history and `now` (issue 4 "Events", DESIGN §1 "Pass per mapping").
//!
//! - A **Synchronization** event runs an Initial pass, then a Delta pass every cadence (default 24 h, from the
//!   start of the last successful pass) — for as long as it runs, until a Final pass seals the mapping. A
//!   mapping whose Initial pass succeeded in an earlier event starts with a Delta.
//! - A **Completion** event runs the Final pass (a Delta that then seals the mapping). A mapping without an
//!   earlier Initial pass gets everything copied by its Final pass: a cut-over without pre-staging is allowed.
//! - A sealed mapping never runs again, in any event; a mapping never runs two passes at once, even from two
//!   events.
//! - **Attempts**: a pass that fails is retried at once until `max_attempts_per_mapping` (default 2)
//!   consecutive attempts in this event failed; then the mapping is Failed in this event, with the last
//!   reason. Choice where the issue is silent: attempts are *consecutive* failures, so a long-running
//!   Synchronization event whose daily Delta failed once last week still has its retry today. Engineers can
//!   launch a pass early ([`launch`]) but not beyond the attempt limit: the way on is a new event.

use super::event::EventKind;
use super::{ProgrammeSettings, after, fmt_time, hours};
use crate::id::EventId;
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassKind {
    /// Copies everything.
    Initial,
    /// Copies what is new or changed since the last pass.
    Delta,
    /// A Delta that then seals the mapping.
    Final,
}

impl PassKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PassKind::Initial => "initial",
            PassKind::Delta => "delta",
            PassKind::Final => "final",
        }
    }
}

impl fmt::Display for PassKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a pass ended, or that it has not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PassOutcome {
    Running,
    Succeeded,
    Failed { reason: String },
}

/// One pass of the mapping, in any event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassRecord {
    pub event: EventId,
    pub kind: PassKind,
    pub started_at: DateTime<Utc>,
    pub outcome: PassOutcome,
}

/// The event asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventContext {
    pub id: EventId,
    pub kind: EventKind,
    pub start: DateTime<Utc>,
}

/// What should happen for the mapping now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum PassDecision {
    /// Start this pass now; `attempt` counts from 1.
    Run { kind: PassKind, attempt: u32 },
    /// Nothing now; this pass is due at `at`.
    WaitUntil { kind: PassKind, at: DateTime<Utc> },
    /// A pass of this mapping is running (maybe in another event).
    Running { kind: PassKind, event: EventId },
    /// Every attempt in this event failed: the mapping is Failed here.
    Failed {
        kind: PassKind,
        attempts: u32,
        reason: String,
    },
    /// A Final pass succeeded: the mapping is done for good.
    Sealed,
}

/// What should run now for this mapping in `event`. `history` is every pass of the mapping, in any order.
pub fn next_pass(
    event: &EventContext,
    history: &[PassRecord],
    now: DateTime<Utc>,
    settings: &ProgrammeSettings,
) -> PassDecision {
    if is_sealed(history) {
        return PassDecision::Sealed;
    }
    if let Some(r) = history.iter().find(|r| r.outcome == PassOutcome::Running) {
        return PassDecision::Running {
            kind: r.kind,
            event: r.event,
        };
    }
    let kind = wanted_kind(event.kind, history);
    if now < event.start {
        return PassDecision::WaitUntil {
            kind,
            at: event.start,
        };
    }
    let mut mine: Vec<&PassRecord> = history.iter().filter(|r| r.event == event.id).collect();
    mine.sort_by_key(|r| r.started_at);

    let (failures, last_reason) = trailing_failures(&mine);
    let max = settings.max_attempts_per_mapping.max(1);
    if failures >= max {
        return PassDecision::Failed {
            kind,
            attempts: failures,
            reason: last_reason,
        };
    }
    if failures > 0 {
        return PassDecision::Run {
            kind,
            attempt: failures + 1,
        };
    }
    let last_success = mine
        .iter()
        .rev()
        .find(|r| r.outcome == PassOutcome::Succeeded);
    match (event.kind, last_success) {
        (EventKind::Synchronization, Some(last)) => {
            let due = after(last.started_at, hours(settings.delta_cadence_hours));
            if now >= due {
                PassDecision::Run {
                    kind: PassKind::Delta,
                    attempt: 1,
                }
            } else {
                PassDecision::WaitUntil {
                    kind: PassKind::Delta,
                    at: due,
                }
            }
        }
        // A Completion event's Final pass that succeeded has sealed the mapping (handled above).
        _ => PassDecision::Run { kind, attempt: 1 },
    }
}

/// An engineer's launch or retry of a pass now: like [`next_pass`], but a Delta may run before its cadence.
/// Refused, with the reason, when the mapping is sealed, running, out of attempts, or the event has not
/// started.
pub fn launch(
    event: &EventContext,
    history: &[PassRecord],
    now: DateTime<Utc>,
    settings: &ProgrammeSettings,
) -> Result<(PassKind, u32)> {
    let refuse = |msg: String| Err(Error::config(msg).with_context("rule", "pass_attempts"));
    match next_pass(event, history, now, settings) {
        PassDecision::Run { kind, attempt } => Ok((kind, attempt)),
        PassDecision::WaitUntil { kind, .. } if now >= event.start => Ok((kind, 1)),
        PassDecision::WaitUntil { at, .. } => refuse(format!(
            "the event has not started: it starts at {}",
            fmt_time(at)
        )),
        PassDecision::Running {
            kind,
            event: running_in,
        } => refuse(format!(
            "a {kind} pass of this mapping is already running (event {running_in})"
        )),
        PassDecision::Failed {
            kind,
            attempts,
            reason,
        } => refuse(format!(
            "the {kind} pass failed {attempts} times in this event, the limit; last failure: {reason}. \
             Fix the cause and schedule the mapping in a new event."
        )),
        PassDecision::Sealed => {
            refuse("the mapping is sealed: its Final pass succeeded".to_string())
        }
    }
}

/// A Final pass succeeded, in any event.
pub fn is_sealed(history: &[PassRecord]) -> bool {
    history
        .iter()
        .any(|r| r.kind == PassKind::Final && r.outcome == PassOutcome::Succeeded)
}

/// The pass this event runs for the mapping, failures aside.
fn wanted_kind(kind: EventKind, history: &[PassRecord]) -> PassKind {
    match kind {
        EventKind::Completion => PassKind::Final,
        EventKind::Synchronization => {
            // Any successful pass means the initial copy exists.
            if history.iter().any(|r| r.outcome == PassOutcome::Succeeded) {
                PassKind::Delta
            } else {
                PassKind::Initial
            }
        }
    }
}

/// How many passes at the end of `mine` (sorted by start) failed in a row, and the last reason.
fn trailing_failures(mine: &[&PassRecord]) -> (u32, String) {
    let mut n = 0;
    let mut reason = String::new();
    for r in mine.iter().rev() {
        match &r.outcome {
            PassOutcome::Failed { reason: why } => {
                if n == 0 {
                    reason.clone_from(why);
                }
                n += 1;
            }
            _ => break,
        }
    }
    (n, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::programme::testutil::at;
    use PassKind::*;

    fn sync(start: DateTime<Utc>) -> EventContext {
        EventContext {
            id: EventId::new(),
            kind: EventKind::Synchronization,
            start,
        }
    }

    fn completion(start: DateTime<Utc>) -> EventContext {
        EventContext {
            id: EventId::new(),
            kind: EventKind::Completion,
            start,
        }
    }

    fn rec(
        event: &EventContext,
        kind: PassKind,
        started_at: DateTime<Utc>,
        outcome: PassOutcome,
    ) -> PassRecord {
        PassRecord {
            event: event.id,
            kind,
            started_at,
            outcome,
        }
    }

    fn failed(reason: &str) -> PassOutcome {
        PassOutcome::Failed {
            reason: reason.into(),
        }
    }

    fn s() -> ProgrammeSettings {
        ProgrammeSettings::default()
    }

    #[test]
    fn synchronization_runs_initial_first() {
        let ev = sync(at(2025, 3, 3, 10, 0));
        assert_eq!(
            next_pass(&ev, &[], at(2025, 3, 3, 10, 0), &s()),
            PassDecision::Run {
                kind: Initial,
                attempt: 1
            }
        );
    }

    #[test]
    fn nothing_runs_before_the_event_starts() {
        let ev = sync(at(2025, 3, 3, 10, 0));
        assert_eq!(
            next_pass(&ev, &[], at(2025, 3, 3, 9, 59), &s()),
            PassDecision::WaitUntil {
                kind: Initial,
                at: ev.start
            }
        );
        let err = launch(&ev, &[], at(2025, 3, 3, 9, 0), &s()).unwrap_err();
        assert!(err.message().contains("has not started"), "{err}");
    }

    #[test]
    fn delta_runs_every_twenty_four_hours_after_the_last_successful_pass() {
        let ev = sync(at(2025, 3, 3, 10, 0));
        let h = vec![rec(
            &ev,
            Initial,
            at(2025, 3, 3, 10, 0),
            PassOutcome::Succeeded,
        )];
        assert_eq!(
            next_pass(&ev, &h, at(2025, 3, 4, 9, 59), &s()),
            PassDecision::WaitUntil {
                kind: Delta,
                at: at(2025, 3, 4, 10, 0)
            }
        );
        assert_eq!(
            next_pass(&ev, &h, at(2025, 3, 4, 10, 0), &s()),
            PassDecision::Run {
                kind: Delta,
                attempt: 1
            }
        );
        let mut h = h;
        h.push(rec(
            &ev,
            Delta,
            at(2025, 3, 4, 10, 5),
            PassOutcome::Succeeded,
        ));
        assert_eq!(
            next_pass(&ev, &h, at(2025, 3, 4, 12, 0), &s()),
            PassDecision::WaitUntil {
                kind: Delta,
                at: at(2025, 3, 5, 10, 5)
            }
        );
        // The cadence is a setting.
        let six = ProgrammeSettings {
            delta_cadence_hours: 6,
            ..s()
        };
        assert_eq!(
            next_pass(&ev, &h, at(2025, 3, 4, 16, 5), &six),
            PassDecision::Run {
                kind: Delta,
                attempt: 1
            }
        );
    }

    #[test]
    fn engineers_may_launch_a_delta_before_its_cadence() {
        let ev = sync(at(2025, 3, 3, 10, 0));
        let h = vec![rec(
            &ev,
            Initial,
            at(2025, 3, 3, 10, 0),
            PassOutcome::Succeeded,
        )];
        assert_eq!(
            launch(&ev, &h, at(2025, 3, 3, 15, 0), &s()).unwrap(),
            (Delta, 1)
        );
    }

    #[test]
    fn a_new_synchronization_event_starts_with_a_delta_after_an_earlier_initial() {
        let first = sync(at(2025, 3, 3, 10, 0));
        let second = sync(at(2025, 3, 10, 10, 0));
        let h = vec![rec(
            &first,
            Initial,
            at(2025, 3, 3, 10, 0),
            PassOutcome::Succeeded,
        )];
        assert_eq!(
            next_pass(&second, &h, second.start, &s()),
            PassDecision::Run {
                kind: Delta,
                attempt: 1
            }
        );
    }

    #[test]
    fn completion_runs_the_final_pass_which_seals_the_mapping() {
        let sy = sync(at(2025, 3, 3, 10, 0));
        let co = completion(at(2025, 3, 10, 10, 0));
        let mut h = vec![rec(
            &sy,
            Initial,
            at(2025, 3, 3, 10, 0),
            PassOutcome::Succeeded,
        )];
        assert_eq!(
            next_pass(&co, &h, co.start, &s()),
            PassDecision::Run {
                kind: Final,
                attempt: 1
            }
        );
        h.push(rec(&co, Final, co.start, PassOutcome::Succeeded));
        assert_eq!(
            next_pass(&co, &h, at(2025, 3, 12, 10, 0), &s()),
            PassDecision::Sealed
        );
        // The synchronization event stops its deltas too.
        assert_eq!(
            next_pass(&sy, &h, at(2025, 3, 12, 10, 0), &s()),
            PassDecision::Sealed
        );
        assert!(
            launch(&sy, &h, at(2025, 3, 12, 10, 0), &s())
                .unwrap_err()
                .message()
                .contains("sealed")
        );
    }

    #[test]
    fn a_completion_without_an_initial_pass_runs_the_final_pass() {
        let co = completion(at(2025, 3, 10, 10, 0));
        assert_eq!(
            next_pass(&co, &[], co.start, &s()),
            PassDecision::Run {
                kind: Final,
                attempt: 1
            }
        );
    }

    #[test]
    fn a_running_pass_blocks_another_one_even_from_another_event() {
        let sy = sync(at(2025, 3, 3, 10, 0));
        let co = completion(at(2025, 3, 10, 10, 0));
        let h = vec![
            rec(&sy, Initial, at(2025, 3, 3, 10, 0), PassOutcome::Succeeded),
            rec(&sy, Delta, at(2025, 3, 10, 9, 30), PassOutcome::Running),
        ];
        assert_eq!(
            next_pass(&co, &h, co.start, &s()),
            PassDecision::Running {
                kind: Delta,
                event: sy.id
            }
        );
        assert!(
            launch(&co, &h, co.start, &s())
                .unwrap_err()
                .message()
                .contains("already running")
        );
    }

    #[test]
    fn a_failed_pass_is_retried_once_then_the_mapping_fails_with_the_reason() {
        let ev = sync(at(2025, 3, 3, 10, 0));
        let mut h = vec![rec(
            &ev,
            Initial,
            at(2025, 3, 3, 10, 0),
            failed("login refused"),
        )];
        assert_eq!(
            next_pass(&ev, &h, at(2025, 3, 3, 10, 5), &s()),
            PassDecision::Run {
                kind: Initial,
                attempt: 2
            }
        );
        assert_eq!(
            launch(&ev, &h, at(2025, 3, 3, 10, 5), &s()).unwrap(),
            (Initial, 2)
        );
        h.push(rec(
            &ev,
            Initial,
            at(2025, 3, 3, 10, 6),
            failed("mailbox locked"),
        ));
        assert_eq!(
            next_pass(&ev, &h, at(2025, 3, 3, 11, 0), &s()),
            PassDecision::Failed {
                kind: Initial,
                attempts: 2,
                reason: "mailbox locked".into()
            }
        );
        let err = launch(&ev, &h, at(2025, 3, 3, 11, 0), &s()).unwrap_err();
        assert!(
            err.message().contains("failed 2 times in this event"),
            "{err}"
        );
        assert!(err.message().contains("mailbox locked"), "{err}");
        // A new event gives the mapping new attempts.
        let again = sync(at(2025, 3, 10, 10, 0));
        assert_eq!(
            next_pass(&again, &h, again.start, &s()),
            PassDecision::Run {
                kind: Initial,
                attempt: 1
            }
        );
    }

    #[test]
    fn attempts_count_consecutive_failures_and_are_a_setting() {
        let ev = sync(at(2025, 3, 3, 10, 0));
        let h = vec![
            rec(&ev, Initial, at(2025, 3, 3, 10, 0), PassOutcome::Succeeded),
            rec(&ev, Delta, at(2025, 3, 4, 10, 0), failed("timeout")),
            rec(&ev, Delta, at(2025, 3, 4, 10, 5), PassOutcome::Succeeded),
            rec(&ev, Delta, at(2025, 3, 5, 10, 5), failed("timeout")),
        ];
        assert_eq!(
            next_pass(&ev, &h, at(2025, 3, 5, 10, 10), &s()),
            PassDecision::Run {
                kind: Delta,
                attempt: 2
            }
        );
        let once = ProgrammeSettings {
            max_attempts_per_mapping: 1,
            ..s()
        };
        assert!(matches!(
            next_pass(&ev, &h, at(2025, 3, 5, 10, 10), &once),
            PassDecision::Failed { attempts: 1, .. }
        ));
    }

    #[test]
    fn history_order_does_not_matter() {
        let ev = sync(at(2025, 3, 3, 10, 0));
        let h = vec![
            rec(&ev, Delta, at(2025, 3, 4, 10, 5), PassOutcome::Succeeded),
            rec(&ev, Initial, at(2025, 3, 3, 10, 0), failed("x")),
            rec(&ev, Initial, at(2025, 3, 3, 10, 1), PassOutcome::Succeeded),
        ];
        assert_eq!(
            next_pass(&ev, &h, at(2025, 3, 4, 11, 0), &s()),
            PassDecision::WaitUntil {
                kind: Delta,
                at: at(2025, 3, 5, 10, 5)
            }
        );
    }
}
