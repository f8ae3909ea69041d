//! `ferry mail verify`: walk source and target folder by folder and compare contents (like `rclone check`).
//!
//! Each folder's messages are compared as multisets of content fingerprints (two identical messages must
//! be there twice): matched, missing (in the source, not on the target), extra (on the target only).
//! Missing messages the journal recorded as Skipped (too large…) count as skipped, not missing. Both sides
//! are opened read-only. Memory per folder is one 16-byte key and a counter per distinct message.

use crate::job::{MailOptions, MappingSpec};
use crate::plan::map_folders;
use crate::retry;
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
    pub skipped: u64,
    pub source_bytes: u64,
    pub error: Option<String>,
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

    /// True when nothing is missing and nothing failed to compare.
    pub fn is_complete(&self) -> bool {
        self.error.is_none()
            && self
                .folders
                .iter()
                .all(|f| f.missing == 0 && f.error.is_none())
    }
}

fn key(fp: &str) -> u128 {
    u128::from_str_radix(fp, 16).unwrap_or_else(|_| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        fp.hash(&mut h);
        u128::from(h.finish())
    })
}

async fn counts(
    conn: &mut Box<dyn MailConnector>,
    folder: &FolderPath,
    opts: &MailOptions,
) -> Result<(HashMap<u128, i64>, u64, u64)> {
    let mut m: HashMap<u128, i64> = HashMap::new();
    let (mut n, mut bytes) = (0u64, 0u64);
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
            *m.entry(key(&s.fingerprint)).or_default() += 1;
            n += 1;
            bytes += s.size;
        }
        from = match last.checked_add(1) {
            Some(f) => f,
            None => break,
        };
    }
    Ok((m, n, bytes))
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
            v.grade = Some(GradePolicy::default().grade(discovered, skipped, missing));
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
        let (mut scount, sn, sbytes) = counts(&mut src, &plan.source.path, opts).await?;
        fv.source_messages = sn;
        fv.source_bytes = sbytes;
        let tcount = if target_exists.contains(&tfolder) {
            let (t, tn, _) = counts(&mut tgt, &tfolder, opts).await?;
            fv.target_messages = tn;
            t
        } else {
            HashMap::new()
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
        for (k, n) in scount.iter_mut() {
            let t = tcount.get(k).copied().unwrap_or(0);
            fv.matched += (*n).min(t) as u64;
            let mut short = (*n - t).max(0);
            if let Some(sk) = skipped_keys.get(k) {
                let s = short.min(*sk);
                fv.skipped += s as u64;
                short -= s;
            }
            fv.missing += short as u64;
        }
        for (k, t) in &tcount {
            let n = scount.get(k).copied().unwrap_or(0);
            fv.extra += (*t - n).max(0) as u64;
        }
        v.folders.push(fv);
    }
    let _ = src.close().await;
    let _ = tgt.close().await;
    Ok(())
}
