//! The token requests themselves, on the `oauth2` crate: client credentials (secret or certificate
//! assertion), the device authorization grant (RFC 8628) and the refresh grant, against the Microsoft
//! identity platform's v2.0 endpoints. Errors are mapped here, in one place, to `Auth` errors that name the
//! identity and say what to do; the AADSTS codes Microsoft documents get a specific hint.

use crate::assertion::Signer;
use crate::config::{Credential, OAuthConfig};
use ferry_core::mail::Secret;
use ferry_core::{Error, ErrorKind, Result};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, DeviceAuthorizationResponse, DeviceAuthorizationUrl,
    ExtraDeviceAuthorizationFields, RefreshToken, RequestTokenError, Scope, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What one successful token request brought.
pub struct Fetched {
    pub access: Secret,
    /// `expires_in`; an answer without it is taken as one hour (Microsoft's usual lifetime).
    pub lifetime: Duration,
    pub refresh: Option<Secret>,
}

/// The `message` Microsoft adds to the device authorization response ("To sign in, use a web browser…").
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct MicrosoftDeviceFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ExtraDeviceAuthorizationFields for MicrosoftDeviceFields {}

/// The assertion type RFC 7523 §2.2 names.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Everything a request needs besides the config.
pub struct Flow<'a> {
    pub cfg: &'a OAuthConfig,
    pub signer: Option<&'a Signer>,
    pub http: &'a reqwest::Client,
}

impl Flow<'_> {
    fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        self.cfg
            .scope
            .split_whitespace()
            .map(|s| Scope::new(s.to_owned()))
    }

    fn url<T>(
        &self,
        u: String,
        make: impl FnOnce(String) -> std::result::Result<T, url::ParseError>,
    ) -> Result<T> {
        make(u.clone())
            .map_err(|e| Error::config(format!("OAuth endpoint `{u}` is not a URL: {e}")))
    }

    /// Client credentials grant (app-only): one request, no refresh token.
    pub async fn client_credentials(&self) -> Result<Fetched> {
        let mut client = BasicClient::new(ClientId::new(self.cfg.client_id.clone()))
            .set_token_uri(self.url(self.cfg.token_endpoint(), TokenUrl::new)?)
            .set_auth_type(AuthType::RequestBody);
        if let Credential::ClientSecret { secret } = &self.cfg.credential {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        let mut req = client
            .exchange_client_credentials()
            .add_scopes(self.scopes());
        let assertion;
        if let Some(signer) = self.signer {
            assertion = signer.assertion(&self.cfg.client_id, &self.cfg.token_endpoint())?;
            req = req
                .add_extra_param("client_assertion_type", JWT_BEARER)
                .add_extra_param("client_assertion", assertion.expose().to_owned());
        }
        let resp = req
            .request_async(self.http)
            .await
            .map_err(|e| self.request_error(e))?;
        Ok(fetched(&resp))
    }

    /// Device authorization grant: show the sign-in message through `prompt`, then poll the token
    /// endpoint at the server's `interval` (longer after `slow_down`) until the user signs in, declines or
    /// the code expires.
    pub async fn device_code(&self, prompt: &(dyn Fn(&str) + Send + Sync)) -> Result<Fetched> {
        let client = BasicClient::new(ClientId::new(self.cfg.client_id.clone()))
            .set_token_uri(self.url(self.cfg.token_endpoint(), TokenUrl::new)?)
            .set_device_authorization_url(
                self.url(self.cfg.device_code_endpoint(), DeviceAuthorizationUrl::new)?,
            )
            .set_auth_type(AuthType::RequestBody);
        let mut scopes: Vec<Scope> = self.scopes().collect();
        if !scopes.iter().any(|s| s.as_str() == "offline_access") {
            // A refresh token is only issued for offline_access; without it the user would sign in hourly.
            scopes.push(Scope::new("offline_access".to_owned()));
        }
        let details: DeviceAuthorizationResponse<MicrosoftDeviceFields> = client
            .exchange_device_code()
            .add_scopes(scopes)
            .request_async(self.http)
            .await
            .map_err(|e| self.request_error(e))?;
        let message = details.extra_fields().message.clone().unwrap_or_else(|| {
            format!(
                "To sign in, use a web browser to open the page {} and enter the code {} to authenticate.",
                details.verification_uri().as_str(),
                details.user_code().secret()
            )
        });
        prompt(&message);
        let resp = client
            .exchange_device_access_token(&details)
            .request_async(self.http, tokio::time::sleep, None)
            .await
            .map_err(|e| self.request_error(e))?;
        Ok(fetched(&resp))
    }

    /// Refresh grant (delegated): a new access token (and usually a new refresh token).
    pub async fn refresh(&self, refresh: &Secret) -> Result<Fetched> {
        let client = BasicClient::new(ClientId::new(self.cfg.client_id.clone()))
            .set_token_uri(self.url(self.cfg.token_endpoint(), TokenUrl::new)?)
            .set_auth_type(AuthType::RequestBody);
        let token = RefreshToken::new(refresh.expose().to_owned());
        let resp = client
            .exchange_refresh_token(&token)
            .add_scopes(self.scopes())
            .request_async(self.http)
            .await
            .map_err(|e| self.request_error(e))?;
        let mut f = fetched(&resp);
        if f.refresh.is_none() {
            f.refresh = Some(refresh.clone());
        }
        Ok(f)
    }

    fn request_error<RE, T>(
        &self,
        e: RequestTokenError<RE, oauth2::StandardErrorResponse<T>>,
    ) -> Error
    where
        RE: std::error::Error + 'static,
        T: oauth2::ErrorResponseType + std::fmt::Display,
    {
        let who = self.cfg.describe();
        let endpoint = self.cfg.token_endpoint();
        match e {
            RequestTokenError::ServerResponse(r) => server_refusal(
                self.cfg,
                &r.error().to_string(),
                r.error_description().map(String::as_str),
            ),
            RequestTokenError::Request(e) => Error::new(
                ErrorKind::Io,
                format!(
                    "{who}: cannot reach the identity platform at {endpoint} ({}); check the network and the \
                     authority setting",
                    describe_chain(&e)
                ),
            )
            .temporary(),
            RequestTokenError::Parse(_, body) => Error::new(
                ErrorKind::Protocol,
                format!(
                    "{who}: the identity platform at {endpoint} answered {} bytes that are not an OAuth token \
                     response; check the authority setting (it must be the identity platform, e.g. \
                     https://login.microsoftonline.com)",
                    body.len()
                ),
            )
            .temporary(),
            RequestTokenError::Other(msg) => Error::new(
                ErrorKind::Auth,
                format!("{who}: sign-in at {endpoint} failed: {}", self.redact(&msg)),
            )
            .permanent(),
        }
    }

    fn redact(&self, text: &str) -> String {
        redact(self.cfg, text)
    }
}

fn describe_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

fn fetched(resp: &impl TokenResponse) -> Fetched {
    Fetched {
        access: Secret::new(resp.access_token().secret().to_owned()),
        lifetime: resp.expires_in().unwrap_or(Duration::from_secs(3600)),
        refresh: resp
            .refresh_token()
            .map(|r| Secret::new(r.secret().to_owned())),
    }
}

/// Never let a secret through, even if a (hostile) server echoes it.
fn redact(cfg: &OAuthConfig, text: &str) -> String {
    match &cfg.credential {
        Credential::ClientSecret { secret } if !secret.expose().is_empty() => {
            text.replace(secret.expose(), "[redacted]")
        }
        _ => text.to_owned(),
    }
}

/// The AADSTS code in Microsoft's `error_description` (`AADSTS7000215: Invalid client secret…`).
fn aadsts(description: &str) -> Option<&str> {
    let at = description.find("AADSTS")?;
    let rest = &description[at..];
    let end = rest[6..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(rest.len(), |i| i + 6);
    (end > 6).then(|| &rest[..end])
}

/// What to do about a documented AADSTS code (Microsoft Entra authentication and authorization error codes).
fn hint(code: &str, cfg: &OAuthConfig) -> Option<String> {
    let app = &cfg.client_id;
    let tenant = &cfg.tenant;
    Some(match code {
        "AADSTS7000215" => "the client secret is wrong: give the secret's Value (not its Secret ID) from Entra → App \
                            registrations → Certificates & secrets"
            .to_owned(),
        "AADSTS7000222" => "the client secret has expired: create a new one in Entra → App registrations → \
                            Certificates & secrets and give it to Ferry"
            .to_owned(),
        "AADSTS700016" => format!(
            "no app {app} in tenant {tenant}: check the Application (client) ID, and that the app is registered \
             in (or consented to by) this tenant"
        ),
        "AADSTS90002" | "AADSTS900023" | "AADSTS90013" => format!(
            "tenant {tenant} was not found: give the Directory (tenant) ID or a verified domain of the tenant"
        ),
        "AADSTS700027" | "AADSTS700023" => {
            "the certificate assertion was refused (signature or certificate): upload this certificate to the \
             app registration (Certificates & secrets) and give its matching private key"
                .to_owned()
        }
        "AADSTS700024" => "the certificate assertion is outside its valid time: check this machine's clock".to_owned(),
        "AADSTS7000218" => "the request carried no client secret or certificate: give one".to_owned(),
        "AADSTS70011" => format!(
            "the scope `{}` is not valid for this app: app-only tokens use the resource's .default scope",
            cfg.scope
        ),
        "AADSTS500011" => "the resource is not known in this tenant: grant the app the API permission (e.g. \
                           IMAP.AccessAsApp from Office 365 Exchange Online) and admin consent"
            .to_owned(),
        "AADSTS65001" => "the app has no admin consent for this permission: grant admin consent in Entra → API \
                          permissions"
            .to_owned(),
        "AADSTS7000112" => format!("app {app} is disabled in tenant {tenant}: enable it in Entra"),
        "AADSTS70019" | "AADSTS70020" => {
            "the sign-in code expired before anyone signed in: run the command again and sign in within the time \
             shown"
                .to_owned()
        }
        "AADSTS70000" | "AADSTS700082" | "AADSTS50173" => {
            "the sign-in is no longer valid: run the command again to sign in anew".to_owned()
        }
        _ => return None,
    })
}

/// An OAuth error answer (`{"error":…, "error_description":…}`) as an `Auth` error for `cfg`.
pub fn server_refusal(cfg: &OAuthConfig, error: &str, description: Option<&str>) -> Error {
    let who = cfg.describe();
    let first_line: String = description
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    let first_line = redact(cfg, &first_line);
    let code = description.and_then(aadsts);
    let what = code.and_then(|c| hint(c, cfg)).unwrap_or_else(|| match error {
        "invalid_client" => "the app's credential was refused: check the client id, the secret or certificate, and the tenant".to_owned(),
        "unauthorized_client" => "the app may not use this grant: check the app registration (for device sign-in, enable 'Allow public client flows')".to_owned(),
        "invalid_scope" => format!("the scope `{}` was refused", cfg.scope),
        "authorization_declined" | "access_denied" => "the user declined the sign-in: run the command again and accept".to_owned(),
        "expired_token" => "the sign-in code expired before anyone signed in: run the command again".to_owned(),
        "invalid_grant" => "the sign-in is no longer valid: sign in again".to_owned(),
        _ => "check the tenant, the app id and its credential".to_owned(),
    });
    let detail = if first_line.is_empty() {
        error.to_owned()
    } else {
        format!("{error}: {first_line}")
    };
    let temporary = matches!(error, "temporarily_unavailable" | "server_error");
    let e = Error::new(
        ErrorKind::Auth,
        format!("{who}: sign-in refused ({detail}); {what}"),
    );
    if temporary {
        e.temporary()
    } else {
        e.permanent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aadsts_codes_are_found_in_descriptions() {
        assert_eq!(
            aadsts("AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"),
            Some("AADSTS7000215")
        );
        assert_eq!(aadsts("no code here"), None);
        assert_eq!(aadsts("AADSTS"), None);
    }

    #[test]
    fn refusals_name_the_identity_say_what_to_do_and_never_echo_the_secret() {
        let cfg = OAuthConfig::client_secret("t1", "app-1", Secret::new("s3cr3t"), "x/.default")
            .for_side("target");
        let e = server_refusal(
            &cfg,
            "invalid_client",
            Some("AADSTS7000215: Invalid client secret provided: s3cr3t\r\nTrace ID: 1"),
        );
        assert_eq!(e.kind(), ErrorKind::Auth);
        let text = e.to_string();
        assert!(text.contains("target app app-1 in tenant t1"), "{text}");
        assert!(text.contains("Certificates & secrets"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(!text.contains("Trace ID"), "{text}");
        let e = server_refusal(
            &cfg,
            "invalid_request",
            Some("AADSTS90002: Tenant 't1' not found."),
        );
        assert!(e.to_string().contains("tenant t1 was not found"), "{e}");
        let e = server_refusal(&cfg, "temporarily_unavailable", None);
        assert!(e.is_temporary());
    }
}
