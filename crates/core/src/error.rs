//! One error type for all of Ferry (modelled on OpenDAL's): a kind, a retry status, the operation, key-value
//! context added by wrappers, and the source error.
//!
//! The engine retries on [`Retry`] alone, never on the kind or the message text.

use std::fmt;
use std::time::Duration;

/// What went wrong, in categories the engine and the CLI act on.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Bad configuration or input from the user (a URL, a CSV row, a flag).
    Config,
    /// Login or authorisation failed.
    Auth,
    /// A folder, message or file that should exist does not.
    NotFound,
    /// The connector cannot do this (see its capability), or was opened read-only.
    Unsupported,
    /// The remote side broke the protocol or answered something we cannot parse.
    Protocol,
    /// Network or file-system I/O failed (including dropped connections and timeouts).
    Io,
    /// The target refused one item (e.g. `NO` to an APPEND); the run goes on.
    Rejected,
    /// An item is over a size limit.
    TooLarge,
    /// The server asked us to slow down.
    Throttled,
    /// The store (SQLite/PostgreSQL) failed.
    Store,
    /// The operation was cancelled.
    Cancelled,
    /// A bug or an unexpected state.
    Unexpected,
}

impl ErrorKind {
    /// A short, stable, snake_case name (used in reports and JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Io => "io",
            ErrorKind::Rejected => "rejected",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Store => "store",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Unexpected => "unexpected",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether trying the same operation again may succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Retrying will not help (bad password, item rejected, unsupported).
    Permanent,
    /// Retrying may help (connection dropped, server busy, throttled).
    Temporary,
}

/// Ferry's error: kind, retry status, message, context and source.
pub struct Error {
    kind: ErrorKind,
    retry: Retry,
    message: String,
    operation: &'static str,
    context: Vec<(&'static str, String)>,
    retry_after: Option<Duration>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Ferry's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error. The retry status defaults by kind: I/O and throttling are temporary, the rest permanent.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let retry = match kind {
            ErrorKind::Io | ErrorKind::Throttled => Retry::Temporary,
            _ => Retry::Permanent,
        };
        Error {
            kind,
            retry,
            message: message.into(),
            operation: "",
            context: Vec::new(),
            retry_after: None,
            source: None,
        }
    }

    /// Shorthand for `Error::new(ErrorKind::Config, ..)`.
    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    /// Shorthand for `Error::new(ErrorKind::Unsupported, ..)`.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unsupported, message)
    }

    /// Shorthand for `Error::new(ErrorKind::Unexpected, ..)`.
    pub fn unexpected(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unexpected, message)
    }

    /// Mark the error temporary (retryable).
    pub fn temporary(mut self) -> Self {
        self.retry = Retry::Temporary;
        self
    }

    /// Mark the error permanent.
    pub fn permanent(mut self) -> Self {
        self.retry = Retry::Permanent;
        self
    }

    /// Record a server hint for how long to wait before retrying (`Retry-After`, Exchange backoff).
    pub fn with_retry_after(mut self, d: Duration) -> Self {
        self.retry_after = Some(d);
        self
    }

    /// Name the operation that failed (`"append"`, `"list_folders"`).
    pub fn with_operation(mut self, op: &'static str) -> Self {
        if self.operation.is_empty() {
            self.operation = op;
        }
        self
    }

    /// Add key-value context (`folder`, `uid`, `endpoint`).
    pub fn with_context(mut self, key: &'static str, value: impl fmt::Display) -> Self {
        self.context.push((key, value.to_string()));
        self
    }

    /// Attach the underlying error.
    pub fn with_source(mut self, src: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(src));
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn retry(&self) -> Retry {
        self.retry
    }

    pub fn is_temporary(&self) -> bool {
        self.retry == Retry::Temporary
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The bare message, without kind or context.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn operation(&self) -> &'static str {
        self.operation
    }

    pub fn context(&self) -> &[(&'static str, String)] {
        &self.context
    }
}

/// Shown to people: the side first (`target: …`, so it is the first thing read), the operation in words
/// (`list folders`, never the function name `list_folders`), the message, then the other context.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sides = self.context.iter().filter(|(k, _)| *k == "side");
        if let Some((_, side)) = sides.next() {
            write!(f, "{side}: ")?;
        }
        if !self.operation.is_empty() {
            write!(f, "{}: ", self.operation.replace('_', " "))?;
        }
        f.write_str(&self.message)?;
        let rest: Vec<_> = self.context.iter().filter(|(k, _)| *k != "side").collect();
        if !rest.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in rest.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}: {v}")?;
            }
            f.write_str(")")?;
        }
        if let Some(src) = &self.source {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({}, {:?}): {}", self.kind, self.retry, self)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorKind::Auth,
            _ => ErrorKind::Io,
        };
        let mut err = Error::new(kind, e.to_string());
        if kind == ErrorKind::NotFound || kind == ErrorKind::Auth {
            err = err.permanent();
        }
        err.with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_temporary_and_config_errors_permanent() {
        let io: Error = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset").into();
        assert!(io.is_temporary());
        assert!(!Error::config("bad").is_temporary());
    }

    #[test]
    fn display_includes_operation_and_context() {
        let e = Error::new(ErrorKind::Rejected, "NO too big")
            .with_operation("append")
            .with_context("folder", "INBOX")
            .with_context("uid", 7);
        assert_eq!(e.to_string(), "append: NO too big (folder: INBOX, uid: 7)");
    }
}

/// `text` (a URL, or a message quoting URLs) with every `user:password@` in a URL's authority turned into
/// `user:***@`. Endpoint parsers quote what the user wrote, and a URL that fails to parse may still hold a
/// password.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '`' | '\'' | '"') || c.is_whitespace())
            .unwrap_or(tail.len());
        let (authority, after) = tail.split_at(end);
        match authority.rsplit_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                out.push_str(&format!("{user}:***@{host}"));
            }
            _ => out.push_str(authority),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod redact_tests {
    use super::redact_url;

    #[test]
    fn a_password_in_a_url_is_hidden_and_everything_else_kept() {
        assert_eq!(
            redact_url("imaps://u:hunter2@h:99999/x?y"),
            "imaps://u:***@h:99999/x?y"
        );
        assert_eq!(redact_url("webdav://u@h/x"), "webdav://u@h/x");
        assert_eq!(redact_url("/srv/share"), "/srv/share");
        assert_eq!(redact_url("sftp://a:b:c@h"), "sftp://a:***@h");
        assert_eq!(
            redact_url("endpoint `imap://a:pw@h:0` is bad; write imap://host or imaps://b:x@h"),
            "endpoint `imap://a:***@h:0` is bad; write imap://host or imaps://b:***@h"
        );
    }
}
