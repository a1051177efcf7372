//! The fit step: a job whose video X would refuse as it is (HEVC, 4K, 10-bit or HDR, over
//! 60 fps, WebM, …) is converted to what X accepts before the engine uploads it (issue 14). The
//! domain of the fit-video function, which only turns SQS's event into `JobMessage`s and calls
//! `Fitter::fit`.
//!
//! ```text
//! Fitting ── download ─ probe ─ plan ─ estimate ─ convert (percent checkpointed) ─ check ─ store ──→ Queued
//!    │                    └───── unusable, or too slow for one invocation ─────→ Failed(video_unusable): post rejected
//!    └── ffmpeg failed, ran out of time, or interrupted `max_attempts` times ───→ Failed(retryable)
//! ```
//!
//! Read top to bottom: `fit` checks the message against the job as the engine does (only the
//! current step token counts; a live lease elsewhere sends the message back), takes the lease and
//! counts the attempt in one version-checked write, then works on local files. Every outcome is
//! recorded on the job before the message is acknowledged, and every failure that is not recorded
//! (a crash, Lambda's timeout, an S3 error) leaves the message to come back: SQS redelivers it,
//! the attempt is counted again, and after `max_attempts` (or the queue's maxReceiveCount, when the
//! reconciler fails the job from the DLQ) the job fails with a reason. A conversion is never
//! started that the estimate says cannot finish before the deadline; one that still runs out of
//! time is stopped (ffmpeg is killed) and the job fails, retryable, saying so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;
use video_preflight::{FileReader, Limits, PreflightError};

use crate::clock::Clock;
use crate::engine::{overall_status, Invocation};
use crate::fit::{plan, FitOptions, FitPlan, Probe, Unusable};
use crate::jobs::{segment_size_for, JobError, Phase, SourceObject, UploadJob};
use crate::messages::{new_step_token, JobMessage};
use crate::ports::{BlobError, BlobErrorKind, ObjectRef, QueueError, WorkQueue};
use crate::posts::{PostStatus, VideoInfo};
use crate::resources::bucket::FITTED_PREFIX;
use crate::store::{JobStore, PostStore, StoreError};

/// The error code of a job whose video no conversion can save: its post is `rejected`.
pub const UNUSABLE: &str = "video_unusable";

/// Whether `job` ended because its video is unusable (the post reads `rejected`, not `failed`).
pub fn refused_as_unusable(job: &UploadJob) -> bool {
    job.phase == Phase::Failed && job.error.as_ref().is_some_and(|e| e.code == UNUSABLE)
}

// ---------------------------------------------------------------- ports

/// A stored file: what a later read pins to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub size_bytes: u64,
}

/// The video files fit-video reads and writes (S3).
#[async_trait]
pub trait VideoFiles: Send + Sync {
    /// Copies the object, as pinned, into `to`.
    async fn download(&self, object: ObjectRef<'_>, to: &Path) -> Result<u64, BlobError>;
    /// Stores the file at `to` under `key` in `bucket`.
    async fn upload(
        &self,
        bucket: &str,
        key: &str,
        from: &Path,
        content_type: &str,
    ) -> Result<StoredFile, BlobError>;
}

#[derive(Debug, Error)]
pub enum TranscodeError {
    /// The file is not a video the converter can read: permanent.
    #[error("{0}")]
    Unreadable(String),
    /// The conversion failed (the converter's own words): permanent for this file.
    #[error("{0}")]
    Failed(String),
    /// The converter could not be run at all (missing binary, no disk): an operator problem.
    #[error("{0}")]
    Unavailable(String),
}

/// Converts videos (ffmpeg and ffprobe; `crate::ffmpeg`).
#[async_trait]
pub trait Transcoder: Send + Sync {
    async fn probe(&self, input: &Path) -> Result<Probe, TranscodeError>;
    /// Runs `plan` from `input` to `output`, reporting the seconds of output written so far.
    /// Dropping the future stops the conversion.
    async fn convert(
        &self,
        plan: &FitPlan,
        input: &Path,
        output: &Path,
        progress: tokio::sync::watch::Sender<f64>,
    ) -> Result<(), TranscodeError>;
}

// ---------------------------------------------------------------- settings and outcome

/// Tunables, with production defaults.
#[derive(Debug, Clone)]
pub struct FitSettings {
    /// Where the source and the converted file are written (Lambda: `/tmp`, its ephemeral storage).
    pub work_dir: PathBuf,
    /// Measured conversion speed (`FitPlan::work_megapixels` per second) at the function's memory
    /// size: the estimate that refuses a conversion which cannot finish in one invocation.
    pub megapixels_per_sec: f64,
    /// Time kept free before the deadline for storing the result and the final checkpoint.
    pub finish_margin: Duration,
    /// Invocations that may take the job before it fails (each crash or timeout counts one).
    pub max_attempts: u32,
    /// How often the percent is checkpointed while ffmpeg runs (only when it changed).
    pub progress_every: Duration,
    /// The APPEND segment size the upload will use (as create-post's).
    pub segment_size: u64,
}

impl Default for FitSettings {
    fn default() -> Self {
        Self {
            work_dir: std::env::temp_dir(),
            megapixels_per_sec: DEFAULT_MEGAPIXELS_PER_SEC,
            finish_margin: Duration::from_secs(30),
            max_attempts: 3,
            progress_every: Duration::from_secs(2),
            segment_size: crate::intake::DEFAULT_SEGMENT_SIZE,
        }
    }
}

/// The conversion speed assumed when the configuration gives none: measured on the 2-core
/// machine of BENCHMARKS.md ("Fitting videos"), which Lambda's 3538 MB size (2 vCPUs) resembles.
/// 57 is the slower of its two clips (60 s 1080p HEVC: 57.8 Mpx/s; 140 s 4K H.264: 154.9),
/// rounded down, from a run with other builds sharing the cores: conservative.
pub const DEFAULT_MEGAPIXELS_PER_SEC: f64 = 57.0;

/// What became of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum FitOutcome {
    /// Nothing to do (stale, duplicate, not fitting): acknowledge it.
    Dropped(&'static str),
    /// Converted, stored and handed to the upload.
    Fitted { changes: Vec<String> },
    /// The job ended: rejected (unusable) or failed, with the reason on the job.
    Ended { code: String, reason: String },
    /// The message must come back later (another worker holds the job).
    Retry(&'static str),
}

/// Failures a redelivery of the message can cure; the attempt counts.
#[derive(Debug, Error)]
pub enum FitError {
    #[error("the job store failed")]
    Store(#[from] StoreError),
    #[error("reading or storing the video failed: {0}")]
    Files(#[source] BlobError),
    #[error("the work directory failed: {0}")]
    WorkDir(#[source] std::io::Error),
    #[error("the work queue failed: {0}")]
    Queue(#[source] QueueError),
    #[error("ffmpeg could not run: {0}")]
    Unavailable(String),
}

// ---------------------------------------------------------------- the step

/// The ports one invocation works through.
pub struct Fitter<'a> {
    pub jobs: &'a dyn JobStore,
    pub posts: &'a dyn PostStore,
    pub files: &'a dyn VideoFiles,
    pub transcoder: &'a dyn Transcoder,
    /// The work queue: the fitted job's first upload message goes there.
    pub queue: &'a dyn WorkQueue,
    pub clock: &'a dyn Clock,
    pub settings: FitSettings,
}

impl Fitter<'_> {
    /// Fits the video of the job `message` is for, if the message is the job's current one.
    #[tracing::instrument(skip_all, fields(post_id = %message.post_id, platform = message.platform.as_str(), invocation = %invocation.id))]
    pub async fn fit(
        &self,
        message: &JobMessage,
        invocation: &Invocation,
    ) -> Result<FitOutcome, FitError> {
        let Some(mut job) = self
            .jobs
            .get_job(&message.user_id, &message.post_id, message.platform)
            .await?
        else {
            return Ok(FitOutcome::Dropped("no such job"));
        };
        if message.step_token != job.step_token {
            return self.older_message(&job, message).await;
        }
        if !job.needs_fitting() {
            return Ok(FitOutcome::Dropped("the job is not being fitted"));
        }
        let now = self.clock.now_ms();
        if job.lease_until_ms > now && job.lease_owner.as_deref() != Some(invocation.id.as_str()) {
            return Ok(FitOutcome::Retry("another invocation is fitting the video"));
        }
        let Some(fit) = job.fit.as_mut() else {
            return self
                .end(
                    &mut job,
                    "fit_failed",
                    "the job has no video to fit".into(),
                    true,
                )
                .await;
        };
        if fit.attempts >= self.settings.max_attempts {
            let reason = format!(
                "Converting the video was interrupted {} times (the function crashed or ran out of \
                 time) and was stopped. Retry the post to try again, or upload a shorter or \
                 smaller video.",
                fit.attempts
            );
            return self.end(&mut job, "fit_interrupted", reason, true).await;
        }
        fit.attempts += 1;
        fit.percent = 0;
        let attempt = fit.attempts;
        job.lease_owner = Some(invocation.id.clone());
        job.lease_until_ms = invocation.deadline_ms;
        job.record(now, "fit", format!("attempt {attempt}"));
        match self.checkpoint(&mut job).await {
            Err(FitError::Store(StoreError::Conflict)) => {
                return Ok(FitOutcome::Retry("another invocation took the job first"))
            }
            other => other?,
        }

        let work = WorkFiles::new(&self.settings.work_dir, &job);
        let result = self.convert_and_store(&mut job, &work, invocation).await;
        work.remove();
        result
    }

    /// A message whose token is not the job's: a duplicate, or the fit message of a job already
    /// fitted whose first upload message may have been lost (the send failed after the
    /// checkpoint, so this message came back): send that one again.
    async fn older_message(
        &self,
        job: &UploadJob,
        message: &JobMessage,
    ) -> Result<FitOutcome, FitError> {
        let fitted_then_handed_on = job.previous_step_token.as_deref()
            == Some(message.step_token.as_str())
            && job.phase == Phase::Queued
            && job.fit.as_ref().is_some_and(|f| f.done);
        if !fitted_then_handed_on {
            return Ok(FitOutcome::Dropped("stale message"));
        }
        // The invocation that fitted it may have stopped before the post said so.
        self.settle_post(job, None).await;
        self.queue
            .send(&job.message(), 0)
            .await
            .map_err(FitError::Queue)?;
        Ok(FitOutcome::Dropped(
            "fitted already; upload message re-sent",
        ))
    }

    async fn convert_and_store(
        &self,
        job: &mut UploadJob,
        work: &WorkFiles,
        invocation: &Invocation,
    ) -> Result<FitOutcome, FitError> {
        let fit = job
            .fit
            .clone()
            .unwrap_or_else(|| unreachable!("checked by fit"));
        work.prepare().map_err(FitError::WorkDir)?;
        match self
            .files
            .download(fit.original.object_ref(), &work.source)
            .await
        {
            Ok(_) => {}
            Err(err) if err.kind != BlobErrorKind::Unavailable => {
                let reason = format!(
                    "the uploaded video changed or was deleted after it was checked ({}); create a new post",
                    err.detail
                );
                return self.end(job, "source_changed", reason, false).await;
            }
            Err(err) => return Err(FitError::Files(err)),
        }

        let probe = match self.transcoder.probe(&work.source).await {
            Ok(probe) => probe,
            Err(TranscodeError::Unreadable(detail)) => {
                let reason = Unusable::unreadable(&detail).to_string();
                return self.reject(job, reason).await;
            }
            Err(TranscodeError::Failed(detail)) | Err(TranscodeError::Unavailable(detail)) => {
                return Err(FitError::Unavailable(detail))
            }
        };
        let options = FitOptions {
            trim_to_secs: fit.trim_to_secs,
            pad: fit.pad,
        };
        let plan = match plan(&probe, &options) {
            Ok(plan) => plan,
            Err(unusable) => return self.reject(job, unusable.to_string()).await,
        };

        // Refused up front rather than killed half-way: Lambda's timeout would only come back
        // as the same doomed attempt.
        let estimated = plan.estimated_secs(self.settings.megapixels_per_sec);
        let available = self.secs_left(invocation);
        if estimated > available {
            let reason = format!(
                "converting this video would take about {} (it is {:.0} s at {}x{}), longer than \
                 one conversion may run ({}); upload a shorter or smaller video, or ask \
                 trim_to_secs to cut it",
                minutes(estimated),
                plan.output_duration_secs(),
                plan.source_width(),
                plan.source_height(),
                minutes(available),
            );
            return self.reject(job, reason).await;
        }
        tracing::info!(changes = ?plan.changes(), estimated_secs = estimated, "fitting the video");

        match self.run_conversion(job, &plan, work, invocation).await? {
            Converted::Yes => {}
            Converted::No { code, reason } => return self.end(job, code, reason, true).await,
            Converted::LostLease => return Ok(FitOutcome::Dropped("lost the job's lease")),
        }

        // The result must pass the same check a video uploaded as it is passes: a conversion
        // that does not would only fail at X.
        let reader = FileReader::open(&work.output).map_err(FitError::WorkDir)?;
        let checked = match video_preflight::inspect(&reader, &Limits::default()).await {
            Ok(checked) => checked,
            Err(PreflightError::Rejected(why)) => {
                let reason = format!("the converted video still fails X's limits: {why}");
                return self.end(job, "fit_failed", reason, false).await;
            }
            Err(PreflightError::Read(err)) => {
                return Err(FitError::WorkDir(std::io::Error::other(err.to_string())))
            }
        };

        let key = fitted_key(job);
        let stored = self
            .files
            .upload(
                &fit.original.bucket,
                &key,
                &work.output,
                checked.facts.media_type,
            )
            .await
            .map_err(FitError::Files)?;
        let changes = plan.changes().to_vec();
        self.hand_to_upload(job, key, stored, &checked, changes.clone())
            .await?;
        Ok(FitOutcome::Fitted { changes })
    }

    /// Runs ffmpeg, checkpointing the percent, and stops it before the deadline.
    async fn run_conversion(
        &self,
        job: &mut UploadJob,
        plan: &FitPlan,
        work: &WorkFiles,
        invocation: &Invocation,
    ) -> Result<Converted, FitError> {
        let (progress, mut written) = tokio::sync::watch::channel(0.0_f64);
        let convert = self
            .transcoder
            .convert(plan, &work.source, &work.output, progress);
        let stop_after = Duration::from_secs_f64(self.secs_left(invocation).max(0.0));
        let deadline = tokio::time::sleep(stop_after);
        tokio::pin!(convert);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(self.settings.progress_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let duration = plan.output_duration_secs();
        loop {
            tokio::select! {
                finished = &mut convert => {
                    return Ok(match finished {
                        Ok(()) => Converted::Yes,
                        Err(TranscodeError::Unavailable(detail)) => {
                            return Err(FitError::Unavailable(detail))
                        }
                        Err(TranscodeError::Failed(detail) | TranscodeError::Unreadable(detail)) => {
                            Converted::No {
                                code: "fit_failed",
                                reason: format!("ffmpeg could not convert the video: {detail}"),
                            }
                        }
                    });
                }
                _ = &mut deadline => {
                    // Dropping `convert` kills ffmpeg.
                    return Ok(Converted::No {
                        code: "fit_too_slow",
                        reason: format!(
                            "converting the video took longer than one conversion may run \
                             (stopped at {}%); retry the post, or upload a shorter or smaller video",
                            job.fit.as_ref().map_or(0, |f| f.percent)
                        ),
                    });
                }
                _ = tick.tick() => {
                    let percent = crate::fit::progress::percent(*written.borrow_and_update(), duration);
                    let Some(fit) = job.fit.as_mut() else { continue };
                    if percent == fit.percent {
                        continue;
                    }
                    fit.percent = percent;
                    match self.checkpoint(job).await {
                        Err(FitError::Store(StoreError::Conflict)) => return Ok(Converted::LostLease),
                        // A missed progress write only delays what the user sees.
                        Err(err) => tracing::warn!(error = %err, "could not record the progress"),
                        Ok(()) => {}
                    }
                }
            }
        }
    }

    /// Points the job at the converted file and sends its first upload message.
    async fn hand_to_upload(
        &self,
        job: &mut UploadJob,
        key: String,
        stored: StoredFile,
        checked: &video_preflight::Checked,
        changes: Vec<String>,
    ) -> Result<(), FitError> {
        let now = self.clock.now_ms();
        let Some(fit) = job.fit.as_mut() else {
            unreachable!("checked by fit")
        };
        fit.percent = 100;
        fit.done = true;
        fit.changes = changes;
        fit.fitted = Some(VideoInfo::from(checked));
        let bucket = fit.original.bucket.clone();
        job.source = SourceObject {
            bucket,
            key,
            size_bytes: stored.size_bytes,
            media_type: checked.facts.media_type.to_owned(),
            media_category: checked.category.as_str().to_owned(),
            etag: stored.etag,
            version_id: stored.version_id,
        };
        job.segment_size = segment_size_for(stored.size_bytes, self.settings.segment_size);
        job.phase = Phase::Queued;
        job.previous_step_token = Some(std::mem::replace(&mut job.step_token, new_step_token()));
        job.step_due_at_ms = now;
        job.lease_owner = None;
        job.lease_until_ms = 0;
        job.error = None;
        job.record(now, "fit", "ok");
        self.checkpoint(job).await?;
        self.settle_post(job, None).await;
        // If this send fails the message comes back, finds the job fitted and sends it again
        // (`older_message`); the reconciler re-drives it in any case.
        self.queue
            .send(&job.message(), 0)
            .await
            .map_err(FitError::Queue)
    }

    /// Ends the job: the video is unusable, and the post is `rejected` with the reason.
    async fn reject(&self, job: &mut UploadJob, reason: String) -> Result<FitOutcome, FitError> {
        self.end(job, UNUSABLE, reason, false).await
    }

    /// Ends the job as failed with `code` and `reason`, and brings the post along.
    async fn end(
        &self,
        job: &mut UploadJob,
        code: &str,
        reason: String,
        retryable: bool,
    ) -> Result<FitOutcome, FitError> {
        let now = self.clock.now_ms();
        job.phase = Phase::Failed;
        job.error = Some(JobError {
            code: code.to_owned(),
            message: reason.clone(),
            retryable,
            at_ms: now,
        });
        job.record(now, "fit", format!("{code}: {reason}"));
        job.lease_owner = None;
        job.lease_until_ms = 0;
        match self.checkpoint(job).await {
            Err(FitError::Store(StoreError::Conflict)) => {
                return Ok(FitOutcome::Dropped("the job changed meanwhile"))
            }
            other => other?,
        }
        tracing::warn!(code, %reason, "the video was not fitted");
        let rejection = (code == UNUSABLE).then_some(reason.as_str());
        self.settle_post(job, rejection).await;
        Ok(FitOutcome::Ended {
            code: code.to_owned(),
            reason,
        })
    }

    /// The post's status from its jobs, its rejection reason, and (once fitted) the facts of the
    /// video that will be sent. Best effort, as the engine's: the jobs are the truth, and the
    /// API reads them when the post lags (a crash between the job's checkpoint and this write).
    async fn settle_post(&self, job: &UploadJob, rejection: Option<&str>) {
        for _ in 0..3 {
            let Ok(Some((mut post, jobs))) =
                self.posts.post_with_jobs(&job.user_id, &job.post_id).await
            else {
                return;
            };
            post.status = overall_status(&jobs);
            if post.status == PostStatus::Rejected {
                post.rejection = rejection.map(str::to_owned).or(post.rejection);
            }
            if let Some(fitted) = job.fit.as_ref().and_then(|f| f.fitted.clone()) {
                post.video = Some(fitted);
            }
            post.version += 1;
            post.updated_at_ms = self.clock.now_ms();
            match self.posts.save_post(&post).await {
                Err(StoreError::Conflict) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "could not update the post");
                    return;
                }
                Ok(()) => return,
            }
        }
    }

    async fn checkpoint(&self, job: &mut UploadJob) -> Result<(), FitError> {
        job.version += 1;
        job.updated_at_ms = self.clock.now_ms();
        if let Err(err) = self.jobs.save_job(job).await {
            job.version -= 1;
            return Err(err.into());
        }
        Ok(())
    }

    /// Seconds left for converting: to the deadline, less the margin for storing the result.
    fn secs_left(&self, invocation: &Invocation) -> f64 {
        let left_ms = invocation.deadline_ms - self.clock.now_ms();
        left_ms as f64 / 1000.0 - self.settings.finish_margin.as_secs_f64()
    }
}

enum Converted {
    Yes,
    No { code: &'static str, reason: String },
    LostLease,
}

/// Where a job's converted video is stored: its own prefix, one object per target (a retry or a
/// second attempt overwrites it, and the job pins the version it checked).
pub fn fitted_key(job: &UploadJob) -> String {
    format!(
        "{FITTED_PREFIX}{}/{}/{}.mp4",
        job.user_id,
        job.post_id,
        job.platform.as_str()
    )
}

/// The job's files in the work directory; removed after each attempt (Lambda keeps `/tmp`
/// between invocations of a warm container).
struct WorkFiles {
    source: PathBuf,
    output: PathBuf,
}

impl WorkFiles {
    fn new(dir: &Path, job: &UploadJob) -> Self {
        let stem = format!("fit-{}-{}", job.post_id, job.platform.as_str());
        Self {
            source: dir.join(format!("{stem}.source")),
            output: dir.join(format!("{stem}.mp4")),
        }
    }

    fn prepare(&self) -> std::io::Result<()> {
        if let Some(dir) = self.source.parent() {
            std::fs::create_dir_all(dir)?;
        }
        self.remove();
        Ok(())
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.source);
        let _ = std::fs::remove_file(&self.output);
    }
}

fn minutes(secs: f64) -> String {
    if secs < 90.0 {
        format!("{:.0} s", secs.max(0.0))
    } else {
        format!("{:.0} min", secs / 60.0)
    }
}

/// Whether the pre-flight's refusal is one a conversion can cure (the video goes to fit-video)
/// or not (the post is rejected now). A refusal it cannot judge from the metadata alone (not an
/// MP4, damaged) goes to fit-video too, whose ffprobe decides.
pub fn fixable(rejection: &video_preflight::Rejection, request: &crate::posts::FitRequest) -> bool {
    use video_preflight::Rejection as R;
    match rejection {
        R::Empty | R::TooLarge { .. } | R::NoVideoTrack | R::TooShort { .. } => false,
        R::DimensionsTooSmall { .. } => false,
        R::TooLong { .. } => request.trim_to_secs.is_some(),
        R::AspectRatio { .. } => request.pad,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posts::FitRequest;
    use video_preflight::Rejection as R;

    #[test]
    fn what_no_conversion_can_save_is_not_sent_to_be_fitted() {
        let plain = FitRequest::default();
        assert!(!fixable(&R::NoVideoTrack, &plain));
        assert!(!fixable(
            &R::TooShort {
                secs: 0.2,
                min_secs: 0.5
            },
            &plain
        ));
        let long = R::TooLong {
            secs: 200.0,
            max_secs: 140.0,
        };
        assert!(!fixable(&long, &plain));
        let trimmed = FitRequest {
            trim_to_secs: Some(30.0),
            ..FitRequest::default()
        };
        assert!(fixable(&long, &trimmed));
        let wide = R::AspectRatio {
            width: 4000,
            height: 1000,
            max_ratio: 3.0,
        };
        assert!(!fixable(&wide, &plain));
        assert!(fixable(
            &wide,
            &FitRequest {
                pad: true,
                ..FitRequest::default()
            }
        ));
        assert!(fixable(
            &R::VideoCodec {
                name: "HEVC".into(),
                fourcc: "hvc1".into()
            },
            &plain
        ));
        assert!(fixable(&R::NotMp4, &plain));
        assert!(fixable(&R::Fragmented, &plain));
    }

    #[test]
    fn an_unusable_job_reads_as_refused() {
        let mut error = JobError {
            code: UNUSABLE.into(),
            message: "no video track".into(),
            retryable: false,
            at_ms: 0,
        };
        let post = crate::posts::Post::draft(
            crate::ids::UserId::parse("u").unwrap(),
            crate::posts::new_post_id(1),
            "t".into(),
            vec![crate::posts::Platform::Twitter],
            1,
        );
        let source = SourceObject {
            bucket: "b".into(),
            key: "k".into(),
            size_bytes: 1,
            media_type: "video/mp4".into(),
            media_category: "amplify_video".into(),
            etag: None,
            version_id: None,
        };
        let mut job = UploadJob::new_fitting(
            &post,
            crate::posts::Platform::Twitter,
            source,
            "x".into(),
            1,
        );
        assert!(!refused_as_unusable(&job));
        job.phase = Phase::Failed;
        job.error = Some(error.clone());
        assert!(refused_as_unusable(&job));
        assert_eq!(
            overall_status(std::slice::from_ref(&job)),
            PostStatus::Rejected
        );
        error.code = "fit_failed".into();
        job.error = Some(error);
        assert_eq!(overall_status(&[job]), PostStatus::Failed);
    }
}
