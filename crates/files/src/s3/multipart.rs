//! Multipart upload: the part arithmetic, the five S3 calls (CreateMultipartUpload, UploadPart,
//! ListParts, CompleteMultipartUpload, AbortMultipartUpload) and [`ResumableUpload`] on top of them.
//!
//! The upload id is the whole [`UploadState::token`]: `parts_done` and `complete` ask S3 for the stored
//! parts (ListParts, paged), so after a crash nothing but the id has to come back from the store. A part
//! whose size does not fit the current part size counts as missing and is sent again. Every part is
//! read into memory first (at most one part per upload) so it can carry a `Content-MD5`.

use super::{MAX_PARTS, MTIME_HEADER, S3Connector, content_md5, error, format_mtime, xml};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use ferry_core::file::{FileEntry, FileReader, ResumableUpload, UploadState};
use ferry_core::{Error, ErrorKind, Result};
use reqwest::Method;
use tokio::io::AsyncReadExt;

impl S3Connector {
    /// Number of parts for `size` bytes, and the length of part `number`.
    pub(super) fn part_len(&self, size: u64, number: u32) -> Option<u64> {
        let count = size.div_ceil(self.part_size).max(1);
        let n = u64::from(number);
        if n == 0 || n > count {
            return None;
        }
        Some(if n < count {
            self.part_size
        } else {
            size - (count - 1) * self.part_size
        })
    }

    pub(super) async fn upload_part(
        &self,
        state: &UploadState,
        number: u32,
        data: Bytes,
    ) -> Result<xml::Part> {
        let size = data.len() as u64;
        let query = [
            ("partNumber", number.to_string()),
            ("uploadId", state.token.clone()),
        ];
        let headers = [("content-md5", content_md5(&data))];
        let resp = self
            .send(
                Method::PUT,
                Some(&self.key(&state.path)),
                &query,
                &headers,
                Some(data),
            )
            .await?;
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Protocol,
                    "S3 answered UploadPart without an ETag",
                )
            })?;
        let _ = resp.bytes().await;
        Ok(xml::Part { number, etag, size })
    }

    pub(super) async fn list_parts(&self, state: &UploadState) -> Result<Vec<xml::Part>> {
        let key = self.key(&state.path);
        let mut parts = Vec::new();
        let mut marker: Option<u32> = None;
        loop {
            let mut query = vec![
                ("uploadId", state.token.clone()),
                ("max-parts", "1000".to_owned()),
            ];
            if let Some(m) = marker {
                query.push(("part-number-marker", m.to_string()));
            }
            let resp = self
                .send(Method::GET, Some(&key), &query, &[], None)
                .await?;
            let page = xml::parse_list_parts(&self.body_text(resp).await?)?;
            parts.extend(page.parts);
            match page.next_marker {
                Some(m) if Some(m) != marker => marker = Some(m),
                _ => return Ok(parts),
            }
        }
    }

    pub(super) async fn complete_parts(
        &self,
        state: &UploadState,
        parts: &[xml::Part],
    ) -> Result<()> {
        let count = state.size.div_ceil(self.part_size).max(1);
        let numbers_ok = parts.len() as u64 == count
            && parts
                .iter()
                .enumerate()
                .all(|(i, p)| p.number as usize == i + 1);
        let total: u64 = parts.iter().map(|p| p.size).sum();
        if !numbers_ok || total != state.size {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!(
                    "S3 upload of `{}` is incomplete: {} of {count} parts, {total} of {} bytes",
                    state.path,
                    parts.len(),
                    state.size
                ),
            ));
        }
        let query = [("uploadId", state.token.clone())];
        let body = Bytes::from(xml::complete_body(parts));
        let resp = self
            .send(
                Method::POST,
                Some(&self.key(&state.path)),
                &query,
                &[],
                Some(body),
            )
            .await?;
        // CompleteMultipartUpload can fail after a 200 status, with an <Error> body.
        let text = self.body_text(resp).await?;
        if let Some(err) = xml::parse_error(&text) {
            let status = if err.code == "InternalError" {
                500
            } else {
                400
            };
            return Err(error::map_status(
                status,
                Some(&err),
                None,
                &self.cfg.bucket,
                &state.path,
            ));
        }
        Ok(())
    }

    pub(super) async fn abort_upload(&self, state: &UploadState) -> Result<()> {
        let query = [("uploadId", state.token.clone())];
        match self
            .send(
                Method::DELETE,
                Some(&self.key(&state.path)),
                &query,
                &[],
                None,
            )
            .await
        {
            Ok(resp) => {
                let _ = resp.bytes().await;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn write_multipart(
        &self,
        state: &UploadState,
        data: &mut FileReader,
    ) -> Result<()> {
        let count = state.size.div_ceil(self.part_size).max(1);
        let mut parts = Vec::with_capacity(count.min(MAX_PARTS) as usize);
        for number in 1..=count as u32 {
            let len = self.part_len(state.size, number).unwrap_or(0);
            let chunk = read_exact_part(data, len, state.size).await?;
            parts.push(self.upload_part(state, number, chunk).await?);
        }
        ensure_no_more(data, state.size).await?;
        self.complete_parts(state, &parts).await
    }
}

#[async_trait::async_trait]
impl ResumableUpload for S3Connector {
    fn part_size(&self) -> u64 {
        self.part_size
    }

    async fn begin(
        &self,
        path: &str,
        size: u64,
        mtime: Option<DateTime<Utc>>,
    ) -> Result<UploadState> {
        self.check_writable("begin_upload")?;
        self.check_path(path, "begin_upload")?;
        if size > self.max_file_size() {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("`{path}` has {size} bytes; too large for S3 at this part size"),
            ));
        }
        let mut headers = Vec::new();
        if let Some(t) = mtime {
            headers.push((MTIME_HEADER, format_mtime(t)));
        }
        let resp = self
            .send(
                Method::POST,
                Some(&self.key(path)),
                &[("uploads", String::new())],
                &headers,
                None,
            )
            .await
            .map_err(|e| e.with_operation("begin_upload"))?;
        let token = xml::parse_upload_id(&self.body_text(resp).await?)?;
        Ok(UploadState {
            path: path.to_owned(),
            size,
            token,
        })
    }

    async fn parts_done(&self, state: &UploadState) -> Result<Vec<u32>> {
        let parts = self
            .list_parts(state)
            .await
            .map_err(|e| e.with_operation("parts_done"))?;
        // A part whose size is not what this upload needs (another part size) must be sent again.
        let mut done: Vec<u32> = parts
            .iter()
            .filter(|p| self.part_len(state.size, p.number) == Some(p.size))
            .map(|p| p.number)
            .collect();
        done.sort_unstable();
        done.dedup();
        Ok(done)
    }

    async fn put_part(
        &self,
        state: &UploadState,
        number: u32,
        len: u64,
        mut data: FileReader,
    ) -> Result<()> {
        self.check_writable("put_part")?;
        match self.part_len(state.size, number) {
            Some(expected) if expected == len => {}
            expected => {
                return Err(Error::unexpected(format!(
                    "part {number} of `{}` must have {expected:?} bytes, got {len}",
                    state.path
                ))
                .with_operation("put_part"));
            }
        }
        let chunk = read_exact_part(&mut data, len, len)
            .await
            .map_err(|e| e.with_operation("put_part"))?;
        self.upload_part(state, number, chunk)
            .await
            .map_err(|e| e.with_operation("put_part"))?;
        Ok(())
    }

    async fn complete(&self, state: &UploadState) -> Result<FileEntry> {
        self.check_writable("complete_upload")?;
        let mut parts = self
            .list_parts(state)
            .await
            .map_err(|e| e.with_operation("complete_upload"))?;
        parts.sort_by_key(|p| p.number);
        self.complete_parts(state, &parts)
            .await
            .map_err(|e| e.with_operation("complete_upload"))?;
        self.entry_after_write(&state.path, state.size, None, None)
            .await
    }

    async fn abort(&self, state: &UploadState) -> Result<()> {
        self.check_writable("abort_upload")?;
        self.abort_upload(state)
            .await
            .map_err(|e| e.with_operation("abort_upload"))
    }
}

/// Read exactly `len` bytes (one part) into memory; fewer is an error (the source shrank).
pub(super) async fn read_exact_part(data: &mut FileReader, len: u64, size: u64) -> Result<Bytes> {
    let cap = usize::try_from(len).map_err(|_| Error::unexpected("part larger than memory"))?;
    let mut buf = Vec::with_capacity(cap);
    data.take(len).read_to_end(&mut buf).await?;
    if (buf.len() as u64) < len {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "the source ended early: expected {size} bytes (it changed while being copied?)"
            ),
        ));
    }
    Ok(Bytes::from(buf))
}

/// After `size` bytes the source must be at its end.
pub(super) async fn ensure_no_more(data: &mut FileReader, size: u64) -> Result<()> {
    let mut probe = [0u8; 1];
    if data.read(&mut probe).await? > 0 {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "the source has more than the expected {size} bytes (it changed while being copied?)"
            ),
        ));
    }
    Ok(())
}
