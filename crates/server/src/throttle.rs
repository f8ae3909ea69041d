//! Brute-force protection (issue 9, item 12): failed authentications are limited per client address.
//!
//! Each address may present [`BURST`] unknown tokens at once; after that one more every [`PERIOD`]
//! (GCRA, the `governor` crate, keyed by the peer's IP address). An address over its limit is answered
//! `429` with `Retry-After` for every request that carries a token, *before* the token is looked at — so a
//! guess made while blocked teaches nothing, whether it was right or wrong. Requests with a valid token do
//! not use up the allowance, and other addresses are not affected. A request without any token is not a
//! guess and is not counted.

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Unknown tokens an address may present at once.
pub const BURST: u32 = 10;
/// After the burst, one more unknown token per this period.
pub const PERIOD: Duration = Duration::from_secs(6);
/// Above this many blocked addresses, expired entries are dropped.
const PRUNE_AT: usize = 4096;

/// Failed authentications per client address.
pub struct AuthThrottle {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses over their limit, and until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl Default for AuthThrottle {
    fn default() -> Self {
        let burst = NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(PERIOD)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(burst);
        AuthThrottle {
            limiter: RateLimiter::keyed(quota),
            blocked: Mutex::new(HashMap::new()),
        }
    }
}

impl AuthThrottle {
    /// `Some(wait)` when `ip` is blocked now: answer 429 with this `Retry-After`.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match blocked.get(&ip) {
            Some(until) if *until > now => Some(*until - now),
            Some(_) => {
                blocked.remove(&ip);
                None
            }
            None => None,
        }
    }

    /// Count one failed authentication from `ip`. `Some(wait)` when that was one too many: the address is
    /// blocked for `wait`.
    pub fn failed(&self, ip: IpAddr) -> Option<Duration> {
        let not_until = self.limiter.check_key(&ip).err()?;
        let wait = not_until.wait_time_from(self.limiter.clock().now());
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        if blocked.len() >= PRUNE_AT {
            let now = Instant::now();
            blocked.retain(|_, until| *until > now);
            self.limiter.retain_recent();
        }
        blocked.insert(ip, Instant::now() + wait);
        Some(wait)
    }
}

/// The `Retry-After` value for `wait`: whole seconds, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_burst_and_others_are_not() {
        let t = AuthThrottle::default();
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        assert!((0..BURST).all(|_| t.failed(a).is_none()));
        assert!(t.blocked(a).is_none());
        let wait = t.failed(a).unwrap();
        assert!(wait > Duration::ZERO && wait <= PERIOD);
        assert!(t.blocked(a).is_some());
        assert!(t.blocked(b).is_none() && t.failed(b).is_none());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(6)), 6);
        assert_eq!(retry_after_secs(Duration::from_millis(5_001)), 6);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
