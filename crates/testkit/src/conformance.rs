//! The mail connector conformance suite (DESIGN §4): one set of behaviour checks every
//! [`MailConnector`] must pass. A connector is done when it passes.
//!
//! The connector's test file supplies a [`ConformanceFactory`] that opens fresh connectors on one **empty**
//! mailbox and calls [`run_mail_conformance`]:
//!
//! ```ignore
//! struct Imap { server: Dovecot }
//! #[async_trait]
//! impl ConformanceFactory for Imap {
//!     async fn open(&self, access: Access) -> ferry_core::Result<Box<dyn MailConnector>> {
//!         Ok(Box::new(ImapConnector::connect(/* self.server.url(), "alice", ... */ access).await?))
//!     }
//! }
//! #[tokio::test]
//! async fn imap_connector_passes_the_conformance_suite() {
//!     let server = Dovecot::start(DovecotOptions::default()).unwrap();
//!     server.add_user("alice", "pw").unwrap();
//!     run_mail_conformance(&Imap { server }).await;
//! }
//! ```
//!
//! Each check is a named function. Checks read [`MailCapability`]: a behaviour the connector declares
//! unsupported is not skipped silently — the check then asserts the call fails with
//! [`ErrorKind::Unsupported`]. Every check runs even if an earlier one failed; at the end the suite panics
//! with the list of failed checks and why. Each check works in its own folders, so one failure does not
//! cascade into the others.

use crate::corpus;
use async_trait::async_trait;
use chrono::{DateTime, FixedOffset};
use ferry_core::ErrorKind;
use ferry_core::folder::FolderPath;
use ferry_core::mail::{Access, AppendRequest, MailCapability, MailConnector, MessageSummary};
use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Opens connectors for the suite. Every connector opened by one factory must see the same mailbox, which
/// must be empty (apart from `INBOX` and any special-use folders the server creates) when the suite starts.
#[async_trait]
pub trait ConformanceFactory: Send + Sync {
    /// A fresh connector session on the mailbox.
    async fn open(&self, access: Access) -> ferry_core::Result<Box<dyn MailConnector>>;
}

/// How one check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// Not applicable, with the reason (e.g. "connector cannot append; checked that append is refused").
    Skipped(String),
    Failed(String),
}

/// The outcome of every check, in the order they ran.
#[derive(Clone, Debug, Default)]
pub struct ConformanceReport {
    pub results: Vec<(&'static str, Outcome)>,
}

impl ConformanceReport {
    /// Names of the failed checks.
    pub fn failed(&self) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .map(|(n, _)| *n)
            .collect()
    }

    /// Names of the passed checks.
    pub fn passed(&self) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|(_, o)| *o == Outcome::Passed)
            .map(|(n, _)| *n)
            .collect()
    }

    /// Names of the skipped checks.
    pub fn skipped(&self) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Skipped(_)))
            .map(|(n, _)| *n)
            .collect()
    }

    /// The outcome of one check.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.results
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, o)| o)
    }
}

impl fmt::Display for ConformanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, outcome) in &self.results {
            match outcome {
                Outcome::Passed => writeln!(f, "  ok    {name}")?,
                Outcome::Skipped(why) => writeln!(f, "  skip  {name}: {why}")?,
                Outcome::Failed(why) => writeln!(f, "  FAIL  {name}: {why}")?,
            }
        }
        Ok(())
    }
}

/// Run every check and panic at the end if any failed, listing each failed check by name.
pub async fn run_mail_conformance(factory: &dyn ConformanceFactory) {
    let report = mail_conformance_report(factory).await;
    let failed = report.failed();
    if !failed.is_empty() {
        panic!(
            "mail connector conformance: {} check(s) failed: {}\n{report}",
            failed.len(),
            failed.join(", ")
        );
    }
}

/// Run every check and return the report without panicking (for tests of the suite itself).
pub async fn mail_conformance_report(factory: &dyn ConformanceFactory) -> ConformanceReport {
    let mut report = ConformanceReport::default();
    for (name, check) in CHECKS {
        let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check(factory)).await {
            Ok(Ok(o)) => o,
            Ok(Err(why)) => Outcome::Failed(why),
            Err(_) => Outcome::Failed(format!("did not finish within {CHECK_TIMEOUT:?}")),
        };
        report.results.push((name, outcome));
    }
    report
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(180);

type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<Outcome, String>> + Send + 'a>>;
type Check = for<'a> fn(&'a dyn ConformanceFactory) -> CheckFuture<'a>;

/// Every check, by name, in the order they run.
pub const CHECKS: [(&str, Check); 14] = [
    ("list_folders_includes_inbox", |f| {
        Box::pin(list_folders_includes_inbox(f))
    }),
    ("append_then_fetch_round_trips_bytes", |f| {
        Box::pin(append_then_fetch_round_trips_bytes(f))
    }),
    ("flags_and_keywords_survive", |f| {
        Box::pin(flags_and_keywords_survive(f))
    }),
    ("internal_date_survives", |f| {
        Box::pin(internal_date_survives(f))
    }),
    ("nested_and_non_ascii_folder_names_round_trip", |f| {
        Box::pin(nested_and_non_ascii_folder_names_round_trip(f))
    }),
    ("summaries_page_ascending_without_gaps", |f| {
        Box::pin(summaries_page_ascending_without_gaps(f))
    }),
    ("summaries_report_size_message_id_and_fingerprint", |f| {
        Box::pin(summaries_report_size_message_id_and_fingerprint(f))
    }),
    ("fetch_of_a_missing_uid_omits_it", |f| {
        Box::pin(fetch_of_a_missing_uid_omits_it(f))
    }),
    ("folder_status_counts_and_uid_next_move_after_append", |f| {
        Box::pin(folder_status_counts_and_uid_next_move_after_append(f))
    }),
    ("folder_status_of_a_missing_folder_is_not_found", |f| {
        Box::pin(folder_status_of_a_missing_folder_is_not_found(f))
    }),
    ("peek_statuses_agree_with_folder_status", |f| {
        Box::pin(peek_statuses_agree_with_folder_status(f))
    }),
    ("create_folder_twice_is_ok", |f| {
        Box::pin(create_folder_twice_is_ok(f))
    }),
    (
        "read_only_connector_refuses_writes_and_changes_nothing",
        |f| Box::pin(read_only_connector_refuses_writes_and_changes_nothing(f)),
    ),
    ("search_message_id_finds_the_message", |f| {
        Box::pin(search_message_id_finds_the_message(f))
    }),
];

// ---------------------------------------------------------------------------------------------------------
// Helpers

/// Turn a connector error into a check failure naming the call.
fn call<T>(what: &str, r: ferry_core::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{what} failed: {e:?}"))
}

fn ensure(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(why()) }
}

/// A call that must fail with `Unsupported` because the capability says so.
fn expect_unsupported<T>(what: &str, r: ferry_core::Result<T>) -> Result<(), String> {
    match r {
        Err(e) if e.kind() == ErrorKind::Unsupported => Ok(()),
        Err(e) => Err(format!(
            "{what} must fail with Unsupported, failed with {e:?}"
        )),
        Ok(_) => Err(format!("{what} must fail with Unsupported, but succeeded")),
    }
}

async fn open(
    f: &dyn ConformanceFactory,
    access: Access,
) -> Result<Box<dyn MailConnector>, String> {
    call(&format!("open({access:?})"), f.open(access).await)
}

/// The folder a check works in: `Conformance/<name>` when nesting is supported, else `Conformance-<name>`.
fn work_folder(cap: MailCapability, name: &str) -> FolderPath {
    if cap.nested_folders {
        FolderPath(vec!["Conformance".to_owned(), name.to_owned()])
    } else {
        FolderPath(vec![format!("Conformance-{name}")])
    }
}

struct Msg {
    bytes: Vec<u8>,
    flags: Vec<String>,
    internal_date: Option<DateTime<FixedOffset>>,
}

impl Msg {
    fn plain(bytes: Vec<u8>) -> Msg {
        Msg {
            bytes,
            flags: Vec::new(),
            internal_date: None,
        }
    }
}

/// All summaries of a folder, paging with `limit`; checks that pages are ascending and within bounds.
async fn all_summaries(
    conn: &mut dyn MailConnector,
    folder: &FolderPath,
    limit: u32,
) -> Result<Vec<MessageSummary>, String> {
    let mut out: Vec<MessageSummary> = Vec::new();
    let mut from = 1;
    for _ in 0..100_000 {
        let page = call("summaries", conn.summaries(folder, from, limit).await)?;
        if page.is_empty() {
            return Ok(out);
        }
        ensure(page.len() <= limit as usize, || {
            format!("summaries(limit {limit}) returned {} entries", page.len())
        })?;
        for s in &page {
            ensure(s.uid >= from, || {
                format!("summaries(uid_from {from}) returned uid {}", s.uid)
            })?;
            if let Some(last) = out.last() {
                ensure(s.uid > last.uid, || {
                    format!("summaries not ascending: uid {} after {}", s.uid, last.uid)
                })?;
            }
            out.push(s.clone());
        }
        from = out.last().map_or(from, |s| s.uid.saturating_add(1));
    }
    Err("summaries never returned an empty page".to_owned())
}

/// Create `folder`, append `msgs`, check every append succeeded; returns the new uids in order (from the
/// append results with UIDPLUS, else from the summaries after the previous maximum uid).
async fn seed(
    conn: &mut dyn MailConnector,
    folder: &FolderPath,
    msgs: &[Msg],
) -> Result<Vec<u32>, String> {
    let cap = conn.capability();
    if !folder.is_inbox() {
        call(
            &format!("create_folder({folder})"),
            conn.create_folder(folder, None).await,
        )?;
    }
    let before_max = all_summaries(conn, folder, 1000)
        .await?
        .last()
        .map_or(0, |s| s.uid);
    let requests: Vec<AppendRequest<'_>> = msgs
        .iter()
        .map(|m| AppendRequest {
            bytes: &m.bytes,
            flags: &m.flags,
            internal_date: m.internal_date,
        })
        .collect();
    let results = call(
        &format!("append({folder})"),
        conn.append(folder, &requests).await,
    )?;
    ensure(results.len() == msgs.len(), || {
        format!(
            "append of {} messages returned {} results",
            msgs.len(),
            results.len()
        )
    })?;
    let mut uids = Vec::with_capacity(msgs.len());
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(Some(uid)) => uids.push(uid),
            Ok(None) if cap.append_uid => {
                return Err(format!(
                    "capability append_uid is set but append returned no uid for message #{i}"
                ));
            }
            Ok(None) => {}
            Err(e) => return Err(format!("append of message #{i} failed: {e:?}")),
        }
    }
    if uids.len() < msgs.len() {
        let after = all_summaries(conn, folder, 1000).await?;
        uids = after
            .iter()
            .filter(|s| s.uid > before_max)
            .map(|s| s.uid)
            .collect();
        ensure(uids.len() == msgs.len(), || {
            format!(
                "appended {} messages but {} new uids appeared",
                msgs.len(),
                uids.len()
            )
        })?;
    }
    Ok(uids)
}

/// For connectors that cannot append: the append and create calls must be refused with `Unsupported`.
async fn refuses_append(
    conn: &mut dyn MailConnector,
    folder: &FolderPath,
) -> Result<Outcome, String> {
    let flags: Vec<String> = Vec::new();
    let req = [AppendRequest {
        bytes: b"Subject: x\r\n\r\nx\r\n",
        flags: &flags,
        internal_date: None,
    }];
    expect_unsupported(
        "append on a connector without the append capability",
        conn.append(folder, &req).await,
    )?;
    expect_unsupported(
        "create_folder on a connector without the append capability",
        conn.create_folder(folder, None).await,
    )?;
    Ok(Outcome::Skipped(
        "connector cannot append; checked that append and create_folder fail with Unsupported"
            .to_owned(),
    ))
}

fn date(s: &str) -> DateTime<FixedOffset> {
    // Fixed, valid literals only; a bad one is a bug in this file.
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("bad date literal {s}: {e}"))
}

fn has_flag(flags: &[String], want: &str) -> bool {
    flags.iter().any(|f| f.eq_ignore_ascii_case(want))
}

// ---------------------------------------------------------------------------------------------------------
// Checks

/// `list_folders` includes `INBOX`.
pub async fn list_folders_includes_inbox(f: &dyn ConformanceFactory) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadOnly).await?;
    let folders = call("list_folders", conn.list_folders().await)?;
    ensure(
        folders.iter().any(|fi| fi.path.is_inbox() && fi.selectable),
        || format!("INBOX missing or not selectable in {folders:?}"),
    )?;
    let _ = conn.close().await;
    Ok(Outcome::Passed)
}

/// Small, CRLF, 8-bit and ~5 MB messages come back byte for byte.
pub async fn append_then_fetch_round_trips_bytes(
    f: &dyn ConformanceFactory,
) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadWrite).await?;
    let cap = conn.capability();
    let folder = work_folder(cap, "Bytes");
    if !cap.append {
        return refuses_append(conn.as_mut(), &folder).await;
    }
    let mut eight_bit = b"Message-ID: <8bit@example.test>\r\nSubject: caf\xc3\xa9\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
    eight_bit.extend_from_slice("Grüße, 日本語, naïve café\r\n".as_bytes());
    eight_bit.extend_from_slice(b"latin-1 bytes: \xe9\xe8\xff\x80\r\n");
    let msgs = vec![
        Msg::plain(b"Subject: tiny\r\n\r\nx\r\n".to_vec()),
        Msg::plain(corpus::message(11, 0, 2_000)),
        Msg::plain(eight_bit),
        Msg::plain(corpus::message_with_attachment(11, 1, 3_800_000)),
    ];
    let uids = seed(conn.as_mut(), &folder, &msgs).await?;
    let fetched = call("fetch", conn.fetch(&folder, &uids).await)?;
    ensure(fetched.len() == msgs.len(), || {
        format!(
            "fetch of {} uids returned {} messages",
            uids.len(),
            fetched.len()
        )
    })?;
    for (i, (uid, m)) in uids.iter().zip(&msgs).enumerate() {
        let got = fetched
            .iter()
            .find(|r| r.uid == *uid)
            .ok_or_else(|| format!("fetch result lacks uid {uid}"))?;
        ensure(got.bytes == m.bytes, || {
            format!(
                "message #{i} (uid {uid}, {} bytes) came back different ({} bytes)",
                m.bytes.len(),
                got.bytes.len()
            )
        })?;
    }
    let _ = conn.close().await;
    Ok(Outcome::Passed)
}

/// `\Seen \Flagged \Answered \Draft` and the keywords `$Label1 Work` survive an append.
pub async fn flags_and_keywords_survive(f: &dyn ConformanceFactory) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadWrite).await?;
    let cap = conn.capability();
    let folder = work_folder(cap, "Flags");
    if !cap.append {
        return refuses_append(conn.as_mut(), &folder).await;
    }
    let system = ["\\Seen", "\\Flagged", "\\Answered", "\\Draft"];
    let keywords = ["$Label1", "Work"];
    let mut all: Vec<String> = system.iter().map(|s| (*s).to_owned()).collect();
    if cap.keywords {
        all.extend(keywords.iter().map(|s| (*s).to_owned()));
    }
    let msgs = vec![
        Msg {
            bytes: corpus::message(12, 0, 500),
            flags: all.clone(),
            internal_date: None,
        },
        Msg::plain(corpus::message(12, 1, 500)),
    ];
    let uids = seed(conn.as_mut(), &folder, &msgs).await?;
    let sums = all_summaries(conn.as_mut(), &folder, 100).await?;
    let first = sums
        .iter()
        .find(|s| s.uid == uids[0])
        .ok_or_else(|| format!("no summary for uid {}", uids[0]))?;
    for want in &all {
        ensure(has_flag(&first.flags, want), || {
            format!("flag {want} lost: got {:?}", first.flags)
        })?;
    }
    ensure(
        !first
            .flags
            .iter()
            .any(|f| f.eq_ignore_ascii_case("\\Recent")),
        || format!("summaries must not report \\Recent: {:?}", first.flags),
    )?;
    let second = sums
        .iter()
        .find(|s| s.uid == uids[1])
        .ok_or_else(|| format!("no summary for uid {}", uids[1]))?;
    ensure(second.flags.is_empty(), || {
        format!("message appended without flags has {:?}", second.flags)
    })?;
    let _ = conn.close().await;
    if cap.keywords {
        Ok(Outcome::Passed)
    } else {
        Ok(Outcome::Skipped(
            "keywords not supported; system flags checked".to_owned(),
        ))
    }
}

/// The internal date given to `append` comes back (as the same instant).
pub async fn internal_date_survives(f: &dyn ConformanceFactory) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadWrite).await?;
    let cap = conn.capability();
    let folder = work_folder(cap, "Dates");
    if !cap.append {
        return refuses_append(conn.as_mut(), &folder).await;
    }
    if !cap.internal_date {
        return Ok(Outcome::Skipped(
            "connector does not keep internal dates".to_owned(),
        ));
    }
    let dates = [
        date("1996-07-17T02:44:25-07:00"),
        date("2023-12-31T23:59:59+00:00"),
    ];
    let msgs: Vec<Msg> = dates
        .iter()
        .enumerate()
        .map(|(i, d)| Msg {
            bytes: corpus::message(13, i, 400),
            flags: Vec::new(),
            internal_date: Some(*d),
        })
        .collect();
    let uids = seed(conn.as_mut(), &folder, &msgs).await?;
    let sums = all_summaries(conn.as_mut(), &folder, 100).await?;
    for (uid, want) in uids.iter().zip(dates) {
        let s = sums
            .iter()
            .find(|s| s.uid == *uid)
            .ok_or_else(|| format!("no summary for uid {uid}"))?;
        ensure(
            s.internal_date.map(|d| d.timestamp()) == Some(want.timestamp()),
            || {
                format!(
                    "internal date of uid {uid}: want {want}, got {:?}",
                    s.internal_date
                )
            },
        )?;
    }
    let _ = conn.close().await;
    Ok(Outcome::Passed)
}

/// `Projets/Données`, `日本語` and `A&B` can be created and are listed with the same names.
pub async fn nested_and_non_ascii_folder_names_round_trip(
    f: &dyn ConformanceFactory,
) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadWrite).await?;
    let cap = conn.capability();
    let nested = FolderPath(vec!["Projets".to_owned(), "Données".to_owned()]);
    let flat = [
        FolderPath(vec!["日本語".to_owned()]),
        FolderPath(vec!["A&B".to_owned()]),
    ];
    if !cap.append {
        return refuses_append(conn.as_mut(), &flat[0]).await;
    }
    let mut wanted: Vec<FolderPath> = flat.to_vec();
    if cap.nested_folders {
        wanted.push(nested.clone());
    } else {
        expect_unsupported(
            "create_folder of a nested path without the nested_folders capability",
            conn.create_folder(&nested, None).await,
        )?;
    }
    for folder in &wanted {
        call(
            &format!("create_folder({folder})"),
            conn.create_folder(folder, None).await,
        )?;
    }
    // A fresh session must see them too (not only a cache in this one).
    let _ = conn.close().await;
    let mut conn = open(f, Access::ReadOnly).await?;
    let listed: BTreeSet<FolderPath> = call("list_folders", conn.list_folders().await)?
        .into_iter()
        .map(|fi| fi.path)
        .collect();
    for folder in &wanted {
        ensure(listed.contains(folder), || {
            format!(
                "created {:?} but list_folders has {listed:?}",
                folder.segments()
            )
        })?;
    }
    if cap.nested_folders {
        ensure(
            listed.contains(&FolderPath(vec!["Projets".to_owned()])),
            || format!("parent Projets of Projets/Données is not listed: {listed:?}"),
        )?;
    }
    for folder in &wanted {
        let st = call(
            &format!("folder_status({folder})"),
            conn.folder_status(folder).await,
        )?;
        ensure(st.messages == 0, || {
            format!("new folder {folder} has {} messages", st.messages)
        })?;
    }
    let _ = conn.close().await;
    Ok(Outcome::Passed)
}

/// 25 messages read with `limit` 10: three pages (10, 10, 5), ascending, no gaps or repeats, then an empty page.
pub async fn summaries_page_ascending_without_gaps(
    f: &dyn ConformanceFactory,
) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadWrite).await?;
    let cap = conn.capability();
    let folder = work_folder(cap, "Paging");
    if !cap.append {
        return refuses_append(conn.as_mut(), &folder).await;
    }
    let msgs: Vec<Msg> = (0..25)
        .map(|i| Msg::plain(corpus::message(14, i, 300)))
        .collect();
    let uids = seed(conn.as_mut(), &folder, &msgs).await?;
    let mut pages: Vec<Vec<u32>> = Vec::new();
    let mut from = 1;
    loop {
        let page = call("summaries", conn.summaries(&folder, from, 10).await)?;
        if page.is_empty() {
            break;
        }
        ensure(pages.len() < 10, || {
            "summaries keeps returning pages".to_owned()
        })?;
        let page_uids: Vec<u32> = page.iter().map(|s| s.uid).collect();
        from = page_uids.last().copied().unwrap_or(from).saturating_add(1);
        pages.push(page_uids);
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    ensure(sizes == [10, 10, 5], || {
        format!("page sizes {sizes:?}, want [10, 10, 5]")
    })?;
    let all: Vec<u32> = pages.concat();
    ensure(all.windows(2).all(|w| w[0] < w[1]), || {
        format!("uids not ascending: {all:?}")
    })?;
    let mut want = uids.clone();
    want.sort_unstable();
    ensure(all == want, || {
        format!("paged uids {all:?} differ from appended {want:?}")
    })?;
    // A page starting in the middle starts at the first uid >= uid_from.
    let mid = all[12];
    let page = call("summaries", conn.summaries(&folder, mid, 3).await)?;
    let got: Vec<u32> = page.iter().map(|s| s.uid).collect();
    ensure(got == all[12..15], || {
        format!(
            "summaries(uid_from {mid}, 3) = {got:?}, want {:?}",
            &all[12..15]
        )
    })?;
    let _ = conn.close().await;
    Ok(Outcome::Passed)
}

/// Summaries carry the exact size, the normalised Message-ID (or none) and the core fingerprint.
pub async fn summaries_report_size_message_id_and_fingerprint(
    f: &dyn ConformanceFactory,
) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadWrite).await?;
    let cap = conn.capability();
    let folder = work_folder(cap, "Summaries");
    if !cap.append {
        return refuses_append(conn.as_mut(), &folder).await;
    }
    let msgs = vec![
        Msg::plain(corpus::message(15, 0, 1_000)),
        Msg::plain(corpus::message_without_message_id(15, 1, 1_000)),
    ];
    let uids = seed(conn.as_mut(), &folder, &msgs).await?;
    let sums = all_summaries(conn.as_mut(), &folder, 100).await?;
    let want_ids = [Some(corpus::message_id(15, 0)), None];
    for ((uid, m), want_id) in uids.iter().zip(&msgs).zip(want_ids) {
        let s = sums
            .iter()
            .find(|s| s.uid == *uid)
            .ok_or_else(|| format!("no summary for uid {uid}"))?;
        ensure(s.size == m.bytes.len() as u64, || {
            format!(
                "uid {uid}: size {} but {} bytes were appended",
                s.size,
                m.bytes.len()
            )
        })?;
        ensure(s.message_id == want_id, || {
            format!("uid {uid}: message_id {:?}, want {want_id:?}", s.message_id)
        })?;
        let fp = ferry_core::fingerprint::fingerprint_message(&m.bytes);
        ensure(s.fingerprint == fp, || {
            format!("uid {uid}: fingerprint {} want {fp}", s.fingerprint)
        })?;
    }
    let _ = conn.close().await;
    Ok(Outcome::Passed)
}

/// `fetch` of a uid that does not exist leaves it out instead of failing.
pub async fn fetch_of_a_missing_uid_omits_it(
    f: &dyn ConformanceFactory,
) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadWrite).await?;
    let cap = conn.capability();
    let folder = work_folder(cap, "Missing");
    if !cap.append {
        return refuses_append(conn.as_mut(), &folder).await;
    }
    let msgs = vec![Msg::plain(corpus::message(16, 0, 400))];
    let uids = seed(conn.as_mut(), &folder, &msgs).await?;
    let missing = uids[0] + 1000;
    let got = call(
        "fetch with a missing uid",
        conn.fetch(&folder, &[uids[0], missing]).await,
    )?;
    let got_uids: Vec<u32> = got.iter().map(|r| r.uid).collect();
    ensure(got_uids == [uids[0]], || {
        format!("fetch([{}, {missing}]) returned uids {got_uids:?}", uids[0])
    })?;
    let none = call(
        "fetch of only a missing uid",
        conn.fetch(&folder, &[missing]).await,
    )?;
    ensure(none.is_empty(), || {
        format!("fetch([{missing}]) returned {} messages", none.len())
    })?;
    let _ = conn.close().await;
    Ok(Outcome::Passed)
}

/// `folder_status` counts messages; `uid_next` moves past appended uids; `uid_validity` stays.
pub async fn folder_status_counts_and_uid_next_move_after_append(
    f: &dyn ConformanceFactory,
) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadWrite).await?;
    let cap = conn.capability();
    let folder = work_folder(cap, "Status");
    if !cap.append {
        return refuses_append(conn.as_mut(), &folder).await;
    }
    call("create_folder", conn.create_folder(&folder, None).await)?;
    let before = call("folder_status (empty)", conn.folder_status(&folder).await)?;
    ensure(before.messages == 0, || {
        format!("new folder has {} messages", before.messages)
    })?;
    ensure(before.uid_validity != 0, || "uid_validity is 0".to_owned())?;
    let msgs = vec![
        Msg::plain(corpus::message(17, 0, 400)),
        Msg::plain(corpus::message(17, 1, 400)),
    ];
    let uids = seed(conn.as_mut(), &folder, &msgs).await?;
    let after = call(
        "folder_status (after append)",
        conn.folder_status(&folder).await,
    )?;
    ensure(after.messages == 2, || {
        format!("messages {} after appending 2", after.messages)
    })?;
    let max = uids.iter().copied().max().unwrap_or(0);
    ensure(after.uid_next > max, || {
        format!("uid_next {} not above appended uid {max}", after.uid_next)
    })?;
    ensure(after.uid_next >= before.uid_next + 2, || {
        format!(
            "uid_next moved from {} to {} after 2 appends",
            before.uid_next, after.uid_next
        )
    })?;
    // Only connectors that declare stable uids promise this (local formats re-number on any change).
    if cap.stable_uids {
        ensure(after.uid_validity == before.uid_validity, || {
            format!(
                "uid_validity changed from {} to {} although the connector declares stable uids",
                before.uid_validity, after.uid_validity
            )
        })?;
    }
    let _ = conn.close().await;
    Ok(Outcome::Passed)
}

/// `peek_statuses` gives one entry per folder; where it answers, it says what `folder_status` says, and a
/// missing folder has no answer.
pub async fn peek_statuses_agree_with_folder_status(
    f: &dyn ConformanceFactory,
) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadWrite).await?;
    let cap = conn.capability();
    let folder = work_folder(cap, "Peek");
    if !cap.append {
        return refuses_append(conn.as_mut(), &folder).await;
    }
    call("create_folder", conn.create_folder(&folder, None).await)?;
    seed(
        conn.as_mut(),
        &folder,
        &[Msg::plain(corpus::message(18, 0, 400))],
    )
    .await?;
    let _ = conn.close().await;
    // A fresh session: nothing is open or cached.
    let mut conn = open(f, Access::ReadOnly).await?;
    let missing = FolderPath(vec!["Conformance-does-not-exist".to_owned()]);
    let peeked = call(
        "peek_statuses",
        conn.peek_statuses(&[folder.clone(), missing]).await,
    )?;
    ensure(peeked.len() == 2, || {
        format!("peek_statuses of 2 folders gave {} entries", peeked.len())
    })?;
    ensure(peeked[1].is_none(), || {
        format!("peek_statuses of a missing folder answered {:?}", peeked[1])
    })?;
    let status = call("folder_status", conn.folder_status(&folder).await)?;
    if let Some(p) = peeked[0] {
        ensure(p == status, || {
            format!("peek_statuses said {p:?}, folder_status {status:?}")
        })?;
    }
    let _ = conn.close().await;
    Ok(Outcome::Passed)
}

/// `folder_status` of a folder that does not exist fails with `NotFound`.
pub async fn folder_status_of_a_missing_folder_is_not_found(
    f: &dyn ConformanceFactory,
) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadOnly).await?;
    let missing = FolderPath(vec!["Conformance-does-not-exist".to_owned()]);
    match conn.folder_status(&missing).await {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => {
            return Err(format!(
                "folder_status of a missing folder: want NotFound, got {e:?}"
            ));
        }
        Ok(st) => {
            return Err(format!(
                "folder_status of a missing folder succeeded: {st:?}"
            ));
        }
    }
    let _ = conn.close().await;
    Ok(Outcome::Passed)
}

/// Creating a folder that exists succeeds (and does not empty it).
pub async fn create_folder_twice_is_ok(f: &dyn ConformanceFactory) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadWrite).await?;
    let cap = conn.capability();
    let folder = work_folder(cap, "Twice");
    if !cap.append {
        return refuses_append(conn.as_mut(), &folder).await;
    }
    seed(
        conn.as_mut(),
        &folder,
        &[Msg::plain(corpus::message(18, 0, 300))],
    )
    .await?;
    call(
        "create_folder of an existing folder",
        conn.create_folder(&folder, None).await,
    )?;
    let st = call("folder_status", conn.folder_status(&folder).await)?;
    ensure(st.messages == 1, || {
        format!("folder has {} messages after re-creating it", st.messages)
    })?;
    let _ = conn.close().await;
    Ok(Outcome::Passed)
}

/// A `ReadOnly` connector refuses `append` and `create_folder` with `Unsupported`, and reading through it
/// (summaries, fetch) changes nothing: no `\Seen`, no new folder.
pub async fn read_only_connector_refuses_writes_and_changes_nothing(
    f: &dyn ConformanceFactory,
) -> Result<Outcome, String> {
    let mut rw = open(f, Access::ReadWrite).await?;
    let cap = rw.capability();
    let folder = work_folder(cap, "ReadOnly");
    let uids = if cap.append {
        let msgs = vec![
            Msg::plain(corpus::message(19, 0, 600)),
            Msg::plain(corpus::message(19, 1, 600)),
        ];
        seed(rw.as_mut(), &folder, &msgs).await?
    } else {
        Vec::new()
    };
    let _ = rw.close().await;

    let mut ro = open(f, Access::ReadOnly).await?;
    let ro_cap = ro.capability();
    ensure(!ro_cap.append, || {
        "a ReadOnly connector declares the append capability".to_owned()
    })?;
    let folders_before = call("list_folders", ro.list_folders().await)?;
    let flags: Vec<String> = Vec::new();
    let req = [AppendRequest {
        bytes: b"Subject: must not land\r\n\r\nx\r\n",
        flags: &flags,
        internal_date: None,
    }];
    let target = if cap.append {
        folder.clone()
    } else {
        FolderPath::inbox()
    };
    expect_unsupported(
        "append on a ReadOnly connector",
        ro.append(&target, &req).await,
    )?;
    let new_folder = work_folder(cap, "ReadOnlyMustNotExist");
    expect_unsupported(
        "create_folder on a ReadOnly connector",
        ro.create_folder(&new_folder, None).await,
    )?;
    if !cap.append {
        let _ = ro.close().await;
        return Ok(Outcome::Skipped(
            "connector cannot append, so no data to read; checked that writes are refused"
                .to_owned(),
        ));
    }
    let before = all_summaries(ro.as_mut(), &folder, 100).await?;
    let fetched = call("fetch via ReadOnly", ro.fetch(&folder, &uids).await)?;
    ensure(fetched.len() == uids.len(), || {
        format!("fetch returned {} of {}", fetched.len(), uids.len())
    })?;
    let _ = ro.close().await;

    // Look again through a fresh session: nothing changed.
    let mut check = open(f, Access::ReadOnly).await?;
    let after = all_summaries(check.as_mut(), &folder, 100).await?;
    ensure(after.len() == 2, || {
        format!("{} messages after the refused append, want 2", after.len())
    })?;
    for (b, a) in before.iter().zip(&after) {
        ensure(b.flags == a.flags, || {
            format!(
                "reading through ReadOnly changed flags of uid {}: {:?} -> {:?}",
                a.uid, b.flags, a.flags
            )
        })?;
        ensure(!has_flag(&a.flags, "\\Seen"), || {
            format!("fetch via ReadOnly set \\Seen on uid {}", a.uid)
        })?;
    }
    let folders_after = call("list_folders", check.list_folders().await)?;
    ensure(
        !folders_after.iter().any(|fi| fi.path == new_folder),
        || "create_folder on a ReadOnly connector created the folder anyway".to_owned(),
    )?;
    ensure(folders_after.len() == folders_before.len(), || {
        format!(
            "folder count changed from {} to {}",
            folders_before.len(),
            folders_after.len()
        )
    })?;
    let _ = check.close().await;
    Ok(Outcome::Passed)
}

/// `search_message_id` finds the message by its normalised Message-ID and nothing for an unknown one.
pub async fn search_message_id_finds_the_message(
    f: &dyn ConformanceFactory,
) -> Result<Outcome, String> {
    let mut conn = open(f, Access::ReadWrite).await?;
    let cap = conn.capability();
    let folder = work_folder(cap, "Search");
    if !cap.append {
        return refuses_append(conn.as_mut(), &folder).await;
    }
    let msgs = vec![
        Msg::plain(corpus::message(20, 0, 500)),
        Msg::plain(corpus::message(20, 1, 500)),
    ];
    let uids = seed(conn.as_mut(), &folder, &msgs).await?;
    let id = corpus::message_id(20, 1);
    if !cap.search_message_id {
        expect_unsupported(
            "search_message_id without the capability",
            conn.search_message_id(&folder, &id).await,
        )?;
        let _ = conn.close().await;
        return Ok(Outcome::Skipped(
            "search_message_id not supported; checked it fails with Unsupported".to_owned(),
        ));
    }
    let found = call(
        "search_message_id",
        conn.search_message_id(&folder, &id).await,
    )?;
    ensure(found == [uids[1]], || {
        format!("search_message_id({id}) = {found:?}, want [{}]", uids[1])
    })?;
    let none = call(
        "search_message_id (unknown)",
        conn.search_message_id(&folder, "no-such-id@example.test")
            .await,
    )?;
    ensure(none.is_empty(), || {
        format!("search for an unknown id found {none:?}")
    })?;
    let _ = conn.close().await;
    Ok(Outcome::Passed)
}
