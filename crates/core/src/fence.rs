//! A pass's write fence: the instant after which a worker may send nothing more for the pass.
//!
//! A worker holds a pass under a lease it renews every heartbeat; when the lease's end comes without a
//! confirmed renewal, another worker may take the pass over. A worker frozen (SIGSTOP, a paused VM)
//! in the middle of a command would, when it wakes, finish what it was sending — an IMAP MULTIAPPEND
//! half sent is committed by its last bytes — after the new holder compared the target: a duplicate.
//! So the connection checks the fence before every write to the socket, on the process's monotonic
//! clock (which runs on while the process is stopped): past it, the write fails and the server, which
//! never got the command's end, stores nothing. The worker moves the fence on with each renewal.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// The instant every fence counts from (the first use in this process).
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// See the module docs. Clones share one deadline.
#[derive(Clone)]
pub struct Fence(Arc<AtomicU64>);

impl Fence {
    /// A fence at `deadline`.
    pub fn until(deadline: Instant) -> Fence {
        let f = Fence(Arc::new(AtomicU64::new(0)));
        f.set(deadline);
        f
    }

    /// Move the fence to `deadline` (a renewal).
    pub fn set(&self, deadline: Instant) {
        let nanos = deadline.saturating_duration_since(base()).as_nanos();
        self.0
            .store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Whether the deadline has passed: nothing more may be sent.
    pub fn passed(&self) -> bool {
        let now = Instant::now().saturating_duration_since(base()).as_nanos();
        u64::try_from(now).unwrap_or(u64::MAX) > self.0.load(Ordering::SeqCst)
    }
}

/// Fences are equal when they are the same fence (a config holding one compares by it).
impl PartialEq for Fence {
    fn eq(&self, other: &Fence) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Fence {}

impl fmt::Debug for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fence(passed: {})", self.passed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_fence_passes_at_its_deadline_and_a_renewal_moves_it_for_every_clone() {
        let f = Fence::until(Instant::now() + Duration::from_secs(60));
        let held = f.clone();
        assert!(!held.passed());
        f.set(Instant::now() - Duration::from_millis(1));
        assert!(held.passed(), "a clone sees the move");
        f.set(Instant::now() + Duration::from_secs(60));
        assert!(!held.passed(), "a renewal opens it again");
        assert_eq!(f, held);
        assert_ne!(f, Fence::until(Instant::now()));
    }
}
