//! Upload sessions (driveItem: createUploadSession) and the commit shared with simple uploads.
//!
//! - `POST …:/{name}:/createUploadSession` (or `…/items/{id}/createUploadSession` to update a file) with an
//!   optional `item` (`@microsoft.graph.conflictBehavior`, default `fail`; `fileSystemInfo`; `fileSize` →
//!   `507` when it exceeds the remaining quota) and `deferCommit` → `200` with `uploadUrl`,
//!   `expirationDateTime`, `nextExpectedRanges: ["0-"]`.
//! - The upload URL is on another path and pre-authenticated: a request carrying `Authorization` gets `401`.
//! - `PUT uploadUrl` with `Content-Range: bytes a-b/total` and `Content-Length` (`411` without): each
//!   request under 60 MiB (`413` otherwise), the
//!   same total every time (`400 fragmentLengthMismatch`), in order: a range starting before the next
//!   expected byte is `416 fragmentOverlap`, one starting after it `416 fragmentOutOfOrder`. A request cut
//!   before its last byte counts for nothing. One fragment at a time: while a request's body is still
//!   arriving (a killed client's, until its connection is seen to close), `GET` still names its first byte
//!   as missing and another request is `416 fragmentOverlap`. A refused fragment's body (up to 60 MiB)
//!   is read before the answer, so a client still sending gets the answer, not a reset connection.
//!   `202` with `nextExpectedRanges` until the last byte; then the file is committed: `201` (new) or `200` (replaced), `409 nameAlreadyExists` under `fail` when the name
//!   exists by then. A non-final fragment whose length is not a multiple of 320 KiB makes the commit fail
//!   (`400 uploadSessionFailed`), the "errors committing" the page warns of.
//! - `GET uploadUrl` → `200` with `nextExpectedRanges` (resume); `DELETE uploadUrl` → `204`; with
//!   `deferCommit`, `POST uploadUrl` (empty body) commits. An expired, cancelled or finished session is
//!   `404 itemNotFound` (innerError `uploadSessionNotFound`), which the page says means "start over".

use super::api::{ApiError, ApiResult, At, header, json_res, throttle};
use super::items::{conflict_of, parse_time};
use super::json;
use super::quickxor::QuickXorHash;
use super::server::{Res, Shared};
use super::state::{Conflict, Session, SessionStatus, State, new_item};
use super::tree::Kind;
use chrono::{DateTime, Utc};
use hyper::Response;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use serde_json::{Value, json};
use std::io;
use std::path::PathBuf;
use std::time::Instant;

/// File content written to a temp file, waiting to become an item's content.
pub struct NewContent {
    pub tmp: PathBuf,
    pub size: u64,
    pub quick_xor: String,
    pub fs_created: Option<DateTime<Utc>>,
    pub fs_modified: Option<DateTime<Utc>>,
}

/// Place `content` as `name` under `parent` (or as the new content of `target`), applying the conflict
/// behaviour, the name rules and the quota.
#[allow(clippy::too_many_arguments)]
pub fn commit(
    st: &mut State,
    root: &str,
    drive: &str,
    parent: &str,
    name: &str,
    target: Option<&str>,
    conflict: Conflict,
    content: NewContent,
    max_path: usize,
) -> ApiResult {
    let result = commit_inner(
        st, root, drive, parent, name, target, conflict, &content, max_path,
    );
    let _ = std::fs::remove_file(&content.tmp);
    result
}

#[allow(clippy::too_many_arguments)]
fn commit_inner(
    st: &mut State,
    root: &str,
    drive: &str,
    parent: &str,
    name: &str,
    target: Option<&str>,
    conflict: Conflict,
    content: &NewContent,
    max_path: usize,
) -> ApiResult {
    let d = st
        .drives
        .get_mut(drive)
        .ok_or_else(|| ApiError::not_found("Drive"))?;
    if d.get(parent).is_none_or(|p| !p.is_folder()) {
        return Err(ApiError::not_found("Parent folder"));
    }
    let existing = match target {
        Some(t) => d.get(t).map(|i| i.id.clone()),
        None => d.child(parent, name).map(|i| i.id.clone()),
    };
    let replaced_size = existing
        .as_ref()
        .and_then(|e| d.get(e))
        .map_or(0, |i| i.size());
    if d.used() - replaced_size.min(d.used()) + content.size > d.quota_total {
        return Err(ApiError(
            507,
            "quotaLimitReached",
            None,
            "The drive's storage quota would be exceeded.".into(),
        ));
    }
    let mut name = name.to_owned();
    let mut replace = None;
    if let Some(eid) = existing {
        let is_folder = d.get(&eid).is_some_and(|i| i.is_folder());
        match (conflict, target.is_some()) {
            (_, true) => replace = Some(eid),
            (Conflict::Fail, false) => {
                return Err(ApiError(
                    409,
                    "nameAlreadyExists",
                    None,
                    format!("An item named '{name}' already exists."),
                ));
            }
            (Conflict::Replace, false) if is_folder => {
                return Err(ApiError(
                    409,
                    "nameAlreadyExists",
                    None,
                    format!("A folder named '{name}' already exists."),
                ));
            }
            (Conflict::Replace, false) => replace = Some(eid),
            (Conflict::Rename, false) => name = d.free_name(parent, &name),
        }
    }
    let now = super::truncate_to_seconds(Utc::now());
    match replace {
        Some(id) => {
            std::fs::rename(&content.tmp, d.content_path(&id))
                .map_err(|e| ApiError(500, "generalException", None, e.to_string()))?;
            d.set_content(&id, content.size, content.quick_xor.clone());
            if let Some(item) = d.items.get_mut(&id) {
                if let Some(c) = content.fs_created {
                    item.fs_created = c;
                }
                // Documented: without a client value, a content update resets lastModifiedDateTime to now.
                item.fs_modified = content.fs_modified.unwrap_or(now);
            }
            Ok(json_res(
                200,
                &json::item(root, d, &d.items[&id], true, true),
            ))
        }
        None => {
            d.check_new_name(parent, &name, false, max_path)
                .map_err(|(inner, m)| ApiError::bad(Some(inner), m))?;
            let item = new_item(
                &name,
                Kind::File {
                    size: content.size,
                    quick_xor: content.quick_xor.clone(),
                },
                content.fs_created.unwrap_or(now),
                content.fs_modified.unwrap_or(now),
            );
            let id = item.id.clone();
            std::fs::rename(&content.tmp, d.content_path(&id))
                .map_err(|e| ApiError(500, "generalException", None, e.to_string()))?;
            d.insert(parent, item);
            Ok(json_res(
                201,
                &json::item(root, d, &d.items[&id], true, true),
            ))
        }
    }
}

/// `POST …/createUploadSession`.
pub fn create(shared: &Shared, at: &At, parts: &Parts, body: Value) -> ApiResult {
    let opts = shared.opts();
    if body.is_null() {
        return Err(ApiError::bad(None, "The body is not JSON."));
    }
    let item = body.get("item").cloned().unwrap_or(json!({}));
    let conflict = conflict_of(
        item.get("@microsoft.graph.conflictBehavior")
            .and_then(Value::as_str),
        Conflict::Fail,
    )?;
    let fsi = item.get("fileSystemInfo").cloned().unwrap_or(Value::Null);
    let fs_created = parse_time(&fsi, "createdDateTime")?;
    let fs_modified = parse_time(&fsi, "lastModifiedDateTime")?;
    let defer_commit = body
        .get("deferCommit")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let file_size = item.get("fileSize").and_then(Value::as_u64);
    let mut st = shared.lock();
    super::api::preconditions(parts, &st, at)?;
    let (parent, name) = at.parent_and_name(&st)?;
    let target = if at.path.as_deref().is_none_or(str::is_empty) {
        Some(at.resolve(&st)?)
    } else {
        None
    };
    if let Some(n) = item.get("name").and_then(Value::as_str)
        && target.is_none()
        && n != name
    {
        return Err(ApiError::bad(
            None,
            "The item name must match the name in the path.",
        ));
    }
    let d = &st.drives[&at.drive];
    if target.is_none() {
        d.check_new_name(&parent, &name, false, opts.max_path)
            .map_err(|(inner, m)| ApiError::bad(Some(inner), m))?;
    }
    if let Some(size) = file_size
        && size > opts.max_file_size
    {
        return Err(too_big(opts.max_file_size));
    }
    if let Some(size) = file_size
        && size > d.quota_total.saturating_sub(d.used())
    {
        return Err(ApiError(
            507,
            "quotaLimitReached",
            None,
            "The file is larger than the drive's remaining quota.".into(),
        ));
    }
    let id: String = (0..40).map(|_| fastrand::alphanumeric()).collect();
    let file = st.content_root.join(format!("session-{id}"));
    std::fs::File::create(&file)
        .map_err(|e| ApiError(500, "generalException", None, e.to_string()))?;
    let expires_utc = Utc::now() + opts.session_lifetime;
    st.sessions.insert(
        id.clone(),
        Session {
            id: id.clone(),
            drive_id: at.drive.clone(),
            parent_id: parent,
            name,
            target_id: target,
            conflict,
            fs_created,
            fs_modified,
            defer_commit,
            total: None,
            received: 0,
            hasher: QuickXorHash::new(),
            file,
            expires: Instant::now() + opts.session_lifetime,
            expires_utc,
            status: SessionStatus::Open,
            misaligned: false,
            accepted: Vec::new(),
            refused: Vec::new(),
            bytes_accepted: 0,
            bytes_received: 0,
            busy: false,
        },
    );
    st.stats.sessions_created += 1;
    Ok(json_res(
        200,
        &json!({
            "uploadUrl": format!("{}/upload/{id}", shared.root),
            "expirationDateTime": json::time(&expires_utc),
            "nextExpectedRanges": ["0-"],
        }),
    ))
}

pub(super) fn too_big(max: u64) -> ApiError {
    ApiError::bad(
        Some("maxFileSizeExceeded"),
        format!("Files may be at most {max} bytes."),
    )
}

pub(super) fn session_gone() -> ApiError {
    ApiError(
        404,
        "itemNotFound",
        Some("uploadSessionNotFound"),
        "The upload session does not exist or has expired.".into(),
    )
}

pub(super) fn status_json(s: &Session) -> Value {
    let next = match s.total {
        Some(t) if s.received >= t => Vec::new(),
        _ => vec![format!("{}-", s.received)],
    };
    json!({"expirationDateTime": json::time(&s.expires_utc), "nextExpectedRanges": next})
}

/// Look up an open session, expiring it when its time is up.
pub(super) fn open_session<'a>(st: &'a mut State, id: &str) -> Result<&'a mut Session, ApiError> {
    let s = st.sessions.get_mut(id).ok_or_else(session_gone)?;
    if s.status == SessionStatus::Open && Instant::now() >= s.expires {
        s.status = SessionStatus::Expired;
        let _ = std::fs::remove_file(&s.file);
    }
    if s.status != SessionStatus::Open {
        return Err(session_gone());
    }
    Ok(s)
}

/// Requests to an upload URL.
pub async fn handle_url(
    shared: &Shared,
    parts: &Parts,
    body: Incoming,
    id: &str,
    conn: u64,
) -> Result<Res, io::Error> {
    let opts = shared.opts();
    let drive = shared.lock().sessions.get(id).map(|s| s.drive_id.clone());
    if let Err(r) = throttle(shared, drive.as_deref(), conn) {
        return Ok(*r);
    }
    if header(parts, "authorization").is_some() {
        let mut st = shared.lock();
        st.stats.upload_url_with_authorization += 1;
        if opts.reject_auth_on_upload_url {
            st.stats.unauthorized += 1;
            return Ok(ApiError(
                401,
                "unauthenticated",
                None,
                "The upload URL is pre-authenticated; do not send an Authorization header.".into(),
            )
            .into_response());
        }
    }
    let result = match parts.method.as_str() {
        "GET" => {
            let mut st = shared.lock();
            open_session(&mut st, id).map(|s| json_res(200, &status_json(s)))
        }
        "DELETE" => {
            let mut st = shared.lock();
            open_session(&mut st, id).map(|s| {
                s.status = SessionStatus::Cancelled;
                let _ = std::fs::remove_file(&s.file);
                let mut r = Response::new(super::server::full(""));
                *r.status_mut() = hyper::StatusCode::NO_CONTENT;
                r
            })
        }
        "POST" => {
            let mut st = shared.lock();
            match open_session(&mut st, id) {
                Ok(s) if s.defer_commit && s.total.is_some_and(|t| s.received >= t) => {
                    finish(&mut st, &shared.root, id, opts.max_path)
                }
                Ok(_) => Err(ApiError::bad(
                    Some("uploadSessionIncomplete"),
                    "The session is not complete or does not defer its commit.",
                )),
                Err(e) => Err(e),
            }
        }
        "PUT" => return super::fragment::put(shared, parts, body, id).await,
        m => Err(ApiError(
            405,
            "notSupported",
            None,
            format!("{m} is not supported on an upload URL."),
        )),
    };
    Ok(result.unwrap_or_else(ApiError::into_response))
}

/// Commit a session whose bytes are all there.
pub(super) fn finish(st: &mut State, root: &str, id: &str, max_path: usize) -> ApiResult {
    let s = st.sessions.get_mut(id).ok_or_else(session_gone)?;
    if s.misaligned {
        s.status = SessionStatus::Cancelled;
        let _ = std::fs::remove_file(&s.file);
        return Err(ApiError::bad(
            Some("uploadSessionFailed"),
            "A fragment was not a multiple of 320 KiB (327,680 bytes); the file could not be committed.",
        ));
    }
    let content = NewContent {
        tmp: s.file.clone(),
        size: s.received,
        quick_xor: s.hasher.base64(),
        fs_created: s.fs_created,
        fs_modified: s.fs_modified,
    };
    let (drive, parent, name, target, conflict) = (
        s.drive_id.clone(),
        s.parent_id.clone(),
        s.name.clone(),
        s.target_id.clone(),
        s.conflict,
    );
    // On a conflict the session (and its bytes) stay until expiry, as documented.
    let keep = std::fs::hard_link(&content.tmp, st.content_root.join(format!("keep-{id}")));
    let result = commit(
        st,
        root,
        &drive,
        &parent,
        &name,
        target.as_deref(),
        conflict,
        content,
        max_path,
    );
    let s = st.sessions.get_mut(id).ok_or_else(session_gone)?;
    match &result {
        Ok(_) => {
            s.status = SessionStatus::Completed;
            let _ = std::fs::remove_file(st.content_root.join(format!("keep-{id}")));
        }
        Err(_) if keep.is_ok() => {
            let _ = std::fs::rename(st.content_root.join(format!("keep-{id}")), &s.file);
        }
        Err(_) => {}
    }
    result
}
