//! Posts, as the API offers them (issue 5): create a draft with its upload form, read one, list
//! them, retry the failed targets.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /api/posts` | checks the text (X's weighted length), the caller's X connection and per-user limits (429 with `Retry-After`), creates a draft post and answers with a presigned S3 POST form for its video |
//! | `GET /api/posts` | the caller's posts, newest first, `?limit=` (1–100, default 20) and `?cursor=` |
//! | `GET /api/posts/{id}` | one post with each target's phase, progress, result or error and recent attempts |
//! | `POST /api/posts/{id}/retry` | re-queues the failed targets only (409 when none failed) |
//! | `PATCH /api/posts/{id}` | changes the text or the scheduled time until publishing starts |
//! | `DELETE /api/posts/{id}` | cancels the post until publishing starts |
//!
//! A scheduled post (issue 15) changes only the post: its jobs read the text, `scheduled_at` and
//! whether it was cancelled at every invocation until they start publishing. A job waiting in a
//! one-time schedule would read them only at the old time, so the routes that change them send
//! the job's current message early (the "nudge"); the engine drops a message that is not current,
//! so a nudge that crosses the job's own hand-off does nothing.
//!
//! `PostsService` speaks ports (`store`, `accounts`, `uploads`, `queue`, `clock`); the function
//! builds it from its adapters. `problem` maps every `PostsError` to problem JSON in one place.
//! Posts are keyed by the caller's user id, so another user's post is simply not found (404).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::accounts::store::{AccountStore, StoreError as AccountStoreError};
use crate::accounts::{missing_scopes, missing_scopes_reason, AccountStatus};
use crate::api::views::{
    shown_status, PostCreated, PostDetail, PostList, PostView, Retried, TargetView, UploadFormView,
};
use crate::clock::{rfc3339, Clock};
use crate::engine::overall_status;
use crate::ids::{PostId, UploadKey, UserId};
use crate::jobs::{Phase, UploadJob};
use crate::platforms::youtube::{Privacy, VideoMetadata, YouTubeOptions};
use crate::ports::{QueueError, WorkQueue};
use crate::posts::{
    self, minted_post_id, new_post_id, FitRequest, Platform, PlatformOptions, Post, PostStatus,
};
use crate::problem::Problem;
use crate::quota::{self, QuotaExceeded, QuotaLimits, Reservation, ReserveError};
use crate::s3::{
    PostPolicy, PresignError, S3Blobs, UploadForm, MAX_UPLOAD_BYTES, UPLOAD_CONTENT_TYPES,
};
use crate::schedule::{check_scheduled_at, ScheduleError};
use crate::store::{is_valid_cursor, JobStore, PostStore, QuotaLedgers, RecentPosts, StoreError};

/// How long the upload form stays valid: long enough to start a large upload on a slow link
/// (S3 checks the policy's expiration when the POST arrives, not when its last byte does), short
/// enough that a leaked form dies soon. A leaked form is worth little anyway: one key, one
/// content type, at most 512 MiB. moto enforces neither signature nor expiry (README "The local
/// runner"); AWS does.
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// The upload's file name when the request names none.
pub const DEFAULT_FILE_NAME: &str = "clip.mp4";
/// The content types X's upload INIT accepts that Reelay uploads (research/x-api.md §6); the
/// upload form pins the one chosen.
pub const CONTENT_TYPES: &[&str] = UPLOAD_CONTENT_TYPES;
pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;
/// Retries a user may ask for per target: each may re-upload up to 512 MB and spend X calls.
pub const MAX_RETRIES: u32 = 5;
/// A retry keeps X's processed media only if X keeps it this much longer: enough to post it.
const MEDIA_KEEP_MARGIN_MS: i64 = 10 * 60 * 1000;
/// Why a post cannot be cancelled once a target may have created it on X.
pub const TOO_LATE_TO_CANCEL: &str = "is already published on X, or being published, so it cannot be cancelled here; delete the post on X instead.";
/// Why a post's text and time cannot change once a target may have created it on X.
pub const TOO_LATE_TO_CHANGE: &str =
    "is already published on X, or being published, so its text and time can no longer be changed.";

/// Everything that can go wrong in a posts route.
#[derive(Debug, Error)]
pub enum PostsError {
    #[error("post {0} not found")]
    PostNotFound(String),
    #[error("the request body is not a JSON object")]
    BadJson(#[source] Option<serde_json::Error>),
    /// A request field breaks a rule; `detail` says how, with the numbers.
    #[error("{field}: {detail}")]
    Invalid {
        field: &'static str,
        rule: &'static str,
        detail: String,
    },
    #[error("{platform} is not connected")]
    NotConnected { platform: Platform },
    #[error("{platform} must be reconnected: {reason}")]
    NeedsReconnect {
        platform: &'static str,
        reason: String,
    },
    #[error("no target of post {0} has failed")]
    NothingToRetry(String),
    /// Every failed target failed for a reason a retry cannot fix.
    #[error("post {id} cannot be retried: {reason}")]
    NotRetryable { id: String, reason: String },
    #[error("post {0} was retried {MAX_RETRIES} times already")]
    RetryLimit(String),
    #[error("the post changed while the request was handled")]
    Changed,
    /// `scheduled_at` is too soon or too far ahead.
    #[error("{0}")]
    ScheduleRange(ScheduleError),
    /// The post is published, or being published: it can no longer be changed or cancelled.
    #[error("post {id} is too late to change: {reason}")]
    TooLate { id: String, reason: &'static str },
    /// The post was cancelled: nothing about it can change any more.
    #[error("post {0} was cancelled")]
    Cancelled(String),
    /// A per-user limit (posts per day, uploads in flight) is reached.
    #[error("{0}")]
    Quota(QuotaExceeded),
    /// The user's other requests kept taking the quota ledger first (`quota::reserve`).
    #[error("too many requests of this user at once")]
    QuotaContended,
    #[error("the post store failed")]
    Store(#[from] StoreError),
    #[error("the account store failed")]
    Accounts(#[from] AccountStoreError),
    #[error("presigning the upload form failed")]
    Presign(#[source] PresignError),
    #[error("queueing the retry failed")]
    Queue(#[source] QueueError),
}

impl PostsError {
    /// RFC 9110 `Retry-After` (whole seconds) for the answers that have one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            PostsError::Quota(exceeded) => Some(exceeded.retry_after_secs()),
            PostsError::QuotaContended => Some(1),
            _ => None,
        }
    }

    /// One of each variant, for the tests that tie the problem catalogue to the code; the
    /// `match` fails to compile when a variant is added, so it gets an example here.
    #[cfg(test)]
    pub(crate) fn examples() -> Vec<PostsError> {
        let all = vec![
            PostsError::PostNotFound("p".into()),
            PostsError::BadJson(None),
            invalid("text", "text_empty", "x"),
            PostsError::NotConnected {
                platform: Platform::Twitter,
            },
            PostsError::NeedsReconnect {
                platform: "X",
                reason: "r".into(),
            },
            PostsError::NothingToRetry("p".into()),
            PostsError::NotRetryable {
                id: "p".into(),
                reason: "r".into(),
            },
            PostsError::RetryLimit("p".into()),
            PostsError::Changed,
            PostsError::ScheduleRange(ScheduleError::TooFar),
            PostsError::TooLate {
                id: "p".into(),
                reason: TOO_LATE_TO_CANCEL,
            },
            PostsError::Cancelled("p".into()),
            PostsError::Quota(QuotaExceeded::PostsPerDay {
                limit: 1,
                retry_after_secs: 1,
            }),
            PostsError::QuotaContended,
            PostsError::Store(StoreError::Conflict),
            PostsError::Accounts(AccountStoreError::Corrupt {
                what: "account",
                problem: "p".into(),
            }),
            PostsError::Presign(PresignError::NoCredentials),
            PostsError::Queue(QueueError { detail: "q".into() }),
        ];
        for err in &all {
            match err {
                PostsError::PostNotFound(_)
                | PostsError::BadJson(_)
                | PostsError::Invalid { .. }
                | PostsError::NotConnected { .. }
                | PostsError::NeedsReconnect { .. }
                | PostsError::NothingToRetry(_)
                | PostsError::NotRetryable { .. }
                | PostsError::RetryLimit(_)
                | PostsError::Changed
                | PostsError::ScheduleRange(_)
                | PostsError::TooLate { .. }
                | PostsError::Cancelled(_)
                | PostsError::Quota(_)
                | PostsError::QuotaContended
                | PostsError::Store(_)
                | PostsError::Accounts(_)
                | PostsError::Presign(_)
                | PostsError::Queue(_) => {}
            }
        }
        all
    }
}

/// The one mapping from `PostsError` to problem JSON. 4xx bodies say what to fix; 5xx bodies are
/// opaque and the cause goes to the log.
pub fn problem(err: PostsError) -> Problem {
    match err {
        PostsError::PostNotFound(id) => {
            Problem::not_found(format!("You have no post {id}.")).with_field("post_id")
        }
        PostsError::BadJson(cause) => Problem::new(
            400,
            "invalid_json",
            "Bad Request",
            match cause {
                Some(e) => format!("The body must be a JSON object: {e}."),
                None => "The body must be a JSON object.".to_owned(),
            },
        ),
        PostsError::Invalid { field, rule, detail } => {
            Problem::new(400, rule, "Bad Request", detail).with_field(field)
        }
        PostsError::NotConnected { platform } => Problem::new(
            409,
            "platform_not_connected",
            "Conflict",
            format!(
                "Connect your {} account before posting to it (GET /api/auth/platforms/{platform}/connect).",
                platform.display_name()
            ),
        )
        .with_field("platforms"),
        PostsError::NeedsReconnect { platform, reason } => Problem::new(
            409,
            "platform_needs_reconnect",
            "Conflict",
            format!("Reconnect your {platform} account before posting to it: {reason}"),
        )
        .with_field("platforms"),
        PostsError::NothingToRetry(id) => Problem::new(
            409,
            "nothing_to_retry",
            "Conflict",
            format!("No target of post {id} has failed, so there is nothing to retry."),
        ),
        PostsError::NotRetryable { id, reason } => Problem::new(
            409,
            "not_retryable",
            "Conflict",
            format!("Post {id} cannot be retried: {reason} Create a new post instead."),
        ),
        PostsError::RetryLimit(id) => Problem::new(
            409,
            "retry_limit_reached",
            "Conflict",
            format!("Post {id} was retried {MAX_RETRIES} times already; create a new post instead."),
        ),
        PostsError::Changed => Problem::new(
            409,
            "post_changed",
            "Conflict",
            "The post changed while this request was handled; read it again and repeat the request if it still applies.",
        ),
        PostsError::ScheduleRange(why) => Problem::new(
            422,
            "scheduled_at_range",
            "Unprocessable Content",
            format!("{why}."),
        )
        .with_field("scheduled_at"),
        PostsError::TooLate { id, reason } => Problem::new(
            409,
            "too_late",
            "Conflict",
            format!("Post {id} {reason}"),
        ),
        PostsError::Cancelled(id) => Problem::new(
            409,
            "cancelled",
            "Conflict",
            format!("Post {id} was cancelled; create a new post instead."),
        ),
        PostsError::Quota(exceeded) => {
            Problem::new(429, exceeded.code(), "Too Many Requests", exceeded.to_string())
        }
        PostsError::QuotaContended => Problem::new(
            429,
            "too_many_concurrent_requests",
            "Too Many Requests",
            "Several of your requests to create or retry posts arrived at once; try this one again in a second.",
        ),
        err @ (PostsError::Store(_) | PostsError::Accounts(_) | PostsError::Presign(_) | PostsError::Queue(_)) => {
            tracing::error!(error = %err, cause = ?std::error::Error::source(&err), "posts route failed");
            Problem::internal()
        }
    }
}

// ---------------------------------------------------------------- parsing requests

/// `POST /api/posts` parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPost {
    pub text: String,
    pub platforms: Vec<Platform>,
    pub file_name: String,
    pub content_type: &'static str,
    /// `fit`, `trim_to_secs` and `pad`.
    pub fit: FitRequest,
    /// `scheduled_at` as epoch ms, parsed but not yet checked against the clock (`create` does).
    pub scheduled_at_ms: Option<i64>,
    /// Per-platform choices (`youtube`: title, privacy, made for kids, category).
    pub options: PlatformOptions,
}

fn invalid(field: &'static str, rule: &'static str, detail: impl Into<String>) -> PostsError {
    PostsError::Invalid {
        field,
        rule,
        detail: detail.into(),
    }
}

/// X's text rules (`crate::posts::check_text`) as a problem naming the field and rule.
pub fn check_text(text: &str) -> Result<(), PostsError> {
    posts::check_text(text).map_err(|p| invalid("text", p.rule(), p.to_string()))
}

fn check_file_name(name: &str) -> Result<(), PostsError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b' '));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "file_name",
            "file_name_format",
            "file_name must be 1 to 100 characters of letters, digits, '.', '-', '_' or space, not starting with '.'",
        ))
    }
}

fn string_field(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, PostsError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, "type", format!("{field} must be a string"))),
    }
}

/// The fields of `POST /api/posts` (`views::CreatePostRequest`).
pub const NEW_POST_FIELDS: &[&str] = &[
    "text",
    "platforms",
    "file_name",
    "content_type",
    "fit",
    "trim_to_secs",
    "pad",
    "scheduled_at",
    "youtube",
];

/// The fields of `PATCH /api/posts/{id}` (`views::UpdatePostRequest`).
pub const POST_CHANGE_FIELDS: &[&str] = &["text", "scheduled_at"];

/// `scheduled_at`: an RFC 3339 date-time with any offset (`2026-12-01T09:30:00+01:00`), as epoch
/// ms. The SDK's date type parses it (with the `time` crate's RFC 3339 grammar) rather than
/// calendar arithmetic written here; whether the time may be scheduled is `check_scheduled_at`'s.
pub fn parse_scheduled_at(raw: &str) -> Result<i64, PostsError> {
    use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
    DateTime::from_str(raw.trim(), DateTimeFormat::DateTimeWithOffset)
        .ok()
        .and_then(|t| t.to_millis().ok())
        .ok_or_else(|| {
            invalid(
                "scheduled_at",
                "scheduled_at_format",
                format!(
                    "scheduled_at must be an RFC 3339 date and time with its offset, e.g. \
                     2026-12-01T09:30:00Z or 2026-12-01T10:30:00+01:00; got {raw:?}"
                ),
            )
        })
}

/// `scheduled_at` of a request body: absent, `null`, or a time.
fn scheduled_at_field(body: &Map<String, Value>) -> Result<Option<Option<i64>>, PostsError> {
    match body.get("scheduled_at") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(raw)) => parse_scheduled_at(raw).map(|ms| Some(Some(ms))),
        Some(_) => Err(invalid(
            "scheduled_at",
            "type",
            "scheduled_at must be a string (RFC 3339) or null",
        )),
    }
}

/// A JSON object body, with only `known` fields.
fn object_body(body: &[u8], known: &[&str]) -> Result<Map<String, Value>, PostsError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| PostsError::BadJson(Some(e)))?;
    let Value::Object(body) = value else {
        return Err(PostsError::BadJson(None));
    };
    if let Some(unknown) = body.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(PostsError::Invalid {
            field: "body",
            rule: "unknown_field",
            detail: format!(
                "unknown field {unknown:?}; the fields are {}",
                known.join(", ")
            ),
        });
    }
    Ok(body)
}

/// `PATCH /api/posts/{id}` parsed: what to change. `scheduled_at: Some(None)` publishes as soon
/// as the video is ready.
#[derive(Debug, Clone, PartialEq)]
pub struct PostChanges {
    pub text: Option<String>,
    pub scheduled_at_ms: Option<Option<i64>>,
}

/// Parses and checks the body of `PATCH /api/posts/{id}` (everything but the clock).
pub fn parse_post_changes(body: &[u8]) -> Result<PostChanges, PostsError> {
    let body = object_body(body, POST_CHANGE_FIELDS)?;
    let text = match body.get("text") {
        None => None,
        Some(Value::String(text)) => {
            check_text(text)?;
            Some(text.clone())
        }
        Some(_) => return Err(invalid("text", "type", "text must be a string")),
    };
    let scheduled_at_ms = scheduled_at_field(&body)?;
    if text.is_none() && scheduled_at_ms.is_none() {
        return Err(invalid(
            "body",
            "required",
            "give text, scheduled_at (null to publish as soon as the video is ready), or both",
        ));
    }
    Ok(PostChanges {
        text,
        scheduled_at_ms,
    })
}

/// The content type a file name implies: the form must name one, and browsers and phones
/// rarely say which.
fn content_type_for(file_name: &str) -> &'static str {
    let lower = file_name.to_ascii_lowercase();
    if lower.ends_with(".mov") {
        "video/quicktime"
    } else if lower.ends_with(".webm") {
        "video/webm"
    } else if lower.ends_with(".mkv") {
        "video/x-matroska"
    } else {
        "video/mp4"
    }
}

/// The shortest cut `trim_to_secs` may ask for: X's minimum duration.
const MIN_TRIM_SECS: f64 = 0.5;

fn bool_field(body: &Map<String, Value>, field: &'static str) -> Result<Option<bool>, PostsError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(
            field,
            "type",
            format!("{field} must be true or false"),
        )),
    }
}

/// `fit`, `trim_to_secs` and `pad`: what to do with a video X would refuse as it is.
fn parse_fit_request(body: &Map<String, Value>) -> Result<FitRequest, PostsError> {
    let enabled = bool_field(body, "fit")?.unwrap_or(true);
    let pad = bool_field(body, "pad")?.unwrap_or(false);
    let trim_to_secs = match body.get("trim_to_secs") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(secs) if secs.is_finite() && secs >= MIN_TRIM_SECS => Some(secs),
            _ => {
                return Err(invalid(
                    "trim_to_secs",
                    "trim_range",
                    format!("trim_to_secs must be at least {MIN_TRIM_SECS} seconds, got {n}"),
                ))
            }
        },
        Some(_) => {
            return Err(invalid(
                "trim_to_secs",
                "type",
                "trim_to_secs must be a number of seconds",
            ))
        }
    };
    if !enabled && (trim_to_secs.is_some() || pad) {
        return Err(invalid(
            "fit",
            "fit_disabled",
            "trim_to_secs and pad change the video, which fit: false forbids; drop one or the other",
        ));
    }
    Ok(FitRequest {
        enabled,
        trim_to_secs,
        pad,
    })
}

/// Parses and checks the body of `POST /api/posts` (everything but the connections). Field by
/// field rather than through serde, so each problem names its field and rule.
pub fn parse_new_post(body: &[u8]) -> Result<NewPost, PostsError> {
    let body = object_body(body, NEW_POST_FIELDS)?;

    let text = string_field(&body, "text")?
        .ok_or_else(|| invalid("text", "required", "text is required"))?;

    let raw_platforms = match body.get("platforms") {
        None | Some(Value::Null) => {
            return Err(invalid(
                "platforms",
                "required",
                "platforms is required, e.g. [\"twitter\"]",
            ))
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(invalid(
                "platforms",
                "type",
                "platforms must be an array of platform names",
            ))
        }
    };
    if raw_platforms.is_empty() {
        return Err(invalid(
            "platforms",
            "platforms_empty",
            "platforms must name at least one platform, e.g. [\"twitter\"]",
        ));
    }
    let mut platforms = Vec::new();
    for item in raw_platforms {
        let name = item.as_str().unwrap_or_default();
        let platform = Platform::parse(name).ok_or_else(|| {
            invalid(
                "platforms",
                "platform_unknown",
                format!(
                    "unknown platform {item}; Reelay posts to \"twitter\" (also written \"x\") and \"youtube\""
                ),
            )
        })?;
        if !platforms.contains(&platform) {
            platforms.push(platform);
        }
    }
    // The text is X's post and YouTube's description: each platform's rules apply to it.
    if platforms.contains(&Platform::Twitter) {
        check_text(&text)?;
    } else if text.trim().is_empty() {
        return Err(invalid(
            "text",
            "text_empty",
            "text must not be empty or only whitespace",
        ));
    }
    let options = parse_platform_options(&body, &text, &platforms)?;

    let file_name =
        string_field(&body, "file_name")?.unwrap_or_else(|| DEFAULT_FILE_NAME.to_owned());
    check_file_name(&file_name)?;
    let content_type = match string_field(&body, "content_type")? {
        Some(given) => CONTENT_TYPES
            .iter()
            .copied()
            .find(|c| *c == given)
            .ok_or_else(|| {
                invalid(
                    "content_type",
                    "content_type_unsupported",
                    format!(
                        "content_type {given:?} is not accepted; use one of {}",
                        CONTENT_TYPES.join(", ")
                    ),
                )
            })?,
        None => content_type_for(&file_name),
    };
    let fit = parse_fit_request(&body)?;
    let scheduled_at_ms = scheduled_at_field(&body)?.flatten();
    Ok(NewPost {
        text,
        platforms,
        file_name,
        content_type,
        fit,
        scheduled_at_ms,
        options,
    })
}

/// `youtube`: the YouTube target's title, privacy, made-for-kids and category, checked by
/// YouTube's metadata rules against the text (its description). A title defaults to the text's
/// first line, so a post without `youtube` is checked too.
fn parse_platform_options(
    body: &Map<String, Value>,
    text: &str,
    platforms: &[Platform],
) -> Result<PlatformOptions, PostsError> {
    /// The accepted fields, strictly: a misspelt one is an error, not a silent default.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct YouTubeFields {
        title: Option<String>,
        privacy: Option<Privacy>,
        made_for_kids: Option<bool>,
        category_id: Option<String>,
    }
    let youtube = match body.get("youtube") {
        None | Some(Value::Null) => None,
        Some(value) => {
            if !platforms.contains(&Platform::YouTube) {
                return Err(invalid(
                    "youtube",
                    "youtube_options",
                    "youtube options were given but \"youtube\" is not in platforms",
                ));
            }
            let fields: YouTubeFields = serde_json::from_value(value.clone()).map_err(|e| {
                invalid(
                    "youtube",
                    "youtube_options",
                    format!(
                        "youtube must be an object of title, privacy (private, unlisted or \
                         public), made_for_kids and category_id: {e}"
                    ),
                )
            })?;
            Some(YouTubeOptions {
                title: fields.title,
                privacy: fields.privacy.unwrap_or_default(),
                made_for_kids: fields.made_for_kids.unwrap_or(false),
                category_id: fields.category_id,
            })
        }
    };
    if platforms.contains(&Platform::YouTube) {
        let options = youtube.clone().unwrap_or_default();
        VideoMetadata::for_post(text, &options)
            .map_err(|e| invalid("youtube", "youtube_options", format!("for YouTube: {e}")))?;
        return Ok(PlatformOptions {
            youtube: Some(options),
        });
    }
    Ok(PlatformOptions { youtube })
}

/// A page request of `GET /api/posts`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

/// Parses `?limit=` (1–100, default 20) and `?cursor=` (only ones this API returned).
pub fn parse_page(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, PostsError> {
    let limit = match limit {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                invalid(
                    "limit",
                    "limit_range",
                    format!("limit must be a whole number from 1 to {MAX_PAGE}, got {raw:?}"),
                )
            })?,
    };
    if let Some(cursor) = cursor {
        if !is_valid_cursor(cursor) {
            return Err(invalid(
                "cursor",
                "cursor_invalid",
                "cursor is not one this API returned; pass next_cursor from the previous page unchanged",
            ));
        }
    }
    Ok(PageRequest {
        limit,
        cursor: cursor.map(str::to_owned),
    })
}

// ---------------------------------------------------------------- ports

/// The post table as the posts routes use it: posts, jobs and the quota ledgers.
pub trait PostsData: PostStore + JobStore + QuotaLedgers + RecentPosts {}
impl<T: PostStore + JobStore + QuotaLedgers + RecentPosts + ?Sized> PostsData for T {}

/// Signs the S3 POST form a browser uploads a post's video with.
#[async_trait]
pub trait UploadForms: Send + Sync {
    async fn presign_post(
        &self,
        policy: &PostPolicy<'_>,
        now: SystemTime,
    ) -> Result<UploadForm, PresignError>;
}

#[async_trait]
impl UploadForms for S3Blobs {
    async fn presign_post(
        &self,
        policy: &PostPolicy<'_>,
        now: SystemTime,
    ) -> Result<UploadForm, PresignError> {
        S3Blobs::presign_post(self, policy, now).await
    }
}

/// The posts routes over their ports.
pub struct PostsService<'a> {
    pub store: &'a dyn PostsData,
    pub accounts: &'a dyn AccountStore,
    pub uploads: &'a dyn UploadForms,
    pub queue: &'a dyn WorkQueue,
    /// fit-video's queue, for a retried job whose conversion never finished.
    pub fit_queue: &'a dyn WorkQueue,
    pub clock: &'a dyn Clock,
    pub limits: &'a QuotaLimits,
    /// Where videos are uploaded.
    pub bucket: &'a str,
}

impl PostsService<'_> {
    /// Each target must be connected and able to post: an account flagged for reconnection (or
    /// one missing a scope Reelay needs) would only fail later, after the upload.
    async fn check_connections(
        &self,
        user: &UserId,
        platforms: &[Platform],
    ) -> Result<(), PostsError> {
        for platform in platforms {
            let name = platform.display_name();
            let account = self.accounts.get_account(user, *platform).await?.ok_or(
                PostsError::NotConnected {
                    platform: *platform,
                },
            )?;
            if let AccountStatus::NeedsReconnect { reason } = &account.status {
                return Err(PostsError::NeedsReconnect {
                    platform: name,
                    reason: reason.clone(),
                });
            }
            let missing = missing_scopes(*platform, &account.scopes);
            if !missing.is_empty() {
                return Err(PostsError::NeedsReconnect {
                    platform: name,
                    reason: missing_scopes_reason(*platform, &missing),
                });
            }
        }
        Ok(())
    }

    /// Reserves one of the caller's per-user limits for `post` (`quota::reserve`): judged on
    /// their quota ledger, written on condition nobody wrote it since, so requests of one user
    /// that arrive together are judged one after another and never pass a limit together.
    async fn reserve_quota(
        &self,
        user: &UserId,
        post: &PostId,
        kind: Reservation,
        now: i64,
    ) -> Result<(), PostsError> {
        quota::reserve(self.store, self.limits, user, post, kind, now)
            .await
            .map_err(|err| match err {
                ReserveError::Exceeded(exceeded) => PostsError::Quota(exceeded),
                ReserveError::Contended => PostsError::QuotaContended,
                ReserveError::Store(err) => PostsError::Store(err),
            })
    }

    /// `POST /api/posts`: a draft post and the form to upload its video with.
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    pub async fn create(&self, user: &UserId, new: NewPost) -> Result<PostCreated, PostsError> {
        let now = self.clock.now_ms();
        if let Some(at) = new.scheduled_at_ms {
            check_scheduled_at(at, now).map_err(PostsError::ScheduleRange)?;
        }
        self.check_connections(user, &new.platforms).await?;

        let post_id = new_post_id(now);
        // A scheduled draft is stored awaiting its upload like any other (create-post starts
        // only such drafts); the views show it `scheduled` (`views::shown_status`).
        let post = Post {
            fit: new.fit,
            options: new.options,
            scheduled_at_ms: new.scheduled_at_ms,
            ..Post::draft(user.clone(), post_id.clone(), new.text, new.platforms, now)
        };
        let key = UploadKey {
            user_id: user.clone(),
            post_id: post.post_id.clone(),
            file: new.file_name,
        }
        .to_key();
        // S3 enforces the form's policy before storing a byte: this exact key, this content
        // type, 1 byte to 512 MiB, until the expiry (issue 12).
        let policy = PostPolicy {
            bucket: self.bucket,
            key: &key,
            content_type: new.content_type,
            max_bytes: MAX_UPLOAD_BYTES,
            expires_in: UPLOAD_URL_TTL,
        };
        // Presign first: if it fails, no draft is left behind.
        let signed_at = UNIX_EPOCH + Duration::from_millis(u64::try_from(now).unwrap_or(0));
        let form = self
            .uploads
            .presign_post(&policy, signed_at)
            .await
            .map_err(PostsError::Presign)?;
        // Last before the write: a reservation whose post is never written holds its slot only
        // for `quota::RESERVATION_GRACE_MS`.
        self.reserve_quota(user, &post_id, Reservation::NewPost, now)
            .await?;
        self.store.create_post(&post).await?;
        let expires_at_secs = now / 1000 + UPLOAD_URL_TTL.as_secs() as i64;
        // The form is a bearer credential for the key: never logged.
        tracing::info!(post_id = %post.post_id, platforms = post.platforms.len(), "draft post created");
        Ok(PostCreated {
            post_id: post.post_id.as_str().to_owned(),
            status: post.status,
            upload: UploadFormView {
                method: "POST",
                url: form.url,
                fields: form.fields,
                key,
                content_type: new.content_type,
                max_bytes: MAX_UPLOAD_BYTES,
                expires_at: rfc3339(expires_at_secs),
                expires_in_secs: UPLOAD_URL_TTL.as_secs(),
            },
        })
    }

    /// `GET /api/posts/{id}`: the post with each target's progress.
    #[tracing::instrument(skip_all, fields(user_id = %user, post_id = %raw_id))]
    pub async fn get(&self, user: &UserId, raw_id: &str) -> Result<PostDetail, PostsError> {
        let (post, jobs) = self.find(user, raw_id).await?;
        Ok(self.detail(&post, jobs))
    }

    /// One of the caller's posts with its jobs; 404 for an id this API never minted, another
    /// user's post, or none.
    async fn find(
        &self,
        user: &UserId,
        raw_id: &str,
    ) -> Result<(Post, Vec<UploadJob>), PostsError> {
        let not_found = || PostsError::PostNotFound(raw_id.to_owned());
        let id = minted_post_id(raw_id).ok_or_else(not_found)?;
        self.store
            .post_with_jobs(user, &id)
            .await?
            .ok_or_else(not_found)
    }

    /// The body of `GET /api/posts/{id}`.
    fn detail(&self, post: &Post, mut jobs: Vec<UploadJob>) -> PostDetail {
        jobs.sort_by_key(|j| j.platform.as_str());
        // Once jobs exist their phases are the truth; the post's own status may lag by one write.
        let status = if jobs.is_empty() {
            post.status
        } else {
            overall_status(&jobs)
        };
        let status = shown_status(post, status, &jobs, self.clock.now_ms());
        let mut view = PostView::new(post, status);
        // fit-video records a rejection (or the converted video's facts) on the job first and
        // on the post right after: until then, the job's are the post's.
        if view.video.is_none() {
            let fitted = jobs.iter().find_map(|j| j.fit.as_ref()?.fitted.as_ref());
            if let Some(fitted) = fitted {
                view.video = Some(fitted.into());
            }
        }
        if status == PostStatus::Rejected && view.rejection.is_none() {
            view.rejection = jobs
                .iter()
                .find(|j| crate::fitter::refused_as_unusable(j))
                .and_then(|j| j.error.as_ref())
                .map(|e| e.message.clone());
        }
        PostDetail {
            post: view,
            targets: jobs.iter().map(TargetView::from).collect(),
        }
    }

    /// A listed post's status. The engine brings the post's own status along after a job ends,
    /// but an invocation stopped between the two writes leaves it at `processing` with nothing
    /// left to correct it; so for a post still marked processing the jobs, which are the truth,
    /// decide.
    /// A scheduled or cancelled post is shown as such by the same rule as `get`
    /// (`views::shown_status`), from the jobs too when it has any.
    async fn listed_status(&self, post: &Post) -> Result<PostStatus, PostsError> {
        let now = self.clock.now_ms();
        let look_at_jobs = matches!(
            post.status,
            PostStatus::Processing | PostStatus::Scheduled | PostStatus::Cancelled
        );
        if !look_at_jobs {
            return Ok(shown_status(post, post.status, &[], now));
        }
        let jobs = match self
            .store
            .post_with_jobs(&post.user_id, &post.post_id)
            .await?
        {
            Some((_, jobs)) => jobs,
            None => Vec::new(),
        };
        let status = if jobs.is_empty() {
            post.status
        } else {
            overall_status(&jobs)
        };
        Ok(shown_status(post, status, &jobs, now))
    }

    /// `GET /api/posts`: a page of the caller's posts, newest first.
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    pub async fn list(&self, user: &UserId, page: &PageRequest) -> Result<PostList, PostsError> {
        let found = self
            .store
            .list_posts(user, page.limit, page.cursor.as_deref())
            .await?;
        let mut posts = Vec::with_capacity(found.posts.len());
        for post in &found.posts {
            posts.push(PostView::new(post, self.listed_status(post).await?));
        }
        Ok(PostList {
            posts,
            next_cursor: found.next_cursor,
        })
    }

    /// `POST /api/posts/{id}/retry`: re-queues the failed targets a retry can help.
    #[tracing::instrument(skip_all, fields(user_id = %user, post_id = %raw_id))]
    pub async fn retry(&self, user: &UserId, raw_id: &str) -> Result<Retried, PostsError> {
        let not_found = || PostsError::PostNotFound(raw_id.to_owned());
        let id = minted_post_id(raw_id).ok_or_else(not_found)?;
        let (post, jobs) = self
            .store
            .post_with_jobs(user, &id)
            .await?
            .ok_or_else(not_found)?;
        if post.cancelled_at_ms.is_some() {
            return Err(PostsError::Cancelled(raw_id.to_owned()));
        }
        let ended: Vec<UploadJob> = jobs
            .into_iter()
            .filter(|j| matches!(j.phase, Phase::Failed | Phase::Unconfirmed))
            .collect();
        if ended.is_empty() {
            return Err(PostsError::NothingToRetry(raw_id.to_owned()));
        }
        // Only what a retry can fix is retried, and only so often.
        let (failed, refused): (Vec<UploadJob>, Vec<UploadJob>) = ended
            .into_iter()
            .partition(|j| j.error.as_ref().is_none_or(|e| e.retryable));
        if failed.is_empty() {
            let reason = refused
                .iter()
                .filter_map(|j| j.error.as_ref())
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            return Err(PostsError::NotRetryable {
                id: raw_id.to_owned(),
                reason,
            });
        }
        if failed.iter().any(|j| j.retries >= MAX_RETRIES) {
            return Err(PostsError::RetryLimit(raw_id.to_owned()));
        }
        // A retried post is in flight again: it takes a slot like a new one (not a day's post).
        let now = self.clock.now_ms();
        self.reserve_quota(user, &id, Reservation::Retry, now)
            .await?;
        let mut retried = Vec::new();
        for original in failed {
            let now = self.clock.now_ms();
            let mut job = original.clone();
            job.reset_for_retry(now, MEDIA_KEEP_MARGIN_MS);
            job.version += 1;
            match self.store.save_job(&job).await {
                Err(StoreError::Conflict) => return Err(PostsError::Changed),
                other => other?,
            }
            let queue = if job.needs_fitting() {
                self.fit_queue
            } else {
                self.queue
            };
            if let Err(err) = queue.send(&job.message(), 0).await {
                // Without its message the job would sit in Queued for ever and could not be
                // retried (it is no longer failed): put the failure back so the user can try
                // again.
                let mut back = original;
                back.version = job.version + 1;
                back.updated_at_ms = self.clock.now_ms();
                if let Err(revert) = self.store.save_job(&back).await {
                    tracing::error!(error = %revert, platform = back.platform.as_str(), "could not restore a job whose retry message was not sent");
                }
                return Err(PostsError::Queue(err));
            }
            tracing::info!(platform = job.platform.as_str(), phase = ?job.phase, "target re-queued");
            retried.push(job.platform);
        }
        self.mark_processing(post).await;
        Ok(Retried {
            post_id: id.as_str().to_owned(),
            status: PostStatus::Processing,
            retried,
        })
    }

    /// `PATCH /api/posts/{id}`: a new text, a new time, or both, until publishing starts. The
    /// jobs read both from the post; those waiting in a one-time schedule are woken to re-read
    /// the time.
    #[tracing::instrument(skip_all, fields(user_id = %user, post_id = %raw_id))]
    pub async fn update(
        &self,
        user: &UserId,
        raw_id: &str,
        changes: PostChanges,
    ) -> Result<PostDetail, PostsError> {
        let (mut post, jobs) = self.find(user, raw_id).await?;
        if post.cancelled_at_ms.is_some() {
            return Err(PostsError::Cancelled(raw_id.to_owned()));
        }
        if jobs.iter().any(|j| {
            j.publish_started
                || matches!(
                    j.phase,
                    Phase::Publishing | Phase::Published | Phase::Unconfirmed
                )
        }) {
            return Err(PostsError::TooLate {
                id: raw_id.to_owned(),
                reason: TOO_LATE_TO_CHANGE,
            });
        }
        let now = self.clock.now_ms();
        if let Some(Some(at)) = changes.scheduled_at_ms {
            check_scheduled_at(at, now).map_err(PostsError::ScheduleRange)?;
        }
        if let Some(text) = changes.text {
            post.text = text;
        }
        if let Some(at) = changes.scheduled_at_ms {
            post.scheduled_at_ms = at;
        }
        self.save_changed(&mut post, now).await?;
        tracing::info!(scheduled_at_ms = post.scheduled_at_ms, "post changed");
        // Read again after the save: a job that put itself to sleep meanwhile is woken too.
        let (post, jobs) = self.find(user, raw_id).await?;
        // A job that started publishing between the check and the save may have read the post
        // before it (the engine's `last_look_at_the_post`): the change may not reach X.
        if jobs.iter().any(|j| j.publish_started) {
            return Err(PostsError::TooLate {
                id: raw_id.to_owned(),
                reason: TOO_LATE_TO_CHANGE,
            });
        }
        self.nudge(
            jobs.iter()
                .filter(|j| j.wake_scheduled && !j.phase.is_final()),
        )
        .await?;
        Ok(self.detail(&post, jobs))
    }

    /// `DELETE /api/posts/{id}`: cancels the post unless a target may have created it on X.
    /// Its jobs end `cancelled` when they next run; they are woken now to do so. Idempotent: a
    /// cancelled post is answered as it is (and its jobs woken again, in case a first wake-up was
    /// lost).
    #[tracing::instrument(skip_all, fields(user_id = %user, post_id = %raw_id))]
    pub async fn cancel(&self, user: &UserId, raw_id: &str) -> Result<PostDetail, PostsError> {
        let (mut post, jobs) = self.find(user, raw_id).await?;
        if jobs
            .iter()
            .any(|j| j.publish_started || j.phase == Phase::Published)
        {
            return Err(PostsError::TooLate {
                id: raw_id.to_owned(),
                reason: TOO_LATE_TO_CANCEL,
            });
        }
        if post.cancelled_at_ms.is_none() {
            let now = self.clock.now_ms();
            post.cancelled_at_ms = Some(now);
            post.status = PostStatus::Cancelled;
            self.save_changed(&mut post, now).await?;
            tracing::info!("post cancelled");
        }
        let (post, jobs) = self.find(user, raw_id).await?;
        // As in `update`: a job that started publishing meanwhile may not have seen the cancel.
        if jobs.iter().any(|j| j.publish_started) {
            return Err(PostsError::TooLate {
                id: raw_id.to_owned(),
                reason: TOO_LATE_TO_CANCEL,
            });
        }
        // A job being fitted reads the post when its conversion ends; its message is on
        // fit-video's queue, not this one.
        self.nudge(
            jobs.iter()
                .filter(|j| !j.phase.is_final() && j.phase != Phase::Fitting),
        )
        .await?;
        Ok(self.detail(&post, jobs))
    }

    /// Saves a post the caller changed, on condition nobody else wrote it since it was read.
    async fn save_changed(&self, post: &mut Post, now: i64) -> Result<(), PostsError> {
        post.version += 1;
        post.updated_at_ms = now;
        match self.store.save_post(post).await {
            Err(StoreError::Conflict) => Err(PostsError::Changed),
            other => Ok(other?),
        }
    }

    /// Sends each job its current message now, so it reads the changed post at once rather than
    /// when its schedule fires. A message that is no longer current is dropped by the engine.
    async fn nudge<'j>(&self, jobs: impl Iterator<Item = &'j UploadJob>) -> Result<(), PostsError> {
        for job in jobs {
            self.queue
                .send(&job.message(), 0)
                .await
                .map_err(PostsError::Queue)?;
            tracing::info!(platform = job.platform.as_str(), phase = ?job.phase, "job woken to read the changed post");
        }
        Ok(())
    }

    /// The post's own status, for the list view. Best effort: the jobs are the truth and the
    /// engine sets the final status when they end.
    async fn mark_processing(&self, mut post: Post) {
        for _ in 0..3 {
            if post.status == PostStatus::Processing {
                return;
            }
            post.status = PostStatus::Processing;
            post.version += 1;
            post.updated_at_ms = self.clock.now_ms();
            match self.store.save_post(&post).await {
                Ok(()) => return,
                Err(StoreError::Conflict) => {
                    match self.store.get_post(&post.user_id, &post.post_id).await {
                        Ok(Some(fresh)) => post = fresh,
                        _ => return,
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not mark the post processing");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(err: PostsError) -> (&'static str, &'static str, String) {
        match err {
            PostsError::Invalid {
                field,
                rule,
                detail,
            } => (field, rule, detail),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn text_rules_name_the_rule_and_the_count() {
        assert!(check_text("hello").is_ok());
        assert!(check_text(&"a".repeat(280)).is_ok());
        let (field, r, detail) = rule(check_text(&"a".repeat(281)).unwrap_err());
        assert_eq!((field, r), ("text", "text_too_long"));
        assert!(detail.contains("281 weighted characters"), "{detail}");
        // CJK counts 2: 141 of them are 282.
        let (_, r, detail) = rule(check_text(&"漢".repeat(141)).unwrap_err());
        assert_eq!(r, "text_too_long");
        assert!(detail.contains("282"), "{detail}");
        // A URL counts 23 however long it is.
        let url = format!("https://example.com/{}", "a".repeat(300));
        assert!(check_text(&url).is_ok());
        assert_eq!(rule(check_text("   ").unwrap_err()).1, "text_empty");
        assert_eq!(rule(check_text("").unwrap_err()).1, "text_empty");
        assert_eq!(
            rule(check_text("bad \u{FFFE} char").unwrap_err()).1,
            "text_invalid_characters"
        );
        assert_eq!(
            rule(check_text(&"a".repeat(posts::MAX_TEXT_BYTES + 1)).unwrap_err()).1,
            "text_too_long"
        );
    }

    #[test]
    fn body_is_parsed_with_defaults_and_every_field_checked() {
        let ok = parse_new_post(br#"{"text":"hi","platforms":["x","twitter"]}"#).unwrap();
        assert_eq!(ok.platforms, vec![Platform::Twitter]);
        assert_eq!(
            (ok.file_name.as_str(), ok.content_type),
            ("clip.mp4", "video/mp4")
        );
        let mov = parse_new_post(br#"{"text":"hi","platforms":["x"],"file_name":"My Clip.MOV"}"#)
            .unwrap();
        assert_eq!(mov.content_type, "video/quicktime");

        for (body, field, expected) in [
            (&br#"{"platforms":["x"]}"#[..], "text", "required"),
            (br#"{"text":1,"platforms":["x"]}"#, "text", "type"),
            (br#"{"text":"hi"}"#, "platforms", "required"),
            (
                br#"{"text":"hi","platforms":[]}"#,
                "platforms",
                "platforms_empty",
            ),
            (
                br#"{"text":"hi","platforms":["tiktok"]}"#,
                "platforms",
                "platform_unknown",
            ),
            (br#"{"text":"hi","platforms":"x"}"#, "platforms", "type"),
            (
                br#"{"text":"hi","platforms":["x"],"file_name":"../a"}"#,
                "file_name",
                "file_name_format",
            ),
            (
                br#"{"text":"hi","platforms":["x"],"file_name":"a/b.mp4"}"#,
                "file_name",
                "file_name_format",
            ),
            (
                br#"{"text":"hi","platforms":["x"],"content_type":"video/avi"}"#,
                "content_type",
                "content_type_unsupported",
            ),
            (
                br#"{"text":"hi","platforms":["x"],"platfroms":["x"]}"#,
                "body",
                "unknown_field",
            ),
        ] {
            let (f, r, _) = rule(parse_new_post(body).unwrap_err());
            assert_eq!(
                (f, r),
                (field, expected),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(matches!(
            parse_new_post(b"not json"),
            Err(PostsError::BadJson(Some(_)))
        ));
        assert!(matches!(
            parse_new_post(b"[1]"),
            Err(PostsError::BadJson(None))
        ));
    }

    /// The documented request body (`views::CreatePostRequest`) has exactly the fields the
    /// parser accepts, and a body it serializes to is accepted.
    #[test]
    fn the_documented_body_is_the_parsed_one() {
        let doc = crate::api::views::CreatePostRequest {
            text: "hi".into(),
            platforms: vec!["x".into(), "youtube".into()],
            file_name: Some("a.mov".into()),
            content_type: None,
            fit: Some(true),
            trim_to_secs: Some(30.0),
            pad: Some(false),
            scheduled_at: Some("2026-12-01T10:30:00+01:00".into()),
            youtube: Some(crate::api::views::YouTubeRequest {
                title: Some("Hi there".into()),
                privacy: Some("unlisted".into()),
                made_for_kids: Some(false),
                category_id: Some("22".into()),
            }),
        };
        let json = serde_json::to_value(&doc).unwrap();
        let fields = sorted_keys(&json);
        let mut known = NEW_POST_FIELDS.to_vec();
        known.sort_unstable();
        assert_eq!(fields, known);
        let parsed = parse_new_post(json.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.content_type, "video/quicktime");
        assert_eq!(parsed.fit.trim_to_secs, Some(30.0));
        assert_eq!(parsed.scheduled_at_ms, Some(1_796_117_400_000));
        assert_eq!(parsed.platforms, vec![Platform::Twitter, Platform::YouTube]);
        let youtube = parsed.options.youtube.expect("youtube options");
        assert_eq!(youtube.title.as_deref(), Some("Hi there"));
        assert_eq!(youtube.privacy, Privacy::Unlisted);
        assert_eq!(youtube.category_id.as_deref(), Some("22"));
    }

    #[test]
    fn youtube_options_are_checked_by_youtubes_rules() {
        let parse = |body: serde_json::Value| parse_new_post(body.to_string().as_bytes());
        let rule = |body: serde_json::Value| match parse(body) {
            Err(PostsError::Invalid { field, rule, .. }) => (field, rule),
            other => panic!("expected a problem, got {other:?}"),
        };
        // Options for a platform that is not a target.
        assert_eq!(
            rule(serde_json::json!({"text": "t", "platforms": ["x"], "youtube": {"title": "a"}})),
            ("youtube", "youtube_options")
        );
        // A misspelt field, an unknown privacy, a title over 100 characters, angle brackets.
        for youtube in [
            serde_json::json!({"titel": "a"}),
            serde_json::json!({"privacy": "friends"}),
            serde_json::json!({"title": "a".repeat(101)}),
            serde_json::json!({"title": "<b>"}),
        ] {
            assert_eq!(
                rule(
                    serde_json::json!({"text": "t", "platforms": ["youtube"], "youtube": youtube})
                ),
                ("youtube", "youtube_options")
            );
        }
        // YouTube alone: X's 280-character limit does not apply; the title defaults to the
        // first line and privacy to private.
        let long = format!("First line\n{}", "a".repeat(600));
        let parsed = parse(serde_json::json!({"text": long, "platforms": ["youtube"]})).unwrap();
        let youtube = parsed.options.youtube.expect("defaults stored");
        assert_eq!(youtube.privacy, Privacy::Private);
        assert_eq!(youtube.title, None);
        // With X too, X's limit applies.
        assert_eq!(
            rule(serde_json::json!({"text": "a".repeat(600), "platforms": ["x", "youtube"]})),
            ("text", "text_too_long")
        );
    }

    /// The field names of a documented body, sorted, to compare with the parser's list.
    fn sorted_keys(json: &serde_json::Value) -> Vec<&str> {
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Likewise for `PATCH /api/posts/{id}` (`views::UpdatePostRequest`), `null` included.
    #[test]
    fn the_documented_change_is_the_parsed_one() {
        let doc = crate::api::views::UpdatePostRequest {
            text: Some("hi".into()),
            scheduled_at: Some(Some("2026-12-01T09:30:00Z".into())),
        };
        let json = serde_json::to_value(&doc).unwrap();
        let fields = sorted_keys(&json);
        let mut known = POST_CHANGE_FIELDS.to_vec();
        known.sort_unstable();
        assert_eq!(fields, known);
        let parsed = parse_post_changes(json.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.scheduled_at_ms, Some(Some(1_796_117_400_000)));
        // `null` (publish when ready) survives the round trip; absent stays absent.
        let unset: crate::api::views::UpdatePostRequest =
            serde_json::from_str(r#"{"scheduled_at":null}"#).unwrap();
        assert_eq!(unset.scheduled_at, Some(None));
        assert_eq!(
            serde_json::to_string(&unset).unwrap(),
            r#"{"scheduled_at":null}"#
        );
        let absent: crate::api::views::UpdatePostRequest =
            serde_json::from_str(r#"{"text":"x"}"#).unwrap();
        assert_eq!(absent.scheduled_at, None);
    }

    /// RFC 3339 with any offset is the same instant; anything else names the field and rule.
    #[test]
    fn scheduled_at_is_rfc3339_with_its_offset() {
        let utc = 1_796_117_400_000; // 2026-12-01T09:30:00Z
        for same in [
            "2026-12-01T09:30:00Z",
            "2026-12-01T10:30:00+01:00",
            "2026-12-01T04:30:00-05:00",
            "2026-12-01t09:30:00z",
            " 2026-12-01T09:30:00Z ",
        ] {
            assert_eq!(parse_scheduled_at(same).unwrap(), utc, "{same}");
        }
        assert_eq!(
            parse_scheduled_at("2026-12-01T09:30:00.250Z").unwrap(),
            utc + 250
        );
        for bad in [
            "",
            "tomorrow",
            "2026-12-01",
            "2026-12-01T09:30",
            "2026-12-01T09:30:00",
            "2026-12-01 09:30:00Z",
            "2026-13-01T09:30:00Z",
            "2026-02-30T09:30:00Z",
            "1764581400",
        ] {
            let (field, r, detail) = rule(parse_scheduled_at(bad).unwrap_err());
            assert_eq!((field, r), ("scheduled_at", "scheduled_at_format"), "{bad}");
            assert!(detail.contains("RFC 3339"), "{detail}");
        }
        let parse = |body: &str| parse_new_post(body.as_bytes());
        let none = parse(r#"{"text":"hi","platforms":["x"],"scheduled_at":null}"#).unwrap();
        assert_eq!(none.scheduled_at_ms, None);
        let at = parse(r#"{"text":"hi","platforms":["x"],"scheduled_at":"2026-12-01T09:30:00Z"}"#)
            .unwrap();
        assert_eq!(at.scheduled_at_ms, Some(utc));
        let (field, r, _) = rule(
            parse(r#"{"text":"hi","platforms":["x"],"scheduled_at":1764581400}"#).unwrap_err(),
        );
        assert_eq!((field, r), ("scheduled_at", "type"));
    }

    /// A change names at least one known field; its text is checked as at creation.
    #[test]
    fn changes_are_parsed_and_checked() {
        let parse = |body: &str| parse_post_changes(body.as_bytes());
        assert_eq!(
            parse(r#"{"text":"new words"}"#).unwrap(),
            PostChanges {
                text: Some("new words".into()),
                scheduled_at_ms: None
            }
        );
        assert_eq!(
            parse(r#"{"scheduled_at":null}"#).unwrap(),
            PostChanges {
                text: None,
                scheduled_at_ms: Some(None)
            }
        );
        for (body, field, expected) in [
            ("{}", "body", "required"),
            (r#"{"text":null}"#, "text", "type"),
            (r#"{"text":7}"#, "text", "type"),
            (r#"{"text":"  "}"#, "text", "text_empty"),
            (
                r#"{"text":"hi","platforms":["x"]}"#,
                "body",
                "unknown_field",
            ),
            (
                r#"{"scheduled_at":"noon"}"#,
                "scheduled_at",
                "scheduled_at_format",
            ),
            (r#"{"scheduled_at":true}"#, "scheduled_at", "type"),
        ] {
            let (f, r, _) = rule(parse(body).unwrap_err());
            assert_eq!((f, r), (field, expected), "{body}");
        }
        let (_, r, detail) =
            rule(parse(&format!(r#"{{"text":"{}"}}"#, "a".repeat(281))).unwrap_err());
        assert_eq!(r, "text_too_long");
        assert!(detail.contains("281"), "{detail}");
        assert!(matches!(parse("[]"), Err(PostsError::BadJson(None))));
    }

    /// The range problem carries the schedule rule's words, and names its field.
    #[test]
    fn an_out_of_range_time_is_a_422_saying_why() {
        let now = 1_796_117_400_000;
        for (at, words) in [
            (now + 30_000, "at least 60 seconds ahead (it is 30 s ahead)"),
            (now - 3_600_000, "at least 60 seconds ahead"),
            (now + 15 * 86_400_000, "at most 14 days ahead"),
        ] {
            let err = check_scheduled_at(at, now)
                .map_err(PostsError::ScheduleRange)
                .unwrap_err();
            let p = problem(err);
            assert_eq!((p.status, p.kind.as_str()), (422, "scheduled_at_range"));
            assert_eq!(p.field.as_deref(), Some("scheduled_at"));
            assert!(p.detail.contains(words), "{}", p.detail);
        }
    }

    /// Fitting is on unless a post asks otherwise; a cut or bars need it on, and a cut shorter
    /// than X's minimum is refused naming its field.
    #[test]
    fn fitting_requests_are_parsed_and_checked() {
        let parse = |body: &str| parse_new_post(body.as_bytes());
        let plain = parse(r#"{"text":"hi","platforms":["x"]}"#).unwrap();
        assert_eq!(plain.fit, FitRequest::default());
        assert!(plain.fit.enabled);
        let webm = parse(r#"{"text":"hi","platforms":["x"],"file_name":"clip.webm"}"#).unwrap();
        assert_eq!(webm.content_type, "video/webm");
        let mkv = parse(r#"{"text":"hi","platforms":["x"],"file_name":"clip.MKV"}"#).unwrap();
        assert_eq!(mkv.content_type, "video/x-matroska");
        let asked =
            parse(r#"{"text":"hi","platforms":["x"],"trim_to_secs":12.5,"pad":true}"#).unwrap();
        assert_eq!(asked.fit.trim_to_secs, Some(12.5));
        assert!(asked.fit.pad);
        for (body, field, rule) in [
            (
                r#"{"text":"hi","platforms":["x"],"fit":false,"pad":true}"#,
                "fit",
                "fit_disabled",
            ),
            (
                r#"{"text":"hi","platforms":["x"],"trim_to_secs":0.2}"#,
                "trim_to_secs",
                "trim_range",
            ),
            (
                r#"{"text":"hi","platforms":["x"],"trim_to_secs":"5"}"#,
                "trim_to_secs",
                "type",
            ),
            (
                r#"{"text":"hi","platforms":["x"],"fit":"no"}"#,
                "fit",
                "type",
            ),
        ] {
            match parse(body) {
                Err(PostsError::Invalid {
                    field: f, rule: r, ..
                }) => {
                    assert_eq!((f, r), (field, rule), "{body}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn pages_are_checked() {
        assert_eq!(parse_page(None, None).unwrap().limit, DEFAULT_PAGE);
        assert_eq!(parse_page(Some("100"), None).unwrap().limit, 100);
        for bad in ["0", "101", "x", "-1", ""] {
            assert_eq!(
                rule(parse_page(Some(bad), None).unwrap_err()).1,
                "limit_range"
            );
        }
        assert_eq!(
            rule(parse_page(None, Some("not-a-cursor")).unwrap_err()).1,
            "cursor_invalid"
        );
    }

    #[test]
    fn only_minted_post_ids_are_looked_up() {
        let minted = new_post_id(1_764_000_000_000);
        assert_eq!(minted_post_id(minted.as_str()), Some(minted));
        for bad in [
            "p1",
            "1764000000000-ABCDEF123456",
            "1764000000000-abc",
            "176400000000-abcdef123456",
        ] {
            assert!(minted_post_id(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn every_error_maps_to_its_status() {
        let cases = [
            (PostsError::PostNotFound("p".into()), 404),
            (PostsError::BadJson(None), 400),
            (invalid("text", "text_empty", "x"), 400),
            (
                PostsError::NotConnected {
                    platform: Platform::Twitter,
                },
                409,
            ),
            (
                PostsError::NeedsReconnect {
                    platform: "X",
                    reason: "r".into(),
                },
                409,
            ),
            (PostsError::NothingToRetry("p".into()), 409),
            (PostsError::Changed, 409),
            (
                PostsError::NotRetryable {
                    id: "p".into(),
                    reason: "r".into(),
                },
                409,
            ),
            (PostsError::RetryLimit("p".into()), 409),
            (PostsError::ScheduleRange(ScheduleError::TooFar), 422),
            (
                PostsError::TooLate {
                    id: "p".into(),
                    reason: TOO_LATE_TO_CANCEL,
                },
                409,
            ),
            (PostsError::Cancelled("p".into()), 409),
            (PostsError::QuotaContended, 429),
            (PostsError::Store(StoreError::Conflict), 500),
        ];
        for (err, status) in cases {
            assert_eq!(problem(err).status, status);
        }
        assert_eq!(PostsError::QuotaContended.retry_after_secs(), Some(1));
        assert_eq!(PostsError::Changed.retry_after_secs(), None);
        let p = problem(PostsError::NeedsReconnect {
            platform: "X",
            reason: "missing media.write".into(),
        });
        assert!(
            p.detail.contains("Reconnect") && p.detail.contains("media.write"),
            "{}",
            p.detail
        );
        let internal = problem(PostsError::Store(StoreError::Corrupt(
            "secret detail".into(),
        )));
        assert!(!internal.detail.contains("secret detail"));
    }
}
