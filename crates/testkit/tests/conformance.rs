//! Tests of the conformance suite's own logic, against a tiny in-memory `MailConnector`.
//!
//! The double exists only to test the suite (it is not a reference connector): a correct variant must pass
//! every check, and each injected bug must fail exactly the check that covers it.

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset};
use ferry_core::fingerprint::{fingerprint_message, parse_headers};
use ferry_core::folder::{FolderInfo, FolderPath, SpecialUse};
use ferry_core::mail::{
    Access, AppendRequest, FolderStatus, MailCapability, MailConnector, MessageSummary, RawMessage,
};
use ferry_core::{Error, ErrorKind, Result};
use ferry_testkit::conformance::{
    CHECKS, ConformanceFactory, Outcome, mail_conformance_report, run_mail_conformance,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Default)]
struct Bugs {
    seen_on_fetch: bool,
    read_only_appends: bool,
    ignore_limit: bool,
    fetch_missing_errors: bool,
    drops_keywords: bool,
    append_silently_ignored: bool,
}

struct Stored {
    bytes: Vec<u8>,
    flags: Vec<String>,
    internal_date: Option<DateTime<FixedOffset>>,
}

struct Folder {
    uid_validity: u32,
    uid_next: u32,
    messages: BTreeMap<u32, Stored>,
}

impl Folder {
    fn new(uid_validity: u32) -> Self {
        Folder {
            uid_validity,
            uid_next: 1,
            messages: BTreeMap::new(),
        }
    }
}

type Store = Arc<Mutex<BTreeMap<FolderPath, Folder>>>;

struct Mem {
    store: Store,
    access: Access,
    cap: MailCapability,
    bugs: Bugs,
}

impl Mem {
    fn store(&self) -> std::sync::MutexGuard<'_, BTreeMap<FolderPath, Folder>> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn writable(&self) -> Result<()> {
        if self.access == Access::ReadOnly && !self.bugs.read_only_appends {
            return Err(Error::unsupported("read-only"));
        }
        if !self.cap.append && !self.bugs.append_silently_ignored {
            return Err(Error::unsupported("this format cannot be written"));
        }
        Ok(())
    }
}

fn not_found(folder: &FolderPath) -> Error {
    Error::new(ErrorKind::NotFound, format!("no folder {folder}"))
}

#[async_trait]
impl MailConnector for Mem {
    fn capability(&self) -> MailCapability {
        let mut cap = self.cap;
        if self.access == Access::ReadOnly {
            cap.append = false;
        }
        cap
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }

    async fn list_folders(&mut self) -> Result<Vec<FolderInfo>> {
        Ok(self
            .store()
            .keys()
            .map(|p| FolderInfo {
                path: p.clone(),
                special_use: p
                    .0
                    .first()
                    .and_then(|n| SpecialUse::from_well_known_name(n)),
                selectable: true,
            })
            .collect())
    }

    async fn folder_status(&mut self, folder: &FolderPath) -> Result<FolderStatus> {
        let store = self.store();
        let f = store.get(folder).ok_or_else(|| not_found(folder))?;
        Ok(FolderStatus {
            uid_validity: f.uid_validity,
            uid_next: f.uid_next,
            messages: f.messages.len() as u32,
            highest_modseq: None,
        })
    }

    async fn summaries(
        &mut self,
        folder: &FolderPath,
        uid_from: u32,
        limit: u32,
    ) -> Result<Vec<MessageSummary>> {
        let store = self.store();
        let f = store.get(folder).ok_or_else(|| not_found(folder))?;
        let take = if self.bugs.ignore_limit {
            usize::MAX
        } else {
            limit as usize
        };
        Ok(f.messages
            .range(uid_from..)
            .take(take)
            .map(|(uid, m)| MessageSummary {
                uid: *uid,
                size: m.bytes.len() as u64,
                flags: m.flags.clone(),
                internal_date: m.internal_date,
                message_id: parse_headers(&m.bytes).message_id,
                fingerprint: fingerprint_message(&m.bytes),
                from: parse_headers(&m.bytes).values[2].clone(),
                subject: parse_headers(&m.bytes).values[5].clone(),
            })
            .collect())
    }

    async fn fetch(&mut self, folder: &FolderPath, uids: &[u32]) -> Result<Vec<RawMessage>> {
        let mut store = self.store();
        let f = store.get_mut(folder).ok_or_else(|| not_found(folder))?;
        let mut out = Vec::new();
        for uid in uids {
            match f.messages.get_mut(uid) {
                Some(m) => {
                    if self.bugs.seen_on_fetch && !m.flags.iter().any(|f| f == "\\Seen") {
                        m.flags.push("\\Seen".to_owned());
                    }
                    out.push(RawMessage {
                        uid: *uid,
                        bytes: m.bytes.clone(),
                    });
                }
                None if self.bugs.fetch_missing_errors => {
                    return Err(Error::new(ErrorKind::NotFound, format!("no uid {uid}")));
                }
                None => {}
            }
        }
        Ok(out)
    }

    async fn create_folder(
        &mut self,
        folder: &FolderPath,
        _special_use: Option<SpecialUse>,
    ) -> Result<()> {
        self.writable()?;
        if !self.cap.append {
            return Ok(()); // the "silently ignored" bug
        }
        if folder.0.len() > 1 && !self.cap.nested_folders {
            return Err(Error::unsupported("flat namespace"));
        }
        let mut store = self.store();
        let next = store.len() as u32 + 100;
        for p in folder.ancestors().into_iter().chain([folder.clone()]) {
            store.entry(p).or_insert_with(|| Folder::new(next));
        }
        Ok(())
    }

    async fn append(
        &mut self,
        folder: &FolderPath,
        messages: &[AppendRequest<'_>],
    ) -> Result<Vec<Result<Option<u32>>>> {
        self.writable()?;
        if !self.cap.append {
            return Ok(messages.iter().map(|_| Ok(None)).collect());
        }
        let mut store = self.store();
        let f = store.get_mut(folder).ok_or_else(|| not_found(folder))?;
        let mut out = Vec::new();
        for m in messages {
            let uid = f.uid_next;
            f.uid_next += 1;
            let flags = m
                .flags
                .iter()
                .filter(|fl| !self.bugs.drops_keywords || fl.starts_with('\\'))
                .cloned()
                .collect();
            f.messages.insert(
                uid,
                Stored {
                    bytes: m.bytes.to_vec(),
                    flags,
                    internal_date: m.internal_date,
                },
            );
            out.push(Ok(self.cap.append_uid.then_some(uid)));
        }
        Ok(out)
    }

    async fn search_message_id(
        &mut self,
        folder: &FolderPath,
        message_id: &str,
    ) -> Result<Vec<u32>> {
        if !self.cap.search_message_id {
            return Err(Error::unsupported("no search"));
        }
        let store = self.store();
        let f = store.get(folder).ok_or_else(|| not_found(folder))?;
        Ok(f.messages
            .iter()
            .filter(|(_, m)| parse_headers(&m.bytes).message_id.as_deref() == Some(message_id))
            .map(|(uid, _)| *uid)
            .collect())
    }

    async fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

struct Factory {
    store: Store,
    cap: MailCapability,
    bugs: Bugs,
}

impl Factory {
    fn new(cap: MailCapability, bugs: Bugs) -> Self {
        let mut folders = BTreeMap::new();
        folders.insert(FolderPath::inbox(), Folder::new(1));
        Factory {
            store: Arc::new(Mutex::new(folders)),
            cap,
            bugs,
        }
    }
}

#[async_trait]
impl ConformanceFactory for Factory {
    async fn open(&self, access: Access) -> Result<Box<dyn MailConnector>> {
        Ok(Box::new(Mem {
            store: Arc::clone(&self.store),
            access,
            cap: self.cap,
            bugs: self.bugs,
        }))
    }
}

fn full() -> MailCapability {
    MailCapability {
        append: true,
        append_uid: true,
        batch_append: true,
        keywords: true,
        internal_date: true,
        special_use: false,
        search_message_id: true,
        nested_folders: true,
        stable_uids: true,
        set_flags: false,
        changed_since: false,
    }
}

#[tokio::test]
async fn a_correct_connector_passes_every_check() {
    let report = mail_conformance_report(&Factory::new(full(), Bugs::default())).await;
    assert_eq!(report.passed().len(), CHECKS.len(), "\n{report}");
    run_mail_conformance(&Factory::new(full(), Bugs::default())).await;
}

#[tokio::test]
async fn a_connector_without_uidplus_or_nesting_still_passes() {
    let cap = MailCapability {
        append_uid: false,
        nested_folders: false,
        ..full()
    };
    let report = mail_conformance_report(&Factory::new(cap, Bugs::default())).await;
    assert!(report.failed().is_empty(), "\n{report}");
}

async fn failed_with(bugs: Bugs) -> Vec<&'static str> {
    mail_conformance_report(&Factory::new(full(), bugs))
        .await
        .failed()
}

#[tokio::test]
async fn setting_seen_on_fetch_fails_the_read_only_check() {
    let bugs = Bugs {
        seen_on_fetch: true,
        ..Bugs::default()
    };
    assert_eq!(
        failed_with(bugs).await,
        ["read_only_connector_refuses_writes_and_changes_nothing"]
    );
}

#[tokio::test]
async fn a_read_only_connector_that_appends_fails_the_read_only_check() {
    let bugs = Bugs {
        read_only_appends: true,
        ..Bugs::default()
    };
    assert_eq!(
        failed_with(bugs).await,
        ["read_only_connector_refuses_writes_and_changes_nothing"]
    );
}

#[tokio::test]
async fn ignoring_the_page_limit_fails_the_paging_check() {
    let bugs = Bugs {
        ignore_limit: true,
        ..Bugs::default()
    };
    assert_eq!(
        failed_with(bugs).await,
        ["summaries_page_ascending_without_gaps"]
    );
}

#[tokio::test]
async fn an_error_for_a_missing_uid_fails_the_missing_uid_check() {
    let bugs = Bugs {
        fetch_missing_errors: true,
        ..Bugs::default()
    };
    assert_eq!(failed_with(bugs).await, ["fetch_of_a_missing_uid_omits_it"]);
}

#[tokio::test]
async fn dropping_keywords_fails_unless_the_capability_says_so() {
    let bugs = Bugs {
        drops_keywords: true,
        ..Bugs::default()
    };
    assert_eq!(failed_with(bugs).await, ["flags_and_keywords_survive"]);
    let cap = MailCapability {
        keywords: false,
        ..full()
    };
    let report = mail_conformance_report(&Factory::new(cap, bugs)).await;
    assert!(report.failed().is_empty(), "\n{report}");
    assert!(matches!(
        report.outcome("flags_and_keywords_survive"),
        Some(Outcome::Skipped(_))
    ));
}

#[tokio::test]
async fn a_connector_that_cannot_append_is_skipped_after_checking_it_refuses() {
    let cap = MailCapability {
        append: false,
        append_uid: false,
        batch_append: false,
        ..full()
    };
    let report = mail_conformance_report(&Factory::new(cap, Bugs::default())).await;
    assert!(report.failed().is_empty(), "\n{report}");
    assert!(
        report
            .skipped()
            .contains(&"append_then_fetch_round_trips_bytes"),
        "\n{report}"
    );
    // The same connector accepting writes silently instead of refusing them fails.
    let bugs = Bugs {
        append_silently_ignored: true,
        ..Bugs::default()
    };
    let report = mail_conformance_report(&Factory::new(cap, bugs)).await;
    assert!(
        report
            .failed()
            .contains(&"append_then_fetch_round_trips_bytes"),
        "\n{report}"
    );
}

#[tokio::test]
#[should_panic(expected = "summaries_page_ascending_without_gaps")]
async fn run_mail_conformance_panics_naming_the_failed_checks() {
    let bugs = Bugs {
        ignore_limit: true,
        ..Bugs::default()
    };
    run_mail_conformance(&Factory::new(full(), bugs)).await;
}
