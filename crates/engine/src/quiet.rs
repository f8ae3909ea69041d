//! Folders with nothing to do, told at the start of a pass (issue 9: a no-op re-run no slower than mbsync).
//!
//! The full path of a folder (`MailboxPass::folder`) opens it on both sides (`EXAMINE`, one round trip
//! each) and asks the journal for its checkpoint and its pending, failed and skipped rows, folder by folder.
//! Here both sides' statuses are peeked for every folder at once ([`MailConnector::peek_statuses`]: IMAP
//! `STATUS`, pipelined, nothing opened) while the journal is read once for the whole mapping. Only "nothing
//! at all to do" is decided from that: a folder that differs in any way takes the full path, which reads
//! everything again. A folder judged quiet is left alone — no command, no journal write — exactly as the
//! full path would leave it.

use crate::job::MailOptions;
use crate::mover::{MailboxPass, retried_skip};
use crate::plan::FolderPlan;
use ferry_core::Result;
use ferry_core::folder::FolderPath;
use ferry_core::mail::{FolderStatus, MailConnector};
use ferry_store::{FolderState, ItemRow, ItemStatus};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

type Conn = Box<dyn MailConnector>;

/// How long statuses peeked at the start of a pass are relied on (as the connector's `EXAMINE` cache): a
/// folder whose turn comes later, after long copies in others, takes the full path.
const FRESH: Duration = Duration::from_secs(30);

/// The source folders found quiet, and when.
pub(crate) struct Quiet {
    at: Instant,
    folders: HashSet<FolderPath>,
}

impl Quiet {
    /// Whether `folder` has nothing to do, by statuses recent enough to rely on.
    pub(crate) fn covers(&self, folder: &FolderPath) -> bool {
        self.at.elapsed() < FRESH && self.folders.contains(folder)
    }
}

impl MailboxPass<'_> {
    /// Peek at both sides and read the journal once (all at the same time); see the module docs.
    pub(crate) async fn quiet_folders(
        &self,
        src: &mut Conn,
        tgt: &mut Conn,
        plans: &[FolderPlan],
        existing: &HashSet<FolderPath>,
    ) -> Result<Quiet> {
        let at = Instant::now();
        // A folder Ferry must create first is not quiet.
        let candidates: Vec<&FolderPlan> = plans
            .iter()
            .filter(|p| p.source.selectable && existing.contains(&p.target))
            .collect();
        let sources: Vec<FolderPath> = candidates.iter().map(|p| p.source.path.clone()).collect();
        let targets: Vec<FolderPath> = candidates.iter().map(|p| p.target.clone()).collect();
        let (speek, tpeek, states, open) = tokio::join!(
            src.peek_statuses(&sources),
            tgt.peek_statuses(&targets),
            self.store.folder_states(self.mapping),
            self.store.open_items(self.mapping),
        );
        // A failed peek only means no folder is known to be quiet: the full path asks again, with retries.
        let speek = speek.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "source status peek failed; every folder takes the full path");
            Vec::new()
        });
        let tpeek = tpeek.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "target status peek failed; every folder takes the full path");
            Vec::new()
        });
        let states: HashMap<FolderPath, FolderState> =
            states?.into_iter().map(|s| (s.folder.clone(), s)).collect();
        let mut open_by: HashMap<FolderPath, Vec<ItemRow>> = HashMap::new();
        for r in open? {
            open_by.entry(r.folder.clone()).or_default().push(r);
        }
        let set_flags = tgt.capability().set_flags;
        let mut folders = HashSet::new();
        for (i, plan) in candidates.iter().enumerate() {
            let (Some(Some(s)), Some(Some(t)), Some(p)) =
                (speek.get(i), tpeek.get(i), states.get(&plan.source.path))
            else {
                continue;
            };
            let open = open_by
                .get(&plan.source.path)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if quiet(p, s, t, &plan.target, open, self.opts, set_flags) {
                folders.insert(plan.source.path.clone());
            }
        }
        if !folders.is_empty() {
            tracing::debug!(
                quiet = folders.len(),
                folders = candidates.len(),
                "folders with nothing to do (statuses peeked at once)"
            );
        }
        Ok(Quiet { at, folders })
    }
}

/// Whether the full path would find nothing to do in this folder: no new message (step 3 of
/// `MailboxPass::folder`), a target the journal vouches for (step 2), nothing pending, failed or to be
/// retried (steps 1 and 3), no flag change (an unchanged HIGHESTMODSEQ), and no checkpoint to write.
/// `s` and `t` are the source's and target's statuses, `open` the folder's pending, failed and skipped rows.
pub(crate) fn quiet(
    p: &FolderState,
    s: &FolderStatus,
    t: &FolderStatus,
    tfolder: &FolderPath,
    open: &[ItemRow],
    opts: &MailOptions,
    set_flags: bool,
) -> bool {
    let unchanged = p.uid_validity != 0
        && p.uid_validity == s.uid_validity
        && p.uid_next == s.uid_next
        && p.messages == s.messages
        && p.hwm.saturating_add(1) >= s.uid_next
        && &p.target_folder == tfolder
        && p.error.is_none();
    // Recreated (another UIDVALIDITY) or left half-matched (0) is not vouched for; neither is an empty
    // target folder unless the source folder is empty too (whether it was emptied is the journal's to say).
    let vouched = p
        .target_uid_validity
        .is_some_and(|v| v != 0 && v == t.uid_validity)
        && (t.messages > 0 || s.messages == 0);
    // The flag sync skips a folder whose HIGHESTMODSEQ did not move; without CONDSTORE it reads every flag.
    let flags = if set_flags {
        s.highest_modseq.is_some() && s.highest_modseq == p.source_modseq
    } else {
        p.source_modseq.is_none()
    };
    let settled = open.iter().all(|r| {
        r.uid_validity != p.uid_validity
            || match r.status {
                ItemStatus::Pending | ItemStatus::Failed => false,
                ItemStatus::Skipped => !retried_skip(r, opts.max_size),
                ItemStatus::Copied => true,
            }
    });
    !opts.recopy_missing && unchanged && vouched && flags && settled
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_store::ItemAbout;

    fn path(s: &str) -> FolderPath {
        FolderPath::parse(s, '/')
    }

    fn state() -> FolderState {
        FolderState {
            folder: path("INBOX"),
            target_folder: path("INBOX"),
            uid_validity: 7,
            uid_next: 11,
            messages: 10,
            hwm: 10,
            error: None,
            target_uid_validity: Some(70),
            source_modseq: Some(100),
        }
    }

    fn source() -> FolderStatus {
        FolderStatus {
            uid_validity: 7,
            uid_next: 11,
            messages: 10,
            highest_modseq: Some(100),
        }
    }

    fn target() -> FolderStatus {
        FolderStatus {
            uid_validity: 70,
            uid_next: 11,
            messages: 10,
            highest_modseq: Some(5),
        }
    }

    fn row(status: ItemStatus, reason: &str, size: u64) -> ItemRow {
        ItemRow {
            folder: path("INBOX"),
            uid_validity: 7,
            uid: 3,
            fingerprint: "fp".into(),
            message_id: None,
            size,
            status,
            reason: Some(reason.into()),
            target_folder: Some(path("INBOX")),
            target_uid: None,
            probe_from: None,
            attempts: 1,
            content_hash: None,
            flags: None,
            about: ItemAbout::default(),
            note: None,
        }
    }

    fn is_quiet(p: &FolderState, s: &FolderStatus, t: &FolderStatus, open: &[ItemRow]) -> bool {
        quiet(p, s, t, &path("INBOX"), open, &MailOptions::default(), true)
    }

    #[test]
    fn an_unchanged_folder_the_journal_vouches_for_is_quiet() {
        assert!(is_quiet(&state(), &source(), &target(), &[]));
        // A skip no rule of this pass retries stays a skip.
        let kept = row(ItemStatus::Skipped, "vanished from the source", 10);
        assert!(is_quiet(&state(), &source(), &target(), &[kept]));
        // Rows under an older UIDVALIDITY are not this folder's business any more.
        let old = ItemRow {
            uid_validity: 6,
            ..row(ItemStatus::Failed, "target refused it", 10)
        };
        assert!(is_quiet(&state(), &source(), &target(), &[old]));
        // Empty on both sides.
        let (mut p, mut s, mut t) = (state(), source(), target());
        (p.messages, s.messages, t.messages) = (0, 0, 0);
        assert!(is_quiet(&p, &s, &t, &[]));
    }

    #[test]
    fn anything_the_full_path_would_act_on_is_not_quiet() {
        let (p, s, t) = (state(), source(), target());
        let new_mail = FolderStatus {
            uid_next: 12,
            messages: 11,
            ..s
        };
        assert!(!is_quiet(&p, &new_mail, &t, &[]), "new message");
        let expunged = FolderStatus { messages: 9, ..s };
        assert!(
            !is_quiet(&p, &expunged, &t, &[]),
            "a message left the source"
        );
        let rekeyed = FolderStatus {
            uid_validity: 8,
            ..s
        };
        assert!(!is_quiet(&p, &rekeyed, &t, &[]), "UIDVALIDITY changed");
        let flagged = FolderStatus {
            highest_modseq: Some(101),
            ..s
        };
        assert!(!is_quiet(&p, &flagged, &t, &[]), "a flag changed");
        let no_modseq = FolderStatus {
            highest_modseq: None,
            ..s
        };
        assert!(!is_quiet(&p, &no_modseq, &t, &[]), "flags read every pass");
        let recreated = FolderStatus {
            uid_validity: 71,
            ..t
        };
        assert!(!is_quiet(&p, &s, &recreated, &[]), "target recreated");
        let emptied = FolderStatus { messages: 0, ..t };
        assert!(!is_quiet(&p, &s, &emptied, &[]), "target emptied");
        for tv in [None, Some(0)] {
            let q = FolderState {
                target_uid_validity: tv,
                ..p.clone()
            };
            assert!(!is_quiet(&q, &s, &t, &[]), "target not vouched for: {tv:?}");
        }
        let failed = FolderState {
            error: Some("boom".into()),
            ..p.clone()
        };
        assert!(
            !is_quiet(&failed, &s, &t, &[]),
            "the folder failed last time"
        );
        let behind = FolderState {
            hwm: 5,
            ..p.clone()
        };
        assert!(!is_quiet(&behind, &s, &t, &[]), "checkpoint behind");
        assert!(
            !quiet(
                &p,
                &s,
                &t,
                &path("Elsewhere"),
                &[],
                &MailOptions::default(),
                true
            ),
            "the folder now goes elsewhere"
        );
        for r in [
            row(ItemStatus::Pending, "", 10),
            row(ItemStatus::Failed, "target refused it", 10),
            row(
                ItemStatus::Skipped,
                "larger than the size limit (1 MB > 0.5 MB)",
                10,
            ),
            row(
                ItemStatus::Skipped,
                "target refused it as too large: NO",
                10,
            ),
        ] {
            assert!(
                !is_quiet(&p, &s, &t, std::slice::from_ref(&r)),
                "{:?} {:?}",
                r.status,
                r.reason
            );
        }
        let recopy = MailOptions {
            recopy_missing: true,
            ..MailOptions::default()
        };
        assert!(!quiet(&p, &s, &t, &path("INBOX"), &[], &recopy, true));
        // A target without flag writes keeps no modseq.
        assert!(!quiet(
            &p,
            &s,
            &t,
            &path("INBOX"),
            &[],
            &MailOptions::default(),
            false
        ));
        let plain = FolderState {
            source_modseq: None,
            ..p.clone()
        };
        assert!(quiet(
            &plain,
            &s,
            &t,
            &path("INBOX"),
            &[],
            &MailOptions::default(),
            false
        ));
    }
}
