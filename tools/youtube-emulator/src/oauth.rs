//! Google's OAuth 2.0 for web server apps (research §1): `GET
//! /o/oauth2/v2/auth` (accounts.google.com), `POST /token` and `POST
//! /revoke` (oauth2.googleapis.com). Consent is automatic; the admin API
//! can make the user deny or grant fewer scopes. What is documented and
//! what is chosen: README.md.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::state::{
    random_string, AccessToken, AuthCode, AuthorizeRecord, Inner, PublishingStatus, RefreshGrant,
    Shared, TokenRecord,
};

/// The scope `videos.insert` needs (research §1); authorize requires it.
pub const UPLOAD_SCOPE: &str = "https://www.googleapis.com/auth/youtube.upload";
/// `expires_in` of every access token (Google answers 3599).
pub const ACCESS_TOKEN_SECS: u64 = 3599;
/// Refresh-token lifetime for a client in "testing" (research §1: 7 days).
pub const TESTING_REFRESH_SECS: u64 = 7 * 24 * 3600;
/// Authorization-code lifetime (chosen).
const CODE_SECS: u64 = 600;

/// Scopes the authorize endpoint knows (chosen list: the YouTube scopes of
/// research §1 plus the basic profile scopes).
const KNOWN_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/youtube",
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.readonly",
    "https://www.googleapis.com/auth/youtube.force-ssl",
    "https://www.googleapis.com/auth/youtubepartner",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "openid",
    "email",
    "profile",
];

/// The body research §1 records for a revoked or expired refresh token.
const EXPIRED_OR_REVOKED: &str = "Token has been expired or revoked.";

/// Query or form pairs; a repeated parameter is an error (chosen).
fn parse_pairs(raw: &str) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if map.contains_key(k.as_ref()) {
            return Err(format!("Parameter {k} was included more than once."));
        }
        map.insert(k.into_owned(), v.into_owned());
    }
    Ok(map)
}

/// base64url without padding (RFC 4648 §5).
fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `{"error","error_description"}` with `application/json; charset=utf-8`
/// (the content type research §1 records from the token endpoint).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        json!({ "error": error, "error_description": description }),
    )
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

fn invalid_request(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// 302 to the registered redirect URI with `pairs` added to its query.
fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return invalid_request("The registered redirect_uri is not a valid URL.");
    };
    url.query_pairs_mut().extend_pairs(pairs);
    match HeaderValue::from_str(url.as_str()) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => invalid_request("The registered redirect_uri is not a valid URL."),
    }
}

/// base64url without padding of SHA-256 (RFC 7636 §4.2).
fn s256(verifier: &str) -> String {
    base64url(&Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 challenge is 43 characters of base64url.
fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// `GET /o/oauth2/v2/auth`: validates, "consents" at once, and redirects
/// with `code`, `state` and `scope`, or with `error`.
pub async fn authorize(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let params = match parse_pairs(&raw.unwrap_or_default()) {
        Ok(p) => p,
        Err(e) => return invalid_request(&e),
    };
    let mut inner = shared.lock();

    // Client and redirect URI errors never redirect: the target is untrusted.
    let Some(client_id) = params.get("client_id") else {
        return invalid_request("Missing required parameter: client_id");
    };
    let Some(client) = inner.client(client_id).cloned() else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return invalid_request("Missing required parameter: redirect_uri");
    };
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            "The redirect URI in the request does not match the ones authorized for the OAuth client.",
        );
    }

    let state = params.get("state").map(String::as_str);
    let requested_scope = params.get("scope").cloned().unwrap_or_default();
    let access_type = params
        .get("access_type")
        .cloned()
        .unwrap_or_else(|| "online".into());
    let prompt = params.get("prompt").cloned();
    let code_challenge = params.get("code_challenge").cloned();
    let mut record = AuthorizeRecord {
        client_id: client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        requested_scope: requested_scope.clone(),
        granted_scope: String::new(),
        access_type: access_type.clone(),
        prompt: prompt.clone(),
        code_challenge: code_challenge.clone(),
        outcome: String::new(),
    };
    let fail = |inner: &mut Inner, mut record: AuthorizeRecord, error: &str, description: &str| {
        record.outcome = error.to_string();
        inner.oauth_records.authorizations.push(record);
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
                &mut inner,
                record,
                "invalid_request",
                "Missing required parameter: response_type",
            )
        }
        Some(_) => {
            return fail(
                &mut inner,
                record,
                "unsupported_response_type",
                "response_type must be code.",
            )
        }
    }
    let requested: Vec<&str> = requested_scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if requested.is_empty() {
        return fail(
            &mut inner,
            record,
            "invalid_request",
            "Missing required parameter: scope",
        );
    }
    if let Some(s) = requested.iter().find(|s| !KNOWN_SCOPES.contains(s)) {
        let msg = format!("Some requested scopes were invalid: {s}");
        return fail(&mut inner, record, "invalid_scope", &msg);
    }
    if !requested.contains(&UPLOAD_SCOPE) {
        return fail(
            &mut inner,
            record,
            "invalid_scope",
            "The scope must include https://www.googleapis.com/auth/youtube.upload.",
        );
    }
    let Some(challenge) = code_challenge else {
        return fail(
            &mut inner,
            record,
            "invalid_request",
            "Missing required parameter: code_challenge (PKCE is required by this emulator).",
        );
    };
    if params.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return fail(
            &mut inner,
            record,
            "invalid_request",
            "code_challenge_method must be S256.",
        );
    }
    if !valid_challenge(&challenge) {
        return fail(
            &mut inner,
            record,
            "invalid_request",
            "code_challenge must be the 43-character base64url SHA-256 of the verifier.",
        );
    }
    if !matches!(access_type.as_str(), "online" | "offline") {
        return fail(
            &mut inner,
            record,
            "invalid_request",
            "access_type must be online or offline.",
        );
    }
    let prompts: Vec<&str> = prompt
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if prompts
        .iter()
        .any(|p| !matches!(*p, "none" | "consent" | "select_account"))
        || (prompts.contains(&"none") && prompts.len() > 1)
    {
        return fail(
            &mut inner,
            record,
            "invalid_request",
            "prompt must be none, or any of consent and select_account.",
        );
    }

    let channel_id = inner.user.channel_id.clone();
    let pair = (client_id.clone(), channel_id.clone());
    let first = !inner.consented.contains(&pair);
    if prompts.contains(&"none") && first {
        return fail(
            &mut inner,
            record,
            "consent_required",
            "The user has not consented to this client yet.",
        );
    }
    if inner.consent.deny {
        return fail(
            &mut inner,
            record,
            "access_denied",
            "The user denied access.",
        );
    }
    let granted: Vec<&str> = match &inner.consent.grant_scopes {
        Some(allowed) => requested
            .iter()
            .copied()
            .filter(|s| allowed.iter().any(|a| a == s))
            .collect(),
        None => requested.clone(),
    };
    if granted.is_empty() {
        return fail(
            &mut inner,
            record,
            "access_denied",
            "The user granted none of the requested scopes.",
        );
    }
    let scope = granted.join(" ");
    let with_refresh = access_type == "offline" && (first || prompts.contains(&"consent"));
    inner.consented.insert(pair);
    let code = format!("4/0A{}", random_string(60));
    let expires_at = inner.now() + CODE_SECS;
    inner.codes.insert(
        code.clone(),
        AuthCode {
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            code_challenge: challenge,
            scope: scope.clone(),
            channel_id,
            with_refresh,
            expires_at,
            used: false,
        },
    );
    record.granted_scope = scope.clone();
    record.outcome = "code".into();
    inner.oauth_records.authorizations.push(record);
    let mut pairs = Vec::new();
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    pairs.push(("code", code.as_str()));
    pairs.push(("scope", scope.as_str()));
    redirect_with(redirect_uri, &pairs)
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn form_of(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, Box<Response>> {
    if !is_form(headers) {
        return Err(Box::new(invalid_request(
            "Content-Type must be application/x-www-form-urlencoded.",
        )));
    }
    let raw =
        std::str::from_utf8(body).map_err(|_| Box::new(invalid_request("Body is not UTF-8.")))?;
    parse_pairs(raw).map_err(|e| Box::new(invalid_request(&e)))
}

/// The authenticated client id: HTTP Basic, or `client_id` +
/// `client_secret` in the form.
fn authenticate(
    inner: &Inner,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<String, Box<Response>> {
    let unauthorized = || {
        Box::new(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Unauthorized",
        ))
    };
    let (id, secret) = match headers.get(header::AUTHORIZATION) {
        Some(v) => {
            let (id, secret) = parse_basic(v.as_bytes()).ok_or_else(unauthorized)?;
            if form.get("client_id").is_some_and(|f| *f != id) || form.contains_key("client_secret")
            {
                return Err(Box::new(invalid_request(
                    "Send the client credentials once: HTTP Basic or the form, not both.",
                )));
            }
            (id, secret)
        }
        None => {
            let id = form.get("client_id").ok_or_else(|| {
                Box::new(invalid_request(
                    "Could not determine client ID from request.",
                ))
            })?;
            let secret = form
                .get("client_secret")
                .ok_or_else(|| Box::new(invalid_request("client_secret is missing.")))?;
            (id.clone(), secret.clone())
        }
    };
    let Some(client) = inner.client(&id) else {
        return Err(Box::new(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        )));
    };
    if client.client_secret != secret {
        return Err(unauthorized());
    }
    Ok(id)
}

/// Mints an access token (and records it).
fn mint_access(
    inner: &mut Inner,
    client_id: &str,
    channel_id: &str,
    scope: &str,
    grant: Option<String>,
    grant_type: &str,
) -> String {
    let token = format!("ya29.a0{}", random_string(60));
    let now = inner.now();
    let expires_at = now + ACCESS_TOKEN_SECS;
    inner.tokens.insert(
        token.clone(),
        AccessToken {
            channel_id: channel_id.to_string(),
            expires_at: Some(expires_at),
            grant,
            scopes: Some(scope.split_whitespace().map(str::to_owned).collect()),
        },
    );
    inner.oauth_records.tokens.push(TokenRecord {
        kind: "access".into(),
        token: token.clone(),
        client_id: client_id.to_string(),
        channel_id: channel_id.to_string(),
        scope: scope.to_string(),
        issued_at: now,
        expires_at: Some(expires_at),
        grant_type: grant_type.to_string(),
    });
    token
}

fn token_response(access: &str, refresh: Option<&str>, scope: &str) -> Response {
    let mut body = json!({
        "access_token": access,
        "expires_in": ACCESS_TOKEN_SECS,
        "scope": scope,
        "token_type": "Bearer",
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    let mut resp = json_response(StatusCode::OK, body);
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
    );
    resp
}

/// `POST /token`: `authorization_code` or `refresh_token`.
pub async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match form_of(&headers, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let mut inner = shared.lock();
    let client_id = match authenticate(&inner, &headers, &form) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(&mut inner, &client_id, &form),
        Some("refresh_token") => refresh(&mut inner, &client_id, &form),
        None => invalid_request("Missing required parameter: grant_type"),
        Some(g) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {g}"),
        ),
    }
}

fn exchange_code(inner: &mut Inner, client_id: &str, form: &HashMap<String, String>) -> Response {
    let Some(code) = form.get("code") else {
        return invalid_request("Missing required parameter: code");
    };
    let Some(redirect_uri) = form.get("redirect_uri") else {
        return invalid_request("Missing parameter: redirect_uri");
    };
    let Some(verifier) = form.get("code_verifier") else {
        return invalid_request("Missing code verifier.");
    };
    inner.oauth_records.code_verifiers.push(verifier.clone());
    let now = inner.now();
    let Some(stored) = inner.codes.get_mut(code) else {
        return invalid_grant("Malformed auth code.");
    };
    // A code is spent by the first exchange that names it, right or wrong (chosen).
    let was_used = std::mem::replace(&mut stored.used, true);
    if was_used || now >= stored.expires_at || stored.client_id != client_id {
        return invalid_grant("Bad Request");
    }
    if stored.redirect_uri != *redirect_uri {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            "Bad Request",
        );
    }
    if !valid_verifier(verifier) || s256(verifier) != stored.code_challenge {
        return invalid_grant("Invalid code verifier.");
    }
    let scope = stored.scope.clone();
    let channel_id = stored.channel_id.clone();
    let with_refresh = stored.with_refresh;
    let refresh = with_refresh.then(|| {
        let token = format!("1//0{}", random_string(60));
        let testing = inner
            .client(client_id)
            .is_some_and(|c| c.publishing_status == PublishingStatus::Testing);
        let expires_at = testing.then_some(now + TESTING_REFRESH_SECS);
        inner.refresh_tokens.insert(
            token.clone(),
            RefreshGrant {
                client_id: client_id.to_string(),
                channel_id: channel_id.clone(),
                scope: scope.clone(),
                expires_at,
                revoked: false,
            },
        );
        inner.oauth_records.tokens.push(TokenRecord {
            kind: "refresh".into(),
            token: token.clone(),
            client_id: client_id.to_string(),
            channel_id: channel_id.clone(),
            scope: scope.clone(),
            issued_at: now,
            expires_at,
            grant_type: "authorization_code".into(),
        });
        token
    });
    let access = mint_access(
        inner,
        client_id,
        &channel_id,
        &scope,
        refresh.clone(),
        "authorization_code",
    );
    token_response(&access, refresh.as_deref(), &scope)
}

fn refresh(inner: &mut Inner, client_id: &str, form: &HashMap<String, String>) -> Response {
    let Some(token) = form.get("refresh_token") else {
        return invalid_request("Missing required parameter: refresh_token");
    };
    let now = inner.now();
    let Some(grant) = inner.refresh_tokens.get(token) else {
        return invalid_grant(EXPIRED_OR_REVOKED);
    };
    if grant.revoked || grant.expires_at.is_some_and(|at| now >= at) {
        return invalid_grant(EXPIRED_OR_REVOKED);
    }
    if grant.client_id != client_id {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Unauthorized",
        );
    }
    let (channel_id, scope) = (grant.channel_id.clone(), grant.scope.clone());
    let access = mint_access(
        inner,
        client_id,
        &channel_id,
        &scope,
        Some(token.clone()),
        "refresh_token",
    );
    // Google's refresh tokens do not rotate (research §1): no refresh_token here.
    token_response(&access, None, &scope)
}

/// Revokes a refresh token, every access token minted under it, and the
/// user's earlier consent to its client.
fn revoke_grant(inner: &mut Inner, refresh: &str) {
    if let Some(g) = inner.refresh_tokens.get_mut(refresh) {
        g.revoked = true;
        let pair = (g.client_id.clone(), g.channel_id.clone());
        inner.consented.remove(&pair);
    }
    inner
        .tokens
        .retain(|_, t| t.grant.as_deref() != Some(refresh));
}

/// `POST /revoke?token=…` or with `token` in a form body.
pub async fn revoke(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut params = match parse_pairs(&raw.unwrap_or_default()) {
        Ok(p) => p,
        Err(e) => return invalid_request(&e),
    };
    if !body.is_empty() {
        match form_of(&headers, &body) {
            Ok(f) => params.extend(f),
            Err(r) => return *r,
        }
    }
    let Some(token) = params.get("token") else {
        return invalid_request("Missing required parameter: token");
    };
    let mut inner = shared.lock();
    let now = inner.now();
    let live_refresh = inner
        .refresh_tokens
        .get(token)
        .is_some_and(|g| !g.revoked && g.expires_at.is_none_or(|at| now < at));
    if live_refresh {
        revoke_grant(&mut inner, token);
    } else if inner.token_channel(token).is_some() {
        // Revoking an access token also revokes its refresh token (research §1).
        if let Some(t) = inner.tokens.remove(token) {
            if let Some(r) = t.grant {
                revoke_grant(&mut inner, &r);
            }
        }
    } else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Token expired or revoked",
        );
    }
    inner.oauth_records.revoked.push(token.clone());
    json_response(StatusCode::OK, json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_an_independent_computation() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mJ92K9X3kV0kHn2iThlQ5hYr1qcT3Q"),
            "NHR1IKljTY52T8z_RFcnyRGDyaiJWW26a4Akc3_rBLI"
        );
    }

    #[test]
    fn basic_credentials_are_form_unescaped() {
        // base64("my%20id:s+cret") — RFC 6749 §2.3.1 form-encodes both parts first.
        let header = format!("Basic {}", STANDARD.encode("my%20id:s+cret"));
        assert_eq!(
            parse_basic(header.as_bytes()),
            Some(("my id".to_string(), "s cret".to_string()))
        );
        assert_eq!(parse_basic(b"Bearer abc"), None);
    }
}
