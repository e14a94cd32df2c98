//! One thread for everything the session layer does later: an invitation that expires, a stopped
//! session's files and entry that go once players have had the end of the stream. Tasks run in
//! deadline order; dropping the reaper ends its thread (tasks not yet due are dropped).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sys::lock;

type Task = Box<dyn FnOnce() + Send>;

pub struct Reaper {
    tx: Mutex<Sender<(Instant, Task)>>,
}

impl Default for Reaper {
    fn default() -> Self {
        let (tx, rx) = channel::<(Instant, Task)>();
        let spawned = std::thread::Builder::new().name("reaper".into()).spawn(move || {
            let mut due: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
            let mut tasks: HashMap<u64, Task> = HashMap::new();
            let mut next_id = 0u64;
            loop {
                let wait = due.peek().map(|Reverse((t, _))| t.saturating_duration_since(Instant::now()));
                let got = match wait {
                    Some(w) => rx.recv_timeout(w),
                    None => rx.recv_timeout(Duration::from_secs(3600)),
                };
                match got {
                    Ok((at, task)) => {
                        due.push(Reverse((at, next_id)));
                        tasks.insert(next_id, task);
                        next_id += 1;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                while let Some(Reverse((at, id))) = due.peek().copied() {
                    if at > Instant::now() {
                        break;
                    }
                    due.pop();
                    if let Some(task) = tasks.remove(&id) {
                        task();
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no thread for timed tasks: invitations will not expire on their own");
        }
        Reaper { tx: Mutex::new(tx) }
    }
}

impl Reaper {
    /// Runs `task` at `when` (at once when it has passed).
    pub fn at(&self, when: Instant, task: impl FnOnce() + Send + 'static) {
        let _ = lock(&self.tx).send((when, Box::new(task)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn tasks_run_in_deadline_order_once_due() {
        let r = Reaper::default();
        let ran = Arc::new(Mutex::new(Vec::new()));
        let now = Instant::now();
        for (n, ms) in [(1, 80u64), (2, 20), (3, 50)] {
            let ran = ran.clone();
            r.at(now + Duration::from_millis(ms), move || lock(&ran).push((n, now.elapsed())));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while lock(&ran).len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let ran = lock(&ran).clone();
        assert_eq!(ran.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 3, 1]);
        assert!(ran[0].1 >= Duration::from_millis(20), "{ran:?}");
    }
}
