//! The request budgets (SharePoint's "Avoid getting throttled or blocked in SharePoint Online" and Graph's
//! throttling guidance): fixed windows per budget and scope; over budget → `429`/`503` with `Retry-After`;
//! from 80 % of a budget on, `RateLimit-Limit`/`RateLimit-Remaining`/`RateLimit-Reset` on every answer.
//!
//! Requests that arrive while a `Retry-After` still runs are counted as *early* (a good client sends none).
//! Which of them the client could have held back: every later request on the connection that got the
//! `Retry-After` (HTTP/1.1 is sequential on a connection, so it was sent after the answer was read), and
//! requests on other connections once [`super::GraphOptions::in_flight_grace`] has passed (before that they
//! may have been in flight already when the answer went out).

use super::options::ThrottleOptions;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Window {
    start: Instant,
    used: u64,
    /// Set when a `Retry-After` was handed out for this budget and scope.
    blocked_until: Option<Instant>,
}

/// A `Retry-After` handed out.
#[derive(Clone, Copy, Debug)]
struct Advice {
    since: Instant,
    until: Instant,
}

/// Budgets by `"{budget}:{scope key}"` (scope key `""` for the tenant, the drive id per drive), and the
/// `Retry-After`s handed out (by the same keys, `"!"` for injected failures, and by connection).
#[derive(Debug, Default)]
pub struct Throttle {
    windows: HashMap<String, Window>,
    by_key: HashMap<String, Advice>,
    by_conn: HashMap<u64, Instant>,
    /// Requests answered with 429/503 by a budget.
    pub throttled: u64,
    /// Requests that arrived before a `Retry-After` they had been given expired.
    pub early: u64,
}

/// What the budgets say about one request.
#[derive(Debug, Default)]
pub struct Verdict {
    /// `Some((status, seconds))`: refuse with `Retry-After: seconds`.
    pub refuse: Option<(u16, u64)>,
    /// Headers to add to the answer (RateLimit-*).
    pub headers: Vec<(&'static str, String)>,
}

fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs();
    if d.subsec_nanos() > 0 { s + 1 } else { s }.max(1)
}

fn rate_headers(limit: u64, remaining: u64, reset: u64) -> Vec<(&'static str, String)> {
    vec![
        ("RateLimit-Limit", limit.to_string()),
        ("RateLimit-Remaining", remaining.to_string()),
        ("RateLimit-Reset", reset.to_string()),
    ]
}

impl Throttle {
    /// Record a `Retry-After: secs` given on `conn` for `key`.
    pub fn advise(&mut self, key: &str, conn: u64, now: Instant, secs: u64) {
        let until = now + Duration::from_secs(secs);
        self.by_key
            .insert(key.to_owned(), Advice { since: now, until });
        self.by_conn.insert(conn, until);
    }

    /// Whether a request on `conn` concerning `keys` ignores a running `Retry-After`; counts it if so.
    pub fn note_early(
        &mut self,
        keys: &[String],
        conn: u64,
        now: Instant,
        grace: Duration,
    ) -> bool {
        let same_conn = self.by_conn.get(&conn).is_some_and(|u| now < *u);
        let other = keys.iter().any(|k| {
            self.by_key
                .get(k)
                .is_some_and(|a| now < a.until && now >= a.since + grace)
        });
        if same_conn || other {
            self.early += 1;
        }
        same_conn || other
    }

    /// Check every budget for a request about `drive` (None: not about a drive).
    pub fn check(
        &mut self,
        budgets: &[ThrottleOptions],
        drive: Option<&str>,
        conn: u64,
        now: Instant,
        grace: Duration,
    ) -> Verdict {
        let keys: Vec<(usize, String)> = budgets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| match b.scope {
                super::options::ThrottleScope::Tenant => Some((i, format!("{i}:"))),
                super::options::ThrottleScope::Drive => drive.map(|d| (i, format!("{i}:{d}"))),
            })
            .collect();
        let mut names: Vec<String> = keys.iter().map(|(_, k)| k.clone()).collect();
        names.push("!".into());
        self.note_early(&names, conn, now, grace);
        let mut verdict = Verdict::default();
        // Refuse if any budget is blocked or spent; count the request against all others otherwise.
        for (i, key) in &keys {
            let b = &budgets[*i];
            let w = self.windows.entry(key.clone()).or_insert(Window {
                start: now,
                used: 0,
                blocked_until: None,
            });
            if let Some(until) = w.blocked_until {
                if now < until {
                    let secs = ceil_secs(until - now);
                    verdict.refuse = Some((b.status, secs));
                    verdict.headers = rate_headers(b.requests, 0, secs);
                    break;
                }
                w.blocked_until = None;
            }
            if now.duration_since(w.start) >= b.window {
                w.start = now;
                w.used = 0;
            }
            if w.used >= b.requests {
                let secs = ceil_secs(b.window.saturating_sub(now.duration_since(w.start)));
                w.blocked_until = Some(now + Duration::from_secs(secs));
                verdict.refuse = Some((b.status, secs));
                verdict.headers = rate_headers(b.requests, 0, secs);
                break;
            }
        }
        if let Some((_, secs)) = verdict.refuse {
            self.throttled += 1;
            for (_, key) in &keys {
                if self
                    .windows
                    .get(key)
                    .is_some_and(|w| w.blocked_until.is_some())
                {
                    self.advise(key, conn, now, secs);
                }
            }
            return verdict;
        }
        let mut tightest: Option<(u64, Vec<(&'static str, String)>)> = None;
        for (i, key) in &keys {
            let b = &budgets[*i];
            let Some(w) = self.windows.get_mut(key) else {
                continue;
            };
            w.used += 1;
            if w.used * 10 >= b.requests * 8 {
                let remaining = b.requests.saturating_sub(w.used);
                let reset = ceil_secs(b.window.saturating_sub(now.duration_since(w.start)));
                if tightest.as_ref().is_none_or(|(r, _)| remaining < *r) {
                    tightest = Some((remaining, rate_headers(b.requests, remaining, reset)));
                }
            }
        }
        verdict.headers = tightest.map(|(_, h)| h).unwrap_or_default();
        verdict
    }
}
