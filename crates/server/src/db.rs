//! Queries shared by the handlers and the scheduler: timestamps, the audit log and transactions, and
//! loading the rows most requests start from.

use crate::ApiError;
use crate::error::request_id;
use axum::Json;
use chrono::{DateTime, Utc};
use ferry_core::id::{ProjectId, TenantId, TransactionId, UserId};
use ferry_core::programme::gate::GateStatus;
use ferry_core::programme::tenant::Tenant;
use ferry_core::programme::{ProjectState, TransactionStatus};
use ferry_store::programme::{self, AuditWrite, Programme, ProgrammeTx, TransactionWrite};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// How times are stored: RFC 3339, UTC, milliseconds.
pub fn ts(t: DateTime<Utc>) -> String {
    programme::ts(t)
}

pub fn parse_ts(s: &str) -> Result<DateTime<Utc>, ApiError> {
    Ok(programme::parse_ts(s)?)
}

/// A stored snake_case enum name back into its type.
pub fn parse_enum<T: DeserializeOwned>(s: &str) -> Result<T, ApiError> {
    Ok(programme::parse_enum(s)?)
}

/// A serde enum's snake_case name.
pub fn enum_name<T: Serialize>(v: &T) -> String {
    programme::enum_name(v)
}

/// Who made a change: a user, or the scheduler on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    Scheduler,
}

impl Actor {
    fn user(self) -> Option<UserId> {
        match self {
            Actor::User(u) => Some(u),
            Actor::Scheduler => None,
        }
    }
}

/// One state change to audit.
pub struct Change {
    pub tenant: Option<TenantId>,
    /// What was done: `tenant.create`, `event.change`, …
    pub action: &'static str,
    /// What it was done to: `project/<id>`, …
    pub target: String,
    /// Summaries of the state before and after (never a secret).
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A transaction as the API shows it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct TransactionRef {
    pub id: TransactionId,
    pub status: TransactionStatus,
}

/// Write the audit entry and the transaction of `change`, inside the caller's database transaction.
pub async fn record(
    tx: &dyn Programme,
    actor: Actor,
    change: Change,
    status: TransactionStatus,
    now: DateTime<Utc>,
) -> Result<TransactionRef, ApiError> {
    tx.insert_audit(&AuditWrite {
        tenant: change.tenant,
        user: actor.user(),
        action: change.action.to_string(),
        target: change.target.clone(),
        before: change.before.map(|v| v.to_string()),
        after: change.after.map(|v| v.to_string()),
        at: now,
        request_id: request_id(),
    })
    .await?;
    let id = TransactionId::new();
    tx.insert_transaction(&TransactionWrite {
        id,
        tenant: change.tenant,
        action: change.action.to_string(),
        target: change.target,
        status,
        created_by: actor.user(),
        at: now,
    })
    .await?;
    Ok(TransactionRef { id, status })
}

/// Record `change` as a completed transaction and commit `tx`: how every synchronous state-changing request
/// ends.
pub async fn commit(
    tx: Box<dyn ProgrammeTx>,
    actor: Actor,
    change: Change,
    now: DateTime<Utc>,
) -> Result<TransactionRef, ApiError> {
    let txn = record(&*tx, actor, change, TransactionStatus::Completed, now).await?;
    tx.commit().await?;
    Ok(txn)
}

/// Move a transaction on (an asynchronous request's worker reports its end this way).
pub async fn set_transaction(
    store: &dyn Programme,
    id: TransactionId,
    status: TransactionStatus,
    detail: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let current = store
        .transaction_status(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no transaction {id}")))?;
    if current != status {
        current.transition(status)?;
    }
    store.update_transaction(id, status, detail, now).await?;
    Ok(())
}

/// The answer to a state-changing request: `{transaction: {id, status}, result: …}`.
pub fn changed<T: Serialize>(transaction: TransactionRef, result: T) -> Json<Value> {
    Json(json!({ "transaction": transaction, "result": result }))
}

/// A tenant row.
pub async fn load_tenant(store: &dyn Programme, id: TenantId) -> Result<Tenant, ApiError> {
    store
        .load_tenant(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant {id}")))
}

pub use ferry_store::programme::Project;

/// A project of `tenant` (404 when it belongs to another tenant: ids do not leak across tenants).
pub async fn load_project(
    store: &dyn Programme,
    tenant: TenantId,
    id: ProjectId,
) -> Result<Project, ApiError> {
    store
        .load_project(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no project {id} in this tenant")))
}

/// Every project (the scheduler's view).
pub async fn all_projects(store: &dyn Programme) -> Result<Vec<Project>, ApiError> {
    Ok(store.projects(None).await?)
}

/// Projects of a tenant.
pub async fn tenant_projects(
    store: &dyn Programme,
    tenant: TenantId,
) -> Result<Vec<Project>, ApiError> {
    Ok(store.projects(Some(tenant)).await?)
}

/// Set a project's state (checked against the lifecycle), keeping `paused_from`/`paused_since` right.
pub async fn set_project_state(
    store: &dyn Programme,
    project: &Project,
    to: ProjectState,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if project.state == to {
        return Ok(());
    }
    project.state.transition(to)?;
    let (paused_from, paused_since) = if to == ProjectState::Paused {
        (Some(project.state), Some(now))
    } else {
        (None, None)
    };
    store
        .set_project_state(project.id, to, paused_from, paused_since, now)
        .await?;
    Ok(())
}

/// Mark the project as having made progress now (the pause clock restarts).
pub async fn touch_project(
    store: &dyn Programme,
    project: ProjectId,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    Ok(store.touch_project(project, now).await?)
}

/// The project's gates with their confirmations.
pub async fn gates(store: &dyn Programme, project: ProjectId) -> Result<Vec<GateStatus>, ApiError> {
    Ok(store.gates(project).await?)
}

/// Delete every stored secret of the project (pause, offboarding, close). Returns how many.
pub async fn purge_credentials(store: &dyn Programme, project: ProjectId) -> Result<u64, ApiError> {
    Ok(store.purge_credentials(project).await?)
}
