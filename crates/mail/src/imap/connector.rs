//! [`ImapConnector`]: the [`MailConnector`] over one IMAP session.
//!
//! Design choices (and why):
//! - **Read-only by construction.** Folders are only ever opened with `EXAMINE` (RFC 3501 §6.3.2), even on
//!   a read-write target, and bodies are fetched with `BODY.PEEK[]` (§6.4.5), so reading never sets `\Seen`.
//!   `SELECT` is never sent.
//! - **Lazy (re)connection.** The connection is opened on first use. When it dies (I/O error, timeout,
//!   `* BYE`), the failing call returns a temporary `Io` error and the connection is dropped; the next call
//!   reconnects, logs in and re-opens its folder. The engine owns retries and backoff.
//! - **Summaries page by sequence number.** A cursor maps the next uid to its sequence number, so the usual
//!   sequential walk costs one `FETCH lo:hi` round trip per page (O(n) over the folder, bounded memory).
//!   Each page also fetches the message just before the cursor and checks that its uid is below `uid_from`;
//!   if an expunge elsewhere shifted the numbers, the cursor is re-found with `SEARCH RETURN (MIN) UID n:*`
//!   (RFC 4731).
//! - **Pipelined APPEND.** With LITERAL+ (RFC 7888) a batch is written in one go with non-synchronising
//!   literals and the completions are read afterwards.

use super::client::Connection;
use super::error::{Op, completion_error, protocol_error};
use super::proto::{self, Command};
use crate::config::ImapConfig;
use async_trait::async_trait;
use ferry_core::fingerprint::{fingerprint, parse_headers};
use ferry_core::folder::{FolderInfo, FolderPath, SpecialUse};
use ferry_core::mail::{
    Access, AppendRequest, FolderStatus, MailCapability, MailConnector, MessageFlags,
    MessageSummary, RawMessage,
};
use ferry_core::{Error, ErrorKind, Result, utf7};
use imap_proto::{AttributeValue, MailboxDatum, NameAttribute, Response, ResponseCode};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

mod peek;

/// How long a cached `EXAMINE` answer is good for `folder_status` (other sessions may add mail).
const STATUS_CACHE: Duration = Duration::from_secs(30);

/// Commands written per flush when pipelining APPENDs (bounds what both sides buffer).
const PIPELINE_CHUNK: usize = 500;

/// Messages and bytes per MULTIAPPEND command.
const MULTIAPPEND_MESSAGES: usize = 500;
const MULTIAPPEND_BYTES: usize = 16 << 20;

/// The header fields a summary fetches; the same set [`ferry_core::fingerprint`] hashes.
const SUMMARY_ITEMS: &str = "(UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM TO CC SUBJECT)])";

/// An IMAP mail source or target: one value is one session. See the module docs.
pub struct ImapConnector {
    config: ImapConfig,
    access: Access,
    session: Option<Session>,
    /// The server's capabilities as of the last login (kept across reconnects for [`capability`]).
    ///
    /// [`capability`]: MailConnector::capability
    caps: HashSet<String>,
    /// The server suggested a backoff (Exchange's throttling): nothing is sent before this instant, on
    /// this connection or a new one.
    not_before: Option<Instant>,
    /// The adaptive APPEND pace (engaged after the first throttle).
    pace: super::pace::Pace,
}

struct Session {
    conn: Connection,
    /// Exchange Online (`exo://`): reserved folder names are renamed on the wire.
    exchange: bool,
    /// The hierarchy delimiter of the personal namespace (`/` or `.` on Dovecot); `None` until known.
    delimiter: Option<char>,
    examined: Option<Examined>,
    cursor: Option<Cursor>,
}

/// The folder currently open with EXAMINE.
struct Examined {
    name: String,
    status: FolderStatus,
    at: Instant,
    /// We appended to it since: its status must be read again.
    stale: bool,
}

/// Where the next summary page starts: `next_uid` is message number `next_seq`.
#[derive(Debug, Clone)]
struct Cursor {
    name: String,
    uid_validity: u32,
    next_uid: u32,
    next_seq: u32,
}

impl ImapConnector {
    /// A connector for `config`; nothing is sent until the first call (or [`ImapConnector::connect`]).
    pub fn new(config: ImapConfig, access: Access) -> Self {
        ImapConnector {
            config,
            access,
            session: None,
            caps: HashSet::new(),
            not_before: None,
            pace: super::pace::Pace::default(),
        }
    }

    /// Connect and log in now (otherwise the first call does). Afterwards [`MailConnector::capability`]
    /// reflects the server's capabilities.
    pub async fn connect(&mut self) -> Result<()> {
        let r = self.session().await.map(|_| ());
        self.settle(r, "connect")
    }

    /// The server capabilities seen at the last login (upper case), empty before the first connection.
    pub fn server_capabilities(&self) -> &HashSet<String> {
        &self.caps
    }

    async fn session(&mut self) -> Result<&mut Session> {
        if self.session.as_ref().is_some_and(|s| s.conn.broken) {
            self.session = None;
        }
        // A suggested backoff holds for every request to this mailbox, a reconnection included.
        if let Some(until) = self.not_before.take()
            && until > Instant::now()
        {
            tracing::debug!(endpoint = %self.config.describe(), wait_ms = (until - Instant::now()).as_millis() as u64, "waiting out the server's suggested backoff");
            tokio::time::sleep_until(until.into()).await;
        }
        if self.session.is_none() {
            let conn = Connection::open(&self.config).await?;
            tracing::debug!(endpoint = %self.config.describe(), "IMAP session open");
            self.caps = conn.caps.clone();
            self.session = Some(Session {
                conn,
                exchange: self.config.exchange.is_some(),
                delimiter: None,
                examined: None,
                cursor: None,
            });
        }
        self.session
            .as_mut()
            .ok_or_else(|| Error::unexpected("IMAP session vanished"))
    }

    /// Drop a broken connection and name the operation on errors. A suggested backoff seen on the
    /// connection is kept for the next request, and the connection is dropped (Exchange usually closes it
    /// anyway); a connection lost right after one is reported as throttling, with the wait.
    fn settle<T>(&mut self, r: Result<T>, op: &'static str) -> Result<T> {
        let backoff = self
            .session
            .as_mut()
            .and_then(|s| s.conn.backoff_until.take());
        let r = match backoff {
            Some(until) => {
                self.not_before = Some(self.not_before.map_or(until, |n| n.max(until)));
                self.pace.throttled();
                tracing::debug!(endpoint = %self.config.describe(), gap_ms = self.pace.gap().as_millis() as u64, "throttled; pacing appends");
                if let Some(s) = self.session.as_mut() {
                    s.conn.broken = true;
                }
                r.map_err(|e| {
                    if e.kind() == ErrorKind::Io {
                        Error::new(
                            ErrorKind::Throttled,
                            format!(
                                "the server throttled this mailbox and closed the connection ({e})"
                            ),
                        )
                        .temporary()
                        .with_retry_after(until.saturating_duration_since(Instant::now()))
                    } else {
                        e
                    }
                })
            }
            None => r,
        };
        if self.session.as_ref().is_some_and(|s| s.conn.broken) {
            tracing::debug!(endpoint = %self.config.describe(), op, "IMAP connection lost; will reconnect on next call");
            self.session = None;
        }
        r.map_err(|e| e.with_operation(op))
    }

    /// Feed the pace with an APPEND outcome; after a message Exchange refused as too large or badly formed
    /// (`Command Argument Error. 11`), start on a fresh connection.
    fn appended(
        &mut self,
        r: Result<Vec<Result<Option<u32>>>>,
    ) -> Result<Vec<Result<Option<u32>>>> {
        if let Ok(results) = &r {
            let ok = results.iter().filter(|x| x.is_ok()).count() as u32;
            self.pace.accepted(ok);
            let too_large = results
                .iter()
                .any(|x| matches!(x, Err(e) if e.kind() == ErrorKind::TooLarge));
            if too_large && self.config.exchange.is_some() {
                self.session = None;
            }
        }
        r
    }

    fn refuse_write(&self, what: &str) -> Result<()> {
        if self.access == Access::ReadOnly {
            return Err(Error::unsupported(format!(
                "{what}: {} is opened read-only (a migration source is never changed)",
                self.config.describe()
            )));
        }
        Ok(())
    }
}

/// Run `$body` with `$s` bound to the live session, then settle (drop a broken connection).
macro_rules! on_session {
    ($self:ident, $op:literal, $s:ident => $body:expr) => {{
        let r = match $self.session().await {
            Ok($s) => $body,
            Err(e) => Err(e),
        };
        $self.settle(r, $op)
    }};
}

#[async_trait]
impl MailConnector for ImapConnector {
    /// # Behavior
    /// - `append`, `batch_append`: only when opened read-write; `batch_append` needs MULTIAPPEND or
    ///   LITERAL+.
    /// - `append_uid` from UIDPLUS, `special_use` from SPECIAL-USE, as of the last login (before the first
    ///   connection both are `false`; call [`ImapConnector::connect`] first for exact values).
    /// - `keywords` is assumed (Dovecot and most servers allow `\*`; EXAMINE cannot tell).
    fn capability(&self) -> MailCapability {
        let rw = self.access == Access::ReadWrite;
        MailCapability {
            append: rw,
            append_uid: self.caps.contains("UIDPLUS"),
            batch_append: rw
                && (self.caps.contains("MULTIAPPEND") || self.caps.contains("LITERAL+")),
            keywords: true,
            internal_date: true,
            special_use: self.caps.contains("SPECIAL-USE"),
            search_message_id: true,
            nested_folders: true,
            stable_uids: true,
            set_flags: rw,
            changed_since: self.caps.contains("CONDSTORE"),
        }
    }

    fn describe(&self) -> String {
        self.config.describe()
    }

    /// # Behavior
    /// - `LIST "" "*"`, with `RETURN (SPECIAL-USE)` when the server has SPECIAL-USE and LIST-EXTENDED;
    ///   without SPECIAL-USE, roles are guessed from well-known top-level names.
    /// - Names are decoded from modified UTF-7 and split on the server's delimiter.
    /// - `\Noselect` and `\NonExistent` folders are listed with `selectable: false`; missing parents are
    ///   added as non-selectable; INBOX is always listed.
    async fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
        on_session!(self, "list_folders", s => s.list_folders().await)
    }

    /// # Behavior
    /// - EXAMINE (with CONDSTORE when offered, for HIGHESTMODSEQ); a missing folder is `NotFound`.
    /// - The answer is cached for 30 s while the folder stays open, unless we appended to it.
    async fn folder_status(&mut self, folder: &FolderPath) -> Result<FolderStatus> {
        on_session!(self, "folder_status", s => s.folder_status(folder).await)
    }

    /// # Behavior
    /// - One pipelined `STATUS (UIDVALIDITY UIDNEXT MESSAGES [HIGHESTMODSEQ])` per folder (HIGHESTMODSEQ with
    ///   CONDSTORE), 100 per round trip; no folder is opened. The folder open with `EXAMINE` is answered from
    ///   it. `None` for a folder the server refused or that needs a literal name.
    async fn peek_statuses(&mut self, folders: &[FolderPath]) -> Result<Vec<Option<FolderStatus>>> {
        if folders.is_empty() {
            return Ok(Vec::new());
        }
        on_session!(self, "peek_statuses", s => s.peek_statuses(folders).await)
    }

    async fn summaries(
        &mut self,
        folder: &FolderPath,
        uid_from: u32,
        limit: u32,
    ) -> Result<Vec<MessageSummary>> {
        on_session!(self, "summaries", s => s.summaries(folder, uid_from, limit).await)
    }

    /// # Behavior
    /// - One `UID FETCH <set> (UID BODY.PEEK[])` round trip; never sets `\Seen`.
    /// - Uids that no longer exist are left out; the rest come back in ascending uid order.
    async fn fetch(&mut self, folder: &FolderPath, uids: &[u32]) -> Result<Vec<RawMessage>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        on_session!(self, "fetch", s => s.fetch(folder, uids).await)
    }

    /// # Behavior
    /// - Parents are created first; a folder that exists (`NO [ALREADYEXISTS]`, or listed afterwards) is
    ///   success. The role is passed with `CREATE ... (USE (\Sent))` when the server has CREATE-SPECIAL-USE.
    /// - Read-only: `Unsupported`, nothing is sent.
    async fn create_folder(
        &mut self,
        folder: &FolderPath,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        self.refuse_write("create_folder")?;
        on_session!(self, "create_folder", s => s.create_folder(folder, special_use).await)
    }

    /// # Behavior
    /// - One result per request, in order: `Ok(Some(uid))` from `[APPENDUID]`, `Ok(None)` without UIDPLUS,
    ///   `Err` (kind `Rejected`, or `Throttled`/`NotFound` by response code) for a refused message only.
    /// - The bytes are sent exactly as given; `\Recent` and flags that are not atoms are dropped.
    /// - With MULTIAPPEND the batch goes in one APPEND command per 500 messages / 16 MB (one server
    ///   transaction each; a refused batch is retried message by message for per-message results).
    /// - With LITERAL+ (or LITERAL- and messages ≤ 4096 bytes) commands are pipelined: no round trip per
    ///   literal.
    /// - Read-only: `Unsupported`, nothing is sent.
    async fn append(
        &mut self,
        folder: &FolderPath,
        messages: &[AppendRequest<'_>],
    ) -> Result<Vec<Result<Option<u32>>>> {
        self.refuse_write("append")?;
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        if !self.pace.active() {
            let r = on_session!(self, "append", s => s.append(folder, messages).await);
            return self.appended(r);
        }
        // Paced (the server throttled before): one APPEND at a time, the gap between them.
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            self.pace.wait().await;
            let r =
                on_session!(self, "append", s => s.append(folder, std::slice::from_ref(m)).await);
            let one = match self.appended(r) {
                Ok(mut v) => v
                    .pop()
                    .unwrap_or_else(|| Err(Error::unexpected("no APPEND result"))),
                // Lost mid-way: the caller checks the target for what arrived.
                Err(e) => return Err(e),
            };
            let throttled = matches!(&one, Err(e) if e.kind() == ErrorKind::Throttled);
            out.push(one);
            if throttled {
                break;
            }
        }
        // The rest were not sent: ask for them again after the backoff.
        let wait = self
            .not_before
            .map(|n| n.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        while out.len() < messages.len() {
            out.push(Err(Error::new(
                ErrorKind::Throttled,
                "not sent: the server throttled this mailbox; sent again after its suggested backoff",
            )
            .temporary()
            .with_retry_after(wait)));
        }
        Ok(out)
    }

    /// # Behavior
    /// - One `UID FETCH 1:* (UID FLAGS)` on the EXAMINEd folder, with `(CHANGEDSINCE n)` when asked and the
    ///   server has CONDSTORE; `\Recent` is left out.
    async fn flags(
        &mut self,
        folder: &FolderPath,
        changed_since: Option<u64>,
    ) -> Result<Vec<MessageFlags>> {
        on_session!(self, "flags", s => s.flags(folder, changed_since).await)
    }

    /// # Behavior
    /// - `SELECT` (the only place Ferry selects, and only on a target), then one `UID STORE <set>
    ///   FLAGS.SILENT (...)` per 500 uids; the next read EXAMINEs the folder again. Never `CLOSE` (it
    ///   would expunge) and never `EXPUNGE`.
    /// - Read-only: `Unsupported`, nothing is sent.
    async fn set_flags(
        &mut self,
        folder: &FolderPath,
        uids: &[u32],
        flags: &[String],
    ) -> Result<()> {
        self.refuse_write("set_flags")?;
        if uids.is_empty() {
            return Ok(());
        }
        on_session!(self, "set_flags", s => s.set_flags(folder, uids, flags).await)
    }

    /// # Behavior
    /// - `UID SEARCH HEADER Message-ID <id>`, then the hits' Message-IDs are compared exactly (SEARCH
    ///   matches substrings).
    async fn search_message_id(
        &mut self,
        folder: &FolderPath,
        message_id: &str,
    ) -> Result<Vec<u32>> {
        on_session!(self, "search_message_id", s => s.search_message_id(folder, message_id).await)
    }

    async fn close(&mut self) -> Result<()> {
        if let Some(mut s) = self.session.take() {
            // The server may already have gone; closing is best effort.
            if let Err(e) = s.conn.logout().await {
                tracing::debug!("LOGOUT failed: {e}");
            }
        }
        Ok(())
    }
}

impl Session {
    async fn delimiter(&mut self) -> Result<char> {
        if let Some(d) = self.delimiter {
            return Ok(d);
        }
        // RFC 3501 §6.3.8: LIST "" "" returns the hierarchy delimiter of the root.
        let reply = self
            .conn
            .run(Command::new("LIST \"\" \"\""), Op::Other)
            .await?;
        let mut delim = None;
        for f in &reply.untagged {
            if let Ok((_, Response::MailboxData(MailboxDatum::List { delimiter, .. }))) =
                Response::from_bytes(f)
            {
                delim = delimiter.as_deref().and_then(parse_delimiter);
            }
        }
        // A flat server (NIL delimiter) has no hierarchy; `/` keeps segment names apart in one name.
        let d = delim.unwrap_or('/');
        self.delimiter = Some(d);
        Ok(d)
    }

    async fn wire_name(&mut self, folder: &FolderPath) -> Result<String> {
        let d = self.delimiter().await?;
        if self.exchange
            && let Some(first) = folder.segments().first()
            && let Some(renamed) = crate::exo::reserved_rename(first)
        {
            // Exchange refuses the name (`NO Folder name is reserved`): a documented, reversible rename.
            tracing::warn!(
                "folder {folder}: {first:?} is reserved on Exchange Online; written as {renamed:?}"
            );
            return Ok(encode_folder(&folder.with_first_replaced(&[renamed]), d));
        }
        Ok(encode_folder(folder, d))
    }

    /// Apply `* n EXISTS` / `* n EXPUNGE` to the open folder and the cursor (cheap byte checks, no parse).
    fn track(&mut self, frames: &[Vec<u8>]) {
        for f in frames {
            if let Some(n) = untagged_number(f, b"EXISTS") {
                if let Some(e) = self.examined.as_mut() {
                    e.status.messages = n;
                }
            } else if let Some(n) = untagged_number(f, b"EXPUNGE") {
                if let Some(e) = self.examined.as_mut() {
                    e.status.messages = e.status.messages.saturating_sub(1);
                }
                if let Some(c) = self.cursor.as_mut()
                    && n < c.next_seq
                {
                    c.next_seq -= 1;
                }
            }
        }
    }

    async fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
        let server_roles = self.conn.has("SPECIAL-USE");
        let cmd = if server_roles && self.conn.has("LIST-EXTENDED") {
            Command::new("LIST \"\" \"*\" RETURN (SPECIAL-USE)")
        } else {
            Command::new("LIST \"\" \"*\"")
        };
        let reply = self.conn.run(cmd, Op::Other).await?;
        let mut out: Vec<FolderInfo> = Vec::new();
        for f in &reply.untagged {
            let (name_attributes, delimiter, name) = match Response::from_bytes(f) {
                Ok((
                    _,
                    Response::MailboxData(MailboxDatum::List {
                        name_attributes,
                        delimiter,
                        name,
                    }),
                )) => (name_attributes, delimiter, name),
                Ok(_) => continue,
                Err(_) => {
                    tracing::debug!(
                        "skipping an untagged response imap-proto cannot parse: {:?}",
                        preview(f)
                    );
                    continue;
                }
            };
            let delim = delimiter.as_deref().and_then(parse_delimiter);
            if self.delimiter.is_none() {
                self.delimiter = delim;
            }
            let raw = proto::unescape_quoted(&name);
            let decoded = utf7::decode(&raw).unwrap_or_else(|e| {
                tracing::warn!(
                    "folder name {raw:?} is not valid modified UTF-7 ({e}); kept as sent"
                );
                raw.to_string()
            });
            let mut path = match delim {
                Some(d) => FolderPath::parse(&decoded, d),
                None => FolderPath::parse(&decoded, '\u{0}'),
            };
            if self.exchange
                && let Some(first) = path.segments().first()
                && let Some(base) = first.strip_suffix(crate::exo::RESERVED_SUFFIX)
                && crate::exo::reserved_rename(base).is_some()
            {
                path = path.with_first_replaced(&[base.to_owned()]);
            }
            let mut selectable = true;
            let mut role = None;
            for a in &name_attributes {
                match a {
                    NameAttribute::NoSelect => selectable = false,
                    NameAttribute::Extension(x) if x.eq_ignore_ascii_case("\\NonExistent") => {
                        selectable = false
                    }
                    NameAttribute::Sent => role = Some(SpecialUse::Sent),
                    NameAttribute::Drafts => role = Some(SpecialUse::Drafts),
                    NameAttribute::Trash => role = Some(SpecialUse::Trash),
                    NameAttribute::Junk => role = Some(SpecialUse::Junk),
                    NameAttribute::Archive => role = Some(SpecialUse::Archive),
                    _ => {}
                }
            }
            if role.is_none() && !server_roles && path.segments().len() == 1 {
                role = SpecialUse::from_well_known_name(&path.segments()[0]);
            }
            if !out.iter().any(|i| i.path == path) {
                out.push(FolderInfo {
                    path,
                    special_use: role,
                    selectable,
                });
            }
        }
        if !out.iter().any(|i| i.path.is_inbox()) {
            out.insert(
                0,
                FolderInfo {
                    path: FolderPath::inbox(),
                    special_use: None,
                    selectable: true,
                },
            );
        }
        // A parent the server did not list (possible with some layouts) is still a parent.
        let known: HashSet<FolderPath> = out.iter().map(|i| i.path.clone()).collect();
        let mut missing: Vec<FolderPath> = out
            .iter()
            .flat_map(|i| i.path.ancestors())
            .filter(|p| !known.contains(p))
            .collect();
        missing.sort();
        missing.dedup();
        out.extend(missing.into_iter().map(|path| FolderInfo {
            path,
            special_use: None,
            selectable: false,
        }));
        Ok(out)
    }

    async fn examine(&mut self, name: &str) -> Result<FolderStatus> {
        // RFC 3501 §6.3.1: a failed SELECT/EXAMINE leaves no folder open.
        self.examined = None;
        let mut cmd = Command::new("EXAMINE").astring(name);
        if self.conn.has("CONDSTORE") {
            cmd = cmd.raw("(CONDSTORE)");
        }
        let reply = self.conn.run(cmd, Op::Examine).await?;
        let (mut validity, mut next, mut exists, mut modseq) = (None, None, 0u32, None);
        for f in &reply.untagged {
            match Response::from_bytes(f) {
                Ok((_, Response::MailboxData(MailboxDatum::Exists(n)))) => exists = n,
                Ok((
                    _,
                    Response::Data {
                        code: Some(code), ..
                    },
                )) => match code {
                    ResponseCode::UidValidity(v) => validity = Some(v),
                    ResponseCode::UidNext(v) => next = Some(v),
                    ResponseCode::HighestModSeq(v) => modseq = Some(v),
                    _ => {}
                },
                Ok(_) => {}
                Err(_) => tracing::debug!(
                    "skipping an untagged response imap-proto cannot parse: {:?}",
                    preview(f)
                ),
            }
        }
        let uid_validity = validity
            .ok_or_else(|| protocol_error(format!("EXAMINE {name} returned no UIDVALIDITY")))?;
        let uid_next = match next {
            Some(n) => n,
            None => self.status_uid_next(name).await?,
        };
        let status = FolderStatus {
            uid_validity,
            uid_next,
            messages: exists,
            highest_modseq: modseq,
        };
        self.examined = Some(Examined {
            name: name.to_owned(),
            status,
            at: Instant::now(),
            stale: false,
        });
        Ok(status)
    }

    /// Fallback for servers that omit `[UIDNEXT]` from EXAMINE.
    async fn status_uid_next(&mut self, name: &str) -> Result<u32> {
        let reply = self
            .conn
            .run(
                Command::new("STATUS").astring(name).raw("(UIDNEXT)"),
                Op::Other,
            )
            .await?;
        for f in &reply.untagged {
            if let Ok((_, Response::MailboxData(MailboxDatum::Status { status, .. }))) =
                Response::from_bytes(f)
            {
                for a in status {
                    if let imap_proto::StatusAttribute::UidNext(n) = a {
                        return Ok(n);
                    }
                }
            }
        }
        Err(protocol_error(format!(
            "the server reports no UIDNEXT for {name}"
        )))
    }

    async fn ensure_examined(&mut self, name: &str) -> Result<FolderStatus> {
        match &self.examined {
            Some(e) if e.name == name && !e.stale => Ok(e.status),
            _ => self.examine(name).await,
        }
    }

    async fn folder_status(&mut self, folder: &FolderPath) -> Result<FolderStatus> {
        let name = self.wire_name(folder).await?;
        if let Some(e) = &self.examined
            && e.name == name
            && !e.stale
            && e.at.elapsed() < STATUS_CACHE
        {
            return Ok(e.status);
        }
        self.examine(&name).await
    }

    /// The sequence number of the first message with uid ≥ `uid_from`, or `None` if there is none.
    async fn find_seq(&mut self, uid_from: u32) -> Result<Option<u32>> {
        if uid_from <= 1 {
            return Ok(Some(1));
        }
        let esearch = self.conn.has("ESEARCH");
        let cmd = if esearch {
            Command::new("SEARCH RETURN (MIN) UID").raw(&format!("{uid_from}:*"))
        } else {
            Command::new("SEARCH UID").raw(&format!("{uid_from}:*"))
        };
        let reply = self.conn.run(cmd, Op::Other).await?;
        self.track(&reply.untagged);
        let mut min: Option<u32> = None;
        for f in &reply.untagged {
            if let Some(m) = proto::esearch_min(f) {
                min = m;
            } else if let Ok((_, Response::MailboxData(MailboxDatum::Search(v)))) =
                Response::from_bytes(f)
            {
                min = v.into_iter().min();
            }
        }
        Ok(min)
    }

    async fn summaries(
        &mut self,
        folder: &FolderPath,
        uid_from: u32,
        limit: u32,
    ) -> Result<Vec<MessageSummary>> {
        let name = self.wire_name(folder).await?;
        let status = self.ensure_examined(&name).await?;
        let uid_from = uid_from.max(1);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let cursor_start = match &self.cursor {
            Some(c)
                if c.name == name
                    && c.uid_validity == status.uid_validity
                    && c.next_uid == uid_from =>
            {
                Some(c.next_seq)
            }
            _ => None,
        };
        let mut start = match cursor_start {
            Some(s) => s,
            None => match self.find_seq(uid_from).await? {
                Some(s) => s,
                None => return Ok(Vec::new()),
            },
        };
        let mut resynced = cursor_start.is_none();
        loop {
            let exists = self.examined.as_ref().map_or(0, |e| e.status.messages);
            if start == 0 || start > exists {
                return Ok(Vec::new());
            }
            let lo = if start > 1 { start - 1 } else { 1 };
            let hi = (u64::from(start) + u64::from(limit) - 1).min(u64::from(exists)) as u32;
            let cmd = Command::new("FETCH").raw(&format!("{lo}:{hi} {SUMMARY_ITEMS}"));
            let reply = self.conn.run(cmd, Op::Other).await?;
            self.track(&reply.untagged);
            let page = parse_summaries(&reply.untagged);
            // The message before the cursor must be below uid_from, else the numbers shifted under us.
            let aligned = start == 1 || page.get(&lo).is_some_and(|m| m.uid < uid_from);
            if !aligned && !resynced {
                tracing::debug!(folder = %folder, uid_from, "summary cursor out of step; searching again");
                resynced = true;
                match self.find_seq(uid_from).await? {
                    Some(s) => start = s,
                    None => return Ok(Vec::new()),
                }
                continue;
            }
            let out: Vec<(u32, MessageSummary)> = page
                .into_iter()
                .filter(|(seq, m)| *seq >= start && m.uid >= uid_from)
                .take(limit as usize)
                .collect();
            if let Some((seq, last)) = out.last() {
                self.cursor = Some(Cursor {
                    name: name.clone(),
                    uid_validity: status.uid_validity,
                    next_uid: last.uid.saturating_add(1),
                    next_seq: seq + 1,
                });
            }
            return Ok(out.into_iter().map(|(_, m)| m).collect());
        }
    }

    async fn fetch(&mut self, folder: &FolderPath, uids: &[u32]) -> Result<Vec<RawMessage>> {
        let name = self.wire_name(folder).await?;
        self.ensure_examined(&name).await?;
        let set = proto::uid_set(uids);
        if set.is_empty() {
            return Ok(Vec::new());
        }
        let cmd = Command::new("UID FETCH").raw(&format!("{set} (UID BODY.PEEK[])"));
        let reply = self.conn.run_raw(cmd).await?;
        self.track(&reply.untagged);
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let mut got: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        // Frames are consumed one by one and each body reuses its frame's buffer: a batch is held once in
        // memory, not twice (frames plus copies), which is what keeps the byte budget honest.
        for mut f in reply.untagged {
            let found = match Response::from_bytes(&f) {
                Ok((_, Response::Fetch(_, attrs))) => {
                    let mut uid = None;
                    let mut body = None;
                    for a in attrs {
                        match a {
                            AttributeValue::Uid(u) => uid = Some(u),
                            AttributeValue::BodySection {
                                section: None,
                                data: Some(d),
                                ..
                            }
                            | AttributeValue::Rfc822(Some(d)) => body = Some(d),
                            _ => {}
                        }
                    }
                    match (uid, body) {
                        (Some(u), Some(b)) if wanted.contains(&u) => {
                            Some((u, body_in_frame(&f, b)))
                        }
                        _ => None,
                    }
                }
                Ok(_) => None,
                Err(_) => {
                    tracing::debug!(
                        "skipping an untagged response imap-proto cannot parse: {:?}",
                        preview(&f)
                    );
                    None
                }
            };
            if let Some((u, body)) = found {
                let bytes = match body {
                    Body::Range(start, len) => {
                        f.truncate(start + len);
                        f.drain(..start);
                        if f.capacity() > f.len() + f.len() / 2 + 4096 {
                            f.shrink_to_fit();
                        }
                        f
                    }
                    Body::Owned(v) => v,
                };
                got.insert(u, bytes);
            }
        }
        if !reply.done.is_ok() {
            // Dovecot answers `NO` when some requested messages were expunged meanwhile; the rest is good.
            if got.is_empty() || reply.done.status == proto::Status::Bad {
                return Err(completion_error(Op::Other, &reply.done));
            }
            tracing::warn!(folder = %folder, "fetch: {}; returning the {} messages received", reply.done.summary(), got.len());
        }
        Ok(got
            .into_iter()
            .map(|(uid, bytes)| RawMessage { uid, bytes })
            .collect())
    }

    async fn create_folder(
        &mut self,
        folder: &FolderPath,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        if folder.is_inbox() {
            return Ok(());
        }
        // RFC 3501 §6.3.3: the server creates the superiors a name needs, and most make them `\Noselect`
        // parents — which keeps a source's `\Noselect` parent a parent on the target instead of a new
        // mailbox. Only when the server refuses are the ancestors created one by one.
        let Some(refusal) = self.create_one(folder, special_use).await? else {
            return Ok(());
        };
        tracing::debug!(folder = %folder, "CREATE refused ({}); creating its parents first", refusal.summary());
        for anc in folder.ancestors() {
            if !anc.is_inbox() {
                // A parent that cannot be created shows up in the retry below.
                let _ = self.create_one(&anc, None).await?;
            }
        }
        match self.create_one(folder, special_use).await? {
            None => Ok(()),
            Some(done) => Err(completion_error(Op::Create, &done)),
        }
    }

    /// CREATE one folder; `None` when it now exists (created, or there already), else the refusal.
    async fn create_one(
        &mut self,
        path: &FolderPath,
        special_use: Option<SpecialUse>,
    ) -> Result<Option<proto::Completion>> {
        let name = self.wire_name(path).await?;
        let role = special_use.filter(|_| self.conn.has("CREATE-SPECIAL-USE"));
        let mut cmd = Command::new("CREATE").astring(&name);
        if let Some(r) = role {
            // RFC 6154 §3.
            cmd = cmd.raw(&format!("(USE ({}))", r.attribute()));
        }
        let mut reply = self.conn.run_raw(cmd).await?;
        if !reply.done.is_ok() && role.is_some() && reply.done.has_code("USEATTR") {
            tracing::warn!(folder = %path, "the server refused the special-use role: {}", reply.done.summary());
            reply = self
                .conn
                .run_raw(Command::new("CREATE").astring(&name))
                .await?;
        }
        if reply.done.is_ok() || reply.done.has_code("ALREADYEXISTS") {
            return Ok(None);
        }
        if reply.done.status == proto::Status::No && self.exists(&name).await? {
            return Ok(None);
        }
        Ok(Some(reply.done))
    }

    async fn exists(&mut self, name: &str) -> Result<bool> {
        let reply = self
            .conn
            .run(Command::new("LIST \"\"").astring(name), Op::Other)
            .await?;
        Ok(reply.untagged.iter().any(|f| {
            matches!(
                Response::from_bytes(f),
                Ok((_, Response::MailboxData(MailboxDatum::List { .. })))
            )
        }))
    }

    async fn append(
        &mut self,
        folder: &FolderPath,
        messages: &[AppendRequest<'_>],
    ) -> Result<Vec<Result<Option<u32>>>> {
        let name = self.wire_name(folder).await?;
        let out = if self.conn.has("MULTIAPPEND") {
            self.append_multi(&name, messages).await?
        } else {
            self.append_each(&name, messages).await?
        };
        if let Some(e) = self.examined.as_mut()
            && e.name == name
        {
            e.stale = true;
        }
        Ok(out)
    }

    /// MULTIAPPEND (RFC 3502): one APPEND command per batch of messages, one server transaction each.
    /// On Dovecot's Maildir every APPEND transaction rewrites `dovecot-uidlist`, so one command per message
    /// is quadratic in the folder size. A batch is atomic: if the server refuses it, nothing was stored and
    /// its messages are sent again one by one to learn which one it refuses.
    async fn append_multi(
        &mut self,
        name: &str,
        messages: &[AppendRequest<'_>],
    ) -> Result<Vec<Result<Option<u32>>>> {
        let mut batches: Vec<std::ops::Range<usize>> = Vec::new();
        let mut start = 0;
        while start < messages.len() {
            let (mut end, mut bytes) = (start, 0usize);
            while end < messages.len()
                && end - start < MULTIAPPEND_MESSAGES
                && (end == start || bytes + messages[end].bytes.len() <= MULTIAPPEND_BYTES)
            {
                bytes += messages[end].bytes.len();
                end += 1;
            }
            batches.push(start..end);
            start = end;
        }
        let cmds: Vec<Command<'_>> = batches
            .iter()
            .map(|r| multiappend_command(name, &messages[r.clone()]))
            .collect();
        let dones = if self.literal_plus_for(messages) {
            self.conn.pipeline(&cmds).await?
        } else {
            let mut dones = Vec::with_capacity(cmds.len());
            for cmd in cmds {
                let reply = self.conn.run_raw(cmd).await?;
                self.track(&reply.untagged);
                dones.push(reply.done);
            }
            dones
        };
        let mut out = Vec::with_capacity(messages.len());
        for (range, done) in batches.into_iter().zip(dones) {
            if done.is_ok() {
                let uids = done.append_uids(range.len());
                out.extend((0..range.len()).map(|i| Ok(uids.as_ref().map(|u| u[i]))));
            } else {
                tracing::debug!(
                    "MULTIAPPEND of {} messages refused ({}); appending them one by one",
                    range.len(),
                    done.summary()
                );
                out.extend(self.append_each(name, &messages[range]).await?);
            }
        }
        Ok(out)
    }

    /// RFC 7888: LITERAL+ allows non-synchronising literals of any size, LITERAL- up to 4096 bytes.
    fn literal_plus_for(&self, messages: &[AppendRequest<'_>]) -> bool {
        self.conn.has("LITERAL+")
            || (self.conn.has("LITERAL-") && messages.iter().all(|m| m.bytes.len() <= 4096))
    }

    /// One APPEND per message: pipelined with non-synchronising literals when allowed, else one by one.
    async fn append_each(
        &mut self,
        name: &str,
        messages: &[AppendRequest<'_>],
    ) -> Result<Vec<Result<Option<u32>>>> {
        let cmds: Vec<Command<'_>> = messages.iter().map(|m| append_command(name, m)).collect();
        let mut out = Vec::with_capacity(messages.len());
        if self.literal_plus_for(messages) {
            for chunk in cmds.chunks(PIPELINE_CHUNK) {
                let (dones, err) = self.conn.pipeline_partial(chunk).await;
                out.extend(dones.iter().map(append_result));
                let Some(e) = err else { continue };
                if !self.conn.ended_by_server() {
                    // Cut without a word: any message in flight may have arrived; the caller checks.
                    return Err(e);
                }
                // The server ended the session (BYE after errors, disconnect after throttling): what it did
                // not complete it did not store; those are sent again on a new connection.
                let wait = self
                    .conn
                    .backoff_until
                    .map(|u| u.saturating_duration_since(Instant::now()));
                while out.len() < messages.len() {
                    // The server's word on when to send again: after its backoff, or at once.
                    out.push(Err(Error::new(
                        ErrorKind::Io,
                        format!("not stored: the server ended the session first ({e}); sent again"),
                    )
                    .temporary()
                    .with_retry_after(wait.unwrap_or_default())));
                }
                return Ok(out);
            }
        } else {
            for cmd in cmds {
                let reply = self.conn.run_raw(cmd).await?;
                self.track(&reply.untagged);
                out.push(append_result(&reply.done));
            }
        }
        Ok(out)
    }

    async fn flags(
        &mut self,
        folder: &FolderPath,
        changed_since: Option<u64>,
    ) -> Result<Vec<MessageFlags>> {
        let name = self.wire_name(folder).await?;
        let status = self.ensure_examined(&name).await?;
        if status.messages == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = Command::new("UID FETCH").raw("1:* (UID FLAGS)");
        if let Some(m) = changed_since.filter(|_| self.conn.has("CONDSTORE")) {
            // RFC 7162 §3.1.4.
            cmd = cmd.raw(&format!("(CHANGEDSINCE {m})"));
        }
        let reply = self.conn.run(cmd, Op::Other).await?;
        self.track(&reply.untagged);
        let mut out = Vec::new();
        for f in &reply.untagged {
            let Ok((_, Response::Fetch(_, attrs))) = Response::from_bytes(f) else {
                continue;
            };
            let (mut uid, mut flags) = (None, None);
            for a in attrs {
                match a {
                    AttributeValue::Uid(u) => uid = Some(u),
                    AttributeValue::Flags(fl) => {
                        flags = Some(
                            fl.into_iter()
                                .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                                .map(|f| f.into_owned())
                                .collect(),
                        )
                    }
                    _ => {}
                }
            }
            if let (Some(uid), Some(flags)) = (uid, flags) {
                out.push(MessageFlags { uid, flags });
            }
        }
        out.sort_by_key(|m| m.uid);
        Ok(out)
    }

    async fn set_flags(
        &mut self,
        folder: &FolderPath,
        uids: &[u32],
        flags: &[String],
    ) -> Result<()> {
        let name = self.wire_name(folder).await?;
        // STORE needs the folder opened read-write; after it, reads must EXAMINE again.
        self.examined = None;
        self.cursor = None;
        self.conn
            .run(Command::new("SELECT").astring(&name), Op::Examine)
            .await?;
        let list: Vec<&str> = flags
            .iter()
            .map(String::as_str)
            .filter(|f| proto::sendable_flag(f))
            .collect();
        for chunk in uids.chunks(500) {
            let cmd = Command::new("UID STORE").raw(&format!(
                "{} FLAGS.SILENT ({})",
                proto::uid_set(chunk),
                list.join(" ")
            ));
            let reply = self.conn.run(cmd, Op::Other).await?;
            self.track(&reply.untagged);
        }
        Ok(())
    }

    async fn search_message_id(
        &mut self,
        folder: &FolderPath,
        message_id: &str,
    ) -> Result<Vec<u32>> {
        let name = self.wire_name(folder).await?;
        self.ensure_examined(&name).await?;
        let id = message_id
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>');
        let mut cmd = Command::new("UID SEARCH");
        if !id.is_ascii() {
            cmd = cmd.raw("CHARSET UTF-8");
        }
        let cmd = cmd.raw("HEADER Message-ID").string(id);
        let reply = self.conn.run(cmd, Op::Other).await?;
        self.track(&reply.untagged);
        let mut hits: Vec<u32> = Vec::new();
        for f in &reply.untagged {
            if let Ok((_, Response::MailboxData(MailboxDatum::Search(v)))) = Response::from_bytes(f)
            {
                hits.extend(v);
            }
        }
        if hits.is_empty() {
            return Ok(hits);
        }
        // SEARCH HEADER is a substring match (RFC 3501 §6.4.4); keep exact matches only.
        let cmd = Command::new("UID FETCH").raw(&format!(
            "{} (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
            proto::uid_set(&hits)
        ));
        let reply = self.conn.run(cmd, Op::Other).await?;
        let mut exact: Vec<u32> = parse_summaries(&reply.untagged)
            .into_values()
            .filter(|m| m.message_id.as_deref() == Some(id))
            .map(|m| m.uid)
            .collect();
        exact.sort_unstable();
        exact.dedup();
        Ok(exact)
    }
}

fn append_command<'a>(name: &str, m: &AppendRequest<'a>) -> Command<'a> {
    append_message(Command::new("APPEND").astring(name), m)
}

/// RFC 3502 §6.3.11: `APPEND mailbox (flags) "date" {n} ... (flags) "date" {n}`.
fn multiappend_command<'a>(name: &str, ms: &[AppendRequest<'a>]) -> Command<'a> {
    ms.iter()
        .fold(Command::new("APPEND").astring(name), append_message)
}

/// Add one message to an APPEND: `(flags) ["date"] literal` (RFC 3501 §6.3.11).
fn append_message<'a>(cmd: Command<'a>, m: &AppendRequest<'a>) -> Command<'a> {
    let mut flags: Vec<&str> = Vec::new();
    for f in m.flags {
        if proto::sendable_flag(f) {
            flags.push(f);
        } else if !f.eq_ignore_ascii_case("\\Recent") {
            tracing::warn!("flag {f:?} is not a valid IMAP keyword; not copied");
        }
    }
    let mut cmd = cmd.raw(&format!("({})", flags.join(" ")));
    if let Some(d) = &m.internal_date {
        cmd = cmd.raw(&format!("\"{}\"", proto::format_internal_date(d)));
    }
    cmd.literal(m.bytes)
}

fn append_result(done: &proto::Completion) -> Result<Option<u32>> {
    if done.is_ok() {
        Ok(done.append_uid())
    } else {
        Err(completion_error(Op::Append, done).with_operation("append"))
    }
}

/// Encode a folder for the wire: segments joined with the server's delimiter, modified UTF-7.
///
/// A segment that contains the delimiter itself cannot be represented; the delimiter is replaced with `_`
/// (and a warning logged), e.g. `a.b` on a `.` server becomes `a_b`.
pub fn encode_folder(folder: &FolderPath, delimiter: char) -> String {
    if folder.is_inbox() {
        return "INBOX".to_owned();
    }
    let segs: Vec<String> = folder
        .segments()
        .iter()
        .map(|s| {
            if s.contains(delimiter) {
                let fixed = s.replace(delimiter, "_");
                tracing::warn!("folder segment {s:?} contains the server's delimiter {delimiter:?}; written as {fixed:?}");
                fixed
            } else {
                s.clone()
            }
        })
        .collect();
    utf7::encode(&FolderPath(segs).join(delimiter))
}

fn parse_delimiter(d: &str) -> Option<char> {
    let d = proto::unescape_quoted(d);
    d.chars().next()
}

/// `* 12 EXISTS` → `Some(12)` for `word = EXISTS`.
fn untagged_number(frame: &[u8], word: &[u8]) -> Option<u32> {
    let rest = frame.strip_prefix(b"* ")?;
    let sp = rest.iter().position(|&b| b == b' ')?;
    let n: u32 = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
    let tail = rest[sp + 1..].strip_suffix(b"\r\n")?;
    tail.eq_ignore_ascii_case(word).then_some(n)
}

/// Summaries from FETCH responses, keyed by sequence number (several responses for one message merge).
fn parse_summaries(frames: &[Vec<u8>]) -> BTreeMap<u32, MessageSummary> {
    #[derive(Default)]
    struct Partial {
        uid: Option<u32>,
        size: Option<u32>,
        flags: Vec<String>,
        date: Option<chrono::DateTime<chrono::FixedOffset>>,
        header: Option<Vec<u8>>,
    }
    let mut parts: BTreeMap<u32, Partial> = BTreeMap::new();
    for f in frames {
        let (seq, attrs) = match Response::from_bytes(f) {
            Ok((_, Response::Fetch(seq, attrs))) => (seq, attrs),
            Ok(_) => continue,
            Err(_) => {
                tracing::debug!(
                    "skipping an untagged response imap-proto cannot parse: {:?}",
                    preview(f)
                );
                continue;
            }
        };
        let p = parts.entry(seq).or_default();
        for a in attrs {
            match a {
                AttributeValue::Uid(u) => p.uid = Some(u),
                AttributeValue::Rfc822Size(s) => p.size = Some(s),
                AttributeValue::Flags(fl) => {
                    p.flags = fl
                        .into_iter()
                        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                        .map(|f| f.into_owned())
                        .collect();
                }
                AttributeValue::InternalDate(d) => p.date = proto::parse_internal_date(&d),
                AttributeValue::BodySection { data, .. } => {
                    p.header = Some(data.map(|d| d.into_owned()).unwrap_or_default())
                }
                _ => {}
            }
        }
    }
    parts
        .into_iter()
        .filter_map(|(seq, p)| {
            let uid = p.uid?;
            let header = p.header.unwrap_or_default();
            let fields = parse_headers(&header);
            let size = u64::from(p.size.unwrap_or(0));
            Some((
                seq,
                MessageSummary {
                    uid,
                    size,
                    flags: p.flags,
                    internal_date: p.date,
                    message_id: fields.message_id.clone(),
                    fingerprint: fingerprint(&fields, size),
                    from: fields.values[2].clone(),
                    subject: fields.values[5].clone(),
                },
            ))
        })
        .collect()
}

fn preview(f: &[u8]) -> String {
    let end = f.len().min(120);
    String::from_utf8_lossy(&f[..end]).into_owned()
}

/// Where a fetched body lies: inside the response frame (the usual case: imap-proto borrows literals) or
/// in its own buffer.
enum Body {
    Range(usize, usize),
    Owned(Vec<u8>),
}

fn body_in_frame(frame: &[u8], body: std::borrow::Cow<'_, [u8]>) -> Body {
    match body {
        std::borrow::Cow::Borrowed(b) => {
            let start = (b.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
            if start <= frame.len() && start + b.len() <= frame.len() {
                Body::Range(start, b.len())
            } else {
                Body::Owned(b.to_vec())
            }
        }
        std::borrow::Cow::Owned(v) => Body::Owned(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_encode_with_delimiter_and_utf7() {
        let p = FolderPath(vec!["Projects".into(), "Ünïcödé".into()]);
        assert_eq!(encode_folder(&p, '/'), "Projects/&ANw-n&AO8-c&APY-d&AOk-");
        assert_eq!(
            encode_folder(&p, '.'),
            format!("Projects.{}", utf7::encode("Ünïcödé"))
        );
        assert_eq!(encode_folder(&FolderPath::inbox(), '.'), "INBOX");
        let dotted = FolderPath(vec!["a.b".into(), "c".into()]);
        assert_eq!(encode_folder(&dotted, '.'), "a_b.c");
        assert_eq!(encode_folder(&dotted, '/'), "a.b/c");
    }

    #[test]
    fn untagged_counts_are_read_without_a_parser() {
        assert_eq!(untagged_number(b"* 12 EXISTS\r\n", b"EXISTS"), Some(12));
        assert_eq!(untagged_number(b"* 3 expunge\r\n", b"EXPUNGE"), Some(3));
        assert_eq!(untagged_number(b"* 3 RECENT\r\n", b"EXISTS"), None);
        assert_eq!(untagged_number(b"* OK x\r\n", b"EXISTS"), None);
    }

    #[test]
    fn summaries_parse_merge_and_drop_recent() {
        let frames = vec![
            b"* 1 FETCH (UID 5 RFC822.SIZE 120 FLAGS (\\Seen \\Recent $Work) INTERNALDATE \"07-Jul-2024 10:00:00 +0200\" BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM TO CC SUBJECT)] {34}\r\nMessage-ID: <a@b>\r\nSubject: hi\r\n\r\n)\r\n".to_vec(),
            b"* 2 FETCH (UID 9 RFC822.SIZE 7 FLAGS () INTERNALDATE \" 1-Jan-2020 00:00:00 +0000\" BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM TO CC SUBJECT)] {2}\r\n\r\n)\r\n".to_vec(),
            b"* garbage that does not parse\r\n".to_vec(),
        ];
        let s = parse_summaries(&frames);
        assert_eq!(s.len(), 2);
        let a = &s[&1];
        assert_eq!((a.uid, a.size), (5, 120));
        assert_eq!(a.flags, ["\\Seen", "$Work"]);
        assert_eq!(a.message_id.as_deref(), Some("a@b"));
        assert_eq!(
            a.internal_date.map(|d| d.to_rfc3339()).as_deref(),
            Some("2024-07-07T10:00:00+02:00")
        );
        assert_eq!(s[&2].message_id, None);
        assert_ne!(s[&1].fingerprint, s[&2].fingerprint);
    }

    #[test]
    fn append_commands_carry_flags_and_date_but_never_recent() {
        let flags = vec![
            "\\Seen".to_owned(),
            "\\Recent".to_owned(),
            "$Label1".to_owned(),
            "bad flag".to_owned(),
        ];
        let date = proto::parse_internal_date("07-Jul-2024 10:00:00 +0200");
        let m = AppendRequest {
            bytes: b"Subject: x\r\n\r\nhi\r\n",
            flags: &flags,
            internal_date: date,
        };
        let c = append_command("Sent Items", &m);
        assert_eq!(
            c.redacted(),
            "APPEND \"Sent Items\" (\\Seen $Label1) \"07-Jul-2024 10:00:00 +0200\" {18}"
        );
    }
}
