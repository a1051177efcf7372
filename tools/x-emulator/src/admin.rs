//! Test control: the `AdminHandle` for in-process callers and the same
//! operations over HTTP under `/__admin` (a prefix X never uses).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::EmulatorConfig;
use crate::faults::FaultSpec;
use crate::link::LinkModel;
use crate::state::{
    processing_view, ConsentDecision, IssuedTokens, MediaState, ProcessingRule, Shared, TokenEvent,
    TweetRecord,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SegmentRecord {
    pub index: u32,
    pub length: usize,
}

/// What the emulator knows about one upload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MediaRecord {
    pub id: String,
    pub media_key: String,
    pub owner_id: String,
    pub media_type: String,
    pub media_category: Option<String>,
    pub total_bytes: u64,
    pub received_bytes: u64,
    /// Stored segments, by index.
    pub segments: Vec<SegmentRecord>,
    /// Every APPEND as received, in arrival order (retries included).
    pub appends: Vec<SegmentRecord>,
    /// SHA-256 hex of the assembled bytes, set at FINALIZE.
    pub sha256: Option<String>,
    /// uploading | finalizing | pending | in_progress | succeeded | failed | expired
    pub state: String,
    pub processing_error: Option<String>,
    pub expires_at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Records {
    pub media: Vec<MediaRecord>,
    pub tweets: Vec<TweetRecord>,
    pub tokens: Vec<TokenEvent>,
    /// Every PKCE `code_verifier` the token endpoint received with an authorization code, in
    /// arrival order, matching or not: a client's tests can check that what it stored never
    /// held one.
    #[serde(default)]
    pub code_verifiers: Vec<String>,
    /// endpoint -> status ("200", "429", "dropped", ...) -> count
    pub calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// Timeline user id (the `{id}` read) -> how many posts
    /// `GET /2/users/{id}/tweets` has returned in `data`, every page and
    /// every repeat counted. X bills reads per post returned (DOCS
    /// `x-api/getting-started/pricing.mdx`); X deduplicates a post within a
    /// UTC day, this count does not.
    #[serde(default)]
    pub timeline_posts_returned: BTreeMap<String, u64>,
}

/// A token minted by admin (skips the OAuth dance in tests).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MintRequest {
    pub user_id: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MintedToken {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: u64,
    pub scope: String,
}

impl From<IssuedTokens> for MintedToken {
    fn from(i: IssuedTokens) -> Self {
        MintedToken {
            access_token: i.access_token,
            refresh_token: i.refresh,
            expires_in: i.expires_in,
            scope: i.scope,
        }
    }
}

/// In-process control of one emulator; cheap to clone.
#[derive(Clone)]
pub struct AdminHandle {
    pub(crate) shared: Arc<Shared>,
}

impl AdminHandle {
    pub fn config(&self) -> EmulatorConfig {
        self.shared.lock().config.clone()
    }

    /// Changes config at run time; the port cannot change. A changed `link`
    /// applies at once, to open connections too.
    pub fn update_config(&self, f: impl FnOnce(&mut EmulatorConfig)) {
        let mut inner = self.shared.lock();
        let port = inner.config.port;
        f(&mut inner.config);
        inner.config.port = port;
        inner.config.link = inner.config.link.normalized();
        self.shared.link.set(inner.config.link);
    }

    /// The link model in force (also `config().link`).
    pub fn link(&self) -> LinkModel {
        self.shared.link.get()
    }

    /// Sets the link model: from the next read of every connection, open
    /// ones included, and from the next request's latency. Refuses a latency
    /// above `link::MAX_LATENCY`.
    pub fn set_link(&self, link: LinkModel) -> Result<(), String> {
        link.validate()?;
        self.update_config(|c| c.link = link);
        Ok(())
    }

    /// Queues the answer of the next authorize call(s).
    pub fn push_consent(&self, decision: ConsentDecision) {
        self.shared.lock().consent_queue.push_back(decision);
    }

    pub fn add_fault(&self, fault: FaultSpec) -> Result<(), String> {
        fault.validate()?;
        self.shared.lock().faults.push(fault);
        Ok(())
    }

    pub fn faults(&self) -> Vec<FaultSpec> {
        self.shared.lock().faults.clone()
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    pub fn push_processing_rule(&self, rule: ProcessingRule) {
        self.shared.lock().processing_rules.push_back(rule);
    }

    /// Moves the emulator clock forward (codes, tokens, media, rate windows
    /// and time-mode processing all follow it).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance_ms(by.as_millis() as u64);
    }

    pub fn now_ms(&self) -> u64 {
        self.shared.clock.now_ms()
    }

    pub fn mint_token(&self, req: &MintRequest) -> Result<MintedToken, String> {
        let now = self.shared.clock.now_ms();
        let mut inner = self.shared.lock();
        if inner.config.user(&req.user_id).is_none() {
            return Err(format!("no test user with id {}", req.user_id));
        }
        let client = req
            .client_id
            .clone()
            .or_else(|| inner.config.clients.first().map(|c| c.client_id.clone()))
            .unwrap_or_default();
        let issued = inner.issue_tokens(&req.user_id, &client, &req.scopes, now);
        inner.log_token_event(
            "issued",
            Some("admin"),
            &req.user_id,
            &client,
            Some(&issued),
            now / 1000,
        );
        Ok(issued.into())
    }

    /// Revokes every access and refresh token of a user: X answers 401 to
    /// the access token and 400 "Value passed for the token was invalid." to
    /// a refresh, so the user must connect again. Returns how many were live.
    pub fn revoke_user_tokens(&self, user_id: &str) -> usize {
        let now = self.shared.clock.now_secs();
        self.shared.lock().revoke_user_tokens(user_id, now)
    }

    /// Revokes only the access tokens of a user: X answers 401 to the
    /// current access token, and refreshing still works. Returns how many
    /// access tokens were live.
    pub fn revoke_user_access_tokens(&self, user_id: &str) -> usize {
        let now = self.shared.clock.now_secs();
        self.shared.lock().revoke_user_access_tokens(user_id, now)
    }

    /// Removes `scope` from all of a user's tokens; returns how many tokens lost it.
    pub fn withdraw_scope(&self, user_id: &str, scope: &str) -> usize {
        self.shared.lock().withdraw_scope(user_id, scope)
    }

    /// Makes a media id expire now; returns false if unknown.
    pub fn expire_media(&self, id: &str) -> bool {
        let now = self.shared.clock.now_ms();
        match self.shared.lock().media.get_mut(id) {
            Some(m) => {
                m.expires_at_ms = now;
                true
            }
            None => false,
        }
    }

    pub fn records(&self) -> Records {
        let now = self.shared.clock.now_ms();
        let inner = self.shared.lock();
        let media = inner
            .media
            .values()
            .map(|m| {
                let (state, error) = match &m.state {
                    _ if now >= m.expires_at_ms => ("expired".to_string(), None),
                    MediaState::Uploading => ("uploading".into(), None),
                    MediaState::Finalizing => ("finalizing".into(), None),
                    MediaState::Finalized(p) => {
                        let v = processing_view(p, &inner.config, now);
                        (v.state.to_string(), v.error)
                    }
                };
                MediaRecord {
                    id: m.id.clone(),
                    media_key: m.media_key.clone(),
                    owner_id: m.owner_id.clone(),
                    media_type: m.media_type.clone(),
                    media_category: m.category.clone(),
                    total_bytes: m.total_bytes,
                    received_bytes: m.received_bytes(),
                    segments: m
                        .segments
                        .iter()
                        .map(|(i, b)| SegmentRecord {
                            index: *i,
                            length: b.len(),
                        })
                        .collect(),
                    appends: m
                        .appends
                        .iter()
                        .map(|(i, l)| SegmentRecord {
                            index: *i,
                            length: *l,
                        })
                        .collect(),
                    sha256: m.sha256.clone(),
                    state,
                    processing_error: error,
                    expires_at: m.expires_at_ms / 1000,
                }
            })
            .collect();
        Records {
            media,
            tweets: inner.tweets.clone(),
            tokens: inner.token_events.clone(),
            code_verifiers: inner.code_verifiers.clone(),
            calls: inner.calls.clone(),
            timeline_posts_returned: inner.timeline_posts_returned.clone(),
        }
    }

    /// Forgets media, tweets, token events, call counts, rate windows,
    /// faults and queued consents/rules. Config and issued tokens stay.
    pub fn reset(&self) {
        self.shared.lock().reset_records();
    }
}

// ---- HTTP ----

fn bad(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": msg.into() })),
    )
        .into_response()
}

fn ok() -> Response {
    Json(json!({ "ok": true })).into_response()
}

/// Parses a JSON admin body into `T`, answering 400 with the serde message.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| Box::new(bad(e.to_string())))
}

pub fn router(admin: AdminHandle) -> Router {
    Router::new()
        .route(
            "/__admin/config",
            get(get_config).put(put_config).patch(patch_config),
        )
        .route(
            "/__admin/consent",
            post(post_consent).delete(delete_consent),
        )
        .route(
            "/__admin/faults",
            get(get_faults).post(post_fault).delete(delete_faults),
        )
        .route("/__admin/processing", post(post_processing))
        .route("/__admin/tokens", post(post_token))
        .route("/__admin/users/{id}/revoke_tokens", post(post_revoke_user))
        .route("/__admin/media/{id}/expire", post(post_expire_media))
        .route("/__admin/clock", get(get_clock))
        .route("/__admin/clock/advance", post(post_advance))
        .route("/__admin/records", get(get_records).delete(delete_records))
        .route("/__admin/records/media/{id}", get(get_media_record))
        .route("/__admin/reset", post(delete_records))
        .route("/__admin/endpoints", get(get_endpoints))
        .route("/__admin/link", get(get_link).put(put_link))
        .route("/__admin", delete(delete_records))
        .with_state(admin)
}

async fn get_config(State(a): State<AdminHandle>) -> Json<EmulatorConfig> {
    Json(a.config())
}

async fn put_config(State(a): State<AdminHandle>, body: axum::body::Bytes) -> Response {
    match parse::<EmulatorConfig>(&body) {
        Ok(cfg) => {
            a.update_config(|c| *c = cfg);
            Json(a.config()).into_response()
        }
        Err(r) => *r,
    }
}

/// Deep-merges a JSON object into the config (objects merge, other values
/// replace), so a test can change one knob: `{"auth_code_ttl_secs": 1}`.
async fn patch_config(State(a): State<AdminHandle>, body: axum::body::Bytes) -> Response {
    let patch: Value = match parse(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut current = match serde_json::to_value(a.config()) {
        Ok(v) => v,
        Err(e) => return bad(e.to_string()),
    };
    // A link patch naming a profile starts from that profile, not from the
    // current numbers (which would override it).
    if patch.pointer("/link/profile").is_some() {
        current["link"] = json!({});
    }
    merge(&mut current, patch);
    match serde_json::from_value::<EmulatorConfig>(current) {
        Ok(cfg) => {
            a.update_config(|c| *c = cfg);
            Json(a.config()).into_response()
        }
        Err(e) => bad(e.to_string()),
    }
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

async fn post_consent(State(a): State<AdminHandle>, body: axum::body::Bytes) -> Response {
    match parse::<ConsentDecision>(&body) {
        Ok(d) => {
            a.push_consent(d);
            ok()
        }
        Err(r) => *r,
    }
}

async fn delete_consent(State(a): State<AdminHandle>) -> Response {
    a.shared.lock().consent_queue.clear();
    ok()
}

async fn get_faults(State(a): State<AdminHandle>) -> Json<Vec<FaultSpec>> {
    Json(a.faults())
}

async fn post_fault(State(a): State<AdminHandle>, body: axum::body::Bytes) -> Response {
    match parse::<FaultSpec>(&body) {
        Ok(f) => match a.add_fault(f) {
            Ok(()) => ok(),
            Err(e) => bad(e),
        },
        Err(r) => *r,
    }
}

async fn delete_faults(State(a): State<AdminHandle>) -> Response {
    a.clear_faults();
    ok()
}

async fn post_processing(State(a): State<AdminHandle>, body: axum::body::Bytes) -> Response {
    match parse::<ProcessingRule>(&body) {
        Ok(r) => {
            a.push_processing_rule(r);
            ok()
        }
        Err(r) => *r,
    }
}

async fn post_token(State(a): State<AdminHandle>, body: axum::body::Bytes) -> Response {
    match parse::<MintRequest>(&body) {
        Ok(req) => match a.mint_token(&req) {
            Ok(t) => Json(t).into_response(),
            Err(e) => bad(e),
        },
        Err(r) => *r,
    }
}

/// Body of `POST /__admin/users/{id}/revoke_tokens`; an empty body is `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeUser {
    /// `false` keeps the refresh tokens (the client can refresh); default
    /// `true` revokes them too (the user must connect again).
    #[serde(default = "yes")]
    refresh_tokens: bool,
}

fn yes() -> bool {
    true
}

async fn post_revoke_user(
    State(a): State<AdminHandle>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let req = if body.iter().all(u8::is_ascii_whitespace) {
        RevokeUser {
            refresh_tokens: true,
        }
    } else {
        match parse::<RevokeUser>(&body) {
            Ok(r) => r,
            Err(r) => return *r,
        }
    };
    let revoked = if req.refresh_tokens {
        a.revoke_user_tokens(&id)
    } else {
        a.revoke_user_access_tokens(&id)
    };
    Json(json!({ "revoked": revoked })).into_response()
}

async fn post_expire_media(State(a): State<AdminHandle>, Path(id): Path<String>) -> Response {
    if a.expire_media(&id) {
        ok()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "unknown media id" })),
        )
            .into_response()
    }
}

async fn get_clock(State(a): State<AdminHandle>) -> Response {
    let now = a.now_ms();
    Json(json!({ "now_ms": now, "now_secs": now / 1000, "offset_ms": a.shared.clock.offset_ms() }))
        .into_response()
}

#[derive(Deserialize)]
struct Advance {
    #[serde(default)]
    secs: u64,
    #[serde(default)]
    ms: u64,
}

async fn post_advance(State(a): State<AdminHandle>, body: axum::body::Bytes) -> Response {
    match parse::<Advance>(&body) {
        Ok(adv) => {
            a.advance_clock(Duration::from_millis(
                adv.secs.saturating_mul(1000).saturating_add(adv.ms),
            ));
            get_clock(State(a)).await
        }
        Err(r) => *r,
    }
}

async fn get_records(State(a): State<AdminHandle>) -> Json<Records> {
    Json(a.records())
}

async fn get_media_record(State(a): State<AdminHandle>, Path(id): Path<String>) -> Response {
    match a.records().media.into_iter().find(|m| m.id == id) {
        Some(m) => Json(m).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "unknown media id" })),
        )
            .into_response(),
    }
}

async fn delete_records(State(a): State<AdminHandle>) -> Response {
    a.reset();
    ok()
}

async fn get_endpoints() -> Json<&'static [&'static str]> {
    Json(crate::config::ENDPOINTS)
}

async fn get_link(State(a): State<AdminHandle>) -> Json<LinkModel> {
    Json(a.link())
}

/// `{"profile":"lambda-to-x"}`, explicit fields, or a profile with
/// overrides (see `LinkModel`); answers with the model now in force.
async fn put_link(State(a): State<AdminHandle>, body: axum::body::Bytes) -> Response {
    match parse::<LinkModel>(&body) {
        Ok(link) => match a.set_link(link) {
            Ok(()) => Json(a.link()).into_response(),
            Err(e) => bad(e),
        },
        Err(r) => *r,
    }
}
