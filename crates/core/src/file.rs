//! The file connector contract (DESIGN §4): what a file source and a file target must do.
//!
//! Paths are relative to the connector's root, `/`-separated, UTF-8, without a leading `/` (`""` is the
//! root). Any other character is allowed in a name — spaces, `#%&`, leading dots, even TAB and newline —
//! and connectors carry it faithfully (percent-encoding it on the wire where the protocol needs that).
//!
//! Connectors are shared (`&self`, `Send + Sync`): the engine moves many files of one mapping at once over
//! one connector value (an HTTP client pool, an SFTP session with many requests in flight). What a
//! connector can do is declared in [`FileCapability`]; the engine and the conformance suite branch on it.
//! A connector opened [`Access::ReadOnly`](crate::mail::Access) refuses every write with `Unsupported`.

use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// A byte stream being read from a source or written to a target.
pub type FileReader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// Hash algorithms a connector may offer with its listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashKind {
    Md5,
    Sha1,
    Sha256,
    /// OneDrive's and SharePoint's content hash (160 bits; carried as lower-case hex like the others).
    QuickXor,
}

/// What a file connector can do. Everything is `false`/`None` by default ("unsupported").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCapability {
    /// Can create folders and write files (false when opened read-only).
    pub write: bool,
    /// Listing comes in pages with a continuation token (large folders are never held whole).
    pub paged_list: bool,
    /// `write` keeps the modification time it is given.
    pub set_mtime: bool,
    /// Listings and `stat` report this hash without reading the content.
    pub hash: Option<HashKind>,
    /// A write becomes visible only when complete (no partial file is ever visible).
    pub atomic_write: bool,
    /// Interrupted large writes resume mid-file (S3 multipart); see [`ResumableUpload`].
    pub resumable_write: bool,
    /// Largest file the service accepts, if it has a limit.
    pub max_file_size: Option<u64>,
    /// Listings and writes report an [`FileEntry::etag`]: a version tag the service changes whenever the
    /// content changes (an HTTP `ETag`), so an edit on the target is seen even when it keeps size and mtime.
    pub etag: bool,
}

/// What a listed entry is. Sources list every entry they hold, so nothing is left out silently: the
/// engine copies files and folders and accounts for the rest (skipped, with the reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    /// A symbolic link, not followed (a connector that follows links lists what they point to).
    Symlink,
    /// A FIFO, socket or device: not file content.
    Special,
    /// An entry whose name the protocol cannot carry byte for byte (a name that is not UTF-8 from an SFTP
    /// server: the SFTP library decodes names as UTF-8 text). Listed so it is accounted for; it cannot be
    /// read, and a folder's content cannot be listed.
    Undecodable,
}

/// One listed entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative path from the connector's root (`a/b/c.txt`).
    pub path: String,
    pub kind: EntryKind,
    /// Bytes (0 for directories).
    pub size: u64,
    /// Modification time, when the service reports one (second precision or better).
    pub mtime: Option<DateTime<Utc>>,
    /// Lower-case hex digest of the content, of the kind in [`FileCapability::hash`].
    pub hash: Option<String>,
    /// The service's version tag of this entry (an HTTP `ETag`, without quotes or `W/`), where
    /// [`FileCapability::etag`]: it changes whenever the content changes.
    #[serde(default)]
    pub etag: Option<String>,
    /// Creation time, where the service reports one: a local disk's birth time (`statx`), WebDAV's
    /// `creationdate`, Graph's `fileSystemInfo.createdDateTime`; SFTP and S3 have none. A target that
    /// can keep it ([`FileConnector::write_created`]) is given the source's.
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
}

impl FileEntry {
    /// The last path segment.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// A page of a listing.
#[derive(Clone, Debug, Default)]
pub struct ListPage {
    pub entries: Vec<FileEntry>,
    /// Pass back to `list` for the next page; `None` when this was the last.
    pub next: Option<String>,
}

/// A file source or target. See the module docs.
///
/// # Behavior (each bullet is checked by the file conformance suite in `ferry-testkit`)
/// - `list(dir, token)` returns the entries directly inside `dir` (not recursive), in pages; an empty
///   directory yields no entries; a missing directory is `NotFound`. Entry paths are full relative paths.
/// - `stat` of a missing path is `Ok(None)`.
/// - `read(path)` streams the exact bytes; a missing file is `NotFound`.
/// - `create_dir` of an existing directory succeeds; parents are created as needed.
/// - `write(path, size, mtime, data)` creates parent directories, writes exactly `size` bytes from `data`
///   (fewer or more is an error and leaves no visible partial file when `atomic_write`), keeps `mtime` when
///   `set_mtime`, replaces an existing file, and returns the entry as the target now reports it.
/// - On a connector opened read-only, `create_dir` and `write` fail with `Unsupported`.
#[async_trait]
pub trait FileConnector: Send + Sync {
    fn capability(&self) -> FileCapability;

    /// A description for logs and reports, without secrets (`webdav://127.0.0.1:8080/share`).
    fn describe(&self) -> String;

    /// One page of the entries directly inside `dir` (`""` for the root).
    async fn list(&self, dir: &str, token: Option<String>) -> Result<ListPage>;

    /// The entry at `path`, or `None`.
    async fn stat(&self, path: &str) -> Result<Option<FileEntry>>;

    /// Whether the directory `dir` is missing or has no entries (the engine's check that a target
    /// folder still holds what its journal says). The default reads one listing page; connectors whose
    /// listing costs more than one request per page answer with one.
    async fn is_empty_dir(&self, dir: &str) -> Result<bool> {
        match self.list(dir, None).await {
            Ok(page) => Ok(page.entries.is_empty() && page.next.is_none()),
            Err(e) if e.kind() == crate::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Stream a file's content.
    async fn read(&self, path: &str) -> Result<FileReader>;

    /// Create a directory and its parents.
    async fn create_dir(&self, path: &str) -> Result<()>;

    /// Write a file of `size` bytes from `data`.
    async fn write(
        &self,
        path: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
        data: FileReader,
    ) -> Result<FileEntry>;

    /// [`FileConnector::write`], also giving the source's creation time for targets that keep one
    /// (OneDrive/SharePoint's `fileSystemInfo.createdDateTime`). By default the creation time is left to
    /// the target (`write`).
    async fn write_created(
        &self,
        path: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
        created: Option<DateTime<Utc>>,
        data: FileReader,
    ) -> Result<FileEntry> {
        let _ = created;
        self.write(path, size, mtime, data).await
    }

    /// The resumable-upload extension, for connectors with `resumable_write`.
    fn resumable(&self) -> Option<&dyn ResumableUpload> {
        None
    }

    /// The change-feed extension, for targets that can say what changed on them since a pass
    /// (OneDrive/SharePoint's delta). `None` for everything else.
    fn change_feed(&self) -> Option<&dyn ChangeFeed> {
        None
    }

    /// The local-file extension, for connectors over this machine's file system. `None` for everything
    /// else, and for wrappers that change what `read` or `write` do (they must not be bypassed).
    fn local(&self) -> Option<&dyn LocalFiles> {
        None
    }
}

/// A connector over a directory of this machine (a local disk, a mounted share). When both sides of a
/// mapping are local, the engine hands the target batches of source paths instead of streaming each
/// file through a [`FileReader`]: for trees of small files the per-file overhead (a task and a thread
/// hop per step), not the bytes, bounds the rate.
#[async_trait]
pub trait LocalFiles: Send + Sync {
    /// Where the relative `path` is on this machine; `Rejected` for a path that is not relative names.
    fn local_path(&self, path: &str) -> Result<PathBuf>;

    /// Copy local files into this connector, each with [`FileConnector::write`]'s contract (exactly
    /// `size` bytes, `mtime` kept, atomic, parents created, the source only read). One result per file,
    /// in order: one file's failure does not stop the others. Read-only: every file is `Unsupported`.
    async fn copy_in(&self, files: Vec<LocalFile>) -> Vec<Result<FileEntry>>;
}

/// One file for [`LocalFiles::copy_in`].
#[derive(Clone, Debug)]
pub struct LocalFile {
    /// The source file on this machine (from the source's [`LocalFiles::local_path`]).
    pub from: PathBuf,
    /// The target path, relative to the target's root.
    pub path: String,
    pub size: u64,
    pub mtime: Option<DateTime<Utc>>,
}

/// Chunked uploads that survive a crash: the engine keeps `UploadState` in its store between parts, so a
/// re-run continues at the first missing part instead of starting over.
#[async_trait]
pub trait ResumableUpload: Send + Sync {
    /// Part size the connector wants (every part but the last has exactly this size).
    fn part_size(&self) -> u64;
    /// Start an upload; the returned state is opaque to the engine and saved in the store.
    async fn begin(
        &self,
        path: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
    ) -> Result<UploadState>;
    /// [`ResumableUpload::begin`], also giving the source's creation time for targets that keep one
    /// (see [`FileConnector::write_created`]). By default the creation time is left to the target.
    async fn begin_created(
        &self,
        path: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
        created: Option<DateTime<Utc>>,
    ) -> Result<UploadState> {
        let _ = created;
        self.begin(path, size, mtime).await
    }
    /// Parts already stored for this upload (1-based numbers), e.g. after a crash. `NotFound` when the
    /// upload no longer exists (expired or completed), in which case the engine starts over.
    async fn parts_done(&self, state: &UploadState) -> Result<Vec<u32>>;
    /// Upload part `number` (1-based) of `len` bytes.
    async fn put_part(
        &self,
        state: &UploadState,
        number: u32,
        len: u64,
        data: FileReader,
    ) -> Result<()>;
    /// [`ResumableUpload::put_part`] for a part the engine already holds in memory (all of it: `len` is
    /// `data.len()`). Connectors that send a buffer take it as it is, without copying it again, and give
    /// it back once the part is stored (`Some`), so the engine reads a later part into the same memory
    /// instead of a fresh allocation; `None` when it could not be taken back. By default it is handed to
    /// `put_part` as a reader (and not given back).
    async fn put_part_buf(
        &self,
        state: &UploadState,
        number: u32,
        data: Vec<u8>,
    ) -> Result<Option<Vec<u8>>> {
        let len = data.len() as u64;
        self.put_part(state, number, len, Box::new(std::io::Cursor::new(data)))
            .await?;
        Ok(None)
    }
    /// Make the file visible.
    async fn complete(&self, state: &UploadState) -> Result<FileEntry>;
    /// Drop an unfinished upload.
    async fn abort(&self, state: &UploadState) -> Result<()>;
}

/// An in-progress upload, as stored between runs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    pub path: String,
    pub size: u64,
    /// The service's upload id and anything else the connector needs, as text.
    pub token: String,
}

impl fmt::Debug for UploadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UploadState {{ path: {:?}, size: {} }}",
            self.path, self.size
        )
    }
}

/// An HTTP `ETag` as compared: without a weak marker (`W/`) and quotes.
pub fn normalize_etag(raw: &str) -> Option<String> {
    let t = raw.trim();
    let t = t.strip_prefix("W/").unwrap_or(t).trim_matches('"');
    (!t.is_empty()).then(|| t.to_owned())
}

/// The private-use character standing for byte `0x80 + n` of a name that is not UTF-8 (see [`name_from_bytes`]).
const BYTE_ESCAPES: std::ops::RangeInclusive<u32> = 0x10FF80..=0x10FFFF;

/// A file name (or path) as a `String`, whatever its bytes: valid UTF-8 is kept as it is, and each byte
/// of a sequence that is not UTF-8 (old SMB shares in Latin-1, say) becomes the private-use character
/// U+10FF00 + byte (`0xE9` → U+10FFE9). A name that itself contains one of those 128 characters has it
/// written as its own UTF-8 bytes, escaped the same way, so [`name_bytes`] always gives back the original
/// bytes exactly. Targets that store bytes (local paths) write them; others store the characters.
pub fn name_from_bytes(raw: &[u8]) -> String {
    let escape = |b: u8| char::from_u32(0x10FF00 + u32::from(b)).unwrap_or('\u{FFFD}');
    let mut out = String::with_capacity(raw.len() + 8);
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if BYTE_ESCAPES.contains(&u32::from(c)) {
                let mut buf = [0u8; 4];
                out.extend(c.encode_utf8(&mut buf).bytes().map(escape));
            } else {
                out.push(c);
            }
        }
        out.extend(chunk.invalid().iter().copied().map(escape));
    }
    out
}

/// The bytes a name from [`name_from_bytes`] stands for (borrowed when it has no escaped byte).
pub fn name_bytes(name: &str) -> std::borrow::Cow<'_, [u8]> {
    // Every escape is encoded starting with 0xF4: most names are returned as they are.
    if !name.as_bytes().contains(&0xF4) {
        return std::borrow::Cow::Borrowed(name.as_bytes());
    }
    let mut out = Vec::with_capacity(name.len());
    for c in name.chars() {
        let u = u32::from(c);
        if BYTE_ESCAPES.contains(&u) {
            out.push((u - 0x10FF00) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Whether a name carries bytes that are not UTF-8 (escaped by [`name_from_bytes`]).
pub fn has_escaped_bytes(name: &str) -> bool {
    name.as_bytes().contains(&0xF4) && name.chars().any(|c| BYTE_ESCAPES.contains(&u32::from(c)))
}

/// Join a directory and a name into a relative path.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// The parent directory of a relative path (`""` for top-level entries).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_utf8_round_trip_through_strings() {
        let cases: [&[u8]; 6] = [
            b"plain.txt",
            b"caf\xe9.txt",
            b"\xff\xfe\x80",
            "日本\u{10FFE9}x".as_bytes(),
            b"a\xf4\x8f\xbf",
            b"",
        ];
        for raw in cases {
            let s = name_from_bytes(raw);
            assert_eq!(&*name_bytes(&s), raw, "{s:?}");
        }
        assert_eq!(name_from_bytes(b"caf\xe9"), "caf\u{10FFE9}");
        assert!(has_escaped_bytes(&name_from_bytes(b"caf\xe9")));
        assert!(!has_escaped_bytes("café"));
        assert!(matches!(name_bytes("café"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn join_and_parent_are_inverse() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a/b", "c d"), "a/b/c d");
        assert_eq!(parent("a/b/c d"), "a/b");
        assert_eq!(parent("a"), "");
    }
}

/// What a target's change feed says since the last pass.
#[derive(Clone, Debug, Default)]
pub struct TargetChanges {
    /// Files created or edited on the target under the connector's root since the last link, with paths
    /// relative to that root and what the target reports now (size, mtime, ETag, hash).
    pub changed: Vec<FileEntry>,
    /// Items deleted on the target since (the feed may give no path for them).
    pub deleted: u64,
    /// The link the next pass starts from.
    pub delta_link: String,
    /// The feed could not say what changed (no link yet, an expired one, too many changes): a new feed was
    /// started, and the caller compares as it would without one.
    pub resync: bool,
}

/// Which version tags (ETags) of target files are Ferry's own writes, as the journal recorded them right
/// after writing: a change feed read from before a pass reports those writes back, and they are not
/// edits made on the target. A later edit gives the file another tag, so it is still reported.
#[async_trait]
pub trait OwnWrites: Send + Sync {
    /// The tags among `etags` that Ferry recorded for a file it wrote and that was not changed since.
    async fn own(&self, etags: &[String]) -> Result<std::collections::HashSet<String>>;
}

/// A target's change feed (see [`FileConnector::change_feed`]).
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// The changes since `link` (an earlier `latest` or `delta_link`), and the link for next time.
    /// Files whose version tag (ETag) `own` recognises as Ferry's own writes are left out.
    async fn changes_since(&self, link: &str, own: &dyn OwnWrites) -> Result<TargetChanges>;
    /// A link for "from now on".
    async fn latest(&self) -> Result<String>;
}
