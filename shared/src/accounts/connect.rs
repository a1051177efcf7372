//! The connect flow (DESIGN §1 steps 1–2, §6 "Status"): start, callback, list, disconnect.
//! HTTP functions parse requests into these calls and map `ConnectError` to answers.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;
use url::Url;

use super::binding;
use super::cipher::{CipherError, TokenCipher, TokenPair};
use super::oauth::{new_state, OAuthApp, OAuthError, TokenGrant};
use super::pkce::PkceKey;
use super::store::{AccountStore, NewConnection, SavedConnection, StoreError};
use super::tokens::ErrorChain;
use super::{
    missing_scopes, missing_scopes_reason, Account, AccountStatus, EncryptedTokens, OAuthState,
    Platform,
};
use crate::clock::Clock;
use crate::ids::UserId;
use crate::platforms::youtube::{YouTubeClient, YouTubeError};
use crate::problem::Problem;
use crate::secret::Secret;
use crate::x::{XClient, XError};

/// DESIGN §1: a state lives ten minutes.
pub const STATE_TTL_SECS: u64 = 600;
/// Longest `return_to` kept with a state.
pub const MAX_RETURN_TO_LEN: usize = 2048;
/// X's access tokens live two hours when X does not say (§1).
const DEFAULT_ACCESS_TTL_SECS: u64 = 7200;
/// The longest Reelay waits for X to revoke a pair (both calls together). Revoking is best
/// effort and comes after the answer's work is done (tokens stored or deleted), so it must never
/// hold an answer up for long: the API and callback functions have 29 s in all (template), and
/// API Gateway answers 503 itself after 30 s.
pub const REVOKE_BUDGET: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("return_to is not an allowed return address")]
    ReturnToNotAllowed,
    #[error("the callback has no state parameter")]
    MissingState,
    #[error("the callback has no code parameter")]
    MissingCode,
    /// The browser at the callback does not hold the state's binding cookie: it is not the one
    /// that started the connect (or its cookie expired or was replaced).
    #[error("the callback came from a browser that did not start this connect")]
    OtherBrowser,
    /// Never issued, or already used: a replayed callback lands here.
    #[error("the state is unknown or was already used")]
    UnknownState,
    #[error("the state has expired")]
    ExpiredState,
    #[error("the user did not allow Reelay at the platform ({error})")]
    Denied { error: String, description: String },
    #[error("the platform did not accept the authorization code: {detail}")]
    CodeRejected { detail: String },
    /// X granted so few scopes that Reelay cannot even read who the user is.
    #[error("the platform did not grant the scopes Reelay needs: {}", missing.join(", "))]
    MissingScopes { missing: Vec<String> },
    #[error("the platform is unavailable: {detail}")]
    XUnavailable { detail: String },
    #[error("the user has not connected the platform")]
    NotConnected,
    /// The platform is not set up on this deployment (YouTube without `GOOGLE_CLIENT_ID`).
    #[error("{0} is not enabled on this deployment")]
    PlatformNotEnabled(&'static str),
    /// The Google account has no YouTube channel to post to.
    #[error("the Google account has no YouTube channel")]
    NoChannel,
    /// One X account belongs to one Reelay user at a time.
    #[error("the platform account is already linked to another Reelay user")]
    LinkedElsewhere,
    #[error("OAuth is misconfigured")]
    OAuth(#[source] OAuthError),
    #[error("storage failed")]
    Store(#[from] StoreError),
    #[error("token encryption failed")]
    Cipher(#[from] CipherError),
}

impl ConnectError {
    /// A stable snake_case code for answers and logs.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::ReturnToNotAllowed => "return_to_not_allowed",
            ConnectError::MissingState => "missing_state",
            ConnectError::MissingCode => "missing_code",
            ConnectError::OtherBrowser => "connect_other_browser",
            ConnectError::UnknownState => "unknown_state",
            ConnectError::ExpiredState => "expired_state",
            ConnectError::Denied { .. } => "consent_denied",
            ConnectError::CodeRejected { .. } => "code_rejected",
            ConnectError::MissingScopes { .. } => "missing_scopes",
            ConnectError::XUnavailable { .. } => "x_unavailable",
            ConnectError::NotConnected => "not_connected",
            ConnectError::LinkedElsewhere => "x_account_linked_elsewhere",
            ConnectError::NoChannel => "no_youtube_channel",
            ConnectError::PlatformNotEnabled(_) => "platform_not_enabled",
            ConnectError::OAuth(_) | ConnectError::Store(_) | ConnectError::Cipher(_) => {
                "internal_error"
            }
        }
    }
}

impl ConnectError {
    /// The one HTTP mapping of connect errors, shared by the api and oauth-callback functions:
    /// 4xx naming the problem, 502 when X failed, and an opaque 500 (cause logged here) for
    /// Reelay's own storage or KMS failures.
    pub fn to_problem(&self) -> Problem {
        self.to_problem_for(Platform::Twitter)
    }

    /// `to_problem` for a connect to `platform`, named in the words the user reads.
    pub fn to_problem_for(&self, platform: Platform) -> Problem {
        let name = platform.display_name();
        let p =
            |status, title: &str, detail: &str| Problem::new(status, self.code(), title, detail);
        match self {
            ConnectError::ReturnToNotAllowed => p(
                400,
                "Bad Request",
                "return_to is not one of this app's allowed return addresses.",
            )
            .with_field("return_to"),
            ConnectError::MissingState => p(
                400,
                "Bad Request",
                &format!("The callback is missing its state parameter. Start connecting {name} again from Reelay."),
            )
            .with_field("state"),
            ConnectError::MissingCode => p(
                400,
                "Bad Request",
                &format!("The callback is missing its code parameter. Start connecting {name} again from Reelay."),
            )
            .with_field("code"),
            ConnectError::OtherBrowser => p(
                403,
                "Forbidden",
                &format!("This {name} approval was started in another browser or session, so nothing \
                 was connected. If you want to connect {name}, start connecting {name} again from \
                 Reelay in this browser."),
            ),
            ConnectError::UnknownState => p(
                400,
                "Bad Request",
                &format!("This sign-in link is unknown or was already used. Start connecting {name} again from Reelay."),
            )
            .with_field("state"),
            ConnectError::ExpiredState => p(
                400,
                "Bad Request",
                &format!("This sign-in link has expired (they last 10 minutes). Start connecting {name} again from Reelay."),
            )
            .with_field("state"),
            ConnectError::Denied { .. } => p(
                403,
                "Forbidden",
                &format!("You did not allow Reelay to use your {name} account, so nothing was connected."),
            ),
            ConnectError::CodeRejected { detail } => p(
                400,
                "Bad Request",
                &format!("{name} did not accept the sign-in ({detail}). Start connecting {name} again from Reelay."),
            ),
            ConnectError::MissingScopes { missing } => p(
                403,
                "Forbidden",
                &missing_scopes_reason(
                    platform,
                    &missing.iter().map(String::as_str).collect::<Vec<_>>(),
                ),
            ),
            ConnectError::XUnavailable { .. } => p(
                502,
                "Bad Gateway",
                &format!("{name} is not answering properly right now, so nothing was connected. Try again in a few minutes."),
            ),
            ConnectError::NotConnected => {
                p(404, "Not Found", &format!("You have not connected {name}."))
            }
            ConnectError::LinkedElsewhere => p(
                409,
                "Conflict",
                &format!("This {name} account is already connected to another Reelay user; \
                 disconnect it there first, then connect it here. Nothing was changed."),
            ),
            ConnectError::PlatformNotEnabled(which) => p(
                404,
                "Not Found",
                &format!("{which} is not enabled on this Reelay: its operator has not configured it."),
            ),
            ConnectError::NoChannel => p(
                409,
                "Conflict",
                "This Google account has no YouTube channel, so Reelay has nowhere to post. \
                 Create a channel at youtube.com, then connect YouTube again.",
            ),
            ConnectError::OAuth(_) | ConnectError::Store(_) | ConnectError::Cipher(_) => {
                tracing::error!(error = %ErrorChain(self), "connect failed on Reelay's side");
                Problem::internal()
            }
        }
    }
}

/// What `GET /api/platforms` shows of a connection: never token material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    pub platform: &'static str,
    pub x_user_id: String,
    pub username: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// `active` or `needs_reconnect`.
    pub status: &'static str,
    /// Why reconnecting is needed and what to do, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub connected_at: u64,
}

impl From<&Account> for ConnectionView {
    fn from(a: &Account) -> Self {
        Self {
            platform: a.platform.as_str(),
            x_user_id: a.x_user_id.clone(),
            username: a.username.clone(),
            name: a.name.clone(),
            scopes: a.scopes.clone(),
            status: a.status.code(),
            reason: match &a.status {
                AccountStatus::Active => None,
                AccountStatus::NeedsReconnect { reason } => Some(reason.clone()),
            },
            connected_at: a.connected_at,
        }
    }
}

/// The query X redirects the browser with: `code` and `state`, or `error`,
/// `error_description` and `state` (RFC 6749 §4.1.2).
#[derive(Debug, Default)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<Secret>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// The browser's binding cookie values (`binding::cookie_values` of its `Cookie` header).
    pub cookies: Vec<String>,
}

/// The callback's result, with where the browser should go (from the consumed state), if known.
#[derive(Debug)]
pub struct CallbackOutcome {
    pub result: Result<ConnectionView, ConnectError>,
    pub return_to: Option<String>,
    /// The browser's binding cookie matched this state and is spent: the answer clears it. Left
    /// alone otherwise, since it may belong to another connect this browser has under way.
    pub binding_used: bool,
}

impl CallbackOutcome {
    fn failed(error: ConnectError) -> Self {
        Self {
            result: Err(error),
            return_to: None,
            binding_used: false,
        }
    }
}

/// A started connect: where to send the browser, and the binding cookie value to set in it
/// (`binding::set_cookie`). No `Debug`: nothing about a connect in progress goes to logs.
pub struct Started {
    pub authorize_url: Url,
    pub binding: String,
}

/// Where a platform says who a token's account is: the one call per platform the connect
/// needs besides OAuth. A new platform adds its client here.
#[derive(Clone)]
pub enum AccountDirectory {
    /// X's `GET /2/users/me`.
    X(XClient),
    /// YouTube's `channels.list?mine=true`: the channel is the account Reelay posts to.
    YouTube(YouTubeClient),
}

/// A connected account's identity on its platform.
struct Identity {
    id: String,
    username: String,
    name: String,
}

impl AccountDirectory {
    /// Who the token belongs to. `missing` are the required scopes the grant lacks: a refusal
    /// is then put down to them.
    async fn identify(&self, token: &Secret, missing: &[&str]) -> Result<Identity, ConnectError> {
        let missing_scopes = || ConnectError::MissingScopes {
            missing: missing.iter().map(|s| (*s).to_owned()).collect(),
        };
        match self {
            AccountDirectory::X(x) => {
                let me = x.users_me(token).await.map_err(|e| match e {
                    // Without tweet.read/users.read X will not say who the user is (§2).
                    XError::Forbidden { .. } | XError::Unauthorized { .. }
                        if !missing.is_empty() =>
                    {
                        missing_scopes()
                    }
                    e => ConnectError::XUnavailable {
                        detail: format!("reading the X account failed: {e}"),
                    },
                })?;
                Ok(Identity {
                    id: me.id,
                    username: me.username,
                    name: me.name,
                })
            }
            AccountDirectory::YouTube(youtube) => {
                let channel = youtube.my_channel(token).await.map_err(|e| match e {
                    // Without youtube.readonly Google refuses channels.list (403).
                    YouTubeError::Api {
                        status: 401 | 403, ..
                    } if !missing.is_empty() => missing_scopes(),
                    e => ConnectError::XUnavailable {
                        detail: format!("reading the YouTube channel failed: {e}"),
                    },
                })?;
                let channel = channel.ok_or(ConnectError::NoChannel)?;
                Ok(Identity {
                    id: channel.id,
                    username: channel.title.clone(),
                    name: channel.title,
                })
            }
        }
    }
}

/// The connector for `platform` with this container's clients and configuration; YouTube only
/// when it is configured (`PlatformNotEnabled` otherwise).
pub fn connector_for(
    platform: Platform,
    http: &reqwest::Client,
    x: &crate::config::XConfig,
    youtube: Option<&crate::config::YouTubeConfig>,
    ports: ConnectPorts,
) -> Result<Connector, ConnectError> {
    let (app, directory) = match platform {
        Platform::Twitter => (
            OAuthApp::new(http.clone(), x),
            AccountDirectory::X(XClient::new(http.clone(), x)),
        ),
        Platform::YouTube => {
            let youtube = youtube.ok_or(ConnectError::PlatformNotEnabled("YouTube"))?;
            (
                OAuthApp::for_provider(http.clone(), &youtube.into()),
                AccountDirectory::YouTube(YouTubeClient::new(
                    http.clone(),
                    youtube.api_base_url.clone(),
                )),
            )
        }
    };
    let oauth = app.map_err(ConnectError::OAuth)?;
    Ok(Connector::new(
        ports.store,
        ports.cipher,
        oauth,
        directory,
        ports.clock,
        ports.pkce,
    ))
}

/// What every platform's connector shares: the account table, the token cipher, the clock and
/// the PKCE key.
#[derive(Clone)]
pub struct ConnectPorts {
    pub store: Arc<dyn AccountStore>,
    pub cipher: Arc<dyn TokenCipher>,
    pub clock: Arc<dyn Clock>,
    pub pkce: PkceKey,
}

/// The connect flow of one platform over its ports.
pub struct Connector {
    /// The platform this connector links (its OAuth app's provider's).
    platform: Platform,
    store: Arc<dyn AccountStore>,
    cipher: Arc<dyn TokenCipher>,
    oauth: OAuthApp,
    directory: AccountDirectory,
    clock: Arc<dyn Clock>,
    /// Derives each connect's PKCE verifier from its state (`pkce`): nothing of it is stored.
    pkce: PkceKey,
}

impl Connector {
    pub fn new(
        store: Arc<dyn AccountStore>,
        cipher: Arc<dyn TokenCipher>,
        oauth: OAuthApp,
        directory: AccountDirectory,
        clock: Arc<dyn Clock>,
        pkce: PkceKey,
    ) -> Self {
        Self {
            platform: oauth.provider().platform(),
            store,
            cipher,
            oauth,
            directory,
            clock,
            pkce,
        }
    }

    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// Starts a connect: stores a one-time state bound to `user` (its PKCE verifier is derived
    /// from the state, never stored) and returns X's authorize URL with the binding the caller
    /// must set in the user's browser.
    /// `return_to` must already be checked against the allow-list.
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    pub async fn start(
        &self,
        user: &UserId,
        return_to: Option<&Url>,
    ) -> Result<Started, ConnectError> {
        let now = super::epoch_secs(&*self.clock);
        let state = OAuthState {
            state: new_state(),
            user_id: user.clone(),
            platform: self.platform,
            legacy_pkce_verifier: None,
            return_to: return_to.map(|u| u.to_string()),
            created_at: now,
            expires_at: now + STATE_TTL_SECS,
        };
        self.store.put_state(&state).await?;
        tracing::info!("connect started");
        Ok(Started {
            binding: binding::binding_for(&state.state),
            authorize_url: self
                .oauth
                .authorize_url(&state.state, self.pkce.challenge(&state.state)),
        })
    }

    /// Completes a connect from X's redirect. Consumes the state first, whatever else happens,
    /// so a callback URL works at most once. Goes on only in the browser that started the
    /// connect (its binding cookie): in any other browser the state is consumed and nothing
    /// else happens, so the code is never exchanged and the URL is dead for everyone. Stores the
    /// account in a single write at the end: any earlier failure leaves nothing stored (and
    /// revokes tokens X already issued).
    #[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn complete(&self, params: CallbackParams) -> CallbackOutcome {
        let Some(state) = params.state.as_deref().filter(|s| !s.is_empty()) else {
            return CallbackOutcome::failed(ConnectError::MissingState);
        };
        let bound = binding::is_bound(state, &params.cookies);
        let taken = match self.store.take_state(state).await {
            Ok(Some(taken)) => taken,
            // Unknown or used, whichever browser this is (a reload after success lands here
            // too, its cookie already cleared).
            Ok(None) => return CallbackOutcome::failed(ConnectError::UnknownState),
            Err(e) => return CallbackOutcome::failed(e.into()),
        };
        let span = tracing::Span::current();
        span.record("user_id", tracing::field::display(&taken.user_id));
        if taken.platform != self.platform {
            // A state issued for another platform's connect, brought to this callback: spent,
            // and nothing is exchanged.
            tracing::warn!(state_platform = %taken.platform, callback_platform = %self.platform, "state brought to another platform's callback; consumed");
            return CallbackOutcome::failed(ConnectError::UnknownState);
        }
        if !bound {
            // This state's URL reached a browser that did not start the connect: typically an
            // authorize link one user sent another to approve (issue 12). Consumed above, so
            // the link is dead for everyone; the code is never exchanged.
            tracing::warn!(
                user_id = %taken.user_id,
                cookies = params.cookies.len(),
                "callback from a browser without this connect's binding; state consumed, code not exchanged"
            );
            return CallbackOutcome::failed(ConnectError::OtherBrowser);
        }
        let return_to = taken.return_to.clone();
        let result = self.finish(&taken, params).await;
        match &result {
            Ok(view) => {
                tracing::info!(user_id = %taken.user_id, platform = %self.platform, account_id = %view.x_user_id, status = view.status, "account connected")
            }
            Err(e) => {
                tracing::info!(user_id = %taken.user_id, code = e.code(), error = %ErrorChain(e), "connect failed")
            }
        }
        CallbackOutcome {
            result,
            return_to,
            binding_used: true,
        }
    }

    async fn finish(
        &self,
        taken: &OAuthState,
        params: CallbackParams,
    ) -> Result<ConnectionView, ConnectError> {
        // Expiry is checked here, on read: DynamoDB's TTL deletes late (moto never), DESIGN §5.
        if super::epoch_secs(&*self.clock) >= taken.expires_at {
            return Err(ConnectError::ExpiredState);
        }
        if let Some(error) = params.error {
            return Err(ConnectError::Denied {
                error,
                description: params.error_description.unwrap_or_default(),
            });
        }
        let code = params
            .code
            .filter(|c| !c.expose().is_empty())
            .ok_or(ConnectError::MissingCode)?;
        let grant = self
            .oauth
            .exchange_code(&code, &self.verifier_of(taken))
            .await
            .map_err(|e| match e {
                OAuthError::Rejected {
                    error, description, ..
                } => ConnectError::CodeRejected {
                    detail: if description.is_empty() {
                        error
                    } else {
                        description
                    },
                },
                OAuthError::Unavailable { detail, .. } => ConnectError::XUnavailable { detail },
                e @ OAuthError::Config(_) => ConnectError::OAuth(e),
            })?;
        match self.store_grant(&taken.user_id, &grant).await {
            Ok(view) => Ok(view),
            Err(e) => {
                // Nothing was stored; do not leave a live token pair behind at X either.
                self.revoke_logged(&grant.tokens, "unused").await;
                Err(e)
            }
        }
    }

    /// The verifier whose challenge X was sent for this state: derived from the state, or, for a
    /// state written before verifiers were derived (a connect under way during that deploy), the
    /// one the item kept.
    fn verifier_of(&self, taken: &OAuthState) -> Secret {
        match &taken.legacy_pkce_verifier {
            Some(stored) => stored.clone(),
            None => self.pkce.verifier(&taken.state),
        }
    }

    async fn store_grant(
        &self,
        user: &UserId,
        grant: &TokenGrant,
    ) -> Result<ConnectionView, ConnectError> {
        let missing: Vec<&str> = missing_scopes(self.platform, &grant.scopes);
        let me = self
            .directory
            .identify(&grant.tokens.access_token, &missing)
            .await?;
        let status = if missing.is_empty() {
            AccountStatus::Active
        } else {
            AccountStatus::NeedsReconnect {
                reason: missing_scopes_reason(self.platform, &missing),
            }
        };
        let sealed = self
            .cipher
            .encrypt(user, self.platform, &grant.tokens)
            .await?;
        let now = super::epoch_secs(&*self.clock);
        let x_user_id = me.id;
        let saved = self
            .store
            .save_connection(&NewConnection {
                user_id: user.clone(),
                platform: self.platform,
                x_user_id: x_user_id.clone(),
                username: me.username,
                name: me.name,
                scopes: grant.scopes.clone(),
                status,
                access_expires_at: now + grant.expires_in_secs.unwrap_or(DEFAULT_ACCESS_TTL_SECS),
                tokens: sealed,
                now,
            })
            .await?;
        match saved {
            SavedConnection::Saved { account, replaced } => {
                if let Some(replaced) = replaced {
                    // A reconnect: the new pair is stored, and the pair it replaced is in no item
                    // any more. Revoke it at X, best effort: the connect has succeeded whatever
                    // X answers. If X refuses or is too slow, that pair stays valid at X until
                    // X expires it (its refresh token has no documented lifetime), though
                    // Reelay no longer stores it anywhere. A worker still holding it gets 401,
                    // re-reads the account and uses the new pair (`tokens`).
                    self.revoke_stored(user, account.platform, &replaced, "replaced")
                        .await;
                }
                Ok(ConnectionView::from(&account))
            }
            SavedConnection::LinkedElsewhere { owner } => {
                // The caller revokes the pair X just issued: it was never stored.
                tracing::warn!(user_id = %user, platform = %self.platform, account_id = %x_user_id, owner = %owner, "account already linked to another user; refused");
                Err(ConnectError::LinkedElsewhere)
            }
        }
    }

    /// The user's connections (`GET /api/platforms`).
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    pub async fn list(&self, user: &UserId) -> Result<Vec<ConnectionView>, ConnectError> {
        let accounts = self.store.list_accounts(user).await?;
        Ok(accounts.iter().map(ConnectionView::from).collect())
    }

    /// Forgets the user's connection to this platform and revokes its tokens there (best
    /// effort, logged: the tokens are gone from Reelay either way).
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    pub async fn disconnect(&self, user: &UserId) -> Result<(), ConnectError> {
        let account = self
            .store
            .delete_account(user, self.platform)
            .await?
            .ok_or(ConnectError::NotConnected)?;
        self.revoke_stored(user, account.platform, &account.tokens, "disconnected")
            .await;
        tracing::info!(platform = %self.platform, account_id = %account.x_user_id, "disconnected");
        Ok(())
    }

    /// Revokes at X a pair Reelay has just stopped storing (`pair` says why, for the logs):
    /// decrypted, then `revoke_logged`. Never fails: the pair is gone from Reelay either way.
    async fn revoke_stored(
        &self,
        user: &UserId,
        platform: Platform,
        sealed: &EncryptedTokens,
        pair: &'static str,
    ) {
        match self.cipher.decrypt(user, platform, sealed).await {
            Ok(tokens) => self.revoke_logged(&tokens, pair).await,
            Err(e) => {
                tracing::warn!(pair, error = %ErrorChain(&e), "could not decrypt the tokens to revoke them")
            }
        }
    }

    /// Revokes the pair at X within `REVOKE_BUDGET`, logging the outcome (never the tokens: the
    /// errors carry X's status and words only).
    async fn revoke_logged(&self, tokens: &TokenPair, pair: &'static str) {
        match tokio::time::timeout(REVOKE_BUDGET, self.oauth.revoke(tokens)).await {
            Ok(Ok(())) => tracing::info!(pair, platform = %self.platform, "tokens revoked"),
            Ok(Err(e)) => {
                tracing::warn!(pair, error = %e, "revoking failed; the tokens are no longer stored anyway")
            }
            Err(_) => tracing::warn!(
                pair,
                budget_secs = REVOKE_BUDGET.as_secs(),
                "the revoke was not answered in time; the tokens are no longer stored anyway"
            ),
        }
    }
}

/// Where the browser may be sent after a connect: `return_to` must have the scheme, host and
/// port of an allowed URL, and a path equal to its path or under it (when it ends with `/`).
pub fn return_to_allowed(candidate: &Url, allowed: &[Url]) -> bool {
    candidate.as_str().len() <= MAX_RETURN_TO_LEN
        && candidate.username().is_empty()
        && candidate.password().is_none()
        && allowed.iter().any(|a| {
            a.scheme() == candidate.scheme()
                && a.host_str() == candidate.host_str()
                && a.port_or_known_default() == candidate.port_or_known_default()
                && (candidate.path() == a.path()
                    || (a.path().ends_with('/') && candidate.path().starts_with(a.path())))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_must_match_the_allow_list() {
        let allowed = vec![
            Url::parse("https://app.example/connected").unwrap(),
            Url::parse("https://app.example/settings/").unwrap(),
        ];
        let ok = |s: &str| return_to_allowed(&Url::parse(s).unwrap(), &allowed);
        assert!(ok("https://app.example/connected"));
        assert!(ok("https://app.example/connected?tab=x"));
        assert!(ok("https://app.example/settings/accounts"));
        assert!(!ok("https://app.example/connected-evil"));
        assert!(!ok("https://app.example/other"));
        assert!(!ok("http://app.example/connected"));
        assert!(!ok("https://evil.example/connected"));
        assert!(!ok("https://app.example.evil.example/connected"));
        assert!(!ok("https://user@app.example/connected"));
        assert!(!ok("https://app.example:8443/connected"));
        assert!(!return_to_allowed(
            &Url::parse("https://app.example/connected").unwrap(),
            &[]
        ));
    }
}
