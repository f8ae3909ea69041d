//! The journal's batched writes (mail on PostgreSQL, files on SQLite: many rows a statement, not one per
//! row) keep the row-by-row rules on both stores: a batch of many rows, and a batch that writes one uid
//! (or one file) twice.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

use ferry_core::folder::FolderPath;
use ferry_store::*;

#[macro_use]
mod journal_common;
use journal_common::{Journal, file, item, mail_pass};

both!(a_batch_of_rows_is_written_as_row_by_row_writes_would_be);
async fn a_batch_of_rows_is_written_as_row_by_row_writes_would_be(store: &dyn Journal) {
    let (mapping, pass) = mail_pass(store, "b").await;
    let inbox = FolderPath::inbox();
    let sent = FolderPath(vec!["Sent".into()]);
    // 500 pending rows, every other one with what a copy may carry (hash, flags, about, note).
    let pending: Vec<ItemWrite> = (1..=500)
        .map(|uid| {
            let mut w = item(uid, &format!("f{uid}"), ItemStatus::Pending);
            if uid % 2 == 0 {
                w.message_id = None;
                w.target_folder = Some(sent.clone());
                w.content_hash = Some(format!("h{uid}"));
                w.flags = Some(vec!["\\Seen".into(), "$Label1".into()]);
                w.about = ItemAbout {
                    date: Some("2026-12-07T00:00:00Z".into()),
                    sender: Some("a@example.com".into()),
                    subject: Some(format!("s{uid}")),
                };
                w.note = Some("changed".into());
            }
            w
        })
        .collect();
    store
        .write_items(mapping, pass, &inbox, 7, &pending)
        .await
        .unwrap();
    // The outcomes: copied with a uid, leaving the rest as it was; 1 in 50 failed with a reason.
    let outcomes: Vec<ItemWrite> = (1..=500)
        .map(|uid| {
            let mut w = item(uid, &format!("f{uid}"), ItemStatus::Copied);
            w.target_folder = None;
            w.probe_from = None;
            w.message_id = pending[uid as usize - 1].message_id.clone();
            if uid % 50 == 0 {
                w.status = ItemStatus::Failed;
                w.reason = Some("refused".into());
            } else {
                w.target_uid = Some(1000 + uid);
            }
            w
        })
        .collect();
    store
        .write_items(mapping, pass, &inbox, 7, &outcomes)
        .await
        .unwrap();
    let copied = store
        .items_with_status(mapping, &inbox, 7, ItemStatus::Copied)
        .await
        .unwrap();
    assert_eq!(copied.len(), 490);
    for r in &copied {
        assert_eq!(r.attempts, 1, "uid {}", r.uid);
        assert_eq!(r.target_uid, Some(1000 + r.uid));
        assert_eq!(r.probe_from, Some(1), "kept from the pending write");
        if r.uid % 2 == 0 {
            assert_eq!(r.target_folder.as_ref(), Some(&sent));
            assert_eq!(
                r.content_hash.as_deref(),
                Some(format!("h{}", r.uid).as_str())
            );
            assert_eq!(
                r.flags,
                Some(vec!["$Label1".to_string(), "\\Seen".to_string()])
            );
            assert_eq!(
                r.about.subject.as_deref(),
                Some(format!("s{}", r.uid).as_str())
            );
            assert_eq!(r.note.as_deref(), Some("changed"));
            assert_eq!(r.message_id, None);
        } else {
            assert_eq!(r.target_folder.as_ref(), Some(&inbox));
            assert_eq!(r.content_hash, None);
            assert_eq!(r.note, None);
            assert_eq!(
                r.message_id.as_deref(),
                Some(format!("{}@x", r.uid).as_str())
            );
        }
    }
    let failed = store
        .items_with_status(mapping, &inbox, 7, ItemStatus::Failed)
        .await
        .unwrap();
    assert_eq!(failed.len(), 10);
    assert!(
        failed
            .iter()
            .all(|r| r.reason.as_deref() == Some("refused") && r.target_uid.is_none())
    );
}

both!(a_batch_that_writes_one_uid_twice_applies_both_writes_in_order);
async fn a_batch_that_writes_one_uid_twice_applies_both_writes_in_order(store: &dyn Journal) {
    let (mapping, pass) = mail_pass(store, "c").await;
    let inbox = FolderPath::inbox();
    let mut first = item(3, "f3", ItemStatus::Pending);
    first.content_hash = Some("h3".into());
    let mut again = item(3, "f3", ItemStatus::Pending);
    again.probe_from = Some(9);
    let mut done = item(3, "f3", ItemStatus::Copied);
    done.target_uid = Some(33);
    store
        .write_items(
            mapping,
            pass,
            &inbox,
            7,
            &[first, item(4, "f4", ItemStatus::Pending), again, done],
        )
        .await
        .unwrap();
    let copied = store
        .items_with_status(mapping, &inbox, 7, ItemStatus::Copied)
        .await
        .unwrap();
    assert_eq!(copied.len(), 1);
    let r = &copied[0];
    assert_eq!(
        (r.uid, r.attempts, r.probe_from, r.target_uid),
        (3, 2, Some(1), Some(33)),
        "two pending writes count two attempts; the last write's values win"
    );
    assert_eq!(
        r.content_hash.as_deref(),
        Some("h3"),
        "kept from the first write"
    );
    let pending = store
        .items_with_status(mapping, &inbox, 7, ItemStatus::Pending)
        .await
        .unwrap();
    assert_eq!(pending.iter().map(|r| r.uid).collect::<Vec<_>>(), vec![4]);
}

fn file_row(path: &str, status: ItemStatus, target_size: Option<u64>) -> FileItemWrite {
    FileItemWrite {
        target_size,
        target_mtime: None,
        target_etag: target_size.map(|s| format!("e{s}")),
        ..file(path, status)
    }
}

both!(a_file_batch_longer_than_one_statement_keeps_each_rows_order_and_attempts);
async fn a_file_batch_longer_than_one_statement_keeps_each_rows_order_and_attempts(
    store: &dyn Journal,
) {
    let (mapping, pass) = mail_pass(store, "files").await;
    // 1,300 rows in one write (SQLite writes them 500 to a statement): each file's pending row, then
    // its copied row in the same write (a copy that ends before the writer took the batch); one file
    // pending twice (two attempts) and one failed after a pending row, keeping the copied target size.
    let mut rows = Vec::new();
    for i in 0..600 {
        rows.push(file_row(&format!("d/f{i:04}"), ItemStatus::Pending, None));
    }
    for i in 0..600 {
        rows.push(file_row(
            &format!("d/f{i:04}"),
            ItemStatus::Copied,
            Some(100 + i),
        ));
    }
    rows.push(file_row("twice", ItemStatus::Pending, None));
    rows.push(file_row("twice", ItemStatus::Pending, None));
    rows.push(file_row("kept", ItemStatus::Copied, Some(7)));
    rows.push(file_row("kept", ItemStatus::Failed, None));
    rows.extend((0..96).map(|i| file_row(&format!("e/g{i}"), ItemStatus::Copied, Some(1))));
    assert_eq!(rows.len(), 1300);
    store.write_file_items(mapping, pass, &rows).await.unwrap();

    let d = store.file_items_in_dir(mapping, "d").await.unwrap();
    assert_eq!(d.len(), 600);
    for r in &d {
        let i: u64 = r.path["d/f".len()..].parse().unwrap();
        assert_eq!(
            (r.status, r.target_size, r.target_etag.clone(), r.attempts),
            (
                ItemStatus::Copied,
                Some(100 + i),
                Some(format!("e{}", 100 + i)),
                1
            ),
            "{}",
            r.path
        );
    }
    let root = store.file_items_in_dir(mapping, "").await.unwrap();
    let twice = root.iter().find(|r| r.path == "twice").unwrap();
    assert_eq!((twice.status, twice.attempts), (ItemStatus::Pending, 2));
    let kept = root.iter().find(|r| r.path == "kept").unwrap();
    assert_eq!(
        (kept.status, kept.target_size, kept.attempts),
        (ItemStatus::Failed, Some(7), 1),
        "a failed rewrite keeps what Ferry wrote last time"
    );
    assert_eq!(
        store.file_items_in_dir(mapping, "e").await.unwrap().len(),
        96
    );
}
