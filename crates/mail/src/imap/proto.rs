//! Pure IMAP4rev1 protocol pieces, without I/O (Stalwart style): response framing, command argument
//! encoding, uid sets, dates, tagged completions and capability lists.
//!
//! Responses are *framed* here and *parsed* by `imap-proto`: the framer only needs to know where a
//! response ends (RFC 3501 §2.2.2: a line ending in CRLF, unless it ends with a literal `{N}`, in which case
//! N more bytes follow and the response continues after them). Everything in this module is tested by
//! feeding bytes, including input split at every position.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use std::borrow::Cow;

/// Largest literal we accept from a server (a message body is one literal).
pub const MAX_LITERAL: u64 = 256 * 1024 * 1024;

/// Largest response line (outside literals) we accept: a `SEARCH` answer for a 1M-message folder is ~8 MB.
pub const MAX_LINE: usize = 64 * 1024 * 1024;

/// Why a byte stream cannot be framed. The connection is unusable after this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A literal announced more than [`MAX_LITERAL`] bytes.
    LiteralTooLarge(u64),
    /// A line grew past [`MAX_LINE`] bytes without CRLF.
    LineTooLong,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::LiteralTooLarge(n) => {
                write!(
                    f,
                    "the server announced a literal of {n} bytes (limit {MAX_LITERAL})"
                )
            }
            FrameError::LineTooLong => {
                write!(f, "the server sent a line longer than {MAX_LINE} bytes")
            }
        }
    }
}

/// Incremental response framer. Feed it the whole receive buffer each time; it remembers how far it has
/// scanned, so a 30 MB literal arriving in 64 KB reads is not rescanned (no O(n²)).
#[derive(Debug, Default, Clone)]
pub struct Framer {
    /// Offset in the buffer up to which the current response is known to extend.
    scanned: usize,
    /// Start of the line currently being scanned (for the length limit).
    line_start: usize,
}

impl Framer {
    /// A framer at the start of a response.
    pub fn new() -> Self {
        Framer::default()
    }

    /// How many bytes (from the start of the buffer given to `next`) the response is known to need so
    /// far: past the end of an announced literal while inside one. Readers reserve exactly this much,
    /// so a 35 MB message is held in one 35 MB buffer, not a doubled one.
    pub fn known_len(&self) -> usize {
        self.scanned
    }

    /// If `buf` starts with a complete response, its length (the caller then removes it and the framer
    /// starts afresh); `Ok(None)` if more bytes are needed.
    pub fn next(&mut self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        loop {
            if self.scanned > buf.len() {
                // Still inside a literal.
                return Ok(None);
            }
            let rest = &buf[self.scanned..];
            let Some(lf) = find_crlf(rest) else {
                // Keep the last byte unscanned: it may be the CR of a CRLF split across reads.
                self.scanned = buf.len().saturating_sub(1).max(self.scanned);
                if buf.len() - self.line_start > MAX_LINE {
                    return Err(FrameError::LineTooLong);
                }
                return Ok(None);
            };
            let line_end = self.scanned + lf; // index of CR
            let after = line_end + 2;
            match literal_len(&buf[self.line_start..line_end])? {
                Some(n) => {
                    // The literal's bytes follow the CRLF; the response continues after them.
                    self.scanned = after + n as usize;
                    self.line_start = self.scanned;
                }
                None => {
                    *self = Framer::default();
                    return Ok(Some(after));
                }
            }
        }
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

/// `... {123}` or `... {123+}` at the end of a line → `Some(123)`.
fn literal_len(line: &[u8]) -> Result<Option<u64>, FrameError> {
    let Some(body) = line.strip_suffix(b"}") else {
        return Ok(None);
    };
    let body = body.strip_suffix(b"+").unwrap_or(body);
    let Some(open) = body.iter().rposition(|&b| b == b'{') else {
        return Ok(None);
    };
    let digits = &body[open + 1..];
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Ok(None);
    }
    let mut n: u64 = 0;
    for d in digits {
        n = n.saturating_mul(10).saturating_add(u64::from(d - b'0'));
    }
    if n > MAX_LITERAL {
        return Err(FrameError::LiteralTooLarge(n));
    }
    Ok(Some(n))
}

/// One piece of a command on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    /// Bytes written as they are.
    Text(Cow<'a, [u8]>),
    /// A literal (RFC 3501 §4.3): `{N}` CRLF, then N bytes (synchronising unless LITERAL+ lets us skip the
    /// wait for `+`).
    Literal(Cow<'a, [u8]>),
}

/// A command being built: the tag is prepended by the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command<'a> {
    /// Text and literals, in order.
    pub parts: Vec<Part<'a>>,
    /// Carries a secret (LOGIN, AUTHENTICATE): never traced.
    pub sensitive: bool,
}

impl<'a> Command<'a> {
    /// A command starting with `text` (e.g. `"UID FETCH"`).
    pub fn new(text: &str) -> Self {
        let mut c = Command::default();
        c.push_text(text.as_bytes());
        c
    }

    fn push_text(&mut self, t: &[u8]) {
        if let Some(Part::Text(last)) = self.parts.last_mut() {
            last.to_mut().extend_from_slice(t);
        } else {
            self.parts.push(Part::Text(Cow::Owned(t.to_vec())));
        }
    }

    /// Append raw text after a space.
    pub fn raw(mut self, text: &str) -> Self {
        self.push_text(b" ");
        self.push_text(text.as_bytes());
        self
    }

    /// Append an astring (atom, quoted string or literal, whichever is needed) after a space.
    pub fn astring(self, s: &str) -> Self {
        self.arg(encode_astring(s.as_bytes()))
    }

    /// Append a string that must not be an atom (e.g. a search key value) after a space.
    pub fn string(self, s: &str) -> Self {
        self.arg(encode_string(s.as_bytes()))
    }

    /// Append a literal after a space.
    pub fn literal(mut self, bytes: &'a [u8]) -> Self {
        self.push_text(b" ");
        self.parts.push(Part::Literal(Cow::Borrowed(bytes)));
        self
    }

    fn arg(mut self, a: Arg) -> Self {
        self.push_text(b" ");
        match a {
            Arg::Atom(t) | Arg::Quoted(t) => self.push_text(&t),
            Arg::Literal(b) => self.parts.push(Part::Literal(Cow::Owned(b))),
        }
        self
    }

    /// Mark as carrying a secret.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// The command as text for logs: literals shown as `{N}`, sensitive commands reduced to their verb.
    pub fn redacted(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(&String::from_utf8_lossy(t)),
                Part::Literal(b) => out.push_str(&format!("{{{}}}", b.len())),
            }
        }
        if self.sensitive {
            let verb: String = out.split(' ').next().unwrap_or("").to_owned();
            return format!("{verb} <redacted>");
        }
        out
    }
}

/// An encoded command argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// Sent as is.
    Atom(Vec<u8>),
    /// A quoted string, quotes and escapes included.
    Quoted(Vec<u8>),
    /// The raw bytes of a literal (the `{N}` prefix is added when sending).
    Literal(Vec<u8>),
}

/// RFC 3501 §9 ATOM-CHAR: any CHAR except atom-specials (`(){ %*"\]` and CTLs). `]` is allowed in
/// ASTRING-CHAR; we quote it anyway, which is always valid.
fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// Encode as an astring: an atom when every byte allows it, a quoted string when only printable ASCII,
/// otherwise a literal (8-bit, CR, LF, NUL).
pub fn encode_astring(s: &[u8]) -> Arg {
    if !s.is_empty() && s.iter().all(|&b| is_atom_char(b)) {
        return Arg::Atom(s.to_vec());
    }
    encode_string(s)
}

/// Encode as a string (quoted or literal), never an atom.
pub fn encode_string(s: &[u8]) -> Arg {
    // RFC 3501 §4.3: a quoted string holds 7-bit chars except CR and LF; `"` and `\` are escaped.
    if s.iter()
        .all(|&b| (0x01..0x80).contains(&b) && b != b'\r' && b != b'\n')
    {
        let mut q = Vec::with_capacity(s.len() + 2);
        q.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                q.push(b'\\');
            }
            q.push(b);
        }
        q.push(b'"');
        Arg::Quoted(q)
    } else {
        Arg::Literal(s.to_vec())
    }
}

/// Undo quoted-string escapes (`\"`, `\\`) that `imap-proto` leaves in mailbox names.
pub fn unescape_quoted(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A compact uid set (RFC 3501 §9 sequence-set): sorted, deduplicated, runs collapsed: `1:5,7,9:10`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut v: Vec<u32> = uids.iter().copied().filter(|&u| u > 0).collect();
    v.sort_unstable();
    v.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 3501 §9 date-time: `"dd-Mon-yyyy HH:MM:SS +zzzz"` (without the quotes).
pub fn format_internal_date(dt: &DateTime<FixedOffset>) -> String {
    use chrono::{Datelike, Timelike};
    let off = dt.offset().local_minus_utc();
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.unsigned_abs();
    format!(
        "{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}",
        dt.day(),
        MONTHS[dt.month0() as usize],
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        sign,
        off / 3600,
        (off % 3600) / 60
    )
}

/// Parse an RFC 3501 date-time (`" 7-Jul-2024 10:00:00 +0200"` or `07-Jul-...`); `None` when malformed.
pub fn parse_internal_date(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.trim_start().split_once(' ')?;
    let mut d = date.split('-');
    let day: u32 = d.next()?.trim().parse().ok()?;
    let mon = d.next()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let year: i32 = d.next()?.parse().ok()?;
    if d.next().is_some() {
        return None;
    }
    let mut t = time.split(':');
    let h: u32 = t.next()?.parse().ok()?;
    let m: u32 = t.next()?.parse().ok()?;
    let sec: u32 = t.next()?.parse().ok()?;
    let zone = zone.trim();
    if zone.len() != 5 || !zone[1..].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh: i32 = zone[1..3].parse().ok()?;
    let zm: i32 = zone[3..5].parse().ok()?;
    let offset = FixedOffset::east_opt(sign * (zh * 3600 + zm * 60))?;
    let naive = NaiveDateTime::new(
        NaiveDate::from_ymd_opt(year, month, day)?,
        NaiveTime::from_hms_opt(h, m, sec)?,
    );
    offset.from_local_datetime(&naive).single()
}

/// Tagged completion status (RFC 3501 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Success.
    Ok,
    /// Operational failure (RFC 3501 §7.1.2).
    No,
    /// Protocol error (RFC 3501 §7.1.3).
    Bad,
}

/// A tagged completion: `TAG OK|NO|BAD [CODE args] text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The command's tag.
    pub tag: String,
    /// OK, NO or BAD.
    pub status: Status,
    /// The response code's name in upper case (`APPENDUID`, `NONEXISTENT`), if any.
    pub code: Option<String>,
    /// The response code's arguments as sent (`"1234 5"` for APPENDUID).
    pub code_args: String,
    /// Human-readable text after the code.
    pub text: String,
}

impl Completion {
    /// True for `OK`.
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// True when the response code is `name`.
    pub fn has_code(&self, name: &str) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(name))
    }

    /// `[APPENDUID uidvalidity uid]` (RFC 4315 §3) → the new uid; `None` for a set.
    pub fn append_uid(&self) -> Option<u32> {
        match self.append_uids(1)?.as_slice() {
            [u] => Some(*u),
            _ => None,
        }
    }

    /// `[APPENDUID uidvalidity uid-set]` after a MULTIAPPEND (RFC 3502, RFC 4315 §3) → the new uids in
    /// order, if the set holds exactly `expected` uids.
    pub fn append_uids(&self, expected: usize) -> Option<Vec<u32>> {
        if !self.has_code("APPENDUID") {
            return None;
        }
        let mut it = self.code_args.split_ascii_whitespace();
        let _validity: u32 = it.next()?.parse().ok()?;
        let mut out = Vec::with_capacity(expected);
        for member in it.next()?.split(',') {
            let (a, b) = member.split_once(':').unwrap_or((member, member));
            let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
            let (lo, hi) = (a.min(b), a.max(b));
            // Never expand more than we asked for (a hostile `1:4294967295`).
            if (hi - lo) as usize + 1 > expected.saturating_sub(out.len()) {
                return None;
            }
            out.extend(lo..=hi);
        }
        (out.len() == expected).then_some(out)
    }

    /// A one-line description for errors: `NO [OVERQUOTA] Quota exceeded`.
    pub fn summary(&self) -> String {
        let st = match self.status {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
        };
        match &self.code {
            Some(c) if self.code_args.is_empty() => format!("{st} [{c}] {}", self.text),
            Some(c) => format!("{st} [{c} {}] {}", self.code_args, self.text),
            None => format!("{st} {}", self.text),
        }
    }
}

/// Parse a tagged completion line (with or without the trailing CRLF). Tried with `imap-proto` first;
/// codes it does not know (RFC 5530's `NONEXISTENT`, `OVERQUOTA`…) are read from the text by hand, and a
/// line `imap-proto` rejects is parsed by hand.
pub fn parse_completion(frame: &[u8]) -> Option<Completion> {
    if let Ok((
        _,
        imap_proto::Response::Done {
            tag,
            status,
            code,
            information,
        },
    )) = imap_proto::Response::from_bytes(frame)
    {
        let status = match status {
            imap_proto::Status::Ok => Status::Ok,
            imap_proto::Status::No => Status::No,
            imap_proto::Status::Bad => Status::Bad,
            _ => return parse_completion_by_hand(frame),
        };
        let text = information.map(|s| s.into_owned()).unwrap_or_default();
        let (code, code_args, text) = match code {
            Some(imap_proto::ResponseCode::AppendUid(v, set)) => {
                let set: Vec<String> = set
                    .iter()
                    .map(|m| match m {
                        imap_proto::UidSetMember::Uid(u) => u.to_string(),
                        imap_proto::UidSetMember::UidRange(r) => {
                            format!("{}:{}", r.start(), r.end())
                        }
                    })
                    .collect();
                (
                    Some("APPENDUID".to_owned()),
                    format!("{v} {}", set.join(",")),
                    text,
                )
            }
            // Codes imap-proto knows but we need only by name; re-read them from the raw line.
            Some(_) => return parse_completion_by_hand(frame),
            None => {
                let (c, a, t) = split_code(&text);
                (c, a, t)
            }
        };
        return Some(Completion {
            tag: tag.0,
            status,
            code,
            code_args,
            text,
        });
    }
    parse_completion_by_hand(frame)
}

fn parse_completion_by_hand(frame: &[u8]) -> Option<Completion> {
    let line = String::from_utf8_lossy(frame);
    let line = line.trim_end_matches(['\r', '\n']);
    let (tag, rest) = line.split_once(' ')?;
    if tag.is_empty() || tag == "*" || tag == "+" {
        return None;
    }
    let (st, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = match st.to_ascii_uppercase().as_str() {
        "OK" => Status::Ok,
        "NO" => Status::No,
        "BAD" => Status::Bad,
        _ => return None,
    };
    let (code, code_args, text) = split_code(rest);
    Some(Completion {
        tag: tag.to_owned(),
        status,
        code,
        code_args,
        text,
    })
}

/// `[CODE args] text` → (Some(CODE), args, text); no code → (None, "", text).
fn split_code(rest: &str) -> (Option<String>, String, String) {
    let rest = rest.trim_start();
    if let Some(inner) = rest.strip_prefix('[')
        && let Some(close) = inner.find(']')
    {
        let code = &inner[..close];
        let text = inner[close + 1..].trim_start().to_owned();
        let (name, args) = code.split_once(' ').unwrap_or((code, ""));
        return (
            Some(name.to_ascii_uppercase()),
            args.trim().to_owned(),
            text,
        );
    }
    (None, String::new(), rest.to_owned())
}

/// What kind of response a frame is, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind<'a> {
    /// `* ...`: data or status not tied to a tag.
    Untagged,
    /// `+ ...`: the server waits for a literal or SASL data.
    Continuation,
    /// `TAG ...`: a command's completion.
    Tagged(&'a str),
}

/// Classify a framed response.
pub fn frame_kind(frame: &[u8]) -> FrameKind<'_> {
    if frame.starts_with(b"* ") || frame == b"*\r\n" {
        FrameKind::Untagged
    } else if frame.starts_with(b"+") {
        FrameKind::Continuation
    } else {
        let end = frame
            .iter()
            .position(|&b| b == b' ' || b == b'\r')
            .unwrap_or(frame.len());
        FrameKind::Tagged(std::str::from_utf8(&frame[..end]).unwrap_or(""))
    }
}

/// The capability names in `* CAPABILITY a b c` or `* OK [CAPABILITY a b c] text`, upper-cased.
/// `None` if the frame carries no capability list.
pub fn capabilities_in(frame: &[u8]) -> Option<Vec<String>> {
    let line = String::from_utf8_lossy(frame);
    let line = line.trim_end_matches(['\r', '\n']);
    let list = if let Some(rest) = strip_prefix_ci(line, "* CAPABILITY ") {
        rest
    } else {
        let start = line.to_ascii_uppercase().find("[CAPABILITY ")?;
        let rest = &line[start + "[CAPABILITY ".len()..];
        &rest[..rest.find(']')?]
    };
    Some(
        list.split_ascii_whitespace()
            .map(|s| s.to_ascii_uppercase())
            .collect(),
    )
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

/// True for `* BYE ...`.
pub fn is_bye(frame: &[u8]) -> bool {
    frame.len() >= 6 && frame[..6].eq_ignore_ascii_case(b"* BYE ")
        || frame.eq_ignore_ascii_case(b"* BYE\r\n")
}

/// `* ESEARCH (TAG "x") [UID] MIN 5 ...` (RFC 4731) → the MIN value; `imap-proto` 0.16 has no ESEARCH.
pub fn esearch_min(frame: &[u8]) -> Option<Option<u32>> {
    let line = String::from_utf8_lossy(frame);
    let rest = strip_prefix_ci(line.trim_end(), "* ESEARCH")?;
    let mut words = rest.split_ascii_whitespace();
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case("MIN") {
            return Some(words.next().and_then(|n| n.parse().ok()));
        }
    }
    Some(None)
}

/// SASL PLAIN initial response (RFC 4616): `authzid NUL authcid NUL password`, base64.
pub fn sasl_plain(authzid: &str, authcid: &str, password: &str) -> String {
    use base64::Engine;
    let raw = format!("{authzid}\0{authcid}\0{password}");
    base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
}

/// SASL XOAUTH2 initial response (Google/Microsoft): `user=U ^A auth=Bearer T ^A ^A`, base64.
pub fn sasl_xoauth2(user: &str, token: &str) -> String {
    use base64::Engine;
    let raw = format!("user={user}\x01auth=Bearer {token}\x01\x01");
    base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
}

/// A keyword is sendable when it is an atom (RFC 3501 §9 flag-keyword); `\Recent` is never sent.
pub fn sendable_flag(flag: &str) -> bool {
    if flag.eq_ignore_ascii_case("\\Recent") {
        return false;
    }
    let body = flag.strip_prefix('\\').unwrap_or(flag);
    !body.is_empty() && body.bytes().all(is_atom_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` to a framer as if it arrived split at `split`, returning the frames.
    fn frames_with_split(input: &[u8], split: usize) -> Vec<Vec<u8>> {
        let mut framer = Framer::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        for chunk in [&input[..split], &input[split..]] {
            buf.extend_from_slice(chunk);
            while let Some(n) = framer.next(&buf).expect("test input is valid") {
                out.push(buf.drain(..n).collect());
            }
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        out
    }

    const STREAM: &[u8] = b"* OK [CAPABILITY IMAP4rev1] hi\r\n\
* 1 FETCH (UID 7 BODY[] {12}\r\nab\r\n{3}\r\n\r\n\r\n)\r\n\
* 2 FETCH (UID 8 BODY[HEADER.FIELDS (SUBJECT)] {0}\r\n FLAGS ())\r\n\
* LIST () \"/\" {5}\r\nA}\r\nB\r\n\
a1 OK done {not a literal\r\n\
+ go\r\n\
a2 OK {4+}\r\nxx\r\n\r\n";

    #[test]
    fn framer_yields_the_same_frames_at_every_split_position() {
        let whole = frames_with_split(STREAM, STREAM.len());
        assert_eq!(whole.len(), 7);
        assert_eq!(
            whole[1],
            b"* 1 FETCH (UID 7 BODY[] {12}\r\nab\r\n{3}\r\n\r\n\r\n)\r\n"
        );
        assert_eq!(whole[3], b"* LIST () \"/\" {5}\r\nA}\r\nB\r\n");
        assert_eq!(whole[6], b"a2 OK {4+}\r\nxx\r\n\r\n");
        for split in 0..=STREAM.len() {
            assert_eq!(frames_with_split(STREAM, split), whole, "split at {split}");
        }
    }

    #[test]
    fn framer_survives_byte_by_byte_delivery() {
        let mut framer = Framer::new();
        let mut buf = Vec::new();
        let mut n_frames = 0;
        for &b in STREAM {
            buf.push(b);
            while let Some(n) = framer.next(&buf).expect("test input is valid") {
                buf.drain(..n);
                n_frames += 1;
            }
        }
        assert_eq!(n_frames, 7);
    }

    #[test]
    fn framer_refuses_huge_literals() {
        let mut f = Framer::new();
        assert_eq!(
            f.next(b"* 1 FETCH (BODY[] {999999999999}\r\n"),
            Err(FrameError::LiteralTooLarge(999_999_999_999))
        );
        let mut f = Framer::new();
        assert_eq!(f.next(b"* 1 FETCH (BODY[] {268435456}\r\n"), Ok(None));
    }

    #[test]
    fn uid_sets_are_compact_sorted_and_deduplicated() {
        assert_eq!(uid_set(&[1, 2, 3, 4, 5, 7]), "1:5,7");
        assert_eq!(uid_set(&[9, 7, 8, 8, 1]), "1,7:9");
        assert_eq!(uid_set(&[42]), "42");
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[0, 3, 5, 6]), "3,5:6");
    }

    #[test]
    fn astrings_are_atoms_quoted_or_literals() {
        assert_eq!(encode_astring(b"INBOX"), Arg::Atom(b"INBOX".to_vec()));
        assert_eq!(
            encode_astring(b"Sent Items"),
            Arg::Quoted(b"\"Sent Items\"".to_vec())
        );
        assert_eq!(encode_astring(b""), Arg::Quoted(b"\"\"".to_vec()));
        assert_eq!(
            encode_astring(br#"a"b\c"#),
            Arg::Quoted(br#""a\"b\\c""#.to_vec())
        );
        assert_eq!(encode_astring(b"a]b"), Arg::Quoted(b"\"a]b\"".to_vec()));
        assert_eq!(
            encode_astring("pässword".as_bytes()),
            Arg::Literal("pässword".as_bytes().to_vec())
        );
        assert_eq!(encode_astring(b"a\r\nb"), Arg::Literal(b"a\r\nb".to_vec()));
        assert_eq!(encode_string(b"abc"), Arg::Quoted(b"\"abc\"".to_vec()));
    }

    #[test]
    fn commands_merge_text_and_redact_secrets() {
        let c = Command::new("LOGIN")
            .astring("alice")
            .astring("pä ss")
            .sensitive();
        assert_eq!(c.parts.len(), 2);
        assert_eq!(c.parts[0], Part::Text(Cow::Owned(b"LOGIN alice ".to_vec())));
        assert!(matches!(&c.parts[1], Part::Literal(b) if b.as_ref() == "pä ss".as_bytes()));
        assert_eq!(c.redacted(), "LOGIN <redacted>");
        let c = Command::new("APPEND")
            .astring("INBOX")
            .raw("(\\Seen)")
            .literal(b"hello");
        assert_eq!(c.redacted(), "APPEND INBOX (\\Seen) {5}");
    }

    #[test]
    fn internal_dates_round_trip() {
        let dt = parse_internal_date(" 7-Jul-2024 10:05:09 +0200").expect("test input is valid");
        assert_eq!(format_internal_date(&dt), "07-Jul-2024 10:05:09 +0200");
        assert_eq!(parse_internal_date("07-Jul-2024 10:05:09 +0200"), Some(dt));
        let neg = parse_internal_date("31-Dec-1999 23:59:59 -0930").expect("test input is valid");
        assert_eq!(format_internal_date(&neg), "31-Dec-1999 23:59:59 -0930");
        assert_eq!(neg.offset().local_minus_utc(), -(9 * 3600 + 30 * 60));
        for bad in [
            "",
            "7-Foo-2024 10:00:00 +0000",
            "32-Jan-2024 10:00:00 +0000",
            "1-Jan-2024 10:00 +0000",
            "1-Jan-2024 10:00:00 0000",
        ] {
            assert_eq!(parse_internal_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn completions_parse_with_and_without_known_codes() {
        let c = parse_completion(b"a3 OK [APPENDUID 1700000000 42] Append completed.\r\n")
            .expect("test input is valid");
        assert_eq!(
            (c.tag.as_str(), c.status, c.append_uid()),
            ("a3", Status::Ok, Some(42))
        );
        let c =
            parse_completion(b"a4 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)\r\n")
                .expect("test input is valid");
        assert!(c.has_code("OVERQUOTA"));
        assert_eq!(c.text, "Quota exceeded (mailbox for user is full)");
        let c = parse_completion(b"a5 NO [TRYCREATE] Mailbox doesn't exist: X\r\n")
            .expect("test input is valid");
        assert!(c.has_code("TRYCREATE"));
        let c = parse_completion(b"a6 BAD Error in IMAP command \xff\r\n")
            .expect("test input is valid");
        assert_eq!((c.status, c.code.clone()), (Status::Bad, None));
        let c = parse_completion(b"a7 OK\r\n").expect("test input is valid");
        assert!(c.is_ok());
        assert_eq!(parse_completion(b"* OK hi\r\n"), None);
        assert_eq!(parse_completion(b"a8 MAYBE\r\n"), None);
        assert_eq!(c.append_uid(), None);
        let m =
            parse_completion(b"a9 OK [APPENDUID 17 5:7,9] Append completed.\r\n").expect("parses");
        assert_eq!(m.append_uids(4), Some(vec![5, 6, 7, 9]));
        assert_eq!(m.append_uids(3), None);
        assert_eq!(m.append_uid(), None);
        let h = parse_completion(b"a9 OK [APPENDUID 17 1:4294967295] x\r\n").expect("parses");
        assert_eq!(h.append_uids(10), None);
    }

    #[test]
    fn frames_are_classified_and_capabilities_found() {
        assert_eq!(frame_kind(b"* 3 EXISTS\r\n"), FrameKind::Untagged);
        assert_eq!(frame_kind(b"+ \r\n"), FrameKind::Continuation);
        assert_eq!(frame_kind(b"a12 OK x\r\n"), FrameKind::Tagged("a12"));
        assert_eq!(
            capabilities_in(b"* OK [CAPABILITY IMAP4rev1 LITERAL+ STARTTLS] Dovecot ready.\r\n")
                .expect("test input is valid"),
            ["IMAP4REV1", "LITERAL+", "STARTTLS"]
        );
        assert_eq!(
            capabilities_in(b"* CAPABILITY IMAP4rev1 UIDPLUS\r\n").expect("test input is valid"),
            ["IMAP4REV1", "UIDPLUS"]
        );
        assert_eq!(capabilities_in(b"* OK ready\r\n"), None);
        assert!(is_bye(b"* BYE Server shutting down.\r\n"));
        assert!(!is_bye(b"* OK BYE\r\n"));
        assert_eq!(
            esearch_min(b"* ESEARCH (TAG \"a1\") MIN 17 COUNT 3\r\n"),
            Some(Some(17))
        );
        assert_eq!(esearch_min(b"* ESEARCH (TAG \"a1\")\r\n"), Some(None));
        assert_eq!(esearch_min(b"* SEARCH 1\r\n"), None);
    }

    #[test]
    fn sasl_and_flags() {
        assert_eq!(
            sasl_plain("", "tim", "tanstaaftanstaaf"),
            "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
        assert_eq!(
            sasl_xoauth2(
                "someuser@example.com",
                "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
            ),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
        assert!(sendable_flag("\\Seen") && sendable_flag("$Label1") && sendable_flag("Work"));
        assert!(
            !sendable_flag("\\Recent")
                && !sendable_flag("a b")
                && !sendable_flag("")
                && !sendable_flag("x]")
        );
        assert_eq!(unescape_quoted(r#"a\"b\\c"#), r#"a"b\c"#);
    }
}
