//! The settings a server or CLI builds a token source from (STYLE "config in three steps": this serde input
//! → [`OAuthConfig::validate`] → [`crate::token_source`]).

use ferry_core::mail::Secret;
use ferry_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Microsoft's global identity platform; sovereign clouds use other hosts (e.g.
/// `https://login.microsoftonline.us`, `https://login.partner.microsoftonline.cn`).
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// The scope of app-only tokens for Exchange Online IMAP/POP/SMTP.
pub const EXCHANGE_SCOPE: &str = "https://outlook.office365.com/.default";

/// The scope of app-only tokens for Microsoft Graph.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// One identity at one identity platform, for one resource. `Debug` prints no secret.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OAuthConfig {
    /// `https://login.microsoftonline.com` unless given (sovereign clouds, tests).
    #[serde(default = "default_authority")]
    pub authority: String,
    /// The directory: a tenant id (GUID) or a verified domain (`contoso.onmicrosoft.com`).
    pub tenant: String,
    /// The app registration's application (client) id.
    pub client_id: String,
    /// How the app proves who it is.
    pub credential: Credential,
    /// The resource's `.default` scope (app-only) or delegated scopes, space-separated.
    pub scope: String,
    /// Which side of a migration this identity logs in to (`source`, `target`), for errors; not a setting.
    #[serde(skip)]
    pub side: Option<String>,
}

fn default_authority() -> String {
    DEFAULT_AUTHORITY.to_owned()
}

/// How the app (or the user) proves who it is.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Credential {
    /// Client credentials grant with a client secret (app-only).
    ClientSecret {
        /// The secret's value (not its id).
        secret: Secret,
    },
    /// Client credentials grant with a certificate: a signed JWT client assertion (RFC 7523).
    Certificate {
        /// The private key, PEM (`PRIVATE KEY` or `RSA PRIVATE KEY`).
        private_key_pem: Secret,
        /// The certificate uploaded to the app registration, PEM (`CERTIFICATE`).
        certificate_pem: String,
    },
    /// Device authorization grant (delegated: a person signs in in a browser), then refresh tokens.
    DeviceCode,
}

impl Credential {
    /// `client-secret`, `certificate` or `device-code`.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::ClientSecret { .. } => "client-secret",
            Credential::Certificate { .. } => "certificate",
            Credential::DeviceCode => "device-code",
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

impl fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("credential", &self.credential)
            .field("scope", &self.scope)
            .finish()
    }
}

impl OAuthConfig {
    /// An app-only identity with a client secret at the default authority.
    pub fn client_secret(tenant: &str, client_id: &str, secret: Secret, scope: &str) -> Self {
        Self::new(
            tenant,
            client_id,
            Credential::ClientSecret { secret },
            scope,
        )
    }

    /// An identity with any credential at the default authority.
    pub fn new(tenant: &str, client_id: &str, credential: Credential, scope: &str) -> Self {
        OAuthConfig {
            authority: default_authority(),
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            credential,
            scope: scope.to_owned(),
            side: None,
        }
    }

    /// Use another authority (sovereign cloud, test emulator).
    pub fn with_authority(mut self, authority: &str) -> Self {
        self.authority = authority.to_owned();
        self
    }

    /// Name the side (`source`/`target`) in errors.
    pub fn for_side(mut self, side: &str) -> Self {
        self.side = Some(side.to_owned());
        self
    }

    /// Check every field; each problem is a `Config` error naming the field and what to write.
    pub fn validate(&self) -> Result<()> {
        let authority = url::Url::parse(&self.authority).map_err(|e| {
            Error::config(format!(
                "OAuth authority `{}` is not a URL ({e}); write e.g. {DEFAULT_AUTHORITY}",
                self.authority
            ))
        })?;
        if !matches!(authority.scheme(), "https" | "http") {
            return Err(Error::config(format!(
                "OAuth authority `{}`: write an https:// URL, e.g. {DEFAULT_AUTHORITY}",
                self.authority
            )));
        }
        let bad_segment = |s: &str| {
            s.is_empty()
                || !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        };
        if bad_segment(&self.tenant) {
            return Err(Error::config(format!(
                "OAuth tenant `{}`: write the directory (tenant) id or a domain such as contoso.onmicrosoft.com",
                self.tenant
            )));
        }
        if bad_segment(&self.client_id) {
            return Err(Error::config(format!(
                "OAuth client id `{}`: write the app registration's Application (client) ID",
                self.client_id
            )));
        }
        if self.scope.trim().is_empty() {
            return Err(Error::config(
                "OAuth scope is empty: write the resource's .default scope, e.g. https://outlook.office365.com/.default",
            ));
        }
        match &self.credential {
            Credential::ClientSecret { secret } if secret.expose().is_empty() => {
                Err(Error::config(
                    "the OAuth client secret is empty: give the secret's Value from Entra (Certificates & secrets)",
                ))
            }
            Credential::Certificate {
                private_key_pem,
                certificate_pem,
            } => crate::assertion::Signer::new(private_key_pem, certificate_pem).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_endpoint(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/'),
            self.tenant
        )
    }

    /// `{authority}/{tenant}/oauth2/v2.0/devicecode`.
    pub fn device_code_endpoint(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/devicecode",
            self.authority.trim_end_matches('/'),
            self.tenant
        )
    }

    /// `app 1f0c… in tenant contoso.onmicrosoft.com` (and the side), never a secret.
    pub fn describe(&self) -> String {
        let who = match self.credential {
            Credential::DeviceCode => "the signed-in user of app",
            _ => "app",
        };
        let side = self
            .side
            .as_deref()
            .map(|s| format!("{s} "))
            .unwrap_or_default();
        format!("{side}{who} {} in tenant {}", self.client_id, self.tenant)
    }
}
