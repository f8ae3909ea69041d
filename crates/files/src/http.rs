//! What the HTTP connectors (WebDAV, S3) share: one function that turns an HTTP status or a transport
//! error into a Ferry [`Error`] (OpenDAL style: each connector maps native errors in one place), and the
//! `Retry-After` parser.
//!
//! The engine retries on [`Retry`](ferry_core::Retry) alone, so the mapping decides what is retried:
//! throttling, 5xx and broken connections are temporary; auth failures, missing paths and refusals are
//! permanent. A server's `Retry-After` hint travels in [`Error::with_retry_after`].

use chrono::{DateTime, Utc};
use ferry_core::{Error, ErrorKind};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::Duration;

/// The error for a non-success HTTP answer. `what` names the operation and object for the message
/// (`"PUT a/b.txt"`); `body` is a short excerpt of the answer, if any, for diagnosis.
pub fn status_error(status: StatusCode, headers: &HeaderMap, what: &str, body: &str) -> Error {
    let code = status.as_u16();
    let detail = {
        let b = body.trim();
        if b.is_empty() {
            String::new()
        } else {
            // Enough to see a server's reason, never a whole HTML page.
            let cut: String = b.chars().take(200).collect();
            format!(": {cut}")
        }
    };
    let msg = format!("{what}: HTTP {status}{detail}");
    let err = match code {
        401 | 403 => Error::new(
            ErrorKind::Auth,
            format!("{msg} (check the user and password, and that this user may access the path)"),
        )
        .permanent(),
        404 | 410 => Error::new(ErrorKind::NotFound, msg).permanent(),
        429 | 503 => Error::new(ErrorKind::Throttled, msg).temporary(),
        507 => Error::new(
            ErrorKind::Rejected,
            format!("{msg} (the server is out of space or over quota)"),
        )
        .permanent(),
        413 => Error::new(ErrorKind::TooLarge, msg).permanent(),
        // 408 Request Timeout: the server gave up waiting for us; trying again is the cure.
        408 => Error::new(ErrorKind::Io, msg).temporary(),
        500..=599 => Error::new(ErrorKind::Io, msg).temporary(),
        400..=499 => Error::new(ErrorKind::Rejected, msg).permanent(),
        _ => Error::new(ErrorKind::Protocol, format!("{msg} (unexpected answer)")).permanent(),
    };
    match retry_after(headers, Utc::now()) {
        Some(d) if code == 429 || code == 503 || err.is_temporary() => err.with_retry_after(d),
        _ => err,
    }
}

/// The error for a request that got no HTTP answer: connection refused or dropped, timeout, TLS failure,
/// or a request body that failed (the source stream broke) — all temporary, except a bad URL or a
/// certificate the server will keep presenting.
pub fn transport_error(e: reqwest::Error, what: &str) -> Error {
    let reason = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_request() {
        "the request failed"
    } else if e.is_decode() {
        "the answer could not be read"
    } else {
        "failed"
    };
    let chain = error_chain(&e);
    if e.is_builder() {
        return Error::new(ErrorKind::Config, format!("{what}: {reason} ({chain})")).permanent();
    }
    let cert = chain.contains("certificate") || chain.contains("UnknownIssuer");
    if cert {
        return Error::new(
            ErrorKind::Auth,
            format!("{what}: TLS certificate rejected ({chain}); for a self-signed test server add ?tls_verify=false"),
        )
        .permanent();
    }
    Error::new(ErrorKind::Io, format!("{what}: {reason} ({chain})")).temporary()
}

/// `e: cause: cause…` — reqwest's top-level message alone ("error sending request") hides the reason.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The `Retry-After` header (RFC 9110 §10.2.3): delay-seconds or an HTTP date, relative to `now`.
/// A date in the past is zero; an unparseable value is `None`.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, now)
}

/// See [`retry_after`].
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7), as WebDAV's `getlastmodified` and
/// `Retry-After` carry it. The obsolete RFC 850 and asctime forms are accepted too.
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(d) = DateTime::parse_from_rfc2822(value) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(value, fmt) {
            return Some(d.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use reqwest::header::HeaderValue;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wednesday, 01-May-24 12:01:00 GMT", now()),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed May  1 12:00:05 2024", now()),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Tue, 30 Apr 2024 12:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-5", now()), None);
    }

    #[test]
    fn statuses_map_to_kinds_and_retry_statuses() {
        let h = HeaderMap::new();
        for (code, kind, temporary) in [
            (401, ErrorKind::Auth, false),
            (403, ErrorKind::Auth, false),
            (404, ErrorKind::NotFound, false),
            (409, ErrorKind::Rejected, false),
            (429, ErrorKind::Throttled, true),
            (503, ErrorKind::Throttled, true),
            (500, ErrorKind::Io, true),
            (502, ErrorKind::Io, true),
            (507, ErrorKind::Rejected, false),
            (413, ErrorKind::TooLarge, false),
            (400, ErrorKind::Rejected, false),
        ] {
            let e = status_error(StatusCode::from_u16(code).unwrap(), &h, "PUT a", "");
            assert_eq!((e.kind(), e.is_temporary()), (kind, temporary), "{code}");
        }
        let e = status_error(StatusCode::UNAUTHORIZED, &h, "PROPFIND x", "");
        assert!(e.message().contains("check the user and password"), "{e}");
    }

    #[test]
    fn throttling_carries_the_retry_after_hint() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let e = status_error(StatusCode::TOO_MANY_REQUESTS, &h, "PUT a", "slow down");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.message().contains("slow down"));
        let e = status_error(StatusCode::SERVICE_UNAVAILABLE, &h, "GET a", "");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        let e = status_error(StatusCode::NOT_FOUND, &h, "GET a", "");
        assert_eq!(e.retry_after(), None);
    }
}
