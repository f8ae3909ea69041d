//! `ferry mail verify`: walk source and target folder by folder and compare contents (like `rclone check`).
//!
//! Each folder's messages are compared as multisets of content fingerprints (two identical messages must
//! be there twice): matched, missing (in the source, not on the target), duplicates (a source message on
//! the target more often than in the source), extra (on the target only). Where a fingerprint occurs more
//! than once on either side, the messages' bytes are hashed and compared instead, so two messages with
//! the same headers and size but different bodies are two messages (issue 9, item 8). Missing messages
//! the journal recorded as Skipped (too large…) count as skipped, not missing. Both sides are opened
//! read-only (EXAMINE, `BODY.PEEK[]`). Memory per folder is a 16-byte key and the uids per distinct
//! message.

use crate::dedupe::fp_key as key;
use crate::job::{MailOptions, MappingSpec};
use crate::plan::map_folders;
use crate::retry;
use ferry_core::fingerprint::content_hash;
use ferry_core::folder::FolderPath;
use ferry_core::grade::{Grade, GradePolicy};
use ferry_core::mail::{Access, MailConnector};
use ferry_core::{Result, limits};
use ferry_store::{ItemStatus, Store};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// One folder compared.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FolderVerify {
    pub source_folder: String,
    pub target_folder: String,
    pub source_messages: u64,
    pub target_messages: u64,
    pub matched: u64,
    pub missing: u64,
    pub extra: u64,
    /// Target messages that repeat a source message beyond its count in the source (a second copy).
    pub duplicates: u64,
    pub skipped: u64,
    pub source_bytes: u64,
    /// The source messages missing on the target (at most [`LISTED_MISSING`] per folder).
    pub missing_items: Vec<MissingItem>,
    pub error: Option<String>,
}

/// How many missing messages a folder lists by name.
pub const LISTED_MISSING: usize = 100;

/// A source message that is not on the target.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MissingItem {
    pub uid: u32,
    pub message_id: Option<String>,
    pub size: u64,
}

/// One mailbox compared.
#[derive(Clone, Debug, Serialize)]
pub struct MailboxVerify {
    pub label: String,
    pub source: String,
    pub target: String,
    pub folders: Vec<FolderVerify>,
    pub grade: Option<Grade>,
    pub error: Option<String>,
}

impl MailboxVerify {
    /// Sum over folders: (source messages, matched, missing, extra, skipped).
    pub fn totals(&self) -> (u64, u64, u64, u64, u64) {
        self.folders.iter().fold((0, 0, 0, 0, 0), |t, f| {
            (
                t.0 + f.source_messages,
                t.1 + f.matched,
                t.2 + f.missing,
                t.3 + f.extra,
                t.4 + f.skipped,
            )
        })
    }

    /// Target messages that duplicate a source message, over all folders.
    pub fn duplicates(&self) -> u64 {
        self.folders.iter().map(|f| f.duplicates).sum()
    }

    /// True when nothing is missing or duplicated and nothing failed to compare.
    pub fn is_complete(&self) -> bool {
        self.error.is_none()
            && self
                .folders
                .iter()
                .all(|f| f.missing == 0 && f.duplicates == 0 && f.error.is_none())
    }
}

/// One folder's messages: uids per fingerprint, in ascending uid order.
struct Side {
    by_fp: HashMap<u128, Vec<u32>>,
    messages: u64,
    bytes: u64,
}

async fn read_side(
    conn: &mut Box<dyn MailConnector>,
    folder: &FolderPath,
    opts: &MailOptions,
    mut missing_info: Option<&mut HashMap<u32, (Option<String>, u64)>>,
) -> Result<Side> {
    let mut side = Side {
        by_fp: HashMap::new(),
        messages: 0,
        bytes: 0,
    };
    let mut from = 1;
    loop {
        let page = retry!(
            &opts.retry,
            "summaries",
            conn.summaries(folder, from, limits::SUMMARY_PAGE)
        )?;
        let Some(last) = page.last().map(|s| s.uid) else {
            break;
        };
        for s in page {
            side.by_fp
                .entry(key(&s.fingerprint))
                .or_default()
                .push(s.uid);
            side.messages += 1;
            side.bytes += s.size;
            if let Some(info) = missing_info.as_deref_mut() {
                info.insert(s.uid, (s.message_id, s.size));
            }
        }
        from = match last.checked_add(1) {
            Some(f) => f,
            None => break,
        };
    }
    Ok(side)
}

/// The content hash of each uid (bytes fetched read-only, a batch at a time).
async fn hashes(
    conn: &mut Box<dyn MailConnector>,
    folder: &FolderPath,
    uids: &[u32],
    opts: &MailOptions,
    disarm: bool,
) -> Result<HashMap<u32, String>> {
    let mut out = HashMap::new();
    for chunk in uids.chunks(50) {
        for mut m in retry!(&opts.retry, "fetch", conn.fetch(folder, chunk))? {
            // A source message as Ferry writes it: with its read-receipt request disarmed, when asked.
            if disarm {
                ferry_core::receipts::disarm_read_receipts(&mut m.bytes);
            }
            out.insert(m.uid, content_hash(&m.bytes));
        }
    }
    Ok(out)
}

/// Compare every mapping; per-mailbox problems are in the result, never an `Err`.
pub async fn verify_mail(
    store: Option<Arc<dyn Store>>,
    specs: &[MappingSpec],
    opts: &MailOptions,
) -> Vec<MailboxVerify> {
    let mut out = Vec::new();
    for spec in specs {
        let mut v = MailboxVerify {
            label: spec.label.clone(),
            source: spec.source.describe(),
            target: spec.target.describe(),
            folders: Vec::new(),
            grade: None,
            error: None,
        };
        if let Err(e) = verify_one(store.as_deref(), spec, opts, &mut v).await {
            v.error = Some(e.to_string());
        }
        let (discovered, _, missing, _, skipped) = v.totals();
        if v.error.is_none() {
            // A second copy on the target breaks "nothing duplicated" as much as a missing one breaks
            // "nothing lost": both count against the grade.
            v.grade =
                Some(GradePolicy::default().grade(discovered, skipped, missing + v.duplicates()));
        }
        out.push(v);
    }
    out
}

async fn verify_one(
    store: Option<&dyn Store>,
    spec: &MappingSpec,
    opts: &MailOptions,
    v: &mut MailboxVerify,
) -> Result<()> {
    let policy = &opts.retry;
    let mut src = retry!(policy, "open source", spec.source.open(Access::ReadOnly))?;
    let mut tgt = retry!(policy, "open target", spec.target.open(Access::ReadOnly))?;
    let sfolders = retry!(policy, "list source folders", src.list_folders())?;
    let tfolders = retry!(policy, "list target folders", tgt.list_folders())?;
    let target_exists: std::collections::HashSet<FolderPath> =
        tfolders.iter().map(|f| f.path.clone()).collect();
    let selected: Vec<_> = sfolders
        .into_iter()
        .filter(|f| opts.filter.selects(&f.path))
        .collect();
    // Where the journal says a folder went wins over a fresh mapping (the target may have changed since).
    let mapping = match store {
        Some(s) => {
            let all = s.mappings().await?;
            all.into_iter()
                .find(|m| m.source == v.source && m.target == v.target)
        }
        None => None,
    };
    let mut journal_targets: HashMap<FolderPath, (FolderPath, u32)> = HashMap::new();
    if let (Some(s), Some(m)) = (store, &mapping) {
        for st in s.folder_states(m.id).await? {
            journal_targets.insert(
                st.folder.clone(),
                (st.target_folder.clone(), st.uid_validity),
            );
        }
    }
    for plan in map_folders(&selected, &tfolders, spec.source_root.as_ref()) {
        if !plan.source.selectable {
            continue;
        }
        let (tfolder, uv) = match journal_targets.get(&plan.source.path) {
            Some((t, uv)) => (t.clone(), Some(*uv)),
            None => (plan.target.clone(), None),
        };
        let mut fv = FolderVerify {
            source_folder: plan.source.path.to_string(),
            target_folder: tfolder.to_string(),
            ..FolderVerify::default()
        };
        let mut info: HashMap<u32, (Option<String>, u64)> = HashMap::new();
        let sside = read_side(&mut src, &plan.source.path, opts, Some(&mut info)).await?;
        fv.source_messages = sside.messages;
        fv.source_bytes = sside.bytes;
        let tside = if target_exists.contains(&tfolder) {
            let t = read_side(&mut tgt, &tfolder, opts, None).await?;
            fv.target_messages = t.messages;
            t
        } else {
            Side {
                by_fp: HashMap::new(),
                messages: 0,
                bytes: 0,
            }
        };
        // Skipped items are expected to be missing.
        let mut skipped_keys: HashMap<u128, i64> = HashMap::new();
        if let (Some(s), Some(m), Some(uv)) = (store, &mapping, uv) {
            for r in s
                .items_with_status(m.id, &plan.source.path, uv, ItemStatus::Skipped)
                .await?
            {
                *skipped_keys.entry(key(&r.fingerprint)).or_default() += 1;
            }
        }
        // A fingerprint shared on either side is compared by the bytes' hash.
        let shared: std::collections::HashSet<u128> = sside
            .by_fp
            .iter()
            .filter(|(k, uids)| {
                let t = tside.by_fp.get(k).map_or(0, Vec::len);
                t > 0 && (uids.len() > 1 || t > 1)
            })
            .map(|(k, _)| *k)
            .collect();
        let (mut shash, mut thash) = (HashMap::new(), HashMap::new());
        if !shared.is_empty() {
            let mut suids: Vec<u32> = shared.iter().flat_map(|k| sside.by_fp[k].clone()).collect();
            let mut tuids: Vec<u32> = shared
                .iter()
                .flat_map(|k| tside.by_fp.get(k).cloned().unwrap_or_default())
                .collect();
            suids.sort_unstable();
            tuids.sort_unstable();
            shash = hashes(
                &mut src,
                &plan.source.path,
                &suids,
                opts,
                opts.disarm_read_receipts,
            )
            .await?;
            thash = hashes(&mut tgt, &tfolder, &tuids, opts, false).await?;
        }
        for (k, suids) in &sside.by_fp {
            let tuids = tside.by_fp.get(k).map(Vec::as_slice).unwrap_or(&[]);
            // Groups of (source uids, target count) that are the same message.
            let groups: Vec<(Vec<u32>, i64)> = if shared.contains(k) {
                let mut by_hash: HashMap<&str, (Vec<u32>, i64)> = HashMap::new();
                for u in suids {
                    let h = shash.get(u).map_or("", String::as_str);
                    by_hash.entry(h).or_default().0.push(*u);
                }
                for u in tuids {
                    let h = thash.get(u).map_or("", String::as_str);
                    by_hash.entry(h).or_default().1 += 1;
                }
                by_hash.into_values().collect()
            } else {
                vec![(suids.clone(), tuids.len() as i64)]
            };
            let mut short_total = 0i64;
            let mut short_uids: Vec<u32> = Vec::new();
            for (su, t) in groups {
                let n = su.len() as i64;
                fv.matched += n.min(t) as u64;
                if n > 0 && t > n {
                    fv.duplicates += (t - n) as u64;
                } else if n == 0 {
                    fv.extra += t as u64;
                }
                let short = (n - t).max(0);
                short_total += short;
                short_uids.extend(su.iter().skip(t.max(0) as usize).take(short as usize));
            }
            if let Some(sk) = skipped_keys.get(k) {
                let s = short_total.min(*sk);
                fv.skipped += s as u64;
                short_total -= s;
                short_uids.drain(..s as usize);
            }
            fv.missing += short_total as u64;
            for u in short_uids {
                if fv.missing_items.len() < LISTED_MISSING {
                    let (message_id, size) = info.get(&u).cloned().unwrap_or_default();
                    fv.missing_items.push(MissingItem {
                        uid: u,
                        message_id,
                        size,
                    });
                }
            }
        }
        for (k, tuids) in &tside.by_fp {
            if !sside.by_fp.contains_key(k) {
                fv.extra += tuids.len() as u64;
            }
        }
        fv.missing_items.sort_by_key(|m| m.uid);
        v.folders.push(fv);
    }
    let _ = src.close().await;
    let _ = tgt.close().await;
    Ok(())
}
