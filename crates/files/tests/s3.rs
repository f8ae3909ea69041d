//! The S3 connector against a real S3-compatible server (moto, started by `ferry_testkit::s3`), plus a
//! canned HTTP server for the answers moto never gives (bad signature, throttling).
//!
//! moto does not check signatures, so "wrong credentials" is tested two ways: unsigned requests, which
//! moto refuses with 403, and a canned `SignatureDoesNotMatch`. moto cannot store a key containing a line
//! feed (see `ferry_testkit::s3`), so the awkward-names test leaves `\n` out here.

use chrono::{DateTime, TimeZone, Utc};
use ferry_core::ErrorKind;
use ferry_core::file::{EntryKind, FileConnector, FileReader, ResumableUpload};
use ferry_core::mail::{Access, Secret};
use ferry_files::config::S3Config;
use ferry_files::s3::{MIN_PART_SIZE, S3Connector};
use ferry_testkit::s3::S3Server;
use futures_util::StreamExt;
use std::collections::BTreeSet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The conformance suite measures the whole process's memory while it streams a big file, so it runs
/// alone; the other tests of this binary share the lock and run in parallel with each other.
static MEMORY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn config(server: &S3Server, bucket: &str, prefix: &str) -> S3Config {
    S3Config::new(bucket, prefix)
        .with_endpoint(&server.endpoint())
        .expect("endpoint")
        .with_keys(server.access_key(), Secret::new(server.secret_key()))
}

fn connector(server: &S3Server, bucket: &str, access: Access) -> S3Connector {
    S3Connector::new(config(server, bucket, "some/prefix"), access).expect("connector")
}

fn start(bucket: &str) -> S3Server {
    let server = S3Server::start().expect("moto starts (pip install 'moto[server]')");
    server.create_bucket(bucket).expect("bucket");
    server
}

fn reader(data: Vec<u8>) -> FileReader {
    Box::new(std::io::Cursor::new(data))
}

async fn read_all(c: &dyn FileConnector, path: &str) -> Vec<u8> {
    let mut r = c.read(path).await.expect("read");
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.expect("read body");
    out
}

async fn list_all(c: &dyn FileConnector, dir: &str) -> (Vec<ferry_core::file::FileEntry>, usize) {
    let mut entries = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = c.list(dir, token).await.expect("list");
        pages += 1;
        entries.extend(page.entries);
        match page.next {
            Some(t) => token = Some(t),
            None => return (entries, pages),
        }
    }
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn mtime() -> DateTime<Utc> {
    Utc.timestamp_opt(1_600_000_000, 123_456_789)
        .single()
        .expect("valid")
}

#[tokio::test]
async fn write_then_read_round_trips_bytes_and_mtime() {
    let _shared = MEMORY.read().await;
    let server = start("bucket-1");
    let c = connector(&server, "bucket-1", Access::ReadWrite);
    let data = pseudo_random(100_000, 1);
    let entry = c
        .write(
            "dir/a.bin",
            data.len() as u64,
            Some(mtime()),
            reader(data.clone()),
        )
        .await
        .expect("write");
    assert_eq!((entry.size, entry.mtime), (100_000, Some(mtime())));
    assert_eq!(read_all(&c, "dir/a.bin").await, data);
    let st = c.stat("dir/a.bin").await.expect("stat").expect("exists");
    assert_eq!(
        (st.kind, st.size, st.mtime),
        (EntryKind::File, 100_000, Some(mtime()))
    );
    // Stored under the prefix, where other tools see it.
    let keys: Vec<String> = server
        .objects("bucket-1")
        .expect("objects")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec!["some/prefix/dir/a.bin".to_owned()]);
    let (entries, _) = list_all(&c, "").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].path.as_str(), entries[0].kind),
        ("dir", EntryKind::Dir)
    );
    // Listings report the stored mtime (one HEAD per file) unless told to use S3's upload time.
    let page = c.list("dir", None).await.expect("list");
    assert_eq!(
        page.entries.iter().map(|e| e.mtime).collect::<Vec<_>>(),
        vec![Some(mtime())]
    );
    let cheap =
        connector(&server, "bucket-1", Access::ReadOnly).with_list_mtime_from_metadata(false);
    let page = cheap.list("dir", None).await.expect("list");
    let uploaded = page.entries[0].mtime.expect("LastModified");
    assert!(
        uploaded > Utc::now() - chrono::Duration::minutes(10),
        "{uploaded}"
    );
    // Replacing keeps one object with the new content.
    c.write("dir/a.bin", 3, None, reader(b"new".to_vec()))
        .await
        .expect("overwrite");
    assert_eq!(read_all(&c, "dir/a.bin").await, b"new");
}

#[tokio::test]
async fn awkward_names_and_zero_byte_files_round_trip() {
    let _shared = MEMORY.read().await;
    let server = start("bucket-2");
    let c = connector(&server, "bucket-2", Access::ReadWrite);
    let names = [
        "with space.txt",
        "ünïcödé 日本.txt",
        "#%&.txt",
        ".hidden",
        "tab\there",
        "plus+equals=question?.txt",
        "trailing space ",
        "back\\slash",
        "empty",
    ];
    for (i, name) in names.iter().enumerate() {
        let data = if *name == "empty" {
            Vec::new()
        } else {
            format!("content {i}").into_bytes()
        };
        c.write(
            &format!("odd dir/{name}"),
            data.len() as u64,
            Some(mtime()),
            reader(data),
        )
        .await
        .expect(name);
    }
    let (entries, _) = list_all(&c, "odd dir").await;
    let listed: BTreeSet<String> = entries.iter().map(|e| e.path.clone()).collect();
    let expected: BTreeSet<String> = names.iter().map(|n| format!("odd dir/{n}")).collect();
    assert_eq!(listed, expected);
    for (i, name) in names.iter().enumerate() {
        let want = if *name == "empty" {
            Vec::new()
        } else {
            format!("content {i}").into_bytes()
        };
        assert_eq!(
            read_all(&c, &format!("odd dir/{name}")).await,
            want,
            "{name:?}"
        );
    }
    let empty = c
        .stat("odd dir/empty")
        .await
        .expect("stat")
        .expect("exists");
    assert_eq!((empty.size, empty.mtime), (0, Some(mtime())));
}

#[tokio::test]
async fn listing_pages_past_the_first_page() {
    let _shared = MEMORY.read().await;
    let server = start("bucket-3");
    let c = connector(&server, "bucket-3", Access::ReadWrite);
    let writes = futures_util::stream::iter(0..2500).map(|i| {
        let c = &c;
        async move {
            c.write(&format!("many/f{i:05}"), 1, None, reader(vec![b'x']))
                .await
        }
    });
    let results: Vec<_> = writes.buffer_unordered(32).collect().await;
    assert!(results.iter().all(Result::is_ok));
    c.create_dir("many/sub").await.expect("mkdir");
    let (entries, pages) = list_all(&c, "many").await;
    assert_eq!(pages, 3, "1000 keys a page");
    let files: BTreeSet<_> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(files.len(), 2500);
    assert!(
        entries
            .iter()
            .any(|e| e.path == "many/sub" && e.kind == EntryKind::Dir)
    );

    // A small page size exercises the continuation token with folders and files mixed.
    let small = S3Connector::new(config(&server, "bucket-3", "some/prefix"), Access::ReadOnly)
        .and_then(|c| c.with_list_page_size(7))
        .expect("connector");
    let (root, pages) = list_all(&small, "").await;
    assert_eq!((root.len(), pages), (1, 1));
    let mut token = None;
    let mut seen = 0;
    for _ in 0..3 {
        let page = small.list("many", token).await.expect("page");
        assert_eq!(page.entries.len(), 7);
        seen += page.entries.len();
        token = page.next;
    }
    assert_eq!(seen, 21);
}

#[tokio::test]
async fn missing_things_are_not_found_and_folders_are_implicit() {
    let _shared = MEMORY.read().await;
    let server = start("bucket-4");
    let c = connector(&server, "bucket-4", Access::ReadWrite);
    assert!(c.stat("nope").await.expect("stat").is_none());
    assert_eq!(
        c.read("nope").await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        c.list("nope", None).await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert!(
        c.list("", None)
            .await
            .expect("root of an empty prefix")
            .entries
            .is_empty()
    );

    c.create_dir("empty/inner").await.expect("mkdir");
    c.create_dir("empty/inner").await.expect("mkdir twice");
    assert!(
        c.list("empty/inner", None)
            .await
            .expect("empty folder lists")
            .entries
            .is_empty()
    );
    let st = c.stat("empty/inner").await.expect("stat").expect("exists");
    assert_eq!(st.kind, EntryKind::Dir);
    let (entries, _) = list_all(&c, "empty").await;
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind))
            .collect::<Vec<_>>(),
        vec![("empty/inner", EntryKind::Dir)]
    );

    let other = S3Connector::new(config(&server, "no-such-bucket", ""), Access::ReadOnly)
        .expect("connector");
    let err = other.list("", None).await.expect_err("no bucket");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("no-such-bucket"), "{err}");
}

#[tokio::test]
async fn large_writes_go_multipart_and_stream() {
    let _shared = MEMORY.read().await;
    let server = start("bucket-5");
    let c = connector(&server, "bucket-5", Access::ReadWrite)
        .with_part_size(MIN_PART_SIZE)
        .expect("part size");
    let size = 2 * MIN_PART_SIZE as usize + 12_345;
    let data = pseudo_random(size, 5);
    // Feed the connector through a pipe so it cannot see the whole file at once.
    let (mut tx, rx) = tokio::io::duplex(64 * 1024);
    let feed = data.clone();
    let feeder = tokio::spawn(async move { tx.write_all(&feed).await });
    let entry = c
        .write("big.bin", size as u64, Some(mtime()), Box::new(rx))
        .await
        .expect("write");
    feeder.await.expect("join").expect("feed");
    assert_eq!((entry.size, entry.mtime), (size as u64, Some(mtime())));
    assert_eq!(read_all(&c, "big.bin").await, data);
    assert_eq!(
        c.stat("big.bin").await.expect("stat").map(|e| e.mtime),
        Some(Some(mtime()))
    );
    assert!(
        server
            .multipart_uploads("bucket-5")
            .expect("uploads")
            .is_empty()
    );

    // A source that ends early is an error, leaves no object and no open upload.
    let err = c
        .write(
            "short.bin",
            size as u64,
            None,
            reader(data[..MIN_PART_SIZE as usize + 10].to_vec()),
        )
        .await
        .expect_err("short source");
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(c.stat("short.bin").await.expect("stat").is_none());
    assert!(
        server
            .multipart_uploads("bucket-5")
            .expect("uploads")
            .is_empty()
    );
    // So is a source with more bytes than announced (single PUT path).
    let err = c
        .write("long.bin", 3, None, reader(b"four".to_vec()))
        .await
        .expect_err("long source");
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(c.stat("long.bin").await.expect("stat").is_none());
}

#[tokio::test]
async fn interrupted_multipart_upload_resumes_without_resending_parts() {
    let _shared = MEMORY.read().await;
    let server = start("bucket-6");
    let size = 2 * MIN_PART_SIZE + 999;
    let data = pseudo_random(size as usize, 6);
    let part = |n: u32| -> (u64, Vec<u8>) {
        let start = (u64::from(n) - 1) * MIN_PART_SIZE;
        let end = (start + MIN_PART_SIZE).min(size);
        (end - start, data[start as usize..end as usize].to_vec())
    };
    let mut put_part_calls = 0;

    let state = {
        let c = connector(&server, "bucket-6", Access::ReadWrite)
            .with_part_size(MIN_PART_SIZE)
            .expect("part size");
        let up = c.resumable().expect("S3 is resumable");
        assert_eq!(up.part_size(), MIN_PART_SIZE);
        let state = up
            .begin("resume/big.bin", size, Some(mtime()))
            .await
            .expect("begin");
        for n in 1..=2 {
            let (len, bytes) = part(n);
            up.put_part(&state, n, len, reader(bytes))
                .await
                .expect("part");
            put_part_calls += 1;
        }
        // The process "crashes" here: the connector is dropped with the upload open.
        state
    };
    assert!(
        c_stat_is_none(&server, "resume/big.bin").await,
        "nothing visible before complete"
    );
    let saved = serde_json_like(&state);

    let c = connector(&server, "bucket-6", Access::ReadWrite)
        .with_part_size(MIN_PART_SIZE)
        .expect("part size");
    let up: &dyn ResumableUpload = c.resumable().expect("resumable");
    let done = up.parts_done(&saved).await.expect("parts_done");
    assert_eq!(done, vec![1, 2]);
    for n in 1..=3u32 {
        if !done.contains(&n) {
            let (len, bytes) = part(n);
            up.put_part(&saved, n, len, reader(bytes))
                .await
                .expect("part");
            put_part_calls += 1;
        }
    }
    assert_eq!(put_part_calls, 3, "parts 1 and 2 were not sent again");
    let entry = up.complete(&saved).await.expect("complete");
    assert_eq!((entry.size, entry.mtime), (size, Some(mtime())));
    assert_eq!(read_all(&c, "resume/big.bin").await, data);
    assert!(
        server
            .multipart_uploads("bucket-6")
            .expect("uploads")
            .is_empty()
    );
    // A completed upload is gone: the engine starts over.
    assert_eq!(
        up.parts_done(&saved).await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );

    // Completing with a part missing is refused, and abort drops the upload.
    let state = up
        .begin("resume/other.bin", size, None)
        .await
        .expect("begin");
    let (len, bytes) = part(1);
    up.put_part(&state, 1, len, reader(bytes))
        .await
        .expect("part");
    assert!(up.complete(&state).await.is_err());
    up.abort(&state).await.expect("abort");
    up.abort(&state).await.expect("abort twice");
    assert!(
        server
            .multipart_uploads("bucket-6")
            .expect("uploads")
            .is_empty()
    );
    assert!(c.stat("resume/other.bin").await.expect("stat").is_none());
}

async fn c_stat_is_none(server: &S3Server, path: &str) -> bool {
    let c = connector(server, "bucket-6", Access::ReadOnly);
    c.stat(path).await.expect("stat").is_none()
}

/// The engine stores `UploadState` between runs; rebuild it from its parts as a store would.
fn serde_json_like(s: &ferry_core::file::UploadState) -> ferry_core::file::UploadState {
    ferry_core::file::UploadState {
        path: s.path.clone(),
        size: s.size,
        token: s.token.clone(),
    }
}

#[tokio::test]
async fn read_only_refuses_writes_and_changes_nothing() {
    let _shared = MEMORY.read().await;
    let server = start("bucket-7");
    server
        .put_object("bucket-7", "some/prefix/keep.txt", b"source")
        .expect("seed");
    let c = connector(&server, "bucket-7", Access::ReadOnly);
    assert!(!c.capability().write);
    assert!(c.resumable().is_none());
    let before = server.objects("bucket-7").expect("objects");
    assert_eq!(
        c.create_dir("x").await.err().map(|e| e.kind()),
        Some(ErrorKind::Unsupported)
    );
    let err = c
        .write("keep.txt", 1, None, reader(b"x".to_vec()))
        .await
        .expect_err("read-only");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let up: &dyn ResumableUpload = &c;
    assert_eq!(
        up.begin("big", 1, None).await.err().map(|e| e.kind()),
        Some(ErrorKind::Unsupported)
    );
    assert_eq!(read_all(&c, "keep.txt").await, b"source");
    assert_eq!(server.objects("bucket-7").expect("objects"), before);
    assert!(
        server
            .multipart_uploads("bucket-7")
            .expect("uploads")
            .is_empty()
    );
}

#[tokio::test]
async fn missing_credentials_are_an_auth_error() {
    let _shared = MEMORY.read().await;
    let server = start("bucket-8");
    server.put_object("bucket-8", "k", b"v").expect("seed");
    let mut cfg = config(&server, "bucket-8", "");
    cfg.access_key = None;
    cfg.secret_key = None;
    let c = S3Connector::new(cfg, Access::ReadOnly).expect("anonymous connector");
    let err = c
        .read("k")
        .await
        .err()
        .expect("anonymous read of a private object fails");
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(!err.is_temporary());
}

/// A one-shot HTTP server that answers every request with `response`.
async fn canned(response: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16 * 1024];
            let _ = sock.read(&mut buf).await;
            let _ = sock.write_all(response.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn wrong_signature_is_auth_and_slow_down_is_throttled_with_retry_after() {
    let _shared = MEMORY.read().await;
    let body = "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>";
    let resp: &'static str = Box::leak(
        format!("HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
            .into_boxed_str(),
    );
    let endpoint = canned(resp).await;
    let cfg = S3Config::new("b", "")
        .with_endpoint(&endpoint)
        .expect("url")
        .with_keys("AK", Secret::new("wrong"));
    let c = S3Connector::new(cfg, Access::ReadOnly).expect("connector");
    let err = c.list("", None).await.expect_err("403");
    assert_eq!((err.kind(), err.is_temporary()), (ErrorKind::Auth, false));
    assert!(
        !err.to_string().contains("wrong"),
        "no secret in errors: {err}"
    );

    let body =
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
    let resp: &'static str = Box::leak(
        format!("HTTP/1.1 503 Slow Down\r\nretry-after: 3\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
            .into_boxed_str(),
    );
    let endpoint = canned(resp).await;
    let cfg = S3Config::new("b", "")
        .with_endpoint(&endpoint)
        .expect("url")
        .with_keys("AK", Secret::new("s"));
    let c = S3Connector::new(cfg, Access::ReadOnly).expect("connector");
    let err = c.stat("x").await.expect_err("503");
    assert_eq!(
        (err.kind(), err.is_temporary()),
        (ErrorKind::Throttled, true)
    );
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(3)));

    // Nobody listening: a temporary I/O error.
    let cfg = S3Config::new("b", "")
        .with_endpoint("http://127.0.0.1:9")
        .expect("url");
    let c = S3Connector::new(cfg, Access::ReadOnly).expect("connector");
    let err = c.stat("x").await.expect_err("refused");
    assert_eq!((err.kind(), err.is_temporary()), (ErrorKind::Io, true));
}

struct Conformance {
    server: S3Server,
}

#[async_trait::async_trait]
impl ferry_testkit::file_conformance::FileConformanceFactory for Conformance {
    async fn open(&self, access: Access) -> ferry_core::Result<Box<dyn FileConnector>> {
        let c = S3Connector::new(config(&self.server, "conformance", "suite/root"), access)?
            .with_part_size(MIN_PART_SIZE)?;
        Ok(Box::new(c))
    }

    fn excluded_name_chars(&self) -> Vec<(char, String)> {
        vec![(
            '\n',
            "moto's URL router answers 404 for keys with a line feed".to_owned(),
        )]
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_connector_passes_the_file_conformance_suite() {
    let _alone = MEMORY.write().await; // measures the whole process: runs alone
    let server = start("conformance");
    ferry_testkit::file_conformance::run_file_conformance(&Conformance { server }).await;
}
