//! Plays API Gateway's JWT authorizer locally, and Cognito's hosted UI for the console.
//!
//! - `LocalAuthorizer` verifies a bearer token signed with a local key as API Gateway's JWT
//!   authorizer does (signature, issuer, expiry, and `aud`, or `client_id` when the token has no
//!   `aud`, against the audience) and hands its claims to the function where API Gateway puts
//!   them (`requestContext.authorizer.jwt.claims`). The demo and tests mint tokens with the key.
//! - `LocalSignIn` serves the hosted-UI endpoints the console uses (`/oauth2/authorize`,
//!   `/oauth2/token`, `/logout`), under `SIGN_IN_PATH` on the local gateway: a page that asks
//!   for a user name (no password: anyone on this machine may be anyone), the authorization code
//!   grant with PKCE (S256 only, codes single-use and short-lived), and tokens shaped as Cognito
//!   shapes them, minted by the same `LocalAuthorizer` so the gateway accepts them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use http::{header, StatusCode};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub const LOCAL_ISSUER: &str = "https://reelay.local/issuer";
/// The audience the local gateway accepts, and the console's client id: in AWS the JWT
/// authorizer's audience is the Cognito app client's id (template.yaml, `ConsoleClient`).
pub const LOCAL_AUDIENCE: &str = "reelay-local";
/// The console's OAuth client id at the local sign-in (`CONSOLE_CLIENT_ID`).
pub const CONSOLE_CLIENT_ID: &str = LOCAL_AUDIENCE;
/// Where the local gateway serves the sign-in endpoints (`CONSOLE_SIGN_IN_URL` is the gateway's
/// URL followed by this).
pub const SIGN_IN_PATH: &str = "/__local/auth";
/// How long minted tokens live (Cognito's default for access and ID tokens: one hour).
pub const TOKEN_TTL_SECS: u64 = 3600;
/// How long an authorization code may wait for its exchange (Cognito's: five minutes).
pub const CODE_TTL: Duration = Duration::from_secs(300);
/// The scopes the console's client may ask for (the template's `AllowedOAuthScopes`).
const ALLOWED_SCOPES: [&str; 1] = ["openid"];

#[derive(Clone)]
pub struct LocalAuthorizer {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// What the token endpoint answers (Cognito's fields, less the refresh token).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: String,
    pub id_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

impl LocalAuthorizer {
    /// A fresh random signing key, so a token minted by one run means nothing to another.
    pub fn random() -> Self {
        let secret = uuid::Uuid::new_v4().as_bytes().repeat(2);
        Self::from_secret(&secret)
    }

    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        // HS256 over a JSON object cannot fail.
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding).unwrap_or_default()
    }

    /// A token for `sub`, valid for an hour (what tests and the demo use).
    pub fn mint(&self, sub: &str) -> String {
        let now = now_secs();
        self.sign(&json!({
            "sub": sub,
            "iss": LOCAL_ISSUER,
            "aud": LOCAL_AUDIENCE,
            "iat": now,
            "exp": now + TOKEN_TTL_SECS,
        }))
    }

    /// The tokens the sign-in page issues to `username`, shaped as Cognito's: an access token
    /// with `client_id` and no `aud`, an ID token with `aud` = the client id, both with the same
    /// `sub` (`user_sub`) and the user name.
    pub fn mint_for_user(&self, username: &str, client_id: &str) -> TokenSet {
        let now = now_secs();
        let sub = user_sub(username);
        let access = json!({
            "sub": sub,
            "iss": LOCAL_ISSUER,
            "client_id": client_id,
            "token_use": "access",
            "scope": "openid",
            "username": username,
            "auth_time": now,
            "iat": now,
            "exp": now + TOKEN_TTL_SECS,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let id = json!({
            "sub": sub,
            "iss": LOCAL_ISSUER,
            "aud": client_id,
            "token_use": "id",
            "cognito:username": username,
            "auth_time": now,
            "iat": now,
            "exp": now + TOKEN_TTL_SECS,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        TokenSet {
            access_token: self.sign(&access),
            id_token: self.sign(&id),
            token_type: "Bearer".to_owned(),
            expires_in: TOKEN_TTL_SECS,
        }
    }

    /// Verifies an `Authorization` header value as API Gateway's JWT authorizer would and returns
    /// the claims as the strings API Gateway passes on. API Gateway checks `aud` against the
    /// audience, or `client_id` when the token has no `aud` (Cognito's access tokens).
    pub fn verify(&self, authorization: Option<&str>) -> Option<HashMap<String, String>> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let claims = decode::<Map<String, Value>>(token, &self.decoding, &validation)
            .ok()?
            .claims;
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == LOCAL_AUDIENCE,
            Some(Value::Array(auds)) => auds.iter().any(|a| a == LOCAL_AUDIENCE),
            Some(_) => false,
            None => claims.get("client_id").and_then(Value::as_str) == Some(LOCAL_AUDIENCE),
        };
        if !audience_ok {
            return None;
        }
        Some(
            claims
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
        )
    }
}

/// The stable `sub` the local sign-in gives a user name: a UUID (version 8) made of the first
/// 16 bytes of a SHA-256 of the name, so the same name is the same user across runs, and a valid
/// `reelay_shared::ids::UserId`, as Cognito's subs are.
pub fn user_sub(username: &str) -> String {
    let digest = Sha256::digest(format!("reelay-local user\0{username}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// A user name the sign-in page accepts: 1 to 64 characters of letters, digits and `.-_@+`
/// (Cognito's user names are similar, without spaces).
pub fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '+'))
}

/// The console's OAuth client as registered with the sign-in (the template's `ConsoleClient`):
/// the exact callback and sign-out URLs it may use.
#[derive(Debug, Clone)]
pub struct ConsoleClient {
    pub client_id: String,
    pub callback_urls: Vec<String>,
    pub logout_urls: Vec<String>,
}

impl ConsoleClient {
    /// The console served by the gateway at `gateway_url`: its callback and sign-out URL is the
    /// console's own URL, `{gateway_url}/`, as in the template.
    pub fn for_gateway(gateway_url: &str) -> Self {
        let console = console_url(gateway_url);
        Self {
            client_id: CONSOLE_CLIENT_ID.to_owned(),
            callback_urls: vec![console.clone()],
            logout_urls: vec![console],
        }
    }
}

/// The console's URL on a gateway (`{gateway_url}/`).
pub fn console_url(gateway_url: &str) -> String {
    format!("{}/", gateway_url.trim_end_matches('/'))
}

/// The sign-in base URL on a gateway (`CONSOLE_SIGN_IN_URL`).
pub fn sign_in_url(gateway_url: &str) -> String {
    format!("{}{SIGN_IN_PATH}", gateway_url.trim_end_matches('/'))
}

struct PendingCode {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    username: String,
    issued: Instant,
}

/// The local hosted UI: the console's client, and the codes issued and not yet exchanged.
pub struct LocalSignIn {
    authorizer: LocalAuthorizer,
    client: ConsoleClient,
    codes: Mutex<HashMap<String, PendingCode>>,
    code_ttl: Duration,
}

impl LocalSignIn {
    pub fn new(authorizer: LocalAuthorizer, client: ConsoleClient) -> Self {
        Self {
            authorizer,
            client,
            codes: Mutex::new(HashMap::new()),
            code_ttl: CODE_TTL,
        }
    }

    /// The same, with codes that expire after `ttl` (tests).
    pub fn with_code_ttl(mut self, ttl: Duration) -> Self {
        self.code_ttl = ttl;
        self
    }

    /// The endpoints, relative to where they are nested (`SIGN_IN_PATH` on the gateway).
    pub fn router<S>(self: Arc<Self>) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        axum::Router::new()
            .route(
                "/oauth2/authorize",
                axum::routing::get(authorize_page).post(authorize_submit),
            )
            .route("/oauth2/token", axum::routing::post(token))
            .route("/logout", axum::routing::get(logout))
            .with_state(self)
    }
}

/// An OAuth error (RFC 6749 §5.2), answered 400 with `{"error": ..., "error_description": ...}`.
#[derive(Debug)]
struct OAuthError {
    error: &'static str,
    description: String,
}

fn oauth_error(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        error,
        description: description.into(),
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response()
    }
}

/// Form or query parameters, refusing repeats (RFC 6749 §3.1: a parameter appears at most once).
fn params(raw: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if out.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(oauth_error(
                "invalid_request",
                format!("the parameter {k} is repeated"),
            ));
        }
    }
    Ok(out)
}

/// An authorization request, checked. Errors before the redirect URI is known to be the
/// client's are answered here (never redirected: that would be an open redirect); later ones go
/// back to the client as `?error=...&state=...` (RFC 6749 §4.1.2.1).
struct AuthorizeRequest {
    redirect_uri: String,
    state: Option<String>,
    client_id: String,
    code_challenge: String,
    scope: String,
}

enum AuthorizeError {
    /// Answer the browser directly.
    Direct(OAuthError),
    /// Send the browser back to the client with an error: the URL to send it to.
    Redirect(String),
}

fn redirect(to: &str) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, to.to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response()
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(base) {
        Ok(u) => u,
        Err(_) => return base.to_owned(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

impl LocalSignIn {
    fn check_authorize(
        &self,
        p: &HashMap<String, String>,
    ) -> Result<AuthorizeRequest, AuthorizeError> {
        let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let direct = |error: &'static str, description: &str| {
            AuthorizeError::Direct(oauth_error(error, description))
        };
        let client_id =
            get("client_id").ok_or_else(|| direct("invalid_request", "client_id is missing"))?;
        if client_id != self.client.client_id {
            return Err(direct("invalid_client", "unknown client_id"));
        }
        let redirect_uri = get("redirect_uri")
            .ok_or_else(|| direct("invalid_request", "redirect_uri is missing"))?;
        if !self.client.callback_urls.iter().any(|u| u == redirect_uri) {
            return Err(direct(
                "invalid_request",
                "redirect_uri is not a callback URL registered for this client",
            ));
        }
        let state = get("state").map(str::to_owned);
        let back = |error: &str, description: &str| {
            let mut pairs = vec![("error", error), ("error_description", description)];
            if let Some(s) = &state {
                pairs.push(("state", s.as_str()));
            }
            AuthorizeError::Redirect(with_query(redirect_uri, &pairs))
        };
        match get("response_type") {
            Some("code") => {}
            Some(_) => {
                return Err(back(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ))
            }
            None => return Err(back("invalid_request", "response_type is missing")),
        }
        // A public client: PKCE is required, and only S256 (plain would hand the verifier over).
        let code_challenge = get("code_challenge")
            .ok_or_else(|| back("invalid_request", "code_challenge is required (PKCE)"))?;
        if get("code_challenge_method") != Some("S256") {
            return Err(back(
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
        if !is_pkce_value(code_challenge) || code_challenge.len() != 43 {
            return Err(back(
                "invalid_request",
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
            ));
        }
        let scope = get("scope").unwrap_or("openid");
        let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
        if scopes.is_empty() || scopes.iter().any(|s| !ALLOWED_SCOPES.contains(s)) {
            return Err(back(
                "invalid_scope",
                "this client may ask for the openid scope only",
            ));
        }
        Ok(AuthorizeRequest {
            redirect_uri: redirect_uri.to_owned(),
            state,
            client_id: client_id.to_owned(),
            code_challenge: code_challenge.to_owned(),
            scope: scopes.join(" "),
        })
    }
}

/// RFC 7636's unreserved characters (a verifier or an S256 challenge).
fn is_pkce_value(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

async fn authorize_page(
    State(sign_in): State<Arc<LocalSignIn>>,
    RawQuery(query): RawQuery,
) -> Response {
    let p = match params(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    match sign_in.check_authorize(&p) {
        Ok(req) => Html(sign_in_page(&req, None)).into_response(),
        Err(AuthorizeError::Direct(e)) => e.into_response(),
        Err(AuthorizeError::Redirect(to)) => redirect(&to),
    }
}

/// The sign-in form's submission: the authorization request again (hidden fields) and the user
/// name; issues a code and sends the browser back to the client with it.
async fn authorize_submit(
    State(sign_in): State<Arc<LocalSignIn>>,
    body: axum::body::Bytes,
) -> Response {
    let p = match params(&body) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let req = match sign_in.check_authorize(&p) {
        Ok(req) => req,
        Err(AuthorizeError::Direct(e)) => return e.into_response(),
        Err(AuthorizeError::Redirect(to)) => return redirect(&to),
    };
    let username = p.get("username").map(|u| u.trim()).unwrap_or_default();
    if !valid_username(username) {
        let page = sign_in_page(
            &req,
            Some("Enter a user name of 1 to 64 letters, digits or . - _ @ +, without spaces."),
        );
        return (StatusCode::BAD_REQUEST, Html(page)).into_response();
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    {
        let mut codes = sign_in.codes.lock().unwrap_or_else(|p| p.into_inner());
        let ttl = sign_in.code_ttl;
        codes.retain(|_, c| c.issued.elapsed() < ttl);
        codes.insert(
            code.clone(),
            PendingCode {
                client_id: req.client_id.clone(),
                redirect_uri: req.redirect_uri.clone(),
                code_challenge: req.code_challenge.clone(),
                username: username.to_owned(),
                issued: Instant::now(),
            },
        );
    }
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        pairs.push(("state", s.as_str()));
    }
    redirect(&with_query(&req.redirect_uri, &pairs))
}

/// The token endpoint: the authorization code grant with PKCE, for the console's public client.
async fn token(
    State(sign_in): State<Arc<LocalSignIn>>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return oauth_error(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
        .into_response();
    }
    let p = match params(&body) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    match get("grant_type") {
        Some("authorization_code") => {}
        Some(_) => {
            return oauth_error(
                "unsupported_grant_type",
                "only grant_type=authorization_code is supported",
            )
            .into_response()
        }
        None => return oauth_error("invalid_request", "grant_type is missing").into_response(),
    }
    let mut missing = ["code", "redirect_uri", "client_id", "code_verifier"]
        .into_iter()
        .filter(|k| get(k).is_none());
    if let Some(k) = missing.next() {
        return oauth_error("invalid_request", format!("{k} is missing")).into_response();
    }
    let (code, redirect_uri, client_id, verifier) = (
        get("code").unwrap_or_default(),
        get("redirect_uri").unwrap_or_default(),
        get("client_id").unwrap_or_default(),
        get("code_verifier").unwrap_or_default(),
    );
    if client_id != sign_in.client.client_id {
        return oauth_error("invalid_client", "unknown client_id").into_response();
    }
    if !(43..=128).contains(&verifier.len()) || !is_pkce_value(verifier) {
        return oauth_error(
            "invalid_request",
            "code_verifier must be 43 to 128 unreserved characters (RFC 7636)",
        )
        .into_response();
    }
    // Taken out whatever follows: a code is good for one attempt only.
    let pending = sign_in
        .codes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(code);
    let Some(pending) = pending else {
        return oauth_error("invalid_grant", "the code is unknown or was already used")
            .into_response();
    };
    if pending.issued.elapsed() >= sign_in.code_ttl {
        return oauth_error("invalid_grant", "the code has expired").into_response();
    }
    if pending.client_id != client_id || pending.redirect_uri != redirect_uri {
        return oauth_error(
            "invalid_grant",
            "the code was issued to another client or redirect_uri",
        )
        .into_response();
    }
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if challenge != pending.code_challenge {
        return oauth_error(
            "invalid_grant",
            "code_verifier does not match the code_challenge",
        )
        .into_response();
    }
    let tokens = sign_in
        .authorizer
        .mint_for_user(&pending.username, client_id);
    (
        StatusCode::OK,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(tokens),
    )
        .into_response()
}

/// Cognito's sign-out endpoint: `client_id` and a registered `logout_uri`; the browser goes
/// there. Tokens are stateless here (as Cognito's access tokens are to API Gateway until they
/// expire): the console forgets them.
async fn logout(State(sign_in): State<Arc<LocalSignIn>>, RawQuery(query): RawQuery) -> Response {
    let p = match params(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(client_id) = get("client_id") else {
        return oauth_error("invalid_request", "client_id is missing").into_response();
    };
    if client_id != sign_in.client.client_id {
        return oauth_error("invalid_client", "unknown client_id").into_response();
    }
    let Some(logout_uri) = get("logout_uri") else {
        return oauth_error("invalid_request", "logout_uri is missing").into_response();
    };
    if !sign_in.client.logout_urls.iter().any(|u| u == logout_uri) {
        return oauth_error(
            "invalid_request",
            "logout_uri is not a sign-out URL registered for this client",
        )
        .into_response();
    }
    redirect(logout_uri)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The sign-in page: one labelled field, the authorization request carried in hidden fields.
fn sign_in_page(req: &AuthorizeRequest, error: Option<&str>) -> String {
    let mut hidden = vec![
        ("response_type", "code".to_owned()),
        ("client_id", req.client_id.clone()),
        ("redirect_uri", req.redirect_uri.clone()),
        ("code_challenge", req.code_challenge.clone()),
        ("code_challenge_method", "S256".to_owned()),
        ("scope", req.scope.clone()),
    ];
    if let Some(s) = &req.state {
        hidden.push(("state", s.clone()));
    }
    let hidden: String = hidden
        .iter()
        .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{}">"#, escape(v)))
        .collect::<Vec<_>>()
        .join("\n        ");
    let error = error
        .map(|e| {
            format!(
                r#"<p class="error" id="username-error" role="alert">{}</p>"#,
                escape(e)
            )
        })
        .unwrap_or_default();
    let described = if error.is_empty() {
        "username-hint"
    } else {
        "username-hint username-error"
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to Reelay (local)</title>
<style>
  :root {{ color-scheme: light; --ink: #1c2430; --muted: #5b6573; --accent: #1d5fd1; --line: #d5dbe3; }}
  * {{ box-sizing: border-box; }}
  body {{ margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f3f5f8;
         font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }}
  main {{ width: min(24rem, 92vw); background: #fff; border: 1px solid var(--line); border-radius: 12px;
          padding: 2rem; box-shadow: 0 8px 24px rgba(28, 36, 48, .08); }}
  h1 {{ margin: 0 0 .25rem; font-size: 1.4rem; }}
  p {{ margin: 0 0 1.25rem; color: var(--muted); }}
  label {{ display: block; font-weight: 600; margin-bottom: .35rem; }}
  input[type=text] {{ width: 100%; padding: .6rem .75rem; font: inherit; border: 1px solid #8a94a3;
                      border-radius: 8px; }}
  input[type=text]:focus {{ outline: 3px solid rgba(29, 95, 209, .35); border-color: var(--accent); }}
  .hint {{ font-size: .875rem; margin: .35rem 0 1.25rem; }}
  .error {{ color: #a61b1b; font-weight: 600; margin: .35rem 0 0; }}
  button {{ width: 100%; padding: .65rem; font: inherit; font-weight: 600; color: #fff; background: var(--accent);
            border: 0; border-radius: 8px; cursor: pointer; }}
  button:hover {{ background: #174ea9; }}
  button:focus-visible {{ outline: 3px solid rgba(29, 95, 209, .45); outline-offset: 2px; }}
  footer {{ margin-top: 1.25rem; font-size: .8rem; color: var(--muted); }}
</style>
</head>
<body>
<main>
  <h1>Sign in to Reelay</h1>
  <p>Local sign-in: any user name, no password.</p>
  <form method="post" action="authorize">
    <label for="username">User name</label>
    <input type="text" id="username" name="username" autocomplete="username" autocapitalize="none"
           spellcheck="false" required maxlength="64" autofocus aria-describedby="{described}">
    {error}
    <p class="hint" id="username-hint">The same name signs you in as the same user every time.</p>
    {hidden}
    <button type="submit">Sign in</button>
  </form>
  <footer>Stands in for the Cognito hosted UI on this machine (reelay-local).</footer>
</main>
</body>
</html>
"#
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_own_tokens_and_refuses_others() {
        let auth = LocalAuthorizer::random();
        let token = auth.mint("user-1");
        let claims = auth
            .verify(Some(&format!("Bearer {token}")))
            .expect("valid token");
        assert_eq!(claims["sub"], "user-1");
        assert!(auth.verify(None).is_none());
        assert!(auth.verify(Some(&token)).is_none(), "missing Bearer prefix");
        let other = LocalAuthorizer::random();
        assert!(
            other.verify(Some(&format!("Bearer {token}"))).is_none(),
            "other key"
        );
    }

    #[test]
    fn checks_aud_or_else_client_id_like_api_gateway() {
        let auth = LocalAuthorizer::random();
        let bearer = |claims: Value| format!("Bearer {}", auth.sign(&claims));
        let exp = now_secs() + 60;
        let base = |extra: Value| {
            let mut c = json!({ "sub": "u1", "iss": LOCAL_ISSUER, "exp": exp });
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            c
        };
        assert!(auth
            .verify(Some(&bearer(base(json!({ "client_id": LOCAL_AUDIENCE })))))
            .is_some());
        assert!(auth
            .verify(Some(&bearer(base(json!({ "client_id": "other" })))))
            .is_none());
        assert!(
            auth.verify(Some(&bearer(base(json!({}))))).is_none(),
            "neither aud nor client_id"
        );
        // aud, when present, decides, even if client_id would match.
        assert!(auth
            .verify(Some(&bearer(base(
                json!({ "aud": "other", "client_id": LOCAL_AUDIENCE })
            ))))
            .is_none());
        assert!(auth
            .verify(Some(&bearer(base(json!({ "aud": ["x", LOCAL_AUDIENCE] })))))
            .is_some());
        let mut wrong_issuer = base(json!({ "aud": LOCAL_AUDIENCE }));
        wrong_issuer["iss"] = json!("https://elsewhere");
        assert!(auth.verify(Some(&bearer(wrong_issuer))).is_none());
        let mut expired = base(json!({ "aud": LOCAL_AUDIENCE }));
        expired["exp"] = json!(now_secs() - 3600);
        assert!(auth.verify(Some(&bearer(expired))).is_none());
    }

    #[test]
    fn user_subs_are_stable_user_ids_and_differ_per_name() {
        let a = user_sub("ada");
        assert_eq!(a, user_sub("ada"));
        assert_ne!(a, user_sub("grace"));
        assert!(reelay_shared::ids::UserId::parse(&a).is_ok(), "{a}");
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 8);
        assert!(valid_username("ada.lovelace@example.org"));
        assert!(!valid_username("") && !valid_username("two words") && !valid_username("<b>"));
        assert!(!valid_username(&"a".repeat(65)));
    }

    const GATEWAY: &str = "http://127.0.0.1:4000";

    /// The sign-in endpoints on a real local server (registered for the console at `GATEWAY`,
    /// wherever this server listens); its base URL and the authorizer.
    async fn app(ttl: Duration) -> (String, LocalAuthorizer) {
        let auth = LocalAuthorizer::random();
        let sign_in =
            LocalSignIn::new(auth.clone(), ConsoleClient::for_gateway(GATEWAY)).with_code_ttl(ttl);
        let router: axum::Router =
            axum::Router::new().nest(SIGN_IN_PATH, Arc::new(sign_in).router());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (base, auth)
    }

    struct Answer {
        status: StatusCode,
        location: Option<url::Url>,
        headers: http::HeaderMap,
        body: String,
    }

    impl Answer {
        fn json(&self) -> Value {
            serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
        }
        fn query(&self, name: &str) -> Option<String> {
            self.location
                .as_ref()?
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        }
    }

    async fn call(base: &str, method: &str, path: &str, form: Option<&str>) -> Answer {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = format!("{base}{path}");
        let mut req = match method {
            "POST" => http.post(url),
            _ => http.get(url),
        };
        if let Some(form) = form {
            req = req
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.to_owned());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let location = headers
            .get(header::LOCATION)
            .map(|l| url::Url::parse(l.to_str().unwrap()).unwrap());
        let body = resp.text().await.unwrap();
        Answer {
            status,
            location,
            headers,
            body,
        }
    }

    fn pkce() -> (String, String) {
        let verifier = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        (verifier, challenge)
    }

    fn enc(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    fn authorize_query(challenge: &str, state: &str) -> String {
        format!(
            "response_type=code&client_id={CONSOLE_CLIENT_ID}&redirect_uri={}&state={}&code_challenge={challenge}&code_challenge_method=S256&scope=openid",
            enc(&console_url(GATEWAY)),
            enc(state)
        )
    }

    /// Signs `username` in through the page; the code the browser is sent back with.
    async fn sign_in(app: &str, challenge: &str, username: &str) -> String {
        let state = "st<ate>&1";
        let page = call(
            app,
            "GET",
            &format!(
                "{SIGN_IN_PATH}/oauth2/authorize?{}",
                authorize_query(challenge, state)
            ),
            None,
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains(r#"<label for="username">"#));
        assert!(
            page.body.contains("st&lt;ate&gt;&amp;1"),
            "state is escaped in the form"
        );
        assert!(!page.body.contains("st<ate>"));
        let form = format!(
            "{}&username={}",
            authorize_query(challenge, state),
            enc(username)
        );
        let back = call(
            app,
            "POST",
            &format!("{SIGN_IN_PATH}/oauth2/authorize"),
            Some(&form),
        )
        .await;
        assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
        let location = back.location.clone().unwrap();
        assert_eq!(
            format!(
                "{}://{}{}",
                location.scheme(),
                location.host_str().unwrap(),
                ":4000/"
            ),
            console_url(GATEWAY)
        );
        assert_eq!(location.path(), "/");
        assert_eq!(back.query("state").as_deref(), Some(state));
        back.query("code").expect("a code")
    }

    fn token_form(code: &str, verifier: &str) -> String {
        format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&client_id={CONSOLE_CLIENT_ID}&code_verifier={verifier}",
            enc(&console_url(GATEWAY))
        )
    }

    #[tokio::test]
    async fn the_code_flow_with_pkce_mints_tokens_the_gateway_accepts() {
        let (app, auth) = app(CODE_TTL).await;
        let (verifier, challenge) = pkce();
        let code = sign_in(&app, &challenge, "ada").await;
        let answer = call(
            &app,
            "POST",
            &format!("{SIGN_IN_PATH}/oauth2/token"),
            Some(&token_form(&code, &verifier)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");
        let tokens: TokenSet = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(tokens.token_type, "Bearer");
        assert_eq!(tokens.expires_in, TOKEN_TTL_SECS);
        let access = auth
            .verify(Some(&format!("Bearer {}", tokens.access_token)))
            .expect("the gateway accepts the access token");
        assert_eq!(access["sub"], user_sub("ada"));
        assert_eq!(access["username"], "ada");
        assert_eq!(access["client_id"], CONSOLE_CLIENT_ID);
        assert_eq!(access["token_use"], "access");
        assert!(
            !access.contains_key("aud"),
            "Cognito's access tokens carry client_id, not aud"
        );
        let id = auth
            .verify(Some(&format!("Bearer {}", tokens.id_token)))
            .unwrap();
        assert_eq!(id["sub"], access["sub"]);
        assert_eq!(id["cognito:username"], "ada");
        assert_eq!(id["aud"], CONSOLE_CLIENT_ID);
        // Another run's key does not accept them.
        assert!(LocalAuthorizer::random()
            .verify(Some(&format!("Bearer {}", tokens.access_token)))
            .is_none());
    }

    #[tokio::test]
    async fn a_code_is_single_use_and_bound_to_its_verifier() {
        let (app, _) = app(CODE_TTL).await;
        let token_uri = format!("{SIGN_IN_PATH}/oauth2/token");
        let (verifier, challenge) = pkce();
        let code = sign_in(&app, &challenge, "ada").await;
        let ok = call(
            &app,
            "POST",
            &token_uri,
            Some(&token_form(&code, &verifier)),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK);
        let again = call(
            &app,
            "POST",
            &token_uri,
            Some(&token_form(&code, &verifier)),
        )
        .await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST);
        assert_eq!(again.json()["error"], "invalid_grant");

        // A verifier that is not the one the challenge was made from; and the code is then spent.
        let code = sign_in(&app, &challenge, "ada").await;
        let (other_verifier, _) = pkce();
        let wrong = call(
            &app,
            "POST",
            &token_uri,
            Some(&token_form(&code, &other_verifier)),
        )
        .await;
        assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
        assert_eq!(wrong.json()["error"], "invalid_grant");
        assert!(wrong.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("code_verifier"));
        let after = call(
            &app,
            "POST",
            &token_uri,
            Some(&token_form(&code, &verifier)),
        )
        .await;
        assert_eq!(
            after.json()["error"],
            "invalid_grant",
            "a failed attempt spends the code"
        );

        // Another redirect_uri than the code was issued for.
        let code = sign_in(&app, &challenge, "ada").await;
        let form = token_form(&code, &verifier).replace(
            &enc(&console_url(GATEWAY)),
            &enc("http://127.0.0.1:4000/other"),
        );
        let moved = call(&app, "POST", &token_uri, Some(&form)).await;
        assert_eq!(moved.json()["error"], "invalid_grant");
    }

    #[tokio::test]
    async fn codes_expire() {
        let (app, _) = app(Duration::from_millis(50)).await;
        let (verifier, challenge) = pkce();
        let code = sign_in(&app, &challenge, "ada").await;
        tokio::time::sleep(Duration::from_millis(80)).await;
        let late = call(
            &app,
            "POST",
            &format!("{SIGN_IN_PATH}/oauth2/token"),
            Some(&token_form(&code, &verifier)),
        )
        .await;
        assert_eq!(late.status, StatusCode::BAD_REQUEST);
        assert_eq!(late.json()["error"], "invalid_grant");
        assert!(late.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"));
    }

    #[tokio::test]
    async fn bad_token_requests_get_oauth_errors() {
        let (app, _) = app(CODE_TTL).await;
        let uri = format!("{SIGN_IN_PATH}/oauth2/token");
        let (verifier, _) = pkce();
        let cases = [
            (
                token_form("c", &verifier).replace("authorization_code", "password"),
                "unsupported_grant_type",
            ),
            (
                token_form("c", &verifier).replace("grant_type=authorization_code&", ""),
                "invalid_request",
            ),
            (token_form("", &verifier), "invalid_request"),
            (token_form("c", "short"), "invalid_request"),
            (
                token_form("c", &verifier).replace(CONSOLE_CLIENT_ID, "someone-else"),
                "invalid_client",
            ),
            (
                format!("{}&code=d", token_form("c", &verifier)),
                "invalid_request",
            ),
            (token_form("never-issued", &verifier), "invalid_grant"),
        ];
        for (form, error) in cases {
            let answer = call(&app, "POST", &uri, Some(&form)).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{form}");
            assert_eq!(answer.json()["error"], error, "{form}: {}", answer.body);
            assert!(answer.json()["error_description"].is_string());
        }
        // Not a form.
        let resp = reqwest::Client::new()
            .post(format!("{app}{uri}"))
            .json(&json!({ "grant_type": "authorization_code" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }

    #[tokio::test]
    async fn bad_authorize_requests_are_refused_and_never_redirected_elsewhere() {
        let (app, _) = app(CODE_TTL).await;
        let (_, challenge) = pkce();
        let good = authorize_query(&challenge, "s1");
        let uri = |q: String| format!("{SIGN_IN_PATH}/oauth2/authorize?{q}");
        // Before the redirect URI is known good: answered here, never redirected.
        for (query, error) in [
            (
                good.replace(&enc(&console_url(GATEWAY)), &enc("https://evil.example/")),
                "invalid_request",
            ),
            (good.replace(CONSOLE_CLIENT_ID, "nobody"), "invalid_client"),
            (
                good.replace(&format!("client_id={CONSOLE_CLIENT_ID}&"), ""),
                "invalid_request",
            ),
        ] {
            let answer = call(&app, "GET", &uri(query.clone()), None).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
            assert!(answer.location.is_none());
            assert_eq!(answer.json()["error"], error, "{query}");
        }
        // After: back to the client with the error and the state.
        for (query, error) in [
            (
                good.replace("response_type=code", "response_type=token"),
                "unsupported_response_type",
            ),
            (
                good.replace("code_challenge_method=S256", "code_challenge_method=plain"),
                "invalid_request",
            ),
            (
                good.replace(&format!("code_challenge={challenge}&"), ""),
                "invalid_request",
            ),
            (
                good.replace(
                    "scope=openid",
                    "scope=openid%20aws.cognito.signin.user.admin",
                ),
                "invalid_scope",
            ),
        ] {
            let answer = call(&app, "GET", &uri(query.clone()), None).await;
            assert_eq!(answer.status, StatusCode::FOUND, "{query}: {}", answer.body);
            assert_eq!(answer.location.as_ref().unwrap().path(), "/");
            assert_eq!(answer.query("error").as_deref(), Some(error), "{query}");
            assert_eq!(answer.query("state").as_deref(), Some("s1"));
            assert!(answer.query("code").is_none());
        }
        // A bad user name shows the form again, with the reason.
        let form = format!("{good}&username={}", enc("two words"));
        let answer = call(
            &app,
            "POST",
            &uri(String::new()).replace('?', ""),
            Some(&form),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains(r#"role="alert""#) && answer.location.is_none());
    }

    #[tokio::test]
    async fn logout_sends_the_browser_to_a_registered_sign_out_url_only() {
        let (app, _) = app(CODE_TTL).await;
        let base = format!("{SIGN_IN_PATH}/logout");
        let ok = call(
            &app,
            "GET",
            &format!(
                "{base}?client_id={CONSOLE_CLIENT_ID}&logout_uri={}",
                enc(&console_url(GATEWAY))
            ),
            None,
        )
        .await;
        assert_eq!(ok.status, StatusCode::FOUND);
        assert_eq!(ok.location.unwrap().as_str(), console_url(GATEWAY));
        for (query, error) in [
            (
                format!(
                    "client_id={CONSOLE_CLIENT_ID}&logout_uri={}",
                    enc("https://evil.example/")
                ),
                "invalid_request",
            ),
            (
                format!("client_id=nobody&logout_uri={}", enc(&console_url(GATEWAY))),
                "invalid_client",
            ),
            (format!("client_id={CONSOLE_CLIENT_ID}"), "invalid_request"),
        ] {
            let answer = call(&app, "GET", &format!("{base}?{query}"), None).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
            assert!(answer.location.is_none());
            assert_eq!(answer.json()["error"], error, "{query}");
        }
    }
}
