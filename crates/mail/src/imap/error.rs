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
//!
//! Exchange Online's replies carry no response codes; they are read by their text (see [`exchange_error`]):
//!
//! | Exchange's reply | kind | retry |
//! |---|---|---|
//! | `NO Request is throttled. Suggested Backoff Time: N milliseconds` | `Throttled`, wait ≥ N ms | temporary |
//! | `BAD User is authenticated but not connected.` | `Auth` (names the likely causes) | permanent |
//! | `BAD Command Argument Error. 11`, `NO Maximum size of appendable message has been exceeded` | `TooLarge` | permanent |
//! | `NO Folder name is reserved` | `Rejected` | permanent |

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
    if let Some(e) = exchange_error(c) {
        return e;
    }
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

/// What Exchange Online says to do when it accepted the token but will not open the mailbox.
pub const NOT_CONNECTED_CAUSES: &str = "Exchange Online accepted the app's token but will not open this mailbox. \
     Likely causes: the app's service principal is not registered in Exchange (New-ServicePrincipal -AppId <app id> \
     -ServiceId <object id of the Enterprise Application, not of the app registration>); the app has no FullAccess \
     on the mailbox (Add-MailboxPermission -Identity <mailbox> -User <service principal id> -AccessRights \
     FullAccess); the mailbox does not exist or is not licensed yet; or IMAP is disabled for it \
     (Set-CASMailbox -ImapEnabled $true)";

/// What to change when Exchange refuses a message as too large or badly formed.
pub const ARGUMENT_ERROR_ADVICE: &str = "Exchange Online refused the message (Command Argument Error. 11): it is \
     over the mailbox's size limit or has a line longer than about 10,500 characters. Raise the mailbox's \
     MaxReceiveSize (up to 150 MB) and copy it again, or leave it out with --max-size";

/// Exchange Online's replies, recognised by their text (they carry no response code).
pub fn exchange_error(c: &Completion) -> Option<Error> {
    let text = c.text.trim();
    if let Some(ms) = suggested_backoff(text) {
        return Some(
            Error::new(
                ErrorKind::Throttled,
                format!(
                    "Exchange Online is throttling this mailbox: {}",
                    c.summary()
                ),
            )
            .temporary()
            .with_retry_after(Duration::from_millis(ms)),
        );
    }
    if text.starts_with("User is authenticated but not connected") {
        return Some(
            Error::new(
                ErrorKind::Auth,
                format!("{NOT_CONNECTED_CAUSES} ({})", c.summary()),
            )
            .permanent(),
        );
    }
    if text.starts_with("Command Argument Error. 11")
        || text.starts_with("Maximum size of appendable message has been exceeded")
    {
        return Some(
            Error::new(
                ErrorKind::TooLarge,
                format!("{ARGUMENT_ERROR_ADVICE} ({})", c.summary()),
            )
            .permanent(),
        );
    }
    if text.starts_with("Folder name is reserved") {
        return Some(
            Error::new(
                ErrorKind::Rejected,
                format!("Exchange Online reserves this folder name: {}", c.summary()),
            )
            .permanent(),
        );
    }
    None
}

/// `Request is throttled. Suggested Backoff Time: 299609 milliseconds` → 299609.
pub fn suggested_backoff(text: &str) -> Option<u64> {
    let rest = text.split("Suggested Backoff Time:").nth(1)?;
    let ms = rest.split_whitespace().next()?;
    ms.parse().ok()
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
    fn exchange_replies_map_by_their_text() {
        let c = parse_completion(
            b"a NO Request is throttled. Suggested Backoff Time: 299609 milliseconds\r\n",
        )
        .expect("parses");
        let e = completion_error(Op::Append, &c);
        assert_eq!(
            (e.kind(), e.retry()),
            (ErrorKind::Throttled, Retry::Temporary)
        );
        assert_eq!(e.retry_after(), Some(Duration::from_millis(299_609)));
        let c = parse_completion(b"a BAD User is authenticated but not connected.\r\n")
            .expect("parses");
        let e = completion_error(Op::Examine, &c);
        assert_eq!((e.kind(), e.retry()), (ErrorKind::Auth, Retry::Permanent));
        assert!(e.message().contains("New-ServicePrincipal") && e.message().contains("FullAccess"));
        let c = parse_completion(b"a BAD Command Argument Error. 11\r\n").expect("parses");
        let e = completion_error(Op::Append, &c);
        assert_eq!(
            (e.kind(), e.retry()),
            (ErrorKind::TooLarge, Retry::Permanent)
        );
        assert!(e.message().contains("MaxReceiveSize"));
        assert_eq!(
            map(Op::Create, "a NO Folder name is reserved"),
            (ErrorKind::Rejected, Retry::Permanent)
        );
        assert_eq!(
            suggested_backoff("Request is throttled. Suggested Backoff Time: x"),
            None
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
