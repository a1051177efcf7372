//! The engine's `ResumablePlatform` port over YouTube's client: YouTube's answers in the engine's
//! terms, and its failures in the engine's classes (DESIGN §3's table):
//!
//! | YouTube                                   | engine                                   |
//! |-------------------------------------------|------------------------------------------|
//! | 5xx, 429, a drop, a short `rateLimit`     | `Transient` (ask the session, back off)  |
//! | 401                                       | `Unauthorized` (refresh once)            |
//! | 403 `insufficientPermissions`             | `MissingPermission` (reconnect YouTube)  |
//! | 403 `quotaExceeded`                       | `RateLimited` until midnight Pacific     |
//! | 400 `uploadLimitExceeded`                 | `RateLimited` for a day                  |
//! | 404 on the session                        | `MediaGone` (a new session)              |
//! | anything else                             | `Rejected`, with YouTube's reason        |

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use url::Url;

use super::upload::{processing_verdict, ProcessingVerdict};
use super::{
    watch_url, VideoMetadata, YouTubeClient, YouTubeError, YouTubeFailure, YouTubeOptions,
    CHUNK_MULTIPLE,
};
use crate::clock::{rfc3339, Clock};
use crate::ports::{
    AccessToken, FailureKind, NewUpload, PlatformError, Processing, ProcessingState,
    ResumablePlatform, SessionState,
};

pub struct YouTubePlatform {
    client: YouTubeClient,
    /// Classifying a quota refusal needs "now": the wait runs to the next midnight Pacific.
    clock: Arc<dyn Clock>,
}

impl YouTubePlatform {
    pub fn new(client: YouTubeClient, clock: Arc<dyn Clock>) -> Self {
        Self { client, clock }
    }

    fn platform_error(&self, err: YouTubeError) -> PlatformError {
        let failure = err.classify(self.clock.now_ms());
        // The error's words never carry the session URI (the client's rule), so they may be
        // shown and logged.
        let detail = err.to_string();
        let (kind, code, message) = match failure {
            YouTubeFailure::Transient => (FailureKind::Transient, "youtube_unavailable", detail),
            YouTubeFailure::Unauthorized => {
                (FailureKind::Unauthorized, "youtube_unauthorized", detail)
            }
            YouTubeFailure::MissingPermission => (
                FailureKind::MissingPermission,
                "youtube_missing_permission",
                "YouTube says Reelay's access lacks a permission it needs. Connect YouTube again \
                 and allow uploading and reading your channel."
                    .to_owned(),
            ),
            YouTubeFailure::QuotaExceeded { retry_at_ms } => {
                return PlatformError {
                    kind: FailureKind::RateLimited {
                        retry_at_ms: Some(retry_at_ms),
                    },
                    code: "youtube_quota_exceeded".into(),
                    message: format!(
                        "this Reelay's daily YouTube quota is used up; it resets at midnight \
                         Pacific time ({})",
                        rfc3339(retry_at_ms / 1000)
                    ),
                }
            }
            YouTubeFailure::UploadLimit { retry_at_ms } => {
                return PlatformError {
                    kind: FailureKind::RateLimited {
                        retry_at_ms: Some(retry_at_ms),
                    },
                    code: "youtube_upload_limit".into(),
                    message: format!(
                        "the channel reached YouTube's limit of uploads in 24 hours; Reelay \
                         tries again at {}",
                        rfc3339(retry_at_ms / 1000)
                    ),
                }
            }
            YouTubeFailure::SessionGone => (FailureKind::MediaGone, "youtube_session_gone", detail),
            YouTubeFailure::Rejected { reason } => (
                FailureKind::Rejected,
                "youtube_rejected",
                format!("{detail} ({reason})"),
            ),
        };
        PlatformError {
            kind,
            code: code.into(),
            message,
        }
    }

    fn session(&self, session: &str) -> Result<Url, PlatformError> {
        Url::parse(session).map_err(|_| PlatformError {
            kind: FailureKind::MediaGone,
            code: "youtube_session_gone".into(),
            message: "the saved upload session is not a URL; starting a new one".into(),
        })
    }
}

#[async_trait]
impl ResumablePlatform for YouTubePlatform {
    fn chunk_multiple(&self) -> u64 {
        CHUNK_MULTIPLE
    }

    async fn start_session(
        &self,
        token: &AccessToken,
        upload: &NewUpload<'_>,
    ) -> Result<String, PlatformError> {
        let options = upload.options.youtube.clone().unwrap_or_default();
        let metadata = metadata(upload.text, &options)?;
        self.client
            .start_session(
                &token.token,
                upload.total_bytes,
                upload.media_type,
                &metadata,
            )
            .await
            .map(String::from)
            .map_err(|e| self.platform_error(e))
    }

    async fn send_chunk(
        &self,
        session: &str,
        start: u64,
        chunk: Bytes,
        total: u64,
    ) -> Result<SessionState, PlatformError> {
        let session = self.session(session)?;
        self.client
            .send_chunk(&session, start, chunk, total)
            .await
            .map_err(|e| self.platform_error(e))
    }

    async fn ask_session(&self, session: &str, total: u64) -> Result<SessionState, PlatformError> {
        let session = self.session(session)?;
        self.client
            .query(&session, total)
            .await
            .map_err(|e| self.platform_error(e))
    }

    async fn processing(
        &self,
        token: &AccessToken,
        video_id: &str,
    ) -> Result<Processing, PlatformError> {
        let state = self
            .client
            .video_state(&token.token, video_id)
            .await
            .map_err(|e| self.platform_error(e))?;
        Ok(match processing_verdict(state.as_ref()) {
            ProcessingVerdict::Wait {
                after_secs,
                progress_percent,
            } => Processing {
                state: ProcessingState::InProgress,
                check_after_secs: Some(after_secs),
                progress_percent,
                error: None,
            },
            ProcessingVerdict::Published => Processing {
                state: ProcessingState::Succeeded,
                check_after_secs: None,
                progress_percent: Some(100),
                error: None,
            },
            ProcessingVerdict::Failed { reason } => Processing {
                state: ProcessingState::Failed,
                check_after_secs: None,
                progress_percent: None,
                error: Some(reason),
            },
            // Not listed yet: look again soon; the engine's processing timeout bounds it.
            ProcessingVerdict::NotVisible => Processing {
                state: ProcessingState::Pending,
                check_after_secs: Some(5),
                progress_percent: None,
                error: None,
            },
        })
    }

    fn video_url(&self, video_id: &str) -> String {
        watch_url(video_id)
    }
}

/// The video resource for the post; a post the API let through never fails here, but one whose
/// options were stored before a rule changed is refused with the rule's words.
fn metadata(text: &str, options: &YouTubeOptions) -> Result<VideoMetadata, PlatformError> {
    VideoMetadata::for_post(text, options).map_err(|e| PlatformError {
        kind: FailureKind::Rejected,
        code: "youtube_metadata".into(),
        message: e.to_string(),
    })
}
