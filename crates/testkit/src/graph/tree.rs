//! Drives and their item trees: ids, names (case-insensitive per folder), change numbers for delta, file
//! contents on disk in the emulator's temp dir.

use super::names;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// What an item is.
#[derive(Clone, Debug)]
pub enum Kind {
    /// Children by case-folded name → item id.
    Folder { children: BTreeMap<String, String> },
    /// Content lives in `Drive::content_path(id)`.
    File { size: u64, quick_xor: String },
}

/// One driveItem.
#[derive(Clone, Debug)]
pub struct Item {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    pub kind: Kind,
    /// Service times (set by the emulator).
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    /// Client times (`fileSystemInfo`).
    pub fs_created: DateTime<Utc>,
    pub fs_modified: DateTime<Utc>,
    /// Bumped on every change (eTag) and on content changes (cTag).
    pub etag_version: u64,
    pub ctag_version: u64,
    /// The drive's change number when this item last changed (delta).
    pub seq: u64,
    pub deleted: bool,
}

impl Item {
    pub fn is_folder(&self) -> bool {
        matches!(self.kind, Kind::Folder { .. })
    }

    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File { size, .. } => *size,
            Kind::Folder { .. } => 0,
        }
    }
}

/// Who a drive belongs to.
#[derive(Clone, Debug)]
pub enum Owner {
    User { id: String, upn: String },
    Site { id: String, name: String },
}

/// A drive: a user's OneDrive (`business`) or a site's document library (`documentLibrary`).
#[derive(Clone, Debug)]
pub struct Drive {
    pub id: String,
    pub name: String,
    pub drive_type: &'static str,
    pub owner: Owner,
    /// Decoded server-relative root (`/personal/alice_contoso_com/Documents`, `/sites/Team/Shared Documents`)
    /// counted in the 400-character path limit.
    pub server_relative_root: String,
    pub quota_total: u64,
    /// Host of the drive's `webUrl` (`contoso.sharepoint.com`, `contoso-my.sharepoint.com` for OneDrive).
    pub web_host: String,
    pub root_id: String,
    pub items: HashMap<String, Item>,
    /// The last change number handed out.
    pub seq: u64,
    pub content_dir: PathBuf,
    /// Bytes and count of live files, kept up to date (quota checks run on every commit).
    used_bytes: u64,
    files: u64,
}

/// Fresh ids: SharePoint-like item ids, `b!…` drive ids, GUIDs.
pub fn new_item_id() -> String {
    let mut s = String::from("01");
    for _ in 0..32 {
        s.push(fastrand::alphanumeric().to_ascii_uppercase());
    }
    s
}

pub fn new_drive_id() -> String {
    let mut s = String::from("b!");
    for _ in 0..64 {
        s.push(fastrand::alphanumeric());
    }
    s
}

pub fn new_guid() -> String {
    let h: String = (0..32)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl Drive {
    pub fn new(
        name: &str,
        drive_type: &'static str,
        owner: Owner,
        server_relative_root: String,
        quota_total: u64,
        content_dir: PathBuf,
    ) -> Drive {
        let now = Utc::now();
        let root_id = new_item_id();
        let root = Item {
            id: root_id.clone(),
            name: "root".into(),
            parent: None,
            kind: Kind::Folder {
                children: BTreeMap::new(),
            },
            created: now,
            modified: now,
            fs_created: now,
            fs_modified: now,
            etag_version: 1,
            ctag_version: 1,
            seq: 0,
            deleted: false,
        };
        Drive {
            id: new_drive_id(),
            name: name.into(),
            drive_type,
            owner,
            server_relative_root,
            quota_total,
            web_host: "contoso.sharepoint.com".into(),
            root_id: root_id.clone(),
            items: HashMap::from([(root_id, root)]),
            seq: 0,
            content_dir,
            used_bytes: 0,
            files: 0,
        }
    }

    /// `https://{host}{server-relative root}`, percent-encoded.
    pub fn web_url(&self) -> String {
        format!(
            "https://{}{}",
            self.web_host,
            super::json::encode_path(&self.server_relative_root)
        )
    }

    pub fn is_library(&self) -> bool {
        self.drive_type == "documentLibrary"
    }

    pub fn content_path(&self, id: &str) -> PathBuf {
        self.content_dir.join(id)
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn get(&self, id: &str) -> Option<&Item> {
        self.items.get(id).filter(|i| !i.deleted)
    }

    /// The child of `parent` with this name (case-insensitive).
    pub fn child(&self, parent: &str, name: &str) -> Option<&Item> {
        match &self.get(parent)?.kind {
            Kind::Folder { children } => {
                children.get(&names::fold(name)).and_then(|id| self.get(id))
            }
            Kind::File { .. } => None,
        }
    }

    /// Resolve a decoded relative path (`a/b/c`) below `from`.
    pub fn resolve(&self, from: &str, path: &str) -> Option<&Item> {
        let mut cur = self.get(from)?;
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            cur = self.child(&cur.id, seg)?;
        }
        Some(cur)
    }

    /// The decoded path of an item relative to the root (`a/b/c.txt`; empty for the root).
    pub fn relative_path(&self, id: &str) -> String {
        let mut parts = Vec::new();
        let mut cur = self.items.get(id);
        while let Some(item) = cur {
            if item.parent.is_none() {
                break;
            }
            parts.push(item.name.clone());
            cur = item.parent.as_deref().and_then(|p| self.items.get(p));
        }
        parts.reverse();
        parts.join("/")
    }

    /// Bytes used by live files.
    pub fn used(&self) -> u64 {
        self.used_bytes
    }

    pub fn file_count(&self) -> u64 {
        self.files
    }

    /// Give a file new content (a replace): size, hash and tags change, usage follows.
    pub fn set_content(&mut self, id: &str, size: u64, quick_xor: String) {
        let seq = self.next_seq();
        if let Some(item) = self.items.get_mut(id) {
            self.used_bytes = self.used_bytes - item.size().min(self.used_bytes) + size;
            item.kind = Kind::File { size, quick_xor };
            item.etag_version += 1;
            item.ctag_version += 1;
            item.seq = seq;
            item.modified = chrono::Utc::now();
        }
    }

    /// Check a new child name under `parent` against the name rules and the path limit.
    pub fn check_new_name(
        &self,
        parent: &str,
        name: &str,
        is_folder: bool,
        max_path: usize,
    ) -> Result<(), (&'static str, String)> {
        names::check_name(name, parent == self.root_id, is_folder)
            .map_err(|m| ("invalidPath", m))?;
        let rel = self.relative_path(parent);
        let full = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{rel}/{name}")
        };
        let len = names::path_length(&self.server_relative_root, &full);
        if len > max_path {
            return Err((
                "pathIsTooLong",
                format!("The path is {len} characters long; the limit is {max_path}."),
            ));
        }
        Ok(())
    }

    /// Insert a new item under `parent` (which must be a folder); returns its id.
    pub fn insert(&mut self, parent: &str, mut item: Item) -> String {
        let seq = self.next_seq();
        item.seq = seq;
        item.parent = Some(parent.to_owned());
        let id = item.id.clone();
        let key = names::fold(&item.name);
        if !item.is_folder() {
            self.used_bytes += item.size();
            self.files += 1;
        }
        self.items.insert(id.clone(), item);
        self.touch_folder(parent, Some((key, id.clone())));
        id
    }

    /// Record a change to a folder's children (and optionally add one).
    fn touch_folder(&mut self, folder: &str, add: Option<(String, String)>) {
        let seq = self.next_seq();
        if let Some(f) = self.items.get_mut(folder) {
            if let (Kind::Folder { children }, Some((k, v))) = (&mut f.kind, add) {
                children.insert(k, v);
            }
            f.etag_version += 1;
            f.seq = seq;
            f.modified = Utc::now();
        }
    }

    /// Mark an item (and everything below it) deleted; delta reports them with the `deleted` facet.
    pub fn delete(&mut self, id: &str) {
        let Some(item) = self.get(id) else { return };
        let parent = item.parent.clone();
        let key = names::fold(&item.name);
        let mut stack = vec![id.to_owned()];
        while let Some(cur) = stack.pop() {
            let seq = self.next_seq();
            if let Some(it) = self.items.get_mut(&cur) {
                match &it.kind {
                    Kind::Folder { children } => stack.extend(children.values().cloned()),
                    Kind::File { size, .. } if !it.deleted => {
                        self.used_bytes -= (*size).min(self.used_bytes);
                        self.files = self.files.saturating_sub(1);
                    }
                    Kind::File { .. } => {}
                }
                it.deleted = true;
                it.seq = seq;
            }
            let _ = std::fs::remove_file(self.content_path(&cur));
        }
        if let Some(p) = parent {
            if let Some(Item {
                kind: Kind::Folder { children },
                ..
            }) = self.items.get_mut(&p)
            {
                children.remove(&key);
            }
            self.touch_folder(&p, None);
        }
    }

    /// A new name for `rename` conflict behaviour: `name 1.ext`, `name 2.ext`, …
    pub fn free_name(&self, parent: &str, name: &str) -> String {
        let (stem, ext) = match name.rfind('.') {
            Some(i) if i > 0 => (&name[..i], &name[i..]),
            _ => (name, ""),
        };
        (1..)
            .map(|n| format!("{stem} {n}{ext}"))
            .find(|n| self.child(parent, n).is_none())
            .unwrap_or_else(|| name.to_owned())
    }
}
