//! The in-flight byte budget: one cap on the bytes all mailboxes of a run hold at once (fetched from the
//! source, not yet appended to the target), so ten mailboxes of 35 MB messages cannot add up.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A shared budget of bytes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ByteBudget {
    sem: Arc<Semaphore>,
    total: u32,
}

/// Bytes held from the budget; returned when dropped.
#[derive(Debug)]
pub struct BudgetPermit {
    _permit: Option<OwnedSemaphorePermit>,
}

/// Budget accounting unit: KiB, so a u32 permit count covers up to 4 TiB.
const UNIT: u64 = 1024;

impl ByteBudget {
    /// A budget of `bytes` (at least 1 MiB).
    pub fn new(bytes: u64) -> Self {
        let units = (bytes / UNIT).clamp(1024, u64::from(u32::MAX >> 4)) as u32;
        ByteBudget {
            sem: Arc::new(Semaphore::new(units as usize)),
            total: units,
        }
    }

    /// The budget in bytes.
    pub fn total_bytes(&self) -> u64 {
        u64::from(self.total) * UNIT
    }

    /// Bytes currently available.
    pub fn available_bytes(&self) -> u64 {
        self.sem.available_permits() as u64 * UNIT
    }

    /// Wait until `bytes` are free and hold them. A request larger than the whole budget holds the whole
    /// budget (so one huge message still moves, alone).
    pub async fn acquire(&self, bytes: u64) -> BudgetPermit {
        let units = bytes.div_ceil(UNIT).clamp(1, u64::from(self.total)) as u32;
        // The semaphore is never closed, so acquiring cannot fail; treat a failure as "no permit" rather
        // than panicking.
        let permit = self.sem.clone().acquire_many_owned(units).await.ok();
        BudgetPermit { _permit: permit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn permits_return_bytes_when_dropped_and_oversize_requests_take_everything() {
        let b = ByteBudget::new(4 * 1024 * 1024);
        let p1 = b.acquire(3 * 1024 * 1024).await;
        assert_eq!(b.available_bytes(), 1024 * 1024);
        drop(p1);
        assert_eq!(b.available_bytes(), 4 * 1024 * 1024);
        let big = b.acquire(100 * 1024 * 1024).await;
        assert_eq!(b.available_bytes(), 0);
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), b.acquire(1)).await;
        assert!(
            waiting.is_err(),
            "a full budget makes the next request wait"
        );
        drop(big);
        assert_eq!(b.available_bytes(), b.total_bytes());
    }
}
