//! The pace of requests to one tenant and one drive: Graph's and SharePoint's throttling guidance asks
//! clients to honour `Retry-After` exactly, and to slow down on their own before being throttled
//! (learn.microsoft.com: "Avoid getting throttled or blocked in SharePoint Online", "Microsoft Graph
//! throttling guidance").
//!
//! A [`Pacer`] is shared by every connector of the process that talks to the same tenant (or drive), so
//! sixteen concurrent copies wait together:
//! - **`Retry-After`**: after a `429`/`503` no request leaves before the hinted time has passed
//!   ([`Pacer::throttled`]); without a hint, an exponential backoff stands in for it.
//! - **`RateLimit-*`**: when the service reports its budget nearly spent (`RateLimit-Remaining` below a
//!   fifth of `RateLimit-Limit`), requests are spaced so the remainder lasts until `RateLimit-Reset`.
//! - **Adaptive spacing**: each throttling doubles a minimum gap between requests; each success shrinks
//!   it by a tenth, so the rate settles just under what the service grants.

use reqwest::header::HeaderMap;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Longest gap the adaptive spacing grows to.
const MAX_SPACING: Duration = Duration::from_secs(2);
/// First gap after a throttling without a previous gap.
const MIN_SPACING: Duration = Duration::from_millis(5);

#[derive(Debug)]
struct State {
    /// No request before this (a `Retry-After` in force).
    not_before: Instant,
    /// Minimum gap between request starts.
    spacing: Duration,
    /// When the last request was let through.
    last: Option<Instant>,
    /// Throttling answers in a row without a hint (for the backoff).
    unhinted: u32,
    /// Requests let through and not answered yet.
    in_flight: u64,
    /// Requests the service's `RateLimit-Remaining` still allows before its `RateLimit-Reset`, less
    /// those in flight; when it reaches 0, nothing leaves until the reset.
    allowance: Option<(u64, Instant)>,
}

/// See the module docs.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer {
            state: Mutex::new(State {
                not_before: Instant::now(),
                spacing: Duration::ZERO,
                last: None,
                unhinted: 0,
                in_flight: 0,
                allowance: None,
            }),
        }
    }
}

static REGISTRY: LazyLock<Mutex<HashMap<String, Arc<Pacer>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

impl Pacer {
    /// The process-wide pacer for `key` (e.g. the Graph base and tenant, or a drive id).
    pub fn shared(key: &str) -> Arc<Pacer> {
        let mut map = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_owned()).or_default().clone()
    }

    /// Wait until a request may leave, and count it as sent.
    pub async fn wait(&self) {
        loop {
            let until = {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let mut at = s.not_before;
                if let Some(last) = s.last {
                    at = at.max(last + s.spacing);
                }
                match s.allowance {
                    Some((_, reset)) if reset <= now => s.allowance = None,
                    Some((0, reset)) => at = at.max(reset),
                    _ => {}
                }
                if at <= now {
                    s.last = Some(now);
                    s.in_flight += 1;
                    if let Some((n, _)) = &mut s.allowance {
                        *n -= 1;
                    }
                    return;
                }
                at
            };
            tokio::time::sleep_until(until).await;
        }
    }

    /// The service throttled (`429`/`503`): nothing leaves before `retry_after` has passed (or a
    /// backoff when the answer had no hint), and the gap between requests grows.
    pub fn throttled(&self, retry_after: Option<Duration>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.in_flight = s.in_flight.saturating_sub(1);
        // The window starts afresh after the wait; its budget is learnt again from the answers.
        s.allowance = None;
        let wait = match retry_after {
            Some(d) => {
                s.unhinted = 0;
                d
            }
            None => {
                s.unhinted = s.unhinted.saturating_add(1);
                Duration::from_millis(500).saturating_mul(1 << s.unhinted.min(6))
            }
        };
        s.not_before = s.not_before.max(Instant::now() + wait);
        s.spacing = (s.spacing * 2).clamp(MIN_SPACING, MAX_SPACING);
    }

    /// A successful answer: read its `RateLimit-*` headers, and let the gap shrink.
    pub fn answered(&self, headers: &HeaderMap) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.in_flight = s.in_flight.saturating_sub(1);
        s.unhinted = 0;
        if let Some((remaining, reset)) = rate_limit(headers) {
            // What the service still allows, less what is on its way to it.
            let left = remaining.saturating_sub(s.in_flight);
            let until = Instant::now() + reset;
            s.allowance = Some(match s.allowance {
                Some((n, r)) if r > Instant::now() => (n.min(left), r.max(until)),
                _ => (left, until),
            });
        }
        s.spacing = s.spacing.mul_f64(0.9);
        if s.spacing < Duration::from_micros(100) {
            s.spacing = Duration::ZERO;
        }
        if let Some(gap) = rate_limit_gap(headers) {
            s.spacing = s.spacing.max(gap).min(MAX_SPACING);
        }
    }

    /// A request let through by [`Pacer::wait`] got no answer (a dropped connection).
    pub fn unanswered(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.in_flight = s.in_flight.saturating_sub(1);
    }

    /// How long a `Retry-After` in force still holds every request back (zero when none is).
    pub fn blocked_for(&self) -> Duration {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.not_before.saturating_duration_since(Instant::now())
    }

    /// The gap currently kept between requests (for tests and logs).
    pub fn spacing(&self) -> Duration {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).spacing
    }
}

/// `RateLimit-Remaining` and `RateLimit-Reset`, when the answer has them.
fn rate_limit(h: &HeaderMap) -> Option<(u64, Duration)> {
    let num = |name: &str| -> Option<u64> { h.get(name)?.to_str().ok()?.trim().parse().ok() };
    Some((
        num("ratelimit-remaining")?,
        Duration::from_secs(num("ratelimit-reset")?),
    ))
}

/// The gap that makes the remaining budget last until the reset, once less than a fifth is left.
fn rate_limit_gap(h: &HeaderMap) -> Option<Duration> {
    let num = |name: &str| -> Option<u64> { h.get(name)?.to_str().ok()?.trim().parse().ok() };
    let limit = num("ratelimit-limit")?;
    let remaining = num("ratelimit-remaining")?;
    let reset = num("ratelimit-reset")?;
    (remaining.saturating_mul(5) < limit)
        .then(|| Duration::from_secs(reset.max(1)) / (remaining.saturating_add(1) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[tokio::test(start_paused = true)]
    async fn nothing_leaves_before_retry_after_has_passed() {
        let p = Pacer::default();
        p.wait().await;
        let t0 = Instant::now();
        p.throttled(Some(Duration::from_secs(3)));
        p.wait().await;
        assert!(Instant::now() - t0 >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_in_force_is_reported_until_it_has_passed() {
        let p = Pacer::default();
        assert_eq!(p.blocked_for(), Duration::ZERO);
        p.wait().await;
        p.throttled(Some(Duration::from_secs(30)));
        assert_eq!(p.blocked_for(), Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(p.blocked_for(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_nearly_spent_spaces_requests_until_the_reset() {
        let p = Pacer::default();
        let mut h = HeaderMap::new();
        h.insert("ratelimit-limit", HeaderValue::from_static("100"));
        h.insert("ratelimit-remaining", HeaderValue::from_static("9"));
        h.insert("ratelimit-reset", HeaderValue::from_static("10"));
        p.answered(&h);
        assert_eq!(p.spacing(), Duration::from_secs(1));
        p.wait().await;
        let t0 = Instant::now();
        p.wait().await;
        assert!(Instant::now() - t0 >= Duration::from_secs(1));
        h.insert("ratelimit-remaining", HeaderValue::from_static("90"));
        let mut plenty = HeaderMap::new();
        plenty.insert("ratelimit-limit", HeaderValue::from_static("100"));
        p.answered(&plenty);
        assert!(p.spacing() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_stop_when_the_reported_allowance_is_used_up_until_the_reset() {
        let p = Pacer::default();
        p.wait().await;
        let mut h = HeaderMap::new();
        h.insert("ratelimit-limit", HeaderValue::from_static("10"));
        h.insert("ratelimit-remaining", HeaderValue::from_static("2"));
        h.insert("ratelimit-reset", HeaderValue::from_static("5"));
        p.answered(&h);
        let t0 = Instant::now();
        p.wait().await;
        p.wait().await;
        assert!(Instant::now() - t0 < Duration::from_secs(5));
        p.wait().await;
        assert!(
            Instant::now() - t0 >= Duration::from_secs(5),
            "the third waits for the reset"
        );
    }

    #[test]
    fn throttling_grows_the_gap_and_pacers_are_shared_by_key() {
        let p = Pacer::shared("test-key-a");
        p.throttled(Some(Duration::ZERO));
        let g1 = p.spacing();
        p.throttled(Some(Duration::ZERO));
        assert!(p.spacing() > g1);
        assert!(Arc::ptr_eq(&p, &Pacer::shared("test-key-a")));
        assert!(!Arc::ptr_eq(&p, &Pacer::shared("test-key-b")));
    }
}
