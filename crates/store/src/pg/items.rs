//! The mail journal's writes on PostgreSQL: a batch of rows in one statement (`INSERT … SELECT FROM
//! UNNEST(arrays) … ON CONFLICT DO UPDATE`), not a statement per row. Every statement is a round trip to
//! the database (another machine, in a scaled deployment), and the movers write a row per message twice
//! (pending before the append, the outcome after): a batch of 50 messages was 100 round trips.

use super::db_err;
use super::rows::{flags_text, folder_key};
use crate::types::{ItemStatus, ItemWrite};
use ferry_core::Result;
use sqlx::PgConnection;

/// `rows` cut, in order, into runs in which no uid comes twice: one `INSERT … ON CONFLICT DO UPDATE`
/// may not touch a row twice, and a later write of the same uid must see the earlier one (its attempts
/// add up; the values it leaves `None` keep the earlier write's).
pub(super) fn distinct_uid_runs(rows: &[ItemWrite]) -> Vec<&[ItemWrite]> {
    let mut runs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut start = 0;
    for (i, w) in rows.iter().enumerate() {
        if !seen.insert(w.uid) {
            runs.push(&rows[start..i]);
            seen.clear();
            seen.insert(w.uid);
            start = i;
        }
    }
    runs.push(&rows[start..]);
    runs
}

/// Where a batch of rows goes: one folder of one mapping under one uid validity, written by one pass.
pub(super) struct Scope<'a> {
    pub mapping: &'a str,
    pub folder: &'a str,
    pub uid_validity: u32,
    pub pass: &'a str,
    pub at: &'a str,
}

/// Insert or replace `rows` (no uid twice) in one statement; a row written as `pending` counts one more
/// attempt. The same rules as the SQLite store's row-by-row upsert.
pub(super) async fn upsert(
    conn: &mut PgConnection,
    to: &Scope<'_>,
    rows: &[ItemWrite],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let uid: Vec<i64> = rows.iter().map(|w| i64::from(w.uid)).collect();
    let fingerprint: Vec<&str> = rows.iter().map(|w| w.fingerprint.as_str()).collect();
    let message_id: Vec<Option<&str>> = rows.iter().map(|w| w.message_id.as_deref()).collect();
    let size: Vec<i64> = rows.iter().map(|w| w.size as i64).collect();
    let status: Vec<&str> = rows.iter().map(|w| w.status.as_str()).collect();
    let reason: Vec<Option<&str>> = rows.iter().map(|w| w.reason.as_deref()).collect();
    let target_folder: Vec<Option<String>> = rows
        .iter()
        .map(|w| w.target_folder.as_ref().map(folder_key))
        .collect();
    let target_uid: Vec<Option<i64>> = rows.iter().map(|w| w.target_uid.map(i64::from)).collect();
    let probe_from: Vec<Option<i64>> = rows.iter().map(|w| w.probe_from.map(i64::from)).collect();
    let attempts: Vec<i64> = rows
        .iter()
        .map(|w| i64::from(w.status == ItemStatus::Pending))
        .collect();
    let content_hash: Vec<Option<&str>> = rows.iter().map(|w| w.content_hash.as_deref()).collect();
    let flags: Vec<Option<String>> = rows
        .iter()
        .map(|w| w.flags.as_deref().map(flags_text))
        .collect();
    let date: Vec<Option<&str>> = rows.iter().map(|w| w.about.date.as_deref()).collect();
    let sender: Vec<Option<&str>> = rows.iter().map(|w| w.about.sender.as_deref()).collect();
    let subject: Vec<Option<&str>> = rows.iter().map(|w| w.about.subject.as_deref()).collect();
    let note: Vec<Option<&str>> = rows.iter().map(|w| w.note.as_deref()).collect();
    sqlx::query(
        "INSERT INTO item (mapping_id, folder, uid_validity, uid, fingerprint, message_id, size, status, reason,
                           target_folder, target_uid, probe_from, attempts, pass_id, updated_at,
                           content_hash, flags, internal_date, sender, subject, note)
         SELECT $1, $2, $3, r.uid, r.fingerprint, r.message_id, r.size, r.status, r.reason,
                r.target_folder, r.target_uid, r.probe_from, r.attempts, $4, $5,
                r.content_hash, r.flags, r.internal_date, r.sender, r.subject, r.note
         FROM UNNEST($6::BIGINT[], $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::TEXT[], $11::TEXT[], $12::TEXT[],
                     $13::BIGINT[], $14::BIGINT[], $15::BIGINT[], $16::TEXT[], $17::TEXT[], $18::TEXT[],
                     $19::TEXT[], $20::TEXT[], $21::TEXT[])
           AS r(uid, fingerprint, message_id, size, status, reason, target_folder, target_uid, probe_from,
                attempts, content_hash, flags, internal_date, sender, subject, note)
         ON CONFLICT (mapping_id, folder, uid_validity, uid) DO UPDATE SET
           fingerprint = excluded.fingerprint, message_id = excluded.message_id, size = excluded.size,
           status = excluded.status, reason = excluded.reason,
           target_folder = COALESCE(excluded.target_folder, item.target_folder),
           target_uid = COALESCE(excluded.target_uid, item.target_uid),
           probe_from = COALESCE(excluded.probe_from, item.probe_from),
           content_hash = COALESCE(excluded.content_hash, item.content_hash),
           flags = COALESCE(excluded.flags, item.flags),
           attempts = item.attempts + excluded.attempts, pass_id = excluded.pass_id,
           updated_at = excluded.updated_at,
           internal_date = COALESCE(excluded.internal_date, item.internal_date),
           sender = COALESCE(excluded.sender, item.sender),
           subject = COALESCE(excluded.subject, item.subject),
           note = COALESCE(excluded.note, item.note)",
    )
    .bind(to.mapping)
    .bind(to.folder)
    .bind(i64::from(to.uid_validity))
    .bind(to.pass)
    .bind(to.at)
    .bind(uid)
    .bind(fingerprint)
    .bind(message_id)
    .bind(size)
    .bind(status)
    .bind(reason)
    .bind(target_folder)
    .bind(target_uid)
    .bind(probe_from)
    .bind(attempts)
    .bind(content_hash)
    .bind(flags)
    .bind(date)
    .bind(sender)
    .bind(subject)
    .bind(note)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}
