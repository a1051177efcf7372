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

/// Which X endpoint a call went to: the scopes X requires for it (X's docs per endpoint) and
/// what to call it when telling the user.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Initialize,
    Append,
    Finalize,
    Status,
    Post,
    Timeline,
}

impl Endpoint {
    fn required_scopes(self) -> &'static [&'static str] {
        match self {
            Endpoint::Initialize | Endpoint::Append | Endpoint::Finalize | Endpoint::Status => {
                &["media.write"]
            }
            Endpoint::Post => &["tweet.read", "tweet.write", "users.read"],
            Endpoint::Timeline => &["tweet.read", "users.read"],
        }
    }

    fn is_media(self) -> bool {
        matches!(
            self,
            Endpoint::Initialize | Endpoint::Append | Endpoint::Finalize | Endpoint::Status
        )
    }

    fn describe(self) -> &'static str {
        match self {
            Endpoint::Initialize | Endpoint::Append | Endpoint::Finalize | Endpoint::Status => {
                "the video upload"
            }
            Endpoint::Post => "the post",
            Endpoint::Timeline => "reading the account's posts",
        }
    }
}

/// What X calls each scope on its consent screen, so the user knows what to approve.
fn scope_label(scope: &str) -> String {
    let label = match scope {
        "media.write" => "upload media",
        "tweet.write" => "post for you",
        "tweet.read" => "read posts",
        "users.read" => "read profile information",
        "offline.access" => "stay connected",
        _ => return scope.to_owned(),
    };
    format!("\"{label}\" ({scope})")
}

/// The seed app's fix, in plain words: disconnect, connect again, approve what is missing.
fn reconnect_instruction(endpoint: Endpoint, missing: &[&str], x_words: &str) -> String {
    let labels: Vec<String> = missing.iter().map(|s| scope_label(s)).collect();
    format!(
        "X refused {} ({x_words}) because the X connection does not include the permission to {}. \
         Disconnect X in Reelay, connect it again and approve {} when X asks, then retry the post.",
        endpoint.describe(),
        labels.join(" and "),
        labels.join(" and "),
    )
}

/// Maps X's answer to the engine's failure classes (DESIGN §3). `granted` is the scopes X
/// granted with the token the call used.
fn failure(err: XError, endpoint: Endpoint, granted: &[String]) -> PlatformError {
    let code = err.code().to_owned();
    let mut message = err.detail().to_owned();
    let missing: Vec<&str> = endpoint
        .required_scopes()
        .iter()
        .copied()
        .filter(|s| !granted.iter().any(|g| g == s))
        .collect();
    let kind = match err {
        XError::RateLimited { reset_at_epoch, .. } => FailureKind::RateLimited {
            retry_at_ms: reset_at_epoch
                .map(|s| i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1000)),
        },
        XError::Unauthorized { .. } => FailureKind::Unauthorized,
        // Real X's refusal of a token without the endpoint's scope is a bare "Forbidden"
        // (research, Corrections: PLH#588, #265). The scopes X granted tell it apart from other
        // refusals: a 403 on an endpoint whose scope the token lacks is the missing scope.
        XError::Forbidden {
            kind: ForbiddenKind::MissingScope | ForbiddenKind::Other,
            ..
        } if !missing.is_empty() => {
            message = reconnect_instruction(endpoint, &missing, &message);
            FailureKind::MissingPermission
        }
        // The body names a scope the token seems to have (scopes withdrawn at X since the last
        // refresh): the endpoint's scopes are what to approve again.
        XError::Forbidden {
            kind: ForbiddenKind::MissingScope,
            ..
        } => {
            message = reconnect_instruction(endpoint, endpoint.required_scopes(), &message);
            FailureKind::MissingPermission
        }
        XError::Forbidden {
            kind: ForbiddenKind::NotEnrolled,
            ..
        } => {
            message = format!(
                "X access for this app is not enabled for {} ({message}). The operator must \
                 give the X app access to this endpoint in the X developer portal; the post \
                 waits and is sent when it is.",
                endpoint.describe()
            );
            FailureKind::OperatorAction
        }
        XError::PaymentRequired { .. } => {
            message = format!(
                "X credits for this app are used up ({message}). The operator must add credits \
                 in the X developer portal; the post waits and is sent when they do."
            );
            FailureKind::OperatorAction
        }
        XError::Forbidden {
            kind: ForbiddenKind::Duplicate,
            ..
        } => FailureKind::Duplicate,
        // A bare "Forbidden" from a token that had the scopes when last read: X may have taken a
        // scope away since (the engine refreshes once to re-read them).
        XError::Forbidden {
            kind: ForbiddenKind::Other,
            ..
        } => FailureKind::Forbidden,
        // X's media endpoints have had outages answering 404 (research §3a, incidents): retry.
        XError::Rejected { status: 404, .. } if endpoint.is_media() => FailureKind::Transient,
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
            .map_err(|e| failure(e, Endpoint::Initialize, &token.scopes))?;
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
            .map_err(|e| failure(e, Endpoint::Append, &token.scopes))
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
            .map_err(|e| failure(e, Endpoint::Finalize, &token.scopes))
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
            .map_err(|e| failure(e, Endpoint::Status, &token.scopes))
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
            .map_err(|e| failure(e, Endpoint::Post, &token.scopes))?;
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
                .map_err(|e| failure(e, Endpoint::Timeline, &token.scopes))?;
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

/// The engine's `Credentials` port over a platform's token provider (`accounts::tokens`): X's
/// or YouTube's, whichever `TokenProvider` it is given.
pub struct TokenCredentials {
    tokens: std::sync::Arc<dyn TokenSource>,
}

impl TokenCredentials {
    pub fn new(tokens: std::sync::Arc<dyn TokenSource>) -> Self {
        Self { tokens }
    }
}

fn access_token(token: PlatformToken) -> AccessToken {
    AccessToken {
        token: token.access_token,
        account_id: token.x_user_id,
        version: token.token_version,
        scopes: token.scopes,
    }
}

fn platform_token(token: &AccessToken) -> PlatformToken {
    PlatformToken {
        access_token: token.token.clone(),
        x_user_id: token.account_id.clone(),
        token_version: token.version,
        scopes: token.scopes.clone(),
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
impl Credentials for TokenCredentials {
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

    fn x_answer(status: u16, body: &str) -> XError {
        crate::x::classify(status, &http::HeaderMap::new(), body.as_bytes())
    }

    const GENERIC_403: &str =
        r#"{"title":"Forbidden","type":"about:blank","status":403,"detail":"Forbidden"}"#;

    fn scopes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_bare_403_on_a_media_call_without_media_write_asks_for_a_reconnect() {
        let granted = scopes(&["tweet.read", "tweet.write", "users.read", "offline.access"]);
        let e = failure(x_answer(403, GENERIC_403), Endpoint::Append, &granted);
        assert_eq!(e.kind, FailureKind::MissingPermission);
        assert!(
            e.message.contains("\"upload media\" (media.write)")
                && e.message.contains("Disconnect X")
                && e.message.contains("connect it again"),
            "{}",
            e.message
        );
        // The same answer with media.write granted is some other refusal: not the user's scope.
        let all = scopes(&["tweet.read", "tweet.write", "users.read", "media.write"]);
        let e = failure(x_answer(403, GENERIC_403), Endpoint::Append, &all);
        assert_eq!(e.kind, FailureKind::Forbidden);
        assert_eq!(e.message, "Forbidden");
        // On the post, the post's scopes count.
        let no_write = scopes(&["tweet.read", "users.read", "media.write"]);
        let e = failure(x_answer(403, GENERIC_403), Endpoint::Post, &no_write);
        assert_eq!(e.kind, FailureKind::MissingPermission);
        assert!(e.message.contains("(tweet.write)"), "{}", e.message);
    }

    #[test]
    fn the_apps_access_and_credits_are_the_operators_problem() {
        let all = scopes(&["tweet.read", "tweet.write", "users.read", "media.write"]);
        let enrolment = r#"{"client_id":"1","detail":"When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project.","registration_url":"https://developer.twitter.com/en/docs/projects/overview","title":"Client Forbidden","required_enrollment":"Appropriate Level of API Access","reason":"client-not-enrolled","type":"https://api.twitter.com/2/problems/client-forbidden"}"#;
        // Even with a scope missing, an enrolment refusal is about the app, not the user.
        let e = failure(x_answer(403, enrolment), Endpoint::Initialize, &all[..3]);
        assert_eq!(e.kind, FailureKind::OperatorAction);
        assert_eq!(e.code, "x_app_not_enrolled");
        assert!(
            e.message
                .starts_with("X access for this app is not enabled"),
            "{}",
            e.message
        );
        let e = failure(
            x_answer(402, r#"{"title":"Payment Required","status":402}"#),
            Endpoint::Post,
            &all,
        );
        assert_eq!(e.kind, FailureKind::OperatorAction);
        assert_eq!(e.code, "x_credits_depleted");
        assert!(
            e.message.starts_with("X credits for this app are used up"),
            "{}",
            e.message
        );
    }

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
