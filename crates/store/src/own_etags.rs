//! [`FileStore::file_own_etags`](crate::FileStore::file_own_etags) for both stores: which of a target
//! change feed's eTags are those of Ferry's own copies. One loop and one SQL text; the stores differ only in
//! how they write a placeholder (`?` in SQLite, `$n` in PostgreSQL) and in their pool.

use ferry_core::id::MappingId;
use ferry_core::{Error, Result};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};
use std::collections::HashSet;

/// eTags asked in one query. A feed carries at most a few thousand changes: a few queries of bounded size,
/// well under SQLite's and PostgreSQL's limits on bound values.
pub(crate) const CHUNK: usize = 500;

/// How a store writes its `n`th placeholder (counted from 1).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Marks {
    /// SQLite: `?` (values bound in order).
    Question,
    /// PostgreSQL: `$1`, `$2`, …
    Numbered,
}

impl Marks {
    fn nth(self, n: usize) -> String {
        match self {
            Marks::Question => "?".to_owned(),
            Marks::Numbered => format!("${n}"),
        }
    }
}

/// The lookup of `n` eTags among one mapping's copied files: the mapping is the first value bound, the eTags
/// the next `n`. It reads the `file_item_by_target_etag` index (SQLite 0018, PostgreSQL 0011).
pub(crate) fn sql(marks: Marks, n: usize) -> String {
    let list: Vec<String> = (2..n + 2).map(|i| marks.nth(i)).collect();
    format!(
        "SELECT target_etag FROM file_item WHERE mapping_id = {} AND status = 'copied' AND target_etag IN ({})",
        marks.nth(1),
        list.join(", ")
    )
}

/// Those of `etags` that a copied file of `mapping` carries, asked [`CHUNK`] at a time.
pub(crate) async fn own_etags<DB>(
    pool: &Pool<DB>,
    marks: Marks,
    db_err: fn(sqlx::Error) -> Error,
    mapping: MappingId,
    etags: &[String],
) -> Result<HashSet<String>>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
    let mut out = HashSet::new();
    for chunk in etags.chunks(CHUNK) {
        // Only placeholders are formatted in; every value is bound.
        let mut q = sqlx::query_scalar::<DB, String>(sqlx::AssertSqlSafe(sql(marks, chunk.len())))
            .bind(mapping.to_string());
        for t in chunk {
            q = q.bind(t.as_str());
        }
        out.extend(q.fetch_all(pool).await.map_err(db_err)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

    use super::*;

    /// The plan of the lookup on each store names `file_item_by_target_etag`: the query is answered by eTag,
    /// not by reading every copied row of the mapping.
    #[tokio::test]
    async fn the_lookup_reads_the_target_etag_index_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SqliteStore::open(&dir.path().join("ferry.db"))
            .await
            .unwrap();
        let plan = format!("EXPLAIN QUERY PLAN {}", sql(Marks::Question, 3));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(plan)).bind("m");
        for t in ["a", "b", "c"] {
            q = q.bind(t);
        }
        let rows = q.fetch_all(store.pool()).await.unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|r| sqlx::Row::get::<String, _>(r, 3))
            .collect();
        assert!(
            plan.iter().any(|l| l.contains("file_item_by_target_etag")),
            "{plan:?}"
        );
    }

    #[tokio::test]
    async fn the_lookup_reads_the_target_etag_index_on_postgres() {
        let Some(db) = ferry_testkit::postgres::TestDatabase::create("own_etags_plan").unwrap()
        else {
            return;
        };
        let store = crate::PgStore::connect(db.url(), 1).await.unwrap();
        let plan = format!("EXPLAIN {}", sql(Marks::Numbered, 3));
        let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(plan)).bind("m");
        for t in ["a", "b", "c"] {
            q = q.bind(t);
        }
        let plan = q.fetch_all(store.pool()).await.unwrap().join("\n");
        assert!(plan.contains("file_item_by_target_etag"), "{plan}");
    }

    #[test]
    fn placeholders_number_the_mapping_first_then_the_etags() {
        assert_eq!(
            sql(Marks::Numbered, 2),
            "SELECT target_etag FROM file_item WHERE mapping_id = $1 AND status = 'copied' AND target_etag IN ($2, $3)"
        );
        assert!(
            sql(Marks::Question, 2)
                .ends_with("mapping_id = ? AND status = 'copied' AND target_etag IN (?, ?)")
        );
    }
}
