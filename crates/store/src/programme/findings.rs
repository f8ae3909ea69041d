//! What the programme finds before and after the moves: assessments of the source, and post-migration
//! tickets.

use super::rows::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::id::{MappingId, ProjectId, TicketId};

/// Assessments of a project's source.
#[async_trait]
pub trait AssessmentQueries {
    /// Ids of every assessment recorded running.
    async fn running_assessments(&self) -> Result<Vec<String>>;
    /// The project's assessments recorded running: (id, started_at as stored).
    async fn project_running_assessments(
        &self,
        project: ProjectId,
    ) -> Result<Vec<(String, String)>>;
    async fn insert_assessment(
        &self,
        id: &str,
        project: ProjectId,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Record the end of an assessment (`status` `done` or `failed`), with its report.
    async fn finish_assessment(
        &self,
        id: &str,
        status: &str,
        report: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Mark an assessment failed if it is still running (its report stays as it is).
    async fn fail_running_assessment(&self, id: &str, at: DateTime<Utc>) -> Result<()>;
    /// The project's newest assessment.
    async fn latest_assessment(&self, project: ProjectId) -> Result<Option<AssessmentRow>>;
}

/// Post-migration tickets.
#[async_trait]
pub trait TicketQueries {
    /// Every ticket of the project, by id.
    async fn tickets(&self, project: ProjectId) -> Result<Vec<TicketRow>>;
    async fn ticket(&self, project: ProjectId, id: TicketId) -> Result<Option<TicketRow>>;
    /// Up to `limit` tickets of the project that `filter` keeps, newest first, opened before the ticket
    /// `before` (ids are time-ordered; none: from the newest).
    async fn tickets_page(
        &self,
        project: ProjectId,
        filter: &TicketFilter,
        before: Option<TicketId>,
        limit: i64,
    ) -> Result<Vec<TicketRow>>;
    async fn insert_ticket(&self, project: ProjectId, t: &TicketRow) -> Result<()>;
    async fn update_ticket(
        &self,
        id: TicketId,
        status: &str,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// The mapping's most recently completed event: (event id, completed_at as stored).
    async fn latest_completed_event(&self, mapping: MappingId) -> Result<Option<(String, String)>>;
}
