//! The whole-body deadline: a request's body must have arrived within [`BODY_DEADLINE`] of its
//! headers, however it trickles (a per-read timeout lets a byte every few seconds through forever).
//! Bodies are bounded in size, so this is also their minimum rate.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// How long a request's body may take to arrive, whole.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// The body did not arrive by its deadline (answered 408).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyDeadline;

struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyDeadline)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How long a slate upload's body may take: up to 20 MiB from an operator on a slow uplink. Only
/// a caller with a token gets this far (the token is checked before any body is read).
pub const SLATE_UPLOAD_DEADLINE: Duration = Duration::from_secs(120);

/// The deadline of a request's body.
fn deadline_of(req: &Request) -> Duration {
    if req.method() == axum::http::Method::POST && req.uri().path().trim_end_matches('/') == "/slates" {
        SLATE_UPLOAD_DEADLINE
    } else {
        BODY_DEADLINE
    }
}

/// Middleware: the deadline starts when the headers have been read.
pub async fn body_deadline(req: Request, next: Next) -> Response {
    // A request with no body (a player's GET) has nothing to wait for: no timer for it.
    if http_body::Body::is_end_stream(req.body()) {
        return next.run(req).await;
    }
    let deadline = Box::pin(tokio::time::sleep(deadline_of(&req)));
    next.run(req.map(|inner| Body::new(DeadlineBody { inner, deadline }))).await
}
