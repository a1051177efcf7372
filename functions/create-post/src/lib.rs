//! create-post: runs on S3 ObjectCreated under `uploads/`, turns the object into a post, checks
//! the video before a byte goes to X, and enqueues one upload job per target.
//!
//! For each record:
//! 1. Decode the key (S3 form-URL-encodes it) and find its owner: `uploads/{user}/{post}/{file}`.
//! 2. Find the post: the draft `POST /api/posts` created, or else one described by the object's
//!    metadata (`x-amz-meta-reelay-text`, percent-encoded UTF-8, and
//!    `x-amz-meta-reelay-platforms`, comma-separated). Anything else is rejected where the owner
//!    can see it: a post with status `rejected` and the reason. A key with no parseable user has
//!    no owner to show it to and is logged at error level with the key instead.
//! 3. Pre-flight check (`video_preflight`) over ranged GETs: a refusal marks the post `rejected`
//!    with the precise reason and enqueues nothing; a read failure fails the invocation, so S3's
//!    retry runs the check again.
//! 4. `start_jobs` saves the post and creates its jobs in one transaction, then one work message
//!    per job is sent. A duplicate event finds the jobs already there and re-sends the message of
//!    any job no worker has touched for `RESEND_AFTER_MS` (still `Queued` at version 1), which
//!    covers a crash between the transaction and the sends; the engine drops true duplicates.

use std::collections::HashMap;

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use lambda_runtime::LambdaEvent;
use reelay_shared::aws::AwsClients;
use reelay_shared::clock::{Clock, SystemClock};
use reelay_shared::config::{BucketConfig, ConfigError, Env, QueueConfig, TableConfig};
use reelay_shared::ids::{PostId, UploadKey, UserId};
use reelay_shared::jobs::{segment_size_for, Phase, SourceObject, UploadJob};
use reelay_shared::ports::{BlobError, QueueError, WorkQueue};
use reelay_shared::posts::{minted_post_id, Platform, Post, PostStatus, VideoInfo};
use reelay_shared::resources::bucket::UPLOAD_PREFIX;
use reelay_shared::s3::{ObjectHead, S3Blobs, S3Object};
use reelay_shared::sqs::SqsQueue;
use reelay_shared::store::{DynamoStore, PostStore, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;
use video_preflight::{Checked, Limits, PreflightError};

/// Object metadata that makes an object dropped without a draft into a post. S3 returns user
/// metadata names lowercased and without the `x-amz-meta-` prefix.
pub const META_TEXT: &str = "reelay-text";
pub const META_PLATFORMS: &str = "reelay-platforms";

/// X accepts at least 5,000,000-byte APPENDs (research/x-api.md §3); 4 MiB is the safe default.
pub const DEFAULT_SEGMENT_SIZE: u64 = 4 * 1024 * 1024;
const MAX_SEGMENT_SIZE: u64 = 5_000_000;
const MIN_SEGMENT_SIZE: u64 = 1024;

/// How long a job may sit untouched before a duplicate event re-sends its message. Below Lambda's
/// first retry of a failed asynchronous invocation (about a minute), so the retry after a crash
/// between `start_jobs` and the sends always repairs it; above the time one invocation takes to
/// send, so a quick duplicate delivery adds no message.
pub const RESEND_AFTER_MS: i64 = 30_000;

/// Conflicting writes tolerated per object before the invocation fails (and S3 retries it).
const MAX_ROUNDS: usize = 4;

#[derive(Debug, Clone)]
pub struct CreatePostConfig {
    pub table: TableConfig,
    pub bucket: BucketConfig,
    pub queue: QueueConfig,
    /// `SEGMENT_SIZE_BYTES`: preferred APPEND segment size (default 4 MiB, 1 KiB to 5,000,000);
    /// grown per video if needed to fit X's 1000 segments.
    pub segment_size_bytes: u64,
}

impl CreatePostConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let segment_size_bytes = match env.var("SEGMENT_SIZE_BYTES") {
            None => DEFAULT_SEGMENT_SIZE,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|n| (MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(n))
                .ok_or_else(|| ConfigError::Invalid {
                    name: "SEGMENT_SIZE_BYTES",
                    reason: format!(
                        "expected a byte count from {MIN_SEGMENT_SIZE} to {MAX_SEGMENT_SIZE}, got {raw:?}"
                    ),
                })?,
        };
        Ok(Self {
            table: TableConfig::from_env(env)?,
            bucket: BucketConfig::from_env(env)?,
            queue: QueueConfig::from_env(env)?,
            segment_size_bytes,
        })
    }

    pub fn vars() -> Vec<&'static str> {
        [
            TableConfig::VARS,
            BucketConfig::VARS,
            QueueConfig::VARS,
            &["SEGMENT_SIZE_BYTES"],
        ]
        .concat()
    }
}

pub struct App {
    pub config: CreatePostConfig,
    pub aws: AwsClients,
}

/// What happened to each object in the event; returned so callers (the local runner, tests) can see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectOutcome {
    pub bucket: String,
    pub key: String,
    pub size: i64,
    /// The post the object was recorded on, if it has an owner.
    pub post_id: Option<String>,
    pub result: String,
}

/// Failures that a retry of the event can cure. Refusals of the object are not errors: they are
/// recorded on the post and the event succeeds.
#[derive(Debug, Error)]
pub enum CreatePostError {
    #[error("the post store failed")]
    Store(#[from] StoreError),
    #[error("reading the object's metadata failed")]
    Head(#[source] BlobError),
    #[error("reading the video for the pre-flight check failed")]
    Read(#[source] video_preflight::ReadError),
    #[error("sending a job's work message failed")]
    Queue(#[source] QueueError),
    #[error("post {0} kept changing under concurrent events")]
    Contended(String),
}

/// What became of one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Checked and enqueued: `jobs` jobs created and their messages sent.
    Started { post_id: PostId, jobs: usize },
    /// A duplicate event: the jobs already exist; `resent` messages of untouched jobs were sent again.
    AlreadyStarted { post_id: PostId, resent: usize },
    /// Refused; the reason is on the post.
    Rejected { post_id: PostId, reason: String },
    /// A duplicate event of an object already refused.
    AlreadyRejected { post_id: PostId },
    /// The object is gone (deleted before it could be checked); nothing to do.
    Gone { post_id: PostId },
    /// The key names no user: logged at error level, nowhere else to record it.
    Unowned { reason: String },
}

impl Verdict {
    fn post_id(&self) -> Option<&PostId> {
        match self {
            Verdict::Started { post_id, .. }
            | Verdict::AlreadyStarted { post_id, .. }
            | Verdict::Rejected { post_id, .. }
            | Verdict::AlreadyRejected { post_id }
            | Verdict::Gone { post_id } => Some(post_id),
            Verdict::Unowned { .. } => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Verdict::Started { post_id, jobs } => {
                format!("post {post_id} checked; {jobs} upload job(s) queued")
            }
            Verdict::AlreadyStarted { post_id, resent } => {
                format!("post {post_id} already has its jobs (duplicate event); {resent} message(s) re-sent")
            }
            Verdict::Rejected { post_id, reason } => {
                format!("rejected: {reason} (recorded on post {post_id})")
            }
            Verdict::AlreadyRejected { post_id } => {
                format!("post {post_id} was already rejected (duplicate event)")
            }
            Verdict::Gone { post_id } => {
                format!("the object no longer exists; post {post_id} is unchanged")
            }
            Verdict::Unowned { reason } => format!("rejected: {reason}"),
        }
    }
}

/// The adapters one invocation works through.
struct Ports<'a> {
    posts: &'a dyn PostStore,
    queue: &'a dyn WorkQueue,
    blobs: &'a S3Blobs,
    clock: &'a dyn Clock,
    segment_size: u64,
}

#[tracing::instrument(skip_all, fields(records = event.payload.records.len()))]
pub async fn handle(
    app: &App,
    event: LambdaEvent<S3Event>,
) -> Result<Vec<ObjectOutcome>, lambda_runtime::Error> {
    let store = DynamoStore::new(app.aws.dynamodb.clone(), &app.config.table.table_name);
    let queue = SqsQueue::new(app.aws.sqs.clone(), &app.config.queue.queue_url);
    let blobs = S3Blobs::new(app.aws.s3.clone());
    let ports = Ports {
        posts: &store,
        queue: &queue,
        blobs: &blobs,
        clock: &SystemClock,
        segment_size: app.config.segment_size_bytes,
    };
    let mut outcomes = Vec::new();
    let mut first_error = None;
    for record in event.payload.records {
        match handle_record(&ports, &record).await {
            Ok(outcome) => outcomes.push(outcome),
            Err(err) => {
                tracing::error!(error = %err, cause = ?std::error::Error::source(&err), "object not processed; the event will be retried");
                first_error.get_or_insert(err);
            }
        }
    }
    // Every step is idempotent, so a retry of the whole event is safe for the records that passed.
    match first_error {
        Some(err) => Err(err.into()),
        None => Ok(outcomes),
    }
}

async fn handle_record(
    ports: &Ports<'_>,
    record: &S3EventRecord,
) -> Result<ObjectOutcome, CreatePostError> {
    let bucket = record.s3.bucket.name.clone().unwrap_or_default();
    let raw_key = record.s3.object.key.clone().unwrap_or_default();
    let size = record.s3.object.size.unwrap_or(0);
    let event_time_ms = record.event_time.timestamp_millis();
    let (key, owner) = match UploadKey::decode_event_key(&raw_key) {
        Ok(key) => {
            let owner = owner_of(&key);
            (key, owner)
        }
        Err(err) => (
            raw_key,
            Owner::Nobody {
                why: err.to_string(),
            },
        ),
    };
    let received = match &owner {
        Owner::Upload(upload) => format!("received upload for post {}: ", upload.post_id),
        _ => String::new(),
    };
    // Boxed: the check's nested futures are deep enough to overflow the compiler's layout limit
    // when inlined into the Lambda runtime's future.
    let verdict = Box::pin(handle_object(ports, &bucket, &key, owner, event_time_ms)).await?;
    let result = format!("{received}{}", verdict.describe());
    tracing::info!(%bucket, %key, size, %result, "object created");
    Ok(ObjectOutcome {
        bucket,
        key,
        size,
        post_id: verdict.post_id().map(|p| p.to_string()),
        result,
    })
}

/// Who an uploaded key belongs to.
#[derive(Debug, Clone)]
enum Owner {
    /// `uploads/{user}/{post}/{file}`.
    Upload(UploadKey),
    /// The first segment is a user id but the rest is not `{post}/{file}`.
    UserOnly {
        user: UserId,
        why: String,
    },
    Nobody {
        why: String,
    },
}

fn owner_of(key: &str) -> Owner {
    match UploadKey::parse(key) {
        Ok(upload) => Owner::Upload(upload),
        Err(why) => {
            let user = key
                .strip_prefix(UPLOAD_PREFIX)
                .and_then(|rest| rest.split('/').next())
                .and_then(|u| UserId::parse(u).ok());
            match user {
                Some(user) => Owner::UserOnly {
                    user,
                    why: why.to_string(),
                },
                None => Owner::Nobody {
                    why: why.to_string(),
                },
            }
        }
    }
}

/// The post id for an object whose key does not carry a minted one: minted-shaped, and the same
/// for every delivery of the same event (same key, same event time), so duplicates find it.
fn derived_post_id(key: &str, event_time_ms: i64) -> PostId {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    PostId::parse(&format!(
        "{:013}-{hex}",
        event_time_ms.clamp(0, 9_999_999_999_999)
    ))
    .unwrap_or_else(|_| unreachable!("digits, '-' and hex always form a valid post id"))
}

#[tracing::instrument(skip(ports, owner, event_time_ms))]
async fn handle_object(
    ports: &Ports<'_>,
    bucket: &str,
    key: &str,
    owner: Owner,
    event_time_ms: i64,
) -> Result<Verdict, CreatePostError> {
    let (user, post_id, file_reason) = match owner {
        Owner::Nobody { why } => {
            // No user, so no post to put the rejection on: the log is the record.
            let reason = format!("{why}; the object has no owner and was not processed");
            tracing::error!(%bucket, %key, %reason, "upload rejected: key names no user");
            return Ok(Verdict::Unowned { reason });
        }
        Owner::UserOnly { user, why } => (user, derived_post_id(key, event_time_ms), Some(why)),
        Owner::Upload(upload) => {
            let id = if minted_post_id(upload.post_id.as_str()).is_some() {
                upload.post_id
            } else {
                derived_post_id(key, event_time_ms)
            };
            (upload.user_id, id, None)
        }
    };
    if let Some(reason) = file_reason {
        return record_rejection(ports, &user, &post_id, key, reason).await;
    }

    for _ in 0..MAX_ROUNDS {
        let found = ports.posts.post_with_jobs(&user, &post_id).await?;
        let round = match found {
            Some((_, jobs)) if !jobs.is_empty() => {
                return resend_untouched(ports, post_id, &jobs).await
            }
            Some((post, _)) if post.status == PostStatus::Rejected => {
                return Ok(Verdict::AlreadyRejected { post_id })
            }
            Some((post, _)) if post.status == PostStatus::AwaitingUpload => {
                let Some(head) = head(ports, bucket, key).await? else {
                    return Ok(Verdict::Gone { post_id });
                };
                check_and_start(ports, post, bucket, key, head).await?
            }
            Some(_) => return Ok(Verdict::AlreadyStarted { post_id, resent: 0 }),
            None => {
                let Some(head) = head(ports, bucket, key).await? else {
                    return Ok(Verdict::Gone { post_id });
                };
                match post_from_metadata(&head.metadata, &user, &post_id, ports.clock.now_ms()) {
                    Err(reason) => {
                        return record_rejection(ports, &user, &post_id, key, reason).await
                    }
                    Ok(post) => match ports.posts.create_post(&post).await {
                        Ok(()) => {
                            tracing::info!(%post_id, "post created from object metadata");
                            check_and_start(ports, post, bucket, key, head).await?
                        }
                        Err(StoreError::Conflict) => None,
                        Err(err) => return Err(err.into()),
                    },
                }
            }
        };
        // `None`: a concurrent delivery changed the post; look again.
        if let Some(verdict) = round {
            return Ok(verdict);
        }
    }
    Err(CreatePostError::Contended(post_id.to_string()))
}

async fn head(
    ports: &Ports<'_>,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectHead>, CreatePostError> {
    ports
        .blobs
        .head(bucket, key)
        .await
        .map_err(CreatePostError::Head)
}

/// Runs the pre-flight check and either rejects the post or starts its jobs. `None` when a
/// concurrent delivery got there first.
async fn check_and_start(
    ports: &Ports<'_>,
    post: Post,
    bucket: &str,
    key: &str,
    head: ObjectHead,
) -> Result<Option<Verdict>, CreatePostError> {
    let reader = S3Object {
        blobs: ports.blobs.clone(),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size: head.size_bytes,
        etag: head.etag.clone(),
        version_id: head.version_id.clone(),
    };
    match video_preflight::inspect(&reader, &Limits::default()).await {
        Ok(checked) => start(ports, post, bucket, key, &head, checked).await,
        Err(PreflightError::Rejected(why)) => {
            tracing::info!(post_id = %post.post_id, code = why.code(), reason = %why, "video refused by the pre-flight check");
            reject(ports, post, key, why.to_string()).await
        }
        Err(PreflightError::Read(err)) => Err(CreatePostError::Read(err)),
    }
}

async fn reject(
    ports: &Ports<'_>,
    mut post: Post,
    key: &str,
    reason: String,
) -> Result<Option<Verdict>, CreatePostError> {
    post.status = PostStatus::Rejected;
    post.rejection = Some(reason.clone());
    post.object_key = Some(key.to_owned());
    post.version += 1;
    post.updated_at_ms = ports.clock.now_ms();
    match ports.posts.save_post(&post).await {
        Ok(()) => Ok(Some(Verdict::Rejected {
            post_id: post.post_id,
            reason,
        })),
        Err(StoreError::Conflict) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Records a refused object as a rejected post of `user`, so the owner sees why.
async fn record_rejection(
    ports: &Ports<'_>,
    user: &UserId,
    post_id: &PostId,
    key: &str,
    reason: String,
) -> Result<Verdict, CreatePostError> {
    let now = ports.clock.now_ms();
    let post = Post {
        user_id: user.clone(),
        post_id: post_id.clone(),
        text: String::new(),
        platforms: Vec::new(),
        status: PostStatus::Rejected,
        rejection: Some(reason.clone()),
        object_key: Some(key.to_owned()),
        video: None,
        created_at_ms: now,
        updated_at_ms: now,
        version: 1,
    };
    match ports.posts.create_post(&post).await {
        Ok(()) => {
            tracing::warn!(%post_id, %key, %reason, "upload rejected and recorded");
            Ok(Verdict::Rejected {
                post_id: post_id.clone(),
                reason,
            })
        }
        Err(StoreError::Conflict) => Ok(Verdict::AlreadyRejected {
            post_id: post_id.clone(),
        }),
        Err(err) => Err(err.into()),
    }
}

/// Saves the checked post and creates its jobs in one transaction, then sends their messages.
async fn start(
    ports: &Ports<'_>,
    mut post: Post,
    bucket: &str,
    key: &str,
    head: &ObjectHead,
    checked: Checked,
) -> Result<Option<Verdict>, CreatePostError> {
    let now = ports.clock.now_ms();
    let facts = &checked.facts;
    post.status = PostStatus::Processing;
    post.object_key = Some(key.to_owned());
    post.video = Some(VideoInfo {
        size_bytes: facts.size_bytes,
        media_type: facts.media_type.to_owned(),
        media_category: checked.category.as_str().to_owned(),
        duration_secs: facts.duration_secs,
        width: facts.width,
        height: facts.height,
    });
    post.version += 1;
    post.updated_at_ms = now;
    let source = SourceObject {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size_bytes: facts.size_bytes,
        media_type: facts.media_type.to_owned(),
        media_category: checked.category.as_str().to_owned(),
        // The version the pre-flight checked (it read with `If-Match` on this ETag): the upload
        // reads exactly these bytes, or fails saying the video changed (DESIGN §3).
        etag: head.etag.clone(),
        version_id: head.version_id.clone(),
    };
    let segment_size = segment_size_for(facts.size_bytes, ports.segment_size);
    let jobs: Vec<UploadJob> = post
        .platforms
        .iter()
        .map(|platform| UploadJob::new(&post, *platform, source.clone(), segment_size, now))
        .collect();
    match ports.posts.start_jobs(&post, &jobs).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Ok(None),
        Err(err) => return Err(err.into()),
    }
    for job in &jobs {
        send(ports, job).await?;
    }
    tracing::info!(post_id = %post.post_id, jobs = jobs.len(), segment_size, "upload jobs queued");
    Ok(Some(Verdict::Started {
        post_id: post.post_id,
        jobs: jobs.len(),
    }))
}

async fn send(ports: &Ports<'_>, job: &UploadJob) -> Result<(), CreatePostError> {
    ports
        .queue
        .send(&job.message(), 0)
        .await
        .map_err(CreatePostError::Queue)
}

/// A duplicate event: the jobs exist. A job that no worker has touched (still `Queued` at version
/// 1: the engine's first act is a versioned lease write) for longer than `RESEND_AFTER_MS` may
/// have lost its message to a crash between `start_jobs` and the send, so its message goes out
/// again. A duplicate arriving sooner, while the first delivery may still be sending, sends
/// nothing. If the first message did arrive after all, the same step token twice is a plain
/// duplicate, which the engine's lease absorbs.
async fn resend_untouched(
    ports: &Ports<'_>,
    post_id: PostId,
    jobs: &[UploadJob],
) -> Result<Verdict, CreatePostError> {
    let now = ports.clock.now_ms();
    let mut resent = 0;
    for job in jobs.iter().filter(|j| {
        j.phase == Phase::Queued && j.version == 1 && now - j.created_at_ms >= RESEND_AFTER_MS
    }) {
        send(ports, job).await?;
        resent += 1;
    }
    Ok(Verdict::AlreadyStarted { post_id, resent })
}

/// A post described by the object's metadata, or the reason the object cannot become one.
fn post_from_metadata(
    metadata: &HashMap<String, String>,
    user: &UserId,
    post_id: &PostId,
    now: i64,
) -> Result<Post, String> {
    let text = metadata.get(META_TEXT);
    let platforms = metadata.get(META_PLATFORMS);
    let (text, platforms) = match (text, platforms) {
        (None, None) => {
            return Err(format!(
                "there is no draft post for this upload and the object carries no x-amz-meta-{META_TEXT} / \
                 x-amz-meta-{META_PLATFORMS} metadata; create the post with POST /api/posts and upload to the \
                 URL it returns"
            ))
        }
        (None, Some(_)) => return Err(format!("the object has x-amz-meta-{META_PLATFORMS} but no x-amz-meta-{META_TEXT}")),
        (Some(_), None) => return Err(format!("the object has x-amz-meta-{META_TEXT} but no x-amz-meta-{META_PLATFORMS}")),
        (Some(t), Some(p)) => (t, p),
    };
    // Metadata travels in HTTP headers, which carry ASCII only: the text is percent-encoded UTF-8.
    let text = percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map_err(|_| format!("x-amz-meta-{META_TEXT} is not percent-encoded UTF-8"))?
        .into_owned();
    reelay_shared::posts::check_text(&text)
        .map_err(|why| format!("x-amz-meta-{META_TEXT}: {why}"))?;
    let mut parsed = Vec::new();
    for name in platforms
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let platform = Platform::parse(&name.to_ascii_lowercase())
            .ok_or_else(|| format!("x-amz-meta-{META_PLATFORMS} names an unknown platform {name:?}; Reelay posts to \"twitter\" (or \"x\")"))?;
        if !parsed.contains(&platform) {
            parsed.push(platform);
        }
    }
    if parsed.is_empty() {
        return Err(format!("x-amz-meta-{META_PLATFORMS} names no platform"));
    }
    Ok(Post {
        user_id: user.clone(),
        post_id: post_id.clone(),
        text,
        platforms: parsed,
        status: PostStatus::AwaitingUpload,
        rejection: None,
        object_key: None,
        video: None,
        created_at_ms: now,
        updated_at_ms: now,
        version: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserId {
        UserId::parse("u1").unwrap()
    }

    fn post_id() -> PostId {
        PostId::parse("1764000000000-0123456789ab").unwrap()
    }

    #[test]
    fn keys_are_owned_by_their_user_segment() {
        assert!(matches!(
            owner_of("uploads/u1/1764000000000-0123456789ab/clip.mp4"),
            Owner::Upload(_)
        ));
        assert!(matches!(
            owner_of("uploads/u1/p/a/b.mp4"),
            Owner::UserOnly { .. }
        ));
        assert!(matches!(
            owner_of("uploads/u1/clip.mp4"),
            Owner::UserOnly { .. }
        ));
        assert!(matches!(
            owner_of("uploads/clip.mp4"),
            Owner::UserOnly { .. } | Owner::Nobody { .. }
        ));
        assert!(matches!(
            owner_of("uploads/u!1/p/clip.mp4"),
            Owner::Nobody { .. }
        ));
        assert!(matches!(
            owner_of("elsewhere/u1/p/clip.mp4"),
            Owner::Nobody { .. }
        ));
    }

    #[test]
    fn derived_ids_are_minted_shaped_and_stable() {
        let a = derived_post_id("uploads/u1/p/clip.mp4", 1_764_000_000_123);
        assert!(minted_post_id(a.as_str()).is_some(), "{a}");
        assert_eq!(
            a,
            derived_post_id("uploads/u1/p/clip.mp4", 1_764_000_000_123)
        );
        assert_ne!(
            a,
            derived_post_id("uploads/u1/p/clip2.mp4", 1_764_000_000_123)
        );
        assert!(a.as_str().starts_with("1764000000123-"));
        assert!(minted_post_id("post-1").is_none());
        assert!(minted_post_id(reelay_shared::posts::new_post_id(5).as_str()).is_some());
    }

    fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn metadata_makes_a_post_or_says_why_not() {
        let post = post_from_metadata(
            &meta(&[
                (META_TEXT, "Hello%20%E4%B8%96%E7%95%8C"),
                (META_PLATFORMS, "twitter, X"),
            ]),
            &user(),
            &post_id(),
            7,
        )
        .unwrap();
        assert_eq!(post.text, "Hello 世界");
        assert_eq!(post.platforms, vec![Platform::Twitter]);
        assert_eq!(post.status, PostStatus::AwaitingUpload);

        for (m, expected) in [
            (meta(&[]), "no draft post"),
            (meta(&[(META_TEXT, "hi")]), "no x-amz-meta-reelay-platforms"),
            (meta(&[(META_PLATFORMS, "x")]), "no x-amz-meta-reelay-text"),
            (
                meta(&[(META_TEXT, "hi"), (META_PLATFORMS, "tiktok")]),
                "unknown platform \"tiktok\"",
            ),
            (
                meta(&[(META_TEXT, "hi"), (META_PLATFORMS, " , ")]),
                "names no platform",
            ),
            (
                meta(&[(META_TEXT, "%20%20"), (META_PLATFORMS, "x")]),
                "must not be empty",
            ),
            (
                meta(&[(META_TEXT, &"a".repeat(281)), (META_PLATFORMS, "x")]),
                "281 weighted characters",
            ),
            (
                meta(&[(META_TEXT, "%FF"), (META_PLATFORMS, "x")]),
                "not percent-encoded UTF-8",
            ),
        ] {
            let why = post_from_metadata(&m, &user(), &post_id(), 7).unwrap_err();
            assert!(why.contains(expected), "{why} should contain {expected}");
        }
    }

    #[test]
    fn segment_size_is_configurable_and_bounded() {
        let mut env: HashMap<String, String> = [
            ("TABLE_NAME", "t"),
            ("BUCKET_NAME", "b"),
            ("QUEUE_URL", "q"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            CreatePostConfig::from_env(&env).unwrap().segment_size_bytes,
            DEFAULT_SEGMENT_SIZE
        );
        env.insert("SEGMENT_SIZE_BYTES".into(), "65536".into());
        assert_eq!(
            CreatePostConfig::from_env(&env).unwrap().segment_size_bytes,
            65536
        );
        for bad in ["0", "6000000", "lots"] {
            env.insert("SEGMENT_SIZE_BYTES".into(), bad.into());
            let err = CreatePostConfig::from_env(&env).unwrap_err();
            assert!(err.to_string().contains("SEGMENT_SIZE_BYTES"), "{err}");
        }
        assert!(CreatePostConfig::vars().contains(&"SEGMENT_SIZE_BYTES"));
    }
}
