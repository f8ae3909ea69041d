//! The drive's change feed (Graph's `driveItem: delta`), for passes after the first: what changed on the
//! target since the last pass, without listing the tree.
//!
//! From the documentation (learn.microsoft.com/graph/api/driveitem-delta): `GET /drives/{id}/root/delta`
//! with `?token=latest` answers no items and an `@odata.deltaLink` for "from now on"; calling a deltaLink
//! answers the items changed since, in pages chained by `@odata.nextLink`, the last one carrying the next
//! `@odata.deltaLink`. Deleted items carry the `deleted` facet. Items in a delta answer carry no
//! `parentReference.path`, so the path of a changed file is read with one `GET /drives/{id}/items/{id}`
//! (a handful of requests for a handful of edits).
//!
//! A token the service no longer keeps answers `410 Gone` with `resyncChangesApplyDifferences` or
//! `resyncChangesUploadDifferences` and a `Location` that enumerates the whole drive again, after which
//! the page asks the client to compare that enumeration with its own state. Ferry's state is the
//! journal, and the mapping's part of the drive is what it compares: so on a `410` the feed is not
//! followed any further (neither the stale link nor the Location's whole-drive enumeration), the answer
//! says `resync`, and the pass compares every file with a listing of its target folder against the
//! journal; both codes get that same answer, since Ferry never overwrites a file changed on the
//! target either way. The pass stores a new link when it ends cleanly. More changed files than
//! [`GraphConfig::max_changes`](super::GraphConfig::max_changes) (default [`MAX_CHANGES`]) get the same
//! answer.
//!
//! The link a pass keeps is the one it read before writing anything, so the next pass sees edits made on
//! the target while it ran, and Ferry's own writes too: those are left out by their `eTag` (the page
//! documents it as the item's identity and version; Ferry's journal records the one the service reported
//! right after each write), before any `GET`. A later edit of the same file gives it another `eTag`, so
//! it is still reported.
//!
//! Links are followed only on Graph's own origin (a hostile answer cannot steer the token elsewhere).

use super::GraphConnector;
use super::client::Req;
use super::item::{DriveItem, ItemPage};
use ferry_core::file::{ChangeFeed, EntryKind, FileEntry, OwnWrites, normalize_etag};
use ferry_core::{Error, ErrorKind, Result};
use percent_encoding::percent_decode_str;
use reqwest::{Method, StatusCode};

/// More changed files than this since the last pass: the feed says "compare by listing" instead (memory
/// stays bounded, and so many edits are cheaper to find by listing their folders).
pub const MAX_CHANGES: usize = 5_000;

pub use ferry_core::file::TargetChanges;

#[async_trait::async_trait]
impl ChangeFeed for GraphConnector {
    async fn changes_since(&self, link: &str, own: &dyn OwnWrites) -> Result<TargetChanges> {
        self.feed(Some(link), Some(own)).await
    }

    async fn latest(&self) -> Result<String> {
        Ok(self.start_feed().await?.delta_link)
    }
}

impl GraphConnector {
    /// The changes on the target since `link` (the `delta_link` of an earlier call), and the link for the
    /// next time. Without a link, or when the link is no longer valid, starts a new feed and answers
    /// `resync`. Errors name the target.
    pub async fn target_changes(&self, link: Option<&str>) -> Result<TargetChanges> {
        self.feed(link, None).await
    }

    /// [`Self::target_changes`], leaving out the files whose eTag `own` recognises as Ferry's own writes
    /// (before the one `GET` each changed file costs).
    async fn feed(&self, link: Option<&str>, own: Option<&dyn OwnWrites>) -> Result<TargetChanges> {
        let Some(link) = link else {
            return self.start_feed().await;
        };
        let what = format!("read the change feed of {}", self.cfg.describe());
        let mut url = link.to_owned();
        let mut items: Vec<DriveItem> = Vec::new();
        let mut deleted = 0u64;
        loop {
            if !self.graph.same_origin(&url) {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("{what}: the link points to another server than Graph's; not followed"),
                )
                .with_context("side", "target")
                .permanent());
            }
            let a = self.graph.send(&Req::new(Method::GET, url), &what).await?;
            if a.status == StatusCode::GONE {
                tracing::info!(
                    target_endpoint = %self.cfg.describe(),
                    code = %resync_code(&a.body),
                    "the drive's change feed expired (410 Gone); this pass compares by listing"
                );
                return self.start_feed().await;
            }
            if !a.status.is_success() {
                return Err(a.error(&what).with_context("side", "target"));
            }
            let page: ItemPage = a.json(&what)?;
            for i in page.value {
                if i.deleted.is_some() {
                    deleted += 1;
                } else if i.kind() == EntryKind::File {
                    items.push(i);
                }
            }
            if items.len() > self.cfg.max_changes {
                return self.start_feed().await;
            }
            match (page.next_link, page.delta_link) {
                (Some(next), _) => url = next,
                (None, Some(delta_link)) => {
                    if let Some(own) = own {
                        items = leave_out_own(items, own).await?;
                    }
                    let changed = self.locate(items).await?;
                    return Ok(TargetChanges {
                        changed,
                        deleted,
                        delta_link,
                        resync: false,
                    });
                }
                (None, None) => {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        format!("{what}: a page with neither @odata.nextLink nor @odata.deltaLink"),
                    )
                    .with_context("side", "target")
                    .permanent());
                }
            }
        }
    }

    /// A new feed from now on (`?token=latest`): one request, no items.
    async fn start_feed(&self) -> Result<TargetChanges> {
        let what = format!("start the change feed of {}", self.cfg.describe());
        let url = format!(
            "{}/drives/{}/root/delta?token=latest",
            self.graph.base,
            super::enc(&self.drive.id)
        );
        let a = self.graph.send(&Req::new(Method::GET, url), &what).await?;
        if !a.status.is_success() {
            return Err(a.error(&what).with_context("side", "target"));
        }
        let page: ItemPage = a.json(&what)?;
        let delta_link = page.delta_link.ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!("{what}: Graph's answer has no @odata.deltaLink"),
            )
            .with_context("side", "target")
            .permanent()
        })?;
        Ok(TargetChanges {
            delta_link,
            resync: true,
            ..TargetChanges::default()
        })
    }

    /// The paths of changed files (one `GET` each: delta answers carry no path). Files outside the
    /// connector's root, and files gone again since, are left out.
    async fn locate(&self, items: Vec<DriveItem>) -> Result<Vec<FileEntry>> {
        let mut out = Vec::with_capacity(items.len());
        for i in items {
            let what = format!("GET item {} of {}", i.id, self.cfg.describe());
            let url = format!(
                "{}/drives/{}/items/{}",
                self.graph.base,
                super::enc(&self.drive.id),
                super::enc(&i.id)
            );
            let a = self.graph.send(&Req::new(Method::GET, url), &what).await?;
            if a.status == StatusCode::NOT_FOUND {
                continue;
            }
            if !a.status.is_success() {
                return Err(a.error(&what).with_context("side", "target"));
            }
            let now: DriveItem = a.json(&what)?;
            let Some(parent) = now
                .parent_reference
                .as_ref()
                .and_then(|p| p.path.as_deref())
                .and_then(|p| p.split_once("root:").map(|(_, rest)| rest))
            else {
                continue;
            };
            let parent = percent_decode_str(parent).decode_utf8_lossy();
            let full = format!("{}/{}", parent.trim_matches('/'), now.name);
            let full = full.trim_start_matches('/');
            let root = self.cfg.path.trim_matches('/');
            let rel = if root.is_empty() {
                Some(full)
            } else {
                full.strip_prefix(root).and_then(|r| r.strip_prefix('/'))
            };
            if let Some(rel) = rel {
                out.push(now.entry(rel.to_owned()));
            }
        }
        Ok(out)
    }
}

/// The changed files without Ferry's own writes: an item whose eTag (identity and version of a driveItem)
/// is the one the journal recorded when Ferry wrote it was not changed since. An item without an eTag
/// stays in (it is compared with the target like any edit).
async fn leave_out_own(items: Vec<DriveItem>, own: &dyn OwnWrites) -> Result<Vec<DriveItem>> {
    let tag = |i: &DriveItem| i.etag.as_deref().and_then(normalize_etag);
    let tags: Vec<String> = items.iter().filter_map(tag).collect();
    if tags.is_empty() {
        return Ok(items);
    }
    let ours = own.own(&tags).await?;
    Ok(items
        .into_iter()
        .filter(|i| tag(i).is_none_or(|t| !ours.contains(&t)))
        .collect())
}

/// The detailed code of a `410 Gone` (`resyncChangesApplyDifferences`, `resyncChangesUploadDifferences`),
/// or its top-level code, for the log.
fn resync_code(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let e = &v["error"];
    e["innerError"]["code"]
        .as_str()
        .or_else(|| e["code"].as_str())
        .unwrap_or("none given")
        .chars()
        .take(80)
        .collect()
}
