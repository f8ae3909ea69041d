//! Maildir++ as Dovecot writes it: a mail source (read-only) and a mail target.
//!
//! # Layout
//! The root's `cur/`, `new/` and `tmp/` are INBOX; folder `A/B` is the directory `.A.B` (modified UTF-7
//! segments, `.` as the delimiter; the submodule `layout` has the naming rules). A directory `.A.B` without
//! `.A` makes `A` a non-selectable parent. Special-use roles are guessed from well-known top-level names;
//! Maildir++ has nowhere to record them, so `create_folder` ignores the hint.
//!
//! # UIDs (the rule the engine relies on)
//! Maildir has no UIDs of its own (Dovecot keeps them in `dovecot-uidlist`, which a source may not have and
//! a target must not depend on). Ferry derives them: a folder's messages are sorted by their unique name
//! (the file name before `:`), and the uid is the 1-based position in that order. `uid_validity` is a stable
//! 32-bit hash of the folder path and the whole sorted list of unique names, and `uid_next` is count + 1.
//! So *any* change to the set of messages (added, removed) changes `uid_validity`, and the engine falls back
//! to content fingerprints for that folder: correct always, at the price of a fingerprint comparison on a
//! folder that changed. A flag change (a rename that keeps the unique name) or a move from `new/` to `cur/`
//! keeps the uids.
//!
//! # Snapshots
//! `folder_status`, `search_message_id` and `summaries(uid_from <= 1)` read the directory again; later
//! `summaries` pages and `fetch` use the listing of that read, so the uids of one enumeration stay
//! consistent with the `uid_validity` it reported even if someone else delivers mail meanwhile. A file that
//! was renamed since (flags changed, moved to `cur/`) is found again by its unique name. The connector's own
//! `append` drops the folder's snapshot.
//!
//! # Bytes
//! Messages are presented as IMAP presents them: bare LF becomes CRLF and sizes are CRLF sizes (Dovecot's
//! `W=` when the file name records it and `S=` matches the file, otherwise counted). `append` writes the
//! given bytes unchanged. The internal date is the file's mtime.
//!
//! # Writing
//! A source opened [`Access::ReadOnly`] writes nothing at all: no `tmp/`, no `dovecot-keywords`, no move
//! from `new/` to `cur/`. A target appends by writing into `tmp/`, fsyncing, setting the mtime and renaming
//! into `cur/` (atomic: no partial message is ever visible), then fsyncs `cur/`. Keywords get the lowest
//! free letter in the folder's `dovecot-keywords`; Maildir has 26 letters, so a 27th keyword is dropped
//! from that message with a warning (the message itself is kept). `append` returns `Ok(None)`: the uid of a
//! new message is not known until the folder is listed again.
//!
//! # Trade-offs
//! File I/O is synchronous `std::fs` inside the async methods: local reads of one page are short, and the
//! engine runs connectors on a multi-threaded runtime. A page of summaries reads each message's header block
//! only (plus a full read to count the CRLF size when the file name does not record it).

pub(crate) mod bytes;
mod layout;

use async_trait::async_trait;
use bytes::StableHash;
use chrono::{DateTime, FixedOffset, Utc};
use ferry_core::fingerprint::{fingerprint, normalise_message_id, parse_headers};
use ferry_core::folder::{FolderInfo, FolderPath, SpecialUse};
use ferry_core::mail::{
    Access, AppendRequest, FolderStatus, MailCapability, MailConnector, MessageFlags,
    MessageSummary, RawMessage,
};
use ferry_core::{Error, ErrorKind, Result};
use layout::{FileName, KEYWORDS_FILE, Keywords};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::{self, File, FileTimes};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// Per-process counter that keeps unique names unique within one microsecond.
static UNIQUE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A Maildir++ tree opened as a mail source or target. See the module docs.
pub struct MaildirConnector {
    root: PathBuf,
    access: Access,
    snapshots: HashMap<FolderPath, Snapshot>,
}

/// One read of a folder's `cur/` and `new/`, sorted by unique name (index + 1 = uid).
struct Snapshot {
    dir: PathBuf,
    entries: Vec<Entry>,
    uid_validity: u32,
}

struct Entry {
    unique: String,
    file_name: OsString,
    in_new: bool,
}

/// Where a message file is now, after following a rename.
struct Located {
    file: File,
    letters: String,
    in_new: bool,
    file_size: Option<u64>,
    crlf_size: Option<u64>,
}

impl MaildirConnector {
    /// Open the Maildir at `path`.
    ///
    /// Read-only: the root must exist and look like a Maildir (`cur/`, `new/` or a `.Folder`), else
    /// `NotFound`/`Config`; nothing is created. Read-write: the root and INBOX's `cur/new/tmp` are created.
    pub fn open(path: &Path, access: Access) -> Result<MaildirConnector> {
        match access {
            Access::ReadOnly => {
                let meta = fs::metadata(path).map_err(|e| {
                    Error::from(e)
                        .with_context("maildir", path.display())
                        .with_operation("open")
                })?;
                if !meta.is_dir() {
                    return Err(Error::config(format!(
                        "{} is not a directory, so not a Maildir",
                        path.display()
                    )));
                }
                if !looks_like_maildir(path)? {
                    return Err(Error::config(format!(
                        "{} is not a Maildir: it has no cur/ or new/ and no .Folder directories",
                        path.display()
                    )));
                }
            }
            Access::ReadWrite => {
                for sub in ["cur", "new", "tmp"] {
                    fs::create_dir_all(path.join(sub)).map_err(|e| {
                        Error::from(e)
                            .with_context("maildir", path.display())
                            .with_operation("open")
                    })?;
                }
            }
        }
        Ok(MaildirConnector {
            root: path.to_path_buf(),
            access,
            snapshots: HashMap::new(),
        })
    }

    /// The Maildir's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn require_write(&self, op: &'static str) -> Result<()> {
        match self.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(Error::unsupported(
                "this Maildir is opened read-only (a source)",
            )
            .with_operation(op)),
        }
    }

    fn dir_of(&self, folder: &FolderPath) -> Result<PathBuf> {
        Ok(match layout::folder_dir_name(folder)? {
            None => self.root.clone(),
            Some(name) => self.root.join(name),
        })
    }

    /// The directory of an existing, selectable folder.
    fn existing_dir(&self, folder: &FolderPath) -> Result<PathBuf> {
        let dir = self.dir_of(folder)?;
        if folder.is_inbox() || dir.join("cur").is_dir() {
            Ok(dir)
        } else {
            Err(
                Error::new(ErrorKind::NotFound, "no such folder (or not selectable)")
                    .with_context("folder", folder),
            )
        }
    }

    /// Read the folder's directory again and keep the listing.
    fn rescan(&mut self, folder: &FolderPath) -> Result<&Snapshot> {
        let dir = self.existing_dir(folder)?;
        let snap = scan(folder, dir)?;
        self.snapshots.insert(folder.clone(), snap);
        self.snapshot_ref(folder)
    }

    /// The kept listing, or a fresh one when there is none.
    fn snapshot(&mut self, folder: &FolderPath) -> Result<&Snapshot> {
        if self.snapshots.contains_key(folder) {
            self.snapshot_ref(folder)
        } else {
            self.rescan(folder)
        }
    }

    fn snapshot_ref(&self, folder: &FolderPath) -> Result<&Snapshot> {
        self.snapshots.get(folder).ok_or_else(|| {
            Error::unexpected("folder snapshot vanished").with_context("folder", folder)
        })
    }

    fn append_one(
        &self,
        dir: &Path,
        keywords: &mut Keywords,
        req: &AppendRequest<'_>,
    ) -> Result<()> {
        let (letters, changed) = layout::letters_from_flags(req.flags, keywords);
        if changed {
            // The table is written before the message so no reader sees a letter without its name.
            write_atomically(dir, KEYWORDS_FILE, keywords.render().as_bytes())?;
        }
        let crlf = {
            let mut c = bytes::CrlfCounter::default();
            c.feed(req.bytes);
            c.size()
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let unique = format!(
            "{}.M{:06}P{}Q{}.ferry,S={},W={}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            UNIQUE_COUNTER.fetch_add(1, Ordering::Relaxed),
            req.bytes.len(),
            crlf
        );
        let tmp = dir.join("tmp").join(&unique);
        let dest = dir.join("cur").join(format!("{unique}:2,{letters}"));
        let result = (|| -> std::io::Result<()> {
            let mut f = File::create_new(&tmp)?;
            f.write_all(req.bytes)?;
            if let Some(date) = req.internal_date {
                f.set_times(FileTimes::new().set_modified(SystemTime::from(date)))?;
            }
            f.sync_all()?;
            fs::rename(&tmp, &dest)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(Error::from(e).with_operation("append"));
        }
        Ok(())
    }
}

/// True when `path` has `cur/`, `new/` or at least one `.Folder` directory.
fn looks_like_maildir(path: &Path) -> Result<bool> {
    if path.join("cur").is_dir() || path.join("new").is_dir() {
        return Ok(true);
    }
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        let is_folder = name
            .to_str()
            .and_then(layout::folder_from_dir_name)
            .is_some();
        if is_folder && entry.path().join("cur").is_dir() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Read `cur/` and `new/` of a folder directory once.
fn scan(folder: &FolderPath, dir: PathBuf) -> Result<Snapshot> {
    let mut entries = Vec::new();
    for (sub, in_new) in [("cur", false), ("new", true)] {
        let rd = match fs::read_dir(dir.join(sub)) {
            Ok(rd) => rd,
            // INBOX of a Maildir that only has .Folders, or new/ cleaned up by hand: simply no messages.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::from(e)
                    .with_operation("scan")
                    .with_context("folder", folder));
            }
        };
        for item in rd {
            let item = item?;
            let ft = item.file_type()?;
            if ft.is_dir() {
                continue;
            }
            let file_name = item.file_name();
            let lossy = file_name.to_string_lossy();
            let Some(parsed) = FileName::parse(&lossy) else {
                continue;
            };
            entries.push(Entry {
                unique: parsed.unique.to_owned(),
                file_name: file_name.clone(),
                in_new,
            });
        }
    }
    entries.sort_by(|a, b| (a.unique.as_str(), a.in_new).cmp(&(b.unique.as_str(), b.in_new)));
    let mut h = StableHash::new();
    for seg in folder.segments() {
        h.update(seg.as_bytes());
    }
    h.update(b"\0messages");
    for e in &entries {
        h.update(e.unique.as_bytes());
    }
    Ok(Snapshot {
        dir,
        entries,
        uid_validity: h.finish32(),
    })
}

/// Open a message file; if it was renamed since the snapshot, find it again by its unique name.
fn locate(dir: &Path, entry: &Entry) -> Result<Option<Located>> {
    let open = |in_new: bool, name: &OsString| -> Result<Option<Located>> {
        let sub = if in_new { "new" } else { "cur" };
        match File::open(dir.join(sub).join(name)) {
            Ok(file) => {
                let lossy = name.to_string_lossy();
                let parsed = FileName::parse(&lossy);
                Ok(Some(Located {
                    file,
                    letters: if in_new {
                        String::new()
                    } else {
                        parsed.as_ref().map_or("", |p| p.letters).to_owned()
                    },
                    in_new,
                    file_size: parsed.as_ref().and_then(|p| p.file_size),
                    crlf_size: parsed.as_ref().and_then(|p| p.crlf_size),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    };
    if let Some(found) = open(entry.in_new, &entry.file_name)? {
        return Ok(Some(found));
    }
    for (sub, in_new) in [("cur", false), ("new", true)] {
        let rd = match fs::read_dir(dir.join(sub)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        for item in rd {
            let name = item?.file_name();
            let same =
                FileName::parse(&name.to_string_lossy()).is_some_and(|p| p.unique == entry.unique);
            if same && let Some(found) = open(in_new, &name)? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// Where a message file is now (its name may have changed since the listing): by its unique name.
fn current_path(dir: &Path, entry: &Entry) -> Result<Option<PathBuf>> {
    let sub = if entry.in_new { "new" } else { "cur" };
    let listed = dir.join(sub).join(&entry.file_name);
    if listed.exists() {
        return Ok(Some(listed));
    }
    for sub in ["cur", "new"] {
        let rd = match fs::read_dir(dir.join(sub)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        for item in rd {
            let item = item?;
            let name = item.file_name();
            if FileName::parse(&name.to_string_lossy()).is_some_and(|p| p.unique == entry.unique) {
                return Ok(Some(item.path()));
            }
        }
    }
    Ok(None)
}

fn read_keywords(dir: &Path) -> Result<Keywords> {
    match fs::read(dir.join(KEYWORDS_FILE)) {
        Ok(b) => Ok(Keywords::parse(&String::from_utf8_lossy(&b))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Keywords::default()),
        Err(e) => Err(e.into()),
    }
}

/// Write a small file by writing `tmp/<name>` and renaming it over `dir/<name>`.
fn write_atomically(dir: &Path, name: &str, content: &[u8]) -> Result<()> {
    let n = UNIQUE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir
        .join("tmp")
        .join(format!("{name}.{}.{n}.ferry", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    Ok(result?)
}

fn mtime_of(meta: &fs::Metadata) -> Option<DateTime<FixedOffset>> {
    meta.modified()
        .ok()
        .map(|t| DateTime::<Utc>::from(t).fixed_offset())
}

/// Summary of one located message: header block only, unless the CRLF size must be counted.
fn summarize(uid: u32, mut found: Located, keywords: &Keywords) -> Result<MessageSummary> {
    let meta = found.file.metadata()?;
    let head = bytes::read_header_block(&mut found.file)?;
    let size = match (found.file_size, found.crlf_size) {
        (Some(s), Some(w)) if s == meta.len() => w,
        _ => {
            found.file.seek(SeekFrom::Start(0))?;
            bytes::crlf_size_of(std::io::BufReader::new(&mut found.file))?
        }
    };
    let fields = parse_headers(&head);
    let flags = if found.in_new {
        Vec::new()
    } else {
        layout::flags_from_letters(&found.letters, keywords)
    };
    Ok(MessageSummary {
        uid,
        size,
        flags,
        internal_date: mtime_of(&meta),
        message_id: fields.message_id.clone(),
        fingerprint: fingerprint(&fields, size),
        from: fields.values[2].clone(),
        subject: fields.values[5].clone(),
    })
}

fn uid_of(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

#[async_trait]
impl MailConnector for MaildirConnector {
    fn capability(&self) -> MailCapability {
        let write = self.access == Access::ReadWrite;
        MailCapability {
            append: write,
            append_uid: false,
            batch_append: write,
            keywords: true,
            internal_date: true,
            special_use: false,
            search_message_id: true,
            nested_folders: true,
            // Messages are numbered by file-name order: see the module docs.
            stable_uids: false,
            set_flags: write,
            changed_since: false,
        }
    }

    fn describe(&self) -> String {
        format!("maildir:{}", self.root.display())
    }

    async fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
        let mut found: BTreeMap<FolderPath, bool> = BTreeMap::new();
        for item in
            fs::read_dir(&self.root).map_err(|e| Error::from(e).with_operation("list_folders"))?
        {
            let item = item?;
            let name = item.file_name();
            let Some(path) = name.to_str().and_then(layout::folder_from_dir_name) else {
                continue;
            };
            // Follows symlinks: a linked folder is a folder.
            if !item.path().is_dir() {
                continue;
            }
            let selectable = item.path().join("cur").is_dir();
            found.insert(path, selectable);
        }
        for path in found.keys().cloned().collect::<Vec<_>>() {
            for parent in path.ancestors() {
                found.entry(parent).or_insert(false);
            }
        }
        found.insert(FolderPath::inbox(), true);
        let mut out: Vec<FolderInfo> = found
            .into_iter()
            .map(|(path, selectable)| {
                let special_use = match path.segments() {
                    [one] if !path.is_inbox() => SpecialUse::from_well_known_name(one),
                    _ => None,
                };
                FolderInfo {
                    path,
                    special_use,
                    selectable,
                }
            })
            .collect();
        out.sort_by_key(|f| !f.path.is_inbox());
        Ok(out)
    }

    async fn folder_status(&mut self, folder: &FolderPath) -> Result<FolderStatus> {
        let snap = self
            .rescan(folder)
            .map_err(|e| e.with_operation("folder_status"))?;
        let messages = u32::try_from(snap.entries.len()).unwrap_or(u32::MAX);
        Ok(FolderStatus {
            uid_validity: snap.uid_validity,
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
        let snap = if uid_from <= 1 {
            self.rescan(folder)?
        } else {
            self.snapshot(folder)?
        };
        let keywords = read_keywords(&snap.dir)?;
        let start = (uid_from.max(1) - 1) as usize;
        let mut out = Vec::new();
        for (i, entry) in snap
            .entries
            .iter()
            .enumerate()
            .skip(start)
            .take(limit as usize)
        {
            let uid = uid_of(i);
            match locate(&snap.dir, entry)? {
                Some(found) => {
                    out.push(summarize(uid, found, &keywords).map_err(|e| {
                        e.with_operation("summaries").with_context("folder", folder)
                    })?)
                }
                // Expunged by someone else since the listing: absent, like an expunged IMAP uid.
                None => {
                    tracing::debug!(%folder, uid, "message vanished since the folder was listed")
                }
            }
        }
        Ok(out)
    }

    async fn fetch(&mut self, folder: &FolderPath, uids: &[u32]) -> Result<Vec<RawMessage>> {
        let snap = self.snapshot(folder)?;
        let mut out = Vec::with_capacity(uids.len());
        for &uid in uids {
            let Some(entry) = (uid as usize)
                .checked_sub(1)
                .and_then(|i| snap.entries.get(i))
            else {
                continue;
            };
            let Some(mut found) = locate(&snap.dir, entry)? else {
                continue;
            };
            let mut raw = Vec::new();
            found.file.read_to_end(&mut raw).map_err(|e| {
                Error::from(e)
                    .with_operation("fetch")
                    .with_context("uid", uid)
            })?;
            out.push(RawMessage {
                uid,
                bytes: bytes::to_crlf(&raw),
            });
        }
        Ok(out)
    }

    async fn create_folder(
        &mut self,
        folder: &FolderPath,
        _special_use: Option<SpecialUse>,
    ) -> Result<()> {
        self.require_write("create_folder")?;
        let dir = self.dir_of(folder)?;
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub)).map_err(|e| {
                Error::from(e)
                    .with_operation("create_folder")
                    .with_context("folder", folder)
            })?;
        }
        if !folder.is_inbox() {
            // Courier/Dovecot mark subfolders with an empty `maildirfolder` file (delivery agents check it).
            let marker = dir.join("maildirfolder");
            if !marker.exists() {
                File::create(marker)?;
            }
        }
        self.snapshots.remove(folder);
        Ok(())
    }

    async fn append(
        &mut self,
        folder: &FolderPath,
        messages: &[AppendRequest<'_>],
    ) -> Result<Vec<Result<Option<u32>>>> {
        self.require_write("append")?;
        let dir = self
            .existing_dir(folder)
            .map_err(|e| e.with_operation("append"))?;
        // tmp/ may have been cleaned up by hand; it is ours to recreate.
        fs::create_dir_all(dir.join("tmp"))?;
        let mut keywords = read_keywords(&dir)?;
        self.snapshots.remove(folder);
        let mut results = Vec::with_capacity(messages.len());
        for req in messages {
            results.push(
                self.append_one(&dir, &mut keywords, req)
                    .map(|()| None)
                    .map_err(|e| e.with_context("folder", folder)),
            );
        }
        // Make the renames durable before reporting success.
        if let Err(e) = File::open(dir.join("cur")).and_then(|d| d.sync_all()) {
            tracing::warn!(%folder, error = %e, "could not fsync the cur/ directory");
        }
        Ok(results)
    }

    /// # Behavior
    /// - From the file names alone (a fresh listing): no message is opened.
    async fn flags(
        &mut self,
        folder: &FolderPath,
        _changed_since: Option<u64>,
    ) -> Result<Vec<MessageFlags>> {
        let snap = self.rescan(folder)?;
        let keywords = read_keywords(&snap.dir)?;
        Ok(snap
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let name = e.file_name.to_string_lossy();
                let letters = match (e.in_new, FileName::parse(&name)) {
                    (false, Some(p)) => p.letters.to_owned(),
                    _ => String::new(),
                };
                MessageFlags {
                    uid: uid_of(i),
                    flags: layout::flags_from_letters(&letters, &keywords),
                }
            })
            .collect())
    }

    /// # Behavior
    /// - Renames each message's file to `cur/<unique>:2,<letters>` (the unique name, so the uid, stays);
    ///   uids are those of the last listing. New keywords get letters in `dovecot-keywords` first.
    async fn set_flags(
        &mut self,
        folder: &FolderPath,
        uids: &[u32],
        flags: &[String],
    ) -> Result<()> {
        self.require_write("set_flags")?;
        let snap = self.snapshot(folder)?;
        let dir = snap.dir.clone();
        let mut keywords = read_keywords(&dir)?;
        let (letters, changed) = layout::letters_from_flags(flags, &mut keywords);
        if changed {
            write_atomically(&dir, KEYWORDS_FILE, keywords.render().as_bytes())?;
        }
        for &uid in uids {
            let Some(entry) = (uid as usize)
                .checked_sub(1)
                .and_then(|i| snap.entries.get(i))
            else {
                continue;
            };
            let Some(from) = current_path(&dir, entry)? else {
                continue;
            };
            let to = dir
                .join("cur")
                .join(format!("{}:2,{letters}", entry.unique));
            if from != to {
                fs::rename(&from, &to).map_err(|e| {
                    Error::from(e)
                        .with_operation("set_flags")
                        .with_context("folder", folder)
                })?;
            }
        }
        // The listing's file names are stale now.
        self.snapshots.remove(folder);
        Ok(())
    }

    async fn search_message_id(
        &mut self,
        folder: &FolderPath,
        message_id: &str,
    ) -> Result<Vec<u32>> {
        let wanted = normalise_message_id(message_id);
        let snap = self.rescan(folder)?;
        let mut out = Vec::new();
        for (i, entry) in snap.entries.iter().enumerate() {
            let Some(mut found) = locate(&snap.dir, entry)? else {
                continue;
            };
            let head = bytes::read_header_block(&mut found.file)?;
            if parse_headers(&head).message_id == wanted && wanted.is_some() {
                out.push(uid_of(i));
            }
        }
        Ok(out)
    }

    async fn close(&mut self) -> Result<()> {
        self.snapshots.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
