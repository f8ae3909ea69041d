//! The mail connector contract (DESIGN §4): what a mail source and a mail target must do.
//!
//! One trait serves both sides; a connector opened with [`Access::ReadOnly`] refuses every write with
//! [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported), which is how invariant 1 (the source is never
//! changed) is enforced in code and not only by convention. What a connector can do is declared in
//! [`MailCapability`]; the engine and the conformance suite branch on it, never on the connector's kind.
//!
//! A connector value is one session (one IMAP connection, one open directory): the engine gives each
//! mailbox its own source and target connector and runs many mailboxes at once.

use crate::Result;
use crate::folder::{FolderInfo, FolderPath, SpecialUse};
use async_trait::async_trait;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether a connector may change the store it opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Sources: folders are examined, bodies fetched with `BODY.PEEK`, nothing is written.
    ReadOnly,
    /// Targets.
    ReadWrite,
}

/// What a mail connector can do. Everything is `false` by default ("unsupported").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailCapability {
    /// Can create folders and append messages (false for read-only connectors and read-only formats).
    pub append: bool,
    /// `append` returns the new uid (IMAP UIDPLUS).
    pub append_uid: bool,
    /// Several messages per `append` call travel in one round trip (MULTIAPPEND / LITERAL+ pipelining).
    pub batch_append: bool,
    /// Custom keywords (`$Label1`, `Work`) survive a round trip.
    pub keywords: bool,
    /// The internal date given to `append` is kept.
    pub internal_date: bool,
    /// The connector reports special-use roles from the server (not only guesses from names).
    pub special_use: bool,
    /// `search_message_id` is supported.
    pub search_message_id: bool,
    /// Folders may be nested.
    pub nested_folders: bool,
    /// `set_flags` is supported (targets: IMAP `UID STORE`, Maildir renames).
    pub set_flags: bool,
    /// `flags(folder, Some(modseq))` returns only messages changed since (IMAP CONDSTORE, RFC 7162).
    pub changed_since: bool,
    /// A folder's `uid_validity` stays the same when messages are appended (IMAP servers). Local formats
    /// without a uid list (Maildir, mbox) number messages by position and change `uid_validity` whenever
    /// the set of messages changes, which makes the engine match by content fingerprint instead.
    pub stable_uids: bool,
}

/// The state of a folder, as `STATUS`/`EXAMINE` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderStatus {
    pub uid_validity: u32,
    pub uid_next: u32,
    pub messages: u32,
    pub highest_modseq: Option<u64>,
}

/// What Ferry knows of a message without downloading its body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSummary {
    pub uid: u32,
    /// RFC822.SIZE: the exact byte length of the message.
    pub size: u64,
    /// System flags (`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`) and keywords, as IMAP spells
    /// them; never `\Recent`.
    pub flags: Vec<String>,
    pub internal_date: Option<DateTime<FixedOffset>>,
    /// Normalised Message-ID (see [`crate::fingerprint`]).
    pub message_id: Option<String>,
    /// Content fingerprint (see [`crate::fingerprint`]).
    pub fingerprint: String,
    /// The `From:` header, unfolded (empty when absent): with `subject` and `internal_date`, what a report
    /// shows of a skipped or failed message so people can find it (see [`crate::headline`]).
    #[serde(default)]
    pub from: String,
    /// The `Subject:` header, unfolded (empty when absent).
    #[serde(default)]
    pub subject: String,
}

/// A message's flags, as [`MailConnector::flags`] returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageFlags {
    pub uid: u32,
    /// As in [`MessageSummary::flags`]: system flags and keywords, never `\Recent`.
    pub flags: Vec<String>,
}

/// A message's raw bytes, as fetched.
pub struct RawMessage {
    pub uid: u32,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RawMessage {{ uid: {}, {} bytes }}",
            self.uid,
            self.bytes.len()
        )
    }
}

/// One message to append.
#[derive(Clone, Copy, Debug)]
pub struct AppendRequest<'a> {
    pub bytes: &'a [u8],
    pub flags: &'a [String],
    pub internal_date: Option<DateTime<FixedOffset>>,
}

/// A mail source or target session. See the module docs.
///
/// # Behavior (each bullet is checked by the conformance suite in `ferry-testkit`)
/// - `list_folders` includes `INBOX`; `\Noselect` parents are listed with `selectable: false`.
/// - `folder_status` of a missing folder fails with `NotFound`; it never changes the folder.
/// - `peek_statuses` returns one entry per folder; an answer equals `folder_status`'s, a missing folder has
///   none.
/// - `summaries(folder, uid_from, limit)` returns at most `limit` messages with `uid >= uid_from`, in
///   ascending uid order; an empty page means there are no more.
/// - `fetch` returns the exact bytes that were appended, for the uids that still exist (a uid expunged in
///   the meantime is simply absent from the result), and never sets `\Seen` on the source.
/// - `create_folder` of an existing folder succeeds; parents are created as needed.
/// - `append` returns one result per request, in order: `Ok(Some(uid))` with UIDPLUS, `Ok(None)` without;
///   a message the target refuses is an `Err` for that entry only (kind `Rejected`), the others are kept.
/// - `flags(folder, None)` returns every message's flags; never changes the folder.
/// - `set_flags(folder, uids, flags)` replaces those messages' flags (the others are untouched); the next
///   `flags` or `summaries` shows them.
/// - On a connector opened [`Access::ReadOnly`], `create_folder`, `append` and `set_flags` fail with
///   `Unsupported`.
#[async_trait]
pub trait MailConnector: Send {
    /// What this connector can do.
    fn capability(&self) -> MailCapability;

    /// A description for logs and reports, without secrets (e.g. `imap://alice@127.0.0.1:1143`).
    fn describe(&self) -> String;

    /// All folders, including `INBOX` and non-selectable parents.
    async fn list_folders(&mut self) -> Result<Vec<FolderInfo>>;

    /// The folder's status, opening it read-only.
    async fn folder_status(&mut self, folder: &FolderPath) -> Result<FolderStatus>;

    /// Several folders' status at once where the connector has a cheap way that opens none of them (IMAP:
    /// `STATUS`, pipelined in one round trip): for telling that nothing changed since the last pass. One
    /// entry per folder, in order, `None` where there is no such answer (the default gives none). Reading
    /// a folder still starts with [`MailConnector::folder_status`].
    async fn peek_statuses(&mut self, folders: &[FolderPath]) -> Result<Vec<Option<FolderStatus>>> {
        Ok(vec![None; folders.len()])
    }

    /// A page of summaries: at most `limit` messages with `uid >= uid_from`, ascending.
    async fn summaries(
        &mut self,
        folder: &FolderPath,
        uid_from: u32,
        limit: u32,
    ) -> Result<Vec<MessageSummary>>;

    /// Raw bytes of the given uids (ascending). Missing uids are left out.
    async fn fetch(&mut self, folder: &FolderPath, uids: &[u32]) -> Result<Vec<RawMessage>>;

    /// Create a folder (and its parents); an existing folder is fine. `special_use` is a hint the
    /// connector may pass on (RFC 6154 `CREATE-SPECIAL-USE`).
    async fn create_folder(
        &mut self,
        folder: &FolderPath,
        special_use: Option<SpecialUse>,
    ) -> Result<()>;

    /// Append messages to a folder; one result per request.
    async fn append(
        &mut self,
        folder: &FolderPath,
        messages: &[AppendRequest<'_>],
    ) -> Result<Vec<Result<Option<u32>>>>;

    /// Flags of the messages in `folder`: all of them, or with `changed_since` (needs
    /// `capability().changed_since`) only those whose flags changed after that modseq. Reading only.
    /// The default walks [`MailConnector::summaries`]; connectors with a cheaper way override it.
    async fn flags(
        &mut self,
        folder: &FolderPath,
        changed_since: Option<u64>,
    ) -> Result<Vec<MessageFlags>> {
        let _ = changed_since;
        let mut out = Vec::new();
        let mut from = 1;
        loop {
            let page = self
                .summaries(folder, from, crate::limits::SUMMARY_PAGE)
                .await?;
            let Some(last) = page.last().map(|s| s.uid) else {
                break;
            };
            out.extend(page.into_iter().map(|s| MessageFlags {
                uid: s.uid,
                flags: s.flags,
            }));
            from = match last.checked_add(1) {
                Some(f) => f,
                None => break,
            };
        }
        Ok(out)
    }

    /// Replace the flags of `uids` in `folder` with `flags` (needs `capability().set_flags`).
    async fn set_flags(
        &mut self,
        folder: &FolderPath,
        uids: &[u32],
        flags: &[String],
    ) -> Result<()> {
        let _ = (folder, uids, flags);
        Err(crate::Error::unsupported(format!(
            "{} cannot change flags",
            self.describe()
        )))
    }

    /// Uids of messages in `folder` whose Message-ID is `message_id` (normalised, without `<>`).
    async fn search_message_id(
        &mut self,
        folder: &FolderPath,
        message_id: &str,
    ) -> Result<Vec<u32>>;

    /// Close the session politely (IMAP `LOGOUT`). Dropping without closing is allowed.
    async fn close(&mut self) -> Result<()>;
}

/// A secret string (password, token) that never prints: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; call only where it is sent to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The system flags IMAP defines (RFC 3501 §2.3.2), `\Recent` excluded because no client can set it.
pub const SYSTEM_FLAGS: [&str; 5] = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];

/// True for a system flag (case-insensitive), false for a keyword.
pub fn is_system_flag(flag: &str) -> bool {
    flag.starts_with('\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }
}
