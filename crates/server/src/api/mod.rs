//! Request handlers, one module per resource. Authorisation happened before any of them runs (see
//! [`crate::auth::authorize`]); each handler loads, calls the programme rule, and stores the result with an
//! audit entry and a transaction.

pub mod assessments;
pub mod events;
pub mod mappings;
pub mod misc;
pub mod projects;
pub mod runs;
pub mod tenants;
pub mod tickets;

use crate::ApiError;
use std::str::FromStr;

/// Parse an id from the path, 404 when it is not one.
pub fn path_id<T: FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    T::from_str(raw).map_err(|_| ApiError::not_found(format!("no {what} {raw:?}")))
}

/// The project `project` of tenant `tenant`, both from the path (404 for a project of another tenant).
pub async fn project_of(
    st: &crate::AppState,
    tenant: &str,
    project: &str,
) -> Result<crate::db::Project, ApiError> {
    let t: ferry_core::id::TenantId = path_id(tenant, "tenant")?;
    let p: ferry_core::id::ProjectId = path_id(project, "project")?;
    crate::db::load_project(st.pool(), t, p).await
}
