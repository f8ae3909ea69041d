//! `peek_statuses`: many folders' status in one round trip, without opening any of them.
//!
//! A pass with nothing to do is mostly asking each folder whether anything changed. `EXAMINE` answers that
//! one folder per round trip and opens the folder on the server; `STATUS` (RFC 3501 §6.3.10) answers it
//! without opening, and commands that do not depend on each other may be pipelined (§5.5). So every folder
//! of a mailbox is asked at once, [`PEEK_CHUNK`] commands per flush.

use super::Session;
use crate::imap::proto::{self, Command, Part};
use ferry_core::Result;
use ferry_core::folder::FolderPath;
use ferry_core::mail::FolderStatus;
use imap_proto::{MailboxDatum, Response, StatusAttribute};
use std::collections::HashMap;

/// `STATUS` commands written per flush (bounds what either side buffers before the other reads).
const PEEK_CHUNK: usize = 100;

impl Session {
    /// See [`ferry_core::mail::MailConnector::peek_statuses`]. The folder open with `EXAMINE` is answered
    /// from it (RFC 3501 advises against `STATUS` of the selected folder), or not at all once we appended to
    /// it; a folder the server refuses, or whose name would need a literal, has no answer.
    pub(super) async fn peek_statuses(
        &mut self,
        folders: &[FolderPath],
    ) -> Result<Vec<Option<FolderStatus>>> {
        let items = if self.conn.has("CONDSTORE") {
            "(UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)"
        } else {
            "(UIDVALIDITY UIDNEXT MESSAGES)"
        };
        let mut names = Vec::with_capacity(folders.len());
        for f in folders {
            names.push(self.wire_name(f).await?);
        }
        let open = self.examined.as_ref().map(|e| e.name.clone());
        let cmds: Vec<Command<'_>> = names
            .iter()
            .filter(|n| open.as_ref() != Some(*n))
            .map(|n| Command::new("STATUS").astring(n).raw(items))
            .filter(|c| !c.parts.iter().any(|p| matches!(p, Part::Literal(_))))
            .collect();
        let mut found: HashMap<String, FolderStatus> = HashMap::new();
        for chunk in cmds.chunks(PEEK_CHUNK) {
            for reply in self.conn.run_pipelined(chunk).await? {
                self.track(&reply.untagged);
                for f in &reply.untagged {
                    if let Some((name, status)) = status_response(f) {
                        found.insert(name, status);
                    }
                }
            }
        }
        Ok(names
            .iter()
            .map(|n| match &self.examined {
                Some(e) if &e.name == n => (!e.stale).then_some(e.status),
                _ => found.get(n).copied().or_else(|| inbox(&found, n)),
            })
            .collect())
    }
}

/// INBOX is case-insensitive (RFC 3501 §5.1): the server may spell it its own way.
fn inbox(found: &HashMap<String, FolderStatus>, name: &str) -> Option<FolderStatus> {
    if !name.eq_ignore_ascii_case("INBOX") {
        return None;
    }
    found
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("INBOX"))
        .map(|(_, s)| *s)
}

/// An untagged `STATUS` response with every item a [`FolderStatus`] needs: the folder's name as the server
/// wrote it, and the status. `HIGHESTMODSEQ 0` is a folder without mod-sequences (RFC 7162 §3.1.6).
fn status_response(frame: &[u8]) -> Option<(String, FolderStatus)> {
    let Ok((_, Response::MailboxData(MailboxDatum::Status { mailbox, status }))) =
        Response::from_bytes(frame)
    else {
        return None;
    };
    let (mut validity, mut next, mut messages, mut modseq) = (None, None, None, None);
    for a in status {
        match a {
            StatusAttribute::UidValidity(v) => validity = Some(v),
            StatusAttribute::UidNext(v) => next = Some(v),
            StatusAttribute::Messages(v) => messages = Some(v),
            StatusAttribute::HighestModSeq(v) => modseq = Some(v).filter(|m| *m != 0),
            _ => {}
        }
    }
    Some((
        proto::unescape_quoted(&mailbox).into_owned(),
        FolderStatus {
            uid_validity: validity?,
            uid_next: next?,
            messages: messages?,
            highest_modseq: modseq,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::status_response;

    #[test]
    fn status_responses_give_a_status_only_when_complete() {
        let (name, s) = status_response(
            b"* STATUS \"Archive/2022\" (MESSAGES 12 UIDNEXT 13 UIDVALIDITY 1700000000 HIGHESTMODSEQ 40)\r\n",
        )
        .expect("a full answer");
        assert_eq!(name, "Archive/2022");
        assert_eq!(
            (s.messages, s.uid_next, s.uid_validity, s.highest_modseq),
            (12, 13, 1_700_000_000, Some(40))
        );
        let (_, s) = status_response(
            b"* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 7 HIGHESTMODSEQ 0)\r\n",
        )
        .expect("a full answer");
        assert_eq!(s.highest_modseq, None, "0 is no mod-sequences");
        assert!(status_response(b"* STATUS INBOX (MESSAGES 3)\r\n").is_none());
        assert!(status_response(b"* 3 EXISTS\r\n").is_none());
    }
}
