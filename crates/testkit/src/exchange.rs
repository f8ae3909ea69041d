//! An Exchange Online IMAP emulator ("the shim"): a loopback IMAP front in front of a testkit Dovecot that
//! answers as Exchange Online does, so the Exchange target can be tested end to end here (issue 10).
//!
//! Written from Exchange Online's documented and observed behaviour, never from Ferry's client code.
//! Sources: Microsoft Learn "Authenticate an IMAP, POP or SMTP connection using OAuth" (app-only access,
//! `IMAP.AccessAsApp`, `New-ServicePrincipal`, `Add-MailboxPermission … FullAccess`); imapsync's
//! `FAQ.d/FAQ.Office365.txt` and `FAQ.Exchange.txt` (throttling, "Command Argument Error. 11", `BYE` after
//! repeated errors, the reserved `Files` folder, the size limit); MailKit issues #849 and #1282 (greeting,
//! CAPABILITY lists, special-use attributes in LIST); MailKit #1494 and email-oauth2-proxy #74 ("User is
//! authenticated but not connected").
//!
//! # What it reproduces (each has a test in `crates/testkit/tests/exchange.rs`)
//! 1. **Greeting and CAPABILITY**: `* OK The Microsoft Exchange IMAP4 service is ready.`; before login
//!    `IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+`,
//!    after it the same plus `MOVE CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE`:
//!    no CONDSTORE/QRESYNC, no SPECIAL-USE, no MULTIAPPEND, no APPENDLIMIT.
//! 2. **Basic auth is off**: `LOGIN` → `NO LOGIN failed.`; `AUTHENTICATE PLAIN` → `NO AUTHENTICATE failed.`
//! 3. **App-only XOAUTH2** (`user=<mailbox>\x01auth=Bearer <token>\x01\x01`, inline with SASL-IR or after
//!    `+ `): a token that fails [`token::check`] (signature with the identity emulator's key, `aud`
//!    `https://outlook.office365.com`, role `IMAP.AccessAsApp`, not expired, tenant) → `NO AUTHENTICATE
//!    failed.`
//! 4. **Authenticated but not connected**: a valid token whose app has no service principal registered
//!    ([`ExchangeShim::register_service_principal`], Exchange's `New-ServicePrincipal`), no FullAccess on the
//!    mailbox ([`ExchangeShim::grant_full_access`], `Add-MailboxPermission`), a mailbox that does not exist
//!    or has IMAP disabled → `OK AUTHENTICATE completed.`, then every command but LOGOUT/CAPABILITY →
//!    `BAD User is authenticated but not connected.`
//! 5. Otherwise the session reaches Dovecot **as that mailbox** through Dovecot's master user.
//! 6. **Well-known folders**: [`ExchangeShim::add_mailbox`] creates `Sent Items`, `Deleted Items`,
//!    `Junk Email`, `Drafts`, `Archive`; LIST marks them `\Sent`, `\Trash`, `\Junk`, `\Drafts`,
//!    `\Archive` although SPECIAL-USE is not advertised.
//! 7. **Reserved names**: `CREATE`/`RENAME` to a top-level `Files` → `NO Folder name is reserved`.
//! 8. **Size and line limits**: an APPEND whose message is over the size limit (35 MB by default,
//!    [`ExchangeOptions::max_message_size`]) or holds a line over [`ExchangeOptions::max_line_length`]
//!    (10,500 characters) → `BAD Command Argument Error. 11` (for a synchronising literal, before the
//!    literal is sent).
//! 9. **Throttling** ([`Throttle`]): a per-mailbox token bucket of APPENDs (rate and burst); an APPEND
//!    over budget → `NO Request is throttled. Suggested Backoff Time: N milliseconds` (N = time until the
//!    bucket has room, at least [`Throttle::min_backoff`]), followed by a disconnect when
//!    [`Throttle::disconnect`]. Every command for that mailbox that arrives before the backoff expired (a
//!    new login included) is counted in [`MailboxStats::early_requests`] and answered with the same NO
//!    (a login still succeeds). With `disconnect = false` a client that keeps pipelining into the
//!    throttled connection has those commands counted too.
//! 10. **BYE after repeated errors**: after [`ExchangeOptions::errors_before_bye`] (10) `NO`/`BAD` answers
//!     on one connection → `* BYE Connection closed. 14` and the connection is closed.
//! 11. `LOGOUT` → `* BYE Microsoft Exchange Server IMAP4 server signing off.` then `OK LOGOUT completed.`
//!
//! 12. **Counters** ([`ExchangeShim::stats`]): per mailbox, the APPENDs relayed, throttled replies, early
//!     requests, logins, and APPEND pipeline pauses — what a benchmark counts instead of timing a busy
//!     machine (not an Exchange behaviour).
//!
//! APPENDs are relayed pipelined (forwarded while the client's pipeline has more, answered in order when it
//! pauses or before any answer of the shim's own), so the relay does not add a round trip per message;
//! everything forwarded is answered before a `BYE` or a throttling disconnect, so a client is never left
//! guessing whether a command it sent was carried out.
//!
//! The front is plain TCP on a loopback port (`exo://…?host=127.0.0.1&port=N&tls=plain`): TLS is not
//! what is being emulated.

mod session;
pub mod token;

use crate::dovecot::{Dovecot, DovecotOptions};
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Exchange's folders every mailbox has, with the role LIST shows for them.
pub const WELL_KNOWN_FOLDERS: &[(&str, &str)] = &[
    ("Sent Items", "\\Sent"),
    ("Deleted Items", "\\Trash"),
    ("Junk Email", "\\Junk"),
    ("Drafts", "\\Drafts"),
    ("Archive", "\\Archive"),
];

/// A per-mailbox APPEND budget (behaviour 9).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throttle {
    /// APPENDs per second the bucket refills.
    pub per_second: f64,
    /// The bucket's size: APPENDs allowed in a burst.
    pub burst: u32,
    /// The smallest backoff suggested.
    pub min_backoff: Duration,
    /// Close the connection right after the throttled reply (Exchange often does).
    pub disconnect: bool,
}

/// How the shim behaves.
#[derive(Clone, Debug)]
pub struct ExchangeOptions {
    /// The tenant's domain, as written in `exo://` URLs.
    pub tenant: String,
    /// When set, tokens must carry this `tid`.
    pub tenant_id: Option<String>,
    /// The HS256 key tokens are signed with (the identity emulator's key).
    pub jwt_key: Vec<u8>,
    /// Largest message an APPEND may carry (35 MB by default; tenants may raise it to 150 MB).
    pub max_message_size: u64,
    /// Longest line a message may hold.
    pub max_line_length: usize,
    /// `NO`/`BAD` answers on one connection before `* BYE`.
    pub errors_before_bye: u32,
    /// The APPEND budget per mailbox; `None`: never throttle.
    pub throttle: Option<Throttle>,
}

impl Default for ExchangeOptions {
    fn default() -> Self {
        ExchangeOptions {
            tenant: "contoso.onmicrosoft.com".into(),
            tenant_id: None,
            jwt_key: b"ferry-test-identity-key-0123456789".to_vec(),
            max_message_size: 35 * 1024 * 1024,
            max_line_length: 10_500,
            errors_before_bye: 10,
            throttle: None,
        }
    }
}

/// What the shim saw for one mailbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailboxStats {
    /// APPENDs passed to Dovecot.
    pub appended: u64,
    /// Throttled replies sent.
    pub throttled: u64,
    /// Commands (and logins) that arrived while a suggested backoff had not expired.
    pub early_requests: u64,
    /// XOAUTH2 logins that reached the mailbox (one per connection a client opens to it).
    pub logins: u64,
    /// Times the relay stopped to answer the APPENDs it had forwarded because nothing more had arrived
    /// from the client: how often the client's APPEND pipeline ran dry (a client that waited for each
    /// answer would count one per message).
    pub append_pauses: u64,
}

#[derive(Default)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
    blocked_until: Option<Instant>,
    stats: MailboxStats,
}

#[derive(Default)]
struct State {
    principals: HashSet<String>,
    full_access: HashSet<(String, String)>,
    mailboxes: HashSet<String>,
    imap_disabled: HashSet<String>,
    buckets: HashMap<String, Bucket>,
    throttle: Option<Throttle>,
}

pub(crate) struct Shared {
    opts: ExchangeOptions,
    /// [`ExchangeOptions::max_message_size`], changeable while running (a raised `MaxReceiveSize`).
    max_size: std::sync::atomic::AtomicU64,
    backend: SocketAddr,
    state: Mutex<State>,
    shutdown: AtomicBool,
    live: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `app` may open `mailbox` (behaviour 4).
    fn connectable(&self, app: &str, mailbox: &str) -> bool {
        let s = self.state();
        s.principals.contains(app)
            && s.full_access
                .contains(&(app.to_owned(), mailbox.to_owned()))
            && s.mailboxes.contains(mailbox)
            && !s.imap_disabled.contains(mailbox)
    }

    /// Behaviour 9: a command for `mailbox` while its backoff runs is counted; returns the ms left.
    fn blocked(&self, mailbox: &str) -> Option<u64> {
        let mut s = self.state();
        let b = s.buckets.entry(mailbox.to_owned()).or_default();
        let until = b.blocked_until?;
        let now = Instant::now();
        if until <= now {
            b.blocked_until = None;
            return None;
        }
        b.stats.early_requests += 1;
        Some(ms_ceil(until - now))
    }

    /// Take one APPEND from `mailbox`'s bucket, or the backoff to suggest.
    fn take_append(&self, mailbox: &str) -> Result<(), u64> {
        let mut s = self.state();
        let throttle = s.throttle;
        let b = s.buckets.entry(mailbox.to_owned()).or_default();
        let Some(t) = throttle else {
            b.stats.appended += 1;
            return Ok(());
        };
        let now = Instant::now();
        let cap = f64::from(t.burst.max(1));
        b.tokens = match b.last {
            None => cap,
            Some(last) => (b.tokens + (now - last).as_secs_f64() * t.per_second).min(cap),
        };
        b.last = Some(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            b.stats.appended += 1;
            return Ok(());
        }
        let wait = Duration::from_secs_f64((1.0 - b.tokens) / t.per_second.max(1e-6));
        let wait = wait.max(t.min_backoff);
        b.blocked_until = Some(now + wait);
        b.stats.throttled += 1;
        Err(ms_ceil(wait))
    }

    /// Count a login (`login`) or an APPEND pipeline pause for `mailbox`.
    fn count(&self, mailbox: &str, login: bool) {
        let mut s = self.state();
        let b = s.buckets.entry(mailbox.to_owned()).or_default();
        if login {
            b.stats.logins += 1;
        } else {
            b.stats.append_pauses += 1;
        }
    }

    fn disconnect_on_throttle(&self) -> bool {
        self.state().throttle.is_some_and(|t| t.disconnect)
    }
}

fn ms_ceil(d: Duration) -> u64 {
    (d.as_micros().div_ceil(1000)).max(1) as u64
}

/// A running Exchange emulator with its own Dovecot; both stop on drop.
pub struct ExchangeShim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    dovecot: Dovecot,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ExchangeShim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeShim")
            .field("addr", &self.addr)
            .field("tenant", &self.shared.opts.tenant)
            .finish_non_exhaustive()
    }
}

impl ExchangeShim {
    /// Start a Dovecot (`/` delimiter, no special-use folders of its own) and the shim in front of it.
    pub fn start(opts: ExchangeOptions) -> io::Result<ExchangeShim> {
        let dovecot = Dovecot::start(DovecotOptions {
            separator: '/',
            special_use: false,
            ..DovecotOptions::default()
        })?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                throttle: opts.throttle,
                ..State::default()
            }),
            max_size: std::sync::atomic::AtomicU64::new(opts.max_message_size),
            opts,
            backend: dovecot.addr(),
            shutdown: AtomicBool::new(false),
            live: Mutex::new(Vec::new()),
        });
        let s = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name(format!("exchange-shim-{}", addr.port()))
            .spawn(move || accept_loop(listener, s))?;
        Ok(ExchangeShim {
            addr,
            shared,
            dovecot,
            acceptor: Some(acceptor),
        })
    }

    /// The shim's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shim's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `exo://<tenant>?host=127.0.0.1&port=N&tls=plain`: the endpoint URL that reaches this shim.
    pub fn url(&self) -> String {
        format!(
            "exo://{}?host=127.0.0.1&port={}&tls=plain",
            self.shared.opts.tenant,
            self.port()
        )
    }

    /// The Dovecot behind the shim (seed, snapshot and inspect mailboxes through it).
    pub fn dovecot(&self) -> &Dovecot {
        &self.dovecot
    }

    /// The options the shim was started with.
    pub fn options(&self) -> &ExchangeOptions {
        &self.shared.opts
    }

    /// Provision a mailbox (lower-cased) with Exchange's well-known folders (behaviour 6).
    pub fn add_mailbox(&self, mailbox: &str) -> io::Result<()> {
        let name = mailbox.to_lowercase();
        self.dovecot
            .add_user(&name, &format!("unused-{}", fastrand::u64(..)))?;
        for (folder, _) in WELL_KNOWN_FOLDERS {
            self.dovecot.create_folder(&name, folder)?;
        }
        self.shared.state().mailboxes.insert(name);
        Ok(())
    }

    /// `New-ServicePrincipal -AppId <app_id>`: the app is known to Exchange.
    pub fn register_service_principal(&self, app_id: &str) {
        self.shared.state().principals.insert(app_id.to_owned());
    }

    /// `Add-MailboxPermission -Identity <mailbox> -User <app> -AccessRights FullAccess`.
    pub fn grant_full_access(&self, app_id: &str, mailbox: &str) {
        self.shared
            .state()
            .full_access
            .insert((app_id.to_owned(), mailbox.to_lowercase()));
    }

    /// `Set-CASMailbox -ImapEnabled $false`.
    pub fn disable_imap(&self, mailbox: &str) {
        self.shared
            .state()
            .imap_disabled
            .insert(mailbox.to_lowercase());
    }

    /// Register `app_id` and give it FullAccess on `mailboxes` (the whole documented setup).
    pub fn allow_app(&self, app_id: &str, mailboxes: &[&str]) {
        self.register_service_principal(app_id);
        for m in mailboxes {
            self.grant_full_access(app_id, m);
        }
    }

    /// `Set-Mailbox -MaxReceiveSize`: change the size limit from now on.
    pub fn set_max_message_size(&self, bytes: u64) {
        self.shared.max_size.store(bytes, Ordering::SeqCst);
    }

    /// Change the APPEND budget from now on (`None`: never throttle).
    pub fn set_throttle(&self, throttle: Option<Throttle>) {
        let mut s = self.shared.state();
        s.throttle = throttle;
        for b in s.buckets.values_mut() {
            b.last = None;
            b.blocked_until = None;
        }
    }

    /// What the shim saw for `mailbox`.
    pub fn stats(&self, mailbox: &str) -> MailboxStats {
        self.shared
            .state()
            .buckets
            .get(&mailbox.to_lowercase())
            .map(|b| b.stats)
            .unwrap_or_default()
    }

    /// An app-only token for `app_id`, signed with the shim's key, valid for `ttl_secs` (tests that run
    /// without the identity emulator).
    pub fn app_token(&self, app_id: &str, ttl_secs: i64) -> String {
        let tid = self
            .shared
            .opts
            .tenant_id
            .clone()
            .unwrap_or_else(|| "00000000-0000-0000-0000-00000000cafe".into());
        token::mint(
            &self.shared.opts.jwt_key,
            &token::app_claims(app_id, &tid, unix_now(), ttl_secs),
        )
    }

    /// Cut every live client connection (a dropped link).
    pub fn cut_all(&self) {
        let mut live = self.shared.live.lock().unwrap_or_else(|p| p.into_inner());
        for s in live.drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Drop for ExchangeShim {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.cut_all();
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = conn else { continue };
        let _ = client.set_nodelay(true);
        if let Ok(c) = client.try_clone() {
            let mut live = shared.live.lock().unwrap_or_else(|p| p.into_inner());
            live.retain(|s| s.peer_addr().is_ok());
            live.push(c);
        }
        let s = Arc::clone(&shared);
        let _ = std::thread::Builder::new()
            .name("exchange-shim-session".into())
            .spawn(move || {
                let closer = client.try_clone();
                if let Err(e) = session::run(client, &s) {
                    tracing::debug!("exchange shim session ended: {e}");
                }
                // The live list holds a clone: close the socket itself, not only this handle.
                if let Ok(c) = closer {
                    let _ = c.shutdown(std::net::Shutdown::Both);
                }
            });
    }
}
