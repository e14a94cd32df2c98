//! `/slates`: the library of what a paused room can show (an operator's), and a room's default
//! slate (its anchor's too). A file upload is streamed to disk with the size cap enforced while
//! it arrives, then checked whole; a refused one leaves neither a file nor a record.

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use tokio::io::AsyncWriteExt;

use super::rooms::view;
use super::rooms_wire::RoomTopic;
use super::rooms_wire::RoomView;
use super::slates_wire::{tags_of, DefaultSlate, NewTextSlate, SlateUpload, SlateView, SuggestionView};
use super::{blocking, db, ApiError, ApiResult, AppState, ErrorBody};
use crate::rooms::{SlateError, Slates};

/// The most a form's text fields (title, tags) may bring, bytes.
const MAX_FIELD: usize = 4096;

/// The most a text card's JSON body may bring, bytes.
const MAX_CARD_BODY: usize = 16 * 1024;

fn library(s: &AppState) -> ApiResult<std::sync::Arc<Slates>> {
    s.rooms.slates().cloned().ok_or_else(|| ApiError::not_found("this service keeps no slates"))
}

#[utoipa::path(post, path = "/slates",
    request_body(content(
        (NewTextSlate = "application/json"),
        (SlateUpload = "multipart/form-data"))),
    responses((status = 201, body = SlateView), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_slate(State(s): State<AppState>, req: Request) -> ApiResult<(StatusCode, Json<SlateView>)> {
    let lib = library(&s)?;
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let slate = if multipart {
        let form = Multipart::from_request(req, &s).await.map_err(|e| ApiError::invalid(e.body_text()))?;
        upload(lib, form).await?
    } else {
        // The route lifts the framework's body limit for files: a card's JSON gets its own.
        let body = card_body(req.into_body()).await?;
        let b: NewTextSlate = serde_json::from_slice(&body)?;
        blocking(move || Ok(lib.add_text(&b.title, b.tags, &b.text)?)).await?
    };
    if let Some(m) = &s.moderation {
        super::moderation::notify(m, &slate);
    }
    Ok((StatusCode::CREATED, Json(slate.into())))
}

/// A text card's JSON body, at most [`MAX_CARD_BODY`] bytes. A longer one is read on (up to 16
/// times the cap, then the connection is dropped) before the 400, so a client still sending
/// reads the answer instead of a broken pipe.
async fn card_body(body: axum::body::Body) -> ApiResult<Vec<u8>> {
    use http_body_util::BodyExt;
    let (mut body, mut kept, mut n) = (body, Vec::new(), 0usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::invalid(format!("the body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        n += data.len();
        if n > 16 * MAX_CARD_BODY {
            break;
        }
        if n <= MAX_CARD_BODY {
            kept.extend_from_slice(&data);
        }
    }
    if n > MAX_CARD_BODY {
        return Err(ApiError::invalid(format!("a text card's body is at most {MAX_CARD_BODY} bytes")));
    }
    Ok(kept)
}

/// Streams the form's file to the slates directory (at most the cap), then checks it whole.
async fn upload(lib: std::sync::Arc<Slates>, mut form: Multipart) -> ApiResult<crate::store::Slate> {
    let path = lib.upload_path();
    let received = receive(&lib, &mut form, &path).await;
    let (title, tags, got_file) = match received {
        Ok(r) => r,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            if e.code() == "slate_too_large" {
                drain_rest(&mut form).await;
            }
            return Err(e);
        }
    };
    if !got_file {
        return Err(ApiError::invalid("file: the form has no file field"));
    }
    blocking(move || Ok(lib.add_file(&path, &title.unwrap_or_default(), tags)?)).await
}

/// The form's fields: (title, tags, whether a file came), the file written to `path`.
async fn receive(
    lib: &Slates,
    form: &mut Multipart,
    path: &std::path::Path,
) -> ApiResult<(Option<String>, Vec<String>, bool)> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        super::error::body_timeout(&e).unwrap_or_else(|| ApiError::invalid(format!("the form: {}", e.body_text())))
    };
    let (mut title, mut tags, mut got_file) = (None, Vec::new(), false);
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        match field.name().unwrap_or_default() {
            "file" if !got_file => {
                got_file = true;
                let mut out = tokio::fs::File::create(path).await.map_err(|e| ApiError::server("io_failed", &e))?;
                let mut n = 0u64;
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    n += chunk.len() as u64;
                    if n > lib.max_bytes() {
                        drain(&mut field, 3 * lib.max_bytes()).await;
                        return Err(SlateError::TooLarge(lib.max_bytes()).into());
                    }
                    out.write_all(&chunk).await.map_err(|e| ApiError::server("io_failed", &e))?;
                }
                out.flush().await.map_err(|e| ApiError::server("io_failed", &e))?;
            }
            name @ ("title" | "tags") => {
                let name = name.to_string();
                let text = field.text().await.map_err(bad)?;
                if text.len() > MAX_FIELD {
                    return Err(ApiError::invalid(format!("{name}: at most {MAX_FIELD} bytes")));
                }
                if name == "title" {
                    title = Some(text);
                } else {
                    tags.extend(tags_of(&text));
                }
            }
            other => {
                let other: String = other.chars().take(32).collect();
                return Err(ApiError::invalid(format!("unknown form field {other:?}: file, title, tags")));
            }
        }
    }
    Ok((title, tags, got_file))
}

/// Reads (and drops) up to `limit` more bytes of a refused upload's field, so the client, still
/// sending, reads the answer instead of a connection reset; past that the connection is closed.
async fn drain(field: &mut axum::extract::multipart::Field<'_>, limit: u64) {
    let mut n = 0u64;
    while n < limit {
        match field.chunk().await {
            Ok(Some(c)) => n += c.len() as u64,
            _ => break,
        }
    }
}

/// The form's fields after a refused file, dropped (they are small; bounded all the same).
async fn drain_rest(form: &mut Multipart) {
    while let Ok(Some(mut f)) = form.next_field().await {
        drain(&mut f, MAX_FIELD as u64 * 4).await;
    }
}

#[utoipa::path(get, path = "/slates", responses((status = 200, body = [SlateView])))]
pub(super) async fn list_slates(State(s): State<AppState>) -> ApiResult<Json<Vec<SlateView>>> {
    let list = db(&s, |st| st.slates()).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/slates/{id}", params(("id" = String, Path)),
    responses((status = 200, body = SlateView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_slate(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<SlateView>> {
    Ok(Json(db(&s, move |st| st.slate(&id)).await?.into()))
}

#[utoipa::path(delete, path = "/slates/{id}", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_slate(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let lib = library(&s)?;
    blocking(move || Ok(lib.remove(&id)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/rooms/{id}/slate", params(("id" = String, Path)), request_body = DefaultSlate,
    responses((status = 200, body = RoomView), (status = 404, body = ErrorBody)))]
pub(super) async fn set_default_slate(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<DefaultSlate>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<RoomView>> {
    let Json(b) = body?;
    let room = db(&s, move |st| {
        st.set_default_slate(&id, b.slate.as_deref())?;
        st.room(&id)
    })
    .await?;
    Ok(Json(view(&s, room)))
}

#[utoipa::path(get, path = "/rooms/{id}/slates/suggest", params(("id" = String, Path)),
    responses((status = 200, body = SuggestionView), (status = 404, body = ErrorBody)))]
pub(super) async fn suggest_slate(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<SuggestionView>> {
    let rooms = s.rooms.clone();
    let suggestion = blocking(move || Ok(rooms.suggest(&id)?)).await?;
    Ok(Json(suggestion.into()))
}

#[utoipa::path(patch, path = "/rooms/{id}", params(("id" = String, Path)), request_body = RoomTopic,
    responses((status = 200, body = RoomView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn set_room_topic(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<RoomTopic>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<RoomView>> {
    let Json(b) = body?;
    let (title, tags) = b.checked()?;
    let room = db(&s, move |st| {
        st.set_room_topic(&id, title.as_deref(), tags.as_deref())?;
        st.room(&id)
    })
    .await?;
    Ok(Json(view(&s, room)))
}
