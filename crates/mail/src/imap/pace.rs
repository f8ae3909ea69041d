//! An adaptive APPEND pace per mailbox (one connector is one mailbox), for servers that throttle with a
//! suggested backoff (Exchange Online).
//!
//! Design: no pace at all until the server first throttles (an unthrottled server costs nothing); from
//! then on one APPEND at a time with a gap between them. Each throttle widens the gap (at least to the
//! interval actually achieved when it happened, plus a margin; otherwise ×1.5); each accepted APPEND
//! narrows it by 0.5 %. The pace therefore settles just under the server's budget: it probes upwards
//! slowly and backs off at once, like TCP's congestion window, instead of a fixed rate that is either too
//! slow or throttled all the time.

use std::time::{Duration, Instant};

/// The narrowest gap once paced (a server that throttles does not take thousands a second).
const MIN_GAP: Duration = Duration::from_millis(2);
/// The widest gap (beyond this the server's backoff, not the pace, governs).
const MAX_GAP: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct Pace {
    gap: Duration,
    next: Option<Instant>,
    /// Accepted APPENDs since the pace last changed, and since when: the achieved interval.
    since: Option<Instant>,
    accepted: u32,
}

impl Pace {
    /// Whether APPENDs go one at a time with a gap (after the first throttle).
    pub fn active(&self) -> bool {
        !self.gap.is_zero()
    }

    /// The current gap between APPENDs.
    pub fn gap(&self) -> Duration {
        self.gap
    }

    /// Wait until the next APPEND may go.
    pub async fn wait(&mut self) {
        if let Some(next) = self.next
            && next > Instant::now()
        {
            tokio::time::sleep_until(next.into()).await;
        }
        self.next = Some(Instant::now() + self.gap);
    }

    /// `n` APPENDs were accepted.
    pub fn accepted(&mut self, n: u32) {
        let now = Instant::now();
        self.since.get_or_insert(now);
        self.accepted = self.accepted.saturating_add(n);
        if self.active() {
            for _ in 0..n.min(64) {
                self.gap = self.gap.mul_f64(0.995).max(MIN_GAP);
            }
        }
    }

    /// The server throttled: widen the gap.
    pub fn throttled(&mut self) {
        let achieved = match (self.since, self.accepted) {
            (Some(since), n) if n > 0 => since.elapsed() / n,
            _ => Duration::ZERO,
        };
        self.gap = self
            .gap
            .mul_f64(1.5)
            .max(achieved.mul_f64(1.2))
            .clamp(MIN_GAP, MAX_GAP);
        self.since = None;
        self.accepted = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_pace_until_throttled_then_wider_on_each_throttle_and_slowly_narrower() {
        let mut p = Pace::default();
        assert!(!p.active());
        p.accepted(100);
        assert!(!p.active());
        p.throttled();
        assert!(p.active());
        let g1 = p.gap();
        p.throttled();
        assert!(p.gap() >= g1.mul_f64(1.5) || p.gap() == MAX_GAP);
        let g2 = p.gap();
        p.accepted(10);
        assert!(p.gap() < g2 && p.gap() > g2.mul_f64(0.9));
        for _ in 0..100 {
            p.throttled();
        }
        assert_eq!(p.gap(), MAX_GAP);
    }
}
