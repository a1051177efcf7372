//! Scheduled posts end to end (issue 15), against moto and the X emulator: a post created with
//! `scheduled_at` through the API and the upload form uploads ahead, waits `ready` holding X's
//! media, and is posted when its one-time schedule fires, never before. The time can be changed,
//! the text too, and the post cancelled; a schedule that never fires is caught by the reconciler
//! (late, saying so); media X would expire before the time is uploaded again, on time.
//!
//! Time is not waited for: the worker, the runner (which fires due schedules by its clock), the
//! reconciler and the X emulator share a clock the test moves forward.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reelay_local::harness::moto_endpoint;
use reelay_local::world::{World, WorldOptions};
use reelay_shared::clock::{rfc3339, Clock, SystemClock};
use reelay_shared::ids::PostId;
use reelay_shared::jobs::{Phase, UploadJob};
use reelay_shared::reconcile::ReconcileSettings;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const USER: &str = "schedule-user";
const WAIT: Duration = Duration::from_secs(120);
const MINUTE: i64 = 60_000;

/// The system clock plus an offset the test moves forward.
#[derive(Default)]
struct MovableClock(AtomicI64);

impl Clock for MovableClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.0.load(Ordering::SeqCst)
    }
}

struct Scheduled {
    world: World,
    clock: Arc<MovableClock>,
}

impl Scheduled {
    async fn start(label: &str, tweak: impl FnOnce(&mut WorldOptions)) -> Self {
        let clock = Arc::new(MovableClock::default());
        let mut options = WorldOptions {
            label: label.into(),
            worker_clock: Some(clock.clone()),
            lambda_clock: Some(clock.clone()),
            reconciler_clock: Some(clock.clone()),
            reconcile_period: None,
            ..WorldOptions::default()
        };
        tweak(&mut options);
        let world = World::start(&moto_endpoint(), options).await.unwrap();
        world.connect(USER).await.unwrap();
        Self { world, clock }
    }

    /// Moves Reelay's clocks and X's forward together until Reelay's reads `at_ms`.
    fn move_to(&self, at_ms: i64) {
        let by = at_ms - self.clock.now_ms();
        assert!(by >= 0, "time only moves forward");
        self.clock.0.fetch_add(by, Ordering::SeqCst);
        self.world
            .emulator
            .admin()
            .advance_clock(Duration::from_millis(by as u64));
    }

    /// Whole seconds `ahead` of Reelay's clock, as `scheduled_at` takes them.
    fn ahead(&self, ahead_ms: i64) -> i64 {
        (self.clock.now_ms() + ahead_ms) / 1000 * 1000
    }

    async fn post(&self, text: &str, at_ms: i64) -> PostId {
        let posted = self
            .world
            .post_file(
                USER,
                &sample(),
                text,
                json!({ "scheduled_at": rfc3339(at_ms / 1000) }),
            )
            .await
            .unwrap();
        // create-post makes the job once the S3 event arrives.
        let started = std::time::Instant::now();
        while self.world.job(USER, &posted.post_id).await.is_err() {
            assert!(
                started.elapsed() < WAIT,
                "no job: {:#}",
                self.view(&posted.post_id).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        posted.post_id
    }

    async fn wait_for(&self, post: &PostId, done: impl Fn(&UploadJob) -> bool) -> UploadJob {
        match self
            .world
            .wait_for_job(USER, post, WAIT, done, |_| {})
            .await
        {
            Ok(job) => job,
            Err(e) => panic!(
                "{e}\n{:#?}",
                self.world.job(USER, post).await.map(|j| j.history)
            ),
        }
    }

    async fn ready(&self, post: &PostId) -> UploadJob {
        let job = self
            .wait_for(post, |j| {
                (j.phase == Phase::Ready && j.wake_scheduled) || j.phase.is_final()
            })
            .await;
        assert_eq!(job.phase, Phase::Ready, "{:#?}", job.history);
        self.scheduled(&job).await;
        job
    }

    /// Waits for `job`'s schedule to carry its current message: the engine saves the job
    /// before it makes the schedule.
    async fn scheduled(&self, job: &UploadJob) -> i64 {
        let started = std::time::Instant::now();
        loop {
            if let Some((due, true)) = self.schedule_of(job).await {
                return due;
            }
            assert!(started.elapsed() < WAIT, "no schedule for {:?}", job.phase);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn view(&self, post: &PostId) -> Value {
        self.world.post_view(USER, post).await.unwrap()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        post: &PostId,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}/api/posts/{post}", self.world.runner.http_url);
        let mut request = self
            .world
            .http
            .request(method, url)
            .bearer_auth(self.world.auth.mint(USER));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    /// The job's schedule as stored: when it is due and whether it carries the job's current
    /// message.
    async fn schedule_of(&self, job: &UploadJob) -> Option<(i64, bool)> {
        let name = reelay_shared::scheduler::schedule_name(&job.message());
        self.world
            .schedules()
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| {
                (
                    s.due_at_ms.expect("a one-time at() schedule"),
                    s.input.contains(&job.step_token),
                )
            })
    }

    /// Lets the runner poll its schedules a few times (it looks every 200 ms).
    async fn let_the_runner_look(&self) {
        tokio::time::sleep(Duration::from_millis(800)).await;
    }

    fn tweets(&self) -> Vec<x_emulator::state::TweetRecord> {
        self.world.emulator.admin().records().tweets
    }
}

/// A one-second H.264/AAC clip the pre-flight accepts, made once with ffmpeg.
fn sample() -> PathBuf {
    let dir = reelay_local::moto::repo_root().join("target/schedule-samples");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("clip.mp4");
    if path.exists() {
        return path;
    }
    let partial = dir.join(format!("clip.{}.partial", uuid::Uuid::new_v4().simple()));
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x180:rate=30:duration=1")
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=1",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-movflags", "+faststart", "-f", "mp4"])
        .arg(&partial)
        .status()
        .expect("ffmpeg is installed (tools/scripts/setup.sh installs it)");
    assert!(status.success(), "ffmpeg failed");
    std::fs::rename(&partial, &path).unwrap();
    path
}

fn sha256_file(path: &PathBuf) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_post_uploads_ahead_and_is_posted_at_its_time_never_before() {
    let s = Scheduled::start("schedule-on-time", |_| {}).await;
    let at = s.ahead(3 * MINUTE);
    let post = s.post("on the second", at).await;

    let ready = s.ready(&post).await;
    assert_eq!(ready.publish_at_ms, Some(at));
    assert_eq!(ready.processing_percent, Some(100));
    let view = s.view(&post).await;
    assert_eq!(view["status"], "scheduled", "{view:#}");
    assert_eq!(view["scheduled_at"], rfc3339(at / 1000), "{view:#}");
    assert_eq!(view["targets"][0]["phase"], "ready", "{view:#}");
    // X holds the processed video, byte for byte; nothing is posted yet.
    let media = s.world.emulator.admin().records().media;
    assert_eq!(media.len(), 1);
    assert_eq!(
        media[0].sha256.as_deref(),
        Some(sha256_file(&sample()).as_str())
    );
    assert!(s.tweets().is_empty());
    assert_eq!(s.schedule_of(&ready).await, Some((at, true)));

    // Ten seconds before the time: the schedule does not fire, nothing is posted.
    s.move_to(at - 10_000);
    s.let_the_runner_look().await;
    assert!(s.world.fired_schedules().is_empty());
    assert!(s.tweets().is_empty());

    s.move_to(at);
    let job = s.wait_for(&post, |j| j.phase.is_final()).await;
    assert_eq!(job.phase, Phase::Published, "{:#?}", job.history);
    assert_eq!(job.late, None);
    let tweets = s.tweets();
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "on the second");
    assert_eq!(
        tweets[0].media_ids,
        vec![media[0].id.clone()],
        "the media uploaded ahead"
    );
    assert!(
        tweets[0].created_at_ms as i64 >= at,
        "posted {} ms before its time",
        at - tweets[0].created_at_ms as i64
    );
    let fired = s.world.fired_schedules();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].due_at_ms, at);
    assert_eq!(s.view(&post).await["status"], "published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_and_the_text_can_change_until_it_is_posted() {
    let s = Scheduled::start("schedule-change", |_| {}).await;
    let at = s.ahead(3 * MINUTE);
    let post = s.post("first words", at).await;
    s.ready(&post).await;

    let later = at + 10 * MINUTE;
    let (status, answer) = s
        .call(
            reqwest::Method::PATCH,
            &post,
            Some(json!({ "scheduled_at": rfc3339(later / 1000), "text": "second words" })),
        )
        .await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["scheduled_at"], rfc3339(later / 1000), "{answer:#}");
    // The nudge reaches the job, which moves its own schedule.
    let moved = s
        .wait_for(&post, |j| {
            j.phase == Phase::Ready && j.step_due_at_ms == later
        })
        .await;
    assert_eq!(s.scheduled(&moved).await, later);

    // The old time passes without a post; the new one posts the new text.
    s.move_to(at + MINUTE);
    s.let_the_runner_look().await;
    assert!(s.tweets().is_empty());
    s.move_to(later);
    let job = s.wait_for(&post, |j| j.phase.is_final()).await;
    assert_eq!(job.phase, Phase::Published, "{:#?}", job.history);
    let tweets = s.tweets();
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "second words");
    assert!(tweets[0].created_at_ms as i64 >= later);

    // Published: too late to change or cancel.
    let (status, answer) = s
        .call(
            reqwest::Method::PATCH,
            &post,
            Some(json!({ "text": "third" })),
        )
        .await;
    assert_eq!(
        (status, answer["type"].as_str()),
        (409, Some("too_late")),
        "{answer:#}"
    );
    let (status, _) = s.call(reqwest::Method::DELETE, &post, None).await;
    assert_eq!(status, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_cancelled_before_its_time_is_never_posted() {
    let s = Scheduled::start("schedule-cancel", |_| {}).await;
    let at = s.ahead(3 * MINUTE);
    let post = s.post("never to be seen", at).await;
    let ready = s.ready(&post).await;
    assert!(s.schedule_of(&ready).await.is_some());

    let (status, answer) = s.call(reqwest::Method::DELETE, &post, None).await;
    assert_eq!(status, 200, "{answer:#}");
    let job = s.wait_for(&post, |j| j.phase.is_final()).await;
    assert_eq!(job.phase, Phase::Cancelled, "{:#?}", job.history);
    // The job ends first, then removes its schedule.
    let started = std::time::Instant::now();
    while s.schedule_of(&ready).await.is_some() {
        assert!(started.elapsed() < WAIT, "its schedule is never removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.view(&post).await["status"], "cancelled");

    s.move_to(at + MINUTE);
    s.let_the_runner_look().await;
    assert!(s.tweets().is_empty());
    assert_eq!(
        s.world.job(USER, &post).await.unwrap().phase,
        Phase::Cancelled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_that_never_fires_is_published_late_by_the_reconciler_saying_so() {
    let s = Scheduled::start("schedule-lost", |o| {
        o.fire_schedules = false;
        o.reconcile_period = Some(Duration::from_millis(500));
        o.reconcile = ReconcileSettings {
            grace_ms: MINUTE,
            ..ReconcileSettings::default()
        };
    })
    .await;
    let at = s.ahead(3 * MINUTE);
    let post = s.post("better late than never", at).await;
    s.ready(&post).await;

    // Within the grace after the time nothing happens: the schedule might still fire.
    s.move_to(at + 30_000);
    s.let_the_runner_look().await;
    assert!(s.tweets().is_empty());

    s.move_to(at + 2 * MINUTE);
    let job = s.wait_for(&post, |j| j.phase.is_final()).await;
    assert_eq!(job.phase, Phase::Published, "{:#?}", job.history);
    let late = job.late.expect("the post says it was late");
    assert!(late.contains("reconciler"), "{late}");
    assert_eq!(s.tweets().len(), 1);
    let view = s.view(&post).await;
    assert_eq!(view["targets"][0]["late"], late.as_str(), "{view:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_x_would_expire_before_the_time_is_uploaded_again_and_posted_on_time() {
    // X keeps this media an hour; the post is due in two.
    let s = Scheduled::start("schedule-expiry", |o| {
        o.emulator.amplify_video_expiry_secs = 3_600;
    })
    .await;
    let at = s.ahead(120 * MINUTE);
    let post = s.post("fresh media", at).await;
    let first = s.ready(&post).await;
    assert_eq!(first.media_lifetime_ms, Some(3_600_000));
    let restart_at = s.scheduled(&first).await;
    assert!(
        restart_at < at && restart_at + 3_600_000 > at,
        "uploads again {} min before the time",
        (at - restart_at) / MINUTE
    );

    s.move_to(restart_at);
    let again = s
        .wait_for(&post, |j| {
            j.phase == Phase::Ready && j.restarts == 1 && j.wake_scheduled
        })
        .await;
    assert!(again.media_expires_at_ms.unwrap() > at);
    assert_ne!(again.media_id, first.media_id);
    assert_eq!(s.scheduled(&again).await, at);

    s.move_to(at);
    let job = s.wait_for(&post, |j| j.phase.is_final()).await;
    assert_eq!(job.phase, Phase::Published, "{:#?}", job.history);
    assert_eq!(job.late, None);
    let tweets = s.tweets();
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].media_ids, vec![again.media_id.clone().unwrap()]);
    assert!(tweets[0].created_at_ms as i64 >= at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_up_delivered_twice_posts_once() {
    let s = Scheduled::start("schedule-twice", |_| {}).await;
    let at = s.ahead(3 * MINUTE);
    let post = s.post("exactly once", at).await;
    let ready = s.ready(&post).await;

    // EventBridge Scheduler and SQS both deliver at least once: the wake-up's message arrives a
    // second time alongside the schedule's own.
    s.move_to(at);
    use reelay_shared::ports::WorkQueue as _;
    reelay_shared::sqs::SqsQueue::new(s.world.aws.sqs.clone(), &s.world.stack.queue_url)
        .send(&ready.message(), 0)
        .await
        .unwrap();
    let job = s.wait_for(&post, |j| j.phase.is_final()).await;
    assert_eq!(job.phase, Phase::Published, "{:#?}", job.history);
    // Give the duplicate time to be received and dropped, then count.
    s.let_the_runner_look().await;
    s.let_the_runner_look().await;
    assert_eq!(s.tweets().len(), 1);
    assert_eq!(job.publish_calls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_ahead_that_x_keeps_failing_is_uploaded_again_at_the_time_saying_why() {
    use x_emulator::{FaultKind, FaultSpec, Phase as FaultPhase};
    let s = Scheduled::start("schedule-failed-ahead", |o| {
        // Give up on X quickly (two attempts, one-second backoff), and count any delay as late
        // so the reason shows.
        o.engine.max_attempts = 2;
        o.engine.backoff_cap_secs = 1;
        o.engine.schedule.late_after_ms = 1;
    })
    .await;
    s.world
        .emulator
        .admin()
        .add_fault(FaultSpec {
            endpoint: "media_append".into(),
            kind: FaultKind::Fail { status: 503 },
            count: None,
            phase: FaultPhase::Before,
        })
        .unwrap();
    let at = s.ahead(3 * MINUTE);
    let post = s.post("after a bad start", at).await;
    let waiting = s
        .wait_for(&post, |j| {
            (j.phase == Phase::Queued && j.wake_scheduled) || j.phase.is_final()
        })
        .await;
    assert_eq!(waiting.phase, Phase::Queued, "{:#?}", waiting.history);
    assert!(waiting.failed_ahead.is_some());
    assert_eq!(
        s.scheduled(&waiting).await,
        at,
        "uploaded again at the time"
    );
    let view = s.view(&post).await;
    assert_eq!(view["status"], "scheduled", "{view:#}");
    assert!(s.tweets().is_empty());

    // X recovers; at the time the upload runs again and the post goes out, late, saying why.
    s.world.emulator.admin().clear_faults();
    s.move_to(at);
    let job = s.wait_for(&post, |j| j.phase.is_final()).await;
    assert_eq!(job.phase, Phase::Published, "{:#?}", job.history);
    let late = job.late.expect("late");
    assert!(late.contains("upload before the time failed"), "{late}");
    let tweets = s.tweets();
    assert_eq!(tweets.len(), 1);
    assert!(tweets[0].created_at_ms as i64 >= at);
}
