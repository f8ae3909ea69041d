//! SFTP (SSH File Transfer Protocol, version 3 as OpenSSH speaks it) as a file source and target, on
//! `russh` + `russh-sftp`.
//!
//! # Sessions and concurrency
//! One SSH connection per connector, with two `sftp` subsystem channels on it: one for file content
//! ([`SftpSession`], whose files pipeline up to 16 reads or writes in flight) and one raw session for
//! metadata and the `posix-rename@openssh.com` extension, which the high-level session does not expose.
//! Both match answers to requests by id, so any number of tasks can use the connector through `&self`
//! at once; SFTP servers answer in order per channel, so a single huge transfer can delay small requests
//! on the content channel, which is why metadata has its own channel. No pool is needed.
//!
//! # Paths
//! Paths are relative to [`SftpConfig::path`]: relative to the login directory unless it starts with
//! `/`. Names are sent as UTF-8 bytes unchanged (spaces, `#%&`, TAB, newline are all fine on POSIX
//! servers); the segments `.` and `..` and empty segments are refused so a path can never leave the root.
//!
//! # Listing
//! `list` reads the whole directory in one page (`paged_list: false`): an SFTP directory handle lives in
//! the server session, so a continuation token could not survive a reconnect. Symlinks and special files
//! are not listed (following them could loop or leave the tree); neither are Ferry's own temporary
//! `.ferry-part-*` files. `stat` uses `lstat` and reports them as absent too.
//!
//! # Writes (atomic, with mtime)
//! `write` streams into `<dir>/.ferry-part-<uuid>`, sets atime and mtime with `SETSTAT`, then renames
//! over the destination with `posix-rename@openssh.com` (replaces atomically). Servers without that
//! extension get a plain `RENAME`, which refuses to replace, so an existing destination is removed first
//! (briefly absent — never partial). A failed write removes its temporary file; a killed process leaves
//! one behind, hidden from `list`. SFTP v3 times are whole seconds in 32 bits: mtimes keep second
//! precision and are clamped to 1970–2106.

mod session;

use crate::config::SftpConfig;
use chrono::{DateTime, TimeZone, Utc};
use ferry_core::file::{EntryKind, FileCapability, FileConnector, FileEntry, FileReader, ListPage};
use ferry_core::mail::Access;
use ferry_core::{Error, ErrorKind, Result};
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::{RawSftpSession, SftpSession};
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Prefix of the temporary files `write` renames into place.
pub const PART_PREFIX: &str = ".ferry-part-";
const POSIX_RENAME: &str = "posix-rename@openssh.com";
/// Bytes moved per read from the source while writing.
const COPY_CHUNK: usize = 256 * 1024;

/// An SFTP directory as a [`FileConnector`]. See the module docs.
pub struct SftpConnector {
    cfg: SftpConfig,
    access: Access,
    /// The open connection; replaced by a new one when the SSH connection has dropped.
    live: tokio::sync::Mutex<Arc<Live>>,
    /// Temp files this connector is writing right now (server paths). Any other `.ferry-part-*` file a
    /// read-write listing meets was left by an interrupted run and is removed.
    in_flight: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// One SSH connection with its two SFTP channels.
struct Live {
    /// Kept so the connection lives as long as the channels; closed on drop.
    ssh: russh::client::Handle<session::HostKeyCheck>,
    files: SftpSession,
    meta: RawSftpSession,
    posix_rename: bool,
}

impl std::fmt::Debug for SftpConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpConnector")
            .field("cfg", &self.cfg)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl SftpConnector {
    /// Connect, check the host key, log in and start the SFTP subsystem (see the module docs).
    pub async fn connect(cfg: SftpConfig, access: Access) -> Result<SftpConnector> {
        let live = Arc::new(open_live(&cfg).await?);
        Ok(SftpConnector {
            cfg,
            access,
            live: tokio::sync::Mutex::new(live),
            in_flight: std::sync::Mutex::new(std::collections::HashSet::new()),
        })
    }

    /// The open connection, after reconnecting if the old one dropped — so the engine's retry of a
    /// temporary error finds a working connector instead of a dead session.
    async fn live(&self) -> Result<Arc<Live>> {
        let mut live = self.live.lock().await;
        if live.ssh.is_closed() {
            tracing::info!(endpoint = %self.cfg.describe(), "SFTP connection dropped; reconnecting");
            *live = Arc::new(open_live(&self.cfg).await?);
        }
        Ok(live.clone())
    }

    fn check_writable(&self, op: &'static str) -> Result<()> {
        match self.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(Error::unsupported(format!(
                "{} is opened read-only (a source is never changed)",
                self.cfg.describe()
            ))
            .with_operation(op)),
        }
    }

    /// The server path of a relative path.
    fn full(&self, rel: &str) -> String {
        let root = self.cfg.path.as_str();
        match (root, rel) {
            ("", "") => ".".to_owned(),
            ("", r) => r.to_owned(),
            (root, "") => root.to_owned(),
            (root, r) if root.ends_with('/') => format!("{root}{r}"),
            (root, r) => format!("{root}/{r}"),
        }
    }
}

impl Live {
    async fn lstat_full(
        &self,
        full: &str,
    ) -> std::result::Result<Option<FileAttributes>, SftpError> {
        match self.meta.lstat(full).await {
            Ok(a) => Ok(Some(a.attrs)),
            Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `mkdir -p` on a server path: creates what is missing, from the deepest existing ancestor down.
    async fn mkdir_p(&self, full: &str) -> Result<()> {
        let mut pending = vec![full.to_owned()];
        while let Some(p) = pending.last().cloned() {
            match self.meta.mkdir(p.as_str(), FileAttributes::empty()).await {
                Ok(_) => {
                    pending.pop();
                }
                Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {
                    match server_parent(&p) {
                        Some(parent) if parent.len() < p.len() => pending.push(parent.to_owned()),
                        _ => return Err(map_sftp(SftpError::Status(s), &p, "create_dir")),
                    }
                }
                // OpenSSH answers FAILURE for "exists"; anything else that is a folder is fine too.
                Err(e) => match self.lstat_full(&p).await {
                    Ok(Some(a)) if entry_kind(&a) == Some(EntryKind::Dir) => {
                        pending.pop();
                    }
                    Ok(Some(_)) => {
                        return Err(Error::new(
                            ErrorKind::Rejected,
                            format!("`{p}` exists and is not a folder"),
                        )
                        .with_operation("create_dir"));
                    }
                    _ => return Err(map_sftp(e, &p, "create_dir")),
                },
            }
        }
        Ok(())
    }

    async fn rename_over(&self, from: &str, to: &str) -> std::result::Result<(), SftpError> {
        if self.posix_rename {
            let mut data = Vec::with_capacity(8 + from.len() + to.len());
            for s in [from, to] {
                data.extend_from_slice(&(s.len() as u32).to_be_bytes());
                data.extend_from_slice(s.as_bytes());
            }
            return match self.meta.extended(POSIX_RENAME, data).await? {
                Packet::Status(s) if s.status_code == StatusCode::Ok => Ok(()),
                Packet::Status(s) => Err(SftpError::Status(s)),
                _ => Err(SftpError::UnexpectedPacket),
            };
        }
        match self.meta.rename(from, to).await {
            Ok(_) => Ok(()),
            Err(first) => {
                // Plain SFTP v3 RENAME refuses to replace: remove the old file, then rename.
                if self
                    .lstat_full(to)
                    .await?
                    .is_some_and(|a| entry_kind(&a) != Some(EntryKind::Dir))
                {
                    self.meta.remove(to).await?;
                    self.meta.rename(from, to).await.map(|_| ())
                } else {
                    Err(first)
                }
            }
        }
    }

    /// Stream `data` into the open temporary file `tmp`: exactly `size` bytes, then set the mtime.
    async fn fill(
        &self,
        mut file: russh_sftp::client::fs::File,
        tmp: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
        data: &mut FileReader,
    ) -> Result<()> {
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut copied: u64 = 0;
        while copied < size {
            let want = usize::try_from(size - copied)
                .unwrap_or(COPY_CHUNK)
                .min(COPY_CHUNK);
            let n = data.read(&mut buf[..want]).await?;
            if n == 0 {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "the source ended after {copied} of {size} bytes (it changed while being copied?)"
                    ),
                ));
            }
            file.write_all(&buf[..n])
                .await
                .map_err(|e| io_to_error(e, tmp))?;
            copied += n as u64;
        }
        if data.read(&mut buf[..1]).await? > 0 {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "the source has more than the expected {size} bytes (it changed while being copied?)"
                ),
            ));
        }
        // Drains the pipelined writes and closes the handle, reporting any write error.
        file.shutdown().await.map_err(|e| io_to_error(e, tmp))?;
        if let Some(t) = mtime {
            let secs = sftp_time(t);
            let attrs = FileAttributes {
                atime: Some(secs),
                mtime: Some(secs),
                ..FileAttributes::empty()
            };
            self.meta
                .setstat(tmp, attrs)
                .await
                .map_err(|e| map_sftp(e, tmp, "set_mtime"))?;
        }
        Ok(())
    }

    /// Write `data` to the server path `dest` in the server folder `dir` (see the module docs).
    async fn write_file(
        &self,
        path: &str,
        dest: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
        data: &mut FileReader,
        tmp: &str,
    ) -> Result<FileEntry> {
        let tmp = tmp.to_owned();
        // The temp file sits in the destination's folder, so the rename never crosses file systems.
        let dir = tmp
            .rsplit_once('/')
            .map(|(d, _)| d.to_owned())
            .unwrap_or_default();
        let dir = dir.as_str();
        let flags = OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE | OpenFlags::EXCLUDE;
        let file = match self.files.open_with_flags(tmp.as_str(), flags).await {
            Ok(f) => f,
            Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {
                self.mkdir_p(dir).await?;
                self.files
                    .open_with_flags(tmp.as_str(), flags)
                    .await
                    .map_err(|e| map_sftp(e, path, "write"))?
            }
            Err(e) => return Err(map_sftp(e, path, "write")),
        };
        let result = match self.fill(file, &tmp, size, mtime, data).await {
            Ok(()) => self
                .rename_over(&tmp, dest)
                .await
                .map_err(|e| map_sftp(e, path, "rename")),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            if let Err(cleanup) = self.meta.remove(tmp.as_str()).await {
                tracing::warn!(tmp, error = %cleanup, "could not remove Ferry's temporary SFTP file");
            }
            return Err(e);
        }
        let mtime = match mtime {
            Some(t) => Utc.timestamp_opt(i64::from(sftp_time(t)), 0).single(),
            None => self
                .lstat_full(dest)
                .await
                .map_err(|e| map_sftp(e, path, "stat"))?
                .and_then(|a| a.mtime)
                .and_then(|m| Utc.timestamp_opt(i64::from(m), 0).single()),
        };
        Ok(FileEntry {
            created: None,
            path: path.to_owned(),
            kind: EntryKind::File,
            size,
            mtime,
            hash: None,
            etag: None,
        })
    }
}

#[async_trait::async_trait]
impl FileConnector for SftpConnector {
    fn capability(&self) -> FileCapability {
        let write = self.access == Access::ReadWrite;
        FileCapability {
            write,
            paged_list: false,
            set_mtime: write,
            hash: None,
            atomic_write: write,
            resumable_write: false,
            max_file_size: None,
            etag: false,
        }
    }

    fn describe(&self) -> String {
        self.cfg.describe()
    }

    async fn list(&self, dir: &str, token: Option<String>) -> Result<ListPage> {
        check_path(dir, true, "list")?;
        if token.is_some() {
            // Listings are one page; a token can only come from a caller's mistake.
            return Ok(ListPage::default());
        }
        let full = self.full(dir);
        let entries = self
            .live()
            .await?
            .files
            .read_dir(full.as_str())
            .await
            .map_err(|e| map_sftp(e, dir, "list"))?;
        let mut page = ListPage::default();
        for e in entries {
            let name = e.file_name();
            if name.starts_with(PART_PREFIX) && self.access == Access::ReadWrite {
                let stale = format!("{}/{name}", full.trim_end_matches('/'));
                let ours = self
                    .in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(&stale);
                if !ours {
                    // Ferry's own leftover from an interrupted write, never user data.
                    match self.live().await?.meta.remove(stale.as_str()).await {
                        Ok(_) => tracing::info!(
                            dir,
                            name,
                            "removed a temp file left by an interrupted run"
                        ),
                        Err(err) => {
                            tracing::warn!(dir, name, error = %err, "cannot remove a leftover temp file")
                        }
                    }
                }
                continue;
            }
            if name.starts_with(PART_PREFIX) || name.contains('/') {
                continue;
            }
            let path = ferry_core::file::join(dir, &name);
            if let Some(mut entry) = to_entry(path, &e.metadata()) {
                // The SFTP library decodes names as UTF-8, replacing what is not with U+FFFD: such a name
                // no longer names anything on the server. It is listed (and so accounted for as a skip)
                // unless the server really has that name.
                if name.contains('\u{FFFD}') && self.stat(&entry.path).await?.is_none() {
                    tracing::info!(
                        dir,
                        name,
                        "a name that is not UTF-8: the SFTP library cannot carry it"
                    );
                    entry.kind = EntryKind::Undecodable;
                    entry.size = 0;
                }
                page.entries.push(entry);
            }
        }
        Ok(page)
    }

    async fn stat(&self, path: &str) -> Result<Option<FileEntry>> {
        check_path(path, true, "stat")?;
        let attrs = self
            .live()
            .await?
            .lstat_full(&self.full(path))
            .await
            .map_err(|e| map_sftp(e, path, "stat"))?;
        Ok(attrs.and_then(|a| to_entry(path.to_owned(), &a)))
    }

    async fn read(&self, path: &str) -> Result<FileReader> {
        check_path(path, false, "read")?;
        let file = self
            .live()
            .await?
            .files
            .open(self.full(path))
            .await
            .map_err(|e| map_sftp(e, path, "read"))?;
        Ok(Box::new(file))
    }

    async fn create_dir(&self, path: &str) -> Result<()> {
        self.check_writable("create_dir")?;
        check_path(path, true, "create_dir")?;
        self.live().await?.mkdir_p(&self.full(path)).await
    }

    async fn write(
        &self,
        path: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
        mut data: FileReader,
    ) -> Result<FileEntry> {
        self.check_writable("write")?;
        check_path(path, false, "write")?;
        let dest = self.full(path);
        let dir = self.full(ferry_core::file::parent(path));
        let tmp = format!(
            "{}/{PART_PREFIX}{}",
            dir.trim_end_matches('/'),
            uuid::Uuid::now_v7().simple()
        );
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tmp.clone());
        let result = match self.live().await {
            Ok(live) => {
                live.write_file(path, &dest, size, mtime, &mut data, &tmp)
                    .await
            }
            Err(e) => Err(e),
        };
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&tmp);
        result.map_err(|e| e.with_operation("write"))
    }
}

/// Connect, check the host key, log in and open both SFTP channels, within the configured timeout.
async fn open_live(cfg: &SftpConfig) -> Result<Live> {
    let timeout = cfg.timeout;
    match tokio::time::timeout(timeout, open_live_inner(cfg)).await {
        Ok(r) => r.map_err(|e| e.with_operation("connect")),
        Err(_) => Err(Error::new(
            ErrorKind::Io,
            format!(
                "connecting to {} timed out after {timeout:?}",
                cfg.describe()
            ),
        )
        .temporary()
        .with_operation("connect")),
    }
}

async fn open_live_inner(cfg: &SftpConfig) -> Result<Live> {
    let ssh = session::open(cfg).await?;
    let secs = cfg.timeout.as_secs().max(1);
    let files_config = russh_sftp::client::Config {
        request_timeout_secs: secs,
        ..Default::default()
    };
    let files = SftpSession::new_with_config(session::sftp_channel(&ssh).await?, files_config)
        .await
        .map_err(|e| map_sftp(e, "", "start"))?;
    let meta = RawSftpSession::new(session::sftp_channel(&ssh).await?);
    meta.set_timeout(secs);
    let version = meta.init().await.map_err(|e| map_sftp(e, "", "start"))?;
    let posix_rename = version
        .extensions
        .get(POSIX_RENAME)
        .is_some_and(|v| v == "1");
    Ok(Live {
        ssh,
        files,
        meta,
        posix_rename,
    })
}

/// Refuse paths that could leave the root or name nothing (`a//b`, `..`, `/abs`).
fn check_path(path: &str, root_ok: bool, op: &'static str) -> Result<()> {
    if path.is_empty() {
        return if root_ok {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Rejected, "the root is not a file").with_operation(op))
        };
    }
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(Error::new(
            ErrorKind::Rejected,
            format!("`{path}` is not a relative path"),
        )
        .with_operation(op));
    }
    Ok(())
}

/// The parent of a server path, if it has one (`/a` → `/`, `a/b` → `a`, `a` → none).
fn server_parent(p: &str) -> Option<&str> {
    match p.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => Some("/"),
        Some((parent, _)) => Some(parent),
        None => None,
    }
}

/// The POSIX file type from the mode bits (`S_IFMT`). Not russh-sftp's `is_regular`/`is_dir`: those test
/// bits with `contains`, and a symlink's type (`0o120000`) contains the regular-file bit (`0o100000`).
fn entry_kind(a: &FileAttributes) -> Option<EntryKind> {
    match a.permissions? & 0o170000 {
        0o040000 => Some(EntryKind::Dir),
        0o100000 => Some(EntryKind::File),
        // Listed so the engine accounts for them (skipped, with the reason); never followed.
        0o120000 => Some(EntryKind::Symlink),
        _ => Some(EntryKind::Special),
    }
}

fn to_entry(path: String, a: &FileAttributes) -> Option<FileEntry> {
    let kind = entry_kind(a)?;
    let size = if kind == EntryKind::File {
        a.size.unwrap_or(0)
    } else {
        0
    };
    let mtime = a
        .mtime
        .and_then(|m| Utc.timestamp_opt(i64::from(m), 0).single());
    Some(FileEntry {
        created: None,
        path,
        kind,
        size,
        mtime,
        hash: None,
        etag: None,
    })
}

/// SFTP v3 times: whole seconds since 1970 in 32 bits.
fn sftp_time(t: DateTime<Utc>) -> u32 {
    u32::try_from(t.timestamp().max(0)).unwrap_or(u32::MAX)
}

fn io_to_error(e: std::io::Error, path: &str) -> Error {
    // russh-sftp wraps its own errors (status codes) in io::Error::other.
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<SftpError>())
    {
        Some(inner) => map_sftp(inner.clone(), path, "write"),
        None => Error::from(e),
    }
}

/// Every russh-sftp failure → a Ferry error, in one place.
fn map_sftp(e: SftpError, path: &str, op: &'static str) -> Error {
    let err = match &e {
        SftpError::Status(s) => match s.status_code {
            StatusCode::NoSuchFile => {
                Error::new(ErrorKind::NotFound, format!("`{path}` not found"))
            }
            // Per-item: one unreadable file must not stop the mapping (Auth would).
            StatusCode::PermissionDenied => Error::new(
                ErrorKind::Rejected,
                format!("permission denied on `{path}`"),
            ),
            StatusCode::NoConnection | StatusCode::ConnectionLost => {
                Error::new(ErrorKind::Io, format!("SFTP connection lost at `{path}`")).temporary()
            }
            StatusCode::OpUnsupported => Error::unsupported(format!(
                "the SFTP server does not support this for `{path}`"
            )),
            StatusCode::BadMessage => Error::new(
                ErrorKind::Protocol,
                format!("the SFTP server rejected a request for `{path}`"),
            ),
            StatusCode::Ok | StatusCode::Eof | StatusCode::Failure => Error::new(
                ErrorKind::Rejected,
                format!("the SFTP server refused `{path}`: {}", s.error_message),
            ),
        },
        SftpError::Timeout => Error::new(
            ErrorKind::Io,
            format!("SFTP request for `{path}` timed out"),
        )
        .temporary(),
        SftpError::IO(_) => {
            Error::new(ErrorKind::Io, format!("SFTP I/O failed at `{path}`")).temporary()
        }
        SftpError::Limited(_) => Error::new(
            ErrorKind::Rejected,
            format!("SFTP server limit hit at `{path}`"),
        ),
        // Mostly "session closed": the channel is gone, a reconnect may help.
        SftpError::UnexpectedBehavior(_) => {
            Error::new(ErrorKind::Io, format!("SFTP session failed at `{path}`")).temporary()
        }
        SftpError::UnexpectedPacket => Error::new(
            ErrorKind::Protocol,
            format!("unexpected SFTP answer for `{path}`"),
        ),
    };
    err.with_operation(op).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh_sftp::protocol::Status;

    fn status(code: StatusCode) -> SftpError {
        SftpError::Status(Status {
            id: 1,
            status_code: code,
            error_message: "m".into(),
            language_tag: "en".into(),
        })
    }

    #[test]
    fn sftp_errors_map_to_kinds_and_retry() {
        assert_eq!(
            map_sftp(status(StatusCode::NoSuchFile), "a", "read").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            map_sftp(status(StatusCode::PermissionDenied), "a", "read").kind(),
            ErrorKind::Rejected
        );
        assert!(map_sftp(status(StatusCode::ConnectionLost), "a", "read").is_temporary());
        assert!(map_sftp(SftpError::Timeout, "a", "read").is_temporary());
        assert!(!map_sftp(status(StatusCode::Failure), "a", "read").is_temporary());
    }

    #[test]
    fn paths_that_leave_the_root_are_refused() {
        for bad in ["..", "a/../b", "a//b", "/etc", "a/", "./a"] {
            assert!(check_path(bad, true, "t").is_err(), "{bad}");
        }
        for good in [
            "",
            "a",
            "a b/#%&/.hidden",
            "tab\there/new\nline",
            "...",
            "ü",
        ] {
            assert!(check_path(good, true, "t").is_ok(), "{good:?}");
        }
        assert!(check_path("", false, "t").is_err());
    }

    #[test]
    fn server_parents_walk_up_to_the_top() {
        assert_eq!(server_parent("/a"), Some("/"));
        assert_eq!(server_parent("/a/b"), Some("/a"));
        assert_eq!(server_parent("a/b"), Some("a"));
        assert_eq!(server_parent("a"), None);
    }

    #[test]
    fn file_types_come_from_the_mode_bits() {
        let attrs = |mode: u32| FileAttributes {
            permissions: Some(mode),
            ..FileAttributes::empty()
        };
        assert_eq!(entry_kind(&attrs(0o100644)), Some(EntryKind::File));
        assert_eq!(entry_kind(&attrs(0o040755)), Some(EntryKind::Dir));
        assert_eq!(
            entry_kind(&attrs(0o120777)),
            Some(EntryKind::Symlink),
            "symlink"
        );
        assert_eq!(
            entry_kind(&attrs(0o010644)),
            Some(EntryKind::Special),
            "FIFO"
        );
        assert_eq!(
            entry_kind(&attrs(0o140755)),
            Some(EntryKind::Special),
            "socket"
        );
        assert_eq!(entry_kind(&FileAttributes::empty()), None);
    }

    #[test]
    fn sftp_times_are_clamped_seconds() {
        let t = Utc
            .timestamp_opt(1_700_000_000, 999_000_000)
            .single()
            .expect("valid");
        assert_eq!(sftp_time(t), 1_700_000_000);
        let before_1970 = Utc.timestamp_opt(-10, 0).single().expect("valid");
        assert_eq!(sftp_time(before_1970), 0);
    }
}
