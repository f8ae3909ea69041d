//! One pass of one file mapping: a depth-first walk of the source, a directory at a time, comparing each
//! directory's files with the same directory on the target and with the journal, then copying what is
//! new or changed with bounded concurrency.

use super::{FileMappingSpec, FileOptions, parse_stamp, relative, same_time, stamp};
use crate::job::{join_in_order, summarise};
use crate::progress::Progress;
use crate::retry;
use chrono::Utc;
use ferry_core::file::{EntryKind, FileConnector, FileEntry, UploadState, join};
use ferry_core::id::{MappingId, PassId, RunId};
use ferry_core::mail::Access;
use ferry_core::rules::{TargetRoot, Verdict};
use ferry_core::{Error, ErrorKind, Result};
use ferry_store::{
    FileItemRow, FileItemWrite, FileStore, ItemStatus, PassCounters, PassKind, RunStatus,
    SavedUpload,
};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Journal writes are flushed in batches of this many rows (one transaction each).
const FLUSH_ROWS: usize = 256;

/// The outcome of one mapping in a run.
#[derive(Clone, Debug, Serialize)]
pub struct FileMappingResult {
    pub label: String,
    pub source: String,
    pub target: String,
    pub mapping_id: Option<MappingId>,
    pub kind: Option<PassKind>,
    pub status: RunStatus,
    pub counters: PassCounters,
    /// Files written under a name the target rules changed.
    pub renamed: u64,
    pub error: Option<String>,
}

/// The outcome of a file run.
#[derive(Clone, Debug, Serialize)]
pub struct FileRunSummary {
    pub run_id: RunId,
    pub mappings: Vec<FileMappingResult>,
    pub totals: PassCounters,
    pub status: RunStatus,
}

/// Run one pass for every mapping (`opts.mappings` at once). Per-mapping failures are in the summary;
/// only a store failure is an `Err`.
pub async fn run_files(
    store: Arc<dyn FileStore>,
    specs: Vec<FileMappingSpec>,
    opts: FileOptions,
    progress: Arc<Progress>,
) -> Result<FileRunSummary> {
    let options_json = serde_json::json!({
        "concurrency": opts.concurrency,
        "rules": format!("{:?}", opts.rules),
        "include": opts.filter.include,
        "exclude": opts.filter.exclude,
        "checksum": opts.checksum,
    })
    .to_string();
    let run = store.create_run("files", &options_json).await?;
    progress
        .mailboxes_total
        .store(specs.len() as u64, Ordering::Relaxed);
    let slots = Arc::new(Semaphore::new(opts.mappings.max(1)));
    // One cap per server, shared by every mapping that reads from or writes to it.
    let mut caps: HashMap<String, Arc<Semaphore>> = HashMap::new();
    for s in &specs {
        for k in [s.source.connection_key(), s.target.connection_key()] {
            caps.entry(k)
                .or_insert_with(|| Arc::new(Semaphore::new(opts.connections_per_endpoint.max(1))));
        }
    }
    let caps = Arc::new(caps);
    let opts = Arc::new(opts);
    let mut set = JoinSet::new();
    for (idx, spec) in specs.into_iter().enumerate() {
        let (store, opts, progress, slots, caps) = (
            store.clone(),
            opts.clone(),
            progress.clone(),
            slots.clone(),
            caps.clone(),
        );
        set.spawn(async move {
            let _slot = slots.acquire_owned().await.ok();
            let r = run_one(store, &spec, opts, progress.clone(), run, caps).await;
            Progress::add(&progress.mailboxes_done, 1);
            (idx, r)
        });
    }
    let mappings: Vec<FileMappingResult> = join_in_order(set, "mapping").await?;
    let (totals, status) = summarise(mappings.iter().map(|m| (&m.counters, m.status)));
    store.finish_run(run, status).await?;
    Ok(FileRunSummary {
        run_id: run,
        mappings,
        totals,
        status,
    })
}

async fn run_one(
    store: Arc<dyn FileStore>,
    spec: &FileMappingSpec,
    opts: Arc<FileOptions>,
    progress: Arc<Progress>,
    run: RunId,
    caps: Arc<HashMap<String, Arc<Semaphore>>>,
) -> Result<FileMappingResult> {
    let (source, target) = (spec.source_description(), spec.target_description());
    let mapping = store.upsert_mapping(&source, &target, &spec.label).await?;
    let earlier = store.passes(mapping.id).await?;
    let kind = if earlier.is_empty() {
        PassKind::Initial
    } else {
        PassKind::Delta
    };
    let pass_id = store.start_pass(mapping.id, run, kind).await?;
    let pass = FilePass {
        store: store.clone(),
        opts,
        progress,
        mapping: mapping.id,
        pass: pass_id,
        tally: Arc::new(Tally::default()),
        server_caps: server_caps(&caps, spec),
    };
    let outcome = pass.run(spec).await;
    let counters = pass.tally.counters();
    let mut result = FileMappingResult {
        label: spec.label.clone(),
        source,
        target,
        mapping_id: Some(mapping.id),
        kind: Some(kind),
        status: RunStatus::Done,
        counters,
        renamed: pass.tally.renamed.load(Ordering::Relaxed),
        error: None,
    };
    match outcome {
        Err(e) if e.kind() == ErrorKind::Store => return Err(e),
        Err(e) => {
            tracing::error!(mapping = %spec.label, error = %e, "mapping failed");
            result.status = RunStatus::Failed;
            result.error = Some(e.to_string());
        }
        Ok(()) if counters.failed > 0 => result.status = RunStatus::DoneWithErrors,
        Ok(()) => {}
    }
    store
        .finish_pass(
            pass_id,
            result.status,
            &result.counters,
            result.error.as_deref(),
        )
        .await?;
    Ok(result)
}

#[derive(Default)]
struct Tally {
    discovered: AtomicU64,
    copied: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
    renamed: AtomicU64,
}

impl Tally {
    fn counters(&self) -> PassCounters {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PassCounters {
            discovered: l(&self.discovered),
            copied: l(&self.copied),
            skipped: l(&self.skipped),
            failed: l(&self.failed),
            bytes: l(&self.bytes),
        }
    }
}

struct FilePass {
    store: Arc<dyn FileStore>,
    opts: Arc<FileOptions>,
    progress: Arc<Progress>,
    mapping: MappingId,
    pass: PassId,
    tally: Arc<Tally>,
    /// The per-server caps this mapping's copies share with other mappings, in key order.
    server_caps: Vec<Arc<Semaphore>>,
}

/// The caps of a mapping's two servers, deduplicated and sorted by key: every copy takes them in the
/// same global order, so mappings going opposite ways (A→B, B→A) cannot deadlock.
fn server_caps(
    caps: &HashMap<String, Arc<Semaphore>>,
    spec: &FileMappingSpec,
) -> Vec<Arc<Semaphore>> {
    let mut keys = vec![spec.source.connection_key(), spec.target.connection_key()];
    keys.sort();
    keys.dedup();
    keys.iter().filter_map(|k| caps.get(k).cloned()).collect()
}

/// What one copy task hands back.
struct CopyDone {
    rel: String,
    source: FileEntry,
    target_path: String,
    result: Result<FileEntry>,
}

fn item(
    rel: &str,
    f: &FileEntry,
    status: ItemStatus,
    reason: Option<String>,
    target_path: Option<&str>,
) -> FileItemWrite {
    FileItemWrite {
        path: rel.to_owned(),
        size: f.size,
        mtime: stamp(f.mtime),
        hash: f.hash.clone(),
        hash_kind: None,
        status,
        reason,
        target_path: target_path.map(str::to_owned),
        target_size: None,
        target_mtime: None,
    }
}

/// Everything in a directory on one side, all pages; a missing directory is empty.
pub(crate) async fn list_all(
    conn: &dyn FileConnector,
    dir: &str,
    policy: &crate::retry::RetryPolicy,
) -> Result<Vec<FileEntry>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = match retry!(policy, "list", conn.list(dir, token.clone())) {
            Ok(p) => p,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        out.extend(page.entries);
        token = page.next;
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The target path of a source-relative path under the rules, or the reason it is skipped.
pub(crate) fn target_of(
    opts: &FileOptions,
    spec: &FileMappingSpec,
    rel: &str,
    size: u64,
    cloud: bool,
) -> std::result::Result<(String, bool), String> {
    let target_dir = spec.target_dir.as_str();
    let root = TargetRoot {
        prefix: target_dir.to_owned(),
        is_library_root: spec.at_library_root,
    };
    match opts.rules.check(&root, rel, size, cloud) {
        Verdict::Ok {
            target_path,
            renamed,
        } => Ok((
            if target_dir.is_empty() {
                target_path
            } else {
                join(target_dir, &target_path)
            },
            !renamed.is_empty(),
        )),
        Verdict::Skip { reason } => Err(reason),
    }
}

impl FilePass {
    async fn run(&self, spec: &FileMappingSpec) -> Result<()> {
        let policy = self.opts.retry;
        let src = retry!(&policy, "open source", spec.source.open(Access::ReadOnly))
            .map_err(|e| e.with_context("side", "source"))?;
        let tgt = retry!(&policy, "open target", spec.target.open(Access::ReadWrite))
            .map_err(|e| e.with_context("side", "target"))?;
        let cloud = spec.source.is_cloud();
        let tcap = tgt.capability();
        let now = Utc::now();
        let permits = Arc::new(Semaphore::new(self.opts.concurrency.max(1)));
        // Multipart copies buffer one part each: at most two at once.
        let big_permits = Arc::new(Semaphore::new(2));
        let mut tasks: JoinSet<CopyDone> = JoinSet::new();
        let mut done_rows: Vec<FileItemWrite> = Vec::new();
        let mut stack = vec![spec.source_dir.clone()];
        let mut first = true;
        while let Some(dir) = stack.pop() {
            let entries = match list_all(src.as_ref(), &dir, &policy).await {
                Ok(e) => e,
                Err(e) if first => return Err(e),
                Err(e) => {
                    // A directory we cannot read is one failed item with the reason, and the walk goes on.
                    let rel = relative(&dir, &spec.source_dir);
                    let f = FileEntry {
                        path: dir.clone(),
                        kind: EntryKind::Dir,
                        size: 0,
                        mtime: None,
                        hash: None,
                    };
                    done_rows.push(item(
                        &format!("{rel}/"),
                        &f,
                        ItemStatus::Failed,
                        Some(format!("cannot list this directory: {e}")),
                        None,
                    ));
                    self.count(&self.tally.failed, &self.progress.failed, 1);
                    continue;
                }
            };
            first = false;
            let mut files = Vec::new();
            for e in entries {
                match e.kind {
                    EntryKind::Dir => stack.push(e.path),
                    EntryKind::File => files.push(e),
                }
            }
            // Children are pushed in listing order; popping visits them in reverse, which is fine.
            if files.is_empty() {
                continue;
            }
            self.directory(
                spec,
                &src,
                &tgt,
                &dir,
                files,
                cloud,
                tcap.set_mtime,
                now,
                &permits,
                &big_permits,
                &mut tasks,
                &mut done_rows,
            )
            .await?;
            while let Some(j) = tasks.try_join_next() {
                self.finish_copy(j, &mut done_rows)?;
            }
            if done_rows.len() >= FLUSH_ROWS {
                self.store
                    .write_file_items(self.mapping, self.pass, &done_rows)
                    .await?;
                done_rows.clear();
            }
        }
        while let Some(j) = tasks.join_next().await {
            self.finish_copy(j, &mut done_rows)?;
            if done_rows.len() >= FLUSH_ROWS {
                self.store
                    .write_file_items(self.mapping, self.pass, &done_rows)
                    .await?;
                done_rows.clear();
            }
        }
        self.store
            .write_file_items(self.mapping, self.pass, &done_rows)
            .await?;
        Ok(())
    }

    fn count(&self, tally: &AtomicU64, progress: &AtomicU64, n: u64) {
        tally.fetch_add(n, Ordering::Relaxed);
        Progress::add(progress, n);
    }

    fn finish_copy(
        &self,
        joined: std::result::Result<CopyDone, tokio::task::JoinError>,
        rows: &mut Vec<FileItemWrite>,
    ) -> Result<()> {
        let done =
            joined.map_err(|e| Error::unexpected(format!("a copy task ended abnormally: {e}")))?;
        match done.result {
            Ok(t) => {
                let mut w = item(
                    &done.rel,
                    &done.source,
                    ItemStatus::Copied,
                    None,
                    Some(&done.target_path),
                );
                w.target_size = Some(t.size);
                w.target_mtime = stamp(t.mtime);
                rows.push(w);
                self.count(&self.tally.copied, &self.progress.copied, 1);
                self.count(
                    &self.tally.bytes,
                    &self.progress.copied_bytes,
                    done.source.size,
                );
            }
            Err(e) => {
                rows.push(item(
                    &done.rel,
                    &done.source,
                    ItemStatus::Failed,
                    Some(e.to_string()),
                    Some(&done.target_path),
                ));
                self.count(&self.tally.failed, &self.progress.failed, 1);
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn directory(
        &self,
        spec: &FileMappingSpec,
        src: &Arc<dyn FileConnector>,
        tgt: &Arc<dyn FileConnector>,
        dir: &str,
        files: Vec<FileEntry>,
        cloud: bool,
        target_keeps_mtime: bool,
        now: chrono::DateTime<Utc>,
        permits: &Arc<Semaphore>,
        big_permits: &Arc<Semaphore>,
        tasks: &mut JoinSet<CopyDone>,
        rows: &mut Vec<FileItemWrite>,
    ) -> Result<()> {
        let policy = self.opts.retry;
        let rel_dir = relative(dir, &spec.source_dir);
        let journal: HashMap<String, FileItemRow> = self
            .store
            .file_items_in_dir(self.mapping, rel_dir)
            .await?
            .into_iter()
            .map(|r| (r.path.clone(), r))
            .collect();
        // The target directory is found from any file's target path (all files of a directory share it).
        let mut target_listing: Option<HashMap<String, FileEntry>> = None;
        let mut to_copy: Vec<(String, FileEntry, String)> = Vec::new();
        let mut now_rows: Vec<FileItemWrite> = Vec::new();
        for f in files {
            let rel = relative(&f.path, &spec.source_dir).to_owned();
            if !self.opts.filter.selects(&rel, f.mtime, now) {
                continue;
            }
            let row = journal.get(&rel);
            let (tpath, renamed) = match target_of(&self.opts, spec, &rel, f.size, cloud) {
                Ok(t) => t,
                Err(reason) => {
                    if row.is_none_or(|r| {
                        r.status != ItemStatus::Skipped
                            || r.reason.as_deref() != Some(reason.as_str())
                    }) {
                        now_rows.push(item(&rel, &f, ItemStatus::Skipped, Some(reason), None));
                        self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                        self.count(&self.tally.skipped, &self.progress.skipped, 1);
                    }
                    continue;
                }
            };
            if target_listing.is_none() {
                let tdir = ferry_core::file::parent(&tpath).to_owned();
                let listed = list_all(tgt.as_ref(), &tdir, &policy).await?;
                target_listing = Some(
                    listed
                        .into_iter()
                        .filter(|e| e.kind == EntryKind::File)
                        .map(|e| (e.path.clone(), e))
                        .collect(),
                );
            }
            let on_target = target_listing.as_ref().and_then(|l| l.get(&tpath));
            let source_unchanged = row.is_some_and(|r| {
                r.size == f.size
                    && r.mtime == stamp(f.mtime)
                    && (!self.opts.checksum || r.hash == f.hash)
            });
            let decision = match (row, on_target) {
                // Copied before and unchanged at the source: nothing to do, whether or not the target
                // still shows it. A delta copies what is new or changed at the source; a file deleted on
                // the target on purpose is not re-created, and a name the server lists differently
                // (rclone's WebDAV shows TAB as ␉) is not written again. Verify reports either as missing.
                (Some(r), _) if r.status == ItemStatus::Copied && source_unchanged => {
                    Decision::Nothing
                }
                (Some(r), Some(t)) if r.status == ItemStatus::Copied => {
                    // The source changed; overwrite only our own, untouched, earlier copy.
                    if Some(t.size) == r.target_size
                        && same_time(t.mtime, parse_stamp(r.target_mtime.as_deref()))
                    {
                        Decision::Copy
                    } else {
                        Decision::Skip(
                            "changed on the target since Ferry wrote it; not overwritten".into(),
                        )
                    }
                }
                (Some(r), Some(t))
                    if r.status == ItemStatus::Skipped
                        && r.reason
                            .as_deref()
                            .is_some_and(|x| x.starts_with("changed on the target"))
                        && source_unchanged =>
                {
                    let _ = t;
                    Decision::Nothing
                }
                (row, Some(t)) => {
                    // Not (confirmed) written by Ferry. A row left pending or failed means Ferry was writing
                    // this very file when it was interrupted: an identical file is adopted (the journal
                    // entry was cut off), a different one is Ferry's own partial write (targets without
                    // atomic writes show those) and is written again. A file Ferry never started to write
                    // is never overwritten.
                    let pending = row.is_some_and(|r| {
                        r.status == ItemStatus::Pending || r.status == ItemStatus::Failed
                    });
                    let same = t.size == f.size
                        && (if target_keeps_mtime {
                            same_time(t.mtime, f.mtime)
                        } else {
                            pending
                        });
                    if same {
                        Decision::Adopt(t.clone())
                    } else if pending {
                        Decision::Copy
                    } else if row.is_some_and(|r| r.status == ItemStatus::Skipped)
                        && source_unchanged
                    {
                        Decision::Nothing
                    } else {
                        Decision::Skip("exists on the target and differs; Ferry does not overwrite files it did not write".into())
                    }
                }
                (_, None) => Decision::Copy,
            };
            match decision {
                Decision::Nothing => {}
                Decision::Skip(reason) => {
                    self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                    now_rows.push(item(
                        &rel,
                        &f,
                        ItemStatus::Skipped,
                        Some(reason),
                        Some(&tpath),
                    ));
                    self.count(&self.tally.skipped, &self.progress.skipped, 1);
                }
                Decision::Adopt(t) => {
                    self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                    let mut w = item(&rel, &f, ItemStatus::Copied, None, Some(&tpath));
                    w.target_size = Some(t.size);
                    w.target_mtime = stamp(t.mtime);
                    now_rows.push(w);
                    self.count(&self.tally.copied, &self.progress.copied, 1);
                }
                Decision::Copy => {
                    if renamed {
                        self.tally.renamed.fetch_add(1, Ordering::Relaxed);
                    }
                    self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                    Progress::add(&self.progress.discovered, 1);
                    Progress::add(&self.progress.discovered_bytes, f.size);
                    now_rows.push(item(&rel, &f, ItemStatus::Pending, None, Some(&tpath)));
                    to_copy.push((rel, f, tpath));
                }
            }
        }
        // Pending rows are durable before any byte is sent, so a crash is always reconciled.
        self.store
            .write_file_items(self.mapping, self.pass, &now_rows)
            .await?;
        for (rel, f, tpath) in to_copy {
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| Error::unexpected("copy permits closed"))?;
            let mut server_permits = Vec::with_capacity(self.server_caps.len());
            for cap in &self.server_caps {
                server_permits.push(
                    cap.clone()
                        .acquire_owned()
                        .await
                        .map_err(|_| Error::unexpected("server permits closed"))?,
                );
            }
            let (src, tgt, store, mapping) =
                (src.clone(), tgt.clone(), self.store.clone(), self.mapping);
            let big = big_permits.clone();
            tasks.spawn(async move {
                let _permit = permit;
                let _server_permits = server_permits;
                let result = copy_file(&policy, store, mapping, src, tgt, &f, &tpath, big).await;
                CopyDone {
                    rel,
                    source: f,
                    target_path: tpath,
                    result,
                }
            });
            // Keep the set from growing without bound when copies are slower than the walk.
            while tasks.len() > 4 * self.opts.concurrency.max(1) {
                if let Some(j) = tasks.join_next().await {
                    self.finish_copy(j, rows)?;
                }
            }
        }
        Ok(())
    }
}

enum Decision {
    Nothing,
    Copy,
    Adopt(FileEntry),
    Skip(String),
}

/// Copy one file, with retries; large files go through the target's resumable upload when it has one.
#[allow(clippy::too_many_arguments)]
async fn copy_file(
    policy: &crate::retry::RetryPolicy,
    store: Arc<dyn FileStore>,
    mapping: MappingId,
    src: Arc<dyn FileConnector>,
    tgt: Arc<dyn FileConnector>,
    f: &FileEntry,
    tpath: &str,
    big: Arc<Semaphore>,
) -> Result<FileEntry> {
    if let Some(ru) = tgt.resumable()
        && f.size >= 2 * ru.part_size()
    {
        {
            let _slot = big
                .acquire_owned()
                .await
                .map_err(|_| Error::unexpected("permits closed"))?;
            return retry!(
                policy,
                "resumable copy",
                resumable_copy(
                    store.as_ref(),
                    mapping,
                    src.as_ref(),
                    tgt.as_ref(),
                    f,
                    tpath
                )
            );
        }
    }
    retry!(policy, "copy", async {
        let reader = src.read(&f.path).await?;
        tgt.write(tpath, f.size, f.mtime, reader).await
    })
}

/// A multipart copy whose progress is saved in the store, so a re-run continues at the first missing part.
async fn resumable_copy(
    store: &dyn FileStore,
    mapping: MappingId,
    src: &dyn FileConnector,
    tgt: &dyn FileConnector,
    f: &FileEntry,
    tpath: &str,
) -> Result<FileEntry> {
    let ru = tgt
        .resumable()
        .ok_or_else(|| Error::unsupported("the target has no resumable upload"))?;
    let part = ru.part_size().max(1);
    let saved = store.load_upload(mapping, tpath).await?;
    let mut resumed: Option<(UploadState, Vec<u32>)> = None;
    if let Some(s) = saved.filter(|s| s.source_size == f.size && s.source_mtime == stamp(f.mtime))
        && let Ok(state) = serde_json::from_str::<UploadState>(&s.state)
    {
        match ru.parts_done(&state).await {
            Ok(done) => resumed = Some((state, done)),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let (state, done) = match resumed {
        Some(r) => {
            tracing::info!(path = %tpath, parts = r.1.len(), "resuming an interrupted upload");
            r
        }
        None => {
            let state = ru.begin(tpath, f.size, f.mtime).await?;
            let json = serde_json::to_string(&state)
                .map_err(|e| Error::unexpected(format!("upload state: {e}")))?;
            store
                .save_upload(
                    mapping,
                    tpath,
                    &SavedUpload {
                        state: json,
                        source_size: f.size,
                        source_mtime: stamp(f.mtime),
                    },
                )
                .await?;
            (state, Vec::new())
        }
    };
    let done: HashSet<u32> = done.into_iter().collect();
    let mut reader = src.read(&f.path).await?;
    let parts = f.size.div_ceil(part).max(1);
    for n in 1..=parts {
        let len = part.min(f.size - (n - 1) * part);
        let mut buf = Vec::with_capacity(len as usize);
        (&mut reader)
            .take(len)
            .read_to_end(&mut buf)
            .await
            .map_err(Error::from)?;
        if buf.len() as u64 != len {
            return Err(Error::new(
                ErrorKind::Io,
                format!("the source ended early at part {n} of {}", f.path),
            )
            .temporary());
        }
        let number = n as u32;
        if done.contains(&number) {
            continue;
        }
        ru.put_part(&state, number, len, Box::new(std::io::Cursor::new(buf)))
            .await?;
    }
    let entry = ru.complete(&state).await?;
    store.delete_upload(mapping, tpath).await?;
    Ok(entry)
}
