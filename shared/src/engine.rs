//! The upload state machine: how one work message advances one upload job.
//!
//! ```text
//! Queued → Initialized → Appending(next_segment) → Finalized → Processing → Publishing → Published
//!    ↑_____________ media lost or expired (bounded restarts) ____|              any phase → Failed(reason)
//! ```
//!
//! Read top to bottom: `advance` checks the message against the job (stale and duplicate messages
//! are dropped), takes the job's lease, then runs steps while the Lambda deadline allows. Every
//! platform call is followed by a checkpoint (a version-checked write), so a crash loses at most
//! the step in flight. Waiting — for the platform's processing, a rate-limit reset or a backoff —
//! is never a sleep: the job hands off to a new message delayed by the wait (`hand_off`).
//! Failure classes follow DESIGN §3's table (`on_platform_error`).

use std::time::Instant;

use bytes::Bytes;
use rand::Rng;
use thiserror::Error;

use crate::clock::Clock;
use crate::jobs::{JobError, Phase, UploadJob};
use crate::messages::{new_step_token, JobMessage};
use crate::ports::{
    AccessToken, BlobReader, CrashSwitch, CredentialError, Credentials, FailureKind, MediaPlatform,
    PlatformError, Processing, ProcessingState, StepPoint, WorkQueue,
};
use crate::posts::PostStatus;
use crate::store::{JobStore, PostStore, StoreError};

/// Tunables, with production defaults.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Time kept free before the deadline for the final checkpoint and hand-off.
    pub deadline_margin_ms: i64,
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
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            deadline_margin_ms: 3_000,
            initial_segment_estimate_ms: 3_000,
            max_attempts: 6,
            max_restarts: 3,
            processing_timeout_ms: 30 * 60 * 1000,
            backoff_base_secs: 2,
            backoff_cap_secs: 120,
            lost_continuation_grace_ms: 2 * 60 * 1000,
            max_receive_count: crate::resources::queue::MAX_RECEIVE_COUNT,
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
    pub platform: &'a dyn MediaPlatform,
    pub credentials: &'a dyn Credentials,
    pub clock: &'a dyn Clock,
    pub crashes: &'a dyn CrashSwitch,
    pub settings: EngineSettings,
}

/// What one step decided.
enum Next {
    /// Checkpointed; take the next step if time allows.
    Continue,
    /// Hand the job to a new message after `delay_secs`.
    Wait { delay_secs: u32 },
    /// The job reached a final phase (already saved).
    Done,
}

/// State of one invocation's run over a job.
struct Run {
    job: UploadJob,
    token: Option<AccessToken>,
    refreshed_after_401: bool,
    /// Longest segment so far in this invocation, to decide whether another one fits.
    segment_estimate_ms: i64,
    /// The next segment, read while the previous one was being sent.
    prefetched: Option<(u32, Bytes)>,
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
            token: None,
            refreshed_after_401: false,
            segment_estimate_ms: self.settings.initial_segment_estimate_ms,
            prefetched: None,
            steps_taken: 0,
        };
        loop {
            if !self.time_for_another_step(&run, invocation) {
                return self.hand_off(&mut run.job, 0).await;
            }
            run.steps_taken += 1;
            let next = match self.step(&mut run, invocation).await {
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
                Next::Done => {
                    self.update_post_status(&run.job).await;
                    return Ok(Outcome::Finished(run.job.phase));
                }
            }
        }
    }

    /// A message whose token is not the job's. Usually a duplicate or an old message: drop it.
    /// But if it is the message *before* the current step and the current step's message is long
    /// overdue, that message may have been lost between our checkpoint and our send: re-send it.
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
        if now >= job.step_due_at_ms + self.settings.lost_continuation_grace_ms && !leased_by_other
        {
            tracing::warn!("continuation overdue; re-sending it");
            self.send(job, 0).await?;
            return Ok(Outcome::Dropped("re-sent an overdue continuation"));
        }
        // Keep it around a while in case the continuation was lost, but never let it reach the
        // DLQ (which would mark the job failed).
        if invocation.receive_count + 1 < self.settings.max_receive_count {
            Ok(Outcome::Retry(
                "waiting to see whether the continuation arrives",
            ))
        } else {
            Ok(Outcome::Dropped(
                "previous message, continuation presumed alive",
            ))
        }
    }

    /// Whether the next step fits before the deadline. Segment appends are the long steps; other
    /// steps are one short call. The first step of an invocation only needs the margin, so that
    /// every invocation makes progress even when a segment takes longer than the estimate.
    fn time_for_another_step(&self, run: &Run, invocation: &Invocation) -> bool {
        let remaining = invocation.deadline_ms - self.clock.now_ms();
        let needed = match run.job.phase {
            _ if run.steps_taken == 0 => 0,
            Phase::Queued | Phase::Initialized | Phase::Appending => run.segment_estimate_ms,
            _ => run
                .segment_estimate_ms
                .min(self.settings.initial_segment_estimate_ms),
        };
        remaining > needed + self.settings.deadline_margin_ms
    }

    /// One step of the state machine.
    async fn step(&self, run: &mut Run, invocation: &Invocation) -> Result<Next, EngineError> {
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
                if run.job.next_segment < run.job.total_segments() {
                    self.append(run, &token, invocation).await
                } else {
                    self.finalize(run, &token).await
                }
            }
            Phase::Finalized | Phase::Processing => self.check_processing(run, &token).await,
            Phase::Publishing => self.publish(run, &token).await,
            Phase::Published | Phase::Failed | Phase::Unconfirmed => Ok(Next::Done),
        }
    }

    // ------------------------------------------------------------------------------ the steps

    async fn initialize(&self, run: &mut Run, token: &AccessToken) -> Result<Next, EngineError> {
        let job = &run.job;
        let result = self
            .platform
            .initialize(
                token,
                job.source.size_bytes,
                &job.source.media_type,
                &job.source.media_category,
            )
            .await;
        let session = match result {
            Ok(session) => session,
            Err(err) => return self.on_platform_error(run, "initialize", err).await,
        };
        self.crash_point(StepPoint::AfterInitialize)?;
        let now = self.clock.now_ms();
        let job = &mut run.job;
        job.record(now, "initialize", format!("ok: media {}", session.media_id));
        job.media_expires_at_ms = session.expires_after_secs.map(|s| now + (s as i64) * 1000);
        job.media_id = Some(session.media_id);
        job.media_key = session.media_key;
        job.next_segment = 0;
        job.bytes_sent = 0;
        job.phase = Phase::Initialized;
        job.attempts = 0;
        self.checkpoint(job).await?;
        Ok(Next::Continue)
    }

    async fn append(
        &self,
        run: &mut Run,
        token: &AccessToken,
        invocation: &Invocation,
    ) -> Result<Next, EngineError> {
        let index = run.job.next_segment;
        let media_id = run.job.media_id.clone().unwrap_or_default();
        let started = Instant::now();
        let segment = match run.prefetched.take() {
            Some((i, bytes)) if i == index => bytes,
            _ => match self.read_segment(&run.job, index).await {
                Ok(bytes) => bytes,
                Err(err) => return self.on_platform_error(run, "read video", err).await,
            },
        };
        let length = segment.len() as u64;
        // Read the next segment from S3 while this one goes to the platform, if it will be needed
        // in this invocation. Memory stays at about two segments.
        let next_index = index + 1;
        let prefetch = next_index < run.job.total_segments()
            && invocation.deadline_ms - self.clock.now_ms()
                > 2 * run.segment_estimate_ms + self.settings.deadline_margin_ms;
        let (sent, next) = if prefetch {
            let (sent, next) = tokio::join!(
                self.platform.append(token, &media_id, index, segment),
                self.read_segment(&run.job, next_index)
            );
            (sent, next.ok())
        } else {
            (
                self.platform.append(token, &media_id, index, segment).await,
                None,
            )
        };
        if let Err(err) = sent {
            return self
                .on_platform_error(run, &format!("append {index}"), err)
                .await;
        }
        self.crash_point(StepPoint::AfterAppend)?;
        run.prefetched = next.map(|bytes| (next_index, bytes));
        run.segment_estimate_ms = run
            .segment_estimate_ms
            .max(started.elapsed().as_millis() as i64);
        let job = &mut run.job;
        job.next_segment = next_index;
        job.bytes_sent += length;
        job.phase = Phase::Appending;
        job.attempts = 0;
        tracing::info!(
            segment = index,
            bytes_sent = job.bytes_sent,
            total = job.source.size_bytes,
            "segment sent"
        );
        self.checkpoint(job).await?;
        Ok(Next::Continue)
    }

    async fn finalize(&self, run: &mut Run, token: &AccessToken) -> Result<Next, EngineError> {
        let media_id = run.job.media_id.clone().unwrap_or_default();
        let processing = match self.platform.finalize(token, &media_id).await {
            Ok(processing) => processing,
            // A crash after a successful FINALIZE leaves the job at "all segments sent"; X then
            // refuses a second FINALIZE. If STATUS knows the media, the first one went through.
            Err(err) if err.kind == FailureKind::Rejected => {
                match self.platform.status(token, &media_id).await {
                    Ok(processing) => processing,
                    Err(_) => return self.on_platform_error(run, "finalize", err).await,
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
        let processing = match self.platform.status(token, &media_id).await {
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
                job.phase = Phase::Publishing;
                job.record(now, "status", "succeeded");
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

    /// Creates the post exactly once. `publish_started` is saved before the call; a job that
    /// resumes with it set first looks for its post on the platform and records that instead.
    async fn publish(&self, run: &mut Run, token: &AccessToken) -> Result<Next, EngineError> {
        let media_key = run
            .job
            .media_key
            .clone()
            .or_else(|| run.job.media_id.clone())
            .unwrap_or_default();
        if run.job.publish_started {
            match self.platform.find_published(token, &media_key).await {
                Ok(Some(post)) => {
                    run.job.record(
                        self.clock.now_ms(),
                        "find_post",
                        format!("found {}", post.id),
                    );
                    return self.published(run, post).await;
                }
                Ok(None) => {}
                Err(err) => return self.on_platform_error(run, "find_post", err).await,
            }
        } else {
            run.job.publish_started = true;
            self.checkpoint(&mut run.job).await?;
        }
        let media_id = run.job.media_id.clone().unwrap_or_default();
        let post = match self.platform.publish(token, &run.job.text, &media_id).await {
            Ok(post) => post,
            Err(err) => return self.on_platform_error(run, "post", err).await,
        };
        self.crash_point(StepPoint::AfterPublish)?;
        run.job
            .record(self.clock.now_ms(), "post", format!("ok: {}", post.id));
        self.published(run, post).await
    }

    async fn published(
        &self,
        run: &mut Run,
        post: crate::ports::PublishedPost,
    ) -> Result<Next, EngineError> {
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

    // ------------------------------------------------------------------------------ failures

    /// DESIGN §3's failure classes.
    async fn on_platform_error(
        &self,
        run: &mut Run,
        step: &str,
        err: PlatformError,
    ) -> Result<Next, EngineError> {
        let now = self.clock.now_ms();
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
                // Not an attempt: the platform asked us to wait, and says until when.
                let wait_ms = retry_at_ms.map(|at| at - now).unwrap_or(60_000);
                let delay = (wait_ms.max(0) / 1000 + 1).clamp(1, 900) as u32;
                Ok(Next::Wait { delay_secs: delay })
            }
            FailureKind::Transient => {
                run.job.attempts += 1;
                if run.job.attempts >= self.settings.max_attempts {
                    let message = format!(
                        "X kept failing at {step} after {} attempts: {}",
                        run.job.attempts, err.message
                    );
                    return self.fail(run, "platform_unavailable", message, true).await;
                }
                Ok(Next::Wait {
                    delay_secs: self.backoff_secs(run.job.attempts),
                })
            }
            FailureKind::Unauthorized if !run.refreshed_after_401 => {
                run.refreshed_after_401 = true;
                let rejected = run.token.take();
                let refreshed = match rejected {
                    Some(rejected) => {
                        self.credentials
                            .refresh_after_unauthorized(&run.job.user_id, &rejected)
                            .await
                    }
                    None => self.credentials.access_token(&run.job.user_id).await,
                };
                match refreshed {
                    Ok(token) => {
                        run.token = Some(token);
                        Ok(Next::Continue)
                    }
                    Err(err) => self.on_credential_error(run, err).await,
                }
            }
            FailureKind::Unauthorized => {
                let message = format!(
                    "X refused the account's token even after a refresh: {}. Reconnect X.",
                    err.message
                );
                self.fail(run, "reconnect_required", message, false).await
            }
            FailureKind::MissingPermission => {
                let reason = format!(
                    "X refused the upload: {}. Reconnect X and grant the media.write permission, then retry the post.",
                    err.message
                );
                if let Err(e) = self
                    .credentials
                    .flag_reconnect(&run.job.user_id, &reason)
                    .await
                {
                    tracing::warn!(error = %e, "could not flag the account for reconnection");
                }
                self.fail(run, "reconnect_required", reason, true).await
            }
            FailureKind::Duplicate => {
                let message = format!("X refused the post as a duplicate: {}", err.message);
                self.fail(run, "duplicate_post", message, false).await
            }
            FailureKind::Rejected => match run.job.phase {
                // On a media id X no longer knows (expired, or lost on X's side), start over.
                Phase::Initialized | Phase::Appending | Phase::Finalized | Phase::Processing => {
                    self.restart(
                        run,
                        &format!("X no longer accepts the media: {}", err.message),
                    )
                    .await
                }
                Phase::Publishing => {
                    self.fail(
                        run,
                        "post_rejected",
                        format!("X refused the post: {}", err.message),
                        false,
                    )
                    .await
                }
                _ => {
                    self.fail(
                        run,
                        "media_rejected",
                        format!("X refused the video: {}", err.message),
                        false,
                    )
                    .await
                }
            },
        }
    }

    async fn on_credential_error(
        &self,
        run: &mut Run,
        err: CredentialError,
    ) -> Result<Next, EngineError> {
        match err {
            CredentialError::NotConnected => {
                self.fail(
                    run,
                    "not_connected",
                    "The X account is not connected. Connect X, then retry the post.".into(),
                    true,
                )
                .await
            }
            CredentialError::NeedsReconnect { reason } => {
                self.fail(
                    run,
                    "reconnect_required",
                    format!("Reconnect X, then retry the post: {reason}"),
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
        let job = &mut run.job;
        job.restarts += 1;
        job.record(self.clock.now_ms(), "restart", why);
        job.phase = Phase::Queued;
        job.media_id = None;
        job.media_key = None;
        job.media_expires_at_ms = None;
        job.next_segment = 0;
        job.bytes_sent = 0;
        job.processing_percent = None;
        job.processing_deadline_ms = None;
        job.attempts = 0;
        run.prefetched = None;
        self.checkpoint(job).await?;
        Ok(Next::Continue)
    }

    async fn fail(
        &self,
        run: &mut Run,
        code: &str,
        message: String,
        retryable: bool,
    ) -> Result<Next, EngineError> {
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

    /// Marks the job failed because its message is about to reach the DLQ: the last receive
    /// failed too. Without this the job would sit "processing" for ever.
    pub async fn fail_for_dead_letter(
        &self,
        message: &JobMessage,
        reason: &str,
    ) -> Result<(), EngineError> {
        let Some(mut job) = self
            .jobs
            .get_job(&message.user_id, &message.post_id, message.platform)
            .await?
        else {
            return Ok(());
        };
        if job.phase.is_final() || job.step_token != message.step_token {
            return Ok(());
        }
        job.phase = Phase::Failed;
        job.error = Some(JobError {
            code: "gave_up".into(),
            message: format!(
                "The upload failed {} times in a row and was stopped: {reason}",
                self.settings.max_receive_count
            ),
            retryable: true,
            at_ms: self.clock.now_ms(),
        });
        job.lease_owner = None;
        job.lease_until_ms = 0;
        self.checkpoint(&mut job).await?;
        self.update_post_status(&job).await;
        Ok(())
    }

    // ------------------------------------------------------------------------------ plumbing

    /// The access token for this run, fetched once.
    async fn token(&self, run: &mut Run) -> Result<AccessToken, Result<Next, EngineError>> {
        if let Some(token) = &run.token {
            return Ok(token.clone());
        }
        match self.credentials.access_token(&run.job.user_id).await {
            Ok(token) => {
                run.token = Some(token.clone());
                Ok(token)
            }
            Err(err) => Err(self.on_credential_error(run, err).await),
        }
    }

    async fn read_segment(&self, job: &UploadJob, index: u32) -> Result<Bytes, PlatformError> {
        let (start, len) = job.segment_range(index);
        self.blobs
            .read_range(&job.source.bucket, &job.source.key, start, len)
            .await
            .map_err(|e| PlatformError {
                kind: FailureKind::Transient,
                code: "storage_unavailable".into(),
                message: e.detail,
            })
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

    /// Saves the job if nobody changed it since we read it (version check).
    async fn checkpoint(&self, job: &mut UploadJob) -> Result<(), EngineError> {
        job.version += 1;
        job.updated_at_ms = self.clock.now_ms();
        if let Err(err) = self.jobs.save_job(job).await {
            job.version -= 1;
            return Err(err.into());
        }
        Ok(())
    }

    /// Ends this invocation's work on the job: a new step token, the lease released, the job
    /// saved, then the continuation sent. The checkpoint comes first so that a continuation can
    /// never arrive before the job expects it; a send lost after the checkpoint is repaired by
    /// `older_message`.
    async fn hand_off(&self, job: &mut UploadJob, delay_secs: u32) -> Result<Outcome, EngineError> {
        job.previous_step_token = Some(std::mem::replace(&mut job.step_token, new_step_token()));
        job.step_due_at_ms = self.clock.now_ms() + i64::from(delay_secs) * 1000;
        job.lease_owner = None;
        job.lease_until_ms = 0;
        self.checkpoint(job).await?;
        self.send(job, delay_secs).await?;
        Ok(Outcome::HandedOff {
            phase: job.phase,
            delay_secs,
        })
    }

    async fn send(&self, job: &UploadJob, delay_secs: u32) -> Result<(), EngineError> {
        let message = job.message();
        let mut last = String::new();
        for _ in 0..3 {
            match self.queue.send(&message, delay_secs.min(900)).await {
                Ok(()) => return Ok(()),
                Err(err) => last = err.detail,
            }
        }
        Err(EngineError::Queue(last))
    }

    /// Brings the post's overall status in line with its jobs. Best effort: the jobs are the
    /// truth and the status API reads them too.
    async fn update_post_status(&self, job: &UploadJob) {
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

/// A post's status from its targets' phases.
pub fn overall_status(jobs: &[UploadJob]) -> PostStatus {
    if jobs.is_empty() {
        return PostStatus::AwaitingUpload;
    }
    if jobs.iter().any(|j| !j.phase.is_final()) {
        PostStatus::Processing
    } else if jobs.iter().all(|j| j.phase == Phase::Published) {
        PostStatus::Published
    } else {
        PostStatus::Failed
    }
}
