//! `ferry ticket`: post-migration issues against a mapping, within the reporting window after its event.

use super::event::mapping_ids;
use super::names::{Names, human_names};
use super::{ProjectSel, emit, emit_change, is_id, txt, when};
use crate::Ctx;
use crate::client::Client;
use crate::format::Table;
use clap::{Args, Subcommand, ValueEnum};
use ferry_core::{Error, Result};
use serde_json::{Value, json};

#[derive(Args, Debug)]
pub struct TicketCmd {
    #[command(flatten)]
    sel: ProjectSel,
    #[command(subcommand)]
    cmd: TicketCommand,
}

#[derive(Subcommand, Debug)]
pub enum TicketCommand {
    /// Report a post-migration issue against a mapping; accepted within 5 days after its event completed.
    Create {
        /// The mapping (id or label).
        #[arg(long, value_name = "ID|LABEL")]
        mapping: String,
        /// One line saying what is wrong.
        #[arg(long)]
        title: String,
        /// More detail.
        #[arg(long, default_value = "")]
        body: String,
    },
    /// The project's tickets.
    List,
    /// Comment on, resolve or reopen a ticket.
    Update {
        /// The ticket id.
        ticket: String,
        #[arg(long, value_enum)]
        status: Option<TicketStatus>,
        /// A comment to append.
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TicketStatus {
    Open,
    Resolved,
}

pub async fn run_ticket(ctx: &Ctx, c: &Client, t: TicketCmd) -> Result<Value> {
    let project = t.sel.path(c).await?;
    let path = format!("{project}/tickets");
    match t.cmd {
        TicketCommand::Create {
            mapping,
            title,
            body,
        } => {
            let id = mapping_ids(c, &project, &[mapping], false)
                .await?
                .into_iter()
                .next()
                .unwrap_or_default();
            let v = c
                .post(
                    &path,
                    json!({ "mapping": id, "title": title, "body": body }),
                )
                .await?;
            emit_change(ctx, v, |r| {
                println!(
                    "Ticket {} is {}: {}.",
                    txt(&r["id"]),
                    txt(&r["status"]),
                    txt(&r["title"])
                );
            })
        }
        TicketCommand::List => {
            let v = c.get(&path).await?;
            let names = human_names(ctx, Names::of_project(c, &project)).await?;
            emit(ctx, v, |v| {
                let mut t = Table::new(&["Id", "Mapping", "Status", "Title", "Reported"]);
                for x in v["tickets"].as_array().into_iter().flatten() {
                    t.row(vec![
                        txt(&x["id"]),
                        names.bare(&txt(&x["mapping"])),
                        txt(&x["status"]),
                        txt(&x["title"]),
                        when(&x["created_at"]),
                    ]);
                }
                print!("{}", t.render());
            })
        }
        TicketCommand::Update {
            ticket,
            status,
            comment,
        } => {
            if status.is_none() && comment.is_none() {
                return Err(Error::config(
                    "nothing to change: give --status open|resolved or --comment TEXT",
                ));
            }
            if !is_id(&ticket) {
                return Err(Error::config(format!(
                    "{ticket:?} is not a ticket id: `ferry ticket list` shows them"
                )));
            }
            let status = status.map(|s| match s {
                TicketStatus::Open => "open",
                TicketStatus::Resolved => "resolved",
            });
            let v = c
                .patch(
                    &format!("{path}/{}", ticket.trim()),
                    json!({ "status": status, "comment": comment }),
                )
                .await?;
            emit_change(ctx, v, |r| {
                println!("Ticket {} is {}.", txt(&r["id"]), txt(&r["status"]));
            })
        }
    }
}
