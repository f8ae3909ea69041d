//! One directory of a pass, compared: the source's files against the same directory on the target and
//! against the journal rows of that directory, giving what to record and what to copy. Scans run a few
//! directories ahead of the copies (see [`super::pass`]), each in a task of its own, so listing and
//! comparing use both cores while the walk stays bounded: a scan holds one directory, never a tree.

use super::pass::{PassCtx, item, list_all, target_of, with_target};
use super::{parse_stamp, relative, same_time, stamp};
use crate::progress::Progress;
use ferry_core::file::{EntryKind, FileEntry};
use ferry_core::{Error, Result};
use ferry_store::{FileItemRow, FileItemWrite, ItemStatus};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The skip reason of a target file changed after Ferry wrote it.
const CHANGED_ON_TARGET: &str = "changed on the target since Ferry wrote it; not overwritten";

/// The target file is as Ferry wrote it, judged by the strongest identity both the journal and the
/// target's listing have: the version tag (ETag) where the target reports one — it changes with the
/// content even when an edit keeps size and mtime — else size and mtime, else size alone (a target
/// that reports neither ETag nor the mtime it was given).
fn target_untouched(r: &FileItemRow, t: &FileEntry) -> bool {
    if Some(t.size) != r.target_size {
        return false;
    }
    if let (Some(was), Some(now)) = (r.target_etag.as_deref(), t.etag.as_deref()) {
        return was == now;
    }
    match parse_stamp(r.target_mtime.as_deref()) {
        Some(was) => same_time(t.mtime, Some(was)),
        None => true,
    }
}

/// The start of the skip reason of a file whose target name differs from another's only by letter case.
pub(crate) const CASE_COLLISION: &str = "its name differs only by letter case from";

/// A file to copy.
pub(super) struct ToCopy {
    /// Path relative to the mapping's source directory (the journal's key).
    pub rel: String,
    pub source: FileEntry,
    pub target_path: String,
    /// The target rules that renamed it, for the journal (see [`super::pass::target_of`]).
    pub renamed: Option<String>,
}

/// The outcome of scanning one directory.
pub(super) enum Scanned {
    Plan(DirPlan),
    /// The source directory could not be listed.
    Unlistable {
        dir: String,
        error: Error,
    },
}

/// What to do in one directory.
pub(super) struct DirPlan {
    pub subdirs: Vec<String>,
    /// Journal rows to write before any of `to_copy` starts: the copies' pending rows, skips, adoptions.
    pub rows: Vec<FileItemWrite>,
    pub to_copy: Vec<ToCopy>,
}

enum Decision {
    Nothing,
    Copy,
    Adopt(FileEntry),
    Skip(String),
    /// A skip the journal holds that still stands: counted, not written again.
    StillSkipped,
}

/// List `dir` on the source and decide about each of its files. An error is a failure of the pass (the
/// journal or the target cannot be read); a source directory that cannot be listed is [`Scanned::Unlistable`].
pub(super) async fn scan(ctx: Arc<PassCtx>, dir: String) -> Result<Scanned> {
    let entries = match list_all(ctx.src.as_ref(), &dir, &ctx.opts.retry).await {
        Ok(e) => e,
        Err(error) => {
            let error = error.with_context("side", "source");
            return Ok(Scanned::Unlistable { dir, error });
        }
    };
    let empty = entries.is_empty();
    let mut subdirs = Vec::new();
    let mut files = Vec::new();
    let mut others = Vec::new();
    for e in entries {
        match e.kind {
            EntryKind::Dir => subdirs.push(e.path),
            EntryKind::File => files.push(e),
            EntryKind::Symlink | EntryKind::Special | EntryKind::Undecodable => others.push(e),
        }
    }
    let mut plan = DirPlan {
        subdirs,
        rows: Vec::new(),
        to_copy: Vec::new(),
    };
    if !files.is_empty() {
        ctx.compare(&dir, files, &mut plan).await?;
    }
    if empty || !others.is_empty() {
        ctx.account_for_the_rest(&dir, empty, others, &mut plan)
            .await?;
    }
    Ok(Scanned::Plan(plan))
}

/// Why a symbolic link is not copied.
pub(crate) const SYMLINK_SKIPPED: &str = "a symbolic link: not followed and not copied (Ferry copies files and folders; copy what it points to on its own if it is needed)";
/// Why a FIFO, socket or device is not copied.
pub(crate) const SPECIAL_SKIPPED: &str =
    "a special file (FIFO, socket or device): it holds no file content and is not copied";

/// Why an entry whose name cannot be carried is not copied.
pub(crate) const UNDECODABLE_SKIPPED: &str = "the name is not UTF-8, and names from this SFTP server reach Ferry only as UTF-8 text: this entry (for a folder, everything in it) is not copied; rename it at the source, or copy from the share mounted as a local path, where names go byte for byte";

/// The skip reason of an entry that is neither a file nor a folder.
pub(crate) fn not_copied(kind: EntryKind) -> Option<&'static str> {
    match kind {
        EntryKind::Symlink => Some(SYMLINK_SKIPPED),
        EntryKind::Special => Some(SPECIAL_SKIPPED),
        EntryKind::Undecodable => Some(UNDECODABLE_SKIPPED),
        EntryKind::File | EntryKind::Dir => None,
    }
}

impl PassCtx {
    /// What is neither a file nor a folder is Skipped with its reason, and an empty source folder is
    /// created on the target: every entry of the source is accounted for (issue 9). Rare, so this
    /// reads the directory's journal rows again rather than burden `compare`.
    async fn account_for_the_rest(
        &self,
        dir: &str,
        empty: bool,
        others: Vec<FileEntry>,
        plan: &mut DirPlan,
    ) -> Result<()> {
        let spec = &self.spec;
        let rel_dir = relative(dir, &spec.source_dir);
        let journal: HashMap<String, FileItemRow> = self
            .store
            .file_items_in_dir(self.mapping, rel_dir)
            .await?
            .into_iter()
            .map(|r| (r.path.clone(), r))
            .collect();
        for f in others {
            let rel = relative(&f.path, &spec.source_dir).to_owned();
            let Some(reason) = not_copied(f.kind) else {
                continue;
            };
            if !self.opts.filter.selects(&rel, f.mtime, self.now) {
                continue;
            }
            if journal.get(&rel).is_none_or(|r| {
                r.status != ItemStatus::Skipped || r.reason.as_deref() != Some(reason)
            }) {
                plan.rows.push(item(
                    &rel,
                    &f,
                    ItemStatus::Skipped,
                    Some(reason.to_owned()),
                    None,
                ));
            }
            self.tally.discovered.fetch_add(1, Ordering::Relaxed);
            self.count_skipped();
        }
        // The root is the target folder itself; filters with an include pattern select files, and
        // leave folders to be created by the files they select.
        let filtered = !self.opts.filter.include.is_empty()
            || self
                .opts
                .filter
                .exclude
                .iter()
                .any(|p| crate::pattern::glob(p, rel_dir));
        if !empty || rel_dir.is_empty() || filtered {
            return Ok(());
        }
        let key = format!("{rel_dir}/");
        let row = journal.get(&key);
        if !self.recheck && row.is_some_and(|r| r.status == ItemStatus::Copied) {
            return Ok(());
        }
        let folder = FileEntry {
            created: None,
            path: dir.to_owned(),
            kind: EntryKind::Dir,
            size: 0,
            mtime: None,
            hash: None,
            etag: None,
        };
        self.tally.discovered.fetch_add(1, Ordering::Relaxed);
        match target_of(&self.opts, spec, rel_dir, 0, self.cloud) {
            Err(reason) => {
                if row.is_none_or(|r| r.reason.as_deref() != Some(reason.as_str())) {
                    plan.rows
                        .push(item(&key, &folder, ItemStatus::Skipped, Some(reason), None));
                }
                self.count_skipped();
            }
            Ok((tdir, renamed)) => {
                let policy = &self.opts.retry;
                match crate::retry!(policy, "create folder", self.tgt.create_dir(&tdir)) {
                    Ok(()) => {
                        let mut w = item(&key, &folder, ItemStatus::Copied, None, Some(&tdir));
                        w.renamed = renamed;
                        plan.rows.push(w);
                        self.tally.copied.fetch_add(1, Ordering::Relaxed);
                        Progress::add(&self.progress.copied, 1);
                    }
                    Err(e) => {
                        plan.rows.push(item(
                            &key,
                            &folder,
                            ItemStatus::Failed,
                            Some(format!("cannot create the empty folder on the target: {e}")),
                            Some(&tdir),
                        ));
                        self.tally.failed.fetch_add(1, Ordering::Relaxed);
                        Progress::add(&self.progress.failed, 1);
                    }
                }
            }
        }
        Ok(())
    }

    async fn compare(&self, dir: &str, files: Vec<FileEntry>, plan: &mut DirPlan) -> Result<()> {
        let spec = &self.spec;
        let rel_dir = relative(dir, &spec.source_dir);
        let journal: HashMap<String, FileItemRow> = self
            .store
            .file_items_in_dir(self.mapping, rel_dir)
            .await?
            .into_iter()
            .map(|r| (r.path.clone(), r))
            .collect();
        // A folder an earlier pass could not list is listed now: its failure is no longer outstanding.
        if !rel_dir.is_empty()
            && let Some(r) = journal.get(&format!("{rel_dir}/"))
            && r.status == ItemStatus::Failed
        {
            let folder = FileEntry {
                created: None,
                path: dir.to_owned(),
                kind: EntryKind::Dir,
                size: 0,
                mtime: None,
                hash: None,
                etag: None,
            };
            plan.rows
                .push(item(&r.path, &folder, ItemStatus::Copied, None, None));
        }
        // The target directory is found from any file's target path (all files of a directory share it).
        let mut target_listing: Option<HashMap<String, FileEntry>> = None;
        // OneDrive and SharePoint compare names case-insensitively: of two source files whose target
        // names differ only by case, the first in name order is copied and the other reported (issue 11).
        let case_insensitive = self.opts.rules.rule_set().is_some();
        let mut files = files;
        if case_insensitive {
            files.sort_by(|a, b| a.path.cmp(&b.path));
        }
        let mut seen_ci: HashMap<String, String> = HashMap::new();
        for f in files {
            let rel = relative(&f.path, &spec.source_dir).to_owned();
            if !self.opts.filter.selects(&rel, f.mtime, self.now) {
                continue;
            }
            let row = journal.get(&rel);
            let (tpath, renamed) = match target_of(&self.opts, spec, &rel, f.size, self.cloud) {
                Ok(t) => t,
                Err(reason) => {
                    // Re-decided on every pass under this pass's rules; a skip that still stands is
                    // counted (the run's exit code says so) but not written again.
                    if row.is_none_or(|r| {
                        r.status != ItemStatus::Skipped
                            || r.reason.as_deref() != Some(reason.as_str())
                    }) {
                        plan.rows
                            .push(item(&rel, &f, ItemStatus::Skipped, Some(reason), None));
                    }
                    self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                    self.count_skipped();
                    continue;
                }
            };
            if case_insensitive {
                match seen_ci.get(&tpath.to_lowercase()) {
                    Some(first) if *first != tpath => {
                        let reason = format!(
                            "{CASE_COLLISION} `{}` (OneDrive and SharePoint compare names case-insensitively); rename one of the two at the source",
                            first.rsplit('/').next().unwrap_or(first)
                        );
                        if row.is_none_or(|r| r.reason.as_deref() != Some(reason.as_str())) {
                            plan.rows
                                .push(item(&rel, &f, ItemStatus::Skipped, Some(reason), None));
                        }
                        self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                        self.count_skipped();
                        continue;
                    }
                    _ => {
                        seen_ci.insert(tpath.to_lowercase(), tpath.clone());
                    }
                }
            }
            let source_unchanged = self.source_unchanged(&f, row);
            let edited = self.target_resync || self.target_edited.contains(&tpath);
            if !self.recheck
                && !edited
                && row.is_some_and(|r| r.status == ItemStatus::Copied)
                && source_unchanged
            {
                // Copied before and unchanged since: the common case of a re-run, decided without
                // listing the target (see `decide`).
                continue;
            }
            if target_listing.is_none() {
                let tdir = ferry_core::file::parent(&tpath).to_owned();
                let listed = list_all(self.tgt.as_ref(), &tdir, &self.opts.retry)
                    .await
                    .map_err(|e| e.with_context("side", "target"))?;
                target_listing = Some(
                    listed
                        .into_iter()
                        .filter(|e| e.kind == EntryKind::File)
                        .map(|e| (e.path.clone(), e))
                        .collect(),
                );
            }
            let on_target = target_listing.as_ref().and_then(|l| l.get(&tpath));
            match self.decide(&f, row, on_target, source_unchanged, edited) {
                Decision::Nothing => {}
                Decision::StillSkipped => {
                    self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                    self.count_skipped();
                }
                Decision::Skip(reason) => {
                    self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                    plan.rows.push(item(
                        &rel,
                        &f,
                        ItemStatus::Skipped,
                        Some(reason),
                        Some(&tpath),
                    ));
                    self.count_skipped();
                }
                Decision::Adopt(t) => {
                    self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                    let mut w = item(&rel, &f, ItemStatus::Copied, None, Some(&tpath));
                    w.renamed = renamed;
                    plan.rows.push(with_target(w, &t));
                    self.tally.copied.fetch_add(1, Ordering::Relaxed);
                    Progress::add(&self.progress.copied, 1);
                }
                Decision::Copy => {
                    if renamed.is_some() {
                        self.tally.renamed.fetch_add(1, Ordering::Relaxed);
                    }
                    self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                    Progress::add(&self.progress.discovered, 1);
                    Progress::add(&self.progress.discovered_bytes, f.size);
                    // A file the journal has never seen, on a target that writes atomically and
                    // keeps mtimes, needs no pending row: after a crash it is absent, or complete
                    // with the source's size and mtime and adopted. A file with a row (a re-copy)
                    // needs one: its old row would call Ferry's new copy "changed on the target".
                    if row.is_some() || !self.target_adopts_new {
                        let mut w = item(&rel, &f, ItemStatus::Pending, None, Some(&tpath));
                        w.renamed = renamed.clone();
                        plan.rows.push(w);
                    }
                    plan.to_copy.push(ToCopy {
                        rel,
                        source: f,
                        target_path: tpath,
                        renamed,
                    });
                }
            }
        }
        Ok(())
    }

    fn count_skipped(&self) {
        self.tally.skipped.fetch_add(1, Ordering::Relaxed);
        Progress::add(&self.progress.skipped, 1);
    }

    /// The source file is as the journal row recorded it.
    fn source_unchanged(&self, f: &FileEntry, row: Option<&FileItemRow>) -> bool {
        row.is_some_and(|r| {
            r.size == f.size
                && r.mtime == stamp(f.mtime)
                && (!self.opts.checksum || r.hash == f.hash)
        })
    }

    /// One file: its journal row (if any) and what the target shows under its target path (if anything).
    fn decide(
        &self,
        f: &FileEntry,
        row: Option<&FileItemRow>,
        on_target: Option<&FileEntry>,
        source_unchanged: bool,
        edited: bool,
    ) -> Decision {
        match (row, on_target) {
            // Copied before and unchanged at the source: nothing to do, whether or not the target
            // still shows it. A delta copies what is new or changed at the source; a file deleted on
            // the target on purpose is not re-created, and a name the server lists differently
            // (rclone's WebDAV shows TAB as ␉) is not written again. Verify reports either as missing.
            // Unless the target's root is gone or empty (`recheck`): then the journal describes a
            // target that no longer exists, and what is missing is copied again.
            // A file the target's change feed names as edited there is compared (and, when changed,
            // reported) even so.
            (Some(r), t)
                if r.status == ItemStatus::Copied
                    && source_unchanged
                    && !self.recheck
                    && !(edited && t.is_some()) =>
            {
                Decision::Nothing
            }
            (Some(r), Some(t)) if r.status == ItemStatus::Copied => {
                // Overwrite only our own, untouched, earlier copy.
                if !target_untouched(r, t) {
                    Decision::Skip(CHANGED_ON_TARGET.into())
                } else if source_unchanged {
                    Decision::Nothing
                } else {
                    Decision::Copy
                }
            }
            (Some(r), Some(_))
                if r.status == ItemStatus::Skipped
                    && r.reason
                        .as_deref()
                        .is_some_and(|x| x.starts_with("changed on the target"))
                    && source_unchanged =>
            {
                Decision::StillSkipped
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
                    && (if self.target_keeps_mtime {
                        same_time(t.mtime, f.mtime)
                    } else {
                        pending
                    });
                if same {
                    Decision::Adopt(t.clone())
                } else if pending {
                    Decision::Copy
                } else if row.is_some_and(|r| r.status == ItemStatus::Skipped) && source_unchanged {
                    Decision::StillSkipped
                } else {
                    Decision::Skip("exists on the target and differs; Ferry does not overwrite files it did not write".into())
                }
            }
            (_, None) => Decision::Copy,
        }
    }
}
