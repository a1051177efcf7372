//! Configuration, faults, tokens, sessions and the records tests read.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The endpoints faults can target.
pub const ENDPOINTS: &[&str] = &[
    "start",
    "chunk",
    "status_query",
    "videos_list",
    "channels_list",
];

/// Scopes that authorise `videos.insert` (the Discovery document's `videos.insert.scopes`,
/// docs/research/youtube.md §1).
pub const INSERT_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/youtube",
    "https://www.googleapis.com/auth/youtube.force-ssl",
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtubepartner",
];

/// Scopes that authorise `videos.list` and `channels.list`: `youtube.upload` is not one of them
/// (the Discovery document's `videos.list.scopes` and `channels.list.scopes`, §1).
pub const READ_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/youtube",
    "https://www.googleapis.com/auth/youtube.force-ssl",
    "https://www.googleapis.com/auth/youtube.readonly",
    "https://www.googleapis.com/auth/youtubepartner",
];

/// Documented `status.failureReason` values (research §4).
pub const FAILURE_REASONS: &[&str] = &[
    "conversion",
    "invalidFile",
    "emptyFile",
    "tooSmall",
    "codec",
    "uploadAborted",
];

/// Documented `status.rejectionReason` values (research §4).
pub const REJECTION_REASONS: &[&str] = &[
    "copyright",
    "inappropriate",
    "duplicate",
    "termsOfUse",
    "uploaderAccountSuspended",
    "length",
    "claim",
    "uploaderAccountClosed",
    "trademark",
    "legal",
];

/// How processing ends once `processing_polls` polls have answered
/// "processing".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProcessingOutcome {
    #[default]
    Succeeded,
    Failed {
        reason: String,
    },
    Rejected {
        reason: String,
    },
}

impl ProcessingOutcome {
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ProcessingOutcome::Succeeded => Ok(()),
            ProcessingOutcome::Failed { reason } if !FAILURE_REASONS.contains(&reason.as_str()) => {
                Err(format!("failureReason must be one of {FAILURE_REASONS:?}"))
            }
            ProcessingOutcome::Rejected { reason }
                if !REJECTION_REASONS.contains(&reason.as_str()) =>
            {
                Err(format!(
                    "rejectionReason must be one of {REJECTION_REASONS:?}"
                ))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EmulatorConfig {
    /// Port on 127.0.0.1; 0 = any free port.
    pub port: u16,
    /// How many `videos.list` polls of a complete upload answer
    /// `uploaded`/`processing` before the outcome shows.
    pub processing_polls: u32,
    /// The outcome every new upload gets (admin can change it per video).
    pub processing_outcome: ProcessingOutcome,
    /// OAuth clients registered at start (more via `POST /__admin/oauth/clients`).
    pub oauth_clients: Vec<OAuthClient>,
    /// The Google user the authorize endpoint signs in (one channel).
    pub google_user: GoogleUser,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            port: 0,
            processing_polls: 2,
            processing_outcome: ProcessingOutcome::Succeeded,
            oauth_clients: Vec::new(),
            google_user: GoogleUser::default(),
        }
    }
}

/// An OAuth client as the Google Cloud console would hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    /// Exact-match list (no prefix or wildcard matching).
    pub redirect_uris: Vec<String>,
    /// `production` or `testing` (research §1: testing apps get 7-day refresh tokens).
    #[serde(default)]
    pub publishing_status: PublishingStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PublishingStatus {
    #[default]
    Production,
    Testing,
}

/// The signed-in Google account and its one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoogleUser {
    pub channel_id: String,
    pub title: String,
}

impl Default for GoogleUser {
    fn default() -> Self {
        GoogleUser {
            channel_id: "UCemulatorChannel000001".into(),
            title: "Emulator Channel".into(),
        }
    }
}

/// How the automatic consent screen answers (admin `PUT /__admin/oauth/consent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Consent {
    /// The user presses "Cancel": the redirect carries `error=access_denied`.
    #[serde(default)]
    pub deny: bool,
    /// Granular consent: only these of the requested scopes are granted
    /// (`None` = all requested).
    #[serde(default)]
    pub grant_scopes: Option<Vec<String>>,
}

/// An access token the API endpoints accept.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub channel_id: String,
    /// Emulator-clock seconds; `None` for admin-issued tokens (never expire).
    pub expires_at: Option<u64>,
    /// The refresh token it was minted under, if any.
    pub grant: Option<String>,
    /// The scopes granted with it; `None` for admin-issued tokens, which may call everything.
    pub scopes: Option<Vec<String>>,
}

pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub channel_id: String,
    pub with_refresh: bool,
    pub expires_at: u64,
    pub used: bool,
}

pub struct RefreshGrant {
    pub client_id: String,
    pub channel_id: String,
    pub scope: String,
    /// Emulator-clock seconds; `Some` for testing clients (7 days).
    pub expires_at: Option<u64>,
    pub revoked: bool,
}

/// One authorize request, as decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub requested_scope: String,
    /// Empty unless a code was issued.
    pub granted_scope: String,
    pub access_type: String,
    pub prompt: Option<String>,
    pub code_challenge: Option<String>,
    /// `code`, or the `error` sent on the redirect.
    pub outcome: String,
}

/// One token issued by `POST /token` (kept whole: this is an emulator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// `access` or `refresh`.
    pub kind: String,
    pub token: String,
    pub client_id: String,
    pub channel_id: String,
    pub scope: String,
    pub issued_at: u64,
    pub expires_at: Option<u64>,
    /// `authorization_code` or `refresh_token`.
    pub grant_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OAuthRecords {
    pub authorizations: Vec<AuthorizeRecord>,
    /// Every `code_verifier` posted to `/token`, right or wrong.
    pub code_verifiers: Vec<String>,
    pub tokens: Vec<TokenRecord>,
    /// Tokens named in `/revoke` calls that succeeded.
    pub revoked: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The fault replaces the request; nothing is stored.
    #[default]
    Before,
    /// The request takes effect, then the answer is replaced.
    After,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer `status` (before or after the effect).
    Fail { status: u16 },
    /// `chunk` only: store the first half of the chunk, rounded down to a
    /// multiple of 262144, and answer 308 with that Range.
    ShortRange,
    /// The session answers 404 from this request on.
    ExpireSession,
    /// 403 `quotaExceeded` in `youtube.quota`.
    QuotaExceeded,
    /// Close the connection without an answer: with `before`, nothing happens; with `after`,
    /// the effect happens (the session is created, the chunk stored) and the answer is lost.
    Drop,
    /// `start` only: 400 `uploadLimitExceeded` in `youtube.video`: the channel has uploaded as
    /// many videos as YouTube allows in 24 hours.
    UploadLimitExceeded,
}

/// One fault rule, as posted to `POST /__admin/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub endpoint: String,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many requests it hits; `None` = until cleared.
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub phase: Phase,
}

impl FaultSpec {
    pub fn validate(&self) -> Result<(), String> {
        if !ENDPOINTS.contains(&self.endpoint.as_str()) {
            return Err(format!(
                "unknown endpoint {:?}; expected one of {ENDPOINTS:?}",
                self.endpoint
            ));
        }
        match self.kind {
            FaultKind::Fail { status } if !(400..=599).contains(&status) => {
                Err(format!("status {status} is not an error status"))
            }
            FaultKind::ShortRange if self.endpoint != "chunk" => {
                Err("short_range applies to the chunk endpoint only".into())
            }
            FaultKind::ExpireSession
                if !matches!(self.endpoint.as_str(), "chunk" | "status_query") =>
            {
                Err("expire_session applies to chunk or status_query".into())
            }
            FaultKind::UploadLimitExceeded if self.endpoint != "start" => {
                Err("upload_limit_exceeded applies to the start endpoint only".into())
            }
            FaultKind::ExpireSession
            | FaultKind::QuotaExceeded
            | FaultKind::UploadLimitExceeded
                if self.phase == Phase::After =>
            {
                Err(
                    "expire_session, quota_exceeded and upload_limit_exceeded act before the \
                     effect"
                        .into(),
                )
            }
            _ => Ok(()),
        }
    }
}

/// One PUT with bytes, as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub start: u64,
    pub len: u64,
    /// Bytes of it kept (less than `len` under `short_range`, 0 if refused).
    pub stored: u64,
    pub status: u16,
}

/// What the emulator knows about one resumable upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub session_id: String,
    pub channel_id: String,
    pub total: u64,
    pub content_type: String,
    pub bytes_held: u64,
    pub chunks: Vec<ChunkRecord>,
    pub status_queries: u32,
    pub expired: bool,
    /// SHA-256 hex of the assembled bytes, once complete.
    pub sha256: Option<String>,
    pub video_id: Option<String>,
    /// The `video` resource posted at the start (snippet, status).
    pub metadata: Value,
    pub polls: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Records {
    pub uploads: Vec<UploadRecord>,
    #[serde(default)]
    pub oauth: OAuthRecords,
}

pub struct Session {
    pub record: UploadRecord,
    pub data: Vec<u8>,
    pub outcome: ProcessingOutcome,
}

#[derive(Default)]
pub struct Inner {
    /// access token -> channel id, expiry, grant
    pub tokens: HashMap<String, AccessToken>,
    pub clients: Vec<OAuthClient>,
    pub user: GoogleUser,
    pub consent: Consent,
    /// (client_id, channel_id) pairs that consented before.
    pub consented: HashSet<(String, String)>,
    pub codes: HashMap<String, AuthCode>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub oauth_records: OAuthRecords,
    /// Seconds added to the wall clock (`POST /__admin/clock`).
    pub clock_offset: u64,
    /// in creation order
    pub sessions: Vec<Session>,
    pub faults: Vec<FaultSpec>,
}

impl Inner {
    /// The emulator clock: wall-clock Unix seconds plus the admin offset.
    pub fn now(&self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        wall + self.clock_offset
    }

    pub fn client(&self, client_id: &str) -> Option<&OAuthClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// The channel of a live access token (known, not expired).
    pub fn token_channel(&self, token: &str) -> Option<String> {
        self.live_token(token).map(|t| t.channel_id.clone())
    }

    /// A live access token (known, not expired).
    pub fn live_token(&self, token: &str) -> Option<&AccessToken> {
        let t = self.tokens.get(token)?;
        match t.expires_at {
            Some(at) if self.now() >= at => None,
            _ => Some(t),
        }
    }

    /// The title of a channel: the signed-in Google user's, or a made-up one for channels that
    /// only have admin-issued tokens (chosen).
    pub fn channel_title(&self, channel_id: &str) -> String {
        if self.user.channel_id == channel_id {
            self.user.title.clone()
        } else {
            format!("Channel {channel_id}")
        }
    }

    pub fn session_mut(&mut self, id: &str) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|s| s.record.session_id == id)
    }

    pub fn video_mut(&mut self, video_id: &str) -> Option<&mut Session> {
        self.sessions
            .iter_mut()
            .find(|s| s.record.video_id.as_deref() == Some(video_id))
    }

    /// Takes the first matching fault for `endpoint`, spending one of its count.
    pub fn take_fault(&mut self, endpoint: &str) -> Option<FaultSpec> {
        let i = self.faults.iter().position(|f| f.endpoint == endpoint)?;
        let fault = self.faults[i].clone();
        if let Some(n) = self.faults[i].count.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.faults.remove(i);
            }
        }
        Some(fault)
    }
}

pub struct Shared {
    pub config: Mutex<EmulatorConfig>,
    pub base_url: String,
    pub inner: Mutex<Inner>,
}

impl Shared {
    pub fn new(config: EmulatorConfig, base_url: String) -> Arc<Self> {
        let inner = Inner {
            clients: config.oauth_clients.clone(),
            user: config.google_user.clone(),
            ..Inner::default()
        };
        Arc::new(Shared {
            config: Mutex::new(config),
            base_url,
            inner: Mutex::new(inner),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn config(&self) -> EmulatorConfig {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

pub fn random_string(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// An 11-character id from YouTube's alphabet `[A-Za-z0-9_-]` (chosen).
pub fn video_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::thread_rng();
    (0..11)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
