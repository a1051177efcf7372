//! Upload jobs: one per post and platform target, advanced step by step by the engine
//! (`engine.rs`) and checkpointed after every step.

use serde::{Deserialize, Serialize};

use crate::ids::{PostId, UserId};
use crate::messages::{new_step_token, JobMessage};
use crate::posts::{Platform, Post};

/// Where a job stands. The engine moves it forward; `Published` and `Failed` are final
/// (until a user asks for a retry, which starts again at `Queued`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The video is being converted to what X accepts (fit-video, `crate::fitter`); the job
    /// reaches `Queued` with the converted file as its source.
    Fitting,
    Queued,
    /// INIT answered; the media id is recorded.
    Initialized,
    /// Some segments sent: all before `next_segment`, and those in `segments_ahead`.
    Appending,
    /// FINALIZE answered.
    Finalized,
    /// Waiting for the platform to process the media.
    Processing,
    /// The media is uploaded and processed; the job waits for the post's scheduled time (a
    /// one-time schedule wakes it, `WakeUps`), holding the media id.
    Ready,
    /// About to create the post, or created it without recording it yet.
    Publishing,
    Published,
    Failed,
    /// The user cancelled the post before it was published. Final; nothing was posted.
    Cancelled,
    /// The post may exist on the platform but repeated lookups could not confirm it, so the job
    /// stopped rather than risk a second post. Final; a retry looks again before posting.
    Unconfirmed,
}

impl Phase {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Published | Phase::Failed | Phase::Unconfirmed | Phase::Cancelled
        )
    }
}

/// Why a job failed, or the last error it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// Stable, machine-readable: e.g. `reconnect_required`, `media_rejected`, `x_unavailable`.
    pub code: String,
    /// Human text, with the platform's own words where it gave any.
    pub message: String,
    /// Whether asking for a retry can help.
    pub retryable: bool,
    pub at_ms: i64,
}

/// One call to the platform and how it went, kept (bounded) for the status API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at_ms: i64,
    /// `initialize`, `append 3`, `finalize`, `status`, `post`, `find_post`.
    pub step: String,
    /// `ok`, or the error code and the platform's words.
    pub outcome: String,
}

pub const MAX_ATTEMPT_HISTORY: usize = 30;

/// The video a job uploads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceObject {
    pub bucket: String,
    pub key: String,
    pub size_bytes: u64,
    pub media_type: String,
    pub media_category: String,
    /// The object's ETag when the pre-flight checked it: every read is pinned to it (`If-Match`),
    /// so a video overwritten after the check is never sent (DESIGN §3, "the source is pinned").
    #[serde(default)]
    pub etag: Option<String>,
    /// The object's version, when the bucket is versioned.
    #[serde(default)]
    pub version_id: Option<String>,
}

/// The conversion of a job's video (fit-video, `crate::fitter`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitState {
    /// The file the user uploaded. Once fitted, the job's `source` is the converted file.
    pub original: SourceObject,
    /// Why the pre-flight sent it to be fitted (its first finding, in words).
    pub reason: String,
    /// The post's fitting request: cut to at most this many seconds; pad to X's aspect range.
    #[serde(default)]
    pub trim_to_secs: Option<f64>,
    #[serde(default)]
    pub pad: bool,
    /// Percent converted (from ffmpeg's `-progress`), checkpointed while it runs.
    #[serde(default)]
    pub percent: u8,
    /// Conversions started (each invocation that took the job); bounded.
    #[serde(default)]
    pub attempts: u32,
    /// What the conversion changed, e.g. "video codec HEVC → H.264 High".
    #[serde(default)]
    pub changes: Vec<String>,
    /// The converted file is in S3 and is the job's `source`.
    #[serde(default)]
    pub done: bool,
    /// What the pre-flight learnt about the converted file: the post's `video` once fitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted: Option<crate::posts::VideoInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadJob {
    pub user_id: UserId,
    pub post_id: PostId,
    pub platform: Platform,
    pub text: String,
    pub source: SourceObject,
    pub segment_size: u64,

    pub phase: Phase,
    /// The only work message that may advance the job; changes with every continuation, so
    /// duplicates and stale messages are recognised and dropped.
    pub step_token: String,
    /// The token of the message that preceded `step_token`; see the engine's lost-continuation rule.
    #[serde(default)]
    pub previous_step_token: Option<String>,
    /// When the message carrying `step_token` is due (its delay), epoch ms.
    #[serde(default)]
    pub step_due_at_ms: i64,

    #[serde(default)]
    pub media_id: Option<String>,
    #[serde(default)]
    pub media_key: Option<String>,
    #[serde(default)]
    pub media_expires_at_ms: Option<i64>,
    /// How long X said it keeps this job's media (`expires_after_secs` at INIT): a scheduled
    /// upload that must start again is timed with it (`crate::schedule`).
    #[serde(default)]
    pub media_lifetime_ms: Option<i64>,
    /// When to create the post (the post's `scheduled_at`, read again at every invocation until
    /// publishing starts); `None`: as soon as the media is ready.
    #[serde(default)]
    pub publish_at_ms: Option<i64>,
    /// The job's current message waits in a one-time schedule (`WakeUps`) rather than the queue:
    /// changing the post's time sends it early, so the job re-schedules itself.
    #[serde(default)]
    pub wake_scheduled: bool,
    /// Why the post was, or will be, created later than its scheduled time.
    #[serde(default)]
    pub late: Option<String>,
    /// Why the upload before the scheduled time failed, when the job uploads again at the time
    /// instead of failing (the engine's `fail`).
    #[serde(default)]
    pub failed_ahead: Option<String>,
    /// The first segment not yet sent: every segment before it is at X.
    #[serde(default)]
    pub next_segment: u32,
    /// Segments after `next_segment` that are already at X, ascending. Segments go out in
    /// parallel (`EngineSettings::parallel_appends`) and finish out of order; this holds the
    /// ones that finished before an earlier one, so it stays shorter than the number in flight
    /// and the item stays small.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments_ahead: Vec<u32>,
    #[serde(default)]
    pub bytes_sent: u64,
    #[serde(default)]
    pub processing_percent: Option<u8>,
    #[serde(default)]
    pub processing_deadline_ms: Option<i64>,
    /// Times the upload started over at INIT (media expired or lost).
    #[serde(default)]
    pub restarts: u32,
    /// Consecutive transient failures of the current step.
    #[serde(default)]
    pub attempts: u32,
    /// Whether the post may already exist on the platform (recorded before creating it).
    #[serde(default)]
    pub publish_started: bool,
    /// When the first attempt to create the post started, epoch ms: lookups for a post that may
    /// exist only search posts created since then.
    #[serde(default)]
    pub publish_started_at_ms: Option<i64>,
    /// Calls made to create the post (bounded).
    #[serde(default)]
    pub publish_calls: u32,
    /// When the last of those calls started: X needs a while to show a new post.
    #[serde(default)]
    pub last_publish_call_at_ms: Option<i64>,
    /// X refused a later call as a duplicate of an existing post: evidence that an earlier call
    /// created it, so the job only looks for it from then on.
    #[serde(default)]
    pub duplicate_refused: bool,
    /// Lookups since the last call to create the post (bounded; then the job ends `Unconfirmed`).
    #[serde(default)]
    pub lookups: u32,
    /// Posts the platform returned to those lookups: X bills every post a read returns.
    #[serde(default)]
    pub posts_read: u32,
    /// Times the reconciler re-sent the job's message because its next step was overdue, since
    /// the job last handed off on its own. Bounded; then the job fails with its last reason.
    #[serde(default)]
    pub redrives: u32,
    /// Times a user asked for a retry (capped).
    #[serde(default)]
    pub retries: u32,
    /// A wait longer than one queue delay (SQS allows 15 minutes), e.g. for X's 24-hour cap to
    /// reset: the job's messages pass themselves on until this time (epoch ms).
    #[serde(default)]
    pub wait_until_ms: Option<i64>,
    /// When the platform started refusing the app itself (an operator problem: X access not
    /// enabled, credits used up); the wait for the operator is bounded from here.
    #[serde(default)]
    pub operator_blocked_since_ms: Option<i64>,
    #[serde(default)]
    pub remote_post_id: Option<String>,
    #[serde(default)]
    pub remote_post_url: Option<String>,
    #[serde(default)]
    pub error: Option<JobError>,
    #[serde(default)]
    pub history: Vec<Attempt>,

    /// A resumable platform's upload (YouTube): the session, the bytes its server confirmed,
    /// the video id once complete (`crate::resumable`). The session URI is a credential: the
    /// API's views never show this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumable: Option<crate::resumable::UploadProgress>,
    /// The post's per-platform choices, as the job was created.
    #[serde(default)]
    pub options: crate::posts::PlatformOptions,

    /// Set when the video needed fitting: the original, the progress, what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<FitState>,

    #[serde(default)]
    pub lease_owner: Option<String>,
    #[serde(default)]
    pub lease_until_ms: i64,
    pub version: u64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl UploadJob {
    /// A new job for one target of `post`: queued, at version 1, with a fresh step token.
    pub fn new(
        post: &Post,
        platform: Platform,
        source: SourceObject,
        segment_size: u64,
        now_ms: i64,
    ) -> Self {
        Self {
            user_id: post.user_id.clone(),
            post_id: post.post_id.clone(),
            platform,
            text: post.text.clone(),
            source,
            segment_size,
            phase: Phase::Queued,
            step_token: new_step_token(),
            previous_step_token: None,
            step_due_at_ms: now_ms,
            media_id: None,
            media_key: None,
            media_expires_at_ms: None,
            media_lifetime_ms: None,
            publish_at_ms: post.scheduled_at_ms,
            wake_scheduled: false,
            late: None,
            failed_ahead: None,
            next_segment: 0,
            segments_ahead: Vec::new(),
            bytes_sent: 0,
            processing_percent: None,
            processing_deadline_ms: None,
            restarts: 0,
            attempts: 0,
            publish_started: false,
            publish_started_at_ms: None,
            publish_calls: 0,
            last_publish_call_at_ms: None,
            duplicate_refused: false,
            lookups: 0,
            posts_read: 0,
            redrives: 0,
            retries: 0,
            wait_until_ms: None,
            operator_blocked_since_ms: None,
            remote_post_id: None,
            remote_post_url: None,
            error: None,
            history: Vec::new(),
            resumable: None,
            options: post.options.clone(),
            fit: None,
            lease_owner: None,
            lease_until_ms: 0,
            version: 1,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        }
    }

    /// A new job whose video must be fitted first: it starts at `Fitting` on fit-video's queue.
    pub fn new_fitting(
        post: &Post,
        platform: Platform,
        original: SourceObject,
        reason: String,
        now_ms: i64,
    ) -> Self {
        // The segment size is chosen again for the converted file (fit-video).
        let segment_size =
            segment_size_for(original.size_bytes, crate::intake::DEFAULT_SEGMENT_SIZE);
        let mut job = Self::new(post, platform, original.clone(), segment_size, now_ms);
        job.phase = Phase::Fitting;
        job.fit = Some(FitState {
            original,
            reason,
            trim_to_secs: post.fit.trim_to_secs,
            pad: post.fit.pad,
            percent: 0,
            attempts: 0,
            changes: Vec::new(),
            done: false,
            fitted: None,
        });
        job
    }

    /// Whether the job's next message goes to fit-video's queue rather than the work queue.
    pub fn needs_fitting(&self) -> bool {
        self.phase == Phase::Fitting
    }

    /// The work message that advances the job from its current step.
    pub fn message(&self) -> JobMessage {
        JobMessage {
            user_id: self.user_id.clone(),
            post_id: self.post_id.clone(),
            platform: self.platform,
            step_token: self.step_token.clone(),
        }
    }

    /// Makes a failed (or unconfirmed) job ready to run again: a new step token (so the failed
    /// run's messages are stale), attempts, restarts and lookups cleared, the error and lease
    /// dropped, one more retry counted. The caller bumps the version.
    ///
    /// Where it resumes:
    /// - a job that started creating the post resumes at `Publishing`: the post may exist, and
    ///   the engine looks for it before posting again (DESIGN §3, "exactly one post"); if the
    ///   media expired meanwhile, the engine starts the upload over once absence is confirmed;
    /// - a job whose media X had processed and still keeps for `media_margin_ms` resumes at
    ///   `Publishing` with that media, without uploading again;
    /// - every other job starts over at `Queued`.
    pub fn reset_for_retry(&mut self, now_ms: i64, media_margin_ms: i64) {
        let media_usable = self.media_id.is_some()
            && self.processing_percent == Some(100)
            && self
                .media_expires_at_ms
                .is_none_or(|at| at > now_ms.saturating_add(media_margin_ms));
        let may_exist = self.publish_started && self.remote_post_id.is_none();
        let was_unconfirmed = self.phase == Phase::Unconfirmed;
        let fitted = self.fit.as_ref().is_none_or(|fit| fit.done);
        if !fitted {
            // The conversion never finished: start it again (fresh attempts).
            self.phase = Phase::Fitting;
            if let Some(fit) = self.fit.as_mut() {
                fit.attempts = 0;
                fit.percent = 0;
            }
        } else if may_exist || (media_usable && self.phase == Phase::Failed) {
            self.phase = Phase::Publishing;
        } else {
            self.phase = Phase::Queued;
            self.media_id = None;
            self.media_key = None;
            self.media_expires_at_ms = None;
            self.forget_segments();
            self.processing_percent = None;
            self.processing_deadline_ms = None;
            self.publish_started = false;
            // A resumable upload that never completed keeps its session: the engine asks it
            // first and sends only what it lacks (or starts a new one if it is gone). One that
            // completed made a video the platform refused, and one that ended unconfirmed was
            // looked for by the user who asks for the retry: only a new upload helps either.
            if was_unconfirmed
                || self
                    .resumable
                    .as_ref()
                    .is_some_and(|progress| progress.video_id.is_some())
            {
                self.resumable = None;
            }
        }
        self.step_token = new_step_token();
        self.previous_step_token = None;
        self.step_due_at_ms = now_ms;
        self.attempts = 0;
        self.restarts = 0;
        self.lookups = 0;
        self.redrives = 0;
        self.wait_until_ms = None;
        self.operator_blocked_since_ms = None;
        self.retries = self.retries.saturating_add(1);
        self.error = None;
        self.lease_owner = None;
        self.lease_until_ms = 0;
        self.record(now_ms, "retry", "requested by the user");
        self.updated_at_ms = now_ms;
    }

    /// When the reconciler should consider this job's next step overdue (before its grace): the
    /// later of the current message's due time and the holder's lease. `None` for final jobs,
    /// which the sweep index leaves out.
    pub fn sweep_due_at_ms(&self) -> Option<i64> {
        (!self.phase.is_final()).then(|| self.step_due_at_ms.max(self.lease_until_ms))
    }

    pub fn total_segments(&self) -> u32 {
        if self.source.size_bytes == 0 || self.segment_size == 0 {
            return 0;
        }
        self.source.size_bytes.div_ceil(self.segment_size) as u32
    }

    /// The byte range of segment `index`: (offset, length).
    pub fn segment_range(&self, index: u32) -> (u64, u64) {
        let start = u64::from(index) * self.segment_size;
        let len = self
            .segment_size
            .min(self.source.size_bytes.saturating_sub(start));
        (start, len)
    }

    /// Whether segment `index` is already at the platform.
    pub fn segment_sent(&self, index: u32) -> bool {
        index < self.next_segment || self.segments_ahead.binary_search(&index).is_ok()
    }

    /// The segments still to send, ascending.
    pub fn missing_segments(&self) -> impl Iterator<Item = u32> + '_ {
        (self.next_segment..self.total_segments()).filter(|i| !self.segment_sent(*i))
    }

    pub fn all_segments_sent(&self) -> bool {
        self.next_segment >= self.total_segments()
    }

    pub fn segments_sent_count(&self) -> u32 {
        self.next_segment + self.segments_ahead.len() as u32
    }

    /// Records segment `index` as at the platform: `next_segment` moves past every segment sent
    /// without a gap, and `bytes_sent` counts every segment sent.
    pub fn mark_segment_sent(&mut self, index: u32) {
        if self.segment_sent(index) || index >= self.total_segments() {
            return;
        }
        if let Err(at) = self.segments_ahead.binary_search(&index) {
            self.segments_ahead.insert(at, index);
        }
        while self.segments_ahead.first() == Some(&self.next_segment) {
            self.segments_ahead.remove(0);
            self.next_segment += 1;
        }
        let prefix = (u64::from(self.next_segment) * self.segment_size).min(self.source.size_bytes);
        let ahead: u64 = self
            .segments_ahead
            .iter()
            .map(|i| self.segment_range(*i).1)
            .sum();
        self.bytes_sent = prefix + ahead;
    }

    /// No segment sent (a new media id).
    pub fn forget_segments(&mut self) {
        self.next_segment = 0;
        self.segments_ahead.clear();
        self.bytes_sent = 0;
    }

    pub fn record(&mut self, at_ms: i64, step: impl Into<String>, outcome: impl Into<String>) {
        self.history.push(Attempt {
            at_ms,
            step: step.into(),
            outcome: outcome.into(),
        });
        if self.history.len() > MAX_ATTEMPT_HISTORY {
            let excess = self.history.len() - MAX_ATTEMPT_HISTORY;
            self.history.drain(..excess);
        }
    }
}

impl SourceObject {
    /// The object as every read of it must see it: pinned to the checked version.
    pub fn object_ref(&self) -> crate::ports::ObjectRef<'_> {
        crate::ports::ObjectRef {
            bucket: &self.bucket,
            key: &self.key,
            etag: self.etag.as_deref(),
            version_id: self.version_id.as_deref(),
        }
    }
}

/// Chooses the segment size: the configured one, grown if needed so that the upload fits in the
/// platform's 1000 segments (X: `segment_index` 0–999).
pub fn segment_size_for(total_bytes: u64, preferred: u64) -> u64 {
    const MAX_SEGMENTS: u64 = 1000;
    preferred.max(total_bytes.div_ceil(MAX_SEGMENTS)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_of(size_bytes: u64, segment_size: u64) -> UploadJob {
        let post = crate::posts::Post {
            user_id: UserId::parse("user-1").unwrap(),
            post_id: crate::posts::new_post_id(1_800_000_000_000),
            text: "hi".into(),
            platforms: vec![Platform::Twitter],
            status: crate::posts::PostStatus::Processing,
            rejection: None,
            object_key: None,
            video: None,
            fit: Default::default(),
            options: Default::default(),
            scheduled_at_ms: None,
            cancelled_at_ms: None,
            created_at_ms: 0,
            updated_at_ms: 0,
            version: 1,
        };
        let source = SourceObject {
            bucket: "b".into(),
            key: "k".into(),
            size_bytes,
            media_type: "video/mp4".into(),
            media_category: "amplify_video".into(),
            etag: None,
            version_id: None,
        };
        UploadJob::new(&post, Platform::Twitter, source, segment_size, 0)
    }

    #[test]
    fn segments_finishing_out_of_order_are_counted_once_and_close_their_gap() {
        // 10 bytes in segments of 4: 4 + 4 + 2.
        let mut job = job_of(10, 4);
        job.mark_segment_sent(2);
        assert_eq!((job.next_segment, job.segments_ahead.clone()), (0, vec![2]));
        assert_eq!(job.bytes_sent, 2);
        assert_eq!(job.missing_segments().collect::<Vec<_>>(), vec![0, 1]);
        job.mark_segment_sent(2);
        assert_eq!(job.bytes_sent, 2, "a segment sent twice counts once");
        job.mark_segment_sent(0);
        assert_eq!((job.next_segment, job.bytes_sent), (1, 6));
        assert!(!job.all_segments_sent());
        job.mark_segment_sent(1);
        assert_eq!((job.next_segment, job.segments_ahead.len()), (3, 0));
        assert_eq!(job.bytes_sent, 10);
        assert!(job.all_segments_sent());
        assert_eq!(job.missing_segments().count(), 0);
        job.mark_segment_sent(7);
        assert_eq!(
            job.segments_ahead.len(),
            0,
            "indices past the end are ignored"
        );
        job.forget_segments();
        assert_eq!((job.next_segment, job.bytes_sent), (0, 0));
    }

    #[test]
    fn segments_cover_the_file_within_a_thousand() {
        assert_eq!(segment_size_for(10, 4), 4);
        assert_eq!(
            segment_size_for(512 * 1024 * 1024, 4 * 1024 * 1024),
            4 * 1024 * 1024
        );
        let big = 8 * 1024 * 1024 * 1024_u64;
        assert!(big.div_ceil(segment_size_for(big, 4 * 1024 * 1024)) <= 1000);
    }
}
