//! A project — one workload (mail or files) of one tenant — and its lifecycle (DESIGN §1 "Lifecycles").
//!
//! ```text
//! Draft     → Assessing | Paused | Closed
//! Assessing → Ready | Draft | Paused | Closed
//! Ready     → Migrating | Assessing | Paused | Closed
//! Migrating → Completed | Paused | Closed
//! Completed → Closed
//! Paused    → Draft | Assessing | Ready | Migrating (resume) | Offboarded | Closed
//! Offboarded → Closed
//! ```
//!
//! The table is data ([`ProjectState::allowed_next`]); [`ProjectState::transition`] returns the new state or
//! an error naming the allowed transitions. Choices where the issue is silent:
//! - Assessing → Draft and Ready → Assessing: mappings or endpoints changed, assess again.
//! - Completed is final for migrations: more mappings later are a new project (the ticket window and the
//!   final report of a completed project stay stable).
//! - Paused resumes to the state it was paused from ([`super::lifecycle::resume`]); the table allows all
//!   four, the caller records which one.
//! - Close is allowed from every state (the end of a programme closes everything), Offboarded included.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The workload family of a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// Mailboxes into Exchange Online (or any IMAP target).
    Mail,
    /// File trees into OneDrive / SharePoint (or any storage).
    Files,
}

impl Workload {
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::Mail => "mail",
            Workload::Files => "files",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the project migrates from, as far as the gates care.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceSystem {
    /// Exchange Server in the customer's own data centre: mail needs a hybrid configuration.
    ExchangeOnPremises,
    /// Any other source (IMAP, mbox, file servers, cloud storage…).
    #[default]
    Other,
}

/// Where a project is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectState {
    Draft,
    Assessing,
    Ready,
    Migrating,
    Completed,
    Closed,
    /// No progress for the pause period: workers stopped, credentials purged.
    Paused,
    /// Paused for the offboarding period without a confirmed schedule: credentials and caches destroyed.
    Offboarded,
}

use ProjectState::*;

impl ProjectState {
    /// Every state, in lifecycle order.
    pub const ALL: [ProjectState; 8] = [
        Draft, Assessing, Ready, Migrating, Completed, Closed, Paused, Offboarded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Draft => "draft",
            Assessing => "assessing",
            Ready => "ready",
            Migrating => "migrating",
            Completed => "completed",
            Closed => "closed",
            Paused => "paused",
            Offboarded => "offboarded",
        }
    }

    /// The transition table: the states this one may move to.
    pub fn allowed_next(self) -> &'static [ProjectState] {
        match self {
            Draft => &[Assessing, Paused, Closed],
            Assessing => &[Ready, Draft, Paused, Closed],
            Ready => &[Migrating, Assessing, Paused, Closed],
            Migrating => &[Completed, Paused, Closed],
            Completed => &[Closed],
            Paused => &[Draft, Assessing, Ready, Migrating, Offboarded, Closed],
            Offboarded => &[Closed],
            Closed => &[],
        }
    }

    /// Whether the project is doing programme work, so that a lack of progress pauses it.
    pub fn is_active(self) -> bool {
        matches!(self, Draft | Assessing | Ready | Migrating)
    }

    /// Nothing follows.
    pub fn is_terminal(self) -> bool {
        self.allowed_next().is_empty()
    }

    /// Move to `to`, or an error naming the allowed transitions.
    pub fn transition(self, to: ProjectState) -> Result<ProjectState> {
        if self.allowed_next().contains(&to) {
            return Ok(to);
        }
        let allowed = self.allowed_next();
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
            "a {self} project cannot become {to}; allowed from {self}: {allowed}"
        ))
        .with_context("rule", "project_lifecycle")
        .with_context("from", self)
        .with_context("to", to))
    }
}

impl fmt::Display for ProjectState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_runs_draft_to_closed() {
        let mut s = Draft;
        for next in [Assessing, Ready, Migrating, Completed, Closed] {
            s = s.transition(next).unwrap();
        }
        assert_eq!(s, Closed);
        assert!(Closed.is_terminal());
    }

    #[test]
    fn a_refused_transition_names_the_allowed_ones() {
        let err = Draft.transition(Migrating).unwrap_err();
        assert_eq!(
            err.message(),
            "a draft project cannot become migrating; allowed from draft: assessing, paused, closed"
        );
        let err = Closed.transition(Draft).unwrap_err();
        assert!(err.message().contains("none: it is final"), "{err}");
        assert!(Completed.transition(Migrating).is_err());
        assert!(Completed.transition(Paused).is_err());
    }

    #[test]
    fn active_states_pause_and_paused_resumes_or_offboards() {
        for s in ProjectState::ALL {
            assert_eq!(s.transition(Paused).is_ok(), s.is_active(), "{s} → paused");
        }
        for back in [Draft, Assessing, Ready, Migrating, Offboarded, Closed] {
            assert!(Paused.transition(back).is_ok(), "paused → {back}");
        }
        assert!(Paused.transition(Completed).is_err());
        // Only a paused project is offboarded.
        for s in ProjectState::ALL {
            assert_eq!(
                s.transition(Offboarded).is_ok(),
                s == Paused,
                "{s} → offboarded"
            );
        }
    }

    #[test]
    fn every_state_but_closed_can_close() {
        for s in ProjectState::ALL {
            assert_eq!(s.transition(Closed).is_ok(), s != Closed, "{s} → closed");
        }
    }

    #[test]
    fn no_state_moves_to_itself() {
        for s in ProjectState::ALL {
            assert!(s.transition(s).is_err(), "{s} → {s}");
        }
    }
}
