//! A bounded ring of decoded items between a producer thread and the GPU thread.
//!
//! Offline jobs block the producer when the ring is full (every frame matters, memory stays bounded);
//! live inputs drop the oldest item instead, so a slow consumer never stalls a network reader.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Wait for room (offline: files are read as fast as they are consumed).
    Block,
    /// Drop the oldest item (live: the freshest frame is the one that matters).
    DropOldest,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

pub struct Ring<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
    capacity: std::sync::atomic::AtomicUsize,
    overflow: Overflow,
    dropped: AtomicU64,
}

impl<T> Ring<T> {
    pub fn new(capacity: usize, overflow: Overflow) -> Ring<T> {
        Ring {
            state: Mutex::new(State { items: VecDeque::with_capacity(capacity.max(1)), closed: false }),
            changed: Condvar::new(),
            capacity: std::sync::atomic::AtomicUsize::new(capacity.max(1)),
            overflow,
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panicking holder cannot leave the deque inconsistent: keep going with its contents.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an item. Returns false when the ring is closed (the consumer is gone: stop producing).
    pub fn push(&self, item: T) -> bool {
        let mut s = self.lock();
        loop {
            if s.closed {
                return false;
            }
            if s.items.len() < self.capacity.load(Ordering::Relaxed) {
                break;
            }
            match self.overflow {
                Overflow::DropOldest => {
                    s.items.pop_front();
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Overflow::Block => {
                    s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
                }
            }
        }
        s.items.push_back(item);
        self.changed.notify_all();
        true
    }

    /// Changes how many items the ring holds (a memory budget met once the item size is known); extra
    /// items, oldest first, are dropped at once.
    pub fn set_capacity(&self, capacity: usize) {
        let capacity = capacity.max(1);
        self.capacity.store(capacity, Ordering::Relaxed);
        let mut s = self.lock();
        while s.items.len() > capacity {
            s.items.pop_front();
        }
        self.changed.notify_all();
    }

    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Removes the oldest item without waiting.
    pub fn try_pop(&self) -> Option<T> {
        let mut s = self.lock();
        let v = s.items.pop_front();
        if v.is_some() {
            self.changed.notify_all();
        }
        v
    }

    /// Looks at the oldest item, waiting up to `timeout` for one. `Err(())` means closed and empty.
    pub fn peek_with<R>(&self, timeout: Option<Duration>, f: impl FnOnce(&T) -> R) -> Result<Option<R>, ()> {
        let mut s = self.lock();
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            if let Some(front) = s.items.front() {
                return Ok(Some(f(front)));
            }
            if s.closed {
                return Err(());
            }
            match deadline {
                None => s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = std::time::Instant::now();
                    if now >= d {
                        return Ok(None);
                    }
                    s = self.changed.wait_timeout(s, d - now).unwrap_or_else(|p| p.into_inner()).0;
                }
            }
        }
    }

    /// No more items will come (producer side) or none are wanted (consumer side).
    pub fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        self.changed.notify_all();
    }

    /// Closes and frees everything buffered.
    pub fn close_and_clear(&self) {
        let mut s = self.lock();
        s.closed = true;
        s.items.clear();
        self.changed.notify_all();
    }

    pub fn is_finished(&self) -> bool {
        let s = self.lock();
        s.closed && s.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn drop_oldest_keeps_the_newest() {
        let r = Ring::new(2, Overflow::DropOldest);
        for i in 0..5 {
            assert!(r.push(i));
        }
        assert_eq!(r.dropped(), 3);
        assert_eq!(r.try_pop(), Some(3));
        assert_eq!(r.try_pop(), Some(4));
    }

    #[test]
    fn block_waits_for_the_consumer_and_close_ends_it() {
        let r = Arc::new(Ring::new(1, Overflow::Block));
        let p = r.clone();
        let t = std::thread::spawn(move || (0..3).map(|i| p.push(i)).filter(|ok| *ok).count());
        let mut got = Vec::new();
        while got.len() < 3 {
            if let Some(v) = r.try_pop() {
                got.push(v);
            }
        }
        assert_eq!(t.join().unwrap(), 3);
        assert_eq!(got, vec![0, 1, 2]);
        r.close();
        assert_eq!(r.peek_with(None, |v| *v), Err(()));
    }

    #[test]
    fn a_smaller_capacity_keeps_the_newest_items() {
        let r = Ring::new(8, Overflow::DropOldest);
        for i in 0..8 {
            r.push(i);
        }
        r.set_capacity(3);
        assert_eq!(r.capacity(), 3);
        let got: Vec<i32> = std::iter::from_fn(|| r.try_pop()).collect();
        assert_eq!(got, vec![5, 6, 7]);
        r.set_capacity(0);
        r.push(1);
        r.push(2);
        assert_eq!(r.try_pop(), Some(2), "never less than one item");
    }
}
