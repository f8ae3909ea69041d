//! The scope guard (issue 4 "Scope guard", DESIGN §1 "Eligibility and scope").
//!
//! The benefit covers **guidance, tooling and data moves**. A task recorded against a project is either one
//! of those ([`Task::in_scope`]) or beyond scope: a documented kind ([`Task::BEYOND_SCOPE`]: project
//! management, workstation preparation, remediation…) or any other free text. Why free text counts as beyond
//! scope: the benefit's scope is a closed list, so the guard errs towards asking for an agreement rather
//! than silently accepting work the programme does not cover.
//!
//! A beyond-scope task needs a reference to a separate services agreement; without one it is refused with
//! an explanation ([`check_task`]).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A kind of work recorded against a project.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Task {
    // In scope.
    /// Advice on planning and running the migration.
    Guidance,
    /// Providing and operating the migration tooling (Ferry itself).
    Tooling,
    /// Moving mail and files.
    DataMove,
    // Beyond scope, documented.
    /// Planning, coordinating and reporting on the customer's project.
    ProjectManagement,
    /// Preparing desktops, laptops and devices (clients, profiles, Office installs).
    WorkstationPreparation,
    /// Fixing the source or target before or after the move (clean-up, repairs, permissions).
    Remediation,
    /// Changing networks, firewalls, DNS or mail flow.
    NetworkConfiguration,
    /// Training end users.
    EndUserTraining,
    /// Writing custom code or scripts for the customer.
    CustomDevelopment,
    /// Anything else, as written: beyond scope.
    Other(String),
}

impl Task {
    /// The in-scope kinds.
    pub const IN_SCOPE: &'static [Task] = &[Task::Guidance, Task::Tooling, Task::DataMove];

    /// The documented beyond-scope kinds (free text is beyond scope too).
    pub const BEYOND_SCOPE: &'static [Task] = &[
        Task::ProjectManagement,
        Task::WorkstationPreparation,
        Task::Remediation,
        Task::NetworkConfiguration,
        Task::EndUserTraining,
        Task::CustomDevelopment,
    ];

    /// Read a task from what a user wrote: a known name or alias (case, `-`, `_` and spacing ignored) or
    /// free text. Empty text is refused.
    pub fn parse(text: &str) -> Result<Task> {
        let norm: String = text
            .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if norm.is_empty() {
            return Err(Error::config("a task needs a description").with_context("field", "task"));
        }
        let task = match norm.as_str() {
            "guidance" | "advice" => Task::Guidance,
            "tooling" | "tools" => Task::Tooling,
            "data move" | "data moves" | "data migration" => Task::DataMove,
            "project management" => Task::ProjectManagement,
            "workstation preparation" | "desktop deployment" | "device preparation" => {
                Task::WorkstationPreparation
            }
            "remediation" | "source remediation" | "data cleanup" | "data clean up" => {
                Task::Remediation
            }
            "network configuration" | "dns changes" | "firewall changes" => {
                Task::NetworkConfiguration
            }
            "end user training" | "training" => Task::EndUserTraining,
            "custom development" | "custom code" => Task::CustomDevelopment,
            _ => Task::Other(text.trim().to_string()),
        };
        Ok(task)
    }

    /// Covered by the benefit (guidance, tooling, data moves).
    pub fn in_scope(&self) -> bool {
        matches!(self, Task::Guidance | Task::Tooling | Task::DataMove)
    }

    /// The canonical name (`data move`), or the free text as written.
    pub fn name(&self) -> &str {
        match self {
            Task::Guidance => "guidance",
            Task::Tooling => "tooling",
            Task::DataMove => "data move",
            Task::ProjectManagement => "project management",
            Task::WorkstationPreparation => "workstation preparation",
            Task::Remediation => "remediation",
            Task::NetworkConfiguration => "network configuration",
            Task::EndUserTraining => "end user training",
            Task::CustomDevelopment => "custom development",
            Task::Other(text) => text,
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for Task {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Task::parse(&s)
    }
}

impl From<Task> for String {
    fn from(t: Task) -> String {
        t.name().to_string()
    }
}

/// Why a task was accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum ScopeDecision {
    /// Covered by the benefit.
    InScope,
    /// Beyond scope, covered by the services agreement named.
    BeyondScope { agreement: String },
}

/// Longest services-agreement reference accepted.
pub const MAX_AGREEMENT_LEN: usize = 200;

/// Accept or refuse recording `task` against a project. An in-scope task needs nothing (an agreement given
/// anyway is ignored); a beyond-scope task needs a non-empty services-agreement reference.
pub fn check_task(task: &Task, agreement: Option<&str>) -> Result<ScopeDecision> {
    if task.in_scope() {
        return Ok(ScopeDecision::InScope);
    }
    let agreement = agreement.map(str::trim).unwrap_or("");
    if agreement.is_empty() {
        return Err(Error::config(format!(
            "{task:?} is beyond the programme's scope: the benefit covers guidance, tooling and data moves only. \
             Record it with the reference of a separate services agreement that covers it.",
            task = task.name()
        ))
        .with_context("rule", "scope")
        .with_context("task", task.name()));
    }
    if agreement.chars().count() > MAX_AGREEMENT_LEN || agreement.chars().any(char::is_control) {
        return Err(Error::config(format!(
            "the services-agreement reference must be one line of at most {MAX_AGREEMENT_LEN} characters"
        ))
        .with_context("field", "agreement"));
    }
    Ok(ScopeDecision::BeyondScope {
        agreement: agreement.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guidance_tooling_and_data_moves_are_in_scope_without_an_agreement() {
        for t in Task::IN_SCOPE {
            assert_eq!(check_task(t, None).unwrap(), ScopeDecision::InScope, "{t}");
        }
        assert_eq!(Task::parse("Data-Migration").unwrap(), Task::DataMove);
        assert_eq!(Task::parse("  guidance ").unwrap(), Task::Guidance);
    }

    #[test]
    fn beyond_scope_task_without_agreement_is_refused_with_an_explanation() {
        for t in Task::BEYOND_SCOPE {
            let err = check_task(t, None).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("beyond the programme's scope"), "{msg}");
            assert!(msg.contains(t.name()), "{msg}");
            assert!(msg.contains("services agreement"), "{msg}");
            assert!(
                check_task(t, Some("   ")).is_err(),
                "blank reference for {t}"
            );
        }
    }

    #[test]
    fn beyond_scope_task_with_an_agreement_is_accepted() {
        let t = Task::parse("Workstation_Preparation").unwrap();
        assert_eq!(t, Task::WorkstationPreparation);
        assert_eq!(
            check_task(&t, Some(" SA-2025-0042 ")).unwrap(),
            ScopeDecision::BeyondScope {
                agreement: "SA-2025-0042".into()
            }
        );
    }

    #[test]
    fn free_text_is_beyond_scope() {
        let t = Task::parse("Rebuild the customer's intranet").unwrap();
        assert_eq!(t, Task::Other("Rebuild the customer's intranet".into()));
        assert!(!t.in_scope());
        assert!(
            check_task(&t, None)
                .unwrap_err()
                .to_string()
                .contains("intranet")
        );
        assert!(check_task(&t, Some("SA-7")).is_ok());
    }

    #[test]
    fn an_empty_task_or_a_multi_line_agreement_is_refused() {
        assert!(Task::parse(" \t").is_err());
        assert!(check_task(&Task::Remediation, Some("SA-1\nSA-2")).is_err());
        assert!(check_task(&Task::Remediation, Some(&"x".repeat(201))).is_err());
    }

    #[test]
    fn tasks_round_trip_through_json_as_text() {
        let t: Task = serde_json::from_str("\"project management\"").unwrap();
        assert_eq!(t, Task::ProjectManagement);
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"project management\"");
        assert!(serde_json::from_str::<Task>("\"\"").is_err());
    }
}
