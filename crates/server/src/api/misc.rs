//! Health, metrics, the OpenAPI document and `me`.

use crate::auth::Caller;
use crate::{ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Value, json};

pub async fn healthz(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let healthy = st.programme.healthy().await?;
    Ok(Json(json!({ "status": "ok", "store": healthy })))
}

pub async fn metrics(State(st): State<AppState>) -> ApiResult<impl IntoResponse> {
    let text = crate::metrics::render(&st).await?;
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

pub async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

pub async fn me(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let roles: Vec<Value> = st
        .programme
        .roles_of(c.user)
        .await?
        .into_iter()
        .map(|r| json!({ "tenant": r.tenant, "tenant_name": r.tenant_name, "role": r.role }))
        .collect();
    Ok(Json(
        json!({ "user": c.user, "name": c.name, "operator": c.operator, "roles": roles }),
    ))
}
