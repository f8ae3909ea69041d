//! Read-only fingerprints of a whole mailbox, for "the source is never changed" (invariant 1) and for
//! comparing a migration's source and target regardless of uids.
//!
//! A snapshot is taken with `EXAMINE` and `BODY.PEEK[]` only, so taking one changes nothing (a test in
//! `tests/dovecot.rs` proves it does not set `\Seen`).

use crate::imap::{FetchedMessage, RawImap};
use chrono::{DateTime, FixedOffset};
use ferry_core::folder::FolderPath;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io;

/// One message of a [`FolderSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageSnapshot {
    pub uid: u32,
    /// Flags and keywords, sorted, without `\Recent`.
    pub flags: Vec<String>,
    /// INTERNALDATE as the server sent it.
    pub internal_date: String,
    /// RFC822.SIZE.
    pub size: u64,
    /// Hex SHA-256 of the exact bytes of `BODY[]`.
    pub sha256: String,
}

impl MessageSnapshot {
    /// Build from a fetched message (hashes the bytes, sorts flags, drops `\Recent`).
    pub fn from_fetched(m: &FetchedMessage) -> Self {
        let mut flags: Vec<String> = m
            .flags
            .iter()
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
            .cloned()
            .collect();
        flags.sort();
        MessageSnapshot {
            uid: m.uid,
            flags,
            internal_date: m.internal_date.clone(),
            size: m.size,
            sha256: sha256_hex(&m.bytes),
        }
    }

    /// The internal date parsed (RFC 3501 `date-time`), `None` if the server sent something else.
    pub fn internal_date_parsed(&self) -> Option<DateTime<FixedOffset>> {
        parse_internal_date(&self.internal_date)
    }

    /// What a faithful copy keeps: bytes, flags and the internal date as an instant (not the uid).
    pub fn content_key(&self) -> ContentKey {
        ContentKey {
            sha256: self.sha256.clone(),
            flags: self.flags.clone(),
            internal_date_unix: self.internal_date_parsed().map(|d| d.timestamp()),
        }
    }
}

/// A message's identity for comparing two mailboxes regardless of uids and time zones.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentKey {
    pub sha256: String,
    pub flags: Vec<String>,
    /// Seconds since the epoch, so `+0200` and `UTC` spellings of one instant compare equal.
    pub internal_date_unix: Option<i64>,
}

/// One selectable folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderSnapshot {
    /// Decoded name with the server's delimiter (`Projets/Données`).
    pub name: String,
    /// The same name as delimiter-independent segments.
    pub path: FolderPath,
    /// Special-use attributes the server listed (`\Sent`), sorted.
    pub special_use: Vec<String>,
    pub uid_validity: u32,
    /// Messages in ascending uid order.
    pub messages: Vec<MessageSnapshot>,
}

impl FolderSnapshot {
    /// How many times each body (by SHA-256) occurs.
    pub fn bodies_multiset(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for m in &self.messages {
            *out.entry(m.sha256.clone()).or_insert(0) += 1;
        }
        out
    }

    /// How many times each (bytes, flags, internal date) occurs.
    pub fn content(&self) -> BTreeMap<ContentKey, usize> {
        let mut out = BTreeMap::new();
        for m in &self.messages {
            *out.entry(m.content_key()).or_insert(0) += 1;
        }
        out
    }
}

/// Every selectable folder of one user, sorted by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxSnapshot {
    /// The server's hierarchy delimiter.
    pub delimiter: Option<char>,
    pub folders: Vec<FolderSnapshot>,
}

impl MailboxSnapshot {
    /// Total messages in all folders.
    pub fn message_count(&self) -> usize {
        self.folders.iter().map(|f| f.messages.len()).sum()
    }

    /// The folder with this name (server delimiter; `INBOX` matches case-insensitively).
    pub fn folder(&self, name: &str) -> Option<&FolderSnapshot> {
        self.folders.iter().find(|f| {
            f.name == name
                || (name.eq_ignore_ascii_case("INBOX") && f.name.eq_ignore_ascii_case("INBOX"))
        })
    }

    /// The folder at this delimiter-independent path.
    pub fn folder_at(&self, path: &FolderPath) -> Option<&FolderSnapshot> {
        self.folders.iter().find(|f| &f.path == path)
    }

    /// Folder names, sorted.
    pub fn folder_names(&self) -> Vec<&str> {
        self.folders.iter().map(|f| f.name.as_str()).collect()
    }

    /// How many times each body (by SHA-256) occurs across all folders.
    pub fn bodies_multiset(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for f in &self.folders {
            for (k, n) in f.bodies_multiset() {
                *out.entry(k).or_insert(0) += n;
            }
        }
        out
    }

    /// Per folder path (delimiter-independent), the multiset of (bytes, flags, internal date); empty
    /// folders are included. Two mailboxes with equal `content()` hold the same mail in the same places,
    /// whatever their uids, UIDVALIDITYs and delimiters.
    pub fn content(&self) -> BTreeMap<FolderPath, BTreeMap<ContentKey, usize>> {
        self.folders
            .iter()
            .map(|f| (f.path.clone(), f.content()))
            .collect()
    }

    /// Take a snapshot through an already logged-in session: `LIST`, then per folder `EXAMINE` and
    /// `UID FETCH 1:* (... BODY.PEEK[])`.
    pub fn take(client: &mut RawImap) -> io::Result<MailboxSnapshot> {
        let entries = client.list()?;
        let delimiter = entries.iter().find_map(|e| e.delimiter);
        let mut folders = Vec::new();
        for entry in entries.iter().filter(|e| e.selectable()) {
            let info = client.examine(&entry.name)?;
            let mut messages = Vec::new();
            if info.exists > 0 {
                client.fetch_each(|m| {
                    messages.push(MessageSnapshot::from_fetched(&m));
                    Ok(())
                })?;
            }
            messages.sort_by_key(|m| m.uid);
            let mut special_use: Vec<String> = entry
                .attributes
                .iter()
                .filter(|a| ferry_core::folder::SpecialUse::from_attribute(a).is_some())
                .cloned()
                .collect();
            special_use.sort();
            folders.push(FolderSnapshot {
                path: FolderPath::parse(&entry.name, entry.delimiter.unwrap_or('/')),
                name: entry.name.clone(),
                special_use,
                uid_validity: info.uid_validity,
                messages,
            });
        }
        folders.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(MailboxSnapshot { delimiter, folders })
    }
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Parse an RFC 3501 `date-time` such as `17-Jul-1996 02:44:25 -0700` (day may be space-padded).
pub fn parse_internal_date(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_dates_parse_with_space_padded_days() {
        let a = parse_internal_date(" 1-Jan-2020 10:00:00 +0200").expect("parse");
        let b = parse_internal_date("01-Jan-2020 08:00:00 +0000").expect("parse");
        assert_eq!(a.timestamp(), b.timestamp());
    }

    #[test]
    fn recent_is_dropped_and_flags_sorted() {
        let m = MessageSnapshot::from_fetched(&FetchedMessage {
            uid: 1,
            flags: vec!["\\Seen".into(), "\\Recent".into(), "$A".into()],
            internal_date: String::new(),
            size: 1,
            bytes: b"x".to_vec(),
        });
        assert_eq!(m.flags, ["$A", "\\Seen"]);
    }
}
