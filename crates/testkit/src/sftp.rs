//! A real SFTP server per test: its own `sshd -D -e -f <conf> -p PORT` (Debian's `openssh-server`) on a free
//! loopback port, with a fresh ed25519 host key, a generated ed25519 client key in its `AuthorizedKeysFile`,
//! and `Subsystem sftp internal-sftp`.
//!
//! The SFTP user is the user running the tests (root on CI); there is no chroot, so paths on the server are
//! the same absolute paths as on this machine and [`SftpServer::root`] can be prepared and fingerprinted
//! directly. Only public-key authentication is offered: password authentication without PAM checks the
//! system's `/etc/shadow`, and a harness must not change a system account's password.
//!
//! `sshd` forks one process per connection; the harness kills the listener and every process it forked on
//! drop (by pid, never by name). `sshd` insists on the privilege-separation directory `/run/sshd`, which
//! the harness creates when it is missing.
//!
//! ```no_run
//! use ferry_testkit::sftp::SftpServer;
//! let server = SftpServer::start()?;
//! std::fs::write(server.root().join("seed.txt"), b"hello")?;
//! // connect to 127.0.0.1:server.port() as server.user() with the key at server.client_key_path(),
//! // check the host key against server.host_key_pub() / server.known_hosts_path(),
//! // and use server.root() as the remote directory.
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::daemon::{self, Daemon, Probe};
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the Debian package installs the daemon.
const SSHD: &str = "/usr/sbin/sshd";

/// A running per-test `sshd`; it and its session processes are killed, and its temp dir deleted, on drop.
pub struct SftpServer {
    daemon: Daemon,
    port: u16,
    user: String,
    root: PathBuf,
    client_key: PathBuf,
    host_key_pub: String,
    known_hosts: PathBuf,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for SftpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpServer")
            .field("port", &self.port)
            .field("user", &self.user)
            .field("root", &self.root)
            .finish()
    }
}

impl SftpServer {
    /// Generate keys and a config in a fresh temp dir, start `sshd` on a free loopback port and wait for
    /// its `SSH-2.0-` banner. Errors carry the sshd log.
    pub fn start() -> io::Result<SftpServer> {
        let dir = daemon::temp_dir("ferry-sftp-")?;
        let base = dir.path().to_path_buf();
        // sshd refuses to start without its privilege-separation directory.
        if !Path::new("/run/sshd").is_dir() {
            fs::create_dir_all("/run/sshd").map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("creating /run/sshd (needed by sshd): {e}"),
                )
            })?;
        }
        let host_key = base.join("ssh_host_ed25519_key");
        let client_key = base.join("client_ed25519_key");
        keygen(&host_key, "ferry-test-host")?;
        keygen(&client_key, "ferry-test-client")?;
        let authorized = base.join("authorized_keys");
        fs::copy(pub_path(&client_key), &authorized)?;
        let host_key_pub = fs::read_to_string(pub_path(&host_key))?.trim().to_owned();
        let root = base.join("root");
        fs::create_dir(&root)?;
        let user = current_user()?;
        let conf = base.join("sshd_config");
        let log = base.join("sshd.log");
        let (daemon, port) = daemon::on_free_port(|port| {
            fs::write(&conf, config_text(&base, &host_key, &authorized, &user))?;
            let mut cmd = Command::new(SSHD);
            cmd.arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&conf)
                .arg("-p")
                .arg(port.to_string());
            let mut d = Daemon::spawn("sshd", cmd, &log)
                .map_err(|e| daemon::not_installed_hint(e, "openssh-server"))?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            d.wait_ready(START_TIMEOUT, port, || ssh_banner(addr))?;
            Ok((d, port))
        })?;
        let known_hosts = base.join("known_hosts");
        let mut key_fields = host_key_pub.split_whitespace();
        let key = format!(
            "{} {}",
            key_fields.next().unwrap_or(""),
            key_fields.next().unwrap_or("")
        );
        fs::write(&known_hosts, format!("[127.0.0.1]:{port} {key}\n"))?;
        Ok(SftpServer {
            daemon,
            port,
            user,
            root,
            client_key,
            host_key_pub: key,
            known_hosts,
            dir,
        })
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The user to log in as (the user running the tests, `root` on CI).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// A fresh empty directory the SFTP user can write: an absolute path, the same on the server as here.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `sftp://USER@127.0.0.1:PORT/ABSOLUTE/ROOT`, e.g. `sftp://root@127.0.0.1:40123/dev/shm/ferry-sftp-x/root`
    /// (the URL path is the absolute path of [`root`](Self::root)).
    pub fn url(&self) -> String {
        format!(
            "sftp://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            self.root.display()
        )
    }

    /// The client's private key (OpenSSH format, ed25519, no passphrase).
    pub fn client_key_path(&self) -> &Path {
        &self.client_key
    }

    /// The client's public key file (`<client_key_path>.pub`).
    pub fn client_key_pub_path(&self) -> PathBuf {
        pub_path(&self.client_key)
    }

    /// The server's host key as `ssh-ed25519 AAAA…` (algorithm and base64, no comment).
    pub fn host_key_pub(&self) -> &str {
        &self.host_key_pub
    }

    /// A `known_hosts` file with the line `[127.0.0.1]:PORT ssh-ed25519 AAAA…`.
    pub fn known_hosts_path(&self) -> &Path {
        &self.known_hosts
    }

    /// sshd's log so far (`-e`, `LogLevel VERBOSE`: connections, authentications, sftp sessions).
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// The listening sshd's process id.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// The temp dir holding keys, config, log and the root.
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Run the OpenSSH `sftp` client in batch mode against this server (for tests of the harness itself,
    /// or to prepare data the way another client would). Fails with its output when a command fails.
    pub fn sftp_batch(&self, commands: &str) -> io::Result<String> {
        let batch = self.dir.path().join("batch.sftp");
        fs::write(&batch, commands)?;
        let out = Command::new("sftp")
            .arg("-b")
            .arg(&batch)
            .arg("-i")
            .arg(&self.client_key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
            .arg("-P")
            .arg(self.port.to_string())
            .arg(format!("{}@127.0.0.1", self.user))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| daemon::not_installed_hint(e, "openssh-client"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(io::Error::other(format!(
                "sftp -b failed with {}: {text}\nsshd log:\n{}",
                out.status,
                daemon::tail(&self.log(), 20)
            )))
        }
    }
}

fn config_text(base: &Path, host_key: &Path, authorized: &Path, user: &str) -> String {
    format!(
        "# Written by ferry-testkit for one test; see crates/testkit/src/sftp.rs.
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {pid}
AuthorizedKeysFile {authorized}
AllowUsers {user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin yes
UseDNS no
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp internal-sftp
LogLevel VERBOSE
",
        host_key = host_key.display(),
        pid = base.join("sshd.pid").display(),
        authorized = authorized.display(),
    )
}

fn pub_path(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn keygen(path: &Path, comment: &str) -> io::Result<()> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| daemon::not_installed_hint(e, "openssh-client"))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ssh-keygen for {} failed with {}: {}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

fn current_user() -> io::Result<String> {
    let out = Command::new("id")
        .arg("-un")
        .stdin(Stdio::null())
        .output()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || name.is_empty() {
        return Err(io::Error::other("`id -un` did not name the current user"));
    }
    Ok(name)
}

fn ssh_banner(addr: SocketAddr) -> Probe {
    let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return Probe::NotYet;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    match BufReader::new(s).read_line(&mut line) {
        Ok(_) if line.starts_with("SSH-2.0-") => Probe::Ready,
        _ => Probe::NotYet,
    }
}
