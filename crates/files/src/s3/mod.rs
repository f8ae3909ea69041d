//! S3 (and S3-compatible servers) as a file source and target: our own small REST client on `reqwest`.
//!
//! # Why not a library
//! Resuming a multi-GB upload after `kill -9` needs the raw multipart calls (CreateMultipartUpload,
//! UploadPart, ListParts, CompleteMultipartUpload) with the upload id kept in Ferry's store; generic
//! object-store layers hide them. The client is five requests plus a SigV4 signer ([`sign`], tested
//! against the published AWS examples) and an XML reader ([`xml`]).
//!
//! # Mapping files onto keys
//! - A file `a/b.txt` is the object `prefix/a/b.txt`. Addressing is path-style (`endpoint/bucket/key`)
//!   when [`S3Config::path_style`], else virtual-hosted (`bucket.endpoint/key`).
//! - Folders are implicit: `list` uses ListObjectsV2 with `delimiter=/` and reports `CommonPrefixes` as
//!   folders, a page at a time (`paged_list`). `create_dir` writes a zero-byte marker object `dir/` (what
//!   the AWS console does), so an empty folder survives a migration; markers never show up as files. A
//!   listing of a folder with no objects and no marker is `NotFound`.
//! - Listings are requested with `encoding-type=url`, so TABs, newlines and CRs in names survive the XML.
//!
//! # Modification times and hashes (the delta trade-off)
//! S3's `LastModified` is the upload time and cannot be set. `write` therefore stores the source mtime
//! in user metadata `x-amz-meta-mtime` (Unix seconds with nanoseconds, `1700000000.123456789`, the format
//! rclone uses too) and `stat` (HEAD) reports it, falling back to `LastModified` for objects without it.
//! ListObjectsV2 cannot return user metadata, so to report the same mtime `list` HEADs every listed file
//! (16 at a time) — as rclone does when it needs modification times. That costs one request per file;
//! [`S3Connector::with_list_mtime_from_metadata`]`(false)` turns it off (rclone's
//! `--use-server-modtime`) for sources whose objects were not written with an mtime: listings then
//! report `LastModified`, which still changes whenever an object is replaced, so delta passes work; but
//! the listed mtime of a Ferry-written object is then its upload time, not the source's.
//!
//! The ETag is an MD5 only for single-part uploads, and a streamed upload cannot know its whole-file
//! hash before it starts, so the capability declares no hash (`hash: None`). Integrity on the wire is
//! still checked: every PUT and every part carries `Content-MD5`, which S3 verifies.
//!
//! # Writes
//! Files up to one part (default 8 MiB, [`S3Connector::with_part_size`]) go in one PutObject; larger
//! ones use multipart upload. At most one part is held in memory at a time, whatever the file size.
//! Objects appear only when complete (`atomic_write`), a failed `write` aborts its multipart upload, and
//! [`ResumableUpload`] exposes the parts so the engine can resume after a crash: the upload id is the
//! [`UploadState::token`](ferry_core::file::UploadState::token), `parts_done` asks S3 (ListParts), so nothing but the id needs to be stored.
//! S3 allows 10,000 parts, so the largest file is 10,000 × the part size (78 GiB at 8 MiB), declared in
//! `max_file_size`.
//!
//! Requests are signed with `x-amz-content-sha256: UNSIGNED-PAYLOAD` (integrity comes from
//! `Content-MD5`); requests without credentials go unsigned (public buckets).

mod error;
mod multipart;

use multipart::{ensure_no_more, read_exact_part};
pub mod sign;
pub mod xml;

use crate::config::S3Config;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use ferry_core::file::{
    EntryKind, FileCapability, FileConnector, FileEntry, FileReader, ListPage, ResumableUpload,
    normalize_etag,
};
use ferry_core::mail::Access;
use ferry_core::{Error, ErrorKind, Result};
use futures_util::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use reqwest::Method;

/// Default part size for multipart uploads (and the largest file sent in one PutObject).
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// S3's most parts per upload.
pub const MAX_PARTS: u64 = 10_000;
/// S3's largest object.
pub const MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// The user-metadata header that carries the source mtime.
const MTIME_HEADER: &str = "x-amz-meta-mtime";
/// HEADs in flight when listing with metadata mtimes.
const LIST_HEAD_CONCURRENCY: usize = 16;

/// An S3 bucket (and key prefix) as a [`FileConnector`]. See the module docs.
pub struct S3Connector {
    cfg: S3Config,
    access: Access,
    http: reqwest::Client,
    /// `scheme://host[:port]` requests go to.
    origin: String,
    /// The `Host` header value (as reqwest sends it, port only when not the default).
    host: String,
    /// Encoded path of the bucket itself: `/bucket` (path-style) or `` (virtual-hosted).
    bucket_path: String,
    /// `prefix/` or `` — prepended to every relative path.
    key_prefix: String,
    part_size: u64,
    list_page_size: u32,
    list_mtime_from_metadata: bool,
}

impl std::fmt::Debug for S3Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config redacts its secret key itself.
        f.debug_struct("S3Connector")
            .field("cfg", &self.cfg)
            .field("access", &self.access)
            .field("part_size", &self.part_size)
            .finish_non_exhaustive()
    }
}

/// What a HEAD told us.
struct Head {
    size: u64,
    mtime: Option<DateTime<Utc>>,
    etag: Option<String>,
}

impl S3Connector {
    /// A connector for `cfg`; no request is made until the first call.
    pub fn new(cfg: S3Config, access: Access) -> Result<S3Connector> {
        if cfg.bucket.is_empty() {
            return Err(Error::config(
                "S3 bucket is empty: write s3://BUCKET/prefix",
            ));
        }
        if cfg.region.is_empty() {
            return Err(Error::config(
                "S3 region is empty: pass e.g. region=us-east-1",
            ));
        }
        if cfg.access_key.is_some() != cfg.secret_key.is_some() {
            return Err(Error::config(
                "S3 needs both access_key and secret_key, or neither (anonymous access)",
            ));
        }
        let endpoint = match &cfg.endpoint {
            Some(e) => e.clone(),
            None => url::Url::parse(&format!("https://s3.{}.amazonaws.com", cfg.region)).map_err(
                |e| {
                    Error::config(format!(
                        "S3 region `{}` makes no valid host: {e}",
                        cfg.region
                    ))
                },
            )?,
        };
        let endpoint_host = endpoint
            .host_str()
            .ok_or_else(|| Error::config(format!("S3 endpoint `{endpoint}` has no host")))?;
        let host_only = if cfg.path_style {
            endpoint_host.to_owned()
        } else {
            format!("{}.{endpoint_host}", cfg.bucket)
        };
        let host = match endpoint.port() {
            Some(p) => format!("{host_only}:{p}"),
            None => host_only,
        };
        let origin = format!("{}://{host}", endpoint.scheme());
        // Path-style endpoints may carry a path of their own (`http://gw/s3`).
        let base_path = endpoint.path().trim_end_matches('/');
        let bucket_path = if cfg.path_style {
            format!("{base_path}/{}", sign::uri_encode(&cfg.bucket))
        } else {
            base_path.to_owned()
        };
        let key_prefix = match cfg.prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.timeout)
            .read_timeout(cfg.timeout)
            .build()
            .map_err(|e| Error::unexpected("cannot build the HTTP client for S3").with_source(e))?;
        Ok(S3Connector {
            cfg,
            access,
            http,
            origin,
            host,
            bucket_path,
            key_prefix,
            part_size: DEFAULT_PART_SIZE,
            list_page_size: 1000,
            list_mtime_from_metadata: true,
        })
    }

    /// Use `bytes` as the multipart part size (5 MiB to 5 GiB); files up to this size go in one PUT.
    pub fn with_part_size(mut self, bytes: u64) -> Result<Self> {
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&bytes) {
            return Err(Error::config(format!(
                "S3 part size {bytes} is outside S3's limits ({MIN_PART_SIZE} to {MAX_PART_SIZE} bytes)"
            )));
        }
        self.part_size = bytes;
        Ok(self)
    }

    /// Ask for at most `n` entries per listing page (1 to 1000; default 1000).
    pub fn with_list_page_size(mut self, n: u32) -> Result<Self> {
        if !(1..=1000).contains(&n) {
            return Err(Error::config(format!(
                "S3 list page size {n} is outside 1..=1000"
            )));
        }
        self.list_page_size = n;
        Ok(self)
    }

    /// Whether listings report the stored source mtime (one HEAD per listed file; the default) or S3's
    /// `LastModified` (no extra request). See the module docs.
    pub fn with_list_mtime_from_metadata(mut self, on: bool) -> Self {
        self.list_mtime_from_metadata = on;
        self
    }

    fn check_writable(&self, op: &'static str) -> Result<()> {
        match self.access {
            Access::ReadWrite => Ok(()),
            Access::ReadOnly => Err(Error::unsupported(format!(
                "{} is opened read-only (a source is never changed)",
                self.cfg.describe()
            ))
            .with_operation(op)),
        }
    }

    fn key(&self, path: &str) -> String {
        format!("{}{path}", self.key_prefix)
    }

    fn dir_prefix(&self, dir: &str) -> String {
        if dir.is_empty() {
            self.key_prefix.clone()
        } else {
            format!("{}{dir}/", self.key_prefix)
        }
    }

    fn rel<'k>(&self, key: &'k str) -> &'k str {
        key.strip_prefix(self.key_prefix.as_str()).unwrap_or(key)
    }

    fn max_file_size(&self) -> u64 {
        (self.part_size * MAX_PARTS).min(MAX_OBJECT_SIZE)
    }

    /// Send one signed request and map any failure. `key` is the full object key (`None` for the bucket).
    async fn send(
        &self,
        method: Method,
        key: Option<&str>,
        query: &[(&str, String)],
        headers: &[(&'static str, String)],
        body: Option<Bytes>,
    ) -> Result<reqwest::Response> {
        let path = match key {
            Some(k) => format!("{}/{}", self.bucket_path, sign::uri_encode_path(k)),
            None if self.bucket_path.is_empty() => "/".to_owned(),
            None => self.bucket_path.clone(),
        };
        let query_string = sign::canonical_query(query);
        let url = if query_string.is_empty() {
            format!("{}{path}", self.origin)
        } else {
            format!("{}{path}?{query_string}", self.origin)
        };
        let mut req = self.http.request(method.clone(), &url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req = req.header("x-amz-content-sha256", sign::UNSIGNED_PAYLOAD);
        if let (Some(access_key), Some(secret)) = (&self.cfg.access_key, &self.cfg.secret_key) {
            let mut signed_headers: Vec<(&str, String)> = headers.to_vec();
            signed_headers.push(("host", self.host.clone()));
            signed_headers.push(("x-amz-content-sha256", sign::UNSIGNED_PAYLOAD.to_owned()));
            let creds = sign::Credentials {
                access_key,
                secret_key: secret.expose(),
                region: &self.cfg.region,
            };
            let request = sign::Request {
                method: method.as_str(),
                path: &path,
                query,
                headers: &signed_headers,
                payload_sha256: sign::UNSIGNED_PAYLOAD,
            };
            let signed = sign::sign(&creds, &request, Utc::now());
            req = req
                .header("x-amz-date", signed.amz_date)
                .header("authorization", signed.authorization);
        }
        if let Some(b) = body {
            req = req.body(b);
        } else if method == Method::PUT || method == Method::POST {
            req = req.header("content-length", "0");
        }
        let resp = req
            .send()
            .await
            .map_err(|e| error::map_transport(e, &self.cfg.bucket))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // The error document is small; a failure to read it only loses detail.
        let text = resp.text().await.unwrap_or_default();
        let body = xml::parse_error(&text);
        let shown_key = key.map(|k| self.rel(k)).unwrap_or("");
        Err(error::map_status(
            status,
            body.as_ref(),
            retry_after.as_deref(),
            &self.cfg.bucket,
            shown_key,
        ))
    }

    async fn body_text(&self, resp: reqwest::Response) -> Result<String> {
        resp.text()
            .await
            .map_err(|e| error::map_transport(e, &self.cfg.bucket))
    }

    async fn head(&self, key: &str) -> Result<Option<Head>> {
        match self.send(Method::HEAD, Some(key), &[], &[], None).await {
            Ok(resp) => {
                let h = resp.headers();
                let size = h
                    .get("content-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let meta = h
                    .get(MTIME_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_mtime);
                let last_modified = h
                    .get("last-modified")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
                    .map(|t| t.with_timezone(&Utc));
                let etag = h
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .and_then(normalize_etag);
                Ok(Some(Head {
                    size,
                    mtime: meta.or(last_modified),
                    etag,
                }))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_objects(
        &self,
        prefix: &str,
        delimiter: bool,
        max_keys: u32,
        token: Option<String>,
    ) -> Result<xml::ListObjectsPage> {
        let mut query = vec![
            ("list-type", "2".to_owned()),
            ("prefix", prefix.to_owned()),
            ("max-keys", max_keys.to_string()),
            ("encoding-type", "url".to_owned()),
        ];
        if delimiter {
            query.push(("delimiter", "/".to_owned()));
        }
        if let Some(t) = token {
            query.push(("continuation-token", t));
        }
        let resp = self.send(Method::GET, None, &query, &[], None).await?;
        xml::parse_list_objects(&self.body_text(resp).await?, true)
    }

    /// Put a whole object; its ETag as S3 answered it.
    async fn put_object(
        &self,
        key: &str,
        data: Bytes,
        mtime: Option<DateTime<Utc>>,
    ) -> Result<Option<String>> {
        let mut headers = vec![("content-md5", content_md5(&data))];
        if let Some(t) = mtime {
            headers.push((MTIME_HEADER, format_mtime(t)));
        }
        let resp = self
            .send(Method::PUT, Some(key), &[], &headers, Some(data))
            .await?;
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .and_then(normalize_etag);
        let _ = resp.bytes().await;
        Ok(etag)
    }

    async fn entry_after_write(
        &self,
        path: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
        etag: Option<String>,
    ) -> Result<FileEntry> {
        // The write's own answer when it has both; a HEAD otherwise (multipart uploads, no mtime given).
        let (mtime, etag) = match (mtime, etag) {
            (Some(t), Some(e)) => (Some(t), Some(e)),
            (mtime, etag) => {
                let h = self.head(&self.key(path)).await?;
                (
                    mtime.or(h.as_ref().and_then(|h| h.mtime)),
                    etag.or(h.and_then(|h| h.etag)),
                )
            }
        };
        Ok(FileEntry {
            created: None,
            path: path.to_owned(),
            kind: EntryKind::File,
            size,
            mtime,
            hash: None,
            etag,
        })
    }

    fn check_path(&self, path: &str, op: &'static str) -> Result<()> {
        if path.is_empty() || path.starts_with('/') || path.ends_with('/') || path.contains("//") {
            return Err(
                Error::new(ErrorKind::Rejected, format!("`{path}` is not a file path"))
                    .with_operation(op),
            );
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl FileConnector for S3Connector {
    fn capability(&self) -> FileCapability {
        let write = self.access == Access::ReadWrite;
        FileCapability {
            write,
            paged_list: true,
            set_mtime: write,
            hash: None,
            atomic_write: write,
            resumable_write: write,
            max_file_size: Some(self.max_file_size()),
            etag: true,
        }
    }

    fn describe(&self) -> String {
        self.cfg.describe()
    }

    async fn list(&self, dir: &str, token: Option<String>) -> Result<ListPage> {
        let prefix = self.dir_prefix(dir);
        let first_page = token.is_none();
        let page = self
            .list_objects(&prefix, true, self.list_page_size, token)
            .await
            .map_err(|e| e.with_operation("list"))?;
        if first_page
            && !dir.is_empty()
            && page.objects.is_empty()
            && page.common_prefixes.is_empty()
        {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("folder `{dir}` does not exist"),
            )
            .with_operation("list"));
        }
        let mut entries = Vec::with_capacity(page.objects.len() + page.common_prefixes.len());
        for p in &page.common_prefixes {
            let rel = self.rel(p).trim_end_matches('/');
            if !rel.is_empty() {
                entries.push(FileEntry {
                    created: None,
                    path: rel.to_owned(),
                    kind: EntryKind::Dir,
                    size: 0,
                    mtime: None,
                    hash: None,
                    etag: None,
                });
            }
        }
        let files: Vec<_> = page
            .objects
            .into_iter()
            // The folder's own marker, and markers of other tools, are not files.
            .filter(|o| o.key != prefix && !o.key.ends_with('/'))
            .collect();
        if self.list_mtime_from_metadata {
            // Boxed so the borrow of `self` in each future has one concrete lifetime (async-trait needs
            // the whole future to be `Send` for any lifetime).
            type HeadFuture<'a> = std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<Option<Head>>> + Send + 'a>,
            >;
            let futures: Vec<HeadFuture<'_>> = files
                .iter()
                .map(|o| Box::pin(self.head(&o.key)) as HeadFuture<'_>)
                .collect();
            let heads: Vec<Option<Head>> = futures_util::stream::iter(futures)
                .buffered(LIST_HEAD_CONCURRENCY)
                .try_collect()
                .await
                .map_err(|e| e.with_operation("list"))?;
            for (o, h) in files.iter().zip(heads) {
                let mtime = h.and_then(|h| h.mtime).or(o.last_modified);
                entries.push(FileEntry {
                    created: None,
                    path: self.rel(&o.key).to_owned(),
                    kind: EntryKind::File,
                    size: o.size,
                    mtime,
                    hash: None,
                    etag: normalize_etag(&o.etag),
                });
            }
        } else {
            for o in files {
                entries.push(FileEntry {
                    created: None,
                    path: self.rel(&o.key).to_owned(),
                    kind: EntryKind::File,
                    size: o.size,
                    mtime: o.last_modified,
                    hash: None,
                    etag: normalize_etag(&o.etag),
                });
            }
        }
        Ok(ListPage {
            entries,
            next: page.next_continuation_token,
        })
    }

    async fn stat(&self, path: &str) -> Result<Option<FileEntry>> {
        let dir_entry = || FileEntry {
            created: None,
            path: path.to_owned(),
            kind: EntryKind::Dir,
            size: 0,
            mtime: None,
            hash: None,
            etag: None,
        };
        if path.is_empty() {
            return Ok(Some(dir_entry()));
        }
        if let Some(h) = self
            .head(&self.key(path))
            .await
            .map_err(|e| e.with_operation("stat"))?
        {
            return Ok(Some(FileEntry {
                created: None,
                path: path.to_owned(),
                kind: EntryKind::File,
                size: h.size,
                mtime: h.mtime,
                hash: None,
                etag: h.etag,
            }));
        }
        // Not an object: a folder if anything lives under it (its marker included).
        let page = self
            .list_objects(&self.dir_prefix(path), false, 1, None)
            .await
            .map_err(|e| e.with_operation("stat"))?;
        Ok((!page.objects.is_empty()).then(dir_entry))
    }

    async fn is_empty_dir(&self, dir: &str) -> Result<bool> {
        // One key is enough to know, and no HEAD per object as a listing page makes.
        let page = self
            .list_objects(&self.dir_prefix(dir), false, 1, None)
            .await
            .map_err(|e| e.with_operation("list"))?;
        Ok(page.objects.is_empty())
    }

    async fn read(&self, path: &str) -> Result<FileReader> {
        let resp = self
            .send(Method::GET, Some(&self.key(path)), &[], &[], None)
            .await
            .map_err(|e| e.with_operation("read"))?;
        let stream = resp.bytes_stream().map_err(std::io::Error::other);
        Ok(Box::new(tokio_util::io::StreamReader::new(Box::pin(
            stream,
        ))))
    }

    async fn create_dir(&self, path: &str) -> Result<()> {
        self.check_writable("create_dir")?;
        if path.is_empty() {
            return Ok(());
        }
        let marker = self.dir_prefix(path);
        let resp = self
            .send(Method::PUT, Some(&marker), &[], &[], Some(Bytes::new()))
            .await
            .map_err(|e| e.with_operation("create_dir"))?;
        let _ = resp.bytes().await;
        Ok(())
    }

    async fn write(
        &self,
        path: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
        mut data: FileReader,
    ) -> Result<FileEntry> {
        self.check_writable("write")?;
        self.check_path(path, "write")?;
        if size > self.max_file_size() {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "`{path}` has {size} bytes; this S3 target takes at most {}",
                    self.max_file_size()
                ),
            )
            .with_operation("write"));
        }
        let mut etag = None;
        if size <= self.part_size {
            let body = read_exact_part(&mut data, size, size)
                .await
                .map_err(|e| e.with_operation("write"))?;
            ensure_no_more(&mut data, size)
                .await
                .map_err(|e| e.with_operation("write"))?;
            etag = self
                .put_object(&self.key(path), body, mtime)
                .await
                .map_err(|e| e.with_operation("write"))?;
        } else {
            let state = self
                .begin(path, size, mtime)
                .await
                .map_err(|e| e.with_operation("write"))?;
            if let Err(e) = self.write_multipart(&state, &mut data).await {
                if let Err(abort) = self.abort_upload(&state).await {
                    tracing::warn!(path, error = %abort, "could not abort the failed S3 multipart upload");
                }
                return Err(e.with_operation("write"));
            }
        }
        self.entry_after_write(path, size, mtime, etag).await
    }

    fn resumable(&self) -> Option<&dyn ResumableUpload> {
        (self.access == Access::ReadWrite).then_some(self as &dyn ResumableUpload)
    }
}

fn content_md5(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

/// `1700000000.123456789` (seconds may be negative; the fraction never is).
fn format_mtime(t: DateTime<Utc>) -> String {
    format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos())
}

/// Inverse of [`format_mtime`]; also takes plain seconds and other tools' shorter fractions.
fn parse_mtime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Utc.timestamp_opt(secs, nanos).single()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::S3Config;

    #[test]
    fn mtime_metadata_round_trips_to_the_nanosecond() {
        let t = Utc
            .timestamp_opt(1_700_000_000, 123_456_789)
            .single()
            .expect("valid");
        assert_eq!(format_mtime(t), "1700000000.123456789");
        assert_eq!(parse_mtime(&format_mtime(t)), Some(t));
        assert_eq!(
            parse_mtime("1700000000.5").map(|t| t.timestamp_subsec_millis()),
            Some(500)
        );
        assert_eq!(
            parse_mtime("1700000000").map(|t| t.timestamp()),
            Some(1_700_000_000)
        );
        let old = Utc.timestamp_opt(-5, 250_000_000).single().expect("valid");
        assert_eq!(parse_mtime(&format_mtime(old)), Some(old));
        assert_eq!(parse_mtime("x.1"), None);
    }

    #[test]
    fn parts_cover_the_file_exactly() {
        let c = S3Connector::new(S3Config::new("b", "p"), Access::ReadWrite)
            .and_then(|c| c.with_part_size(MIN_PART_SIZE))
            .expect("valid config");
        let size = 2 * MIN_PART_SIZE + 7;
        assert_eq!(c.part_len(size, 1), Some(MIN_PART_SIZE));
        assert_eq!(c.part_len(size, 3), Some(7));
        assert_eq!(c.part_len(size, 4), None);
        assert_eq!(c.part_len(size, 0), None);
        assert_eq!(c.part_len(2 * MIN_PART_SIZE, 2), Some(MIN_PART_SIZE));
        assert_eq!(c.max_file_size(), MIN_PART_SIZE * MAX_PARTS);
    }

    #[test]
    fn addressing_follows_path_style_and_prefix() {
        let cfg = S3Config::new("bkt", "/some/prefix/")
            .with_endpoint("http://127.0.0.1:9000")
            .expect("url");
        let c = S3Connector::new(cfg, Access::ReadOnly).expect("valid");
        assert_eq!(
            (c.origin.as_str(), c.bucket_path.as_str()),
            ("http://127.0.0.1:9000", "/bkt")
        );
        assert_eq!(c.key("a b.txt"), "some/prefix/a b.txt");
        assert_eq!(c.dir_prefix(""), "some/prefix/");
        assert_eq!(c.rel("some/prefix/x/y"), "x/y");
        let c = S3Connector::new(S3Config::new("bkt", ""), Access::ReadOnly).expect("valid");
        assert_eq!(c.host, "bkt.s3.us-east-1.amazonaws.com");
        assert_eq!(c.bucket_path, "");
        assert_eq!(c.key("a"), "a");
    }

    #[test]
    fn half_a_key_pair_is_a_config_error() {
        let mut cfg = S3Config::new("b", "");
        cfg.access_key = Some("AK".into());
        let err = S3Connector::new(cfg, Access::ReadOnly).expect_err("must fail");
        assert_eq!(err.kind(), ErrorKind::Config);
    }
}
