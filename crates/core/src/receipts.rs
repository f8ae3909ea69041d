//! Disarming read-receipt requests (issue 10): a message that asks its reader's client to send a read
//! receipt (`Disposition-Notification-To`, RFC 8098) would make users' clients ask them, years later, to
//! confirm reading migrated mail. When a migration asks for it, the header is renamed to
//! [`DISARMED_HEADER`] — a name of the same length, so the message keeps its size and thus its fingerprint
//! (journal, crash recovery and recognising copies on the target all still hold), and the original address
//! stays readable. Only the header block is touched; a body that quotes the header is left alone.

use crate::fingerprint::header_end;

/// The header that asks for a read receipt (RFC 8098 §2.1).
pub const READ_RECEIPT_HEADER: &str = "Disposition-Notification-To";

/// What a disarmed request is renamed to: the same length as [`READ_RECEIPT_HEADER`].
pub const DISARMED_HEADER: &str = "X-Ferry-Disarmed-Receipt-To";

const _: () = assert!(READ_RECEIPT_HEADER.len() == DISARMED_HEADER.len());

/// The note a report shows for a message whose read-receipt request was disarmed.
pub const DISARMED_NOTE: &str = "read-receipt request disarmed: Disposition-Notification-To renamed X-Ferry-Disarmed-Receipt-To";

/// Rename every `Disposition-Notification-To` field of the header block in place (any case); whether one
/// was found. The length of `bytes` never changes.
pub fn disarm_read_receipts(bytes: &mut [u8]) -> bool {
    let end = header_end(bytes);
    let name = READ_RECEIPT_HEADER.as_bytes();
    let mut changed = false;
    let mut line = 0;
    while line < end {
        let rest = &bytes[line..end];
        if rest.len() > name.len()
            && rest[..name.len()].eq_ignore_ascii_case(name)
            && matches!(rest[name.len()], b':' | b' ' | b'\t')
            && rest[name.len()..]
                .iter()
                .find(|b| !matches!(b, b' ' | b'\t'))
                .is_some_and(|&b| b == b':')
        {
            bytes[line..line + name.len()].copy_from_slice(DISARMED_HEADER.as_bytes());
            changed = true;
        }
        match bytes[line..end].iter().position(|&b| b == b'\n') {
            Some(p) => line += p + 1,
            None => break,
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_renamed_in_the_header_only_keeping_the_size() {
        let raw = b"From: a@x\r\nDisposition-Notification-To: a@x\r\nSubject: hi\r\n\r\nDisposition-Notification-To: body\r\n";
        let mut m = raw.to_vec();
        assert!(disarm_read_receipts(&mut m));
        assert_eq!(m.len(), raw.len());
        let text = String::from_utf8(m).unwrap_or_default();
        assert!(
            text.starts_with("From: a@x\r\nX-Ferry-Disarmed-Receipt-To: a@x\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\r\n\r\nDisposition-Notification-To: body\r\n"),
            "{text}"
        );
    }

    #[test]
    fn any_case_and_every_occurrence_is_disarmed_and_a_message_without_one_is_unchanged() {
        let mut m = b"disposition-notification-to : a\nX: y\nDISPOSITION-NOTIFICATION-TO:b\n\nbody"
            .to_vec();
        assert!(disarm_read_receipts(&mut m));
        let text = String::from_utf8(m).unwrap_or_default();
        assert_eq!(text.matches(DISARMED_HEADER).count(), 2, "{text}");
        for raw in [
            &b"Subject: x\r\nDisposition-Notification-Options: a\r\n\r\n"[..],
            b"Subject: Disposition-Notification-To: a\r\n\r\n",
            b"",
        ] {
            let mut m = raw.to_vec();
            assert!(!disarm_read_receipts(&mut m));
            assert_eq!(m, raw);
        }
    }

    #[test]
    fn disarming_twice_changes_nothing_more() {
        let mut m = b"Disposition-Notification-To: a\r\n\r\n".to_vec();
        assert!(disarm_read_receipts(&mut m));
        let once = m.clone();
        assert!(!disarm_read_receipts(&mut m));
        assert_eq!(m, once);
    }
}
