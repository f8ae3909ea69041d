//! `ferry event`: schedule, change, cancel; launch, retry, approve; report, items.

use super::{ProjectSel, emit, emit_change, is_id, outline, parse_when, pick, txt, when};
use crate::Ctx;
use crate::client::Client;
use crate::format::Table;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use ferry_core::{Error, Result};
use serde_json::{Map, Value, json};

#[derive(Args, Debug)]
pub struct EventCmd {
    #[command(flatten)]
    sel: ProjectSel,
    #[command(subcommand)]
    cmd: EventCommand,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KindArg {
    /// An Initial pass per mapping, then Delta passes on a cadence (default every 24 h).
    Synchronization,
    /// The Final pass per mapping, which seals it.
    Completion,
}

impl KindArg {
    fn as_str(self) -> &'static str {
        match self {
            KindArg::Synchronization => "synchronization",
            KindArg::Completion => "completion",
        }
    }
}

/// Which mappings: `--mapping` (repeatable) or `--all-mappings`.
#[derive(Args, Debug)]
pub struct MappingChoice {
    /// A mapping by id or label (the e-mail address, or `/source → /target` for files); repeatable.
    #[arg(long = "mapping", value_name = "ID|LABEL")]
    mappings: Vec<String>,
    /// Every mapping of the project.
    #[arg(long, conflicts_with = "mappings")]
    all_mappings: bool,
}

#[derive(Subcommand, Debug)]
pub enum EventCommand {
    /// Schedule an event (customer roles). Refused, with the reason, when a gate is open, the start is
    /// inside the lead time (default 3 days; pilots may start now), outside the tenant's window, or the
    /// batch is too small.
    Create {
        /// The event's name.
        name: String,
        #[arg(long, value_enum)]
        kind: KindArg,
        /// A pilot event (no lead time).
        #[arg(long)]
        pilot: bool,
        /// When it starts: 2025-03-06T10:00:00Z, "2025-03-06 10:00" (UTC), now (a few seconds ahead), or
        /// +3d / +36h / +90m from now.
        #[arg(long, value_parser = parse_when, value_name = "WHEN")]
        start: DateTime<Utc>,
        #[command(flatten)]
        mappings: MappingChoice,
    },
    /// The project's events.
    List,
    /// One event with its mappings.
    Show {
        /// The event's id or name.
        event: String,
    },
    /// Change an event's name, start, pilot flag or mappings (the schedule policy is checked again; no
    /// mapping may be dropped after the cut-off).
    Change {
        /// The event's id or name.
        event: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = parse_when, value_name = "WHEN")]
        start: Option<DateTime<Utc>>,
        /// Make it a pilot (true) or not (false).
        #[arg(long, value_name = "true|false")]
        pilot: Option<bool>,
        /// Add a mapping (id or label); repeatable.
        #[arg(long, value_name = "ID|LABEL")]
        add: Vec<String>,
        /// Remove a mapping (id or label); repeatable.
        #[arg(long, value_name = "ID|LABEL")]
        remove: Vec<String>,
    },
    /// Cancel an event (its running passes stop).
    Cancel {
        /// The event's id or name.
        event: String,
    },
    /// Launch a mapping's next pass now (engineers).
    Launch {
        /// The event's id or name.
        event: String,
        #[command(flatten)]
        mappings: MappingChoice,
    },
    /// Retry a mapping's failed pass, within the attempt limit (default 2 per mapping per event).
    Retry {
        /// The event's id or name.
        event: String,
        #[command(flatten)]
        mappings: MappingChoice,
    },
    /// Approve the skipped items of a mapping graded Investigate, so its event can complete.
    Approve {
        /// The event's id or name.
        event: String,
        #[command(flatten)]
        mappings: MappingChoice,
    },
    /// The event's live status while it runs, its final report once completed.
    Report {
        /// The event's id or name.
        event: String,
    },
    /// Per-item results: copied, skipped or failed, with reasons.
    Items {
        /// The event's id or name.
        event: String,
        /// csv or json (`--json` is the same as `--format json`).
        #[arg(long, value_enum, default_value = "csv")]
        format: ItemsFormat,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ItemsFormat {
    Csv,
    Json,
}

/// The ids of `wanted` (ids or labels) among the project's mappings; all of them with `all`.
pub async fn mapping_ids(
    c: &Client,
    project: &str,
    wanted: &[String],
    all: bool,
) -> Result<Vec<String>> {
    if !all && wanted.iter().all(|w| is_id(w)) {
        return Ok(wanted.iter().map(|w| w.trim().to_string()).collect());
    }
    let list = c.get(&format!("{project}/mappings")).await?;
    let items = &list["mappings"];
    if all {
        let ids: Vec<String> = items
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| txt(&m["id"]))
            .collect();
        if ids.is_empty() {
            return Err(Error::config(
                "the project has no mappings: import them with `ferry mapping import FILE`",
            ));
        }
        return Ok(ids);
    }
    wanted
        .iter()
        .map(|w| {
            if is_id(w) {
                Ok(w.trim().to_string())
            } else {
                pick("mapping", w, items, "label", "ferry mapping list")
            }
        })
        .collect()
}

impl MappingChoice {
    async fn ids(&self, c: &Client, project: &str) -> Result<Vec<String>> {
        if self.mappings.is_empty() && !self.all_mappings {
            return Err(Error::config(
                "which mappings? Pass --mapping ID|LABEL (repeatable) or --all-mappings",
            ));
        }
        mapping_ids(c, project, &self.mappings, self.all_mappings).await
    }
}

/// `…/events/{id}` for an event given by id or name.
async fn event_path(c: &Client, project: &str, event: &str) -> Result<String> {
    if is_id(event) {
        return Ok(format!("{project}/events/{}", event.trim()));
    }
    let list = c.get(&format!("{project}/events")).await?;
    let id = pick("event", event, &list["events"], "name", "ferry event list")?;
    Ok(format!("{project}/events/{id}"))
}

pub async fn run_event(ctx: &Ctx, c: &Client, e: EventCmd) -> Result<Value> {
    let project = e.sel.path(c).await?;
    match e.cmd {
        EventCommand::Create {
            name,
            kind,
            pilot,
            start,
            mappings,
        } => {
            let ids = mappings.ids(c, &project).await?;
            let body = json!({ "name": name, "kind": kind.as_str(), "pilot": pilot, "start": start, "mappings": ids });
            let v = c.post(&format!("{project}/events"), body).await?;
            emit_change(ctx, v, |r| {
                println!(
                    "Scheduled {}{} event {} ({}): starts {}, {} mappings, state {}.",
                    if r["pilot"].as_bool() == Some(true) {
                        "pilot "
                    } else {
                        ""
                    },
                    txt(&r["kind"]),
                    txt(&r["name"]),
                    txt(&r["id"]),
                    when(&r["start"]),
                    r["mappings"].as_array().map_or(0, Vec::len),
                    txt(&r["state"])
                );
            })
        }
        EventCommand::List => {
            let v = c.get(&format!("{project}/events")).await?;
            emit(ctx, v, |v| {
                let mut t =
                    Table::new(&["Id", "Name", "Kind", "Pilot", "Start", "State", "Mappings"]);
                for x in v["events"].as_array().into_iter().flatten() {
                    t.row(vec![
                        txt(&x["id"]),
                        txt(&x["name"]),
                        txt(&x["kind"]),
                        txt(&x["pilot"]),
                        when(&x["start"]),
                        txt(&x["state"]),
                        x["mappings"].as_array().map_or(0, Vec::len).to_string(),
                    ]);
                }
                print!("{}", t.render());
            })
        }
        EventCommand::Show { event } => {
            let v = c.get(&event_path(c, &project, &event).await?).await?;
            emit(ctx, v, print_event)
        }
        EventCommand::Change {
            event,
            name,
            start,
            pilot,
            add,
            remove,
        } => {
            let path = event_path(c, &project, &event).await?;
            let mut body = Map::new();
            if let Some(n) = name {
                body.insert("name".into(), json!(n));
            }
            if let Some(s) = start {
                body.insert("start".into(), json!(s));
            }
            if let Some(p) = pilot {
                body.insert("pilot".into(), json!(p));
            }
            if !add.is_empty() {
                body.insert(
                    "add".into(),
                    json!(mapping_ids(c, &project, &add, false).await?),
                );
            }
            if !remove.is_empty() {
                body.insert(
                    "remove".into(),
                    json!(mapping_ids(c, &project, &remove, false).await?),
                );
            }
            if body.is_empty() {
                return Err(Error::config(
                    "nothing to change: give --name, --start, --pilot, --add or --remove",
                ));
            }
            let v = c.patch(&path, Value::Object(body)).await?;
            emit_change(ctx, v, |r| {
                println!("Changed event {}:", txt(&r["name"]));
                print_event(r);
            })
        }
        EventCommand::Cancel { event } => {
            let path = event_path(c, &project, &event).await?;
            let v = c.post(&format!("{path}/cancel"), json!({})).await?;
            emit_change(ctx, v, |r| {
                println!("Event {} is {}.", txt(&r["name"]), txt(&r["state"]));
            })
        }
        EventCommand::Launch { event, mappings } => {
            per_mapping(ctx, c, &project, &event, &mappings, "launch").await
        }
        EventCommand::Retry { event, mappings } => {
            per_mapping(ctx, c, &project, &event, &mappings, "retry").await
        }
        EventCommand::Approve { event, mappings } => {
            per_mapping(ctx, c, &project, &event, &mappings, "approve").await
        }
        EventCommand::Report { event } => {
            let path = event_path(c, &project, &event).await?;
            let v = c.get(&format!("{path}/report")).await?;
            emit(ctx, v, print_report)
        }
        EventCommand::Items { event, format } => {
            let path = event_path(c, &project, &event).await?;
            if ctx.json || matches!(format, ItemsFormat::Json) {
                let v = c.get(&format!("{path}/items?format=json")).await?;
                crate::summary::print_json(&v)?;
                Ok(v)
            } else {
                let text = c.get_text(&format!("{path}/items?format=csv")).await?;
                print!("{text}");
                Ok(Value::String(text))
            }
        }
    }
}

/// `launch`, `retry` or `approve` for each chosen mapping of the event.
async fn per_mapping(
    ctx: &Ctx,
    c: &Client,
    project: &str,
    event: &str,
    mappings: &MappingChoice,
    action: &str,
) -> Result<Value> {
    let path = event_path(c, project, event).await?;
    let ids = mappings.ids(c, project).await?;
    let mut answers = Vec::new();
    for id in &ids {
        answers.push(
            c.post(&format!("{path}/mappings/{id}/{action}"), json!({}))
                .await?,
        );
    }
    emit(ctx, Value::Array(answers), |v| {
        for (a, id) in v.as_array().into_iter().flatten().zip(&ids) {
            let what = match action {
                "launch" => "launched",
                "retry" => "retried",
                _ => "approved",
            };
            println!(
                "Mapping {id}: {what} (transaction {}: {}).",
                txt(&a["transaction"]["id"]),
                txt(&a["transaction"]["status"])
            );
            if a["result"].is_object() {
                print!("{}", indent(&outline(&a["result"])));
            }
        }
    })
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

fn print_event(r: &Value) {
    println!(
        "Event {} ({}): {}{}, starts {}, state {}",
        txt(&r["name"]),
        txt(&r["id"]),
        if r["pilot"].as_bool() == Some(true) {
            "pilot "
        } else {
            ""
        },
        txt(&r["kind"]),
        when(&r["start"]),
        txt(&r["state"])
    );
    let maps = r["mappings"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    println!("  {} mappings: {}", maps.len(), txt(&r["mappings"]));
    if !r["completed_at"].is_null() {
        println!("  completed {}", when(&r["completed_at"]));
    }
}

/// An event report: state, grade and what comes next; one row per mapping with its last pass, what this
/// event's passes did and what the mapping's journal holds; an outline for other shapes.
pub fn print_report(v: &Value) {
    let Some(maps) = v["mappings"]
        .as_array()
        .filter(|m| m.iter().all(Value::is_object))
    else {
        print!("{}", outline(v));
        return;
    };
    let e = &v["event"];
    let mut head = format!(
        "Event {} ({}{}): {}",
        txt(&e["name"]),
        if e["pilot"].as_bool() == Some(true) {
            "pilot "
        } else {
            ""
        },
        txt(&e["kind"]),
        txt(&e["state"])
    );
    if !v["grade"].is_null() {
        head.push_str(&format!(", grade {}", txt(&v["grade"])));
    }
    let completed = e["state"].as_str() == Some("completed");
    if let Some(t) = v["completion_text"].as_str().filter(|_| !completed) {
        head.push_str(&format!(" — {t}"));
    }
    println!("{head}");
    if let Some(n) = v["notice"].as_str() {
        println!("  {n}");
    }
    let mut t = Table::new(&[
        "Mapping",
        "Last pass",
        "Passes",
        "On target",
        "Skipped",
        "Outstanding",
        "In journal",
        "Grade",
    ]);
    for m in maps {
        let last = &m["last_pass"];
        let pass = if last.is_object() {
            format!("{} {}", txt(&last["kind"]), txt(&last["outcome"]))
        } else {
            "-".into()
        };
        let c = &m["counters"];
        let j = &m["journal"];
        let journal = if j.is_object() {
            format!("{}/{}", txt(&j["copied"]), txt(&j["items"]))
        } else {
            "-".into()
        };
        t.row(vec![
            txt(&m["label"]),
            pass,
            txt(&m["passes"]),
            txt(&c["copied"]),
            txt(&c["skipped"]),
            txt(&c["failed"]),
            journal,
            txt(&m["grade"]),
        ]);
    }
    print!("{}", t.render());
    for m in maps {
        if let Some(next) = m["next_text"].as_str() {
            println!("  {}: {next}", txt(&m["label"]));
        }
    }
    let tot = &v["totals"];
    if tot.is_object() {
        println!(
            "On the target: {} items ({} moved by this event's passes), skipped {}, outstanding {}.",
            txt(&tot["copied"]),
            tot["bytes"]
                .as_u64()
                .map(crate::format::human_bytes)
                .unwrap_or_else(|| "-".into()),
            txt(&tot["skipped"]),
            txt(&tot["failed"])
        );
    }
}
