//! [`LocalConnector`]: a local directory or a mounted share (SMB via CIFS, NFS) as a file source or target.
//!
//! Design choices and their trade-offs:
//! - **Few thread hops.** Tokio file I/O runs on the blocking pool, and a hop costs more than a small
//!   file's I/O. So small files (≤ [`SMALL_FILE`]) are read whole in one blocking task (open, fstat,
//!   read) and written whole in one (create, write, set mtime, fstat, rename); large files stream with
//!   1 MiB chunks, reading the next chunk while the previous one is written. No `stat` after a write:
//!   the entry comes from `fstat` on the still-open file, which reports the mtime as the file system
//!   stored it (its precision, not ours) at the cost of no path lookup.
//! - **Local to local in the kernel, in batches.** As [`LocalFiles`], a read-write connector copies a
//!   batch of files from paths of this machine in one blocking task: per file open, `copy_file_range`
//!   (via `std::io::copy`, a read/write loop where the kernel cannot), set mtime, fstat, rename. The
//!   engine uses it when both sides are local; a tree of small files is then bound by the file system,
//!   not by a task and two thread hops per file.
//! - **Atomic writes.** A file is written to a hidden `.ferry-part-<session>-<n>` in the target directory, its
//!   mtime set, then renamed over the destination: readers never see a partial file and a `kill -9`
//!   leaves only a hidden part file, which listings of a read-write connector hide. By default there is
//!   **no fsync**: a process crash loses nothing (the page cache survives it) and fsync per small file
//!   would cost more than the copy; after a power loss a renamed file may be empty on some file systems,
//!   which the engine's size check catches. [`LocalConnector::with_fsync`] turns it on.
//! - **Paged listing with a cursor.** The first page reads the whole directory (names and `d_type`
//!   only, no `stat`), sorts it by name (byte order) and keeps the rest in a cursor; each page `stat`s
//!   only its own entries. The token is `<cursor id>:<last name>`: when the cursor is gone (evicted,
//!   another process), the directory is read again and resumes after the last name. One directory's
//!   names are held, never a tree's; at most [`MAX_CURSORS`] abandoned cursors are kept.
//! - **Everything is listed.** Symbolic links are not followed by default (following them could leave the
//!   root or loop): they are listed as [`EntryKind::Symlink`]. [`LocalConnector::with_follow_links`]
//!   (`--copy-links`, like `rsync -L` and `rclone -L`) lists what each link points to instead, except a
//!   broken link and a link to a folder that contains it (a loop), which stay links. FIFOs, sockets and devices are listed as
//!   [`EntryKind::Special`] (reading a FIFO blocks). The engine accounts for both (skipped, with the
//!   reason), so nothing is left out silently (issue 9). Names that are not UTF-8 are carried escaped
//!   ([`ferry_core::file::name_from_bytes`]) and written back byte for byte. [`LocalConnector::skipped`]
//!   counts each kind. TAB, newline and every other character are ordinary.
//! - **Read-only really is.** A connector opened [`Access::ReadOnly`] opens files only for reading and
//!   never creates, renames or touches anything (invariant 1).

use chrono::{DateTime, Utc};
use ferry_core::file::{
    EntryKind, FileCapability, FileConnector, FileEntry, FileReader, ListPage, LocalFile,
    LocalFiles,
};
use ferry_core::mail::Access;
use ferry_core::{Error, ErrorKind, Result};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{self, DirEntry, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Files up to this size are read and written in one piece (one blocking task).
pub const SMALL_FILE: u64 = 256 * 1024;
/// Chunk size for streaming large files.
pub const CHUNK: usize = 1024 * 1024;
/// Entries per listing page.
pub const PAGE_SIZE: usize = 1000;
/// Listing cursors kept for continuation; older ones are dropped (their listings still continue, by
/// re-reading the directory).
pub const MAX_CURSORS: usize = 64;
/// Prefix of the hidden temporary files writes go through.
pub const PART_PREFIX: &str = ".ferry-part-";

/// Entries listings met that are not plain UTF-8 files or folders, by kind (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Names that are not valid UTF-8.
    pub non_utf8: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// FIFOs, sockets, devices.
    pub special: u64,
}

/// A local directory as a [`FileConnector`]. See the module docs.
pub struct LocalConnector {
    root: PathBuf,
    access: Access,
    fsync: bool,
    page_size: usize,
    follow_links: bool,
    shared: Arc<Shared>,
}

/// State the blocking tasks share with the connector.
#[derive(Default)]
struct Shared {
    /// Temp files are `<PART_PREFIX><session>-<n>`: unique without a random number per file.
    session: String,
    next_part: AtomicU64,
    cursors: Mutex<Cursors>,
    /// Temp files this connector is writing right now. Any other `.ferry-part-*` file a read-write
    /// listing meets was left by an interrupted run (`kill -9`) and is removed, so no partial file stays.
    in_flight: Mutex<HashSet<PathBuf>>,
    non_utf8: AtomicU64,
    symlinks: AtomicU64,
    special: AtomicU64,
}

/// Remaining names of directories being listed, by cursor id, oldest first.
#[derive(Default)]
struct Cursors {
    map: HashMap<Uuid, Cursor>,
    order: VecDeque<Uuid>,
}

struct Cursor {
    dir: String,
    rest: std::vec::IntoIter<(String, DirEntry)>,
}

/// What one `list` call needs, owned, for its blocking task.
struct ListJob {
    full: PathBuf,
    dir: String,
    token: Option<String>,
    hide_parts: bool,
    page_size: usize,
    /// `Some(root)` when links are followed: loops are detected against the folders from the root down.
    follow_from: Option<PathBuf>,
    shared: Arc<Shared>,
}

impl LocalConnector {
    /// Open `root`. Read-only: it must be an existing directory. Read-write: it is created if missing.
    pub fn open(root: &Path, access: Access) -> Result<Self> {
        let shown = root.display().to_string();
        if access == Access::ReadWrite {
            fs::create_dir_all(root).map_err(|e| io_error(e, "open", &shown))?;
        }
        let meta = fs::metadata(root).map_err(|e| io_error(e, "open", &shown))?;
        if !meta.is_dir() {
            return Err(Error::config(format!(
                "{shown} is not a directory; give the folder to copy from or to"
            )));
        }
        Ok(LocalConnector {
            root: root.to_path_buf(),
            access,
            fsync: false,
            page_size: PAGE_SIZE,
            follow_links: false,
            shared: Arc::new(Shared {
                session: Uuid::now_v7().simple().to_string(),
                ..Shared::default()
            }),
        })
    }

    /// `fsync` each file before it is renamed into place (durable across power loss, slower).
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// Follow symbolic links: list (and so copy) what they point to, wherever that is. A broken link, and
    /// a link to a folder that contains it (which would loop), is still listed as a link.
    pub fn with_follow_links(mut self, follow: bool) -> Self {
        self.follow_links = follow;
        self
    }

    /// Use pages of `n` entries (tests use small pages).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// How many entries listings have left out so far, by reason.
    pub fn skipped(&self) -> Skipped {
        Skipped {
            non_utf8: self.shared.non_utf8.load(Ordering::Relaxed),
            symlinks: self.shared.symlinks.load(Ordering::Relaxed),
            special: self.shared.special.load(Ordering::Relaxed),
        }
    }

    fn full(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.root.clone()
        } else {
            // A name that was not UTF-8 on disk is carried escaped (see `name_from_bytes`): its bytes
            // go back exactly, so such names are read from and written to local paths byte for byte.
            use std::os::unix::ffi::OsStrExt;
            self.root
                .join(std::ffi::OsStr::from_bytes(&ferry_core::file::name_bytes(
                    path,
                )))
        }
    }

    /// Where a write of `path` goes (its temp file not yet registered or created).
    fn target(&self, path: &str, mtime: Option<DateTime<Utc>>) -> Target {
        let dir = self.full(ferry_core::file::parent(path));
        Target {
            dest: self.full(path),
            temp: self.shared.temp_in(&dir),
            dir,
            path: path.to_owned(),
            mtime: mtime.map(SystemTime::from),
            fsync: self.fsync,
        }
    }

    fn check_write(&self, op: &'static str) -> Result<()> {
        match self.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(Error::unsupported(format!(
                "{}: opened read-only (a source is never written)",
                self.root.display()
            ))
            .with_operation(op)),
        }
    }
}

impl Shared {
    /// A fresh temp file name in `dir`.
    fn temp_in(&self, dir: &Path) -> PathBuf {
        let n = self.next_part.fetch_add(1, Ordering::Relaxed);
        dir.join(format!("{PART_PREFIX}{}-{n}", self.session))
    }

    /// Read a directory whole: UTF-8 names with their `DirEntry` (no `stat` yet), sorted by name.
    fn read_sorted(
        &self,
        full: &Path,
        dir: &str,
        hide_parts: bool,
    ) -> io::Result<Vec<(String, DirEntry)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(full)? {
            let entry = entry?;
            let name = match entry.file_name().into_string() {
                // Names holding one of the escape characters are escaped too, so they round-trip.
                Ok(n) if n.as_bytes().contains(&0xF4) => {
                    ferry_core::file::name_from_bytes(n.as_bytes())
                }
                Ok(n) => n,
                Err(raw) => {
                    use std::os::unix::ffi::OsStrExt;
                    self.non_utf8.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(dir, name = ?raw, "a name that is not UTF-8: carried escaped");
                    ferry_core::file::name_from_bytes(raw.as_bytes())
                }
            };
            if hide_parts && name.starts_with(PART_PREFIX) {
                let stale = entry.path();
                let ours = self
                    .in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(&stale);
                if !ours {
                    // Ferry's own leftover from an interrupted write, never user data.
                    match fs::remove_file(&stale) {
                        Ok(()) => tracing::info!(
                            dir,
                            name,
                            "removed a temp file left by an interrupted run"
                        ),
                        Err(e) => {
                            tracing::warn!(dir, name, error = %e, "cannot remove a leftover temp file")
                        }
                    }
                }
                continue;
            }
            out.push((name, entry));
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// `stat` a page's entries into `FileEntry`s; links are followed when `follow_from` is the root.
    fn entries(
        &self,
        dir: &str,
        page: Vec<(String, DirEntry)>,
        follow_from: Option<&Path>,
    ) -> io::Result<Vec<FileEntry>> {
        let mut out = Vec::with_capacity(page.len());
        let mut ancestors: Option<Vec<PathBuf>> = None;
        for (name, entry) in page {
            let path = ferry_core::file::join(dir, &name);
            let mut meta = match entry.metadata() {
                Ok(m) => m,
                // Gone since the directory was read: it is simply not there any more.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if let Some(root) = follow_from.filter(|_| meta.file_type().is_symlink()) {
                // A broken link (or one we may not follow) stays a link, and so is reported.
                if let Ok(target) = fs::metadata(entry.path()) {
                    let looped = target.is_dir()
                        && fs::canonicalize(entry.path()).is_ok_and(|to| {
                            ancestors
                                .get_or_insert_with(|| canonical_chain(root, dir))
                                .contains(&to)
                        });
                    if looped {
                        tracing::info!(path, "a link to a folder that contains it: not followed");
                    } else {
                        meta = target;
                    }
                }
            }
            out.push(self.entry_of(path, &meta));
        }
        Ok(out)
    }

    fn entry_of(&self, path: String, meta: &Metadata) -> FileEntry {
        let ft = meta.file_type();
        let kind = if ft.is_file() {
            EntryKind::File
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            self.symlinks.fetch_add(1, Ordering::Relaxed);
            EntryKind::Symlink
        } else {
            self.special.fetch_add(1, Ordering::Relaxed);
            EntryKind::Special
        };
        entry(path, kind, meta)
    }

    fn remember(&self, dir: &str, rest: std::vec::IntoIter<(String, DirEntry)>) -> Uuid {
        let id = Uuid::now_v7();
        let mut cursors = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
        cursors.map.insert(
            id,
            Cursor {
                dir: dir.to_owned(),
                rest,
            },
        );
        cursors.order.push_back(id);
        while cursors.order.len() > MAX_CURSORS {
            if let Some(old) = cursors.order.pop_front() {
                cursors.map.remove(&old);
            }
        }
        id
    }

    fn take_cursor(&self, id: Uuid, dir: &str) -> Option<std::vec::IntoIter<(String, DirEntry)>> {
        let mut cursors = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
        let cursor = cursors.map.remove(&id)?;
        cursors.order.retain(|x| *x != id);
        (cursor.dir == dir).then_some(cursor.rest)
    }
}

impl ListJob {
    fn run(self) -> Result<ListPage> {
        let ListJob {
            full,
            dir,
            token,
            hide_parts,
            page_size,
            follow_from,
            shared,
        } = self;
        let err = |e| io_error(e, "list", &dir);
        let mut rest = match token.as_deref().map(parse_token) {
            None => shared
                .read_sorted(&full, &dir, hide_parts)
                .map_err(err)?
                .into_iter(),
            Some(None) => {
                return Err(
                    Error::unexpected("the page token is not one this connector gave")
                        .with_operation("list"),
                );
            }
            Some(Some((id, last))) => match shared.take_cursor(id, &dir) {
                Some(rest) => rest,
                None => {
                    // The cursor is gone: read again and resume after the last name returned.
                    let mut all = shared.read_sorted(&full, &dir, hide_parts).map_err(err)?;
                    let start = all.partition_point(|(n, _)| n.as_str() <= last);
                    all.drain(..start);
                    all.into_iter()
                }
            },
        };
        let page: Vec<_> = rest.by_ref().take(page_size).collect();
        let last = page.last().map(|(n, _)| n.clone());
        let entries = shared
            .entries(&dir, page, follow_from.as_deref())
            .map_err(err)?;
        let next = match last {
            Some(last) if rest.len() > 0 => {
                Some(format!("{}:{last}", shared.remember(&dir, rest).simple()))
            }
            _ => None,
        };
        Ok(ListPage { entries, next })
    }
}

#[async_trait::async_trait]
impl FileConnector for LocalConnector {
    fn capability(&self) -> FileCapability {
        let write = self.access == Access::ReadWrite;
        FileCapability {
            write,
            paged_list: true,
            set_mtime: write,
            hash: None,
            atomic_write: write,
            resumable_write: false,
            max_file_size: None,
            etag: false,
        }
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn local(&self) -> Option<&dyn LocalFiles> {
        Some(self)
    }

    async fn list(&self, dir: &str, token: Option<String>) -> Result<ListPage> {
        crate::check_path(dir, true, "list")?;
        let job = ListJob {
            full: self.full(dir),
            dir: dir.to_owned(),
            token,
            hide_parts: self.access == Access::ReadWrite,
            page_size: self.page_size,
            follow_from: self.follow_links.then(|| self.root.clone()),
            shared: self.shared.clone(),
        };
        blocking(move || job.run()).await
    }

    async fn stat(&self, path: &str) -> Result<Option<FileEntry>> {
        crate::check_path(path, true, "stat")?;
        let (full, path, shared) = (self.full(path), path.to_owned(), self.shared.clone());
        let follow = self.follow_links;
        blocking(move || match lstat_or_stat(&full, follow) {
            Ok(meta) => Ok(Some(shared.entry_of(path, &meta))),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(io_error(e, "stat", &path)),
        })
        .await
    }

    async fn read(&self, path: &str) -> Result<FileReader> {
        crate::check_path(path, false, "read")?;
        let (full, p) = (self.full(path), path.to_owned());
        let opened =
            blocking(move || open_for_read(&full).map_err(|e| io_error(e, "read", &p))).await?;
        Ok(match opened {
            Opened::Whole(bytes) => Box::new(io::Cursor::new(bytes)),
            Opened::Stream(file, len) => {
                // Big reads: the copy loop's buffer may be small, each tokio file read is a thread hop.
                let cap = usize::try_from(len.saturating_add(1))
                    .unwrap_or(CHUNK)
                    .clamp(64 * 1024, CHUNK);
                Box::new(tokio::io::BufReader::with_capacity(
                    cap,
                    tokio::fs::File::from_std(file),
                ))
            }
        })
    }

    async fn create_dir(&self, path: &str) -> Result<()> {
        self.check_write("create_dir")?;
        crate::check_path(path, true, "create_dir")?;
        let (full, p) = (self.full(path), path.to_owned());
        blocking(move || fs::create_dir_all(&full).map_err(|e| io_error(e, "create_dir", &p))).await
    }

    async fn write(
        &self,
        path: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
        mut data: FileReader,
    ) -> Result<FileEntry> {
        self.check_write("write")?;
        crate::check_path(path, false, "write")?;
        let target = self.target(path, mtime);
        let _in_flight = InFlight::register(&self.shared, &target.temp);
        if size <= SMALL_FILE {
            // Read the whole (small) body first; then one blocking task does all the file system work.
            let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
            (&mut data)
                .take(size + 1)
                .read_to_end(&mut buf)
                .await
                .map_err(|e| source_error(e, path))?;
            check_size(buf.len() as u64, size, path)?;
            return blocking(move || target.write_small(&buf)).await;
        }
        let target = Arc::new(target);
        let file = {
            let t = target.clone();
            blocking(move || t.create_temp()).await?
        };
        match stream_into(file, &mut data, size, path).await {
            Ok(file) => blocking(move || target.finish(file)).await,
            Err(e) => {
                let _ = tokio::task::spawn_blocking(move || fs::remove_file(&target.temp)).await;
                Err(e)
            }
        }
    }
}

#[async_trait::async_trait]
impl LocalFiles for LocalConnector {
    fn local_path(&self, path: &str) -> Result<PathBuf> {
        crate::check_path(path, true, "local_path")?;
        Ok(self.full(path))
    }

    async fn copy_in(&self, files: Vec<LocalFile>) -> Vec<Result<FileEntry>> {
        let n = files.len();
        if let Err(e) = self.check_write("write") {
            let reason = e.to_string();
            return (0..n)
                .map(|_| Err(Error::unsupported(reason.clone()).with_operation("write")))
                .collect();
        }
        let jobs: Vec<(Result<Target>, LocalFile)> = files
            .into_iter()
            .map(|f| {
                let target = crate::check_path(&f.path, false, "write")
                    .map(|()| self.target(&f.path, f.mtime));
                (target, f)
            })
            .collect();
        let shared = self.shared.clone();
        let joined = tokio::task::spawn_blocking(move || {
            jobs.into_iter()
                .map(|(target, f)| {
                    let target = target?;
                    let _in_flight = InFlight::register(&shared, &target.temp);
                    target.copy_from(&f.from, f.size)
                })
                .collect::<Vec<_>>()
        })
        .await;
        match joined {
            Ok(results) => results,
            Err(e) => {
                let reason = format!("file system task failed: {e}");
                (0..n)
                    .map(|_| Err(Error::unexpected(reason.clone())))
                    .collect()
            }
        }
    }
}

/// Marks a temp file as being written by this connector until dropped.
struct InFlight {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl InFlight {
    fn register(shared: &Arc<Shared>, path: &Path) -> InFlight {
        shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_path_buf());
        InFlight {
            shared: shared.clone(),
            path: path.to_path_buf(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.path);
    }
}

/// Where one write goes.
struct Target {
    dest: PathBuf,
    temp: PathBuf,
    dir: PathBuf,
    path: String,
    mtime: Option<SystemTime>,
    fsync: bool,
}

impl Target {
    fn err(&self, e: io::Error) -> Error {
        io_error(e, "write", &self.path)
    }

    /// Create the temp file, creating the parent directories only when they are missing (no extra
    /// syscalls in the common case).
    fn create_temp(&self) -> Result<File> {
        let open = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&self.temp)
        };
        match open() {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.dir).map_err(|e| self.err(e))?;
                open().map_err(|e| self.err(e))
            }
            Err(e) => Err(self.err(e)),
        }
    }

    /// Copy `size` bytes from the local file `from` (opened read-only): `copy_file_range` where the
    /// kernel can, a read/write loop where it cannot.
    fn copy_from(&self, from: &Path, size: u64) -> Result<FileEntry> {
        let source = File::open(from).map_err(|e| io_error(e, "read", &from.to_string_lossy()))?;
        let mut file = self.create_temp()?;
        let copied = io::copy(&mut (&source).take(size.saturating_add(1)), &mut file);
        match copied {
            Ok(n) if n == size => self.finish(file),
            Ok(n) => {
                let _ = fs::remove_file(&self.temp);
                Err(size_error(n, size, &self.path, n > size))
            }
            Err(e) => {
                let _ = fs::remove_file(&self.temp);
                Err(self.err(e))
            }
        }
    }

    fn write_small(&self, bytes: &[u8]) -> Result<FileEntry> {
        let mut file = self.create_temp()?;
        match file.write_all(bytes) {
            Ok(()) => self.finish(file),
            Err(e) => {
                let _ = fs::remove_file(&self.temp);
                Err(self.err(e))
            }
        }
    }

    /// Set the mtime, optionally fsync, read back the entry from the open file, rename into place.
    fn finish(&self, file: File) -> Result<FileEntry> {
        let done = (|| {
            if let Some(t) = self.mtime {
                file.set_modified(t)?;
            }
            if self.fsync {
                file.sync_all()?;
            }
            let meta = file.metadata()?;
            drop(file);
            fs::rename(&self.temp, &self.dest)?;
            Ok(entry(self.path.clone(), EntryKind::File, &meta))
        })();
        done.map_err(|e| {
            let _ = fs::remove_file(&self.temp);
            self.err(e)
        })
    }
}

/// A chunk being written on the blocking pool; gives back the file and the buffer.
type ChunkWrite = JoinHandle<io::Result<(File, Vec<u8>)>>;

/// Stream `size` bytes from `data` into `file`, reading the next chunk while the last one is written.
async fn stream_into(file: File, data: &mut FileReader, size: u64, path: &str) -> Result<File> {
    let mut file = Some(file);
    let mut spare = Some(vec![0u8; CHUNK]);
    let mut next = vec![0u8; CHUNK];
    let mut pending: Option<ChunkWrite> = None;
    let mut total = 0u64;
    loop {
        let n = read_full(data, &mut next)
            .await
            .map_err(|e| source_error(e, path))?;
        total += n as u64;
        if total > size {
            return Err(size_error(total, size, path, true));
        }
        if let Some(h) = pending.take() {
            let (f, mut b) = join_write(h, path).await?;
            b.resize(CHUNK, 0);
            file = Some(f);
            spare = Some(b);
        }
        if n == 0 {
            break;
        }
        let Some(mut f) = file.take() else {
            return Err(Error::unexpected("write: the file handle went missing"));
        };
        let mut chunk =
            std::mem::replace(&mut next, spare.take().unwrap_or_else(|| vec![0u8; CHUNK]));
        chunk.truncate(n);
        pending = Some(tokio::task::spawn_blocking(move || {
            f.write_all(&chunk).map(|()| (f, chunk))
        }));
    }
    check_size(total, size, path)?;
    file.ok_or_else(|| Error::unexpected("write: the file handle went missing"))
}

async fn join_write(h: ChunkWrite, path: &str) -> Result<(File, Vec<u8>)> {
    h.await
        .map_err(|e| Error::unexpected(format!("write task failed: {e}")))?
        .map_err(|e| io_error(e, "write", path))
}

/// Fill `buf` unless the stream ends first; the count read.
async fn read_full(
    data: &mut (impl AsyncRead + Unpin + ?Sized),
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match data.read(&mut buf[n..]).await? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn check_size(got: u64, size: u64, path: &str) -> Result<()> {
    if got == size {
        Ok(())
    } else {
        Err(size_error(got, size, path, got > size))
    }
}

fn size_error(got: u64, size: u64, path: &str, more: bool) -> Error {
    let what = if more { "more than" } else { "only" };
    Error::new(
        ErrorKind::Io,
        format!("the source gave {what} {got} of the {size} bytes expected (did the file change while it was copied?)"),
    )
    .temporary()
    .with_operation("write")
    .with_context("path", path)
}

/// An error reading the *source* stream during a write.
fn source_error(e: io::Error, path: &str) -> Error {
    Error::new(ErrorKind::Io, format!("reading the source failed: {e}"))
        .temporary()
        .with_operation("write")
        .with_context("path", path)
        .with_source(e)
}

enum Opened {
    /// A small file, read whole.
    Whole(Vec<u8>),
    /// A large file, to stream, and its size.
    Stream(File, u64),
}

fn open_for_read(full: &Path) -> io::Result<Opened> {
    let mut file = File::open(full)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory, not a file",
        ));
    }
    if meta.len() > SMALL_FILE {
        return Ok(Opened::Stream(file, meta.len()));
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0) + 1);
    file.read_to_end(&mut buf)?;
    Ok(Opened::Whole(buf))
}

fn entry(path: String, kind: EntryKind, meta: &Metadata) -> FileEntry {
    FileEntry {
        created: meta.created().ok().map(DateTime::<Utc>::from),
        path,
        kind,
        size: if kind == EntryKind::File {
            meta.len()
        } else {
            0
        },
        mtime: meta.modified().ok().map(DateTime::<Utc>::from),
        hash: None,
        etag: None,
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::unexpected(format!("file system task failed: {e}")))?
}

/// `<cursor id>:<last name>` → its parts.
fn parse_token(token: &str) -> Option<(Uuid, &str)> {
    let (id, last) = token.split_once(':')?;
    Some((Uuid::parse_str(id).ok()?, last))
}

/// The one place local I/O errors become Ferry errors. Per-file refusals (permissions, a name the file
/// system cannot store, a full disk) are permanent `Rejected`; everything else is temporary `Io`.
/// The real paths of `root` and of every folder from it down to `dir`: a followed link whose real path
/// is one of them points to a folder that contains it, and following it would never end.
fn canonical_chain(root: &Path, dir: &str) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut chain: Vec<PathBuf> = fs::canonicalize(root).into_iter().collect();
    let mut prefix = String::new();
    for name in dir.split('/').filter(|n| !n.is_empty()) {
        prefix = ferry_core::file::join(&prefix, name);
        let bytes = ferry_core::file::name_bytes(&prefix);
        if let Ok(real) = fs::canonicalize(root.join(std::ffi::OsStr::from_bytes(&bytes))) {
            chain.push(real);
        }
    }
    chain
}

/// `lstat`, or `stat` when links are followed (a broken link is then still seen as the link).
fn lstat_or_stat(full: &Path, follow: bool) -> io::Result<Metadata> {
    if follow {
        match fs::metadata(full) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::symlink_metadata(full),
            other => other,
        }
    } else {
        fs::symlink_metadata(full)
    }
}

fn io_error(e: io::Error, op: &'static str, path: &str) -> Error {
    use io::ErrorKind as K;
    let (kind, temporary) = match e.kind() {
        K::NotFound => (ErrorKind::NotFound, false),
        K::FileTooLarge => (ErrorKind::TooLarge, false),
        K::PermissionDenied
        | K::ReadOnlyFilesystem
        | K::StorageFull
        | K::QuotaExceeded
        | K::IsADirectory
        | K::NotADirectory
        | K::DirectoryNotEmpty
        | K::AlreadyExists
        | K::InvalidFilename
        | K::InvalidInput => (ErrorKind::Rejected, false),
        _ => (ErrorKind::Io, true),
    };
    let err = Error::new(kind, e.to_string());
    let err = if temporary {
        err.temporary()
    } else {
        err.permanent()
    };
    err.with_operation(op)
        .with_context("path", path)
        .with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_carry_the_cursor_and_a_last_name_with_any_characters() {
        let id = Uuid::now_v7();
        let token = format!("{}:a:b\nc", id.simple());
        assert_eq!(parse_token(&token), Some((id, "a:b\nc")));
        assert_eq!(parse_token("nonsense"), None);
        assert_eq!(parse_token("zz:x"), None);
    }

    #[tokio::test]
    async fn copy_in_keeps_bytes_and_mtime_and_a_source_of_another_size_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        fs::create_dir_all(&src).expect("src");
        fs::write(src.join("a.txt"), b"hello").expect("a");
        let target = LocalConnector::open(&dst, Access::ReadWrite).expect("open");
        let mtime = DateTime::parse_from_rfc3339("2020-01-02T03:04:05Z")
            .expect("time")
            .with_timezone(&Utc);
        let file = |path: &str, size| LocalFile {
            from: src.join("a.txt"),
            path: path.to_owned(),
            size,
            mtime: Some(mtime),
        };
        let local = target.local().expect("a local connector is local");
        let out = local
            .copy_in(vec![file("d/a.txt", 5), file("d/short.txt", 9)])
            .await;
        let copied = out[0].as_ref().expect("the right size copies");
        assert_eq!((copied.size, copied.mtime), (5, Some(mtime)));
        assert_eq!(fs::read(dst.join("d/a.txt")).expect("read"), b"hello");
        assert!(out[1].is_err(), "a source of another size is an error");
        let names: Vec<String> = fs::read_dir(dst.join("d"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.txt"], "no partial file and no temp file is left");
    }

    #[tokio::test]
    async fn copy_in_on_a_read_only_connector_is_unsupported() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("a.txt"), b"x").expect("a");
        let source = LocalConnector::open(dir.path(), Access::ReadOnly).expect("open");
        let local = source.local().expect("local");
        let out = local
            .copy_in(vec![LocalFile {
                from: dir.path().join("a.txt"),
                path: "b.txt".into(),
                size: 1,
                mtime: None,
            }])
            .await;
        assert!(matches!(&out[0], Err(e) if e.kind() == ErrorKind::Unsupported));
        assert!(!dir.path().join("b.txt").exists());
    }
}
