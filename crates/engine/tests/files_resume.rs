//! An interrupted large upload resumes mid-file from the state the engine keeps in its store (issue 3),
//! against a real S3 server (moto) behind a proxy that lets the test count part uploads.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

use async_trait::async_trait;
use ferry_core::file::{FileConnector, FileEntry, FileReader, ListPage};
use ferry_core::mail::{Access, Secret};
use ferry_engine::files::{FileMappingSpec, FileOpener, FileOptions, run_files};
use ferry_engine::progress::Progress;
use ferry_files::config::{FileEndpoint, S3Config};
use ferry_store::{FileStore, SqliteStore};
use ferry_testkit::http_fault::HttpFaultProxy;
use ferry_testkit::s3::S3Server;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

const SIZE: usize = 24 * 1024 * 1024; // three 8 MiB parts

/// A reader that breaks after `left` bytes, like a source share that goes away mid-file.
struct BreaksAfter {
    inner: FileReader,
    left: usize,
}

impl AsyncRead for BreaksAfter {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the share went away",
            )));
        }
        let want = buf.remaining().min(self.left);
        let mut sub = ReadBuf::new(buf.initialize_unfilled_to(want));
        let r = Pin::new(&mut self.inner).poll_read(cx, &mut sub);
        let n = sub.filled().len();
        buf.advance(n);
        self.left -= n;
        r
    }
}

/// The real local source, whose reads break after 12 MiB.
struct Flaky(Arc<dyn FileConnector>);

#[async_trait]
impl FileConnector for Flaky {
    fn capability(&self) -> ferry_core::file::FileCapability {
        self.0.capability()
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
    async fn list(&self, dir: &str, token: Option<String>) -> ferry_core::Result<ListPage> {
        self.0.list(dir, token).await
    }
    async fn stat(&self, path: &str) -> ferry_core::Result<Option<FileEntry>> {
        self.0.stat(path).await
    }
    async fn read(&self, path: &str) -> ferry_core::Result<FileReader> {
        Ok(Box::new(BreaksAfter {
            inner: self.0.read(path).await?,
            left: 12 * 1024 * 1024,
        }))
    }
    async fn create_dir(&self, path: &str) -> ferry_core::Result<()> {
        self.0.create_dir(path).await
    }
    async fn write(
        &self,
        path: &str,
        size: u64,
        mtime: Option<chrono::DateTime<chrono::Utc>>,
        data: FileReader,
    ) -> ferry_core::Result<FileEntry> {
        self.0.write(path, size, mtime, data).await
    }
}

struct FlakyOpener(FileEndpoint);

#[async_trait]
impl FileOpener for FlakyOpener {
    fn describe(&self) -> String {
        self.0.describe()
    }
    async fn open(&self, access: Access) -> ferry_core::Result<Arc<dyn FileConnector>> {
        Ok(Arc::new(Flaky(
            ferry_files::open_files(&self.0, access).await?,
        )))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_multipart_upload_resumes_at_the_first_missing_part_on_the_next_run() {
    let s3 = S3Server::start().unwrap();
    s3.create_bucket("resume").unwrap();
    let proxy = HttpFaultProxy::start(s3.addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let data: Vec<u8> = (0..SIZE as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(src.join("big.bin"), &data).unwrap();
    let target = FileEndpoint::S3(
        S3Config::new("resume", "")
            .with_endpoint(&proxy.endpoint())
            .unwrap()
            .with_keys(s3.access_key(), Secret::new(s3.secret_key())),
    );
    let store: Arc<dyn FileStore> = Arc::new(
        SqliteStore::open(&dir.path().join("ferry.db"))
            .await
            .unwrap(),
    );
    let source = FileEndpoint::Local {
        path: src.clone(),
        follow_links: false,
    };
    let spec = |flaky: bool| FileMappingSpec {
        label: "share".into(),
        source: if flaky {
            Arc::new(FlakyOpener(source.clone()))
        } else {
            Arc::new(source.clone())
        },
        target: Arc::new(target.clone()),
        source_dir: String::new(),
        target_dir: String::new(),
        at_library_root: true,
    };
    let mut opts = FileOptions::default();
    opts.retry.base_delay = std::time::Duration::from_millis(1);
    let parts_put = |log: &[String]| {
        log.iter()
            .filter(|l| l.starts_with("PUT") && l.contains("partNumber="))
            .count()
    };

    // First run: the source breaks at 12 MiB, so part 1 is stored and part 2 never completes.
    let first = run_files(
        store.clone(),
        vec![spec(true)],
        opts.clone(),
        Arc::new(Progress::default()),
    )
    .await
    .unwrap();
    assert_eq!(first.totals.failed, 1, "{first:?}");
    assert_eq!(
        parts_put(&proxy.request_log()),
        1,
        "{:?}",
        proxy.request_log()
    );
    assert_eq!(
        s3.multipart_uploads("resume").unwrap().len(),
        1,
        "the upload should be left open to resume"
    );

    // Second run: the same upload continues with parts 2 and 3 only.
    let before = proxy.request_log().len();
    let second = run_files(
        store.clone(),
        vec![spec(false)],
        opts,
        Arc::new(Progress::default()),
    )
    .await
    .unwrap();
    assert_eq!(second.totals.copied, 1, "{second:?}");
    let log = proxy.request_log();
    assert_eq!(
        parts_put(&log[before..]),
        2,
        "part 1 was sent again: {:?}",
        &log[before..]
    );
    assert_eq!(s3.get_object("resume", "big.bin").unwrap().unwrap(), data);
    assert!(s3.multipart_uploads("resume").unwrap().is_empty());
}
