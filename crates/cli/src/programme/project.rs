//! `ferry project`, `ferry task`, `ferry gate`: a project, the work recorded against it, and the gates
//! that must be met before its events.

use super::{ProjectSel, emit, emit_change, txt, when};
use crate::Ctx;
use crate::client::Client;
use crate::format::Table;
use clap::{Args, Subcommand, ValueEnum};
use ferry_core::Result;
use serde_json::{Value, json};

// --- projects ---------------------------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct ProjectCmd {
    #[command(flatten)]
    sel: ProjectSel,
    #[command(subcommand)]
    cmd: ProjectCommand,
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// Create a project for one workload; refused when the tenant is not eligible. Its gates start open.
    Create {
        /// The project's name.
        name: String,
        #[arg(long, value_enum)]
        workload: WorkloadArg,
        /// What the mail comes from: on-premises Exchange adds the hybrid-configuration gate.
        #[arg(long, value_enum, default_value = "other")]
        source_system: SourceSystemArg,
    },
    /// The tenant's projects.
    List,
    /// One project: state, open gates, and the self-service notice when it applies.
    Show,
    /// Rename the project.
    Rename {
        /// The new name.
        name: String,
    },
    /// Resume a paused project: needs credentials supplied again and a confirmed schedule (an event
    /// scheduled ahead).
    Resume,
    /// Close the project: stops its workers, purges its credentials and caches, archives the final report.
    Close,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum WorkloadArg {
    /// Mailboxes (IMAP, Maildir, mbox sources).
    Mail,
    /// File trees (paths, WebDAV, SFTP, S3).
    Files,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SourceSystemArg {
    /// Exchange Server in the customer's data centre.
    ExchangeOnPremises,
    /// Anything else.
    Other,
}

fn value_name<T: ValueEnum>(v: T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().replace('-', "_"))
        .unwrap_or_default()
}

pub async fn run_project(ctx: &Ctx, c: &Client, p: ProjectCmd) -> Result<Value> {
    match p.cmd {
        ProjectCommand::Create {
            name,
            workload,
            source_system,
        } => {
            let path = format!("{}/projects", p.sel.tenant.path(c).await?);
            let body = json!({ "name": name, "workload": value_name(workload), "source_system": value_name(source_system) });
            let v = c.post(&path, body).await?;
            emit_change(ctx, v, |r| {
                println!(
                    "Created {} project {} ({}), state {}.",
                    txt(&r["workload"]),
                    txt(&r["name"]),
                    txt(&r["id"]),
                    txt(&r["state"])
                );
                print_gates_line(r);
                print_notice(r);
            })
        }
        ProjectCommand::List => {
            let path = format!("{}/projects", p.sel.tenant.path(c).await?);
            let v = c.get(&path).await?;
            emit(ctx, v, |v| {
                let mut t = Table::new(&["Id", "Name", "Workload", "State", "Open gates"]);
                for x in v["projects"].as_array().into_iter().flatten() {
                    t.row(vec![
                        txt(&x["id"]),
                        txt(&x["name"]),
                        txt(&x["workload"]),
                        txt(&x["state"]),
                        x["open_gates"].as_array().map_or(0, Vec::len).to_string(),
                    ]);
                }
                print!("{}", t.render());
            })
        }
        ProjectCommand::Show => {
            let v = c.get(&p.sel.path(c).await?).await?;
            emit(ctx, v, |r| {
                println!(
                    "Project {} ({}): {} workload, state {}",
                    txt(&r["name"]),
                    txt(&r["id"]),
                    txt(&r["workload"]),
                    txt(&r["state"])
                );
                println!(
                    "  source system {}, last progress {}",
                    txt(&r["source_system"]),
                    when(&r["last_progress"])
                );
                if !r["paused_since"].is_null() {
                    println!(
                        "  paused since {} (was {})",
                        when(&r["paused_since"]),
                        txt(&r["paused_from"])
                    );
                }
                print_gates_line(r);
                print_notice(r);
            })
        }
        ProjectCommand::Rename { name } => {
            let v = c
                .patch(&p.sel.path(c).await?, json!({ "name": name }))
                .await?;
            emit_change(ctx, v, |r| {
                println!("The project is now called {}.", txt(&r["name"]));
            })
        }
        ProjectCommand::Resume => {
            let v = c
                .post(&format!("{}/resume", p.sel.path(c).await?), json!({}))
                .await?;
            emit_change(ctx, v, |r| {
                println!(
                    "Project {} resumed: state {}.",
                    txt(&r["name"]),
                    txt(&r["state"])
                );
            })
        }
        ProjectCommand::Close => {
            let v = c
                .post(&format!("{}/close", p.sel.path(c).await?), json!({}))
                .await?;
            emit_change(ctx, v, |r| {
                println!(
                    "Project {} closed: credentials purged, final report archived.",
                    txt(&r["name"])
                );
            })
        }
    }
}

fn print_gates_line(r: &Value) {
    match r["open_gates"].as_array() {
        Some(g) if !g.is_empty() => println!(
            "  open gates ({}): {} — confirm them with `ferry gate confirm`",
            g.len(),
            txt(&r["open_gates"])
        ),
        _ => println!("  every gate is confirmed"),
    }
}

fn print_notice(r: &Value) {
    if let Some(n) = r["notice"].as_str() {
        println!("  {n}");
    }
}

// --- tasks ------------------------------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct TaskCmd {
    #[command(flatten)]
    sel: ProjectSel,
    #[command(subcommand)]
    cmd: TaskCommand,
}

#[derive(Subcommand, Debug)]
pub enum TaskCommand {
    /// Record a task. In scope: guidance, tooling, data move. Beyond scope (project management,
    /// workstation preparation, remediation, …) is refused without --agreement.
    Record {
        /// What was done, e.g. "guidance" or "remediation".
        task: String,
        /// The services-agreement reference covering beyond-scope work.
        #[arg(long, value_name = "REF")]
        agreement: Option<String>,
    },
    /// Tasks recorded against the project.
    List,
}

pub async fn run_task(ctx: &Ctx, c: &Client, t: TaskCmd) -> Result<Value> {
    let path = format!("{}/tasks", t.sel.path(c).await?);
    match t.cmd {
        TaskCommand::Record { task, agreement } => {
            let v = c
                .post(&path, json!({ "task": task, "agreement": agreement }))
                .await?;
            emit_change(ctx, v, |r| {
                let scope = if r["in_scope"].as_bool() == Some(true) {
                    "in scope".to_string()
                } else {
                    format!(
                        "beyond scope, covered by {}",
                        txt(&r["decision"]["agreement"])
                    )
                };
                println!("Recorded task {}: {scope}.", txt(&r["task"]));
            })
        }
        TaskCommand::List => {
            let v = c.get(&path).await?;
            emit(ctx, v, |v| {
                let mut t = Table::new(&["Task", "In scope", "Agreement", "Recorded"]);
                for x in v["tasks"].as_array().into_iter().flatten() {
                    t.row(vec![
                        txt(&x["task"]),
                        txt(&x["in_scope"]),
                        txt(&x["agreement"]),
                        when(&x["created_at"]),
                    ]);
                }
                print!("{}", t.render());
            })
        }
    }
}

// --- gates ------------------------------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct GateCmd {
    #[command(flatten)]
    sel: ProjectSel,
    #[command(subcommand)]
    cmd: GateCommand,
}

#[derive(Subcommand, Debug)]
pub enum GateCommand {
    /// The project's gates: open, or confirmed by whom and when.
    List,
    /// Confirm gates (names as `ferry gate list` shows them, e.g. core_onboarding); records who and when.
    Confirm {
        /// The gates to confirm.
        #[arg(required_unless_present = "all")]
        gates: Vec<String>,
        /// Confirm every open gate.
        #[arg(long, conflicts_with = "gates")]
        all: bool,
    },
    /// The targets_provisioned gate's check: log in to every mapping's target mailbox, or open every
    /// mapping's target OneDrive, library or share (read-only), and list the missing and refused ones,
    /// before you confirm the gate. Changes nothing.
    Check,
}

pub async fn run_gate(ctx: &Ctx, c: &Client, g: GateCmd) -> Result<Value> {
    let path = format!("{}/gates", g.sel.path(c).await?);
    match g.cmd {
        GateCommand::List => {
            let v = c.get(&path).await?;
            emit(ctx, v, |v| {
                let mut t = Table::new(&["Gate", "Title", "Status", "Confirmed by", "At"]);
                for x in v["gates"].as_array().into_iter().flatten() {
                    let met = x["met"].as_bool() == Some(true);
                    t.row(vec![
                        txt(&x["kind"]),
                        txt(&x["title"]),
                        if met { "confirmed" } else { "open" }.into(),
                        txt(&x["confirmed_by"]),
                        when(&x["confirmed_at"]),
                    ]);
                }
                print!("{}", t.render());
            })
        }
        GateCommand::Check => {
            let v = c
                .post(&format!("{path}/targets_provisioned/check"), json!({}))
                .await?;
            emit(ctx, v, |v| {
                let rows = v["mappings"].as_array().cloned().unwrap_or_default();
                // Mail projects check mailboxes, files projects drives and libraries.
                let files = rows.iter().any(|x| x.get("drive").is_some());
                let (head, what) = if files {
                    ("Target", "target drives and folders")
                } else {
                    ("Mailbox", "target mailboxes")
                };
                let mut t = Table::new(&[head, "Status", "Detail"]);
                for x in &rows {
                    let name = if files { &x["drive"] } else { &x["mailbox"] };
                    t.row(vec![txt(name), txt(&x["status"]), txt(&x["detail"])]);
                }
                print!("{}", t.render());
                println!(
                    "{} of {} {what} active; {} missing or refused.",
                    txt(&v["active"]),
                    txt(&v["checked"]),
                    txt(&v["problems"])
                );
            })
        }
        GateCommand::Confirm { gates, all } => {
            let names: Vec<String> = if all {
                let v = c.get(&path).await?;
                v["gates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|x| x["met"].as_bool() != Some(true))
                    .map(|x| txt(&x["kind"]))
                    .collect()
            } else {
                gates
                    .iter()
                    .map(|g| g.trim().replace(['-', ' '], "_"))
                    .collect()
            };
            let mut answers = Vec::new();
            for name in &names {
                answers.push(c.post(&format!("{path}/{name}/confirm"), json!({})).await?);
            }
            emit(ctx, Value::Array(answers), |v| {
                if names.is_empty() {
                    println!("Every gate was confirmed already.");
                }
                for a in v.as_array().into_iter().flatten() {
                    let r = &a["result"];
                    let how = if r["changed"].as_bool() == Some(false) {
                        "was confirmed already"
                    } else {
                        "confirmed"
                    };
                    println!(
                        "Gate {} {how} at {} (transaction {}).",
                        txt(&r["kind"]),
                        when(&r["confirmed_at"]),
                        txt(&a["transaction"]["id"])
                    );
                }
            })
        }
    }
}
