//! The callbacks of an nginx-rtmp tier in front of the service (`on_publish`, `on_publish_done`).
//! nginx asks whether a stream key may publish, and refuses the publisher itself on any answer
//! but 2xx; on a yes this node pulls the stream from nginx into the room. The callbacks carry the
//! tier's shared secret in their query (`?secret=`, set in nginx's configuration), as nginx sends
//! no headers of its own; without a tier configured they answer 503.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use super::{blocking, ApiError, ApiResult, AppState, ErrorBody};

/// The RTMP tier: where it serves the streams it accepted, and what its callbacks carry.
#[derive(Clone)]
pub struct Tier {
    /// `rtmp://host:port`: a stream `app/name` published there is pulled from `{url}/app`,
    /// playing `name`.
    pub url: String,
    pub secret: String,
}

/// What nginx-rtmp posts (form fields; `name` holds the stream key and maybe a source). nginx
/// appends the publisher's own query arguments after its fields: the first of a name is nginx's.
type Call = Vec<(String, String)>;

#[utoipa::path(post, path = "/ingest/nginx/{event}", params(("event" = String, Path, description = "on_publish or on_publish_done")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "nginx-rtmp's fields: call, addr, clientid, app, name, …"),
    responses((status = 204, description = "nginx lets the publisher in (on_publish), or the pull ended"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "nginx refuses the publisher"),
        (status = 503, body = ErrorBody)))]
pub(super) async fn callback(
    State(s): State<AppState>,
    Path(event): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let tier = s.nginx.clone().ok_or_else(|| ApiError::unavailable("nginx_off", "no RTMP tier is configured"))?;
    if !q.get("secret").is_some_and(|given| crate::session::unlock::same_text(&tier.secret, given)) {
        return Err(ApiError::unauthorized("bad_secret", "the RTMP tier's callback secret is missing or wrong"));
    }
    let call: Call = form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| call.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (app, name, client) = (field("app"), field("name"), field("clientid"));
    if app.is_empty() || name.is_empty() || app.len() + name.len() > 256 {
        return Err(ApiError::invalid("app and name: the stream nginx was published, 256 bytes at most"));
    }
    match event.as_str() {
        "on_publish" => {
            // nginx names the publisher's address without its port.
            let ip: IpAddr = field("addr").parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let rooms = s.rooms.clone();
            blocking(move || {
                rooms
                    .publish_pulled(&tier.url, (&app, &name, &client), SocketAddr::new(ip, 0))
                    .map(|_| StatusCode::NO_CONTENT)
                    .map_err(|reason| ApiError::forbidden(reason.to_string()))
            })
            .await
        }
        "on_publish_done" => {
            // (Ending a pull joins its decoder's thread: not on an HTTP event loop.)
            let rooms = s.rooms.clone();
            blocking(move || Ok(rooms.unpublish_pulled((&app, &name, &client)))).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(ApiError::not_found("on_publish or on_publish_done")),
    }
}
