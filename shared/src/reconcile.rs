//! The reconciler: DESIGN §3's "nothing stays stuck".
//!
//! The engine keeps a job moving by handing it from message to message; a message can still be
//! lost (a send that failed after the checkpoint, a queue purged by hand), or die in the DLQ with
//! its job unmarked (a worker killed on its last receive). A scheduled sweep repairs both:
//!
//! 1. **Dead letters.** Each DLQ message that names a job's current step fails that job with its
//!    last reason, through the engine's own dead-letter rule (`Engine::fail_for_dead_letter`),
//!    unless another worker holds a live lease on it (it may yet move the job on: the message
//!    stays for the next sweep). A message is deleted once its job is final or its token stale;
//!    a malformed one is left, and logged, for an operator.
//! 2. **Overdue jobs.** The sparse sweep index (`SweepIndex`) lists non-final jobs whose next
//!    step was due (`UploadJob::sweep_due_at_ms`: the later of the message's due time and the
//!    holder's lease) more than `grace_ms` ago. Each is re-driven: its *current* message is sent
//!    again (step tokens make a duplicate harmless) after `redrives` is counted and the due time
//!    moved to now, so the next sweep looks again only after another grace. A job re-driven
//!    `max_redrives` times without handing off on its own fails (`gave_up`) with its last reason.
//!
//! So every non-final job has a pending message, a live lease, or is re-driven within one sweep
//! period after its grace; the worst case for a lost message is `grace_ms` plus one period.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::engine::{DeadLetterVerdict, EngineError, EngineSettings, Settler};
use crate::jobs::{JobError, Phase, UploadJob};
use crate::messages::JobMessage;
use crate::ports::{QueueError, WorkQueue};
use crate::store::{JobKey, JobStore, PostStore, StoreError, SweepIndex};

// ---------------------------------------------------------------- the dead-letter queue port

/// One message read from the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub message_id: String,
    /// What deleting this delivery of the message takes.
    pub receipt: String,
    pub body: String,
}

/// The work queue's dead-letter queue, as the reconciler drains it.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Up to `max` messages (SQS returns at most 10 at a time); empty when there are none. Each
    /// stays hidden from readers for `hide_secs` (unless deleted), so one sweep sees it once.
    async fn receive(&self, max: u32, hide_secs: u32) -> Result<Vec<DeadLetter>, QueueError>;
    async fn delete(&self, letter: &DeadLetter) -> Result<(), QueueError>;
}

// ---------------------------------------------------------------- settings and summary

/// Tunables, with production defaults.
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    /// How long past its due time a job's next step may be before it is re-driven. Longer than a
    /// message normally waits between becoming visible and a worker taking it (seconds, more under
    /// a backlog at the worker's concurrency limit), so healthy jobs are left alone; equal to the
    /// engine's own lost-continuation grace.
    pub grace_ms: i64,
    /// Re-drives without the job handing off on its own before it fails (`gave_up`). With the
    /// default grace and a 5-minute schedule a job fails after about 20 minutes without progress.
    pub max_redrives: u32,
    /// Bounds on one sweep's work, so it fits its Lambda timeout; the rest waits for the next.
    pub max_jobs_per_sweep: usize,
    pub max_dead_letters_per_sweep: usize,
    /// How long a dead letter left in the DLQ stays hidden after a sweep read it: longer than a
    /// sweep, so one sweep sees it once; short, so the next sweep (and an operator's console)
    /// sees it again.
    pub dead_letter_hide_secs: u32,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            grace_ms: 2 * 60 * 1000,
            max_redrives: 3,
            max_jobs_per_sweep: 500,
            max_dead_letters_per_sweep: 100,
            dead_letter_hide_secs: 120,
        }
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepSummary {
    /// Overdue jobs whose current message was sent again.
    pub redriven: u32,
    /// Overdue jobs failed (`gave_up`) after `max_redrives` re-drives.
    pub failed: u32,
    /// Dead letters whose job this sweep marked failed.
    pub dead_letters_failed: u32,
    /// Dead letters deleted: their job is final (failed by this sweep or before), their token is
    /// stale, or their job is gone.
    pub dead_letters_deleted: u32,
    /// Dead letters left in the DLQ: malformed (for an operator), or for a job another worker
    /// holds a live lease on (looked at again next sweep).
    pub dead_letters_left: u32,
    /// Index entries that needed nothing on a fresh read: the job moved on, ended, or changed
    /// while this sweep acted on it.
    pub skipped: u32,
    /// Operations that failed (store, queue); logged, and picked up again by the next sweep.
    pub errors: u32,
}

// ---------------------------------------------------------------- the sweep

/// The history step the reconciler records; the reason a job gives up with skips it.
pub const REDRIVE_STEP: &str = "redrive";

/// One sweep's ports. The engine is the one whose dead-letter rule settles a dead letter; its
/// job store, post store, work queue and clock are the sweep's too.
pub struct Reconciler<'a> {
    pub engine: Settler<'a>,
    /// fit-video's queue: a job overdue while `Fitting` is re-driven there.
    pub fit_queue: &'a dyn WorkQueue,
    pub index: &'a dyn SweepIndex,
    pub dead_letters: &'a dyn DeadLetters,
    pub settings: ReconcileSettings,
}

enum Settled {
    /// Delete the message: its job is final or has moved past it.
    Delete { failed_now: bool },
    /// Leave it for a later sweep or an operator.
    Leave(&'static str),
}

enum Redriven {
    Sent,
    Failed,
    Skipped(&'static str),
}

impl Reconciler<'_> {
    /// One sweep: dead letters first (a job whose message died is failed, not re-driven), then
    /// overdue jobs. Never fails as a whole: each error is counted and logged, and the next sweep
    /// tries again.
    #[tracing::instrument(skip_all)]
    pub async fn sweep(&self) -> SweepSummary {
        let mut summary = SweepSummary::default();
        self.settle_dead_letters(&mut summary).await;
        self.redrive_overdue(&mut summary).await;
        tracing::info!(
            redriven = summary.redriven,
            failed = summary.failed,
            dead_letters_failed = summary.dead_letters_failed,
            dead_letters_deleted = summary.dead_letters_deleted,
            dead_letters_left = summary.dead_letters_left,
            skipped = summary.skipped,
            errors = summary.errors,
            "sweep done"
        );
        summary
    }

    async fn settle_dead_letters(&self, summary: &mut SweepSummary) {
        let max = self.settings.max_dead_letters_per_sweep;
        let mut seen = 0;
        while seen < max {
            let want = (max - seen).min(10) as u32;
            let batch = match self
                .dead_letters
                .receive(want, self.settings.dead_letter_hide_secs)
                .await
            {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::error!(error = %err, "could not read the DLQ");
                    summary.errors += 1;
                    return;
                }
            };
            if batch.is_empty() {
                return;
            }
            seen += batch.len();
            for letter in batch {
                self.settle_dead_letter(&letter, summary).await;
            }
        }
    }

    #[tracing::instrument(skip_all, fields(message_id = %letter.message_id))]
    async fn settle_dead_letter(&self, letter: &DeadLetter, summary: &mut SweepSummary) {
        let message = match JobMessage::parse(&letter.body) {
            Ok(message) => message,
            Err(err) => {
                // No job can use it; an operator should see it (README "Operations").
                let body: String = letter.body.chars().take(200).collect();
                tracing::error!(error = %err, body, "malformed message in the DLQ; left for an operator");
                summary.dead_letters_left += 1;
                return;
            }
        };
        let span = tracing::info_span!("job", post_id = %message.post_id, platform = message.platform.as_str());
        let _guard = span.enter();
        match self.settle(&message).await {
            Ok(Settled::Leave(why)) => {
                tracing::info!(why, "dead letter left for a later sweep");
                summary.dead_letters_left += 1;
            }
            Ok(Settled::Delete { failed_now }) => {
                if failed_now {
                    tracing::warn!("job failed: its message reached the DLQ");
                    summary.dead_letters_failed += 1;
                }
                match self.dead_letters.delete(letter).await {
                    Ok(()) => summary.dead_letters_deleted += 1,
                    Err(err) => {
                        tracing::error!(error = %err, "could not delete a settled dead letter");
                        summary.errors += 1;
                    }
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "could not settle a dead letter");
                summary.errors += 1;
            }
        }
    }

    /// Fails the job a dead letter is for, by the engine's dead-letter rule: only if the letter
    /// carries the job's current step and no other worker holds a live lease on it.
    async fn settle(&self, message: &JobMessage) -> Result<Settled, EngineError> {
        let verdict = self
            .engine
            .fail_for_dead_letter(message, "its message reached the dead-letter queue")
            .await?;
        Ok(match verdict {
            DeadLetterVerdict::Failed => Settled::Delete { failed_now: true },
            // A worker is running the job: it may yet move it on, and failing it now would throw
            // its work away. If it does, the token goes stale; if not, its lease runs out.
            DeadLetterVerdict::Leased => Settled::Leave("another worker holds the job's lease"),
            // The job moved past this message (or is being moved by a worker that took it just
            // now): if it stalls again, its lease or due time brings it back to a sweep.
            DeadLetterVerdict::Stale
            | DeadLetterVerdict::AlreadyFinal
            | DeadLetterVerdict::NoSuchJob => Settled::Delete { failed_now: false },
        })
    }

    async fn redrive_overdue(&self, summary: &mut SweepSummary) {
        let now = self.engine.clock.now_ms();
        let keys = match self
            .index
            .overdue_jobs(
                now.saturating_sub(self.settings.grace_ms),
                self.settings.max_jobs_per_sweep,
            )
            .await
        {
            Ok(keys) => keys,
            Err(err) => {
                tracing::error!(error = %err, "could not read the sweep index");
                summary.errors += 1;
                return;
            }
        };
        for key in keys {
            let span = tracing::info_span!("job", post_id = %key.post_id, platform = key.platform.as_str());
            let _guard = span.enter();
            match self.redrive(&key, now).await {
                Ok(Redriven::Sent) => summary.redriven += 1,
                Ok(Redriven::Failed) => summary.failed += 1,
                Ok(Redriven::Skipped(why)) => {
                    tracing::debug!(why, "overdue entry needed nothing");
                    summary.skipped += 1;
                }
                Err(err) => {
                    tracing::error!(error = %err, "could not re-drive an overdue job");
                    summary.errors += 1;
                }
            }
        }
    }

    async fn redrive(&self, key: &JobKey, now: i64) -> Result<Redriven, EngineError> {
        let Some(mut job) = self
            .engine
            .jobs
            .get_job(&key.user_id, &key.post_id, key.platform)
            .await?
        else {
            return Ok(Redriven::Skipped("no such job"));
        };
        // The index lags the table: judge by the job itself.
        let Some(due) = job.sweep_due_at_ms() else {
            return Ok(Redriven::Skipped("job is final"));
        };
        if due.saturating_add(self.settings.grace_ms) > now {
            return Ok(Redriven::Skipped("not overdue"));
        }
        let overdue_secs = (now - due) / 1000;
        if job.redrives >= self.settings.max_redrives {
            let message = format!(
                "The upload stopped making progress: its next step was sent again {} times and \
                 never completed. Last {}",
                job.redrives,
                last_reason(&job)
            );
            tracing::warn!(redrives = job.redrives, overdue_secs, %message, "job gave up");
            job.record(
                now,
                REDRIVE_STEP,
                format!("gave up after {} re-sends", job.redrives),
            );
            job.phase = Phase::Failed;
            job.error = Some(JobError {
                code: "gave_up".into(),
                message,
                retryable: true,
                at_ms: now,
            });
            job.lease_owner = None;
            job.lease_until_ms = 0;
            if !self.save(&mut job, now).await? {
                return Ok(Redriven::Skipped("job changed meanwhile"));
            }
            self.engine.sync_post_status(&job).await;
            return Ok(Redriven::Failed);
        }
        job.redrives += 1;
        job.step_due_at_ms = now;
        job.record(
            now,
            REDRIVE_STEP,
            format!(
                "next step {overdue_secs} s overdue; message sent again ({}/{})",
                job.redrives, self.settings.max_redrives
            ),
        );
        // Saved first: a conflict means a worker moved the job, which then needs nothing. A send
        // that fails after the save leaves the job due now, so a later sweep tries again.
        if !self.save(&mut job, now).await? {
            return Ok(Redriven::Skipped("job changed meanwhile"));
        }
        tracing::warn!(
            redrives = job.redrives,
            overdue_secs,
            phase = ?job.phase,
            "next step overdue; message sent again"
        );
        let queue = if job.needs_fitting() {
            self.fit_queue
        } else {
            self.engine.queue
        };
        queue
            .send(&job.message(), 0)
            .await
            .map_err(|e| EngineError::Queue(e.detail))?;
        Ok(Redriven::Sent)
    }

    /// A version-checked save; false when someone else changed the job first.
    async fn save(&self, job: &mut UploadJob, now: i64) -> Result<bool, EngineError> {
        job.version += 1;
        job.updated_at_ms = now;
        match self.engine.jobs.save_job(job).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }
}

/// What a job that gives up says went wrong last: its last error, else its last recorded step
/// (the reconciler's own entries aside), else the phase it stalled in.
pub fn last_reason(job: &UploadJob) -> String {
    if let Some(error) = &job.error {
        return format!("error: {} ({})", error.message, error.code);
    }
    match job.history.iter().rev().find(|a| a.step != REDRIVE_STEP) {
        Some(attempt) => format!("step: {}: {}", attempt.step, attempt.outcome),
        None => format!(
            "step: none recorded; the job was {:?} and never started",
            job.phase
        ),
    }
}

// ---------------------------------------------------------------- the engine's settling rules

/// The engine's settling rules over the reconciler's ports: it fails jobs and updates their post
/// but never uploads, so X's secrets, KMS and S3 stay out of the reconciler's Lambda.
pub fn settling_engine<'a>(
    jobs: &'a dyn JobStore,
    posts: &'a dyn PostStore,
    queue: &'a dyn WorkQueue,
    clock: &'a dyn Clock,
    settings: EngineSettings,
) -> Settler<'a> {
    Settler {
        jobs,
        posts,
        queue,
        clock,
        settings,
    }
}
