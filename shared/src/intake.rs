//! Intake: an object created in the uploads bucket becomes a post's upload jobs (the domain of
//! the create-post function, which only turns S3's event into `CreatedObject`s and calls
//! `Intake::receive`).
//!
//! For each object:
//! 0. Ignore an object the uploads trigger cannot send (another bucket, a key outside `uploads/`
//!    or longer than S3 allows): nothing is read, written or deleted for it (issue 12).
//! 1. Decode the key (S3 form-URL-encodes it) and parse it: `uploads/{user}/{post}/{file}`.
//! 2. Find the draft `POST /api/posts` created for it. Only a server-issued draft makes an object
//!    a post (issue 12): a key names a user and a post, but a key is not an identity, so an object
//!    with no draft (a key of another shape, an unknown post) is logged at error level and
//!    deleted, and no post is written anywhere. The bucket policy lets only the API's upload forms
//!    put objects under `uploads/`, so in AWS this is a misconfiguration or an attack, not a user
//!    mistake.
//! 3. The object's `Content-Type` against the form's (S3 enforces the form's policy; moto does
//!    not, so it is checked here too), then the pre-flight check (`video_preflight`) over ranged
//!    GETs, whose first rule is the form's size bound. A refusal marks the post `rejected` with
//!    the precise reason, deletes the object and enqueues nothing; a read failure fails the
//!    invocation, so S3's retry runs the check again.
//! 4. `start_jobs` saves the post and creates its jobs in one transaction, then one work message
//!    per job is sent. A duplicate event finds the jobs already there and re-sends the message of
//!    any job no worker has touched for `RESEND_AFTER_MS` (still `Queued` at version 1), which
//!    covers a crash between the transaction and the sends; the engine drops true duplicates.

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use thiserror::Error;
use video_preflight::{Checked, Limits, PreflightError};

use crate::clock::Clock;
use crate::fitter::fixable;
use crate::ids::{IdError, PostId, UploadKey};
use crate::jobs::{segment_size_for, JobError, Phase, SourceObject, UploadJob};
use crate::ports::{BlobError, ObjectHead, ObjectRef, QueueError, UploadedObjects, WorkQueue};
use crate::posts::{minted_post_id, Platform, Post, PostStatus, VideoInfo};
use crate::resources::bucket::UPLOAD_PREFIX;
use crate::s3::UPLOAD_CONTENT_TYPES;
use crate::store::{PostStore, StoreError};

/// X accepts at least 5,000,000-byte APPENDs (research/x-api.md §3); 4 MiB is the safe default.
pub const DEFAULT_SEGMENT_SIZE: u64 = 4 * 1024 * 1024;
/// The largest APPEND segment X accepts.
pub const MAX_SEGMENT_SIZE: u64 = 5_000_000;
/// The smallest segment size configurable (tests use small segments to exercise continuations).
pub const MIN_SEGMENT_SIZE: u64 = 1024;

/// How long a job may sit untouched before a duplicate event re-sends its message. Below Lambda's
/// first retry of a failed asynchronous invocation (about a minute), so the retry after a crash
/// between `start_jobs` and the sends always repairs it; above the time one invocation takes to
/// send, so a quick duplicate delivery adds no message.
pub const RESEND_AFTER_MS: i64 = 30_000;

/// S3's limit on an object key's length.
const MAX_KEY_BYTES: usize = 1024;

/// Conflicting writes tolerated per object before the invocation fails (and S3 retries it).
const MAX_ROUNDS: usize = 4;

/// One object-created notification, as the event carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedObject {
    pub bucket: String,
    /// The key as S3 sends it in the event: form-URL-encoded.
    pub raw_key: String,
    pub size: i64,
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
pub enum IntakeError {
    #[error("the post store failed")]
    Store(#[from] StoreError),
    #[error("reading the object's metadata failed")]
    Head(#[source] BlobError),
    #[error("reading the video for the pre-flight check failed")]
    Read(#[source] video_preflight::ReadError),
    #[error("sending a job's work message failed")]
    Queue(#[source] QueueError),
    #[error("deleting a refused object failed")]
    Delete(#[source] BlobError),
    #[error("post {0} kept changing under concurrent events")]
    Contended(String),
}

/// What became of one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Checked and enqueued: `jobs` jobs created and their messages sent.
    Started { post_id: PostId, jobs: usize },
    /// X would refuse the video as it is but a conversion can fix it: sent to fit-video.
    Fitting { post_id: PostId, reason: String },
    /// A duplicate event: the jobs already exist; `resent` messages of untouched jobs were sent again.
    AlreadyStarted { post_id: PostId, resent: usize },
    /// Refused; the reason is on the post and the object is deleted.
    Rejected { post_id: PostId, reason: String },
    /// A duplicate event of an object already refused; deleted again (a no-op once gone).
    AlreadyRejected { post_id: PostId },
    /// The object is gone (deleted before it could be checked); nothing to do.
    Gone { post_id: PostId },
    /// The user cancelled the draft before its video arrived: the object is deleted, nothing
    /// starts.
    Cancelled { post_id: PostId },
    /// No server-issued draft for this key: deleted, logged at error level, no post written.
    NoDraft { reason: String },
}

impl Verdict {
    pub fn post_id(&self) -> Option<&PostId> {
        match self {
            Verdict::Started { post_id, .. }
            | Verdict::Fitting { post_id, .. }
            | Verdict::AlreadyStarted { post_id, .. }
            | Verdict::Rejected { post_id, .. }
            | Verdict::AlreadyRejected { post_id }
            | Verdict::Gone { post_id }
            | Verdict::Cancelled { post_id } => Some(post_id),
            Verdict::NoDraft { .. } => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Verdict::Started { post_id, jobs } => {
                format!("post {post_id} checked; {jobs} upload job(s) queued")
            }
            Verdict::Fitting { post_id, reason } => {
                format!("post {post_id}: {reason}; the video is being fitted for X")
            }
            Verdict::AlreadyStarted { post_id, resent } => {
                format!("post {post_id} already has its jobs (duplicate event); {resent} message(s) re-sent")
            }
            Verdict::Rejected { post_id, reason } => {
                format!("rejected: {reason} (recorded on post {post_id}); object deleted")
            }
            Verdict::AlreadyRejected { post_id } => {
                format!("post {post_id} was already rejected (duplicate event); object deleted")
            }
            Verdict::Gone { post_id } => {
                format!("the object no longer exists; post {post_id} is unchanged")
            }
            Verdict::Cancelled { post_id } => {
                format!("post {post_id} was cancelled before its video arrived; object deleted")
            }
            Verdict::NoDraft { reason } => format!("rejected and deleted: {reason}"),
        }
    }
}

/// The ports one invocation works through.
pub struct Intake<'a> {
    /// The uploads bucket: the only one whose objects intake reads, writes or deletes.
    pub bucket: &'a str,
    pub posts: &'a dyn PostStore,
    pub queue: &'a dyn WorkQueue,
    /// fit-video's queue: jobs whose video must be converted first start there.
    pub fit_queue: &'a dyn WorkQueue,
    pub objects: &'a dyn UploadedObjects,
    pub clock: &'a dyn Clock,
    /// The preferred APPEND segment size; grown per video if needed to fit X's 1000 segments.
    pub segment_size: u64,
}

impl Intake<'_> {
    /// Handles one created object. Every step is idempotent, so the caller may retry the whole
    /// event after an error.
    pub async fn receive(&self, object: CreatedObject) -> Result<ObjectOutcome, IntakeError> {
        let CreatedObject {
            bucket,
            raw_key,
            size,
        } = object;
        let key = match UploadKey::decode_event_key(&raw_key) {
            Ok(key) => key,
            Err(err) => {
                // S3 keys are UTF-8, so this is not an object S3 named: nothing to delete by
                // this name (the bucket's 30-day lifecycle rule removes whatever it is).
                let reason = format!("{err}; the object was not processed");
                tracing::error!(%bucket, key = %raw_key, %reason, "upload rejected: undecodable key");
                return Ok(ObjectOutcome {
                    bucket,
                    key: raw_key,
                    size,
                    post_id: None,
                    result: format!("rejected: {reason}"),
                });
            }
        };
        if let Some(why) = outside_the_trigger(self.bucket, &bucket, &key) {
            // No object of Reelay's uploads (or none S3 could hold): nothing is read, written or
            // deleted for it, and the event is not failed, since a retry could only fail again.
            tracing::error!(%bucket, %key, why, "record outside the uploads trigger ignored");
            return Ok(ObjectOutcome {
                bucket,
                key,
                size,
                post_id: None,
                result: format!("ignored: {why}"),
            });
        }
        let upload = UploadKey::parse(&key);
        let received = match &upload {
            Ok(upload) => format!("received upload for post {}: ", upload.post_id),
            Err(_) => String::new(),
        };
        // Boxed: the check's nested futures are deep enough to overflow the compiler's layout
        // limit when inlined into the Lambda runtime's future.
        let verdict = Box::pin(self.handle_object(&bucket, &key, upload)).await?;
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

    /// Only a draft `POST /api/posts` issued makes an object a post. Anything else is deleted and
    /// logged; no post is written, because the key is all that names its owner and a key is not
    /// an identity (issue 12).
    #[tracing::instrument(skip(self, upload))]
    async fn handle_object(
        &self,
        bucket: &str,
        key: &str,
        upload: Result<UploadKey, IdError>,
    ) -> Result<Verdict, IntakeError> {
        let upload = match upload {
            Ok(upload) if minted_post_id(upload.post_id.as_str()).is_some() => upload,
            Ok(upload) => {
                let reason = format!(
                    "{} is not a post id Reelay issued; uploads go to the form POST /api/posts returns",
                    upload.post_id
                );
                return self.refuse_without_draft(bucket, key, reason).await;
            }
            Err(why) => {
                let reason = format!("{why}; uploads go to the form POST /api/posts returns");
                return self.refuse_without_draft(bucket, key, reason).await;
            }
        };
        let (user, post_id) = (upload.user_id, upload.post_id);

        for _ in 0..MAX_ROUNDS {
            let found = self.posts.post_with_jobs(&user, &post_id).await?;
            let round = match found {
                Some((_, jobs)) if !jobs.is_empty() => {
                    return self.resend_untouched(post_id, &jobs).await
                }
                Some((post, _)) if post.status == PostStatus::Rejected => {
                    // The first delivery may have failed to delete: delete again.
                    self.delete(bucket, key).await?;
                    return Ok(Verdict::AlreadyRejected { post_id });
                }
                Some((post, _)) if post.cancelled_at_ms.is_some() => {
                    // Nothing will be posted: the video would only sit in the bucket.
                    self.delete(bucket, key).await?;
                    return Ok(Verdict::Cancelled { post_id });
                }
                Some((post, _)) if post.status == PostStatus::AwaitingUpload => {
                    let Some(head) = self.head(bucket, key).await? else {
                        return Ok(Verdict::Gone { post_id });
                    };
                    match content_type_outside_the_form(&head) {
                        Some(reason) => self.reject(post, bucket, key, reason).await?,
                        None => self.check_and_start(post, bucket, key, head).await?,
                    }
                }
                Some(_) => return Ok(Verdict::AlreadyStarted { post_id, resent: 0 }),
                None => {
                    let reason = format!(
                        "there is no draft post {post_id} for this upload; create the post with \
                         POST /api/posts and upload with the form it returns"
                    );
                    return self.refuse_without_draft(bucket, key, reason).await;
                }
            };
            // `None`: a concurrent delivery changed the post; look again.
            if let Some(verdict) = round {
                return Ok(verdict);
            }
        }
        Err(IntakeError::Contended(post_id.to_string()))
    }

    /// An object no draft accounts for: deleted and logged, nothing else.
    async fn refuse_without_draft(
        &self,
        bucket: &str,
        key: &str,
        reason: String,
    ) -> Result<Verdict, IntakeError> {
        self.delete(bucket, key).await?;
        // Error level: in AWS the bucket policy admits only the API's forms under uploads/, so an
        // object without a draft means the policy was bypassed or changed.
        tracing::error!(%bucket, %key, %reason, "upload without a draft rejected and deleted");
        Ok(Verdict::NoDraft { reason })
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), IntakeError> {
        self.objects
            .delete(bucket, key)
            .await
            .map_err(IntakeError::Delete)
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectHead>, IntakeError> {
        self.objects
            .head(bucket, key)
            .await
            .map_err(IntakeError::Head)
    }

    /// Runs X's pre-flight check (when X is a target) and either rejects the post or starts
    /// one job per target. The check is X's: a video X would refuse is fitted for X only, and
    /// every other platform gets the original (YouTube takes nearly any video). A video nothing
    /// can make acceptable to X is refused outright when X is the only target; with other
    /// targets, X's target fails with the reason and the others go on. `None` when a concurrent
    /// delivery got there first.
    async fn check_and_start(
        &self,
        post: Post,
        bucket: &str,
        key: &str,
        head: ObjectHead,
    ) -> Result<Option<Verdict>, IntakeError> {
        let for_x = if post.platforms.contains(&Platform::Twitter) {
            Some(self.check_for_x(&post, bucket, key, &head).await?)
        } else {
            None
        };
        if let Some(ForX::Refused(reason)) = &for_x {
            if post.platforms.len() == 1 {
                let reason = reason.clone();
                return self.reject(post, bucket, key, reason).await;
            }
        }
        self.start(post, bucket, key, &head, for_x).await
    }

    /// X's pre-flight verdict on the video.
    async fn check_for_x(
        &self,
        post: &Post,
        bucket: &str,
        key: &str,
        head: &ObjectHead,
    ) -> Result<ForX, IntakeError> {
        let reader = PinnedObject {
            objects: self.objects,
            bucket,
            key,
            head,
        };
        Ok(
            match video_preflight::inspect(&reader, &Limits::default()).await {
                Ok(checked) => match fit_anyway(post, &checked) {
                    Some(reason) => ForX::Fit(reason),
                    None => ForX::Ready(checked),
                },
                Err(PreflightError::Rejected(why))
                    if post.fit.enabled && fixable(&why, &post.fit) =>
                {
                    tracing::info!(post_id = %post.post_id, code = why.code(), reason = %why, "video sent to be fitted for X");
                    ForX::Fit(why.to_string())
                }
                Err(PreflightError::Rejected(why)) => {
                    tracing::info!(post_id = %post.post_id, code = why.code(), reason = %why, "video refused by X's pre-flight check");
                    ForX::Refused(if fixable(&why, &post.fit) {
                        format!("{why} (the post asked fit: false, so it was not converted)")
                    } else {
                        why.to_string()
                    })
                }
                Err(PreflightError::Read(err)) => return Err(IntakeError::Read(err)),
            },
        )
    }

    /// Records the refusal on the draft, then deletes the object: a refused video is never read
    /// again, and keeping it would only keep its bytes. If the delete fails the invocation fails
    /// and S3's retry finds the post rejected and deletes again.
    async fn reject(
        &self,
        mut post: Post,
        bucket: &str,
        key: &str,
        reason: String,
    ) -> Result<Option<Verdict>, IntakeError> {
        post.status = PostStatus::Rejected;
        post.rejection = Some(reason.clone());
        post.object_key = Some(key.to_owned());
        post.version += 1;
        post.updated_at_ms = self.clock.now_ms();
        match self.posts.save_post(&post).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Ok(None),
            Err(err) => return Err(err.into()),
        }
        self.delete(bucket, key).await?;
        tracing::warn!(post_id = %post.post_id, %key, %reason, "upload rejected and deleted");
        Ok(Some(Verdict::Rejected {
            post_id: post.post_id,
            reason,
        }))
    }

    /// Saves the checked post and creates one job per target in one transaction, then sends
    /// their messages: X's job as its verdict says (upload, fit first, or failed with the
    /// reason), every other target's with the original video.
    async fn start(
        &self,
        mut post: Post,
        bucket: &str,
        key: &str,
        head: &ObjectHead,
        for_x: Option<ForX>,
    ) -> Result<Option<Verdict>, IntakeError> {
        let now = self.clock.now_ms();
        post.status = PostStatus::Processing;
        post.object_key = Some(key.to_owned());
        post.version += 1;
        post.updated_at_ms = now;
        // The version the pre-flight checked: every upload reads exactly these bytes, or fails
        // saying the video changed (DESIGN §3).
        let original = SourceObject {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size_bytes: head.size_bytes,
            media_type: head.content_type.clone().unwrap_or_default(),
            media_category: String::new(),
            etag: head.etag.clone(),
            version_id: head.version_id.clone(),
        };
        let checked_source = match &for_x {
            Some(ForX::Ready(checked)) => {
                let facts = &checked.facts;
                post.video = Some(VideoInfo::from(checked));
                Some(SourceObject {
                    size_bytes: facts.size_bytes,
                    media_type: facts.media_type.to_owned(),
                    media_category: checked.category.as_str().to_owned(),
                    ..original.clone()
                })
            }
            _ => None,
        };
        let source = checked_source.unwrap_or_else(|| original.clone());
        let segment_size = segment_size_for(source.size_bytes, self.segment_size);
        let mut fitting = None;
        let jobs: Vec<UploadJob> = post
            .platforms
            .iter()
            .map(|platform| match (platform, &for_x) {
                (Platform::Twitter, Some(ForX::Fit(reason))) => {
                    fitting = Some(reason.clone());
                    UploadJob::new_fitting(&post, *platform, original.clone(), reason.clone(), now)
                }
                (Platform::Twitter, Some(ForX::Refused(reason))) => {
                    let mut job =
                        UploadJob::new(&post, *platform, original.clone(), segment_size, now);
                    job.phase = Phase::Failed;
                    job.record(now, "pre-flight", reason.clone());
                    job.error = Some(JobError {
                        code: "media_rejected".into(),
                        message: format!("X would refuse this video: {reason}"),
                        retryable: false,
                        at_ms: now,
                    });
                    job
                }
                _ => UploadJob::new(&post, *platform, source.clone(), segment_size, now),
            })
            .collect();
        if !self.start_jobs(&post, &jobs).await? {
            return Ok(None);
        }
        tracing::info!(post_id = %post.post_id, jobs = jobs.len(), segment_size, "upload jobs queued");
        Ok(Some(match fitting {
            Some(reason) => Verdict::Fitting {
                post_id: post.post_id,
                reason,
            },
            None => Verdict::Started {
                post_id: post.post_id,
                jobs: jobs.len(),
            },
        }))
    }

    /// Saves the post and creates its jobs in one transaction, then sends their messages; false
    /// when a concurrent delivery got there first.
    async fn start_jobs(&self, post: &Post, jobs: &[UploadJob]) -> Result<bool, IntakeError> {
        match self.posts.start_jobs(post, jobs).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Ok(false),
            Err(err) => return Err(err.into()),
        }
        // A target that failed at the pre-flight has nothing to run.
        for job in jobs.iter().filter(|job| !job.phase.is_final()) {
            self.send(job).await?;
        }
        Ok(true)
    }

    /// Sends the job's message to the queue of its phase.
    async fn send(&self, job: &UploadJob) -> Result<(), IntakeError> {
        let queue = if job.needs_fitting() {
            self.fit_queue
        } else {
            self.queue
        };
        queue
            .send(&job.message(), 0)
            .await
            .map_err(IntakeError::Queue)
    }

    /// A duplicate event: the jobs exist. A job that no worker has touched (still `Queued` at
    /// version 1: the engine's first act is a versioned lease write) for longer than
    /// `RESEND_AFTER_MS` may have lost its message to a crash between `start_jobs` and the send,
    /// so its message goes out again. A duplicate arriving sooner, while the first delivery may
    /// still be sending, sends nothing. If the first message did arrive after all, the same step
    /// token twice is a plain duplicate, which the engine's lease absorbs.
    async fn resend_untouched(
        &self,
        post_id: PostId,
        jobs: &[UploadJob],
    ) -> Result<Verdict, IntakeError> {
        let now = self.clock.now_ms();
        let mut resent = 0;
        for job in jobs.iter().filter(|j| {
            matches!(j.phase, Phase::Queued | Phase::Fitting)
                && j.version == 1
                && now - j.created_at_ms >= RESEND_AFTER_MS
        }) {
            self.send(job).await?;
            resent += 1;
        }
        Ok(Verdict::AlreadyStarted { post_id, resent })
    }
}

/// Why a record is not one the uploads trigger can send (the template's notification: this
/// bucket, keys under `uploads/`; S3 keys: 1 to 1024 bytes), if it is not.
fn outside_the_trigger(uploads_bucket: &str, bucket: &str, key: &str) -> Option<&'static str> {
    if bucket != uploads_bucket {
        Some("not the uploads bucket")
    } else if !key.starts_with(UPLOAD_PREFIX) {
        Some("not a key under uploads/")
    } else if key.len() > MAX_KEY_BYTES {
        Some("longer than any S3 key")
    } else {
        None
    }
}

/// Why a video that passed the check must still be fitted: the post asked to cut it shorter,
/// or it is shown rotated by metadata alone. Neither X's docs nor a recorded exchange say whether
/// X honours a display matrix, so the stricter choice is made ("chosen", README "Fitting
/// videos"): the rotation goes into the pixels, which every player shows upright.
/// X's pre-flight verdict on a video.
enum ForX {
    /// X takes it as it is.
    Ready(Checked),
    /// A conversion can make it acceptable (`reason`: the pre-flight's finding).
    Fit(String),
    /// Nothing Reelay does makes it acceptable to X (or the post turned fitting off).
    Refused(String),
}

fn fit_anyway(post: &Post, checked: &Checked) -> Option<String> {
    if !post.fit.enabled {
        return None;
    }
    let facts = &checked.facts;
    if let Some(trim) = post.fit.trim_to_secs.filter(|t| facts.duration_secs > *t) {
        return Some(format!(
            "video is {:.1} s; the post asked to cut it to {trim} s",
            facts.duration_secs
        ));
    }
    (facts.rotation_degrees != 0).then(|| {
        format!(
            "video is shown rotated {}° by metadata only; the rotation is applied to its pixels",
            facts.rotation_degrees
        )
    })
}

/// The form's content type, which S3 enforces from its policy and moto does not (README "The
/// local runner"). The form's size range (1 byte to `MAX_UPLOAD_BYTES`, X's cap) is the
/// pre-flight check's first rule, judged from the object's size before any read.
fn content_type_outside_the_form(head: &ObjectHead) -> Option<String> {
    let content_type = head.content_type.as_deref().unwrap_or("none");
    if !UPLOAD_CONTENT_TYPES.contains(&content_type) {
        return Some(format!(
            "the upload's Content-Type is {content_type:?}; the upload form admits only {}",
            UPLOAD_CONTENT_TYPES.join(", ")
        ));
    }
    None
}

/// The object the HEAD saw, as the pre-flight check's reader: every read is pinned to that
/// version, so the check judges exactly the bytes the upload will send.
struct PinnedObject<'a> {
    objects: &'a dyn UploadedObjects,
    bucket: &'a str,
    key: &'a str,
    head: &'a ObjectHead,
}

#[async_trait]
impl video_preflight::RangeReader for PinnedObject<'_> {
    fn size(&self) -> u64 {
        self.head.size_bytes
    }

    async fn read_range(&self, start: u64, len: u64) -> Result<Bytes, video_preflight::ReadError> {
        let len = len.min(self.head.size_bytes.saturating_sub(start));
        let object = ObjectRef {
            bucket: self.bucket,
            key: self.key,
            etag: self.head.etag.as_deref(),
            version_id: self.head.version_id.as_deref(),
        };
        self.objects
            .read_range(object, start, len)
            .await
            .map_err(|e| video_preflight::ReadError::Backend(Box::new(e)))
    }
}

#[cfg(test)]
mod tests;
