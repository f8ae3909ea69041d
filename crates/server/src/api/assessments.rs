//! Assessments: discovery through the movers and the pre-flight rules, per mapping. (Being written.)

use crate::auth::Caller;
use crate::{ApiError, ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde_json::Value;

fn todo() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "not implemented yet",
    )
}

pub async fn run(
    State(_st): State<AppState>,
    Extension(_c): Extension<Caller>,
    Path((_tenant, _project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Err(todo())
}

pub async fn latest(
    State(_st): State<AppState>,
    Path((_tenant, _project)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Err(todo())
}
