//! A run: many mailboxes at once, each a pass (Initial, Delta or Final), bounded by concurrency, per-endpoint
//! connection caps and one shared byte budget.

use crate::budget::ByteBudget;
use crate::endpoint::EndpointOpener;
use crate::mover::{MailboxPass, PassTally};
use crate::pattern::FolderFilter;
use crate::plan::map_folders;
use crate::progress::{Progress, ProgressEvent};
use crate::retry;
use crate::retry::{RetryPolicy, ServerWait};
use ferry_core::folder::FolderPath;
use ferry_core::id::{MappingId, RunId};
use ferry_core::mail::Access;
use ferry_core::{Result, limits};
use ferry_store::{PassCounters, PassKind, RunStatus, Store};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// One mailbox to move.
#[derive(Clone)]
pub struct MappingSpec {
    /// What the user calls it (the e-mail address from the CSV).
    pub label: String,
    pub source: Arc<dyn EndpointOpener>,
    pub target: Arc<dyn EndpointOpener>,
    /// Only folders under this source path, with the prefix removed (the CSV's `UserRoot`).
    pub source_root: Option<FolderPath>,
}

/// Options of a run. Every field has a documented default.
#[derive(Clone, Debug)]
pub struct MailOptions {
    /// Mailboxes at once (default 4).
    pub concurrency: usize,
    /// Messages larger than this are Skipped with the reason (default 35 MB).
    pub max_size: u64,
    /// Bytes all mailboxes may hold in flight at once (default 48 MB).
    pub inflight_bytes: u64,
    pub filter: FolderFilter,
    /// Run a Final pass: a Delta that seals the mapping.
    pub final_pass: bool,
    pub retry: RetryPolicy,
    /// Connections one server (host:port) may have open at once (default 16).
    pub connections_per_endpoint: usize,
    /// Messages per fetch/append batch.
    pub batch_messages: usize,
    /// Bytes per fetch/append batch (also at most a quarter of the budget).
    pub batch_bytes: u64,
    /// Match every folder against what the target holds and copy again what is missing there — also
    /// messages a user deleted on the target, which otherwise stay deleted (default false).
    pub recopy_missing: bool,
    /// Rename each copied message's read-receipt request (`Disposition-Notification-To`) so no client asks
    /// to send a receipt for old mail ([`ferry_core::receipts`]); such messages get a note (default false).
    pub disarm_read_receipts: bool,
}

impl Default for MailOptions {
    fn default() -> Self {
        MailOptions {
            concurrency: limits::DEFAULT_CONCURRENCY,
            max_size: limits::DEFAULT_MAX_MESSAGE_SIZE,
            inflight_bytes: limits::DEFAULT_INFLIGHT_BYTES,
            filter: FolderFilter::default(),
            final_pass: false,
            retry: RetryPolicy::default(),
            connections_per_endpoint: limits::DEFAULT_CONNECTIONS_PER_ENDPOINT,
            batch_messages: 100,
            batch_bytes: 4 * 1024 * 1024,
            recopy_missing: false,
            disarm_read_receipts: false,
        }
    }
}

/// The outcome of one mailbox in a run.
#[derive(Clone, Debug, Serialize)]
pub struct MailboxResult {
    pub label: String,
    pub source: String,
    pub target: String,
    pub mapping_id: Option<MappingId>,
    pub kind: Option<PassKind>,
    pub status: RunStatus,
    pub counters: PassCounters,
    /// Messages found already on the target and journaled without a second copy (issue 9, item 7).
    pub recognised: u64,
    /// Messages whose flag change on the source was written to the target (issue 9, item 9).
    pub flags_updated: u64,
    /// Flag changes on the source not written because the target's flags had changed too (the target
    /// wins).
    pub flag_conflicts: u64,
    pub folder_errors: u64,
    /// Why the mailbox failed as a whole (login refused, server unreachable…).
    pub error: Option<String>,
    /// The pass stopped at a checkpoint because a server asked for a wait longer than
    /// [`RetryPolicy::max_wait_in_pass`]: run it again after the wait (nothing failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_wait: Option<ServerWait>,
}

/// The outcome of a run.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub run_id: RunId,
    pub mailboxes: Vec<MailboxResult>,
    pub totals: PassCounters,
    pub status: RunStatus,
}

fn caps(specs: &[MappingSpec], per_endpoint: usize) -> HashMap<String, Arc<Semaphore>> {
    let mut m = HashMap::new();
    for s in specs {
        for k in [s.source.connection_key(), s.target.connection_key()] {
            m.entry(k)
                .or_insert_with(|| Arc::new(Semaphore::new(per_endpoint.max(1))));
        }
    }
    m
}

/// Wait for every per-item task of a run and return the results in the order the items were given.
/// A task's `Err` (a store failure) ends the run; a task that panicked is reported as unexpected.
pub(crate) async fn join_in_order<T: 'static>(
    mut set: tokio::task::JoinSet<(usize, Result<T>)>,
    what: &str,
) -> Result<Vec<T>> {
    let mut results = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((idx, Ok(r))) => results.push((idx, r)),
            Ok((_, Err(e))) => return Err(e),
            Err(e) => {
                return Err(ferry_core::Error::unexpected(format!(
                    "a {what} task ended abnormally: {e}"
                )));
            }
        }
    }
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// Totals of a run and its status: Failed if any item failed as a whole, DoneWithErrors if any had
/// failed items, else Done.
pub(crate) fn summarise<'a>(
    items: impl Iterator<Item = (&'a PassCounters, RunStatus)>,
) -> (PassCounters, RunStatus) {
    let mut totals = PassCounters::default();
    let mut status = RunStatus::Done;
    for (c, s) in items {
        totals += c;
        status = match (status, s) {
            (RunStatus::Failed, _) | (_, RunStatus::Failed) => RunStatus::Failed,
            (RunStatus::DoneWithErrors, _) | (_, RunStatus::DoneWithErrors) => {
                RunStatus::DoneWithErrors
            }
            _ => RunStatus::Done,
        };
    }
    (totals, status)
}

/// Run one pass for every mapping. Per-mailbox failures are reported in the summary, not returned: the run
/// goes on with the other mailboxes. Only a store failure is an `Err`.
pub async fn run_mail(
    store: Arc<dyn Store>,
    specs: Vec<MappingSpec>,
    opts: MailOptions,
    progress: Arc<Progress>,
) -> Result<RunSummary> {
    let options_json = serde_json::json!({
        "concurrency": opts.concurrency,
        "max_size": opts.max_size,
        "inflight_bytes": opts.inflight_bytes,
        "include": opts.filter.include,
        "exclude": opts.filter.exclude,
        "final": opts.final_pass,
        "recopy_missing": opts.recopy_missing,
    })
    .to_string();
    let run = store.create_run("mail", &options_json).await?;
    progress
        .mailboxes_total
        .store(specs.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let budget = ByteBudget::new(opts.inflight_bytes);
    let caps = Arc::new(caps(&specs, opts.connections_per_endpoint));
    let slots = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let opts = Arc::new(opts);
    let mut set = tokio::task::JoinSet::new();
    for (idx, spec) in specs.into_iter().enumerate() {
        let (store, budget, caps, slots, opts, progress) = (
            store.clone(),
            budget.clone(),
            caps.clone(),
            slots.clone(),
            opts.clone(),
            progress.clone(),
        );
        set.spawn(async move {
            let _slot = slots.acquire_owned().await.ok();
            let src_cap = caps.get(&spec.source.connection_key()).cloned();
            let tgt_cap = caps.get(&spec.target.connection_key()).cloned();
            let _s = match src_cap {
                Some(c) => c.acquire_owned().await.ok(),
                None => None,
            };
            let _t = match tgt_cap {
                Some(c) => c.acquire_owned().await.ok(),
                None => None,
            };
            progress.event(ProgressEvent::Started {
                label: spec.label.clone(),
            });
            let r = run_one(store.as_ref(), &spec, &opts, &budget, &progress, run).await;
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
    let mailboxes: Vec<MailboxResult> = join_in_order(set, "mailbox").await?;
    let (totals, status) = summarise(mailboxes.iter().map(|m| (&m.counters, m.status)));
    store.finish_run(run, status).await?;
    Ok(RunSummary {
        run_id: run,
        mailboxes,
        totals,
        status,
    })
}

/// One mailbox: find or create its mapping, run the pass, record the outcome. `Err` only for store failures.
async fn run_one(
    store: &dyn Store,
    spec: &MappingSpec,
    opts: &MailOptions,
    budget: &ByteBudget,
    progress: &Progress,
    run: RunId,
) -> Result<MailboxResult> {
    let (source, target) = (spec.source.describe(), spec.target.describe());
    let mapping = store.upsert_mapping(&source, &target, &spec.label).await?;
    let mut result = MailboxResult {
        label: spec.label.clone(),
        source,
        target,
        mapping_id: Some(mapping.id),
        kind: None,
        status: RunStatus::Done,
        counters: PassCounters::default(),
        recognised: 0,
        flags_updated: 0,
        flag_conflicts: 0,
        folder_errors: 0,
        error: None,
        server_wait: None,
    };
    if mapping.sealed {
        result.error =
            Some("this mailbox was sealed by a final pass; nothing more is copied".into());
        return Ok(result);
    }
    let earlier = store.passes(mapping.id).await?;
    let kind = if opts.final_pass {
        PassKind::Final
    } else if earlier
        .iter()
        .any(|p| p.status != RunStatus::Running || p.counters.copied > 0)
    {
        PassKind::Delta
    } else {
        PassKind::Initial
    };
    result.kind = Some(kind);
    let pass_id = store.start_pass(mapping.id, run, kind).await?;
    let pass = MailboxPass {
        store,
        opts,
        budget,
        progress,
        mapping: mapping.id,
        pass: pass_id,
        tally: PassTally::default(),
    };
    let outcome = pass.run(spec).await;
    result.counters = pass.tally.counters();
    result.folder_errors = pass.tally.folder_errors();
    result.recognised = pass.tally.recognised();
    (result.flags_updated, result.flag_conflicts) = pass.tally.flag_counts();
    if result.flag_conflicts > 0 {
        tracing::warn!(mailbox = %spec.label, n = result.flag_conflicts,
            "flag changes on the source were not copied: the target's flags had changed too");
    }
    result.status = match &outcome {
        Err(_) => RunStatus::Failed,
        Ok(()) if result.counters.failed > 0 || result.folder_errors > 0 => {
            RunStatus::DoneWithErrors
        }
        Ok(()) => RunStatus::Done,
    };
    if let Err(e) = outcome {
        if e.kind() == ferry_core::ErrorKind::Store {
            return Err(e);
        }
        match opts.retry.wait_too_long(&e) {
            Some(wait) => {
                let w = ServerWait::of(&e, wait);
                tracing::info!(mailbox = %spec.label, wait_secs = w.secs, reason = %w.reason,
                    "stopped for a server wait; the pass resumes from its checkpoint after it");
                result.error = Some(format!("stopped for a server wait of {} s: {e}", w.secs));
                result.server_wait = Some(w);
            }
            None => {
                tracing::error!(mailbox = %spec.label, error = %e, "mailbox failed");
                result.error = Some(e.to_string());
            }
        }
    }
    store
        .finish_pass(
            pass_id,
            result.status,
            &result.counters,
            result.error.as_deref(),
        )
        .await?;
    if kind == PassKind::Final && result.status == RunStatus::Done {
        store.seal_mapping(mapping.id).await?;
    }
    Ok(result)
}

/// One folder in a dry-run plan.
#[derive(Clone, Debug, Serialize)]
pub struct FolderPlanRow {
    pub source: String,
    pub target: String,
    pub selectable: bool,
    pub messages: u64,
    pub bytes: u64,
    /// Messages over `max_size` a real run would skip now.
    pub over_size: u64,
    /// Messages the journal already holds as copied.
    pub copied_before: u64,
    /// Messages skipped by an earlier run; they stay skipped.
    pub skipped_before: u64,
    /// Messages a real run would copy now: new ones, and earlier failures it tries again.
    pub to_copy: u64,
}

/// A dry-run plan of one mailbox.
#[derive(Clone, Debug, Serialize)]
pub struct MailboxPlan {
    pub label: String,
    pub source: String,
    pub target: String,
    pub folders: Vec<FolderPlanRow>,
    pub error: Option<String>,
}

/// Plan only: log in to both sides read-only, list and size every folder, say where each goes and what
/// would be skipped. Nothing is written anywhere. See [`plan_mail_with_journal`].
pub async fn plan_mail(specs: &[MappingSpec], opts: &MailOptions) -> Vec<MailboxPlan> {
    plan_mail_with_journal(specs, opts, None).await
}

/// [`plan_mail`], and with the journal of earlier runs (`store`, only read): what a real run would copy
/// now, what it copied or skipped before.
pub async fn plan_mail_with_journal(
    specs: &[MappingSpec],
    opts: &MailOptions,
    store: Option<&dyn Store>,
) -> Vec<MailboxPlan> {
    let mappings = match store {
        Some(s) => s.mappings().await.unwrap_or_default(),
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for spec in specs {
        let (source, target) = (spec.source.describe(), spec.target.describe());
        let journal = store.zip(
            mappings
                .iter()
                .find(|m| m.source == source && m.target == target)
                .map(|m| m.id),
        );
        let mut plan = MailboxPlan {
            label: spec.label.clone(),
            source: spec.source.describe(),
            target: spec.target.describe(),
            folders: Vec::new(),
            error: None,
        };
        if let Err(e) = plan_one(spec, opts, journal, &mut plan).await {
            plan.error = Some(e.to_string());
        }
        out.push(plan);
    }
    out
}

async fn plan_one(
    spec: &MappingSpec,
    opts: &MailOptions,
    journal: Option<(&dyn Store, MappingId)>,
    plan: &mut MailboxPlan,
) -> Result<()> {
    let policy = &opts.retry;
    let source_side = |e: ferry_core::Error| e.with_context("side", "source");
    let target_side = |e: ferry_core::Error| e.with_context("side", "target");
    let mut src =
        retry!(policy, "open source", spec.source.open(Access::ReadOnly)).map_err(source_side)?;
    let sfolders =
        retry!(policy, "list source folders", src.list_folders()).map_err(source_side)?;
    // A target that does not exist yet (a new Maildir) plans as empty: the real run creates it.
    let mut tgt = match retry!(policy, "open target", spec.target.open(Access::ReadOnly)) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == ferry_core::ErrorKind::NotFound => None,
        Err(e) => return Err(target_side(e)),
    };
    let tfolders = match tgt.as_mut() {
        Some(t) => retry!(policy, "list target folders", t.list_folders()).map_err(target_side)?,
        None => Vec::new(),
    };
    let selected: Vec<_> = sfolders
        .into_iter()
        .filter(|f| opts.filter.selects(&f.path))
        .collect();
    for fp in map_folders(&selected, &tfolders, spec.source_root.as_ref()) {
        let mut row = FolderPlanRow {
            source: fp.source.path.to_string(),
            target: fp.target.to_string(),
            selectable: fp.source.selectable,
            messages: 0,
            bytes: 0,
            over_size: 0,
            copied_before: 0,
            skipped_before: 0,
            to_copy: 0,
        };
        if fp.source.selectable {
            let known = match journal {
                Some((store, mapping)) => {
                    let status =
                        retry!(policy, "folder status", src.folder_status(&fp.source.path))
                            .map_err(source_side)?;
                    Journaled::read(store, mapping, &fp.source.path, status.uid_validity).await?
                }
                None => Journaled::default(),
            };
            let mut from = 1;
            loop {
                let page = retry!(
                    policy,
                    "summaries",
                    src.summaries(&fp.source.path, from, limits::SUMMARY_PAGE)
                )?;
                let Some(last) = page.last().map(|s| s.uid) else {
                    break;
                };
                for s in &page {
                    row.messages += 1;
                    row.bytes += s.size;
                    let retried = known.retried.contains(&s.uid);
                    if known.all.contains(&s.uid) && !retried {
                        if known.skipped.contains(&s.uid) {
                            row.skipped_before += 1;
                        } else {
                            row.copied_before += 1;
                        }
                    } else if s.size > opts.max_size {
                        row.over_size += 1;
                    } else {
                        row.to_copy += 1;
                    }
                }
                from = match last.checked_add(1) {
                    Some(n) => n,
                    None => break,
                };
            }
        }
        plan.folders.push(row);
    }
    let _ = src.close().await;
    if let Some(mut t) = tgt {
        let _ = t.close().await;
    }
    Ok(())
}

/// What the journal holds for one source folder under its current UIDVALIDITY (dry run).
#[derive(Default)]
struct Journaled {
    all: std::collections::HashSet<u32>,
    skipped: std::collections::HashSet<u32>,
    /// Failed or unconfirmed: a real run tries these again.
    retried: std::collections::HashSet<u32>,
}

impl Journaled {
    async fn read(
        store: &dyn Store,
        mapping: MappingId,
        folder: &FolderPath,
        uid_validity: u32,
    ) -> Result<Journaled> {
        use ferry_store::ItemStatus;
        let uids = |rows: Vec<ferry_store::ItemRow>| rows.into_iter().map(|r| r.uid);
        let with = |status| store.items_with_status(mapping, folder, uid_validity, status);
        let mut retried: std::collections::HashSet<u32> =
            uids(with(ItemStatus::Failed).await?).collect();
        retried.extend(uids(with(ItemStatus::Pending).await?));
        Ok(Journaled {
            all: store
                .journaled_uids(mapping, folder, uid_validity, 1, u32::MAX)
                .await?
                .into_iter()
                .collect(),
            skipped: uids(with(ItemStatus::Skipped).await?).collect(),
            retried,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_as_bad_as_its_worst_item_and_counts_add_up() {
        let c = |copied, failed| PassCounters {
            discovered: copied + failed,
            copied,
            failed,
            ..PassCounters::default()
        };
        let (a, b, d) = (c(5, 0), c(3, 1), c(0, 0));
        let items = [(&a, RunStatus::Done), (&b, RunStatus::DoneWithErrors)];
        let (t, s) = summarise(items.into_iter());
        assert_eq!(
            (t.copied, t.failed, t.discovered, s),
            (8, 1, 9, RunStatus::DoneWithErrors)
        );
        let (_, s) = summarise(
            [
                (&a, RunStatus::Done),
                (&d, RunStatus::Failed),
                (&b, RunStatus::DoneWithErrors),
            ]
            .into_iter(),
        );
        assert_eq!(s, RunStatus::Failed);
        assert_eq!(summarise(std::iter::empty()).1, RunStatus::Done);
    }
}
