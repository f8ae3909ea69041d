//! Turning flags and a mapping CSV into the engine's [`MappingSpec`]s.

use crate::oauth::OAuthArgs;
use clap::Args;
use ferry_core::folder::FolderPath;
use ferry_core::mail::Secret;
use ferry_core::token::TokenSource;
use ferry_core::{Error, Result};
use ferry_engine::MappingSpec;
use ferry_engine::mapping_csv::{CsvMapping, parse_mapping_csv};
use ferry_mail::config::{ImapConfig, MailEndpoint};
use std::path::PathBuf;
use std::sync::Arc;

/// Where to copy from and to, and how to log in.
#[derive(Args, Debug, Clone)]
pub struct EndpointArgs {
    /// Source: imap://host[:port] (plain or STARTTLS), imaps://host[:port] (TLS), maildir:PATH or mbox:PATH.
    #[arg(long, value_name = "URL")]
    pub source: String,

    /// Target: imap://host[:port], imaps://host[:port], exo://TENANT (Exchange Online over IMAP with OAuth;
    /// each mapping's EmailAddress is the mailbox) or maildir:PATH.
    #[arg(long, value_name = "URL")]
    pub target: String,

    /// Mapping CSV in Exchange's IMAP migration format: EmailAddress,UserName,Password[,UserRoot] with
    /// optional TargetUserName,TargetPassword. UserName/Password log in to the source; EmailAddress names
    /// the target mailbox.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,

    /// Source user (single-mailbox mode; or write it in the URL: imap://alice@host).
    #[arg(long)]
    pub source_user: Option<String>,
    /// Source password (prefer the environment variable).
    #[arg(long, env = "FERRY_SOURCE_PASSWORD", hide_env_values = true)]
    pub source_password: Option<String>,
    /// Log in to the source as this admin acting for each user (Dovecot master user: user*admin); the
    /// password is the admin's.
    #[arg(long, value_name = "ADMIN")]
    pub source_admin: Option<String>,
    /// OAuth2 access token for the source (XOAUTH2). It cannot be refreshed: for runs longer than its life,
    /// sign in with --source-client-id and a credential instead.
    #[arg(long, env = "FERRY_SOURCE_TOKEN", hide_env_values = true)]
    pub source_oauth_token: Option<String>,

    /// Target user (single-mailbox mode).
    #[arg(long)]
    pub target_user: Option<String>,
    /// Target password (prefer the environment variable).
    #[arg(long, env = "FERRY_TARGET_PASSWORD", hide_env_values = true)]
    pub target_password: Option<String>,
    /// Log in to the target as this admin acting for each mailbox (user*admin); with --mapping, each
    /// row's EmailAddress is the mailbox.
    #[arg(long, value_name = "ADMIN")]
    pub target_admin: Option<String>,
    /// OAuth2 access token for the target (XOAUTH2). It cannot be refreshed: for runs longer than its life,
    /// sign in with --target-client-id and a credential instead.
    #[arg(long, env = "FERRY_TARGET_TOKEN", hide_env_values = true)]
    pub target_oauth_token: Option<String>,

    #[command(flatten)]
    pub oauth: OAuthArgs,
}

#[derive(Clone, Copy)]
enum Side {
    Source,
    Target,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
}

/// Login for one side of one mailbox.
struct Login<'a> {
    user: Option<&'a str>,
    password: Option<&'a str>,
    admin: Option<&'a str>,
    tokens: Option<Arc<dyn TokenSource>>,
}

fn with_auth(
    ep: &MailEndpoint,
    side: Side,
    login: &Login<'_>,
    subdir: Option<&str>,
) -> Result<MailEndpoint> {
    match ep {
        MailEndpoint::Imap(cfg) => {
            let cfg: ImapConfig = cfg.clone();
            if cfg.exchange.is_some() && login.tokens.is_none() {
                return Err(Error::config(format!(
                    "exo:// logs in with OAuth only (app-only, IMAP.AccessAsApp): give --{s}-client-id with \
                     --{s}-client-secret (or FERRY_{S}_CLIENT_SECRET) or --{s}-certificate FILE, or a token with \
                     --{s}-oauth-token (or FERRY_{S}_TOKEN); a password or admin login does not work with Exchange \
                     Online",
                    s = side.name(),
                    S = side.name().to_uppercase()
                )));
            }
            let cfg = if let Some(tokens) = &login.tokens {
                cfg.with_token_source(login.user, tokens.clone())?
            } else if let Some(admin) = login.admin {
                let pw = login.password.ok_or_else(|| {
                    Error::config(format!(
                        "--{}-admin needs the admin's password: --{}-password or FERRY_{}_PASSWORD",
                        side.name(),
                        side.name(),
                        side.name().to_uppercase()
                    ))
                })?;
                cfg.with_master(login.user, admin, Secret::new(pw))?
            } else if let Some(pw) = login.password {
                cfg.with_login(login.user, Secret::new(pw))?
            } else {
                return Err(Error::config(format!(
                    "no {} password: give --{}-password (or FERRY_{}_PASSWORD), --{}-admin, or --{}-oauth-token",
                    side.name(),
                    side.name(),
                    side.name().to_uppercase(),
                    side.name(),
                    side.name()
                )));
            };
            Ok(MailEndpoint::Imap(cfg))
        }
        MailEndpoint::Maildir { path } => Ok(MailEndpoint::Maildir {
            path: subdir.map(|d| path.join(d)).unwrap_or_else(|| path.clone()),
        }),
        MailEndpoint::Mbox { path } => match side {
            Side::Source => Ok(MailEndpoint::Mbox {
                path: subdir.map(|d| path.join(d)).unwrap_or_else(|| path.clone()),
            }),
            Side::Target => Err(Error::config(
                "mbox is a source format only: write the target as imap://, imaps:// or maildir:",
            )),
        },
    }
}

/// Build the list of mailboxes to move, after signing in to each side that uses OAuth (see
/// [`crate::oauth::sign_in`]).
pub async fn specs_signed_in(args: &EndpointArgs) -> Result<Vec<MappingSpec>> {
    let (specs, tokens) = specs_and_tokens(args)?;
    crate::oauth::sign_in(&tokens).await?;
    Ok(specs)
}

type Tokens = [Option<Arc<dyn TokenSource>>; 2];

/// Build the list of mailboxes to move, and each side's token source.
fn specs_and_tokens(args: &EndpointArgs) -> Result<(Vec<MappingSpec>, Tokens)> {
    let source =
        MailEndpoint::parse(&args.source).map_err(|e| Error::config(format!("--source: {e}")))?;
    let target =
        MailEndpoint::parse(&args.target).map_err(|e| Error::config(format!("--target: {e}")))?;
    if matches!(target, MailEndpoint::Mbox { .. }) {
        return Err(Error::config(
            "--target: mbox is a source format only; use imap://, imaps:// or maildir:",
        ));
    }
    let url_tenant = |ep: &MailEndpoint| match ep {
        MailEndpoint::Imap(c) => c.exchange.as_ref().map(|x| x.tenant.clone()),
        _ => None,
    };
    let source_tokens = args.oauth.token_source(
        "source",
        args.source_oauth_token.as_deref(),
        url_tenant(&source).as_deref(),
    )?;
    let target_tokens = args.oauth.token_source(
        "target",
        args.target_oauth_token.as_deref(),
        url_tenant(&target).as_deref(),
    )?;
    let tokens: Tokens = [source_tokens.clone(), target_tokens.clone()];
    let Some(csv_path) = &args.mapping else {
        let s = with_auth(
            &source,
            Side::Source,
            &Login {
                user: args.source_user.as_deref(),
                password: args.source_password.as_deref(),
                admin: args.source_admin.as_deref(),
                tokens: source_tokens,
            },
            None,
        )?;
        let t = with_auth(
            &target,
            Side::Target,
            &Login {
                user: args.target_user.as_deref(),
                password: args.target_password.as_deref(),
                admin: args.target_admin.as_deref(),
                tokens: target_tokens,
            },
            None,
        )?;
        let label = match (&t, &s) {
            (MailEndpoint::Imap(c), _) => c.auth.as_ref().map(|a| a.user().to_owned()),
            (_, MailEndpoint::Imap(c)) => c.auth.as_ref().map(|a| a.user().to_owned()),
            _ => None,
        }
        .unwrap_or_else(|| s.describe());
        return Ok((
            vec![MappingSpec {
                label,
                source: Arc::new(s),
                target: Arc::new(t),
                source_root: None,
            }],
            tokens,
        ));
    };
    let text = std::fs::read_to_string(csv_path).map_err(|e| {
        Error::config(format!(
            "cannot read the mapping file {}: {e}",
            csv_path.display()
        ))
    })?;
    let rows = parse_mapping_csv(&text)?;
    let specs = rows
        .iter()
        .map(|row| row_spec(args, &source, &target, target_tokens.as_ref(), row))
        .collect::<Result<Vec<_>>>()?;
    Ok((specs, tokens))
}

fn row_spec(
    args: &EndpointArgs,
    source: &MailEndpoint,
    target: &MailEndpoint,
    target_tokens: Option<&Arc<dyn TokenSource>>,
    row: &CsvMapping,
) -> Result<MappingSpec> {
    let at = |e: Error| {
        Error::config(format!(
            "mapping CSV line {} ({}): {}",
            row.line,
            row.email,
            e.message()
        ))
    };
    let s = with_auth(
        source,
        Side::Source,
        &Login {
            user: Some(&row.user),
            password: Some(row.password.expose()),
            admin: args.source_admin.as_deref(),
            tokens: None,
        },
        Some(&row.user),
    )
    .map_err(at)?;
    let t = match (&row.target_user, &row.target_password) {
        (Some(u), Some(p)) => with_auth(
            target,
            Side::Target,
            &Login {
                user: Some(u),
                password: Some(p.expose()),
                admin: None,
                tokens: None,
            },
            Some(&row.email),
        ),
        _ => with_auth(
            target,
            Side::Target,
            &Login {
                user: Some(&row.email),
                password: args.target_password.as_deref(),
                admin: args.target_admin.as_deref(),
                tokens: target_tokens.cloned(),
            },
            Some(&row.email),
        ),
    }
    .map_err(at)?;
    if let (MailEndpoint::Imap(_), None, None, None) =
        (target, &row.target_user, &args.target_admin, &target_tokens)
    {
        return Err(at(Error::config(
            "no target login for this mailbox: add TargetUserName,TargetPassword columns, or use --target-admin with the admin's password",
        )));
    }
    let source_root = row
        .user_root
        .as_deref()
        .map(|r| FolderPath::parse(r.trim_matches('/'), '/'));
    Ok(MappingSpec {
        label: row.email.clone(),
        source: Arc::new(s),
        target: Arc::new(t),
        source_root,
    })
}
