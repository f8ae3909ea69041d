//! How each mover is invoked: Ferry as one process for all users, mbsync as one process per user.
//!
//! Both get the same source, an identical fresh target, the same users and plain IMAP on loopback. Ferry
//! logs in to the target as the master user acting for each user (`--target-admin`, its multi-user mode);
//! mbsync logs in as each user, which is how its users run it.

use crate::corpus::{password, user_name};
use crate::measure::Spec;
use ferry_testkit::Dovecot;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// `127.0.0.1` and the port of a test server; anything else is refused (the benchmark never leaves
/// loopback).
fn loopback_port(server: &Dovecot) -> io::Result<u16> {
    let addr = server.addr();
    if !addr.ip().is_loopback() {
        return Err(io::Error::other(format!(
            "refusing to benchmark against non-loopback address {addr}"
        )));
    }
    Ok(addr.port())
}

/// Ferry's side of one run.
pub struct Ferry<'a> {
    pub bin: &'a Path,
    pub source: &'a Dovecot,
    pub target: &'a Dovecot,
    pub users: usize,
    pub concurrency: usize,
    pub extra_args: &'a [String],
    /// Holds `users.csv` and, per run, the `--data` dir.
    pub dir: PathBuf,
}

impl Ferry<'_> {
    /// Write the Exchange-style mapping CSV (target mailbox = source user name).
    pub fn write_mapping(&self) -> io::Result<PathBuf> {
        let mut csv = String::from("EmailAddress,UserName,Password\n");
        for u in 0..self.users {
            let name = user_name(u);
            let _ = writeln!(csv, "{name},{name},{}", password(&name));
        }
        let path = self.dir.join("users.csv");
        fs::write(&path, csv)?;
        Ok(path)
    }

    /// `ferry --data DIR mail migrate --mapping users.csv --target-admin admin ... --json`; `phase` names
    /// the log files.
    pub fn spec(&self, mapping: &Path, phase: &str) -> io::Result<Spec> {
        let source = format!(
            "imap://127.0.0.1:{}?starttls=never",
            loopback_port(self.source)?
        );
        let target = format!(
            "imap://127.0.0.1:{}?starttls=never",
            loopback_port(self.target)?
        );
        let (admin, admin_pw) = Dovecot::master();
        let mut args: Vec<std::ffi::OsString> = vec![
            "--data".into(),
            self.dir.join("data").into(),
            "--json".into(),
            "mail".into(),
            "migrate".into(),
            "--source".into(),
            source.into(),
            "--target".into(),
            target.into(),
            "--mapping".into(),
            mapping.into(),
            "--target-admin".into(),
            admin.into(),
            "--concurrency".into(),
            self.concurrency.to_string().into(),
        ];
        args.extend(self.extra_args.iter().map(Into::into));
        Ok(Spec {
            label: format!("ferry {phase}"),
            program: self.bin.to_path_buf(),
            args,
            env: vec![("FERRY_TARGET_PASSWORD".into(), admin_pw.into())],
            env_remove: vec![
                "FERRY_SOURCE_PASSWORD".into(),
                "FERRY_DATA".into(),
                "FERRY_SOURCE_TOKEN".into(),
                "FERRY_TARGET_TOKEN".into(),
            ],
            stdout: self.dir.join(format!("ferry-{phase}.json")),
            stderr: self.dir.join(format!("ferry-{phase}.log")),
        })
    }
}

/// mbsync's side of one run: a config file and a sync-state dir per user.
pub struct Mbsync<'a> {
    pub bin: &'a Path,
    pub source: &'a Dovecot,
    pub target: &'a Dovecot,
    pub users: usize,
    pub dir: PathBuf,
}

impl Mbsync<'_> {
    /// Write one config per user; returns their paths.
    pub fn write_configs(&self) -> io::Result<Vec<PathBuf>> {
        let far = loopback_port(self.source)?;
        let near = loopback_port(self.target)?;
        (0..self.users)
            .map(|u| {
                let name = user_name(u);
                let state = self.dir.join(format!("state-{name}"));
                fs::create_dir_all(&state)?;
                let conf = self.dir.join(format!("mbsyncrc-{name}"));
                fs::write(&conf, config_text(&name, far, near, &state))?;
                Ok(conf)
            })
            .collect()
    }

    /// One `mbsync -c CONF -a` per user; `phase` names the log files.
    pub fn specs(&self, configs: &[PathBuf], phase: &str) -> Vec<Spec> {
        configs
            .iter()
            .enumerate()
            .map(|(u, conf)| {
                let name = user_name(u);
                Spec {
                    label: format!("mbsync {phase} {name}"),
                    program: self.bin.to_path_buf(),
                    args: vec!["-c".into(), conf.into(), "-a".into()],
                    env: vec![],
                    env_remove: vec![],
                    stdout: self.dir.join(format!("mbsync-{phase}-{name}.out")),
                    stderr: self.dir.join(format!("mbsync-{phase}-{name}.log")),
                }
            })
            .collect()
    }
}

/// The config the isync documentation describes for an IMAP-to-IMAP copy: pull everything, create
/// folders on the near side, never expunge, keep arrival dates, sync state in its own dir.
fn config_text(user: &str, far_port: u16, near_port: u16, state: &Path) -> String {
    let pw = password(user);
    let mut c = String::new();
    for (store, port) in [("far", far_port), ("near", near_port)] {
        let _ = write!(
            c,
            "IMAPStore {store}\nHost 127.0.0.1\nPort {port}\nUser {user}\nPass {pw}\n\
             AuthMechs LOGIN\nSSLType None\n\n"
        );
    }
    let _ = write!(
        c,
        "Channel copy\nFar :far:\nNear :near:\nPatterns *\nCreate Near\nSync Pull\nExpunge None\n\
         CopyArrivalDate yes\nSyncState {}/\n",
        state.display()
    );
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbsync_config_pulls_everything_into_the_near_store() {
        let text = config_text("user01@bench.test", 1143, 2143, Path::new("/tmp/s"));
        for line in [
            "IMAPStore far",
            "Port 1143",
            "IMAPStore near",
            "Port 2143",
            "Far :far:",
            "Near :near:",
            "Patterns *",
            "Create Near",
            "Sync Pull",
            "Expunge None",
            "CopyArrivalDate yes",
            "SyncState /tmp/s/",
            "SSLType None",
            "AuthMechs LOGIN",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
