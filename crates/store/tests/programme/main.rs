//! The programme store's suite (issue 12 §1–§2): every area trait of `ferry_store::programme`, written
//! against `&dyn ProgrammeStore`, and every case run twice by [`both!`]: on a fresh SQLite file in a temp dir
//! and on a fresh PostgreSQL database (`ferry_testkit::postgres`: a reported skip without a cluster;
//! `scripts/test.sh` starts one, and under `CI=true` a missing cluster is an error).

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

use ferry_store::programme::{PgProgramme, ProgrammeStore, SqliteProgramme};
use ferry_store::{PgStore, SqliteStore};

/// `case` (an `async fn(Box<dyn ProgrammeStore>)`) as two tests: `case::on_sqlite`, `case::on_postgres`.
macro_rules! both {
    ($case:ident) => {
        mod $case {
            #[tokio::test]
            async fn on_sqlite() {
                let (p, _dir) = $crate::fresh_sqlite().await;
                super::$case(p).await;
            }
            #[tokio::test]
            async fn on_postgres() {
                let Some((p, _db)) = $crate::fresh_postgres(stringify!($case)).await else {
                    return;
                };
                super::$case(p).await;
            }
        }
    };
}

mod access;
mod event_lines;
mod events;
mod grid;
mod projects;

/// A fresh, migrated programme store on SQLite (and what keeps it alive).
pub async fn fresh_sqlite() -> (Box<dyn ProgrammeStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ferry.db"))
        .await
        .unwrap();
    (Box::new(SqliteProgramme::new(store.pool().clone())), dir)
}

/// A fresh, migrated programme store on a PostgreSQL database of its own, or `None` (a reported skip).
pub async fn fresh_postgres(
    test: &str,
) -> Option<(
    Box<dyn ProgrammeStore>,
    ferry_testkit::postgres::TestDatabase,
)> {
    let db = ferry_testkit::postgres::TestDatabase::create(test).unwrap()?;
    let store = PgStore::connect(db.url(), 4).await.unwrap();
    Some((Box::new(PgProgramme::new(store.pool().clone())), db))
}

/// A fixed time, plus `secs` seconds.
pub fn at(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap()
}

/// A commercial tenant and its mail project "Mail", created at `at(0)`.
pub async fn mail_project(
    p: &dyn ProgrammeStore,
) -> (ferry_core::id::TenantId, ferry_core::id::ProjectId) {
    use ferry_core::programme::tenant::{AvailabilityWindow, Cloud, Plan, Seats, Tenant};
    let tenant = ferry_core::id::TenantId::new();
    p.insert_tenant(
        tenant,
        &Tenant {
            name: "T".into(),
            plan: Plan::Commercial,
            seats: Seats {
                paid: 600,
                trial: 0,
                faculty_staff: 0,
                students: 0,
            },
            first_purchase: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            cloud: Cloud::Commercial,
            window: AvailabilityWindow::AllWeek,
        },
        at(0),
    )
    .await
    .unwrap();
    let project = ferry_core::id::ProjectId::new();
    p.insert_project(
        project,
        tenant,
        "Mail",
        ferry_core::programme::Workload::Mail,
        ferry_core::programme::SourceSystem::default(),
        at(0),
    )
    .await
    .unwrap();
    (tenant, project)
}
