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

mod source;
mod target;

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
}
