//! Typed rows of the programme tables, as the traits read and write them.

use chrono::{DateTime, Utc};
use ferry_core::id::{TenantId, TransactionId, UserId};
use ferry_core::programme::TransactionStatus;

/// A user, as a bearer token finds it.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenUser {
    pub id: UserId,
    /// The name shown: the display name if one was given, else the Ferry-wide name.
    pub name: String,
    pub operator: bool,
}

/// A new user.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub id: UserId,
    /// Ferry-wide unique name.
    pub name: String,
    /// The name the tenant gave, when it differs from `name`.
    pub display_name: Option<String>,
    pub operator: bool,
    pub created_at: DateTime<Utc>,
}

/// A member of a tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberRow {
    pub user: UserId,
    pub name: String,
    /// The stored role name (`ferry_core::programme::role::Role`).
    pub role: String,
    /// When the role was first given, as stored.
    pub since: String,
}

/// One of a user's roles, with its tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRole {
    pub tenant: TenantId,
    pub tenant_name: String,
    pub role: String,
}

/// An audit entry to write.
#[derive(Clone, Debug)]
pub struct AuditWrite {
    pub tenant: Option<TenantId>,
    /// `None` for the scheduler.
    pub user: Option<UserId>,
    pub action: String,
    pub target: String,
    /// JSON summaries, never a secret.
    pub before: Option<String>,
    pub after: Option<String>,
    pub at: DateTime<Utc>,
    pub request_id: String,
}

/// An audit entry as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRow {
    pub seq: i64,
    pub user: Option<String>,
    /// The user's shown name; `None` for the scheduler.
    pub who: Option<String>,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// As stored (RFC 3339).
    pub at: String,
    pub request_id: Option<String>,
}

/// A transaction to write.
#[derive(Clone, Debug)]
pub struct TransactionWrite {
    pub id: TransactionId,
    pub tenant: Option<TenantId>,
    pub action: String,
    pub target: String,
    pub status: TransactionStatus,
    pub created_by: Option<UserId>,
    pub at: DateTime<Utc>,
}

/// A transaction as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct TransactionRow {
    pub action: String,
    pub target: String,
    pub status: TransactionStatus,
    pub detail: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The counts `/metrics` shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProgrammeCounts {
    pub tenants: i64,
    pub projects_by_state: Vec<(String, i64)>,
    pub events_by_state: Vec<(String, i64)>,
    pub mappings: i64,
    /// (kind, outcome, count).
    pub passes: Vec<(String, String, i64)>,
    pub items_copied: i64,
    pub items_skipped: i64,
    pub items_failed: i64,
    pub bytes_copied: i64,
    pub credentials_expired: i64,
    pub credentials_expiring: i64,
    pub credentials_valid: i64,
    pub tickets_by_status: Vec<(String, i64)>,
    pub transactions_by_status: Vec<(String, i64)>,
    pub audit_entries: i64,
}
