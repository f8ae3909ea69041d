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
}

pub async fn run_mapping(ctx: &Ctx, c: &Client, m: MappingCmd) -> Result<Value> {
    let path = format!("{}/mappings", m.sel.path(c).await?);
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
