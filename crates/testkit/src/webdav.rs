//! A real WebDAV server per test: `rclone serve webdav DIR` (Debian's `rclone` package, 1.60) on a free
//! loopback port, serving a fresh temp dir that tests can prepare and fingerprint directly on disk.
//!
//! rclone is started with its own empty config and cache dir (it never touches `~/.config/rclone`), and
//! with `--dir-cache-time 0s`, so files a test writes straight into [`WebDavServer::dir`] show up in the
//! very next listing (the default VFS directory cache would hide them for five minutes).
//!
//! What this server does (checked by `tests/webdav.rs`, documented in the README):
//! - it ignores `X-OC-Mtime` on `PUT` (the file gets the upload time) and refuses a `PROPPATCH` of
//!   `getlastmodified` (403): a WebDAV connector cannot keep mtimes on it;
//! - `PUT` is **not** atomic: the file is written in place, and an upload cut mid-body leaves the partial
//!   file behind;
//! - `PUT` into a missing folder is `404` and `MKCOL` of `a/b` without `a` is `409`: parents are created
//!   one `MKCOL` at a time.
//!
//! ```no_run
//! use ferry_testkit::webdav::WebDavServer;
//! let server = WebDavServer::start()?;
//! std::fs::write(server.dir().join("seed.txt"), b"hello")?;
//! // point the connector at server.url() ("http://127.0.0.1:PORT/")
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::daemon::{self, Daemon};
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `rclone serve webdav`; killed and deleted on drop.
pub struct WebDavServer {
    // Dropped first: the process goes before its directory.
    daemon: Daemon,
    port: u16,
    auth: Option<(String, String)>,
    served: PathBuf,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for WebDavServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebDavServer")
            .field("url", &self.url())
            .field("dir", &self.served)
            .field("auth", &self.auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl WebDavServer {
    /// Serve a fresh empty directory without authentication.
    pub fn start() -> io::Result<WebDavServer> {
        Self::launch(None, false)
    }

    /// Serve a fresh empty directory whose ETags follow the content (`--etag-hash MD5`), as Nextcloud's
    /// and ownCloud's do, instead of rclone's default of size and mtime.
    pub fn with_content_etags() -> io::Result<WebDavServer> {
        Self::launch(None, true)
    }

    /// Serve a fresh empty directory that requires HTTP basic authentication with `user` / `pass`
    /// (`--user`/`--pass`); other requests get `401`.
    pub fn with_auth(user: &str, pass: &str) -> io::Result<WebDavServer> {
        Self::launch(Some((user.to_owned(), pass.to_owned())), false)
    }

    fn launch(auth: Option<(String, String)>, content_etags: bool) -> io::Result<WebDavServer> {
        let dir = daemon::temp_dir("ferry-webdav-")?;
        let served = dir.path().join("served");
        fs::create_dir(&served)?;
        let config = dir.path().join("rclone.conf");
        fs::write(&config, "")?;
        let cache = dir.path().join("cache");
        let log = dir.path().join("rclone.log");
        let (daemon, port) = daemon::on_free_port(|port| {
            let mut cmd = Command::new("rclone");
            cmd.arg("serve")
                .arg("webdav")
                .arg(&served)
                .arg("--addr")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--config")
                .arg(&config)
                .arg("--cache-dir")
                .arg(&cache)
                .args(["--dir-cache-time", "0s", "--log-level", "INFO"]);
            if content_etags {
                cmd.args(["--etag-hash", "MD5"]);
            }
            if let Some((user, pass)) = &auth {
                cmd.arg("--user").arg(user).arg("--pass").arg(pass);
            }
            let mut d = Daemon::spawn("rclone serve webdav", cmd, &log)
                .map_err(|e| daemon::not_installed_hint(e, "rclone"))?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            d.wait_ready(START_TIMEOUT, port, || daemon::answers_http(addr))?;
            Ok((d, port))
        })?;
        Ok(WebDavServer {
            daemon,
            port,
            auth,
            served,
            dir,
        })
    }

    /// `http://127.0.0.1:PORT/` (the served directory is the root).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The served directory: seed files here and fingerprint it to check what a connector did.
    pub fn dir(&self) -> &Path {
        &self.served
    }

    /// The user and password when started [`with_auth`](Self::with_auth).
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// rclone's log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// The rclone process id (to signal it in a test; the harness still reaps it on drop).
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// The temp dir holding the served directory, rclone's config, cache and log.
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }
}
