//! Running one pass, or one discovery, of one mapping through the movers (the engine), with the project's
//! endpoints and decrypted credentials. The scheduler decides *when*; this module does the work.
//!
//! [`mail`] and [`files`] each implement the two entry points for their workload; [`run_pass`] and
//! [`assess`] dispatch on the project's workload.

pub mod files;
pub mod mail;

use crate::db::Project;
use crate::programme::{MappingView, load_secret};
use crate::{ApiError, ApiResult, AppState};
use ferry_core::id::RunId;
use ferry_core::programme::{PassKind, Workload};
use ferry_store::{Journal, PassCounters, RunStatus};
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The targets gate check's word for why a mapping's target could not be opened, for mail and files alike:
/// `refused` (the service answered no), `missing` (no such mailbox or drive), `no_credential`, or
/// `unreachable`.
pub(crate) fn gate_status(e: &ferry_core::Error) -> &'static str {
    match e.kind() {
        ferry_core::ErrorKind::Auth | ferry_core::ErrorKind::Protocol => "refused",
        ferry_core::ErrorKind::NotFound => "missing",
        ferry_core::ErrorKind::Config => "no_credential",
        _ => "unreachable",
    }
}

/// The movers' journal of one programme mapping: the store scoped to the mapping's id (so to its project
/// and tenant). Another project or tenant moving the same mailbox or tree to the same target keeps its own
/// journal and copies what its target lacks (issue 9 item 6); the CLI's journal (empty scope) is separate too.
pub fn journal(st: &AppState, mapping: &MappingView) -> Arc<dyn Journal> {
    st.store.scoped(&mapping.id.to_string())
}

/// What one pass of one mapping did.
#[derive(Clone, Debug, Serialize)]
pub struct PassResult {
    /// The engine run holding the per-item journal (`None` when the pass failed before it started).
    pub run_id: Option<RunId>,
    pub status: RunStatus,
    pub counters: PassCounters,
    /// Why the pass failed as a whole.
    pub error: Option<String>,
    /// The pass stopped at a checkpoint for a server's wait longer than `max_wait_in_pass_secs`: it did
    /// not fail; it is given back and runs again after the wait (issue 12 §3).
    pub server_wait: Option<ferry_engine::ServerWait>,
}

/// One side's endpoint with its secret, ready to open.
#[derive(Clone)]
pub struct EndpointConfig {
    pub url: String,
    pub username: Option<String>,
    pub options: Map<String, Value>,
    /// The endpoint's own secret (`None` when none is stored or it expired).
    pub secret: Option<String>,
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("options", &self.options)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Both endpoints of a project.
#[derive(Clone, Debug)]
pub struct ProjectEndpoints {
    pub source: EndpointConfig,
    pub target: EndpointConfig,
}

/// The project's endpoints with their decrypted secrets; a clear refusal when one is missing.
pub async fn load_endpoints(st: &AppState, project: &Project) -> ApiResult<ProjectEndpoints> {
    let rows = st.programme.endpoints(project.id).await?;
    let get = |side: &str| -> ApiResult<(String, Option<String>, Map<String, Value>)> {
        let e = rows.iter().find(|e| e.side == side).ok_or_else(|| {
            ApiError::refused(format!(
                "the project has no {side} endpoint: set it with PUT …/endpoints/{side}"
            ))
        })?;
        let options = serde_json::from_str::<Map<String, Value>>(&e.options).unwrap_or_default();
        Ok((e.url.clone(), e.username.clone(), options))
    };
    let (su, sn, so) = get("source")?;
    let (tu, tn, to) = get("target")?;
    Ok(ProjectEndpoints {
        source: EndpointConfig {
            url: su,
            username: sn,
            options: so,
            secret: load_secret(st, project.id, "endpoint:source").await?,
        },
        target: EndpointConfig {
            url: tu,
            username: tn,
            options: to,
            secret: load_secret(st, project.id, "endpoint:target").await?,
        },
    })
}

/// Run one pass of `mapping` (Initial and Delta copy what is new; Final is a Delta that seals). Past
/// `fence` (the pass's lease, [`ferry_core::fence`]) the mail target's connections send nothing more.
pub async fn run_pass(
    st: &AppState,
    project: &Project,
    mapping: &MappingView,
    kind: PassKind,
    fence: &ferry_core::fence::Fence,
) -> ApiResult<PassResult> {
    match project.workload {
        Workload::Mail => mail::run_pass(st, project, mapping, kind, fence).await,
        Workload::Files => files::run_pass(st, project, mapping, kind).await,
    }
}

/// Discover `mapping`'s source and apply the pre-flight rules: a JSON readiness report for the mapping
/// (`{"mapping", "label", "ready": bool, "inventory": {...}, "findings": [...]}`).
pub async fn assess(st: &AppState, project: &Project, mapping: &MappingView) -> ApiResult<Value> {
    match project.workload {
        Workload::Mail => mail::assess(st, project, mapping).await,
        Workload::Files => files::assess(st, project, mapping).await,
    }
}
