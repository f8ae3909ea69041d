//! Transactions: every state-changing request returns one, and its status can be queried (issue 4
//! "Transactions", DESIGN §1).
//!
//! ```text
//! Created    → InProgress | OnHold | Completed | Failed
//! InProgress → OnHold | Completed | Failed
//! OnHold     → InProgress | Failed
//! ```
//!
//! OnHold means the request waits for something outside Ferry (a gate, credentials, a paused project) and
//! goes on when that arrives, or fails. Completed and Failed are final.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The status of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    Created,
    InProgress,
    Completed,
    Failed,
    OnHold,
}

use TransactionStatus::*;

impl TransactionStatus {
    pub const ALL: [TransactionStatus; 5] = [Created, InProgress, Completed, Failed, OnHold];

    pub fn as_str(self) -> &'static str {
        match self {
            Created => "created",
            InProgress => "in_progress",
            Completed => "completed",
            Failed => "failed",
            OnHold => "on_hold",
        }
    }

    /// The transition table.
    pub fn allowed_next(self) -> &'static [TransactionStatus] {
        match self {
            Created => &[InProgress, Completed, Failed, OnHold],
            InProgress => &[Completed, Failed, OnHold],
            OnHold => &[InProgress, Failed],
            Completed | Failed => &[],
        }
    }

    pub fn is_terminal(self) -> bool {
        self.allowed_next().is_empty()
    }

    /// Move to `to`, or an error naming the allowed transitions.
    pub fn transition(self, to: TransactionStatus) -> Result<TransactionStatus> {
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
        Err(Error::unexpected(format!(
            "a {self} transaction cannot become {to}; allowed from {self}: {allowed}"
        )))
    }
}

impl fmt::Display for TransactionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_runs_created_in_progress_completed() {
        let t = Created
            .transition(InProgress)
            .unwrap()
            .transition(Completed)
            .unwrap();
        assert!(t.is_terminal());
    }

    #[test]
    fn an_on_hold_transaction_goes_on_or_fails() {
        assert_eq!(
            InProgress
                .transition(OnHold)
                .unwrap()
                .transition(InProgress)
                .unwrap(),
            InProgress
        );
        assert_eq!(OnHold.transition(Failed).unwrap(), Failed);
        assert!(OnHold.transition(Completed).is_err());
    }

    #[test]
    fn final_statuses_do_not_change() {
        for from in [Completed, Failed] {
            for to in TransactionStatus::ALL {
                let err = from.transition(to).unwrap_err();
                assert!(err.message().contains("none: it is final"), "{err}");
            }
        }
        assert_eq!(serde_json::to_string(&OnHold).unwrap(), "\"on_hold\"");
    }
}
