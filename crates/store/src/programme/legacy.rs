//! Programme queries the server's mapping corrections need (issue 9 item 14). The server keeps older
//! programme queries itself; new ones live here, as free functions on a connection, so a handler can run
//! them inside its own transaction.

use crate::sqlite::db_err;
use ferry_core::Result;
use sqlx::SqliteConnection;

/// An event a mapping belongs to: (event id, event name, event state).
pub type MappingEvent = (String, String, String);

/// The events `mapping` belongs to, oldest first.
pub async fn mapping_events(
    conn: &mut SqliteConnection,
    mapping: &str,
) -> Result<Vec<MappingEvent>> {
    sqlx::query_as(
        "SELECT e.id, e.name, e.state FROM prog_event e JOIN prog_event_mapping em ON em.event_id = e.id
         WHERE em.mapping_id = ? ORDER BY e.created_at, e.id",
    )
    .bind(mapping)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)
}

/// How many tickets were reported against `mapping`.
pub async fn mapping_tickets(conn: &mut SqliteConnection, mapping: &str) -> Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM prog_ticket WHERE mapping_id = ?")
        .bind(mapping)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)
}

/// Delete `mapping` of `project` with what hangs off it in the programme tables: its place in events, its
/// passes and approvals, and its own credentials. Its movers' journal (what was copied) stays. Returns
/// whether a row was deleted.
pub async fn delete_mapping(
    conn: &mut SqliteConnection,
    project: &str,
    mapping: &str,
) -> Result<bool> {
    for sql in [
        "DELETE FROM prog_approval WHERE mapping_id = ?",
        "DELETE FROM prog_pass WHERE mapping_id = ?",
        "DELETE FROM prog_event_mapping WHERE mapping_id = ?",
    ] {
        sqlx::query(sql)
            .bind(mapping)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    sqlx::query("DELETE FROM prog_credential WHERE project_id = ? AND owner LIKE ?")
        .bind(project)
        .bind(format!("mapping:{mapping}:%"))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let r = sqlx::query("DELETE FROM prog_mapping WHERE id = ? AND project_id = ?")
        .bind(mapping)
        .bind(project)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(r.rows_affected() > 0)
}

/// Delete one stored credential (`owner` as in `prog_credential.owner`) of `project`; whether one was.
pub async fn delete_credential(
    conn: &mut SqliteConnection,
    project: &str,
    owner: &str,
) -> Result<bool> {
    let r = sqlx::query("DELETE FROM prog_credential WHERE project_id = ? AND owner = ?")
        .bind(project)
        .bind(owner)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(r.rows_affected() > 0)
}

/// When each credential of `project` was last supplied: (owner, RFC 3339 time).
pub async fn credentials_supplied(
    conn: &mut SqliteConnection,
    project: &str,
) -> Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT owner, supplied_at FROM prog_credential WHERE project_id = ?")
        .bind(project)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)
}

/// Update a mapping row's identity and fields (the CSV row it came from, or a correction).
pub async fn update_mapping_row(
    conn: &mut SqliteConnection,
    mapping: &str,
    line: i64,
    source: &str,
    target: &str,
    doc: &str,
) -> Result<()> {
    sqlx::query("UPDATE prog_mapping SET line = ?, source = ?, target = ?, doc = ? WHERE id = ?")
        .bind(line)
        .bind(source)
        .bind(target)
        .bind(doc)
        .bind(mapping)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(())
}
