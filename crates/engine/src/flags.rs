//! Flag sync (issue 9, item 9): read, flagged, answered, draft and keyword changes made on the source after
//! the first copy reach the target in Delta and Final passes.
//!
//! The rule is three-way. The journal keeps the flags Ferry last wrote for each message (the base). A
//! source whose flags differ from the base changed since: its flags are written to the target — unless the
//! target's flags also differ from the base (a user changed them there during coexistence); then the target
//! wins, nothing is written, and the pass reports the conflict. Either way the base becomes the source's
//! flags, so one change is acted on (or reported) once.
//!
//! Cost: with CONDSTORE (RFC 7162) on the source, an unchanged HIGHESTMODSEQ means no flag changed and
//! nothing is fetched; otherwise only messages changed since the recorded modseq are (`CHANGEDSINCE`).
//! Without it (Exchange Online) one `UID FETCH 1:* (UID FLAGS)` per folder. The target is read (one flags
//! FETCH per folder) only when some source message changed, and changes are written grouped by flag set
//! (one `UID STORE` per distinct set). The source is only read: EXAMINE and FETCH FLAGS.
//!
//! `\Deleted` is never carried (a later expunge would make it a deletion) and `\Recent` cannot be set.

use crate::mover::MailboxPass;
use crate::retry;
use ferry_core::Result;
use ferry_core::folder::FolderPath;
use ferry_core::limits;
use ferry_core::mail::{FolderStatus, MailConnector};
use ferry_store::{ItemAbout, ItemRow, ItemStatus, ItemWrite};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;

type Conn = Box<dyn MailConnector>;

/// Flags as compared: no `\Recent` or `\Deleted`, system flags in their RFC 3501 spelling, sorted, once.
pub(crate) fn normalise(flags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent") && !f.eq_ignore_ascii_case("\\Deleted"))
        .map(|f| {
            ferry_core::mail::SYSTEM_FLAGS
                .iter()
                .find(|s| s.eq_ignore_ascii_case(f))
                .map_or_else(|| f.clone(), |s| (*s).to_owned())
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn with_flags(r: &ItemRow, flags: Vec<String>) -> ItemWrite {
    ItemWrite {
        uid: r.uid,
        fingerprint: r.fingerprint.clone(),
        message_id: r.message_id.clone(),
        size: r.size,
        status: r.status,
        reason: r.reason.clone(),
        target_folder: r.target_folder.clone(),
        target_uid: r.target_uid,
        probe_from: r.probe_from,
        content_hash: None,
        flags: Some(flags),
        // Empty: the row keeps what it has.
        about: ItemAbout::default(),
        note: None,
    }
}

impl MailboxPass<'_> {
    /// Carry source flag changes to the target for the messages the journal holds as copied. Returns the
    /// source HIGHESTMODSEQ to record (CONDSTORE), if any.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn sync_flags(
        &self,
        src: &mut Conn,
        tgt: &mut Conn,
        folder: &FolderPath,
        tfolder: &FolderPath,
        status: &FolderStatus,
        recorded_modseq: Option<u64>,
    ) -> Result<Option<u64>> {
        let policy = &self.opts.retry;
        if !tgt.capability().set_flags {
            return Ok(None);
        }
        if let (Some(now), Some(before)) = (status.highest_modseq, recorded_modseq)
            && now == before
        {
            return Ok(Some(now));
        }
        let changed_since = recorded_modseq.filter(|_| status.highest_modseq.is_some());
        let source = retry!(policy, "source flags", src.flags(folder, changed_since))
            .map_err(|e| e.with_context("side", "source"))?;
        if source.is_empty() {
            return Ok(status.highest_modseq);
        }
        let rows = self
            .store
            .items_with_status(
                self.mapping,
                folder,
                status.uid_validity,
                ItemStatus::Copied,
            )
            .await?;
        let by_uid: HashMap<u32, &ItemRow> = rows.iter().map(|r| (r.uid, r)).collect();
        let mut writes = Vec::new();
        let mut changes: Vec<(&ItemRow, Vec<String>)> = Vec::new();
        for m in &source {
            let Some(row) = by_uid.get(&m.uid) else {
                continue;
            };
            let now = normalise(&m.flags);
            match &row.flags {
                // No base (a journal from before flags were kept, or a message recognised on the
                // target): the source's flags become the base; nothing is written.
                None => writes.push(with_flags(row, now)),
                Some(base) if normalise(base) == now => {}
                Some(_) => changes.push((row, now)),
            }
        }
        if !changes.is_empty() {
            self.apply_flag_changes(tgt, tfolder, &changes, &mut writes)
                .await?;
        }
        self.store
            .write_items(
                self.mapping,
                self.pass,
                folder,
                status.uid_validity,
                &writes,
            )
            .await?;
        Ok(status.highest_modseq)
    }

    /// Read the target's flags for the changed messages and write the source's where the target kept the
    /// base; the target wins where it changed too.
    async fn apply_flag_changes(
        &self,
        tgt: &mut Conn,
        tfolder: &FolderPath,
        changes: &[(&ItemRow, Vec<String>)],
        writes: &mut Vec<ItemWrite>,
    ) -> Result<()> {
        let policy = &self.opts.retry;
        let mut target_flags: HashMap<u32, Vec<String>> = HashMap::new();
        // Targets that give no uid on append (Maildir) are matched by fingerprint.
        let mut by_fp: HashMap<String, VecDeque<u32>> = HashMap::new();
        if changes.iter().any(|(r, _)| r.target_uid.is_none()) {
            let mut from = 1;
            loop {
                let page = retry!(
                    policy,
                    "target summaries",
                    tgt.summaries(tfolder, from, limits::SUMMARY_PAGE)
                )?;
                let Some(last) = page.last().map(|s| s.uid) else {
                    break;
                };
                for s in page {
                    by_fp.entry(s.fingerprint).or_default().push_back(s.uid);
                    target_flags.insert(s.uid, s.flags);
                }
                from = match last.checked_add(1) {
                    Some(f) => f,
                    None => break,
                };
            }
        } else {
            for m in retry!(policy, "target flags", tgt.flags(tfolder, None))
                .map_err(|e| e.with_context("side", "target"))?
            {
                target_flags.insert(m.uid, m.flags);
            }
        }
        let mut groups: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
        let (mut updated, mut conflicts) = (0u64, 0u64);
        for (row, now) in changes {
            let uid = row.target_uid.or_else(|| {
                by_fp
                    .get_mut(&row.fingerprint)
                    .and_then(VecDeque::pop_front)
            });
            // Gone from the target (a user deleted it): nothing to update.
            let Some((uid, current)) = uid.and_then(|u| target_flags.get(&u).map(|f| (u, f)))
            else {
                continue;
            };
            let base = normalise(row.flags.as_deref().unwrap_or_default());
            let there = normalise(current);
            if &there == now {
                // Already so on the target.
            } else if there == base {
                let mut set = now.clone();
                if current.iter().any(|f| f.eq_ignore_ascii_case("\\Deleted")) {
                    set.push("\\Deleted".to_owned());
                }
                groups.entry(set).or_default().push(uid);
                updated += 1;
            } else {
                conflicts += 1;
                tracing::warn!(folder = %tfolder, uid = row.uid, source = ?now, target = ?there,
                    "flags changed on the source and on the target since the last pass: the target's are kept");
            }
            writes.push(with_flags(row, now.clone()));
        }
        for (flags, uids) in &groups {
            retry!(policy, "set flags", tgt.set_flags(tfolder, uids, flags)).map_err(|e| {
                e.with_context("side", "target")
                    .with_context("target folder", tfolder)
            })?;
        }
        self.tally
            .flags_updated
            .fetch_add(updated, Ordering::Relaxed);
        self.tally
            .flag_conflicts
            .fetch_add(conflicts, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_compare_without_recent_deleted_case_or_order() {
        let f = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            normalise(&f(&["$Work", "\\SEEN", "\\Recent", "\\Deleted", "\\Seen"])),
            f(&["$Work", "\\Seen"])
        );
    }
}
