//! What the journal story files share: [`Journal`], a store of each kind, [`both!`] (a case as a test per
//! store) and a journal row to write.

#![allow(dead_code)] // each test file uses its own part

use ferry_core::folder::FolderPath;
use ferry_core::id::{MappingId, PassId};
use ferry_store::*;

/// Everything a journal store offers.
pub trait Journal: FileStore + JournalReads {}
impl<T: FileStore + JournalReads> Journal for T {}

pub async fn on_sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ferry.db"))
        .await
        .unwrap();
    (store, dir)
}

pub async fn on_postgres(test: &str) -> Option<(PgStore, ferry_testkit::postgres::TestDatabase)> {
    let db = ferry_testkit::postgres::TestDatabase::create(test).unwrap()?;
    let store = PgStore::connect(db.url(), 4).await.unwrap();
    Some((store, db))
}

/// `case` (an `async fn(&dyn Journal)`) as two tests: `case::on_sqlite` and `case::on_postgres`.
macro_rules! both {
    ($case:ident) => {
        mod $case {
            #[tokio::test]
            async fn on_sqlite() {
                let (store, _dir) = $crate::journal_common::on_sqlite().await;
                super::$case(&store).await;
            }
            #[tokio::test]
            async fn on_postgres() {
                let Some((store, _db)) =
                    $crate::journal_common::on_postgres(stringify!($case)).await
                else {
                    return;
                };
                super::$case(&store).await;
            }
        }
    };
}

pub fn item(uid: u32, fp: &str, status: ItemStatus) -> ItemWrite {
    ItemWrite {
        uid,
        fingerprint: fp.to_owned(),
        message_id: Some(format!("{uid}@x")),
        size: 100,
        status,
        reason: None,
        target_folder: Some(FolderPath::inbox()),
        target_uid: None,
        probe_from: Some(1),
        content_hash: None,
        flags: None,
        about: ItemAbout::default(),
        note: None,
    }
}

/// A mail mapping for `user` with an initial pass started in a new run: what a journal case writes under.
/// A file's journal row as a copy writes it: 10 bytes, copied to the same path with the same time.
pub fn file(path: &str, status: ItemStatus) -> FileItemWrite {
    FileItemWrite {
        path: path.to_owned(),
        size: 10,
        mtime: Some("2024-01-01T00:00:00.000000000Z".into()),
        hash: None,
        hash_kind: None,
        status,
        reason: None,
        target_path: Some(path.to_owned()),
        target_size: Some(10),
        target_mtime: Some("2024-01-01T00:00:00.000000000Z".into()),
        target_etag: None,
        renamed: None,
    }
}

pub async fn mail_pass(store: &dyn Journal, user: &str) -> (MappingId, PassId) {
    let run = store.create_run("mail", "{}").await.unwrap();
    let m = store
        .upsert_mapping(
            &format!("imap://{user}@h"),
            &format!("imap://{user}@t"),
            &format!("{user}@example.com"),
        )
        .await
        .unwrap();
    let pass = store
        .start_pass(m.id, run, PassKind::Initial)
        .await
        .unwrap();
    (m.id, pass)
}
