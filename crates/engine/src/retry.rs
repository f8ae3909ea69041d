//! Retry with exponential backoff on temporary errors, honouring server hints (DESIGN §4). The engine
//! retries on [`ferry_core::Retry`] alone; permanent errors return at once.

use serde::Serialize;
use std::time::Duration;

/// How often and how patiently to retry.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Total attempts, including the first.
    pub attempts: u32,
    /// Total attempts when the server says it is throttling (429, 503 SlowDown, `NO [UNAVAILABLE]`): a
    /// throttling server is alive and asking us to wait, so it gets more patience than a broken link.
    pub throttled_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest server wait (`Retry-After`, Exchange's "Suggested Backoff Time") slept inside the pass.
    /// A longer one is not retried: the pass stops at a checkpoint with that error, for its caller to run
    /// it again after the wait ([`ServerWait`], issue 12 §3). `None` (the CLI): every wait is slept.
    pub max_wait_in_pass: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: ferry_core::limits::DEFAULT_RETRY_ATTEMPTS,
            throttled_attempts: ferry_core::limits::DEFAULT_THROTTLED_ATTEMPTS,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(15),
            max_wait_in_pass: None,
        }
    }
}

impl RetryPolicy {
    /// Whether an error that has happened `failures` times so far (this one included) may be retried.
    pub fn may_retry(&self, e: &ferry_core::Error, failures: u32) -> bool {
        let limit = if e.kind() == ferry_core::ErrorKind::Throttled {
            self.throttled_attempts
        } else {
            self.attempts
        };
        e.is_temporary() && failures < limit && self.wait_too_long(e).is_none()
    }

    /// The server's wait `e` asks for, when it is longer than [`max_wait_in_pass`](Self::max_wait_in_pass):
    /// the pass must stop rather than sleep it.
    pub fn wait_too_long(&self, e: &ferry_core::Error) -> Option<Duration> {
        let max = self.max_wait_in_pass?;
        e.retry_after().filter(|w| *w > max)
    }

    /// The delay before attempt `n` (1-based count of failures so far), with ±25 % jitter.
    pub fn delay(&self, failures: u32, hint: Option<Duration>) -> Duration {
        if let Some(h) = hint {
            return h.min(Duration::from_secs(300));
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
        let d = exp.min(self.max_delay);
        let jitter = 0.75 + fastrand::f64() * 0.5;
        d.mul_f64(jitter)
    }
}

/// A server's wait a pass did not sleep because it was longer than [`RetryPolicy::max_wait_in_pass`]: the
/// pass stopped at a checkpoint instead (issue 12 §3) — what it copied is journalled, unconfirmed appends
/// stay `pending` for the next run to reconcile — and the caller runs it again once the wait is over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerWait {
    /// The wait, in whole seconds (rounded up).
    pub secs: u64,
    /// The side whose server asked (`source` or `target`), when known.
    pub side: Option<String>,
    /// The server's answer, as the error reads.
    pub reason: String,
}

impl ServerWait {
    /// The wait `e` asked for (`wait`, from [`RetryPolicy::wait_too_long`]).
    pub fn of(e: &ferry_core::Error, wait: Duration) -> ServerWait {
        let side = e
            .context()
            .iter()
            .find(|(k, _)| *k == "side")
            .map(|(_, v)| v.clone());
        ServerWait {
            secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            side,
            reason: e.to_string(),
        }
    }
}

/// Evaluate `$op` (an expression producing a future of `Result`) until it succeeds, fails permanently, or
/// runs out of attempts; the expression is evaluated afresh for each attempt. A macro rather than a function
/// taking an async closure, because the futures it retries borrow connectors mutably and must stay `Send`.
#[macro_export]
macro_rules! retry {
    ($policy:expr, $what:expr, $op:expr) => {{
        let policy: &$crate::retry::RetryPolicy = $policy;
        let mut failures = 0u32;
        loop {
            match $op.await {
                Ok(v) => break Ok(v),
                Err(e) if policy.may_retry(&e, failures + 1) => {
                    failures += 1;
                    let d = policy.delay(failures, e.retry_after());
                    tracing::warn!(error = %e, attempt = failures, delay_ms = d.as_millis() as u64, "{}: temporary error, retrying", $what);
                    tokio::time::sleep(d).await;
                }
                Err(e) => break Err(e),
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::{Error, ErrorKind, Result};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            throttled_attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_wait_in_pass: None,
        }
    }

    #[tokio::test]
    async fn temporary_errors_are_retried_until_success() {
        let mut n = 0;
        let mut op = async || {
            n += 1;
            if n < 3 {
                Err(Error::new(ErrorKind::Io, "drop"))
            } else {
                Ok(n)
            }
        };
        let r: Result<i32> = crate::retry!(&fast(), "op", op());
        assert_eq!(r.unwrap(), 3);
    }

    #[tokio::test]
    async fn permanent_errors_and_exhausted_attempts_return_the_error() {
        let mut n = 0;
        let mut op = async || {
            n += 1;
            Err::<(), _>(Error::new(ErrorKind::Auth, "bad password"))
        };
        let r: Result<()> = crate::retry!(&fast(), "op", op());
        assert_eq!((r.unwrap_err().kind(), n), (ErrorKind::Auth, 1));
        let mut m = 0;
        let mut op = async || {
            m += 1;
            Err::<(), _>(Error::new(ErrorKind::Io, "drop"))
        };
        let r: Result<()> = crate::retry!(&fast(), "op", op());
        assert!(r.is_err());
        assert_eq!(m, 3);
    }

    #[tokio::test]
    async fn throttling_gets_more_attempts_than_a_broken_link() {
        let mut n = 0;
        let mut op = async || {
            n += 1;
            if n < 5 {
                Err(Error::new(ErrorKind::Throttled, "429"))
            } else {
                Ok(n)
            }
        };
        let r: Result<i32> = crate::retry!(&fast(), "op", op());
        assert_eq!(
            r.unwrap(),
            5,
            "5 throttled attempts fit in throttled_attempts = 5, not in attempts = 3"
        );
    }

    #[test]
    fn server_hints_win_over_backoff() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert!(p.delay(30, None) <= p.max_delay.mul_f64(1.25));
    }

    #[tokio::test]
    async fn a_server_wait_longer_than_the_pass_may_sleep_is_returned_at_once_not_slept() {
        let policy = RetryPolicy {
            max_wait_in_pass: Some(Duration::from_secs(1)),
            ..fast()
        };
        let mut n = 0;
        let mut op = async || {
            n += 1;
            Err::<(), _>(
                Error::new(
                    ErrorKind::Throttled,
                    "Suggested Backoff Time: 2000 milliseconds",
                )
                .with_retry_after(Duration::from_millis(2_000))
                .with_context("side", "target"),
            )
        };
        let e = crate::retry!(&policy, "append", op()).unwrap_err();
        assert_eq!(n, 1, "tried once, never slept");
        let wait = policy.wait_too_long(&e).unwrap();
        let w = ServerWait::of(&e, wait);
        assert_eq!((w.secs, w.side.as_deref()), (2, Some("target")));
        assert!(w.reason.contains("Suggested Backoff Time"), "{}", w.reason);
        // A shorter wait is slept in place, as without the setting.
        let short =
            Error::new(ErrorKind::Throttled, "busy").with_retry_after(Duration::from_millis(900));
        assert!(policy.may_retry(&short, 1));
        assert!(policy.wait_too_long(&short).is_none());
    }
}
