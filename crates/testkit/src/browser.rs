//! A real headless Chromium per test, driven over WebDriver: Debian's `chromium` and `chromium-driver`
//! packages (`scripts/test.sh` installs them when missing), `chromedriver` started on a free loopback port
//! in a temp dir, and a [`fantoccini`] session on it.
//!
//! - Chromium runs headless with `--disable-dev-shm-usage`, its own fresh profile in the temp dir, and
//!   `--no-sandbox` only when the test runs as root (Chromium refuses to start sandboxed as root). Its
//!   background networking (component updates, sync, first-run pages) is switched off: a test browser
//!   talks to loopback only.
//! - [`Browser::screenshot`] saves a PNG as a test artefact under `$FERRY_SCREENSHOTS` when set, else
//!   under `target/screenshots/` (found from the test binary's own path).
//! - [`Browser::start`] returns `Ok(None)` after printing the reason **only** when Chromium or chromedriver
//!   is not installed, so a developer without them can still run the rest; when the `CI` environment
//!   variable is set a missing browser is an error instead (CI installs it, so CI never skips).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use ferry_testkit::browser::Browser;
//! let Some(browser) = Browser::start("my_story").await? else { return Ok(()) };
//! browser.goto("http://127.0.0.1:8080/").await.map_err(std::io::Error::other)?;
//! browser.screenshot("sign-in").await?;
//! browser.close().await?;
//! # Ok(()) }
//! ```

use crate::daemon::{self, Daemon, Probe};
use crate::http::{self, Body};
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where Debian's packages put the browser and its driver; the first that exists wins (or the name on `PATH`).
const CHROMIUM: &[&str] = &["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const CHROMEDRIVER: &[&str] = &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

/// A running `chromedriver` and one WebDriver session on a headless Chromium; everything is stopped and the
/// profile deleted on drop. Derefs to the [`fantoccini::Client`] for navigation, finding and clicking.
pub struct Browser {
    client: Client,
    // Dropped after the client: the driver goes before its directory.
    driver: Daemon,
    port: u16,
    test: String,
    shots: PathBuf,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("chromedriver_port", &self.port)
            .field("test", &self.test)
            .field("screenshots", &self.shots)
            .finish()
    }
}

impl std::ops::Deref for Browser {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Why the browser cannot run here, when Chromium or chromedriver is missing.
pub fn missing() -> Option<String> {
    let mut gone = Vec::new();
    if find(CHROMIUM, "chromium").is_none() {
        gone.push("chromium");
    }
    if find(CHROMEDRIVER, "chromedriver").is_none() {
        gone.push("chromium-driver");
    }
    if gone.is_empty() {
        None
    } else {
        Some(format!(
            "the Debian package(s) {} are not installed (scripts/test.sh installs them: \
             apt-get install -y chromium chromium-driver)",
            gone.join(" and ")
        ))
    }
}

/// The directory screenshots go to: `$FERRY_SCREENSHOTS`, else `target/screenshots/` beside the test
/// binary (`target/<profile>/deps/<binary>`), else `screenshots/` under the temp root.
pub fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FERRY_SCREENSHOTS") {
        return dir.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|p| p.file_name().is_some_and(|n| n == "target"))
                .map(Path::to_path_buf)
        })
        .map(|target| target.join("screenshots"))
        .unwrap_or_else(|| crate::temp_root().join("screenshots"))
}

impl Browser {
    /// Start `chromedriver` and open a session on a fresh headless Chromium. `test` names the test; its
    /// screenshots are saved as `<screenshot dir>/<test>/<name>.png`.
    ///
    /// `Ok(None)`, with the reason printed, when Chromium is not installed and `CI` is not set.
    pub async fn start(test: &str) -> io::Result<Option<Browser>> {
        if let Some(why) = missing() {
            if std::env::var_os("CI").is_some() {
                return Err(io::Error::new(io::ErrorKind::NotFound, why));
            }
            eprintln!("skipping {test}: no browser: {why}");
            return Ok(None);
        }
        let chromium = find(CHROMIUM, "chromium").unwrap_or_else(|| PathBuf::from("chromium"));
        let chromedriver =
            find(CHROMEDRIVER, "chromedriver").unwrap_or_else(|| PathBuf::from("chromedriver"));
        let dir = daemon::temp_dir("ferry-browser-")?;
        let log = dir.path().join("chromedriver.log");
        let (driver, port) = tokio::task::spawn_blocking({
            let log = log.clone();
            move || {
                daemon::on_free_port(|port| {
                    let mut cmd = Command::new(&chromedriver);
                    cmd.arg(format!("--port={port}"))
                        .arg("--allowed-ips=127.0.0.1");
                    let mut d = Daemon::spawn("chromedriver", cmd, &log)
                        .map_err(|e| daemon::not_installed_hint(e, "chromium-driver"))?;
                    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                    d.wait_ready(START_TIMEOUT, port, || driver_ready(addr))?;
                    Ok((d, port))
                })
            }
        })
        .await
        .map_err(io::Error::other)??;

        let profile = dir.path().join("profile");
        fs::create_dir(&profile)?;
        let mut args = vec![
            "--headless=new".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-gpu".to_owned(),
            "--window-size=1280,900".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-default-apps".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        if running_as_root() {
            args.push("--no-sandbox".to_owned());
        }
        let mut caps = Capabilities::new();
        caps.insert("browserName".to_owned(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| {
                io::Error::other(format!(
                    "opening a WebDriver session on chromedriver at 127.0.0.1:{port}: {e}; log {}:\n{}",
                    log.display(),
                    daemon::tail(&driver.log(), 30)
                ))
            })?;
        Ok(Some(Browser {
            client,
            driver,
            port,
            test: test.to_owned(),
            shots: screenshot_dir().join(sanitize(test)),
            _dir: dir,
        }))
    }

    /// Save a screenshot of the whole viewport as `<screenshot dir>/<test>/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> io::Result<PathBuf> {
        let png = self
            .screenshot_png()
            .await
            .map_err(|e| io::Error::other(format!("taking screenshot {name}: {e}")))?;
        fs::create_dir_all(&self.shots)?;
        let path = self.shots.join(format!("{}.png", sanitize(name)));
        fs::write(&path, png)?;
        Ok(path)
    }

    async fn screenshot_png(&self) -> Result<Vec<u8>, fantoccini::error::CmdError> {
        Client::screenshot(self).await
    }

    /// The chromedriver log so far (for a failing test's message).
    pub fn driver_log(&self) -> String {
        self.driver.log()
    }

    /// End the WebDriver session (closing Chromium) before the driver is stopped.
    pub async fn close(self) -> io::Result<()> {
        self.client
            .clone()
            .close()
            .await
            .map_err(|e| io::Error::other(format!("closing the WebDriver session: {e}")))
    }
}

/// chromedriver is ready when `GET /status` says `"ready": true`.
fn driver_ready(addr: SocketAddr) -> Probe {
    match http::request(
        addr,
        "GET",
        "/status",
        &[("Connection", "close")],
        Body::None,
    ) {
        Ok(r) if r.status == 200 && String::from_utf8_lossy(&r.body).contains("\"ready\":true") => {
            Probe::Ready
        }
        _ => Probe::NotYet,
    }
}

fn find(candidates: &[&str], name: &str) -> Option<PathBuf> {
    if let Some(p) = candidates.iter().map(Path::new).find(|p| p.is_file()) {
        return Some(p.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A file-name-safe version of a test or screenshot name.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
