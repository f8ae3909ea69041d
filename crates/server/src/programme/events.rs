//! Events as handlers and the scheduler load and move them.

use crate::{ApiError, ApiResult};
use chrono::{DateTime, Utc};
use ferry_core::id::{EventId, ProjectId};
use ferry_core::programme::event::EventState;
use ferry_store::programme::Programme;

pub use ferry_store::programme::Event;

/// One event of `project`.
pub async fn load_event(
    store: &dyn Programme,
    project: ProjectId,
    id: EventId,
) -> ApiResult<Event> {
    store
        .load_event(project, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {id} in this project")))
}

/// Events of a project (all of them when `states` is empty), oldest first.
pub async fn project_events(
    store: &dyn Programme,
    project: ProjectId,
    states: &[EventState],
) -> ApiResult<Vec<Event>> {
    Ok(store
        .project_events(project)
        .await?
        .into_iter()
        .filter(|e| states.is_empty() || states.contains(&e.state))
        .collect())
}

/// Record an event's new state (checked against its lifecycle).
pub async fn set_event_state(
    store: &dyn Programme,
    event: &Event,
    to: EventState,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    if event.state == to {
        return Ok(());
    }
    event.state.transition(to)?;
    let completed = (to == EventState::Completed).then_some(now);
    store.set_event_state(event.id, to, completed, now).await?;
    Ok(())
}
