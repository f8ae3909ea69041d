//! A real Dovecot IMAP server per test, in a temp dir, on a free loopback port.
//!
//! Each [`Dovecot`] has its own `base_dir`, `state_dir`, `instance_name`, log file and users, so any number
//! run side by side (tests run in parallel). It is started with `dovecot -c <conf>` (stdin from
//! `/dev/null`, output to a file: the daemon inherits its parent's pipes otherwise and the caller hangs) and
//! stopped on drop by killing the pid in `<base_dir>/master.pid` — never by name.
//!
//! Dovecot refuses to give mail access to uid 0, so when the tests run as root the mail files belong to the
//! system user `mail` (or `nobody`), and the temp dir is made traversable for it.
//!
//! ```no_run
//! use ferry_testkit::dovecot::{Dovecot, DovecotOptions};
//! use ferry_testkit::corpus;
//! let server = Dovecot::start(DovecotOptions::default())?;
//! server.add_user("alice", "secret")?;
//! server.seed("alice", "Projets/Données", &corpus::seed_messages(1, 10, 2_000))?;
//! let before = server.snapshot("alice")?;
//! assert_eq!(before.message_count(), 10);
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::imap::{RawImap, SeedMessage};
use crate::snapshot::MailboxSnapshot;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The master user: `alice*admin` with this password logs in as `alice`.
const MASTER_USER: &str = "admin";
const MASTER_PASSWORD: &str = "ferry-master-secret";
/// How long `start` waits for the greeting.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `drop` waits for the master to exit before `SIGKILL`.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How to configure a test server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DovecotOptions {
    /// Hierarchy delimiter: `'/'` (Maildir `LAYOUT=fs`) or `'.'` (Maildir++).
    pub separator: char,
    /// Create `Sent`, `Drafts`, `Trash`, `Junk` and `Archive` with RFC 6154 special-use attributes.
    pub special_use: bool,
    /// Sync every saved message to disk (`mail_fsync = optimized`); the default `false` means
    /// `mail_fsync = never`, which makes seeding much faster.
    pub fsync: bool,
    /// Refuse to save any message larger than this many bytes (the quota plugin's
    /// `quota_max_mail_size`: APPEND answers `NO [LIMIT]`), so tests can make the target reject one item.
    pub max_mail_size: Option<u64>,
    /// Also accept OAuth logins (`AUTHENTICATE XOAUTH2` / `OAUTHBEARER`): Dovecot's `oauth2` passdb validates
    /// HS256 JWTs signed with this key itself (`introspection_mode = local`, the key in a `fs:posix` dict)
    /// and compares their `email` claim with the login name. Password and master-user logins keep working.
    /// Use the identity emulator's key: `Some(identity.hs256_key())`.
    pub oauth2_hs256_key: Option<[u8; 32]>,
    /// Advertise MULTIAPPEND (RFC 3502), as Dovecot does by default. `false` sets Dovecot's
    /// `imap_capability` to its own list without it ([`CAPABILITIES_WITHOUT_MULTIAPPEND`]), so a client
    /// sends one APPEND per message, as it must to a server that lacks it (Exchange Online).
    pub multiappend: bool,
}

/// Dovecot 2.3's post-login capabilities (its built-in list, which `imap_capability` replaces whole)
/// without MULTIAPPEND. The ones Dovecot adds by itself to its default (LITERAL+, NOTIFY, and SPECIAL-USE
/// when special-use folders are configured) are added back in the config; a harness test compares the two
/// lists.
pub const CAPABILITIES_WITHOUT_MULTIAPPEND: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE";

impl Default for DovecotOptions {
    fn default() -> Self {
        DovecotOptions {
            separator: '/',
            special_use: true,
            fsync: false,
            max_mail_size: None,
            oauth2_hs256_key: None,
            multiappend: true,
        }
    }
}

/// A running Dovecot; stopped and deleted on drop.
pub struct Dovecot {
    // Declared first so it is dropped last, after `Drop::drop` stopped the server.
    dir: tempfile::TempDir,
    opts: DovecotOptions,
    port: u16,
    conf: PathBuf,
    log: PathBuf,
    /// One passwd-file per user.
    users_dir: PathBuf,
    mail_uid: u32,
    mail_gid: u32,
    /// Serialises `add_user`.
    users: Mutex<()>,
}

impl std::fmt::Debug for Dovecot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dovecot")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .field("opts", &self.opts)
            .finish()
    }
}

impl Dovecot {
    /// Write a config in a fresh temp dir, start Dovecot on a free loopback port and wait for its greeting.
    ///
    /// Fails (with the log content in the message) if Dovecot does not answer within ~20 s.
    pub fn start(opts: DovecotOptions) -> io::Result<Dovecot> {
        if opts.separator != '/' && opts.separator != '.' {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "DovecotOptions.separator must be '/' or '.', not {:?}",
                    opts.separator
                ),
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("ferry-dovecot-")
            .tempdir_in(crate::temp_root())?;
        let (mail_uid, mail_gid) = mail_owner(dir.path())?;
        // The mail processes run as `mail_uid`; they must be able to reach the homes inside the temp dir.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        for sub in ["base", "state", "home"] {
            fs::create_dir(dir.path().join(sub))?;
        }
        fs::set_permissions(dir.path().join("home"), fs::Permissions::from_mode(0o755))?;
        let users_dir = dir.path().join("users");
        fs::create_dir(&users_dir)?;
        fs::write(
            dir.path().join("master-users"),
            format!("{MASTER_USER}:{{PLAIN}}{MASTER_PASSWORD}\n"),
        )?;
        if let Some(key) = opts.oauth2_hs256_key {
            write_oauth2_config(dir.path(), &key)?;
        }
        let log = dir.path().join("dovecot.log");
        let conf = dir.path().join("dovecot.conf");

        let mut server = Dovecot {
            dir,
            opts,
            port: 0,
            conf,
            log,
            users_dir,
            mail_uid,
            mail_gid,
            users: Mutex::new(()),
        };
        let mut attempts = 0;
        loop {
            server.port = free_port()?;
            fs::write(&server.conf, server.config_text())?;
            match server.launch() {
                Ok(()) => return Ok(server),
                // Another test took the port between our probe and Dovecot's bind: try another.
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempts < 5 => {
                    attempts += 1;
                    server.stop();
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn config_text(&self) -> String {
        let root = self.dir.path().display().to_string();
        let instance = format!(
            "ferry-test-{}-{}",
            std::process::id(),
            INSTANCE.fetch_add(1, Ordering::Relaxed)
        );
        let layout = if self.opts.separator == '/' {
            ":LAYOUT=fs"
        } else {
            ""
        };
        let fsync = if self.opts.fsync {
            "optimized"
        } else {
            "never"
        };
        let mut c = String::new();
        let _ = write!(
            c,
            "# Written by ferry-testkit for one test; see crates/testkit/src/dovecot.rs.
base_dir = {root}/base
state_dir = {root}/state
instance_name = {instance}
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth_mechs}
auth_verbose = yes
auth_failure_delay = 0
mail_location = maildir:~/Maildir{layout}
mail_fsync = {fsync}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
auth_master_user_separator = *
{oauth_passdb}passdb {{
  driver = passwd-file
  args = {root}/master-users
  master = yes
  result_success = continue
}}
passdb {{
  driver = passwd-file
  args = {root}/users/%u
}}
userdb {{
  driver = passwd-file
  args = {root}/users/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
# No anvil auth-penalty socket: failed logins are answered at once (tests of bad passwords stay fast).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
namespace inbox {{
  inbox = yes
  separator = {sep}
",
            uid = self.mail_uid,
            gid = self.mail_gid,
            port = self.port,
            sep = self.opts.separator,
            oauth_mechs = if self.opts.oauth2_hs256_key.is_some() {
                " xoauth2 oauthbearer"
            } else {
                ""
            },
            oauth_passdb = if self.opts.oauth2_hs256_key.is_some() {
                format!(
                    "# OAuth tokens only (mechanisms): checked locally against the key in {root}/oauth2-keys.
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/dovecot-oauth2.conf.ext
}}
"
                )
            } else {
                String::new()
            },
        );
        if self.opts.special_use {
            for (name, attr) in [
                ("Sent", "\\Sent"),
                ("Drafts", "\\Drafts"),
                ("Trash", "\\Trash"),
                ("Junk", "\\Junk"),
                ("Archive", "\\Archive"),
            ] {
                let _ = write!(
                    c,
                    "  mailbox {name} {{\n    special_use = {attr}\n    auto = subscribe\n  }}\n"
                );
            }
        }
        c.push_str("}\n");
        if !self.opts.multiappend {
            let special_use = if self.opts.special_use {
                " SPECIAL-USE"
            } else {
                ""
            };
            let _ = writeln!(
                c,
                "imap_capability = {CAPABILITIES_WITHOUT_MULTIAPPEND} LITERAL+ NOTIFY{special_use}"
            );
        }
        if let Some(max) = self.opts.max_mail_size {
            let _ = write!(
                c,
                "mail_plugins = $mail_plugins quota\nplugin {{\n  quota = count:User quota\n  quota_vsizes = yes\n  quota_max_mail_size = {max}B\n}}\n"
            );
        }
        c
    }

    fn launch(&self) -> io::Result<()> {
        let out_path = self.dir.path().join("dovecot.stdout");
        let out = fs::File::create(&out_path)?;
        let status = Command::new(dovecot_binary())
            .arg("-c")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .status()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "running {}: {e} (is dovecot-imapd installed?)",
                        dovecot_binary()
                    ),
                )
            })?;
        if !status.success() {
            let text = format!(
                "dovecot -c {} exited with {status}; output: {}; log {}: {}",
                self.conf.display(),
                fs::read_to_string(&out_path).unwrap_or_default().trim(),
                self.log.display(),
                self.log()
            );
            let kind = if text.contains("Address already in use") {
                io::ErrorKind::AddrInUse
            } else {
                io::ErrorKind::Other
            };
            return Err(io::Error::new(kind, text));
        }
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::from("no connection yet");
        while Instant::now() < deadline {
            match greeting(self.addr()) {
                Ok(g) if g.starts_with("* OK") => return Ok(()),
                Ok(g) => last = format!("greeting {g:?}"),
                Err(e) => last = e.to_string(),
            }
            if self.log().contains("Address already in use") {
                return Err(io::Error::new(io::ErrorKind::AddrInUse, self.log()));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "Dovecot on {} did not greet within {START_TIMEOUT:?} (last: {last}); log {}:\n{}",
                self.addr(),
                self.log.display(),
                self.log()
            ),
        ))
    }

    /// The IMAP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `imap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("imap://127.0.0.1:{}", self.port)
    }

    /// The options the server was started with.
    pub fn options(&self) -> DovecotOptions {
        self.opts
    }

    /// The hierarchy delimiter (same as `options().separator`).
    pub fn separator(&self) -> char {
        self.opts.separator
    }

    /// The temp dir holding config, log, state and homes.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The generated `dovecot.conf` (for `doveadm -c`, or to read in a failing test).
    pub fn config_path(&self) -> &Path {
        &self.conf
    }

    /// A user's home; the mail is in `<home>/Maildir` (Maildir++ or `LAYOUT=fs`, see the separator).
    pub fn home(&self, user: &str) -> PathBuf {
        self.dir.path().join("home").join(user)
    }

    /// The master user's name and password: log in as `user*admin` to act as `user`.
    pub fn master() -> (&'static str, &'static str) {
        (MASTER_USER, MASTER_PASSWORD)
    }

    /// The login name for acting as `user` through the master user (`user*admin`).
    pub fn master_login(user: &str) -> String {
        format!("{user}*{MASTER_USER}")
    }

    /// Add a user with a `{PLAIN}` password and a fresh home; works while the server runs, and the user
    /// can log in as soon as this returns. Names are lower-cased (Dovecot's default `%Lu`).
    pub fn add_user(&self, user: &str, password: &str) -> io::Result<()> {
        let user_ok = !user.is_empty()
            && !user.starts_with('.')
            && !user.contains([':', '\n', '\r', '*', '/', ' ', '%']);
        let password_ok = !password.is_empty() && !password.contains([':', '\n', '\r']);
        if !user_ok || !password_ok {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "user name {user:?} or its password is empty or contains ':', '*', '/' or a newline"
                ),
            ));
        }
        let _guard = self.users.lock().unwrap_or_else(|p| p.into_inner());
        // Dovecot looks users up lower-cased (`auth_username_format = %Lu`).
        let name = user.to_lowercase();
        let file = self.users_dir.join(&name);
        if file.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("Dovecot user {user:?} already exists"),
            ));
        }
        let home = self.home(&name);
        fs::create_dir_all(&home)?;
        std::os::unix::fs::chown(&home, Some(self.mail_uid), Some(self.mail_gid)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("chown {} to {}: {e}", home.display(), self.mail_uid),
            )
        })?;
        let line = format!(
            "{name}:{{PLAIN}}{password}:{}:{}::{}::\n",
            self.mail_uid,
            self.mail_gid,
            home.display()
        );
        // One passwd-file per user (`args = users/%u`): Dovecot opens a new file at the first lookup,
        // whereas a shared file is re-checked at most once per second, so a user added to it could not log
        // in at once. Written to a temp name and renamed so a lookup never sees half a line.
        let tmp = self.users_dir.join(format!(".{name}.tmp"));
        fs::write(&tmp, line)?;
        fs::rename(&tmp, &file)
    }

    /// The server's log so far (empty if unreadable).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Run `doveadm -c <conf> ARGS…`; a non-zero exit is an error with its output.
    pub fn doveadm(&self, args: &[&str]) -> io::Result<Output> {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| io::Error::new(e.kind(), format!("running doveadm: {e}")))?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "doveadm {} failed with {}: {}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(out)
    }

    /// Drop every live IMAP connection of `user` (`doveadm kick`): clients see `* BYE` and EOF.
    pub fn kick(&self, user: &str) -> io::Result<()> {
        self.doveadm(&["kick", user]).map(|_| ())
    }

    /// A logged-in raw session for `user`, through the master user (no user password needed).
    pub fn connect(&self, user: &str) -> io::Result<RawImap> {
        let mut c = RawImap::connect(self.addr())?;
        c.login(&Self::master_login(user), MASTER_PASSWORD)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "{e}; Dovecot log {}:\n{}",
                        self.log.display(),
                        tail(&self.log(), 20)
                    ),
                )
            })?;
        Ok(c)
    }

    /// Append `messages` to `folder` (server naming, UTF-8), creating it and its parents if missing.
    /// All appends are pipelined with LITERAL+, so thousands of messages take about a second.
    pub fn seed(&self, user: &str, folder: &str, messages: &[SeedMessage]) -> io::Result<()> {
        let mut c = self.connect(user)?;
        if !folder.eq_ignore_ascii_case("INBOX") {
            c.create(folder)?;
        }
        c.append(folder, messages)?;
        c.logout();
        Ok(())
    }

    /// Like [`Dovecot::seed`], returning the new uids (APPENDUID).
    pub fn seed_uids(
        &self,
        user: &str,
        folder: &str,
        messages: &[SeedMessage],
    ) -> io::Result<Vec<u32>> {
        let mut c = self.connect(user)?;
        if !folder.eq_ignore_ascii_case("INBOX") {
            c.create(folder)?;
        }
        let uids = c.append(folder, messages)?;
        c.logout();
        Ok(uids)
    }

    /// Create a folder (and its parents); an existing one is fine.
    pub fn create_folder(&self, user: &str, folder: &str) -> io::Result<()> {
        let mut c = self.connect(user)?;
        c.create(folder)?;
        c.logout();
        Ok(())
    }

    /// Delete a folder and every folder below it.
    pub fn delete_folder(&self, user: &str, folder: &str) -> io::Result<()> {
        let mut c = self.connect(user)?;
        let prefix = format!("{folder}{}", self.opts.separator);
        let mut children: Vec<String> = c
            .list()?
            .into_iter()
            .map(|e| e.name)
            .filter(|n| n.starts_with(&prefix))
            .collect();
        // Deepest first.
        children.sort_by_key(|n| std::cmp::Reverse(n.matches(self.opts.separator).count()));
        for child in children {
            c.delete(&child)?;
        }
        c.delete(folder)?;
        c.logout();
        Ok(())
    }

    /// A read-only snapshot of every folder of `user` (EXAMINE + `BODY.PEEK[]`: changes nothing).
    pub fn snapshot(&self, user: &str) -> io::Result<MailboxSnapshot> {
        let mut c = self.connect(user)?;
        let snap = MailboxSnapshot::take(&mut c)?;
        c.logout();
        Ok(snap)
    }

    /// Give `folder` a new UIDVALIDITY with the same content: read its messages (EXAMINE + `BODY.PEEK[]`),
    /// delete and recreate it, re-append them with the same flags and internal dates. Uids restart at 1.
    ///
    /// `INBOX` cannot be deleted; it is emptied instead and its UIDVALIDITY bumped with `doveadm mailbox
    /// update` before re-appending. Returns `(old, new)` UIDVALIDITY; fails if they are equal.
    pub fn recreate_folder_with_new_uidvalidity(
        &self,
        user: &str,
        folder: &str,
    ) -> io::Result<(u32, u32)> {
        let mut c = self.connect(user)?;
        let before = c.examine(folder)?;
        let messages: Vec<SeedMessage> = if before.exists > 0 {
            c.fetch_all()?
                .into_iter()
                .map(|m| SeedMessage {
                    bytes: m.bytes,
                    flags: m
                        .flags
                        .into_iter()
                        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                        .collect(),
                    internal_date: Some(m.internal_date),
                })
                .collect()
        } else {
            Vec::new()
        };
        if folder.eq_ignore_ascii_case("INBOX") {
            let info = c.select("INBOX")?;
            if info.exists > 0 {
                c.run("STORE 1:* +FLAGS.SILENT (\\Deleted)")?;
                c.run("EXPUNGE")?;
            }
            c.run("UNSELECT")?;
            c.logout();
            let new = before.uid_validity.wrapping_add(1).max(1).to_string();
            self.doveadm(&[
                "mailbox",
                "update",
                "-u",
                user,
                "--uid-validity",
                &new,
                "INBOX",
            ])?;
            c = self.connect(user)?;
        } else {
            c.run("UNSELECT")?;
            c.delete(folder)?;
            c.create(folder)?;
        }
        c.append(folder, &messages)?;
        let after = c.examine(folder)?;
        c.logout();
        if after.uid_validity == before.uid_validity {
            return Err(io::Error::other(format!(
                "recreating {folder:?} kept UIDVALIDITY {}",
                before.uid_validity
            )));
        }
        Ok((before.uid_validity, after.uid_validity))
    }

    fn master_pid(&self) -> Option<u32> {
        fs::read_to_string(self.dir.path().join("base").join("master.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Stop the server: SIGTERM to the pid in `master.pid`, SIGKILL after 10 s, then wait for the port to
    /// close. Idempotent.
    fn stop(&self) {
        let Some(pid) = self.master_pid() else { return };
        let alive = || Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid);
        let _ = signal(pid, "TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive() {
            eprintln!(
                "ferry-testkit: Dovecot master {pid} ignored SIGTERM for {STOP_TIMEOUT:?}; sending SIGKILL"
            );
            let _ = signal(pid, "KILL");
        }
        // The login processes share the listener and exit right after the master. Wait briefly only: once
        // it is closed, another test's server may legitimately reuse the port.
        let deadline = Instant::now() + Duration::from_secs(2);
        while TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = fs::remove_file(self.dir.path().join("base").join("master.pid"));
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

static INSTANCE: AtomicU64 = AtomicU64::new(0);

/// Dovecot's `oauth2` passdb settings and its key dict: HS* keys are stored base64 at
/// `<prefix>/<azp or "default">/<alg>/<kid or "default">` (our tokens carry neither `azp` nor `kid`).
fn write_oauth2_config(root: &Path, key: &[u8; 32]) -> io::Result<()> {
    use base64::Engine;
    let keys = root.join("oauth2-keys");
    let dir = keys.join("default").join("HS256");
    fs::create_dir_all(&dir)?;
    fs::write(
        dir.join("default"),
        base64::engine::general_purpose::STANDARD.encode(key),
    )?;
    fs::write(
        root.join("dovecot-oauth2.conf.ext"),
        format!(
            "introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix={}/\nusername_attribute = email\n",
            keys.display()
        ),
    )
}

fn dovecot_binary() -> &'static str {
    if Path::new("/usr/sbin/dovecot").exists() {
        "/usr/sbin/dovecot"
    } else {
        "dovecot"
    }
}

/// Send a signal with `kill(1)` to one pid (the harness has no `unsafe`, hence no `libc::kill`).
fn signal(pid: u32, sig: &str) -> io::Result<()> {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|_| ())
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// A loopback port that was free a moment ago, picked so that tests side by side do not race for it (see
/// [`crate::port::free_port`]).
pub fn free_port() -> io::Result<u16> {
    crate::port::free_port()
}

fn greeting(addr: SocketAddr) -> io::Result<String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line)
}

/// The uid/gid that will own the mail: the current user's, or `mail`'s (else `nobody`'s) when running as
/// root, because Dovecot refuses mail access as uid 0.
fn mail_owner(probe: &Path) -> io::Result<(u32, u32)> {
    let meta = fs::metadata(probe)?;
    if meta.uid() != 0 {
        return Ok((meta.uid(), meta.gid()));
    }
    let passwd = fs::read_to_string("/etc/passwd")?;
    for wanted in ["mail", "nobody"] {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 4
                && f[0] == wanted
                && let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse())
            {
                return Ok((uid, gid));
            }
        }
    }
    Err(io::Error::other(
        "running as root and neither user 'mail' nor 'nobody' exists: Dovecot needs a non-root mail uid",
    ))
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
