//! Request handling: faults, authentication, throttling, then the routes (drives, sites, items, children,
//! folders, simple upload, download, delta). Upload sessions are in [`super::upload`].

use super::items::{
    children, create_folder, delete_item, download, get_content, get_item, patch_item,
    simple_upload,
};
use super::json;
use super::route::{self, Action, Base, DriveRef, Route};
use super::server::{BodyError, Res, Shared, full, read_body};
use super::state::State;
use super::upload;
use chrono::Utc;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Request, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Instant;

/// An error answer: status, code, inner code, message.
pub struct ApiError(
    pub u16,
    pub &'static str,
    pub Option<&'static str>,
    pub String,
);

impl ApiError {
    pub fn not_found(what: &str) -> ApiError {
        ApiError(404, "itemNotFound", None, format!("{what} not found."))
    }

    pub fn bad(inner: Option<&'static str>, msg: impl Into<String>) -> ApiError {
        ApiError(400, "invalidRequest", inner, msg.into())
    }

    pub fn into_response(self) -> Res {
        json_res(self.0, &json::error(self.1, self.2, &self.3))
    }
}

pub type ApiResult = Result<Res, ApiError>;

pub fn json_res(status: u16, v: &Value) -> Res {
    let mut r = Response::new(full(v.to_string()));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

pub fn add_header(r: &mut Res, name: &'static str, value: &str) {
    if let Ok(v) = hyper::header::HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

pub fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn query(parts: &Parts) -> HashMap<String, String> {
    parts
        .uri
        .query()
        .map(|q| {
            url_pairs(q)
                .into_iter()
                .collect::<HashMap<String, String>>()
        })
        .unwrap_or_default()
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// A throttled answer, or the RateLimit headers to add to the real one. Also counts a request that
/// ignores a running `Retry-After`.
pub fn throttle(
    shared: &Shared,
    drive: Option<&str>,
    conn: u64,
) -> Result<Vec<(&'static str, String)>, Box<Res>> {
    let opts = shared.opts();
    let mut st = shared.lock();
    let now = Instant::now();
    let before = (st.throttle.throttled, st.throttle.early);
    let verdict = st
        .throttle
        .check(&opts.throttle, drive, conn, now, opts.in_flight_grace);
    st.stats.throttled += st.throttle.throttled - before.0;
    st.stats.requests_before_retry_after += st.throttle.early - before.1;
    match verdict.refuse {
        None => Ok(verdict.headers),
        Some((status, secs)) => {
            let (code, inner) = if status == 503 {
                ("serviceNotAvailable", "serviceNotAvailable")
            } else {
                ("activityLimitReached", "throttledRequest")
            };
            let mut r = json_res(
                status,
                &json::error(code, Some(inner), "The request has been throttled."),
            );
            add_header(&mut r, "Retry-After", &secs.to_string());
            for (n, v) in verdict.headers {
                add_header(&mut r, n, &v);
            }
            Err(Box::new(r))
        }
    }
}

/// Entry point for every request.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    conn: u64,
) -> Result<Res, io::Error> {
    let (parts, body) = req.into_parts();
    {
        let mut st = shared.lock();
        st.stats.requests += 1;
        match header(&parts, "user-agent") {
            Some(ua) if !ua.trim().is_empty() => {
                if !st.user_agents.contains(ua) {
                    st.user_agents.insert(ua.to_owned());
                }
            }
            _ => st.stats.undecorated_requests += 1,
        }
        if st.faults.drop > 0 || !st.faults.fail.is_empty() {
            // Answered by a fault hook, so never seen by `throttle`: check for an early request here.
            let grace = shared.opts().in_flight_grace;
            let before = st.throttle.early;
            st.throttle
                .note_early(&["!".to_owned()], conn, Instant::now(), grace);
            st.stats.requests_before_retry_after += st.throttle.early - before;
        }
        if st.faults.drop > 0 {
            st.faults.drop -= 1;
            st.stats.dropped += 1;
            return Err(io::Error::other("fault hook: connection dropped"));
        }
        if !st.faults.fail.is_empty() {
            let (status, retry_after) = st.faults.fail.remove(0);
            st.stats.injected_failures += 1;
            let code = match status {
                429 => "activityLimitReached",
                503 => "serviceNotAvailable",
                _ => "generalException",
            };
            let mut r = json_res(status, &json::error(code, None, "Injected failure."));
            if let Some(s) = retry_after {
                add_header(&mut r, "Retry-After", &s.to_string());
                st.throttle.advise("!", conn, Instant::now(), s);
            }
            return Ok(r);
        }
    }
    let path = parts.uri.path().to_owned();
    if let Some(id) = path.strip_prefix("/upload/") {
        return upload::handle_url(&shared, &parts, body, id, conn).await;
    }
    if let Some(rest) = path.strip_prefix("/download/") {
        return Ok(download(&shared, &parts, rest, conn).unwrap_or_else(ApiError::into_response));
    }
    let opts = shared.opts();
    let claims = match super::auth::validate(
        header(&parts, "authorization"),
        &opts.jwt_key,
        &opts.audiences,
        Utc::now().timestamp(),
    ) {
        Ok(c) if c.tenant.as_deref().is_none_or(|t| t == opts.tenant_id) => c,
        Ok(_) => return Ok(unauthorized(&shared, "The token is for another tenant.")),
        Err(msg) => return Ok(unauthorized(&shared, msg)),
    };
    let Some(route) = path.strip_prefix("/v1.0").and_then(route::parse) else {
        return Ok(ApiError(
            400,
            "invalidRequest",
            None,
            format!("Unsupported path {path}."),
        )
        .into_response());
    };
    let drive_key = {
        let mut st = shared.lock();
        match &route {
            Route::Drive(d) | Route::Item { drive: d, .. } => {
                resolve_drive(&mut st, d, claims.delegated).ok()
            }
            _ => None,
        }
    };
    let rate_headers = match throttle(&shared, drive_key.as_deref(), conn) {
        Ok(h) => h,
        Err(r) => return Ok(*r),
    };
    let method = parts.method.as_str().to_owned();
    if !claims.delegated && opts.check_roles {
        use super::auth::Need;
        let need = match (&route, method.as_str()) {
            (
                Route::Item {
                    action: Action::CreateUploadSession,
                    ..
                },
                _,
            ) => Need::UploadSession,
            (_, "GET" | "HEAD") => Need::Read,
            _ => Need::Write,
        };
        if !super::auth::roles_allow(&claims.roles, need) {
            let wanted = match need {
                Need::Read => "Files.Read.All or Sites.Read.All",
                Need::Write => "Files.ReadWrite.All or Sites.ReadWrite.All",
                Need::UploadSession => "Sites.ReadWrite.All",
            };
            return Ok(ApiError(
                403,
                "accessDenied",
                None,
                format!("The application lacks the permission this request needs ({wanted})."),
            )
            .into_response());
        }
    }
    let result = match route {
        Route::Site(id) => site(&shared, &id),
        Route::SiteByPath { hostname, path } => site_by_path(&shared, &hostname, &path),
        Route::SiteDrives(id) => site_drives(&shared, &id),
        Route::Drive(d) => match drive_key {
            Some(id) => get_drive(&shared, &id),
            None => Err(drive_not_found(&d)),
        },
        Route::Item {
            drive,
            base,
            path,
            action,
        } => match drive_key {
            None => Err(drive_not_found(&drive)),
            Some(d) => {
                let at = At {
                    drive: d,
                    base,
                    path,
                };
                match (method.as_str(), action) {
                    ("GET", Action::Item) => get_item(&shared, &at),
                    ("PATCH", Action::Item) => {
                        let body = json_body(body, 1 << 20).await?;
                        patch_item(&shared, &at, &parts, body)
                    }
                    ("DELETE", Action::Item) => delete_item(&shared, &at, &parts),
                    ("GET", Action::Children) => children(&shared, &at, &parts),
                    ("POST", Action::Children) => {
                        let body = json_body(body, 1 << 20).await?;
                        create_folder(&shared, &at, body)
                    }
                    ("GET", Action::Content) => get_content(&shared, &at, conn),
                    ("PUT", Action::Content) => simple_upload(&shared, &at, &parts, body).await?,
                    ("POST", Action::CreateUploadSession) => {
                        let body = json_body(body, 1 << 20).await?;
                        upload::create(&shared, &at, &parts, body)
                    }
                    ("GET", Action::Delta) => super::delta::delta(&shared, &at.drive, &parts),
                    _ => Err(ApiError(
                        405,
                        "notSupported",
                        None,
                        format!("{method} is not supported here."),
                    )),
                }
            }
        },
    };
    let mut r = result.unwrap_or_else(ApiError::into_response);
    for (n, v) in rate_headers {
        add_header(&mut r, n, &v);
    }
    Ok(r)
}

fn unauthorized(shared: &Shared, msg: &str) -> Res {
    shared.lock().stats.unauthorized += 1;
    let mut r = json_res(401, &json::error("unauthenticated", None, msg));
    add_header(&mut r, "WWW-Authenticate", "Bearer");
    r
}

/// Where an item request points: a drive, a base item and an optional path below it.
pub struct At {
    pub drive: String,
    pub base: Base,
    pub path: Option<String>,
}

impl At {
    /// The addressed item's id.
    pub fn resolve(&self, st: &State) -> Result<String, ApiError> {
        let d = st
            .drives
            .get(&self.drive)
            .ok_or_else(|| ApiError::not_found("Drive"))?;
        let base = match &self.base {
            Base::Root => d.root_id.clone(),
            Base::Id(id) => id.clone(),
        };
        let item = d
            .resolve(&base, self.path.as_deref().unwrap_or(""))
            .ok_or_else(|| ApiError::not_found("Item"))?;
        Ok(item.id.clone())
    }

    /// For creating by path: (parent id, new name). Without a path the base item itself is the target:
    /// `(its parent, its name)`.
    pub fn parent_and_name(&self, st: &State) -> Result<(String, String), ApiError> {
        let d = st
            .drives
            .get(&self.drive)
            .ok_or_else(|| ApiError::not_found("Drive"))?;
        let base = match &self.base {
            Base::Root => d.root_id.clone(),
            Base::Id(id) => id.clone(),
        };
        match self.path.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => {
                let (dir, name) = p.rsplit_once('/').unwrap_or(("", p));
                let parent = d
                    .resolve(&base, dir)
                    .ok_or_else(|| ApiError::not_found("Parent folder"))?;
                if !parent.is_folder() {
                    return Err(ApiError(
                        409,
                        "nameAlreadyExists",
                        None,
                        "The parent is a file.".into(),
                    ));
                }
                Ok((parent.id.clone(), name.to_owned()))
            }
            None => {
                let item = d.get(&base).ok_or_else(|| ApiError::not_found("Item"))?;
                let parent = item
                    .parent
                    .clone()
                    .ok_or_else(|| ApiError::bad(None, "The root has no content."))?;
                Ok((parent, item.name.clone()))
            }
        }
    }
}

/// `if-match` / `if-none-match` against the addressed item's eTag or cTag (documented for
/// createUploadSession and item updates) → `412 Precondition Failed`.
pub fn preconditions(parts: &Parts, st: &State, at: &At) -> Result<(), ApiError> {
    let item = at
        .resolve(st)
        .ok()
        .and_then(|id| st.drives.get(&at.drive)?.get(&id).cloned());
    let tags = item
        .as_ref()
        .map(|i| [json::etag(i), json::ctag(i)])
        .unwrap_or_default();
    let matches = |v: &str| {
        entity_tags(v).iter().any(|t| {
            (t == "*" && item.is_some()) || tags.iter().any(|g| g == t || g.trim_matches('"') == t)
        })
    };
    let failed = ApiError(
        412,
        "resourceModified",
        Some("entityTagDoesNotMatch"),
        "The item's eTag does not match the precondition.".into(),
    );
    if let Some(v) = header(parts, "if-match")
        && !matches(v)
    {
        return Err(failed);
    }
    if let Some(v) = header(parts, "if-none-match")
        && matches(v)
    {
        return Err(failed);
    }
    Ok(())
}

/// The entity tags of an `If-Match` list: split on commas outside quotes (Graph's tags contain commas).
fn entity_tags(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in v.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_owned()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_owned());
    out
}

fn drive_not_found(d: &DriveRef) -> ApiError {
    match d {
        DriveRef::User(u) => ApiError(
            404,
            "itemNotFound",
            None,
            format!("The OneDrive of user {u} does not exist (not provisioned)."),
        ),
        _ => ApiError::not_found("Drive"),
    }
}

/// The drive id a reference names. A licensed user's OneDrive is provisioned on first access with a
/// delegated token, as documented for `GET /users/{id}/drive`; app-only tokens get `404`.
pub fn resolve_drive(st: &mut State, d: &DriveRef, delegated: bool) -> Result<String, ()> {
    match d {
        DriveRef::Id(id) => st.drives.contains_key(id).then(|| id.clone()).ok_or(()),
        DriveRef::SiteDefault(site) => st
            .sites
            .get(site)
            .and_then(|s| s.drives.first().cloned())
            .ok_or(()),
        DriveRef::User(upn) => {
            if let Some(id) = st.drive_by_user(upn) {
                return Ok(id.to_owned());
            }
            let licensed = st
                .users
                .get(&upn.to_lowercase())
                .is_some_and(|u| u.licensed);
            if delegated && licensed {
                let upn = upn.to_lowercase();
                return super::provision_user_drive(st, &upn).ok_or(());
            }
            Err(())
        }
    }
}

async fn json_body(body: Incoming, limit: u64) -> Result<Value, io::Error> {
    let mut seen = 0;
    match read_body(body, limit, None, &mut seen).await {
        Ok(b) if b.is_empty() => Ok(json!({})),
        Ok(b) => Ok(serde_json::from_slice(&b).unwrap_or(Value::Null)),
        Err(BodyError::TooLarge) => Ok(Value::Null),
        Err(BodyError::Io(e)) => Err(e),
    }
}

fn site_json(s: &super::state::Site) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "displayName": s.name,
        "webUrl": format!("https://{}/sites/{}", s.hostname, s.name),
        "siteCollection": {"hostname": s.hostname},
    })
}

fn site(shared: &Shared, id: &str) -> ApiResult {
    let st = shared.lock();
    let s = st
        .sites
        .get(id)
        .ok_or_else(|| ApiError::not_found("Site"))?;
    Ok(json_res(200, &site_json(s)))
}

fn site_by_path(shared: &Shared, hostname: &str, path: &str) -> ApiResult {
    let st = shared.lock();
    let name = path
        .strip_prefix("sites/")
        .or_else(|| path.strip_prefix("teams/"));
    let s = st
        .sites
        .values()
        .find(|s| {
            s.hostname.eq_ignore_ascii_case(hostname)
                && name.is_some_and(|n| s.name.eq_ignore_ascii_case(n))
        })
        .ok_or_else(|| ApiError::not_found("Site"))?;
    Ok(json_res(200, &site_json(s)))
}

fn site_drives(shared: &Shared, id: &str) -> ApiResult {
    let st = shared.lock();
    let s = st
        .sites
        .get(id)
        .ok_or_else(|| ApiError::not_found("Site"))?;
    let value: Vec<Value> = s
        .drives
        .iter()
        .filter_map(|d| st.drives.get(d))
        .map(json::drive)
        .collect();
    Ok(json_res(200, &json!({"value": value})))
}

fn get_drive(shared: &Shared, id: &str) -> ApiResult {
    let st = shared.lock();
    let d = st
        .drives
        .get(id)
        .ok_or_else(|| ApiError::not_found("Drive"))?;
    Ok(json_res(200, &json::drive(d)))
}
