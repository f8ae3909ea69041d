//! `GET /drives/{id}/root/delta` (driveItem: delta): without a token, the whole tree (root first, parents
//! before children); `?token=latest`, no items and a deltaLink for "from now on"; with a deltaLink's token,
//! the items changed since (deleted ones with the `deleted` facet). Pages of `$top` (default 200) chained by
//! `@odata.nextLink`; the last page carries `@odata.deltaLink`. Items carry no `parentReference.path`, as
//! documented. A page list is fixed when its first page is asked for; items changed while paging show up in
//! the next round. A token the service no longer keeps — unknown, more than
//! `GraphOptions::delta_token_history` changes old, or dropped by `expire_delta_tokens` — is `410 Gone`
//! with code `resyncRequired`, inner code `resyncChangesApplyDifferences` (or, when dropped on demand, the
//! code asked for, e.g. `resyncChangesUploadDifferences`) and a `Location` that starts a fresh enumeration
//! (the page's "HTTP 410 Gone … a Location header containing a new nextLink").

use super::api::{ApiError, ApiResult, json_res, query};
use super::json;
use super::options::DeltaResync;
use super::server::Shared;
use hyper::http::request::Parts;
use serde_json::json;

pub fn delta(shared: &Shared, drive: &str, parts: &Parts) -> ApiResult {
    let q = query(parts);
    let top = match q.get("$top") {
        Some(t) => t.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad(
                Some("invalidQueryOption"),
                "$top must be a positive number.",
            )
        })?,
        None => shared.opts().page_size,
    };
    let mut guard = shared.lock();
    let st = &mut *guard;
    let d = st
        .drives
        .get(drive)
        .ok_or_else(|| ApiError::not_found("Drive"))?;
    let base = format!("{}/v1.0/drives/{}/root/delta", shared.root, d.id);
    let token = q.get("token").map(String::as_str);
    // Tokens handed out up to `dropped` are no longer kept.
    let expired = st.delta_expired.get(&d.id).copied();
    let code = expired.map_or(DeltaResync::ApplyDifferences, |e| e.1);
    let after_drop = |t: u64| expired.is_none_or(|(upto, _)| t > upto);
    let history = shared.opts().delta_token_history;
    let kept = |t: u64| after_drop(t) && history.is_none_or(|h| d.seq.saturating_sub(t) <= h);
    let (snapshot, offset) = match token {
        Some("latest") => {
            return Ok(json_res(
                200,
                &json!({"value": [], "@odata.deltaLink": format!("{base}?token={}", d.seq)}),
            ));
        }
        Some(t) if t.starts_with('p') => {
            let parsed = t[1..]
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
            match parsed.and_then(|(s, o)| {
                st.delta_pages
                    .get(&s)
                    .filter(|x| x.0 == d.id && after_drop(x.2))
                    .map(|_| (s, o))
            }) {
                Some(x) => x,
                None => return Ok(gone(&base, code)),
            }
        }
        other => {
            let since = match other {
                None => 0,
                Some(t) => match t.parse::<u64>().ok().filter(|s| *s <= d.seq) {
                    Some(s) if kept(s) => s,
                    Some(_) => return Ok(gone(&base, code)),
                    None => return Ok(gone(&base, DeltaResync::ApplyDifferences)),
                },
            };
            let mut items: Vec<(usize, u64, String)> = d
                .items
                .values()
                .filter(|i| {
                    if since == 0 {
                        !i.deleted
                    } else {
                        i.seq > since
                    }
                })
                .map(|i| (depth(d, &i.id), i.seq, i.id.clone()))
                .collect();
            items.sort();
            let ids = items.into_iter().map(|(_, _, id)| id).collect();
            // Page lists are kept for the last 256 enumerations; an older nextLink gets 410 (resync).
            let key = st.delta_next;
            st.delta_next += 1;
            st.delta_pages.insert(key, (d.id.clone(), ids, d.seq));
            while st.delta_pages.len() > 256 {
                st.delta_pages.pop_first();
            }
            (key, 0)
        }
    };
    let Some((_, ids, upto)) = st.delta_pages.get(&snapshot) else {
        return Ok(gone(&base, code));
    };
    let page: Vec<_> = ids
        .iter()
        .skip(offset)
        .take(top)
        .filter_map(|id| d.items.get(id))
        .map(|i| json::item(&shared.root, d, i, false, false))
        .collect();
    let mut out = json!({"value": page});
    if offset + top < ids.len() {
        out["@odata.nextLink"] = json!(format!(
            "{base}?token=p{snapshot}-{}&$top={top}",
            offset + top
        ));
    } else {
        out["@odata.deltaLink"] = json!(format!("{base}?token={upto}"));
    }
    Ok(json_res(200, &out))
}

fn depth(d: &super::tree::Drive, id: &str) -> usize {
    let mut n = 0;
    let mut cur = d.items.get(id).and_then(|i| i.parent.clone());
    while let Some(p) = cur {
        n += 1;
        cur = d.items.get(&p).and_then(|i| i.parent.clone());
    }
    n
}

/// `410 Gone` with a `Location` that starts a fresh enumeration, as documented.
fn gone(base: &str, code: DeltaResync) -> super::server::Res {
    let mut r = ApiError(
        410,
        "resyncRequired",
        Some(code.code()),
        format!("The delta token is no longer valid; start again at {base}."),
    )
    .into_response();
    super::api::add_header(&mut r, "Location", base);
    r
}
