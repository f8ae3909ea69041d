//! The request budget (SharePoint's "Avoid getting throttled or blocked in SharePoint Online" and Graph's
//! throttling guidance): fixed windows per scope; over budget → `429`/`503` with `Retry-After`; from 80 %
//! of the budget on, `RateLimit-Limit`/`RateLimit-Remaining`/`RateLimit-Reset` on every answer. A request
//! that arrives while a `Retry-After` it was given has not expired is counted (a good client never sends
//! one) and refused again.

use super::options::ThrottleOptions;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Window {
    start: Instant,
    used: u64,
    /// Set when a `Retry-After` was handed out: no request should arrive before this.
    blocked_until: Option<Instant>,
}

/// Budgets by scope key (`""` for the tenant, the drive id per drive).
#[derive(Debug, Default)]
pub struct Throttle {
    windows: HashMap<String, Window>,
    /// Requests answered with 429/503 by the budget.
    pub throttled: u64,
    /// Requests that arrived before a `Retry-After` they had been given expired.
    pub early: u64,
}

/// What the budget says about one request.
#[derive(Debug, Default)]
pub struct Verdict {
    /// `Some(seconds)`: refuse with `Retry-After: seconds`.
    pub retry_after: Option<u64>,
    /// Headers to add to the answer (RateLimit-*).
    pub headers: Vec<(&'static str, String)>,
}

fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs();
    if d.subsec_nanos() > 0 { s + 1 } else { s }.max(1)
}

impl Throttle {
    pub fn check(&mut self, opts: &ThrottleOptions, key: &str, now: Instant) -> Verdict {
        let w = self.windows.entry(key.to_owned()).or_insert(Window {
            start: now,
            used: 0,
            blocked_until: None,
        });
        if let Some(until) = w.blocked_until {
            if now < until {
                self.early += 1;
                self.throttled += 1;
                return Verdict {
                    retry_after: Some(ceil_secs(until - now)),
                    headers: vec![
                        ("RateLimit-Limit", opts.requests.to_string()),
                        ("RateLimit-Remaining", "0".into()),
                        ("RateLimit-Reset", ceil_secs(until - now).to_string()),
                    ],
                };
            }
            w.blocked_until = None;
        }
        if now.duration_since(w.start) >= opts.window {
            w.start = now;
            w.used = 0;
        }
        let reset = opts.window.saturating_sub(now.duration_since(w.start));
        if w.used >= opts.requests {
            let secs = ceil_secs(reset);
            w.blocked_until = Some(now + Duration::from_secs(secs));
            self.throttled += 1;
            return Verdict {
                retry_after: Some(secs),
                headers: vec![
                    ("RateLimit-Limit", opts.requests.to_string()),
                    ("RateLimit-Remaining", "0".into()),
                    ("RateLimit-Reset", secs.to_string()),
                ],
            };
        }
        w.used += 1;
        let mut headers = Vec::new();
        if w.used * 10 >= opts.requests * 8 {
            headers.push(("RateLimit-Limit", opts.requests.to_string()));
            headers.push((
                "RateLimit-Remaining",
                opts.requests.saturating_sub(w.used).to_string(),
            ));
            headers.push(("RateLimit-Reset", ceil_secs(reset).to_string()));
        }
        Verdict {
            retry_after: None,
            headers,
        }
    }
}
