//! Graph's `driveItem` as Ferry reads it (only the properties the connector uses), and as a
//! [`FileEntry`].

use crate::quickxor;
use chrono::{DateTime, Utc};
use ferry_core::file::{EntryKind, FileEntry, normalize_etag};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct DriveItem {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(rename = "eTag", default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub file: Option<FileFacet>,
    #[serde(default)]
    pub folder: Option<serde_json::Value>,
    #[serde(rename = "fileSystemInfo", default)]
    pub file_system_info: Option<FileSystemInfo>,
    #[serde(rename = "lastModifiedDateTime", default)]
    pub last_modified: Option<String>,
    /// Present on a deleted item in a delta answer.
    #[serde(default)]
    pub deleted: Option<serde_json::Value>,
    #[serde(rename = "parentReference", default)]
    pub parent_reference: Option<ParentReference>,
}

/// Where an item sits. Delta answers carry no `path`, as documented; a single item's `GET` does.
#[derive(Debug, Default, Deserialize)]
pub struct ParentReference {
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FileFacet {
    #[serde(default)]
    pub hashes: Option<Hashes>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Hashes {
    #[serde(rename = "quickXorHash", default)]
    pub quick_xor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FileSystemInfo {
    #[serde(rename = "lastModifiedDateTime", default)]
    pub last_modified: Option<String>,
    #[serde(rename = "createdDateTime", default)]
    pub created: Option<String>,
}

/// A page of children or delta.
#[derive(Debug, Deserialize)]
pub struct ItemPage {
    #[serde(default)]
    pub value: Vec<DriveItem>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Option<String>,
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl DriveItem {
    /// The modification time: the client-set `fileSystemInfo` time, else the service's.
    pub fn mtime(&self) -> Option<DateTime<Utc>> {
        parse_time(
            self.file_system_info
                .as_ref()
                .and_then(|f| f.last_modified.as_deref()),
        )
        .or_else(|| parse_time(self.last_modified.as_deref()))
    }

    /// The creation time the client set (`fileSystemInfo.createdDateTime`), when there is one.
    pub fn created(&self) -> Option<DateTime<Utc>> {
        parse_time(
            self.file_system_info
                .as_ref()
                .and_then(|f| f.created.as_deref()),
        )
    }

    pub fn kind(&self) -> EntryKind {
        if self.folder.is_some() {
            EntryKind::Dir
        } else if self.file.is_some() {
            EntryKind::File
        } else {
            // A OneNote package, a shortcut to another drive: not file content Ferry can copy.
            EntryKind::Special
        }
    }

    /// The entry at `path` (relative to the connector's root).
    pub fn entry(&self, path: String) -> FileEntry {
        let kind = self.kind();
        FileEntry {
            created: self.created(),
            path,
            kind,
            size: if kind == EntryKind::File {
                self.size.unwrap_or(0)
            } else {
                0
            },
            mtime: self.mtime(),
            hash: self
                .file
                .as_ref()
                .and_then(|f| f.hashes.as_ref())
                .and_then(|h| h.quick_xor.as_deref())
                .and_then(quickxor::base64_to_hex),
            etag: self.etag.as_deref().and_then(normalize_etag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drive_item_becomes_an_entry_with_its_client_time_hash_and_etag() {
        let item: DriveItem = serde_json::from_str(
            r#"{"id":"01A","name":"a.txt","size":11,"eTag":"\"{X},2\"",
                "file":{"mimeType":"text/plain","hashes":{"quickXorHash":"aCgDG9jwBhDc4Q1yawMZAAAAAAA="}},
                "fileSystemInfo":{"createdDateTime":"2020-01-01T00:00:00Z","lastModifiedDateTime":"2021-02-03T04:05:06Z"},
                "lastModifiedDateTime":"2026-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        let e = item.entry("d/a.txt".into());
        assert_eq!((e.kind, e.size), (EntryKind::File, 11));
        assert_eq!(
            e.mtime.map(|t| t.to_rfc3339()),
            Some("2021-02-03T04:05:06+00:00".into())
        );
        assert_eq!(
            e.hash.as_deref(),
            Some("6828031bd8f00610dce10d726b03190000000000")
        );
        assert_eq!(e.etag.as_deref(), Some("{X},2"));
        assert_eq!(
            e.created.map(|t| t.to_rfc3339()),
            Some("2020-01-01T00:00:00+00:00".into())
        );
        let folder: DriveItem =
            serde_json::from_str(r#"{"name":"f","folder":{"childCount":0}}"#).unwrap();
        assert_eq!(folder.entry("f".into()).kind, EntryKind::Dir);
        let package: DriveItem =
            serde_json::from_str(r#"{"name":"n","package":{"type":"oneNote"}}"#).unwrap();
        assert_eq!(package.kind(), EntryKind::Special);
    }
}
