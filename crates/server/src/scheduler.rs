//! The scheduler: starts events, runs passes through the engine, grades and completes events, and pauses
//! and offboards idle projects. (Being written.)

use crate::db::Project;
use crate::{ApiResult, AppState};
use ferry_core::id::{EventId, ProjectId};
use std::collections::HashSet;
use std::sync::Mutex;

/// Running workers, so pause, close and cancel can stop them.
#[derive(Default)]
pub struct Workers {
    stopped_projects: Mutex<HashSet<ProjectId>>,
    stopped_events: Mutex<HashSet<EventId>>,
}

impl Workers {
    /// Stop the project's running passes.
    pub fn stop_project(&self, project: ProjectId) {
        self.stopped_projects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(project);
    }

    /// Stop the event's running passes.
    pub fn stop_event(&self, event: EventId) {
        self.stopped_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(event);
    }
}

/// One scheduler step at the clock's `now`.
pub async fn tick(_st: &AppState) -> ApiResult<()> {
    Ok(())
}

/// Tick and wait for the passes it started, until a tick starts nothing new: what tests and
/// `ferry quickstart` call after moving the clock.
pub async fn settle(st: &AppState) -> ApiResult<()> {
    tick(st).await
}

/// Run [`tick`] every few seconds until aborted.
pub fn spawn_loop(st: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = tick(&st).await {
                tracing::warn!(error = %e.message, "scheduler tick failed");
            }
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    })
}

/// Write the project's final report under `DATA/archive/` and return its path.
pub async fn archive_final_report(st: &AppState, project: &Project) -> ApiResult<String> {
    let dir = st.data_dir.join("archive");
    std::fs::create_dir_all(&dir)
        .map_err(|e| crate::ApiError::internal(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("project-{}.json", project.id));
    let doc = serde_json::json!({ "project": project });
    std::fs::write(&path, doc.to_string())
        .map_err(|e| crate::ApiError::internal(format!("cannot write {}: {e}", path.display())))?;
    Ok(path.display().to_string())
}
