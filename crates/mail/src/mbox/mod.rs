//! mbox files (mboxo/mboxrd, as written by mutt, Thunderbird, Apple Mail, Google Takeout): a mail source.
//!
//! # Folders
//! A path to a file is one folder, INBOX. A path to a directory makes every mbox file in it a folder named
//! after the file (a `.mbox` suffix dropped; `Inbox` in any case is INBOX), and subdirectories nest:
//! Thunderbird's `Name.sbd/` holds the subfolders of `Name`, Apple Mail's `Name.mbox/mbox` is folder `Name`.
//! A subdirectory without a file of the same name is a non-selectable parent. A file is taken for an mbox
//! only if it is empty or starts with `From `, so `.msf` indexes, `.DS_Store` and other junk are skipped
//! (hidden files are skipped by name). A directory without an Inbox file still lists an empty INBOX.
//!
//! # Messages
//! Parsing is in the submodule `parse`: messages start at `From_` lines, `>From` lines are unescaped, bytes are
//! presented as IMAP would (LF → CRLF), flags come from `Status`/`X-Status`/`X-Mozilla-Status`/
//! `X-Keywords`/`X-Mozilla-Keys` and the internal date from the `From_` line (UTC when it has no offset).
//! Headers are otherwise left as stored.
//!
//! # Memory and I/O
//! An mbox may be many gigabytes. On first use of a folder the file is indexed by streaming (on a blocking
//! thread) into one small entry per message (byte range and summary); `fetch` reads only the ranges asked
//! for. Nothing ever holds the whole file.
//!
//! # UIDs
//! uid = 1-based position of the message in the file; `uid_validity` is a stable hash of (path, file
//! length, mtime), so any change to the file re-keys the folder and the engine falls back to content
//! fingerprints. A file that changed under an open connector is indexed again; `fetch` then returns a uid
//! only if the message at that position still has the fingerprint it had, and leaves it out otherwise
//! (like an expunged IMAP uid).
//!
//! This connector never writes: `create_folder` and `append` fail with `Unsupported` whatever the
//! [`Access`] it was opened with.

mod parse;

use crate::maildir::bytes::StableHash;
use async_trait::async_trait;
use ferry_core::fingerprint::normalise_message_id;
use ferry_core::folder::{FolderInfo, FolderPath, SpecialUse};
use ferry_core::mail::{
    Access, AppendRequest, FolderStatus, MailCapability, MailConnector, MessageSummary, RawMessage,
};
use ferry_core::{Error, ErrorKind, Result};
use parse::MboxEntry;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// An mbox file, or a directory tree of them, opened as a mail source. See the module docs.
pub struct MboxConnector {
    root: PathBuf,
    single_file: bool,
    folders: Option<BTreeMap<FolderPath, Folder>>,
    indexes: HashMap<FolderPath, Index>,
}

#[derive(Clone, Debug)]
enum Folder {
    File(PathBuf),
    /// A directory with subfolders but no messages of its own.
    Parent,
    /// INBOX of a directory that has no Inbox file.
    Empty,
}

struct Index {
    /// (length, mtime) of the file when it was indexed.
    stamp: (u64, Option<SystemTime>),
    uid_validity: u32,
    entries: Vec<MboxEntry>,
}

impl MboxConnector {
    /// Open an mbox file or a directory of them. A missing path is `NotFound`. The access mode is
    /// recorded nowhere: mbox is read-only in Ferry either way.
    pub fn open(path: &Path, access: Access) -> Result<MboxConnector> {
        let _ = access;
        let meta = fs::metadata(path).map_err(|e| {
            Error::from(e)
                .with_context("mbox", path.display())
                .with_operation("open")
        })?;
        if !meta.is_file() && !meta.is_dir() {
            return Err(Error::config(format!(
                "{} is neither an mbox file nor a directory",
                path.display()
            )));
        }
        Ok(MboxConnector {
            root: path.to_path_buf(),
            single_file: meta.is_file(),
            folders: None,
            indexes: HashMap::new(),
        })
    }

    /// The file or directory this connector reads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn discover(&mut self) -> Result<&BTreeMap<FolderPath, Folder>> {
        if self.folders.is_none() {
            let mut found = BTreeMap::new();
            if self.single_file {
                found.insert(FolderPath::inbox(), Folder::File(self.root.clone()));
            } else {
                walk(&self.root, &[], &mut found, 0)?;
                for path in found.keys().cloned().collect::<Vec<_>>() {
                    for parent in path.ancestors() {
                        found.entry(parent).or_insert(Folder::Parent);
                    }
                }
                found.entry(FolderPath::inbox()).or_insert(Folder::Empty);
            }
            self.folders = Some(found);
        }
        self.folders
            .as_ref()
            .ok_or_else(|| Error::unexpected("mbox folder list vanished"))
    }

    /// The folder's index, rebuilt when the file changed since it was built.
    async fn index(&mut self, folder: &FolderPath) -> Result<&Index> {
        let source = self.discover()?.get(folder).cloned().ok_or_else(|| {
            Error::new(ErrorKind::NotFound, "no such folder").with_context("folder", folder)
        })?;
        let file = match source {
            Folder::File(f) => f,
            Folder::Empty => {
                self.indexes.insert(
                    folder.clone(),
                    Index {
                        stamp: (0, None),
                        uid_validity: 1,
                        entries: Vec::new(),
                    },
                );
                return self.index_ref(folder);
            }
            Folder::Parent => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    "folder is not selectable (a parent only)",
                )
                .with_context("folder", folder));
            }
        };
        let meta =
            fs::metadata(&file).map_err(|e| Error::from(e).with_context("folder", folder))?;
        let stamp = (meta.len(), meta.modified().ok());
        if self.indexes.get(folder).is_some_and(|i| i.stamp == stamp) {
            return self.index_ref(folder);
        }
        let path = file.clone();
        let entries = tokio::task::spawn_blocking(move || -> Result<Vec<MboxEntry>> {
            let f = File::open(&path)?;
            parse::index(BufReader::with_capacity(256 * 1024, f)).map_err(|e| match e {
                parse::IndexError::Io(e) => e.into(),
                parse::IndexError::CrOnly => Error::new(
                    ErrorKind::Protocol,
                    "this mbox uses CR-only line endings (classic Mac OS); convert it first, e.g. `tr '\\r' '\\n'`",
                ),
            })
        })
        .await
        .map_err(|e| Error::unexpected(format!("mbox indexing task failed: {e}")))?
        .map_err(|e| e.with_operation("index").with_context("folder", folder).with_context("file", file.display()))?;
        let mut h = StableHash::new();
        h.update(file.to_string_lossy().as_bytes());
        h.update(&stamp.0.to_le_bytes());
        let nanos = stamp
            .1
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        h.update(&nanos.to_le_bytes());
        tracing::debug!(%folder, messages = entries.len(), "indexed mbox");
        self.indexes.insert(
            folder.clone(),
            Index {
                stamp,
                uid_validity: h.finish32(),
                entries,
            },
        );
        self.index_ref(folder)
    }

    fn index_ref(&self, folder: &FolderPath) -> Result<&Index> {
        self.indexes
            .get(folder)
            .ok_or_else(|| Error::unexpected("mbox index vanished").with_context("folder", folder))
    }

    fn file_of(&self, folder: &FolderPath) -> Option<PathBuf> {
        match self.folders.as_ref()?.get(folder)? {
            Folder::File(f) => Some(f.clone()),
            _ => None,
        }
    }
}

/// Folder segment for a file or directory name: `.mbox`/`.sbd` dropped, `Inbox` at the top is INBOX.
fn segment(name: &str, depth: usize, suffixes: &[&str]) -> String {
    let mut seg = name;
    for s in suffixes {
        if let Some(stripped) = seg.strip_suffix(s)
            && !stripped.is_empty()
        {
            seg = stripped;
        }
    }
    if depth == 0 && seg.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_owned()
    } else {
        seg.to_owned()
    }
}

/// True for an empty file or one starting with `From `.
fn looks_like_mbox(path: &Path) -> bool {
    let mut head = [0u8; 5];
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return false,
        }
    }
    got == 0 || (got == 5 && &head == b"From ")
}

/// Directory depth beyond which a tree is not followed (guards against symlink loops).
const MAX_DEPTH: usize = 32;

fn walk(
    dir: &Path,
    prefix: &[String],
    found: &mut BTreeMap<FolderPath, Folder>,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        tracing::warn!(dir = %dir.display(), "mbox tree too deep; not followed further");
        return Ok(());
    }
    let mut items: Vec<_> = fs::read_dir(dir)?.collect::<std::io::Result<Vec<_>>>()?;
    items.sort_by_key(|i| i.file_name());
    for item in items {
        let name = item.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = item.path();
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        let mut segs = prefix.to_vec();
        if meta.is_dir() {
            segs.push(segment(&name, depth, &[".sbd", ".mbox"]));
            // Apple Mail: `Name.mbox/mbox` holds the messages of `Name`.
            let apple = path.join("mbox");
            if name.ends_with(".mbox") && apple.is_file() && looks_like_mbox(&apple) {
                found.insert(FolderPath(segs.clone()), Folder::File(apple));
            }
            walk(&path, &segs, found, depth + 1)?;
        } else if meta.is_file() {
            if name == "mbox" && dir.to_string_lossy().ends_with(".mbox") {
                continue; // already taken as the folder of its `.mbox` directory
            }
            if !looks_like_mbox(&path) {
                tracing::debug!(file = %path.display(), "not an mbox (does not start with \"From \"); skipped");
                continue;
            }
            segs.push(segment(&name, depth, &[".mbox", ".mbx"]));
            found.insert(FolderPath(segs), Folder::File(path));
        }
    }
    Ok(())
}

fn not_writable(op: &'static str) -> Error {
    Error::unsupported("mbox is a read-only source in Ferry").with_operation(op)
}

#[async_trait]
impl MailConnector for MboxConnector {
    fn capability(&self) -> MailCapability {
        MailCapability {
            keywords: true,
            search_message_id: true,
            nested_folders: !self.single_file,
            ..MailCapability::default()
        }
    }

    fn describe(&self) -> String {
        format!("mbox:{}", self.root.display())
    }

    async fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
        // Listing is the start of a run: look at the tree again.
        self.folders = None;
        let folders = self
            .discover()
            .map_err(|e| e.with_operation("list_folders"))?;
        let mut out: Vec<FolderInfo> = folders
            .iter()
            .map(|(path, f)| FolderInfo {
                path: path.clone(),
                special_use: match path.segments() {
                    [one] if !path.is_inbox() => SpecialUse::from_well_known_name(one),
                    _ => None,
                },
                selectable: !matches!(f, Folder::Parent),
            })
            .collect();
        out.sort_by_key(|f| !f.path.is_inbox());
        Ok(out)
    }

    async fn folder_status(&mut self, folder: &FolderPath) -> Result<FolderStatus> {
        let idx = self
            .index(folder)
            .await
            .map_err(|e| e.with_operation("folder_status"))?;
        let messages = u32::try_from(idx.entries.len()).unwrap_or(u32::MAX);
        Ok(FolderStatus {
            uid_validity: idx.uid_validity,
            uid_next: messages.saturating_add(1),
            messages,
            highest_modseq: None,
        })
    }

    async fn summaries(
        &mut self,
        folder: &FolderPath,
        uid_from: u32,
        limit: u32,
    ) -> Result<Vec<MessageSummary>> {
        let idx = self
            .index(folder)
            .await
            .map_err(|e| e.with_operation("summaries"))?;
        let start = (uid_from.max(1) - 1) as usize;
        Ok(idx
            .entries
            .iter()
            .enumerate()
            .skip(start)
            .take(limit as usize)
            .map(|(i, e)| MessageSummary {
                uid: u32::try_from(i + 1).unwrap_or(u32::MAX),
                size: e.size,
                flags: e.flags.clone(),
                internal_date: e.internal_date,
                message_id: e.message_id.clone(),
                fingerprint: e.fingerprint.clone(),
                from: e.from.clone(),
                subject: e.subject.clone(),
            })
            .collect())
    }

    async fn fetch(&mut self, folder: &FolderPath, uids: &[u32]) -> Result<Vec<RawMessage>> {
        // The entries the caller's uids refer to (from the last index), to detect a re-keyed file.
        let before: Option<Vec<(u32, String)>> = self.indexes.get(folder).map(|idx| {
            uids.iter()
                .filter_map(|&u| {
                    idx.entries
                        .get((u as usize).checked_sub(1)?)
                        .map(|e| (u, e.fingerprint.clone()))
                })
                .collect()
        });
        let idx = self
            .index(folder)
            .await
            .map_err(|e| e.with_operation("fetch"))?;
        let wanted: Vec<(u32, u64, u64)> = uids
            .iter()
            .filter_map(|&u| {
                let e = idx.entries.get((u as usize).checked_sub(1)?)?;
                let same = match &before {
                    Some(b) => b.iter().any(|(bu, fp)| *bu == u && *fp == e.fingerprint),
                    None => true,
                };
                if !same {
                    tracing::debug!(%folder, uid = u, "mbox changed since listing; uid left out");
                }
                same.then_some((u, e.offset, e.len))
            })
            .collect();
        let Some(file) = self.file_of(folder) else {
            return Ok(Vec::new());
        };
        let mut f = File::open(&file).map_err(|e| {
            Error::from(e)
                .with_operation("fetch")
                .with_context("folder", folder)
        })?;
        let mut out = Vec::with_capacity(wanted.len());
        for (uid, offset, len) in wanted {
            let mut raw = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            f.seek(SeekFrom::Start(offset))?;
            (&mut f).take(len).read_to_end(&mut raw)?;
            out.push(RawMessage {
                uid,
                bytes: parse::present(&raw),
            });
        }
        Ok(out)
    }

    async fn create_folder(
        &mut self,
        _folder: &FolderPath,
        _special_use: Option<SpecialUse>,
    ) -> Result<()> {
        Err(not_writable("create_folder"))
    }

    async fn append(
        &mut self,
        _folder: &FolderPath,
        _messages: &[AppendRequest<'_>],
    ) -> Result<Vec<Result<Option<u32>>>> {
        Err(not_writable("append"))
    }

    async fn search_message_id(
        &mut self,
        folder: &FolderPath,
        message_id: &str,
    ) -> Result<Vec<u32>> {
        let wanted = normalise_message_id(message_id);
        let idx = self.index(folder).await?;
        Ok(idx
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| wanted.is_some() && e.message_id == wanted)
            .map(|(i, _)| u32::try_from(i + 1).unwrap_or(u32::MAX))
            .collect())
    }

    async fn close(&mut self) -> Result<()> {
        self.indexes.clear();
        Ok(())
    }
}
