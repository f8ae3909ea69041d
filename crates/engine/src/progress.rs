//! Live counters of a run, read by the CLI's progress bar (or log lines when not on a TTY), and the start
//! and end of each mailbox or mapping as events, for the one-line-per-mailbox log of unattended runs.

use ferry_store::{PassCounters, PassKind, RunStatus};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters updated by every mailbox of a run. All relaxed atomics: they are for display only.
#[derive(Debug, Default)]
pub struct Progress {
    pub mailboxes_total: AtomicU64,
    pub mailboxes_done: AtomicU64,
    /// Messages and bytes this run has decided to move (discovered as new).
    pub discovered: AtomicU64,
    pub discovered_bytes: AtomicU64,
    pub copied: AtomicU64,
    pub copied_bytes: AtomicU64,
    pub skipped: AtomicU64,
    pub failed: AtomicU64,
    /// Events are only queued once someone listens (see [`Progress::listen`]): a run without a display
    /// keeps nothing.
    listening: AtomicBool,
    events: Mutex<VecDeque<ProgressEvent>>,
}

/// The start or end of one mailbox (mail) or mapping (files).
#[derive(Clone, Debug, PartialEq)]
pub enum ProgressEvent {
    Started {
        label: String,
    },
    Finished {
        label: String,
        kind: Option<PassKind>,
        status: RunStatus,
        counters: PassCounters,
        /// Why it failed as a whole, if it did.
        error: Option<String>,
    },
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    pub mailboxes_total: u64,
    pub mailboxes_done: u64,
    pub discovered: u64,
    pub discovered_bytes: u64,
    pub copied: u64,
    pub copied_bytes: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl Progress {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProgressSnapshot {
            mailboxes_total: l(&self.mailboxes_total),
            mailboxes_done: l(&self.mailboxes_done),
            discovered: l(&self.discovered),
            discovered_bytes: l(&self.discovered_bytes),
            copied: l(&self.copied),
            copied_bytes: l(&self.copied_bytes),
            skipped: l(&self.skipped),
            failed: l(&self.failed),
        }
    }

    /// From now on, queue start and end events for [`Progress::take_events`].
    pub fn listen(&self) {
        self.listening.store(true, Ordering::Relaxed);
    }

    /// Queue an event (only when someone listens).
    pub fn event(&self, e: ProgressEvent) {
        if self.listening.load(Ordering::Relaxed)
            && let Ok(mut q) = self.events.lock()
        {
            q.push_back(e);
        }
    }

    /// The events queued since the last call, oldest first.
    pub fn take_events(&self) -> Vec<ProgressEvent> {
        match self.events.lock() {
            Ok(mut q) => q.drain(..).collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl ProgressSnapshot {
    /// Messages decided so far (copied, skipped or failed).
    pub fn done(&self) -> u64 {
        self.copied + self.skipped + self.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_kept_only_while_someone_listens() {
        let p = Progress::default();
        p.event(ProgressEvent::Started { label: "a".into() });
        assert!(p.take_events().is_empty());
        p.listen();
        p.event(ProgressEvent::Started { label: "b".into() });
        assert_eq!(
            p.take_events(),
            vec![ProgressEvent::Started { label: "b".into() }]
        );
        assert!(p.take_events().is_empty());
    }
}
