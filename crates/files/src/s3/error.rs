//! S3 failures → Ferry errors, in one place (STYLE: "each connector maps native errors in one function").
//!
//! | S3 says                                   | Ferry kind  | retry     |
//! |-------------------------------------------|-------------|-----------|
//! | 403 (`AccessDenied`, `SignatureDoesNotMatch`, `InvalidAccessKeyId`) | `Auth` | permanent |
//! | 404 / `NoSuchKey` / `NoSuchBucket` / `NoSuchUpload` | `NotFound` | permanent |
//! | 429, 503 `SlowDown`                        | `Throttled` | temporary, with `Retry-After` |
//! | other 5xx                                  | `Io`        | temporary |
//! | other 4xx                                  | `Rejected`  | permanent |
//! | network failure, timeout                   | `Io`        | temporary |

use super::xml::S3ErrorBody;
use ferry_core::{Error, ErrorKind};
use std::time::Duration;

/// Map an HTTP failure. `body` is the parsed `<Error>` document when there was one (HEAD has none);
/// `retry_after` is the raw `Retry-After` header; `bucket` and `key` name what was asked for.
pub fn map_status(
    status: u16,
    body: Option<&S3ErrorBody>,
    retry_after: Option<&str>,
    bucket: &str,
    key: &str,
) -> Error {
    let code = body.map(|b| b.code.as_str()).unwrap_or("");
    let detail = match body {
        Some(b) if !b.message.is_empty() => format!("{} ({})", b.code, b.message),
        Some(b) => b.code.clone(),
        None => format!("HTTP {status}"),
    };
    let err = match (status, code) {
        (_, "NoSuchBucket") => Error::new(
            ErrorKind::NotFound,
            format!("S3 bucket `{bucket}` does not exist: {detail}"),
        ),
        (_, "NoSuchUpload") => Error::new(
            ErrorKind::NotFound,
            format!("S3 multipart upload for `{key}` no longer exists: {detail}"),
        ),
        (404, _) | (_, "NoSuchKey") => Error::new(
            ErrorKind::NotFound,
            format!("S3 object `{key}` not found: {detail}"),
        ),
        (403, _)
        | (_, "AccessDenied" | "SignatureDoesNotMatch" | "InvalidAccessKeyId" | "ExpiredToken") => {
            Error::new(
                ErrorKind::Auth,
                format!(
                    "S3 refused the credentials for bucket `{bucket}`: {detail}; check the access key and secret key"
                ),
            )
        }
        (429, _) | (503, _) | (_, "SlowDown" | "Throttling" | "RequestLimitExceeded") => {
            let mut e = Error::new(
                ErrorKind::Throttled,
                format!("S3 asked to slow down: {detail}"),
            );
            if let Some(d) = retry_after.and_then(parse_retry_after) {
                e = e.with_retry_after(d);
            }
            e
        }
        (500..=599, _) | (_, "InternalError") => {
            Error::new(ErrorKind::Io, format!("S3 server error: {detail}")).temporary()
        }
        _ => Error::new(
            ErrorKind::Rejected,
            format!("S3 refused the request for `{key}`: {detail}"),
        ),
    };
    err.with_context("status", status)
}

/// Map a transport failure (connect, TLS, reset, timeout): temporary I/O.
pub fn map_transport(e: reqwest::Error, bucket: &str) -> Error {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    Error::new(
        ErrorKind::Io,
        format!("S3 request to bucket `{bucket}` {what}"),
    )
    .temporary()
    .with_source(e)
}

/// `Retry-After`: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::Retry;

    fn body(code: &str) -> S3ErrorBody {
        S3ErrorBody {
            code: code.into(),
            message: "msg".into(),
        }
    }

    #[test]
    fn forbidden_is_permanent_auth() {
        for b in [
            Some(body("SignatureDoesNotMatch")),
            Some(body("AccessDenied")),
            None,
        ] {
            let e = map_status(403, b.as_ref(), None, "bkt", "k");
            assert_eq!(e.kind(), ErrorKind::Auth);
            assert_eq!(e.retry(), Retry::Permanent);
        }
    }

    #[test]
    fn missing_bucket_key_and_upload_are_not_found_and_name_the_bucket() {
        let e = map_status(404, Some(&body("NoSuchBucket")), None, "photos", "k");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().contains("`photos`"), "{e}");
        assert_eq!(
            map_status(404, None, None, "b", "k").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            map_status(404, Some(&body("NoSuchKey")), None, "b", "k").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            map_status(404, Some(&body("NoSuchUpload")), None, "b", "k").kind(),
            ErrorKind::NotFound
        );
        assert!(!map_status(404, None, None, "b", "k").is_temporary());
    }

    #[test]
    fn throttling_is_temporary_with_the_server_hint() {
        let e = map_status(503, Some(&body("SlowDown")), Some("7"), "b", "k");
        assert_eq!(e.kind(), ErrorKind::Throttled);
        assert!(e.is_temporary());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        let e = map_status(429, None, None, "b", "k");
        assert_eq!(e.kind(), ErrorKind::Throttled);
        assert_eq!(e.retry_after(), None);
    }

    #[test]
    fn server_errors_are_temporary_io_and_other_client_errors_rejected() {
        let e = map_status(500, Some(&body("InternalError")), None, "b", "k");
        assert_eq!((e.kind(), e.is_temporary()), (ErrorKind::Io, true));
        let e = map_status(502, None, None, "b", "k");
        assert_eq!((e.kind(), e.is_temporary()), (ErrorKind::Io, true));
        let e = map_status(400, Some(&body("EntityTooSmall")), None, "b", "k");
        assert_eq!((e.kind(), e.is_temporary()), (ErrorKind::Rejected, false));
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
