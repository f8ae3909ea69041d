//! Item routes: get, update (`fileSystemInfo`), delete, children in pages, create folder, simple upload,
//! download (302 to a pre-authenticated URL, ranges).

use super::api::{
    ApiError, ApiResult, At, add_header, header, json_res, preconditions, query, throttle,
};
use super::json;
use super::server::{BodyError, FileBody, Shared, full, stream_body};
use super::state::{Conflict, folder, new_item};
use super::upload;
use chrono::{DateTime, Utc};
use hyper::Response;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use serde_json::{Value, json};
use std::io::{self, Seek, SeekFrom};

pub fn get_item(shared: &Shared, at: &At) -> ApiResult {
    let st = shared.lock();
    let id = at.resolve(&st)?;
    let d = &st.drives[&at.drive];
    Ok(json_res(
        200,
        &json::item(&shared.root, d, &d.items[&id], true, true),
    ))
}

pub fn parse_time(v: &Value, field: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(super::truncate_to_seconds(t.with_timezone(&Utc))))
            .map_err(|_| {
                ApiError::bad(
                    Some("invalidParameterFormat"),
                    format!("{field} is not a date-time."),
                )
            }),
        Some(_) => Err(ApiError::bad(
            Some("invalidParameterFormat"),
            format!("{field} is not a date-time."),
        )),
    }
}

pub fn conflict_of(v: Option<&str>, default: Conflict) -> Result<Conflict, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => Conflict::parse(s).ok_or_else(|| {
            ApiError::bad(
                None,
                format!("Unknown @microsoft.graph.conflictBehavior '{s}'."),
            )
        }),
    }
}

pub fn patch_item(shared: &Shared, at: &At, parts: &Parts, body: Value) -> ApiResult {
    let mut st = shared.lock();
    let id = at.resolve(&st)?;
    preconditions(parts, &st, at)?;
    let fsi = body.get("fileSystemInfo").cloned().unwrap_or(Value::Null);
    let created = parse_time(&fsi, "createdDateTime")?;
    let modified = parse_time(&fsi, "lastModifiedDateTime")?;
    let d = st
        .drives
        .get_mut(&at.drive)
        .ok_or_else(|| ApiError::not_found("Drive"))?;
    let seq = d.next_seq();
    if let Some(item) = d.items.get_mut(&id) {
        if let Some(c) = created {
            item.fs_created = c;
        }
        if let Some(m) = modified {
            item.fs_modified = m;
        }
        item.etag_version += 1;
        item.seq = seq;
        item.modified = Utc::now();
    }
    Ok(json_res(
        200,
        &json::item(&shared.root, d, &d.items[&id], true, true),
    ))
}

pub fn delete_item(shared: &Shared, at: &At, parts: &Parts) -> ApiResult {
    let mut st = shared.lock();
    let id = at.resolve(&st)?;
    preconditions(parts, &st, at)?;
    let d = st
        .drives
        .get_mut(&at.drive)
        .ok_or_else(|| ApiError::not_found("Drive"))?;
    if id == d.root_id {
        return Err(ApiError(
            403,
            "accessDenied",
            None,
            "The root cannot be deleted.".into(),
        ));
    }
    d.delete(&id);
    let mut r = Response::new(full(""));
    *r.status_mut() = hyper::StatusCode::NO_CONTENT;
    Ok(r)
}

pub fn children(shared: &Shared, at: &At, parts: &Parts) -> ApiResult {
    let q = query(parts);
    let st = shared.lock();
    let id = at.resolve(&st)?;
    let d = &st.drives[&at.drive];
    let top = match q.get("$top") {
        Some(t) => t.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad(
                Some("invalidQueryOption"),
                "$top must be a positive number.",
            )
        })?,
        None => shared.opts().page_size,
    };
    let after = q.get("$skiptoken").map(|t| hex_decode(t));
    let super::tree::Kind::Folder { children } = &d.items[&id].kind else {
        return Ok(json_res(200, &json!({"value": []})));
    };
    let mut value = Vec::new();
    let mut last = None;
    let mut more = false;
    let start = match after {
        Some(a) => std::ops::Bound::Excluded(a),
        None => std::ops::Bound::Unbounded,
    };
    for (key, cid) in children.range((start, std::ops::Bound::Unbounded)) {
        if value.len() == top {
            more = true;
            break;
        }
        if let Some(c) = d.get(cid) {
            value.push(json::item(&shared.root, d, c, true, true));
            last = Some(key.clone());
        }
    }
    let mut out = json!({"value": value});
    if let (true, Some(last)) = (more, last) {
        out["@odata.nextLink"] = json!(format!(
            "{}/v1.0/drives/{}/items/{}/children?$top={top}&$skiptoken={}",
            shared.root,
            d.id,
            id,
            hex_encode(&last)
        ));
    }
    Ok(json_res(200, &out))
}

fn hex_encode(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> String {
    let bytes: Vec<u8> = (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub fn create_folder(shared: &Shared, at: &At, body: Value) -> ApiResult {
    let max_path = shared.opts().max_path;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad(None, "A name is required."))?
        .to_owned();
    if body.get("folder").is_none() {
        return Err(ApiError::bad(
            None,
            "Only folders can be created here (a `folder` facet is required).",
        ));
    }
    let conflict = conflict_of(
        body.get("@microsoft.graph.conflictBehavior")
            .and_then(Value::as_str),
        Conflict::Fail,
    )?;
    let fsi = body.get("fileSystemInfo").cloned().unwrap_or(Value::Null);
    let created = parse_time(&fsi, "createdDateTime")?;
    let modified = parse_time(&fsi, "lastModifiedDateTime")?;
    let mut st = shared.lock();
    let parent = at.resolve(&st)?;
    let d = st
        .drives
        .get_mut(&at.drive)
        .ok_or_else(|| ApiError::not_found("Drive"))?;
    if !d.items[&parent].is_folder() {
        return Err(ApiError::bad(None, "The parent is not a folder."));
    }
    let mut name = name;
    if let Some(existing) = d.child(&parent, &name) {
        match conflict {
            Conflict::Fail => {
                return Err(ApiError(
                    409,
                    "nameAlreadyExists",
                    None,
                    format!("An item named '{}' already exists.", existing.name),
                ));
            }
            Conflict::Replace if existing.is_folder() => {
                let eid = existing.id.clone();
                return Ok(json_res(
                    200,
                    &json::item(&shared.root, d, &d.items[&eid], true, true),
                ));
            }
            Conflict::Replace => {
                let eid = existing.id.clone();
                d.delete(&eid);
            }
            Conflict::Rename => name = d.free_name(&parent, &name),
        }
    }
    d.check_new_name(&parent, &name, true, max_path)
        .map_err(|(inner, m)| ApiError::bad(Some(inner), m))?;
    let now = super::truncate_to_seconds(Utc::now());
    let item = new_item(
        &name,
        folder(),
        created.unwrap_or(now),
        modified.unwrap_or(now),
    );
    let id = d.insert(&parent, item);
    Ok(json_res(
        201,
        &json::item(&shared.root, d, &d.items[&id], true, true),
    ))
}

pub fn get_content(shared: &Shared, at: &At, conn: u64) -> ApiResult {
    let st = shared.lock();
    let id = at.resolve(&st)?;
    let d = &st.drives[&at.drive];
    let item = &d.items[&id];
    if item.is_folder() {
        return Err(ApiError::bad(None, "A folder has no content."));
    }
    let link = json::download_link(&shared.root, d, item);
    if shared.opts().redirect_downloads {
        let mut r = Response::new(full(""));
        *r.status_mut() = hyper::StatusCode::FOUND;
        add_header(&mut r, "Location", &link);
        return Ok(r);
    }
    let rest = link
        .split_once("/download/")
        .map(|(_, r)| r.to_owned())
        .unwrap_or_default();
    drop(st);
    download_parts(shared, &rest, None, conn)
}

pub fn download(shared: &Shared, parts: &Parts, rest: &str, conn: u64) -> ApiResult {
    download_parts(shared, rest, header(parts, "range"), conn)
}

/// Serve `/download/{drive}/{item}/{content version}` (pre-authenticated), with `Range: bytes=a-b`.
fn download_parts(shared: &Shared, rest: &str, range: Option<&str>, conn: u64) -> ApiResult {
    let mut it = rest.split('/');
    let (Some(drive), Some(id), Some(ver)) = (it.next(), it.next(), it.next()) else {
        return Err(ApiError::not_found("Download"));
    };
    let drive = percent_encoding::percent_decode_str(drive)
        .decode_utf8_lossy()
        .into_owned();
    if let Err(r) = throttle(shared, Some(&drive), conn) {
        return Ok(*r);
    }
    let mut st = shared.lock();
    let d = st
        .drives
        .get(&drive)
        .ok_or_else(|| ApiError::not_found("Drive"))?;
    let item = d.get(id).ok_or_else(|| ApiError::not_found("Item"))?;
    if item.ctag_version.to_string() != ver {
        return Err(ApiError(
            410,
            "generalException",
            None,
            "The download URL is stale.".into(),
        ));
    }
    let size = item.size();
    let path = d.content_path(id);
    st.stats.downloads += 1;
    drop(st);
    let mut file = std::fs::File::open(&path).map_err(|e| {
        ApiError(
            500,
            "generalException",
            None,
            format!("content missing: {e}"),
        )
    })?;
    let (start, end) = match range.map(|r| parse_range(r, size)) {
        Some(Some(r)) => r,
        Some(None) if size > 0 => {
            return Err(ApiError(
                416,
                "invalidRange",
                None,
                format!("The range is not within the file's {size} bytes."),
            ));
        }
        _ => (0, size.saturating_sub(1)),
    };
    let len = if size == 0 { 0 } else { end + 1 - start };
    file.seek(SeekFrom::Start(start))
        .map_err(|e| ApiError(500, "generalException", None, e.to_string()))?;
    let mut r = Response::new(FileBody::boxed(file, len));
    add_header(&mut r, "Content-Length", &len.to_string());
    add_header(&mut r, "Content-Type", "application/octet-stream");
    if range.is_some() && size > 0 {
        *r.status_mut() = hyper::StatusCode::PARTIAL_CONTENT;
        add_header(
            &mut r,
            "Content-Range",
            &format!("bytes {start}-{end}/{size}"),
        );
    }
    Ok(r)
}

fn parse_range(r: &str, size: u64) -> Option<(u64, u64)> {
    let (a, b) = r.strip_prefix("bytes=")?.split_once('-')?;
    let start: u64 = a.parse().ok()?;
    let end: u64 = if b.is_empty() {
        size.checked_sub(1)?
    } else {
        b.parse().ok()?
    };
    (start <= end && end < size).then_some((start, end))
}

pub async fn simple_upload(
    shared: &Shared,
    at: &At,
    parts: &Parts,
    body: Incoming,
) -> Result<ApiResult, io::Error> {
    let limit = shared.opts().simple_upload_limit;
    let declared: Option<u64> = header(parts, "content-length").and_then(|v| v.parse().ok());
    if declared.is_some_and(|n| n > limit) {
        return Ok(Err(ApiError(
            413,
            "invalidRequest",
            Some("maxFileSizeExceeded"),
            format!("A simple upload takes at most {limit} bytes; use an upload session."),
        )));
    }
    let conflict = match conflict_of(
        query(parts)
            .get("@microsoft.graph.conflictBehavior")
            .map(String::as_str),
        Conflict::Replace,
    ) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let (parent, name, target) = {
        let st = shared.lock();
        if let Err(e) = preconditions(parts, &st, at) {
            return Ok(Err(e));
        }
        match at.parent_and_name(&st) {
            Ok((p, n)) => {
                let target = if at.path.as_deref().is_none_or(str::is_empty) {
                    at.resolve(&st).ok()
                } else {
                    None
                };
                (p, n, target)
            }
            Err(e) => return Ok(Err(e)),
        }
    };
    let tmp = shared
        .lock()
        .content_root
        .join(format!("tmp-{}", super::tree::new_item_id()));
    let mut file = std::fs::File::create(&tmp)?;
    let mut hash = super::quickxor::QuickXorHash::new();
    let mut seen = 0;
    let size = match stream_body(body, &mut file, &mut hash, limit, None, &mut seen).await {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return match e {
                BodyError::TooLarge => Ok(Err(ApiError(
                    413,
                    "invalidRequest",
                    Some("maxFileSizeExceeded"),
                    format!("A simple upload takes at most {limit} bytes; use an upload session."),
                ))),
                BodyError::Io(e) => Err(e),
            };
        }
    };
    drop(file);
    let content = upload::NewContent {
        tmp,
        size,
        quick_xor: hash.base64(),
        fs_created: None,
        fs_modified: None,
    };
    let mut st = shared.lock();
    st.stats.simple_uploads += 1;
    st.stats.content_bytes += size;
    let max_path = shared.opts().max_path;
    Ok(upload::commit(
        &mut st,
        &shared.root,
        &at.drive,
        &parent,
        &name,
        target.as_deref(),
        conflict,
        content,
        max_path,
    ))
}
