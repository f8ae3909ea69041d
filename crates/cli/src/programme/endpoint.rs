//! `ferry endpoint`, `ferry credential`: a project's source and target, and their secrets (read from
//! standard input or `FERRY_SECRET` only, never printed).

use super::names::{Names, human_names};
use super::{ProjectSel, emit, emit_change, txt, when};
use crate::Ctx;
use crate::client::Client;
use crate::format::Table;
use clap::{Args, Subcommand, ValueEnum};
use ferry_core::{Error, Result};
use ferry_engine::endpoint::options;
use serde_json::{Map, Value, json};
use std::io::{IsTerminal, Read};

// --- endpoints and credentials ----------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct EndpointCmd {
    #[command(flatten)]
    sel: ProjectSel,
    #[command(subcommand)]
    cmd: EndpointCommand,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Side {
    Source,
    Target,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    /// Set the source or target endpoint. Mail: imap://host:port, imaps://…, maildir:PATH, mbox:PATH.
    /// Files: a path, webdav://…, sftp://…, s3://…. A URL with a password in it is refused: supply the
    /// secret with `ferry credential set`.
    Set {
        #[arg(value_enum)]
        side: Side,
        /// The endpoint URL.
        url: String,
        /// The login (mail: an admin or master user; files: the SFTP/WebDAV user or S3 key id).
        #[arg(long)]
        username: Option<String>,
        /// A connector option, KEY=VALUE (repeatable), e.g. s3_endpoint=http://127.0.0.1:9000. Mail:
        /// max_message_size, quota_mb, concurrency, max_connections. Files: target_rules, known_hosts,
        /// accept_unknown_host_key, s3_endpoint, region. Unknown keys, bad values and secrets are refused.
        #[arg(long = "option", value_name = "KEY=VALUE")]
        options: Vec<String>,
    },
    /// Both endpoints, with whether a credential is stored and when it expires (never the secret).
    List,
    /// Remove an endpoint and its credential.
    Delete {
        #[arg(value_enum)]
        side: Side,
    },
}

pub async fn run_endpoint(ctx: &Ctx, c: &Client, e: EndpointCmd) -> Result<Value> {
    let base = format!("{}/endpoints", e.sel.path(c).await?);
    match e.cmd {
        EndpointCommand::Set {
            side,
            url,
            username,
            options,
        } => {
            let mut opts = Map::new();
            for o in options {
                let (k, v) = o.split_once('=').ok_or_else(|| {
                    Error::config("--option: write KEY=VALUE, e.g. --option target_rules=onedrive")
                })?;
                let k = k.trim();
                // Refused here too, so a secret typed by mistake is not even sent: the server stores
                // options as they are and shows them to every role.
                if options::is_secret_key(k) {
                    return Err(Error::config(format!(
                        "--option {k}=…: an option never holds a secret; supply it with `ferry credential set {}` (it is then encrypted and never shown)",
                        side.as_str()
                    )));
                }
                // The server checks the key and the value for the project's workload.
                opts.insert(k.to_string(), json!(v.trim()));
            }
            let v = c
                .put(
                    &format!("{base}/{}", side.as_str()),
                    json!({ "url": url, "username": username, "options": opts }),
                )
                .await?;
            emit_change(ctx, v, |r| {
                let user = r["username"]
                    .as_str()
                    .map(|u| format!(" as {u}"))
                    .unwrap_or_default();
                println!(
                    "The {} endpoint is {}{user}.",
                    txt(&r["side"]),
                    txt(&r["url"])
                );
            })
        }
        EndpointCommand::List => {
            let v = c.get(&base).await?;
            emit(ctx, v, |v| {
                let mut t = Table::new(&["Side", "URL", "Username", "Credential"]);
                for x in v["endpoints"].as_array().into_iter().flatten() {
                    t.row(vec![
                        txt(&x["side"]),
                        txt(&x["url"]),
                        txt(&x["username"]),
                        credential_cell(&x["credential"]),
                    ]);
                }
                print!("{}", t.render());
            })
        }
        EndpointCommand::Delete { side } => {
            let v = c.delete(&format!("{base}/{}", side.as_str())).await?;
            emit_change(ctx, v, |r| {
                println!(
                    "The {} endpoint and its credential are removed.",
                    txt(&r["side"])
                );
            })
        }
    }
}

fn credential_cell(cred: &Value) -> String {
    if cred["stored"].as_bool() != Some(true) {
        "none".into()
    } else if cred["expired"].as_bool() == Some(true) {
        format!("expired {}", when(&cred["expires_at"]))
    } else {
        format!("stored, expires {}", when(&cred["expires_at"]))
    }
}

#[derive(Args, Debug)]
pub struct CredentialCmd {
    #[command(flatten)]
    sel: ProjectSel,
    #[command(subcommand)]
    cmd: CredentialCommand,
}

#[derive(Subcommand, Debug)]
pub enum CredentialCommand {
    /// Supply an endpoint's secret (password, key, token). It is read from standard input with
    /// --secret-stdin, or from the FERRY_SECRET environment variable — never from a flag, so it stays out
    /// of shell history and process lists — and is never shown again.
    Set {
        #[arg(value_enum)]
        side: Side,
        /// Read the secret from standard input (the trailing newline is dropped; a certificate PEM may
        /// span lines: `--secret-stdin < app.pem`).
        #[arg(long)]
        secret_stdin: bool,
        /// For OAuth endpoints (exo://TENANT, ?auth=xoauth2; the endpoint's username is the app's client
        /// id): `client-secret` (the secret's Value) or `certificate` (a PEM with the private key and the
        /// certificate uploaded to the app). Leave out for passwords.
        #[arg(long, value_parser = ["client-secret", "certificate"])]
        kind: Option<String>,
    },
    /// Which credentials are stored, by whom, and when they expire.
    List,
}

/// The secret from stdin or `FERRY_SECRET`; never echoed.
pub fn read_secret(stdin: bool) -> Result<String> {
    let secret = if stdin {
        if std::io::stdin().is_terminal() {
            // A terminal would show the secret as it is typed.
            return Err(Error::config(
                "--secret-stdin reads a pipe, not a terminal (which would show the secret): e.g. printf '%s\\n' \"$SECRET\" | ferry credential set …, or set FERRY_SECRET",
            ));
        }
        let mut s = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .map_err(|e| {
                Error::config(format!("cannot read the secret from standard input: {e}"))
            })?;
        s.trim_end_matches(['\r', '\n']).to_string()
    } else {
        std::env::var("FERRY_SECRET").map_err(|_| {
            Error::config(
                "no secret given: pipe it in with --secret-stdin, or set FERRY_SECRET (it is never taken from a flag)",
            )
        })?
    };
    if secret.is_empty() {
        return Err(Error::config("the secret is empty"));
    }
    Ok(secret)
}

pub async fn run_credential(ctx: &Ctx, c: &Client, e: CredentialCmd) -> Result<Value> {
    let project = e.sel.path(c).await?;
    match e.cmd {
        CredentialCommand::Set {
            side,
            secret_stdin,
            kind,
        } => {
            let secret = read_secret(secret_stdin)?;
            let mut body = json!({ "secret": secret });
            if let Some(k) = kind {
                body["kind"] = Value::String(k);
            }
            let v = c
                .put(
                    &format!("{project}/endpoints/{}/credential", side.as_str()),
                    body,
                )
                .await?;
            emit_change(ctx, v, |r| {
                println!(
                    "Stored the {} credential, encrypted; it expires {}. It is never shown again.",
                    txt(&r["side"]),
                    when(&r["expires_at"])
                );
            })
        }
        CredentialCommand::List => {
            let v = c.get(&format!("{project}/credentials")).await?;
            let names = human_names(ctx, Names::of_project(c, &project)).await?;
            emit(ctx, v, |v| {
                let mut t = Table::new(&["Owner", "Supplied by", "Supplied", "Expires", "Expired"]);
                for x in v["credentials"].as_array().into_iter().flatten() {
                    t.row(vec![
                        names.describe(&txt(&x["owner"])),
                        names.person(&txt(&x["supplied_by"])),
                        when(&x["supplied_at"]),
                        when(&x["expires_at"]),
                        txt(&x["expired"]),
                    ]);
                }
                print!("{}", t.render());
            })
        }
    }
}
