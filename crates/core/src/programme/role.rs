//! Roles per tenant and the permission matrix (issue 4 "Roles", DESIGN §2 invariant 5).
//!
//! Every kind of request the API serves maps to one [`Permission`]; [`allowed`] reads one table,
//! [`MATRIX`], so the whole policy is reviewable in one place and the server's route table only names a
//! permission per route. The same table is in `docs/programme.md`; a test keeps the two equal.
//!
//! Choices where the issue is silent (the issue fixes: only customer roles create events, engineers
//! launch/retry passes, viewers read):
//! - *Customer roles* are customer-admin and partner (a partner acts for the customer). They own what is the
//!   customer's to decide: events, the availability window, credentials (their secrets), approving skipped
//!   items (accepting that data was not moved), tickets, confirming gates (their prerequisites).
//! - The migration-manager runs the programme: creates tenants and sets their seats and plan (which decide
//!   eligibility — a customer cannot self-declare them), manages users, closes projects, handles tickets.
//! - Engineers do the technical work: endpoints, mappings, assessments, passes, tickets.
//! - Nobody can read a secret: there is no such permission.

use crate::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A user's role on a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    CustomerAdmin,
    Partner,
    MigrationManager,
    Engineer,
    Viewer,
}

impl Role {
    /// Every role, in the matrix's column order.
    pub const ALL: [Role; 5] = [
        Role::CustomerAdmin,
        Role::Partner,
        Role::MigrationManager,
        Role::Engineer,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CustomerAdmin => "customer-admin",
            Role::Partner => "partner",
            Role::MigrationManager => "migration-manager",
            Role::Engineer => "engineer",
            Role::Viewer => "viewer",
        }
    }

    /// The customer's own roles.
    pub fn is_customer(self) -> bool {
        matches!(self, Role::CustomerAdmin | Role::Partner)
    }

    fn column(self) -> usize {
        match self {
            Role::CustomerAdmin => 0,
            Role::Partner => 1,
            Role::MigrationManager => 2,
            Role::Engineer => 3,
            Role::Viewer => 4,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                Error::config(format!(
                    "unknown role {s:?}: use one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// Every kind of request the API serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read tenants, eligibility, projects, gates, endpoints (never secrets), mappings, assessments,
    /// events, passes, reports and downloads, tickets, transactions.
    Read,
    /// Read the audit log.
    ReadAudit,
    CreateTenant,
    /// Change a tenant's name, plan, seats, first purchase date or cloud (they decide eligibility).
    UpdateTenant,
    /// Change the tenant's availability window (24x7 / 24x5).
    SetAvailabilityWindow,
    /// Add or remove users and tokens, and change their roles.
    ManageUsers,
    CreateProject,
    UpdateProject,
    /// Record a task against a project (the scope guard applies).
    RecordTask,
    ConfirmGate,
    /// Create, change or delete endpoints.
    ManageEndpoints,
    /// Supply or replace a credential (a secret).
    SupplyCredential,
    ImportMappings,
    RunAssessment,
    CreateEvent,
    /// Change an event's start, pilot flag or mappings.
    ChangeEvent,
    CancelEvent,
    /// Launch a pass now (e.g. a Delta before its cadence).
    LaunchPass,
    /// Retry a failed pass (within the attempt limit).
    RetryPass,
    /// Approve the skipped items of a mapping graded Investigate.
    ApproveSkippedItems,
    ReportTicket,
    /// Comment on, resolve or reopen a ticket.
    UpdateTicket,
    ResumeProject,
    CloseProject,
}

impl Permission {
    /// Every permission, in the matrix's row order.
    pub const ALL: [Permission; 24] = [
        Permission::Read,
        Permission::ReadAudit,
        Permission::CreateTenant,
        Permission::UpdateTenant,
        Permission::SetAvailabilityWindow,
        Permission::ManageUsers,
        Permission::CreateProject,
        Permission::UpdateProject,
        Permission::RecordTask,
        Permission::ConfirmGate,
        Permission::ManageEndpoints,
        Permission::SupplyCredential,
        Permission::ImportMappings,
        Permission::RunAssessment,
        Permission::CreateEvent,
        Permission::ChangeEvent,
        Permission::CancelEvent,
        Permission::LaunchPass,
        Permission::RetryPass,
        Permission::ApproveSkippedItems,
        Permission::ReportTicket,
        Permission::UpdateTicket,
        Permission::ResumeProject,
        Permission::CloseProject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::ReadAudit => "read_audit",
            Permission::CreateTenant => "create_tenant",
            Permission::UpdateTenant => "update_tenant",
            Permission::SetAvailabilityWindow => "set_availability_window",
            Permission::ManageUsers => "manage_users",
            Permission::CreateProject => "create_project",
            Permission::UpdateProject => "update_project",
            Permission::RecordTask => "record_task",
            Permission::ConfirmGate => "confirm_gate",
            Permission::ManageEndpoints => "manage_endpoints",
            Permission::SupplyCredential => "supply_credential",
            Permission::ImportMappings => "import_mappings",
            Permission::RunAssessment => "run_assessment",
            Permission::CreateEvent => "create_event",
            Permission::ChangeEvent => "change_event",
            Permission::CancelEvent => "cancel_event",
            Permission::LaunchPass => "launch_pass",
            Permission::RetryPass => "retry_pass",
            Permission::ApproveSkippedItems => "approve_skipped_items",
            Permission::ReportTicket => "report_ticket",
            Permission::UpdateTicket => "update_ticket",
            Permission::ResumeProject => "resume_project",
            Permission::CloseProject => "close_project",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const Y: bool = true;
const N: bool = false;

/// The matrix. Columns, in [`Role::ALL`] order:
/// customer-admin, partner, migration-manager, engineer, viewer.
#[rustfmt::skip]
pub const MATRIX: [(Permission, [bool; 5]); 24] = [
    //                                     cust-admin partner mig-mgr engineer viewer
    (Permission::Read,                  [Y,         Y,      Y,      Y,       Y]),
    (Permission::ReadAudit,             [Y,         N,      Y,      N,       N]),
    (Permission::CreateTenant,          [N,         N,      Y,      N,       N]),
    (Permission::UpdateTenant,          [N,         N,      Y,      N,       N]),
    (Permission::SetAvailabilityWindow, [Y,         Y,      Y,      N,       N]),
    (Permission::ManageUsers,           [Y,         N,      Y,      N,       N]),
    (Permission::CreateProject,         [Y,         Y,      Y,      N,       N]),
    (Permission::UpdateProject,         [Y,         Y,      Y,      N,       N]),
    (Permission::RecordTask,            [Y,         Y,      Y,      Y,       N]),
    (Permission::ConfirmGate,           [Y,         Y,      Y,      N,       N]),
    (Permission::ManageEndpoints,       [Y,         Y,      Y,      Y,       N]),
    (Permission::SupplyCredential,      [Y,         Y,      N,      N,       N]),
    (Permission::ImportMappings,        [Y,         Y,      Y,      Y,       N]),
    (Permission::RunAssessment,         [Y,         Y,      Y,      Y,       N]),
    (Permission::CreateEvent,           [Y,         Y,      N,      N,       N]),
    (Permission::ChangeEvent,           [Y,         Y,      N,      N,       N]),
    (Permission::CancelEvent,           [Y,         Y,      N,      N,       N]),
    (Permission::LaunchPass,            [N,         N,      N,      Y,       N]),
    (Permission::RetryPass,             [N,         N,      N,      Y,       N]),
    (Permission::ApproveSkippedItems,   [Y,         Y,      N,      N,       N]),
    (Permission::ReportTicket,          [Y,         Y,      Y,      N,       N]),
    (Permission::UpdateTicket,          [N,         N,      Y,      Y,       N]),
    (Permission::ResumeProject,         [Y,         Y,      Y,      N,       N]),
    (Permission::CloseProject,          [Y,         N,      Y,      N,       N]),
];

/// Whether `role` may make requests needing `permission`.
pub fn allowed(role: Role, permission: Permission) -> bool {
    MATRIX
        .iter()
        .find(|(p, _)| *p == permission)
        .is_some_and(|(_, row)| row[role.column()])
}

/// The roles that hold `permission`.
pub fn roles_with(permission: Permission) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| allowed(*r, permission))
        .collect()
}

/// `Ok` when `role` holds `permission`, else an [`ErrorKind::Auth`] error naming the roles that do.
pub fn require(role: Role, permission: Permission) -> Result<()> {
    if allowed(role, permission) {
        return Ok(());
    }
    let who: Vec<&str> = roles_with(permission).iter().map(|r| r.as_str()).collect();
    Err(Error::new(
        ErrorKind::Auth,
        format!(
            "the {role} role may not {permission}; allowed: {}",
            who.join(", ")
        ),
    )
    .with_context("permission", permission))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix written out again, by hand: `x` allowed, `.` refused.
    const EXPECTED: &str = "
        permission               cust-admin partner mig-mgr engineer viewer
        read                     x          x       x       x        x
        read_audit               x          .       x       .        .
        create_tenant            .          .       x       .        .
        update_tenant            .          .       x       .        .
        set_availability_window  x          x       x       .        .
        manage_users             x          .       x       .        .
        create_project           x          x       x       .        .
        update_project           x          x       x       .        .
        record_task              x          x       x       x        .
        confirm_gate             x          x       x       .        .
        manage_endpoints         x          x       x       x        .
        supply_credential        x          x       .       .        .
        import_mappings          x          x       x       x        .
        run_assessment           x          x       x       x        .
        create_event             x          x       .       .        .
        change_event             x          x       .       .        .
        cancel_event             x          x       .       .        .
        launch_pass              .          .       .       x        .
        retry_pass               .          .       .       x        .
        approve_skipped_items    x          x       .       .        .
        report_ticket            x          x       x       .        .
        update_ticket            .          .       x       x        .
        resume_project           x          x       x       .        .
        close_project            x          .       x       .        .
    ";

    /// `(permission name, cells in Role::ALL order)` rows of a written table.
    fn rows(table: &str, yes: &str, no: &str) -> Vec<(String, Vec<bool>)> {
        table
            .lines()
            .map(|l| {
                l.trim()
                    .trim_matches('|')
                    .split(['|', ' '])
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|cells| {
                cells.len() == 6
                    && Permission::ALL
                        .iter()
                        .any(|p| p.as_str() == cells[0].trim_matches('`'))
            })
            .map(|cells| {
                let values = cells[1..]
                    .iter()
                    .map(|c| match *c {
                        c if c == yes => true,
                        c if c == no => false,
                        other => panic!("cell {other:?} in row {}", cells[0]),
                    })
                    .collect();
                (cells[0].trim_matches('`').to_string(), values)
            })
            .collect()
    }

    fn assert_table_is_the_matrix(table: &str, yes: &str, no: &str, source: &str) {
        let rows = rows(table, yes, no);
        assert_eq!(
            rows.len(),
            Permission::ALL.len(),
            "{source}: one row per permission"
        );
        let mut cells = 0;
        for p in Permission::ALL {
            let matching: Vec<_> = rows.iter().filter(|(name, _)| name == p.as_str()).collect();
            assert_eq!(matching.len(), 1, "{source}: exactly one row for {p}");
            for (role, want) in Role::ALL.into_iter().zip(&matching[0].1) {
                assert_eq!(allowed(role, p), *want, "{source}: {role} × {p}");
                cells += 1;
            }
        }
        assert_eq!(cells, Role::ALL.len() * Permission::ALL.len());
    }

    #[test]
    fn every_cell_of_the_role_matrix_is_as_written() {
        assert_table_is_the_matrix(EXPECTED, "x", ".", "test table");
    }

    #[test]
    fn the_operator_docs_show_the_same_matrix() {
        let docs = include_str!("../../../../docs/programme.md");
        assert_table_is_the_matrix(docs, "✓", "—", "docs/programme.md");
    }

    #[test]
    fn the_matrix_has_one_row_per_permission_in_order() {
        let order: Vec<Permission> = MATRIX.iter().map(|(p, _)| *p).collect();
        assert_eq!(order, Permission::ALL);
    }

    #[test]
    fn only_customer_roles_create_change_or_cancel_events() {
        for p in [
            Permission::CreateEvent,
            Permission::ChangeEvent,
            Permission::CancelEvent,
        ] {
            for r in Role::ALL {
                assert_eq!(allowed(r, p), r.is_customer(), "{r} × {p}");
            }
        }
    }

    #[test]
    fn only_engineers_launch_and_retry_passes() {
        for p in [Permission::LaunchPass, Permission::RetryPass] {
            assert_eq!(roles_with(p), vec![Role::Engineer]);
        }
    }

    #[test]
    fn viewers_only_read() {
        for p in Permission::ALL {
            assert_eq!(allowed(Role::Viewer, p), p == Permission::Read, "{p}");
        }
    }

    #[test]
    fn a_refusal_is_an_auth_error_naming_who_may() {
        let err = require(Role::Viewer, Permission::CreateEvent).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert_eq!(
            err.message(),
            "the viewer role may not create_event; allowed: customer-admin, partner"
        );
        require(Role::Partner, Permission::CreateEvent).unwrap();
    }

    #[test]
    fn roles_parse_by_their_names() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        assert!("admin".parse::<Role>().is_err());
    }
}
