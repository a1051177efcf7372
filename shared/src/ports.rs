//! The ports the upload engine talks through, in Reelay's terms. Each has one production adapter
//! (`s3`, `sqs`, `x_platform`, `accounts`) and the engine never sees an SDK or HTTP type.

use async_trait::async_trait;
use bytes::Bytes;
use thiserror::Error;

use crate::ids::UserId;
use crate::messages::JobMessage;
use crate::secret::Secret;

// ---------------------------------------------------------------- the video in storage

/// Why a read of the video failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobErrorKind {
    /// The store could not answer now (network, throttling, a short read): try again later.
    Unavailable,
    /// The object is no longer the version that was checked (`If-Match` failed): permanent.
    Changed,
    /// The object is gone: permanent.
    Missing,
}

#[derive(Debug, Error)]
#[error("reading the video failed: {detail}")]
pub struct BlobError {
    pub kind: BlobErrorKind,
    pub detail: String,
}

impl BlobError {
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self {
            kind: BlobErrorKind::Unavailable,
            detail: detail.into(),
        }
    }
}

/// One object, pinned to the version a reader expects when `etag` / `version_id` are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub etag: Option<&'a str>,
    pub version_id: Option<&'a str>,
}

#[async_trait]
pub trait BlobReader: Send + Sync {
    /// Reads exactly `len` bytes at `start` of the object (fewer only at its end). A pinned read
    /// of an object that changed fails with `Changed`; of one that is gone, with `Missing`.
    async fn read_range(
        &self,
        object: ObjectRef<'_>,
        start: u64,
        len: u64,
    ) -> Result<Bytes, BlobError>;
}

/// What a HEAD of an uploaded object says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub size_bytes: u64,
    /// The version the pre-flight checks; reads of it are pinned to it.
    pub etag: Option<String>,
    /// Only on a versioned bucket.
    pub version_id: Option<String>,
    /// The `Content-Type` the object was stored with (the form's field).
    pub content_type: Option<String>,
}

/// The uploads bucket as create-post's intake uses it: look at an object, read it (the
/// pre-flight check's ranged reads), delete one Reelay refuses.
#[async_trait]
pub trait UploadedObjects: BlobReader {
    /// Size, version and content type of an object; `None` when it is gone.
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectHead>, BlobError>;
    /// Deletes an object. Deleting a missing key succeeds, so a retried event deletes again
    /// harmlessly.
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), BlobError>;
}

// ---------------------------------------------------------------- the work queue

#[derive(Debug, Error)]
#[error("sending to the work queue failed: {detail}")]
pub struct QueueError {
    pub detail: String,
}

#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Sends `message`, to be delivered no sooner than `delay_secs` (at most 900, SQS's limit).
    async fn send(&self, message: &JobMessage, delay_secs: u32) -> Result<(), QueueError>;
}

/// Sends a job's message at a set time, however far ahead: EventBridge Scheduler's one-time
/// schedules in AWS (`crate::scheduler`), fired by the local runner here. A scheduled post waits
/// through this rather than through chained queue delays, so it is woken on the second.
#[async_trait]
pub trait WakeUps: Send + Sync {
    /// Creates, or replaces, the job's one schedule: `message` is sent to the work queue at
    /// `at_ms` (rounded up to the second, so never early). One schedule per job, named for it,
    /// so the latest call wins.
    async fn wake_at(&self, message: &JobMessage, at_ms: i64) -> Result<(), QueueError>;
    /// Removes the job's schedule; nothing to remove is not an error.
    async fn forget(&self, message: &JobMessage) -> Result<(), QueueError>;
}

// ---------------------------------------------------------------- telling the operator

/// Something only the operator can fix: the platform refuses the app itself (X: the app's access
/// does not include an endpoint, or its credits are used up). Sent once per job when it starts
/// waiting for the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorAlert {
    /// Stable code, e.g. `x_credits_depleted`, `x_app_not_enrolled`.
    pub code: String,
    /// What the operator must do, in plain words.
    pub action: String,
    /// The platform's own words.
    pub detail: String,
    /// The post that is waiting (for the operator's logs; never a token or the post's text).
    pub post_id: String,
}

#[derive(Debug, Error)]
#[error("alerting the operator failed: {detail}")]
pub struct AlertError {
    pub detail: String,
}

#[async_trait]
pub trait OperatorAlerts: Send + Sync {
    async fn alert(&self, alert: &OperatorAlert) -> Result<(), AlertError>;
}

// ---------------------------------------------------------------- the user's platform credentials

/// A bearer token for the user's platform account.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: Secret,
    /// The user's id on the platform (X's user id), to look up their own posts.
    pub account_id: String,
    /// Changes whenever the token is refreshed.
    pub version: u64,
    /// The scopes the platform granted with this token (X's token response `scope`, re-read at
    /// every refresh). A refusal that does not say why is read against these.
    pub scopes: Vec<String>,
}

#[derive(Debug, Error)]
pub enum CredentialError {
    #[error("the account is not connected")]
    NotConnected,
    #[error("the account must be reconnected: {reason}")]
    NeedsReconnect { reason: String },
    #[error("credentials are unavailable for now: {detail}")]
    Unavailable { detail: String },
}

#[async_trait]
pub trait Credentials: Send + Sync {
    async fn access_token(&self, user: &UserId) -> Result<AccessToken, CredentialError>;
    /// The platform answered 401 to `rejected`: refresh once and return the new token.
    async fn refresh_after_unauthorized(
        &self,
        user: &UserId,
        rejected: &AccessToken,
    ) -> Result<AccessToken, CredentialError>;
    /// The platform said the token lacks a permission: flag the account for reconnection.
    async fn flag_reconnect(&self, user: &UserId, reason: &str) -> Result<(), CredentialError>;
    /// `access_token` for a caller with only `time_left`: a refresh that might not finish in
    /// time is not started (`Unavailable`); a refresh cut off after the platform rotated the
    /// tokens would lose the account's only working refresh token.
    async fn access_token_within(
        &self,
        user: &UserId,
        _time_left: std::time::Duration,
    ) -> Result<AccessToken, CredentialError> {
        self.access_token(user).await
    }
    /// `refresh_after_unauthorized` with the rule of `access_token_within`.
    async fn refresh_after_unauthorized_within(
        &self,
        user: &UserId,
        rejected: &AccessToken,
        _time_left: std::time::Duration,
    ) -> Result<AccessToken, CredentialError> {
        self.refresh_after_unauthorized(user, rejected).await
    }
}

// ---------------------------------------------------------------- the platform's media upload

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSession {
    pub media_id: String,
    pub media_key: Option<String>,
    pub expires_after_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingState {
    Pending,
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processing {
    pub state: ProcessingState,
    pub check_after_secs: Option<u64>,
    pub progress_percent: Option<u8>,
    /// The platform's words when processing failed (X may send an `error` with any state).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPost {
    pub id: String,
    pub url: String,
}

/// What a look for an earlier post found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub found: Option<PublishedPost>,
    /// Whether every post since `since_ms` was seen. `false` (too many pages) proves nothing.
    pub complete: bool,
    /// Posts the platform returned (X bills each one a read returns).
    pub posts_read: u32,
}

/// How a platform call failed, as far as the engine's decisions go (DESIGN §3's table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// 429: wait until `retry_at_ms` (from the rate-limit reset) without spending an attempt.
    RateLimited { retry_at_ms: Option<i64> },
    /// 5xx, timeouts, dropped connections: retry with backoff, a bounded number of times.
    Transient,
    /// 401: the token was refused; refresh once.
    Unauthorized,
    /// 403 because the token lacks a scope: the user must reconnect and grant it.
    MissingPermission,
    /// 403 without a reason, from a token that was granted the call's scopes when last read.
    /// The engine refreshes the token once (re-reading its scopes) and calls again; refused
    /// again, it is a rejection.
    Forbidden,
    /// The platform refuses the app itself (X: the app's access does not include the endpoint,
    /// or its pay-per-use credits are used up). Only the operator can fix it; the user's account
    /// is fine. The job waits, bounded, and the operator is alerted.
    OperatorAction,
    /// 403 duplicate content: X already has a post with this text.
    Duplicate,
    /// The platform says the media id is unknown or expired: only a new upload can help.
    MediaGone,
    /// Any other refusal: permanent.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{code}: {message}")]
pub struct PlatformError {
    pub kind: FailureKind,
    /// Stable code, e.g. `x_rate_limited`, `x_server_error`.
    pub code: String,
    /// The platform's own words (never a token).
    pub message: String,
}

#[async_trait]
pub trait MediaPlatform: Send + Sync {
    async fn initialize(
        &self,
        token: &AccessToken,
        total_bytes: u64,
        media_type: &str,
        media_category: &str,
    ) -> Result<MediaSession, PlatformError>;
    async fn append(
        &self,
        token: &AccessToken,
        media_id: &str,
        segment_index: u32,
        segment: Bytes,
    ) -> Result<(), PlatformError>;
    async fn finalize(
        &self,
        token: &AccessToken,
        media_id: &str,
    ) -> Result<Processing, PlatformError>;
    async fn status(
        &self,
        token: &AccessToken,
        media_id: &str,
    ) -> Result<Processing, PlatformError>;
    async fn publish(
        &self,
        token: &AccessToken,
        text: &str,
        media_id: &str,
    ) -> Result<PublishedPost, PlatformError>;
    /// The user's post created at or after `since_ms` that carries `media_key`, if X shows one:
    /// how a resumed job learns that its post was created before a crash or a lost answer,
    /// instead of posting twice. Looks only at posts since then, in small pages.
    async fn find_published(
        &self,
        token: &AccessToken,
        media_key: &str,
        since_ms: i64,
    ) -> Result<Lookup, PlatformError>;
}

// ---------------------------------------------------------------- a resumable upload (YouTube)

/// Where a resumable upload session stands, as its server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// The server holds the first `bytes_held` bytes (0 when it said nothing of a range).
    Holding { bytes_held: u64 },
    /// Every byte is in; the video exists with this id.
    Complete { video_id: String },
}

/// What a resumable upload is started with.
#[derive(Debug, Clone, Copy)]
pub struct NewUpload<'a> {
    pub total_bytes: u64,
    pub media_type: &'a str,
    /// The post's text (a platform derives its title and description from it).
    pub text: &'a str,
    /// The post's choices for the platform (YouTube: title, privacy, made for kids, category).
    pub options: &'a crate::posts::PlatformOptions,
}

/// A platform whose upload is one resumable session, whose server says how many bytes it holds
/// (YouTube, docs/research/youtube.md §2). The engine drives it with `crate::resumable`'s rule:
/// ask the session after any crash or failure, and send from what it holds. The video exists
/// once the last byte is in; there is no separate "post" call.
#[async_trait]
pub trait ResumablePlatform: Send + Sync {
    /// Every chunk but the last must be a whole multiple of this many bytes.
    fn chunk_multiple(&self) -> u64;
    /// Starts a session; its URI. The URI takes bytes without a token, so it is a credential:
    /// kept in the job item only.
    async fn start_session(
        &self,
        token: &AccessToken,
        upload: &NewUpload<'_>,
    ) -> Result<String, PlatformError>;
    /// Sends `chunk`, the bytes at `start` of a `total`-byte upload.
    async fn send_chunk(
        &self,
        session: &str,
        start: u64,
        chunk: Bytes,
        total: u64,
    ) -> Result<SessionState, PlatformError>;
    /// Asks how many bytes the session holds.
    async fn ask_session(&self, session: &str, total: u64) -> Result<SessionState, PlatformError>;
    /// Where the uploaded video stands in the platform's processing. `Pending`: the platform
    /// does not show the video yet.
    async fn processing(
        &self,
        token: &AccessToken,
        video_id: &str,
    ) -> Result<Processing, PlatformError>;
    /// The video's public link.
    fn video_url(&self, video_id: &str) -> String;
}

// ---------------------------------------------------------------- crash injection

/// The points between a platform call and its checkpoint, where a crash loses the call's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepPoint {
    AfterInitialize,
    AfterAppend,
    AfterFinalize,
    AfterStatus,
    /// `publish_started` is saved; X has not been asked to create the post yet.
    BeforePublish,
    AfterPublish,
}

/// Lets tests stop an invocation dead at a step point, as a crash would. Production uses
/// `NoCrashes`.
pub trait CrashSwitch: Send + Sync {
    fn crash_at(&self, point: StepPoint) -> bool;
}

pub struct NoCrashes;

impl CrashSwitch for NoCrashes {
    fn crash_at(&self, _: StepPoint) -> bool {
        false
    }
}
