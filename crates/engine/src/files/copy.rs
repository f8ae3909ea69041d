//! Copying what a scan decided: one file at a time through a reader and a writer (with retries), large
//! files through the target's resumable upload when it has one, and local → local in batches.
//!
//! Local batches (both connectors offer [`ferry_core::file::LocalFiles`]): a directory's files go to the
//! target in groups of at most [`BATCH_FILES`] files and [`BATCH_BYTES`] bytes (a larger file alone),
//! each group one task, one permit and one blocking task in the target. A tree of small files is bound
//! by per-file overhead, and a task plus two thread hops per file cost more than a 10 KB copy. A file
//! that fails in a batch with a temporary error is copied again the ordinary way, with retries.

use super::journal::Durable;
use super::pass::PassCtx;
use super::scan::ToCopy;
use super::stamp;
use crate::retry;
use crate::retry::RetryPolicy;
use ferry_core::file::{FileConnector, FileEntry, FileReader, LocalFile, UploadState};
use ferry_core::id::MappingId;
use ferry_core::{Error, ErrorKind, Result};
use ferry_store::{FileStore, SavedUpload};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

/// Files in one local batch, at most.
pub(super) const BATCH_FILES: usize = 64;
/// Bytes in one local batch, at most (a larger file is a batch of its own).
pub(super) const BATCH_BYTES: u64 = 8 * 1024 * 1024;

/// A file copied, or not.
pub(super) struct CopyDone {
    pub copy: ToCopy,
    pub result: Result<FileEntry>,
}

/// Split a directory's copies into the units one task copies: local batches, or single files.
pub(super) fn units(to_copy: Vec<ToCopy>, local: bool) -> Vec<Vec<ToCopy>> {
    if !local {
        return to_copy.into_iter().map(|c| vec![c]).collect();
    }
    let mut units: Vec<Vec<ToCopy>> = Vec::new();
    let mut bytes = 0u64;
    for c in to_copy {
        let size = c.source.size;
        match units.last_mut() {
            Some(u) if u.len() < BATCH_FILES && bytes.saturating_add(size) <= BATCH_BYTES => {
                bytes += size;
                u.push(c);
            }
            _ => {
                bytes = size;
                units.push(vec![c]);
            }
        }
    }
    units
}

/// Copy one unit from [`units`], once its pending rows are committed.
pub(super) async fn copy_unit(
    ctx: &PassCtx,
    unit: Vec<ToCopy>,
    durable: Durable,
    local: bool,
    big: Arc<Semaphore>,
) -> Vec<CopyDone> {
    if let Err(e) = durable.wait().await {
        let reason = e.to_string();
        return unit
            .into_iter()
            .map(|copy| CopyDone {
                copy,
                result: Err(Error::new(ErrorKind::Store, reason.clone())),
            })
            .collect();
    }
    if local {
        return local_batch(ctx, unit).await;
    }
    let mut out = Vec::with_capacity(unit.len());
    for c in unit {
        let result = copy_file(ctx, &c.source, &c.target_path, big.clone()).await;
        out.push(CopyDone { copy: c, result });
    }
    out
}

/// Copy files source → target through the target's local copy, all in one go.
async fn local_batch(ctx: &PassCtx, unit: Vec<ToCopy>) -> Vec<CopyDone> {
    let (Some(src), Some(tgt)) = (ctx.src.local(), ctx.tgt.local()) else {
        let e = || Error::unexpected("a local batch over a connector that is not local");
        return unit
            .into_iter()
            .map(|copy| CopyDone {
                copy,
                result: Err(e()),
            })
            .collect();
    };
    // A source path the connector refuses is that file's error; the others go to the target together.
    let mut early: Vec<Option<Error>> = Vec::with_capacity(unit.len());
    let mut files = Vec::with_capacity(unit.len());
    for c in &unit {
        match src.local_path(&c.source.path) {
            Ok(from) => {
                files.push(LocalFile {
                    from,
                    path: c.target_path.clone(),
                    size: c.source.size,
                    mtime: c.source.mtime,
                });
                early.push(None);
            }
            Err(e) => early.push(Some(e)),
        }
    }
    let mut copied = tgt.copy_in(files).await.into_iter();
    let mut out = Vec::with_capacity(unit.len());
    for (copy, early) in unit.into_iter().zip(early) {
        let mut result = match early {
            Some(e) => Err(e),
            None => copied.next().unwrap_or_else(|| {
                Err(Error::unexpected(
                    "the local copy returned fewer results than files",
                ))
            }),
        };
        if let Err(e) = &result
            && e.is_temporary()
        {
            tracing::debug!(path = %copy.target_path, error = %e, "local copy failed; copying again with retries");
            result = copy_stream(
                &ctx.opts.retry,
                ctx.src.as_ref(),
                ctx.tgt.as_ref(),
                &copy.source,
                &copy.target_path,
            )
            .await;
        }
        out.push(CopyDone { copy, result });
    }
    out
}

/// Copy one file, with retries; large files go through the target's resumable upload when it has one.
async fn copy_file(
    ctx: &PassCtx,
    f: &FileEntry,
    tpath: &str,
    big: Arc<Semaphore>,
) -> Result<FileEntry> {
    let policy = &ctx.opts.retry;
    if let Some(ru) = ctx.tgt.resumable()
        && f.size >= 2 * ru.part_size()
    {
        let _slot = big
            .acquire_owned()
            .await
            .map_err(|_| Error::unexpected("permits closed"))?;
        return retry!(
            policy,
            "resumable copy",
            resumable_copy(
                ctx.store.as_ref(),
                ctx.mapping,
                ctx.src.as_ref(),
                ctx.tgt.as_ref(),
                f,
                tpath
            )
        );
    }
    copy_stream(policy, ctx.src.as_ref(), ctx.tgt.as_ref(), f, tpath).await
}

/// Read from the source, write to the target, with retries.
async fn copy_stream(
    policy: &RetryPolicy,
    src: &dyn FileConnector,
    tgt: &dyn FileConnector,
    f: &FileEntry,
    tpath: &str,
) -> Result<FileEntry> {
    retry!(policy, "copy", async {
        let reader = src.read(&f.path).await?;
        tgt.write_created(tpath, f.size, f.mtime, f.created, reader)
            .await
    })
}

/// A multipart copy whose progress is saved in the store, so a re-run continues at the first missing part.
async fn resumable_copy(
    store: &dyn FileStore,
    mapping: MappingId,
    src: &dyn FileConnector,
    tgt: &dyn FileConnector,
    f: &FileEntry,
    tpath: &str,
) -> Result<FileEntry> {
    let ru = tgt
        .resumable()
        .ok_or_else(|| Error::unsupported("the target has no resumable upload"))?;
    let part = ru.part_size().max(1);
    let saved = store.load_upload(mapping, tpath).await?;
    let mut resumed: Option<(UploadState, Vec<u32>)> = None;
    if let Some(s) = saved.filter(|s| s.source_size == f.size && s.source_mtime == stamp(f.mtime))
        && let Ok(state) = serde_json::from_str::<UploadState>(&s.state)
    {
        match ru.parts_done(&state).await {
            Ok(done) => resumed = Some((state, done)),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let (state, done) = match resumed {
        Some(r) => {
            tracing::info!(path = %tpath, parts = r.1.len(), "resuming an interrupted upload");
            r
        }
        None => {
            let state = ru.begin_created(tpath, f.size, f.mtime, f.created).await?;
            let json = serde_json::to_string(&state)
                .map_err(|e| Error::unexpected(format!("upload state: {e}")))?;
            store
                .save_upload(
                    mapping,
                    tpath,
                    &SavedUpload {
                        state: json,
                        source_size: f.size,
                        source_mtime: stamp(f.mtime),
                    },
                )
                .await?;
            (state, Vec::new())
        }
    };
    let done: HashSet<u32> = done.into_iter().collect();
    let mut reader = PartReader::open(src, &f.path).await?;
    let buffers = send_parts(&mut reader, f.size, part, &f.path, &done, |number, buf| {
        ru.put_part_buf(&state, number, buf)
    })
    .await?;
    tracing::debug!(path = %tpath, buffers, "parts sent");
    let entry = ru.complete(&state).await?;
    store.delete_upload(mapping, tpath).await?;
    Ok(entry)
}

/// Where a resumable copy reads its parts from: the source file itself, by positioned reads straight into
/// the part's buffer (one blocking call per part), when the source is on this machine; else the source's
/// reader, in order.
enum PartReader {
    Local(Arc<std::fs::File>),
    Stream(FileReader),
}

impl PartReader {
    async fn open(src: &dyn FileConnector, path: &str) -> Result<PartReader> {
        #[cfg(unix)]
        if let Some(local) = src.local() {
            let full = local.local_path(path)?;
            let file = tokio::task::spawn_blocking(move || std::fs::File::open(full))
                .await
                .map_err(|e| Error::unexpected(format!("a blocking task failed: {e}")))?
                .map_err(|e| {
                    Error::from(e)
                        .with_operation("read")
                        .with_context("path", path)
                })?;
            return Ok(PartReader::Local(Arc::new(file)));
        }
        Ok(PartReader::Stream(src.read(path).await?))
    }

    /// Part `n` (`len` bytes at offset `at`) of the file at `path`, read into `buf` (its allocation, of at
    /// least `len` bytes, is kept). A part to `skip` is read only when the reader cannot seek past it.
    async fn read(
        &mut self,
        mut buf: Vec<u8>,
        at: u64,
        len: u64,
        n: u64,
        skip: bool,
        path: &str,
    ) -> Result<Vec<u8>> {
        let len =
            usize::try_from(len).map_err(|_| Error::unexpected("a part larger than memory"))?;
        let read = match self {
            #[cfg(unix)]
            PartReader::Local(_) if skip => {
                buf.clear();
                return Ok(buf);
            }
            #[cfg(unix)]
            PartReader::Local(file) => {
                use std::os::unix::fs::FileExt;
                let file = file.clone();
                buf.resize(len, 0);
                let (b, r) = tokio::task::spawn_blocking(move || {
                    let r = file.read_exact_at(&mut buf, at);
                    (buf, r)
                })
                .await
                .map_err(|e| Error::unexpected(format!("a blocking task failed: {e}")))?;
                buf = b;
                r
            }
            #[cfg(not(unix))]
            PartReader::Local(_) => unreachable!("local part reads are unix-only"),
            PartReader::Stream(reader) => {
                buf.resize(len, 0);
                reader.read_exact(&mut buf).await.map(|_| ())
            }
        };
        match read {
            Ok(()) => Ok(buf),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Error::new(
                ErrorKind::Io,
                format!("the source ended early at part {n} of {path}"),
            )
            .temporary()),
            Err(e) => Err(Error::from(e)),
        }
    }
}

/// Read a `size`-byte file in parts of `part` bytes and hand them to `send` in order (1-based numbers),
/// except the numbers in `done` (skipped; read only when `reader` cannot seek past them). The next part
/// is read while the current one is sent, so reading the source and the network overlap; memory is
/// bounded by two parts (one being read, one being sent). Each part goes to `send` as the buffer it was
/// read into (no second copy), and `send` gives the buffer back when it is done with it, for the part
/// after next: an upload allocates two part buffers in all when `send` always gives them back, and a
/// new one for each buffer it keeps. Returns the number of buffers allocated.
async fn send_parts<F, Fut>(
    reader: &mut PartReader,
    size: u64,
    part: u64,
    path: &str,
    done: &HashSet<u32>,
    mut send: F,
) -> Result<usize>
where
    F: FnMut(u32, Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Vec<u8>>>>,
{
    let parts = size.div_ceil(part).max(1);
    let part_len = |n: u64| part.min(size - (n - 1) * part);
    let number = |n: u64| u32::try_from(n).map_err(|_| Error::unexpected("too many parts"));
    let mut allocated = 0usize;
    // A buffer given back, for the next read (at most one: the other is being sent).
    let mut spare: Option<Vec<u8>> = None;
    let mut take_spare = |spare: &mut Option<Vec<u8>>, len: u64| match spare.take() {
        Some(b) if b.capacity() as u64 >= len => Ok(b),
        _ => {
            allocated += 1;
            usize::try_from(len)
                .map(|len| vec![0; len])
                .map_err(|_| Error::unexpected("a part larger than memory"))
        }
    };
    let skip1 = done.contains(&number(1)?);
    let buf = take_spare(&mut spare, part_len(1))?;
    let mut next = reader.read(buf, 0, part_len(1), 1, skip1, path).await?;
    for n in 1..=parts {
        let num = number(n)?;
        let buf = std::mem::take(&mut next);
        // A part already sent gives its buffer straight back.
        let sent = if done.contains(&num) {
            Err(buf)
        } else {
            Ok(send(num, buf))
        };
        let send = async {
            match sent {
                Ok(s) => s.await,
                Err(buf) => Ok(Some(buf)),
            }
        };
        if n < parts {
            let skip = done.contains(&number(n + 1)?);
            let buf = take_spare(&mut spare, part_len(n + 1))?;
            let read = reader.read(buf, n * part, part_len(n + 1), n + 1, skip, path);
            let (sent, read) = tokio::join!(send, read);
            spare = sent?;
            next = read?;
        } else {
            send.await?;
        }
    }
    Ok(allocated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::file::EntryKind;

    fn copy(name: &str, size: u64) -> ToCopy {
        ToCopy {
            rel: name.into(),
            source: FileEntry {
                created: None,
                path: name.into(),
                kind: EntryKind::File,
                size,
                mtime: None,
                hash: None,
                etag: None,
            },
            target_path: name.into(),
            renamed: None,
        }
    }

    #[test]
    fn local_copies_are_batched_by_count_and_bytes_and_a_large_file_goes_alone() {
        let mut files: Vec<ToCopy> = (0..100).map(|i| copy(&format!("s{i}"), 1000)).collect();
        files.push(copy("big", BATCH_BYTES + 1));
        files.push(copy("after", 10));
        let sizes: Vec<usize> = units(files, true).iter().map(Vec::len).collect();
        assert_eq!(sizes, [BATCH_FILES, 100 - BATCH_FILES, 1, 1]);
    }

    #[test]
    fn copies_that_are_not_local_go_one_file_per_unit() {
        let files = vec![copy("a", 1), copy("b", 2)];
        assert!(units(files, false).iter().all(|u| u.len() == 1));
    }

    /// A reader over `data` that counts the bytes it has given out.
    struct Counting {
        data: std::io::Cursor<Vec<u8>>,
        given: Arc<std::sync::atomic::AtomicU64>,
    }

    impl tokio::io::AsyncRead for Counting {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let before = buf.filled().len();
            let r = std::pin::Pin::new(&mut self.data).poll_read(cx, buf);
            let n = (buf.filled().len() - before) as u64;
            self.given.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
            r
        }
    }

    #[tokio::test]
    async fn parts_go_in_order_while_the_next_one_is_read_and_never_more_than_two_are_held() {
        use std::sync::atomic::Ordering;
        const PART: u64 = 1000;
        let data: Vec<u8> = (0..4500u32).map(|i| (i % 251) as u8).collect();
        let given = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut reader = PartReader::Stream(Box::new(Counting {
            data: std::io::Cursor::new(data.clone()),
            given: given.clone(),
        }));
        let done: HashSet<u32> = [2].into_iter().collect();
        let sent = std::sync::Mutex::new(Vec::new());
        let data = &data;
        let buffers = send_parts(&mut reader, 4500, PART, "f", &done, |n, buf| {
            let (given, sent) = (given.clone(), &sent);
            async move {
                let at = u64::from(n - 1) * PART;
                assert_eq!(buf, data[at as usize..(at + buf.len() as u64) as usize]);
                // Read ahead: the next part is read while this one is being sent (a copy that reads
                // only after sending would wait here for ever)…
                if at + PART < 4500 {
                    let ahead = async {
                        while given.load(Ordering::SeqCst) <= at + PART {
                            tokio::task::yield_now().await;
                        }
                    };
                    tokio::time::timeout(std::time::Duration::from_secs(30), ahead)
                        .await
                        .expect("the next part is read while this one is sent");
                }
                // … and no further than that one part.
                assert!(given.load(Ordering::SeqCst) <= at + 2 * PART);
                sent.lock().unwrap().push(n);
                Ok(Some(buf))
            }
        })
        .await
        .unwrap();
        assert_eq!(
            *sent.lock().unwrap(),
            [1, 3, 4, 5],
            "in order, part 2 skipped"
        );
        assert_eq!(given.load(Ordering::SeqCst), 4500);
        assert_eq!(buffers, 2, "the two buffers given back are read into again");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_local_source_is_read_in_place_into_two_reused_buffers() {
        const PART: u64 = 1000;
        let data: Vec<u8> = (0..4500u32).map(|i| (i % 253) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, &data).unwrap();
        let open = || PartReader::Local(Arc::new(std::fs::File::open(&path).unwrap()));
        let done: HashSet<u32> = [1, 2].into_iter().collect();
        let seen = std::sync::Mutex::new(Vec::new());
        let (data, seen_ref) = (&data, &seen);
        let buffers = send_parts(&mut open(), 4500, PART, "f", &done, |n, buf| async move {
            let at = (u64::from(n - 1) * PART) as usize;
            assert_eq!(buf, data[at..at + buf.len()], "part {n}");
            seen_ref.lock().unwrap().push((n, buf.as_ptr() as usize));
            Ok(Some(buf))
        })
        .await
        .unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(buffers, 2);
        let distinct: HashSet<usize> = seen.iter().map(|s| s.1).collect();
        assert!(distinct.len() <= 2, "{seen:?}");

        // A connector that keeps each buffer: a new one per part, never more than two held at once.
        let buffers = send_parts(
            &mut open(),
            4500,
            PART,
            "f",
            &HashSet::new(),
            |_, _| async { Ok(None) },
        )
        .await
        .unwrap();
        assert_eq!(buffers, 5);

        // A source shorter than announced: a temporary error naming the part.
        let err = send_parts(
            &mut open(),
            5500,
            PART,
            "f",
            &HashSet::new(),
            |_, buf| async { Ok(Some(buf)) },
        )
        .await
        .unwrap_err();
        assert!(
            err.is_temporary() && err.message().contains("part 5"),
            "{err}"
        );
    }
}
