//! An event's mappings a page at a time (issue 13): the event's pages list a page of its mappings, and the
//! change form a page of the project's others, counted in the store instead of read whole.

use super::rows::MappingRecord;
use async_trait::async_trait;
use ferry_core::Result;
use ferry_core::id::{EventId, ProjectId};

/// One page of mappings and how many there are in all.
#[derive(Clone, Debug, PartialEq)]
pub struct MappingPage {
    pub total: u64,
    /// In import order (by mapping id).
    pub rows: Vec<MappingRecord>,
}

/// Which of a project's mappings a page lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// The event's mappings.
    In,
    /// The project's mappings not in the event.
    NotIn,
}

/// An event's mappings, paged.
#[async_trait]
pub trait EventPageQueries {
    /// One page (`offset`, `limit` rows) of `project`'s mappings in `event` (or not in it), in import order,
    /// with the count of all of them.
    async fn event_mapping_page(
        &self,
        project: ProjectId,
        event: EventId,
        which: Membership,
        offset: u64,
        limit: u64,
    ) -> Result<MappingPage>;
}
