//! [`OAuthSource`]: the cached, single-flight [`TokenSource`] for one identity, and the process-wide
//! registry that hands every connection of one (authority, tenant, client, scope) the same source.
//!
//! Refresh rule: a token is used until `margin` before it expires, where the margin is a fifth of its
//! lifetime capped at five minutes (a one-hour token is replaced after 55 minutes; a five-second test token
//! after four). Asking again then fetches a fresh one; while one caller fetches, the others wait for its
//! answer instead of sending their own request.

use crate::assertion::Signer;
use crate::config::{Credential, OAuthConfig};
use crate::flow::{Fetched, Flow};
use async_trait::async_trait;
use ferry_core::mail::Secret;
use ferry_core::token::TokenSource;
use ferry_core::{Error, Result};
use sha2::Digest as _;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The longest refresh margin.
const MAX_MARGIN: Duration = Duration::from_secs(300);

/// How the device-code flow shows its sign-in message (default: standard error).
pub type Prompt = Arc<dyn Fn(&str) + Send + Sync>;

/// Tokens for one identity: cached, refreshed ahead of expiry, fetched by one caller at a time.
pub struct OAuthSource {
    cfg: OAuthConfig,
    signer: Option<Signer>,
    http: reqwest::Client,
    state: Mutex<State>,
    gate: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
    prompt: Prompt,
}

#[derive(Default)]
struct State {
    access: Option<Cached>,
    /// Delegated sign-ins only.
    refresh: Option<Secret>,
}

struct Cached {
    token: Secret,
    refresh_at: Instant,
}

impl fmt::Debug for OAuthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthSource")
            .field("config", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// When to stop using a token that lives `lifetime`.
pub fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 5).min(MAX_MARGIN)
}

impl OAuthSource {
    /// A source of its own (not shared through the registry): tests, or a prompt other than stderr.
    pub fn new(cfg: OAuthConfig, prompt: Prompt) -> Result<OAuthSource> {
        cfg.validate()?;
        let signer = match &cfg.credential {
            Credential::Certificate {
                private_key_pem,
                certificate_pem,
            } => Some(Signer::new(private_key_pem, certificate_pem)?),
            _ => None,
        };
        let http = reqwest::Client::builder()
            // The token endpoint never redirects; following one could send a secret elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("Ferry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::unexpected(format!("cannot build the HTTP client for OAuth: {e}"))
            })?;
        Ok(OAuthSource {
            cfg,
            signer,
            http,
            state: Mutex::new(State::default()),
            gate: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
            prompt,
        })
    }

    /// The settings this source was built from.
    pub fn config(&self) -> &OAuthConfig {
        &self.cfg
    }

    /// How many token requests this source has completed successfully (tests, metrics).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the state is still a plain value.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached(&self) -> Option<Secret> {
        self.lock()
            .access
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    async fn fetch(&self) -> Result<Fetched> {
        let flow = Flow {
            cfg: &self.cfg,
            signer: self.signer.as_ref(),
            http: &self.http,
        };
        match &self.cfg.credential {
            Credential::ClientSecret { .. } | Credential::Certificate { .. } => {
                flow.client_credentials().await
            }
            Credential::DeviceCode => {
                let refresh = self.lock().refresh.clone();
                match refresh {
                    Some(r) => flow.refresh(&r).await,
                    None => flow.device_code(self.prompt.as_ref()).await,
                }
            }
        }
    }
}

#[async_trait]
impl TokenSource for OAuthSource {
    async fn token(&self) -> Result<Secret> {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        // Single flight: whoever holds the gate fetches; the others find its token when they get in.
        let _gate = self.gate.lock().await;
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let started = Instant::now();
        let f = self.fetch().await?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let refresh_at = started + f.lifetime.saturating_sub(refresh_margin(f.lifetime));
        tracing::debug!(identity = %self.cfg.describe(), lifetime_s = f.lifetime.as_secs(), "OAuth token fetched");
        let mut st = self.lock();
        st.access = Some(Cached {
            token: f.access.clone(),
            refresh_at,
        });
        if f.refresh.is_some() {
            st.refresh = f.refresh;
        }
        Ok(f.access)
    }

    fn invalidate(&self) {
        self.lock().access = None;
    }

    fn describe(&self) -> String {
        self.cfg.describe()
    }
}

type Registry = Mutex<HashMap<String, Arc<OAuthSource>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The cache key: (authority, tenant, client, scope), plus the side and a hash of the credential so a
/// corrected secret is not answered from the wrong one's cache.
fn key(cfg: &OAuthConfig) -> String {
    let material = match &cfg.credential {
        Credential::ClientSecret { secret } => secret.expose().to_owned(),
        Credential::Certificate {
            private_key_pem,
            certificate_pem,
        } => format!("{}{certificate_pem}", private_key_pem.expose()),
        Credential::DeviceCode => String::new(),
    };
    let digest = sha2::Sha256::digest(material.as_bytes());
    let fingerprint: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n{fingerprint}",
        cfg.authority.trim_end_matches('/').to_ascii_lowercase(),
        cfg.tenant.to_ascii_lowercase(),
        cfg.client_id.to_ascii_lowercase(),
        cfg.scope,
        cfg.credential.kind(),
        cfg.side.as_deref().unwrap_or("")
    )
}

/// The process-wide source for `cfg`: every caller with the same identity and scope gets the same
/// [`OAuthSource`], so all connections of a run share one cache. The device-code message goes to stderr.
pub fn token_source(cfg: &OAuthConfig) -> Result<Arc<OAuthSource>> {
    let k = key(cfg);
    let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = map.get(&k) {
        return Ok(s.clone());
    }
    let prompt: Prompt = Arc::new(|m: &str| eprintln!("{m}"));
    let s = Arc::new(OAuthSource::new(cfg.clone(), prompt)?);
    map.insert(k, s.clone());
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_margin_is_a_fifth_of_the_lifetime_capped_at_five_minutes() {
        assert_eq!(refresh_margin(Duration::from_secs(3599)), MAX_MARGIN);
        assert_eq!(
            refresh_margin(Duration::from_secs(5)),
            Duration::from_secs(1)
        );
        assert_eq!(refresh_margin(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn the_registry_shares_one_source_per_identity_and_scope() {
        let cfg = OAuthConfig::client_secret("t1", "app", Secret::new("s"), "a/.default")
            .with_authority("http://127.0.0.1:9");
        let a = token_source(&cfg).expect("valid");
        let b = token_source(&cfg).expect("valid");
        assert!(Arc::ptr_eq(&a, &b));
        let mut other = cfg.clone();
        other.scope = "b/.default".to_owned();
        assert!(!Arc::ptr_eq(&a, &token_source(&other).expect("valid")));
        assert!(!format!("{a:?}").contains("\"s\""));
    }
}
