//! Live counters of a run, read by the CLI's progress bar (or log lines when not on a TTY).

use std::sync::atomic::{AtomicU64, Ordering};

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
}

impl ProgressSnapshot {
    /// Messages decided so far (copied, skipped or failed).
    pub fn done(&self) -> u64 {
        self.copied + self.skipped + self.failed
    }
}
