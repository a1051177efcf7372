//! The upload state machine: how one work message advances one upload job.
//!
//! ```text
//! (Fitting, in fit-video: `fitter.rs`) →
//! Queued → Initialized → Appending(segments sent) → Finalized → Processing → [Ready] → Publishing → Published
//!    ↑_____________ media lost or expired (bounded restarts) ____|                   any phase → Failed(reason)
//! ```
//!
//! A scheduled post (`crate::schedule`) uploads ahead and waits in `Ready`, holding the media,
//! until its time; its waits (the time itself, or a later start so that X still holds the media)
//! go through a one-time schedule (`WakeUps`), not the queue. Until it starts publishing, every
//! invocation re-reads the post's text, time and cancellation, so the API changes only the post.
//!
//! Read top to bottom: `advance` checks the message against the job (stale and duplicate messages
//! are dropped), takes the job's lease, then runs steps while the Lambda deadline allows. Every
//! platform call is followed by a checkpoint (a version-checked write), so a crash loses at most
//! the step in flight (for APPENDs, which go out several at once, the segments in flight). Every call runs within the time left before the deadline (`within`), so
//! Lambda's own timeout never has to fire. Waiting — for the platform's processing, a rate-limit
//! reset, a backoff, or for X to show a post it may have created — is never a sleep: the job hands
//! off to a new message delayed by the wait (`hand_off`). Creating the post is the one step that
//! cannot be repeated blindly: `publish` looks before it posts again and, when it cannot be sure,
//! stops `Unconfirmed` rather than risk a second post. Failure classes follow DESIGN §3's table
//! (`on_platform_error`).

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use rand::Rng;
use thiserror::Error;

use crate::clock::{rfc3339, Clock};
use crate::jobs::{JobError, Phase, SourceObject, UploadJob};
use crate::messages::{new_step_token, JobMessage};
use crate::ports::{
    AccessToken, BlobError, BlobErrorKind, BlobReader, CrashSwitch, CredentialError, Credentials,
    FailureKind, Lookup, MediaPlatform, OperatorAlert, OperatorAlerts, PlatformError, Processing,
    ProcessingState, PublishedPost, StepPoint, WakeUps, WorkQueue,
};
use crate::posts::{PostStatus, UploadProtocol};
use crate::schedule::ScheduleSettings;
use crate::store::{JobStore, PostStore, StoreError};

mod resumable;
pub use resumable::ResumableTarget;

/// Tunables, with production defaults.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Time kept free before the deadline for the final checkpoint and hand-off. Every platform,
    /// storage and credential call must end this long before the deadline or is given up.
    pub deadline_margin_ms: i64,
    /// Least time a single short call (INIT, FINALIZE, STATUS, the post, a lookup, a token) must
    /// have to be started at all; with less, the job hands off instead.
    pub min_call_ms: i64,
    /// Assumed duration of one segment before any has been timed in this invocation.
    pub initial_segment_estimate_ms: i64,
    /// Transient failures of one step before the job fails as retryable.
    pub max_attempts: u32,
    /// Times an upload may start over at INIT after the platform lost or expired the media.
    pub max_restarts: u32,
    /// How long the platform may take to process the media before the job fails.
    pub processing_timeout_ms: i64,
    /// Backoff base and cap for transient failures (exponential with full jitter).
    pub backoff_base_secs: u32,
    pub backoff_cap_secs: u32,
    /// How long past its due time a continuation may be missing before a redelivered older
    /// message re-sends it (it was lost between the checkpoint and the send).
    pub lost_continuation_grace_ms: i64,
    /// Receives after which SQS moves a message to the DLQ (the queue's maxReceiveCount).
    pub max_receive_count: u32,
    /// How long after a call to create the post X may take to show it in the user's timeline:
    /// a lookup before then could miss a post that exists.
    pub publish_settle_ms: i64,
    /// Lookups for a post that may exist before the job stops `Unconfirmed`.
    pub max_lookups: u32,
    /// How long a job waits for the operator when the platform refuses the app itself (X access
    /// not enabled, credits used up) before it fails, retryable.
    pub operator_wait_ms: i64,
    /// How often a job waiting for the operator tries again.
    pub operator_retry_secs: u32,
    /// Scheduled posts: the expiry margin, upload budget and lateness threshold.
    pub schedule: ScheduleSettings,
    /// Segments sent at once, each on its own connection (1: one after the other, the next one
    /// read while the current one is sent). X accepts segments in any order; the upload
    /// benchmark chose the default (BENCHMARKS.md, "Upload speed").
    pub parallel_appends: u32,
}

/// Segments in flight at once unless configured (`PARALLEL_APPENDS`).
pub const DEFAULT_PARALLEL_APPENDS: u32 = 4;
/// The most segments in flight a worker may be configured for: memory grows by one segment
/// (up to 5 MB) for each.
pub const MAX_PARALLEL_APPENDS: u32 = 16;

/// SQS's longest message delay. A longer wait passes the message on in links of at most this.
pub const MAX_QUEUE_DELAY_SECS: u32 = 900;

/// The longest a job waits for a platform's rate-limit reset (X's longest window is 24 hours).
const MAX_RATE_LIMIT_WAIT_SECS: u32 = 26 * 3600;

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            deadline_margin_ms: 3_000,
            min_call_ms: 2_000,
            initial_segment_estimate_ms: 3_000,
            max_attempts: 6,
            max_restarts: 3,
            processing_timeout_ms: 30 * 60 * 1000,
            backoff_base_secs: 2,
            backoff_cap_secs: 120,
            lost_continuation_grace_ms: 2 * 60 * 1000,
            max_receive_count: crate::resources::queue::MAX_RECEIVE_COUNT,
            // X documents no delay between creating a post and its appearing in the author's
            // timeline; a minute is chosen as ample for an eventually consistent read.
            publish_settle_ms: 60_000,
            max_lookups: 5,
            // Chosen: long enough for an operator alerted at night to act the next morning
            // without users having to retry; short enough that a post is not silently days late.
            operator_wait_ms: 12 * 3600 * 1000,
            operator_retry_secs: MAX_QUEUE_DELAY_SECS,
            schedule: ScheduleSettings::default(),
            parallel_appends: DEFAULT_PARALLEL_APPENDS,
        }
    }
}

/// The invocation a message arrived in.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Unique per invocation (the Lambda request id): the lease owner.
    pub id: String,
    /// The Lambda deadline, epoch ms.
    pub deadline_ms: i64,
    /// How many times SQS has delivered this message (ApproximateReceiveCount).
    pub receive_count: u32,
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do (stale, duplicate, finished job): acknowledge it.
    Dropped(&'static str),
    /// The job moved on and a continuation was sent: acknowledge this message.
    HandedOff { phase: Phase, delay_secs: u32 },
    /// The job ended (published or failed): acknowledge.
    Finished(Phase),
    /// The message must come back later (the job is busy elsewhere): report it as failed.
    Retry(&'static str),
}

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("the job store failed")]
    Store(#[from] StoreError),
    #[error("the work queue failed: {0}")]
    Queue(String),
    /// Test-only crash injection stopped the invocation at a step point.
    #[error("crash injected at {0:?}")]
    Crashed(StepPoint),
}

/// The ports the engine works through.
pub struct Engine<'a> {
    pub jobs: &'a dyn JobStore,
    pub posts: &'a dyn PostStore,
    pub blobs: &'a dyn BlobReader,
    pub queue: &'a dyn WorkQueue,
    /// One-time schedules that wake a scheduled job at its time.
    pub wake_ups: &'a dyn WakeUps,
    /// X's upload, and the credentials of X accounts.
    pub platform: &'a dyn MediaPlatform,
    pub credentials: &'a dyn Credentials,
    /// The platforms with a resumable upload this deployment posts to (YouTube, when
    /// configured), driven by `engine/resumable.rs`.
    pub resumable: Vec<ResumableTarget<'a>>,
    pub clock: &'a dyn Clock,
    pub crashes: &'a dyn CrashSwitch,
    pub alerts: &'a dyn OperatorAlerts,
    pub settings: EngineSettings,
}

/// What one step decided.
enum Next {
    /// Checkpointed; take the next step if time allows.
    Continue,
    /// Hand the job to a new message after `delay_secs`.
    Wait { delay_secs: u32 },
    /// Hand the job to a one-time schedule that sends its message at `at_ms` (a scheduled
    /// post's time, or the later start of its upload).
    WakeAt { at_ms: i64 },
    /// The job reached a final phase (already saved).
    Done,
}

/// What stopped a run of segment uploads (`append`).
enum AppendFailure {
    Send(u32, PlatformError),
    Read(BlobError),
}

/// State of one invocation's run over a job.
struct Run {
    job: UploadJob,
    /// The invocation's deadline, epoch ms.
    deadline_ms: i64,
    token: Option<AccessToken>,
    refreshed_after_401: bool,
    /// A refusal that did not say why (`FailureKind::Forbidden`) refreshed the token once in
    /// this invocation, to re-read the scopes the platform grants.
    refreshed_after_403: bool,
    /// Longest segment so far in this invocation, to decide whether another one fits.
    segment_estimate_ms: i64,
    steps_taken: u32,
}

impl Engine<'_> {
    /// Advances the job `message` is for, as far as the invocation's deadline allows.
    #[tracing::instrument(skip_all, fields(post_id = %message.post_id, platform = message.platform.as_str(), invocation = %invocation.id))]
    pub async fn advance(
        &self,
        message: &JobMessage,
        invocation: &Invocation,
    ) -> Result<Outcome, EngineError> {
        let Some(mut job) = self
            .jobs
            .get_job(&message.user_id, &message.post_id, message.platform)
            .await?
        else {
            tracing::warn!("message for a job that does not exist");
            return Ok(Outcome::Dropped("no such job"));
        };
        if job.phase.is_final() {
            return Ok(Outcome::Dropped("job already finished"));
        }
        if job.needs_fitting() {
            // fit-video owns the job until the converted video is its source; it sends the first
            // upload message itself (and the reconciler re-drives it on fit-video's queue).
            return Ok(Outcome::Dropped("the video is being fitted"));
        }
        let now = self.clock.now_ms();
        let leased_by_other =
            job.lease_until_ms > now && job.lease_owner.as_deref() != Some(invocation.id.as_str());

        // Only the message carrying the current step token may advance the job.
        if message.step_token != job.step_token {
            return self
                .older_message(&job, message, invocation, now, leased_by_other)
                .await;
        }
        // A duplicate of the current message while another worker runs the job: let it come back
        // after the visibility timeout, when that worker has moved the job on (or crashed and its
        // lease, which ends at its deadline, has run out).
        if leased_by_other {
            return Ok(Outcome::Retry("job is leased by another worker"));
        }
        // One link of a wait longer than a queue delay: pass it on until the wait is over. The
        // hand-off is a version-checked write, so of two duplicates only one passes it on.
        if let Some(until) = job.wait_until_ms.filter(|until| *until > now + 1_000) {
            return match self.hand_off(&mut job, secs_until(now, until)).await {
                Err(EngineError::Store(StoreError::Conflict)) => {
                    Ok(Outcome::Dropped("another worker passed the wait on"))
                }
                other => other,
            };
        }
        job.wait_until_ms = None;
        job.wake_scheduled = false;
        let cancelled = self.follow_post(&mut job).await?;
        job.lease_owner = Some(invocation.id.clone());
        job.lease_until_ms = invocation.deadline_ms;
        match self.checkpoint(&mut job).await {
            Err(EngineError::Store(StoreError::Conflict)) => {
                return Ok(Outcome::Retry("another worker took the lease first"))
            }
            other => other?,
        }

        let mut run = Run {
            job,
            deadline_ms: invocation.deadline_ms,
            token: None,
            refreshed_after_401: false,
            refreshed_after_403: false,
            segment_estimate_ms: self.settings.initial_segment_estimate_ms,
            steps_taken: 0,
        };
        if cancelled {
            self.cancel(&mut run).await?;
            self.update_post_status(&run.job).await;
            return Ok(Outcome::Finished(run.job.phase));
        }
        loop {
            if !self.time_for_another_step(&run) {
                return self.hand_off(&mut run.job, 0).await;
            }
            run.steps_taken += 1;
            let next = match self.step(&mut run).await {
                Err(EngineError::Store(StoreError::Conflict)) => {
                    // Someone else changed the job under our lease: they own it now.
                    tracing::warn!("lost the job's lease; stopping");
                    return Ok(Outcome::Dropped("lost the lease"));
                }
                other => other?,
            };
            match next {
                Next::Continue => continue,
                Next::Wait { delay_secs } => return self.hand_off(&mut run.job, delay_secs).await,
                Next::WakeAt { at_ms } => {
                    let outcome = self.hand_off_until(&mut run.job, at_ms).await?;
                    self.update_post_status(&run.job).await;
                    return Ok(outcome);
                }
                Next::Done => {
                    self.update_post_status(&run.job).await;
                    return Ok(Outcome::Finished(run.job.phase));
                }
            }
        }
    }

    /// A message whose token is not the job's. Usually a duplicate or an old message: drop it.
    /// But if it is the message *before* the current step, the current step's message may have
    /// been lost between our checkpoint and our send. Re-send it when it is overdue, and on the
    /// last receive SQS allows in any case (a duplicate of the current message is harmless; a
    /// lost one would leave the job without a message until the reconciler's sweep).
    async fn older_message(
        &self,
        job: &UploadJob,
        message: &JobMessage,
        invocation: &Invocation,
        now: i64,
        leased_by_other: bool,
    ) -> Result<Outcome, EngineError> {
        if job.previous_step_token.as_deref() != Some(message.step_token.as_str()) {
            return Ok(Outcome::Dropped("stale message"));
        }
        if leased_by_other {
            // A live worker holds the job and will hand it off itself.
            return Ok(Outcome::Dropped("previous message, job is being worked on"));
        }
        let overdue = now >= job.step_due_at_ms + self.settings.lost_continuation_grace_ms;
        let last_receive = invocation.receive_count + 1 >= self.settings.max_receive_count;
        if overdue || last_receive {
            let delay_ms = (job.step_due_at_ms - now).max(0);
            let delay_secs = u32::try_from((delay_ms + 999) / 1000).unwrap_or(u32::MAX);
            tracing::warn!(
                overdue,
                last_receive,
                "re-sending the job's current message"
            );
            self.send(job, delay_secs).await?;
            return Ok(Outcome::Dropped("re-sent the current message"));
        }
        // Keep it around a while in case the continuation was lost.
        Ok(Outcome::Retry(
            "waiting to see whether the continuation arrives",
        ))
    }

    /// Whether the next step fits before the deadline. Segment appends are the long steps; other
    /// steps are one short call (at least `min_call_ms`). The first step of an invocation needs
    /// only the margin, so that every invocation makes progress even when a segment takes longer
    /// than the estimate; its call is still cut off before the deadline (`within`).
    fn time_for_another_step(&self, run: &Run) -> bool {
        let remaining = run.deadline_ms - self.clock.now_ms();
        let needed = match run.job.phase {
            _ if run.steps_taken == 0 => 0,
            Phase::Queued | Phase::Initialized | Phase::Appending => run.segment_estimate_ms,
            _ => run
                .segment_estimate_ms
                .min(self.settings.initial_segment_estimate_ms)
                .max(self.settings.min_call_ms),
        };
        remaining > needed + self.settings.deadline_margin_ms
    }

    /// One step of the state machine.
    async fn step(&self, run: &mut Run) -> Result<Next, EngineError> {
        if run.job.platform.protocol() == UploadProtocol::Resumable {
            return self.resumable_step(run).await;
        }
        // A scheduled job's waits need no token.
        match run.job.phase {
            Phase::Ready => return self.wait_for_the_time(run).await,
            Phase::Queued => {
                if let Some(start_at) = self.deferred_start(&run.job) {
                    return Ok(self.wait_to_start(run, start_at));
                }
            }
            _ => {}
        }
        let token = match self.token(run).await {
            Ok(token) => token,
            Err(next) => return next,
        };
        match run.job.phase {
            Phase::Queued => self.initialize(run, &token).await,
            Phase::Initialized | Phase::Appending => {
                if self.media_expired(&run.job) {
                    return self.restart(run, "the media upload session expired").await;
                }
                if !run.job.all_segments_sent() {
                    self.append(run, &token).await
                } else {
                    self.finalize(run, &token).await
                }
            }
            Phase::Finalized | Phase::Processing => self.check_processing(run, &token).await,
            Phase::Publishing => self.publish(run, &token).await,
            // Never reached: `Ready` is taken above, and `advance` drops messages for a job
            // being fitted or finished.
            Phase::Ready
            | Phase::Fitting
            | Phase::Published
            | Phase::Failed
            | Phase::Unconfirmed
            | Phase::Cancelled => Ok(Next::Done),
        }
    }

    // ------------------------------------------------------------------------------ the steps

    async fn initialize(&self, run: &mut Run, token: &AccessToken) -> Result<Next, EngineError> {
        let source = run.job.source.clone();
        let call = self.platform.initialize(
            token,
            source.size_bytes,
            &source.media_type,
            &source.media_category,
        );
        let session = match self.platform_call(run, "initialize", call).await {
            Ok(session) => session,
            Err(err) => return self.on_platform_error(run, "initialize", err).await,
        };
        self.crash_point(StepPoint::AfterInitialize)?;
        let now = self.clock.now_ms();
        let job = &mut run.job;
        job.record(now, "initialize", format!("ok: media {}", session.media_id));
        job.media_expires_at_ms = session.expires_after_secs.map(|s| after_secs(now, s));
        job.media_lifetime_ms = job.media_expires_at_ms.map(|at| at - now);
        job.media_id = Some(session.media_id);
        job.media_key = session.media_key;
        job.forget_segments();
        job.phase = Phase::Initialized;
        job.attempts = 0;
        self.checkpoint(job).await?;
        Ok(Next::Continue)
    }

    /// Sends the segments the platform does not hold yet: up to `parallel_appends` at a time,
    /// each read from S3 while earlier ones are being sent (one read ahead, so memory stays at
    /// `parallel_appends + 1` segments), each checkpointed as soon as it lands, in whatever order
    /// they land. A new segment starts only while the deadline leaves room for it (`segment
    /// estimate`); the segments in flight are always waited for, so none is sent without being
    /// recorded unless the invocation dies. The first failure stops new sends; once the segments
    /// in flight have landed, it is handled like any other step's.
    async fn append(&self, run: &mut Run, token: &AccessToken) -> Result<Next, EngineError> {
        let media_id = run.job.media_id.clone().unwrap_or_default();
        let width = self.settings.parallel_appends.max(1) as usize;
        let deadline_ms = run.deadline_ms;
        let mut to_send: VecDeque<u32> = run.job.missing_segments().collect();
        let mut ready: Option<(u32, Bytes)> = None;
        let mut reading: Option<BoxFuture<'_, (u32, Result<Bytes, BlobError>)>> = None;
        let mut in_flight = FuturesUnordered::new();
        let mut failure: Option<AppendFailure> = None;
        let mut started_any = false;
        loop {
            // The first segment of this step may always start (`time_for_another_step` judged
            // the step); later ones only with time for a whole segment.
            let may_start = failure.is_none() && (!started_any || self.time_for_a_segment(run));
            while may_start && in_flight.len() < width {
                let Some((index, segment)) = ready.take() else {
                    break;
                };
                started_any = true;
                let send = self.platform.append(token, &media_id, index, segment);
                in_flight.push(async move {
                    let started = Instant::now();
                    let sent = self
                        .within(deadline_ms, send)
                        .await
                        .unwrap_or_else(|| Err(out_of_time("the segment upload")));
                    (index, sent, started.elapsed())
                });
            }
            if may_start && ready.is_none() && reading.is_none() {
                if let Some(index) = to_send.pop_front() {
                    let (source, range) = (run.job.source.clone(), run.job.segment_range(index));
                    reading = Some(Box::pin(async move {
                        let read = self.read_segment(&source, index, range, deadline_ms).await;
                        (index, read)
                    }));
                }
            }
            if in_flight.is_empty() && reading.is_none() {
                break;
            }
            tokio::select! {
                Some((index, sent, took)) = in_flight.next(), if !in_flight.is_empty() => {
                    match sent {
                        Ok(()) => self.segment_sent(run, index, took).await?,
                        Err(err) => {
                            failure.get_or_insert(AppendFailure::Send(index, err));
                        }
                    }
                }
                (index, read) = async { reading.as_mut().expect("guarded").await }, if reading.is_some() => {
                    reading = None;
                    match read {
                        Ok(segment) => ready = Some((index, segment)),
                        Err(err) => {
                            failure.get_or_insert(AppendFailure::Read(err));
                        }
                    }
                }
            }
        }
        match failure {
            Some(AppendFailure::Send(index, err)) => {
                self.on_platform_error(run, &format!("append {index}"), err)
                    .await
            }
            Some(AppendFailure::Read(err)) => self.on_read_error(run, err).await,
            None if run.job.all_segments_sent() => Ok(Next::Continue),
            // Out of time for another segment: the next invocation sends the rest.
            None => Ok(Next::Wait { delay_secs: 0 }),
        }
    }

    /// One segment landed at the platform: record it and checkpoint.
    async fn segment_sent(
        &self,
        run: &mut Run,
        index: u32,
        took: Duration,
    ) -> Result<(), EngineError> {
        run.refreshed_after_401 = false;
        self.crash_point(StepPoint::AfterAppend)?;
        run.segment_estimate_ms = run.segment_estimate_ms.max(took.as_millis() as i64);
        let job = &mut run.job;
        job.mark_segment_sent(index);
        job.phase = Phase::Appending;
        job.attempts = 0;
        tracing::info!(
            segment = index,
            bytes_sent = job.bytes_sent,
            total = job.source.size_bytes,
            "segment sent"
        );
        self.checkpoint(job).await
    }

    /// Whether the deadline leaves room for one more segment to be sent.
    fn time_for_a_segment(&self, run: &Run) -> bool {
        run.deadline_ms - self.clock.now_ms()
            > run.segment_estimate_ms + self.settings.deadline_margin_ms
    }

    async fn finalize(&self, run: &mut Run, token: &AccessToken) -> Result<Next, EngineError> {
        let media_id = run.job.media_id.clone().unwrap_or_default();
        let call = self.platform.finalize(token, &media_id);
        let processing = match self.platform_call(run, "finalize", call).await {
            Ok(processing) => processing,
            // A FINALIZE whose answer was lost (or a crash after it) leaves the job at "all
            // segments sent"; X then refuses a second FINALIZE. If STATUS knows the media, the
            // first one went through. If STATUS fails, that failure decides: a transient error
            // is retried, only "media unknown" starts over, and a refusal (X may still be
            // finishing the first FINALIZE, which then has no status yet) is retried too,
            // within the attempts — never read as "media lost".
            Err(refused) if refused.kind == FailureKind::Rejected => {
                let call = self.platform.status(token, &media_id);
                match self.platform_call(run, "status", call).await {
                    Ok(processing) => processing,
                    Err(err) if err.kind == FailureKind::Rejected => {
                        let err = PlatformError {
                            kind: FailureKind::Transient,
                            message: format!("{} (after: {})", err.message, refused.message),
                            ..err
                        };
                        return self.on_platform_error(run, "status", err).await;
                    }
                    Err(err) => return self.on_platform_error(run, "status", err).await,
                }
            }
            Err(err) => return self.on_platform_error(run, "finalize", err).await,
        };
        self.crash_point(StepPoint::AfterFinalize)?;
        run.job.record(self.clock.now_ms(), "finalize", "ok");
        run.job.processing_deadline_ms =
            Some(self.clock.now_ms() + self.settings.processing_timeout_ms);
        run.job.phase = Phase::Finalized;
        self.after_processing_answer(run, processing).await
    }

    async fn check_processing(
        &self,
        run: &mut Run,
        token: &AccessToken,
    ) -> Result<Next, EngineError> {
        let deadline = run.job.processing_deadline_ms.unwrap_or(i64::MAX);
        if self.clock.now_ms() > deadline {
            let minutes = self.settings.processing_timeout_ms / 60_000;
            return self
                .fail(
                    run,
                    "processing_timeout",
                    format!("X did not finish processing the video within {minutes} minutes"),
                    true,
                )
                .await;
        }
        let media_id = run.job.media_id.clone().unwrap_or_default();
        let call = self.platform.status(token, &media_id);
        let processing = match self.platform_call(run, "status", call).await {
            Ok(processing) => processing,
            Err(err) => return self.on_platform_error(run, "status", err).await,
        };
        self.crash_point(StepPoint::AfterStatus)?;
        self.after_processing_answer(run, processing).await
    }

    /// Acts on a FINALIZE or STATUS answer: wait, publish, or fail with the platform's reason.
    async fn after_processing_answer(
        &self,
        run: &mut Run,
        processing: Processing,
    ) -> Result<Next, EngineError> {
        let now = self.clock.now_ms();
        let job = &mut run.job;
        job.attempts = 0;
        job.processing_percent = processing.progress_percent.or(job.processing_percent);
        // X may put an `error` on a processing answer whatever its state: it is final.
        if let Some(reason) = processing.error.clone() {
            job.record(now, "status", format!("failed: {reason}"));
            return self
                .fail(
                    run,
                    "media_processing_failed",
                    format!("X could not process the video: {reason}"),
                    false,
                )
                .await;
        }
        match processing.state {
            ProcessingState::Pending | ProcessingState::InProgress => {
                if job.phase == Phase::Processing || processing.state == ProcessingState::InProgress
                {
                    job.phase = Phase::Processing;
                }
                job.record(
                    now,
                    "status",
                    format!(
                        "{:?} {}%",
                        processing.state,
                        processing.progress_percent.unwrap_or(0)
                    ),
                );
                let delay = processing.check_after_secs.unwrap_or(5).clamp(1, 900) as u32;
                Ok(Next::Wait { delay_secs: delay })
            }
            ProcessingState::Succeeded => {
                job.processing_percent = Some(100);
                job.record(now, "status", "succeeded");
                if job.publish_at_ms.is_some_and(|at| at > now) {
                    job.phase = Phase::Ready;
                } else {
                    job.phase = Phase::Publishing;
                    let why = match &job.failed_ahead {
                        Some(failure) => format!(
                            "the upload before the time failed ({failure}), so it was uploaded again at the time"
                        ),
                        None => "the upload was not finished by then".to_owned(),
                    };
                    note_if_late(job, now, &self.settings.schedule, &why);
                }
                self.checkpoint(job).await?;
                Ok(Next::Continue)
            }
            ProcessingState::Failed => {
                job.record(now, "status", "failed");
                self.fail(
                    run,
                    "media_processing_failed",
                    "X could not process the video".to_owned(),
                    false,
                )
                .await
            }
        }
    }

    /// Creates the post exactly once (DESIGN §3, "exactly one post").
    ///
    /// The first call is recorded (`publish_started`) before it is made. From then on the post
    /// may exist whatever the call answered last (a timeout, a 5xx, a crash), so before any new
    /// call the job waits until X can show a post made by the last call (`publish_settle_ms`),
    /// then looks at the user's posts created since the first call. Found: recorded. Every post
    /// since then seen and none carries the media: post again. A failed or incomplete lookup
    /// never leads to a new post; after `max_lookups` of them the job stops `Unconfirmed`.
    async fn publish(&self, run: &mut Run, token: &AccessToken) -> Result<Next, EngineError> {
        let now = self.clock.now_ms();
        if !run.job.publish_started || !called_since_publishing_started(&run.job) {
            // No call was made yet in this round (or one was killed between saving
            // `publish_started` and calling X): X cannot hold the post, so call it, without the
            // settle wait and lookup that follow a call.
            if !run.job.publish_started {
                run.job.publish_started = true;
                run.job.publish_started_at_ms = Some(now);
                self.checkpoint(&mut run.job).await?;
            }
            self.crash_point(StepPoint::BeforePublish)?;
            if let Some(next) = self.last_look_at_the_post(run).await? {
                return Ok(next);
            }
            return self.create_post(run, token).await;
        }
        let settled_at = run
            .job
            .last_publish_call_at_ms
            .unwrap_or(run.job.updated_at_ms)
            .saturating_add(self.settings.publish_settle_ms);
        if now < settled_at {
            return Ok(Next::Wait {
                delay_secs: secs_until(now, settled_at),
            });
        }
        let since_ms = run
            .job
            .publish_started_at_ms
            .unwrap_or(run.job.created_at_ms);
        let media_key = run
            .job
            .media_key
            .clone()
            .or_else(|| run.job.media_id.clone())
            .unwrap_or_default();
        let call = self.platform.find_published(token, &media_key, since_ms);
        let lookup = match self.platform_call(run, "find_post", call).await {
            Ok(lookup) => lookup,
            Err(err) => return self.on_lookup_error(run, err).await,
        };
        let Lookup {
            found,
            complete,
            posts_read,
        } = lookup;
        let job = &mut run.job;
        job.posts_read = job.posts_read.saturating_add(posts_read);
        if let Some(post) = found {
            job.record(now, "find_post", format!("found {}", post.id));
            return self.published(run, post).await;
        }
        if !complete {
            let err = lookup_error("more posts since the first attempt than one lookup reads");
            return self.on_lookup_error(run, err).await;
        }
        if job.duplicate_refused {
            // X said the post exists; keep looking for it, never post again.
            let err = lookup_error("X refused a post as a duplicate, but it is not visible yet");
            return self.on_lookup_error(run, err).await;
        }
        job.record(
            now,
            "find_post",
            format!("none since the first attempt ({posts_read} posts read)"),
        );
        if self.media_expired(job) {
            return self.restart(run, "the media expired before the post").await;
        }
        self.create_post(run, token).await
    }

    /// One call to create the post, recorded first so that a crash during it is seen.
    async fn create_post(&self, run: &mut Run, token: &AccessToken) -> Result<Next, EngineError> {
        if run.job.attempts >= self.settings.max_attempts {
            let message = format!(
                "X kept failing to create the post ({} attempts; none of them created it): {}",
                run.job.attempts,
                run.job
                    .error
                    .as_ref()
                    .map_or("no answer", |e| e.message.as_str())
            );
            return self.fail(run, "platform_unavailable", message, true).await;
        }
        let now = self.clock.now_ms();
        let job = &mut run.job;
        job.publish_calls = job.publish_calls.saturating_add(1);
        job.last_publish_call_at_ms = Some(now);
        job.lookups = 0;
        self.checkpoint(job).await?;

        let text = run.job.text.clone();
        let media_id = run.job.media_id.clone().unwrap_or_default();
        let call = self.platform.publish(token, &text, &media_id);
        match self.platform_call(run, "post", call).await {
            Ok(post) => {
                self.crash_point(StepPoint::AfterPublish)?;
                run.job
                    .record(self.clock.now_ms(), "post", format!("ok: {}", post.id));
                self.published(run, post).await
            }
            // X's duplicate-content 403 after an earlier call that may have worked is evidence
            // that it did: look for that post (DESIGN §3's table).
            Err(err) if err.kind == FailureKind::Duplicate && run.job.publish_calls > 1 => {
                let job = &mut run.job;
                job.record(now, "post", format!("{}: {}", err.code, err.message));
                job.duplicate_refused = true;
                job.attempts = 0;
                Ok(Next::Wait {
                    delay_secs: secs_until(now, now + self.settings.publish_settle_ms),
                })
            }
            // The post may exist: the next step looks before posting again, however often X
            // failed; `create_post` stops at `max_attempts` only after a lookup saw no post.
            Err(err) if err.kind == FailureKind::Transient => {
                let job = &mut run.job;
                job.attempts += 1;
                job.record(now, "post", format!("{}: {}", err.code, err.message));
                job.error = Some(JobError {
                    code: err.code,
                    message: err.message,
                    retryable: true,
                    at_ms: now,
                });
                Ok(Next::Wait {
                    delay_secs: self.backoff_secs(run.job.attempts),
                })
            }
            Err(err) => self.on_platform_error(run, "post", err).await,
        }
    }

    async fn published(&self, run: &mut Run, post: PublishedPost) -> Result<Next, EngineError> {
        let job = &mut run.job;
        tracing::info!(remote_post_id = %post.id, "published");
        job.remote_post_id = Some(post.id);
        job.remote_post_url = Some(post.url);
        job.phase = Phase::Published;
        job.error = None;
        job.lease_owner = None;
        job.lease_until_ms = 0;
        self.checkpoint(job).await?;
        Ok(Next::Done)
    }

    // ------------------------------------------------------------------------------ the schedule

    /// Brings the job in line with its post until it starts publishing: the text and time the
    /// user may still change (`PATCH /api/posts/{id}`), and whether they cancelled it (`true`).
    /// A job without a post (engine tests) keeps its own.
    async fn follow_post(&self, job: &mut UploadJob) -> Result<bool, EngineError> {
        if job.publish_started {
            return Ok(false);
        }
        let Some(post) = self.posts.get_post(&job.user_id, &job.post_id).await? else {
            return Ok(false);
        };
        job.text = post.text;
        job.publish_at_ms = post.scheduled_at_ms;
        Ok(post.cancelled_at_ms.is_some())
    }

    /// The post as the user left it, read once more after `publish_started` is saved and before
    /// the first call to create it. The API saves a change (text, time, cancel) and then reads
    /// the jobs; the engine saves `publish_started` and then reads the post (both reads
    /// consistent): so either this read sees the change, or the API sees `publish_started` and
    /// answers 409 `too_late`. A change is never silently lost. `Some`: the post is not to be
    /// created now (cancelled, or moved later), and X has not been called.
    async fn last_look_at_the_post(&self, run: &mut Run) -> Result<Option<Next>, EngineError> {
        let job = &mut run.job;
        let Some(post) = self.posts.get_post(&job.user_id, &job.post_id).await? else {
            return Ok(None);
        };
        let now = self.clock.now_ms();
        let moved_later = post.scheduled_at_ms.filter(|at| *at > now);
        if post.cancelled_at_ms.is_none() && moved_later.is_none() {
            job.text = post.text;
            return Ok(None);
        }
        job.publish_started = false;
        job.publish_started_at_ms = None;
        if post.cancelled_at_ms.is_some() {
            self.cancel(run).await?;
            return Ok(Some(Next::Done));
        }
        job.publish_at_ms = moved_later;
        job.late = None;
        job.phase = Phase::Ready;
        self.checkpoint(job).await?;
        Ok(Some(Next::Continue))
    }

    /// The user cancelled the post before it was published: nothing is posted; the media, if
    /// any, is left for X to expire.
    async fn cancel(&self, run: &mut Run) -> Result<(), EngineError> {
        let job = &mut run.job;
        tracing::info!(phase = ?job.phase, "cancelled by the user");
        job.record(
            self.clock.now_ms(),
            "cancel",
            "cancelled by the user; nothing posted",
        );
        job.phase = Phase::Cancelled;
        job.error = None;
        job.lease_owner = None;
        job.lease_until_ms = 0;
        self.checkpoint(job).await?;
        // Best effort: a schedule left behind fires once into a finished job, which drops it.
        if let Err(err) = self.wake_ups.forget(&job.message()).await {
            tracing::warn!(error = %err.detail, "could not remove a cancelled job's schedule");
        }
        Ok(())
    }

    /// When a scheduled job that has not uploaded yet should start, if not now: X would expire
    /// media uploaded now before the post's time (`ScheduleSettings::upload_start_at`). The
    /// lifetime is what X said for this job's last upload, else the expected one.
    fn deferred_start(&self, job: &UploadJob) -> Option<i64> {
        let publish_at = job.publish_at_ms?;
        let settings = &self.settings.schedule;
        let lifetime = job
            .media_lifetime_ms
            .unwrap_or(settings.expected_media_lifetime_ms);
        let start_at = settings.upload_start_at(publish_at, lifetime, job.source.size_bytes);
        (start_at > self.clock.now_ms() + 1_000).then_some(start_at)
    }

    fn wait_to_start(&self, run: &mut Run, start_at: i64) -> Next {
        let job = &mut run.job;
        job.record(
            self.clock.now_ms(),
            "schedule",
            format!(
                "waiting to upload until {} so that X still holds the video at {}",
                rfc3339(start_at / 1000),
                rfc3339(job.publish_at_ms.unwrap_or(start_at) / 1000)
            ),
        );
        Next::WakeAt { at_ms: start_at }
    }

    /// `Ready`: the media is processed; create the post at its time. Media that X would expire
    /// before then is uploaded again, starting when `upload_start_at` says; media already gone
    /// at the time is uploaded again at once, and the post says it is late and why.
    async fn wait_for_the_time(&self, run: &mut Run) -> Result<Next, EngineError> {
        let now = self.clock.now_ms();
        let settings = &self.settings.schedule;
        let publish_at = run.job.publish_at_ms.unwrap_or(now);
        let expires_at = run.job.media_expires_at_ms.unwrap_or(i64::MAX);
        let lifetime = run
            .job
            .media_lifetime_ms
            .unwrap_or(settings.expected_media_lifetime_ms);
        if now < publish_at {
            if !settings.expires_before(expires_at, lifetime, publish_at) {
                return Ok(Next::WakeAt { at_ms: publish_at });
            }
            let start_at =
                settings.upload_start_at(publish_at, lifetime, run.job.source.size_bytes);
            if start_at > now + 1_000 {
                return Ok(Next::WakeAt { at_ms: start_at });
            }
            return self
                .restart(
                    run,
                    "X would expire the uploaded video before the scheduled time; uploading it again",
                )
                .await;
        }
        if self.media_expired(&run.job) {
            let why = "X expired the uploaded video before the scheduled time, so it is being uploaded again";
            run.job.late = Some(why.to_owned());
            return self.restart(run, why).await;
        }
        let job = &mut run.job;
        job.phase = Phase::Publishing;
        let why = if job.redrives > 0 {
            "its schedule did not fire; the reconciler sent it"
        } else {
            "its schedule fired late"
        };
        note_if_late(job, now, settings, why);
        self.checkpoint(job).await?;
        Ok(Next::Continue)
    }

    // ------------------------------------------------------------------------------ failures

    /// A lookup for a post that may exist failed or proved nothing. Its own class: it never
    /// flags the account, never fails the job and never leads to a new post. A rate limit waits
    /// for the reset, a refused token is refreshed once, anything else counts towards
    /// `max_lookups`, after which the job stops `Unconfirmed`.
    async fn on_lookup_error(
        &self,
        run: &mut Run,
        err: PlatformError,
    ) -> Result<Next, EngineError> {
        match err.kind {
            FailureKind::RateLimited { .. } => {
                return self.on_platform_error(run, "find_post", err).await
            }
            FailureKind::Unauthorized if !run.refreshed_after_401 => {
                return self.on_platform_error(run, "find_post", err).await
            }
            _ => {}
        }
        let now = self.clock.now_ms();
        let job = &mut run.job;
        job.lookups += 1;
        job.record(now, "find_post", format!("{}: {}", err.code, err.message));
        if job.lookups < self.settings.max_lookups {
            return Ok(Next::Wait {
                delay_secs: self.backoff_secs(job.lookups),
            });
        }
        let media = job.media_key.clone().or_else(|| job.media_id.clone());
        let message = format!(
            "X may have created the post, but Reelay could not confirm it after {} lookups \
             (last: {}). The video's media key is {}. Check the account on X; a retry looks \
             again before posting.",
            job.lookups,
            err.message,
            media.as_deref().unwrap_or("unknown")
        );
        tracing::warn!(%message, "post unconfirmed");
        self.end_unconfirmed(run, "post_unconfirmed", message).await
    }

    /// Ends the job `Unconfirmed`: the platform may hold the post (or video), and only looking
    /// could tell; `message` says what to check. Retryable: a retry looks (or, for a video, the
    /// user has looked) before uploading again.
    async fn end_unconfirmed(
        &self,
        run: &mut Run,
        code: &str,
        message: String,
    ) -> Result<Next, EngineError> {
        let job = &mut run.job;
        job.phase = Phase::Unconfirmed;
        job.error = Some(JobError {
            code: code.to_owned(),
            message,
            retryable: true,
            at_ms: self.clock.now_ms(),
        });
        job.lease_owner = None;
        job.lease_until_ms = 0;
        self.checkpoint(job).await?;
        Ok(Next::Done)
    }

    /// DESIGN §3's failure classes.
    async fn on_platform_error(
        &self,
        run: &mut Run,
        step: &str,
        err: PlatformError,
    ) -> Result<Next, EngineError> {
        let now = self.clock.now_ms();
        let name = run.job.platform.display_name();
        tracing::warn!(step, code = %err.code, message = %err.message, "platform call failed");
        run.job
            .record(now, step, format!("{}: {}", err.code, err.message));
        run.job.error = Some(JobError {
            code: err.code.clone(),
            message: err.message.clone(),
            retryable: true,
            at_ms: now,
        });
        match err.kind {
            FailureKind::RateLimited { retry_at_ms } => {
                // Not an attempt: the platform asked us to wait, and says until when (for X's
                // 24-hour caps, up to a day: the wait is passed on in queue-delay links).
                // X's reset is in whole seconds: wait one more so the window has surely reset.
                let at = retry_at_ms.unwrap_or(now.saturating_add(60_000));
                let delay =
                    secs_until(now, at.saturating_add(1000)).clamp(1, MAX_RATE_LIMIT_WAIT_SECS);
                let resumes_at = crate::clock::rfc3339((now / 1000) + i64::from(delay));
                if let Some(error) = run.job.error.as_mut() {
                    error.message = format!("{}; Reelay continues at {resumes_at}", err.message);
                }
                Ok(Next::Wait { delay_secs: delay })
            }
            FailureKind::OperatorAction => self.wait_for_operator(run, step, err).await,
            FailureKind::Transient => {
                run.job.attempts += 1;
                if run.job.attempts >= self.settings.max_attempts {
                    // Our own services (tokens, storage) failing is not the platform's doing: say
                    // so. Platform codes start with the platform's name.
                    let own = ["storage_", "credentials_"];
                    let who = if own.iter().any(|p| err.code.starts_with(p)) {
                        "Reelay"
                    } else {
                        name
                    };
                    let message = format!(
                        "{who} kept failing at {step} after {} attempts: {}",
                        run.job.attempts, err.message
                    );
                    return self.fail(run, "platform_unavailable", message, true).await;
                }
                Ok(Next::Wait {
                    delay_secs: self.backoff_secs(run.job.attempts),
                })
            }
            // Refresh once; the allowance comes back after any call that succeeds.
            FailureKind::Unauthorized if !run.refreshed_after_401 => {
                run.refreshed_after_401 = true;
                self.refresh_token(run).await
            }
            // Refused without a reason: a newer token re-reads the scopes the platform grants,
            // so the same call either works or, with a scope gone, says so (MissingPermission).
            FailureKind::Forbidden if !run.refreshed_after_403 => {
                run.refreshed_after_403 = true;
                self.refresh_token(run).await
            }
            FailureKind::Unauthorized => {
                let message = format!(
                    "{name} refused the account's token even after a refresh: {}. Reconnect {name}, then retry the post.",
                    err.message
                );
                self.fail(run, "reconnect_required", message, true).await
            }
            // The platform adapter words the fix (which permission, how to grant it).
            FailureKind::MissingPermission => {
                let reason = err.message.clone();
                let user = run.job.user_id.clone();
                let flag = self
                    .credentials_for(run.job.platform)
                    .flag_reconnect(&user, &reason);
                match self.within(run.deadline_ms, flag).await {
                    Some(Ok(())) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "could not flag the account for reconnection")
                    }
                    None => tracing::warn!("no time left to flag the account for reconnection"),
                }
                self.fail(run, "reconnect_required", reason, true).await
            }
            FailureKind::Duplicate => {
                let message = format!("X refused the post as a duplicate: {}", err.message);
                self.fail(run, "duplicate_post", message, false).await
            }
            // Only X saying the media is unknown or expired starts the upload over.
            FailureKind::MediaGone => match run.job.phase {
                Phase::Initialized
                | Phase::Appending
                | Phase::Finalized
                | Phase::Processing
                | Phase::Publishing => {
                    self.restart(
                        run,
                        &format!("{name} no longer accepts the media: {}", err.message),
                    )
                    .await
                }
                _ => {
                    self.fail(
                        run,
                        "media_rejected",
                        format!("{name} refused the video: {}", err.message),
                        false,
                    )
                    .await
                }
            },
            FailureKind::Rejected | FailureKind::Forbidden => match run.job.phase {
                Phase::Publishing => {
                    self.fail(
                        run,
                        "post_rejected",
                        format!("{name} refused the post: {}", err.message),
                        false,
                    )
                    .await
                }
                _ => {
                    self.fail(
                        run,
                        "media_rejected",
                        format!("{name} refused the video at {step}: {}", err.message),
                        false,
                    )
                    .await
                }
            },
        }
    }

    /// Replaces the run's token with a newer one (a refresh, unless a sibling already did it).
    async fn refresh_token(&self, run: &mut Run) -> Result<Next, EngineError> {
        let rejected = run.token.take();
        let user = run.job.user_id.clone();
        let left = self.time_left(run.deadline_ms);
        let refreshed = match &rejected {
            Some(rejected) => {
                let call = self
                    .credentials_for(run.job.platform)
                    .refresh_after_unauthorized_within(&user, rejected, left);
                self.within(run.deadline_ms, call).await
            }
            None => {
                let call = self
                    .credentials_for(run.job.platform)
                    .access_token_within(&user, left);
                self.within(run.deadline_ms, call).await
            }
        };
        match refreshed.unwrap_or_else(|| Err(credentials_out_of_time())) {
            Ok(token) => {
                run.token = Some(token);
                Ok(Next::Continue)
            }
            Err(err) => self.on_credential_error(run, err).await,
        }
    }

    /// The platform refuses the app itself, which only the operator can fix: alert them once,
    /// then try again every `operator_retry_secs` for up to `operator_wait_ms`, and fail
    /// (retryable) after that. Not an attempt, and no account is flagged: the user did nothing
    /// wrong.
    async fn wait_for_operator(
        &self,
        run: &mut Run,
        step: &str,
        err: PlatformError,
    ) -> Result<Next, EngineError> {
        let now = self.clock.now_ms();
        let since = match run.job.operator_blocked_since_ms {
            Some(since) => since,
            None => {
                run.job.operator_blocked_since_ms = Some(now);
                let alert = OperatorAlert {
                    code: err.code.clone(),
                    action: err.message.clone(),
                    detail: format!("at {step}"),
                    post_id: run.job.post_id.to_string(),
                };
                tracing::error!(code = %alert.code, action = %alert.action, post_id = %alert.post_id, "operator action needed");
                match self
                    .within(run.deadline_ms, self.alerts.alert(&alert))
                    .await
                {
                    Some(Ok(())) => {}
                    Some(Err(e)) => tracing::error!(error = %e, "could not alert the operator"),
                    None => tracing::error!("no time left to alert the operator"),
                }
                now
            }
        };
        if now - since >= self.settings.operator_wait_ms {
            let hours = self.settings.operator_wait_ms as f64 / 3_600_000.0;
            let message = format!(
                "{} Gave up after waiting {hours:.1} h; retry the post once it is fixed.",
                err.message
            );
            run.job.operator_blocked_since_ms = None;
            return self.fail(run, &err.code, message, true).await;
        }
        Ok(Next::Wait {
            delay_secs: self.settings.operator_retry_secs.max(1),
        })
    }

    /// Reading the video failed: a changed or deleted object is final (the bytes X would get
    /// are not the ones that were checked); anything else is a transient storage failure.
    async fn on_read_error(&self, run: &mut Run, err: BlobError) -> Result<Next, EngineError> {
        match err.kind {
            BlobErrorKind::Unavailable => {
                let err = PlatformError {
                    kind: FailureKind::Transient,
                    code: "storage_unavailable".into(),
                    message: err.detail,
                };
                self.on_platform_error(run, "read video", err).await
            }
            BlobErrorKind::Changed | BlobErrorKind::Missing => {
                let what = if err.kind == BlobErrorKind::Changed {
                    "the video changed after it was checked"
                } else {
                    "the video was deleted after it was checked"
                };
                run.job.record(
                    self.clock.now_ms(),
                    "read video",
                    format!("{what}: {}", err.detail),
                );
                self.fail(
                    run,
                    "source_changed",
                    format!("{what}; create a new post to send the new file"),
                    false,
                )
                .await
            }
        }
    }

    async fn on_credential_error(
        &self,
        run: &mut Run,
        err: CredentialError,
    ) -> Result<Next, EngineError> {
        let name = run.job.platform.display_name();
        match err {
            CredentialError::NotConnected => {
                self.fail(
                    run,
                    "not_connected",
                    format!(
                        "The {name} account is not connected. Connect {name}, then retry the post."
                    ),
                    true,
                )
                .await
            }
            CredentialError::NeedsReconnect { reason } => {
                self.fail(
                    run,
                    "reconnect_required",
                    format!("Reconnect {name}, then retry the post: {reason}"),
                    true,
                )
                .await
            }
            CredentialError::Unavailable { detail } => {
                let err = PlatformError {
                    kind: FailureKind::Transient,
                    code: "credentials_unavailable".into(),
                    message: detail,
                };
                Box::pin(self.on_platform_error(run, "token", err)).await
            }
        }
    }

    /// Starts the upload over at INIT, a bounded number of times.
    async fn restart(&self, run: &mut Run, why: &str) -> Result<Next, EngineError> {
        if run.job.restarts >= self.settings.max_restarts {
            let message = format!("{why}; gave up after {} fresh starts", run.job.restarts);
            return self.fail(run, "media_lost", message, true).await;
        }
        tracing::warn!(why, "starting the upload over");
        self.start_over(run, why);
        self.checkpoint(&mut run.job).await?;
        Ok(Next::Continue)
    }

    /// Back to `Queued` without the platform's media, one more restart counted.
    fn start_over(&self, run: &mut Run, why: &str) {
        let job = &mut run.job;
        job.restarts += 1;
        job.record(self.clock.now_ms(), "restart", why);
        job.phase = Phase::Queued;
        job.media_id = None;
        job.media_key = None;
        job.media_expires_at_ms = None;
        job.forget_segments();
        job.processing_percent = None;
        job.processing_deadline_ms = None;
        job.attempts = 0;
    }

    async fn fail(
        &self,
        run: &mut Run,
        code: &str,
        message: String,
        retryable: bool,
    ) -> Result<Next, EngineError> {
        // A scheduled post whose upload ahead failed in a way a retry can help still has until
        // its time: it is not failed yet, but uploaded again at the time (late, saying why),
        // within the same bound on fresh starts. Nothing was posted (`publish_started`).
        let now = self.clock.now_ms();
        let time_left = run.job.publish_at_ms.filter(|at| *at > now);
        if let Some(at) = time_left.filter(|_| {
            retryable && !run.job.publish_started && run.job.restarts < self.settings.max_restarts
        }) {
            tracing::warn!(code, %message, "the upload ahead failed; uploading again at the time");
            self.start_over(
                run,
                &format!("the upload ahead failed ({code}); again at the time"),
            );
            run.job.failed_ahead = Some(message.clone());
            run.job.error = Some(JobError {
                code: code.to_owned(),
                message,
                retryable,
                at_ms: now,
            });
            return Ok(Next::WakeAt { at_ms: at });
        }
        tracing::warn!(code, %message, "upload failed");
        let job = &mut run.job;
        job.phase = Phase::Failed;
        job.error = Some(JobError {
            code: code.to_owned(),
            message,
            retryable,
            at_ms: self.clock.now_ms(),
        });
        job.lease_owner = None;
        job.lease_until_ms = 0;
        self.checkpoint(job).await?;
        Ok(Next::Done)
    }

    /// The part of the engine that settles jobs without running them.
    pub fn settler(&self) -> Settler<'_> {
        Settler {
            jobs: self.jobs,
            posts: self.posts,
            queue: self.queue,
            clock: self.clock,
            settings: self.settings.clone(),
        }
    }

    // ------------------------------------------------------------------------------ plumbing

    /// Runs `call` within the time left before the deadline, less the margin kept for the final
    /// checkpoint and hand-off (DESIGN §3, "calls fit the deadline"): Lambda would kill an
    /// invocation whose call overran, so the engine gives the call up first. `None`: out of time.
    async fn within<T>(&self, deadline_ms: i64, call: impl Future<Output = T>) -> Option<T> {
        let left = deadline_ms - self.clock.now_ms() - self.settings.deadline_margin_ms;
        let left = Duration::from_millis(u64::try_from(left).ok().filter(|&ms| ms > 0)?);
        tokio::time::timeout(left, call).await.ok()
    }

    /// Time left for calls: until the deadline, less the margin.
    fn time_left(&self, deadline_ms: i64) -> Duration {
        let left = deadline_ms - self.clock.now_ms() - self.settings.deadline_margin_ms;
        Duration::from_millis(u64::try_from(left).unwrap_or(0))
    }

    /// A platform call within the deadline; a timeout is a transient failure like a 5xx. Any
    /// success gives back the one token refresh a 401 may cause (DESIGN §3's table).
    async fn platform_call<T>(
        &self,
        run: &mut Run,
        what: &str,
        call: impl Future<Output = Result<T, PlatformError>>,
    ) -> Result<T, PlatformError> {
        let result = self
            .within(run.deadline_ms, call)
            .await
            .unwrap_or_else(|| Err(out_of_time(what)));
        if result.is_ok() {
            run.refreshed_after_401 = false;
            // A lookup reads; it says nothing about the refused step (e.g. the post) working.
            if what != "find_post" {
                run.job.operator_blocked_since_ms = None;
            }
        }
        result
    }

    /// The access token for this run, fetched once (within the deadline: a refresh may wait on
    /// a sibling's refresh lease).
    async fn token(&self, run: &mut Run) -> Result<AccessToken, Result<Next, EngineError>> {
        if let Some(token) = &run.token {
            return Ok(token.clone());
        }
        let user = run.job.user_id.clone();
        let left = self.time_left(run.deadline_ms);
        let call = self
            .credentials_for(run.job.platform)
            .access_token_within(&user, left);
        match self
            .within(run.deadline_ms, call)
            .await
            .unwrap_or_else(|| Err(credentials_out_of_time()))
        {
            Ok(token) => {
                run.token = Some(token.clone());
                Ok(token)
            }
            Err(err) => Err(self.on_credential_error(run, err).await),
        }
    }

    /// Segment `index` (at `range`: offset, length) of the pinned video, within the deadline,
    /// checked to be exactly as long as its range (a short read is never appended).
    async fn read_segment(
        &self,
        source: &SourceObject,
        index: u32,
        (start, len): (u64, u64),
        deadline_ms: i64,
    ) -> Result<Bytes, BlobError> {
        let read = self.blobs.read_range(source.object_ref(), start, len);
        let bytes = self
            .within(deadline_ms, read)
            .await
            .unwrap_or_else(|| Err(BlobError::unavailable("no time left to read the video")))?;
        if bytes.len() as u64 != len {
            return Err(BlobError::unavailable(format!(
                "segment {index}: read {} bytes of {len}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    fn media_expired(&self, job: &UploadJob) -> bool {
        job.media_expires_at_ms
            .is_some_and(|at| self.clock.now_ms() >= at)
    }

    fn backoff_secs(&self, attempt: u32) -> u32 {
        let ceiling = self
            .settings
            .backoff_base_secs
            .saturating_mul(1 << attempt.min(16))
            .min(self.settings.backoff_cap_secs)
            .max(1);
        // Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
        rand::thread_rng().gen_range(1..=ceiling)
    }

    fn crash_point(&self, point: StepPoint) -> Result<(), EngineError> {
        if self.crashes.crash_at(point) {
            return Err(EngineError::Crashed(point));
        }
        Ok(())
    }

    async fn checkpoint(&self, job: &mut UploadJob) -> Result<(), EngineError> {
        checkpoint(self.jobs, self.clock, job).await
    }

    /// Ends this invocation's work on the job: a new step token, the lease released, the job
    /// saved, then the continuation sent. The checkpoint comes first so that a continuation can
    /// never arrive before the job expects it; a send lost after the checkpoint is repaired by
    /// `older_message` or the reconciler. Handing off on its own is progress, so the
    /// reconciler's count of re-drives starts again.
    /// Checkpoints the job under a new step token and sends its message, delayed by
    /// `delay_secs`. A wait longer than one queue delay is sent as its first link
    /// (`wait_until_ms` says when it ends; `advance` passes the links on).
    async fn hand_off(&self, job: &mut UploadJob, delay_secs: u32) -> Result<Outcome, EngineError> {
        let now = self.clock.now_ms();
        let link_secs = delay_secs.min(MAX_QUEUE_DELAY_SECS);
        job.wait_until_ms =
            (delay_secs > link_secs).then(|| now.saturating_add(i64::from(delay_secs) * 1000));
        job.previous_step_token = Some(std::mem::replace(&mut job.step_token, new_step_token()));
        job.step_due_at_ms = now + i64::from(link_secs) * 1000;
        job.wake_scheduled = false;
        job.lease_owner = None;
        job.lease_until_ms = 0;
        job.redrives = 0;
        self.checkpoint(job).await?;
        self.send(job, link_secs).await?;
        Ok(Outcome::HandedOff {
            phase: job.phase,
            delay_secs: link_secs,
        })
    }

    /// `hand_off` to a one-time schedule at `at_ms`. The checkpoint comes first, as in
    /// `hand_off`; if the schedule cannot be made the job waits through the queue instead
    /// (links of `MAX_QUEUE_DELAY_SECS`), and the reconciler re-drives it should both fail.
    async fn hand_off_until(
        &self,
        job: &mut UploadJob,
        at_ms: i64,
    ) -> Result<Outcome, EngineError> {
        let now = self.clock.now_ms();
        job.wait_until_ms = None;
        job.previous_step_token = Some(std::mem::replace(&mut job.step_token, new_step_token()));
        job.step_due_at_ms = at_ms;
        job.wake_scheduled = true;
        job.lease_owner = None;
        job.lease_until_ms = 0;
        job.redrives = 0;
        self.checkpoint(job).await?;
        let mut last = String::new();
        for _ in 0..3 {
            match self.wake_ups.wake_at(&job.message(), at_ms).await {
                Ok(()) => {
                    return Ok(Outcome::HandedOff {
                        phase: job.phase,
                        delay_secs: secs_until(now, at_ms),
                    })
                }
                Err(err) => last = err.detail,
            }
        }
        tracing::warn!(error = %last, "could not schedule the job; waiting through the queue");
        job.wake_scheduled = false;
        self.hand_off(job, secs_until(now, at_ms)).await
    }

    async fn send(&self, job: &UploadJob, delay_secs: u32) -> Result<(), EngineError> {
        let message = job.message();
        let mut last = String::new();
        for _ in 0..3 {
            match self
                .queue
                .send(&message, delay_secs.min(MAX_QUEUE_DELAY_SECS))
                .await
            {
                Ok(()) => return Ok(()),
                Err(err) => last = err.detail,
            }
        }
        Err(EngineError::Queue(last))
    }

    async fn update_post_status(&self, job: &UploadJob) {
        self.settler().sync_post_status(job).await;
    }
}

/// What `fail_for_dead_letter` did with a dead message's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterVerdict {
    /// The job was failed with its last reason.
    Failed,
    /// Another worker holds a live lease: left alone.
    Leased,
    /// The job moved on (another message owns it now) or changed under us.
    Stale,
    AlreadyFinal,
    NoSuchJob,
}

/// `now` plus a duration X gave in seconds, without overflow whatever X sent.
fn after_secs(now_ms: i64, secs: u64) -> i64 {
    now_ms.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000))
}

/// Whether a call to create the post was made since `publish_started` was set. Conservative:
/// when the times are not both known, any call at all counts, so a job never posts again
/// without looking first.
fn called_since_publishing_started(job: &UploadJob) -> bool {
    match (job.last_publish_call_at_ms, job.publish_started_at_ms) {
        (Some(call), Some(start)) => call >= start,
        (None, Some(_)) => false,
        _ => job.publish_calls > 0,
    }
}

/// Records why a post is created after its scheduled time, when it is (the first reason stays).
fn note_if_late(job: &mut UploadJob, now_ms: i64, settings: &ScheduleSettings, why: &str) {
    let Some(at) = job.publish_at_ms else { return };
    if now_ms > at.saturating_add(settings.late_after_ms) && job.late.is_none() {
        let late = format!(
            "published {} s after the scheduled {}: {why}",
            (now_ms - at) / 1000,
            rfc3339(at / 1000)
        );
        tracing::warn!(%late, "scheduled post is late");
        job.late = Some(late);
    }
}

/// Whole seconds from `now_ms` until `at_ms` (at least 1), for a delayed message.
fn secs_until(now_ms: i64, at_ms: i64) -> u32 {
    let ms = at_ms.saturating_sub(now_ms).max(1000);
    u32::try_from((ms + 999) / 1000).unwrap_or(u32::MAX)
}

fn out_of_time(what: &str) -> PlatformError {
    PlatformError {
        kind: FailureKind::Transient,
        code: "x_timeout".into(),
        message: format!(
            "{what} got no answer before this invocation's time ran out; a new invocation tries again"
        ),
    }
}

fn credentials_out_of_time() -> CredentialError {
    CredentialError::Unavailable {
        detail: "the account's token could not be had before this invocation's time ran out".into(),
    }
}

fn lookup_error(message: &str) -> PlatformError {
    PlatformError {
        kind: FailureKind::Transient,
        code: "post_not_visible".into(),
        message: message.into(),
    }
}

/// A post's status from its targets' phases.
pub fn overall_status(jobs: &[UploadJob]) -> PostStatus {
    if jobs.is_empty() {
        return PostStatus::AwaitingUpload;
    }
    if jobs.iter().any(|j| !j.phase.is_final()) {
        // Every unfinished target holds its media for the time, or waits to start uploading.
        let waiting = |j: &UploadJob| {
            j.phase == Phase::Ready || (j.phase == Phase::Queued && j.wake_scheduled)
        };
        if jobs.iter().filter(|j| !j.phase.is_final()).all(waiting) {
            PostStatus::Scheduled
        } else {
            PostStatus::Processing
        }
    } else if jobs.iter().all(|j| j.phase == Phase::Published) {
        PostStatus::Published
    } else if jobs.iter().all(|j| j.phase == Phase::Cancelled) {
        PostStatus::Cancelled
    } else if jobs.iter().any(|j| j.phase == Phase::Published)
        && jobs
            .iter()
            .any(|j| matches!(j.phase, Phase::Failed | Phase::Unconfirmed))
    {
        // Some platforms have the post, some do not: each target says why, and a retry
        // re-runs only the ones that did not publish.
        PostStatus::PartiallyPublished
    } else if jobs.iter().all(crate::fitter::refused_as_unusable) {
        PostStatus::Rejected
    } else if jobs.iter().any(|j| j.phase == Phase::Failed) {
        PostStatus::Failed
    } else {
        PostStatus::Unconfirmed
    }
}

// ------------------------------------------------------------------------------ settling jobs

/// The engine's rules for settling a job without running it: failing it when its message died
/// (process-upload on a message's last receive, the reconciler for the DLQ) and bringing its
/// post's status along. It needs no platform, video or credentials, so the reconciler's Lambda
/// holds none.
pub struct Settler<'a> {
    pub jobs: &'a dyn JobStore,
    pub posts: &'a dyn PostStore,
    pub queue: &'a dyn WorkQueue,
    pub clock: &'a dyn Clock,
    pub settings: EngineSettings,
}

impl Settler<'_> {
    /// Marks the job failed because its message reached (or is about to reach) the DLQ, with
    /// the last error the job saw as the reason. Without this the job would sit "processing" for
    /// ever. A job another worker holds a live lease on is left alone: that worker may be
    /// creating the post right now, and it hands the job off or finishes it itself.
    pub async fn fail_for_dead_letter(
        &self,
        message: &JobMessage,
        reason: &str,
    ) -> Result<DeadLetterVerdict, EngineError> {
        self.fail_dead_letter(message, reason, None).await
    }

    /// `fail_for_dead_letter` from the invocation that received the message for the last time:
    /// its own lease (taken for this very message) does not count as someone else's.
    pub async fn fail_on_last_receive(
        &self,
        message: &JobMessage,
        reason: &str,
        invocation: &Invocation,
    ) -> Result<DeadLetterVerdict, EngineError> {
        self.fail_dead_letter(message, reason, Some(&invocation.id))
            .await
    }

    async fn fail_dead_letter(
        &self,
        message: &JobMessage,
        reason: &str,
        holder: Option<&str>,
    ) -> Result<DeadLetterVerdict, EngineError> {
        let Some(mut job) = self
            .jobs
            .get_job(&message.user_id, &message.post_id, message.platform)
            .await?
        else {
            return Ok(DeadLetterVerdict::NoSuchJob);
        };
        if job.phase.is_final() {
            return Ok(DeadLetterVerdict::AlreadyFinal);
        }
        if job.step_token != message.step_token {
            return Ok(DeadLetterVerdict::Stale);
        }
        let now = self.clock.now_ms();
        let held_by_us = holder.is_some() && job.lease_owner.as_deref() == holder;
        if job.lease_until_ms > now && !held_by_us {
            return Ok(DeadLetterVerdict::Leased);
        }
        let last = job
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_else(|| reason.to_owned());
        // A job being fitted counts its own attempts (fit-video's queue has its own receive
        // count); every other job failed its queue's receives.
        let message = match job.fit.as_ref().filter(|_| job.needs_fitting()) {
            Some(fit) => format!(
                "Converting the video was interrupted {} times in a row (the function crashed or \
                 ran out of time) and was stopped. Last error: {last}",
                fit.attempts
            ),
            None => format!(
                "The upload was interrupted {} times in a row at the same step and was stopped. Last error: {last}",
                self.settings.max_receive_count
            ),
        };
        job.phase = Phase::Failed;
        job.error = Some(JobError {
            code: "gave_up".into(),
            message,
            retryable: true,
            at_ms: now,
        });
        job.record(now, "dead_letter", reason);
        job.lease_owner = None;
        job.lease_until_ms = 0;
        match checkpoint(self.jobs, self.clock, &mut job).await {
            Err(EngineError::Store(StoreError::Conflict)) => return Ok(DeadLetterVerdict::Stale),
            other => other?,
        }
        self.sync_post_status(&job).await;
        Ok(DeadLetterVerdict::Failed)
    }

    /// Brings the post's overall status in line with its jobs. Best effort: the jobs are the
    /// truth and the status API reads them too.
    pub async fn sync_post_status(&self, job: &UploadJob) {
        for _ in 0..3 {
            let Ok(Some((mut post, jobs))) =
                self.posts.post_with_jobs(&job.user_id, &job.post_id).await
            else {
                return;
            };
            let status = overall_status(&jobs);
            if post.status == status {
                return;
            }
            post.status = status;
            post.version += 1;
            post.updated_at_ms = self.clock.now_ms();
            match self.posts.save_post(&post).await {
                Err(StoreError::Conflict) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "could not update the post's status");
                    return;
                }
                Ok(()) => return,
            }
        }
    }
}

/// Saves the job if nobody changed it since it was read (version check); the version is put
/// back when the save fails.
async fn checkpoint(
    jobs: &dyn JobStore,
    clock: &dyn Clock,
    job: &mut UploadJob,
) -> Result<(), EngineError> {
    job.version += 1;
    job.updated_at_ms = clock.now_ms();
    if let Err(err) = jobs.save_job(job).await {
        job.version -= 1;
        return Err(err.into());
    }
    Ok(())
}
