//! Passes (launch, retry, approve) and reports. (Being written: see the scheduler.)

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

pub async fn launch(
    State(_st): State<AppState>,
    Extension(_c): Extension<Caller>,
    Path((_tenant, _project, _event, _mapping)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    Err(todo())
}

pub async fn retry(
    State(_st): State<AppState>,
    Extension(_c): Extension<Caller>,
    Path((_tenant, _project, _event, _mapping)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    Err(todo())
}

pub async fn approve(
    State(_st): State<AppState>,
    Extension(_c): Extension<Caller>,
    Path((_tenant, _project, _event, _mapping)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    Err(todo())
}

pub async fn report(
    State(_st): State<AppState>,
    Path((_tenant, _project, _event)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    Err(todo())
}

pub async fn items(
    State(_st): State<AppState>,
    Path((_tenant, _project, _event)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    Err(todo())
}
