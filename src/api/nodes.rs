//! The nodes sharing this service's database (operators only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::{db, ApiError, ApiResult, AppState};
use crate::store::NodeRow;

/// Every node: its address, capacity, lease, whether it drains, how many sessions it runs.
pub(super) async fn list_nodes(State(s): State<AppState>) -> ApiResult<Json<Vec<NodeRow>>> {
    Ok(Json(db(&s, |st| st.nodes()).await?))
}

/// Moves a node's sessions to the others (each goes on there after a discontinuity); the node
/// takes no new ones.
pub(super) async fn drain_node(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    if s.cluster.is_none() {
        return Err(ApiError::conflict("this service runs on one node"));
    }
    match db(&s, move |st| st.set_draining(&id)).await? {
        true => Ok(StatusCode::ACCEPTED),
        false => Err(ApiError::not_found("no such node")),
    }
}
