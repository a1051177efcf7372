//! The reconciler's rules against in-memory ports: which jobs a sweep re-drives, when it gives
//! up, how it settles dead letters, and what it leaves alone. (The same sweep runs end to end
//! against moto and the X emulator in `tools/reelay-local/tests/reconcile.rs`.)

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use reelay_shared::clock::{Clock, ManualClock};
use reelay_shared::engine::EngineSettings;
use reelay_shared::ids::{PostId, UserId};
use reelay_shared::jobs::{JobError, Phase, SourceObject, UploadJob};
use reelay_shared::messages::JobMessage;
use reelay_shared::ports::{QueueError, WorkQueue};
use reelay_shared::posts::{new_post_id, Platform, Post, PostStatus};
use reelay_shared::reconcile::{
    settling_engine, DeadLetter, DeadLetters, ReconcileSettings, Reconciler, SweepSummary,
    REDRIVE_STEP,
};
use reelay_shared::store::{JobKey, JobStore, PostPage, PostStore, StoreError, SweepIndex};

const NOW: i64 = 1_800_000_000_000;
const GRACE: i64 = 120_000;
const USER: &str = "u1";

/// Posts and jobs in memory, with version checks, and the sweep index computed from the jobs.
#[derive(Default)]
struct Store {
    posts: Mutex<HashMap<String, Post>>,
    jobs: Mutex<HashMap<String, UploadJob>>,
    /// Simulates a worker checkpointing the job right after the sweep read it.
    bump_after_read: AtomicBool,
    /// Makes every job save fail as if the database were down.
    unavailable: AtomicBool,
}

#[derive(Debug, thiserror::Error)]
#[error("down")]
struct Down;

#[async_trait]
impl JobStore for Store {
    async fn get_job(
        &self,
        _: &UserId,
        post: &PostId,
        _: Platform,
    ) -> Result<Option<UploadJob>, StoreError> {
        let mut jobs = self.jobs.lock().unwrap();
        let found = jobs.get(post.as_str()).cloned();
        if self.bump_after_read.swap(false, Ordering::SeqCst) {
            if let Some(stored) = jobs.get_mut(post.as_str()) {
                stored.version += 1;
            }
        }
        Ok(found)
    }
    async fn save_job(&self, job: &UploadJob) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(Box::new(Down)));
        }
        let mut jobs = self.jobs.lock().unwrap();
        let stored = jobs
            .get(job.post_id.as_str())
            .map(|j| j.version)
            .unwrap_or(0);
        if stored + 1 != job.version {
            return Err(StoreError::Conflict);
        }
        jobs.insert(job.post_id.to_string(), job.clone());
        Ok(())
    }
}

#[async_trait]
impl PostStore for Store {
    async fn create_post(&self, post: &Post) -> Result<(), StoreError> {
        self.posts
            .lock()
            .unwrap()
            .insert(post.post_id.to_string(), post.clone());
        Ok(())
    }
    async fn get_post(&self, _: &UserId, post: &PostId) -> Result<Option<Post>, StoreError> {
        Ok(self.posts.lock().unwrap().get(post.as_str()).cloned())
    }
    async fn save_post(&self, post: &Post) -> Result<(), StoreError> {
        let mut posts = self.posts.lock().unwrap();
        let stored = posts
            .get(post.post_id.as_str())
            .map(|p| p.version)
            .unwrap_or(0);
        if stored + 1 != post.version {
            return Err(StoreError::Conflict);
        }
        posts.insert(post.post_id.to_string(), post.clone());
        Ok(())
    }
    async fn list_posts(
        &self,
        _: &UserId,
        _: u32,
        _: Option<&str>,
    ) -> Result<PostPage, StoreError> {
        Ok(PostPage {
            posts: vec![],
            next_cursor: None,
        })
    }
    async fn post_with_jobs(
        &self,
        _: &UserId,
        post: &PostId,
    ) -> Result<Option<(Post, Vec<UploadJob>)>, StoreError> {
        let found = self.posts.lock().unwrap().get(post.as_str()).cloned();
        let jobs = self
            .jobs
            .lock()
            .unwrap()
            .values()
            .filter(|j| &j.post_id == post)
            .cloned()
            .collect();
        Ok(found.map(|p| (p, jobs)))
    }
    async fn start_jobs(&self, _: &Post, _: &[UploadJob]) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl SweepIndex for Store {
    async fn overdue_jobs(&self, due_by_ms: i64, limit: usize) -> Result<Vec<JobKey>, StoreError> {
        let mut due: Vec<(i64, JobKey)> = self
            .jobs
            .lock()
            .unwrap()
            .values()
            .filter_map(|j| Some((j.sweep_due_at_ms()?, JobKey::of(j))))
            .filter(|(at, _)| *at <= due_by_ms)
            .collect();
        due.sort_by_key(|(at, _)| *at);
        Ok(due.into_iter().take(limit).map(|(_, k)| k).collect())
    }
}

#[derive(Default)]
struct Sent {
    messages: Mutex<Vec<JobMessage>>,
    fail: AtomicBool,
}

#[async_trait]
impl WorkQueue for Sent {
    async fn send(&self, message: &JobMessage, _: u32) -> Result<(), QueueError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(QueueError {
                detail: "queue down".into(),
            });
        }
        self.messages.lock().unwrap().push(message.clone());
        Ok(())
    }
}

/// A DLQ: received letters stay hidden until `reappear` (the visibility timeout running out).
#[derive(Default)]
struct Dlq {
    letters: Mutex<Vec<DeadLetter>>,
    hidden: Mutex<HashSet<String>>,
    deleted: Mutex<Vec<String>>,
}

impl Dlq {
    fn put(&self, body: &str) -> String {
        let mut letters = self.letters.lock().unwrap();
        let id = format!("m{}", letters.len());
        letters.push(DeadLetter {
            message_id: id.clone(),
            receipt: format!("r-{id}"),
            body: body.to_owned(),
        });
        id
    }
    fn reappear(&self) {
        self.hidden.lock().unwrap().clear();
    }
    fn remaining(&self) -> usize {
        self.letters.lock().unwrap().len()
    }
}

#[async_trait]
impl DeadLetters for Dlq {
    async fn receive(&self, max: u32, _: u32) -> Result<Vec<DeadLetter>, QueueError> {
        let letters = self.letters.lock().unwrap();
        let mut hidden = self.hidden.lock().unwrap();
        let batch: Vec<DeadLetter> = letters
            .iter()
            .filter(|l| !hidden.contains(&l.message_id))
            .take(max.min(10) as usize)
            .cloned()
            .collect();
        hidden.extend(batch.iter().map(|l| l.message_id.clone()));
        Ok(batch)
    }
    async fn delete(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        self.letters
            .lock()
            .unwrap()
            .retain(|l| l.receipt != letter.receipt);
        self.deleted.lock().unwrap().push(letter.message_id.clone());
        Ok(())
    }
}

struct Fixture {
    store: Store,
    queue: Sent,
    fit_queue: Sent,
    dlq: Dlq,
    clock: ManualClock,
    settings: ReconcileSettings,
}

impl Fixture {
    fn new() -> Self {
        Self {
            store: Store::default(),
            queue: Sent::default(),
            fit_queue: Sent::default(),
            dlq: Dlq::default(),
            clock: ManualClock::new(NOW),
            settings: ReconcileSettings {
                grace_ms: GRACE,
                max_redrives: 3,
                ..ReconcileSettings::default()
            },
        }
    }

    async fn sweep(&self) -> SweepSummary {
        Reconciler {
            engine: settling_engine(
                &self.store,
                &self.store,
                &self.queue,
                &self.clock,
                EngineSettings::default(),
            ),
            fit_queue: &self.fit_queue,
            index: &self.store,
            dead_letters: &self.dlq,
            settings: self.settings.clone(),
        }
        .sweep()
        .await
    }

    /// A post with one queued X job whose message is due now, both stored; returns the job.
    fn job(&self) -> UploadJob {
        let post = Post {
            user_id: UserId::parse(USER).unwrap(),
            post_id: new_post_id(self.clock.now_ms()),
            text: "hello".into(),
            platforms: vec![Platform::Twitter],
            status: PostStatus::Processing,
            rejection: None,
            object_key: None,
            video: None,
            fit: Default::default(),
            options: Default::default(),
            scheduled_at_ms: None,
            cancelled_at_ms: None,
            created_at_ms: NOW,
            updated_at_ms: NOW,
            version: 2,
        };
        let source = SourceObject {
            bucket: "b".into(),
            key: "k".into(),
            size_bytes: 3 * 1024,
            media_type: "video/mp4".into(),
            media_category: "amplify_video".into(),
            etag: None,
            version_id: None,
        };
        let job = UploadJob::new(&post, Platform::Twitter, source, 1024, self.clock.now_ms());
        self.store
            .posts
            .lock()
            .unwrap()
            .insert(post.post_id.to_string(), post);
        self.put(&job);
        job
    }

    /// Stores `job` as is (no version check), as a worker's checkpoint would have left it.
    fn put(&self, job: &UploadJob) {
        self.store
            .jobs
            .lock()
            .unwrap()
            .insert(job.post_id.to_string(), job.clone());
    }

    fn stored(&self, job: &UploadJob) -> UploadJob {
        self.store.jobs.lock().unwrap()[job.post_id.as_str()].clone()
    }

    fn post_status(&self, job: &UploadJob) -> PostStatus {
        self.store.posts.lock().unwrap()[job.post_id.as_str()].status
    }

    fn sent(&self) -> Vec<JobMessage> {
        self.queue.messages.lock().unwrap().clone()
    }
}

fn x_error(now: i64) -> JobError {
    JobError {
        code: "x_server_error".into(),
        message: "X answered 503: Service Unavailable".into(),
        retryable: true,
        at_ms: now,
    }
}

// ------------------------------------------------------------------------------ overdue jobs

#[tokio::test]
async fn a_job_whose_message_was_lost_is_re_driven_with_its_current_message_after_the_grace() {
    let f = Fixture::new();
    let job = f.job();

    f.clock.advance_ms(GRACE - 1);
    assert_eq!(f.sweep().await, SweepSummary::default(), "not overdue yet");
    assert!(f.sent().is_empty());

    f.clock.advance_ms(1);
    let summary = f.sweep().await;
    assert_eq!(summary.redriven, 1, "{summary:?}");
    assert_eq!(f.sent(), vec![job.message()], "the current step's message");
    let after = f.stored(&job);
    assert_eq!(after.redrives, 1);
    assert_eq!(after.step_token, job.step_token, "the step is unchanged");
    assert_eq!(after.step_due_at_ms, f.clock.now_ms());
    assert_eq!(after.version, job.version + 1);
    assert_eq!(after.history.last().unwrap().step, REDRIVE_STEP);

    // The re-sent message has its grace too: the next sweep leaves it alone.
    f.clock.advance_ms(GRACE - 1);
    assert_eq!(f.sweep().await.redriven, 0);
    f.clock.advance_ms(1);
    assert_eq!(f.sweep().await.redriven, 1);
    assert_eq!(f.stored(&job).redrives, 2);
}

/// A job lost while its video was being fitted is re-driven on fit-video's queue, never the
/// work queue (whose worker would only drop it).
#[tokio::test]
async fn a_job_overdue_while_fitting_is_re_driven_on_fit_videos_queue() {
    let f = Fixture::new();
    let mut job = f.job();
    job.phase = Phase::Fitting;
    f.put(&job);
    f.clock.advance_ms(GRACE);
    assert_eq!(f.sweep().await.redriven, 1);
    assert!(f.sent().is_empty(), "nothing on the work queue");
    assert_eq!(
        f.fit_queue.messages.lock().unwrap().clone(),
        vec![job.message()]
    );
}

#[tokio::test]
async fn a_job_re_driven_max_times_fails_with_its_last_reason_and_its_post_fails() {
    let f = Fixture::new();
    let mut job = f.job();
    job.error = Some(x_error(NOW));
    job.record(NOW, "initialize", "x_server_error: X answered 503");
    f.put(&job);
    for n in 1..=3 {
        f.clock.advance_ms(GRACE);
        let summary = f.sweep().await;
        assert_eq!(summary.redriven, 1, "re-drive {n}: {summary:?}");
    }
    f.clock.advance_ms(GRACE);
    let summary = f.sweep().await;
    assert_eq!(summary.failed, 1, "{summary:?}");
    assert_eq!(summary.redriven, 0);
    assert_eq!(f.sent().len(), 3, "no fourth message");

    let after = f.stored(&job);
    assert_eq!(after.phase, Phase::Failed);
    let error = after.error.unwrap();
    assert_eq!(error.code, "gave_up");
    assert!(error.retryable);
    assert!(
        error
            .message
            .contains("X answered 503: Service Unavailable"),
        "{}",
        error.message
    );
    assert_eq!(after.lease_owner, None);
    assert_eq!(f.post_status(&job), PostStatus::Failed);

    // Final jobs leave the index: nothing more happens to it.
    f.clock.advance_ms(10 * GRACE);
    assert_eq!(f.sweep().await, SweepSummary::default());
}

#[tokio::test]
async fn without_an_error_the_reason_names_the_last_step() {
    let mut f = Fixture::new();
    f.settings.max_redrives = 0;
    let mut job = f.job();
    job.record(NOW, "append 2", "ok");
    f.put(&job);
    f.clock.advance_ms(GRACE);
    assert_eq!(f.sweep().await.failed, 1);
    let message = f.stored(&job).error.unwrap().message;
    assert!(message.contains("append 2: ok"), "{message}");
}

#[tokio::test]
async fn a_live_lease_postpones_the_job_until_it_runs_out() {
    let f = Fixture::new();
    let mut job = f.job();
    job.lease_owner = Some("worker-1".into());
    job.lease_until_ms = NOW + 60_000;
    f.put(&job);

    f.clock.advance_ms(GRACE + 30_000);
    assert_eq!(f.sweep().await.redriven, 0, "leased, then within grace");
    f.clock.advance_ms(30_000);
    assert_eq!(
        f.sweep().await.redriven,
        1,
        "a crashed holder's job is re-driven"
    );
}

#[tokio::test]
async fn final_jobs_and_jobs_not_yet_due_are_left_alone() {
    let f = Fixture::new();
    for phase in [Phase::Published, Phase::Failed, Phase::Unconfirmed] {
        let mut job = f.job();
        job.phase = phase;
        f.put(&job);
    }
    let mut waiting = f.job();
    waiting.phase = Phase::Processing;
    waiting.step_due_at_ms = NOW + 900_000; // a delayed continuation
    f.put(&waiting);
    f.clock.advance_ms(GRACE + 600_000);
    assert_eq!(f.sweep().await, SweepSummary::default());
    assert!(f.sent().is_empty());
}

#[tokio::test]
async fn a_job_that_moves_while_the_sweep_acts_is_skipped() {
    let f = Fixture::new();
    let job = f.job();
    f.clock.advance_ms(GRACE);
    f.store.bump_after_read.store(true, Ordering::SeqCst);
    let summary = f.sweep().await;
    assert_eq!(summary.skipped, 1, "{summary:?}");
    assert_eq!(summary.redriven, 0);
    assert!(f.sent().is_empty(), "nothing sent for a job a worker moved");
    assert_eq!(f.stored(&job).redrives, 0);
}

#[tokio::test]
async fn a_failed_send_is_counted_and_tried_again_after_another_grace() {
    let f = Fixture::new();
    let job = f.job();
    f.clock.advance_ms(GRACE);
    f.queue.fail.store(true, Ordering::SeqCst);
    let summary = f.sweep().await;
    assert_eq!(summary.errors, 1, "{summary:?}");
    f.queue.fail.store(false, Ordering::SeqCst);
    f.clock.advance_ms(GRACE);
    assert_eq!(f.sweep().await.redriven, 1);
    assert_eq!(f.sent(), vec![job.message()]);
}

#[tokio::test]
async fn a_store_outage_is_counted_not_fatal() {
    let f = Fixture::new();
    f.job();
    f.job();
    f.clock.advance_ms(GRACE);
    f.store.unavailable.store(true, Ordering::SeqCst);
    let summary = f.sweep().await;
    assert_eq!(summary.errors, 2, "{summary:?}");
    assert!(f.sent().is_empty());
}

#[tokio::test]
async fn one_sweep_handles_at_most_its_bound() {
    let mut f = Fixture::new();
    f.settings.max_jobs_per_sweep = 2;
    for _ in 0..5 {
        f.job();
    }
    f.clock.advance_ms(GRACE);
    assert_eq!(f.sweep().await.redriven, 2);
    assert_eq!(f.sweep().await.redriven, 2);
    assert_eq!(f.sweep().await.redriven, 1);
}

// ------------------------------------------------------------------------------ dead letters

#[tokio::test]
async fn a_dead_letter_for_the_current_step_fails_the_job_with_its_last_error_and_is_deleted() {
    let f = Fixture::new();
    let mut job = f.job();
    job.error = Some(x_error(NOW));
    f.put(&job);
    f.dlq.put(&job.message().to_body());

    let summary = f.sweep().await;
    assert_eq!(summary.dead_letters_failed, 1, "{summary:?}");
    assert_eq!(summary.dead_letters_deleted, 1);
    assert_eq!(f.dlq.remaining(), 0);
    let after = f.stored(&job);
    assert_eq!(after.phase, Phase::Failed);
    let error = after.error.unwrap();
    assert_eq!(error.code, "gave_up");
    assert!(error.retryable);
    assert!(
        error
            .message
            .contains("X answered 503: Service Unavailable"),
        "{}",
        error.message
    );
    assert_eq!(f.post_status(&job), PostStatus::Failed);
    assert!(f.sent().is_empty(), "a dead job is not re-driven");
}

#[tokio::test]
async fn a_dead_letter_is_settled_before_its_overdue_job_would_be_re_driven() {
    let f = Fixture::new();
    let job = f.job();
    f.dlq.put(&job.message().to_body());
    f.clock.advance_ms(10 * GRACE);
    let summary = f.sweep().await;
    assert_eq!(summary.dead_letters_failed, 1, "{summary:?}");
    assert_eq!(summary.redriven, 0);
    assert_eq!(f.stored(&job).phase, Phase::Failed);
}

#[tokio::test]
async fn stale_finished_and_unknown_dead_letters_are_deleted_without_touching_jobs() {
    let f = Fixture::new();
    let moved_on = f.job();
    let mut current = moved_on.clone();
    current.previous_step_token = Some(current.step_token.clone());
    current.step_token = "newer".into();
    current.step_due_at_ms = NOW + 900_000;
    f.put(&current);
    f.dlq.put(&moved_on.message().to_body());

    let mut done = f.job();
    done.phase = Phase::Published;
    f.put(&done);
    f.dlq.put(&done.message().to_body());

    let mut unknown = done.message();
    unknown.post_id = new_post_id(NOW - 5);
    f.dlq.put(&unknown.to_body());

    let summary = f.sweep().await;
    assert_eq!(summary.dead_letters_deleted, 3, "{summary:?}");
    assert_eq!(summary.dead_letters_failed, 0);
    assert_eq!(f.dlq.remaining(), 0);
    assert_eq!(f.stored(&current), current);
    assert_eq!(f.stored(&done), done);
}

#[tokio::test]
async fn a_malformed_dead_letter_is_left_for_an_operator() {
    let f = Fixture::new();
    f.dlq.put("not json");
    let summary = f.sweep().await;
    assert_eq!(summary.dead_letters_left, 1, "{summary:?}");
    assert_eq!(summary.dead_letters_deleted, 0);
    assert_eq!(f.dlq.remaining(), 1);
    f.dlq.reappear();
    assert_eq!(
        f.sweep().await.dead_letters_left,
        1,
        "still there next sweep"
    );
}

#[tokio::test]
async fn a_dead_letter_never_fails_a_job_another_worker_holds() {
    let f = Fixture::new();
    let mut job = f.job();
    job.lease_owner = Some("worker-1".into());
    job.lease_until_ms = NOW + 60_000;
    f.put(&job);
    f.dlq.put(&job.message().to_body());

    let summary = f.sweep().await;
    assert_eq!(summary.dead_letters_left, 1, "{summary:?}");
    assert_eq!(f.stored(&job), job, "the job is untouched");
    assert_eq!(f.dlq.remaining(), 1, "the letter stays for a later sweep");

    // The holder crashed: once its lease has run out, the letter fails the job.
    f.clock.advance_ms(60_000);
    f.dlq.reappear();
    let summary = f.sweep().await;
    assert_eq!(summary.dead_letters_failed, 1, "{summary:?}");
    assert_eq!(f.stored(&job).phase, Phase::Failed);
    assert_eq!(f.dlq.remaining(), 0);
}

#[tokio::test]
async fn one_sweep_reads_at_most_its_bound_of_dead_letters() {
    let mut f = Fixture::new();
    f.settings.max_dead_letters_per_sweep = 12;
    for _ in 0..25 {
        f.dlq.put("not json");
    }
    let summary = f.sweep().await;
    assert_eq!(summary.dead_letters_left, 12, "{summary:?}");
}
