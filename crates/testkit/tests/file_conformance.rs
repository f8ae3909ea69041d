//! The file conformance suite run against a tiny in-memory `FileConnector`: a correct one passes every
//! check, and each deliberately broken variant fails the check that should catch it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::file::{
    EntryKind, FileCapability, FileConnector, FileEntry, FileReader, HashKind, ListPage,
    ResumableUpload, UploadState, parent,
};
use ferry_core::mail::Access;
use ferry_core::{Error, ErrorKind, Result};
use ferry_testkit::conformance::Outcome;
use ferry_testkit::file_conformance::{
    FileConformanceFactory, file_conformance_report, run_file_conformance,
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;

/// Every test here runs the suite, whose big-file check measures the whole process's memory (and one
/// test deliberately buffers 96 MB): they must not overlap.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// RSS is per process: the test that buffers a big file on purpose must not run beside the others.
static MEMORY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Deliberate bugs, to prove the suite notices them.
#[derive(Clone, Copy, Default)]
struct Bugs {
    /// Pages after the first are empty.
    lose_later_pages: bool,
    /// Claims `set_mtime` but stores the write time.
    ignore_mtime: bool,
    /// Read-only connectors write anyway.
    write_when_read_only: bool,
    /// Cannot store names with a line feed.
    no_line_feed: bool,
}

#[derive(Clone)]
enum Node {
    Dir,
    File { data: Vec<u8>, mtime: DateTime<Utc> },
}

#[derive(Default)]
struct Store {
    nodes: Mutex<BTreeMap<String, Node>>,
    uploads: Mutex<HashMap<String, BTreeMap<u32, Vec<u8>>>>,
    next_upload: Mutex<u64>,
}

struct Memory {
    store: Arc<Store>,
    access: Access,
    bugs: Bugs,
}

const PAGE: usize = 500;
const PART: u64 = 1_000;

fn nodes(s: &Store) -> std::sync::MutexGuard<'_, BTreeMap<String, Node>> {
    s.nodes.lock().unwrap_or_else(|p| p.into_inner())
}

fn entry(path: &str, node: &Node) -> FileEntry {
    match node {
        Node::Dir => FileEntry {
            created: None,
            path: path.to_owned(),
            kind: EntryKind::Dir,
            size: 0,
            mtime: None,
            hash: None,
            etag: None,
        },
        Node::File { data, mtime } => FileEntry {
            created: None,
            path: path.to_owned(),
            kind: EntryKind::File,
            size: data.len() as u64,
            mtime: Some(*mtime),
            hash: Some(
                Sha256::digest(data)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            ),
            etag: None,
        },
    }
}

impl Memory {
    fn check_write(&self) -> Result<()> {
        if self.access == Access::ReadOnly && !self.bugs.write_when_read_only {
            return Err(Error::unsupported("opened read-only"));
        }
        Ok(())
    }

    fn make_dirs(&self, nodes: &mut BTreeMap<String, Node>, path: &str) -> Result<()> {
        let mut at = String::new();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            at = ferry_core::file::join(&at, seg);
            match nodes.get(&at) {
                Some(Node::File { .. }) => {
                    return Err(Error::new(ErrorKind::Rejected, format!("{at} is a file")));
                }
                Some(Node::Dir) => {}
                None => {
                    nodes.insert(at.clone(), Node::Dir);
                }
            }
        }
        Ok(())
    }

    fn store_file(
        &self,
        path: &str,
        data: Vec<u8>,
        mtime: Option<DateTime<Utc>>,
    ) -> Result<FileEntry> {
        if self.bugs.no_line_feed && path.contains('\n') {
            return Err(Error::new(ErrorKind::Rejected, "no line feeds here"));
        }
        let mtime = match mtime {
            Some(t) if !self.bugs.ignore_mtime => t,
            _ => Utc::now(),
        };
        let mut nodes = nodes(&self.store);
        self.make_dirs(&mut nodes, parent(path))?;
        let node = Node::File { data, mtime };
        let e = entry(path, &node);
        nodes.insert(path.to_owned(), node);
        Ok(e)
    }
}

async fn read_exact_size(mut data: FileReader, size: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    (&mut data)
        .take(size + 1)
        .read_to_end(&mut buf)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
    if buf.len() as u64 != size {
        return Err(Error::new(
            ErrorKind::Io,
            format!("got {} bytes, declared {size}", buf.len()),
        ));
    }
    Ok(buf)
}

#[async_trait]
impl FileConnector for Memory {
    fn capability(&self) -> FileCapability {
        FileCapability {
            write: self.access == Access::ReadWrite,
            paged_list: true,
            set_mtime: true,
            hash: Some(HashKind::Sha256),
            atomic_write: true,
            resumable_write: true,
            max_file_size: None,
            etag: false,
        }
    }

    fn describe(&self) -> String {
        "memory://".into()
    }

    async fn list(&self, dir: &str, token: Option<String>) -> Result<ListPage> {
        let nodes = nodes(&self.store);
        if !dir.is_empty() && !matches!(nodes.get(dir), Some(Node::Dir)) {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no folder {dir:?}"),
            ));
        }
        if token.is_some() && self.bugs.lose_later_pages {
            return Ok(ListPage::default());
        }
        let mut entries: Vec<FileEntry> = nodes
            .iter()
            .filter(|(p, _)| parent(p) == dir && !p.is_empty())
            .filter(|(p, _)| token.as_ref().is_none_or(|t| p.as_str() > t.as_str()))
            .take(PAGE + 1)
            .map(|(p, n)| entry(p, n))
            .collect();
        let next = if entries.len() > PAGE {
            entries.truncate(PAGE);
            entries.last().map(|e| e.path.clone())
        } else {
            None
        };
        Ok(ListPage { entries, next })
    }

    async fn stat(&self, path: &str) -> Result<Option<FileEntry>> {
        Ok(nodes(&self.store).get(path).map(|n| entry(path, n)))
    }

    async fn read(&self, path: &str) -> Result<FileReader> {
        match nodes(&self.store).get(path) {
            Some(Node::File { data, .. }) => Ok(Box::new(std::io::Cursor::new(data.clone()))),
            _ => Err(Error::new(ErrorKind::NotFound, format!("no file {path:?}"))),
        }
    }

    async fn create_dir(&self, path: &str) -> Result<()> {
        self.check_write()?;
        let mut nodes = nodes(&self.store);
        self.make_dirs(&mut nodes, path)
    }

    async fn write(
        &self,
        path: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
        data: FileReader,
    ) -> Result<FileEntry> {
        self.check_write()?;
        let data = read_exact_size(data, size).await?;
        self.store_file(path, data, mtime)
    }

    fn resumable(&self) -> Option<&dyn ResumableUpload> {
        Some(self)
    }
}

#[async_trait]
impl ResumableUpload for Memory {
    fn part_size(&self) -> u64 {
        PART
    }

    async fn begin(
        &self,
        path: &str,
        size: u64,
        _mtime: Option<DateTime<Utc>>,
    ) -> Result<UploadState> {
        self.check_write()?;
        let mut next = self
            .store
            .next_upload
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *next += 1;
        let token = format!("upload-{next}");
        self.store
            .uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), BTreeMap::new());
        Ok(UploadState {
            path: path.to_owned(),
            size,
            token,
        })
    }

    async fn parts_done(&self, state: &UploadState) -> Result<Vec<u32>> {
        let uploads = self.store.uploads.lock().unwrap_or_else(|p| p.into_inner());
        uploads
            .get(&state.token)
            .map(|parts| parts.keys().copied().collect())
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "no such upload"))
    }

    async fn put_part(
        &self,
        state: &UploadState,
        number: u32,
        len: u64,
        data: FileReader,
    ) -> Result<()> {
        let bytes = read_exact_size(data, len).await?;
        let mut uploads = self.store.uploads.lock().unwrap_or_else(|p| p.into_inner());
        uploads
            .get_mut(&state.token)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "no such upload"))?
            .insert(number, bytes);
        Ok(())
    }

    async fn complete(&self, state: &UploadState) -> Result<FileEntry> {
        let parts = self
            .store
            .uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&state.token)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "no such upload"))?;
        let data: Vec<u8> = parts.into_values().flatten().collect();
        if data.len() as u64 != state.size {
            return Err(Error::new(ErrorKind::Io, "parts do not add up"));
        }
        self.store_file(&state.path, data, None)
    }

    async fn abort(&self, state: &UploadState) -> Result<()> {
        self.store
            .uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&state.token);
        Ok(())
    }
}

struct Factory {
    store: Arc<Store>,
    bugs: Bugs,
    big: u64,
    excluded: Vec<(char, String)>,
}

impl Factory {
    fn new(bugs: Bugs) -> Factory {
        Factory {
            store: Arc::default(),
            bugs,
            big: 8 << 20,
            excluded: Vec::new(),
        }
    }
}

#[async_trait]
impl FileConformanceFactory for Factory {
    async fn open(&self, access: Access) -> Result<Box<dyn FileConnector>> {
        Ok(Box::new(Memory {
            store: Arc::clone(&self.store),
            access,
            bugs: self.bugs,
        }))
    }

    fn excluded_name_chars(&self) -> Vec<(char, String)> {
        self.excluded.clone()
    }

    fn large_file_size(&self) -> u64 {
        self.big
    }
}

#[tokio::test]
async fn a_correct_in_memory_connector_passes_every_check() {
    let _alone = ALONE.lock().await;
    let _serial = MEMORY.lock().await;
    run_file_conformance(&Factory::new(Bugs::default())).await;
}

#[tokio::test]
async fn losing_later_pages_fails_the_paging_check() {
    let _alone = ALONE.lock().await;
    let _serial = MEMORY.lock().await;
    let bugs = Bugs {
        lose_later_pages: true,
        ..Bugs::default()
    };
    let report = file_conformance_report(&Factory::new(bugs)).await;
    assert!(
        report
            .failed()
            .contains(&"listing_pages_past_the_first_page_without_gaps"),
        "{report}"
    );
}

#[tokio::test]
async fn claiming_set_mtime_without_keeping_it_fails_the_mtime_check() {
    let _alone = ALONE.lock().await;
    let _serial = MEMORY.lock().await;
    let bugs = Bugs {
        ignore_mtime: true,
        ..Bugs::default()
    };
    let report = file_conformance_report(&Factory::new(bugs)).await;
    assert_eq!(
        report.failed(),
        ["mtime_is_kept_when_set_mtime"],
        "{report}"
    );
}

#[tokio::test]
async fn a_read_only_connector_that_writes_fails_the_read_only_check() {
    let _alone = ALONE.lock().await;
    let _serial = MEMORY.lock().await;
    let bugs = Bugs {
        write_when_read_only: true,
        ..Bugs::default()
    };
    let report = file_conformance_report(&Factory::new(bugs)).await;
    assert_eq!(
        report.failed(),
        ["read_only_connector_refuses_writes_and_changes_nothing"],
        "{report}"
    );
}

#[tokio::test]
async fn a_server_limit_on_line_feeds_fails_unless_the_factory_documents_it() {
    let _alone = ALONE.lock().await;
    let _serial = MEMORY.lock().await;
    let bugs = Bugs {
        no_line_feed: true,
        ..Bugs::default()
    };
    let report = file_conformance_report(&Factory::new(bugs)).await;
    assert_eq!(report.failed(), ["awkward_names_round_trip"], "{report}");
    let mut documented = Factory::new(bugs);
    documented.excluded = vec![('\n', "this store cannot carry line feeds".into())];
    let report = file_conformance_report(&documented).await;
    assert!(report.failed().is_empty(), "{report}");
}

#[tokio::test]
async fn buffering_a_large_file_in_memory_fails_the_bounded_memory_check() {
    let _alone = ALONE.lock().await;
    let _serial = MEMORY.lock().await;
    let mut f = Factory::new(Bugs::default());
    // The in-memory connector keeps every byte: 96 MB must exceed the 64 MB limit.
    f.big = 96 << 20;
    let outcome = ferry_testkit::file_conformance::large_file_streams_with_bounded_memory(&f).await;
    match outcome {
        Err(why) => assert!(why.contains("resident memory grew"), "{why}"),
        Ok(o) => assert_ne!(o, Outcome::Passed, "buffering 96 MB went unnoticed"),
    }
}
