//! PostgreSQL rows of the movers' journal back into Ferry's types, and the journal's text encodings
//! (folders as JSON lists, flags as sorted space-separated words) — the same as on SQLite.

use super::{db_err, parse_id};
use crate::types::*;
use ferry_core::folder::FolderPath;
use ferry_core::{Error, ErrorKind, Result};
use sqlx::Row;

pub(super) fn folder_key(f: &FolderPath) -> String {
    serde_json::to_string(&f.0).unwrap_or_default()
}

pub(super) fn parse_folder(s: &str) -> Result<FolderPath> {
    serde_json::from_str::<Vec<String>>(s)
        .map(FolderPath)
        .map_err(|e| {
            Error::new(
                ErrorKind::Store,
                format!("bad folder {s:?} in the store: {e}"),
            )
        })
}

pub(super) fn item_row(r: &sqlx::postgres::PgRow) -> Result<ItemRow> {
    let target_folder: Option<String> = r.try_get("target_folder").map_err(db_err)?;
    Ok(ItemRow {
        folder: parse_folder(&r.try_get::<String, _>("folder").map_err(db_err)?)?,
        uid_validity: r.try_get::<i64, _>("uid_validity").map_err(db_err)? as u32,
        uid: r.try_get::<i64, _>("uid").map_err(db_err)? as u32,
        fingerprint: r.try_get("fingerprint").map_err(db_err)?,
        message_id: r.try_get("message_id").map_err(db_err)?,
        size: r.try_get::<i64, _>("size").map_err(db_err)? as u64,
        status: r.try_get::<String, _>("status").map_err(db_err)?.parse()?,
        reason: r.try_get("reason").map_err(db_err)?,
        target_folder: target_folder.as_deref().map(parse_folder).transpose()?,
        target_uid: r
            .try_get::<Option<i64>, _>("target_uid")
            .map_err(db_err)?
            .map(|v| v as u32),
        probe_from: r
            .try_get::<Option<i64>, _>("probe_from")
            .map_err(db_err)?
            .map(|v| v as u32),
        attempts: r.try_get::<i64, _>("attempts").map_err(db_err)? as u32,
        content_hash: r.try_get("content_hash").map_err(db_err)?,
        flags: r
            .try_get::<Option<String>, _>("flags")
            .map_err(db_err)?
            .map(|f| parse_flags(&f)),
        about: ItemAbout {
            date: r.try_get("internal_date").map_err(db_err)?,
            sender: r.try_get("sender").map_err(db_err)?,
            subject: r.try_get("subject").map_err(db_err)?,
        },
        note: r.try_get("note").map_err(db_err)?,
    })
}

/// Flags as stored: sorted, space-separated (IMAP flags never contain a space).
pub(super) fn flags_text(flags: &[String]) -> String {
    let mut v: Vec<&str> = flags.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.join(" ")
}

pub(super) fn parse_flags(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

pub(super) fn mapping_row(r: &sqlx::postgres::PgRow) -> Result<MappingRow> {
    Ok(MappingRow {
        id: parse_id(&r.try_get::<String, _>("id").map_err(db_err)?)?,
        source: r.try_get("source").map_err(db_err)?,
        target: r.try_get("target").map_err(db_err)?,
        label: r.try_get("label").map_err(db_err)?,
        sealed: r
            .try_get::<Option<String>, _>("sealed_at")
            .map_err(db_err)?
            .is_some(),
    })
}

pub(super) fn folder_state_row(r: &sqlx::postgres::PgRow) -> Result<FolderState> {
    Ok(FolderState {
        folder: parse_folder(&r.try_get::<String, _>("folder").map_err(db_err)?)?,
        target_folder: parse_folder(&r.try_get::<String, _>("target_folder").map_err(db_err)?)?,
        uid_validity: r.try_get::<i64, _>("uid_validity").map_err(db_err)? as u32,
        uid_next: r.try_get::<i64, _>("uid_next").map_err(db_err)? as u32,
        messages: r.try_get::<i64, _>("messages").map_err(db_err)? as u32,
        hwm: r.try_get::<i64, _>("hwm").map_err(db_err)? as u32,
        error: r.try_get("error").map_err(db_err)?,
        target_uid_validity: r
            .try_get::<Option<i64>, _>("target_uid_validity")
            .map_err(db_err)?
            .map(|v| v as u32),
        source_modseq: r
            .try_get::<Option<i64>, _>("source_modseq")
            .map_err(db_err)?
            .map(|v| v as u64),
    })
}
