//! One client connection of the shim: read commands (with their literals), answer what Exchange answers
//! itself, forward the rest to Dovecot as the mailbox and relay Dovecot's responses.

use super::token;
use super::{Shared, WELL_KNOWN_FOLDERS, unix_now};
use crate::dovecot::Dovecot;
use crate::imap::{Token, tokenize};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const CAPS_BEFORE: &str = "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+";
const CAPS_AFTER: &str = "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+";

/// One command as read from the client.
struct Cmd {
    tag: String,
    /// Upper-cased command name (`UID FETCH` for UID commands).
    name: String,
    /// The command for Dovecot: literals made non-synchronising (`{n+}`), ending in CRLF.
    wire: Vec<u8>,
    literals: Vec<Vec<u8>>,
    /// A synchronising literal was refused before it was sent (its command is cut short).
    refused_early: bool,
}

enum Login {
    None,
    /// Authenticated, but the app may not open the mailbox (behaviour 4).
    NotConnected,
    Connected {
        mailbox: String,
        backend: Backend,
    },
}

struct Backend {
    reader: BufReader<TcpStream>,
    /// Tags forwarded to Dovecot whose completion has not been relayed yet (APPENDs are pipelined: Exchange
    /// takes LITERAL+ pipelines, and a relay that waited for each answer would measure the shim, not Ferry).
    pending: Vec<String>,
}

pub(super) fn run(client: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut out = client.try_clone()?;
    let mut reader = BufReader::with_capacity(256 * 1024, client);
    out.write_all(
        b"* OK The Microsoft Exchange IMAP4 service is ready. [RgBlAHIAcgB5AFMAaABpAG0A]\r\n",
    )?;
    let mut login = Login::None;
    let mut errors = 0u32;
    loop {
        if shared.shutdown.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let max = shared.max_size.load(std::sync::atomic::Ordering::SeqCst);
        let Some(cmd) = read_command(&mut reader, &mut out, max)? else {
            return Ok(());
        };
        let (reply, close) = answer(&cmd, &mut login, &mut reader, &mut out, shared, &mut errors)?;
        if !reply.is_empty() {
            if let Login::Connected { backend, .. } = &mut login {
                // Everything forwarded before is answered first, in order.
                backend.drain(&mut out, &mut errors)?;
            }
            out.write_all(reply.as_bytes())?;
        }
        if is_error(&reply, &cmd.tag) {
            errors += 1;
        }
        if close {
            return Ok(());
        }
        if errors >= shared.opts.errors_before_bye {
            if let Login::Connected { backend, .. } = &mut login {
                backend.drain(&mut out, &mut errors)?;
            }
            out.write_all(b"* BYE Connection closed. 14\r\n")?;
            return Ok(());
        }
    }
}

fn is_error(reply: &str, tag: &str) -> bool {
    reply.lines().any(|l| {
        l.strip_prefix(tag)
            .and_then(|r| r.strip_prefix(' '))
            .is_some_and(|r| r.starts_with("NO") || r.starts_with("BAD"))
    })
}

/// The text to send (already relayed parts excluded) and whether to close afterwards.
fn answer(
    cmd: &Cmd,
    login: &mut Login,
    client: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
    shared: &Shared,
    errors: &mut u32,
) -> io::Result<(String, bool)> {
    let t = &cmd.tag;
    if cmd.refused_early {
        return Ok((format!("{t} BAD Command Argument Error. 11\r\n"), false));
    }
    match cmd.name.as_str() {
        "CAPABILITY" => {
            let caps = if matches!(login, Login::None) {
                CAPS_BEFORE
            } else {
                CAPS_AFTER
            };
            return Ok((
                format!("* CAPABILITY {caps}\r\n{t} OK CAPABILITY completed.\r\n"),
                false,
            ));
        }
        "LOGOUT" => {
            return Ok((
                format!(
                    "* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n{t} OK LOGOUT completed.\r\n"
                ),
                true,
            ));
        }
        "NOOP" if !matches!(login, Login::Connected { .. }) => {
            return Ok((format!("{t} OK NOOP completed.\r\n"), false));
        }
        "ID" => return Ok((format!("* ID NIL\r\n{t} OK ID completed.\r\n"), false)),
        _ => {}
    }
    match login {
        Login::None => match cmd.name.as_str() {
            "LOGIN" => Ok((format!("{t} NO LOGIN failed.\r\n"), false)),
            "AUTHENTICATE" => authenticate(cmd, login, client, out, shared),
            _ => Ok((
                format!("{t} BAD Command received in Invalid state.\r\n"),
                false,
            )),
        },
        Login::NotConnected => Ok((
            format!("{t} BAD User is authenticated but not connected.\r\n"),
            false,
        )),
        Login::Connected { mailbox, backend } => {
            if let Some(left) = shared.blocked(mailbox) {
                return Ok((throttled(t, left), false));
            }
            match cmd.name.as_str() {
                "LOGIN" | "AUTHENTICATE" => Ok((
                    format!("{t} BAD Command received in Invalid state.\r\n"),
                    false,
                )),
                "APPEND" => {
                    let message = cmd.literals.last().map(Vec::as_slice).unwrap_or_default();
                    if message.len() as u64
                        > shared.max_size.load(std::sync::atomic::Ordering::SeqCst)
                        || longest_line(message) > shared.opts.max_line_length
                    {
                        return Ok((format!("{t} BAD Command Argument Error. 11\r\n"), false));
                    }
                    if let Err(ms) = shared.take_append(mailbox) {
                        return Ok((throttled(t, ms), shared.disconnect_on_throttle()));
                    }
                    backend.send(cmd)?;
                    // Keep reading while the client's pipeline has more; answer when it pauses.
                    if client.buffer().is_empty() || backend.pending.len() >= 256 {
                        shared.count(mailbox, false);
                        backend.drain(out, errors)?;
                    }
                    Ok((String::new(), false))
                }
                "CREATE" | "RENAME" => {
                    let args = tokenize(&cmd.wire).unwrap_or_default();
                    let target = match cmd.name.as_str() {
                        "CREATE" => args.get(2),
                        _ => args.get(3),
                    };
                    if target.and_then(Token::text).is_some_and(|n| reserved(&n)) {
                        return Ok((format!("{t} NO Folder name is reserved\r\n"), false));
                    }
                    backend.relay(cmd, out, errors)
                }
                _ => backend.relay(cmd, out, errors),
            }
        }
    }
}

fn throttled(tag: &str, ms: u64) -> String {
    format!("{tag} NO Request is throttled. Suggested Backoff Time: {ms} milliseconds\r\n")
}

fn reserved(name: &str) -> bool {
    let decoded = ferry_core::utf7::decode(name).unwrap_or_else(|_| name.to_owned());
    let top = decoded.split('/').next().unwrap_or("");
    top.eq_ignore_ascii_case("Files")
}

fn longest_line(message: &[u8]) -> usize {
    message
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
        .max()
        .unwrap_or(0)
}

fn authenticate(
    cmd: &Cmd,
    login: &mut Login,
    client: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
    shared: &Shared,
) -> io::Result<(String, bool)> {
    let t = &cmd.tag;
    let args = tokenize(&cmd.wire).unwrap_or_default();
    let mech = args.get(2).and_then(Token::text).unwrap_or_default();
    if !mech.eq_ignore_ascii_case("XOAUTH2") {
        return Ok((format!("{t} NO AUTHENTICATE failed.\r\n"), false));
    }
    let initial = match args.get(3).and_then(Token::text) {
        Some(ir) => ir,
        None => {
            out.write_all(b"+ \r\n")?;
            let mut line = String::new();
            client.read_line(&mut line)?;
            line.trim_end().to_owned()
        }
    };
    let failed = || Ok((format!("{t} NO AUTHENTICATE failed.\r\n"), false));
    let Ok(decoded) = STANDARD.decode(initial.trim()) else {
        return failed();
    };
    let text = String::from_utf8_lossy(&decoded);
    let mut user = None;
    let mut bearer = None;
    for part in text.split('\x01') {
        if let Some(u) = part.strip_prefix("user=") {
            user = Some(u.to_lowercase());
        } else if let Some(a) = part.strip_prefix("auth=Bearer ") {
            bearer = Some(a.to_owned());
        }
    }
    let (Some(mailbox), Some(bearer)) = (user, bearer) else {
        return failed();
    };
    let app = match token::check(
        &bearer,
        &shared.opts.jwt_key,
        shared.opts.tenant_id.as_deref(),
        unix_now(),
    ) {
        Ok(a) => a,
        Err(why) => {
            tracing::debug!(?why, "exchange shim: token refused");
            return failed();
        }
    };
    // A login during a backoff counts as an early request, and still succeeds.
    let _ = shared.blocked(&mailbox);
    if !shared.connectable(&app.app_id, &mailbox) {
        *login = Login::NotConnected;
        return Ok((format!("{t} OK AUTHENTICATE completed.\r\n"), false));
    }
    let backend = Backend::open(shared, &mailbox)?;
    shared.count(&mailbox, true);
    *login = Login::Connected { mailbox, backend };
    Ok((format!("{t} OK AUTHENTICATE completed.\r\n"), false))
}

impl Backend {
    fn open(shared: &Shared, mailbox: &str) -> io::Result<Backend> {
        let stream = TcpStream::connect_timeout(&shared.backend, Duration::from_secs(10))?;
        stream.set_nodelay(true)?;
        let mut reader = BufReader::new(stream);
        let _greeting = read_response(&mut reader)?;
        let (_, password) = Dovecot::master();
        let login = format!(
            "x LOGIN {} {}\r\n",
            crate::imap::quote(&Dovecot::master_login(mailbox)),
            crate::imap::quote(password)
        );
        reader.get_mut().write_all(login.as_bytes())?;
        loop {
            let r = read_response(&mut reader)?;
            if r.starts_with(b"x OK") {
                return Ok(Backend {
                    reader,
                    pending: Vec::new(),
                });
            }
            if r.starts_with(b"x ") {
                return Err(io::Error::other(format!(
                    "the shim's Dovecot refused the master login for {mailbox}: {}",
                    String::from_utf8_lossy(&r).trim_end()
                )));
            }
        }
    }

    /// Forward `cmd` to Dovecot without waiting for its answer.
    fn send(&mut self, cmd: &Cmd) -> io::Result<()> {
        self.reader.get_mut().write_all(&cmd.wire)?;
        self.pending.push(cmd.tag.clone());
        Ok(())
    }

    /// Forward `cmd` and relay everything up to its completion (and the completions of what was forwarded
    /// before it).
    fn relay(
        &mut self,
        cmd: &Cmd,
        out: &mut TcpStream,
        errors: &mut u32,
    ) -> io::Result<(String, bool)> {
        self.send(cmd)?;
        self.drain(out, errors)?;
        Ok((String::new(), false))
    }

    /// Relay Dovecot's responses, Exchange-style, until every forwarded command is complete; NO/BAD
    /// completions count towards the BYE.
    fn drain(&mut self, out: &mut TcpStream, errors: &mut u32) -> io::Result<()> {
        while !self.pending.is_empty() {
            let r = read_response(&mut self.reader)?;
            if r.starts_with(b"* CAPABILITY ") {
                out.write_all(format!("* CAPABILITY {CAPS_AFTER}\r\n").as_bytes())?;
                continue;
            }
            if r.starts_with(b"* LIST ") || r.starts_with(b"* LSUB ") {
                out.write_all(&mark_well_known(&r))?;
                continue;
            }
            let done = self.pending.iter().position(|t| {
                r.len() > t.len() && r.starts_with(t.as_bytes()) && r[t.len()] == b' '
            });
            let Some(i) = done else {
                out.write_all(&r)?;
                continue;
            };
            let tag = self.pending.remove(i);
            let rest = &r[tag.len() + 1..];
            if rest.starts_with(b"NO") || rest.starts_with(b"BAD") {
                *errors += 1;
            }
            if rest.starts_with(b"OK [CAPABILITY") {
                // Dovecot's completion codes name Dovecot's capabilities; Exchange's are plain.
                out.write_all(format!("{tag} OK completed.\r\n").as_bytes())?;
            } else {
                out.write_all(&r)?;
            }
        }
        Ok(())
    }
}

/// Add the role attribute to a LIST line naming one of Exchange's well-known folders.
fn mark_well_known(line: &[u8]) -> Vec<u8> {
    let Ok(tokens) = tokenize(line) else {
        return line.to_vec();
    };
    let Some(name) = tokens.get(4).and_then(Token::text) else {
        return line.to_vec();
    };
    let Some((_, attr)) = WELL_KNOWN_FOLDERS.iter().find(|(n, _)| *n == name) else {
        return line.to_vec();
    };
    let Some(close) = line.iter().position(|&b| b == b')') else {
        return line.to_vec();
    };
    let mut v = line[..close].to_vec();
    if !line[..close].ends_with(b"(") {
        v.push(b' ');
    }
    v.extend_from_slice(attr.as_bytes());
    v.extend_from_slice(&line[close..]);
    v
}

/// One response (a line, with any literals it announces).
fn read_response(r: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the shim's Dovecot closed the connection",
            ));
        }
        out.extend_from_slice(&line);
        match literal_suffix(&line) {
            Some((n, _, _)) => {
                let start = out.len();
                out.resize(start + n, 0);
                r.read_exact(&mut out[start..])?;
            }
            None => return Ok(out),
        }
    }
}

/// `…{12}\r\n` or `…{12+}\r\n` at the end of a line: (length, non-synchronising, where `{` starts).
fn literal_suffix(line: &[u8]) -> Option<(usize, bool, usize)> {
    let body = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let body = body.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let inner = &body[open + 1..];
    let (digits, plus) = match inner.strip_suffix(b"+") {
        Some(d) => (d, true),
        None => (inner, false),
    };
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n, plus, open))
}

/// Read one command; `None` at EOF. A synchronising literal of an APPEND over `max_size` is refused
/// before the client sends it (behaviour 8).
fn read_command(
    r: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
    max_size: u64,
) -> io::Result<Option<Cmd>> {
    let mut wire = Vec::new();
    let mut literals = Vec::new();
    let mut first = true;
    let (mut tag, mut name) = (String::new(), String::new());
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        if first {
            first = false;
            let text = String::from_utf8_lossy(&line);
            let mut words = text.split_whitespace();
            tag = words.next().unwrap_or("*").to_owned();
            name = words.next().unwrap_or("").to_ascii_uppercase();
            if name == "UID" {
                name = format!("UID {}", words.next().unwrap_or("").to_ascii_uppercase());
            }
        }
        let Some((n, plus, open)) = literal_suffix(&line) else {
            wire.extend_from_slice(&line);
            if !wire.ends_with(b"\r\n") {
                wire.pop();
                wire.extend_from_slice(b"\r\n");
            }
            return Ok(Some(Cmd {
                tag,
                name,
                wire,
                literals,
                refused_early: false,
            }));
        };
        wire.extend_from_slice(&line[..open]);
        wire.extend_from_slice(format!("{{{n}+}}\r\n").as_bytes());
        if !plus {
            if name == "APPEND" && n as u64 > max_size {
                return Ok(Some(Cmd {
                    tag,
                    name,
                    wire,
                    literals,
                    refused_early: true,
                }));
            }
            out.write_all(b"+ Ready for additional command text.\r\n")?;
        }
        let mut lit = vec![0u8; n];
        r.read_exact(&mut lit)?;
        wire.extend_from_slice(&lit);
        literals.push(lit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_suffixes_are_found_in_both_forms() {
        assert_eq!(
            literal_suffix(b"a APPEND x {12}\r\n"),
            Some((12, false, 11))
        );
        assert_eq!(literal_suffix(b"a APPEND x {3+}\r\n"), Some((3, true, 11)));
        assert_eq!(literal_suffix(b"a NOOP\r\n"), None);
    }

    #[test]
    fn list_lines_of_well_known_folders_get_their_role() {
        assert_eq!(
            mark_well_known(b"* LIST (\\HasNoChildren) \"/\" \"Sent Items\"\r\n"),
            b"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n".to_vec()
        );
        assert_eq!(
            mark_well_known(b"* LIST () \"/\" Archive\r\n"),
            b"* LIST (\\Archive) \"/\" Archive\r\n".to_vec()
        );
        assert_eq!(
            mark_well_known(b"* LIST (\\HasNoChildren) \"/\" Work\r\n"),
            b"* LIST (\\HasNoChildren) \"/\" Work\r\n".to_vec()
        );
    }

    #[test]
    fn reserved_names_are_top_level_files_in_any_case() {
        assert!(reserved("Files") && reserved("files") && reserved("Files/x"));
        assert!(!reserved("My Files") && !reserved("Work/Files"));
    }
}
