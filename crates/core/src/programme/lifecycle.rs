//! Pause, offboard, resume and close, driven by a clock (issue 4 "Pause / resume / offboard / close",
//! DESIGN §1 "Lifecycles").
//!
//! - An active project (Draft, Assessing, Ready, Migrating) with no progress for `pause_after_days`
//!   (default 30) is **paused**: workers stop, credentials are purged.
//! - A project paused for `offboard_after_days` more (default 30) without a confirmed schedule is
//!   **offboarded**: credentials and source data caches are destroyed, the final report is archived.
//! - A paused project **resumes** when new credentials were supplied *and* a schedule is confirmed; it goes
//!   back to the state it was paused from.
//! - **Close** (the end of a programme) does the offboarding clean-up, from any state.
//!
//! The scheduler calls [`tick`] for each project with its clock's `now` and carries out the [`Action`]s in
//! order; tests move the clock instead of waiting. Choices where the issue is silent: a Completed project is
//! not paused (its work is done; it waits for tickets and Close); a paused project with a confirmed schedule
//! but no credentials stays paused; clean-up actions are idempotent, so a repeated tick or close is harmless.

use super::project::ProjectState;
use super::{ProgrammeSettings, days};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One thing the scheduler must do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Record the project's new state (with an audit entry).
    SetState {
        from: ProjectState,
        to: ProjectState,
    },
    /// Stop the project's workers and leave its passes unstarted.
    StopWorkers,
    /// Let workers pick up the project's passes again.
    StartWorkers,
    /// Delete every stored secret of the project.
    PurgeCredentials,
    /// Delete the project's caches of source data (discovery results, staged items).
    DestroyCaches,
    /// Write the final report and archive it.
    ArchiveFinalReport,
}

/// The scheduler's periodic decision for one project. `last_progress` is the last time the project moved
/// (a pass made progress, a state changed, a user acted); `paused_since` is when it was paused (`None`
/// falls back to `last_progress`); `schedule_confirmed` says whether an event is confirmed for the future.
pub fn tick(
    state: ProjectState,
    last_progress: DateTime<Utc>,
    paused_since: Option<DateTime<Utc>>,
    schedule_confirmed: bool,
    now: DateTime<Utc>,
    settings: &ProgrammeSettings,
) -> Vec<Action> {
    if state.is_active()
        && now.signed_duration_since(last_progress) >= days(settings.pause_after_days)
    {
        return vec![
            Action::SetState {
                from: state,
                to: ProjectState::Paused,
            },
            Action::StopWorkers,
            Action::PurgeCredentials,
        ];
    }
    let paused_since = paused_since.unwrap_or(last_progress);
    if state == ProjectState::Paused
        && !schedule_confirmed
        && now.signed_duration_since(paused_since) >= days(settings.offboard_after_days)
    {
        return vec![
            Action::StopWorkers,
            Action::ArchiveFinalReport,
            Action::PurgeCredentials,
            Action::DestroyCaches,
            Action::SetState {
                from: state,
                to: ProjectState::Offboarded,
            },
        ];
    }
    Vec::new()
}

/// Resume a paused project to `paused_from`, refused with everything that is missing.
pub fn resume(
    state: ProjectState,
    paused_from: ProjectState,
    credentials_supplied: bool,
    schedule_confirmed: bool,
) -> Result<Vec<Action>> {
    if state != ProjectState::Paused {
        return Err(Error::config(format!(
            "only a paused project resumes; this one is {state}"
        ))
        .with_context("rule", "resume"));
    }
    if !paused_from.is_active() {
        return Err(
            Error::config(format!("a project paused from {paused_from} cannot resume"))
                .with_context("rule", "resume"),
        );
    }
    let mut missing = Vec::new();
    if !credentials_supplied {
        missing.push("new credentials (they were purged when the project was paused)");
    }
    if !schedule_confirmed {
        missing.push("a confirmed schedule");
    }
    if !missing.is_empty() {
        return Err(Error::config(format!(
            "the project cannot resume yet: it needs {}",
            missing.join(" and ")
        ))
        .with_context("rule", "resume"));
    }
    state.transition(paused_from)?;
    Ok(vec![
        Action::SetState {
            from: state,
            to: paused_from,
        },
        Action::StartWorkers,
    ])
}

/// Close a project: the offboarding clean-up, then Closed. An offboarded project was cleaned up already.
pub fn close(state: ProjectState) -> Result<Vec<Action>> {
    state.transition(ProjectState::Closed)?;
    let mut actions = Vec::new();
    if state != ProjectState::Offboarded {
        actions.extend([
            Action::StopWorkers,
            Action::ArchiveFinalReport,
            Action::PurgeCredentials,
            Action::DestroyCaches,
        ]);
    }
    actions.push(Action::SetState {
        from: state,
        to: ProjectState::Closed,
    });
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::programme::testutil::at;
    use ProjectState::*;

    fn s() -> ProgrammeSettings {
        ProgrammeSettings::default()
    }

    #[test]
    fn active_project_pauses_after_thirty_days_without_progress() {
        let last = at(2025, 3, 1, 12, 0);
        for state in [Draft, Assessing, Ready, Migrating] {
            assert_eq!(
                tick(state, last, None, false, at(2025, 3, 31, 11, 59), &s()),
                vec![],
                "{state} at 29 days"
            );
            assert_eq!(
                tick(state, last, None, true, at(2025, 3, 31, 12, 0), &s()),
                vec![
                    Action::SetState {
                        from: state,
                        to: Paused
                    },
                    Action::StopWorkers,
                    Action::PurgeCredentials
                ],
                "{state} at 30 days"
            );
        }
    }

    #[test]
    fn completed_and_final_projects_do_not_pause() {
        let last = at(2025, 1, 1, 0, 0);
        for state in [Completed, Closed, Offboarded] {
            assert_eq!(
                tick(state, last, None, false, at(2025, 6, 1, 0, 0), &s()),
                vec![],
                "{state}"
            );
        }
    }

    #[test]
    fn paused_project_offboards_after_thirty_more_days_without_schedule() {
        let last = at(2025, 3, 1, 12, 0);
        let paused = at(2025, 3, 31, 12, 0);
        assert_eq!(
            tick(
                Paused,
                last,
                Some(paused),
                false,
                at(2025, 4, 30, 11, 59),
                &s()
            ),
            vec![]
        );
        assert_eq!(
            tick(
                Paused,
                last,
                Some(paused),
                false,
                at(2025, 4, 30, 12, 0),
                &s()
            ),
            vec![
                Action::StopWorkers,
                Action::ArchiveFinalReport,
                Action::PurgeCredentials,
                Action::DestroyCaches,
                Action::SetState {
                    from: Paused,
                    to: Offboarded
                },
            ]
        );
    }

    #[test]
    fn paused_project_with_a_confirmed_schedule_is_not_offboarded() {
        let paused = at(2025, 3, 31, 12, 0);
        assert_eq!(
            tick(
                Paused,
                paused,
                Some(paused),
                true,
                at(2025, 8, 1, 0, 0),
                &s()
            ),
            vec![]
        );
    }

    #[test]
    fn pause_and_offboard_periods_are_settings() {
        let quick = ProgrammeSettings {
            pause_after_days: 1,
            offboard_after_days: 2,
            ..s()
        };
        let t0 = at(2025, 3, 1, 12, 0);
        assert!(!tick(Ready, t0, None, false, at(2025, 3, 2, 12, 0), &quick).is_empty());
        assert!(
            !tick(
                Paused,
                t0,
                Some(at(2025, 3, 2, 12, 0)),
                false,
                at(2025, 3, 4, 12, 0),
                &quick
            )
            .is_empty()
        );
    }

    #[test]
    fn resume_needs_new_credentials_and_a_confirmed_schedule() {
        let err = resume(Paused, Migrating, false, false).unwrap_err();
        assert_eq!(
            err.message(),
            "the project cannot resume yet: it needs new credentials (they were purged when the project was \
             paused) and a confirmed schedule"
        );
        assert!(
            resume(Paused, Migrating, true, false)
                .unwrap_err()
                .message()
                .ends_with("a confirmed schedule")
        );
        assert!(
            resume(Paused, Migrating, false, true)
                .unwrap_err()
                .message()
                .contains("new credentials")
        );
        assert_eq!(
            resume(Paused, Migrating, true, true).unwrap(),
            vec![
                Action::SetState {
                    from: Paused,
                    to: Migrating
                },
                Action::StartWorkers
            ]
        );
    }

    #[test]
    fn only_a_paused_project_resumes() {
        assert!(
            resume(Ready, Migrating, true, true)
                .unwrap_err()
                .message()
                .contains("only a paused project")
        );
        assert!(resume(Offboarded, Migrating, true, true).is_err());
        assert!(resume(Paused, Completed, true, true).is_err());
    }

    #[test]
    fn close_does_the_offboarding_clean_up_from_any_state() {
        for state in [Draft, Assessing, Ready, Migrating, Completed, Paused] {
            assert_eq!(
                close(state).unwrap(),
                vec![
                    Action::StopWorkers,
                    Action::ArchiveFinalReport,
                    Action::PurgeCredentials,
                    Action::DestroyCaches,
                    Action::SetState {
                        from: state,
                        to: Closed
                    },
                ],
                "{state}"
            );
        }
        assert_eq!(
            close(Offboarded).unwrap(),
            vec![Action::SetState {
                from: Offboarded,
                to: Closed
            }]
        );
        assert!(close(Closed).is_err());
    }
}
