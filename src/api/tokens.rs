//! `/tokens`: an operator lists, creates and revokes API tokens. A token is shown once, when it is
//! created; afterwards only its id, role and room.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{db, ApiError, ApiResult, AppState, ErrorBody};
use crate::store::{Role, TokenInfo};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// `operator` or `anchor`.
    pub role: String,
    /// An anchor token's room.
    #[serde(default)]
    pub room: Option<String>,
}

/// A new token: `token` is shown this once.
#[derive(Serialize, ToSchema)]
pub struct NewToken {
    pub token: String,
    pub id: String,
    pub role: String,
    pub room: Option<String>,
}

/// A listed token.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub role: String,
    pub room: Option<String>,
    pub created_at: i64,
    pub revoked: bool,
}

fn role_name(r: Role) -> String {
    match r {
        Role::Operator => "operator".into(),
        Role::Anchor => "anchor".into(),
    }
}

impl From<TokenInfo> for TokenView {
    fn from(t: TokenInfo) -> TokenView {
        TokenView { id: t.id, role: role_name(t.role), room: t.room, created_at: t.created_at, revoked: t.revoked }
    }
}

/// The role and room a request asks for, checked: an anchor token needs its room, an operator none.
pub fn parse_role(role: &str, room: Option<&str>) -> Result<Role, String> {
    match (Role::parse(role), room) {
        (Some(Role::Operator), None) => Ok(Role::Operator),
        (Some(Role::Anchor), Some(_)) => Ok(Role::Anchor),
        (Some(Role::Operator), Some(_)) => Err("an operator token has no room".into()),
        (Some(Role::Anchor), None) => Err("an anchor token needs its room".into()),
        (None, _) => Err(format!("role {role:?}: operator or anchor")),
    }
}

#[utoipa::path(get, path = "/tokens", responses((status = 200, body = [TokenView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn list_tokens(State(s): State<AppState>) -> ApiResult<Json<Vec<TokenView>>> {
    Ok(Json(db(&s, |st| st.tokens()).await?.into_iter().map(TokenView::from).collect()))
}

#[utoipa::path(post, path = "/tokens", request_body = CreateToken,
    responses((status = 201, body = NewToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn create_token(
    State(s): State<AppState>,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
    let Json(b) = body?;
    let role = parse_role(&b.role, b.room.as_deref()).map_err(ApiError::invalid)?;
    let (token, info) = db(&s, move |st| st.create_token(role, b.room.as_deref())).await?;
    Ok((StatusCode::CREATED, Json(NewToken { token, id: info.id, role: role_name(info.role), room: info.room })))
}

#[utoipa::path(delete, path = "/tokens/{id}", params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_token(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    db(&s, move |st| st.revoke_token(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
