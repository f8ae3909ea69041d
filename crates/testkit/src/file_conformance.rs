//! The file connector conformance suite (DESIGN §4, issue 3): one set of behaviour checks every
//! [`FileConnector`] must pass — the `# Behavior` bullets of the trait, plus what a migration meets in
//! real trees: thousands of files in one folder, deep paths, awkward names, empty and huge files.
//!
//! The connector's test file supplies a [`FileConformanceFactory`] that opens fresh connectors on one
//! **empty** root (a temp dir, a served dir, a bucket prefix) and calls [`run_file_conformance`]:
//!
//! ```ignore
//! struct Dav { server: WebDavServer }
//! #[async_trait]
//! impl FileConformanceFactory for Dav {
//!     async fn open(&self, access: Access) -> ferry_core::Result<Box<dyn FileConnector>> {
//!         Ok(Box::new(WebDavConnector::open(&self.server.url(), access).await?))
//!     }
//! }
//! #[tokio::test(flavor = "multi_thread")]
//! async fn webdav_connector_passes_the_file_conformance_suite() {
//!     run_file_conformance(&Dav { server: WebDavServer::start().unwrap() }).await;
//! }
//! ```
//!
//! Each check is a named function and works in its own folder `conformance/<check>`, so one failure does
//! not cascade. Checks read [`FileCapability`]: what the connector declares unsupported is not skipped
//! silently — the check then asserts the call fails with [`ErrorKind::Unsupported`] (writes on a
//! connector without `write`, `resumable()` on one without `resumable_write`). Every check runs even if an
//! earlier one failed; at the end the suite panics listing every failed check and why.
//!
//! The large-file check streams [`large_file_size`](FileConformanceFactory::large_file_size) bytes
//! (200 MB by default; `FERRY_CONFORMANCE_BIG=4G` raises it) from a generated reader and reads them back
//! into a streaming hash, asserting the process's resident memory grew by less than 64 MB.

use crate::conformance::{ConformanceReport, Outcome};
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use ferry_core::ErrorKind;
use ferry_core::file::{EntryKind, FileConnector, FileEntry, FileReader, HashKind, join};
use ferry_core::mail::Access;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// Opens connectors for the suite. Every connector opened by one factory must see the same root, which
/// must be empty when the suite starts.
#[async_trait]
pub trait FileConformanceFactory: Send + Sync {
    /// A fresh connector on the root.
    async fn open(&self, access: Access) -> ferry_core::Result<Box<dyn FileConnector>>;

    /// Characters the *server* cannot carry in a name, each with the documented reason (e.g. moto's S3:
    /// `('\n', "moto's URL router answers 404")`). Awkward names containing one are not tried; everything
    /// else is. Connectors may not exclude what the protocol can carry.
    fn excluded_name_chars(&self) -> Vec<(char, String)> {
        Vec::new()
    }

    /// Whether the *service* refuses a whole name by a documented rule, with the reason (OneDrive and
    /// SharePoint refuse leading and trailing spaces, which no single excluded character describes).
    /// Awkward names it refuses are not tried. Default: none.
    fn refused_name(&self, _name: &str) -> Option<String> {
        None
    }

    /// Size of the large-file check: `FERRY_CONFORMANCE_BIG` (bytes, or with a `K`/`M`/`G` suffix) or
    /// 200 MB. An in-memory test double may lower it.
    fn large_file_size(&self) -> u64 {
        std::env::var("FERRY_CONFORMANCE_BIG")
            .ok()
            .and_then(|v| parse_size(&v))
            .unwrap_or(200 * 1024 * 1024)
    }
}

/// Run every check and panic at the end if any failed, listing each failed check by name.
pub async fn run_file_conformance(factory: &dyn FileConformanceFactory) {
    let report = file_conformance_report(factory).await;
    let failed = report.failed();
    if !failed.is_empty() {
        panic!(
            "file connector conformance: {} check(s) failed: {}\n{report}",
            failed.len(),
            failed.join(", ")
        );
    }
}

/// Run every check and return the report without panicking (for tests of the suite itself).
pub async fn file_conformance_report(factory: &dyn FileConformanceFactory) -> ConformanceReport {
    let mut report = ConformanceReport::default();
    // Large files get 180 s plus 20 s per 100 MB (slow servers, debug builds).
    let big_timeout = CHECK_TIMEOUT + Duration::from_secs(factory.large_file_size() / (5 << 20));
    for (name, check) in FILE_CHECKS {
        let limit = if name == "large_file_streams_with_bounded_memory" {
            big_timeout
        } else {
            CHECK_TIMEOUT
        };
        let outcome = match tokio::time::timeout(limit, check(factory)).await {
            Ok(Ok(o)) => o,
            Ok(Err(why)) => Outcome::Failed(why),
            Err(_) => Outcome::Failed(format!("did not finish within {limit:?}")),
        };
        report.results.push((name, outcome));
    }
    report
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(180);

type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<Outcome, String>> + Send + 'a>>;
type Check = for<'a> fn(&'a dyn FileConformanceFactory) -> CheckFuture<'a>;

/// Every check, by name, in the order they run.
pub const FILE_CHECKS: [(&str, Check); 15] = [
    ("write_then_read_round_trips_bytes", |f| {
        Box::pin(write_then_read_round_trips_bytes(f))
    }),
    ("zero_byte_file_round_trips", |f| {
        Box::pin(zero_byte_file_round_trips(f))
    }),
    ("write_replaces_an_existing_file", |f| {
        Box::pin(write_replaces_an_existing_file(f))
    }),
    ("write_with_a_wrong_size_fails", |f| {
        Box::pin(write_with_a_wrong_size_fails(f))
    }),
    (
        "stat_of_a_missing_path_is_none_and_read_is_not_found",
        |f| Box::pin(stat_of_a_missing_path_is_none_and_read_is_not_found(f)),
    ),
    ("create_dir_twice_is_ok", |f| {
        Box::pin(create_dir_twice_is_ok(f))
    }),
    (
        "list_of_empty_dir_is_empty_and_missing_dir_is_not_found",
        |f| Box::pin(list_of_empty_dir_is_empty_and_missing_dir_is_not_found(f)),
    ),
    ("listing_pages_past_the_first_page_without_gaps", |f| {
        Box::pin(listing_pages_past_the_first_page_without_gaps(f))
    }),
    ("deep_nesting_round_trips", |f| {
        Box::pin(deep_nesting_round_trips(f))
    }),
    ("awkward_names_round_trip", |f| {
        Box::pin(awkward_names_round_trip(f))
    }),
    ("mtime_is_kept_when_set_mtime", |f| {
        Box::pin(mtime_is_kept_when_set_mtime(f))
    }),
    ("hash_matches_the_content_when_offered", |f| {
        Box::pin(hash_matches_the_content_when_offered(f))
    }),
    ("large_file_streams_with_bounded_memory", |f| {
        Box::pin(large_file_streams_with_bounded_memory(f))
    }),
    ("resumable_upload_continues_after_two_parts", |f| {
        Box::pin(resumable_upload_continues_after_two_parts(f))
    }),
    (
        "read_only_connector_refuses_writes_and_changes_nothing",
        |f| Box::pin(read_only_connector_refuses_writes_and_changes_nothing(f)),
    ),
];

// ---------------------------------------------------------------------------------------------------------
// Helpers

/// Turn a connector error into a check failure naming the call.
fn call<T>(what: &str, r: ferry_core::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{what} failed: {e:?}"))
}

fn ensure(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(why()) }
}

fn expect_kind<T>(what: &str, want: ErrorKind, r: ferry_core::Result<T>) -> Result<(), String> {
    match r {
        Err(e) if e.kind() == want => Ok(()),
        Err(e) => Err(format!("{what} must fail with {want:?}, failed with {e:?}")),
        Ok(_) => Err(format!("{what} must fail with {want:?}, but succeeded")),
    }
}

async fn open(
    f: &dyn FileConformanceFactory,
    access: Access,
) -> Result<Box<dyn FileConnector>, String> {
    call(&format!("open({access:?})"), f.open(access).await)
}

/// The folder a check works in.
fn work_dir(check: &str) -> String {
    format!("conformance/{check}")
}

fn bytes_reader(data: Vec<u8>) -> FileReader {
    Box::new(std::io::Cursor::new(data))
}

/// Deterministic, incompressible-looking content.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    PatternReader::new(seed, len as u64).fill(&mut out);
    out
}

async fn write_bytes(
    c: &dyn FileConnector,
    path: &str,
    data: &[u8],
    mtime: Option<DateTime<Utc>>,
) -> Result<FileEntry, String> {
    call(
        &format!("write({path:?}, {} bytes)", data.len()),
        c.write(path, data.len() as u64, mtime, bytes_reader(data.to_vec()))
            .await,
    )
}

async fn read_all(c: &dyn FileConnector, path: &str) -> Result<Vec<u8>, String> {
    let mut r = call(&format!("read({path:?})"), c.read(path).await)?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)
        .await
        .map_err(|e| format!("reading the stream of {path:?}: {e}"))?;
    Ok(out)
}

/// Every entry of `dir`, following `next` tokens; fails on a repeated entry or a runaway token chain.
async fn list_all(c: &dyn FileConnector, dir: &str) -> Result<(Vec<FileEntry>, usize), String> {
    let mut entries = Vec::new();
    let mut seen = BTreeSet::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = call(
            &format!("list({dir:?}, page {})", pages + 1),
            c.list(dir, token.take()).await,
        )?;
        pages += 1;
        for e in page.entries {
            ensure(seen.insert(e.path.clone()), || {
                format!("list({dir:?}) returned {:?} twice (page {pages})", e.path)
            })?;
            entries.push(e);
        }
        match page.next {
            Some(t) if pages < 100_000 => token = Some(t),
            Some(_) => return Err(format!("list({dir:?}) never stopped paging")),
            None => return Ok((entries, pages)),
        }
    }
}

/// Refusal of writes by a connector whose capability says it cannot write.
async fn refuses_writes(c: &dyn FileConnector, dir: &str) -> Result<Outcome, String> {
    expect_kind(
        "write on a connector without `write`",
        ErrorKind::Unsupported,
        c.write(&join(dir, "x"), 1, None, bytes_reader(vec![1]))
            .await,
    )?;
    expect_kind(
        "create_dir on a connector without `write`",
        ErrorKind::Unsupported,
        c.create_dir(dir).await,
    )?;
    Ok(Outcome::Skipped(
        "connector cannot write; checked that writes fail with Unsupported".into(),
    ))
}

/// Opens a writable connector, or returns the outcome for one that cannot write.
async fn writable(
    f: &dyn FileConformanceFactory,
    check: &str,
) -> Result<Result<Box<dyn FileConnector>, Outcome>, String> {
    let c = open(f, Access::ReadWrite).await?;
    if c.capability().write {
        Ok(Ok(c))
    } else {
        Ok(Err(refuses_writes(c.as_ref(), &work_dir(check)).await?))
    }
}

macro_rules! writable_or_return {
    ($f:expr, $check:expr) => {
        match writable($f, $check).await? {
            Ok(c) => c,
            Err(outcome) => return Ok(outcome),
        }
    };
}

fn same_second(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    a.timestamp() == b.timestamp()
}

// ---------------------------------------------------------------------------------------------------------
// Checks

/// A small, a 64 KiB+1 and a 3 MiB file come back byte for byte; `write`, `stat` and `list` report the size.
pub async fn write_then_read_round_trips_bytes(
    f: &dyn FileConformanceFactory,
) -> Result<Outcome, String> {
    let check = "write_then_read_round_trips_bytes";
    let c = writable_or_return!(f, check);
    let dir = work_dir(check);
    for (i, len) in [1usize, 65_537, 3 << 20].into_iter().enumerate() {
        let path = join(&dir, &format!("file-{i}.bin"));
        let data = pattern(i as u64, len);
        let written = write_bytes(c.as_ref(), &path, &data, None).await?;
        ensure(
            written.size == len as u64 && written.kind == EntryKind::File,
            || format!("write({path:?}) returned {written:?}, want a File of {len} bytes"),
        )?;
        ensure(written.path == path, || {
            format!("write returned path {:?}, want {path:?}", written.path)
        })?;
        let stat = call(&format!("stat({path:?})"), c.stat(&path).await)?
            .ok_or_else(|| format!("stat({path:?}) is None right after writing it"))?;
        ensure(stat.size == len as u64, || {
            format!("stat({path:?}).size = {}, want {len}", stat.size)
        })?;
        let back = read_all(c.as_ref(), &path).await?;
        ensure(back == data, || {
            format!(
                "read({path:?}) returned {} bytes that differ from the {len} written",
                back.len()
            )
        })?;
    }
    let (entries, _) = list_all(c.as_ref(), &dir).await?;
    let sizes: BTreeMap<_, _> = entries
        .iter()
        .map(|e| (e.name().to_owned(), e.size))
        .collect();
    let want: BTreeMap<_, _> = [
        ("file-0.bin", 1),
        ("file-1.bin", 65_537),
        ("file-2.bin", 3 << 20),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_owned(), s as u64))
    .collect();
    ensure(sizes == want, || {
        format!("list({dir:?}) = {sizes:?}, want {want:?}")
    })?;
    Ok(Outcome::Passed)
}

/// An empty file is written, listed and read as empty.
pub async fn zero_byte_file_round_trips(f: &dyn FileConformanceFactory) -> Result<Outcome, String> {
    let check = "zero_byte_file_round_trips";
    let c = writable_or_return!(f, check);
    let path = join(&work_dir(check), "empty");
    let written = write_bytes(c.as_ref(), &path, b"", None).await?;
    ensure(written.size == 0, || format!("write returned {written:?}"))?;
    let stat = call("stat", c.stat(&path).await)?
        .ok_or_else(|| format!("stat({path:?}) is None after writing it"))?;
    ensure(stat.size == 0 && stat.kind == EntryKind::File, || {
        format!("stat({path:?}) = {stat:?}, want an empty File")
    })?;
    ensure(read_all(c.as_ref(), &path).await?.is_empty(), || {
        "read of an empty file returned bytes".into()
    })?;
    let (entries, _) = list_all(c.as_ref(), &work_dir(check)).await?;
    ensure(entries.len() == 1 && entries[0].size == 0, || {
        format!("list shows {entries:?}, want one empty file")
    })?;
    Ok(Outcome::Passed)
}

/// A second write to the same path replaces the content (a shorter file leaves no tail behind).
pub async fn write_replaces_an_existing_file(
    f: &dyn FileConformanceFactory,
) -> Result<Outcome, String> {
    let check = "write_replaces_an_existing_file";
    let c = writable_or_return!(f, check);
    let path = join(&work_dir(check), "replaced.txt");
    write_bytes(c.as_ref(), &path, &pattern(1, 10_000), None).await?;
    let second = b"short second version".to_vec();
    write_bytes(c.as_ref(), &path, &second, None).await?;
    let back = read_all(c.as_ref(), &path).await?;
    ensure(back == second, || {
        format!(
            "after the second write read returned {} bytes, want {}",
            back.len(),
            second.len()
        )
    })?;
    let stat = call("stat", c.stat(&path).await)?.ok_or("stat is None after two writes")?;
    ensure(stat.size == second.len() as u64, || {
        format!("stat says {stat:?}")
    })?;
    Ok(Outcome::Passed)
}

/// `write` with fewer or more bytes than `size` is an error; with `atomic_write` nothing is visible.
pub async fn write_with_a_wrong_size_fails(
    f: &dyn FileConformanceFactory,
) -> Result<Outcome, String> {
    let check = "write_with_a_wrong_size_fails";
    let c = writable_or_return!(f, check);
    let dir = work_dir(check);
    for (name, declared, actual) in [("short", 100u64, 50usize), ("long", 50, 100)] {
        let path = join(&dir, name);
        let r = c
            .write(&path, declared, None, bytes_reader(pattern(3, actual)))
            .await;
        ensure(r.is_err(), || {
            format!("write({path:?}) of {actual} bytes declared as {declared} succeeded: {r:?}")
        })?;
        if c.capability().atomic_write {
            let stat = call("stat", c.stat(&path).await)?;
            ensure(stat.is_none(), || {
                format!("atomic_write, yet a failed write left {stat:?} visible")
            })?;
        }
    }
    Ok(Outcome::Passed)
}

/// `stat` of a missing path (also below a missing folder) is `None`; `read` of it is `NotFound`.
pub async fn stat_of_a_missing_path_is_none_and_read_is_not_found(
    f: &dyn FileConformanceFactory,
) -> Result<Outcome, String> {
    let c = open(f, Access::ReadWrite).await?;
    let dir = work_dir("stat_of_a_missing_path_is_none_and_read_is_not_found");
    for path in [join(&dir, "missing.txt"), join(&dir, "no/such/deeper.txt")] {
        let stat = call(&format!("stat({path:?})"), c.stat(&path).await)?;
        ensure(stat.is_none(), || {
            format!("stat({path:?}) = {stat:?}, want None")
        })?;
        expect_kind(
            &format!("read({path:?})"),
            ErrorKind::NotFound,
            c.read(&path).await.map(|_| ()),
        )?;
    }
    Ok(Outcome::Passed)
}

/// `create_dir` makes parents, and creating an existing folder succeeds.
pub async fn create_dir_twice_is_ok(f: &dyn FileConformanceFactory) -> Result<Outcome, String> {
    let check = "create_dir_twice_is_ok";
    let c = writable_or_return!(f, check);
    let path = join(&work_dir(check), "a/b/c");
    call("create_dir (first)", c.create_dir(&path).await)?;
    call("create_dir (second)", c.create_dir(&path).await)?;
    let stat = call("stat", c.stat(&path).await)?.ok_or("stat of the created folder is None")?;
    ensure(stat.kind == EntryKind::Dir, || {
        format!("stat = {stat:?}, want a Dir")
    })?;
    let (entries, _) = list_all(c.as_ref(), &join(&work_dir(check), "a")).await?;
    let want = join(&work_dir(check), "a/b");
    ensure(
        entries.len() == 1 && entries[0].path == want && entries[0].kind == EntryKind::Dir,
        || format!("list(a) = {entries:?}, want just the folder {want:?}"),
    )?;
    Ok(Outcome::Passed)
}

/// Listing an empty folder yields nothing; listing a missing one is `NotFound`.
pub async fn list_of_empty_dir_is_empty_and_missing_dir_is_not_found(
    f: &dyn FileConformanceFactory,
) -> Result<Outcome, String> {
    let check = "list_of_empty_dir_is_empty_and_missing_dir_is_not_found";
    let c = writable_or_return!(f, check);
    let dir = join(&work_dir(check), "empty");
    call("create_dir", c.create_dir(&dir).await)?;
    let (entries, _) = list_all(c.as_ref(), &dir).await?;
    ensure(entries.is_empty(), || {
        format!("empty folder lists {entries:?}")
    })?;
    expect_kind(
        "list of a missing folder",
        ErrorKind::NotFound,
        c.list(&join(&work_dir(check), "missing"), None).await,
    )?;
    Ok(Outcome::Passed)
}

/// How many files the paging check writes into one folder.
pub const LISTING_FILES: usize = 1_200;

/// 1,200 files in one folder (plus a subfolder) list completely through every page: no duplicates, no gaps,
/// full relative paths, right kinds and sizes.
pub async fn listing_pages_past_the_first_page_without_gaps(
    f: &dyn FileConformanceFactory,
) -> Result<Outcome, String> {
    let check = "listing_pages_past_the_first_page_without_gaps";
    let c: Arc<dyn FileConnector> = Arc::from(writable_or_return!(f, check));
    let dir = work_dir(check);
    call("create_dir", c.create_dir(&join(&dir, "sub")).await)?;
    // Written 16 at a time, as the engine would.
    let mut tasks = tokio::task::JoinSet::new();
    let next = Arc::new(AtomicU64::new(0));
    for _ in 0..16 {
        let (c, next, dir) = (Arc::clone(&c), Arc::clone(&next), dir.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                if i >= LISTING_FILES {
                    return Ok::<(), String>(());
                }
                let path = join(&dir, &format!("f{i:05}.txt"));
                let data = format!("file {i}\n").into_bytes();
                write_bytes(c.as_ref(), &path, &data, None).await?;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| format!("writer task: {e}"))??;
    }
    let (entries, pages) = list_all(c.as_ref(), &dir).await?;
    let mut want: BTreeSet<String> = (0..LISTING_FILES)
        .map(|i| join(&dir, &format!("f{i:05}.txt")))
        .collect();
    for e in &entries {
        if e.path == join(&dir, "sub") {
            ensure(e.kind == EntryKind::Dir, || {
                format!("{e:?} should be a Dir")
            })?;
            continue;
        }
        ensure(want.remove(&e.path), || {
            format!(
                "list returned {:?}, which was not written (or twice)",
                e.path
            )
        })?;
        let i: usize = e.name()[1..6].parse().unwrap_or(0);
        let size = format!("file {i}\n").len() as u64;
        ensure(e.kind == EntryKind::File && e.size == size, || {
            format!("{e:?}: want a File of {size} bytes")
        })?;
    }
    ensure(want.is_empty(), || {
        format!(
            "{} files missing from the listing over {pages} page(s), e.g. {:?}",
            want.len(),
            want.iter().take(3).collect::<Vec<_>>()
        )
    })?;
    ensure(entries.len() == LISTING_FILES + 1, || {
        format!(
            "listing has {} entries, want {}",
            entries.len(),
            LISTING_FILES + 1
        )
    })?;
    Ok(Outcome::Passed)
}

/// A file 20 folders deep is written (parents created by `write`), listed level by level and read back.
pub async fn deep_nesting_round_trips(f: &dyn FileConformanceFactory) -> Result<Outcome, String> {
    let check = "deep_nesting_round_trips";
    let c = writable_or_return!(f, check);
    let mut dir = work_dir(check);
    let top = dir.clone();
    for level in 1..=20 {
        dir = join(&dir, &format!("level {level:02}"));
    }
    let path = join(&dir, "leaf.txt");
    write_bytes(c.as_ref(), &path, b"deep", None).await?;
    ensure(read_all(c.as_ref(), &path).await? == b"deep", || {
        "the deep file reads back differently".into()
    })?;
    let mut at = top;
    for level in 1..=20 {
        let child = join(&at, &format!("level {level:02}"));
        let (entries, _) = list_all(c.as_ref(), &at).await?;
        ensure(
            entries.len() == 1 && entries[0].path == child && entries[0].kind == EntryKind::Dir,
            || format!("list({at:?}) = {entries:?}, want the folder {child:?}"),
        )?;
        at = child;
    }
    Ok(Outcome::Passed)
}

/// Names a migration meets (module docs of `ferry_core::file`: any character but `/` is allowed).
pub const AWKWARD_NAMES: [&str; 16] = [
    "with space.txt",
    "unicode-日本語-é-ß-😀.txt",
    "#%&.txt",
    "percent%20not-an-escape",
    "plus+and=equals;semi,comma",
    "question?mark",
    "quote's \"double\"",
    "back\\slash",
    "<angle>|pipe*star:colon",
    ".leading-dot",
    "..double-leading-dot",
    "a b ",
    " leading space",
    "trailing.dot.",
    "tab\there",
    "new\nline",
];

/// Every awkward name round-trips as a file (content and listing name) and as a folder holding a file —
/// except names with a character the factory documents as impossible on its server.
pub async fn awkward_names_round_trip(f: &dyn FileConformanceFactory) -> Result<Outcome, String> {
    let check = "awkward_names_round_trip";
    let c = writable_or_return!(f, check);
    let excluded = f.excluded_name_chars();
    let names: Vec<&str> = AWKWARD_NAMES
        .iter()
        .copied()
        .filter(|n| !excluded.iter().any(|(ch, _)| n.contains(*ch)))
        .filter(|n| f.refused_name(n).is_none())
        .collect();
    let files = join(&work_dir(check), "files");
    let dirs = join(&work_dir(check), "dirs");
    let mut failures = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let data = format!("content of name {i}").into_bytes();
        let path = join(&files, name);
        match write_bytes(c.as_ref(), &path, &data, None).await {
            Err(e) => failures.push(e),
            Ok(_) => match read_all(c.as_ref(), &path).await {
                Ok(back) if back == data => {}
                Ok(_) => failures.push(format!("{name:?} read back different bytes")),
                Err(e) => failures.push(e),
            },
        }
        let inner = join(&join(&dirs, name), "inner.txt");
        if let Err(e) = write_bytes(c.as_ref(), &inner, &data, None).await {
            failures.push(e);
        }
    }
    let (entries, _) = list_all(c.as_ref(), &files).await?;
    let listed: BTreeSet<&str> = entries.iter().map(|e| e.name()).collect();
    let want: BTreeSet<&str> = names.iter().copied().collect();
    if listed != want {
        failures.push(format!(
            "list(files) names differ: missing {:?}, unexpected {:?}",
            want.difference(&listed).collect::<Vec<_>>(),
            listed.difference(&want).collect::<Vec<_>>()
        ));
    }
    let (entries, _) = list_all(c.as_ref(), &dirs).await?;
    let listed: BTreeSet<&str> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Dir)
        .map(|e| e.name())
        .collect();
    if listed != want {
        failures.push(format!(
            "list(dirs) folder names differ: missing {:?}, unexpected {:?}",
            want.difference(&listed).collect::<Vec<_>>(),
            listed.difference(&want).collect::<Vec<_>>()
        ));
    }
    ensure(failures.is_empty(), || failures.join("; "))?;
    Ok(Outcome::Passed)
}

/// With `set_mtime`, the mtime given to `write` is what `write`, `stat` and `list` report (to the second).
pub async fn mtime_is_kept_when_set_mtime(
    f: &dyn FileConformanceFactory,
) -> Result<Outcome, String> {
    let check = "mtime_is_kept_when_set_mtime";
    let c = writable_or_return!(f, check);
    let mtime = Utc
        .timestamp_opt(1_000_000_000, 0)
        .single()
        .ok_or("bad test mtime")?;
    let path = join(&work_dir(check), "dated.txt");
    let written = write_bytes(c.as_ref(), &path, b"dated", Some(mtime)).await?;
    if !c.capability().set_mtime {
        return Ok(Outcome::Skipped(
            "connector does not keep mtimes (set_mtime: false); a write with an mtime succeeded"
                .into(),
        ));
    }
    let stat = call("stat", c.stat(&path).await)?.ok_or("stat is None after write")?;
    let (entries, _) = list_all(c.as_ref(), &work_dir(check)).await?;
    for (what, got) in [
        ("write", written.mtime),
        ("stat", stat.mtime),
        ("list", entries.first().and_then(|e| e.mtime)),
    ] {
        ensure(got.is_some_and(|t| same_second(t, mtime)), || {
            format!("{what} reports mtime {got:?}, want {mtime}")
        })?;
    }
    Ok(Outcome::Passed)
}

/// With `hash`, `stat` and `list` report the right digest of the content without reading it.
pub async fn hash_matches_the_content_when_offered(
    f: &dyn FileConformanceFactory,
) -> Result<Outcome, String> {
    let check = "hash_matches_the_content_when_offered";
    let c = writable_or_return!(f, check);
    let Some(kind) = c.capability().hash else {
        return Ok(Outcome::Skipped(
            "connector offers no hash (hash: None)".into(),
        ));
    };
    let data = pattern(9, 100_000);
    let want = match kind {
        HashKind::Sha256 => hex(&Sha256::digest(&data)),
        HashKind::Md5 => hex(&md5::Md5::digest(&data)),
        HashKind::QuickXor => {
            use base64::Engine;
            let b64 = crate::graph::quick_xor_hash(&data);
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("the testkit's QuickXorHash is not base64: {e}"))?;
            hex(&raw)
        }
        HashKind::Sha1 => {
            return Ok(Outcome::Skipped(
                "SHA-1 is not computed by the testkit; hash not checked".into(),
            ));
        }
    };
    let path = join(&work_dir(check), "hashed.bin");
    write_bytes(c.as_ref(), &path, &data, None).await?;
    let stat = call("stat", c.stat(&path).await)?.ok_or("stat is None after write")?;
    let (entries, _) = list_all(c.as_ref(), &work_dir(check)).await?;
    for (what, got) in [
        ("stat", stat.hash),
        ("list", entries.first().and_then(|e| e.hash.clone())),
    ] {
        ensure(got.as_deref() == Some(want.as_str()), || {
            format!("{what} reports {kind:?} {got:?}, want {want}")
        })?;
    }
    Ok(Outcome::Passed)
}

/// Largest resident-memory growth allowed while a large file is written and read back.
pub const MAX_RSS_GROWTH: u64 = 64 * 1024 * 1024;

/// A large file (see [`FileConformanceFactory::large_file_size`]) is written from a generated stream and
/// read back into a streaming hash; the process's resident memory grows by less than [`MAX_RSS_GROWTH`].
pub async fn large_file_streams_with_bounded_memory(
    f: &dyn FileConformanceFactory,
) -> Result<Outcome, String> {
    let check = "large_file_streams_with_bounded_memory";
    let c = writable_or_return!(f, check);
    let mut size = f.large_file_size();
    if let Some(max) = c.capability().max_file_size {
        size = size.min(max);
    }
    let path = join(&work_dir(check), "large.bin");
    let expected = {
        let mut h = Sha256::new();
        let mut generator = PatternReader::new(77, size);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = generator.fill(&mut buf);
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        hex(&h.finalize())
    };
    let monitor = RssMonitor::start();
    let written = call(
        &format!("write({path:?}, {size} bytes)"),
        c.write(&path, size, None, Box::new(PatternReader::new(77, size)))
            .await,
    )?;
    ensure(written.size == size, || {
        format!("write returned {written:?}")
    })?;
    let mut r = call("read", c.read(&path).await)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = r
            .read(&mut buf)
            .await
            .map_err(|e| format!("reading back after {total} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
    }
    let growth = monitor.stop();
    ensure(total == size, || {
        format!("read back {total} bytes, want {size}")
    })?;
    ensure(hex(&h.finalize()) == expected, || {
        "the large file read back has a different SHA-256".into()
    })?;
    if let Some(growth) = growth {
        ensure(growth < MAX_RSS_GROWTH, || {
            format!(
                "resident memory grew by {} MB while moving {} MB (limit {} MB): is the file buffered whole?",
                growth >> 20,
                size >> 20,
                MAX_RSS_GROWTH >> 20
            )
        })?;
    }
    Ok(Outcome::Passed)
}

/// With `resumable()`: begin, put parts 1 and 2, then a *new* connector session lists them as done,
/// puts part 3 and completes; the file has exactly the bytes. An aborted upload is gone (`NotFound`).
pub async fn resumable_upload_continues_after_two_parts(
    f: &dyn FileConformanceFactory,
) -> Result<Outcome, String> {
    let check = "resumable_upload_continues_after_two_parts";
    let c = writable_or_return!(f, check);
    let cap = c.capability();
    let Some(up) = c.resumable() else {
        ensure(!cap.resumable_write, || {
            "capability says resumable_write but resumable() is None".into()
        })?;
        return Ok(Outcome::Skipped(
            "connector has no resumable uploads (resumable_write: false)".into(),
        ));
    };
    ensure(cap.resumable_write, || {
        "resumable() is Some but the capability says resumable_write: false".into()
    })?;
    let part = up.part_size();
    ensure(part > 0, || "part_size() is 0".into())?;
    let size = part * 2 + part / 2 + 1;
    let data = pattern(5, usize::try_from(size).map_err(|_| "part size too large")?);
    let path = join(&work_dir(check), "resumed.bin");
    let state = call("begin", up.begin(&path, size, None).await)?;
    let part_bytes = |n: u32| {
        let start = (u64::from(n) - 1) * part;
        let end = (start + part).min(size);
        data[start as usize..end as usize].to_vec()
    };
    for n in [1u32, 2] {
        let bytes = part_bytes(n);
        call(
            &format!("put_part({n})"),
            up.put_part(&state, n, bytes.len() as u64, bytes_reader(bytes))
                .await,
        )?;
    }
    ensure(call("stat", c.stat(&path).await)?.is_none(), || {
        "an unfinished upload is already visible".into()
    })?;
    drop(c);
    // A new session, as after a crash: the state is all that survived.
    let c = open(f, Access::ReadWrite).await?;
    let up = c
        .resumable()
        .ok_or("the second session has no resumable()")?;
    let done = call("parts_done", up.parts_done(&state).await)?;
    ensure(done == [1, 2], || {
        format!("parts_done = {done:?}, want [1, 2]")
    })?;
    let bytes = part_bytes(3);
    call(
        "put_part(3)",
        up.put_part(&state, 3, bytes.len() as u64, bytes_reader(bytes))
            .await,
    )?;
    let entry = call("complete", up.complete(&state).await)?;
    ensure(entry.size == size, || {
        format!("complete returned {entry:?}, want {size} bytes")
    })?;
    ensure(read_all(c.as_ref(), &path).await? == data, || {
        "the completed upload reads back different bytes".into()
    })?;
    // An aborted upload no longer exists.
    let aborted = join(&work_dir(check), "aborted.bin");
    let state = call("begin (abort case)", up.begin(&aborted, size, None).await)?;
    let bytes = part_bytes(1);
    call(
        "put_part(1) (abort case)",
        up.put_part(&state, 1, bytes.len() as u64, bytes_reader(bytes))
            .await,
    )?;
    call("abort", up.abort(&state).await)?;
    expect_kind(
        "parts_done after abort",
        ErrorKind::NotFound,
        up.parts_done(&state).await,
    )?;
    ensure(call("stat", c.stat(&aborted).await)?.is_none(), || {
        "an aborted upload is visible".into()
    })?;
    Ok(Outcome::Passed)
}

/// A connector opened read-only says `write: false`, refuses `write`, `create_dir` and `begin` with
/// `Unsupported`, and the tree is the same afterwards.
pub async fn read_only_connector_refuses_writes_and_changes_nothing(
    f: &dyn FileConformanceFactory,
) -> Result<Outcome, String> {
    let check = "read_only_connector_refuses_writes_and_changes_nothing";
    let dir = work_dir(check);
    let rw = open(f, Access::ReadWrite).await?;
    if rw.capability().write {
        write_bytes(rw.as_ref(), &join(&dir, "existing.txt"), b"before", None).await?;
    }
    let before = tree(rw.as_ref(), "").await?;
    let ro = open(f, Access::ReadOnly).await?;
    ensure(!ro.capability().write, || {
        "a read-only connector reports write: true".into()
    })?;
    expect_kind(
        "read-only write (new file)",
        ErrorKind::Unsupported,
        ro.write(&join(&dir, "new.txt"), 1, None, bytes_reader(vec![1]))
            .await,
    )?;
    expect_kind(
        "read-only write (replace)",
        ErrorKind::Unsupported,
        ro.write(
            &join(&dir, "existing.txt"),
            5,
            None,
            bytes_reader(b"after".to_vec()),
        )
        .await,
    )?;
    expect_kind(
        "read-only create_dir",
        ErrorKind::Unsupported,
        ro.create_dir(&join(&dir, "new-dir")).await,
    )?;
    if let Some(up) = ro.resumable() {
        expect_kind(
            "read-only resumable begin",
            ErrorKind::Unsupported,
            up.begin(&join(&dir, "resumable.bin"), 10, None).await,
        )?;
    }
    let after = tree(rw.as_ref(), "").await?;
    ensure(before == after, || {
        format!(
            "the tree changed under a read-only connector:\nbefore {before:?}\nafter  {after:?}"
        )
    })?;
    Ok(Outcome::Passed)
}

/// Path → (kind, size, mtime) of everything below `dir` (listed only, never read).
async fn tree(
    c: &dyn FileConnector,
    dir: &str,
) -> Result<BTreeMap<String, (EntryKind, u64, Option<i64>)>, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let (entries, _) = list_all(c, &d).await?;
        for e in entries {
            if e.kind == EntryKind::Dir {
                todo.push(e.path.clone());
            }
            out.insert(e.path, (e.kind, e.size, e.mtime.map(|t| t.timestamp())));
        }
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `200M`, `4G`, `1024` → bytes.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()?.to_ascii_uppercase() {
        'K' => (&s[..s.len() - 1], 1u64 << 10),
        'M' => (&s[..s.len() - 1], 1 << 20),
        'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// An [`AsyncRead`] of `len` deterministic pseudo-random bytes (xorshift), generated as read: a
/// multi-gigabyte file never exists in memory.
pub struct PatternReader {
    state: u64,
    left: u64,
    /// Bytes of the current 8-byte word not yet handed out.
    word: [u8; 8],
    word_pos: usize,
}

impl PatternReader {
    /// `len` bytes from `seed`; the same seed gives the same bytes.
    pub fn new(seed: u64, len: u64) -> PatternReader {
        PatternReader {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            left: len,
            word: [0; 8],
            word_pos: 8,
        }
    }

    /// Fill `buf` with the next bytes; returns how many (0 at the end).
    pub fn fill(&mut self, buf: &mut [u8]) -> usize {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for b in &mut buf[..n] {
            if self.word_pos == 8 {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                self.word = self.state.to_le_bytes();
                self.word_pos = 0;
            }
            *b = self.word[self.word_pos];
            self.word_pos += 1;
        }
        self.left -= n as u64;
        n
    }
}

impl AsyncRead for PatternReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let dst = buf.initialize_unfilled();
        let n = self.fill(dst);
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// Samples `VmRSS` of this process every 20 ms on a thread; `stop` returns the peak growth.
struct RssMonitor {
    start: Option<u64>,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssMonitor {
    fn start() -> RssMonitor {
        let start = vm_rss();
        let peak = Arc::new(AtomicU64::new(start.unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("rss-monitor".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if let Some(now) = vm_rss() {
                            peak.fetch_max(now, Ordering::SeqCst);
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                })
                .ok()
        };
        RssMonitor {
            start,
            peak,
            stop,
            thread,
        }
    }

    /// Peak growth in bytes, or `None` where `/proc/self/status` cannot be read.
    fn stop(mut self) -> Option<u64> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(now) = vm_rss() {
            self.peak.fetch_max(now, Ordering::SeqCst);
        }
        let start = self.start?;
        Some(self.peak.load(Ordering::SeqCst).saturating_sub(start))
    }
}

/// Resident set size of this process in bytes (`VmRSS` in `/proc/self/status`).
pub fn vm_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_reader_is_deterministic_across_buffer_sizes() {
        let whole = pattern(3, 10_001);
        let mut r = PatternReader::new(3, 10_001);
        let mut pieces = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = r.fill(&mut buf);
            if n == 0 {
                break;
            }
            pieces.extend_from_slice(&buf[..n]);
        }
        assert_eq!(pieces, whole);
        assert_ne!(pattern(4, 100), pattern(3, 100));
    }

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("200m"), Some(200 << 20));
        assert_eq!(parse_size("1234"), Some(1234));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn vm_rss_is_readable_here() {
        assert!(vm_rss().is_some_and(|b| b > 0));
    }
}
