//! A project's mappings as handlers, workloads and the scheduler use them.

use crate::{ApiResult, AppState};
use ferry_core::id::{MappingId, ProjectId};
use serde_json::Value;

/// A mapping as stored.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MappingView {
    pub id: MappingId,
    pub line: i64,
    pub label: String,
    pub source: String,
    pub target: String,
    pub detail: Value,
}

/// Every mapping of the project, in import order.
pub async fn load_mappings(st: &AppState, project: ProjectId) -> ApiResult<Vec<MappingView>> {
    Ok(st
        .programme
        .mappings(project)
        .await?
        .into_iter()
        .map(|m| MappingView {
            id: m.id,
            line: m.line,
            label: m.label,
            source: m.source,
            target: m.target,
            detail: serde_json::from_str(&m.doc).unwrap_or(Value::Null),
        })
        .collect())
}
