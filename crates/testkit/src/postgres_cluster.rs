//! A PostgreSQL cluster of one test's own, for tests that stop and restart the database under running
//! `ferry` processes (issue 12 §4: "PostgreSQL restarted mid-run"): the shared cluster of
//! [`crate::postgres`] must never be restarted under the other tests.
//!
//! [`PgCluster::start`] runs `initdb` and `pg_ctl` from the newest `/usr/lib/postgresql/*/bin` in a temp
//! dir, on a free loopback port ([`crate::port::free_port`]) with trust authentication on loopback, its
//! socket in the temp dir, `fsync` off (test data) — as `scripts/pg-cluster.sh` does, and, like it, as the
//! `postgres` user when the test runs as root (PostgreSQL refuses to run as root). Without PostgreSQL's
//! server binaries it returns `None` after printing why (a reported skip), and under `CI=true` an error.
//! [`PgCluster::stop`] and [`PgCluster::start_again`] stop it (`-m fast`: sessions are cut, as in a real
//! restart) and start it again on the same port and data; the cluster is stopped and removed when the
//! value is dropped.
//!
//! ```no_run
//! let Some(pg) = ferry_testkit::postgres_cluster::PgCluster::start("restart")? else { return Ok(()) };
//! // ... processes connect to pg.url() ...
//! pg.stop()?;
//! pg.start_again()?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A private PostgreSQL cluster; stopped and removed when dropped.
#[derive(Debug)]
pub struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PgCluster {
    /// Initialise and start a cluster for `test` (a label for messages), or `None` with a printed reason
    /// when PostgreSQL's server binaries are not installed (an error under `CI=true`).
    pub fn start(test: &str) -> io::Result<Option<PgCluster>> {
        let Some(bin) = server_bin() else {
            let why = "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin \
                       (sudo apt-get install -y postgresql postgresql-contrib)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{test}: CI=true but {why}"),
                ));
            }
            eprintln!("SKIPPED {test}: {why}");
            return Ok(None);
        };
        let dir = tempfile::Builder::new().prefix("ferry-pg-").tempdir()?;
        if is_root() {
            // The cluster's files must be the postgres user's (and its parent dir reachable by it).
            run(Command::new("chown").arg("postgres").arg(dir.path()))?;
        }
        let port = crate::port::free_port()?;
        let cluster = PgCluster { bin, dir, port };
        let data = cluster.data();
        let mut initdb = cluster.as_pg(&cluster.bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres"]);
        run(&mut initdb).map_err(|e| cluster.explain("initdb", e))?;
        cluster.start_again()?;
        Ok(Some(cluster))
    }

    /// The admin URL of the cluster's `postgres` database (`postgres://postgres@127.0.0.1:PORT/postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stop the server (`pg_ctl stop -m fast`: every session is cut, open transactions roll back) and
    /// wait until it is down.
    pub fn stop(&self) -> io::Result<()> {
        self.pg_ctl(&["-m", "fast", "-w", "-t", "60", "stop"])
    }

    /// Start the (stopped) server again on the same port and data, and wait until it accepts connections.
    pub fn start_again(&self) -> io::Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let log = log.to_string_lossy().into_owned();
        self.pg_ctl(&["-l", &log, "-w", "-t", "60", "-o", &opts, "start"])
    }

    /// Stop and start the server in one step (`pg_ctl restart -m fast`).
    pub fn restart(&self) -> io::Result<()> {
        self.stop()?;
        self.start_again()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self, args: &[&str]) -> io::Result<()> {
        let mut cmd = self.as_pg(&self.bin.join("pg_ctl"));
        cmd.arg("-D").arg(self.data()).args(args);
        run(&mut cmd)
            .map(|_| ())
            .map_err(|e| self.explain("pg_ctl", e))
    }

    /// `program`, run as the `postgres` user when this process is root.
    fn as_pg(&self, program: &Path) -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn explain(&self, what: &str, e: io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!(
                "{what} failed for the test cluster in {}: {e}\n--- server.log\n{}",
                self.dir.path().display(),
                self.log()
            ),
        )
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Immediately: nothing in a test cluster needs a clean shutdown. The temp dir goes with the value.
        let _ = self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }
}

/// The newest installed PostgreSQL's server binaries.
fn server_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // The effective uid, as `id -u` prints it; no libc call needed.
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{:?} exited with {}: {}{}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}
