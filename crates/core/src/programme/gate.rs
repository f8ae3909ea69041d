//! Gates: the prerequisites of a workload that must be met before any of its events is created or started
//! (issue 4 "Gates", DESIGN §1).
//!
//! | workload | gates |
//! | --- | --- |
//! | mail | core onboarding, identity synchronisation, Exchange Online workload onboarding, hybrid configuration (only when the source is Exchange on-premises), targets provisioned and active |
//! | files | core onboarding, identity synchronisation, OneDrive/SharePoint workload onboarding, targets provisioned and active |
//!
//! A gate is open until someone confirms it; the confirmation records who and when. The refusal names every
//! open gate, so the customer sees the whole list at once rather than one gate per attempt.

use super::project::{SourceSystem, Workload};
use crate::id::UserId;
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One prerequisite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    /// The tenant is set up: domains, licences, admin access.
    CoreOnboarding,
    /// Users exist in the target directory (directory synchronisation or import done).
    IdentitySynchronisation,
    /// Exchange Online is onboarded for the tenant.
    ExchangeOnlineOnboarding,
    /// Exchange hybrid configuration is in place (on-premises Exchange sources only).
    HybridConfiguration,
    /// OneDrive / SharePoint is onboarded for the tenant.
    #[serde(rename = "onedrive_sharepoint_onboarding")]
    OneDriveSharePointOnboarding,
    /// Target mailboxes / drives / sites are provisioned and active.
    TargetsProvisioned,
}

impl GateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GateKind::CoreOnboarding => "core_onboarding",
            GateKind::IdentitySynchronisation => "identity_synchronisation",
            GateKind::ExchangeOnlineOnboarding => "exchange_online_onboarding",
            GateKind::HybridConfiguration => "hybrid_configuration",
            GateKind::OneDriveSharePointOnboarding => "onedrive_sharepoint_onboarding",
            GateKind::TargetsProvisioned => "targets_provisioned",
        }
    }

    /// The name people read.
    pub fn title(self) -> &'static str {
        match self {
            GateKind::CoreOnboarding => "core onboarding",
            GateKind::IdentitySynchronisation => "identity synchronisation",
            GateKind::ExchangeOnlineOnboarding => "Exchange Online workload onboarding",
            GateKind::HybridConfiguration => "hybrid configuration",
            GateKind::OneDriveSharePointOnboarding => "OneDrive/SharePoint workload onboarding",
            GateKind::TargetsProvisioned => "targets provisioned and active",
        }
    }
}

impl fmt::Display for GateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who confirmed a gate, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// A gate of a project and whether it is met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateStatus {
    pub kind: GateKind,
    /// `None` while the gate is open.
    pub confirmed: Option<Confirmation>,
}

impl GateStatus {
    /// An open gate.
    pub fn open(kind: GateKind) -> Self {
        GateStatus {
            kind,
            confirmed: None,
        }
    }

    pub fn is_met(&self) -> bool {
        self.confirmed.is_some()
    }

    /// Confirm the gate, recording who and when. Confirming a met gate again keeps the first confirmation
    /// (so a retried request changes nothing) and returns `false`.
    pub fn confirm(&mut self, by: UserId, at: DateTime<Utc>) -> bool {
        if self.confirmed.is_some() {
            return false;
        }
        self.confirmed = Some(Confirmation { by, at });
        true
    }
}

/// The gates that apply to a project, in the order they are usually met.
pub fn applicable_gates(workload: Workload, source: SourceSystem) -> Vec<GateKind> {
    let mut gates = vec![GateKind::CoreOnboarding, GateKind::IdentitySynchronisation];
    match workload {
        Workload::Mail => {
            gates.push(GateKind::ExchangeOnlineOnboarding);
            if source == SourceSystem::ExchangeOnPremises {
                gates.push(GateKind::HybridConfiguration);
            }
        }
        Workload::Files => gates.push(GateKind::OneDriveSharePointOnboarding),
    }
    gates.push(GateKind::TargetsProvisioned);
    gates
}

/// The applicable gates not confirmed in `statuses` (a gate missing from `statuses` is open).
pub fn open_gates(
    workload: Workload,
    source: SourceSystem,
    statuses: &[GateStatus],
) -> Vec<GateKind> {
    applicable_gates(workload, source)
        .into_iter()
        .filter(|kind| !statuses.iter().any(|s| s.kind == *kind && s.is_met()))
        .collect()
}

/// What a gate check protects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatedAction {
    CreateEvent,
    StartEvent,
}

impl GatedAction {
    fn verb(self) -> &'static str {
        match self {
            GatedAction::CreateEvent => "create",
            GatedAction::StartEvent => "start",
        }
    }
}

/// Refuse `action` while any applicable gate is open; the error names every open gate.
pub fn check_gates(
    workload: Workload,
    source: SourceSystem,
    statuses: &[GateStatus],
    action: GatedAction,
) -> Result<()> {
    let open = open_gates(workload, source, statuses);
    if open.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = open.iter().map(|g| g.title()).collect();
    let ids: Vec<&str> = open.iter().map(|g| g.as_str()).collect();
    let n = open.len();
    Err(Error::config(format!(
        "cannot {} the event: {n} {} of the {workload} workload {} open: {}. Confirm {} first.",
        action.verb(),
        if n == 1 { "gate" } else { "gates" },
        if n == 1 { "is" } else { "are" },
        names.join(", "),
        if n == 1 { "it" } else { "them" },
    ))
    .with_context("rule", "gates")
    .with_context("open_gates", ids.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::programme::testutil::at;
    use GateKind::*;

    fn met(kinds: &[GateKind]) -> Vec<GateStatus> {
        let by = UserId::new();
        kinds
            .iter()
            .map(|k| {
                let mut g = GateStatus::open(*k);
                g.confirm(by, at(2025, 3, 3, 9, 0));
                g
            })
            .collect()
    }

    #[test]
    fn a_gate_serialises_as_its_stored_name() {
        let mut kinds = applicable_gates(Workload::Mail, SourceSystem::ExchangeOnPremises);
        kinds.extend(applicable_gates(Workload::Files, SourceSystem::Other));
        for k in kinds {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str(), "{k:?}");
            let back: GateKind = serde_json::from_value(k.as_str().into()).unwrap();
            assert_eq!(back, k);
        }
    }

    #[test]
    fn mail_gates_include_hybrid_only_for_exchange_on_premises() {
        assert_eq!(
            applicable_gates(Workload::Mail, SourceSystem::Other),
            vec![
                CoreOnboarding,
                IdentitySynchronisation,
                ExchangeOnlineOnboarding,
                TargetsProvisioned
            ]
        );
        assert_eq!(
            applicable_gates(Workload::Mail, SourceSystem::ExchangeOnPremises),
            vec![
                CoreOnboarding,
                IdentitySynchronisation,
                ExchangeOnlineOnboarding,
                HybridConfiguration,
                TargetsProvisioned
            ]
        );
    }

    #[test]
    fn file_gates_are_core_identity_onedrive_sharepoint_and_targets() {
        let want = vec![
            CoreOnboarding,
            IdentitySynchronisation,
            OneDriveSharePointOnboarding,
            TargetsProvisioned,
        ];
        assert_eq!(applicable_gates(Workload::Files, SourceSystem::Other), want);
        // An Exchange source does not add hybrid configuration to files.
        assert_eq!(
            applicable_gates(Workload::Files, SourceSystem::ExchangeOnPremises),
            want
        );
    }

    #[test]
    fn event_is_refused_while_gates_are_open_and_the_refusal_names_them() {
        let statuses = met(&[CoreOnboarding, IdentitySynchronisation]);
        assert_eq!(
            open_gates(Workload::Mail, SourceSystem::ExchangeOnPremises, &statuses),
            vec![
                ExchangeOnlineOnboarding,
                HybridConfiguration,
                TargetsProvisioned
            ]
        );
        for action in [GatedAction::CreateEvent, GatedAction::StartEvent] {
            let err = check_gates(
                Workload::Mail,
                SourceSystem::ExchangeOnPremises,
                &statuses,
                action,
            )
            .unwrap_err();
            assert_eq!(
                err.message(),
                format!(
                    "cannot {} the event: 3 gates of the mail workload are open: Exchange Online workload \
                     onboarding, hybrid configuration, targets provisioned and active. Confirm them first.",
                    action.verb()
                )
            );
        }
    }

    #[test]
    fn event_is_allowed_once_every_applicable_gate_is_met() {
        let statuses = met(&[
            CoreOnboarding,
            IdentitySynchronisation,
            OneDriveSharePointOnboarding,
            TargetsProvisioned,
        ]);
        check_gates(
            Workload::Files,
            SourceSystem::Other,
            &statuses,
            GatedAction::StartEvent,
        )
        .unwrap();
        // The same gates leave the mail workload's Exchange Online gate open.
        let err = check_gates(
            Workload::Mail,
            SourceSystem::Other,
            &statuses,
            GatedAction::CreateEvent,
        )
        .unwrap_err();
        assert!(
            err.message()
                .contains("1 gate of the mail workload is open: Exchange Online"),
            "{err}"
        );
    }

    #[test]
    fn an_unconfirmed_status_counts_as_open() {
        let statuses = vec![GateStatus::open(CoreOnboarding)];
        assert!(
            open_gates(Workload::Files, SourceSystem::Other, &statuses).contains(&CoreOnboarding)
        );
    }

    #[test]
    fn confirming_records_who_and_when_and_a_second_confirmation_changes_nothing() {
        let (alice, bob) = (UserId::new(), UserId::new());
        let mut g = GateStatus::open(TargetsProvisioned);
        assert!(!g.is_met());
        assert!(g.confirm(alice, at(2025, 3, 3, 9, 0)));
        assert_eq!(
            g.confirmed,
            Some(Confirmation {
                by: alice,
                at: at(2025, 3, 3, 9, 0)
            })
        );
        assert!(!g.confirm(bob, at(2025, 3, 4, 9, 0)));
        assert_eq!(g.confirmed.map(|c| c.by), Some(alice));
    }
}
