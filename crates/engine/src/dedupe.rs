//! Recognising messages that are already there (issue 9, items 6–8): the journal is a cache, the target
//! is the truth.
//!
//! A pass trusts its journal only while the journal can vouch for the target folder. When it cannot — a
//! fresh or lost store facing a target that already holds mail, a target folder that was recreated (new
//! UIDVALIDITY) or emptied, or `--recopy-missing` — the pass reads what the target folder holds (one
//! header/size FETCH per page, the same summaries the source gives) into a [`TargetIndex`] and matches each
//! source message against it before appending anything: a match is journaled as copied, the rest is
//! appended. Nothing is appended twice, and what is missing is copied again.
//!
//! Identity is the content fingerprint (normalised Message-ID, Date, From, To, Cc, Subject, size). Where it
//! is ambiguous — two source messages or two target candidates share a fingerprint — the body decides:
//! the candidates' bytes are hashed ([`content_hash`]) and a source message matches only a candidate with
//! the same bytes. Byte-identical duplicates stay two messages: each match takes one candidate.
//!
//! The same rule serves a source UIDVALIDITY change ([`FolderMatch::Rekey`]): journal rows are claimed by
//! fingerprint, and where a fingerprint is shared the claim waits for the body and takes only a row whose
//! recorded content hash agrees.
//!
//! Cost: nothing at all while the journal vouches (the usual Delta pass). Otherwise one extra summary walk
//! of the source folder (fingerprint counts: 16 bytes and a counter per distinct message) and one of the
//! target folder; bodies are read only for shared fingerprints.
//!
//! Copies are not hashed as they are made when the target gives their uid (hashing every body was the
//! largest CPU cost a copy added): a re-key first hashes the copies of its shared fingerprints on the
//! target, by uid ([`MailboxPass::hash_shared_copies`]). A copy a user has deleted from the target gets a
//! hash no message has, so no other message with the same headers takes its row (it is copied again
//! rather than risk leaving a different body out).

use crate::mover::{MailboxPass, row_write};
use crate::retry;
use crate::retry::RetryPolicy;
use ferry_core::fingerprint::content_hash;
use ferry_core::folder::FolderPath;
use ferry_core::limits;
use ferry_core::mail::MailConnector;
use ferry_core::{ErrorKind, Result};
use ferry_store::{ItemRow, ItemStatus, ItemWrite};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

type Conn = Box<dyn MailConnector>;

/// Target messages whose bodies are read per FETCH when a fingerprint is ambiguous.
const BODY_BATCH: usize = 50;

/// A fingerprint as a compact map key (fingerprints are 32 hex digits; anything else is hashed).
pub(crate) fn fp_key(fp: &str) -> u128 {
    u128::from_str_radix(fp, 16).unwrap_or_else(|_| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        fp.hash(&mut h);
        u128::from(h.finish())
    })
}

/// How a folder's source messages are matched before anything is appended.
pub(crate) enum FolderMatch {
    /// The journal vouches for the target: its rows decide, nothing is matched.
    Journal,
    /// The source folder's UIDVALIDITY changed: journal rows under `old` are claimed by fingerprint;
    /// fingerprints in `shared` need the message's bytes first.
    Rekey { old: u32, shared: HashSet<u128> },
    /// The journal cannot vouch for the target: match against what the target holds.
    Target(Mutex<TargetIndex>),
}

impl FolderMatch {
    /// Whether a message with this fingerprint must be fetched and hashed before it is matched.
    pub(crate) fn needs_body(&self, fp: &str) -> bool {
        match self {
            FolderMatch::Journal => false,
            FolderMatch::Rekey { shared, .. } => shared.contains(&fp_key(fp)),
            FolderMatch::Target(index) => index
                .lock()
                .map(|i| i.ambiguous.contains(&fp_key(fp)))
                .unwrap_or(false),
        }
    }
}

/// What [`TargetIndex::lookup`] found for a fingerprint.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hit {
    /// This target uid holds the message (it is taken: it matches no other source message).
    Found(u32),
    /// Shared fingerprint: hash the source message's bytes and call [`TargetIndex::take_body`].
    NeedBody,
    /// Not on the target.
    Absent,
}

/// The messages of one target folder, by fingerprint; each can be matched once.
#[derive(Default)]
pub(crate) struct TargetIndex {
    by_fp: HashMap<u128, VecDeque<u32>>,
    by_body: HashMap<(u128, String), VecDeque<u32>>,
    ambiguous: HashSet<u128>,
    /// Messages the target folder held when it was read.
    pub(crate) messages: u64,
}

impl TargetIndex {
    /// Read the target folder (summaries, and bodies where `source_counts` or the target itself shows a
    /// fingerprint more than once).
    pub(crate) async fn read(
        tgt: &mut Conn,
        tfolder: &FolderPath,
        source_counts: &HashMap<u128, u32>,
        policy: &RetryPolicy,
    ) -> Result<TargetIndex> {
        let mut index = TargetIndex::default();
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
                index.messages += 1;
                index
                    .by_fp
                    .entry(fp_key(&s.fingerprint))
                    .or_default()
                    .push_back(s.uid);
            }
            from = match last.checked_add(1) {
                Some(f) => f,
                None => break,
            };
        }
        index.ambiguous = index
            .by_fp
            .iter()
            .filter(|(k, uids)| uids.len() > 1 || source_counts.get(k).is_some_and(|n| *n > 1))
            .map(|(k, _)| *k)
            .collect();
        let mut wanted: Vec<(u32, u128)> = Vec::new();
        for k in &index.ambiguous {
            if let Some(uids) = index.by_fp.remove(k) {
                wanted.extend(uids.into_iter().map(|u| (u, *k)));
            }
        }
        wanted.sort_unstable();
        for chunk in wanted.chunks(BODY_BATCH) {
            let uids: Vec<u32> = chunk.iter().map(|(u, _)| *u).collect();
            let keys: HashMap<u32, u128> = chunk.iter().copied().collect();
            let fetched = retry!(policy, "target fetch", tgt.fetch(tfolder, &uids))?;
            for m in fetched {
                if let Some(k) = keys.get(&m.uid) {
                    index
                        .by_body
                        .entry((*k, content_hash(&m.bytes)))
                        .or_default()
                        .push_back(m.uid);
                }
            }
        }
        Ok(index)
    }

    /// Match a source message by fingerprint.
    pub(crate) fn lookup(&mut self, fp: &str) -> Hit {
        let k = fp_key(fp);
        if self.ambiguous.contains(&k) {
            return Hit::NeedBody;
        }
        match self.by_fp.get_mut(&k).and_then(VecDeque::pop_front) {
            Some(uid) => Hit::Found(uid),
            None => Hit::Absent,
        }
    }

    /// Match a source message whose fingerprint is shared, by its bytes' hash.
    pub(crate) fn take_body(&mut self, fp: &str, hash: &str) -> Option<u32> {
        self.by_body
            .get_mut(&(fp_key(fp), hash.to_owned()))
            .and_then(VecDeque::pop_front)
    }
}

/// The content hash recorded for a copy that is no longer on the target: it matches no message.
const GONE_FROM_TARGET: &str = "gone from the target";

impl MailboxPass<'_> {
    /// Before a re-key from `old`: copies whose fingerprint is in `shared` and whose bytes were not hashed
    /// when copied get the hash of their copy on the target (read by uid, a batch at a time), so a claim
    /// with a body's hash takes only its own row. Rows copied without a target uid were hashed then.
    pub(crate) async fn hash_shared_copies(
        &self,
        tgt: &mut Conn,
        folder: &FolderPath,
        old: u32,
        shared: &HashSet<u128>,
    ) -> Result<()> {
        if shared.is_empty() {
            return Ok(());
        }
        let rows = self
            .store
            .items_with_status(self.mapping, folder, old, ItemStatus::Copied)
            .await?;
        let mut by_folder: HashMap<&FolderPath, HashMap<u32, &ItemRow>> = HashMap::new();
        for r in &rows {
            if r.content_hash.is_some() || !shared.contains(&fp_key(&r.fingerprint)) {
                continue;
            }
            if let (Some(tfolder), Some(tuid)) = (&r.target_folder, r.target_uid) {
                by_folder.entry(tfolder).or_default().insert(tuid, r);
            }
        }
        let hashed = |r: &ItemRow, hash: String| ItemWrite {
            content_hash: Some(hash),
            ..row_write(r, r.status, r.reason.clone(), r.target_uid)
        };
        let policy = &self.opts.retry;
        let mut writes = Vec::new();
        for (tfolder, wanted) in by_folder {
            let mut uids: Vec<u32> = wanted.keys().copied().collect();
            uids.sort_unstable();
            let mut found = HashSet::new();
            for chunk in uids.chunks(BODY_BATCH) {
                let fetched = match retry!(policy, "target fetch", tgt.fetch(tfolder, chunk)) {
                    Ok(f) => f,
                    // The target folder is gone: so are its copies.
                    Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
                    Err(e) => {
                        return Err(e
                            .with_context("side", "target")
                            .with_context("target folder", tfolder));
                    }
                };
                for m in fetched {
                    if let Some(r) = wanted.get(&m.uid) {
                        found.insert(m.uid);
                        writes.push(hashed(r, content_hash(&m.bytes)));
                    }
                }
            }
            for (uid, r) in &wanted {
                if !found.contains(uid) {
                    writes.push(hashed(r, GONE_FROM_TARGET.to_owned()));
                }
            }
        }
        self.store
            .write_items(self.mapping, self.pass, folder, old, &writes)
            .await
    }
}

/// How many times each fingerprint occurs in a folder (one summary walk).
pub(crate) async fn fingerprint_counts(
    conn: &mut Conn,
    folder: &FolderPath,
    policy: &RetryPolicy,
) -> Result<HashMap<u128, u32>> {
    let mut counts: HashMap<u128, u32> = HashMap::new();
    let mut from = 1;
    loop {
        let page = retry!(
            policy,
            "summaries",
            conn.summaries(folder, from, limits::SUMMARY_PAGE)
        )?;
        let Some(last) = page.last().map(|s| s.uid) else {
            break;
        };
        for s in page {
            *counts.entry(fp_key(&s.fingerprint)).or_default() += 1;
        }
        from = match last.checked_add(1) {
            Some(f) => f,
            None => break,
        };
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(&str, u32)], bodies: &[(&str, &str, u32)]) -> TargetIndex {
        let mut i = TargetIndex::default();
        for (fp, uid) in entries {
            i.by_fp.entry(fp_key(fp)).or_default().push_back(*uid);
        }
        for (fp, h, uid) in bodies {
            i.ambiguous.insert(fp_key(fp));
            i.by_body
                .entry((fp_key(fp), (*h).to_owned()))
                .or_default()
                .push_back(*uid);
        }
        i
    }

    #[test]
    fn each_target_message_matches_one_source_message() {
        let mut i = index(&[("0a", 7)], &[]);
        assert_eq!(i.lookup("0a"), Hit::Found(7));
        assert_eq!(i.lookup("0a"), Hit::Absent);
        assert_eq!(i.lookup("0b"), Hit::Absent);
    }

    #[test]
    fn a_shared_fingerprint_matches_only_the_same_bytes() {
        let mut i = index(&[], &[("0c", "h1", 3), ("0c", "h1", 4)]);
        assert_eq!(i.lookup("0c"), Hit::NeedBody);
        assert_eq!(i.take_body("0c", "h2"), None);
        assert_eq!(i.take_body("0c", "h1"), Some(3));
        assert_eq!(i.take_body("0c", "h1"), Some(4));
        assert_eq!(i.take_body("0c", "h1"), None);
    }
}
