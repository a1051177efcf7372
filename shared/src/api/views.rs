//! The bodies the API answers with (and the one it reads), as typed structs: the JSON field names
//! are the contract (`docs/openapi.json`), so they are spelled here once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::connect::ConnectionView;
use crate::clock::rfc3339;
use crate::jobs::{Phase, UploadJob};
use crate::posts::{Platform, Post, PostStatus};

/// Attempts shown per target in `GET /api/posts/{id}`.
pub const RECENT_ATTEMPTS: usize = 10;

/// `GET /api/health`: the API is up and the caller's token was accepted.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The caller's user id: the verified token's `sub`.
    pub user_id: String,
}

/// `GET /api/auth/platforms/{platform}/connect` with `Accept: application/json`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuthorizeUrl {
    /// The platform's consent page (X's, or Google's for YouTube); navigate the browser there.
    pub authorize_url: String,
}

/// `GET /api/platforms`: the caller's connections, never token material, and the platforms
/// this deployment posts to.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PlatformList {
    pub platforms: Vec<ConnectionView>,
    /// Every platform Reelay knows, and whether this deployment has it set up.
    pub available: Vec<AvailablePlatform>,
}

/// A platform Reelay can post to.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AvailablePlatform {
    /// `twitter` or `youtube`: the name in the API's paths.
    #[schema(example = "youtube")]
    pub platform: &'static str,
    /// The name people know it by.
    #[schema(example = "YouTube")]
    pub name: &'static str,
    /// Whether the operator configured it (YouTube needs a Google OAuth client); a platform
    /// that is not enabled cannot be connected or posted to.
    pub enabled: bool,
}

/// The body of `POST /api/posts`. Unknown fields are refused (`unknown_field`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePostRequest {
    /// The post's text: 1 to 280 weighted characters as X counts them (each URL 23, CJK and
    /// emoji 2) when X is a target; on YouTube it is the video's description (at most 5,000
    /// bytes, no `<` or `>`) and its first line the default title.
    #[schema(example = "Harbour at dawn")]
    pub text: String,
    /// Where to post: `twitter` (also written `x`) and/or `youtube`, at least one; repeats count
    /// once. Each platform is its own target with its own progress, link and retry.
    #[schema(example = json!(["x", "youtube"]))]
    pub platforms: Vec<String>,
    /// The upload's file name (default `clip.mp4`): 1 to 100 letters, digits, `.`, `-`, `_` or
    /// spaces, not starting with `.`.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_ -][A-Za-z0-9._ -]{0,99}$")]
    pub file_name: Option<String>,
    /// `video/mp4`, `video/quicktime`, `video/webm` or `video/x-matroska`; by default from the
    /// file name (`.mov` QuickTime, `.webm` WebM, `.mkv` Matroska, else MP4).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Convert a video X would refuse as it is (HEVC, 4K, 10-bit or HDR, over 60 fps, WebM, …)
    /// to what X accepts before uploading it (default `true`); `false` rejects it with the
    /// reason instead.
    #[serde(default)]
    pub fit: Option<bool>,
    /// Cut the video to at most this many seconds (at least 0.5; X allows at most 140): a longer
    /// video is otherwise rejected.
    #[serde(default)]
    #[schema(minimum = 0.5, example = 30.0)]
    pub trim_to_secs: Option<f64>,
    /// Add black bars to a video whose aspect ratio is outside X's 1:3 to 3:1 (default
    /// `false`: such a video is rejected).
    #[serde(default)]
    pub pad: Option<bool>,
    /// When to publish: an RFC 3339 date-time with its offset, at least 60 seconds and at most
    /// 14 days ahead (X keeps an uploaded video about 15 days). The video is uploaded to X ahead
    /// of it and the post created at the time. Left out: as soon as the video is ready.
    #[serde(default)]
    #[schema(format = DateTime, example = "2026-12-01T10:30:00+01:00")]
    pub scheduled_at: Option<String>,
    /// The YouTube target's choices (only with `youtube` in `platforms`). YouTube gets the
    /// original video; only X's target is fitted.
    #[serde(default)]
    pub youtube: Option<YouTubeRequest>,
}

/// The YouTube target's choices. Unknown fields are refused (`youtube_options`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct YouTubeRequest {
    /// 1 to 100 characters without `<` or `>`; by default the text's first line, cut to 100.
    #[schema(example = "Harbour at dawn")]
    pub title: Option<String>,
    /// `private` (the default), `unlisted` or `public`.
    #[schema(example = "unlisted")]
    pub privacy: Option<String>,
    /// Whether the video is made for kids (YouTube requires creators to say; default `false`).
    pub made_for_kids: Option<bool>,
    /// YouTube's category id, digits only (e.g. `22`, People & Blogs); YouTube picks one when
    /// left out.
    #[schema(example = "22")]
    pub category_id: Option<String>,
}

/// The body of `PATCH /api/posts/{id}`: at least one field. Unknown fields are refused
/// (`unknown_field`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePostRequest {
    /// The new text, checked as at creation (not `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false, example = "Harbour at dawn, take two")]
    pub text: Option<String>,
    /// The new time (RFC 3339 with its offset, 60 seconds to 14 days ahead), or `null` to
    /// publish as soon as the video is ready.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-12-01T10:30:00+01:00")]
    pub scheduled_at: Option<Option<String>>,
}

/// A field that may be `null`: present (`Some`, maybe `Some(None)`) or absent (`None`, by
/// `default`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The presigned S3 POST form for a post's video: send `fields`, then the file as `file`, as
/// `multipart/form-data` to `url`. S3 enforces the key, the content type, 1 byte to `max_bytes`
/// and the expiry.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UploadFormView {
    /// Always `POST`.
    #[schema(example = "POST")]
    pub method: &'static str,
    pub url: String,
    pub fields: BTreeMap<String, String>,
    /// The object key the form is for.
    pub key: String,
    pub content_type: &'static str,
    pub max_bytes: u64,
    /// RFC 3339, UTC.
    pub expires_at: String,
    pub expires_in_secs: u64,
}

/// `201` for `POST /api/posts`: the draft and where to upload its video.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PostCreated {
    pub post_id: String,
    pub status: PostStatus,
    pub upload: UploadFormView,
}

/// What the pre-flight check learnt about a post's video.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct VideoView {
    pub size_bytes: u64,
    pub media_type: String,
    pub duration_secs: f64,
    pub width: u32,
    pub height: u32,
}

impl From<&crate::posts::VideoInfo> for VideoView {
    fn from(v: &crate::posts::VideoInfo) -> Self {
        Self {
            size_bytes: v.size_bytes,
            media_type: v.media_type.clone(),
            duration_secs: v.duration_secs,
            width: v.width,
            height: v.height,
        }
    }
}

/// A post as listed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PostView {
    pub post_id: String,
    pub text: String,
    pub platforms: Vec<Platform>,
    pub status: PostStatus,
    /// Why the video was refused, in words a person can act on.
    pub rejection: Option<String>,
    pub video: Option<VideoView>,
    /// When the post is to be published (RFC 3339, UTC); `null`: as soon as the video is ready.
    #[schema(format = DateTime)]
    pub scheduled_at: Option<String>,
    /// When the user cancelled it (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub cancelled_at: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl PostView {
    /// `status` is passed in: once a post has jobs, their phases decide it (`shown_status`).
    pub fn new(post: &Post, status: PostStatus) -> Self {
        Self {
            post_id: post.post_id.as_str().to_owned(),
            text: post.text.clone(),
            platforms: post.platforms.clone(),
            status,
            rejection: post.rejection.clone(),
            video: post.video.as_ref().map(VideoView::from),
            scheduled_at: post.scheduled_at_ms.map(rfc3339_ms),
            cancelled_at: post.cancelled_at_ms.map(rfc3339_ms),
            created_at_ms: post.created_at_ms,
            updated_at_ms: post.updated_at_ms,
        }
    }
}

/// Epoch ms as RFC 3339 UTC, to the second.
fn rfc3339_ms(ms: i64) -> String {
    rfc3339(ms.div_euclid(1000))
}

/// The status a post is shown with, from `status` (the jobs' when it has any, else its own):
/// `cancelled` once the user cancelled it, unless a target was published all the same (the
/// engine had started creating it); `scheduled` while its time is ahead and it would otherwise
/// show `processing` or `awaiting_upload` (its video is uploaded ahead, or awaited).
pub fn shown_status(
    post: &Post,
    status: PostStatus,
    jobs: &[UploadJob],
    now_ms: i64,
) -> PostStatus {
    let published = jobs.iter().any(|j| j.phase == Phase::Published);
    if post.cancelled_at_ms.is_some() && !published {
        return PostStatus::Cancelled;
    }
    let waiting = matches!(
        status,
        PostStatus::Processing | PostStatus::AwaitingUpload | PostStatus::Scheduled
    );
    match post.scheduled_at_ms {
        Some(at) if waiting && at > now_ms => PostStatus::Scheduled,
        // Its time has come: being published (or late), as any post in flight.
        _ if status == PostStatus::Scheduled => PostStatus::Processing,
        _ => status,
    }
}

/// `GET /api/posts`: a page of the caller's posts, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PostList {
    pub posts: Vec<PostView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/posts/{id}`: the post and each target's progress.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PostDetail {
    #[serde(flatten)]
    pub post: PostView,
    pub targets: Vec<TargetView>,
}

/// Why a target failed, and whether a retry can help.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TargetError {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

/// Why a running target is held up (a rate limit, X's daily cap, a backoff) and until when.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TargetWaiting {
    pub code: String,
    pub message: String,
    /// RFC 3339, UTC.
    pub until: String,
}

/// How often the engine looked for, and tried to create, the post on the platform.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TargetLookups {
    pub posts_read: u32,
    pub publish_calls: u32,
}

/// One call to the platform and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AttemptView {
    pub at_ms: i64,
    pub step: String,
    pub outcome: String,
}

/// The conversion of a target's video (phase `fitting`, then the upload of the result).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FitView {
    /// Percent converted (ffmpeg's progress, checkpointed every few seconds); 100 once done.
    pub percent: u8,
    /// Why the video had to be fitted: the pre-flight's finding.
    #[schema(example = "video codec is HEVC (hvc1); X accepts only H.264")]
    pub reason: String,
    /// What the conversion changed, once done.
    #[schema(example = json!(["video codec HEVC → H.264 High", "1920×1080 → 1280×720"]))]
    pub changes: Vec<String>,
    /// The uploaded file.
    pub original_key: String,
    /// The converted file, once stored; it is the one sent to the platform.
    pub fitted_key: Option<String>,
    /// Which file is sent: `fitted` once converted, `none yet` before.
    #[schema(example = "fitted")]
    pub sent: &'static str,
    /// Conversions started (each crash or timeout counts one; bounded).
    pub attempts: u32,
}

/// One platform target of a post: its phase and progress, result or error.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TargetView {
    pub platform: Platform,
    pub phase: Phase,
    pub bytes_sent: u64,
    pub bytes_total: u64,
    pub segments_sent: u32,
    pub segments_total: u32,
    /// X's processing progress, when it reports one.
    pub processing_percent: Option<u8>,
    /// Set when the video had to be fitted for X first: the conversion's progress, what it
    /// changed, and which file is sent.
    pub fit: Option<FitView>,
    pub media_key: Option<String>,
    pub lookups: TargetLookups,
    pub retries: u32,
    /// The post's id on the platform once published: X's post id, YouTube's video id.
    pub remote_id: Option<String>,
    /// Its link: `https://x.com/…/status/…`, `https://www.youtube.com/watch?v=…`.
    pub url: Option<String>,
    /// X's post id (X targets only; as `remote_id`).
    pub tweet_id: Option<String>,
    /// X's post link (X targets only; as `url`).
    pub tweet_url: Option<String>,
    /// Set once the target failed (or ended unconfirmed).
    pub error: Option<TargetError>,
    /// Set while a running target is held up.
    pub waiting: Option<TargetWaiting>,
    /// When this target is to create the post (RFC 3339, UTC), for a scheduled post.
    #[schema(format = DateTime)]
    pub publish_at: Option<String>,
    /// Why the post was, or will be, created after its scheduled time.
    pub late: Option<String>,
    /// Newest first, at most ten.
    pub recent_attempts: Vec<AttemptView>,
    pub updated_at_ms: i64,
}

impl From<&UploadJob> for TargetView {
    fn from(job: &UploadJob) -> Self {
        let error = job
            .error
            .as_ref()
            .filter(|_| matches!(job.phase, Phase::Failed | Phase::Unconfirmed))
            .map(|e| TargetError {
                code: e.code.clone(),
                message: e.message.clone(),
                retryable: e.retryable,
            });
        // A job that is still running but held up (a rate limit, X's 24-hour cap, an operator
        // problem, a backoff) says why and when it goes on.
        let waiting = job
            .error
            .as_ref()
            .filter(|_| !job.phase.is_final())
            .map(|e| TargetWaiting {
                code: e.code.clone(),
                message: e.message.clone(),
                until: rfc3339(
                    job.wait_until_ms
                        .unwrap_or(job.step_due_at_ms)
                        .div_euclid(1000),
                ),
            });
        Self {
            platform: job.platform,
            phase: job.phase,
            bytes_sent: job.bytes_sent,
            bytes_total: job.source.size_bytes,
            segments_sent: job.segments_sent_count(),
            segments_total: job.total_segments(),
            processing_percent: job.processing_percent,
            fit: job.fit.as_ref().map(|fit| FitView {
                percent: fit.percent,
                reason: fit.reason.clone(),
                changes: fit.changes.clone(),
                original_key: fit.original.key.clone(),
                fitted_key: fit.done.then(|| job.source.key.clone()),
                sent: if fit.done { "fitted" } else { "none yet" },
                attempts: fit.attempts,
            }),
            media_key: job.media_key.clone(),
            lookups: TargetLookups {
                posts_read: job.posts_read,
                publish_calls: job.publish_calls,
            },
            retries: job.retries,
            remote_id: job.remote_post_id.clone(),
            url: job.remote_post_url.clone(),
            tweet_id: job
                .remote_post_id
                .clone()
                .filter(|_| job.platform == Platform::Twitter),
            tweet_url: job
                .remote_post_url
                .clone()
                .filter(|_| job.platform == Platform::Twitter),
            error,
            waiting,
            publish_at: job.publish_at_ms.map(rfc3339_ms),
            late: job.late.clone(),
            recent_attempts: job
                .history
                .iter()
                .rev()
                .take(RECENT_ATTEMPTS)
                .map(|a| AttemptView {
                    at_ms: a.at_ms,
                    step: a.step.clone(),
                    outcome: a.outcome.clone(),
                })
                .collect(),
            updated_at_ms: job.updated_at_ms,
        }
    }
}

/// `202` for `POST /api/posts/{id}/retry`: which targets were queued again.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Retried {
    pub post_id: String,
    pub status: PostStatus,
    pub retried: Vec<Platform>,
}

/// The OAuth callback's answer when the client sends `Accept: application/json`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallbackConnected {
    pub connected: ConnectionView,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{PostId, UserId};
    use crate::jobs::SourceObject;

    const NOW: i64 = 1_796_117_400_000;
    const HOUR: i64 = 3_600_000;

    fn post(status: PostStatus, scheduled_at_ms: Option<i64>) -> Post {
        Post {
            status,
            scheduled_at_ms,
            ..Post::draft(
                UserId::parse("u1").unwrap(),
                PostId::parse("1796117000000-0123456789ab").unwrap(),
                "hi".into(),
                vec![Platform::Twitter],
                NOW - HOUR,
            )
        }
    }

    fn job(post: &Post, phase: Phase) -> UploadJob {
        let source = SourceObject {
            bucket: "b".into(),
            key: "k".into(),
            size_bytes: 1000,
            media_type: "video/mp4".into(),
            media_category: "amplify_video".into(),
            etag: None,
            version_id: None,
        };
        UploadJob {
            phase,
            ..UploadJob::new(post, Platform::Twitter, source, 1000, NOW - HOUR)
        }
    }

    #[test]
    fn a_post_whose_time_is_ahead_shows_scheduled_while_it_waits_or_uploads() {
        let ahead = post(PostStatus::AwaitingUpload, Some(NOW + HOUR));
        assert_eq!(
            shown_status(&ahead, PostStatus::AwaitingUpload, &[], NOW),
            PostStatus::Scheduled
        );
        let ready = [job(&ahead, Phase::Ready)];
        assert_eq!(
            shown_status(&ahead, PostStatus::Processing, &ready, NOW),
            PostStatus::Scheduled
        );
        // An ended target shows as it ended, time or not.
        for ended in [
            PostStatus::Failed,
            PostStatus::Rejected,
            PostStatus::Published,
        ] {
            assert_eq!(shown_status(&ahead, ended, &[], NOW), ended);
        }
        // Its time has come: in flight like any post; without a time, never scheduled.
        let due = post(PostStatus::Processing, Some(NOW - 1));
        assert_eq!(
            shown_status(&due, PostStatus::Processing, &[], NOW),
            PostStatus::Processing
        );
        assert_eq!(
            shown_status(&due, PostStatus::Scheduled, &[], NOW),
            PostStatus::Processing
        );
        let unscheduled = post(PostStatus::AwaitingUpload, None);
        assert_eq!(
            shown_status(&unscheduled, PostStatus::AwaitingUpload, &[], NOW),
            PostStatus::AwaitingUpload
        );
    }

    #[test]
    fn a_cancelled_post_shows_cancelled_unless_a_target_was_published() {
        let mut cancelled = post(PostStatus::Cancelled, Some(NOW + HOUR));
        cancelled.cancelled_at_ms = Some(NOW - 1000);
        assert_eq!(
            shown_status(&cancelled, PostStatus::Cancelled, &[], NOW),
            PostStatus::Cancelled
        );
        let jobs = [job(&cancelled, Phase::Cancelled)];
        assert_eq!(
            shown_status(&cancelled, PostStatus::Unconfirmed, &jobs, NOW),
            PostStatus::Cancelled
        );
        let jobs = [job(&cancelled, Phase::Ready)];
        assert_eq!(
            shown_status(&cancelled, PostStatus::Processing, &jobs, NOW),
            PostStatus::Cancelled
        );
        // The engine had started creating it: what X holds is shown.
        let jobs = [job(&cancelled, Phase::Published)];
        assert_eq!(
            shown_status(&cancelled, PostStatus::Published, &jobs, NOW),
            PostStatus::Published
        );
    }

    #[test]
    fn views_show_the_times_in_rfc3339() {
        let mut p = post(PostStatus::AwaitingUpload, Some(NOW + 1_500));
        p.cancelled_at_ms = Some(NOW);
        let view = PostView::new(&p, PostStatus::Cancelled);
        assert_eq!(view.scheduled_at.as_deref(), Some("2026-12-01T09:30:01Z"));
        assert_eq!(view.cancelled_at.as_deref(), Some("2026-12-01T09:30:00Z"));
        let mut j = job(&p, Phase::Ready);
        j.late = Some("X was unavailable".into());
        let target = TargetView::from(&j);
        assert_eq!(target.publish_at.as_deref(), Some("2026-12-01T09:30:01Z"));
        assert_eq!(target.late.as_deref(), Some("X was unavailable"));
        let json = serde_json::to_value(&target).unwrap();
        assert_eq!(json["phase"], "ready");
        let plain = TargetView::from(&job(&post(PostStatus::Processing, None), Phase::Cancelled));
        assert_eq!((plain.publish_at, plain.late), (None, None));
        assert_eq!(serde_json::to_value(plain.phase).unwrap(), "cancelled");
    }
}
