//! The emulator's memory: tokens, codes, media, tweets, records.
//!
//! One `std::sync::Mutex` guards it all; no lock is held across an await,
//! and the only heavy work (hashing and checking an assembled upload) runs
//! outside the lock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{EmulatorConfig, ProcessingMode};
use crate::faults::FaultSpec;
use crate::link::LinkState;

/// Wall clock plus an offset that admin can push forward, so tests expire
/// codes, tokens, media and rate windows without sleeping.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now_ms(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        (real + self.offset_ms.load(Ordering::SeqCst)).max(0) as u64
    }

    pub fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    pub fn advance_ms(&self, ms: u64) {
        let ms = i64::try_from(ms).unwrap_or(i64::MAX / 4);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
}

pub struct Shared {
    pub clock: Clock,
    inner: Mutex<Inner>,
    /// The link model in force, read on every socket read and request, so
    /// outside the big lock; `config.link` is kept equal to it.
    pub(crate) link: Arc<LinkState>,
}

impl Shared {
    pub fn new(config: EmulatorConfig) -> Arc<Self> {
        Arc::new(Shared {
            clock: Clock::default(),
            link: LinkState::new(config.link),
            inner: Mutex::new(Inner::new(config)),
        })
    }

    /// A panic while holding the lock must not wedge the emulator, so a
    /// poisoned lock is taken over as is.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: String,
    pub method: PkceMethod,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub expires_at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceMethod {
    S256,
    Plain,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token_id: String,
    pub user_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at_ms: u64,
    pub revoked: bool,
    /// The authorization (code exchange or admin mint) this token descends
    /// from through refreshes.
    pub grant_id: String,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub token_id: String,
    pub user_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at_ms: Option<u64>,
    /// Single use: X rotates refresh tokens (research §1).
    pub spent: bool,
    pub revoked: bool,
    /// Hash of the access token issued with it.
    pub access_hash: String,
    pub grant_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    #[default]
    Approve,
    Deny,
}

/// One queued answer of the test consent screen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConsentDecision {
    #[serde(default)]
    pub action: ConsentAction,
    /// Who approves; default `default_user_id`.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Grant only these of the requested scopes (e.g. leave out media.write).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// How many authorize calls this decision answers.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessingOutcomeKind {
    Succeed,
    Fail,
    /// Stays `in_progress` forever.
    Stall,
}

/// Forces the outcome of processing for one media id, or for the next
/// `count` FINALIZE calls.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcessingRule {
    pub outcome: ProcessingOutcomeKind,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub media_id: Option<String>,
    #[serde(default = "one")]
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeed,
    Fail(String),
    Stall,
}

impl Outcome {
    pub fn from_rule(rule: &ProcessingRule) -> Self {
        match rule.outcome {
            ProcessingOutcomeKind::Succeed => Outcome::Succeed,
            ProcessingOutcomeKind::Stall => Outcome::Stall,
            ProcessingOutcomeKind::Fail => Outcome::Fail(
                rule.message
                    .clone()
                    .unwrap_or_else(|| "file is invalid".to_string()),
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Processing {
    pub outcome: Outcome,
    pub polls: u32,
    pub finalized_ms: u64,
}

#[derive(Debug, Clone)]
pub enum MediaState {
    Uploading,
    /// Hashing and checking outside the lock.
    Finalizing,
    Finalized(Processing),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Video,
    Gif,
    Image,
    Other,
}

#[derive(Debug, Clone)]
pub struct Media {
    pub id: String,
    pub media_key: String,
    pub owner_id: String,
    pub media_type: String,
    pub category: Option<String>,
    pub kind: MediaKind,
    /// Video and GIF categories process asynchronously (research §4:
    /// `processing_info` only for video/GIF with a category).
    pub async_processing: bool,
    pub total_bytes: u64,
    pub expires_at_ms: u64,
    pub segments: BTreeMap<u32, Bytes>,
    pub appends: Vec<(u32, usize)>,
    pub sha256: Option<String>,
    pub state: MediaState,
}

impl Media {
    pub fn received_bytes(&self) -> u64 {
        self.segments.values().map(|b| b.len() as u64).sum()
    }
}

/// What STATUS/FINALIZE report at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcView {
    pub state: &'static str,
    pub progress: u32,
    pub check_after: Option<u64>,
    pub error: Option<String>,
}

pub fn processing_view(p: &Processing, cfg: &EmulatorConfig, now_ms: u64) -> ProcView {
    // Fraction of processing done, in per mille to stay in integers.
    let done: u64 = match cfg.processing {
        ProcessingMode::Polls { steps: 0 } => 1000,
        ProcessingMode::Polls { steps } => (u64::from(p.polls) * 1000 / u64::from(steps)).min(1000),
        ProcessingMode::Time { duration_ms: 0 } => 1000,
        ProcessingMode::Time { duration_ms } => {
            (now_ms.saturating_sub(p.finalized_ms) * 1000 / duration_ms).min(1000)
        }
    };
    let waiting = |state, progress| ProcView {
        state,
        progress,
        check_after: Some(cfg.check_after_secs),
        error: None,
    };
    let percent = (done / 10) as u32;
    match (&p.outcome, done) {
        (_, 0) => waiting("pending", 0),
        (Outcome::Stall, _) => waiting("in_progress", percent.clamp(1, 99)),
        (_, d) if d < 1000 => waiting("in_progress", percent.clamp(1, 99)),
        (Outcome::Succeed, _) => ProcView {
            state: "succeeded",
            progress: 100,
            check_after: None,
            error: None,
        },
        (Outcome::Fail(msg), _) => ProcView {
            state: "failed",
            progress: 100,
            check_after: None,
            error: Some(msg.clone()),
        },
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TweetRecord {
    pub id: String,
    pub author_id: String,
    pub text: String,
    pub media_ids: Vec<String>,
    pub media_keys: Vec<String>,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Creation time, Unix milliseconds on the emulator clock (timeline lag
    /// and `start_time`/`end_time` compare against it).
    #[serde(default)]
    pub created_at_ms: u64,
}

/// A token lifecycle event. Never holds a raw token: only `token_id`s, the
/// first 16 hex digits of the token's SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenEvent {
    /// issued | refreshed | revoked (access and refresh tokens of a user,
    /// by admin) | access_revoked (access tokens only, by admin) |
    /// grant_revoked (a spent refresh token was presented again and
    /// `spent_refresh_reuse_revokes_grant` revoked its whole grant)
    pub event: String,
    pub grant_type: Option<String>,
    pub user_id: String,
    pub client_id: String,
    pub access_token_id: Option<String>,
    pub refresh_token_id: Option<String>,
    pub scope: String,
    pub at: u64,
}

#[derive(Debug, Clone, Default)]
pub struct RateWindow {
    pub start_secs: u64,
    pub count: u32,
}

pub struct Inner {
    pub config: EmulatorConfig,
    pub rng: StdRng,
    next_seq: u64,
    /// Its own counter, so ids stay what the seed gave before grants existed.
    grants_issued: u64,
    pub codes: HashMap<String, AuthCode>,
    /// Keyed by SHA-256 hex of the token, so raw tokens are not kept.
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub consent_queue: VecDeque<ConsentDecision>,
    /// Keyed by id; ids grow with time, so this iterates oldest first.
    pub media: BTreeMap<String, Media>,
    pub tweets: Vec<TweetRecord>,
    pub token_events: Vec<TokenEvent>,
    /// Every `code_verifier` presented with an authorization code, in arrival order.
    pub code_verifiers: Vec<String>,
    pub calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// Timeline user id -> posts returned by `GET /2/users/{id}/tweets`.
    pub timeline_posts_returned: BTreeMap<String, u64>,
    pub rate_windows: HashMap<(String, String), RateWindow>,
    /// 24-hour windows keyed by ("app:{client_id}" | "user:{user_id}", endpoint).
    pub daily_windows: HashMap<(String, String), RateWindow>,
    pub faults: Vec<FaultSpec>,
    pub processing_rules: VecDeque<ProcessingRule>,
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn token_id(hash: &str) -> String {
    hash.chars().take(16).collect()
}

impl Inner {
    fn new(config: EmulatorConfig) -> Self {
        Inner {
            rng: StdRng::seed_from_u64(config.seed),
            config,
            next_seq: 0,
            grants_issued: 0,
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            consent_queue: VecDeque::new(),
            media: BTreeMap::new(),
            tweets: Vec::new(),
            token_events: Vec::new(),
            code_verifiers: Vec::new(),
            calls: BTreeMap::new(),
            timeline_posts_returned: BTreeMap::new(),
            rate_windows: HashMap::new(),
            daily_windows: HashMap::new(),
            faults: Vec::new(),
            processing_rules: VecDeque::new(),
        }
    }

    /// Clears everything the emulator has received, keeping config and the
    /// tokens and codes already issued (so an authorized session survives).
    pub fn reset_records(&mut self) {
        self.consent_queue.clear();
        self.media.clear();
        self.tweets.clear();
        self.token_events.clear();
        self.code_verifiers.clear();
        self.calls.clear();
        self.timeline_posts_returned.clear();
        self.rate_windows.clear();
        self.daily_windows.clear();
        self.faults.clear();
        self.processing_rules.clear();
    }

    /// 19-digit ids that grow with time, like X's snowflakes.
    pub fn new_id(&mut self) -> String {
        self.next_seq += 1;
        let jitter: u64 = self.rng.gen_range(0..(1 << 22));
        let id = 1_900_000_000_000_000_000u64 + (self.next_seq << 22) + jitter;
        id.to_string()
    }

    pub fn random_token(&mut self) -> String {
        let mut buf = [0u8; 32];
        self.rng.fill_bytes(&mut buf);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    }

    pub fn count_call(&mut self, endpoint: &str, status: &str) {
        *self
            .calls
            .entry(endpoint.to_string())
            .or_default()
            .entry(status.to_string())
            .or_default() += 1;
    }

    /// Issues an access token (and a refresh token when `offline.access`
    /// was granted, research §1). Returns raw values for the response only.
    pub fn issue_tokens(
        &mut self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
        now_ms: u64,
    ) -> IssuedTokens {
        let grant = format!("g{}", self.next_grant());
        self.issue_tokens_in_grant(user_id, client_id, scopes, now_ms, &grant)
    }

    fn next_grant(&mut self) -> u64 {
        self.grants_issued += 1;
        self.grants_issued
    }

    /// As `issue_tokens`, inside an existing grant (a refresh).
    pub fn issue_tokens_in_grant(
        &mut self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
        now_ms: u64,
        grant_id: &str,
    ) -> IssuedTokens {
        let access = self.random_token();
        let access_hash = token_hash(&access);
        let access_token_id = token_id(&access_hash);
        self.access_tokens.insert(
            access_hash.clone(),
            AccessToken {
                token_id: access_token_id.clone(),
                user_id: user_id.to_string(),
                client_id: client_id.to_string(),
                scopes: scopes.to_vec(),
                expires_at_ms: now_ms + self.config.access_token_ttl_secs * 1000,
                revoked: false,
                grant_id: grant_id.to_string(),
            },
        );
        let refresh = if scopes.iter().any(|s| s == "offline.access") {
            let refresh = self.random_token();
            let hash = token_hash(&refresh);
            self.refresh_tokens.insert(
                hash.clone(),
                RefreshToken {
                    token_id: token_id(&hash),
                    user_id: user_id.to_string(),
                    client_id: client_id.to_string(),
                    scopes: scopes.to_vec(),
                    expires_at_ms: self
                        .config
                        .refresh_token_ttl_secs
                        .map(|s| now_ms + s * 1000),
                    spent: false,
                    revoked: false,
                    access_hash,
                    grant_id: grant_id.to_string(),
                },
            );
            Some((refresh, token_id(&hash)))
        } else {
            None
        };
        IssuedTokens {
            access_token: access,
            access_token_id,
            refresh: refresh.clone().map(|(raw, _)| raw),
            refresh_token_id: refresh.map(|(_, id)| id),
            expires_in: self.config.access_token_ttl_secs,
            scope: scopes.join(" "),
        }
    }

    pub fn log_token_event(
        &mut self,
        event: &str,
        grant_type: Option<&str>,
        user_id: &str,
        client_id: &str,
        issued: Option<&IssuedTokens>,
        now_secs: u64,
    ) {
        self.token_events.push(TokenEvent {
            event: event.to_string(),
            grant_type: grant_type.map(str::to_string),
            user_id: user_id.to_string(),
            client_id: client_id.to_string(),
            access_token_id: issued.map(|i| i.access_token_id.clone()),
            refresh_token_id: issued.and_then(|i| i.refresh_token_id.clone()),
            scope: issued.map(|i| i.scope.clone()).unwrap_or_default(),
            at: now_secs,
        });
    }

    /// Takes `scope` away from every live token of a user, as if they had been issued before
    /// the app asked for it (X's tokens issued before `media.write` existed, research §1).
    pub fn withdraw_scope(&mut self, user_id: &str, scope: &str) -> usize {
        let mut n = 0;
        for t in self
            .access_tokens
            .values_mut()
            .filter(|t| t.user_id == user_id)
        {
            let before = t.scopes.len();
            t.scopes.retain(|s| s != scope);
            n += before - t.scopes.len();
        }
        for t in self
            .refresh_tokens
            .values_mut()
            .filter(|t| t.user_id == user_id)
        {
            let before = t.scopes.len();
            t.scopes.retain(|s| s != scope);
            n += before - t.scopes.len();
        }
        n
    }

    /// Revokes every token of a user, access and refresh (the user must
    /// connect again); returns how many were live.
    pub fn revoke_user_tokens(&mut self, user_id: &str, now_secs: u64) -> usize {
        self.revoke_for_user(user_id, true, now_secs)
    }

    /// Revokes every live access token of a user but keeps the refresh
    /// tokens: X answers 401 to the current access token, and a refresh
    /// still works. Returns how many access tokens were live.
    pub fn revoke_user_access_tokens(&mut self, user_id: &str, now_secs: u64) -> usize {
        self.revoke_for_user(user_id, false, now_secs)
    }

    /// Revokes every access and refresh token of one grant (the answer to a
    /// spent refresh token presented again, when
    /// `spent_refresh_reuse_revokes_grant` is on). Returns how many were live.
    pub fn revoke_grant(&mut self, grant_id: &str, now_secs: u64) -> usize {
        let mut n = 0;
        let mut owner = None;
        for t in self.access_tokens.values_mut() {
            if t.grant_id == grant_id && !t.revoked {
                t.revoked = true;
                n += 1;
            }
        }
        for t in self.refresh_tokens.values_mut() {
            if t.grant_id == grant_id {
                owner = Some((t.user_id.clone(), t.client_id.clone()));
                if !t.revoked && !t.spent {
                    n += 1;
                }
                t.revoked = true;
            }
        }
        let (user_id, client_id) = owner.unwrap_or_default();
        self.token_events.push(TokenEvent {
            event: "grant_revoked".into(),
            grant_type: Some("refresh_token".into()),
            user_id,
            client_id,
            access_token_id: None,
            refresh_token_id: None,
            scope: String::new(),
            at: now_secs,
        });
        n
    }

    fn revoke_for_user(&mut self, user_id: &str, refresh_too: bool, now_secs: u64) -> usize {
        let mut n = 0;
        for t in self.access_tokens.values_mut() {
            if t.user_id == user_id && !t.revoked {
                t.revoked = true;
                n += 1;
            }
        }
        if refresh_too {
            for t in self.refresh_tokens.values_mut() {
                if t.user_id == user_id && !t.revoked && !t.spent {
                    t.revoked = true;
                    n += 1;
                }
            }
        }
        self.token_events.push(TokenEvent {
            event: if refresh_too {
                "revoked".into()
            } else {
                "access_revoked".into()
            },
            grant_type: None,
            user_id: user_id.to_string(),
            client_id: String::new(),
            access_token_id: None,
            refresh_token_id: None,
            scope: String::new(),
            at: now_secs,
        });
        n
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IssuedTokens {
    pub access_token: String,
    pub access_token_id: String,
    pub refresh: Option<String>,
    pub refresh_token_id: Option<String>,
    pub expires_in: u64,
    pub scope: String,
}
