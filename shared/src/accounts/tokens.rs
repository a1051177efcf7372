//! Access tokens for workers, fresh and never burned twice (DESIGN §3 "Tokens").
//!
//! X access tokens live two hours and every refresh rotates the refresh token, spending the old
//! one at once (research §1). Many workers may want a token for the same user at the same moment;
//! if two of them refreshed, the second would present a spent refresh token, X would refuse it,
//! and a careless worker would flag the account. So a worker that finds the token expiring takes
//! a short refresh lease on the account with a conditional write on `token_version`; only the
//! lease holder calls X and stores the new pair (bumping the version), the others wait briefly
//! and re-read.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use super::cipher::{TokenCipher, TokenPair};
use super::oauth::{OAuthApp, OAuthError};
use super::store::{AccountStore, RefreshedTokens};
use super::{Account, AccountStatus, Platform};
use crate::clock::Clock;
use crate::ids::UserId;
use crate::secret::Secret;

#[async_trait::async_trait]
pub trait TokenSource: Send + Sync {
    /// A valid access token for the user's X account, refreshed first if it expires within a margin.
    async fn access_token(&self, user: &UserId) -> Result<PlatformToken, TokenError>;
    /// X answered 401 to `rejected`: refresh once (unless a sibling already rotated it: then use theirs) and return the new token.
    async fn refresh_after_unauthorized(
        &self,
        user: &UserId,
        rejected: &PlatformToken,
    ) -> Result<PlatformToken, TokenError>;
    /// X said the token lacks a scope or access: flag the account so the user is told to reconnect.
    async fn mark_needs_reconnect(&self, user: &UserId, reason: &str) -> Result<(), TokenError>;
    /// `access_token` for a caller with only `time_left`: a refresh that might not finish in
    /// that time is not started (`Unavailable`), because a refresh cut off after X rotated the
    /// pair loses the only refresh token that still works.
    async fn access_token_within(
        &self,
        user: &UserId,
        _time_left: Duration,
    ) -> Result<PlatformToken, TokenError> {
        self.access_token(user).await
    }
    /// `refresh_after_unauthorized` with the same rule as `access_token_within`.
    async fn refresh_after_unauthorized_within(
        &self,
        user: &UserId,
        rejected: &PlatformToken,
        _time_left: Duration,
    ) -> Result<PlatformToken, TokenError> {
        self.refresh_after_unauthorized(user, rejected).await
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformToken {
    pub access_token: Secret,
    pub x_user_id: String,
    pub token_version: u64,
    /// The scopes X granted with this token (stored at connect, re-read at every refresh).
    pub scopes: Vec<String>,
}

#[derive(Debug, Error)]
pub enum TokenError {
    #[error("the user has not connected X")]
    NotConnected,
    #[error("the X connection needs to be renewed: {reason}")]
    NeedsReconnect { reason: String },
    /// Transient: KMS, DynamoDB or X (5xx, timeout) failed, or a sibling's refresh took too long.
    #[error("tokens are unavailable right now: {detail}")]
    Unavailable { detail: String },
}

/// Timing of refreshes. The lease must outlast one refresh call to X (the HTTP client's timeout)
/// plus KMS and DynamoDB, or a second worker could take the lease and spend the same token.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// Refresh when the access token expires within this many seconds.
    pub refresh_margin_secs: u64,
    pub lease_secs: u64,
    /// How long a caller waits for a sibling's refresh before giving up (`Unavailable`).
    pub wait_limit: Duration,
    pub poll_first: Duration,
    pub poll_max: Duration,
    /// Time a refresh needs to be started by a caller with a deadline: X's answer (the HTTP
    /// client's timeout) plus KMS and DynamoDB.
    pub refresh_time_needed: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            refresh_margin_secs: 300,
            lease_secs: 45,
            wait_limit: Duration::from_secs(50),
            poll_first: Duration::from_millis(50),
            poll_max: Duration::from_millis(500),
            refresh_time_needed: Duration::from_secs(35),
        }
    }
}

/// Shown to the user when the platform refuses the stored refresh token (`invalid_grant`).
pub fn refresh_refused_reason(platform: Platform) -> String {
    match platform {
        Platform::Twitter => "X no longer accepts Reelay's access to your account (it was revoked or expired). Connect X again.".into(),
        // Google ends the refresh tokens of apps whose consent screen is in "Testing" after
        // 7 days (docs/research/youtube.md §1): the likeliest cause on a fresh deployment.
        Platform::YouTube => "Google no longer accepts Reelay's access to your YouTube channel: it was revoked, or it expired (Google ends the access of apps still in \"Testing\" after 7 days). Connect YouTube again.".into(),
    }
}

/// Shown when the account has no refresh token (X: connected without `offline.access`).
pub fn no_refresh_token_reason(platform: Platform) -> String {
    match platform {
        Platform::Twitter => "X did not grant offline.access, so Reelay cannot keep your connection alive. Connect X again and allow all the permissions Reelay asks for.".into(),
        Platform::YouTube => "Google sent no refresh token, so Reelay cannot keep your YouTube connection alive. Connect YouTube again and allow offline access.".into(),
    }
}

/// The token provider over the account store, the KMS cipher and X's token endpoint.
pub struct TokenProvider {
    /// The platform whose accounts this provider serves (the OAuth app's provider's).
    platform: Platform,
    store: Arc<dyn AccountStore>,
    cipher: Arc<dyn TokenCipher>,
    oauth: OAuthApp,
    clock: Arc<dyn Clock>,
    settings: TokenSettings,
}

fn unavailable(what: &'static str) -> impl FnOnce(&dyn std::error::Error) -> TokenError {
    move |e| {
        // The cause goes to the log with its chain; callers get a short reason.
        tracing::warn!(error = %ErrorChain(e), "{what} failed");
        TokenError::Unavailable {
            detail: format!("{what} failed"),
        }
    }
}

/// Displays an error with its sources, for logs.
pub struct ErrorChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl TokenProvider {
    pub fn new(
        store: Arc<dyn AccountStore>,
        cipher: Arc<dyn TokenCipher>,
        oauth: OAuthApp,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            platform: oauth.provider().platform(),
            store,
            cipher,
            oauth,
            clock,
            settings: TokenSettings::default(),
        }
    }

    /// A worker's provider: a refresh is started only when the provider's answer can arrive
    /// within the invocation, i.e. the HTTP client's `request_timeout` plus KMS and DynamoDB
    /// (`TokenSettings::refresh_time_needed`).
    pub fn for_worker(
        store: Arc<dyn AccountStore>,
        cipher: Arc<dyn TokenCipher>,
        oauth: OAuthApp,
        request_timeout: Duration,
    ) -> Self {
        Self::new(store, cipher, oauth, Arc::new(crate::clock::SystemClock)).with_settings(
            TokenSettings {
                refresh_time_needed: request_timeout + Duration::from_secs(5),
                ..TokenSettings::default()
            },
        )
    }

    pub fn with_settings(mut self, settings: TokenSettings) -> Self {
        self.settings = settings;
        self
    }

    async fn read(&self, user: &UserId) -> Result<Account, TokenError> {
        let account = self
            .store
            .get_account(user, self.platform)
            .await
            .map_err(|e| unavailable("reading the account")(&e))?
            .ok_or(TokenError::NotConnected)?;
        match &account.status {
            AccountStatus::Active => Ok(account),
            AccountStatus::NeedsReconnect { reason } => Err(TokenError::NeedsReconnect {
                reason: reason.clone(),
            }),
        }
    }

    async fn decrypt(&self, account: &Account) -> Result<TokenPair, TokenError> {
        self.cipher
            .decrypt(&account.user_id, account.platform, &account.tokens)
            .await
            .map_err(|e| unavailable("decrypting the tokens")(&e))
    }

    async fn token_of(&self, account: &Account) -> Result<PlatformToken, TokenError> {
        let pair = self.decrypt(account).await?;
        Ok(PlatformToken {
            access_token: pair.access_token,
            x_user_id: account.x_user_id.clone(),
            token_version: account.token_version,
            scopes: account.scopes.clone(),
        })
    }

    /// Returns a token newer than `stale_version` (if given) and not about to expire, refreshing
    /// under the lease or waiting for whoever holds it.
    async fn obtain(
        &self,
        user: &UserId,
        stale_version: Option<u64>,
        time_left: Option<Duration>,
    ) -> Result<PlatformToken, TokenError> {
        let wait = time_left.map_or(self.settings.wait_limit, |t| {
            t.min(self.settings.wait_limit)
        });
        let give_up_at = tokio::time::Instant::now() + wait;
        let mut delay = self.settings.poll_first;
        let started = tokio::time::Instant::now();
        loop {
            let account = self.read(user).await?;
            let now = super::epoch_secs(&*self.clock);
            let stale = stale_version.is_some_and(|v| account.token_version <= v);
            let expiring = now + self.settings.refresh_margin_secs >= account.access_expires_at;
            if !stale && !expiring {
                return self.token_of(&account).await;
            }
            let left = time_left.map(|t| t.saturating_sub(started.elapsed()));
            if left.is_some_and(|left| left < self.settings.refresh_time_needed) {
                return Err(TokenError::Unavailable {
                    detail: "not enough time left in this invocation to refresh the token safely"
                        .into(),
                });
            }
            let owner = uuid::Uuid::new_v4().to_string();
            let leased = self
                .store
                .try_lease_refresh(
                    user,
                    self.platform,
                    account.token_version,
                    &owner,
                    now,
                    now + self.settings.lease_secs,
                )
                .await
                .map_err(|e| unavailable("taking the refresh lease")(&e))?;
            if leased {
                return self.refresh_under_lease(&account, &owner).await;
            }
            // A sibling holds the lease (or already stored a newer pair): wait and re-read.
            if tokio::time::Instant::now() + delay > give_up_at {
                tracing::warn!(user_id = %user, "gave up waiting for another worker's token refresh");
                return Err(TokenError::Unavailable {
                    detail: "another worker's token refresh did not finish in time".into(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.settings.poll_max);
        }
    }

    #[tracing::instrument(skip(self, account, owner), fields(user_id = %account.user_id, version = account.token_version))]
    async fn refresh_under_lease(
        &self,
        account: &Account,
        owner: &str,
    ) -> Result<PlatformToken, TokenError> {
        let user = &account.user_id;
        let pair = match self.decrypt(account).await {
            Ok(p) => p,
            Err(e) => {
                self.release(user, owner).await;
                return Err(e);
            }
        };
        let Some(refresh_token) = pair.refresh_token else {
            return self
                .flag(user, &no_refresh_token_reason(self.platform))
                .await;
        };
        match self.oauth.refresh(&refresh_token).await {
            Ok(mut grant) => {
                tracing::info!(
                    "refreshed the {} access token",
                    self.oauth.provider().name()
                );
                // X rotates the refresh token at every refresh; Google answers without one and
                // the old one stays good (RFC 6749 §6 allows both). Storing "none" would cost the
                // user their connection at the next refresh, so the one in hand is kept.
                if grant.tokens.refresh_token.is_none() {
                    grant.tokens.refresh_token = Some(refresh_token);
                }
                self.store_rotated(account, grant).await
            }
            Err(e) if e.is_invalid_grant() => {
                // Spent or revoked. If a sibling rotated it meanwhile, theirs is the live pair
                // and this is not an error.
                let current = self.read(user).await?;
                if current.token_version > account.token_version {
                    tracing::info!("refresh token already rotated by another worker; using theirs");
                    return self.token_of(&current).await;
                }
                tracing::warn!(error = %e, platform = %self.platform, "the refresh token was refused; the account needs reconnecting");
                self.flag(user, &refresh_refused_reason(self.platform))
                    .await
            }
            Err(e) => {
                self.release(user, owner).await;
                if let OAuthError::Rejected { .. } = e {
                    // e.g. `unauthorized_client`: Reelay's own client credentials are wrong. Not
                    // the user's fault, so the account is not flagged.
                    tracing::error!(error = %e, platform = %self.platform, "the provider refused Reelay's refresh request");
                } else {
                    tracing::warn!(error = %e, "token refresh failed; will retry later");
                }
                Err(TokenError::Unavailable {
                    detail: format!("refreshing at {} failed: {e}", self.oauth.provider().name()),
                })
            }
        }
    }

    /// Stores the rotated pair. The old refresh token is already spent at X, so losing this pair
    /// would cost the user their connection: a failed write is retried a few times.
    async fn store_rotated(
        &self,
        account: &Account,
        grant: super::oauth::TokenGrant,
    ) -> Result<PlatformToken, TokenError> {
        let user = &account.user_id;
        let now = super::epoch_secs(&*self.clock);
        let access_expires_at = now + grant.expires_in_secs.unwrap_or(7200);
        let mut last_error = String::new();
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            let sealed = match self
                .cipher
                .encrypt(user, account.platform, &grant.tokens)
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    last_error = ErrorChain(&e).to_string();
                    continue;
                }
            };
            let refreshed = RefreshedTokens {
                tokens: sealed,
                access_expires_at,
                scopes: grant.scopes.clone(),
                now,
            };
            match self
                .store
                .save_refreshed(user, account.platform, account.token_version, &refreshed)
                .await
            {
                Ok(true) => {
                    return Ok(PlatformToken {
                        access_token: grant.tokens.access_token.clone(),
                        x_user_id: account.x_user_id.clone(),
                        token_version: account.token_version + 1,
                        scopes: grant.scopes.clone(),
                    })
                }
                Ok(false) => {
                    // Reconnected or disconnected meanwhile: that newer state wins; this pair
                    // is an orphan, so it is revoked rather than left alive.
                    tracing::info!("account changed during refresh; discarding the new pair");
                    self.revoke_quietly(&grant.tokens).await;
                    let current = self.read(user).await?;
                    return self.token_of(&current).await;
                }
                Err(e) => last_error = ErrorChain(&e).to_string(),
            }
        }
        tracing::error!(error = %last_error, user_id = %user, "could not store a rotated token pair; the connection will need renewing");
        Err(TokenError::Unavailable {
            detail: "storing the refreshed tokens failed".into(),
        })
    }

    async fn revoke_quietly(&self, tokens: &TokenPair) {
        if let Err(e) = self.oauth.revoke(tokens).await {
            tracing::warn!(error = %e, "revoking an orphaned token pair failed");
        }
    }

    async fn release(&self, user: &UserId, owner: &str) {
        if let Err(e) = self.store.release_lease(user, self.platform, owner).await {
            // The lease expires by itself; siblings wait at most `lease_secs`.
            tracing::warn!(error = %ErrorChain(&e), "could not release the refresh lease");
        }
    }

    async fn flag(&self, user: &UserId, reason: &str) -> Result<PlatformToken, TokenError> {
        self.mark_needs_reconnect(user, reason).await?;
        Err(TokenError::NeedsReconnect {
            reason: reason.to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl TokenSource for TokenProvider {
    #[tracing::instrument(skip(self), fields(user_id = %user))]
    async fn access_token(&self, user: &UserId) -> Result<PlatformToken, TokenError> {
        self.obtain(user, None, None).await
    }

    #[tracing::instrument(skip(self), fields(user_id = %user))]
    async fn access_token_within(
        &self,
        user: &UserId,
        time_left: Duration,
    ) -> Result<PlatformToken, TokenError> {
        self.obtain(user, None, Some(time_left)).await
    }

    #[tracing::instrument(skip(self, rejected), fields(user_id = %user, rejected_version = rejected.token_version))]
    async fn refresh_after_unauthorized_within(
        &self,
        user: &UserId,
        rejected: &PlatformToken,
        time_left: Duration,
    ) -> Result<PlatformToken, TokenError> {
        self.obtain(user, Some(rejected.token_version), Some(time_left))
            .await
    }

    #[tracing::instrument(skip(self, rejected), fields(user_id = %user, rejected_version = rejected.token_version))]
    async fn refresh_after_unauthorized(
        &self,
        user: &UserId,
        rejected: &PlatformToken,
    ) -> Result<PlatformToken, TokenError> {
        self.obtain(user, Some(rejected.token_version), None).await
    }

    #[tracing::instrument(skip(self), fields(user_id = %user))]
    async fn mark_needs_reconnect(&self, user: &UserId, reason: &str) -> Result<(), TokenError> {
        let now = super::epoch_secs(&*self.clock);
        match self
            .store
            .mark_needs_reconnect(user, self.platform, reason, now)
            .await
        {
            Ok(true) => {
                tracing::info!(reason, "account flagged: needs reconnecting");
                Ok(())
            }
            Ok(false) => Err(TokenError::NotConnected),
            Err(e) => Err(unavailable("flagging the account")(&e)),
        }
    }
}
