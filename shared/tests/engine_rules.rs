//! The engine's rules against in-memory ports: message tokens, leases, the time budget and the
//! failure classes, each checked without any service. (The same engine runs end to end against
//! moto and the X emulator in `tools/reelay-local/tests/upload.rs`.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use reelay_shared::clock::{Clock, ManualClock};
use reelay_shared::engine::{Engine, EngineSettings, Invocation, Outcome};
use reelay_shared::ids::{PostId, UserId};
use reelay_shared::jobs::{Phase, SourceObject, UploadJob};
use reelay_shared::messages::JobMessage;
use reelay_shared::ports::*;
use reelay_shared::posts::{new_post_id, Platform, Post, PostStatus};
use reelay_shared::secret::Secret;
use reelay_shared::store::{JobStore, PostPage, PostStore, StoreError};

const NOW: i64 = 1_800_000_000_000;

#[derive(Default)]
struct Jobs(
    Mutex<HashMap<String, UploadJob>>,
    Mutex<Option<Post>>,
    /// A change the user makes right after the engine's next read of the post (a race).
    Mutex<Option<PostEdit>>,
);

type PostEdit = Box<dyn FnOnce(&mut Post) + Send>;

#[async_trait]
impl JobStore for Jobs {
    async fn get_job(
        &self,
        _: &UserId,
        post: &PostId,
        _: Platform,
    ) -> Result<Option<UploadJob>, StoreError> {
        Ok(self.0.lock().unwrap().get(post.as_str()).cloned())
    }
    async fn save_job(&self, job: &UploadJob) -> Result<(), StoreError> {
        let mut jobs = self.0.lock().unwrap();
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
impl PostStore for Jobs {
    async fn create_post(&self, _: &Post) -> Result<(), StoreError> {
        Ok(())
    }
    /// The one post a test stored with `Fixture::store_post` (none by default).
    async fn get_post(&self, _: &UserId, _: &PostId) -> Result<Option<Post>, StoreError> {
        let mut stored = self.1.lock().unwrap();
        let read = stored.clone();
        if let (Some(edit), Some(post)) = (self.2.lock().unwrap().take(), stored.as_mut()) {
            edit(post);
        }
        Ok(read)
    }
    async fn save_post(&self, post: &Post) -> Result<(), StoreError> {
        let mut stored = self.1.lock().unwrap();
        if stored.is_some() {
            *stored = Some(post.clone());
        }
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
        _: &PostId,
    ) -> Result<Option<(Post, Vec<UploadJob>)>, StoreError> {
        Ok(None)
    }
    async fn start_jobs(&self, _: &Post, _: &[UploadJob]) -> Result<(), StoreError> {
        Ok(())
    }
}

struct Zeros;

#[async_trait]
impl BlobReader for Zeros {
    async fn read_range(&self, _: ObjectRef<'_>, _: u64, len: u64) -> Result<Bytes, BlobError> {
        Ok(Bytes::from(vec![0u8; len as usize]))
    }
}

#[derive(Default)]
struct Sent(Mutex<Vec<(JobMessage, u32)>>);

/// The one-time schedules the engine asked for, by job: (message, at_ms); `None` once forgotten.
#[derive(Default)]
struct Schedules(Mutex<HashMap<String, Option<(JobMessage, i64)>>>);

impl Schedules {
    fn of(&self, message: &JobMessage) -> Option<(JobMessage, i64)> {
        let key = format!("{}/{}", message.post_id, message.platform);
        self.0.lock().unwrap().get(&key).cloned().flatten()
    }
}

#[async_trait]
impl WakeUps for Schedules {
    async fn wake_at(&self, message: &JobMessage, at_ms: i64) -> Result<(), QueueError> {
        let key = format!("{}/{}", message.post_id, message.platform);
        self.0
            .lock()
            .unwrap()
            .insert(key, Some((message.clone(), at_ms)));
        Ok(())
    }
    async fn forget(&self, message: &JobMessage) -> Result<(), QueueError> {
        let key = format!("{}/{}", message.post_id, message.platform);
        self.0.lock().unwrap().insert(key, None);
        Ok(())
    }
}

#[async_trait]
impl WorkQueue for Sent {
    async fn send(&self, message: &JobMessage, delay_secs: u32) -> Result<(), QueueError> {
        self.0.lock().unwrap().push((message.clone(), delay_secs));
        Ok(())
    }
}

/// A platform that succeeds unless told to fail the next calls of a step, answers after a delay
/// when told to, and whose lookups find nothing (every post seen) unless told otherwise.
#[derive(Default)]
struct FakeX {
    failures: Mutex<HashMap<&'static str, Vec<PlatformError>>>,
    calls: Mutex<Vec<&'static str>>,
    delays: Mutex<HashMap<&'static str, std::time::Duration>>,
    lookups: Mutex<Vec<Lookup>>,
}

impl FakeX {
    fn slow(&self, step: &'static str, delay: std::time::Duration) {
        self.delays.lock().unwrap().insert(step, delay);
    }
    fn next_lookup(&self, lookup: Lookup) {
        self.lookups.lock().unwrap().push(lookup);
    }
    async fn delay(&self, step: &'static str) {
        let delay = self.delays.lock().unwrap().get(step).copied();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
    }
    fn fail_next(&self, step: &'static str, err: PlatformError) {
        self.failures
            .lock()
            .unwrap()
            .entry(step)
            .or_default()
            .push(err);
    }
    fn call(&self, step: &'static str) -> Result<(), PlatformError> {
        self.calls.lock().unwrap().push(step);
        match self.failures.lock().unwrap().get_mut(step) {
            Some(queue) if !queue.is_empty() => Err(queue.remove(0)),
            _ => Ok(()),
        }
    }
    fn count(&self, step: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == step)
            .count()
    }
}

fn done() -> Processing {
    Processing {
        state: ProcessingState::Succeeded,
        check_after_secs: None,
        progress_percent: Some(100),
        error: None,
    }
}

#[async_trait]
impl MediaPlatform for FakeX {
    async fn initialize(
        &self,
        _: &AccessToken,
        _: u64,
        _: &str,
        _: &str,
    ) -> Result<MediaSession, PlatformError> {
        self.delay("initialize").await;
        self.call("initialize")?;
        Ok(MediaSession {
            media_id: "111".into(),
            media_key: Some("7_111".into()),
            expires_after_secs: Some(86400),
        })
    }
    async fn append(
        &self,
        _: &AccessToken,
        _: &str,
        _: u32,
        _: Bytes,
    ) -> Result<(), PlatformError> {
        self.delay("append").await;
        self.call("append")
    }
    async fn finalize(&self, _: &AccessToken, _: &str) -> Result<Processing, PlatformError> {
        self.delay("finalize").await;
        self.call("finalize").map(|_| done())
    }
    async fn status(&self, _: &AccessToken, _: &str) -> Result<Processing, PlatformError> {
        self.delay("status").await;
        self.call("status").map(|_| done())
    }
    async fn publish(
        &self,
        _: &AccessToken,
        _: &str,
        _: &str,
    ) -> Result<PublishedPost, PlatformError> {
        self.delay("publish").await;
        self.call("publish").map(|_| PublishedPost {
            id: "999".into(),
            url: "https://x.com/i/web/status/999".into(),
        })
    }
    async fn find_published(
        &self,
        _: &AccessToken,
        _: &str,
        _: i64,
    ) -> Result<Lookup, PlatformError> {
        self.delay("find_published").await;
        self.call("find_published")?;
        let mut queued = self.lookups.lock().unwrap();
        Ok(if queued.is_empty() {
            Lookup {
                found: None,
                complete: true,
                posts_read: 0,
            }
        } else {
            queued.remove(0)
        })
    }
}

#[derive(Default)]
struct Creds {
    refreshes: AtomicU32,
    flagged: Mutex<Option<String>>,
}

#[async_trait]
impl Credentials for Creds {
    async fn access_token(&self, _: &UserId) -> Result<AccessToken, CredentialError> {
        Ok(AccessToken {
            token: Secret::new("t0"),
            account_id: "42".into(),
            version: 1,
            scopes: vec!["media.write".into()],
        })
    }
    async fn refresh_after_unauthorized(
        &self,
        _: &UserId,
        _: &AccessToken,
    ) -> Result<AccessToken, CredentialError> {
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AccessToken {
            token: Secret::new(format!("t{n}")),
            account_id: "42".into(),
            version: u64::from(n) + 1,
            scopes: vec!["media.write".into()],
        })
    }
    async fn flag_reconnect(&self, _: &UserId, reason: &str) -> Result<(), CredentialError> {
        *self.flagged.lock().unwrap() = Some(reason.to_owned());
        Ok(())
    }
}

#[derive(Default)]
struct Alerts(Mutex<Vec<OperatorAlert>>);

#[async_trait]
impl OperatorAlerts for Alerts {
    async fn alert(&self, alert: &OperatorAlert) -> Result<(), AlertError> {
        self.0.lock().unwrap().push(alert.clone());
        Ok(())
    }
}

struct Fixture {
    alerts: Alerts,
    jobs: Jobs,
    queue: Sent,
    platform: FakeX,
    creds: Creds,
    clock: ManualClock,
    settings: EngineSettings,
    schedules: Schedules,
}

impl Fixture {
    fn new() -> Self {
        Self {
            alerts: Alerts::default(),
            jobs: Jobs::default(),
            queue: Sent::default(),
            platform: FakeX::default(),
            creds: Creds::default(),
            clock: ManualClock::new(NOW),
            schedules: Schedules::default(),
            settings: EngineSettings {
                deadline_margin_ms: 500,
                initial_segment_estimate_ms: 1_000,
                max_attempts: 2,
                ..EngineSettings::default()
            },
        }
    }

    fn engine(&self) -> Engine<'_> {
        Engine {
            jobs: &self.jobs,
            posts: &self.jobs,
            blobs: &Zeros,
            queue: &self.queue,
            wake_ups: &self.schedules,
            platform: &self.platform,
            credentials: &self.creds,
            // X only: these are the rules of X's steps.
            resumable: Vec::new(),
            clock: &self.clock,
            crashes: &NoCrashes,
            alerts: &self.alerts,
            settings: self.settings.clone(),
        }
    }

    /// A queued job for a 3-segment video, stored; returns its first message.
    fn queued_job(&self) -> JobMessage {
        let post = Post {
            user_id: UserId::parse("u1").unwrap(),
            post_id: new_post_id(NOW),
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
        let job = UploadJob::new(&post, Platform::Twitter, source, 1024, NOW);
        self.jobs
            .0
            .lock()
            .unwrap()
            .insert(job.post_id.to_string(), job.clone());
        job.message()
    }

    fn job(&self) -> UploadJob {
        self.jobs
            .0
            .lock()
            .unwrap()
            .values()
            .next()
            .cloned()
            .unwrap()
    }

    fn invocation(&self, deadline_in_ms: i64, receive_count: u32) -> Invocation {
        Invocation {
            id: format!("inv-{}", self.clock.now_ms()),
            deadline_ms: self.clock.now_ms() + deadline_in_ms,
            receive_count,
        }
    }

    fn last_sent(&self) -> (JobMessage, u32) {
        self.queue
            .0
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a message was sent")
    }
}

fn err(kind: FailureKind, code: &str) -> PlatformError {
    PlatformError {
        kind,
        code: code.into(),
        message: format!("X says {code}"),
    }
}

#[tokio::test]
async fn a_whole_upload_runs_in_one_roomy_invocation() {
    let f = Fixture::new();
    let message = f.queued_job();
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(Phase::Published));
    let job = f.job();
    assert_eq!((job.bytes_sent, job.next_segment), (3 * 1024, 3));
    assert_eq!(job.remote_post_id.as_deref(), Some("999"));
    assert_eq!(f.platform.count("append"), 3);
    assert_eq!(f.platform.count("publish"), 1);
    // FINALIZE's answer was final (nothing left to process): STATUS is not asked. For media that
    // never needed processing X answers STATUS 400 "BadRequest: Not found" (xurl#18).
    assert_eq!(f.platform.count("status"), 0);
    assert!(
        f.queue.0.lock().unwrap().is_empty(),
        "no continuation needed"
    );
}

#[tokio::test]
async fn stale_and_unknown_messages_are_dropped_without_calling_x() {
    let f = Fixture::new();
    let mut message = f.queued_job();
    message.step_token = "not-the-current-one".into();
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Dropped("stale message"));
    assert!(f.platform.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_duplicate_while_another_worker_holds_the_lease_comes_back_later() {
    let f = Fixture::new();
    let message = f.queued_job();
    let mut job = f.job();
    job.lease_owner = Some("someone-else".into());
    job.lease_until_ms = NOW + 30_000;
    job.version += 1;
    f.jobs.save_job(&job).await.unwrap();
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Retry("job is leased by another worker"));
    assert!(f.platform.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_deadline_splits_the_upload_into_continuations() {
    let f = Fixture::new();
    let first = f.queued_job();
    // Room for one step only (1 s estimate + 0.5 s margin > 1.2 s).
    let outcome = f
        .engine()
        .advance(&first, &f.invocation(1_200, 1))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::HandedOff {
            phase: Phase::Initialized,
            delay_secs: 0
        }
    );
    let job = f.job();
    assert!(
        job.lease_owner.is_none(),
        "the lease is released at hand-off"
    );
    let (next, delay) = f.last_sent();
    assert_eq!(
        (next.step_token.as_str(), delay),
        (job.step_token.as_str(), 0)
    );
    assert_eq!(
        job.previous_step_token.as_deref(),
        Some(first.step_token.as_str())
    );
    // The old message is now stale; the continuation carries on.
    assert_eq!(
        f.engine()
            .advance(&first, &f.invocation(1_200, 2))
            .await
            .unwrap(),
        Outcome::Retry("waiting to see whether the continuation arrives")
    );
    let outcome = f
        .engine()
        .advance(&next, &f.invocation(1_200, 1))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::HandedOff {
            phase: Phase::Appending,
            delay_secs: 0
        }
    );
    assert_eq!(f.job().next_segment, 1);
}

#[tokio::test]
async fn a_lost_continuation_is_resent_by_the_previous_message_when_overdue_or_on_its_last_receive()
{
    let f = Fixture::new();
    let first = f.queued_job();
    f.engine()
        .advance(&first, &f.invocation(1_200, 1))
        .await
        .unwrap();
    let current = f.job().step_token;
    f.queue.0.lock().unwrap().clear(); // the continuation was "lost"
                                       // Not overdue, not the last receive: it comes back later, and nothing is sent yet.
    assert_eq!(
        f.engine()
            .advance(&first, &f.invocation(60_000, 2))
            .await
            .unwrap(),
        Outcome::Retry("waiting to see whether the continuation arrives")
    );
    assert!(f.queue.0.lock().unwrap().is_empty());
    // The last receive before the DLQ re-sends the current message even though it is not
    // overdue (before, it was dropped and the job was left with no message at all).
    assert_eq!(
        f.engine()
            .advance(&first, &f.invocation(60_000, 5))
            .await
            .unwrap(),
        Outcome::Dropped("re-sent the current message")
    );
    assert_eq!(f.last_sent().0.step_token, current);
    f.queue.0.lock().unwrap().clear();
    // Overdue: any receive re-sends it.
    f.clock
        .advance_ms(f.settings.lost_continuation_grace_ms + 1);
    assert_eq!(
        f.engine()
            .advance(&first, &f.invocation(60_000, 2))
            .await
            .unwrap(),
        Outcome::Dropped("re-sent the current message")
    );
    assert_eq!(f.last_sent().0.step_token, current);
}

#[tokio::test]
async fn a_rate_limit_waits_for_the_reset_without_spending_an_attempt() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform.fail_next(
        "initialize",
        err(
            FailureKind::RateLimited {
                retry_at_ms: Some(NOW + 30_000),
            },
            "x_rate_limited",
        ),
    );
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::HandedOff {
            phase: Phase::Queued,
            delay_secs: 31
        }
    );
    assert_eq!(f.job().attempts, 0);
}

#[tokio::test]
async fn transient_failures_back_off_then_fail_as_retryable() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform
        .fail_next("initialize", err(FailureKind::Transient, "x_server_error"));
    f.platform
        .fail_next("initialize", err(FailureKind::Transient, "x_server_error"));
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    let Outcome::HandedOff { delay_secs, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert!((1..=4).contains(&delay_secs), "backoff {delay_secs}");
    assert_eq!(f.job().attempts, 1);
    let (next, _) = f.last_sent();
    let outcome = f
        .engine()
        .advance(&next, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(Phase::Failed));
    let error = f.job().error.unwrap();
    assert_eq!(error.code, "platform_unavailable");
    assert!(error.retryable);
    assert!(
        error.message.contains("X says x_server_error"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_401_refreshes_once_then_fails_as_reconnect() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform.fail_next(
        "initialize",
        err(FailureKind::Unauthorized, "x_unauthorized"),
    );
    f.platform.fail_next(
        "initialize",
        err(FailureKind::Unauthorized, "x_unauthorized"),
    );
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(Phase::Failed));
    assert_eq!(f.creds.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(f.job().error.unwrap().code, "reconnect_required");
}

#[tokio::test]
async fn a_missing_scope_flags_the_account_and_a_duplicate_post_is_permanent() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform.fail_next(
        "initialize",
        err(FailureKind::MissingPermission, "x_missing_scope"),
    );
    f.engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(f.job().error.unwrap().code, "reconnect_required");
    // The platform adapter words the fix (X: which permission to approve); the engine passes
    // it on to the account and the post unchanged.
    assert_eq!(
        f.creds.flagged.lock().unwrap().as_deref(),
        Some("X says x_missing_scope")
    );
    assert_eq!(f.job().error.unwrap().message, "X says x_missing_scope");
    assert!(f.alerts.0.lock().unwrap().is_empty());

    let g = Fixture::new();
    let message = g.queued_job();
    g.platform
        .fail_next("publish", err(FailureKind::Duplicate, "x_duplicate_post"));
    assert_eq!(
        g.engine()
            .advance(&message, &g.invocation(60_000, 1))
            .await
            .unwrap(),
        Outcome::Finished(Phase::Failed)
    );
    let error = g.job().error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.retryable),
        ("duplicate_post", false)
    );
}

#[tokio::test]
async fn a_post_whose_answer_was_lost_is_looked_up_once_x_can_show_it_before_posting_again() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform
        .fail_next("publish", err(FailureKind::Transient, "x_unreachable"));
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::HandedOff {
                phase: Phase::Publishing,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(f.job().publish_started);
    // Too early: X may not show the post yet, so the job waits instead of looking.
    let (next, _) = f.last_sent();
    let outcome = f
        .engine()
        .advance(&next, &f.invocation(60_000, 1))
        .await
        .unwrap();
    let Outcome::HandedOff { delay_secs, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(delay_secs >= 1 && i64::from(delay_secs) * 1000 <= f.settings.publish_settle_ms);
    assert_eq!(f.platform.count("find_published"), 0);
    f.clock.advance_ms(f.settings.publish_settle_ms);
    let (next, _) = f.last_sent();
    f.engine()
        .advance(&next, &f.invocation(60_000, 1))
        .await
        .unwrap();
    // Every post since the first attempt was seen and none carries the media: post again.
    assert_eq!(f.platform.count("find_published"), 1);
    assert_eq!(f.platform.count("publish"), 2);
    assert_eq!(f.job().phase, Phase::Published);
}

/// Runs the job's messages until it hands off with a delay, moving the clock by that delay.
async fn run_until_final(f: &Fixture, first: JobMessage, limit: usize) -> Outcome {
    let mut message = first;
    for _ in 0..limit {
        let outcome = f
            .engine()
            .advance(&message, &f.invocation(60_000, 1))
            .await
            .unwrap();
        match outcome {
            Outcome::HandedOff { delay_secs, .. } => {
                f.clock.advance_ms(i64::from(delay_secs) * 1000);
                message = f.last_sent().0;
            }
            other => return other,
        }
    }
    panic!(
        "job not final after {limit} messages: {:?}",
        f.job().history
    )
}

fn published(id: &str) -> Lookup {
    Lookup {
        found: Some(PublishedPost {
            id: id.into(),
            url: format!("https://x.com/i/web/status/{id}"),
        }),
        complete: true,
        posts_read: 3,
    }
}

#[tokio::test]
async fn a_duplicate_refusal_after_a_lost_answer_is_evidence_and_the_post_is_found() {
    let f = Fixture::new();
    let message = f.queued_job();
    // The first call's answer is lost; the lookup (X not showing it yet) sees nothing; the
    // second call is refused as a duplicate: the first one worked, and it shows up later.
    f.platform
        .fail_next("publish", err(FailureKind::Transient, "x_timeout"));
    f.platform
        .fail_next("publish", err(FailureKind::Duplicate, "x_duplicate_post"));
    f.platform.next_lookup(Lookup {
        found: None,
        complete: true,
        posts_read: 0,
    });
    f.platform.next_lookup(Lookup {
        found: None,
        complete: true,
        posts_read: 0,
    });
    f.platform.next_lookup(published("777"));
    let outcome = run_until_final(&f, message, 20).await;
    assert_eq!(outcome, Outcome::Finished(Phase::Published));
    let job = f.job();
    assert_eq!(job.remote_post_id.as_deref(), Some("777"));
    assert_eq!(f.platform.count("publish"), 2, "never a third call");
    assert!(job.duplicate_refused);
    assert_eq!(job.posts_read, 3);
}

#[tokio::test]
async fn failed_lookups_never_post_again_and_end_unconfirmed() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform
        .fail_next("publish", err(FailureKind::Transient, "x_timeout"));
    for _ in 0..f.settings.max_lookups {
        // A 403 on the timeline is the lookup's own failure: it flags no account.
        f.platform.fail_next(
            "find_published",
            err(FailureKind::MissingPermission, "x_forbidden"),
        );
    }
    let outcome = run_until_final(&f, message, 30).await;
    assert_eq!(outcome, Outcome::Finished(Phase::Unconfirmed));
    assert_eq!(f.platform.count("publish"), 1);
    assert_eq!(
        f.platform.count("find_published"),
        f.settings.max_lookups as usize
    );
    assert!(f.creds.flagged.lock().unwrap().is_none());
    let error = f.job().error.unwrap();
    assert_eq!(error.code, "post_unconfirmed");
    assert!(error.retryable);
    assert!(error.message.contains("7_111"), "{}", error.message);
}

#[tokio::test]
async fn an_incomplete_lookup_proves_nothing() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform
        .fail_next("publish", err(FailureKind::Transient, "x_timeout"));
    f.platform.next_lookup(Lookup {
        found: None,
        complete: false,
        posts_read: 50,
    });
    f.platform.next_lookup(published("778"));
    let outcome = run_until_final(&f, message, 20).await;
    assert_eq!(outcome, Outcome::Finished(Phase::Published));
    assert_eq!(f.platform.count("publish"), 1);
    assert_eq!(f.job().posts_read, 53);
}

#[tokio::test]
async fn the_refresh_allowance_comes_back_after_a_successful_call() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform.fail_next(
        "initialize",
        err(FailureKind::Unauthorized, "x_unauthorized"),
    );
    f.platform
        .fail_next("append", err(FailureKind::Unauthorized, "x_unauthorized"));
    let outcome = run_until_final(&f, message, 10).await;
    assert_eq!(outcome, Outcome::Finished(Phase::Published));
    assert_eq!(f.creds.refreshes.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_lost_finalize_answer_then_a_transient_status_error_does_not_restart() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform.fail_next(
        "finalize",
        err(FailureKind::Rejected, "x_rejected"), // "already finalized"
    );
    f.platform
        .fail_next("status", err(FailureKind::Transient, "x_server_error"));
    let outcome = run_until_final(&f, message, 10).await;
    assert_eq!(outcome, Outcome::Finished(Phase::Published));
    let job = f.job();
    assert_eq!(job.restarts, 0, "{:?}", job.history);
    assert_eq!(f.platform.count("initialize"), 1);
    assert_eq!(f.platform.count("append"), 3);

    // X still finishing the first FINALIZE refuses STATUS too: wait, never start over.
    let g = Fixture::new();
    let message = g.queued_job();
    g.platform
        .fail_next("finalize", err(FailureKind::Rejected, "x_rejected"));
    g.platform
        .fail_next("status", err(FailureKind::Rejected, "x_rejected"));
    assert_eq!(
        run_until_final(&g, message, 10).await,
        Outcome::Finished(Phase::Published)
    );
    assert_eq!(g.job().restarts, 0);
    assert_eq!(g.platform.count("initialize"), 1);
}

#[tokio::test]
async fn only_media_x_no_longer_knows_restarts_the_upload() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform
        .fail_next("append", err(FailureKind::MediaGone, "x_media_gone"));
    assert_eq!(
        run_until_final(&f, message, 10).await,
        Outcome::Finished(Phase::Published)
    );
    assert_eq!(f.job().restarts, 1);
    assert_eq!(f.platform.count("initialize"), 2);

    let g = Fixture::new();
    let message = g.queued_job();
    g.platform
        .fail_next("append", err(FailureKind::Rejected, "x_rejected"));
    assert_eq!(
        run_until_final(&g, message, 10).await,
        Outcome::Finished(Phase::Failed)
    );
    let job = g.job();
    assert_eq!(job.restarts, 0);
    assert_eq!(job.error.unwrap().code, "media_rejected");
    assert_eq!(g.platform.count("initialize"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_call_slower_than_the_deadline_is_given_up_before_lambda_would_kill_it() {
    let f = Fixture::new();
    let message = f.queued_job();
    // X takes 10 minutes to answer INIT; the invocation has 5 s.
    f.platform
        .slow("initialize", std::time::Duration::from_secs(600));
    let started = tokio::time::Instant::now();
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(5_000, 1))
        .await
        .unwrap();
    assert!(
        started.elapsed() <= std::time::Duration::from_millis(5_000 - 500),
        "ran {:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            outcome,
            Outcome::HandedOff {
                phase: Phase::Queued,
                ..
            }
        ),
        "{outcome:?}"
    );
    let job = f.job();
    assert_eq!(job.attempts, 1);
    assert_eq!(job.error.unwrap().code, "x_timeout");
}

#[tokio::test]
async fn a_dead_letter_never_overrides_a_live_lease() {
    let f = Fixture::new();
    let message = f.queued_job();
    let mut job = f.job();
    job.lease_owner = Some("other-worker".into());
    job.lease_until_ms = NOW + 30_000;
    job.version += 1;
    f.jobs.save_job(&job).await.unwrap();
    let verdict = f
        .engine()
        .settler()
        .fail_for_dead_letter(&message, "killed")
        .await
        .unwrap();
    assert_eq!(verdict, reelay_shared::engine::DeadLetterVerdict::Leased);
    assert_eq!(f.job().phase, Phase::Queued);
    f.clock.advance_ms(30_001);
    let verdict = f
        .engine()
        .settler()
        .fail_for_dead_letter(&message, "killed")
        .await
        .unwrap();
    assert_eq!(verdict, reelay_shared::engine::DeadLetterVerdict::Failed);
    assert_eq!(f.job().error.unwrap().code, "gave_up");
}

#[tokio::test]
async fn a_retry_after_the_media_expired_starts_over_and_can_succeed() {
    let f = Fixture::new();
    let message = f.queued_job();
    // X fails every post call; the job fails retryable with its media processed.
    for _ in 0..f.settings.max_attempts {
        f.platform
            .fail_next("publish", err(FailureKind::Transient, "x_server_error"));
    }
    assert_eq!(
        run_until_final(&f, message, 40).await,
        Outcome::Finished(Phase::Failed)
    );
    assert_eq!(
        f.platform.count("publish"),
        f.settings.max_attempts as usize
    );
    // A day later X has forgotten the media. The retry looks, finds nothing, and starts over.
    f.clock.advance_ms(2 * 86_400_000);
    let mut job = f.job();
    job.reset_for_retry(f.clock.now_ms(), 600_000);
    job.version += 1;
    f.jobs.save_job(&job).await.unwrap();
    assert_eq!(
        run_until_final(&f, job.message(), 40).await,
        Outcome::Finished(Phase::Published)
    );
    let job = f.job();
    assert_eq!(job.restarts, 1, "{:?}", job.history);
    assert_eq!(f.platform.count("initialize"), 2);
    assert_eq!(job.retries, 1);
}

#[tokio::test]
async fn huge_values_from_x_do_not_overflow() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform.fail_next(
        "initialize",
        err(
            FailureKind::RateLimited {
                retry_at_ms: Some(i64::MAX),
            },
            "x_rate_limited",
        ),
    );
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::HandedOff {
            phase: Phase::Queued,
            delay_secs: 900
        }
    );
}

#[tokio::test]
async fn a_daily_cap_waits_a_day_in_queue_delay_links_without_calling_x() {
    let f = Fixture::new();
    let message = f.queued_job();
    let reset_ms = NOW + 20 * 3_600_000;
    f.platform.fail_next(
        "initialize",
        err(
            FailureKind::RateLimited {
                retry_at_ms: Some(reset_ms),
            },
            "x_daily_limit",
        ),
    );
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    // SQS delays at most 15 minutes: the first link.
    assert_eq!(
        outcome,
        Outcome::HandedOff {
            phase: Phase::Queued,
            delay_secs: 900
        }
    );
    let job = f.job();
    assert_eq!(job.wait_until_ms, Some(reset_ms + 1_000));
    assert_eq!(job.attempts, 0);
    let error = job.error.unwrap();
    assert!(
        error
            .message
            .contains("Reelay continues at 2027-01-16T04:00:01Z"),
        "the user is told when: {}",
        error.message
    );

    // Each link passes the wait on, without touching X; a duplicate of a link does nothing.
    let calls = f.platform.calls.lock().unwrap().len();
    let mut link = f.last_sent().0;
    for _ in 0..79 {
        f.clock.advance_ms(900_000);
        let duplicate = link.clone();
        let outcome = f
            .engine()
            .advance(&link, &f.invocation(60_000, 1))
            .await
            .unwrap();
        assert!(
            matches!(outcome, Outcome::HandedOff { phase: Phase::Queued, delay_secs } if delay_secs <= 900),
            "{outcome:?}"
        );
        let sent = f.queue.0.lock().unwrap().len();
        let again = f
            .engine()
            .advance(&duplicate, &f.invocation(60_000, 1))
            .await
            .unwrap();
        assert!(
            matches!(again, Outcome::Dropped(_) | Outcome::Retry(_)),
            "{again:?}"
        );
        assert_eq!(
            f.queue.0.lock().unwrap().len(),
            sent,
            "a duplicate sends nothing"
        );
        link = f.last_sent().0;
    }
    assert_eq!(
        f.platform.calls.lock().unwrap().len(),
        calls,
        "no X call while waiting"
    );
    // 20 h = 80 links; the last one runs the upload.
    f.clock.advance_ms(900_000 + 1_000);
    let outcome = run_until_final(&f, link, 10).await;
    assert_eq!(outcome, Outcome::Finished(Phase::Published));
    assert_eq!(f.job().wait_until_ms, None);
}

#[tokio::test]
async fn an_operator_problem_alerts_once_flags_no_account_and_waits_bounded() {
    let f = Fixture::new();
    let message = f.queued_job();
    let blocked = || err(FailureKind::OperatorAction, "x_credits_depleted");
    for _ in 0..3 {
        f.platform.fail_next("publish", blocked());
    }
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::HandedOff {
            phase: Phase::Publishing,
            delay_secs: f.settings.operator_retry_secs
        }
    );
    let job = f.job();
    assert_eq!(job.attempts, 0);
    assert_eq!(job.operator_blocked_since_ms, Some(NOW));
    assert_eq!(job.error.as_ref().unwrap().code, "x_credits_depleted");
    assert!(
        f.creds.flagged.lock().unwrap().is_none(),
        "no account is flagged"
    );
    // Still refused a while later: no second alert.
    f.clock.advance_ms(900_000);
    let (next, _) = f.last_sent();
    f.engine()
        .advance(&next, &f.invocation(60_000, 1))
        .await
        .unwrap();
    let alerts = f.alerts.0.lock().unwrap().clone();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].code, "x_credits_depleted");
    assert_eq!(alerts[0].post_id, job.post_id.to_string());
    assert_eq!(alerts[0].action, "X says x_credits_depleted");

    // Past the bound: failed, retryable, with the operator's problem as the reason.
    f.clock.advance_ms(f.settings.operator_wait_ms);
    let (next, _) = f.last_sent();
    let outcome = f
        .engine()
        .advance(&next, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(Phase::Failed));
    let error = f.job().error.unwrap();
    assert_eq!(error.code, "x_credits_depleted");
    assert!(error.retryable);
    assert!(
        error.message.contains("Gave up after waiting 12.0 h"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn an_operator_problem_that_is_fixed_lets_the_post_go_out() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform.fail_next(
        "initialize",
        err(FailureKind::OperatorAction, "x_app_not_enrolled"),
    );
    f.engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    f.clock.advance_ms(900_000);
    let (next, _) = f.last_sent();
    assert_eq!(
        run_until_final(&f, next, 10).await,
        Outcome::Finished(Phase::Published)
    );
    assert_eq!(f.job().operator_blocked_since_ms, None);
    assert_eq!(f.alerts.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_refusal_without_a_reason_refreshes_once_then_is_a_rejection() {
    let f = Fixture::new();
    let message = f.queued_job();
    f.platform
        .fail_next("initialize", err(FailureKind::Forbidden, "x_forbidden"));
    f.platform
        .fail_next("initialize", err(FailureKind::Forbidden, "x_forbidden"));
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(Phase::Failed));
    assert_eq!(f.creds.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(f.platform.count("initialize"), 2);
    let error = f.job().error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.retryable),
        ("media_rejected", false)
    );
    assert!(f.creds.flagged.lock().unwrap().is_none());

    // Once refreshed, the call can work.
    let g = Fixture::new();
    let message = g.queued_job();
    g.platform
        .fail_next("append", err(FailureKind::Forbidden, "x_forbidden"));
    assert_eq!(
        run_until_final(&g, message, 10).await,
        Outcome::Finished(Phase::Published)
    );
    assert_eq!(g.creds.refreshes.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- one SQS delivery (`delivery`)

fn delivery<'a>(body: &'a str, receive_count: u32) -> reelay_shared::delivery::Delivery<'a> {
    reelay_shared::delivery::Delivery {
        message_id: "m-1",
        body,
        receive_count,
    }
}

#[tokio::test]
async fn a_delivery_is_done_once_the_engine_handled_it_and_a_malformed_one_comes_back() {
    use reelay_shared::delivery::{deliver, Settle};
    let f = Fixture::new();
    let message = f.queued_job();
    let body = serde_json::to_string(&message).unwrap();
    let deadline = NOW + 60_000;
    let settle = deliver(&f.engine(), delivery(&body, 1), "req", deadline).await;
    assert_eq!(settle, Settle::Done);
    assert_eq!(f.job().phase, Phase::Published);

    // Retrying cannot fix it, but failing it takes it to the DLQ where an operator sees it.
    let settle = deliver(&f.engine(), delivery("{not json", 1), "req", deadline).await;
    assert_eq!(settle, Settle::Redeliver);
    assert_eq!(f.platform.count("publish"), 1, "nothing more was called");
}

#[tokio::test]
async fn a_delivery_without_time_left_comes_back_and_its_last_receive_fails_the_job() {
    use reelay_shared::delivery::{deliver, Settle, HANDLER_RESERVE_MS};
    let f = Fixture::new();
    let message = f.queued_job();
    let body = serde_json::to_string(&message).unwrap();
    // Less time left than the handler keeps for its answer: the engine is not even started.
    let deadline = NOW + HANDLER_RESERVE_MS;
    let settle = deliver(&f.engine(), delivery(&body, 1), "req", deadline).await;
    assert_eq!(settle, Settle::Redeliver);
    assert_eq!(
        f.job().phase,
        Phase::Queued,
        "not the last receive: left as it was"
    );
    assert!(f.platform.calls.lock().unwrap().is_empty());

    let last = f.settings.max_receive_count;
    let settle = deliver(&f.engine(), delivery(&body, last), "req", deadline).await;
    assert_eq!(settle, Settle::Redeliver);
    let job = f.job();
    assert_eq!(job.phase, Phase::Failed);
    let error = job.error.expect("the reason is recorded");
    assert_eq!(error.code, "gave_up");
    assert!(
        error.message.contains("the invocation ran out of time"),
        "{}",
        error.message
    );
}

// ------------------------------------------------------------------------------ scheduled posts

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

impl Fixture {
    /// `queued_job` for a post scheduled at `at_ms`, the post stored as the API leaves it.
    fn scheduled_job(&self, at_ms: i64) -> JobMessage {
        let message = self.queued_job();
        let mut job = self.job();
        job.publish_at_ms = Some(at_ms);
        self.jobs
            .0
            .lock()
            .unwrap()
            .insert(job.post_id.to_string(), job.clone());
        let mut post = Post::draft(
            job.user_id.clone(),
            job.post_id.clone(),
            job.text.clone(),
            vec![Platform::Twitter],
            NOW,
        );
        post.scheduled_at_ms = Some(at_ms);
        *self.jobs.1.lock().unwrap() = Some(post);
        message
    }

    fn edit_post(&self, edit: impl FnOnce(&mut Post)) {
        edit(self.jobs.1.lock().unwrap().as_mut().unwrap());
    }

    /// The message waiting in the job's schedule, and when it is due.
    fn scheduled(&self) -> (JobMessage, i64) {
        self.schedules
            .of(&self.job().message())
            .expect("a schedule for the job's current message")
    }
}

#[tokio::test]
async fn a_scheduled_post_uploads_ahead_waits_ready_and_posts_only_at_its_time() {
    let f = Fixture::new();
    let at = NOW + 2 * MINUTE;
    let first = f.scheduled_job(at);
    let outcome = f
        .engine()
        .advance(&first, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::HandedOff {
            phase: Phase::Ready,
            delay_secs: 120
        }
    );
    let ready = f.job();
    assert_eq!(ready.phase, Phase::Ready);
    assert!(ready.wake_scheduled);
    assert_eq!(
        ready.step_due_at_ms, at,
        "the reconciler's safety net is due at the time"
    );
    assert_eq!(f.platform.count("append"), 3, "uploaded ahead");
    assert_eq!(f.platform.count("publish"), 0);
    let (message, due) = f.scheduled();
    assert_eq!(due, at);
    assert!(
        f.queue.0.lock().unwrap().is_empty(),
        "the wait is the schedule's, not the queue's"
    );

    // Woken a second early (a clock skew): it schedules itself again and posts nothing.
    f.clock.advance_ms(2 * MINUTE - 1_000);
    f.engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(f.platform.count("publish"), 0);
    let (message, due) = f.scheduled();
    assert_eq!(due, at);

    f.clock.advance_ms(1_000);
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(Phase::Published));
    assert_eq!(f.platform.count("publish"), 1);
    assert_eq!(f.job().late, None);
}

#[tokio::test]
async fn a_changed_time_and_text_are_followed_until_publishing() {
    let f = Fixture::new();
    let first = f.scheduled_job(NOW + 10 * MINUTE);
    f.engine()
        .advance(&first, &f.invocation(60_000, 1))
        .await
        .unwrap();
    let (message, _) = f.scheduled();
    // PATCH: a later time and new text, then the API's nudge (the current message, now).
    f.edit_post(|p| {
        p.scheduled_at_ms = Some(NOW + 30 * MINUTE);
        p.text = "new words".into();
    });
    f.engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    let (message, due) = f.scheduled();
    assert_eq!(due, NOW + 30 * MINUTE);
    assert_eq!(f.platform.count("publish"), 0);
    f.clock.advance_ms(30 * MINUTE);
    f.engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(f.job().phase, Phase::Published);
    assert_eq!(f.job().text, "new words");
}

#[tokio::test]
async fn media_x_would_expire_before_the_time_is_uploaded_again_in_time() {
    let f = Fixture::new();
    // X keeps this media 24 h (FakeX's INIT); the post is due in two days.
    let at = NOW + 48 * HOUR;
    let first = f.scheduled_job(at);
    f.engine()
        .advance(&first, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(f.job().phase, Phase::Ready);
    assert_eq!(f.job().media_lifetime_ms, Some(24 * HOUR));
    let (message, restart_at) = f.scheduled();
    let margin = f.settings.schedule.expiry_margin_ms;
    assert_eq!(
        restart_at,
        at + margin - 24 * HOUR,
        "starts again so X keeps it past the time"
    );

    f.clock.advance_ms(restart_at - NOW);
    f.engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    let job = f.job();
    assert_eq!((job.phase, job.restarts), (Phase::Ready, 1));
    assert_eq!(f.platform.count("initialize"), 2);
    assert!(job.media_expires_at_ms.unwrap() >= at + margin);
    let (message, due) = f.scheduled();
    assert_eq!(due, at);
    f.clock.advance_ms(at - restart_at);
    f.engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    let job = f.job();
    assert_eq!(job.phase, Phase::Published);
    assert_eq!(job.late, None, "on time: {:?}", job.late);
}

#[tokio::test]
async fn a_post_due_after_its_media_expired_uploads_again_at_once_and_says_it_is_late() {
    let f = Fixture::new();
    let at = NOW + 10 * MINUTE;
    let first = f.scheduled_job(at);
    f.engine()
        .advance(&first, &f.invocation(60_000, 1))
        .await
        .unwrap();
    let (message, _) = f.scheduled();
    // The schedule fires a day and a half late: X dropped the media after 24 h.
    f.clock.advance_ms(36 * HOUR);
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(Phase::Published));
    let job = f.job();
    assert_eq!(job.restarts, 1);
    assert_eq!(f.platform.count("initialize"), 2);
    let late = job.late.expect("says it is late");
    assert!(late.contains("expired"), "{late}");
}

#[tokio::test]
async fn a_cancelled_post_ends_its_job_and_its_schedule_without_posting() {
    let f = Fixture::new();
    let first = f.scheduled_job(NOW + 10 * MINUTE);
    f.engine()
        .advance(&first, &f.invocation(60_000, 1))
        .await
        .unwrap();
    let (message, _) = f.scheduled();
    f.edit_post(|p| p.cancelled_at_ms = Some(NOW));
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(Phase::Cancelled));
    assert_eq!(f.schedules.of(&message), None, "the schedule is removed");
    f.clock.advance_ms(10 * MINUTE);
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Dropped("job already finished"));
    assert_eq!(f.platform.count("publish"), 0);
}

#[tokio::test]
async fn a_cancel_saved_while_the_job_decides_to_publish_is_seen_before_x_is_called() {
    let f = Fixture::new();
    let at = NOW + 2 * MINUTE;
    let first = f.scheduled_job(at);
    f.engine()
        .advance(&first, &f.invocation(60_000, 1))
        .await
        .unwrap();
    let (message, _) = f.scheduled();
    f.clock.advance_ms(2 * MINUTE);
    // The invocation reads the post (not cancelled) and moves on to publishing; the user's
    // DELETE lands right after that read.
    *f.jobs.2.lock().unwrap() = Some(Box::new(|p: &mut Post| p.cancelled_at_ms = Some(NOW)));
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(Phase::Cancelled));
    assert_eq!(f.platform.count("publish"), 0);
    assert!(!f.job().publish_started, "X was never asked to create it");
}

#[tokio::test]
async fn an_upload_ahead_that_fails_is_uploaded_again_at_the_time_saying_why_it_is_late() {
    let f = Fixture::new();
    let at = NOW + 30 * MINUTE;
    let first = f.scheduled_job(at);
    // X fails INIT twice (the fixture's max_attempts): a plain post would fail, retryable.
    for _ in 0..2 {
        f.platform
            .fail_next("initialize", err(FailureKind::Transient, "x_server_error"));
    }
    let outcome = f
        .engine()
        .advance(&first, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::HandedOff { .. }), "{outcome:?}");
    let (next, _) = f.last_sent();
    f.engine()
        .advance(&next, &f.invocation(60_000, 1))
        .await
        .unwrap();
    let waiting = f.job();
    assert_eq!(
        waiting.phase,
        Phase::Queued,
        "not failed: {:?}",
        waiting.error
    );
    assert!(waiting.wake_scheduled);
    assert_eq!(waiting.restarts, 1);
    assert_eq!(
        waiting.error.as_ref().map(|e| e.code.as_str()),
        Some("platform_unavailable")
    );
    let (message, due) = f.scheduled();
    assert_eq!(due, at, "uploaded again at the time");

    f.clock.advance_ms(30 * MINUTE);
    let outcome = f
        .engine()
        .advance(&message, &f.invocation(60_000, 1))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(Phase::Published));
    // Here X answers at once; a real upload takes long enough to be late, and says why.
    assert_eq!(f.platform.count("publish"), 1);
    assert!(f.job().error.is_none());
}

#[tokio::test]
async fn an_upload_ahead_that_fails_again_at_the_time_fails_retryable_without_posting() {
    let f = Fixture::new();
    let first = f.scheduled_job(NOW + 30 * MINUTE);
    for _ in 0..40 {
        f.platform
            .fail_next("initialize", err(FailureKind::Transient, "x_server_error"));
    }
    let mut message = first;
    for _ in 0..40 {
        let outcome = f
            .engine()
            .advance(&message, &f.invocation(60_000, 1))
            .await
            .unwrap();
        match outcome {
            Outcome::HandedOff { .. } if f.job().wake_scheduled => {
                f.clock
                    .advance_ms(f.job().step_due_at_ms - f.clock.now_ms());
                message = f.scheduled().0;
            }
            Outcome::HandedOff { delay_secs, .. } => {
                f.clock.advance_ms(i64::from(delay_secs) * 1000);
                message = f.last_sent().0;
            }
            _ => break,
        }
    }
    let job = f.job();
    assert_eq!(job.phase, Phase::Failed, "{:#?}", job.history);
    // One fresh start, at the time; failing then is final (a retry can help: the user's call).
    assert_eq!(job.restarts, 1);
    assert!(job.error.as_ref().is_some_and(|e| e.retryable));
    assert_eq!(f.platform.count("publish"), 0);
}
