//! Where each source folder goes on the target: special-use roles first, then the same path.
//!
//! Special-use mapping (issue 2): a source folder with a role (from SPECIAL-USE, or guessed from a
//! well-known name such as `Sent Items`) goes to the target folder with the same role, whatever it is
//! called there; its subfolders follow it. A role the target lacks keeps the source name and is created
//! with that role as a hint. A `UserRoot` prefix, when given, is stripped from source paths.

use ferry_core::folder::{FolderInfo, FolderPath, SpecialUse};
use serde::Serialize;
use std::collections::HashMap;

/// One source folder and where it goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FolderPlan {
    pub source: FolderInfo,
    pub target: FolderPath,
    /// The role the target folder should get when Ferry creates it.
    pub role: Option<SpecialUse>,
}

/// Map source folders to target paths. `source_root` strips a prefix (folders outside it are dropped).
pub fn map_folders(
    source: &[FolderInfo],
    target: &[FolderInfo],
    source_root: Option<&FolderPath>,
) -> Vec<FolderPlan> {
    let mut target_roles: HashMap<SpecialUse, FolderPath> = HashMap::new();
    for f in target {
        if let Some(role) = f.special_use {
            // Prefer the shortest path for a role (a top-level "Sent" over "INBOX/Sent").
            let e = target_roles.entry(role).or_insert_with(|| f.path.clone());
            if f.path.0.len() < e.0.len() {
                *e = f.path.clone();
            }
        }
    }
    let mut source_roles: HashMap<FolderPath, SpecialUse> = HashMap::new();
    for f in source {
        if let Some(role) = f.special_use {
            source_roles.insert(f.path.clone(), role);
        }
    }
    let mut plans = Vec::new();
    for f in source {
        let Some(rel) = strip_root(&f.path, source_root) else {
            continue;
        };
        // The nearest folder (self or ancestor) with a role decides the prefix.
        let mut mapped = rel.clone();
        let mut role = None;
        let mut chain = f.path.ancestors();
        chain.push(f.path.clone());
        for anc in chain.iter().rev() {
            if let Some(r) = source_roles.get(anc) {
                let depth_in_rel = anc.0.len() - (f.path.0.len() - rel.0.len());
                if depth_in_rel == 0 {
                    break;
                }
                if let Some(tp) = target_roles.get(r) {
                    mapped = FolderPath([tp.0.clone(), rel.0[depth_in_rel..].to_vec()].concat());
                }
                if anc == &f.path {
                    role = Some(*r);
                }
                break;
            }
        }
        plans.push(FolderPlan {
            source: f.clone(),
            target: mapped,
            role,
        });
    }
    // Parents before children, INBOX first.
    plans.sort_by(|a, b| {
        (!a.source.path.is_inbox(), &a.source.path)
            .cmp(&(!b.source.path.is_inbox(), &b.source.path))
    });
    plans
}

fn strip_root(path: &FolderPath, root: Option<&FolderPath>) -> Option<FolderPath> {
    let Some(root) = root else {
        return Some(path.clone());
    };
    if path.0.len() > root.0.len() && path.0[..root.0.len()] == root.0[..] {
        Some(FolderPath(path.0[root.0.len()..].to_vec()))
    } else if path == root {
        // The root itself holds the user's INBOX messages on such servers.
        Some(FolderPath::inbox())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(p: &str, role: Option<SpecialUse>) -> FolderInfo {
        FolderInfo {
            path: FolderPath::parse(p, '/'),
            special_use: role,
            selectable: true,
        }
    }

    #[test]
    fn roles_map_to_the_targets_folder_and_subfolders_follow() {
        let src = [
            f("INBOX", None),
            f("Sent Messages", Some(SpecialUse::Sent)),
            f("Sent Messages/2019", None),
            f("Work", None),
        ];
        let tgt = [f("INBOX", None), f("Sent", Some(SpecialUse::Sent))];
        let plans = map_folders(&src, &tgt, None);
        let by: HashMap<String, String> = plans
            .iter()
            .map(|p| (p.source.path.to_string(), p.target.to_string()))
            .collect();
        assert_eq!(by["Sent Messages"], "Sent");
        assert_eq!(by["Sent Messages/2019"], "Sent/2019");
        assert_eq!(by["Work"], "Work");
        assert_eq!(plans[0].source.path, FolderPath::inbox());
    }

    #[test]
    fn a_role_the_target_lacks_keeps_the_source_name_and_the_role_hint() {
        let plans = map_folders(
            &[f("Junk Mail", Some(SpecialUse::Junk))],
            &[f("INBOX", None)],
            None,
        );
        assert_eq!(plans[0].target.to_string(), "Junk Mail");
        assert_eq!(plans[0].role, Some(SpecialUse::Junk));
    }

    #[test]
    fn user_root_is_stripped_and_folders_outside_it_dropped() {
        let root = FolderPath::parse("users/terry", '/');
        let src = [
            f("users/terry", None),
            f("users/terry/Work", None),
            f("users/other/X", None),
        ];
        let plans = map_folders(&src, &[], Some(&root));
        let names: Vec<String> = plans.iter().map(|p| p.target.to_string()).collect();
        assert_eq!(names, ["INBOX", "Work"]);
    }
}
