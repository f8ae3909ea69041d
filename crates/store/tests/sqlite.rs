//! The journal store's story (the movers' `Store`, `FileStore` and `JournalReads`), every case run against
//! SQLite and against PostgreSQL: each case is written once against `&dyn Journal`, and [`both!`] makes a
//! test per store. The PostgreSQL half gets a database of its own from `ferry_testkit::postgres` (a reported
//! skip without a cluster; `scripts/test.sh` starts one).

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

use ferry_core::folder::FolderPath;
use ferry_store::*;

#[macro_use]
mod journal_common;
use journal_common::{Journal, file, item, mail_pass};

both!(journal_round_trip_and_report_count_every_item);
async fn journal_round_trip_and_report_count_every_item(store: &dyn Journal) {
    let run = store.create_run("mail", "{}").await.unwrap();
    let m = store
        .upsert_mapping("imap://a@h", "imap://a@t", "a@example.com")
        .await
        .unwrap();
    // Re-upserting finds the same mapping.
    assert_eq!(
        store
            .upsert_mapping("imap://a@h", "imap://a@t", "a@example.com")
            .await
            .unwrap()
            .id,
        m.id
    );
    let pass = store
        .start_pass(m.id, run, PassKind::Initial)
        .await
        .unwrap();
    let inbox = FolderPath::inbox();
    store
        .save_folder_state(
            m.id,
            &FolderState {
                folder: inbox.clone(),
                target_folder: inbox.clone(),
                uid_validity: 7,
                uid_next: 4,
                messages: 3,
                hwm: 0,
                error: None,
                target_uid_validity: Some(3),
                source_modseq: None,
            },
        )
        .await
        .unwrap();
    store
        .write_items(
            m.id,
            pass,
            &inbox,
            7,
            &[
                item(1, "f1", ItemStatus::Pending),
                item(2, "f2", ItemStatus::Pending),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .items_with_status(m.id, &inbox, 7, ItemStatus::Pending)
            .await
            .unwrap()
            .len(),
        2
    );
    let mut done = item(1, "f1", ItemStatus::Copied);
    done.target_uid = Some(11);
    let mut skipped = item(3, "f3", ItemStatus::Skipped);
    skipped.reason = Some("too large".into());
    store
        .write_items(m.id, pass, &inbox, 7, &[done, skipped])
        .await
        .unwrap();
    assert_eq!(
        store.journaled_uids(m.id, &inbox, 7, 1, 10).await.unwrap(),
        vec![1, 2, 3]
    );
    let rep = store.report().await.unwrap();
    assert_eq!(rep.len(), 1);
    assert_eq!(
        (
            rep[0].discovered,
            rep[0].copied,
            rep[0].skipped,
            rep[0].pending
        ),
        (3, 1, 1, 1)
    );
    let problems = store.problems(m.id).await.unwrap();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].reason.as_deref(), Some("too large"));
    // What a pass may still act on, read once for the mapping: everything but the copied rows.
    let open: Vec<(u32, ItemStatus)> = store
        .open_items(m.id)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.uid, r.status))
        .collect();
    assert_eq!(
        open,
        vec![(2, ItemStatus::Pending), (3, ItemStatus::Skipped)]
    );
    // The pending row counted one attempt; rewriting it as copied keeps the count and the probe.
    let rows = store
        .items_with_status(m.id, &inbox, 7, ItemStatus::Copied)
        .await
        .unwrap();
    assert_eq!(
        (rows[0].attempts, rows[0].target_uid, rows[0].probe_from),
        (1, Some(11), Some(1))
    );
}

both!(claim_by_fingerprint_takes_one_row_per_identical_message);
async fn claim_by_fingerprint_takes_one_row_per_identical_message(store: &dyn Journal) {
    let (m, pass) = mail_pass(store, "a").await;
    let inbox = FolderPath::inbox();
    store
        .write_items(
            m,
            pass,
            &inbox,
            1,
            &[
                item(1, "dup", ItemStatus::Copied),
                item(2, "dup", ItemStatus::Copied),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_by_fingerprint(m, &inbox, 1, 2, 10, "dup", None)
            .await
            .unwrap(),
        Some(ItemStatus::Copied)
    );
    assert_eq!(
        store
            .claim_by_fingerprint(m, &inbox, 1, 2, 11, "dup", None)
            .await
            .unwrap(),
        Some(ItemStatus::Copied)
    );
    assert_eq!(
        store
            .claim_by_fingerprint(m, &inbox, 1, 2, 12, "dup", None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.journaled_uids(m, &inbox, 2, 1, 100).await.unwrap(),
        vec![10, 11]
    );
}

both!(a_claim_with_a_content_hash_never_takes_the_row_of_another_body);
async fn a_claim_with_a_content_hash_never_takes_the_row_of_another_body(store: &dyn Journal) {
    let (m, pass) = mail_pass(store, "a").await;
    let inbox = FolderPath::inbox();
    let with = |uid, status, hash: Option<&str>| ItemWrite {
        content_hash: hash.map(str::to_owned),
        flags: Some(vec!["\\Seen".into()]),
        ..item(uid, "same", status)
    };
    store
        .write_items(
            m,
            pass,
            &inbox,
            1,
            &[
                with(1, ItemStatus::Copied, Some("aaaa")),
                with(2, ItemStatus::Failed, None),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        store.shared_fingerprints(m, &inbox, 1).await.unwrap(),
        vec!["same".to_owned()]
    );
    // Body "bbbb" is not the copied row's body: it takes the failed row (no hash recorded).
    assert_eq!(
        store
            .claim_by_fingerprint(m, &inbox, 1, 2, 5, "same", Some("bbbb"))
            .await
            .unwrap(),
        Some(ItemStatus::Failed)
    );
    // No row is left for a third body; body "aaaa" finds its own row.
    assert_eq!(
        store
            .claim_by_fingerprint(m, &inbox, 1, 2, 6, "same", Some("cccc"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .claim_by_fingerprint(m, &inbox, 1, 2, 7, "same", Some("aaaa"))
            .await
            .unwrap(),
        Some(ItemStatus::Copied)
    );
    let copied = store
        .items_with_status(m, &inbox, 2, ItemStatus::Copied)
        .await
        .unwrap();
    assert_eq!(copied[0].uid, 7);
    assert_eq!(copied[0].content_hash.as_deref(), Some("aaaa"));
    assert_eq!(copied[0].flags, Some(vec!["\\Seen".to_owned()]));
    assert_eq!(
        store
            .count_with_status(m, &inbox, 2, ItemStatus::Copied)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn reopening_applies_migrations_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/ferry.db");
    drop(SqliteStore::open(&path).await.unwrap());
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(store.mappings().await.unwrap().is_empty());
}

both!(file_journal_is_read_a_directory_at_a_time_and_reports_every_file);
async fn file_journal_is_read_a_directory_at_a_time_and_reports_every_file(store: &dyn Journal) {
    let run = store.create_run("files", "{}").await.unwrap();
    let m = store
        .upsert_mapping("/src", "webdav://h/t", "share")
        .await
        .unwrap();
    let pass = store
        .start_pass(m.id, run, PassKind::Initial)
        .await
        .unwrap();
    let mut skipped = file("a/b/forbidden:name", ItemStatus::Skipped);
    skipped.reason = Some("name".into());
    store
        .write_file_items(
            m.id,
            pass,
            &[
                file("top.txt", ItemStatus::Copied),
                file("a/b/c.txt", ItemStatus::Copied),
                skipped,
            ],
        )
        .await
        .unwrap();
    assert_eq!(store.file_items_in_dir(m.id, "").await.unwrap().len(), 1);
    assert_eq!(store.file_items_in_dir(m.id, "a/b").await.unwrap().len(), 2);
    assert!(store.file_items_in_dir(m.id, "a").await.unwrap().is_empty());
    let rep = store.file_report().await.unwrap();
    assert_eq!(
        (
            rep[0].discovered,
            rep[0].copied,
            rep[0].skipped,
            rep[0].bytes_copied
        ),
        (3, 2, 1, 20)
    );
    assert_eq!(
        store.file_problems(m.id).await.unwrap()[0]
            .reason
            .as_deref(),
        Some("name")
    );
    // A failed rewrite keeps what Ferry wrote last time.
    let mut failed = file("top.txt", ItemStatus::Failed);
    failed.target_size = None;
    store.write_file_items(m.id, pass, &[failed]).await.unwrap();
    let row = store.file_items_in_dir(m.id, "").await.unwrap().remove(0);
    assert_eq!(
        (row.status, row.target_size, row.attempts),
        (ItemStatus::Failed, Some(10), 1)
    );

    let up = SavedUpload {
        state: "{}".into(),
        source_size: 99,
        source_mtime: None,
    };
    store.save_upload(m.id, "big.bin", &up).await.unwrap();
    assert_eq!(store.load_upload(m.id, "big.bin").await.unwrap(), Some(up));
    store.delete_upload(m.id, "big.bin").await.unwrap();
    assert_eq!(store.load_upload(m.id, "big.bin").await.unwrap(), None);
}

both!(reports_read_a_runs_journal_page_by_page_and_count_it);
async fn reports_read_a_runs_journal_page_by_page_and_count_it(store: &dyn Journal) {
    let run = store.create_run("mail", "{}").await.unwrap();
    let m = store
        .upsert_mapping("imap://a@h", "imap://a@t", "a@example.com")
        .await
        .unwrap();
    let pass = store
        .start_pass(m.id, run, PassKind::Initial)
        .await
        .unwrap();
    let inbox = FolderPath::inbox();
    let mut skipped = item(3, "f3", ItemStatus::Skipped);
    skipped.reason = Some("too large".into());
    store
        .write_items(
            m.id,
            pass,
            &inbox,
            7,
            &[
                item(1, "f1", ItemStatus::Copied),
                item(2, "f2", ItemStatus::Copied),
                skipped,
            ],
        )
        .await
        .unwrap();
    let passes = store.run_passes(&run.to_string()).await.unwrap();
    assert_eq!(passes, vec![(pass.to_string(), m.id.to_string())]);
    assert_eq!(
        store.run_mapping(&run.to_string()).await.unwrap(),
        Some(m.id.to_string())
    );
    assert_eq!(store.run_mapping("no-such-run").await.unwrap(), None);
    // Keyset paging: two pages of two, then nothing; every row once, in key order.
    let (mid, pid) = (m.id.to_string(), pass.to_string());
    let first = store
        .mail_items_page(&mid, &pid, ("", -1, -1), 2)
        .await
        .unwrap();
    assert_eq!(first.iter().map(|r| r.uid).collect::<Vec<_>>(), vec![1, 2]);
    let last = &first[1];
    let rest = store
        .mail_items_page(&mid, &pid, (&last.folder, last.uid_validity, last.uid), 2)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(
        (
            rest[0].uid,
            rest[0].status.as_str(),
            rest[0].reason.as_deref()
        ),
        (3, "skipped", Some("too large"))
    );
    let counts = store.journal_counts(&mid).await.unwrap();
    let mut by = counts.by_status.clone();
    by.sort();
    assert_eq!(by, vec![("copied".into(), 2), ("skipped".into(), 1)]);
    assert_eq!(counts.folder_errors, 0);
    // No file rows for a mail pass.
    assert!(
        store
            .file_items_page(&mid, &pid, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn postgres_migrations_apply_once_even_when_two_processes_start_together() {
    let Some(db) = ferry_testkit::postgres::TestDatabase::create("pg_migrate_once").unwrap() else {
        return;
    };
    let (a, b) = tokio::join!(PgStore::connect(db.url(), 2), PgStore::connect(db.url(), 2));
    let (a, b) = (a.unwrap(), b.unwrap());
    let again = PgStore::connect(db.url(), 2).await.unwrap();
    assert!(again.mappings().await.unwrap().is_empty());
    let versions = db
        .psql("SELECT count(*), count(DISTINCT version) FROM ferry_migration")
        .unwrap();
    let (total, distinct) = versions.trim().split_once('|').unwrap();
    assert_eq!(total, distinct, "a migration was applied twice");
    drop((a, b));
}

#[tokio::test]
async fn a_postgres_store_that_cannot_be_reached_says_so_without_its_password() {
    // Port 1 on loopback: nothing listens there.
    let err = match PgStore::connect("postgres://ferry:s3cret-pw@127.0.0.1:1/ferry", 1).await {
        Ok(_) => panic!("connected to nothing"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("cannot connect to the store"), "{err}");
    assert!(err.contains("ferry:***@127.0.0.1:1"), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
    let err = match PgStore::connect(
        "postgres://ferry:s3cret-pw@127.0.0.1:1/ferry?sslmode=bogus",
        1,
    )
    .await
    {
        Ok(_) => panic!("accepted a bad URL"),
        Err(e) => e.to_string(),
    };
    assert!(!err.contains("s3cret-pw"), "{err}");
}

#[tokio::test]
async fn a_postgres_store_carries_on_after_the_database_drops_its_connections() {
    let Some(db) = ferry_testkit::postgres::TestDatabase::create("pg_reconnect").unwrap() else {
        return;
    };
    let store = PgStore::connect(db.url(), 2).await.unwrap();
    let m = store.upsert_mapping("s", "t", "l").await.unwrap();
    // What a database restart or failover does to a pool: every connection of it ended by the server.
    let ended = db
        .psql(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.name()
        ))
        .unwrap();
    assert!(ended.trim().parse::<u32>().unwrap() >= 1, "{ended}");
    // The next calls get fresh connections: nothing fails, nothing is lost.
    assert_eq!(store.mappings().await.unwrap()[0].id, m.id);
    let run = store.create_run("mail", "{}").await.unwrap();
    store
        .start_pass(m.id, run, PassKind::Initial)
        .await
        .unwrap();
    assert_eq!(store.passes(m.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_postgres_store_at_a_newer_schema_is_refused_saying_to_upgrade_ferry() {
    let Some(db) = ferry_testkit::postgres::TestDatabase::create("pg_newer_schema").unwrap() else {
        return;
    };
    drop(PgStore::connect(db.url(), 1).await.unwrap());
    db.psql("INSERT INTO ferry_migration (version, applied_at) VALUES (9999, 'later')")
        .unwrap();
    let err = match PgStore::connect(db.url(), 1).await {
        Ok(_) => panic!("opened a store newer than this ferry"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("schema version 9999") && err.contains("upgrade ferry"),
        "{err}"
    );
}

both!(a_note_on_a_copy_is_kept_by_later_writes_and_the_copy_is_listed_as_changed);
async fn a_note_on_a_copy_is_kept_by_later_writes_and_the_copy_is_listed_as_changed(
    store: &dyn Journal,
) {
    let (m, pass) = mail_pass(store, "a").await;
    let inbox = FolderPath::inbox();
    store
        .save_folder_state(
            m,
            &FolderState {
                folder: inbox.clone(),
                target_folder: inbox.clone(),
                uid_validity: 7,
                uid_next: 3,
                messages: 2,
                hwm: 2,
                error: None,
                target_uid_validity: Some(3),
                source_modseq: None,
            },
        )
        .await
        .unwrap();
    let changed = ItemWrite {
        note: Some("read-receipt request disarmed".into()),
        ..item(1, "f1", ItemStatus::Copied)
    };
    store
        .write_items(
            m,
            pass,
            &inbox,
            7,
            &[changed, item(2, "f2", ItemStatus::Copied)],
        )
        .await
        .unwrap();
    // A later write without a note (a flag sync) keeps it.
    store
        .write_items(m, pass, &inbox, 7, &[item(1, "f1", ItemStatus::Copied)])
        .await
        .unwrap();
    let rows = store.changed(m).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].uid, rows[0].note.as_deref()),
        (1, Some("read-receipt request disarmed"))
    );
    let page = store
        .mail_items_page(&m.to_string(), &pass.to_string(), ("", -1, -1), 10)
        .await
        .unwrap();
    let notes: Vec<Option<&str>> = page.iter().map(|r| r.note.as_deref()).collect();
    assert_eq!(notes, [Some("read-receipt request disarmed"), None]);
}

both!(a_file_mappings_target_delta_link_is_kept_replaced_and_forgotten);
async fn a_file_mappings_target_delta_link_is_kept_replaced_and_forgotten(store: &dyn Journal) {
    let a = store
        .upsert_mapping("/src", "onedrive://u@x/t", "a")
        .await
        .unwrap();
    let b = store
        .upsert_mapping("/src2", "onedrive://u@x/t2", "b")
        .await
        .unwrap();
    assert_eq!(store.file_delta_link(a.id).await.unwrap(), None);
    store
        .set_file_delta_link(a.id, Some("https://g/v1.0/drives/d/root/delta?token=1"))
        .await
        .unwrap();
    store
        .set_file_delta_link(a.id, Some("https://g/v1.0/drives/d/root/delta?token=2"))
        .await
        .unwrap();
    assert_eq!(
        store.file_delta_link(a.id).await.unwrap().as_deref(),
        Some("https://g/v1.0/drives/d/root/delta?token=2")
    );
    assert_eq!(store.file_delta_link(b.id).await.unwrap(), None);
    store.set_file_delta_link(a.id, None).await.unwrap();
    assert_eq!(store.file_delta_link(a.id).await.unwrap(), None);
}

both!(the_journal_recognises_the_target_etags_of_ferrys_own_copies_only);
async fn the_journal_recognises_the_target_etags_of_ferrys_own_copies_only(store: &dyn Journal) {
    let a = store
        .upsert_mapping("/src", "onedrive://u@x/t", "a")
        .await
        .unwrap();
    let b = store
        .upsert_mapping("/src2", "onedrive://u@x/t2", "b")
        .await
        .unwrap();
    let run = store.create_run("files", "{}").await.unwrap();
    let pass = store
        .start_pass(a.id, run, PassKind::Initial)
        .await
        .unwrap();
    let tagged = |p: &str, status, tag: &str| FileItemWrite {
        target_etag: Some(tag.to_owned()),
        ..file(p, status)
    };
    store
        .write_file_items(
            a.id,
            pass,
            &[
                tagged("x.txt", ItemStatus::Copied, "{A},2"),
                tagged("y.txt", ItemStatus::Copied, "{B},3"),
                file("z.txt", ItemStatus::Skipped),
            ],
        )
        .await
        .unwrap();
    let asked: Vec<String> = ["{A},2", "{B},4", "{C},1"].map(String::from).to_vec();
    let own = store.file_own_etags(a.id, &asked).await.unwrap();
    assert_eq!(own, ["{A},2".to_owned()].into_iter().collect());
    // Another mapping's journal does not vouch for them, and no tags asked is no query answer.
    assert!(store.file_own_etags(b.id, &asked).await.unwrap().is_empty());
    assert!(store.file_own_etags(a.id, &[]).await.unwrap().is_empty());
}

both!(the_own_etag_lookup_asks_a_long_feed_in_several_queries);
async fn the_own_etag_lookup_asks_a_long_feed_in_several_queries(store: &dyn Journal) {
    // More eTags than one query asks (500): the answer is the same as for a short feed.
    let a = store
        .upsert_mapping("/src", "onedrive://u@x/t", "a")
        .await
        .unwrap();
    let run = store.create_run("files", "{}").await.unwrap();
    let pass = store
        .start_pass(a.id, run, PassKind::Initial)
        .await
        .unwrap();
    let items: Vec<FileItemWrite> = (0..1200)
        .map(|i| FileItemWrite {
            target_etag: Some(format!("{{E{i}}},1")),
            ..file(&format!("f{i}.txt"), ItemStatus::Copied)
        })
        .collect();
    store.write_file_items(a.id, pass, &items).await.unwrap();
    // Every other one of Ferry's tags, interleaved with tags it never wrote.
    let asked: Vec<String> = (0..1200)
        .flat_map(|i| [format!("{{E{i}}},1"), format!("{{X{i}}},1")])
        .filter(|t| {
            !t.starts_with("{E") || t[2..].trim_end_matches("},1").parse::<u32>().unwrap() % 2 == 0
        })
        .collect();
    let own = store.file_own_etags(a.id, &asked).await.unwrap();
    let want: std::collections::HashSet<String> = (0..1200)
        .step_by(2)
        .map(|i| format!("{{E{i}}},1"))
        .collect();
    assert_eq!(own.len(), 600);
    assert_eq!(own, want);
}

both!(open_problems_count_what_the_report_counts_without_the_copied_rows);
async fn open_problems_count_what_the_report_counts_without_the_copied_rows(store: &dyn Journal) {
    let run = store.create_run("mail", "{}").await.unwrap();
    let m = store
        .upsert_mapping("imap://b@h", "imap://b@t", "b@example.com")
        .await
        .unwrap();
    let other = store
        .upsert_mapping("imap://c@h", "imap://c@t", "c@example.com")
        .await
        .unwrap();
    let pass = store
        .start_pass(m.id, run, PassKind::Initial)
        .await
        .unwrap();
    let inbox = FolderPath::inbox();
    let sent = FolderPath::parse("Sent", '/');
    for (folder, validity, error) in [(&inbox, 7, None), (&sent, 9, Some("NO [LIMIT]".into()))] {
        store
            .save_folder_state(
                m.id,
                &FolderState {
                    folder: folder.clone(),
                    target_folder: folder.clone(),
                    uid_validity: validity,
                    uid_next: 10,
                    messages: 5,
                    hwm: 0,
                    error,
                    target_uid_validity: Some(3),
                    source_modseq: None,
                },
            )
            .await
            .unwrap();
    }
    store
        .write_items(
            m.id,
            pass,
            &inbox,
            7,
            &[
                item(1, "f1", ItemStatus::Copied),
                item(2, "f2", ItemStatus::Skipped),
                item(3, "f3", ItemStatus::Failed),
                item(4, "f4", ItemStatus::Pending),
            ],
        )
        .await
        .unwrap();
    // Rows under an older UIDVALIDITY no longer stand, in the report or here.
    store
        .write_items(m.id, pass, &inbox, 6, &[item(9, "f9", ItemStatus::Failed)])
        .await
        .unwrap();
    store
        .write_items(m.id, pass, &sent, 9, &[item(1, "s1", ItemStatus::Skipped)])
        .await
        .unwrap();
    let all = store.open_problems().await.unwrap();
    // A mapping with nothing open is not listed.
    assert_eq!(all.len(), 1, "{all:?}");
    let (id, open) = all[0];
    assert_eq!(id, m.id);
    assert_eq!(
        open,
        OpenProblems {
            skipped: 2,
            failed: 2,
            folder_errors: 1
        }
    );
    let rep = store.report().await.unwrap();
    let of_m = rep.iter().filter(|f| f.mapping_id == m.id.to_string());
    let (mut skipped, mut failed, mut errors) = (0, 0, 0);
    for f in of_m {
        skipped += f.skipped;
        failed += f.failed + f.pending;
        errors += u64::from(f.folder_error.is_some());
    }
    assert_eq!(
        (skipped, failed, errors),
        (open.skipped, open.failed, open.folder_errors)
    );
    assert_ne!(other.id, m.id);
}

#[tokio::test]
async fn on_sqlite_the_one_serve_process_always_leads_the_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let at = ferry_store::StoreLocation::in_data_dir(dir.path());
    let leader = at.leadership().unwrap();
    assert!(leader.lead().await.unwrap());
    assert!(leader.lead().await.unwrap());
}

#[tokio::test]
async fn on_postgres_one_process_leads_the_scheduler_and_another_takes_over_when_it_is_gone() {
    use ferry_store::Leadership;
    let Some(db) = ferry_testkit::postgres::TestDatabase::create("leader").unwrap() else {
        return;
    };
    let at = ferry_store::StoreLocation::parse(db.url()).unwrap();
    let a = at.leadership().unwrap();
    let b = at.leadership().unwrap();
    assert!(a.lead().await.unwrap(), "the first to ask leads");
    assert!(!b.lead().await.unwrap(), "one leader at a time");
    assert!(a.lead().await.unwrap(), "the leader keeps the lead");
    assert!(!b.lead().await.unwrap());
    // Another key is another lock: the scheduler's leader does not block it.
    let other = ferry_store::PgLeader::with_key(db.url(), 42).unwrap();
    assert!(other.lead().await.unwrap());
    // The leader's connection ends (its process died): the lock goes with it.
    db.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'ferry-scheduler' AND pid IN \
         (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 26213 AND objid = 1920104819 AND granted)",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !b.lead().await.unwrap_or(false) {
        assert!(std::time::Instant::now() < deadline, "nobody took over");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        !a.lead().await.unwrap_or(false),
        "the old leader sees it lost the lead"
    );
    assert!(!a.lead().await.unwrap(), "and then waits like any other");
    drop(b);
}
