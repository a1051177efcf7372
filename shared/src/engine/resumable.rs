//! The engine's steps for a platform with a resumable upload (YouTube; `Platform::protocol`).
//! X's steps are in `engine.rs`; both share the job, its lease, checkpoints, hand-offs, waits
//! and failure classes.
//!
//! ```text
//! Queued ──start a session──▶ Initialized ──chunks──▶ Appending ──last chunk──▶ Processing ──▶ Published
//!   ▲                            │  ▲                                              any step → Failed(reason)
//!   └── session gone (bounded) ──┘  └── a new invocation or any failure: ask the session first
//! ```
//!
//! The server, not the job, knows how many bytes it holds (`crate::resumable`): every invocation
//! and every failure asks the session before sending, and sends from what it says. So a crash
//! loses at most the chunk in flight, a shorter `Range` than was sent resumes from the server's
//! offset, and a session the platform forgot starts over (at most `max_restarts` times). The
//! video exists once its last byte is in: there is no separate post call to repeat, so "never
//! twice" is the session's own guarantee. A quota or upload-limit refusal is a rate-limit wait
//! (`on_platform_error`): a delayed continuation until the reset, whose time the job's error
//! shows the user.

use std::time::Instant;

use bytes::Bytes;

use super::{Engine, EngineError, Next, Run};
use crate::jobs::Phase;
use crate::ports::{
    AccessToken, BlobError, Credentials, FailureKind, NewUpload, PlatformError, ResumablePlatform,
    SessionState, StepPoint,
};
use crate::posts::Platform;
use crate::resumable::{chunk_size, NextCall, ResumableUpload};

/// A platform with a resumable upload, with the credentials of its accounts.
#[derive(Clone, Copy)]
pub struct ResumableTarget<'a> {
    pub platform: Platform,
    pub upload: &'a dyn ResumablePlatform,
    pub credentials: &'a dyn Credentials,
}

/// What stopped a run of chunks.
enum ChunkFailure {
    Platform(&'static str, PlatformError),
    Read(BlobError),
}

impl Engine<'_> {
    /// One step of a resumable platform's job.
    pub(super) async fn resumable_step(&self, run: &mut Run) -> Result<Next, EngineError> {
        let platform = run.job.platform;
        let Some(target) = self.resumable_target(platform) else {
            let message = format!(
                "{} is not enabled on this Reelay: its operator has not configured it",
                platform.display_name()
            );
            return self.fail(run, "platform_not_enabled", message, true).await;
        };
        // The video is public once processed, with no separate post call to hold back: a
        // scheduled post's upload to this platform starts at its time.
        let now = self.clock.now_ms();
        if run.job.phase == Phase::Queued && run.job.resumable.is_none() {
            if let Some(at) = run.job.publish_at_ms.filter(|at| *at > now + 1_000) {
                run.job
                    .record(now, "schedule", "the upload starts at the post's time");
                return Ok(Next::WakeAt { at_ms: at });
            }
        }
        let token = match self.token(run).await {
            Ok(token) => token,
            Err(next) => return next,
        };
        match run.job.phase {
            Phase::Queued | Phase::Initialized | Phase::Appending => {
                self.upload_chunks(run, target, &token).await
            }
            Phase::Finalized | Phase::Processing => {
                self.check_video_processing(run, target, &token).await
            }
            _ => Ok(Next::Done),
        }
    }

    fn resumable_target(&self, platform: Platform) -> Option<ResumableTarget<'_>> {
        self.resumable
            .iter()
            .find(|target| target.platform == platform)
            .copied()
    }

    /// The credentials of `platform`'s accounts: X's, or a resumable platform's.
    pub(super) fn credentials_for(&self, platform: Platform) -> &dyn Credentials {
        self.resumable_target(platform)
            .map_or(self.credentials, |target| target.credentials)
    }

    /// Starts or resumes the session and sends chunks while the deadline allows, each read
    /// from S3 while the one before it is sent, each checkpointed with the offset the server
    /// confirmed.
    async fn upload_chunks(
        &self,
        run: &mut Run,
        target: ResumableTarget<'_>,
        token: &AccessToken,
    ) -> Result<Next, EngineError> {
        let total = run.job.source.size_bytes;
        let chunk = chunk_size(run.job.segment_size, target.upload.chunk_multiple());
        let mut upload = ResumableUpload::resume(run.job.resumable.clone().unwrap_or_default());
        // A chunk read ahead while the one before it was sent: (its offset, its bytes).
        let mut read_ahead: Option<(u64, Bytes)> = None;
        let mut calls = 0u32;
        let failure = loop {
            // The step's first call may always start (`time_for_another_step` judged it).
            if calls > 0 && !self.time_for_a_segment(run) {
                // Out of time: the next invocation asks the session and sends the rest.
                return Ok(Next::Wait { delay_secs: 0 });
            }
            calls += 1;
            match upload.next_call(total, chunk) {
                NextCall::StartSession => {
                    let started = upload.progress().sessions_started;
                    if started > self.settings.max_restarts {
                        let message = format!(
                            "{} lost the upload session {started} times; gave up",
                            run.job.platform.display_name()
                        );
                        return self.fail(run, "media_lost", message, true).await;
                    }
                    let (text, options) = (run.job.text.clone(), run.job.options.clone());
                    let media_type = run.job.source.media_type.clone();
                    let new = NewUpload {
                        total_bytes: total,
                        media_type: &media_type,
                        text: &text,
                        options: &options,
                    };
                    let call = target.upload.start_session(token, &new);
                    let session = match self.platform_call(run, "start session", call).await {
                        Ok(session) => session,
                        Err(err) => break ChunkFailure::Platform("start session", err),
                    };
                    self.crash_point(StepPoint::AfterInitialize)?;
                    let Ok(url) = url::Url::parse(&session) else {
                        break ChunkFailure::Platform(
                            "start session",
                            protocol_error("the session URI is not a URL"),
                        );
                    };
                    upload.started(&url);
                    let job = &mut run.job;
                    job.record(self.clock.now_ms(), "start session", "ok");
                    job.phase = Phase::Initialized;
                    job.bytes_sent = 0;
                    job.attempts = 0;
                    job.resumable = Some(upload.progress().clone());
                    self.checkpoint(job).await?;
                }
                NextCall::AskSession { session } => {
                    let call = target.upload.ask_session(session.as_str(), total);
                    let state = match self.platform_call(run, "ask session", call).await {
                        Ok(state) => state,
                        Err(err) => break ChunkFailure::Platform("ask session", err),
                    };
                    let held = describe(&state);
                    upload.answered(state);
                    self.record_progress(run, &upload, "ask session", held)
                        .await?;
                }
                NextCall::SendChunk { len: 0, .. } => {
                    // The server holds every byte yet has not completed the upload. Not
                    // documented of YouTube; asking again is safe, and bounded by the attempts.
                    upload.failed(false);
                    break ChunkFailure::Platform(
                        "send chunk",
                        protocol_error("the session holds every byte but did not complete"),
                    );
                }
                NextCall::SendChunk {
                    session,
                    start,
                    len,
                } => {
                    let bytes = match read_ahead.take() {
                        Some((at, bytes)) if at == start && bytes.len() as u64 == len => bytes,
                        _ => match self.read_chunk(run, start, len).await {
                            Ok(bytes) => bytes,
                            Err(err) => break ChunkFailure::Read(err),
                        },
                    };
                    let next_start = start + len;
                    let next_len = chunk.min(total.saturating_sub(next_start));
                    if next_start == total && !upload.progress().last_chunk_sent {
                        // From this send until an answer, the video may exist: saved first, so
                        // that no later invocation starts a second video over a lost answer.
                        upload.sending_last_chunk();
                        run.job.resumable = Some(upload.progress().clone());
                        self.checkpoint(&mut run.job).await?;
                    }
                    let started = Instant::now();
                    let send = target
                        .upload
                        .send_chunk(session.as_str(), start, bytes, total);
                    // Read the next chunk while this one is sent (one ahead, so at most two
                    // chunks in memory); used only if the server confirms this one whole.
                    let read = (next_len > 0).then(|| self.read_chunk(run, next_start, next_len));
                    let sent = self.platform_call(run, "send chunk", send);
                    let (sent, next) = if let Some(read) = read {
                        let (sent, next) = futures::join!(sent, read);
                        (sent, next.ok().map(|bytes| (next_start, bytes)))
                    } else {
                        (sent.await, None)
                    };
                    read_ahead = next;
                    let state = match sent {
                        Ok(state) => state,
                        Err(err) => break ChunkFailure::Platform("send chunk", err),
                    };
                    self.crash_point(StepPoint::AfterAppend)?;
                    run.segment_estimate_ms = run
                        .segment_estimate_ms
                        .max(started.elapsed().as_millis() as i64);
                    let held = describe(&state);
                    upload.answered(state);
                    self.record_progress(run, &upload, &format!("chunk at {start}"), held)
                        .await?;
                }
                NextCall::Uploaded { video_id } => {
                    let now = self.clock.now_ms();
                    let job = &mut run.job;
                    job.media_id = Some(video_id);
                    job.bytes_sent = total;
                    job.phase = Phase::Processing;
                    job.processing_deadline_ms =
                        Some(now.saturating_add(self.settings.processing_timeout_ms));
                    job.attempts = 0;
                    self.checkpoint(job).await?;
                    return Ok(Next::Continue);
                }
            }
        };
        match failure {
            ChunkFailure::Read(err) => {
                // Nothing was sent; the session is as the job last saw it.
                upload.failed(false);
                run.job.resumable = Some(upload.progress().clone());
                self.on_read_error(run, err).await
            }
            ChunkFailure::Platform(step, err) => {
                let gone = err.kind == FailureKind::MediaGone;
                if gone && upload.may_be_complete() {
                    return self.unconfirmed_video(run, &upload, step, err).await;
                }
                upload.failed(gone);
                run.job.resumable = Some(upload.progress().clone());
                if gone {
                    // Only a new session can help; `StartSession` bounds how many.
                    let now = self.clock.now_ms();
                    run.job
                        .record(now, step, format!("{}: {}", err.code, err.message));
                    run.job.phase = Phase::Queued;
                    run.job.bytes_sent = 0;
                    run.job.restarts += 1;
                    self.checkpoint(&mut run.job).await?;
                    return Ok(Next::Continue);
                }
                self.on_platform_error(run, step, err).await
            }
        }
    }

    /// The session is gone after its last chunk was sent and never answered for: the video may
    /// exist, and only a new session could tell, by making a second one. The job stops
    /// `Unconfirmed` instead, saying what to check; a retry starts over.
    async fn unconfirmed_video(
        &self,
        run: &mut Run,
        upload: &ResumableUpload,
        step: &str,
        err: PlatformError,
    ) -> Result<Next, EngineError> {
        let now = self.clock.now_ms();
        let name = run.job.platform.display_name();
        tracing::warn!(code = %err.code, "the session is gone after its last chunk; the video may exist");
        let job = &mut run.job;
        job.record(now, step, format!("{}: {}", err.code, err.message));
        job.resumable = Some(upload.progress().clone());
        let message = format!(
            "{name} may have the video: its last part was sent but the answer was lost, and \
             {name} has since forgotten the upload session. Check your channel; retry only if \
             the video is not there (a retry uploads it again)."
        );
        self.end_unconfirmed(run, "upload_unconfirmed", message)
            .await
    }

    /// Saves what the server said it holds (`held`, for the history).
    async fn record_progress(
        &self,
        run: &mut Run,
        upload: &ResumableUpload,
        step: &str,
        held: String,
    ) -> Result<(), EngineError> {
        let job = &mut run.job;
        let progress = upload.progress().clone();
        job.bytes_sent = progress.confirmed_bytes;
        job.phase = Phase::Appending;
        job.attempts = 0;
        job.record(self.clock.now_ms(), step, held);
        tracing::info!(
            bytes_held = progress.confirmed_bytes,
            total = job.source.size_bytes,
            "the session answered"
        );
        job.resumable = Some(progress);
        self.checkpoint(job).await
    }

    /// The chunk at `start` of the pinned video, checked to be whole (`read_segment`).
    fn read_chunk<'s>(
        &'s self,
        run: &Run,
        start: u64,
        len: u64,
    ) -> impl std::future::Future<Output = Result<Bytes, BlobError>> + 's {
        let source = run.job.source.clone();
        let deadline_ms = run.deadline_ms;
        // The chunk's index only names it in errors.
        let index = u32::try_from(start / len.max(1)).unwrap_or(u32::MAX);
        async move {
            self.read_segment(&source, index, (start, len), deadline_ms)
                .await
        }
    }

    /// Polls the platform's processing of the uploaded video until it is published or refused,
    /// within the processing timeout.
    async fn check_video_processing(
        &self,
        run: &mut Run,
        target: ResumableTarget<'_>,
        token: &AccessToken,
    ) -> Result<Next, EngineError> {
        let name = run.job.platform.display_name();
        let now = self.clock.now_ms();
        if now > run.job.processing_deadline_ms.unwrap_or(i64::MAX) {
            let minutes = self.settings.processing_timeout_ms / 60_000;
            let message =
                format!("{name} did not finish processing the video within {minutes} minutes");
            return self.fail(run, "processing_timeout", message, true).await;
        }
        let video_id = run.job.media_id.clone().unwrap_or_default();
        let call = target.upload.processing(token, &video_id);
        let processing = match self.platform_call(run, "status", call).await {
            Ok(processing) => processing,
            Err(err) => return self.on_platform_error(run, "status", err).await,
        };
        self.crash_point(StepPoint::AfterStatus)?;
        let job = &mut run.job;
        job.attempts = 0;
        job.processing_percent = processing.progress_percent.or(job.processing_percent);
        if let Some(reason) = processing.error {
            job.record(now, "status", format!("failed: {reason}"));
            return self
                .fail(run, "media_processing_failed", reason, false)
                .await;
        }
        use crate::ports::ProcessingState as State;
        match processing.state {
            State::Succeeded => {
                job.processing_percent = Some(100);
                job.record(now, "status", "processed");
                let url = target.upload.video_url(&video_id);
                self.published(run, crate::ports::PublishedPost { id: video_id, url })
                    .await
            }
            State::Failed => {
                job.record(now, "status", "failed");
                let message = format!("{name} could not process the video");
                self.fail(run, "media_processing_failed", message, false)
                    .await
            }
            State::Pending | State::InProgress => {
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
        }
    }
}

/// An answer Reelay cannot use, as a transient failure (asking the session again is safe).
fn protocol_error(what: &str) -> PlatformError {
    PlatformError {
        kind: FailureKind::Transient,
        code: "resumable_protocol".into(),
        message: what.to_owned(),
    }
}

fn describe(state: &SessionState) -> String {
    match state {
        SessionState::Holding { bytes_held } => format!("ok: {bytes_held} bytes held"),
        SessionState::Complete { .. } => "ok: upload complete".into(),
    }
}
