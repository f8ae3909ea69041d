//! PostgreSQL for tests: a database of its own for each test, in the private cluster `scripts/test.sh`
//! starts for the run (issue 12 §2).
//!
//! The script runs `initdb` and `pg_ctl` (as the `postgres` user: PostgreSQL refuses to run as root) in a
//! temp dir on a free loopback port and exports the cluster's URL as [`URL_ENV`]
//! (`postgres://postgres@127.0.0.1:PORT/postgres`, trust authentication on loopback). [`TestDatabase::create`]
//! makes a database with a fresh random name there and drops it (with its connections) when the value is
//! dropped; without a cluster it returns `None` after printing why, so a PostgreSQL test is a reported
//! skip, never a silent pass — and under `CI=true` an error, so CI never skips them. Databases are made and dropped with `psql` (from `postgresql-client`).
//!
//! ```no_run
//! let Some(db) = ferry_testkit::postgres::TestDatabase::create("store_suite")? else { return Ok(()) };
//! // ... connect to db.url() ...
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::process::Command;

/// The environment variable holding the test cluster's URL (an admin connection to any database).
pub const URL_ENV: &str = "FERRY_TEST_POSTGRES";

/// A database of one test; dropped with the value.
#[derive(Debug)]
pub struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// A new empty database for `test` (a label kept in the name, for finding leftovers), or `None` with a
    /// printed reason when no cluster is configured.
    pub fn create(test: &str) -> io::Result<Option<TestDatabase>> {
        let Some(admin) = std::env::var(URL_ENV).ok().filter(|u| !u.trim().is_empty()) else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{test}: CI=true but {URL_ENV} is not set: PostgreSQL tests must run in CI (run scripts/test.sh)"
                    ),
                ));
            }
            eprintln!(
                "SKIPPED {test}: no PostgreSQL for tests ({URL_ENV} is not set; scripts/test.sh starts a private cluster and sets it)"
            );
            return Ok(None);
        };
        let label: String = test
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!(
            "ferry_{label}_{}_{:016x}",
            std::process::id(),
            fastrand::u64(..)
        );
        let mut url = url::Url::parse(&admin).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{URL_ENV} is not a URL: {e}"),
            )
        })?;
        url.set_path(&format!("/{name}"));
        psql(&admin, &format!("CREATE DATABASE \"{name}\""))?;
        Ok(Some(TestDatabase {
            admin,
            name,
            url: url.to_string(),
        }))
    }

    /// The URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run one SQL statement in this database with `psql`; its output, unaligned (`-At`).
    pub fn psql(&self, sql: &str) -> io::Result<String> {
        psql(&self.url, sql)
    }

    /// Whether a database of this name exists in the cluster.
    pub fn exists_in_cluster(name: &str) -> io::Result<bool> {
        let admin = std::env::var(URL_ENV).map_err(|_| {
            io::Error::new(io::ErrorKind::NotFound, format!("{URL_ENV} is not set"))
        })?;
        let out = psql(
            &admin,
            &format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{}'",
                name.replace('\'', "''")
            ),
        )?;
        Ok(out.trim() == "1")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        ) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

fn psql(url: &str, sql: &str) -> io::Result<String> {
    let out = Command::new("psql")
        .args([
            url,
            "-v",
            "ON_ERROR_STOP=1",
            "-X",
            "-q",
            "-A",
            "-t",
            "-c",
            sql,
        ])
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run psql (install postgresql-client): {e}"),
            )
        })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "psql failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
