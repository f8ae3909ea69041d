//! IMAP → [`ferry_core::Error`] mapping, in one place (STYLE: "each connector maps native errors in one
//! function").
//!
//! | what the server or the network did | kind | retry |
//! |---|---|---|
//! | connection lost, timeout, `* BYE` | `Io` | temporary |
//! | `NO [UNAVAILABLE]`, `[THROTTLED]`, `[LIMIT]`, `[INUSE]`, `[SERVERBUG]` (RFC 5530) | `Throttled` | temporary |
//! | `NO [AUTHENTICATIONFAILED]`, any `NO` to LOGIN/AUTHENTICATE | `Auth` | permanent |
//! | `NO [OVERQUOTA]`, any `NO` to APPEND | `Rejected` | permanent |
//! | `NO [NONEXISTENT]`, `NO [TRYCREATE]`, any `NO` to EXAMINE | `NotFound` | permanent |
//! | `BAD` | `Protocol` | permanent |

use super::proto::{Completion, Status};
use ferry_core::{Error, ErrorKind};
use std::time::Duration;

/// The command family a completion answers; it decides what a bare `NO` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Login,
    Examine,
    Append,
    Create,
    /// Anything else (LIST, FETCH, SEARCH, STATUS…).
    Other,
}

/// Map a non-OK tagged completion to an error.
pub fn completion_error(op: Op, c: &Completion) -> Error {
    let summary = c.summary();
    let code = c.code.as_deref().unwrap_or("");
    if c.status == Status::Bad {
        return Error::new(
            ErrorKind::Protocol,
            format!("the server refused the command: {summary}"),
        )
        .permanent();
    }
    match code {
        "UNAVAILABLE" | "THROTTLED" | "LIMIT" | "INUSE" | "SERVERBUG" => {
            return Error::new(
                ErrorKind::Throttled,
                format!("the server is busy: {summary}"),
            )
            .temporary();
        }
        "AUTHENTICATIONFAILED"
        | "AUTHORIZATIONFAILED"
        | "EXPIRED"
        | "PRIVACYREQUIRED"
        | "CONTACTADMIN" => {
            return auth_error(&summary);
        }
        "OVERQUOTA" => {
            return Error::new(
                ErrorKind::Rejected,
                format!("the target is over quota: {summary}"),
            )
            .permanent();
        }
        "NONEXISTENT" | "TRYCREATE" => {
            return Error::new(ErrorKind::NotFound, format!("no such folder: {summary}"))
                .permanent();
        }
        "NOPERM" => {
            return Error::new(ErrorKind::Auth, format!("permission denied: {summary}"))
                .permanent();
        }
        _ => {}
    }
    match op {
        Op::Login => auth_error(&summary),
        Op::Examine => Error::new(
            ErrorKind::NotFound,
            format!("cannot open the folder: {summary}"),
        )
        .permanent(),
        Op::Append => Error::new(
            ErrorKind::Rejected,
            format!("the target refused the message: {summary}"),
        )
        .permanent(),
        Op::Create => Error::new(
            ErrorKind::Rejected,
            format!("cannot create the folder: {summary}"),
        )
        .permanent(),
        Op::Other => Error::new(
            ErrorKind::Protocol,
            format!("the server answered {summary}"),
        )
        .permanent(),
    }
}

fn auth_error(summary: &str) -> Error {
    Error::new(
        ErrorKind::Auth,
        format!("login failed ({summary}); check the user name and password (and the master user, if one is used)"),
    )
    .permanent()
}

/// The connection failed (reset, closed, TLS error): temporary, the next call reconnects.
pub fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("IMAP connection failed while {what}: {e}"),
    )
    .temporary()
    .with_source(e)
}

/// No answer within the configured timeout.
pub fn timeout_error(what: &str, after: Duration) -> Error {
    Error::new(
        ErrorKind::Io,
        format!(
            "no answer from the IMAP server within {}s while {what}",
            after.as_secs()
        ),
    )
    .temporary()
}

/// The server said `* BYE` outside LOGOUT.
pub fn bye_error(frame: &[u8]) -> Error {
    let text = String::from_utf8_lossy(frame);
    Error::new(
        ErrorKind::Io,
        format!("the IMAP server closed the session: {}", text.trim_end()),
    )
    .temporary()
}

/// The server sent something we cannot frame or understand where an answer was required.
pub fn protocol_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Protocol, message).permanent()
}

#[cfg(test)]
mod tests {
    use super::super::proto::parse_completion;
    use super::*;
    use ferry_core::Retry;

    fn map(op: Op, line: &str) -> (ErrorKind, Retry) {
        let c = parse_completion(format!("{line}\r\n").as_bytes()).expect("test line parses");
        let e = completion_error(op, &c);
        (e.kind(), e.retry())
    }

    #[test]
    fn server_answers_map_to_kinds_and_retry() {
        use ErrorKind::*;
        use Retry::*;
        assert_eq!(
            map(Op::Other, "a NO [UNAVAILABLE] try later"),
            (Throttled, Temporary)
        );
        assert_eq!(
            map(Op::Append, "a NO [THROTTLED] slow down"),
            (Throttled, Temporary)
        );
        assert_eq!(
            map(Op::Examine, "a NO [INUSE] locked"),
            (Throttled, Temporary)
        );
        assert_eq!(
            map(Op::Other, "a NO [LIMIT] too many"),
            (Throttled, Temporary)
        );
        assert_eq!(
            map(Op::Other, "a NO [SERVERBUG] oops"),
            (Throttled, Temporary)
        );
        assert_eq!(
            map(
                Op::Login,
                "a NO [AUTHENTICATIONFAILED] Authentication failed."
            ),
            (Auth, Permanent)
        );
        assert_eq!(map(Op::Login, "a NO nope"), (Auth, Permanent));
        assert_eq!(
            map(Op::Append, "a NO [OVERQUOTA] full"),
            (Rejected, Permanent)
        );
        assert_eq!(
            map(Op::Append, "a NO message too big"),
            (Rejected, Permanent)
        );
        assert_eq!(
            map(Op::Other, "a NO [NONEXISTENT] no such mailbox"),
            (NotFound, Permanent)
        );
        assert_eq!(
            map(Op::Examine, "a NO Mailbox doesn't exist: X"),
            (NotFound, Permanent)
        );
        assert_eq!(
            map(Op::Append, "a NO [TRYCREATE] Mailbox doesn't exist"),
            (NotFound, Permanent)
        );
        assert_eq!(
            map(Op::Other, "a BAD Error in IMAP command"),
            (Protocol, Permanent)
        );
        assert_eq!(
            map(Op::Append, "a BAD [THROTTLED] odd"),
            (Protocol, Permanent)
        );
    }

    #[test]
    fn auth_errors_say_what_to_check_and_io_errors_are_temporary() {
        let c = parse_completion(b"a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
            .expect("parses");
        assert!(
            completion_error(Op::Login, &c)
                .message()
                .contains("check the user name and password")
        );
        let e = io_error(
            "reading",
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"),
        );
        assert_eq!((e.kind(), e.retry()), (ErrorKind::Io, Retry::Temporary));
        let e = timeout_error("reading", Duration::from_secs(120));
        assert!(e.is_temporary() && e.message().contains("120s"));
        assert!(bye_error(b"* BYE Disconnected for inactivity.\r\n").is_temporary());
    }
}
