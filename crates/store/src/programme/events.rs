//! Events, their mappings and approvals, and the programme's passes.

use super::rows::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{EventId, MappingId, ProjectId, TenantId, UserId};
use ferry_core::programme::event::EventState;

/// Events, the mappings in them, and approvals of skipped items.
#[async_trait]
pub trait EventQueries {
    /// A new event in `Scheduled`.
    async fn insert_event(&self, e: &NewEvent) -> Result<()>;
    async fn update_event(
        &self,
        id: EventId,
        name: &str,
        start: DateTime<Utc>,
        pilot: bool,
        at: DateTime<Utc>,
    ) -> Result<()>;
    async fn add_event_mapping(
        &self,
        event: EventId,
        mapping: MappingId,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Add many mappings to the event in few statements: the same as
    /// [`EventQueries::add_event_mapping`] for each.
    async fn add_event_mappings(
        &self,
        event: EventId,
        mappings: &[MappingId],
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Take many mappings out of the event in few statements.
    async fn remove_event_mappings(&self, event: EventId, mappings: &[MappingId]) -> Result<()>;
    async fn remove_event_mapping(&self, event: EventId, mapping: MappingId) -> Result<()>;
    /// An event of `project` with its mappings (`None` when it belongs to another project).
    async fn load_event(&self, project: ProjectId, id: EventId) -> Result<Option<Event>>;
    /// Every event of the project, by id (creation order).
    async fn project_events(&self, project: ProjectId) -> Result<Vec<Event>>;
    /// Store a state (the caller checked the lifecycle); `completed_at`, when given, is recorded.
    async fn set_event_state(
        &self,
        id: EventId,
        to: EventState,
        completed_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// The report frozen when the event completed.
    async fn final_report(&self, event: EventId) -> Result<Option<String>>;
    async fn set_final_report(&self, event: EventId, report: &str) -> Result<()>;
    /// Whether the project has a Scheduled event starting at or after `now`, or a Running one.
    async fn schedule_confirmed(&self, project: ProjectId, now: DateTime<Utc>) -> Result<bool>;
    /// Whether `mapping` is a mapping of `project`.
    async fn mapping_in_project(&self, project: ProjectId, mapping: MappingId) -> Result<bool>;
    /// Whether the mapping's Final pass succeeded (it never runs again).
    async fn mapping_sealed(&self, mapping: MappingId) -> Result<bool>;
    /// The project's sealed mappings (their Final pass succeeded), by id.
    async fn sealed_mappings(&self, project: ProjectId) -> Result<Vec<MappingId>>;
    /// How many mappings of the project are not sealed.
    async fn unsealed_mappings(&self, project: ProjectId) -> Result<i64>;
    /// The `after` summary of the newest audit entry with this action and target.
    async fn last_audit_after(&self, action: &str, target: &str) -> Result<Option<String>>;

    async fn insert_approval(
        &self,
        event: EventId,
        mapping: MappingId,
        by: UserId,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Approvals given in this event, or (`any_event`) for its mappings in any event; oldest first.
    async fn approvals(&self, event: EventId, any_event: bool) -> Result<Vec<ApprovalRow>>;
    /// Whether the user is the operator (`None`: no such user).
    async fn user_is_operator(&self, user: UserId) -> Result<Option<bool>>;
}

/// The programme's passes (`prog_pass`): one run of one mapping in one event.
#[async_trait]
pub trait PassQueries {
    /// A new pass, `running`.
    async fn insert_pass(&self, p: &NewPass) -> Result<()>;
    /// Record a running pass's end; whether it was still running (a pass ends once).
    async fn finish_pass(&self, id: &str, end: &PassEnd, at: DateTime<Utc>) -> Result<bool>;
    /// Passes recorded running: (pass id, event id).
    async fn running_passes(&self) -> Result<Vec<(String, EventId)>>;
    /// Take the lease of running pass `id` for `owner` until `until`: when nobody holds it or its lease
    /// expired before `now`, and its `run_after` has come. The new lease's attempt is one more than the
    /// last; `None` when another worker holds it, it ended, or it must wait.
    async fn claim_pass(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Lease>>;
    /// As [`PassQueries::claim_pass`], and also refused (`None`) while the pass's tenant already has `cap`
    /// passes under live leases (held by any worker, lease not expired at `now`) — atomically, so the cap
    /// holds with any number of workers claiming at once. `cap` `None`: no cap.
    async fn claim_pass_capped(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        cap: Option<u32>,
    ) -> Result<Option<Lease>>;
    /// Extend a held lease to `until`; `false`: fenced (the lease was taken over or the pass ended).
    async fn renew_lease(&self, lease: &Lease, until: DateTime<Utc>) -> Result<bool>;
    /// Record the end of a pass under its lease; `false`: fenced, nothing was written.
    async fn finish_leased_pass(
        &self,
        lease: &Lease,
        end: &PassEnd,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Give a held pass back, still running, to be claimed again from `run_after` on (`None`: at once);
    /// `false`: fenced.
    async fn release_pass(&self, lease: &Lease, run_after: Option<DateTime<Utc>>) -> Result<bool>;
    /// Every running pass and who holds it.
    async fn pass_leases(&self) -> Result<Vec<PassLease>>;
    /// The tenant an event belongs to.
    async fn event_tenant(&self, event: EventId) -> Result<Option<TenantId>>;
    /// Every pass of a mapping, in any event, oldest first.
    async fn mapping_passes(&self, mapping: MappingId) -> Result<Vec<StoredPass>>;
    /// Every pass of an event, oldest first.
    async fn event_passes(&self, event: EventId) -> Result<Vec<StoredPass>>;
    /// Every pass, in any event, of the mappings in `event`, oldest first.
    async fn event_mapping_passes(&self, event: EventId) -> Result<Vec<StoredPass>>;
}
