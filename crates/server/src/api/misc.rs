//! Health, metrics, the OpenAPI document and `me`.

use crate::auth::Caller;
use crate::{ApiResult, AppState};
use axum::Json;
use axum::extract::{Extension, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Value, json};

pub async fn healthz(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(st.pool()).await?;
    Ok(Json(json!({ "status": "ok", "store": one == 1 })))
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
    let roles: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT m.tenant_id, t.name, m.role FROM prog_member m JOIN prog_tenant t ON t.id = m.tenant_id WHERE m.user_id = ? ORDER BY t.name",
    )
    .bind(c.user.to_string())
    .fetch_all(st.pool())
    .await?;
    let roles: Vec<Value> = roles
        .into_iter()
        .map(|(id, name, role)| json!({ "tenant": id, "tenant_name": name, "role": role }))
        .collect();
    Ok(Json(
        json!({ "user": c.user, "name": c.name, "operator": c.operator, "roles": roles }),
    ))
}
