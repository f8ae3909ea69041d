//! mbox parsing without file handling: the streaming indexer, the `From_` line date, flags from headers,
//! and the presentation of a message's stored bytes.
//!
//! The indexer reads a [`BufRead`] in pieces of at most [`MAX_PIECE`] bytes (a "line" without a newline,
//! such as a binary blob or a CR-only file, never makes it load more than that), and keeps per message only
//! its byte range and its summary. A message starts at a line beginning with `From ` at the start of the
//! file or after an empty line; the empty line before a `From_` line is the separator and belongs to no
//! message. `>From `, `>>From `… lines lose one `>` (mboxrd; for mboxo files this also restores the lines
//! the writer escaped, and changes a body line that really started with `>From `, an ambiguity of the
//! format itself).

use crate::maildir::bytes::CrlfCounter;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use ferry_core::fingerprint::{fingerprint, parse_headers};
use std::io::{self, BufRead};

/// The longest piece of a line the indexer holds at once.
pub(crate) const MAX_PIECE: usize = 64 * 1024;
/// Header bytes kept per message while indexing (the fingerprint and flag headers come first).
const HEADER_KEEP: usize = 256 * 1024;

/// One message of an mbox file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MboxEntry {
    /// Offset of the first byte after the `From_` line.
    pub offset: u64,
    /// Stored length, up to (not including) the separator line.
    pub len: u64,
    /// Presented size: after `>From` unescaping and LF → CRLF.
    pub size: u64,
    pub internal_date: Option<DateTime<FixedOffset>>,
    pub flags: Vec<String>,
    pub message_id: Option<String>,
    pub fingerprint: String,
    /// `From:` and `Subject:`, for reports.
    pub from: String,
    pub subject: String,
}

/// Why a file cannot be indexed.
#[derive(Debug)]
pub(crate) enum IndexError {
    Io(io::Error),
    /// The file uses CR-only line endings (classic Mac OS): there are no lines to find `From_` in.
    CrOnly,
}

impl From<io::Error> for IndexError {
    fn from(e: io::Error) -> Self {
        IndexError::Io(e)
    }
}

struct Building {
    offset: u64,
    len: u64,
    counter: CrlfCounter,
    date: Option<DateTime<FixedOffset>>,
    head: Vec<u8>,
    in_header: bool,
}

impl Building {
    fn new(offset: u64, date: Option<DateTime<FixedOffset>>) -> Self {
        Building {
            offset,
            len: 0,
            counter: CrlfCounter::default(),
            date,
            head: Vec::new(),
            in_header: true,
        }
    }

    /// Add a piece of content; `line_start` says whether it begins a line.
    fn add(&mut self, piece: &[u8], line_start: bool) {
        self.len += piece.len() as u64;
        if self.in_header {
            if line_start && is_blank(piece) {
                self.in_header = false;
            } else if self.head.len() < HEADER_KEEP {
                self.head.extend_from_slice(piece);
            }
        }
        let shown = if line_start { unescape(piece) } else { piece };
        self.counter.feed(shown);
    }

    fn finish(self) -> MboxEntry {
        let fields = parse_headers(&self.head);
        let size = self.counter.size();
        MboxEntry {
            offset: self.offset,
            len: self.len,
            size,
            internal_date: self.date,
            flags: flags_from_headers(&self.head),
            message_id: fields.message_id.clone(),
            fingerprint: fingerprint(&fields, size),
            from: fields.values[2].clone(),
            subject: fields.values[5].clone(),
        }
    }
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

/// `>+From ` → drop one `>`; anything else unchanged.
fn unescape(line: &[u8]) -> &[u8] {
    let gts = line.iter().take_while(|&&b| b == b'>').count();
    if gts > 0 && line[gts..].starts_with(b"From ") {
        &line[1..]
    } else {
        line
    }
}

/// Read up to and including the next `\n`, or `max` bytes, whichever comes first.
fn read_piece(r: &mut impl BufRead, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    out.clear();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(out.len());
        }
        let room = max - out.len();
        let window = &buf[..buf.len().min(room)];
        if let Some(p) = window.iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&window[..=p]);
            r.consume(p + 1);
            return Ok(out.len());
        }
        let k = window.len();
        out.extend_from_slice(window);
        r.consume(k);
        if out.len() >= max {
            return Ok(out.len());
        }
    }
}

/// Index an mbox stream. Text before the first `From_` line becomes a best-effort message without a date.
pub(crate) fn index(mut reader: impl BufRead) -> Result<Vec<MboxEntry>, IndexError> {
    index_with_piece(&mut reader, MAX_PIECE)
}

pub(crate) fn index_with_piece(
    reader: &mut impl BufRead,
    max_piece: usize,
) -> Result<Vec<MboxEntry>, IndexError> {
    let mut entries = Vec::new();
    let mut piece = Vec::with_capacity(1024);
    let mut pos: u64 = 0;
    let mut cur: Option<Building> = None;
    let mut line_start = true;
    let mut after_blank = true; // the start of the file counts as "after an empty line"
    let mut held_blank: Option<Vec<u8>> = None;
    loop {
        let n = read_piece(reader, &mut piece, max_piece)?;
        if n == 0 {
            break;
        }
        if pos == 0 && !piece.ends_with(b"\n") && piece.contains(&b'\r') {
            return Err(IndexError::CrOnly);
        }
        let blank = line_start && is_blank(&piece);
        if line_start && after_blank && piece.starts_with(b"From ") {
            if let Some(b) = cur.take() {
                entries.push(b.finish()); // the held empty line was the separator
            }
            held_blank = None;
            let next = pos + n as u64;
            cur = Some(Building::new(next, from_line_date(&piece)));
            if !piece.ends_with(b"\n") {
                // An absurdly long From_ line: skip the rest of it, the message starts after it.
                let rest = skip_line(reader)?;
                pos += rest;
                if let Some(b) = cur.as_mut() {
                    b.offset = next + rest;
                }
            }
        } else if cur.is_none() && blank {
            // Empty lines before the first message are not content.
        } else {
            let b = cur.get_or_insert_with(|| {
                tracing::warn!(
                    offset = pos,
                    "mbox does not start with a From_ line; reading it as one message"
                );
                Building::new(pos, None)
            });
            if let Some(h) = held_blank.take() {
                b.add(&h, true);
            }
            if blank {
                held_blank = Some(piece.clone());
            } else {
                b.add(&piece, line_start);
            }
        }
        after_blank = blank;
        line_start = piece.ends_with(b"\n");
        pos += n as u64;
    }
    if let Some(b) = cur.take() {
        entries.push(b.finish()); // a trailing empty line is the final separator
    }
    Ok(entries)
}

/// Consume up to and including the next `\n`; the number of bytes consumed.
fn skip_line(r: &mut impl BufRead) -> io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(skipped);
        }
        if let Some(p) = buf.iter().position(|&b| b == b'\n') {
            r.consume(p + 1);
            return Ok(skipped + p as u64 + 1);
        }
        let k = buf.len();
        r.consume(k);
        skipped += k as u64;
    }
}

/// A message's stored bytes as IMAP would present them: `>From` unescaped, LF → CRLF.
pub(crate) fn present(raw: &[u8]) -> Vec<u8> {
    let mut unescaped = Vec::with_capacity(raw.len());
    for line in raw.split_inclusive(|&b| b == b'\n') {
        unescaped.extend_from_slice(unescape(line));
    }
    crate::maildir::bytes::to_crlf(&unescaped)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn month_of(token: &str) -> Option<u32> {
    let t = token.get(..3)?.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == t)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// The date of a `From_` line: `From sender Mon Jan  1 00:00:00 2024`, tolerating a zone offset
/// (`+0100`) or name anywhere after the time, the day before the month, missing seconds and commas.
/// A date without an offset is taken as UTC. Anything unparsable gives `None`.
pub(crate) fn from_line_date(line: &[u8]) -> Option<DateTime<FixedOffset>> {
    let text = String::from_utf8_lossy(line);
    let rest = text.trim_end().strip_prefix("From ")?;
    let tokens: Vec<&str> = rest
        .split_whitespace()
        .skip(1)
        .map(|t| t.trim_end_matches(','))
        .collect();
    let mi = tokens.iter().position(|t| {
        t.len() >= 3 && t.chars().all(|c| c.is_ascii_alphabetic()) && month_of(t).is_some()
    })?;
    let month = month_of(tokens[mi])?;
    let (mut day, mut time, mut year, mut offset) = (None, None, None, None);
    if mi > 0 {
        day = tokens[mi - 1]
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=31).contains(d));
    }
    for t in &tokens[mi + 1..] {
        let digits = !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
        if time.is_none() && t.contains(':') {
            let mut parts = t.split(':').map(|p| p.parse::<u32>().ok());
            let h = parts.next().flatten()?;
            let m = parts.next().flatten()?;
            let s = parts.next().flatten().unwrap_or(0);
            time = Some((h, m, s));
        } else if digits && t.len() == 4 {
            year = t.parse::<i32>().ok();
        } else if digits && t.len() <= 2 && day.is_none() {
            day = t.parse::<u32>().ok();
        } else if (t.starts_with('+') || t.starts_with('-'))
            && t.len() == 5
            && t[1..].chars().all(|c| c.is_ascii_digit())
        {
            let v: i32 = t[1..].parse().ok()?;
            let secs = (v / 100) * 3600 + (v % 100) * 60;
            offset = FixedOffset::east_opt(if t.starts_with('-') { -secs } else { secs });
        }
    }
    let (h, m, s) = time?;
    let naive = NaiveDate::from_ymd_opt(year?, month, day?)?.and_hms_opt(h, m, s)?;
    let tz = offset.or_else(|| FixedOffset::east_opt(0))?;
    tz.from_local_datetime(&naive).single()
}

/// Unfolded `(name, value)` header fields of a header block.
fn header_fields(head: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(head);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    out
}

/// IMAP flags from the headers mail clients keep in mbox files: `Status` (R → `\Seen`), `X-Status`
/// (A, F, T, D), `X-Mozilla-Status` (Thunderbird's bit field), `X-Keywords` and `X-Mozilla-Keys`.
pub(crate) fn flags_from_headers(head: &[u8]) -> Vec<String> {
    let mut flags: Vec<String> = Vec::new();
    let mut push = |f: &str| {
        if !f.is_empty() && !flags.iter().any(|x| x == f) {
            flags.push(f.to_owned());
        }
    };
    for (name, value) in header_fields(head) {
        match name.as_str() {
            "status" if value.contains('R') => push("\\Seen"),
            "x-status" => {
                for (c, f) in [
                    ('A', "\\Answered"),
                    ('F', "\\Flagged"),
                    ('T', "\\Draft"),
                    ('D', "\\Deleted"),
                ] {
                    if value.contains(c) {
                        push(f);
                    }
                }
            }
            "x-mozilla-status" => {
                if let Ok(bits) = u32::from_str_radix(value.trim(), 16) {
                    for (bit, f) in [
                        (0x1, "\\Seen"),
                        (0x2, "\\Answered"),
                        (0x4, "\\Flagged"),
                        (0x8, "\\Deleted"),
                    ] {
                        if bits & bit != 0 {
                            push(f);
                        }
                    }
                }
            }
            "x-keywords" | "x-mozilla-keys" => {
                for k in value.split([',', ' ', '\t']) {
                    if !k.starts_with('\\') {
                        push(k);
                    }
                }
            }
            _ => {}
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> Option<DateTime<FixedOffset>> {
        DateTime::parse_from_rfc3339(s).ok()
    }

    #[test]
    fn from_line_dates_parse_in_their_common_variants() {
        let cases = [
            (
                "From a@b Mon Jan  1 00:00:00 2024",
                Some("2024-01-01T00:00:00+00:00"),
            ),
            (
                "From a@b Tue Feb 13 14:15:16 2024\n",
                Some("2024-02-13T14:15:16+00:00"),
            ),
            (
                "From a@b Tue Feb 13 14:15:16 2024 +0100",
                Some("2024-02-13T14:15:16+01:00"),
            ),
            (
                "From a@b Tue Feb 13 14:15 PST 2024",
                Some("2024-02-13T14:15:00+00:00"),
            ),
            (
                "From a@b Tue, 13 Feb 2024 14:15:16 -0500",
                Some("2024-02-13T14:15:16-05:00"),
            ),
            (
                "From MAILER-DAEMON Fri Dec 31 23:59:59 1999",
                Some("1999-12-31T23:59:59+00:00"),
            ),
            ("From a@b", None),
            ("From a@b Mon Foo 99 xx:yy 2024", None),
            ("From a@b Mon Feb 31 00:00:00 2024", None),
        ];
        for (line, want) in cases {
            assert_eq!(from_line_date(line.as_bytes()), want.and_then(dt), "{line}");
        }
    }

    #[test]
    fn flags_come_from_status_x_status_mozilla_and_keywords() {
        let head = b"Status: RO\nX-Status: AF\nX-Keywords: $Label1, Work\nX-Mozilla-Keys: Work  later\nX-Mozilla-Status: 0008\n\n";
        assert_eq!(
            flags_from_headers(head),
            [
                "\\Seen",
                "\\Answered",
                "\\Flagged",
                "$Label1",
                "Work",
                "later",
                "\\Deleted"
            ]
        );
        assert!(flags_from_headers(b"Status: O\n\n").is_empty());
    }

    fn messages(mbox: &[u8], piece: usize) -> Result<Vec<(Vec<u8>, MboxEntry)>, IndexError> {
        let entries = index_with_piece(&mut &mbox[..], piece)?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let start = e.offset as usize;
                let raw = &mbox[start..start + e.len as usize];
                (present(raw), e)
            })
            .collect())
    }

    const MBOX: &[u8] = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\nStatus: R\n\nHello\n>From the start\n>>From deeper\n\nFrom b@c Tue Jan  2 10:00:00 2024\nSubject: two\n\nBye\n\n";

    #[test]
    fn a_multi_message_mboxrd_file_indexes_unescapes_and_presents_crlf() -> Result<(), IndexError> {
        let msgs = messages(MBOX, MAX_PIECE)?;
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0].0,
            b"Subject: one\r\nStatus: R\r\n\r\nHello\r\nFrom the start\r\n>From deeper\r\n"
        );
        assert_eq!(msgs[1].0, b"Subject: two\r\n\r\nBye\r\n");
        for (bytes, e) in &msgs {
            assert_eq!(bytes.len() as u64, e.size);
        }
        assert_eq!(msgs[0].1.flags, ["\\Seen"]);
        assert_eq!(msgs[1].1.internal_date, dt("2024-01-02T10:00:00+00:00"));
        Ok(())
    }

    #[test]
    fn tiny_pieces_give_the_same_index_as_whole_lines() -> Result<(), IndexError> {
        // Lines split at every small length must not change message boundaries or sizes.
        let whole = index_with_piece(&mut &MBOX[..], MAX_PIECE)?;
        for piece in 8..40 {
            let split = index_with_piece(&mut &MBOX[..], piece)?;
            assert_eq!(split.len(), whole.len(), "piece {piece}");
            for (a, b) in split.iter().zip(&whole) {
                assert_eq!(
                    (a.offset, a.len, a.size),
                    (b.offset, b.len, b.size),
                    "piece {piece}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn a_from_line_inside_a_paragraph_does_not_split_and_blank_lines_are_kept()
    -> Result<(), IndexError> {
        let mbox = b"From a Mon Jan  1 00:00:00 2024\nS: x\n\nline\nFrom here on\n\n\nend\n";
        let msgs = messages(mbox, MAX_PIECE)?;
        assert_eq!(msgs.len(), 1);
        assert_eq!(
            msgs[0].0,
            b"S: x\r\n\r\nline\r\nFrom here on\r\n\r\n\r\nend\r\n"
        );
        Ok(())
    }

    #[test]
    fn odd_input_never_panics() -> Result<(), IndexError> {
        // No From_ line: one best-effort message.
        let msgs = messages(b"\n\nSubject: lost\n\nbody", MAX_PIECE)?;
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].0, b"Subject: lost\r\n\r\nbody");
        assert_eq!(msgs[0].1.internal_date, None);
        // Binary junk: a best-effort message or the CR-only error, whatever the bytes say; no panic.
        let junk: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for piece in [16, 64, MAX_PIECE] {
            assert!(matches!(
                messages(&junk, piece),
                Ok(_) | Err(IndexError::CrOnly)
            ));
        }
        // Empty file.
        assert!(messages(b"", MAX_PIECE)?.is_empty());
        // CR-only line endings: a clear error.
        assert!(matches!(
            index(&b"From a Mon Jan  1 00:00:00 2024\rS: x\r\rbody\r"[..]),
            Err(IndexError::CrOnly)
        ));
        // A From_ line longer than a piece.
        let mut long = b"From ".to_vec();
        long.extend(std::iter::repeat_n(b'x', 300));
        long.extend_from_slice(b"\nS: y\n\nz\n");
        let msgs = messages(&long, 64)?;
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].0, b"S: y\r\n\r\nz\r\n");
        Ok(())
    }
}
