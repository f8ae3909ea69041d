//! One pass of one mailbox: folders in order, and within a folder a source half (page summaries, filter,
//! fetch batches) running alongside a target half (journal as pending, append, journal as copied).
//!
//! Invariants this file is responsible for (DESIGN §2):
//! 1. The source is opened with [`Access::ReadOnly`]: the connector refuses writes.
//! 2. Nothing lost, nothing duplicated: every message a pass decides on gets a journal row (copied, skipped
//!    or failed with a reason); a row is `pending` while its append is unconfirmed and is reconciled against
//!    the target (by content fingerprint, from the target's `uid_next` recorded before the append) before
//!    anything is copied again — after a crash, a dropped connection, or a UIDVALIDITY change.
//! 3. The target is never destructively changed: this file only creates folders and appends.

use crate::budget::{BudgetPermit, ByteBudget};
use crate::dedupe::{FolderMatch, Hit, TargetIndex, fingerprint_counts, fp_key};
use crate::job::{MailOptions, MappingSpec};
use crate::plan::{FolderPlan, map_folders};
use crate::progress::Progress;
use crate::retry;
use ferry_core::fingerprint::content_hash;
use ferry_core::folder::FolderPath;
use ferry_core::headline;
use ferry_core::id::{MappingId, PassId};
use ferry_core::mail::{
    Access, AppendRequest, FolderStatus, MailConnector, MessageSummary, RawMessage,
};
use ferry_core::receipts;
use ferry_core::{Error, ErrorKind, Result};
use ferry_store::{FolderState, ItemAbout, ItemRow, ItemStatus, ItemWrite, PassCounters, Store};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// How a message over `--max-size` is skipped; such skips are re-decided on every pass.
const SIZE_LIMIT_SKIP: &str = "larger than the size limit";
/// The reason of a message the target refused as too large (Exchange's `Command Argument Error. 11`): tried
/// again at every pass, since the fix (raising the mailbox's limit) happens outside Ferry.
const TARGET_TOO_LARGE_SKIP: &str = "target refused it as too large";

type Conn = Box<dyn MailConnector>;

/// Counters of one pass, shared by its source and target halves.
#[derive(Default)]
pub(crate) struct PassTally {
    discovered: AtomicU64,
    copied: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
    folder_errors: AtomicU64,
    recognised: AtomicU64,
    pub(crate) flags_updated: AtomicU64,
    pub(crate) flag_conflicts: AtomicU64,
}

impl PassTally {
    pub(crate) fn counters(&self) -> PassCounters {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PassCounters {
            discovered: l(&self.discovered),
            copied: l(&self.copied),
            skipped: l(&self.skipped),
            failed: l(&self.failed),
            bytes: l(&self.bytes),
        }
    }

    pub(crate) fn folder_errors(&self) -> u64 {
        self.folder_errors.load(Ordering::Relaxed)
    }

    /// Messages whose source flag change was written to the target, and changes the target kept because
    /// its flags had changed too.
    pub(crate) fn flag_counts(&self) -> (u64, u64) {
        (
            self.flags_updated.load(Ordering::Relaxed),
            self.flag_conflicts.load(Ordering::Relaxed),
        )
    }

    /// Messages found already on the target (journaled as copied without an append).
    pub(crate) fn recognised(&self) -> u64 {
        self.recognised.load(Ordering::Relaxed)
    }
}

/// What one pass of one mailbox needs.
pub(crate) struct MailboxPass<'a> {
    pub store: &'a dyn Store,
    pub opts: &'a MailOptions,
    pub budget: &'a ByteBudget,
    pub progress: &'a Progress,
    pub mapping: MappingId,
    pub pass: PassId,
    pub tally: PassTally,
}

/// How one append ended: status, reason, target uid.
type Outcome = (ItemStatus, Option<String>, Option<u32>);

/// A unit of work from the source half to the target half.
enum Work {
    /// Fetched messages with their summaries, holding their bytes in the budget.
    Batch {
        items: Vec<(MessageSummary, RawMessage)>,
        _permit: BudgetPermit,
    },
    /// Every uid up to this one has been handed over: the checkpoint may advance once the batches before it
    /// are journaled.
    PageDone(u32),
}

fn write(
    s: &MessageSummary,
    status: ItemStatus,
    reason: Option<String>,
    target: &FolderPath,
) -> ItemWrite {
    ItemWrite {
        uid: s.uid,
        fingerprint: s.fingerprint.clone(),
        message_id: s.message_id.clone(),
        size: s.size,
        status,
        reason,
        target_folder: Some(target.clone()),
        target_uid: None,
        probe_from: None,
        content_hash: None,
        flags: None,
        about: about(s, status),
        note: None,
    }
}

/// Date, sender and subject for the report, kept only for messages that did not arrive (issue 9, item 17):
/// the hot path of copied messages writes nothing more.
fn about(s: &MessageSummary, status: ItemStatus) -> ItemAbout {
    if !matches!(status, ItemStatus::Skipped | ItemStatus::Failed) {
        return ItemAbout::default();
    }
    ItemAbout {
        date: s.internal_date.map(|d| d.to_rfc3339()),
        sender: headline::clean(&s.from, headline::SENDER_CHARS),
        subject: headline::clean(&s.subject, headline::SUBJECT_CHARS),
    }
}

pub(crate) fn row_write(
    r: &ItemRow,
    status: ItemStatus,
    reason: Option<String>,
    target_uid: Option<u32>,
) -> ItemWrite {
    ItemWrite {
        uid: r.uid,
        fingerprint: r.fingerprint.clone(),
        message_id: r.message_id.clone(),
        size: r.size,
        status,
        reason,
        target_folder: r.target_folder.clone(),
        target_uid,
        probe_from: r.probe_from,
        content_hash: None,
        flags: None,
        about: ItemAbout::default(),
        note: None,
    }
}

/// Whether a skipped row is tried again under this pass's rules (issue 9 item 5): a message skipped by a
/// lower `--max-size`, or refused by the target as too large, is copied once the limit allows it.
pub(crate) fn retried_skip(r: &ItemRow, max_size: u64) -> bool {
    let reason = r.reason.as_deref().unwrap_or("");
    r.size <= max_size
        && (reason.starts_with(SIZE_LIMIT_SKIP) || reason.starts_with(TARGET_TOO_LARGE_SKIP))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

impl MailboxPass<'_> {
    /// Run the pass over every selected folder. Folder-level errors are recorded and the pass goes on;
    /// an error that makes the whole mailbox impossible (login, listing) is returned.
    pub(crate) async fn run(&self, spec: &MappingSpec) -> Result<()> {
        let policy = &self.opts.retry;
        let mut src = retry!(policy, "open source", spec.source.open(Access::ReadOnly))
            .map_err(|e| e.with_context("side", "source"))?;
        let mut tgt = retry!(policy, "open target", spec.target.open(Access::ReadWrite))
            .map_err(|e| e.with_context("side", "target"))?;
        // Connectors log in lazily: a refused login shows up here, and must say which side refused it.
        // Both sides log in and list at once: a no-op pass is mostly these round trips.
        let (sfolders, tfolders) = tokio::join!(
            async { retry!(policy, "list source folders", src.list_folders()) },
            async { retry!(policy, "list target folders", tgt.list_folders()) },
        );
        let sfolders = sfolders.map_err(|e| e.with_context("side", "source"))?;
        let tfolders = tfolders.map_err(|e| e.with_context("side", "target"))?;
        let selected: Vec<_> = sfolders
            .into_iter()
            .filter(|f| self.opts.filter.selects(&f.path))
            .collect();
        let plans = map_folders(&selected, &tfolders, spec.source_root.as_ref());
        let mut existing: HashSet<FolderPath> = tfolders
            .iter()
            .filter(|f| f.selectable)
            .map(|f| f.path.clone())
            .collect();
        let quiet = self
            .quiet_folders(&mut src, &mut tgt, &plans, &existing)
            .await?;
        for plan in &plans {
            // A \Noselect parent stays a parent: it is never created as a mailbox of its own. Its
            // children create it implicitly on the target.
            if !plan.source.selectable {
                continue;
            }
            // Nothing changed on either side and nothing to retry: no command, no journal write.
            if quiet.covers(&plan.source.path) {
                continue;
            }
            if let Err(e) = self.folder(&mut src, &mut tgt, plan, &mut existing).await {
                // A server wait longer than the pass may sleep stops the whole pass here: what it copied is
                // journalled, and it resumes from there after the wait (issue 12 §3).
                if matches!(e.kind(), ErrorKind::Auth | ErrorKind::Store)
                    || policy.wait_too_long(&e).is_some()
                {
                    return Err(e);
                }
                tracing::error!(folder = %plan.source.path, error = %e, "folder failed; going on with the next one");
                self.tally.folder_errors.fetch_add(1, Ordering::Relaxed);
                self.record_folder_error(plan, &e).await?;
            }
        }
        // Polite logout; a failure here changes nothing.
        let _ = src.close().await;
        let _ = tgt.close().await;
        Ok(())
    }

    async fn record_folder_error(&self, plan: &FolderPlan, e: &Error) -> Result<()> {
        let mut state = self
            .store
            .folder_state(self.mapping, &plan.source.path)
            .await?
            .unwrap_or(FolderState {
                folder: plan.source.path.clone(),
                target_folder: plan.target.clone(),
                uid_validity: 0,
                uid_next: 0,
                messages: 0,
                hwm: 0,
                error: None,
                target_uid_validity: None,
                source_modseq: None,
            });
        state.error = Some(e.to_string());
        self.store.save_folder_state(self.mapping, &state).await
    }

    async fn folder(
        &self,
        src: &mut Conn,
        tgt: &mut Conn,
        plan: &FolderPlan,
        existing: &mut HashSet<FolderPath>,
    ) -> Result<()> {
        let policy = &self.opts.retry;
        let folder = &plan.source.path;
        let tfolder = &plan.target;
        if !existing.contains(tfolder) {
            retry!(
                policy,
                "create folder",
                tgt.create_folder(tfolder, plan.role)
            )
            .map_err(|e| e.with_context("target folder", tfolder))?;
            existing.insert(tfolder.clone());
        }
        // Both sides' status and the journal's checkpoint at once (a no-op pass is mostly these waits).
        // The target is the truth: its status says whether the journal still vouches for it.
        let (status, tstatus, prev) = tokio::join!(
            async { retry!(policy, "folder status", src.folder_status(folder)) },
            async { retry!(policy, "target status", tgt.folder_status(tfolder)) },
            self.store.folder_state(self.mapping, folder),
        );
        let status = status.map_err(|e| e.with_context("folder", folder))?;
        let tstatus = tstatus.map_err(|e| {
            e.with_context("side", "target")
                .with_context("target folder", tfolder)
        })?;
        let prev = prev?;

        // 1. Reconcile what a crash or a cut connection left unconfirmed.
        let mut validities = vec![status.uid_validity];
        if let Some(p) = &prev
            && p.uid_validity != status.uid_validity
            && p.uid_validity != 0
        {
            validities.push(p.uid_validity);
        }
        for v in &validities {
            let pending = self
                .store
                .items_with_status(self.mapping, folder, *v, ItemStatus::Pending)
                .await?;
            if !pending.is_empty() {
                tracing::info!(folder = %folder, n = pending.len(), "reconciling unconfirmed appends against the target");
                self.reconcile_pending(tgt, folder, *v, &pending).await?;
            }
        }

        // 2. Does the journal vouch for the target folder?
        let lost = match &prev {
            Some(p) => self.target_lost(tgt, folder, tfolder, p, &tstatus).await?,
            None => false,
        };
        let against_target = lost
            || self.opts.recopy_missing
            || (prev
                .as_ref()
                .is_none_or(|p| p.hwm == 0 && p.uid_validity == 0)
                && tstatus.messages > 0);

        let rekey_from = prev
            .as_ref()
            .map(|p| p.uid_validity)
            .filter(|v| *v != 0 && *v != status.uid_validity && !against_target);
        let same = prev
            .as_ref()
            .filter(|p| p.uid_validity == status.uid_validity);
        let retry_failed = match same {
            Some(_) if !against_target => {
                let mut rows = self
                    .store
                    .items_with_status(
                        self.mapping,
                        folder,
                        status.uid_validity,
                        ItemStatus::Failed,
                    )
                    .await?;
                // A skip is re-decided under this pass's rules (issue 9 item 5): a message skipped by a
                // lower --max-size is copied once the limit allows it.
                rows.extend(
                    self.store
                        .items_with_status(
                            self.mapping,
                            folder,
                            status.uid_validity,
                            ItemStatus::Skipped,
                        )
                        .await?
                        .into_iter()
                        .filter(|r| retried_skip(r, self.opts.max_size)),
                );
                rows
            }
            _ => Vec::new(),
        };

        // 3. Nothing changed since the last pass: no summaries are fetched at all.
        if let Some(p) = same
            && !against_target
            && p.uid_next == status.uid_next
            && p.messages == status.messages
            && &p.target_folder == tfolder
            && p.hwm.saturating_add(1) >= status.uid_next
            && retry_failed.is_empty()
            && p.error.is_none()
        {
            // No new message; flags may still have changed.
            let modseq = self
                .sync_flags(src, tgt, folder, tfolder, &status, p.source_modseq)
                .await?;
            if p.target_uid_validity.is_none() || modseq != p.source_modseq {
                // (A journal from before the target was recorded gets it now.)
                let mut state = p.clone();
                state.target_uid_validity = Some(tstatus.uid_validity);
                state.source_modseq = modseq;
                self.store.save_folder_state(self.mapping, &state).await?;
            }
            return Ok(());
        }
        let matcher = if against_target {
            if tstatus.messages > 0 {
                tracing::info!(folder = %folder, target = %tfolder, messages = tstatus.messages,
                    "the journal cannot vouch for the target folder: matching against what it holds before copying");
            }
            let counts = fingerprint_counts(src, folder, policy).await?;
            let index = if tstatus.messages > 0 {
                TargetIndex::read(tgt, tfolder, &counts, policy)
                    .await
                    .map_err(|e| e.with_context("side", "target"))?
            } else {
                TargetIndex::default()
            };
            FolderMatch::Target(Mutex::new(index))
        } else if let Some(old) = rekey_from {
            tracing::warn!(folder = %folder, old, new = status.uid_validity, "UIDVALIDITY changed: matching by content fingerprint");
            let counts = fingerprint_counts(src, folder, policy).await?;
            let mut shared: HashSet<u128> = counts
                .into_iter()
                .filter(|(_, n)| *n > 1)
                .map(|(k, _)| k)
                .collect();
            for fp in self
                .store
                .shared_fingerprints(self.mapping, folder, old)
                .await?
            {
                shared.insert(fp_key(&fp));
            }
            self.hash_shared_copies(tgt, folder, old, &shared).await?;
            FolderMatch::Rekey { old, shared }
        } else {
            FolderMatch::Journal
        };

        let mut state = FolderState {
            folder: folder.clone(),
            target_folder: tfolder.clone(),
            uid_validity: status.uid_validity,
            uid_next: status.uid_next,
            messages: status.messages,
            hwm: match (&matcher, same) {
                (FolderMatch::Journal, Some(p)) => p.hwm,
                _ => 0,
            },
            error: None,
            // While the target is being matched, a crash must lead to matching again: 0 is no UIDVALIDITY
            // (RFC 3501 §2.3.1.1 makes it non-zero) and marks the folder as not vouched for.
            target_uid_validity: Some(match matcher {
                FolderMatch::Target(_) => 0,
                _ => tstatus.uid_validity,
            }),
            source_modseq: prev.as_ref().and_then(|p| p.source_modseq),
        };
        if rekey_from.is_none() {
            // With a changed UIDVALIDITY the old checkpoint stays until every message is re-keyed, so a
            // crash in the middle re-keys again instead of copying again.
            self.store.save_folder_state(self.mapping, &state).await?;
        }

        let (tx, rx) = mpsc::channel::<Work>(2);
        let source_half = self.source_half(
            src,
            folder,
            tfolder,
            &status,
            state.hwm,
            &matcher,
            &retry_failed,
            tx,
        );
        let target_half = self.target_half(
            tgt,
            folder,
            tfolder,
            status.uid_validity,
            rekey_from.is_none(),
            &matcher,
            &mut state,
            rx,
        );
        let (s, t) = tokio::join!(source_half, target_half);
        // The target half's error is the more telling one when both failed (the source half then only saw
        // its channel close).
        t?;
        s?;
        state.hwm = state.hwm.max(status.uid_next.saturating_sub(1));
        state.target_uid_validity = Some(tstatus.uid_validity);
        // Flags of messages copied in earlier passes; new copies carried theirs. A first pass of the
        // folder only records the modseq its copies reflect.
        state.source_modseq = match (&matcher, same) {
            (FolderMatch::Journal, Some(p)) => {
                self.sync_flags(src, tgt, folder, tfolder, &status, p.source_modseq)
                    .await?
            }
            _ => status.highest_modseq,
        };
        self.store.save_folder_state(self.mapping, &state).await
    }

    /// Whether the target folder lost what the journal says it holds: recreated (a new UIDVALIDITY, on
    /// targets whose uids are stable), emptied (no message while the journal holds copies), or left
    /// half-matched by an interrupted pass. A target that merely holds fewer messages keeps the
    /// journal's word: a message a user deleted there stays deleted (`--recopy-missing` brings it back).
    async fn target_lost(
        &self,
        tgt: &mut Conn,
        folder: &FolderPath,
        tfolder: &FolderPath,
        prev: &FolderState,
        tstatus: &FolderStatus,
    ) -> Result<bool> {
        if prev.target_uid_validity == Some(0) {
            return Ok(true);
        }
        let recreated = tgt.capability().stable_uids
            && &prev.target_folder == tfolder
            && prev
                .target_uid_validity
                .is_some_and(|v| v != tstatus.uid_validity);
        let emptied = !recreated
            && tstatus.messages == 0
            && self
                .store
                .count_with_status(self.mapping, folder, prev.uid_validity, ItemStatus::Copied)
                .await?
                > 0;
        if recreated || emptied {
            tracing::warn!(folder = %folder, target = %tfolder,
                "the target folder was {} since the last pass: copying again what it lacks",
                if recreated { "recreated" } else { "emptied" });
        }
        Ok(recreated || emptied)
    }

    #[allow(clippy::too_many_arguments)]
    async fn source_half(
        &self,
        src: &mut Conn,
        folder: &FolderPath,
        tfolder: &FolderPath,
        status: &FolderStatus,
        hwm: u32,
        matcher: &FolderMatch,
        retry_failed: &[ItemRow],
        tx: mpsc::Sender<Work>,
    ) -> Result<()> {
        let policy = &self.opts.retry;
        let uv = status.uid_validity;

        // Items that failed in an earlier pass (or whose append was never confirmed) are tried again first.
        let mut retry_summaries = Vec::new();
        let mut vanished = Vec::new();
        for row in retry_failed {
            let page = retry!(policy, "summaries", src.summaries(folder, row.uid, 1))?;
            match page.into_iter().next() {
                Some(s) if s.uid == row.uid => retry_summaries.push(s),
                _ => vanished.push(row_write(
                    row,
                    ItemStatus::Skipped,
                    Some("vanished from the source before it could be copied".into()),
                    None,
                )),
            }
        }
        if !vanished.is_empty() {
            // These were counted failed before; they are now accounted for as skipped.
            self.store
                .write_items(self.mapping, self.pass, folder, uv, &vanished)
                .await?;
            self.count_skipped(vanished.len() as u64);
        }
        if !retry_summaries.is_empty() {
            self.send_batches(src, folder, tfolder, uv, retry_summaries, &tx)
                .await?;
        }

        let mut from = match matcher {
            FolderMatch::Journal => hwm.saturating_add(1).max(1),
            _ => 1,
        };
        let page_size = ferry_core::limits::SUMMARY_PAGE;
        loop {
            let page = retry!(policy, "summaries", src.summaries(folder, from, page_size))?;
            let (Some(first), Some(last)) =
                (page.first().map(|s| s.uid), page.last().map(|s| s.uid))
            else {
                break;
            };
            // Matched against the target, the journal's rows are re-decided: they do not filter.
            let journaled: HashSet<u32> = match matcher {
                FolderMatch::Target(_) => HashSet::new(),
                _ => self
                    .store
                    .journaled_uids(self.mapping, folder, uv, first, last)
                    .await?
                    .into_iter()
                    .collect(),
            };
            let mut todo = Vec::new();
            let mut skipped = Vec::new();
            let mut recognised = Vec::new();
            for s in page {
                if journaled.contains(&s.uid) {
                    continue;
                }
                let mut deferred = false;
                match matcher {
                    FolderMatch::Journal => {}
                    FolderMatch::Rekey { old, .. } => {
                        if matcher.needs_body(&s.fingerprint) {
                            // The claim waits for the bytes (see the target half).
                            deferred = true;
                        } else {
                            // A claimed row that was copied or skipped is settled; one that failed (or was
                            // never confirmed) is copied now under its new key.
                            let claimed = self
                                .store
                                .claim_by_fingerprint(
                                    self.mapping,
                                    folder,
                                    *old,
                                    uv,
                                    s.uid,
                                    &s.fingerprint,
                                    None,
                                )
                                .await?;
                            if matches!(claimed, Some(ItemStatus::Copied | ItemStatus::Skipped)) {
                                continue;
                            }
                        }
                    }
                    FolderMatch::Target(index) => {
                        let hit = index
                            .lock()
                            .map_err(|_| Error::unexpected("target index poisoned"))?
                            .lookup(&s.fingerprint);
                        match hit {
                            Hit::Found(uid) => {
                                recognised.push(ItemWrite {
                                    target_uid: Some(uid),
                                    ..write(&s, ItemStatus::Copied, None, tfolder)
                                });
                                continue;
                            }
                            Hit::NeedBody => deferred = true,
                            Hit::Absent => {}
                        }
                    }
                }
                if s.size > self.opts.max_size {
                    Progress::add(&self.progress.discovered, 1);
                    Progress::add(&self.progress.discovered_bytes, s.size);
                    self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                    let reason = format!(
                        "{SIZE_LIMIT_SKIP} ({} > {}; see --max-size)",
                        mib(s.size),
                        mib(self.opts.max_size)
                    );
                    skipped.push(write(&s, ItemStatus::Skipped, Some(reason), tfolder));
                    continue;
                }
                if !deferred {
                    // A deferred message is counted by the target half once it is known to be new.
                    Progress::add(&self.progress.discovered, 1);
                    Progress::add(&self.progress.discovered_bytes, s.size);
                    self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                }
                todo.push(s);
            }
            if !recognised.is_empty() {
                self.store
                    .write_items(self.mapping, self.pass, folder, uv, &recognised)
                    .await?;
                self.tally
                    .recognised
                    .fetch_add(recognised.len() as u64, Ordering::Relaxed);
            }
            if !skipped.is_empty() {
                self.store
                    .write_items(self.mapping, self.pass, folder, uv, &skipped)
                    .await?;
                self.count_skipped(skipped.len() as u64);
            }
            self.send_batches(src, folder, tfolder, uv, todo, &tx)
                .await?;
            if tx.send(Work::PageDone(last)).await.is_err() {
                return Ok(()); // the target half stopped; its error is reported
            }
            from = match last.checked_add(1) {
                Some(n) => n,
                None => break,
            };
        }
        Ok(())
    }

    fn count_skipped(&self, n: u64) {
        self.tally.skipped.fetch_add(n, Ordering::Relaxed);
        Progress::add(&self.progress.skipped, n);
    }

    fn count_failed(&self, n: u64) {
        self.tally.failed.fetch_add(n, Ordering::Relaxed);
        Progress::add(&self.progress.failed, n);
    }

    /// Cut `todo` into batches (by count and bytes), fetch each within the byte budget, hand it over.
    async fn send_batches(
        &self,
        src: &mut Conn,
        folder: &FolderPath,
        tfolder: &FolderPath,
        uv: u32,
        todo: Vec<MessageSummary>,
        tx: &mpsc::Sender<Work>,
    ) -> Result<()> {
        let policy = &self.opts.retry;
        let batch_bytes = self
            .opts
            .batch_bytes
            .min(self.budget.total_bytes() / 4)
            .max(1);
        let mut rest: VecDeque<MessageSummary> = todo.into();
        while !rest.is_empty() {
            let mut batch = Vec::new();
            let mut bytes = 0u64;
            while let Some(s) = rest.front() {
                if !batch.is_empty()
                    && (batch.len() >= self.opts.batch_messages || bytes + s.size > batch_bytes)
                {
                    break;
                }
                bytes += s.size;
                if let Some(s) = rest.pop_front() {
                    batch.push(s);
                }
            }
            let permit = self.budget.acquire(bytes).await;
            let uids: Vec<u32> = batch.iter().map(|s| s.uid).collect();
            let fetched = match retry!(policy, "fetch", src.fetch(folder, &uids)) {
                Ok(f) => f,
                Err(e) if !e.is_temporary() && batch.len() > 1 => {
                    // One bad message must not sink its batch: fetch one by one and fail only that one.
                    let mut all = Vec::new();
                    let mut failed = Vec::new();
                    for s in &batch {
                        match retry!(policy, "fetch", src.fetch(folder, &[s.uid])) {
                            Ok(mut one) => all.append(&mut one),
                            Err(e) if !e.is_temporary() => failed.push(write(
                                s,
                                ItemStatus::Failed,
                                Some(format!("source refused to return it: {e}")),
                                tfolder,
                            )),
                            Err(e) => return Err(e),
                        }
                    }
                    self.store
                        .write_items(self.mapping, self.pass, folder, uv, &failed)
                        .await?;
                    self.count_failed(failed.len() as u64);
                    all
                }
                Err(e) if !e.is_temporary() => {
                    let failed: Vec<_> = batch
                        .iter()
                        .map(|s| {
                            write(
                                s,
                                ItemStatus::Failed,
                                Some(format!("source refused to return it: {e}")),
                                tfolder,
                            )
                        })
                        .collect();
                    self.store
                        .write_items(self.mapping, self.pass, folder, uv, &failed)
                        .await?;
                    self.count_failed(failed.len() as u64);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut by_uid: HashMap<u32, RawMessage> =
                fetched.into_iter().map(|m| (m.uid, m)).collect();
            let mut items = Vec::with_capacity(batch.len());
            let mut gone = Vec::new();
            for s in batch {
                match by_uid.remove(&s.uid) {
                    Some(raw) => items.push((s, raw)),
                    None => gone.push(write(
                        &s,
                        ItemStatus::Skipped,
                        Some("vanished from the source before it could be copied".into()),
                        tfolder,
                    )),
                }
            }
            if !gone.is_empty() {
                self.store
                    .write_items(self.mapping, self.pass, folder, uv, &gone)
                    .await?;
                self.count_skipped(gone.len() as u64);
            }
            if !items.is_empty()
                && tx
                    .send(Work::Batch {
                        items,
                        _permit: permit,
                    })
                    .await
                    .is_err()
            {
                return Ok(());
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn target_half(
        &self,
        tgt: &mut Conn,
        folder: &FolderPath,
        tfolder: &FolderPath,
        uv: u32,
        checkpoint: bool,
        matcher: &FolderMatch,
        state: &mut FolderState,
        mut rx: mpsc::Receiver<Work>,
    ) -> Result<()> {
        let mut next_probe: Option<u32> = None;
        while let Some(work) = rx.recv().await {
            match work {
                Work::PageDone(last) => {
                    if checkpoint {
                        state.hwm = last;
                        self.store.save_folder_state(self.mapping, state).await?;
                    }
                }
                Work::Batch { items, _permit } => {
                    // Before any matching: a copy on the target holds the disarmed bytes.
                    let (items, changed) = self.disarm(items);
                    let items = self
                        .settle_deferred(folder, tfolder, uv, matcher, items)
                        .await?;
                    if !items.is_empty() {
                        next_probe = self
                            .append_batch(tgt, folder, tfolder, uv, items, next_probe, &changed)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// With [`MailOptions::disarm_read_receipts`], rename each message's read-receipt request in place (the
    /// size, so the fingerprint, is kept); the uids that had one.
    fn disarm(
        &self,
        mut items: Vec<(MessageSummary, RawMessage)>,
    ) -> (Vec<(MessageSummary, RawMessage)>, HashSet<u32>) {
        let mut changed = HashSet::new();
        if self.opts.disarm_read_receipts {
            for (s, raw) in &mut items {
                if receipts::disarm_read_receipts(&mut raw.bytes) {
                    changed.insert(s.uid);
                }
            }
        }
        (items, changed)
    }

    /// Messages whose fingerprint is shared are matched by their bytes now that they are fetched: a match
    /// is settled (journaled, not appended); the rest go on to be appended and count as discovered.
    async fn settle_deferred(
        &self,
        folder: &FolderPath,
        tfolder: &FolderPath,
        uv: u32,
        matcher: &FolderMatch,
        items: Vec<(MessageSummary, RawMessage)>,
    ) -> Result<Vec<(MessageSummary, RawMessage)>> {
        if matches!(matcher, FolderMatch::Journal) {
            return Ok(items);
        }
        let mut rest = Vec::with_capacity(items.len());
        let mut recognised = Vec::new();
        let mut settled = 0u64;
        for (s, raw) in items {
            if !matcher.needs_body(&s.fingerprint) {
                rest.push((s, raw));
                continue;
            }
            let hash = content_hash(&raw.bytes);
            let done = match matcher {
                FolderMatch::Journal => false,
                FolderMatch::Rekey { old, .. } => matches!(
                    self.store
                        .claim_by_fingerprint(
                            self.mapping,
                            folder,
                            *old,
                            uv,
                            s.uid,
                            &s.fingerprint,
                            Some(&hash),
                        )
                        .await?,
                    Some(ItemStatus::Copied | ItemStatus::Skipped)
                ),
                FolderMatch::Target(index) => {
                    let hit = index
                        .lock()
                        .map_err(|_| Error::unexpected("target index poisoned"))?
                        .take_body(&s.fingerprint, &hash);
                    match hit {
                        Some(uid) => {
                            recognised.push(ItemWrite {
                                target_uid: Some(uid),
                                content_hash: Some(hash),
                                ..write(&s, ItemStatus::Copied, None, tfolder)
                            });
                            true
                        }
                        None => false,
                    }
                }
            };
            if done {
                settled += 1;
                continue;
            }
            Progress::add(&self.progress.discovered, 1);
            Progress::add(&self.progress.discovered_bytes, s.size);
            self.tally.discovered.fetch_add(1, Ordering::Relaxed);
            rest.push((s, raw));
        }
        self.store
            .write_items(self.mapping, self.pass, folder, uv, &recognised)
            .await?;
        self.tally.recognised.fetch_add(settled, Ordering::Relaxed);
        Ok(rest)
    }

    /// Journal a batch as pending, append it, journal the outcomes. Returns the target's next uid when the
    /// appends told us (UIDPLUS), so the next batch needs no STATUS round trip.
    #[allow(clippy::too_many_arguments)]
    async fn append_batch(
        &self,
        tgt: &mut Conn,
        folder: &FolderPath,
        tfolder: &FolderPath,
        uv: u32,
        items: Vec<(MessageSummary, RawMessage)>,
        known_next: Option<u32>,
        changed: &HashSet<u32>,
    ) -> Result<Option<u32>> {
        let policy = &self.opts.retry;
        let probe_from = match known_next {
            Some(n) => n,
            None => retry!(policy, "target status", tgt.folder_status(tfolder))?.uid_next,
        };
        let pending: Vec<ItemWrite> = items
            .iter()
            .map(|(s, _)| ItemWrite {
                probe_from: Some(probe_from),
                ..write(s, ItemStatus::Pending, None, tfolder)
            })
            .collect();
        self.store
            .write_items(self.mapping, self.pass, folder, uv, &pending)
            .await?;

        let mut outcome: Vec<Option<Outcome>> = vec![None; items.len()];
        let mut remaining: Vec<usize> = (0..items.len()).collect();
        let mut failures = 0u32;
        while !remaining.is_empty() {
            let reqs: Vec<AppendRequest<'_>> = remaining
                .iter()
                .map(|&i| AppendRequest {
                    bytes: &items[i].1.bytes,
                    flags: &items[i].0.flags,
                    internal_date: items[i].0.internal_date,
                })
                .collect();
            match tgt.append(tfolder, &reqs).await {
                Ok(results) if results.len() == remaining.len() => {
                    // A message refused for a passing reason with the server's word on when to come back
                    // (Exchange's `NO … Suggested Backoff Time`, or not carried out before the server ended the
                    // session) did not arrive: it is sent again after the wait. Other refusals are final for
                    // this pass.
                    let mut again = Vec::new();
                    let mut hint = None;
                    for (&i, r) in remaining.iter().zip(results) {
                        outcome[i] = Some(match r {
                            Ok(uid) => (ItemStatus::Copied, None, uid),
                            // Longer than the pass may sleep: stop here. The batch's rows stay pending
                            // and the next run reconciles them against the target (those that arrived are
                            // found there, the rest sent again), so nothing is lost or copied twice.
                            Err(e) if policy.wait_too_long(&e).is_some() => {
                                return Err(e.with_context("side", "target"));
                            }
                            Err(e)
                                if e.retry_after().is_some()
                                    && policy.may_retry(&e, failures + 1) =>
                            {
                                hint = hint.or(e.retry_after());
                                again.push(i);
                                continue;
                            }
                            // Over the target's size or line limit: nothing to retry, the user decides.
                            Err(e) if e.kind() == ferry_core::ErrorKind::TooLarge => (
                                ItemStatus::Skipped,
                                Some(format!("{TARGET_TOO_LARGE_SKIP}: {e}")),
                                None,
                            ),
                            Err(e) => (
                                ItemStatus::Failed,
                                Some(format!("target refused it: {e}")),
                                None,
                            ),
                        });
                    }
                    if !again.is_empty() {
                        failures += 1;
                        let delay = policy.delay(failures, hint);
                        tracing::warn!(
                            messages = again.len(),
                            delay_ms = delay.as_millis() as u64,
                            "target asked to slow down; sending those messages again after the wait"
                        );
                        tokio::time::sleep(delay).await;
                    }
                    remaining = again;
                }
                Ok(results) => {
                    return Err(Error::unexpected(format!(
                        "target returned {} results for {} messages",
                        results.len(),
                        remaining.len()
                    )));
                }
                Err(e) if policy.may_retry(&e, failures + 1) => {
                    failures += 1;
                    let delay = policy.delay(failures, e.retry_after());
                    tracing::warn!(error = %e, attempt = failures, "append interrupted; checking what arrived before retrying");
                    tokio::time::sleep(delay).await;
                    // Some of the batch may have landed before the cut: find those by fingerprint from the
                    // uid_next we noted before appending, and send only the rest again.
                    let wanted: Vec<&str> = remaining
                        .iter()
                        .map(|&i| items[i].0.fingerprint.as_str())
                        .collect();
                    // Never append again without knowing what arrived: if the lookup itself is cut, look
                    // again; when attempts run out, the rows stay pending for the next pass to reconcile.
                    let found = loop {
                        match self.probe(tgt, tfolder, probe_from, &wanted).await {
                            Ok(f) => break f,
                            Err(pe) if policy.may_retry(&pe, failures + 1) => {
                                failures += 1;
                                tokio::time::sleep(policy.delay(failures, pe.retry_after())).await;
                            }
                            Err(pe) => return Err(pe),
                        }
                    };
                    let mut still = Vec::new();
                    for (&i, hit) in remaining.iter().zip(found) {
                        match hit {
                            Some(uid) => outcome[i] = Some((ItemStatus::Copied, None, Some(uid))),
                            None => still.push(i),
                        }
                    }
                    remaining = still;
                }
                Err(e) if e.is_temporary() => {
                    // Out of attempts, or a wait longer than the pass may sleep: leave the rows pending;
                    // the next pass reconciles them.
                    return Err(e);
                }
                Err(e) => {
                    for &i in &remaining {
                        outcome[i] = Some((
                            ItemStatus::Failed,
                            Some(format!("target refused it: {e}")),
                            None,
                        ));
                    }
                    remaining.clear();
                }
            }
        }

        let mut writes = Vec::with_capacity(items.len());
        let (mut copied, mut skipped, mut failed, mut bytes) = (0u64, 0u64, 0u64, 0u64);
        let mut max_uid: Option<u32> = None;
        let mut all_uids = true;
        for ((s, raw), o) in items.iter().zip(outcome) {
            let (status, reason, uid) = o.unwrap_or((
                ItemStatus::Failed,
                Some("no result from the target".into()),
                None,
            ));
            match status {
                ItemStatus::Copied => {
                    copied += 1;
                    bytes += raw.bytes.len() as u64;
                }
                ItemStatus::Skipped => skipped += 1,
                _ => failed += 1,
            }
            match uid {
                Some(u) => max_uid = Some(max_uid.map_or(u, |m| m.max(u))),
                None if status == ItemStatus::Copied => all_uids = false,
                None => {}
            }
            let copied_now = status == ItemStatus::Copied;
            writes.push(ItemWrite {
                target_uid: uid,
                probe_from: Some(probe_from),
                // What Ferry wrote: the flags (the base of the three-way flag sync) and, for a copy the
                // target gave no uid for, the bytes' hash (identity where fingerprints collide). A copy with
                // a uid is hashed from the target only if its identity is ever in question (a re-key with
                // a shared fingerprint, `hash_shared_copies`): hashing every body cost ~0.5 s of CPU per
                // 850 MB copied.
                content_hash: (copied_now && uid.is_none()).then(|| content_hash(&raw.bytes)),
                flags: copied_now.then(|| s.flags.clone()),
                note: (copied_now && changed.contains(&s.uid))
                    .then(|| receipts::DISARMED_NOTE.to_owned()),
                ..write(s, status, reason, tfolder)
            });
        }
        self.store
            .write_items(self.mapping, self.pass, folder, uv, &writes)
            .await?;
        self.tally.copied.fetch_add(copied, Ordering::Relaxed);
        self.tally.bytes.fetch_add(bytes, Ordering::Relaxed);
        Progress::add(&self.progress.copied, copied);
        Progress::add(&self.progress.copied_bytes, bytes);
        if failed > 0 {
            self.count_failed(failed);
        }
        if skipped > 0 {
            self.count_skipped(skipped);
        }
        // Only when every copied message reported its uid do we know the next uid without asking.
        Ok(match (all_uids, max_uid, failed + skipped) {
            (true, Some(m), 0) => m.checked_add(1),
            _ => None,
        })
    }

    /// For each wanted fingerprint (in order), a target uid at or after `from` holding that content, each
    /// target message matched at most once.
    async fn probe(
        &self,
        tgt: &mut Conn,
        tfolder: &FolderPath,
        from: u32,
        wanted: &[&str],
    ) -> Result<Vec<Option<u32>>> {
        let want: HashSet<&str> = wanted.iter().copied().collect();
        let mut found: HashMap<String, VecDeque<u32>> = HashMap::new();
        let mut cursor = from.max(1);
        loop {
            let page = tgt
                .summaries(tfolder, cursor, ferry_core::limits::SUMMARY_PAGE)
                .await?;
            let Some(last) = page.last().map(|s| s.uid) else {
                break;
            };
            for s in page {
                if want.contains(s.fingerprint.as_str()) {
                    found.entry(s.fingerprint).or_default().push_back(s.uid);
                }
            }
            cursor = match last.checked_add(1) {
                Some(c) => c,
                None => break,
            };
        }
        Ok(wanted
            .iter()
            .map(|fp| found.get_mut(*fp).and_then(|q| q.pop_front()))
            .collect())
    }

    /// Settle rows left pending by a crash: present on the target → copied; absent → failed with a reason
    /// that says it will be retried (and the failed-retry path of this same pass copies it).
    async fn reconcile_pending(
        &self,
        tgt: &mut Conn,
        folder: &FolderPath,
        uv: u32,
        pending: &[ItemRow],
    ) -> Result<()> {
        let policy = &self.opts.retry;
        let mut groups: HashMap<FolderPath, Vec<&ItemRow>> = HashMap::new();
        for r in pending {
            let tf = r.target_folder.clone().unwrap_or_else(|| folder.clone());
            groups.entry(tf).or_default().push(r);
        }
        let mut writes = Vec::new();
        for (tf, rows) in groups {
            let from = rows.iter().filter_map(|r| r.probe_from).min().unwrap_or(1);
            let wanted: Vec<&str> = rows.iter().map(|r| r.fingerprint.as_str()).collect();
            let found = retry!(policy, "reconcile", self.probe(tgt, &tf, from, &wanted))?;
            for (r, hit) in rows.into_iter().zip(found) {
                writes.push(match hit {
                    Some(uid) => row_write(r, ItemStatus::Copied, None, Some(uid)),
                    None => row_write(
                        r,
                        ItemStatus::Failed,
                        Some("interrupted before the target confirmed it; retried".into()),
                        None,
                    ),
                });
            }
        }
        self.store
            .write_items(self.mapping, self.pass, folder, uv, &writes)
            .await
    }
}
