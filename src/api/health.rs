//! `/health` and `/openapi.json`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::OpenApi;

use super::AppState;

#[derive(Serialize)]
pub(super) struct Health {
    status: &'static str,
}

#[utoipa::path(get, path = "/health", responses((status = 200, description = "The service is up"), (status = 503, description = "Still resuming what ran before a restart")))]
pub(super) async fn health(State(s): State<AppState>) -> (StatusCode, Json<Health>) {
    if s.resuming.load(std::sync::atomic::Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "resuming" }));
    }
    (StatusCode::OK, Json(Health { status: "ok" }))
}

pub(super) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::doc::ApiDoc::openapi())
}
