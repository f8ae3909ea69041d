//! How each file mover is invoked: Ferry, `rclone copy` and `cp -a`, all as one process each.
//!
//! Every tool gets the same source and a fresh, empty target of its own. Ferry and rclone get the same
//! concurrency (`--concurrency N` / `--transfers N --checkers N`) unless `--rclone-defaults` asks for
//! rclone's own defaults (4 transfers, 8 checkers). rclone runs with an empty config file of its own, so
//! it never reads `~/.config/rclone`.

use crate::measure::Spec;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Which mover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    Ferry,
    Rclone,
    Cp,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Ferry => "ferry",
            Tool::Rclone => "rclone",
            Tool::Cp => "cp",
        }
    }
}

/// Where a tool writes.
#[derive(Clone, Debug)]
pub enum Target {
    /// A local directory (created empty beforehand by the caller for `cp`).
    Local(PathBuf),
    /// `rclone serve webdav` on 127.0.0.1:PORT, serving its root.
    WebDav(u16),
}

/// Shared settings of every invocation.
pub struct Movers<'a> {
    pub ferry: &'a Path,
    pub rclone: &'a Path,
    pub concurrency: usize,
    /// Use rclone's default `--transfers`/`--checkers` instead of matching Ferry's concurrency.
    pub rclone_defaults: bool,
    pub ferry_args: &'a [String],
    pub rclone_args: &'a [String],
    /// Empty rclone config file.
    pub rclone_config: &'a Path,
}

impl Movers<'_> {
    /// The command for `tool` copying `source` to `target`; `data` is Ferry's `--data` dir (kept between
    /// the copy and the no-op re-run); logs go to `logs` as `TOOL-PHASE.{out,log}`.
    pub fn spec(
        &self,
        tool: Tool,
        source: &Path,
        target: &Target,
        data: &Path,
        logs: &Path,
        phase: &str,
    ) -> Spec {
        let mut args: Vec<OsString> = Vec::new();
        let program = match tool {
            Tool::Ferry => {
                args.extend([
                    "--data".into(),
                    data.into(),
                    "--json".into(),
                    "files".into(),
                    "migrate".into(),
                    source.into(),
                ]);
                args.push(match target {
                    Target::Local(p) => p.into(),
                    Target::WebDav(port) => format!("webdav://127.0.0.1:{port}/").into(),
                });
                args.extend(["--concurrency".into(), self.concurrency.to_string().into()]);
                args.extend(self.ferry_args.iter().map(Into::into));
                self.ferry.to_path_buf()
            }
            Tool::Rclone => {
                args.extend(["copy".into(), source.into()]);
                match target {
                    Target::Local(p) => args.push(p.into()),
                    Target::WebDav(port) => args.extend([
                        ":webdav:".into(),
                        "--webdav-url".into(),
                        format!("http://127.0.0.1:{port}/").into(),
                    ]),
                }
                args.push("--config".into());
                args.push(self.rclone_config.into());
                if !self.rclone_defaults {
                    let n = self.concurrency.to_string();
                    args.extend([
                        "--transfers".into(),
                        n.clone().into(),
                        "--checkers".into(),
                        n.into(),
                    ]);
                }
                args.extend(self.rclone_args.iter().map(Into::into));
                self.rclone.to_path_buf()
            }
            Tool::Cp => {
                let Target::Local(p) = target else {
                    unreachable!("cp -a is only run local→local")
                };
                // `SRC/.` into an existing DST: the tree's contents, not a nested SRC folder.
                args.extend(["-a".into(), source.join(".").into(), p.into()]);
                PathBuf::from("cp")
            }
        };
        Spec {
            label: format!("{} {phase}", tool.name()),
            program,
            args,
            env: vec![],
            env_remove: vec![
                "FERRY_DATA".into(),
                "FERRY_SOURCE_PASSWORD".into(),
                "FERRY_TARGET_PASSWORD".into(),
                "RCLONE_CONFIG".into(),
            ],
            stdout: logs.join(format!("{}-{phase}.out", tool.name())),
            stderr: logs.join(format!("{}-{phase}.log", tool.name())),
        }
    }

    /// How rclone was told to run, for the table header.
    pub fn rclone_settings(&self) -> String {
        if self.rclone_defaults {
            "rclone defaults (--transfers 4 --checkers 8)".into()
        } else {
            format!(
                "rclone --transfers {n} --checkers {n}",
                n = self.concurrency
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rclone_to_webdav_uses_the_on_the_fly_remote_and_matches_ferry_concurrency() {
        let m = Movers {
            ferry: Path::new("ferry"),
            rclone: Path::new("rclone"),
            concurrency: 16,
            rclone_defaults: false,
            ferry_args: &[],
            rclone_args: &[],
            rclone_config: Path::new("/tmp/rclone.conf"),
        };
        let s = m.spec(
            Tool::Rclone,
            Path::new("/src"),
            &Target::WebDav(8080),
            Path::new("/d"),
            Path::new("/l"),
            "copy",
        );
        let args: Vec<String> = s
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "copy",
                "/src",
                ":webdav:",
                "--webdav-url",
                "http://127.0.0.1:8080/",
                "--config",
                "/tmp/rclone.conf",
                "--transfers",
                "16",
                "--checkers",
                "16"
            ]
        );
        let f = m.spec(
            Tool::Ferry,
            Path::new("/src"),
            &Target::WebDav(8080),
            Path::new("/d"),
            Path::new("/l"),
            "copy",
        );
        assert!(f.args.iter().any(|a| a == "webdav://127.0.0.1:8080/"));
    }
}
