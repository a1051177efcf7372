//! OAuth 2.0 Authorization Code with PKCE, as X runs it (research §1):
//! `GET /i/oauth2/authorize`, `POST /2/oauth2/token`, `POST /2/oauth2/revoke`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::problem::ApiError;
use crate::state::{
    token_hash, AuthCode, ConsentAction, ConsentDecision, IssuedTokens, PkceMethod, Shared,
};

/// The scopes X's authorization-code page lists, plus the three the OAS
/// adds (research §1 "Scopes").
pub const KNOWN_SCOPES: &[&str] = &[
    "tweet.read",
    "tweet.write",
    "tweet.moderate.write",
    "users.email",
    "users.read",
    "follows.read",
    "follows.write",
    "offline.access",
    "space.read",
    "mute.read",
    "mute.write",
    "like.read",
    "like.write",
    "list.read",
    "list.write",
    "block.read",
    "block.write",
    "bookmark.read",
    "bookmark.write",
    "dm.read",
    "dm.write",
    "media.write",
    "timeline.read",
    "broadcast.read",
    "broadcast.write",
];

/// X: `state` is "up to 500 characters" (research §1 table).
const MAX_STATE_LEN: usize = 500;

/// Query or form pairs; a repeated parameter is an error (RFC 6749 §3.1).
fn parse_pairs(raw: &str) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if map.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("Parameter [{k}] was included more than once."));
        }
    }
    Ok(map)
}

fn bad_authorize(description: &str) -> Response {
    // Errors about the client or redirect URI must not redirect: the
    // redirect target itself is untrusted (RFC 6749 §4.1.2.1).
    ApiError::oauth(StatusCode::BAD_REQUEST, "invalid_request", description).into_response()
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            // 302 Found, the classic OAuth redirect (axum's Redirect::to is 303).
            (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
        }
        Err(_) => bad_authorize("The registered redirect_uri is not a valid URL."),
    }
}

pub async fn authorize(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.unwrap_or_default();
    let params = match parse_pairs(&raw) {
        Ok(p) => p,
        Err(e) => return bad_authorize(&e),
    };
    let now_ms = shared.clock.now_ms();
    let mut inner = shared.lock();

    let Some(client_id) = params.get("client_id") else {
        return bad_authorize("Missing required parameter [client_id].");
    };
    let Some(client) = inner.config.client(client_id).cloned() else {
        return bad_authorize("Value passed for client_id was invalid.");
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return bad_authorize("Missing required parameter [redirect_uri].");
    };
    // X: must exactly match a registered callback URL.
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return bad_authorize(
            "Value passed for redirect_uri does not match a registered callback URL.",
        );
    }

    let state = params.get("state").map(String::as_str);
    let fail = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(s) = state {
            pairs.push(("state", s));
        }
        redirect_with(redirect_uri, &pairs)
    };

    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        None => {
            return fail(
                "invalid_request",
                "Missing required parameter [response_type].",
            )
        }
        Some(_) => return fail("unsupported_response_type", "response_type must be code."),
    }
    let Some(state) = state else {
        return fail("invalid_request", "Missing required parameter [state].");
    };
    if state.is_empty() || state.chars().count() > MAX_STATE_LEN {
        return fail("invalid_request", "state must be 1 to 500 characters.");
    }
    let requested: Vec<String> = match params.get("scope") {
        None => return fail("invalid_request", "Missing required parameter [scope]."),
        Some(s) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    };
    if requested.is_empty() {
        return fail("invalid_scope", "At least one scope is required.");
    }
    if let Some(bad) = requested
        .iter()
        .find(|s| !KNOWN_SCOPES.contains(&s.as_str()))
    {
        return fail("invalid_scope", &format!("Unknown scope [{bad}]."));
    }
    let Some(challenge) = params.get("code_challenge").filter(|c| !c.is_empty()) else {
        return fail(
            "invalid_request",
            "Missing required parameter [code_challenge].",
        );
    };
    // X lists code_challenge_method as a parameter; we require it.
    let method = match params.get("code_challenge_method").map(String::as_str) {
        Some("S256") => PkceMethod::S256,
        Some(m) if inner.config.pkce_method_case_insensitive && m.eq_ignore_ascii_case("s256") => {
            PkceMethod::S256
        }
        Some("plain") if inner.config.allow_plain_pkce => PkceMethod::Plain,
        Some(m)
            if inner.config.pkce_method_case_insensitive
                && inner.config.allow_plain_pkce
                && m.eq_ignore_ascii_case("plain") =>
        {
            PkceMethod::Plain
        }
        None => {
            return fail(
                "invalid_request",
                "Missing required parameter [code_challenge_method].",
            )
        }
        Some(_) => {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256 or plain.",
            )
        }
    };

    // The test consent: per-request query overrides first (they cannot race
    // with other tests), then the admin queue, then the default user.
    let mut decision = next_consent(&mut inner);
    if let Some(u) = params.get("x_emulator_user") {
        decision.user_id = Some(u.clone());
    }
    if let Some(d) = params.get("x_emulator_consent") {
        decision.action = if d == "deny" {
            ConsentAction::Deny
        } else {
            ConsentAction::Approve
        };
    }
    if let Some(s) = params.get("x_emulator_scope") {
        decision.scopes = Some(
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        );
    }
    if decision.action == ConsentAction::Deny {
        return redirect_with(
            redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied the request."),
                ("state", state),
            ],
        );
    }
    let user_id = decision
        .user_id
        .unwrap_or_else(|| inner.config.default_user_id.clone());
    if inner.config.user(&user_id).is_none() {
        return bad_authorize(&format!("Emulator has no test user with id {user_id}."));
    }
    let granted: Vec<String> = match decision.scopes {
        Some(only) => requested.into_iter().filter(|s| only.contains(s)).collect(),
        None => requested,
    };

    let code = inner.random_token();
    let ttl_ms = inner.config.auth_code_ttl_secs * 1000;
    inner.codes.insert(
        code.clone(),
        AuthCode {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            challenge: challenge.clone(),
            method,
            user_id,
            scopes: granted,
            expires_at_ms: now_ms + ttl_ms,
        },
    );
    drop(inner);
    redirect_with(redirect_uri, &[("state", state), ("code", &code)])
}

fn next_consent(inner: &mut crate::state::Inner) -> ConsentDecision {
    let default = ConsentDecision {
        action: ConsentAction::Approve,
        user_id: None,
        scopes: None,
        count: 1,
    };
    let Some(front) = inner.consent_queue.front_mut() else {
        return default;
    };
    let decision = front.clone();
    front.count = front.count.saturating_sub(1);
    if front.count == 0 {
        inner.consent_queue.pop_front();
    }
    decision
}

/// The body of a token or revoke call, with the client authenticated.
struct ClientRequest {
    client_id: String,
    form: HashMap<String, String>,
}

fn missing(name: &str) -> ApiError {
    ApiError::oauth(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &format!("Missing required parameter [{name}]."),
    )
}

/// X's token endpoint is form-encoded only (research §1), authenticates
/// confidential clients with HTTP Basic and public ones by `client_id`.
fn client_request(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ClientRequest, ApiError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(ApiError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded.",
        ));
    }
    let raw = std::str::from_utf8(body).map_err(|_| {
        ApiError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Body is not UTF-8.",
        )
    })?;
    let form = parse_pairs(raw)
        .map_err(|e| ApiError::oauth(StatusCode::BAD_REQUEST, "invalid_request", &e))?;
    let inner = shared.lock();
    let basic = headers
        .get(header::AUTHORIZATION)
        .map(|v| parse_basic(v.as_bytes()).ok_or_else(ApiError::missing_basic))
        .transpose()?;

    let client_id = match basic {
        Some((id, secret)) => {
            let client = inner
                .config
                .client(&id)
                .ok_or_else(ApiError::missing_basic)?;
            let ok = match &client.client_secret {
                Some(s) => *s == secret,
                // A public client may send Basic with an empty secret.
                None => secret.is_empty(),
            };
            if !ok || form.get("client_id").is_some_and(|b| *b != id) {
                return Err(ApiError::missing_basic());
            }
            id
        }
        None => {
            let id = form.get("client_id").ok_or_else(|| missing("client_id"))?;
            let client = inner.config.client(id).ok_or_else(|| {
                ApiError::oauth(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Value passed for client_id was invalid.",
                )
            })?;
            // Confidential clients must use Basic (PLH#319).
            if client.client_secret.is_some() {
                return Err(ApiError::missing_basic());
            }
            id.clone()
        }
    };
    Ok(ClientRequest { client_id, form })
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1;
/// PLH percent-encodes both parts).
fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.to_string())
    };
    Some((unescape(id)?, unescape(secret)?))
}

fn token_response(issued: &IssuedTokens) -> Response {
    let mut body = json!({
        "token_type": "bearer",
        "expires_in": issued.expires_in,
        "access_token": issued.access_token,
        "scope": issued.scope,
    });
    if let Some(r) = &issued.refresh {
        body["refresh_token"] = Value::String(r.clone());
    }
    let mut resp = Json(body).into_response();
    // Token responses must not be cached (RFC 6749 §5.1).
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}

pub async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    match token_inner(&shared, &headers, &body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn token_inner(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let req = client_request(shared, headers, body)?;
    let grant = req
        .form
        .get("grant_type")
        .ok_or_else(|| missing("grant_type"))?;
    match grant.as_str() {
        "authorization_code" => exchange_code(shared, &req),
        "refresh_token" => refresh(shared, &req),
        _ => Err(ApiError::oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only authorization_code and refresh_token are supported.",
        )),
    }
}

fn exchange_code(shared: &Shared, req: &ClientRequest) -> Result<Response, ApiError> {
    let code = req.form.get("code").ok_or_else(|| missing("code"))?;
    let redirect_uri = req
        .form
        .get("redirect_uri")
        .ok_or_else(|| missing("redirect_uri"))?;
    let verifier = req
        .form
        .get("code_verifier")
        .ok_or_else(|| missing("code_verifier"))?;
    let now_ms = shared.clock.now_ms();
    let mut inner = shared.lock();
    inner.code_verifiers.push(verifier.clone());
    // Any presentation uses the code up, even a failed one: single use.
    let stored = inner
        .codes
        .remove(code)
        .ok_or_else(ApiError::invalid_code)?;
    let pkce_ok = match stored.method {
        PkceMethod::S256 => {
            let digest = Sha256::digest(verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) == stored.challenge
        }
        PkceMethod::Plain => *verifier == stored.challenge,
    };
    if now_ms >= stored.expires_at_ms
        || stored.client_id != req.client_id
        || stored.redirect_uri != *redirect_uri
        || !pkce_ok
    {
        return Err(ApiError::invalid_code());
    }
    let issued = inner.issue_tokens(&stored.user_id, &stored.client_id, &stored.scopes, now_ms);
    inner.log_token_event(
        "issued",
        Some("authorization_code"),
        &stored.user_id,
        &stored.client_id,
        Some(&issued),
        now_ms / 1000,
    );
    Ok(token_response(&issued))
}

fn refresh(shared: &Shared, req: &ClientRequest) -> Result<Response, ApiError> {
    let raw = req
        .form
        .get("refresh_token")
        .ok_or_else(|| missing("refresh_token"))?;
    let now_ms = shared.clock.now_ms();
    let mut inner = shared.lock();
    let hash = token_hash(raw);
    // A spent (already rotated) token presented again by its own client:
    // 400 as for any bad token and, when configured, the whole grant dies
    // (community reports that X does so; UNCONFIRMED, research §1).
    let reused_grant = inner
        .refresh_tokens
        .get(&hash)
        .filter(|t| t.spent && !t.revoked && t.client_id == req.client_id)
        .map(|t| t.grant_id.clone());
    if let Some(grant) = reused_grant {
        if inner.config.spent_refresh_reuse_revokes_grant {
            inner.revoke_grant(&grant, now_ms / 1000);
        }
        return Err(ApiError::invalid_token());
    }
    let old = inner
        .refresh_tokens
        .get_mut(&hash)
        .filter(|t| {
            !t.spent
                && !t.revoked
                && t.client_id == req.client_id
                && t.expires_at_ms.is_none_or(|e| now_ms < e)
        })
        .ok_or_else(ApiError::invalid_token)?;
    // Rotation: the old refresh token is spent at once (research §1).
    old.spent = true;
    let old = old.clone();
    if inner.config.refresh_revokes_old_access_token {
        if let Some(a) = inner.access_tokens.get_mut(&old.access_hash) {
            a.revoked = true;
        }
    }
    let issued = inner.issue_tokens_in_grant(
        &old.user_id,
        &old.client_id,
        &old.scopes,
        now_ms,
        &old.grant_id,
    );
    inner.log_token_event(
        "refreshed",
        Some("refresh_token"),
        &old.user_id,
        &old.client_id,
        Some(&issued),
        now_ms / 1000,
    );
    Ok(token_response(&issued))
}

pub async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match revoke_inner(&shared, &headers, &body) {
        Ok(()) => Json(json!({ "revoked": true })).into_response(),
        Err(e) => e.into_response(),
    }
}

fn revoke_inner(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let req = client_request(shared, headers, body)?;
    let raw = req.form.get("token").ok_or_else(|| missing("token"))?;
    let hash = token_hash(raw);
    let now_secs = shared.clock.now_secs();
    let mut inner = shared.lock();
    let mut revoked_user = None;
    if let Some(t) = inner
        .access_tokens
        .get_mut(&hash)
        .filter(|t| t.client_id == req.client_id)
    {
        t.revoked = true;
        revoked_user = Some((t.user_id.clone(), Some(t.token_id.clone()), None));
    }
    let paired = match inner
        .refresh_tokens
        .get_mut(&hash)
        .filter(|t| t.client_id == req.client_id)
    {
        Some(t) => {
            t.revoked = true;
            revoked_user = Some((t.user_id.clone(), None, Some(t.token_id.clone())));
            Some(t.access_hash.clone())
        }
        None => None,
    };
    // Revoking a refresh token also ends its access token (RFC 7009 §2.1).
    if let Some(a) = paired.and_then(|h| inner.access_tokens.get_mut(&h)) {
        a.revoked = true;
    }
    // Unknown tokens still answer 200, as RFC 7009 §2.2 asks.
    if let Some((user, access_token_id, refresh_token_id)) = revoked_user {
        let client = req.client_id.clone();
        inner.token_events.push(crate::state::TokenEvent {
            event: "revoked".into(),
            grant_type: None,
            user_id: user,
            client_id: client,
            access_token_id,
            refresh_token_id,
            scope: String::new(),
            at: now_secs,
        });
    }
    Ok(())
}
