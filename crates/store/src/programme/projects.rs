//! Projects and what hangs off them before events: gates, scope tasks, endpoints, credentials, mappings.

use super::rows::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{MappingId, ProjectId, TenantId, UserId};
use ferry_core::programme::gate::{GateKind, GateStatus};
use ferry_core::programme::{ProjectState, SourceSystem, Workload};

/// Projects, their gates and scope tasks.
#[async_trait]
pub trait ProjectQueries {
    /// A new project in `Draft`.
    #[allow(clippy::too_many_arguments)]
    async fn insert_project(
        &self,
        id: ProjectId,
        tenant: TenantId,
        name: &str,
        workload: Workload,
        source_system: SourceSystem,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// A project of `tenant` (`None` when it belongs to another tenant).
    async fn load_project(&self, tenant: TenantId, id: ProjectId) -> Result<Option<Project>>;
    /// Every project (`tenant: None`) or a tenant's, by id.
    async fn projects(&self, tenant: Option<TenantId>) -> Result<Vec<Project>>;
    async fn rename_project(&self, id: ProjectId, name: &str, at: DateTime<Utc>) -> Result<()>;
    /// The project's state as this handle sees it.
    async fn project_state(&self, id: ProjectId) -> Result<Option<ProjectState>>;
    /// Store a state (the caller checked the lifecycle) with its pause fields; progress is now.
    async fn set_project_state(
        &self,
        id: ProjectId,
        to: ProjectState,
        paused_from: Option<ProjectState>,
        paused_since: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// The project made progress at `at` (the pause clock restarts).
    async fn touch_project(&self, id: ProjectId, at: DateTime<Utc>) -> Result<()>;

    async fn insert_gate(&self, project: ProjectId, kind: GateKind) -> Result<()>;
    /// The project's gates in the order they were made.
    async fn gates(&self, project: ProjectId) -> Result<Vec<GateStatus>>;
    async fn confirm_gate(
        &self,
        project: ProjectId,
        kind: GateKind,
        by: UserId,
        at: DateTime<Utc>,
    ) -> Result<()>;

    async fn tasks(&self, project: ProjectId) -> Result<Vec<TaskRow>>;
    async fn insert_task(&self, project: ProjectId, task: &TaskRow) -> Result<()>;
    /// Forget the source data an assessment cached (offboarding).
    async fn destroy_assessment_caches(&self, project: ProjectId) -> Result<()>;
}

/// Endpoints and credentials.
#[async_trait]
pub trait EndpointQueries {
    async fn endpoints(&self, project: ProjectId) -> Result<Vec<EndpointRow>>;
    async fn endpoint(&self, project: ProjectId, side: &str) -> Result<Option<EndpointRow>>;
    /// Set the `side` endpoint (a new row gets `id` and `created_at`; an existing one keeps them).
    async fn upsert_endpoint(&self, project: ProjectId, endpoint: &EndpointRow) -> Result<()>;
    /// Whether one was deleted.
    async fn delete_endpoint(&self, project: ProjectId, side: &str) -> Result<bool>;

    async fn credential_meta(
        &self,
        project: ProjectId,
        owner: &str,
    ) -> Result<Option<CredentialMeta>>;
    /// Every credential of the project, by owner.
    async fn credentials(&self, project: ProjectId) -> Result<Vec<CredentialMeta>>;
    async fn sealed_credential(
        &self,
        project: ProjectId,
        owner: &str,
    ) -> Result<Option<SealedCredential>>;
    /// Store (replace) the owner's credential.
    async fn store_credential(&self, c: &CredentialWrite) -> Result<()>;
    /// Store (replace) many credentials in few statements: the same as
    /// [`EndpointQueries::store_credential`] for each in order (an owner given twice keeps the last).
    async fn store_credentials(&self, cs: &[CredentialWrite]) -> Result<()>;
    /// Whether one was deleted.
    async fn delete_credential(&self, project: ProjectId, owner: &str) -> Result<bool>;
    /// Delete the `side` endpoint's credential and every mapping's `side` credential; how many.
    async fn delete_side_credentials(&self, project: ProjectId, side: &str) -> Result<u64>;
    /// Delete every credential of the project; how many.
    async fn purge_credentials(&self, project: ProjectId) -> Result<u64>;
    /// How many credentials were supplied at or after `since` and are valid at `now`.
    async fn fresh_credentials(
        &self,
        project: ProjectId,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64>;
    /// When each credential of the project was last supplied: (owner, time as stored).
    async fn credentials_supplied(&self, project: ProjectId) -> Result<Vec<(String, String)>>;
}

/// Programme mappings.
#[async_trait]
pub trait MappingQueries {
    /// Every mapping of the project, by id (import order).
    async fn mappings(&self, project: ProjectId) -> Result<Vec<MappingRecord>>;
    async fn mapping_by_label(
        &self,
        project: ProjectId,
        label: &str,
    ) -> Result<Option<MappingRecord>>;
    async fn insert_mapping(
        &self,
        project: ProjectId,
        m: &MappingRecord,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Insert new mappings in few statements (an import of thousands): the same rows as
    /// [`MappingQueries::insert_mapping`] once per mapping, all or none.
    async fn insert_mappings(
        &self,
        project: ProjectId,
        ms: &[MappingRecord],
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Update a mapping row's line, identity and fields (the CSV row it came from, or a correction).
    async fn update_mapping(&self, m: &MappingRecord) -> Result<()>;
    /// Delete the mapping with its place in events, its passes, approvals and own credentials (its movers'
    /// journal stays). Whether it existed in `project`.
    async fn delete_mapping(&self, project: ProjectId, mapping: MappingId) -> Result<bool>;
    /// The events the mapping belongs to, oldest first: (event id, name, state).
    async fn mapping_events(&self, mapping: MappingId) -> Result<Vec<(String, String, String)>>;
    /// How many tickets were reported against the mapping.
    async fn mapping_tickets(&self, mapping: MappingId) -> Result<i64>;
}
