//! The mail workload: one pass and one discovery of one mapping. (Being written.)

use super::PassResult;
use crate::api::projects::MappingView;
use crate::db::Project;
use crate::{ApiError, ApiResult, AppState};
use ferry_core::programme::PassKind;
use serde_json::Value;

pub async fn run_pass(
    _st: &AppState,
    _project: &Project,
    _mapping: &MappingView,
    _kind: PassKind,
) -> ApiResult<PassResult> {
    Err(ApiError::internal("not implemented yet"))
}

pub async fn assess(
    _st: &AppState,
    _project: &Project,
    _mapping: &MappingView,
) -> ApiResult<Value> {
    Err(ApiError::internal("not implemented yet"))
}
