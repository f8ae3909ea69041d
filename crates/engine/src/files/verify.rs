//! `ferry files verify`: walk source and target in step, a directory at a time (like `rclone check`), and
//! classify every file: same, different, only in the source (missing), only on the target (extra), or an
//! error. Files compare by size, then by the strongest hash both sides offer; with `checksum`, by reading
//! both and comparing SHA-256 — or, on a target that lists QuickXorHash (OneDrive, SharePoint), by reading
//! only the source and comparing its QuickXorHash with the target's (nothing downloaded). Files the journal recorded as Skipped (names or sizes the target refuses)
//! count as skipped, not missing.

use super::pass::{list_all, target_of};
use super::{FileMappingSpec, FileOptions, relative};
use crate::retry;
use chrono::Utc;
use ferry_core::Result;
use ferry_core::file::{EntryKind, FileConnector, FileEntry};
use ferry_core::grade::{Grade, GradePolicy};
use ferry_core::mail::Access;
use ferry_core::rules::TargetRules;
use ferry_store::{FileStore, ItemStatus};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// The comparison of one mapping.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FileVerify {
    pub label: String,
    pub source: String,
    pub target: String,
    pub files: u64,
    pub same: u64,
    pub different: u64,
    pub missing: u64,
    pub extra: u64,
    pub skipped: u64,
    pub errors: u64,
    pub bytes: u64,
    /// The first problems found (at most 100), as (kind, path).
    pub problems: Vec<(String, String)>,
    pub grade: Option<Grade>,
    pub error: Option<String>,
    /// The target rules names were paired by (`none`, `onedrive`, `sharepoint`).
    pub target_rules: String,
}

impl FileVerify {
    pub fn is_complete(&self) -> bool {
        self.error.is_none() && self.missing == 0 && self.different == 0 && self.errors == 0
    }

    fn note(&mut self, kind: &str, path: &str) {
        if self.problems.len() < 100 {
            self.problems.push((kind.to_owned(), path.to_owned()));
        }
    }
}

/// Compare every mapping; problems are in the results, never an `Err`.
pub async fn verify_files(
    store: Option<Arc<dyn FileStore>>,
    specs: &[FileMappingSpec],
    opts: &FileOptions,
) -> Vec<FileVerify> {
    let mut out = Vec::new();
    for spec in specs {
        let mut v = FileVerify {
            label: spec.label.clone(),
            source: spec.source.describe(),
            target: spec.target.describe(),
            target_rules: opts.rules.as_str().to_owned(),
            ..FileVerify::default()
        };
        if let Err(e) = verify_one(store.as_deref(), spec, opts, &mut v).await {
            v.error = Some(e.to_string());
        }
        if v.error.is_none() {
            v.grade = Some(GradePolicy::default().grade(
                v.files,
                v.skipped,
                v.missing + v.different + v.errors,
            ));
        }
        out.push(v);
    }
    out
}

async fn sha256_of(conn: &dyn FileConnector, path: &str) -> Result<String> {
    let mut r = conn.read(path).await?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf).await.map_err(ferry_core::Error::from)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// QuickXorHash of a file, read from its connector (the source's side of a OneDrive/SharePoint check).
async fn quickxor_of(conn: &dyn FileConnector, path: &str) -> Result<String> {
    let mut r = conn.read(path).await?;
    let mut h = ferry_files::quickxor::QuickXor::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf).await.map_err(ferry_core::Error::from)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(ferry_files::quickxor::to_hex(&h.finish()))
}

async fn verify_one(
    store: Option<&dyn FileStore>,
    spec: &FileMappingSpec,
    opts: &FileOptions,
    v: &mut FileVerify,
) -> Result<()> {
    let policy = opts.retry;
    let src = retry!(&policy, "open source", spec.source.open(Access::ReadOnly))?;
    let tgt = retry!(&policy, "open target", spec.target.open(Access::ReadOnly))?;
    let (scap, tcap) = (src.capability(), tgt.capability());
    let common_hash = matches!((scap.hash, tcap.hash), (Some(a), Some(b)) if a == b);
    let mapping = match store {
        Some(s) => {
            let (source, target) = (spec.source_description(), spec.target_description());
            s.mappings()
                .await?
                .into_iter()
                .find(|m| m.source == source && m.target == target)
        }
        None => None,
    };
    // The rules the mapping was migrated with, unless the user named others (issue 9 item 17).
    let remembered = match (store, &mapping) {
        (Some(s), Some(m)) if opts.rules_from_journal => s
            .file_target_rules(m.id)
            .await?
            .and_then(|r| r.parse::<TargetRules>().ok()),
        _ => None,
    };
    let with_rules;
    let opts = match remembered {
        Some(rules) if rules != opts.rules => {
            with_rules = FileOptions {
                rules,
                ..opts.clone()
            };
            &with_rules
        }
        _ => opts,
    };
    v.target_rules = opts.rules.as_str().to_owned();
    let cloud = spec.source.is_cloud();
    let now = Utc::now();
    let mut stack = vec![spec.source_dir.clone()];
    // Target directories that correspond to a source directory, to find extras.
    let mut seen_target_dirs: HashSet<String> = HashSet::new();
    while let Some(dir) = stack.pop() {
        let entries = list_all(src.as_ref(), &dir, &policy).await?;
        let rel_dir = relative(&dir, &spec.source_dir).to_owned();
        let skipped: HashSet<String> = match (store, &mapping) {
            (Some(s), Some(m)) => s
                .file_items_in_dir(m.id, &rel_dir)
                .await?
                .into_iter()
                .filter(|r| r.status == ItemStatus::Skipped)
                .map(|r| r.path)
                .collect(),
            _ => HashSet::new(),
        };
        let mut tlist: Option<(String, HashMap<String, FileEntry>)> = None;
        let mut matched: HashSet<String> = HashSet::new();
        for e in entries {
            if e.kind == EntryKind::Dir {
                stack.push(e.path);
                continue;
            }
            let rel = relative(&e.path, &spec.source_dir).to_owned();
            if !opts.filter.selects(&rel, e.mtime, now) {
                continue;
            }
            v.files += 1;
            if let Some(reason) = super::scan::not_copied(e.kind) {
                // Links and special files are never copied: skipped, with the reason migrate gives.
                v.skipped += 1;
                v.note("skipped", &format!("{rel}: {reason}"));
                continue;
            }
            v.bytes += e.size;
            let tpath = match target_of(opts, spec, &rel, e.size, cloud) {
                Ok((t, _)) => t,
                Err(_) => {
                    v.skipped += 1;
                    continue;
                }
            };
            if tlist.is_none() {
                let tdir = ferry_core::file::parent(&tpath).to_owned();
                let l = list_all(tgt.as_ref(), &tdir, &policy).await?;
                seen_target_dirs.insert(tdir.clone());
                tlist = Some((
                    tdir,
                    l.into_iter()
                        .filter(|x| x.kind == EntryKind::File)
                        .map(|x| (x.path.clone(), x))
                        .collect(),
                ));
            }
            let Some(t) = tlist.as_ref().and_then(|(_, l)| l.get(&tpath)) else {
                if skipped.contains(&rel) {
                    v.skipped += 1;
                } else {
                    v.missing += 1;
                    v.note("missing", &rel);
                }
                continue;
            };
            matched.insert(tpath.clone());
            let same = if t.size != e.size {
                false
            } else if opts.checksum && tcap.hash == Some(ferry_core::file::HashKind::QuickXor) {
                // The target reports each file's QuickXorHash: hash the source, download nothing.
                match (quickxor_of(src.as_ref(), &e.path).await, &t.hash) {
                    (Ok(a), Some(b)) => a == *b,
                    _ => {
                        v.errors += 1;
                        v.note("error", &rel);
                        continue;
                    }
                }
            } else if opts.checksum {
                match (
                    sha256_of(src.as_ref(), &e.path).await,
                    sha256_of(tgt.as_ref(), &tpath).await,
                ) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => {
                        v.errors += 1;
                        v.note("error", &rel);
                        continue;
                    }
                }
            } else if common_hash {
                e.hash.is_some() && e.hash == t.hash
            } else {
                true
            };
            if same {
                v.same += 1;
            } else if skipped.contains(&rel) {
                v.skipped += 1;
            } else {
                v.different += 1;
                v.note("different", &rel);
            }
        }
        if let Some((_, l)) = &tlist {
            for p in l.keys().filter(|p| !matched.contains(*p)) {
                if !p
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with(".ferry-part-"))
                {
                    v.extra += 1;
                    v.note("extra", p);
                }
            }
        }
    }
    Ok(())
}
