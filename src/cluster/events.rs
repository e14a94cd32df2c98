//! Every node's events on every node's `/events`: each event a node reports is sent once to the
//! others through the database (NOTIFY), tagged with the node it happened on; each node hands the
//! others' events to its own subscribers. An event too big for a notification stays local, as do
//! events sent while the listening connection is being opened again.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

use crate::store::{Store, MAX_NOTIFY_PAYLOAD};

const CHANNEL: &str = "costream_events";
/// Events waiting to be sent at most (past it, under a flood, they are dropped: /events is a
/// best-effort stream, the state itself is in the API).
const QUEUE: usize = 1024;

/// Sends this node's events to the others.
pub struct Relay {
    tx: SyncSender<String>,
}

impl Relay {
    /// Starts sending this node's events (`publish`) and handing the others' (their JSON) to
    /// `deliver`.
    pub fn start(
        store: Arc<Store>,
        node: &str,
        deliver: Arc<dyn Fn(serde_json::Value) + Send + Sync>,
    ) -> std::io::Result<Relay> {
        let me = node.to_string();
        store.listen(
            CHANNEL,
            Arc::new(move |payload: &str| {
                let Ok(mut v) = serde_json::from_str::<serde_json::Value>(payload) else { return };
                if v["node"].as_str().is_some_and(|n| n != me) {
                    deliver(v["event"].take());
                }
            }),
        );
        let (tx, rx) = sync_channel::<String>(QUEUE);
        let node = serde_json::to_string(node).unwrap_or_default();
        std::thread::Builder::new().name("cluster-events".into()).spawn(move || {
            // (Logged once per spell of failures: the database may be away a while.)
            let mut failing = false;
            for event in rx {
                let payload = format!(r#"{{"node":{node},"event":{event}}}"#);
                if payload.len() > MAX_NOTIFY_PAYLOAD {
                    continue;
                }
                let sent = store.notify(CHANNEL, &payload);
                match (&sent, failing) {
                    (Err(e), false) => tracing::warn!(error = %e, "events cannot be sent to the other nodes"),
                    (Ok(()), true) => tracing::info!("events reach the other nodes again"),
                    _ => {}
                }
                failing = sent.is_err();
            }
        })?;
        Ok(Relay { tx })
    }

    /// Sends one event to the other nodes, without waiting.
    pub fn publish(&self, event: &impl serde::Serialize) {
        let Ok(event) = serde_json::to_string(event) else { return };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(event) {
            tracing::debug!("the cluster's event queue is full; an event stays local");
        }
    }
}
