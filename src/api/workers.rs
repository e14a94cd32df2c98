//! The threads that serve HTTP connections. Each runs its own event loop (a single-threaded tokio
//! runtime), as nginx's workers do: a request on a kept-alive connection is read, answered and
//! written by one thread, without waking another. (On the service's multi-threaded runtime the
//! hand-over between the thread polling the sockets and the one running a connection left the
//! CPU idle a tenth of the time under a player's load.) The accept loop gives each new connection
//! to the thread holding the fewest. Blocking work still goes to each runtime's blocking pool.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

type Serve = Box<dyn FnOnce(tokio::net::TcpStream) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

struct Worker {
    tx: mpsc::UnboundedSender<(std::net::TcpStream, Serve)>,
    /// Connections it holds now.
    open: Arc<AtomicUsize>,
}

pub(super) struct Workers {
    each: Vec<Worker>,
}

impl Workers {
    /// One worker per core.
    pub fn start() -> std::io::Result<Workers> {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        let each = (0..n).map(|i| worker(i, n)).collect::<std::io::Result<Vec<_>>>()?;
        Ok(Workers { each })
    }

    /// Runs `serve` on `stream` in the worker that holds the fewest connections.
    pub fn hand<F>(
        &self,
        stream: tokio::net::TcpStream,
        serve: impl FnOnce(tokio::net::TcpStream) -> F + Send + 'static,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(w) = self.each.iter().min_by_key(|w| w.open.load(Ordering::Relaxed)) else { return };
        // (Taken off this runtime's reactor; the worker registers it with its own.)
        let std = match stream.into_std() {
            Ok(s) => s,
            Err(e) => return tracing::warn!(error = %e, "HTTP connection could not be handed over"),
        };
        let held = Held::new(&w.open);
        let serve: Serve = Box::new(move |s| {
            Box::pin(async move {
                serve(s).await;
                drop(held);
            })
        });
        let _ = w.tx.send((std, serve));
    }
}

/// A connection counted against its worker until dropped (served, failed or panicked).
struct Held(Arc<AtomicUsize>);

impl Held {
    fn new(open: &Arc<AtomicUsize>) -> Held {
        open.fetch_add(1, Ordering::Relaxed);
        Held(open.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Worker `i` of `n`.
fn worker(i: usize, n: usize) -> std::io::Result<Worker> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(std::net::TcpStream, Serve)>();
    // The workers share what one multi-threaded runtime's blocking pool would hold.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().max_blocking_threads(512 / n).build()?;
    std::thread::Builder::new().name(format!("http {i}")).spawn(move || {
        rt.block_on(async move {
            while let Some((stream, serve)) = rx.recv().await {
                match tokio::net::TcpStream::from_std(stream) {
                    Ok(s) => drop(tokio::spawn(serve(s))),
                    Err(e) => tracing::warn!(error = %e, "HTTP connection could not be registered"),
                }
            }
            // The accept loop ended: the connections still open finish here (their server waits
            // for them, a few seconds at most) until the process ends.
            std::future::pending::<()>().await
        })
    })?;
    Ok(Worker { tx, open: Arc::default() })
}
