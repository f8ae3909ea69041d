//! One IMAP connection: TCP (+ TLS), the receive buffer and framer, tags, literals, login.
//!
//! The connection knows nothing about folders; it sends commands and returns the untagged responses and the
//! tagged completion as raw frames. Any I/O error, timeout, framing error or `* BYE` marks it `broken`: the
//! connector then drops it and reconnects on the next call.

use super::error::{Op, bye_error, completion_error, io_error, protocol_error, timeout_error};
use super::proto::{self, Command, Completion, FrameKind, Framer, Part, Status};
use crate::config::{ImapAuth, ImapConfig, TlsMode};
use ferry_core::fence::Fence;
use ferry_core::token::TokenSource;
use ferry_core::{Error, ErrorKind, Result};
use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// TCP or TLS over TCP.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The connection's stream with the pass's write fence (see [`ferry_core::fence`]): every write to the
/// socket — the buffer's flushes included, so also the rest of a command a frozen process was sending —
/// is checked against it first, and fails once it has passed.
struct Guarded {
    inner: Stream,
    fence: Option<Fence>,
}

impl Guarded {
    fn check(&self) -> std::io::Result<()> {
        match &self.fence {
            Some(f) if f.passed() => Err(std::io::Error::other(
                "this pass's lease has ended (the worker was frozen, or its renewals went unanswered): nothing more is sent for it",
            )),
            _ => Ok(()),
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        me.check()?;
        Pin::new(&mut me.inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        me.check()?;
        Pin::new(&mut me.inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The untagged responses of one command and its completion.
pub struct Reply {
    pub untagged: Vec<Vec<u8>>,
    pub done: Completion,
}

/// Whether a command was fully sent, or the server completed it before we could send a literal.
enum Sent {
    Sent,
    Early(Completion),
}

/// An open, authenticated (after [`Connection::open`]) IMAP connection.
pub struct Connection {
    stream: BufWriter<Guarded>,
    /// Received bytes; `buf[pos..]` is not yet framed.
    buf: Vec<u8>,
    pos: usize,
    framer: Framer,
    next_tag: u32,
    timeout: Duration,
    /// Upper-cased capability names.
    pub caps: HashSet<String>,
    /// Untagged responses that arrived while we waited for a continuation.
    pending: Vec<Vec<u8>>,
    /// Completions read while waiting for another tag (pipelining).
    early: HashMap<String, Completion>,
    /// Set on any I/O, timeout, framing error or BYE: the connection must be dropped.
    pub broken: bool,
    /// A completion asked us to wait (Exchange's `Suggested Backoff Time`): nothing may be sent to this
    /// mailbox before this instant.
    pub backoff_until: Option<std::time::Instant>,
    /// The server sent `* BYE` outside LOGOUT.
    said_bye: bool,
    logging_out: bool,
}

impl Connection {
    /// Connect, secure, read the greeting, log in and learn the capabilities.
    pub async fn open(cfg: &ImapConfig) -> Result<Connection> {
        let addr = (cfg.host.as_str(), cfg.port);
        let tcp = tokio::time::timeout(cfg.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| timeout_error("connecting", cfg.timeout))?
            .map_err(|e| io_error(&format!("connecting to {}:{}", cfg.host, cfg.port), e))?;
        let _ = tcp.set_nodelay(true);
        let stream = if cfg.tls == TlsMode::Implicit {
            Stream::Tls(Box::new(tls_handshake(cfg, tcp).await?))
        } else {
            Stream::Plain(tcp)
        };
        let mut conn = Connection::new(stream, cfg);
        let greeting = conn.read_frame().await?;
        if proto::is_bye(&greeting) {
            return Err(bye_error(&greeting));
        }
        let preauth = greeting.len() > 10 && greeting[..10].eq_ignore_ascii_case(b"* PREAUTH ");
        if let Some(c) = proto::capabilities_in(&greeting) {
            conn.caps = c.into_iter().collect();
        } else {
            conn.refresh_capabilities().await?;
        }
        let want_tls = matches!(
            cfg.tls,
            TlsMode::StartTlsIfAvailable | TlsMode::StartTlsRequired
        );
        if want_tls && !preauth {
            if conn.has("STARTTLS") {
                conn = conn.starttls(cfg).await?;
            } else if cfg.tls == TlsMode::StartTlsRequired {
                return Err(Error::config(format!(
                    "{} does not offer STARTTLS; use imaps:// or drop starttls=require",
                    cfg.describe()
                )));
            }
        }
        if !preauth {
            conn.login(cfg).await?;
        }
        Ok(conn)
    }

    fn new(stream: Stream, cfg: &ImapConfig) -> Connection {
        let stream = Guarded {
            inner: stream,
            fence: cfg.fence.clone(),
        };
        Connection {
            stream: BufWriter::with_capacity(64 * 1024, stream),
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            framer: Framer::new(),
            next_tag: 1,
            timeout: cfg.timeout,
            caps: HashSet::new(),
            pending: Vec::new(),
            early: HashMap::new(),
            broken: false,
            backoff_until: None,
            said_bye: false,
            logging_out: false,
        }
    }

    /// True when the server advertised `cap` (upper case).
    pub fn has(&self, cap: &str) -> bool {
        self.caps.contains(cap)
    }

    async fn refresh_capabilities(&mut self) -> Result<()> {
        let reply = self.run(Command::new("CAPABILITY"), Op::Other).await?;
        for f in &reply.untagged {
            if let Some(c) = proto::capabilities_in(f) {
                self.caps = c.into_iter().collect();
            }
        }
        Ok(())
    }

    /// RFC 3501 §6.2.1 STARTTLS; capabilities are re-read afterwards (RFC 2595 §3.1).
    async fn starttls(mut self, cfg: &ImapConfig) -> Result<Connection> {
        self.run(Command::new("STARTTLS"), Op::Other).await?;
        if self.pos < self.buf.len() {
            // Bytes after the OK would be plaintext injected before the handshake (CVE-2011-0411 class).
            return Err(protocol_error(
                "the server sent data after STARTTLS's OK; refusing to continue",
            ));
        }
        let Stream::Plain(tcp) = self.stream.into_inner().inner else {
            return Err(Error::unexpected("STARTTLS on a TLS stream"));
        };
        let tls = tls_handshake(cfg, tcp).await?;
        let mut conn = Connection::new(Stream::Tls(Box::new(tls)), cfg);
        conn.next_tag = self.next_tag;
        conn.refresh_capabilities().await?;
        Ok(conn)
    }

    async fn login(&mut self, cfg: &ImapConfig) -> Result<()> {
        let Some(auth) = &cfg.auth else {
            return Err(Error::config(format!(
                "{}: no credentials given; set a password or token for this endpoint",
                cfg.describe()
            )));
        };
        let login_disabled = self.has("LOGINDISABLED");
        let reply = match auth {
            ImapAuth::Login { user, password } if !login_disabled => {
                let cmd = Command::new("LOGIN")
                    .astring(user)
                    .astring(password.expose())
                    .sensitive();
                self.run_raw(cmd).await?
            }
            ImapAuth::Master {
                user,
                admin,
                password,
                separator,
            } if !login_disabled => {
                let login = format!("{user}{separator}{admin}");
                let cmd = Command::new("LOGIN")
                    .astring(&login)
                    .astring(password.expose())
                    .sensitive();
                self.run_raw(cmd).await?
            }
            ImapAuth::Login { user, password } => {
                let ir = proto::sasl_plain("", user, password.expose());
                self.authenticate("PLAIN", &ir).await?
            }
            ImapAuth::Master {
                user,
                admin,
                password,
                ..
            } => {
                // RFC 4616: authzid = the user acted for, authcid = the master user.
                let ir = proto::sasl_plain(user, admin, password.expose());
                self.authenticate("PLAIN", &ir).await?
            }
            ImapAuth::XOAuth2 { user, tokens } => self.xoauth2(user, tokens.as_ref()).await?,
        };
        if !reply.done.is_ok() {
            let e = completion_error(Op::Login, &reply.done);
            return Err(match auth {
                ImapAuth::XOAuth2 { tokens, .. }
                    if e.kind() == ErrorKind::Auth && cfg.exchange.is_some() =>
                {
                    Error::new(
                        ErrorKind::Auth,
                        format!(
                            "{}: Exchange Online refused the token of {} ({}). Likely causes: the token is not \
                             for IMAP (request scope {}, not Microsoft Graph's); the app lacks the application \
                             permission IMAP.AccessAsApp of Office 365 Exchange Online, or admin consent was not \
                             granted; the token expired or belongs to another tenant",
                            cfg.describe(),
                            tokens.describe(),
                            reply.done.summary(),
                            crate::exo::EXO_SCOPE
                        ),
                    )
                    .permanent()
                }
                ImapAuth::XOAuth2 { tokens, .. } if e.kind() == ErrorKind::Auth => Error::new(
                    ErrorKind::Auth,
                    format!(
                        "{}: the server refused the OAuth token of {} ({}); check that the app may open this \
                         mailbox (delegated sign-in: the signed-in user must own it) and that the token is for \
                         this server's scope",
                        cfg.describe(),
                        tokens.describe(),
                        reply.done.summary()
                    ),
                )
                .permanent(),
                _ => e,
            });
        }
        // RFC 3501 §6.2.3: capabilities may change after login; servers often send them in the OK code.
        let line = format!(
            "* OK [{} {}]",
            reply.done.code.as_deref().unwrap_or(""),
            reply.done.code_args
        );
        match proto::capabilities_in(line.as_bytes()) {
            Some(c) => self.caps = c.into_iter().collect(),
            None => self.refresh_capabilities().await?,
        }
        Ok(())
    }

    /// `AUTHENTICATE XOAUTH2` with a token from `tokens`. A refused token is invalidated and, when the source
    /// then hands out a different one (it refreshed), tried once more on the same connection.
    async fn xoauth2(&mut self, user: &str, tokens: &dyn TokenSource) -> Result<Reply> {
        let token = tokens.token().await?;
        let reply = self
            .authenticate("XOAUTH2", &proto::sasl_xoauth2(user, token.expose()))
            .await?;
        if reply.done.is_ok() || reply.done.status == Status::Bad {
            return Ok(reply);
        }
        tokens.invalidate();
        let fresh = tokens.token().await?;
        if fresh.expose() == token.expose() {
            return Ok(reply);
        }
        tracing::debug!(source = %tokens.describe(), "XOAUTH2 refused; retrying once with a fresh token");
        self.authenticate("XOAUTH2", &proto::sasl_xoauth2(user, fresh.expose()))
            .await
    }

    /// `AUTHENTICATE mech` with the initial response inline (SASL-IR, RFC 4959) or after the first `+`.
    async fn authenticate(&mut self, mech: &str, initial: &str) -> Result<Reply> {
        let tag = self.tag();
        let line = if self.has("SASL-IR") {
            format!("{tag} AUTHENTICATE {mech} {initial}\r\n")
        } else {
            format!("{tag} AUTHENTICATE {mech}\r\n")
        };
        tracing::debug!(tag = %tag, "C: AUTHENTICATE {mech} <redacted>");
        self.write(line.as_bytes()).await?;
        self.flush().await?;
        let mut sent_initial = self.has("SASL-IR");
        loop {
            let frame = self.read_frame().await?;
            match proto::frame_kind(&frame) {
                FrameKind::Continuation if !sent_initial => {
                    sent_initial = true;
                    self.write(format!("{initial}\r\n").as_bytes()).await?;
                    self.flush().await?;
                }
                FrameKind::Continuation => {
                    // An error challenge (XOAUTH2 sends JSON): answer empty to get the tagged NO.
                    self.write(b"\r\n").await?;
                    self.flush().await?;
                }
                FrameKind::Untagged => self.untagged_check(&frame)?,
                FrameKind::Tagged(t) if t == tag => {
                    let done = self.done(&frame)?;
                    return Ok(Reply {
                        untagged: Vec::new(),
                        done,
                    });
                }
                FrameKind::Tagged(_) => {}
            }
        }
    }

    fn tag(&mut self) -> String {
        let t = format!("f{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Send a command and wait for its completion; a non-OK completion becomes an error mapped for `op`.
    pub async fn run(&mut self, cmd: Command<'_>, op: Op) -> Result<Reply> {
        let reply = self.run_raw(cmd).await?;
        if reply.done.is_ok() {
            Ok(reply)
        } else {
            Err(completion_error(op, &reply.done))
        }
    }

    /// Send a command and wait for its completion, whatever its status.
    pub async fn run_raw(&mut self, cmd: Command<'_>) -> Result<Reply> {
        let literal_plus = self.has("LITERAL+");
        let tag = self.tag();
        let sent = self.send(&tag, &cmd, literal_plus).await?;
        self.flush().await?;
        match sent {
            Sent::Early(done) => Ok(Reply {
                untagged: std::mem::take(&mut self.pending),
                done,
            }),
            Sent::Sent => self.read_reply(&tag).await,
        }
    }

    /// Write several commands whose literals are all non-synchronising (LITERAL+/LITERAL-), flush once,
    /// then read every completion, in order (RFC 7888 §4: no round trip per literal).
    pub async fn pipeline(&mut self, cmds: &[Command<'_>]) -> Result<Vec<Completion>> {
        match self.pipeline_partial(cmds).await {
            (out, None) => Ok(out),
            (_, Some(e)) => Err(e),
        }
    }

    /// [`Connection::pipeline`], keeping the completions read before an error: when the server ended the
    /// session on purpose (`* BYE`, or a disconnect after a throttled reply), the commands after the last
    /// completion were not carried out, so the caller can tell which ones to send again.
    pub async fn pipeline_partial(
        &mut self,
        cmds: &[Command<'_>],
    ) -> (Vec<Completion>, Option<Error>) {
        let mut tags = Vec::with_capacity(cmds.len());
        for cmd in cmds {
            let tag = self.tag();
            match self.send(&tag, cmd, true).await {
                Ok(Sent::Sent) => {}
                Ok(Sent::Early(_)) => {
                    return (
                        Vec::new(),
                        Some(Error::unexpected("pipelined command completed early")),
                    );
                }
                Err(e) => return (Vec::new(), Some(e)),
            }
            tags.push(tag);
        }
        if let Err(e) = self.flush().await {
            return (Vec::new(), Some(e));
        }
        let mut out = Vec::with_capacity(tags.len());
        for tag in &tags {
            match self.read_reply(tag).await {
                Ok(r) => out.push(r.done),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    /// Write several commands without literals, flush once, then read each one's reply (untagged responses
    /// and completion), in order: one round trip for commands that do not depend on each other (`STATUS`
    /// of many folders). A server may run such commands at once, so an untagged response can arrive in
    /// another command's reply: callers match responses by what they name, not by position.
    pub async fn run_pipelined(&mut self, cmds: &[Command<'_>]) -> Result<Vec<Reply>> {
        if cmds
            .iter()
            .any(|c| c.parts.iter().any(|p| matches!(p, Part::Literal(_))))
        {
            return Err(Error::unexpected("a pipelined command carries a literal"));
        }
        let mut tags = Vec::with_capacity(cmds.len());
        for cmd in cmds {
            let tag = self.tag();
            // Without literals nothing waits for a continuation: every command is sent.
            self.send(&tag, cmd, false).await?;
            tags.push(tag);
        }
        self.flush().await?;
        let mut out = Vec::with_capacity(tags.len());
        for tag in &tags {
            out.push(self.read_reply(tag).await?);
        }
        Ok(out)
    }

    /// Whether the server ended the session itself (`* BYE`, or a suggested backoff before a disconnect):
    /// commands it had not completed were not carried out.
    pub fn ended_by_server(&self) -> bool {
        self.said_bye || self.backoff_until.is_some()
    }

    /// Write one command. Synchronising literals wait for `+` (RFC 3501 §7.5); the server may instead
    /// complete the command (e.g. `NO` to an APPEND that is too big), which ends it early.
    async fn send(&mut self, tag: &str, cmd: &Command<'_>, literal_plus: bool) -> Result<Sent> {
        tracing::trace!(tag = %tag, "C: {}", cmd.redacted());
        self.write(tag.as_bytes()).await?;
        self.write(b" ").await?;
        for part in &cmd.parts {
            match part {
                Part::Text(t) => self.write(t).await?,
                Part::Literal(b) => {
                    if literal_plus {
                        self.write(format!("{{{}+}}\r\n", b.len()).as_bytes())
                            .await?;
                    } else {
                        self.write(format!("{{{}}}\r\n", b.len()).as_bytes())
                            .await?;
                        self.flush().await?;
                        if let Some(done) = self.wait_continuation(tag).await? {
                            return Ok(Sent::Early(done));
                        }
                    }
                    self.write(b).await?;
                }
            }
        }
        self.write(b"\r\n").await?;
        Ok(Sent::Sent)
    }

    async fn wait_continuation(&mut self, tag: &str) -> Result<Option<Completion>> {
        loop {
            let frame = self.read_frame().await?;
            match proto::frame_kind(&frame) {
                FrameKind::Continuation => return Ok(None),
                FrameKind::Untagged => {
                    self.untagged_check(&frame)?;
                    self.pending.push(frame);
                }
                FrameKind::Tagged(t) if t == tag => return Ok(Some(self.done(&frame)?)),
                FrameKind::Tagged(t) => {
                    let t = t.to_owned();
                    let done = self.done(&frame)?;
                    self.early.insert(t, done);
                }
            }
        }
    }

    async fn read_reply(&mut self, tag: &str) -> Result<Reply> {
        if let Some(done) = self.early.remove(tag) {
            return Ok(Reply {
                untagged: std::mem::take(&mut self.pending),
                done,
            });
        }
        let mut untagged = std::mem::take(&mut self.pending);
        loop {
            let frame = self.read_frame().await?;
            match proto::frame_kind(&frame) {
                FrameKind::Untagged => {
                    self.untagged_check(&frame)?;
                    untagged.push(frame);
                }
                FrameKind::Continuation => {
                    // Nothing of ours waits for one here; a server that sends it is confused.
                    tracing::debug!("ignoring unexpected continuation request");
                }
                FrameKind::Tagged(t) if t == tag => {
                    let done = self.done(&frame)?;
                    if done.status != proto::Status::Ok {
                        tracing::debug!(tag = %tag, "S: {}", done.summary());
                    }
                    return Ok(Reply { untagged, done });
                }
                FrameKind::Tagged(t) => {
                    let t = t.to_owned();
                    let done = self.done(&frame)?;
                    self.early.insert(t, done);
                }
            }
        }
    }

    /// `* BYE` kills the session (RFC 3501 §7.1.5) unless we are logging out.
    fn untagged_check(&mut self, frame: &[u8]) -> Result<()> {
        if proto::is_bye(frame) && !self.logging_out {
            self.broken = true;
            self.said_bye = true;
            return Err(bye_error(frame));
        }
        Ok(())
    }

    /// `LOGOUT`, ignoring errors (the server may already be gone).
    pub async fn logout(&mut self) -> Result<()> {
        self.logging_out = true;
        let r = self.run_raw(Command::new("LOGOUT")).await;
        self.broken = true;
        r.map(|_| ())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let r = tokio::time::timeout(self.timeout, self.stream.write_all(bytes)).await;
        self.io_result(r, "writing")
    }

    async fn flush(&mut self) -> Result<()> {
        let r = tokio::time::timeout(self.timeout, self.stream.flush()).await;
        self.io_result(r, "writing")
    }

    fn io_result<T>(
        &mut self,
        r: std::result::Result<std::io::Result<T>, tokio::time::error::Elapsed>,
        what: &str,
    ) -> Result<T> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.broken = true;
                Err(io_error(what, e))
            }
            Err(_) => {
                self.broken = true;
                Err(timeout_error(what, self.timeout))
            }
        }
    }

    /// Read one complete response (framed by [`Framer`]); every read has the configured timeout.
    async fn read_frame(&mut self) -> Result<Vec<u8>> {
        loop {
            match self.framer.next(&self.buf[self.pos..]) {
                Ok(Some(n)) => return Ok(self.take_frame(n)),
                Ok(None) => {}
                Err(e) => {
                    self.broken = true;
                    return Err(protocol_error(e.to_string()));
                }
            }
            if self.pos > 0 {
                // Move the partial response to the front once per read, not once per frame.
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            // Inside a literal the framer knows the exact size still to come: reserve it exactly (plus
            // room for the rest of the line) instead of letting the buffer double past it.
            let want = self.pos + self.framer.known_len() + 1024;
            if want > self.buf.capacity() {
                self.buf.reserve_exact(want - self.buf.len());
            } else if self.buf.capacity() - self.buf.len() < 16 * 1024 {
                self.buf.reserve(64 * 1024);
            }
            let r = tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf)).await;
            let n = self.io_result(r, "reading")?;
            if n == 0 {
                self.broken = true;
                let e = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                );
                return Err(io_error("reading", e));
            }
        }
    }

    /// Remove the next `n` bytes as a frame. A frame that is most of the buffer (a big literal) is moved
    /// out without copying; small frames are copied and the buffer advances.
    fn take_frame(&mut self, n: usize) -> Vec<u8> {
        if self.pos > 0 && n >= 64 * 1024 {
            // A large frame behind a consumed one: move it to the front (a memmove) so it can be handed
            // over without copying it into a new allocation.
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.pos == 0 && n * 2 >= self.buf.len() {
            let rest = self.buf.split_off(n);
            return std::mem::replace(&mut self.buf, rest);
        }
        let frame = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        frame
    }
}

impl Connection {
    /// Parse a completion and note a suggested backoff in it.
    fn done(&mut self, frame: &[u8]) -> Result<Completion> {
        let done = parse_done(frame)?;
        if done.status != proto::Status::Ok
            && let Some(ms) = super::error::suggested_backoff(&done.text)
        {
            let until = std::time::Instant::now() + Duration::from_millis(ms);
            self.backoff_until = Some(self.backoff_until.map_or(until, |u| u.max(until)));
        }
        Ok(done)
    }
}

fn parse_done(frame: &[u8]) -> Result<Completion> {
    proto::parse_completion(frame).ok_or_else(|| {
        Error::new(
            ErrorKind::Protocol,
            format!(
                "cannot parse the server's completion: {:?}",
                String::from_utf8_lossy(frame).trim_end()
            ),
        )
    })
}

async fn tls_handshake(cfg: &ImapConfig, tcp: TcpStream) -> Result<TlsStream<TcpStream>> {
    let config = tls_config(cfg.tls_verify)?;
    let name = rustls::pki_types::ServerName::try_from(cfg.host.clone()).map_err(|_| {
        Error::config(format!(
            "host `{}` is not a valid TLS server name",
            cfg.host
        ))
    })?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    tokio::time::timeout(cfg.timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| timeout_error("negotiating TLS", cfg.timeout))?
        .map_err(|e| {
            let not_tls = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|r| matches!(r, rustls::Error::InvalidMessage(_)));
            if not_tls {
                // The server answered in plain text: a plain IMAP port, not a certificate problem.
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "{}:{} does not speak TLS from the first byte (it looks like a plain IMAP port): write imap://{}:{} (STARTTLS is used when offered), or use the server's imaps port (993)",
                        cfg.host, cfg.port, cfg.host, cfg.port
                    ),
                )
                .permanent()
            } else if e.kind() == std::io::ErrorKind::InvalidData {
                Error::new(
                    ErrorKind::Config,
                    format!("TLS with {} failed: {e}; for a self-signed test server add ?tls_verify=false", cfg.host),
                )
            } else {
                io_error("negotiating TLS", e)
            }
        })
}

fn tls_config(verify: bool) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::unexpected(format!("TLS setup: {e}")))?;
    if verify {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Ok(builder.with_root_certificates(roots).with_no_client_auth())
    } else {
        Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth())
    }
}

/// `tls_verify=false`: accept any certificate (signatures are still checked), for self-signed test servers.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
