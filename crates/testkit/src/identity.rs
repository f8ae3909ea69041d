//! A Microsoft identity platform emulator: the v2.0 token and device-code endpoints on a loopback port,
//! written from Microsoft's published documentation (Microsoft identity platform and the OAuth 2.0 client
//! credentials flow; certificate credentials / assertion format; OAuth 2.0 device authorization grant;
//! refresh tokens; AADSTS error codes), never from Ferry's client code.
//!
//! Tenants, apps (client id, secret, certificate, granted application roles such as `IMAP.AccessAsApp`) and
//! users are registered by the test. Behaviour reproduced, each with a test in `tests/identity.rs`:
//!
//! 1. `POST /{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials`, `client_id`, `scope`
//!    (`<resource>/.default`) and `client_secret` → `200 {"token_type":"Bearer","expires_in",
//!    "ext_expires_in","access_token"}`; the tenant may be named by id or by one of its domains.
//! 2. The same with `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and a
//!    `client_assertion` JWT: RS256 signed with the key of a certificate registered on the app, found by its
//!    `x5t#S256` or `x5t` thumbprint, `aud` = this token endpoint, `iss` = `sub` = the client id, `exp`,
//!    `nbf` → a token. A bad signature or an unknown thumbprint → `401 invalid_client` AADSTS700027; a wrong
//!    `aud`, `iss` or `sub` → `401 invalid_client` AADSTS700027; an expired or not-yet-valid assertion →
//!    `401 invalid_client` AADSTS700024; a malformed one → `401 invalid_client` AADSTS50027.
//! 3. A wrong secret → `401 invalid_client` AADSTS7000215; neither secret nor assertion → `401
//!    invalid_client` AADSTS7000218; an unknown app → `400 unauthorized_client` AADSTS700016; an unknown
//!    tenant → `400 invalid_request` AADSTS90002; a client-credentials scope without `/.default` → `400
//!    invalid_scope` AADSTS1002012; an unknown `grant_type` → `400 unsupported_grant_type` AADSTS70003.
//!    Error bodies have Microsoft's shape: `error`, `error_description` (`AADSTSnnn: text` then `Trace ID`,
//!    `Correlation ID`, `Timestamp` lines), `error_codes`, `timestamp`, `trace_id`, `correlation_id`.
//! 4. `POST /{tenant}/oauth2/v2.0/devicecode` with `client_id`, `scope` → `device_code`, `user_code`,
//!    `verification_uri`, `expires_in`, `interval` and the `message` to show the user. Only apps with "Allow
//!    public client flows" may use it (else `400 unauthorized_client` AADSTS7000218); an unknown app → `400
//!    unauthorized_client` AADSTS700016.
//! 5. Polling `grant_type=urn:ietf:params:oauth:grant-type:device_code`: `400 authorization_pending`
//!    (AADSTS70016) until a user signs in ([`Identity::approve_device_code`]); `400 slow_down` (RFC 8628
//!    §3.5) when polled before `interval` passed, after which the interval grows by 5 s;
//!    `authorization_declined` after [`Identity::decline_device_code`]; `expired_token` (AADSTS70019) after
//!    `expires_in`; `bad_verification_code` for an unknown code; once approved → a delegated token and a
//!    `refresh_token` (when `offline_access` was asked).
//! 6. `grant_type=refresh_token` → a new access token and a new refresh token (the old one stays valid, as
//!    Microsoft's do until they expire); an unknown refresh token → `400 invalid_grant` AADSTS70000.
//!
//! Access tokens are JWTs signed **HS256** with [`Identity::jwt_key`], so Dovecot's `oauth2` passdb
//! (`introspection_mode = local`) and the Exchange shim can validate them. Their claims are Entra's names
//! but deliberately **compact**: Dovecot 2.3.19's auth process crashes on a token with an array-valued claim
//! plus eight or more other claims (see `shared/notes/test-servers.md`). App-only tokens carry `aud` (the
//! resource, e.g. `https://outlook.office365.com`), `iss` (`https://sts.windows.net/{tid}/`), `tid`,
//! `appid`, `roles` (array), `nbf`, `exp`, `uti` (Entra's unique token id, so two tokens minted in one
//! second differ) — seven plain claims and one array. Delegated tokens carry `aud`, `iss`, `tid`, `appid`,
//! `scp` (space-separated string), `email` (the claim Dovecot compares with the login name:
//! `username_attribute = email`), `exp`, `uti`, `sub` (Dovecot's local validation requires it; Entra's is a
//! pairwise id per user and app) — nine plain claims and no array (the crash needs an array). App-only
//! tokens have no `sub`, so Dovecot's passdb refuses them; they are for the Exchange shim, which checks the
//! app's permission on the mailbox as Exchange does.
//!
//! Token lifetime (`expires_in`) is a setting in seconds ([`Identity::set_token_lifetime`]) so tests can
//! prove refresh in the middle of a pass; counters ([`Identity::tokens_issued`], [`Identity::requests`])
//! let tests see how many requests Ferry made.

use crate::http::{Head, read_body, read_head, request_framing};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha1::Digest as _;
use std::collections::HashMap;
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A registered app (an Entra app registration with its service principal in the tenant).
#[derive(Clone, Debug, Default)]
pub struct App {
    pub client_id: String,
    pub secret: Option<String>,
    /// Certificates (PEM) whose keys may sign client assertions.
    pub certificates: Vec<String>,
    /// Application roles granted with admin consent (`IMAP.AccessAsApp`, `Files.ReadWrite.All`…).
    pub roles: Vec<String>,
    /// "Allow public client flows": the device-code flow works for it.
    pub public_client: bool,
}

impl App {
    pub fn new(client_id: &str) -> App {
        App {
            client_id: client_id.to_owned(),
            ..App::default()
        }
    }
    pub fn with_secret(mut self, secret: &str) -> App {
        self.secret = Some(secret.to_owned());
        self
    }
    pub fn with_certificate(mut self, pem: &str) -> App {
        self.certificates.push(pem.to_owned());
        self
    }
    pub fn with_role(mut self, role: &str) -> App {
        self.roles.push(role.to_owned());
        self
    }
    pub fn public(mut self) -> App {
        self.public_client = true;
        self
    }
}

/// The test certificate credential shipped with the testkit: (private key PEM, certificate PEM).
pub fn test_certificate() -> (&'static str, &'static str) {
    (
        include_str!("../fixtures/oauth/app-key.pem"),
        include_str!("../fixtures/oauth/app-cert.pem"),
    )
}

/// A second key pair, registered nowhere: assertions signed with it must be refused.
pub fn other_certificate() -> (&'static str, &'static str) {
    (
        include_str!("../fixtures/oauth/other-key.pem"),
        include_str!("../fixtures/oauth/other-cert.pem"),
    )
}

#[derive(Default)]
struct Tenant {
    id: String,
    domains: Vec<String>,
    apps: Vec<App>,
    users: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DeviceState {
    Pending,
    Approved(String),
    Declined,
}

struct Device {
    user_code: String,
    tenant: String,
    client_id: String,
    scope: String,
    expires: Instant,
    interval: Duration,
    last_poll: Option<Instant>,
    state: DeviceState,
}

struct Grant {
    tenant: String,
    client_id: String,
    email: String,
    scope: String,
}

struct State {
    tenants: Vec<Tenant>,
    lifetime: u64,
    device_interval: u64,
    device_expires_in: u64,
    devices: HashMap<String, Device>,
    refresh: HashMap<String, Grant>,
    issued: HashMap<String, u64>,
    requests: u64,
}

/// The running emulator; stops when dropped.
pub struct Identity {
    addr: SocketAddr,
    key: [u8; 32],
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_text(n: usize, alphabet: &[u8]) -> String {
    (0..n)
        .map(|_| alphabet[fastrand::usize(..alphabet.len())] as char)
        .collect()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl Identity {
    /// Start on a free loopback port, with one-hour tokens, a 5 s device-code interval and 15 min codes.
    pub fn start() -> io::Result<Identity> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mut key = [0u8; 32];
        key.iter_mut().for_each(|b| *b = fastrand::u8(..));
        let state = Arc::new(Mutex::new(State {
            tenants: Vec::new(),
            lifetime: 3599,
            device_interval: 5,
            device_expires_in: 900,
            devices: HashMap::new(),
            refresh: HashMap::new(),
            issued: HashMap::new(),
            requests: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let server = Server {
            addr,
            key: key.to_vec(),
            state: state.clone(),
        };
        let stopping = stop.clone();
        std::thread::Builder::new()
            .name("identity-emulator".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(sock) = conn {
                        let server = server.clone();
                        let _ = std::thread::Builder::new()
                            .name("identity-conn".into())
                            .spawn(move || server.serve(sock));
                    }
                }
            })?;
        Ok(Identity {
            addr,
            key,
            state,
            stop,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The authority to configure in the client: `http://127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_endpoint(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.authority())
    }

    /// The HS256 key access tokens are signed with (raw bytes; Dovecot's key dict wants it base64).
    pub fn jwt_key(&self) -> &[u8] {
        &self.key
    }

    /// The same key as a fixed array, for `DovecotOptions::oauth2_hs256_key`.
    pub fn hs256_key(&self) -> [u8; 32] {
        self.key
    }

    /// Register a tenant by id, with its domains.
    pub fn add_tenant(&self, id: &str, domains: &[&str]) {
        self.lock().tenants.push(Tenant {
            id: id.to_owned(),
            domains: domains.iter().map(|d| (*d).to_owned()).collect(),
            ..Tenant::default()
        });
    }

    fn with_tenant(&self, tenant: &str, f: impl FnOnce(&mut Tenant)) {
        let mut st = self.lock();
        if let Some(t) = find_tenant(&mut st.tenants, tenant) {
            f(t);
        }
    }

    /// Register an app in a tenant.
    pub fn add_app(&self, tenant: &str, app: App) {
        self.with_tenant(tenant, |t| t.apps.push(app));
    }

    /// Register a user (their sign-in name / email) in a tenant.
    pub fn add_user(&self, tenant: &str, email: &str) {
        self.with_tenant(tenant, |t| t.users.push(email.to_owned()));
    }

    /// The `expires_in` of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.lock().lifetime = lifetime.as_secs().max(1);
    }

    /// The `interval` and `expires_in` of device codes issued from now on.
    pub fn set_device_timing(&self, interval: Duration, expires_in: Duration) {
        let mut st = self.lock();
        st.device_interval = interval.as_secs().max(1);
        st.device_expires_in = expires_in.as_secs().max(1);
    }

    /// User codes of device sign-ins waiting for a user.
    pub fn pending_device_codes(&self) -> Vec<String> {
        self.lock()
            .devices
            .values()
            .filter(|d| d.state == DeviceState::Pending)
            .map(|d| d.user_code.clone())
            .collect()
    }

    fn set_device(&self, user_code: &str, state: DeviceState) -> bool {
        let mut st = self.lock();
        let State {
            devices, tenants, ..
        } = &mut *st;
        let Some(d) = devices
            .values_mut()
            .find(|d| d.user_code == user_code && d.state == DeviceState::Pending)
        else {
            return false;
        };
        if let DeviceState::Approved(email) = &state {
            let known = find_tenant(tenants, &d.tenant).is_some_and(|t| t.users.contains(email));
            if !known {
                return false;
            }
        }
        d.state = state;
        true
    }

    /// The test hook for "the user signed in in the browser": `email` (a user of the code's tenant)
    /// approves the pending sign-in with `user_code`. False if there is no such pending code or user.
    pub fn approve_device_code(&self, user_code: &str, email: &str) -> bool {
        self.set_device(user_code, DeviceState::Approved(email.to_owned()))
    }

    /// The user declined the sign-in.
    pub fn decline_device_code(&self, user_code: &str) -> bool {
        self.set_device(user_code, DeviceState::Declined)
    }

    /// Access tokens issued to `client_id` so far.
    pub fn tokens_issued(&self, client_id: &str) -> u64 {
        self.lock().issued.get(client_id).copied().unwrap_or(0)
    }

    /// HTTP requests answered so far.
    pub fn requests(&self) -> u64 {
        self.lock().requests
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn find_tenant<'a>(tenants: &'a mut [Tenant], name: &str) -> Option<&'a mut Tenant> {
    tenants.iter_mut().find(|t| {
        t.id.eq_ignore_ascii_case(name) || t.domains.iter().any(|d| d.eq_ignore_ascii_case(name))
    })
}

/// An error answer in Microsoft's shape.
struct Refusal {
    status: u16,
    error: &'static str,
    code: Option<u32>,
    text: String,
}

fn refuse(status: u16, error: &'static str, code: Option<u32>, text: impl Into<String>) -> Refusal {
    Refusal {
        status,
        error,
        code,
        text: text.into(),
    }
}

impl Refusal {
    fn body(&self) -> Value {
        let trace = uuid_like();
        let correlation = uuid_like();
        let stamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        let prefix = self
            .code
            .map(|c| format!("AADSTS{c}: "))
            .unwrap_or_default();
        json!({
            "error": self.error,
            "error_description": format!(
                "{prefix}{}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {stamp}",
                self.text
            ),
            "error_codes": self.code.map(|c| vec![c]).unwrap_or_default(),
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
        })
    }
}

fn uuid_like() -> String {
    let h = random_text(32, b"0123456789abcdef");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[derive(Clone)]
struct Server {
    addr: SocketAddr,
    key: Vec<u8>,
    state: Arc<Mutex<State>>,
}

type Answer = Result<Value, Refusal>;

impl Server {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn serve(&self, sock: TcpStream) {
        let _ = sock.set_read_timeout(Some(Duration::from_secs(30)));
        let Ok(mut w) = sock.try_clone() else { return };
        let mut r = BufReader::new(sock);
        while let Ok(Some(head)) = read_head(&mut r) {
            let body = match request_framing(&head).and_then(|f| read_body(&mut r, f)) {
                Ok(b) => b,
                Err(_) => return,
            };
            let answer = self.route(&head, &body);
            let (status, value) = match answer {
                Ok(v) => (200, v),
                Err(refusal) => (refusal.status, refusal.body()),
            };
            let text = value.to_string();
            let reason = match status {
                200 => "OK",
                400 => "Bad Request",
                401 => "Unauthorized",
                404 => "Not Found",
                _ => "Error",
            };
            let out = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n\
                 Cache-Control: no-store\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            );
            if w.write_all(out.as_bytes()).is_err() || head.closes() {
                return;
            }
        }
    }

    fn route(&self, head: &Head, body: &[u8]) -> Answer {
        self.lock().requests += 1;
        let path = head.target().split('?').next().unwrap_or("");
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(body).into_owned().collect();
        match (head.method(), parts.as_slice()) {
            ("POST", [tenant, "oauth2", "v2.0", "token"]) => self.token(tenant, &form),
            ("POST", [tenant, "oauth2", "v2.0", "devicecode"]) => self.device_code(tenant, &form),
            _ => Err(refuse(404, "invalid_request", None, "no such endpoint")),
        }
    }

    /// Checks the tenant and the app; returns (tenant id, app).
    fn app(&self, tenant: &str, client_id: &str) -> Result<(String, App), Refusal> {
        let mut st = self.lock();
        let t = find_tenant(&mut st.tenants, tenant).ok_or_else(|| {
            refuse(
                400,
                "invalid_request",
                Some(90002),
                format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
            )
        })?;
        let app = t
            .apps
            .iter()
            .find(|a| a.client_id == client_id)
            .cloned()
            .ok_or_else(|| {
                refuse(
                    400,
                    "unauthorized_client",
                    Some(700016),
                    format!(
                        "Application with identifier '{client_id}' was not found in the directory '{tenant}'. \
                         This can happen if the application has not been installed by the administrator of the \
                         tenant or consented to by any user in the tenant."
                    ),
                )
            })?;
        Ok((t.id.clone(), app))
    }

    fn token(&self, tenant: &str, form: &HashMap<String, String>) -> Answer {
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        let grant = get("grant_type");
        match grant {
            "client_credentials" => self.client_credentials(tenant, form),
            "urn:ietf:params:oauth:grant-type:device_code" => {
                self.device_poll(tenant, get("device_code"))
            }
            "refresh_token" => self.refresh(tenant, get("client_id"), get("refresh_token")),
            other => Err(refuse(
                400,
                "unsupported_grant_type",
                Some(70003),
                format!("The app requested an unsupported grant type '{other}'."),
            )),
        }
    }

    fn client_credentials(&self, tenant: &str, form: &HashMap<String, String>) -> Answer {
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        let (tid, app) = self.app(tenant, get("client_id"))?;
        if let Some(secret) = form.get("client_secret") {
            if app.secret.as_deref() != Some(secret.as_str()) {
                return Err(refuse(
                    401,
                    "invalid_client",
                    Some(7000215),
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client \
                     secret value, not the client secret ID, for a secret added to app.",
                ));
            }
        } else if let Some(assertion) = form.get("client_assertion") {
            if get("client_assertion_type")
                != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            {
                return Err(refuse(
                    400,
                    "invalid_request",
                    Some(90014),
                    "The request body must contain the following parameter: 'client_assertion_type'.",
                ));
            }
            self.check_assertion(
                assertion,
                &app,
                &format!("http://{}/{tenant}/oauth2/v2.0/token", self.addr),
            )?;
        } else {
            return Err(refuse(
                401,
                "invalid_client",
                Some(7000218),
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
        let scope = get("scope");
        let Some(resource) = scope
            .strip_suffix("/.default")
            .filter(|_| !scope.contains(' '))
        else {
            return Err(refuse(
                400,
                "invalid_scope",
                Some(1002012),
                format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must have a scope \
                     value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            ));
        };
        let lifetime = self.lock().lifetime;
        let now = now_secs();
        let claims = json!({
            "aud": resource,
            "iss": format!("https://sts.windows.net/{tid}/"),
            "tid": tid,
            "appid": app.client_id,
            "roles": app.roles,
            "nbf": now,
            "exp": now + lifetime,
            "uti": random_text(22, ALNUM),
        });
        Ok(self.issue(&app.client_id, &claims, lifetime, None))
    }

    fn check_assertion(&self, assertion: &str, app: &App, endpoint: &str) -> Result<(), Refusal> {
        use jsonwebtoken::errors::ErrorKind as J;
        let malformed = || {
            refuse(
                401,
                "invalid_client",
                Some(50027),
                "JWT token is invalid or malformed.",
            )
        };
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
        let key_not_found = || {
            refuse(
                401,
                "invalid_client",
                Some(700027),
                "Client assertion failed signature validation. [Reason - The key was not found.]",
            )
        };
        let cert = app
            .certificates
            .iter()
            .find(|pem_text| {
                let Ok(p) = pem::parse(pem_text.as_bytes()) else {
                    return false;
                };
                let s256 = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(p.contents()));
                let s1 = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(p.contents()));
                header.x5t_s256.as_deref() == Some(s256.as_str())
                    || header.x5t.as_deref() == Some(s1.as_str())
            })
            .ok_or_else(key_not_found)?;
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(cert.as_bytes())
            .map_err(|_| key_not_found())?;
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&[endpoint]);
        v.set_issuer(&[app.client_id.as_str()]);
        v.sub = Some(app.client_id.clone());
        v.validate_nbf = true;
        v.leeway = 60;
        v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        jsonwebtoken::decode::<Value>(assertion, &key, &v)
            .map(|_| ())
            .map_err(|e| match e.kind() {
                J::InvalidSignature => refuse(
                    401,
                    "invalid_client",
                    Some(700027),
                    "Client assertion failed signature validation. [Reason - The provided signature value did \
                     not match the expected signature value.]",
                ),
                J::ExpiredSignature | J::ImmatureSignature => refuse(
                    401,
                    "invalid_client",
                    Some(700024),
                    "Client assertion is not within its valid time range.",
                ),
                J::InvalidAudience => refuse(
                    401,
                    "invalid_client",
                    Some(700027),
                    format!("Client assertion failed validation. [Reason - The audience is not {endpoint}.]"),
                ),
                J::InvalidIssuer | J::InvalidSubject => refuse(
                    401,
                    "invalid_client",
                    Some(700027),
                    "Client assertion failed validation. [Reason - iss and sub must be the client id.]",
                ),
                _ => malformed(),
            })
    }

    /// Mint, count and answer a token.
    fn issue(
        &self,
        client_id: &str,
        claims: &Value,
        lifetime: u64,
        refresh: Option<String>,
    ) -> Value {
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(&self.key),
        )
        .unwrap_or_default();
        *self.lock().issued.entry(client_id.to_owned()).or_default() += 1;
        let mut answer = json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        });
        if let Some(r) = refresh {
            answer["refresh_token"] = Value::String(r);
        }
        answer
    }

    fn device_code(&self, tenant: &str, form: &HashMap<String, String>) -> Answer {
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        let (tid, app) = self.app(tenant, get("client_id"))?;
        if !app.public_client {
            return Err(refuse(
                400,
                "unauthorized_client",
                Some(7000218),
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'. \
                 (Allow public client flows is off for this app.)",
            ));
        }
        let device_code = random_text(48, ALNUM);
        let user_code = random_text(9, b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789");
        let uri = format!("http://{}/devicelogin", self.addr);
        let mut st = self.lock();
        let (interval, expires_in) = (st.device_interval, st.device_expires_in);
        st.devices.insert(
            device_code.clone(),
            Device {
                user_code: user_code.clone(),
                tenant: tid,
                client_id: app.client_id,
                scope: get("scope").to_owned(),
                expires: Instant::now() + Duration::from_secs(expires_in),
                interval: Duration::from_secs(interval),
                last_poll: None,
                state: DeviceState::Pending,
            },
        );
        Ok(json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": uri,
            "expires_in": expires_in,
            "interval": interval,
            "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
        }))
    }

    fn device_poll(&self, tenant: &str, device_code: &str) -> Answer {
        let now = Instant::now();
        let mut st = self.lock();
        let lifetime = st.lifetime;
        let Some(d) = st.devices.get_mut(device_code) else {
            return Err(refuse(
                400,
                "bad_verification_code",
                None,
                "The device_code sent to the /token endpoint wasn't recognized.",
            ));
        };
        if now >= d.expires {
            return Err(refuse(
                400,
                "expired_token",
                Some(70019),
                "Verification code expired.",
            ));
        }
        let early = d.last_poll.is_some_and(|last| now < last + d.interval);
        d.last_poll = Some(now);
        if early {
            d.interval += Duration::from_secs(5);
            return Err(refuse(
                400,
                "slow_down",
                None,
                "The client polled faster than the interval; wait longer between requests.",
            ));
        }
        let email = match &d.state {
            DeviceState::Pending => {
                return Err(refuse(
                    400,
                    "authorization_pending",
                    Some(70016),
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                ));
            }
            DeviceState::Declined => {
                return Err(refuse(
                    400,
                    "authorization_declined",
                    None,
                    "The end user denied the authorization request.",
                ));
            }
            DeviceState::Approved(email) => email.clone(),
        };
        let (client_id, scope, tid) = (d.client_id.clone(), d.scope.clone(), d.tenant.clone());
        if !tid.eq_ignore_ascii_case(tenant)
            && find_tenant(&mut st.tenants, tenant).map(|t| t.id.clone()) != Some(tid.clone())
        {
            return Err(refuse(
                400,
                "bad_verification_code",
                None,
                "The device_code was issued for another tenant.",
            ));
        }
        st.devices.remove(device_code);
        drop(st);
        Ok(self.delegated(&tid, &client_id, &email, &scope, lifetime))
    }

    fn delegated(
        &self,
        tid: &str,
        client_id: &str,
        email: &str,
        scope: &str,
        lifetime: u64,
    ) -> Value {
        let (aud, scp) = delegated_scope(scope);
        let now = now_secs();
        let claims = json!({
            "aud": aud,
            "iss": format!("https://sts.windows.net/{tid}/"),
            "tid": tid,
            "appid": client_id,
            "scp": scp,
            "email": email,
            "exp": now + lifetime,
            "uti": random_text(22, ALNUM),
            "sub": subject(tid, client_id, email),
        });
        let refresh = scope
            .split_whitespace()
            .any(|s| s == "offline_access")
            .then(|| {
                let r = random_text(64, ALNUM);
                self.lock().refresh.insert(
                    r.clone(),
                    Grant {
                        tenant: tid.to_owned(),
                        client_id: client_id.to_owned(),
                        email: email.to_owned(),
                        scope: scope.to_owned(),
                    },
                );
                r
            });
        self.issue(client_id, &claims, lifetime, refresh)
    }

    fn refresh(&self, tenant: &str, client_id: &str, token: &str) -> Answer {
        let (tid, _) = self.app(tenant, client_id)?;
        let st = self.lock();
        let lifetime = st.lifetime;
        let grant = st
            .refresh
            .get(token)
            .filter(|g| g.client_id == client_id && g.tenant == tid)
            .map(|g| (g.email.clone(), g.scope.clone()));
        drop(st);
        let Some((email, scope)) = grant else {
            return Err(refuse(
                400,
                "invalid_grant",
                Some(70000),
                "The provided value for the 'refresh_token' is not valid.",
            ));
        };
        Ok(self.delegated(&tid, client_id, &email, &scope, lifetime))
    }
}

/// Entra's `sub` is a pairwise id: stable per (user, app), opaque.
fn subject(tid: &str, client_id: &str, email: &str) -> String {
    let d = sha2::Sha256::digest(format!("{tid}/{client_id}/{email}").as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..24])
}

/// Delegated scopes → (audience, `scp`): `https://outlook.office365.com/IMAP.AccessAsUser.All offline_access`
/// → (`https://outlook.office365.com`, `IMAP.AccessAsUser.All`); `.default` → `default`.
fn delegated_scope(scope: &str) -> (String, String) {
    let mut aud = String::new();
    let mut scp = Vec::new();
    for s in scope.split_whitespace() {
        if matches!(s, "offline_access" | "openid" | "profile" | "email") {
            continue;
        }
        match s.rsplit_once('/') {
            Some((resource, name)) if resource.contains("://") => {
                aud = resource.to_owned();
                scp.push(name.trim_start_matches('.').to_owned());
            }
            _ => scp.push(s.to_owned()),
        }
    }
    (aud, scp.join(" "))
}
