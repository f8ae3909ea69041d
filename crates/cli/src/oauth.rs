//! Per-side OAuth sign-in flags (`--target-tenant`, `--target-client-id`, `--target-client-secret`,
//! `--target-certificate`, `--target-device-login`, `--authority` …) → a shared, refreshing
//! [`TokenSource`] from `ferry-oauth`. `--*-oauth-token` stays: a fixed token ([`StaticToken`]) for a run
//! shorter than the token's life.

use clap::Args;
use ferry_core::mail::Secret;
use ferry_core::token::{StaticToken, TokenSource};
use ferry_core::{Error, Result};
use ferry_oauth::{Credential, DEFAULT_AUTHORITY, EXCHANGE_SCOPE, OAuthConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// The delegated scope a device sign-in asks for by default (IMAP as the signed-in user).
pub const EXCHANGE_DELEGATED_SCOPE: &str = "https://outlook.office365.com/IMAP.AccessAsUser.All";

/// OAuth 2.0 sign-in to the Microsoft identity platform, per side.
#[derive(Args, Debug, Clone)]
pub struct OAuthArgs {
    /// The identity platform that issues OAuth tokens (sovereign clouds: https://login.microsoftonline.us,
    /// https://login.partner.microsoftonline.cn).
    #[arg(long, env = "FERRY_AUTHORITY", value_name = "URL", default_value = DEFAULT_AUTHORITY)]
    pub authority: String,

    /// Source OAuth: the Entra tenant (directory id or domain such as contoso.onmicrosoft.com).
    #[arg(long, value_name = "TENANT")]
    pub source_tenant: Option<String>,
    /// Source OAuth: the app registration's Application (client) ID.
    #[arg(long, value_name = "ID")]
    pub source_client_id: Option<String>,
    /// Source OAuth: app-only sign-in with this client secret's Value (prefer the environment variable).
    #[arg(
        long,
        env = "FERRY_SOURCE_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub source_client_secret: Option<String>,
    /// Source OAuth: app-only sign-in with a certificate: a PEM file with the private key and the
    /// certificate uploaded to the app.
    #[arg(long, value_name = "FILE")]
    pub source_certificate: Option<PathBuf>,
    /// Source OAuth: sign in as a person (device code): Ferry prints a URL and a code to enter in a browser.
    #[arg(long)]
    pub source_device_login: bool,
    /// Source OAuth scope (default: https://outlook.office365.com/.default for app-only sign-in,
    /// https://outlook.office365.com/IMAP.AccessAsUser.All for --source-device-login).
    #[arg(long, value_name = "SCOPE")]
    pub source_oauth_scope: Option<String>,

    /// Target OAuth: the Entra tenant (for exo://TENANT the URL's tenant is used unless this is given).
    #[arg(long, value_name = "TENANT")]
    pub target_tenant: Option<String>,
    /// Target OAuth: the app registration's Application (client) ID.
    #[arg(long, value_name = "ID")]
    pub target_client_id: Option<String>,
    /// Target OAuth: app-only sign-in with this client secret's Value (prefer the environment variable).
    #[arg(
        long,
        env = "FERRY_TARGET_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub target_client_secret: Option<String>,
    /// Target OAuth: app-only sign-in with a certificate: a PEM file with the private key and the
    /// certificate uploaded to the app.
    #[arg(long, value_name = "FILE")]
    pub target_certificate: Option<PathBuf>,
    /// Target OAuth: sign in as a person (device code): Ferry prints a URL and a code to enter in a browser.
    #[arg(long)]
    pub target_device_login: bool,
    /// Target OAuth scope (default: https://outlook.office365.com/.default for app-only sign-in,
    /// https://outlook.office365.com/IMAP.AccessAsUser.All for --target-device-login).
    #[arg(long, value_name = "SCOPE")]
    pub target_oauth_scope: Option<String>,
}

/// One side's OAuth flags.
struct SideFlags<'a> {
    tenant: Option<&'a str>,
    client_id: Option<&'a str>,
    secret: Option<&'a str>,
    certificate: Option<&'a PathBuf>,
    device: bool,
    scope: Option<&'a str>,
}

impl OAuthArgs {
    fn side(&self, side: &str) -> SideFlags<'_> {
        if side == "source" {
            SideFlags {
                tenant: self.source_tenant.as_deref(),
                client_id: self.source_client_id.as_deref(),
                secret: self.source_client_secret.as_deref(),
                certificate: self.source_certificate.as_ref(),
                device: self.source_device_login,
                scope: self.source_oauth_scope.as_deref(),
            }
        } else {
            SideFlags {
                tenant: self.target_tenant.as_deref(),
                client_id: self.target_client_id.as_deref(),
                secret: self.target_client_secret.as_deref(),
                certificate: self.target_certificate.as_ref(),
                device: self.target_device_login,
                scope: self.target_oauth_scope.as_deref(),
            }
        }
    }

    /// The token source for `side` (`source`/`target`): a fixed `token` if given, else the OAuth flags'
    /// sign-in (shared by every connection of the process), else `None`. `url_tenant` is exo://TENANT's.
    pub fn token_source(
        &self,
        side: &str,
        token: Option<&str>,
        url_tenant: Option<&str>,
    ) -> Result<Option<Arc<dyn TokenSource>>> {
        self.token_source_for(
            side,
            token,
            url_tenant,
            EXCHANGE_SCOPE,
            EXCHANGE_DELEGATED_SCOPE,
        )
    }

    /// [`OAuthArgs::token_source`] for another resource: `app_scope` is the default scope of app-only
    /// sign-in, `delegated_scope` of a device sign-in (Microsoft Graph for OneDrive/SharePoint).
    pub fn token_source_for(
        &self,
        side: &str,
        token: Option<&str>,
        url_tenant: Option<&str>,
        app_scope: &str,
        delegated_scope: &str,
    ) -> Result<Option<Arc<dyn TokenSource>>> {
        let f = self.side(side);
        let credentials = [f.secret.is_some(), f.certificate.is_some(), f.device]
            .iter()
            .filter(|b| **b)
            .count();
        let any = credentials > 0 || f.client_id.is_some() || f.tenant.is_some();
        if let Some(token) = token {
            if credentials > 0 || f.client_id.is_some() {
                return Err(Error::config(format!(
                    "--{side}-oauth-token and --{side}-client-id/-secret/-certificate/-device-login both given: \
                     choose one"
                )));
            }
            return Ok(Some(Arc::new(StaticToken::new(Secret::new(token)))));
        }
        if !any {
            return Ok(None);
        }
        let client_id = f.client_id.ok_or_else(|| {
            Error::config(format!(
                "--{side}-client-id is missing: give the app registration's Application (client) ID"
            ))
        })?;
        let tenant = f.tenant.or(url_tenant).ok_or_else(|| {
            Error::config(format!(
                "--{side}-tenant is missing: give the directory (tenant) id or a domain such as \
                 contoso.onmicrosoft.com"
            ))
        })?;
        if credentials != 1 {
            return Err(Error::config(format!(
                "give exactly one {side} OAuth credential: --{side}-client-secret (or FERRY_{}_CLIENT_SECRET), \
                 --{side}-certificate FILE, or --{side}-device-login",
                side.to_uppercase()
            )));
        }
        let (credential, default_scope) = if let Some(secret) = f.secret {
            (
                Credential::ClientSecret {
                    secret: Secret::new(secret),
                },
                app_scope,
            )
        } else if let Some(path) = f.certificate {
            let pem = std::fs::read_to_string(path).map_err(|e| {
                Error::config(format!(
                    "--{side}-certificate {}: cannot read it ({e})",
                    path.display()
                ))
            })?;
            (
                Credential::Certificate {
                    private_key_pem: Secret::new(pem.clone()),
                    certificate_pem: pem,
                },
                app_scope,
            )
        } else {
            (Credential::DeviceCode, delegated_scope)
        };
        let cfg = OAuthConfig::new(
            tenant,
            client_id,
            credential,
            f.scope.unwrap_or(default_scope),
        )
        .with_authority(&self.authority)
        .for_side(side);
        let source = ferry_oauth::token_source(&cfg)
            .map_err(|e| Error::config(format!("--{side} OAuth: {}", e.message())))?;
        Ok(Some(source))
    }
}

/// Ask each side's token source for a token once, before any mailbox starts: a wrong secret or an unknown
/// app is then one clear error (exit 2) instead of one failure per mailbox, and a device sign-in prompt
/// comes before the progress display. The sources are the process-wide shared ones the connections use.
pub async fn sign_in(sources: &[Option<Arc<dyn TokenSource>>]) -> Result<()> {
    for t in sources.iter().flatten() {
        t.token().await?;
    }
    Ok(())
}
