//! X as a `MediaPlatform`: the engine's port implemented over Reelay's X client.

use async_trait::async_trait;
use bytes::Bytes;

use crate::accounts::tokens::{PlatformToken, TokenError, TokenSource};
use crate::ids::UserId;
use crate::ports::{
    AccessToken, CredentialError, Credentials, FailureKind, Lookup, MediaPlatform, MediaSession,
    PlatformError, Processing, ProcessingState, PublishedPost,
};
use crate::x::{ForbiddenKind, MediaStatus, TimelineQuery, XClient, XError};

/// A lookup for an earlier post reads pages of this many posts (X's minimum is 5) ...
const LOOKUP_PAGE_SIZE: u8 = 10;
/// ... and at most this many pages: X bills every post a read returns, and posts made since the
/// first attempt are normally few. More than this proves nothing (`Lookup::complete` false).
const LOOKUP_MAX_PAGES: u32 = 5;
/// X's `start_time` has second precision and X's clock is not ours: look a little earlier.
const LOOKUP_CLOCK_SKEW_SECS: i64 = 60;

#[derive(Clone)]
pub struct XPlatform {
    client: XClient,
}

impl XPlatform {
    pub fn new(client: XClient) -> Self {
        Self { client }
    }
}

/// Maps X's answer to the engine's failure classes (DESIGN §3).
fn failure(err: XError, media_endpoint: bool) -> PlatformError {
    let code = err.code().to_owned();
    let message = err.detail().to_owned();
    let kind = match err {
        XError::RateLimited { reset_at_epoch, .. } => FailureKind::RateLimited {
            retry_at_ms: reset_at_epoch
                .map(|s| i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1000)),
        },
        XError::Unauthorized { .. } => FailureKind::Unauthorized,
        XError::Forbidden {
            kind: ForbiddenKind::MissingScope,
            ..
        } => FailureKind::MissingPermission,
        XError::Forbidden {
            kind: ForbiddenKind::Duplicate,
            ..
        } => FailureKind::Duplicate,
        XError::Forbidden { .. } => FailureKind::Rejected,
        // X's media endpoints have had outages answering 404 (research §3a, incidents): retry.
        XError::Rejected { status: 404, .. } if media_endpoint => FailureKind::Transient,
        XError::MediaGone { .. } => FailureKind::MediaGone,
        XError::Rejected { .. } => FailureKind::Rejected,
        // A 2xx we cannot read may still have done its work; the engine's checks (STATUS after
        // FINALIZE, looking for the post before posting again) make retrying it safe.
        XError::ServerError { .. } | XError::Transport { .. } | XError::UnexpectedBody { .. } => {
            FailureKind::Transient
        }
    };
    PlatformError {
        kind,
        code,
        message,
    }
}

fn processing(status: MediaStatus) -> Processing {
    use crate::x::ProcessingState as X;
    Processing {
        state: match status.state {
            X::Pending => ProcessingState::Pending,
            X::InProgress => ProcessingState::InProgress,
            X::Succeeded | X::Ready => ProcessingState::Succeeded,
            X::Failed => ProcessingState::Failed,
        },
        check_after_secs: status.check_after_secs,
        progress_percent: status.progress_percent.or(match status.state {
            X::Succeeded | X::Ready => Some(100),
            _ => None,
        }),
        error: status.error.map(|e| match e.name {
            Some(name) => format!("{name}: {}", e.message),
            None => e.message,
        }),
    }
}

/// Whether a post's media keys include ours. X's media keys are `{kind}_{media id}` (e.g.
/// `13_1880028106020515840`); the engine passes the key when INIT gave one, else the bare id.
fn carries_media(keys: &[String], media_key: &str) -> bool {
    keys.iter()
        .any(|k| k == media_key || k.rsplit_once('_').is_some_and(|(_, id)| id == media_key))
}

fn post_url(id: &str) -> String {
    format!("https://x.com/i/web/status/{id}")
}

#[async_trait]
impl MediaPlatform for XPlatform {
    async fn initialize(
        &self,
        token: &AccessToken,
        total_bytes: u64,
        media_type: &str,
        media_category: &str,
    ) -> Result<MediaSession, PlatformError> {
        let init = self
            .client
            .media_initialize(&token.token, total_bytes, media_type, media_category)
            .await
            .map_err(|e| failure(e, false))?;
        Ok(MediaSession {
            media_id: init.id,
            media_key: init.media_key,
            expires_after_secs: init.expires_after_secs,
        })
    }

    async fn append(
        &self,
        token: &AccessToken,
        media_id: &str,
        segment_index: u32,
        segment: Bytes,
    ) -> Result<(), PlatformError> {
        self.client
            .media_append(&token.token, media_id, segment_index, segment)
            .await
            .map_err(|e| failure(e, true))
    }

    async fn finalize(
        &self,
        token: &AccessToken,
        media_id: &str,
    ) -> Result<Processing, PlatformError> {
        self.client
            .media_finalize(&token.token, media_id)
            .await
            .map(processing)
            .map_err(|e| failure(e, true))
    }

    async fn status(
        &self,
        token: &AccessToken,
        media_id: &str,
    ) -> Result<Processing, PlatformError> {
        self.client
            .media_status(&token.token, media_id)
            .await
            .map(processing)
            .map_err(|e| failure(e, true))
    }

    async fn publish(
        &self,
        token: &AccessToken,
        text: &str,
        media_id: &str,
    ) -> Result<PublishedPost, PlatformError> {
        let created = self
            .client
            .create_post(&token.token, text, &[media_id.to_owned()])
            .await
            .map_err(|e| failure(e, false))?;
        Ok(PublishedPost {
            url: post_url(&created.id),
            id: created.id,
        })
    }

    async fn find_published(
        &self,
        token: &AccessToken,
        media_key: &str,
        since_ms: i64,
    ) -> Result<Lookup, PlatformError> {
        let mut query = TimelineQuery {
            max_results: LOOKUP_PAGE_SIZE,
            start_time_secs: Some(since_ms.div_euclid(1000) - LOOKUP_CLOCK_SKEW_SECS),
            pagination_token: None,
        };
        let mut posts_read = 0_u32;
        for _ in 0..LOOKUP_MAX_PAGES {
            let page = self
                .client
                .timeline(&token.token, &token.account_id, &query)
                .await
                .map_err(|e| failure(e, false))?;
            posts_read = posts_read.saturating_add(page.posts.len() as u32);
            if let Some(post) = page
                .posts
                .into_iter()
                .find(|p| carries_media(&p.media_keys, media_key))
            {
                let found = PublishedPost {
                    url: post_url(&post.id),
                    id: post.id,
                };
                return Ok(Lookup {
                    found: Some(found),
                    complete: true,
                    posts_read,
                });
            }
            match page.next_token {
                Some(next) => query.pagination_token = Some(next),
                None => {
                    return Ok(Lookup {
                        found: None,
                        complete: true,
                        posts_read,
                    })
                }
            }
        }
        Ok(Lookup {
            found: None,
            complete: false,
            posts_read,
        })
    }
}

/// The engine's `Credentials` port over the X token provider (`accounts::tokens`).
pub struct XCredentials {
    tokens: std::sync::Arc<dyn TokenSource>,
}

impl XCredentials {
    pub fn new(tokens: std::sync::Arc<dyn TokenSource>) -> Self {
        Self { tokens }
    }
}

fn access_token(token: PlatformToken) -> AccessToken {
    AccessToken {
        token: token.access_token,
        account_id: token.x_user_id,
        version: token.token_version,
    }
}

fn platform_token(token: &AccessToken) -> PlatformToken {
    PlatformToken {
        access_token: token.token.clone(),
        x_user_id: token.account_id.clone(),
        token_version: token.version,
    }
}

fn credential_error(err: TokenError) -> CredentialError {
    match err {
        TokenError::NotConnected => CredentialError::NotConnected,
        TokenError::NeedsReconnect { reason } => CredentialError::NeedsReconnect { reason },
        TokenError::Unavailable { detail } => CredentialError::Unavailable { detail },
    }
}

#[async_trait]
impl Credentials for XCredentials {
    async fn access_token(&self, user: &UserId) -> Result<AccessToken, CredentialError> {
        self.tokens
            .access_token(user)
            .await
            .map(access_token)
            .map_err(credential_error)
    }

    async fn refresh_after_unauthorized(
        &self,
        user: &UserId,
        rejected: &AccessToken,
    ) -> Result<AccessToken, CredentialError> {
        let rejected = platform_token(rejected);
        self.tokens
            .refresh_after_unauthorized(user, &rejected)
            .await
            .map(access_token)
            .map_err(credential_error)
    }

    async fn access_token_within(
        &self,
        user: &UserId,
        time_left: std::time::Duration,
    ) -> Result<AccessToken, CredentialError> {
        self.tokens
            .access_token_within(user, time_left)
            .await
            .map(access_token)
            .map_err(credential_error)
    }

    async fn refresh_after_unauthorized_within(
        &self,
        user: &UserId,
        rejected: &AccessToken,
        time_left: std::time::Duration,
    ) -> Result<AccessToken, CredentialError> {
        let rejected = platform_token(rejected);
        self.tokens
            .refresh_after_unauthorized_within(user, &rejected, time_left)
            .await
            .map(access_token)
            .map_err(credential_error)
    }

    async fn flag_reconnect(&self, user: &UserId, reason: &str) -> Result<(), CredentialError> {
        self.tokens
            .mark_needs_reconnect(user, reason)
            .await
            .map_err(credential_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_carries_our_media_by_key_or_by_bare_id() {
        let keys = vec!["3_111".to_owned(), "13_1880028106020515840".to_owned()];
        assert!(carries_media(&keys, "13_1880028106020515840"));
        assert!(carries_media(&keys, "1880028106020515840"));
        assert!(!carries_media(&keys, "880028106020515840"));
        assert!(!carries_media(&keys, "7_1880028106020515840"));
        assert!(!carries_media(&[], "111"));
    }
}
