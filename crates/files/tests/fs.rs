//! `LocalConnector` against real directories: bytes and mtimes round-trip, awkward names, big files with
//! bounded memory, paged listings, read-only sources that stay untouched, no visible partial files.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

use chrono::{DateTime, TimeZone, Utc};
use ferry_core::ErrorKind;
use ferry_core::file::{EntryKind, FileConnector, FileEntry, FileReader};
use ferry_core::mail::Access;
use ferry_files::fs::{LocalConnector, PART_PREFIX};
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

fn reader(bytes: &[u8]) -> FileReader {
    Box::new(std::io::Cursor::new(bytes.to_vec()))
}

async fn read_all(c: &dyn FileConnector, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    c.read(path)
        .await
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    out
}

async fn list_all(c: &dyn FileConnector, dir: &str) -> (Vec<FileEntry>, usize) {
    let (mut all, mut pages, mut token) = (Vec::new(), 0, None);
    loop {
        let page = c.list(dir, token).await.unwrap();
        pages += 1;
        all.extend(page.entries);
        match page.next {
            Some(t) => token = Some(t),
            None => return (all, pages),
        }
    }
}

fn mtime(secs: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, nanos).unwrap()
}

/// Every file and dir under `root` with its bytes, mtime and atime-free metadata.
fn fingerprint(root: &Path) -> BTreeMap<Vec<u8>, (bool, Vec<u8>, SystemTime, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            let bytes = if meta.is_file() {
                std::fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            if meta.is_dir() {
                stack.push(e.path());
            }
            let key = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            out.insert(
                key,
                (meta.is_dir(), bytes, meta.modified().unwrap(), meta.len()),
            );
        }
    }
    out
}

const AWKWARD: &[&str] = &[
    "with space.txt",
    "tab\there",
    "new\nline",
    "#%&?.txt",
    ".hidden",
    "..double-dot-prefix",
    "unicodé 日本 🦀",
    "trailing space ",
    "back\\slash",
    "quote\"and'apos",
    "colon:star*pipe|",
];

#[tokio::test]
async fn bytes_and_mtimes_round_trip_with_sub_second_precision() {
    let tmp = tempfile::tempdir().unwrap();
    let c = LocalConnector::open(tmp.path(), Access::ReadWrite).unwrap();
    let cap = c.capability();
    assert!(cap.write && cap.set_mtime && cap.atomic_write && cap.paged_list);
    let t = mtime(1_500_000_000, 123_456_789);
    let e = c
        .write("a/b/c.bin", 5, Some(t), reader(b"hello"))
        .await
        .unwrap();
    assert_eq!(
        (e.path.as_str(), e.kind, e.size, e.mtime),
        ("a/b/c.bin", EntryKind::File, 5, Some(t))
    );
    assert_eq!(read_all(&c, "a/b/c.bin").await, b"hello");
    let s = c.stat("a/b/c.bin").await.unwrap().unwrap();
    assert_eq!(s, e, "stat reports what write returned");
    assert_eq!(c.stat("a/b").await.unwrap().unwrap().kind, EntryKind::Dir);
    assert_eq!(c.stat("a/missing").await.unwrap(), None);
    assert_eq!(c.stat("a/b/c.bin/under-a-file").await.unwrap(), None);
    // Replacing keeps the new bytes and time.
    let t2 = mtime(1_600_000_000, 0);
    c.write("a/b/c.bin", 3, Some(t2), reader(b"new"))
        .await
        .unwrap();
    assert_eq!(read_all(&c, "a/b/c.bin").await, b"new");
    assert_eq!(c.stat("a/b/c.bin").await.unwrap().unwrap().mtime, Some(t2));
    // Without an mtime the file system's own time is reported.
    let e = c.write("now.txt", 1, None, reader(b"x")).await.unwrap();
    let age = Utc::now() - e.mtime.unwrap();
    assert!(age.num_seconds().abs() < 60, "{age}");
}

#[tokio::test]
async fn awkward_names_round_trip_and_list() {
    let tmp = tempfile::tempdir().unwrap();
    let c = LocalConnector::open(tmp.path(), Access::ReadWrite).unwrap();
    for (i, name) in AWKWARD.iter().enumerate() {
        let path = format!("dir {name}/{name}");
        let body = format!("content {i}");
        c.write(&path, body.len() as u64, None, reader(body.as_bytes()))
            .await
            .unwrap();
        assert_eq!(read_all(&c, &path).await, body.as_bytes(), "{name:?}");
        let (entries, _) = list_all(&c, &format!("dir {name}")).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].path, path);
        assert_eq!(entries[0].name(), *name);
    }
    let (top, _) = list_all(&c, "").await;
    assert_eq!(top.len(), AWKWARD.len());
    assert!(top.iter().all(|e| e.kind == EntryKind::Dir && e.size == 0));
    let mut sorted = top.clone();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(top, sorted, "listings come sorted by name");
}

#[tokio::test]
async fn zero_byte_files_and_empty_directories_work() {
    let tmp = tempfile::tempdir().unwrap();
    let c = LocalConnector::open(tmp.path(), Access::ReadWrite).unwrap();
    let e = c.write("empty", 0, None, reader(b"")).await.unwrap();
    assert_eq!(e.size, 0);
    assert_eq!(read_all(&c, "empty").await, b"");
    c.create_dir("x/y/z").await.unwrap();
    c.create_dir("x/y/z").await.unwrap();
    c.create_dir("").await.unwrap();
    assert!(c.list("x/y/z", None).await.unwrap().entries.is_empty());
    assert_eq!(
        c.list("nope", None).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        c.read("nope").await.err().unwrap().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(c.read("x").await.err().unwrap().kind(), ErrorKind::Rejected);
    assert_eq!(
        c.read("../etc/passwd").await.err().unwrap().kind(),
        ErrorKind::Rejected
    );
    assert_eq!(
        c.write("empty/under", 0, None, reader(b""))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Rejected
    );
}

/// A reader of `len` pseudo-random bytes that never holds more than one small buffer.
struct Pattern {
    left: u64,
    state: u64,
}

impl Pattern {
    fn new(len: u64) -> Self {
        Pattern {
            left: len,
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl AsyncRead for Pattern {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left).min(64 * 1024) as usize;
        let mut chunk = vec![0u8; n];
        for b in chunk.iter_mut() {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = self.state as u8;
        }
        buf.put_slice(&chunk);
        self.left -= n as u64;
        Poll::Ready(Ok(()))
    }
}

/// Tests that stream big files take this lock: they measure the whole process's memory, so they must not
/// overlap (the test harness runs the tests of one binary in parallel).
static BIG_MEMORY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

#[tokio::test]
async fn a_100_mb_file_streams_in_and_out_with_bounded_memory() {
    let _alone = BIG_MEMORY.lock().await;
    const LEN: u64 = 100 * 1024 * 1024;
    let tmp = tempfile::tempdir().unwrap();
    let c = LocalConnector::open(tmp.path(), Access::ReadWrite).unwrap();
    let before = peak_rss();
    let t = mtime(1_700_000_000, 5);
    let e = c
        .write("big/file.bin", LEN, Some(t), Box::new(Pattern::new(LEN)))
        .await
        .unwrap();
    assert_eq!((e.size, e.mtime), (LEN, Some(t)));
    // Compare while streaming back, without holding either side.
    let mut got = c.read("big/file.bin").await.unwrap();
    let mut want = Pattern::new(LEN);
    let (mut a, mut b) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut total = 0u64;
    loop {
        let n = got.read(&mut a).await.unwrap();
        if n == 0 {
            break;
        }
        want.read_exact(&mut b[..n]).await.unwrap();
        assert_eq!(a[..n], b[..n], "bytes differ near offset {total}");
        total += n as u64;
    }
    assert_eq!(total, LEN);
    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < 40 * 1024 * 1024,
        "peak RSS grew by {grown} bytes for a 100 MB file"
    );
}

#[tokio::test]
async fn listings_page_past_the_first_page_without_loss_or_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..2_500 {
        std::fs::write(tmp.path().join(format!("f{i:05}\t#")), i.to_string()).unwrap();
    }
    std::fs::create_dir(tmp.path().join("sub")).unwrap();
    let c = LocalConnector::open(tmp.path(), Access::ReadOnly).unwrap();
    let (entries, pages) = list_all(&c, "").await;
    assert_eq!(entries.len(), 2_501);
    assert_eq!(pages, 3, "pages of 1000");
    let mut names: Vec<_> = entries.iter().map(|e| e.path.clone()).collect();
    names.dedup();
    assert_eq!(names.len(), 2_501);
    assert_eq!(entries[0].path, "f00000\t#");
    assert_eq!(entries[0].size, 1);
    assert_eq!(entries.last().unwrap().kind, EntryKind::Dir);
}

#[tokio::test]
async fn a_page_token_still_works_after_its_cursor_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..25 {
        std::fs::write(tmp.path().join(format!("f{i:02}")), b"").unwrap();
    }
    let c = LocalConnector::open(tmp.path(), Access::ReadOnly)
        .unwrap()
        .with_page_size(10);
    let first = c.list("", None).await.unwrap();
    let token = first.next.unwrap();
    // Another connector (another process, after a restart) has no cursor: it re-reads and resumes.
    let other = LocalConnector::open(tmp.path(), Access::ReadOnly)
        .unwrap()
        .with_page_size(10);
    let second = other.list("", Some(token.clone())).await.unwrap();
    assert_eq!(second.entries[0].path, "f10");
    let same = c.list("", Some(token)).await.unwrap();
    assert_eq!(same.entries, second.entries);
    assert_eq!(
        c.list("", Some("garbage".into())).await.unwrap_err().kind(),
        ErrorKind::Unexpected
    );
}

#[tokio::test]
async fn read_only_refuses_writes_and_leaves_the_tree_byte_and_mtime_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("d/e")).unwrap();
    std::fs::write(root.join("d/e/f.txt"), b"source").unwrap();
    std::fs::write(root.join("small"), b"s").unwrap();
    std::fs::write(root.join("large"), vec![7u8; 600 * 1024]).unwrap();
    let before = fingerprint(root);
    let c = LocalConnector::open(root, Access::ReadOnly).unwrap();
    let cap = c.capability();
    assert!(!cap.write && !cap.set_mtime && !cap.atomic_write);
    for e in [
        c.write("d/e/f.txt", 1, None, reader(b"x"))
            .await
            .unwrap_err(),
        c.write("new", 1, None, reader(b"x")).await.unwrap_err(),
        c.create_dir("d/new").await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Unsupported);
    }
    list_all(&c, "").await;
    list_all(&c, "d/e").await;
    c.stat("d/e/f.txt").await.unwrap();
    assert_eq!(read_all(&c, "d/e/f.txt").await, b"source");
    assert_eq!(read_all(&c, "large").await.len(), 600 * 1024);
    assert_eq!(fingerprint(root), before, "the source changed");
    assert_eq!(
        LocalConnector::open(&root.join("missing"), Access::ReadOnly)
            .err()
            .unwrap()
            .kind(),
        ErrorKind::NotFound
    );
    assert!(
        !root.join("missing").exists(),
        "opening read-only created the root"
    );
}

#[tokio::test]
async fn short_or_long_writes_fail_and_leave_no_visible_file() {
    let tmp = tempfile::tempdir().unwrap();
    let c = LocalConnector::open(tmp.path(), Access::ReadWrite).unwrap();
    c.write("keep.txt", 3, None, reader(b"old")).await.unwrap();
    // Small and streamed paths, too short and too long, new file and replacing one.
    for (path, size, body) in [
        ("short.txt", 10, vec![1u8; 5]),
        ("long.txt", 2, vec![1u8; 5]),
        ("keep.txt", 10, vec![1u8; 5]),
        ("big-short.bin", 2_000_000, vec![1u8; 1_500_000]),
        ("big-long.bin", 2_000_000, vec![1u8; 2_500_000]),
    ] {
        let e = c
            .write(path, size, None, Box::new(std::io::Cursor::new(body)))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{path}: {e}");
        assert!(e.message().contains("bytes expected"), "{path}: {e}");
    }
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["keep.txt"], "a partial or temp file is visible");
    assert_eq!(read_all(&c, "keep.txt").await, b"old");
}

/// A reader that yields some bytes then fails, like a source connection dropping mid-file.
struct Broken(u64);

impl AsyncRead for Broken {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.0 == 0 {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "source dropped",
            )));
        }
        let n = (buf.remaining() as u64).min(self.0) as usize;
        buf.put_slice(&vec![0u8; n]);
        self.0 -= n as u64;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_source_failing_mid_file_is_temporary_and_leaves_no_part_file() {
    let tmp = tempfile::tempdir().unwrap();
    let c = LocalConnector::open(tmp.path(), Access::ReadWrite).unwrap();
    let e = c
        .write("x/f", 3_000_000, None, Box::new(Broken(1_200_000)))
        .await
        .unwrap_err();
    assert!(e.is_temporary(), "{e}");
    assert_eq!(std::fs::read_dir(tmp.path().join("x")).unwrap().count(), 0);
}

#[tokio::test]
async fn leftover_part_files_are_shown_from_sources_and_removed_by_target_listings() {
    let tmp = tempfile::tempdir().unwrap();
    let leftover = tmp.path().join(format!("{PART_PREFIX}0123"));
    std::fs::write(&leftover, b"partial").unwrap();
    std::fs::write(tmp.path().join("real"), b"r").unwrap();
    // A source is never changed: it lists the file like any other and leaves it.
    let source = LocalConnector::open(tmp.path(), Access::ReadOnly).unwrap();
    assert_eq!(list_all(&source, "").await.0.len(), 2);
    assert!(leftover.exists());
    // A target hides it and removes it: it is what an interrupted run of Ferry left behind.
    let target = LocalConnector::open(tmp.path(), Access::ReadWrite).unwrap();
    assert_eq!(list_all(&target, "").await.0.len(), 1);
    assert!(!leftover.exists(), "the leftover temp file is still there");
    assert!(tmp.path().join("real").exists());
}

#[tokio::test]
async fn symlinks_and_non_utf8_names_are_listed_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("real"), b"r").unwrap();
    std::os::unix::fs::symlink("/etc", tmp.path().join("link")).unwrap();
    let raw = std::ffi::OsStr::from_bytes(b"latin1-\xe9.txt");
    std::fs::write(tmp.path().join(raw), b"x").unwrap();
    let c = LocalConnector::open(tmp.path(), Access::ReadOnly).unwrap();
    let (entries, _) = list_all(&c, "").await;
    let escaped = ferry_core::file::name_from_bytes(b"latin1-\xe9.txt");
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind))
            .collect::<Vec<_>>(),
        vec![
            (escaped.as_str(), EntryKind::File),
            ("link", EntryKind::Symlink),
            ("real", EntryKind::File)
        ]
    );
    let mut bytes = Vec::new();
    c.read(&escaped)
        .await
        .unwrap()
        .read_to_end(&mut bytes)
        .await
        .unwrap();
    assert_eq!(
        bytes, b"x",
        "a name that is not UTF-8 reads back by its bytes"
    );
    let skipped = c.skipped();
    assert_eq!((skipped.non_utf8, skipped.symlinks), (1, 1));
    assert_eq!(
        c.stat("link").await.unwrap().map(|e| e.kind),
        Some(EntryKind::Symlink),
        "a symlink is not followed by stat either"
    );
}

struct Local {
    dir: tempfile::TempDir,
}

#[async_trait::async_trait]
impl ferry_testkit::file_conformance::FileConformanceFactory for Local {
    async fn open(&self, access: Access) -> ferry_core::Result<Box<dyn FileConnector>> {
        Ok(Box::new(LocalConnector::open(self.dir.path(), access)?))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn local_connector_passes_the_file_conformance_suite() {
    let _alone = BIG_MEMORY.lock().await;
    let dir = tempfile::tempdir().unwrap();
    ferry_testkit::file_conformance::run_file_conformance(&Local { dir }).await;
}
