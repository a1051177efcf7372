//! Test control: `AdminHandle` for in-process callers and the same
//! operations over HTTP under `/__admin` (a prefix Google never uses).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::state::{
    random_string, AccessToken, Consent, FaultSpec, GoogleUser, OAuthClient, ProcessingOutcome,
    Records, Shared,
};

#[derive(Clone)]
pub struct AdminHandle {
    pub(crate) shared: Arc<Shared>,
}

impl AdminHandle {
    /// Issues an access token for `channel_id`.
    pub fn issue_token(&self, channel_id: &str) -> String {
        let token = format!("ya29.{}", random_string(40));
        self.shared.lock().tokens.insert(
            token.clone(),
            AccessToken {
                channel_id: channel_id.to_string(),
                expires_at: None,
                grant: None,
                scopes: None,
            },
        );
        token
    }

    /// Revokes a token; false if it was not known.
    pub fn revoke_token(&self, token: &str) -> bool {
        self.shared.lock().tokens.remove(token).is_some()
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

    pub fn records(&self) -> Records {
        let inner = self.shared.lock();
        Records {
            uploads: inner.sessions.iter().map(|s| s.record.clone()).collect(),
            oauth: inner.oauth_records.clone(),
        }
    }

    /// Registers (or replaces, by `client_id`) an OAuth client.
    pub fn register_client(&self, client: OAuthClient) -> Result<(), String> {
        if client.client_id.is_empty() || client.client_secret.is_empty() {
            return Err("client_id and client_secret must not be empty".into());
        }
        if client.redirect_uris.is_empty() {
            return Err("at least one redirect_uri is required".into());
        }
        let mut inner = self.shared.lock();
        inner.clients.retain(|c| c.client_id != client.client_id);
        inner.clients.push(client);
        Ok(())
    }

    /// Sets the Google user the authorize endpoint signs in.
    pub fn set_user(&self, user: GoogleUser) {
        self.shared.lock().user = user;
    }

    /// Sets how the automatic consent answers from now on.
    pub fn set_consent(&self, consent: Consent) {
        self.shared.lock().consent = consent;
    }

    /// Moves the emulator clock forward; returns its new time (Unix seconds).
    pub fn advance_clock(&self, secs: u64) -> u64 {
        let mut inner = self.shared.lock();
        inner.clock_offset += secs;
        inner.now()
    }

    /// Sets how processing of `video_id` ends; false if no such video.
    pub fn set_outcome(&self, video_id: &str, outcome: ProcessingOutcome) -> Result<bool, String> {
        outcome.validate()?;
        let mut inner = self.shared.lock();
        Ok(match inner.video_mut(video_id) {
            Some(s) => {
                s.outcome = outcome;
                true
            }
            None => false,
        })
    }

    /// Sets the outcome for uploads started from now on.
    pub fn set_default_outcome(&self, outcome: ProcessingOutcome) -> Result<(), String> {
        outcome.validate()?;
        self.shared
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .processing_outcome = outcome;
        Ok(())
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    channel_id: String,
}

fn bad(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response()
}

async fn issue_token(State(a): State<AdminHandle>, Json(r): Json<TokenRequest>) -> Response {
    let token = a.issue_token(&r.channel_id);
    Json(json!({ "access_token": token, "token_type": "Bearer", "channel_id": r.channel_id }))
        .into_response()
}

async fn revoke_token(State(a): State<AdminHandle>, Path(token): Path<String>) -> StatusCode {
    if a.revoke_token(&token) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn add_fault(State(a): State<AdminHandle>, Json(f): Json<FaultSpec>) -> Response {
    match a.add_fault(f) {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => bad(e),
    }
}

async fn list_faults(State(a): State<AdminHandle>) -> Json<Vec<FaultSpec>> {
    Json(a.faults())
}

async fn clear_faults(State(a): State<AdminHandle>) -> StatusCode {
    a.clear_faults();
    StatusCode::NO_CONTENT
}

async fn records(State(a): State<AdminHandle>) -> Json<Records> {
    Json(a.records())
}

async fn set_outcome(
    State(a): State<AdminHandle>,
    Path(video_id): Path<String>,
    Json(o): Json<ProcessingOutcome>,
) -> Response {
    match a.set_outcome(&video_id, o) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => bad(e),
    }
}

async fn set_default_outcome(
    State(a): State<AdminHandle>,
    Json(o): Json<ProcessingOutcome>,
) -> Response {
    match a.set_default_outcome(o) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad(e),
    }
}

async fn register_client(State(a): State<AdminHandle>, Json(c): Json<OAuthClient>) -> Response {
    match a.register_client(c) {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => bad(e),
    }
}

async fn set_user(State(a): State<AdminHandle>, Json(u): Json<GoogleUser>) -> StatusCode {
    a.set_user(u);
    StatusCode::NO_CONTENT
}

async fn set_consent(State(a): State<AdminHandle>, Json(c): Json<Consent>) -> StatusCode {
    a.set_consent(c);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct ClockRequest {
    advance_secs: u64,
}

async fn advance_clock(State(a): State<AdminHandle>, Json(r): Json<ClockRequest>) -> Response {
    Json(json!({ "now": a.advance_clock(r.advance_secs) })).into_response()
}

pub fn router(admin: AdminHandle) -> Router {
    Router::new()
        .route("/__admin/tokens", post(issue_token))
        .route("/__admin/tokens/{token}", delete(revoke_token))
        .route(
            "/__admin/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/__admin/records", get(records))
        .route("/__admin/videos/{video_id}/outcome", put(set_outcome))
        .route("/__admin/outcome", put(set_default_outcome))
        .route("/__admin/oauth/clients", post(register_client))
        .route("/__admin/oauth/user", put(set_user))
        .route("/__admin/oauth/consent", put(set_consent))
        .route("/__admin/clock", post(advance_clock))
        .with_state(admin)
}
