//! The OAuth 2.0 Authorization Code flow with PKCE, for each platform's identity provider
//! ([`Provider`]: X, research/x-api.md §1; Google for YouTube, docs/research/youtube.md §1),
//! through the `oauth2` crate over the container's shared `reqwest::Client` (redirects off, as
//! `oauth2` requires). What differs between providers is in `Provider`; the flow is one.
//!
//! Reelay is a web app, which X registers as a confidential client: the token and revoke calls
//! carry HTTP Basic `client_id:client_secret` (without it X answers 401 `unauthorized_client`,
//! §1). When no secret is configured (a public client) `oauth2` sends `client_id` in the body.
//! Google's web-server guide sends `client_id` and `client_secret` in the form instead.

use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use thiserror::Error;
use url::Url;

use super::cipher::TokenPair;
use super::REQUIRED_SCOPES;
use crate::config::XConfig;
use crate::secret::Secret;

/// An identity provider Reelay connects accounts through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    X,
    /// Google's OAuth 2.0 for web server apps, for YouTube.
    Google,
}

/// YouTube's scopes: upload, and read to name the channel and poll processing (`videos.list`
/// and `channels.list` are not allowed with `youtube.upload` alone; docs/research/youtube.md §1).
pub const YOUTUBE_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.readonly",
];

impl Provider {
    /// The provider a platform's accounts connect through.
    pub fn for_platform(platform: super::Platform) -> Self {
        match platform {
            super::Platform::Twitter => Provider::X,
            super::Platform::YouTube => Provider::Google,
        }
    }

    /// The platform whose accounts connect through this provider.
    pub fn platform(self) -> super::Platform {
        match self {
            Provider::X => super::Platform::Twitter,
            Provider::Google => super::Platform::YouTube,
        }
    }

    /// How the provider is named in errors.
    pub fn name(self) -> &'static str {
        match self {
            Provider::X => "X",
            Provider::Google => "Google",
        }
    }

    /// The scopes Reelay asks for.
    pub fn scopes(self) -> &'static [&'static str] {
        match self {
            Provider::X => REQUIRED_SCOPES,
            Provider::Google => YOUTUBE_SCOPES,
        }
    }

    /// Parameters the authorize URL carries besides the standard ones. Google issues a refresh
    /// token only with `access_type=offline`, and to a returning user only with
    /// `prompt=consent` (docs/research/youtube.md §1); X's is `offline.access`, a scope.
    fn extra_authorize_params(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Provider::X => &[],
            Provider::Google => &[("access_type", "offline"), ("prompt", "consent")],
        }
    }

    /// Where the client's credentials go on the token endpoint.
    fn auth_type(self) -> AuthType {
        match self {
            Provider::X => AuthType::BasicAuth,
            Provider::Google => AuthType::RequestBody,
        }
    }

    /// Whether revoking the refresh token ends its access tokens too. Google says so (the
    /// revoke section of the web-server guide); X does not, so both of X's are named.
    fn refresh_revocation_ends_access(self) -> bool {
        matches!(self, Provider::Google)
    }
}

/// The app's registration at a provider, read once at cold start.
#[derive(Clone)]
pub struct OAuthAppConfig {
    pub provider: Provider,
    pub client_id: String,
    /// `None` for a public client. Read from the secret store, never from the environment.
    pub client_secret: Option<Secret>,
    /// True when a secret is configured (an ARN) but `client_secret` was not read: refused.
    pub secret_expected: bool,
    pub redirect_uri: Url,
    pub authorize_url: Url,
    pub token_url: Url,
    pub revoke_url: Url,
}

impl From<&crate::config::YouTubeConfig> for OAuthAppConfig {
    fn from(config: &crate::config::YouTubeConfig) -> Self {
        Self {
            provider: Provider::Google,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            // Google's web clients are confidential: the secret must have been read.
            secret_expected: true,
            redirect_uri: config.redirect_uri.clone(),
            authorize_url: config.authorize_url.clone(),
            token_url: config.token_url.clone(),
            revoke_url: config.revoke_url.clone(),
        }
    }
}

impl From<&XConfig> for OAuthAppConfig {
    fn from(config: &XConfig) -> Self {
        Self {
            provider: Provider::X,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            secret_expected: config.client_secret_arn.is_some(),
            redirect_uri: config.redirect_uri.clone(),
            authorize_url: config.authorize_url.clone(),
            token_url: config.token_url.clone(),
            revoke_url: config.revoke_url.clone(),
        }
    }
}

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// What the provider's token endpoint granted.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub tokens: TokenPair,
    /// `expires_in` (X: 7200, §1; Google: about 3600).
    pub expires_in_secs: Option<u64>,
    /// The granted scopes (`scope`, space-separated; both providers send it).
    pub scopes: Vec<String>,
}

#[derive(Debug, Error)]
pub enum OAuthError {
    /// The provider answered with an OAuth error: a bad, expired or used code or refresh token
    /// is 400 `invalid_request` at X (§1), `invalid_grant` at Google.
    #[error("{} refused: {error}: {description}", provider.name())]
    Rejected {
        provider: Provider,
        error: String,
        description: String,
    },
    /// The provider could not be reached or failed (5xx, 429, timeout, unreadable answer): try
    /// later.
    #[error("{} is unavailable: {detail}", provider.name())]
    Unavailable { provider: Provider, detail: String },
    #[error("OAuth configuration is invalid: {0}")]
    Config(String),
}

impl OAuthError {
    /// The answer for a spent, revoked or unknown refresh token (X: `invalid_request`, §1;
    /// Google: `invalid_grant`, docs/research/youtube.md §1).
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, OAuthError::Rejected { error, .. }
            if error == "invalid_request" || error == "invalid_grant")
    }
}

/// How the HTTP exchange under `oauth2` failed. Keeps the status that `oauth2` would otherwise
/// fold into "could not parse": a 503 from X must read as "unavailable", not "refused".
#[derive(Debug, Error)]
enum ExchangeFailure {
    #[error("{0}")]
    Transport(String),
    #[error("the provider answered {status}: {detail}")]
    Status { status: u16, detail: String },
}

/// `oauth2`'s HTTP client: the shared `reqwest::Client` (a clone shares its pool), with the
/// status-preserving exchange below. A named type rather than a closure so the futures are
/// plainly `Send` for any lifetime (a closure here trips rustc's higher-ranked `Send` check).
#[derive(Clone)]
struct SharedHttp(reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for SharedHttp {
    type Error = ExchangeFailure;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, ExchangeFailure>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(exchange(&self.0, request))
    }
}

/// Sends one `oauth2` request with the shared client. Non-OAuth failures (5xx, 429) become
/// `ExchangeFailure::Status`; 4xx answers go back to `oauth2` to be parsed as OAuth errors.
async fn exchange(
    http: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, ExchangeFailure> {
    let request: reqwest::Request = request
        .try_into()
        .map_err(|e: reqwest::Error| ExchangeFailure::Transport(e.without_url().to_string()))?;
    let response = http.execute(request).await.map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport)?;
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(ExchangeFailure::Status {
            status: status.as_u16(),
            detail: crate::x::error_detail(&body)
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned()),
        });
    }
    let mut builder = http::Response::builder().status(status);
    for (name, value) in &headers {
        builder = builder.header(name, value);
    }
    builder
        .body(body.to_vec())
        .map_err(|e| ExchangeFailure::Transport(e.to_string()))
}

fn transport(e: reqwest::Error) -> ExchangeFailure {
    ExchangeFailure::Transport(crate::http_client::transport_detail(&e))
}

fn classify<T>(provider: Provider, err: RequestTokenError<ExchangeFailure, T>) -> OAuthError
where
    T: oauth2::ErrorResponse + 'static + OAuthErrorText,
{
    match err {
        RequestTokenError::ServerResponse(e) => OAuthError::Rejected {
            provider,
            error: e.code(),
            description: e.description(),
        },
        RequestTokenError::Request(failure) => OAuthError::Unavailable {
            provider,
            detail: failure.to_string(),
        },
        // The body is deliberately dropped: a 200 we cannot parse may still hold tokens.
        RequestTokenError::Parse(e, _body) => OAuthError::Unavailable {
            provider,
            detail: format!("the answer could not be read ({})", e.path()),
        },
        RequestTokenError::Other(detail) => OAuthError::Unavailable { provider, detail },
    }
}

trait OAuthErrorText {
    fn code(&self) -> String;
    fn description(&self) -> String;
}

impl OAuthErrorText for BasicErrorResponse {
    fn code(&self) -> String {
        self.error().as_ref().to_owned()
    }
    fn description(&self) -> String {
        self.error_description().cloned().unwrap_or_default()
    }
}

/// A new random `state`: 32 random bytes, base64url (256 bits; X allows up to 500 chars, §1).
pub fn new_state() -> String {
    CsrfToken::new_random_len(32).into_secret()
}

/// X's OAuth app: the name the X code has always used for [`OAuthApp`].
pub type XOAuth = OAuthApp;

/// One provider's OAuth endpoints for this app.
#[derive(Clone)]
pub struct OAuthApp {
    provider: Provider,
    client: Client,
    http: SharedHttp,
    revoke_url: Url,
    client_secret: Option<Secret>,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("provider", &self.provider)
            .field("client_id", self.client.client_id())
            .finish_non_exhaustive()
    }
}

impl OAuthApp {
    /// X's app, from X's configuration.
    pub fn new(http: reqwest::Client, config: &XConfig) -> Result<Self, OAuthError> {
        Self::for_provider(http, &OAuthAppConfig::from(config))
    }

    pub fn for_provider(
        http: reqwest::Client,
        config: &OAuthAppConfig,
    ) -> Result<Self, OAuthError> {
        let provider = config.provider;
        let bad = |e: url::ParseError| OAuthError::Config(e.to_string());
        let mut client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_auth_type(provider.auth_type())
            .set_auth_uri(AuthUrl::new(config.authorize_url.to_string()).map_err(bad)?)
            .set_token_uri(TokenUrl::new(config.token_url.to_string()).map_err(bad)?)
            .set_redirect_uri(RedirectUrl::new(config.redirect_uri.to_string()).map_err(bad)?);
        match (&config.client_secret, config.secret_expected) {
            (Some(secret), _) => {
                client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
            }
            // A confidential client whose secret was never read would be sent to the provider
            // as a public one and refused there (401): refuse it here, at cold start, instead.
            (None, true) => {
                return Err(OAuthError::Config(format!(
                    "the {} client secret was not read at cold start",
                    provider.name()
                )))
            }
            (None, false) => {}
        }
        Ok(Self {
            provider,
            client,
            http: SharedHttp(http),
            revoke_url: config.revoke_url.clone(),
            client_secret: config.client_secret.clone(),
        })
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The provider's authorize URL for this state and PKCE challenge, asking for the
    /// provider's scopes.
    pub fn authorize_url(&self, state: &str, challenge: PkceCodeChallenge) -> Url {
        let state = state.to_owned();
        let mut request = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(
                self.provider
                    .scopes()
                    .iter()
                    .map(|s| Scope::new((*s).to_owned())),
            )
            .set_pkce_challenge(challenge);
        for (name, value) in self.provider.extra_authorize_params() {
            request = request.add_extra_param(*name, *value);
        }
        request.url().0
    }

    /// Exchanges the authorization code at once: X's codes live 30 s (§1).
    #[tracing::instrument(skip_all)]
    pub async fn exchange_code(
        &self,
        code: &Secret,
        verifier: &Secret,
    ) -> Result<TokenGrant, OAuthError> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.expose().to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| classify(self.provider, e))?;
        Ok(grant(self.provider, &response))
    }

    /// Spends `refresh_token` for a new pair. X rotates refresh tokens: the old one is dead
    /// after this call succeeds (§1), so the caller must store the new pair. Google usually
    /// sends no new refresh token: the old one stays good (`refresh_token` is `None` then).
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<TokenGrant, OAuthError> {
        let token = RefreshToken::new(refresh_token.expose().to_owned());
        let response = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&self.http)
            .await
            .map_err(|e| classify(self.provider, e))?;
        Ok(grant(self.provider, &response))
    }

    /// Revokes the pair at X, each token by a call of its own, and reports the first failure.
    ///
    /// X's revoke endpoint takes one `token` per call ("A revoke token invalidates an access
    /// token or refresh token": docs.x.com, OAuth 2.0 Authorization Code Flow with PKCE, Step 6
    /// "POST oauth2/revoke"). X does not say that revoking a refresh token also ends the access
    /// token issued with it (RFC 7009 §2.1 lets a server do so, not must), so both are named.
    /// The refresh token goes first: it is the long-lived one (X's access tokens live two hours),
    /// the one that matters most if the caller's time runs out between the calls.
    #[tracing::instrument(skip_all)]
    pub async fn revoke(&self, tokens: &TokenPair) -> Result<(), OAuthError> {
        let mut first_failure = None;
        if let Some(refresh) = &tokens.refresh_token {
            match self.revoke_one(refresh, "refresh_token").await {
                Ok(()) if self.provider.refresh_revocation_ends_access() => return Ok(()),
                Ok(()) => {}
                Err(e) => first_failure = Some(e),
            }
        }
        if let Err(e) = self.revoke_one(&tokens.access_token, "access_token").await {
            first_failure.get_or_insert(e);
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// One revoke call.
    ///
    /// Sent directly rather than through `oauth2::Client::revoke_token`, which refuses any
    /// revocation URL that is not https (RFC 7009 asks for TLS): X's is https, but the local X
    /// emulator is plain http on loopback, and the same code must run against both. The request
    /// is the one `oauth2` would send (§1 "Revoke"): form `token` + `token_type_hint`, with
    /// HTTP Basic for a confidential client or `client_id` in the body for a public one.
    async fn revoke_one(&self, token: &Secret, hint: &str) -> Result<(), OAuthError> {
        let mut form = vec![("token", token.expose()), ("token_type_hint", hint)];
        let mut request = self.http.0.post(self.revoke_url.clone());
        match &self.client_secret {
            Some(secret) => {
                // RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                request =
                    request.basic_auth(enc(self.client.client_id()), Some(enc(secret.expose())));
            }
            None => form.push(("client_id", self.client.client_id().as_str())),
        }
        let response = request
            .form(&form)
            .send()
            .await
            .map_err(|e| OAuthError::Unavailable {
                provider: self.provider,
                detail: transport(e).to_string(),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.bytes().await.unwrap_or_default();
        let detail = crate::x::error_detail(&body)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
        if status.is_server_error() || status.as_u16() == 429 {
            Err(OAuthError::Unavailable {
                provider: self.provider,
                detail,
            })
        } else {
            let error = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_else(|| status.as_u16().to_string());
            Err(OAuthError::Rejected {
                provider: self.provider,
                error,
                description: detail,
            })
        }
    }
}

fn grant(provider: Provider, response: &oauth2::basic::BasicTokenResponse) -> TokenGrant {
    TokenGrant {
        tokens: TokenPair {
            access_token: Secret::new(response.access_token().secret().clone()),
            refresh_token: response
                .refresh_token()
                .map(|r| Secret::new(r.secret().clone())),
        },
        expires_in_secs: response.expires_in().map(|d| d.as_secs()),
        // RFC 6749 §5.1: an omitted `scope` means "as requested". X always sends it (§1).
        scopes: response
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect())
            .unwrap_or_else(|| provider.scopes().iter().map(|s| (*s).to_owned()).collect()),
    }
}
