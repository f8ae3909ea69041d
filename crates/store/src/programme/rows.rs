//! Typed rows of the programme tables, as the traits read and write them.

use chrono::{DateTime, Utc};
use ferry_core::id::{EventId, MappingId, ProjectId, TenantId, TransactionId, UserId};
use ferry_core::programme::event::{EventKind, EventState};
use ferry_core::programme::pass::{PassOutcome, PassRecord};
use ferry_core::programme::{PassKind, ProjectState, SourceSystem, TransactionStatus, Workload};
use serde::Serialize;

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

/// A project.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Project {
    pub id: ProjectId,
    pub tenant: TenantId,
    pub name: String,
    pub workload: Workload,
    pub source_system: SourceSystem,
    pub state: ProjectState,
    pub paused_from: Option<ProjectState>,
    pub paused_since: Option<DateTime<Utc>>,
    pub last_progress: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A scope-guard task recorded against a project.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRow {
    pub id: String,
    pub task: String,
    pub agreement: Option<String>,
    pub in_scope: bool,
    pub created_by: String,
    /// As stored (RFC 3339).
    pub created_at: String,
}

/// A project's endpoint (never a secret: those are credentials).
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointRow {
    pub id: String,
    /// `source` or `target`.
    pub side: String,
    pub url: String,
    pub username: Option<String>,
    /// The connector options, a JSON object as stored.
    pub options: String,
    /// As stored (RFC 3339).
    pub created_at: String,
}

/// What is known about a stored credential without its secret.
#[derive(Clone, Debug, PartialEq)]
pub struct CredentialMeta {
    /// `endpoint:<side>` or `mapping:<id>:<side>`.
    pub owner: String,
    pub supplied_by: String,
    /// As stored (RFC 3339).
    pub supplied_at: String,
    pub expires_at: String,
}

/// An encrypted credential to store (replacing the owner's).
#[derive(Clone)]
pub struct CredentialWrite {
    pub project: ProjectId,
    pub owner: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub supplied_by: UserId,
    pub supplied_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for CredentialWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CredentialWrite {{ project: {}, owner: {:?}, <sealed> }}",
            self.project, self.owner
        )
    }
}

/// A stored credential, still sealed.
#[derive(Clone)]
pub struct SealedCredential {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for SealedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SealedCredential {{ <sealed>, expires_at: {} }}",
            self.expires_at
        )
    }
}

/// A programme mapping as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct MappingRecord {
    pub id: MappingId,
    pub line: i64,
    pub label: String,
    pub source: String,
    pub target: String,
    /// The row's other fields, a JSON document as stored.
    pub doc: String,
}

/// An event with its mappings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub id: EventId,
    pub project: ProjectId,
    pub name: String,
    pub kind: EventKind,
    pub pilot: bool,
    pub start: DateTime<Utc>,
    pub state: EventState,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub mappings: Vec<MappingId>,
}

/// A new event.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub id: EventId,
    pub project: ProjectId,
    pub name: String,
    pub kind: EventKind,
    pub pilot: bool,
    pub start: DateTime<Utc>,
    pub created_by: UserId,
    pub at: DateTime<Utc>,
}

/// An approval of a mapping's skipped items.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalRow {
    pub mapping: MappingId,
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// A new pass.
#[derive(Clone, Debug)]
pub struct NewPass {
    pub id: String,
    pub event: EventId,
    pub mapping: MappingId,
    pub kind: PassKind,
    pub attempt: u32,
    pub at: DateTime<Utc>,
}

/// How a pass ended.
#[derive(Clone, Debug)]
pub struct PassEnd {
    /// `succeeded` or `failed`.
    pub outcome: String,
    pub reason: Option<String>,
    /// The engine's counters plus the mapping's journal, JSON.
    pub counters: Option<String>,
    pub grade: Option<String>,
    /// The engine run that carried the pass.
    pub run_id: Option<String>,
}

/// A worker's hold on a running pass (issue 12 §3): the fencing token every write for the pass carries.
/// `attempt` grows at each claim, so a worker whose lease expired and was claimed again holds a stale
/// token and its writes change nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub pass: String,
    /// The worker's id, unique per process start (`host:pid:ulid`).
    pub owner: String,
    pub attempt: u32,
    /// When the lease ends unless renewed, as claimed. The holder's lease keeper stops the pass before
    /// then if it cannot confirm a renewal.
    pub until: DateTime<Utc>,
}

/// A running pass and who holds it, for the scheduler's reconciliation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassLease {
    pub pass: String,
    pub event: EventId,
    /// `None`: no worker holds it (queued, released, or never claimed).
    pub owner: Option<String>,
    pub attempt: u32,
    pub until: Option<DateTime<Utc>>,
    pub run_after: Option<DateTime<Utc>>,
}

impl PassLease {
    /// Whether a live worker holds the pass at `now`.
    pub fn held_at(&self, now: DateTime<Utc>) -> bool {
        self.owner.is_some() && self.until.is_some_and(|u| u > now)
    }
}

/// One pass as stored (a `prog_pass` row).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredPass {
    pub id: String,
    pub event: EventId,
    pub mapping: MappingId,
    pub kind: PassKind,
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub outcome: PassOutcome,
    /// The engine's counters of this pass plus `journal`: the mapping's whole journal after it.
    pub counters: Option<serde_json::Value>,
    pub grade: Option<String>,
    pub run_id: Option<String>,
}

impl StoredPass {
    pub fn record(&self) -> PassRecord {
        PassRecord {
            event: self.event,
            kind: self.kind,
            started_at: self.started_at,
            outcome: self.outcome.clone(),
        }
    }

    /// `running`, `succeeded` or `failed`.
    pub fn outcome_name(&self) -> &'static str {
        match self.outcome {
            PassOutcome::Running => "running",
            PassOutcome::Succeeded => "succeeded",
            PassOutcome::Failed { .. } => "failed",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match &self.outcome {
            PassOutcome::Failed { reason } => Some(reason),
            _ => None,
        }
    }

    /// (discovered, skipped, failed) for the grade: the mapping's journal after the pass when known, else
    /// the pass's own counters.
    pub fn graded_counts(&self) -> (u64, u64, u64) {
        graded_counts(self.counters.as_ref().unwrap_or(&serde_json::Value::Null))
    }

    /// The pass as reports show it.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "kind": self.kind,
            "attempt": self.attempt,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome_name(),
            "reason": self.reason(),
            "counters": self.counters,
            "grade": self.grade,
        })
    }
}

/// (discovered, skipped, failed) for the grade from a pass's stored counters: the mapping's journal
/// (`journal`) when known — a folder that could not be copied counts as a failed item — else the pass's own
/// counters.
pub fn graded_counts(c: &serde_json::Value) -> (u64, u64, u64) {
    use serde_json::Value;
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    match c.get("journal") {
        Some(j) if !j.is_null() => (
            n(j, "items") + n(j, "folder_errors"),
            n(j, "skipped"),
            n(j, "failed") + n(j, "pending") + n(j, "folder_errors"),
        ),
        _ => (n(c, "discovered"), n(c, "skipped"), n(c, "failed")),
    }
}

/// An assessment as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AssessmentRow {
    pub id: String,
    pub status: String,
    /// As stored (RFC 3339).
    pub started_at: String,
    pub finished_at: Option<String>,
    /// The report, JSON.
    pub report: Option<String>,
}

/// A post-migration ticket (times as stored, RFC 3339).
#[derive(Clone, Debug, PartialEq)]
pub struct TicketRow {
    pub id: String,
    pub mapping: String,
    pub event: String,
    pub title: String,
    pub body: String,
    pub status: String,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

/// Where a page of a log starts: after a key (oldest first) or before one (newest first).
#[derive(Clone, Debug, PartialEq)]
pub enum Seek<K> {
    /// Entries with a key greater than this, oldest first.
    After(K),
    /// Entries with a key smaller than this (none: from the newest), newest first.
    Before(Option<K>),
}

/// Which audit entries to read (every field optional; all given must hold).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFilter {
    /// The actor's shown name (display name, else name); `scheduler` for entries without a user.
    pub actor: Option<String>,
    /// An action (`ticket.report`) or its family (`ticket`: every `ticket.…`).
    pub action: Option<String>,
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
}

/// Which transactions to read (every field optional; all given must hold).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TransactionFilter {
    /// The creator's shown name; `scheduler` for transactions without a user.
    pub actor: Option<String>,
    /// An action or its family, as [`AuditFilter::action`].
    pub action: Option<String>,
    pub status: Option<TransactionStatus>,
    /// Created at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Created before this time.
    pub until: Option<DateTime<Utc>>,
}

/// A transaction of a list, with its id and its creator's shown name.
#[derive(Clone, Debug, PartialEq)]
pub struct TransactionEntry {
    pub id: TransactionId,
    /// The creator's shown name; `None` for the scheduler (or a user since removed).
    pub who: Option<String>,
    pub row: TransactionRow,
}

/// Which tickets of a project to read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TicketFilter {
    /// `open` or `resolved`.
    pub status: Option<String>,
    pub mapping: Option<MappingId>,
}
