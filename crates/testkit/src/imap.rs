//! A minimal, blocking IMAP client for seeding and inspecting test servers.
//!
//! It is deliberately independent of `ferry-mail`: the connector under test must not be used to prepare or
//! check its own test data. It speaks just enough IMAP4rev1 (RFC 3501) for the harness: `LOGIN`, `LIST`,
//! `EXAMINE`, `CREATE`, `DELETE`, pipelined `APPEND` with `LITERAL+` (RFC 7888) and `UID FETCH` with
//! `BODY.PEEK[]`. Folder names are given in UTF-8 and encoded to modified UTF-7 here.
//!
//! Every failure is an `io::Error` whose message names the command and the server's answer.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a single read may block before the client gives up (a hung server fails the test, not hangs it).
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// One message to append (or seed): raw bytes, flags and an optional internal date.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedMessage {
    /// The raw RFC 5322 message, normally with CRLF line endings.
    pub bytes: Vec<u8>,
    /// Flags and keywords as IMAP spells them (`\Seen`, `$Label1`); `\Recent` is not allowed.
    pub flags: Vec<String>,
    /// RFC 3501 `date-time`, e.g. `17-Jul-1996 02:44:25 -0700`; `None` lets the server use "now".
    pub internal_date: Option<String>,
}

impl SeedMessage {
    /// A message without flags or internal date.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        SeedMessage {
            bytes: bytes.into(),
            flags: Vec::new(),
            internal_date: None,
        }
    }

    /// The same message with these flags.
    pub fn with_flags(mut self, flags: &[&str]) -> Self {
        self.flags = flags.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    /// The same message with this RFC 3501 internal date.
    pub fn with_internal_date(mut self, date: &str) -> Self {
        self.internal_date = Some(date.to_owned());
        self
    }
}

/// A token of an IMAP response: enough structure to read `LIST` and `FETCH` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// An atom or number (`FETCH`, `\Seen`, `42`, `BODY[]`).
    Atom(String),
    /// A quoted string or a literal.
    Str(Vec<u8>),
    /// `NIL`.
    Nil,
    /// A parenthesised list.
    List(Vec<Token>),
}

impl Token {
    /// The token as text (atom or string), lossily decoded.
    pub fn text(&self) -> Option<String> {
        match self {
            Token::Atom(a) => Some(a.clone()),
            Token::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        }
    }
}

/// One entry of a `LIST` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListEntry {
    /// Decoded (UTF-8) name, with the server's delimiter.
    pub name: String,
    /// The hierarchy delimiter, `None` for a flat namespace.
    pub delimiter: Option<char>,
    /// Attributes such as `\Noselect`, `\HasChildren`, `\Sent`.
    pub attributes: Vec<String>,
}

impl ListEntry {
    /// False for `\Noselect` / `\NonExistent` entries.
    pub fn selectable(&self) -> bool {
        !self.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        })
    }
}

/// What `EXAMINE`/`SELECT` reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SelectInfo {
    pub uid_validity: u32,
    pub uid_next: u32,
    pub exists: u32,
}

/// One message as `UID FETCH (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])` returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedMessage {
    pub uid: u32,
    /// Flags as the server sent them (including `\Recent` if present), in server order.
    pub flags: Vec<String>,
    /// RFC 3501 date-time as the server sent it.
    pub internal_date: String,
    /// RFC822.SIZE.
    pub size: u64,
    /// `BODY[]`.
    pub bytes: Vec<u8>,
}

/// A blocking IMAP session over plain TCP (test servers only, never TLS, never a non-loopback address).
pub struct RawImap {
    reader: BufReader<TcpStream>,
    next_tag: u32,
    greeting: String,
}

impl RawImap {
    /// Connect and read the greeting.
    pub fn connect(addr: SocketAddr) -> io::Result<RawImap> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| ctx(e, format!("connecting to IMAP server {addr}")))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let mut client = RawImap {
            reader: BufReader::new(stream),
            next_tag: 1,
            greeting: String::new(),
        };
        let greeting = client.read_logical()?;
        let greeting = String::from_utf8_lossy(&greeting).trim_end().to_owned();
        if !greeting.starts_with("* OK") && !greeting.starts_with("* PREAUTH") {
            return Err(io::Error::other(format!(
                "IMAP server {addr} greeted with {greeting:?}"
            )));
        }
        client.greeting = greeting;
        Ok(client)
    }

    /// The greeting line the server sent.
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// `LOGIN user password`.
    pub fn login(&mut self, user: &str, password: &str) -> io::Result<()> {
        let cmd = format!("LOGIN {} {}", quote(user), quote(password));
        self.run_redacted(&cmd, "LOGIN <user> <password>")
            .map(|_| ())
    }

    /// `CAPABILITY`: the capability names, upper-cased.
    pub fn capabilities(&mut self) -> io::Result<Vec<String>> {
        let untagged = self.run("CAPABILITY")?;
        let mut caps = Vec::new();
        for line in untagged {
            let text = String::from_utf8_lossy(&line);
            if let Some(rest) = text.trim_end().strip_prefix("* CAPABILITY ") {
                caps.extend(rest.split(' ').map(|c| c.to_ascii_uppercase()));
            }
        }
        Ok(caps)
    }

    /// Run one command (without tag) and return its untagged responses; `NO`/`BAD` is an error.
    pub fn run(&mut self, command: &str) -> io::Result<Vec<Vec<u8>>> {
        self.run_redacted(command, command)
    }

    fn run_redacted(&mut self, command: &str, shown: &str) -> io::Result<Vec<Vec<u8>>> {
        let tag = self.tag();
        let mut line = format!("{tag} {command}\r\n").into_bytes();
        self.reader.get_mut().write_all(&line)?;
        line.clear();
        let (untagged, status) = self.read_until_tagged(&tag)?;
        if status.ok {
            Ok(untagged)
        } else {
            Err(io::Error::other(format!(
                "IMAP {shown} failed: {}",
                status.text
            )))
        }
    }

    /// `LIST "" "*"`: every mailbox, names decoded from modified UTF-7.
    pub fn list(&mut self) -> io::Result<Vec<ListEntry>> {
        let mut out = Vec::new();
        for line in self.run("LIST \"\" \"*\"")? {
            let tokens = tokenize(&line)?;
            if tokens.len() < 5
                || !matches!(&tokens[1], Token::Atom(a) if a.eq_ignore_ascii_case("LIST"))
            {
                continue;
            }
            let attributes = match &tokens[2] {
                Token::List(items) => items.iter().filter_map(Token::text).collect(),
                _ => Vec::new(),
            };
            let delimiter = match &tokens[3] {
                Token::Str(s) => s.first().map(|b| *b as char),
                _ => None,
            };
            let raw_name = tokens[4].text().ok_or_else(|| {
                io::Error::other(format!("LIST entry without a name: {:?}", lossy(&line)))
            })?;
            let name =
                ferry_core::utf7::decode(&raw_name).map_err(|e| io::Error::other(e.to_string()))?;
            out.push(ListEntry {
                name,
                delimiter,
                attributes,
            });
        }
        Ok(out)
    }

    /// The hierarchy delimiter of the personal namespace (`LIST "" ""`).
    pub fn delimiter(&mut self) -> io::Result<Option<char>> {
        for line in self.run("LIST \"\" \"\"")? {
            let tokens = tokenize(&line)?;
            if let Some(Token::Str(s)) = tokens.get(3) {
                return Ok(s.first().map(|b| *b as char));
            }
        }
        Ok(None)
    }

    /// `EXAMINE folder` (read-only: flags are never changed afterwards).
    pub fn examine(&mut self, folder: &str) -> io::Result<SelectInfo> {
        let untagged = self.run(&format!("EXAMINE {}", mailbox(folder)))?;
        Ok(select_info(&untagged))
    }

    /// `SELECT folder` (read-write).
    pub fn select(&mut self, folder: &str) -> io::Result<SelectInfo> {
        let untagged = self.run(&format!("SELECT {}", mailbox(folder)))?;
        Ok(select_info(&untagged))
    }

    /// `CREATE folder`; an existing folder is fine.
    pub fn create(&mut self, folder: &str) -> io::Result<()> {
        match self.run(&format!("CREATE {}", mailbox(folder))) {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("ALREADYEXISTS") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `DELETE folder`.
    pub fn delete(&mut self, folder: &str) -> io::Result<()> {
        self.run(&format!("DELETE {}", mailbox(folder))).map(|_| ())
    }

    /// Append messages to `folder`: MULTIAPPEND (RFC 3502) batches of up to 500 messages / 16 MB, each
    /// message a `LITERAL+` literal, all batches pipelined.
    ///
    /// Batches matter on Dovecot's Maildir: each APPEND transaction rewrites `dovecot-uidlist`, so one
    /// APPEND per message is quadratic (2,000 messages took 10 s; batched they take well under 1 s).
    /// Returns the uids from `APPENDUID` (UIDPLUS), in order. A refused batch is an error naming it.
    pub fn append(&mut self, folder: &str, messages: &[SeedMessage]) -> io::Result<Vec<u32>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let mbox = mailbox(folder);
        let batches: Vec<(String, &[SeedMessage])> = append_batches(messages)
            .into_iter()
            .map(|batch| (self.tag(), batch))
            .collect();
        // A writer thread sends while this thread reads, so neither side's socket buffer can fill up and
        // deadlock the pipeline however many messages there are.
        let mut writer = self.reader.get_ref().try_clone()?;
        let (uids, failures, read_err, write_result) = std::thread::scope(|scope| {
            let batches_ref = &batches;
            let mbox = &mbox;
            let handle = scope.spawn(move || -> io::Result<()> {
                let mut buf = io::BufWriter::with_capacity(256 * 1024, &mut writer);
                for (tag, batch) in batches_ref {
                    write!(buf, "{tag} APPEND {mbox}")?;
                    for msg in *batch {
                        write!(buf, " ({})", msg.flags.join(" "))?;
                        if let Some(date) = &msg.internal_date {
                            write!(buf, " {}", quote(date))?;
                        }
                        write!(buf, " {{{}+}}\r\n", msg.bytes.len())?;
                        buf.write_all(&msg.bytes)?;
                    }
                    buf.write_all(b"\r\n")?;
                }
                buf.flush()
            });
            let mut uids = Vec::with_capacity(messages.len());
            let mut failures = Vec::new();
            let mut read_err = None;
            let mut first = 0;
            for (tag, batch) in &batches {
                match self.read_until_tagged(tag) {
                    Ok((_, status)) if status.ok => uids.extend(appenduids(&status.text)),
                    Ok((_, status)) => failures.push(format!(
                        "messages #{first}..#{}: {}",
                        first + batch.len() - 1,
                        status.text
                    )),
                    Err(e) => {
                        read_err = Some(e);
                        break;
                    }
                }
                first += batch.len();
            }
            let write_result = handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("IMAP append writer thread panicked")));
            (uids, failures, read_err, write_result)
        });
        if let Some(e) = read_err {
            return Err(ctx(
                e,
                format!("appending {} messages to {folder:?}", messages.len()),
            ));
        }
        write_result.map_err(|e| ctx(e, format!("sending APPENDs to {folder:?}")))?;
        if !failures.is_empty() {
            return Err(io::Error::other(format!(
                "APPEND to {folder:?} refused {} batch(es) of {} messages: {}",
                failures.len(),
                messages.len(),
                failures.join("; ")
            )));
        }
        Ok(uids)
    }

    /// `UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])` on the selected folder.
    ///
    /// `BODY.PEEK` never sets `\Seen`. The answer is read message by message, not buffered as a whole.
    pub fn fetch_all(&mut self) -> io::Result<Vec<FetchedMessage>> {
        let mut out = Vec::new();
        self.fetch_each(|m| {
            out.push(m);
            Ok(())
        })?;
        Ok(out)
    }

    /// Like [`RawImap::fetch_all`], handing each message to `f` as it arrives.
    pub fn fetch_each(
        &mut self,
        mut f: impl FnMut(FetchedMessage) -> io::Result<()>,
    ) -> io::Result<()> {
        let tag = self.tag();
        let cmd =
            format!("{tag} UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])\r\n");
        self.reader.get_mut().write_all(cmd.as_bytes())?;
        loop {
            let line = self.read_logical()?;
            if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
                let status = status_of(&line[tag.len() + 1..]);
                if status.ok {
                    return Ok(());
                }
                return Err(io::Error::other(format!(
                    "IMAP UID FETCH failed: {}",
                    status.text
                )));
            }
            let tokens = tokenize(&line)?;
            let is_fetch =
                matches!(tokens.get(2), Some(Token::Atom(a)) if a.eq_ignore_ascii_case("FETCH"));
            if !is_fetch {
                continue;
            }
            let Some(Token::List(items)) = tokens.get(3) else {
                return Err(io::Error::other(format!(
                    "unparsable FETCH response: {:?}",
                    lossy(&line)
                )));
            };
            f(parse_fetch(items).map_err(|e| {
                ctx(
                    e,
                    format!(
                        "in FETCH response {:?}",
                        lossy(&line[..line.len().min(200)])
                    ),
                )
            })?)?;
        }
    }

    /// `LOGOUT`, ignoring errors (the server may close first).
    pub fn logout(mut self) {
        let _ = self.run("LOGOUT");
    }

    fn tag(&mut self) -> String {
        let t = format!("T{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    fn read_until_tagged(&mut self, tag: &str) -> io::Result<(Vec<Vec<u8>>, Status)> {
        let mut untagged = Vec::new();
        let mut bye: Option<String> = None;
        loop {
            let line = match self.read_logical() {
                Ok(line) => line,
                // A BYE before the tagged answer means the server hung up; say why.
                Err(e) => match bye {
                    Some(text) => {
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            format!("server said {text:?}: {e}"),
                        ));
                    }
                    None => return Err(e),
                },
            };
            if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
                return Ok((untagged, status_of(&line[tag.len() + 1..])));
            }
            if line.starts_with(b"* BYE") {
                bye = Some(lossy(&line).trim_end().to_owned());
            }
            untagged.push(line);
        }
    }

    /// Read one logical response line: a line plus any literals it announces, exactly as on the wire.
    fn read_logical(&mut self) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        loop {
            let start = buf.len();
            let n = self.reader.read_until(b'\n', &mut buf).map_err(|e| {
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("IMAP server sent nothing for {READ_TIMEOUT:?}"),
                    )
                } else {
                    e
                }
            })?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "IMAP server closed the connection",
                ));
            }
            match literal_len(&buf[start..]) {
                Some(len) => {
                    let at = buf.len();
                    buf.resize(at + len, 0);
                    self.reader.read_exact(&mut buf[at..])?;
                }
                None => return Ok(buf),
            }
        }
    }
}

struct Status {
    ok: bool,
    text: String,
}

/// How [`RawImap::append`] splits `messages` into `APPEND` commands: up to 500 messages and 16 MB per
/// command (a single bigger message goes alone). Public so that tests can check seeding stays batched —
/// one `APPEND` per message is quadratic on Dovecot's Maildir — without timing it.
pub fn append_batches(messages: &[SeedMessage]) -> Vec<&[SeedMessage]> {
    const MAX_BATCH: usize = 500;
    const MAX_BATCH_BYTES: usize = 16 << 20;
    let mut batches = Vec::new();
    let mut start = 0;
    while start < messages.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < messages.len()
            && end - start < MAX_BATCH
            && (end == start || bytes + messages[end].bytes.len() <= MAX_BATCH_BYTES)
        {
            bytes += messages[end].bytes.len();
            end += 1;
        }
        batches.push(&messages[start..end]);
        start = end;
    }
    batches
}

fn status_of(rest: &[u8]) -> Status {
    let text = lossy(rest).trim_end().to_owned();
    Status {
        ok: text.starts_with("OK"),
        text,
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ctx(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The uids of an `[APPENDUID uidvalidity uid-set]` code, expanded (`4:6,9` → 4, 5, 6, 9).
fn appenduids(text: &str) -> Vec<u32> {
    let Some(at) = text.find("[APPENDUID ") else {
        return Vec::new();
    };
    let rest = &text[at + "[APPENDUID ".len()..];
    let Some(set) = rest[..rest.find(']').unwrap_or(rest.len())]
        .split(' ')
        .nth(1)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend(a.min(b)..=a.max(b));
                }
            }
            None => out.extend(part.parse::<u32>().ok()),
        }
    }
    out
}

fn select_info(untagged: &[Vec<u8>]) -> SelectInfo {
    let mut info = SelectInfo::default();
    for line in untagged {
        let text = lossy(line);
        let text = text.trim_end();
        if let Some(v) = code_value(text, "UIDVALIDITY") {
            info.uid_validity = v;
        } else if let Some(v) = code_value(text, "UIDNEXT") {
            info.uid_next = v;
        } else if let Some(n) = text
            .strip_prefix("* ")
            .and_then(|r| r.strip_suffix(" EXISTS"))
        {
            info.exists = n.parse().unwrap_or(0);
        }
    }
    info
}

fn code_value(text: &str, code: &str) -> Option<u32> {
    let key = format!("[{code} ");
    let rest = &text[text.find(&key)? + key.len()..];
    rest[..rest.find(']')?].parse().ok()
}

/// The length announced by a trailing `{N}` or `{N+}` literal marker, if the line ends with one.
fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    let digits = &line[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A quoted string (RFC 3501 `quoted`), escaping `\` and `"`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A UTF-8 mailbox name as a quoted, modified-UTF-7 IMAP argument.
pub fn mailbox(name: &str) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        return "INBOX".to_owned();
    }
    quote(&ferry_core::utf7::encode(name))
}

/// Split a response line (with inline literals) into tokens.
pub fn tokenize(line: &[u8]) -> io::Result<Vec<Token>> {
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        skip_spaces(line, &mut pos);
        if pos >= line.len() || line[pos] == b'\r' || line[pos] == b'\n' {
            return Ok(out);
        }
        out.push(token(line, &mut pos)?);
    }
}

fn skip_spaces(line: &[u8], pos: &mut usize) {
    while *pos < line.len() && line[*pos] == b' ' {
        *pos += 1;
    }
}

fn token(line: &[u8], pos: &mut usize) -> io::Result<Token> {
    let bad = |why: &str| {
        io::Error::other(format!(
            "malformed IMAP response ({why}): {:?}",
            lossy(&line[..line.len().min(300)])
        ))
    };
    match line.get(*pos) {
        None => Err(bad("unexpected end")),
        Some(b'(') => {
            *pos += 1;
            let mut items = Vec::new();
            loop {
                skip_spaces(line, pos);
                match line.get(*pos) {
                    None => return Err(bad("unclosed list")),
                    Some(b')') => {
                        *pos += 1;
                        return Ok(Token::List(items));
                    }
                    Some(_) => items.push(token(line, pos)?),
                }
            }
        }
        Some(b'"') => {
            *pos += 1;
            let mut s = Vec::new();
            loop {
                match line.get(*pos) {
                    None => return Err(bad("unterminated string")),
                    Some(b'\\') => {
                        s.push(*line.get(*pos + 1).ok_or_else(|| bad("bad escape"))?);
                        *pos += 2;
                    }
                    Some(b'"') => {
                        *pos += 1;
                        return Ok(Token::Str(s));
                    }
                    Some(&b) => {
                        s.push(b);
                        *pos += 1;
                    }
                }
            }
        }
        Some(b'{') => {
            let close = line[*pos..]
                .iter()
                .position(|&b| b == b'}')
                .ok_or_else(|| bad("bad literal"))?
                + *pos;
            let digits =
                std::str::from_utf8(&line[*pos + 1..close]).map_err(|_| bad("bad literal"))?;
            let len: usize = digits
                .trim_end_matches('+')
                .parse()
                .map_err(|_| bad("bad literal length"))?;
            let start = close
                + 1
                + if line.get(close + 1) == Some(&b'\r') {
                    2
                } else {
                    1
                };
            let end = start + len;
            if end > line.len() {
                return Err(bad("short literal"));
            }
            *pos = end;
            Ok(Token::Str(line[start..end].to_vec()))
        }
        Some(_) => {
            let start = *pos;
            let mut depth = 0usize;
            while let Some(&b) = line.get(*pos) {
                match b {
                    b'[' => depth += 1,
                    b']' => depth = depth.saturating_sub(1),
                    b' ' | b')' | b'(' | b'\r' | b'\n' if depth == 0 => break,
                    _ => {}
                }
                *pos += 1;
            }
            if *pos == start {
                return Err(bad("empty atom"));
            }
            let atom = lossy(&line[start..*pos]);
            if atom.eq_ignore_ascii_case("NIL") {
                Ok(Token::Nil)
            } else {
                Ok(Token::Atom(atom))
            }
        }
    }
}

fn parse_fetch(items: &[Token]) -> io::Result<FetchedMessage> {
    let mut msg = FetchedMessage {
        uid: 0,
        flags: Vec::new(),
        internal_date: String::new(),
        size: 0,
        bytes: Vec::new(),
    };
    let mut have_body = false;
    for pair in items.chunks(2) {
        let [key, value] = pair else {
            return Err(io::Error::other("odd number of FETCH items"));
        };
        let key = key.text().unwrap_or_default().to_ascii_uppercase();
        match key.as_str() {
            "UID" => msg.uid = value.text().and_then(|v| v.parse().ok()).unwrap_or(0),
            "FLAGS" => {
                if let Token::List(flags) = value {
                    msg.flags = flags.iter().filter_map(Token::text).collect();
                }
            }
            "INTERNALDATE" => msg.internal_date = value.text().unwrap_or_default(),
            "RFC822.SIZE" => msg.size = value.text().and_then(|v| v.parse().ok()).unwrap_or(0),
            "BODY[]" => {
                have_body = true;
                if let Token::Str(b) = value {
                    msg.bytes = b.clone();
                }
            }
            _ => {}
        }
    }
    if msg.uid == 0 || !have_body {
        return Err(io::Error::other("FETCH response without UID or BODY[]"));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_reads_lists_strings_literals_and_bracketed_atoms() {
        let line = b"* 1 FETCH (UID 7 FLAGS (\\Seen $Work) INTERNALDATE \" 1-Jan-2020 00:00:00 +0000\" BODY[] {5}\r\nab\r\nc)\r\n";
        let t = tokenize(line).expect("tokenize");
        let Token::List(items) = &t[3] else {
            panic!("no list: {t:?}")
        };
        let m = parse_fetch(items).expect("fetch");
        assert_eq!(m.uid, 7);
        assert_eq!(m.flags, ["\\Seen", "$Work"]);
        assert_eq!(m.internal_date, " 1-Jan-2020 00:00:00 +0000");
        assert_eq!(m.bytes, b"ab\r\nc");
    }

    #[test]
    fn literal_markers_are_recognised_only_at_line_end() {
        assert_eq!(literal_len(b"* LIST () \"/\" {12}\r\n"), Some(12));
        assert_eq!(literal_len(b"A APPEND x {3+}\r\n"), Some(3));
        assert_eq!(literal_len(b"* OK {x}\r\n"), None);
        assert_eq!(literal_len(b"* OK done\r\n"), None);
    }

    #[test]
    fn mailbox_names_are_quoted_and_utf7_encoded() {
        assert_eq!(mailbox("inbox"), "INBOX");
        assert_eq!(mailbox("A&B"), "\"A&-B\"");
        assert_eq!(mailbox("Projets/Données"), "\"Projets/Donn&AOk-es\"");
        assert_eq!(quote("a\"b\\"), "\"a\\\"b\\\\\"");
    }

    #[test]
    fn appenduid_sets_are_expanded() {
        assert_eq!(
            appenduids("OK [APPENDUID 1795613288 42] Append completed."),
            [42]
        );
        assert_eq!(
            appenduids("OK [APPENDUID 7 4:6,9] Append completed."),
            [4, 5, 6, 9]
        );
        assert!(appenduids("OK Append completed.").is_empty());
    }
}
