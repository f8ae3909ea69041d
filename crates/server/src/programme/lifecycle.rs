//! Carrying out a project's lifecycle actions (pause, resume, offboard, close).

use crate::db::{self, Project};
use crate::{ApiError, ApiResult, AppState};
use chrono::{DateTime, Utc};
use ferry_core::programme::lifecycle::Action;
use ferry_store::programme::Programme;
use serde_json::{Value, json};

/// Carry out lifecycle actions for a project inside `tx`. Stopping workers and archiving touch things
/// outside the database and happen as they come.
pub async fn apply_actions(
    st: &AppState,
    tx: &dyn Programme,
    project: &Project,
    actions: &[Action],
    now: DateTime<Utc>,
) -> ApiResult<Value> {
    let mut done = Vec::new();
    for a in actions {
        match a {
            Action::SetState { to, .. } => {
                let mut p = db::load_project(&*st.programme, project.tenant, project.id).await?;
                // The state as this transaction sees it.
                p.state = tx
                    .project_state(project.id)
                    .await?
                    .ok_or_else(|| ApiError::not_found(format!("no project {}", project.id)))?;
                db::set_project_state(tx, &p, *to, now).await?;
                done.push(json!({ "action": "set_state", "to": to }));
            }
            Action::StopWorkers => {
                st.workers.stop_project(project.id);
                done.push(json!({ "action": "stop_workers" }));
            }
            Action::StartWorkers => done.push(json!({ "action": "start_workers" })),
            Action::PurgeCredentials => {
                let n = db::purge_credentials(tx, project.id).await?;
                done.push(json!({ "action": "purge_credentials", "purged": n }));
            }
            Action::DestroyCaches => {
                tx.destroy_assessment_caches(project.id).await?;
                done.push(json!({ "action": "destroy_caches" }));
            }
            Action::ArchiveFinalReport => {
                let path = crate::programme::reports::archive_final_report(st, project).await?;
                done.push(json!({ "action": "archive_final_report", "path": path }));
            }
        }
    }
    Ok(Value::Array(done))
}
