//! The emulator's settings: everything a test may want to shrink (limits, lifetimes) or switch on
//! (throttling, strictness).

use std::time::Duration;

/// Settings for [`super::GraphEmulator::start`]. `Default` gives the documented production values and no
/// throttling.
#[derive(Clone)]
pub struct GraphOptions {
    /// HS256 key bearer tokens are checked with (the identity emulator's `jwt_key()`); random by default.
    pub jwt_key: Vec<u8>,
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// App-only tokens need the application roles the Graph pages list (see [`super::auth::roles_allow`]):
    /// `403 accessDenied` otherwise. Default on.
    pub check_roles: bool,
    /// The tenant id the emulator serves (`tid` of minted tokens; a token for another tenant is refused).
    pub tenant_id: String,
    /// Largest body a simple upload (`PUT …/content`) takes: 250 MB as documented for Graph v1.0 (older
    /// OneDrive pages say 4 MB); larger bodies get `413`.
    pub simple_upload_limit: u64,
    /// Largest file (250 GB, "Restrictions and limitations in OneDrive and SharePoint"): an upload session
    /// declaring more (`fileSize` or `Content-Range` total) → `400` (inner `maxFileSizeExceeded`).
    pub max_file_size: u64,
    /// Upload session fragments must be smaller than this (60 MiB).
    pub max_fragment: u64,
    /// Non-final fragments must be a multiple of this (320 KiB = 327,680 bytes).
    pub fragment_multiple: u64,
    /// How long an upload session lives without activity; each accepted fragment extends it.
    pub session_lifetime: Duration,
    /// Default page size of `children` and `delta` (200, as documented).
    pub page_size: usize,
    /// The path limit (400 characters, decoded, server-relative).
    pub max_path: usize,
    /// Answer `401` when a request to an upload URL carries an `Authorization` header (the documented
    /// "may result in 401"; on by default so clients are held to the rule).
    pub reject_auth_on_upload_url: bool,
    /// `GET …/content` answers `302` to a pre-authenticated URL (documented) instead of the bytes.
    pub redirect_downloads: bool,
    /// Request budgets (all apply; e.g. one per tenant and one per drive); empty = unlimited.
    pub throttle: Vec<ThrottleOptions>,
    /// After a `Retry-After` is handed out, requests on *other* connections arriving within this time are
    /// not counted as early: they may have been in flight already. Default 100 ms.
    pub in_flight_grace: Duration,
    /// How many changes back the delta feed remembers: a token more than this many change numbers behind
    /// the drive (each created, changed or deleted item counts one, and so does its folder) answers `410 Gone` (`resyncChangesApplyDifferences`), as a service that dropped old tokens
    /// does. `None` (default) keeps every token; [`super::GraphEmulator::expire_delta_tokens`] drops them
    /// on demand.
    pub delta_token_history: Option<u64>,
}

impl std::fmt::Debug for GraphOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphOptions")
            .field("jwt_key", &"<redacted>")
            .field("audiences", &self.audiences)
            .field("tenant_id", &self.tenant_id)
            .field("simple_upload_limit", &self.simple_upload_limit)
            .field("session_lifetime", &self.session_lifetime)
            .field("throttle", &self.throttle)
            .finish_non_exhaustive()
    }
}

impl Default for GraphOptions {
    fn default() -> GraphOptions {
        GraphOptions {
            jwt_key: (0..32).map(|_| fastrand::u8(..)).collect(),
            audiences: vec![
                "https://graph.microsoft.com".into(),
                "00000003-0000-0000-c000-000000000000".into(),
            ],
            check_roles: true,
            tenant_id: "72f988bf-0000-4000-8000-00000000f0e1".into(),
            simple_upload_limit: 250 * 1000 * 1000,
            max_file_size: 250 * 1000 * 1000 * 1000,
            max_fragment: 60 * 1024 * 1024,
            fragment_multiple: 327_680,
            session_lifetime: Duration::from_secs(15 * 60),
            page_size: 200,
            max_path: 400,
            reject_auth_on_upload_url: true,
            redirect_downloads: true,
            throttle: Vec::new(),
            in_flight_grace: Duration::from_millis(100),
            delta_token_history: None,
        }
    }
}

/// The error code of a delta `410 Gone` (driveItem: delta, "there may be cases when the service can't
/// provide a list of changes for a given token"): what the client should do after enumerating again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeltaResync {
    /// `resyncChangesApplyDifferences`: take the server's version where the client was up to date.
    ApplyDifferences,
    /// `resyncChangesUploadDifferences`: upload what the service did not return or holds differently.
    UploadDifferences,
}

impl DeltaResync {
    /// The documented code.
    pub fn code(self) -> &'static str {
        match self {
            DeltaResync::ApplyDifferences => "resyncChangesApplyDifferences",
            DeltaResync::UploadDifferences => "resyncChangesUploadDifferences",
        }
    }
}

/// Which traffic shares one budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThrottleScope {
    /// All requests to the emulator (one tenant, one app).
    Tenant,
    /// Each drive has its own budget (requests not about a drive — users, sites — are free).
    Drive,
}

/// A request budget: `requests` per `window`, counted per [`ThrottleScope`]. Over budget the emulator
/// answers `status` (429, or 503) with `Retry-After` = whole seconds until the window ends; from 80 % of
/// the budget on, answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
#[derive(Clone, Debug)]
pub struct ThrottleOptions {
    pub requests: u64,
    pub window: Duration,
    pub scope: ThrottleScope,
    pub status: u16,
}

impl GraphOptions {
    /// Trust the tokens of an identity provider (the identity emulator's `jwt_key()`) for `tenant_id`.
    pub fn trusting(jwt_key: &[u8], tenant_id: &str) -> GraphOptions {
        GraphOptions {
            jwt_key: jwt_key.to_vec(),
            tenant_id: tenant_id.to_owned(),
            ..GraphOptions::default()
        }
    }
}

impl ThrottleOptions {
    /// `requests` per `window` for the whole tenant, answered with `429`.
    pub fn per_tenant(requests: u64, window: Duration) -> ThrottleOptions {
        ThrottleOptions {
            requests,
            window,
            scope: ThrottleScope::Tenant,
            status: 429,
        }
    }

    /// `requests` per `window` for each drive, answered with `429`.
    pub fn per_drive(requests: u64, window: Duration) -> ThrottleOptions {
        ThrottleOptions {
            scope: ThrottleScope::Drive,
            ..ThrottleOptions::per_tenant(requests, window)
        }
    }
}
