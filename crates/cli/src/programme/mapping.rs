//! `ferry mapping`, `ferry assess`: what a project moves, and the assessment of its sources.

use super::{ProjectSel, emit, emit_change, txt};
use crate::Ctx;
use crate::client::Client;
use crate::format::Table;
use clap::{Args, Subcommand};
use ferry_core::{Error, Result};
use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;

// --- mappings ---------------------------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct MappingCmd {
    #[command(flatten)]
    sel: ProjectSel,
    #[command(subcommand)]
    cmd: MappingCommand,
}

#[derive(Subcommand, Debug)]
pub enum MappingCommand {
    /// Import a mapping CSV: all rows or none; a bad row is an error naming its line and field. Mail:
    /// `EmailAddress,UserName,Password[,UserRoot][,TargetUserName,TargetPassword]` (passwords are stored
    /// encrypted); files: `Source,SourceDocLib,SourceSubFolder,TargetWeb,TargetDocLib,TargetSubFolder`.
    Import {
        /// The CSV file (`-` for standard input).
        file: PathBuf,
    },
    /// The project's mappings.
    List,
    /// Correct a mail mapping: its source password, target login or UserRoot. Passwords are read from
    /// standard input, never from a flag. A changed credential gives the mapping fresh attempts: then
    /// `ferry event retry` or a new event runs it. (Importing a CSV again corrects the rows it names too.)
    Update {
        /// The mapping: its id or label (the e-mail address).
        mapping: String,
        /// Read the source mailbox's new password from standard input (one line).
        #[arg(long, conflicts_with = "target_password_stdin")]
        password_stdin: bool,
        /// The target login (TargetUserName); "" to log in through the target endpoint's admin again.
        #[arg(long, value_name = "LOGIN")]
        target_user: Option<String>,
        /// Read the target login's new password from standard input (one line).
        #[arg(long)]
        target_password_stdin: bool,
        /// Only folders under this source folder (UserRoot); "" for the whole mailbox.
        #[arg(long, value_name = "FOLDER")]
        user_root: Option<String>,
    },
    /// Remove a mapping (refused while it is in a running event, or when it has tickets). What was copied
    /// stays on the target; the audit log keeps the record.
    Remove {
        /// The mapping: its id or label.
        mapping: String,
    },
}

pub async fn run_mapping(ctx: &Ctx, c: &Client, m: MappingCmd) -> Result<Value> {
    let project = m.sel.path(c).await?;
    let path = format!("{project}/mappings");
    match m.cmd {
        MappingCommand::Import { file } => {
            let csv = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| Error::config(format!("cannot read standard input: {e}")))?;
                s
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| Error::config(format!("cannot read {}: {e}", file.display())))?
            };
            let v = c.post(&path, json!({ "csv": csv })).await?;
            emit_change(ctx, v, |r| {
                println!("Imported {} mappings.", txt(&r["imported"]));
                if r["added"] != r["imported"] && r["added"].is_number() {
                    println!(
                        "  {} added, {} corrected, {} unchanged.",
                        txt(&r["added"]),
                        txt(&r["updated"]),
                        txt(&r["unchanged"])
                    );
                }
                for u in r["changes"].as_array().into_iter().flatten() {
                    println!("  {}: {} changed", txt(&u["label"]), txt(&u["changed"]));
                }
            })
        }
        MappingCommand::Update {
            mapping,
            password_stdin,
            target_user,
            target_password_stdin,
            user_root,
        } => {
            let id = one_mapping(c, &project, &mapping).await?;
            let mut body = serde_json::Map::new();
            if password_stdin {
                body.insert(
                    "password".into(),
                    json!(super::endpoint::read_secret(true)?),
                );
            }
            if target_password_stdin {
                body.insert(
                    "target_password".into(),
                    json!(super::endpoint::read_secret(true)?),
                );
            }
            if let Some(u) = target_user {
                body.insert("target_user".into(), json!(u));
            }
            if let Some(r) = user_root {
                body.insert("user_root".into(), json!(r));
            }
            if body.is_empty() {
                return Err(Error::config(
                    "nothing to change: give --password-stdin, --target-user, --target-password-stdin or --user-root",
                ));
            }
            let v = c
                .patch(&format!("{path}/{id}"), Value::Object(body))
                .await?;
            emit_change(ctx, v, |r| {
                let changed = r["changed"].as_array().map(Vec::len).unwrap_or(0);
                if changed == 0 {
                    println!("{}: nothing changed.", txt(&r["label"]));
                } else {
                    println!("{}: {} changed.", txt(&r["label"]), txt(&r["changed"]));
                }
                if let Some(n) = r["note"].as_str() {
                    println!("  {n}");
                }
            })
        }
        MappingCommand::Remove { mapping } => {
            let id = one_mapping(c, &project, &mapping).await?;
            let v = c.delete(&format!("{path}/{id}")).await?;
            emit_change(ctx, v, |r| {
                println!("Removed {}.", txt(&r["label"]));
            })
        }
        MappingCommand::List => {
            let v = c.get(&path).await?;
            emit(ctx, v, |v| {
                let mut t = Table::new(&["Id", "Line", "Label", "Source", "Target"]);
                for x in v["mappings"].as_array().into_iter().flatten() {
                    t.row(vec![
                        txt(&x["id"]),
                        txt(&x["line"]),
                        txt(&x["label"]),
                        txt(&x["source"]),
                        txt(&x["target"]),
                    ]);
                }
                print!("{}", t.render());
            })
        }
    }
}

/// The id of one mapping named by id or label.
async fn one_mapping(c: &Client, project: &str, wanted: &str) -> Result<String> {
    let ids = super::event::mapping_ids(c, project, &[wanted.to_string()], false).await?;
    ids.into_iter().next().ok_or_else(|| {
        Error::config(format!(
            "no mapping {wanted:?}: `ferry mapping list` shows them"
        ))
    })
}

// --- assessments ------------------------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct AssessCmd {
    #[command(flatten)]
    sel: ProjectSel,
    #[command(subcommand)]
    cmd: AssessCommand,
}

#[derive(Subcommand, Debug)]
pub enum AssessCommand {
    /// Run an assessment: discover each mapping's source (counts, sizes, folders or trees; read-only) and
    /// apply the pre-flight rules. Waits for it and prints the readiness report per mapping.
    Run {
        /// Start it and return at once (`ferry assess show` prints the report when it is done).
        #[arg(long)]
        no_wait: bool,
    },
    /// The latest assessment's readiness report.
    Show,
}

pub async fn run_assess(ctx: &Ctx, c: &Client, a: AssessCmd) -> Result<Value> {
    let path = format!("{}/assessments", a.sel.path(c).await?);
    match a.cmd {
        AssessCommand::Run { no_wait } => {
            let started = c.post(&path, json!({})).await?;
            if no_wait {
                return emit_change(ctx, started, |r| {
                    println!(
                        "Assessment {} started for {} mappings; `ferry assess show` prints its report when it is done.",
                        txt(&r["assessment"]),
                        txt(&r["mappings"])
                    );
                });
            }
            let mut pause = std::time::Duration::from_millis(100);
            let latest = loop {
                let v = c.get(&format!("{path}/latest")).await?;
                if v["assessment"]["status"].as_str() != Some("running") {
                    break v;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
            };
            emit(ctx, latest, print_assessment)
        }
        AssessCommand::Show => {
            let v = c.get(&format!("{path}/latest")).await?;
            emit(ctx, v, print_assessment)
        }
    }
}

/// Findings shown per mapping before "… and N more".
const FINDINGS_SHOWN: usize = 10;

/// A readiness report: the verdict, one row per mapping, then the findings.
pub fn print_assessment(v: &Value) {
    let a = &v["assessment"];
    let r = &v["report"];
    let verdict = match (a["status"].as_str(), r["ready"].as_bool()) {
        (Some("running"), _) => "running".to_string(),
        (_, Some(true)) => "ready: every mapping passed the pre-flight rules".to_string(),
        (_, Some(false)) => "not ready: see the findings".to_string(),
        (s, None) => s.unwrap_or("unknown").to_string(),
    };
    println!(
        "Assessment {} ({}): {verdict}",
        txt(&a["id"]),
        txt(&a["status"])
    );
    for k in ["reason", "note"] {
        if let Some(t) = a[k].as_str() {
            println!("  {t}");
        }
    }
    if let Some(n) = r["notice"].as_str() {
        println!("  {n}");
    }
    let Some(maps) = r["mappings"].as_array() else {
        return;
    };
    let mut t = Table::new(&["Mapping", "Ready", "Items", "Size", "Findings"]);
    for m in maps {
        let inv = &m["inventory"];
        let items = ["messages", "files"]
            .iter()
            .map(|k| &inv[*k])
            .find(|x| x.is_number())
            .map(txt)
            .unwrap_or_else(|| "-".into());
        let bytes = inv["bytes"]
            .as_u64()
            .map(crate::format::human_bytes)
            .unwrap_or_else(|| "-".into());
        t.row(vec![
            txt(&m["label"]),
            txt(&m["ready"]),
            items,
            bytes,
            m["findings"].as_array().map_or(0, Vec::len).to_string(),
        ]);
    }
    print!("{}", t.render());
    for m in maps {
        if let Some(e) = m["error"].as_str() {
            println!("  {}: {e}", txt(&m["label"]));
        }
        let findings = m["findings"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        for f in findings.iter().take(FINDINGS_SHOWN) {
            let what = f["detail"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| f.to_string());
            let path = f["path"]
                .as_str()
                .map(|p| format!(" {p}"))
                .unwrap_or_default();
            println!("  {}: {}{path} — {what}", txt(&m["label"]), txt(&f["rule"]));
        }
        if findings.len() > FINDINGS_SHOWN {
            println!(
                "  {}: … and {} more (--json shows them all)",
                txt(&m["label"]),
                findings.len() - FINDINGS_SHOWN
            );
        }
    }
}
