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
mod read;
mod write;

use read::{parse_summaries, preview};

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
}
