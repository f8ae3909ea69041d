//! The JSON the emulator answers with: driveItem, drive, site, uploadSession and the error resource, in the
//! shapes of the Graph reference pages (driveItem, drive, quota, fileSystemInfo, hashes, itemReference,
//! site, uploadSession, "Microsoft Graph error responses").

use super::tree::{Drive, Item, Kind, Owner};
use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};

/// What is escaped in a path segment of a URL or an `itemReference.path`.
pub const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'&')
    .add(b'+')
    .add(b'\'');

pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

pub fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The error resource: `{"error": {"code", "message", "innerError": {"code"?, "date", "request-id"}}}`.
pub fn error(code: &str, inner: Option<&str>, message: &str) -> Value {
    let mut inner_error = json!({
        "date": time(&Utc::now()),
        "request-id": super::tree::new_guid(),
    });
    if let Some(i) = inner {
        inner_error["code"] = json!(i);
    }
    json!({"error": {"code": code, "message": message, "innerError": inner_error}})
}

pub fn etag(item: &Item) -> String {
    format!("\"{{{}}},{}\"", item.id, item.etag_version)
}

pub fn ctag(item: &Item) -> String {
    format!("\"c:{{{}}},{}\"", item.id, item.ctag_version)
}

/// A driveItem. `with_path` adds `parentReference.path` (not in delta answers, as documented);
/// `download_url` adds `@microsoft.graph.downloadUrl` for files.
pub fn item(base: &str, drive: &Drive, item: &Item, with_path: bool, download_url: bool) -> Value {
    let mut v = json!({
        "id": item.id,
        "name": item.name,
        "eTag": etag(item),
        "cTag": ctag(item),
        "size": item.size(),
        "createdDateTime": time(&item.created),
        "lastModifiedDateTime": time(&item.modified),
        "fileSystemInfo": {
            "createdDateTime": time(&item.fs_created),
            "lastModifiedDateTime": time(&item.fs_modified),
        },
    });
    if item.deleted {
        v["deleted"] = json!({"state": "deleted"});
    }
    let rel = drive.relative_path(&item.id);
    v["webUrl"] = json!(if rel.is_empty() {
        drive.web_url()
    } else {
        format!("{}/{}", drive.web_url(), encode_path(&rel))
    });
    match &item.parent {
        None => {
            v["root"] = json!({});
            v["parentReference"] = json!({"driveId": drive.id, "driveType": drive.drive_type});
        }
        Some(p) => {
            let mut r = json!({"driveId": drive.id, "driveType": drive.drive_type, "id": p});
            if with_path {
                let prel = drive.relative_path(p);
                let path = if prel.is_empty() {
                    format!("/drives/{}/root:", drive.id)
                } else {
                    format!("/drives/{}/root:/{}", drive.id, encode_path(&prel))
                };
                r["path"] = json!(path);
            }
            v["parentReference"] = r;
        }
    }
    match &item.kind {
        Kind::Folder { children } => {
            v["folder"] = json!({"childCount": children.len()});
        }
        Kind::File { quick_xor, .. } => {
            v["file"] = json!({
                "mimeType": "application/octet-stream",
                "hashes": {"quickXorHash": quick_xor},
            });
            if download_url && !item.deleted {
                v["@microsoft.graph.downloadUrl"] = json!(download_link(base, drive, item));
            }
        }
    }
    v
}

/// The pre-authenticated download URL of a file's current content.
pub fn download_link(base: &str, drive: &Drive, item: &Item) -> String {
    format!(
        "{base}/download/{}/{}/{}",
        drive.id, item.id, item.ctag_version
    )
}

pub fn drive(drive: &Drive) -> Value {
    let used = drive.used();
    let total = drive.quota_total;
    let remaining = total.saturating_sub(used);
    let state = if used > total {
        "exceeded"
    } else if remaining.saturating_mul(100) < total {
        "critical"
    } else if remaining.saturating_mul(10) < total {
        "nearing"
    } else {
        "normal"
    };
    let owner = match &drive.owner {
        Owner::User { id, upn } => json!({"user": {"id": id, "displayName": upn}}),
        Owner::Site { id, name } => json!({"group": {"id": id, "displayName": name}}),
    };
    json!({
        "id": drive.id,
        "name": drive.name,
        "driveType": drive.drive_type,
        "webUrl": drive.web_url(),
        "owner": owner,
        "quota": {
            "total": total,
            "used": used,
            "remaining": remaining,
            "deleted": 0,
            "fileCount": drive.file_count(),
            "state": state,
        },
    })
}
