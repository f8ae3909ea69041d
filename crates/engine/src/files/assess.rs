//! `ferry files assess`: an inventory of a source tree and the pre-flight findings of the target rules,
//! produced while walking, a directory at a time: findings are handed to a callback as they are found
//! (the CLI prints them at once), so a 1M-file tree never needs 1M entries in memory. What is kept is
//! bounded: counters, the largest files (top N) and an extension histogram (capped).

use super::pass::list_all;
use super::{FileOpener, FileOptions, relative};
use crate::retry;
use chrono::{DateTime, Utc};
use ferry_core::Result;
use ferry_core::file::EntryKind;
use ferry_core::mail::Access;
use ferry_core::rules::{TargetRoot, Verdict};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// How many largest files the inventory lists.
pub const LARGEST: usize = 20;
/// Distinct extensions counted before the rest go to `(other)`.
pub const MAX_EXTENSIONS: usize = 1000;

/// One pre-flight finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub path: String,
    /// `rename` (the target forbids the name; Ferry maps it) or `skip` (Ferry will not copy it).
    pub action: String,
    /// The rule and what happens.
    pub detail: String,
}

/// Totals of a tree.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Inventory {
    pub files: u64,
    pub folders: u64,
    pub bytes: u64,
    pub max_depth: usize,
    pub largest: Vec<(String, u64)>,
    /// Extension (lower case, without dot; `(none)` for files without one) → (files, bytes), largest first.
    pub extensions: Vec<(String, u64, u64)>,
    pub oldest: Option<(String, DateTime<Utc>)>,
    pub newest: Option<(String, DateTime<Utc>)>,
    pub renames: u64,
    pub skips: u64,
    /// Directories that could not be listed, with the error.
    pub unreadable: Vec<(String, String)>,
}

/// Walk `dir` under the source and report every finding to `on_finding` as it is found.
pub async fn assess_files(
    source: &dyn FileOpener,
    dir: &str,
    target: &TargetRoot,
    opts: &FileOptions,
    mut on_finding: impl FnMut(&Finding),
) -> Result<Inventory> {
    let policy = opts.retry;
    let src = retry!(&policy, "open source", source.open(Access::ReadOnly))?;
    let cloud = source.is_cloud();
    let now = Utc::now();
    let mut inv = Inventory::default();
    let mut largest: BinaryHeap<Reverse<(u64, String)>> = BinaryHeap::new();
    let mut exts: HashMap<String, (u64, u64)> = HashMap::new();
    let mut stack = vec![(dir.to_owned(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        let entries = match list_all(src.as_ref(), &d, &policy).await {
            Ok(e) => e,
            Err(e) if d != dir => {
                inv.unreadable.push((d.clone(), e.to_string()));
                continue;
            }
            Err(e) => return Err(e),
        };
        inv.max_depth = inv.max_depth.max(depth);
        for e in entries {
            let rel = relative(&e.path, dir).to_owned();
            if e.kind == EntryKind::Dir {
                inv.folders += 1;
                stack.push((e.path, depth + 1));
                continue;
            }
            if !opts.filter.selects(&rel, e.mtime, now) {
                continue;
            }
            if let Some(reason) = super::scan::not_copied(e.kind) {
                inv.skips += 1;
                on_finding(&Finding {
                    path: rel,
                    action: "skip".into(),
                    detail: reason.to_owned(),
                });
                continue;
            }
            if ferry_core::file::has_escaped_bytes(&rel) {
                on_finding(&Finding {
                    path: rel.clone(),
                    action: "note".into(),
                    detail: "the name is not UTF-8: written byte for byte to local paths, with each such byte as the character U+10FF00 + byte elsewhere".into(),
                });
            }
            inv.files += 1;
            inv.bytes += e.size;
            largest.push(Reverse((e.size, rel.clone())));
            if largest.len() > LARGEST {
                largest.pop();
            }
            let name = e.name();
            let ext = match name.rsplit_once('.') {
                Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() && ext.len() <= 16 => {
                    ext.to_lowercase()
                }
                _ => "(none)".to_owned(),
            };
            let key = if exts.len() >= MAX_EXTENSIONS && !exts.contains_key(&ext) {
                "(other)".to_owned()
            } else {
                ext
            };
            let slot = exts.entry(key).or_default();
            slot.0 += 1;
            slot.1 += e.size;
            if let Some(m) = e.mtime {
                if inv.oldest.as_ref().is_none_or(|(_, o)| m < *o) {
                    inv.oldest = Some((rel.clone(), m));
                }
                if inv.newest.as_ref().is_none_or(|(_, n)| m > *n) {
                    inv.newest = Some((rel.clone(), m));
                }
            }
            match opts.rules.check(target, &rel, e.size, cloud) {
                Verdict::Skip { reason } => {
                    inv.skips += 1;
                    on_finding(&Finding {
                        path: rel,
                        action: "skip".into(),
                        detail: reason,
                    });
                }
                Verdict::Ok {
                    target_path,
                    renamed,
                } if !renamed.is_empty() => {
                    inv.renames += 1;
                    on_finding(&Finding {
                        path: rel,
                        action: "rename".into(),
                        detail: format!("written as {target_path:?}"),
                    });
                }
                Verdict::Ok { .. } => {}
            }
        }
    }
    let mut l: Vec<(String, u64)> = largest.into_iter().map(|Reverse((s, p))| (p, s)).collect();
    l.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    inv.largest = l;
    let mut e: Vec<(String, u64, u64)> = exts.into_iter().map(|(k, (n, b))| (k, n, b)).collect();
    e.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    inv.extensions = e;
    Ok(inv)
}
