//! One pass of one file mapping: a depth-first walk of the source, a directory at a time, comparing each
//! directory's files with the same directory on the target and with the journal (`scan`), then
//! copying what is new or changed with bounded concurrency (`copy`).
//!
//! The walk scans up to `READ_AHEAD` directories at once, each in a task: a scan is a source listing, a
//! journal query and, when some file needs it, a target listing, and a no-op re-run is nothing but
//! scans. Memory stays flat from 100k to 1M files: the walk holds the directories still to visit
//! (paths only), at most `READ_AHEAD` scanned directories, and the copies in flight.

use super::copy::{self, CopyDone};
use super::journal::{Durable, Journal};
use super::scan::{self, Scanned, ToCopy};
use super::{FileMappingSpec, FileOptions, relative, stamp};
use crate::job::{join_in_order, summarise};
use crate::progress::{Progress, ProgressEvent};
use crate::retry;
use crate::retry::ServerWait;
use chrono::{DateTime, Utc};
use ferry_core::file::{EntryKind, FileConnector, FileEntry, OwnWrites, join};
use ferry_core::id::{MappingId, PassId, RunId};
use ferry_core::mail::Access;
use ferry_core::rules::{TargetRoot, Verdict};
use ferry_core::{Error, ErrorKind, Result};
use ferry_store::{FileItemWrite, FileStore, ItemStatus, PassCounters, PassKind, RunStatus};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Finished copies' rows go to the journal writer in batches of this many.
const FLUSH_ROWS: usize = 256;
/// Directories scanned at once, ahead of the copies.
const READ_AHEAD: usize = 8;

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
    /// The pass stopped at a checkpoint because a server asked for a wait longer than
    /// [`crate::retry::RetryPolicy::max_wait_in_pass`]: run it again after the wait (nothing failed; the
    /// files it did not finish stay pending and are compared again then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_wait: Option<ServerWait>,
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
        "final": opts.final_pass,
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
            progress.event(ProgressEvent::Started {
                label: spec.label.clone(),
            });
            let r = run_one(store, &spec, opts, progress.clone(), run, caps).await;
            if let Ok(m) = &r {
                progress.event(ProgressEvent::Finished {
                    label: m.label.clone(),
                    kind: m.kind,
                    status: m.status,
                    counters: m.counters,
                    error: m.error.clone(),
                });
            }
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
    if mapping.sealed {
        tracing::info!(mapping = %spec.label, "sealed by a final pass: nothing more is copied");
        return Ok(FileMappingResult {
            label: spec.label.clone(),
            source,
            target,
            mapping_id: Some(mapping.id),
            kind: None,
            status: RunStatus::Done,
            counters: PassCounters::default(),
            renamed: 0,
            error: Some("this tree was sealed by a final pass; nothing more is copied".into()),
            server_wait: None,
        });
    }
    let earlier = store.passes(mapping.id).await?;
    let kind = if opts.final_pass {
        PassKind::Final
    } else if earlier.is_empty() {
        PassKind::Initial
    } else {
        PassKind::Delta
    };
    let pass_id = store.start_pass(mapping.id, run, kind).await?;
    // `files verify` pairs names by the rules the passes used.
    store
        .set_file_target_rules(mapping.id, opts.rules.as_str())
        .await?;
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
        server_wait: None,
    };
    match outcome {
        Err(e) if e.kind() == ErrorKind::Store => return Err(e),
        Err(e) => match pass.opts.retry.wait_too_long(&e) {
            // A server asked for a wait longer than the pass may sleep: stopped at a checkpoint, to be run
            // again after the wait (issue 12 §3), as the mail engine does.
            Some(wait) => {
                let w = ServerWait::of(&e, wait);
                tracing::info!(mapping = %spec.label, wait_secs = w.secs, reason = %w.reason,
                    "stopped for a server wait; the pass resumes from its checkpoint after it");
                result.status = RunStatus::Failed;
                result.error = Some(format!("stopped for a server wait of {} s: {e}", w.secs));
                result.server_wait = Some(w);
            }
            None => {
                tracing::error!(mapping = %spec.label, error = %e, "mapping failed");
                result.status = RunStatus::Failed;
                result.error = Some(e.to_string());
            }
        },
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
    // A Final pass with failed items leaves the mapping open, so it can run again.
    if kind == PassKind::Final && result.status == RunStatus::Done {
        store.seal_mapping(mapping.id).await?;
    }
    Ok(result)
}

/// Ferry's own writes to a target, as the journal recorded them (for the target's change feed).
struct JournalWrites {
    store: Arc<dyn FileStore>,
    mapping: MappingId,
}

#[async_trait::async_trait]
impl OwnWrites for JournalWrites {
    async fn own(&self, etags: &[String]) -> Result<std::collections::HashSet<String>> {
        self.store.file_own_etags(self.mapping, etags).await
    }
}

/// A pass's counters, shared by its scans and copies.
#[derive(Default)]
pub(super) struct Tally {
    pub discovered: AtomicU64,
    pub copied: AtomicU64,
    pub skipped: AtomicU64,
    pub failed: AtomicU64,
    pub bytes: AtomicU64,
    pub renamed: AtomicU64,
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

/// What the scans and copies of one pass share, once its connectors are open.
pub(super) struct PassCtx {
    pub store: Arc<dyn FileStore>,
    pub opts: Arc<FileOptions>,
    pub progress: Arc<Progress>,
    pub tally: Arc<Tally>,
    pub mapping: MappingId,
    pub spec: FileMappingSpec,
    pub src: Arc<dyn FileConnector>,
    pub tgt: Arc<dyn FileConnector>,
    /// The source is a cloud service (its file size limit applies).
    pub cloud: bool,
    /// The target keeps the mtimes it is given (an identical file there can be adopted).
    pub target_keeps_mtime: bool,
    /// The target also writes atomically: a file there is absent or complete with the source's size
    /// and mtime, so a new file needs no pending row (see `scan`).
    pub target_adopts_new: bool,
    /// When the pass started (the age filters compare with it).
    pub now: DateTime<Utc>,
    /// The target's folder for this mapping is gone or empty: the journal's "copied" rows describe a
    /// target that is no more, so every file is compared with the target (and copied again when missing).
    pub recheck: bool,
    /// Target paths of files the target's change feed says were edited there since the last pass: each
    /// is compared with the target even when its source is unchanged.
    pub target_edited: std::collections::HashSet<String>,
    /// The change feed could not vouch for the target since the last pass: every file is compared with
    /// the target (a listing of each folder), as if the feed had named it.
    pub target_resync: bool,
}

pub(super) fn item(
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
        target_etag: None,
        renamed: None,
    }
}

/// The target's report of a file Ferry just wrote (or adopted), into its `copied` row.
pub(super) fn with_target(mut w: FileItemWrite, t: &FileEntry) -> FileItemWrite {
    w.target_size = Some(t.size);
    w.target_mtime = stamp(t.mtime);
    w.target_etag = t.etag.clone();
    w
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

/// Whether the mapping's target folder is missing or holds nothing (one request on every connector).
async fn target_folder_is_empty(
    tgt: &dyn FileConnector,
    dir: &str,
    policy: &crate::retry::RetryPolicy,
) -> Result<bool> {
    retry!(policy, "list", tgt.is_empty_dir(dir))
}

/// The target path of a source-relative path under the rules, with the rules that renamed it (if any
/// did, as `forbidden_character, reserved_name`), or the reason it is skipped.
pub(crate) fn target_of(
    opts: &FileOptions,
    spec: &FileMappingSpec,
    rel: &str,
    size: u64,
    cloud: bool,
) -> std::result::Result<(String, Option<String>), String> {
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
            rename_note(&renamed),
        )),
        Verdict::Skip { reason } => Err(reason),
    }
}

/// What a rename did, for the journal and the report: each changed name, before → after, and its rules.
fn rename_note(renamed: &[ferry_core::rules::Rename]) -> Option<String> {
    if renamed.is_empty() {
        return None;
    }
    let parts: Vec<String> = renamed
        .iter()
        .map(|r| {
            let rules: Vec<&str> = r.rules.iter().map(|x| x.as_str()).collect();
            format!("{:?} → {:?} ({})", r.before, r.after, rules.join(", "))
        })
        .collect();
    Some(parts.join("; "))
}

impl FilePass {
    async fn run(&self, spec: &FileMappingSpec) -> Result<()> {
        let policy = self.opts.retry;
        let src = retry!(&policy, "open source", spec.source.open(Access::ReadOnly))
            .map_err(|e| e.with_context("side", "source"))?;
        let tgt = retry!(&policy, "open target", spec.target.open(Access::ReadWrite))
            .map_err(|e| e.with_context("side", "target"))?;
        // Both sides on this machine: copies go in batches through the target's local copy.
        let local = src.local().is_some() && tgt.local().is_some();
        // The journal is a cache, the target the truth: one listing page of the target folder says
        // whether what the journal holds can still be there.
        let recheck = target_folder_is_empty(tgt.as_ref(), &spec.target_dir, &policy)
            .await
            .map_err(|e| e.with_context("side", "target"))?;
        // The target's change feed (OneDrive/SharePoint): files edited there since the last pass started,
        // without Ferry's own writes (the journal recorded their ETags). When the feed cannot say (no link
        // kept from a clean pass, a link the service no longer knows, more changes than it carries),
        // nothing is trusted to it: every file is compared with a listing of its target folder
        // (`target_resync`), as the feed's `410 Gone` asks. The link the next pass starts from is taken
        // now, before this pass writes anything, so an edit made on the target while it runs is in it.
        let mut target_edited = std::collections::HashSet::new();
        let mut target_resync = false;
        let mut next_link = None;
        if let Some(feed) = tgt.change_feed() {
            let link = if recheck {
                None
            } else {
                self.store.file_delta_link(self.mapping).await?
            };
            match link {
                Some(link) => {
                    let own = JournalWrites {
                        store: self.store.clone(),
                        mapping: self.mapping,
                    };
                    let answer = feed
                        .changes_since(&link, &own)
                        .await
                        .map_err(|e| e.with_context("side", "target"))?;
                    if answer.resync {
                        tracing::info!(
                            mapping = %spec.label,
                            "the target's change feed cannot say what changed since the last pass; comparing every file with a listing of the target"
                        );
                    }
                    target_resync = answer.resync;
                    target_edited = answer.changed.into_iter().map(|e| e.path).collect();
                    next_link = Some(answer.delta_link);
                }
                None => {
                    target_resync = !recheck;
                    let link = feed
                        .latest()
                        .await
                        .map_err(|e| e.with_context("side", "target"))?;
                    next_link = Some(link);
                }
            }
        }
        let ctx = Arc::new(PassCtx {
            store: self.store.clone(),
            opts: self.opts.clone(),
            progress: self.progress.clone(),
            tally: self.tally.clone(),
            mapping: self.mapping,
            spec: spec.clone(),
            cloud: spec.source.is_cloud(),
            target_keeps_mtime: tgt.capability().set_mtime,
            target_adopts_new: tgt.capability().set_mtime && tgt.capability().atomic_write,
            now: Utc::now(),
            recheck,
            target_edited,
            target_resync,
            src,
            tgt,
        });
        let mut journal = Journal::start(self.store.clone(), self.mapping, self.pass);
        let walked = self.walk(&ctx, &mut journal, local).await;
        // Whatever the walk did, what it queued is written before the pass is finished.
        let finished = journal.finish().await;
        let done = walked.and(finished);
        // The feed moves on only after a clean pass, from where this pass started.
        if done.is_ok()
            && let Some(link) = next_link
        {
            self.store
                .set_file_delta_link(self.mapping, Some(&link))
                .await?;
        }
        done
    }

    async fn walk(&self, ctx: &Arc<PassCtx>, journal: &mut Journal, local: bool) -> Result<()> {
        let spec = &ctx.spec;
        let mut copies = Copies {
            permits: Arc::new(Semaphore::new(self.opts.concurrency.max(1))),
            // Multipart copies buffer one part each: at most two at once.
            big_permits: Arc::new(Semaphore::new(2)),
            local,
            tasks: JoinSet::new(),
            done_rows: Vec::new(),
            wait: None,
        };
        let mut stack = vec![spec.source_dir.clone()];
        let mut scans: JoinSet<Result<Scanned>> = JoinSet::new();
        let mut first = true;
        loop {
            // The root is scanned alone: a root that cannot be listed fails the mapping.
            let ahead = if first { 1 } else { READ_AHEAD };
            while scans.len() < ahead
                && let Some(dir) = stack.pop()
            {
                scans.spawn(scan::scan(ctx.clone(), dir));
            }
            let Some(joined) = scans.join_next().await else {
                break;
            };
            let scanned = joined.map_err(|e| {
                Error::unexpected(format!("a directory scan ended abnormally: {e}"))
            })??;
            match scanned {
                Scanned::Unlistable { error, .. } if first => return Err(error),
                // Listing it asked for a wait longer than the pass may sleep: stop here (issue 12 §3).
                Scanned::Unlistable { error, .. }
                    if self.opts.retry.wait_too_long(&error).is_some() =>
                {
                    copies.wait = Some(error);
                    return stop_for_wait(journal, &mut copies).await;
                }
                Scanned::Unlistable { dir, error } => {
                    // A directory we cannot read is one failed item with the reason, and the walk goes on.
                    let rel = relative(&dir, &spec.source_dir);
                    let f = FileEntry {
                        created: None,
                        path: dir.clone(),
                        kind: EntryKind::Dir,
                        size: 0,
                        mtime: None,
                        hash: None,
                        etag: None,
                    };
                    copies.done_rows.push(item(
                        &format!("{rel}/"),
                        &f,
                        ItemStatus::Failed,
                        Some(format!("cannot list this directory: {error}")),
                        None,
                    ));
                    self.count(&self.tally.failed, &self.progress.failed, 1);
                }
                Scanned::Plan(plan) => {
                    // Children are pushed in listing order; popping visits them in reverse, which is fine.
                    stack.extend(plan.subdirs);
                    // Pending rows are durable before any byte is sent (each copy waits for its
                    // directory's), so a crash is always reconciled.
                    let durable = journal.write(plan.rows).await?;
                    self.start_copies(ctx, &mut copies, plan.to_copy, durable, journal)
                        .await?;
                }
            }
            first = false;
            while let Some(j) = copies.tasks.try_join_next() {
                self.finish_copy(j, &mut copies)?;
            }
            stop_for_wait(journal, &mut copies).await?;
            flush(journal, &mut copies.done_rows, FLUSH_ROWS).await?;
        }
        while let Some(j) = copies.tasks.join_next().await {
            self.finish_copy(j, &mut copies)?;
            stop_for_wait(journal, &mut copies).await?;
            flush(journal, &mut copies.done_rows, FLUSH_ROWS).await?;
        }
        flush(journal, &mut copies.done_rows, 1).await
    }

    fn count(&self, tally: &AtomicU64, progress: &AtomicU64, n: u64) {
        tally.fetch_add(n, Ordering::Relaxed);
        Progress::add(progress, n);
    }

    /// Record a finished unit's copies. A copy that met a server wait longer than the pass may sleep is
    /// not recorded (its row stays pending): the wait is kept in `copies.wait` for the walk to stop on.
    fn finish_copy(
        &self,
        joined: std::result::Result<Vec<CopyDone>, tokio::task::JoinError>,
        copies: &mut Copies,
    ) -> Result<()> {
        let unit =
            joined.map_err(|e| Error::unexpected(format!("a copy task ended abnormally: {e}")))?;
        let rows = &mut copies.done_rows;
        for CopyDone { copy, result } in unit {
            match result {
                Err(e) if self.opts.retry.wait_too_long(&e).is_some() => {
                    tracing::debug!(path = %copy.target_path, error = %e, "a copy met a long server wait; the pass stops");
                    copies.wait.get_or_insert(e);
                }
                Ok(t) => {
                    let mut w = item(
                        &copy.rel,
                        &copy.source,
                        ItemStatus::Copied,
                        None,
                        Some(&copy.target_path),
                    );
                    w.renamed = copy.renamed.clone();
                    rows.push(with_target(w, &t));
                    self.count(&self.tally.copied, &self.progress.copied, 1);
                    self.count(
                        &self.tally.bytes,
                        &self.progress.copied_bytes,
                        copy.source.size,
                    );
                }
                Err(e) => {
                    let mut w = item(
                        &copy.rel,
                        &copy.source,
                        ItemStatus::Failed,
                        Some(e.to_string()),
                        Some(&copy.target_path),
                    );
                    w.renamed = copy.renamed.clone();
                    rows.push(w);
                    self.count(&self.tally.failed, &self.progress.failed, 1);
                }
            }
        }
        Ok(())
    }

    /// Start a directory's copies, waiting for permits (and for finished copies when too many are queued).
    async fn start_copies(
        &self,
        ctx: &Arc<PassCtx>,
        copies: &mut Copies,
        to_copy: Vec<ToCopy>,
        durable: Durable,
        journal: &mut Journal,
    ) -> Result<()> {
        for unit in copy::units(to_copy, copies.local) {
            let permit = copies
                .permits
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
            let (ctx, big, local) = (ctx.clone(), copies.big_permits.clone(), copies.local);
            let durable = durable.clone();
            copies.tasks.spawn(async move {
                let _permit = permit;
                let _server_permits = server_permits;
                copy::copy_unit(&ctx, unit, durable, local, big).await
            });
            // Keep the set from growing without bound when copies are slower than the walk.
            while copies.tasks.len() > 4 * self.opts.concurrency.max(1) {
                if let Some(j) = copies.tasks.join_next().await {
                    self.finish_copy(j, copies)?;
                    stop_for_wait(journal, copies).await?;
                    flush(journal, &mut copies.done_rows, FLUSH_ROWS).await?;
                }
            }
            stop_for_wait(journal, copies).await?;
        }
        Ok(())
    }
}

/// The copies of one pass: their permits, the tasks in flight and the rows of those finished.
struct Copies {
    permits: Arc<Semaphore>,
    big_permits: Arc<Semaphore>,
    /// Both sides are local: copy in batches.
    local: bool,
    tasks: JoinSet<Vec<CopyDone>>,
    done_rows: Vec<FileItemWrite>,
    /// A server's wait longer than the pass may sleep, met by a copy or a listing: the pass stops.
    wait: Option<Error>,
}

/// When a server asked for a wait longer than the pass may sleep ([`Copies::wait`]), stop the pass at
/// this checkpoint: the rows of the copies that finished go to the journal, and the walk returns the wait's
/// error (dropping it drops the copies in flight; their rows stay pending and the next pass compares those
/// files with the target again). Issue 12 §3: the pass is given back rather than sleeping in a worker.
async fn stop_for_wait(journal: &mut Journal, copies: &mut Copies) -> Result<()> {
    match copies.wait.take() {
        Some(e) => {
            flush(journal, &mut copies.done_rows, 1).await?;
            Err(e)
        }
        None => Ok(()),
    }
}

/// Queue the finished rows once there are at least `min` of them.
async fn flush(journal: &mut Journal, rows: &mut Vec<FileItemWrite>, min: usize) -> Result<()> {
    if rows.len() >= min {
        journal.write(std::mem::take(rows)).await?;
    }
    Ok(())
}
