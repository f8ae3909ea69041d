//! `GraphConnector` against the Graph emulator in `ferry_testkit::graph` (written from Microsoft's
//! documentation, not from this connector): the file conformance suite, then Graph's own behaviours —
//! drive resolution, upload sessions resumed at the first missing byte, `409` settled by the
//! never-overwrite rules, case collisions, throttling honoured to the request.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use ferry_core::ErrorKind;
use ferry_core::file::{FileConnector, FileReader};
use ferry_core::mail::Access;
use ferry_files::graph::GraphConnector;
use ferry_files::graph::config::GraphConfig;
use ferry_testkit::file_conformance::{FileConformanceFactory, run_file_conformance};
use ferry_testkit::graph::{DeltaResync, GraphEmulator, GraphOptions, ThrottleOptions};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The conformance suite measures the process's memory while it streams a big file: it runs alone.
static MEMORY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

const UPN: &str = "alice@contoso.com";
/// Small fragments (2 × 320 KiB) so multi-fragment uploads stay small in tests.
const CHUNK: u64 = 655_360;

fn reader(bytes: &[u8]) -> FileReader {
    Box::new(std::io::Cursor::new(bytes.to_vec()))
}

fn cfg(emu: &GraphEmulator, endpoint: &str) -> GraphConfig {
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    GraphConfig::parse(&format!(
        "{endpoint}{sep}graph={}&chunk={CHUNK}",
        emu.base_url()
    ))
    .unwrap()
}

async fn open(emu: &GraphEmulator, endpoint: &str, access: Access) -> GraphConnector {
    GraphConnector::open_with_token(cfg(emu, endpoint), &emu.token(), access)
        .await
        .unwrap()
}

async fn read_all(c: &dyn FileConnector, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    c.read(path)
        .await
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    out
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32 * 31 + u32::from(seed)) as u8)
        .collect()
}

struct Factory {
    emu: GraphEmulator,
    endpoint: String,
}

#[async_trait]
impl FileConformanceFactory for Factory {
    async fn open(&self, access: Access) -> ferry_core::Result<Box<dyn FileConnector>> {
        let c = GraphConnector::open_with_token(
            cfg(&self.emu, &self.endpoint),
            &self.emu.token(),
            access,
        )
        .await?;
        Ok(Box::new(c))
    }

    fn excluded_name_chars(&self) -> Vec<(char, String)> {
        // "Restrictions and limitations in OneDrive and SharePoint": these characters are refused in
        // names (Ferry's target rules map them before a file reaches the connector).
        ['"', '*', ':', '<', '>', '?', '\\', '|']
            .into_iter()
            .map(|c| {
                (
                    c,
                    "OneDrive and SharePoint refuse this character in names".to_owned(),
                )
            })
            .collect()
    }

    fn refused_name(&self, name: &str) -> Option<String> {
        (name.starts_with(' ') || name.ends_with(' ')).then(|| {
            "OneDrive and SharePoint refuse leading and trailing spaces in names".to_owned()
        })
    }

    fn large_file_size(&self) -> u64 {
        64 * 1024 * 1024
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn onedrive_connector_passes_the_file_conformance_suite() {
    let _alone = MEMORY.write().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    emu.add_user(UPN);
    run_file_conformance(&Factory {
        emu,
        endpoint: format!("onedrive://{UPN}/Conformance"),
    })
    .await;
}

#[tokio::test]
async fn a_sharepoint_library_is_found_by_site_and_name_and_written_into() {
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let (site, _) = emu.add_site("contoso.sharepoint.com", "Marketing");
    let archive = emu.add_library(&site, "Archive").unwrap();
    let c = open(
        &emu,
        "sharepoint://contoso.sharepoint.com/sites/Marketing/archive/In",
        Access::ReadWrite,
    )
    .await;
    let t = Utc.with_ymd_and_hms(2021, 3, 4, 5, 6, 7).unwrap();
    c.write("a/b.txt", 5, Some(t), reader(b"hello"))
        .await
        .unwrap();
    assert_eq!(emu.read_file(&archive, "In/a/b.txt").unwrap(), b"hello");
    let item = emu
        .items(&archive)
        .into_iter()
        .find(|i| i.path == "In/a/b.txt")
        .unwrap();
    assert_eq!(
        item.fs_modified, t,
        "fileSystemInfo carries the source's time"
    );
    let e = c.stat("a/b.txt").await.unwrap().unwrap();
    assert_eq!((e.size, e.mtime), (5, Some(t)));
    let err = GraphConnector::open_with_token(
        cfg(
            &emu,
            "sharepoint://contoso.sharepoint.com/sites/Marketing/Nope",
        ),
        &emu.token(),
        Access::ReadWrite,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.message().contains("Archive") && err.message().contains("Documents"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unprovisioned_onedrive_is_reported_with_the_fix() {
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    emu.add_unprovisioned_user("bob@contoso.com");
    let err = GraphConnector::open_with_token(
        cfg(&emu, "onedrive://bob@contoso.com/x"),
        &emu.token(),
        Access::ReadWrite,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let m = err.message();
    assert!(
        m.contains("not provisioned yet") && m.contains("Request-SPOPersonalSite"),
        "{m}"
    );
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_error_that_names_the_permissions_and_never_the_token() {
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    emu.add_user(UPN);
    let err = GraphConnector::open_with_token(
        cfg(&emu, &format!("onedrive://{UPN}")),
        "eyJ.not-a-real.token",
        Access::ReadWrite,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.message().contains("Files.ReadWrite.All"), "{err}");
    assert!(!err.to_string().contains("not-a-real"), "{err}");
}

#[tokio::test]
async fn large_files_go_in_fragments_without_the_token_and_listings_carry_quickxorhash() {
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let drive = emu.add_user(UPN);
    let c = open(&emu, &format!("onedrive://{UPN}/Big"), Access::ReadWrite).await;
    let data = pattern(3 * CHUNK as usize + 1234, 7);
    let t = Utc.with_ymd_and_hms(2020, 1, 2, 3, 4, 5).unwrap();
    let e = c
        .write("f.bin", data.len() as u64, Some(t), reader(&data))
        .await
        .unwrap();
    assert_eq!(e.size, data.len() as u64);
    assert_eq!(emu.read_file(&drive, "Big/f.bin").unwrap(), data);
    let s = emu.sessions();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].accepted.len(), 4, "{:?}", s[0].accepted);
    assert!(s[0].refused.is_empty(), "{:?}", s[0].refused);
    let want = ferry_files::quickxor::to_hex(&ferry_files::quickxor::digest(&data));
    let listed = c.list("", None).await.unwrap().entries;
    assert_eq!(listed[0].hash.as_deref(), Some(want.as_str()));
    assert_eq!(read_all(&c, "f.bin").await, data);
}

#[tokio::test]
async fn a_dropped_fragment_is_resumed_at_the_first_missing_byte() {
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let drive = emu.add_user(UPN);
    let c = open(&emu, &format!("onedrive://{UPN}"), Access::ReadWrite).await;
    let data = pattern(4 * CHUNK as usize, 3);
    // Upload two parts through the resumable interface, as the engine does, then "crash".
    let ru = c.resumable().unwrap();
    let state = ru.begin("r.bin", data.len() as u64, None).await.unwrap();
    for n in 1..=2u32 {
        let part = &data[(n as usize - 1) * CHUNK as usize..n as usize * CHUNK as usize];
        ru.put_part(&state, n, CHUNK, reader(part)).await.unwrap();
    }
    // A new connector (a new process) asks the session where it stands.
    let c2 = open(&emu, &format!("onedrive://{UPN}"), Access::ReadWrite).await;
    let ru2 = c2.resumable().unwrap();
    assert_eq!(ru2.parts_done(&state).await.unwrap(), vec![1, 2]);
    // The third fragment's connection is cut half-way: the connector asks and sends it again.
    emu.drop_next_upload_after(1000);
    for n in 3..=4u32 {
        let part = &data[(n as usize - 1) * CHUNK as usize..n as usize * CHUNK as usize];
        ru2.put_part(&state, n, CHUNK, reader(part)).await.unwrap();
    }
    let e = ru2.complete(&state).await.unwrap();
    assert_eq!(e.size, data.len() as u64);
    assert_eq!(emu.read_file(&drive, "r.bin").unwrap(), data);
    let s = &emu.sessions()[0];
    let starts: Vec<u64> = s.accepted.iter().map(|a| a.0).collect();
    assert_eq!(
        starts,
        vec![0, CHUNK, 2 * CHUNK, 3 * CHUNK],
        "each range accepted once, in order"
    );
}

#[tokio::test]
async fn a_range_a_killed_run_is_still_sending_is_a_temporary_error_and_the_resume_then_completes()
{
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let drive = emu.add_user(UPN);
    let c = open(&emu, &format!("onedrive://{UPN}"), Access::ReadWrite).await;
    let data = pattern(3 * CHUNK as usize, 7);
    let part = |n: u32| &data[(n as usize - 1) * CHUNK as usize..n as usize * CHUNK as usize];
    let ru = c.resumable().unwrap();
    let state = ru.begin("k.bin", data.len() as u64, None).await.unwrap();
    ru.put_part(&state, 1, CHUNK, reader(part(1)))
        .await
        .unwrap();
    // The run is killed while sending part 2: the service is still reading that request when the
    // re-run asks where the session stands and sends part 2 itself.
    let url = state.token.splitn(3, '|').nth(2).unwrap();
    let stalled = emu
        .stall_fragment(url, CHUNK, CHUNK, data.len() as u64, &part(2)[..1000])
        .unwrap();
    let c2 = open(&emu, &format!("onedrive://{UPN}"), Access::ReadWrite).await;
    let ru2 = c2.resumable().unwrap();
    assert_eq!(ru2.parts_done(&state).await.unwrap(), vec![1]);
    let err = ru2
        .put_part(&state, 2, CHUNK, reader(part(2)))
        .await
        .unwrap_err();
    assert!(
        err.is_temporary(),
        "a range still being received is worth another try, never the item's failure: {err}"
    );
    let refused = emu.sessions()[0].refused.clone();
    assert!(
        !refused.is_empty() && refused.iter().all(|r| *r == (CHUNK, 2 * CHUNK - 1, 416)),
        "{refused:?}"
    );
    // The killed run's connection closes; the engine's retry resumes at the first missing byte.
    let id = stalled.session().to_owned();
    stalled.close();
    while emu.receiving(&id) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(ru2.parts_done(&state).await.unwrap(), vec![1]);
    for n in 2..=3u32 {
        ru2.put_part(&state, n, CHUNK, reader(part(n)))
            .await
            .unwrap();
    }
    ru2.complete(&state).await.unwrap();
    assert_eq!(emu.read_file(&drive, "k.bin").unwrap(), data);
    let starts: Vec<u64> = emu.sessions()[0].accepted.iter().map(|a| a.0).collect();
    assert_eq!(
        starts,
        vec![0, CHUNK, 2 * CHUNK],
        "each range accepted once, in order"
    );
}

#[tokio::test]
async fn a_fragment_sent_from_the_engines_buffer_gives_the_buffer_back_for_the_next_part() {
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let drive = emu.add_user(UPN);
    let c = open(&emu, &format!("onedrive://{UPN}"), Access::ReadWrite).await;
    let data = pattern(3 * CHUNK as usize - 100, 5);
    let ru = c.resumable().unwrap();
    let state = ru.begin("b.bin", data.len() as u64, None).await.unwrap();
    // One buffer for every part, as the engine does when each comes back: the same memory each time.
    let mut buf = Vec::with_capacity(CHUNK as usize);
    let first = buf.as_ptr();
    for (n, part) in data.chunks(CHUNK as usize).enumerate() {
        buf.clear();
        buf.extend_from_slice(part);
        buf = ru
            .put_part_buf(&state, n as u32 + 1, buf)
            .await
            .unwrap()
            .expect("the buffer comes back once the fragment is stored");
        assert_eq!(buf.as_ptr(), first, "the same allocation, not a copy");
        assert_eq!(buf, part);
    }
    ru.complete(&state).await.unwrap();
    assert_eq!(emu.read_file(&drive, "b.bin").unwrap(), data);
}

#[tokio::test]
async fn an_abandoned_upload_is_cancelled() {
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    emu.add_user(UPN);
    let c = open(&emu, &format!("onedrive://{UPN}"), Access::ReadWrite).await;
    let ru = c.resumable().unwrap();
    let state = ru.begin("x.bin", 3 * CHUNK, None).await.unwrap();
    ru.abort(&state).await.unwrap();
    assert_eq!(
        ru.parts_done(&state).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // A write whose source comes up short cancels its session too.
    let err = c
        .write(
            "short.bin",
            2 * CHUNK,
            Some(Utc::now()),
            reader(&pattern(CHUNK as usize, 1)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert!(
        emu.sessions()
            .iter()
            .all(|s| s.status != ferry_testkit::graph::SessionStatus::Open),
        "{:?}",
        emu.sessions()
    );
    assert_eq!(emu.stats().upload_url_with_authorization, 0);
}

#[tokio::test]
async fn a_name_conflict_adopts_ferrys_own_copy_and_refuses_a_case_collision() {
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let drive = emu.add_user(UPN);
    let c = open(&emu, &format!("onedrive://{UPN}"), Access::ReadWrite).await;
    let t = Utc.with_ymd_and_hms(2022, 2, 2, 2, 2, 2).unwrap();
    c.write("Report.docx", 3, Some(t), reader(b"one"))
        .await
        .unwrap();
    // The same file again (an answer lost before): taken as written, nothing sent twice.
    let before = emu.items(&drive);
    let e = c
        .write("Report.docx", 3, Some(t), reader(b"one"))
        .await
        .unwrap();
    assert_eq!(e.size, 3);
    assert_eq!(
        emu.items(&drive),
        before,
        "Ferry's own file is taken as it is, not rewritten"
    );
    // Same size and time but other bytes is not Ferry's copy of this content: it is replaced.
    c.write("Report.docx", 3, Some(t), reader(b"uno"))
        .await
        .unwrap();
    assert_eq!(emu.read_file(&drive, "Report.docx").unwrap(), b"uno");
    c.write("Report.docx", 3, Some(t), reader(b"one"))
        .await
        .unwrap();
    // Another source file differing only by case: refused with the reason, the first untouched.
    let err = c
        .write("report.docx", 5, Some(t), reader(b"other"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert!(err.message().contains("case-insensitively"), "{err}");
    assert_eq!(emu.read_file(&drive, "Report.docx").unwrap(), b"one");
    // A changed source over Ferry's own untouched copy (the engine's decision): replaced.
    c.write(
        "Report.docx",
        3,
        Some(t + chrono::Duration::hours(1)),
        reader(b"two"),
    )
    .await
    .unwrap();
    assert_eq!(emu.read_file(&drive, "Report.docx").unwrap(), b"two");
}

#[tokio::test]
async fn throttling_is_honoured_with_no_request_before_retry_after() {
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    emu.add_user(UPN);
    let c =
        std::sync::Arc::new(open(&emu, &format!("onedrive://{UPN}/T"), Access::ReadWrite).await);
    c.create_dir("").await.unwrap();
    // Injected 429s with Retry-After: waited out and retried inside the connector.
    emu.fail_next(2, 429, Some(1));
    c.write("first.txt", 1, None, reader(b"1")).await.unwrap();
    assert_eq!(emu.stats().injected_failures, 2);
    // A budget of 60 requests a second, 8 writers at once: the RateLimit-* headers (from 80 % on) make
    // the connector stop before the budget is spent, and nothing arrives while a Retry-After stands.
    emu.set_throttle(vec![ThrottleOptions::per_tenant(
        60,
        Duration::from_secs(1),
    )]);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..25 {
                let body = format!("file {i} {j}");
                c.write(
                    &format!("f{i}-{j}.txt"),
                    body.len() as u64,
                    None,
                    reader(body.as_bytes()),
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stats = emu.stats();
    assert_eq!(stats.requests_before_retry_after, 0, "{stats:?}");
    let mut n = 0;
    let mut next = None;
    loop {
        let p = c.list("", next).await.unwrap();
        n += p.entries.len();
        match p.next {
            Some(t) => next = Some(t),
            None => break,
        }
    }
    assert_eq!(n, 201);
}

#[tokio::test]
async fn a_retry_after_longer_than_max_wait_fails_the_request_at_once_instead_of_waiting_it_out() {
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    emu.add_user(UPN);
    let mut cfg = cfg(&emu, &format!("onedrive://{UPN}/W"));
    cfg.max_wait = Some(Duration::from_secs(1));
    let c = GraphConnector::open_with_token(cfg, &emu.token(), Access::ReadWrite)
        .await
        .unwrap();
    c.create_dir("").await.unwrap();
    // Longer than the caller may wait: the throttling error comes back with its wait, not retried.
    emu.fail_next(1, 429, Some(30));
    let started = std::time::Instant::now();
    let e = c
        .write("a.txt", 1, None, reader(b"a"))
        .await
        .expect_err("throttled");
    assert_eq!(e.kind(), ErrorKind::Throttled, "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)), "{e}");
    // The Retry-After stands for every request of the drive: the next one is refused before it is sent.
    let e = c
        .write("b.txt", 1, None, reader(b"b"))
        .await
        .expect_err("held back");
    assert!(
        e.retry_after().is_some_and(|w| w > Duration::from_secs(25)),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "nothing waited"
    );
    let stats = emu.stats();
    assert_eq!(stats.injected_failures, 1, "{stats:?}");
    assert_eq!(stats.requests_before_retry_after, 0, "{stats:?}");
}

#[tokio::test]
async fn the_drives_change_feed_names_a_target_edit_without_listing_and_starts_again_when_expired()
{
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let drive = emu.add_user(UPN);
    let c = open(&emu, &format!("onedrive://{UPN}/Docs"), Access::ReadWrite).await;
    c.write("a.txt", 5, None, reader(b"hello")).await.unwrap();
    c.write("sub/b.txt", 5, None, reader(b"world"))
        .await
        .unwrap();
    emu.seed_file(&drive, "Other/x.txt", b"outside", None)
        .unwrap();
    // No link yet: a new feed (one request), and the caller compares by listing.
    let first = c.target_changes(None).await.unwrap();
    assert!(first.resync && first.changed.is_empty());
    // Nothing changed since: one request, no changes.
    let before = emu.stats().requests;
    let quiet = c.target_changes(Some(&first.delta_link)).await.unwrap();
    assert!(!quiet.resync && quiet.changed.is_empty() && quiet.deleted == 0);
    assert_eq!(emu.stats().requests - before, 1);
    // Someone edits a file in the mapping's folder, deletes another, and edits one outside it.
    emu.seed_file(&drive, "Docs/sub/b.txt", b"edited on the target", None)
        .unwrap();
    assert!(emu.delete(&drive, "Docs/a.txt"));
    emu.seed_file(&drive, "Other/x.txt", b"outside, edited", None)
        .unwrap();
    let before = emu.stats().requests;
    let changes = c.target_changes(Some(&quiet.delta_link)).await.unwrap();
    assert!(!changes.resync);
    let changed: Vec<(&str, u64)> = changes
        .changed
        .iter()
        .map(|e| (e.path.as_str(), e.size))
        .collect();
    assert_eq!(changed, vec![("sub/b.txt", 20)]);
    assert!(changes.changed[0].etag.is_some() && changes.changed[0].hash.is_some());
    assert!(changes.deleted >= 1, "{changes:?}");
    // One delta page and one GET per changed file (delta answers carry no path): no listing.
    assert_eq!(emu.stats().requests - before, 3);
    // A token the service no longer knows (410 resyncRequired): a new feed, compare by listing.
    let expired = format!("{}/drives/{drive}/root/delta?token=999999", emu.base_url());
    let again = c.target_changes(Some(&expired)).await.unwrap();
    assert!(again.resync && again.changed.is_empty());
    assert_ne!(again.delta_link, expired);
    let later = c.target_changes(Some(&again.delta_link)).await.unwrap();
    assert!(!later.resync);
    // A link to another server is never sent the token.
    let err = c
        .target_changes(Some("http://127.0.0.1:9/v1.0/drives/x/root/delta?token=1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
}

#[tokio::test]
async fn more_changes_than_the_feeds_limit_or_dropped_tokens_answer_resync_never_a_partial_list() {
    let _shared = MEMORY.read().await;
    let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
    let drive = emu.add_user(UPN);
    let c = open(
        &emu,
        &format!("onedrive://{UPN}/Docs?max_changes=2"),
        Access::ReadWrite,
    )
    .await;
    let first = c.target_changes(None).await.unwrap();
    // Two edits: within the limit, named one by one.
    for name in ["a", "b"] {
        emu.seed_file(&drive, &format!("Docs/{name}.txt"), b"x", None)
            .unwrap();
    }
    let two = c.target_changes(Some(&first.delta_link)).await.unwrap();
    assert!(!two.resync);
    assert_eq!(two.changed.len(), 2, "{two:?}");
    // Three edits: over the limit, so no list at all and a new feed; the caller compares by listing.
    for name in ["c", "d", "e"] {
        emu.seed_file(&drive, &format!("Docs/{name}.txt"), b"x", None)
            .unwrap();
    }
    let three = c.target_changes(Some(&two.delta_link)).await.unwrap();
    assert!(three.resync && three.changed.is_empty(), "{three:?}");
    assert_ne!(three.delta_link, two.delta_link);
    // A token the service dropped (410 resyncChangesUploadDifferences): the same answer.
    emu.expire_delta_tokens(&drive, DeltaResync::UploadDifferences);
    emu.seed_file(&drive, "Docs/f.txt", b"x", None).unwrap();
    let dropped = c.target_changes(Some(&three.delta_link)).await.unwrap();
    assert!(dropped.resync && dropped.changed.is_empty(), "{dropped:?}");
    // The new link works, and from then on the feed names changes again.
    emu.seed_file(&drive, "Docs/g.txt", b"x", None).unwrap();
    let after = c.target_changes(Some(&dropped.delta_link)).await.unwrap();
    assert!(!after.resync);
    let names: Vec<&str> = after.changed.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, ["g.txt"]);
    // The limit is an endpoint option with a clear error for a bad value.
    let err = GraphConfig::parse(&format!("onedrive://{UPN}/Docs?max_changes=0")).unwrap_err();
    assert!(err.to_string().contains("max_changes"), "{err}");
}
