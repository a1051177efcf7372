//! The resumable upload engine end to end: process-upload driven by the runner over moto, with
//! X played by the emulator. Every test checks what X actually received: the assembled media's
//! SHA-256 and the number of posts carrying it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reelay_local::crashes::CrashOnce;
use reelay_local::harness::moto_endpoint;
use reelay_local::runner::FunctionName;
use reelay_local::world::{World, WorldOptions};
use reelay_shared::engine::EngineSettings;
use reelay_shared::jobs::{Phase, UploadJob};
use reelay_shared::ports::{CrashSwitch, StepPoint};
use x_emulator::{
    DropWhen, EmulatorConfig, FaultKind, FaultSpec, Phase as FaultPhase, ProcessingMode,
    ProcessingOutcomeKind, ProcessingRule,
};

const USER: &str = "user-1";
const LIMIT: Duration = Duration::from_secs(180);

/// Engine timings for short test deadlines: little margin, a quick backoff.
fn quick_engine() -> EngineSettings {
    EngineSettings {
        deadline_margin_ms: 700,
        initial_segment_estimate_ms: 500,
        backoff_base_secs: 1,
        backoff_cap_secs: 2,
        // The emulator shows a post at once (timeline_lag_ms 0).
        publish_settle_ms: 500,
        ..EngineSettings::default()
    }
}

fn emulator() -> EmulatorConfig {
    EmulatorConfig {
        processing: ProcessingMode::Polls { steps: 2 },
        check_after_secs: 1,
        ..EmulatorConfig::default()
    }
}

/// A world with the test emulator and engine settings, changed by `tweak`, and `USER` connected
/// to X through the real OAuth flow.
async fn connected_world(label: &str, tweak: impl FnOnce(&mut WorldOptions)) -> World {
    let mut options = WorldOptions {
        label: label.into(),
        emulator: emulator(),
        engine: quick_engine(),
        ..WorldOptions::default()
    };
    tweak(&mut options);
    let world = World::start(&moto_endpoint(), options).await.unwrap();
    world.connect(USER).await.unwrap();
    world
}

fn video(len: usize) -> Vec<u8> {
    x_emulator::testing::tiny_mp4(len)
}

fn fault(endpoint: &str, kind: FaultKind, count: Option<u32>) -> FaultSpec {
    FaultSpec {
        endpoint: endpoint.into(),
        kind,
        count,
        phase: FaultPhase::Before,
    }
}

fn assert_published_once(world: &World, job: &UploadJob, file: &[u8]) {
    reelay_local::checks::assert_published_once(world, job, file);
    assert_eq!(job.bytes_sent, file.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_video_spans_invocations_and_is_posted_once() {
    let world = connected_world("big", |o| {
        o.worker_deadline = Duration::from_secs(10);
    })
    .await;
    // X answering each APPEND in 1.6 s makes 25 segments, four at a time (the default), outlast
    // one 10 s invocation: seven rounds of 1.6 s against the 9.3 s its deadline margin leaves.
    world
        .emulator
        .admin()
        .add_fault(fault("media_append", FaultKind::Latency { ms: 1600 }, None))
        .unwrap();
    let file = video(100 * 1024 * 1024);
    let post = world
        .start_upload(USER, file.clone(), "a hundred megabytes")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &file);

    let invocations: Vec<_> = world
        .runner
        .log
        .snapshot()
        .into_iter()
        .filter(|i| i.function == FunctionName::ProcessUpload)
        .collect();
    assert!(
        invocations.len() >= 3,
        "only {} invocations",
        invocations.len()
    );
    let finalized_at = job
        .history
        .iter()
        .find(|a| a.step == "finalize")
        .map(|a| a.at_ms)
        .unwrap();
    let uploading = invocations
        .iter()
        .filter(|i| (i.invoked_at_ms as i64) < finalized_at)
        .count();
    assert!(
        uploading >= 2,
        "the segments were sent in {uploading} invocation(s); the deadline should have split them"
    );
    for i in &invocations {
        assert_eq!(
            i.deadline_ms - i.invoked_at_ms,
            10_000,
            "each invocation gets the configured deadline"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_step_resumes_and_posts_exactly_once() {
    let crashes = Arc::new(CrashOnce::default());
    // A crashed invocation's message comes back after the visibility timeout, which must outlast
    // its lease (the deadline), as the template's 6x rule guarantees in AWS.
    let world = connected_world("crash", |o| {
        o.worker_deadline = Duration::from_secs(3);
        o.visibility_timeout_secs = Some(4);
        o.crashes = crashes.clone();
        o.segment_size = 256 * 1024;
    })
    .await;
    for (n, point) in [
        StepPoint::AfterInitialize,
        StepPoint::AfterAppend,
        StepPoint::AfterFinalize,
        StepPoint::AfterStatus,
        StepPoint::BeforePublish,
        StepPoint::AfterPublish,
    ]
    .into_iter()
    .enumerate()
    {
        crashes.arm(point);
        let file = video(1024 * 1024 + n * 1000);
        let post = world
            .start_upload(USER, file.clone(), &format!("crash at {point:?}"))
            .await
            .unwrap();
        let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
        assert_eq!(
            crashes.fired(),
            n as u32 + 1,
            "the crash at {point:?} did not happen"
        );
        assert_published_once(&world, &job, &file);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_delivered_twice_to_two_workers_still_posts_once() {
    let world = connected_world("twice", |o| {
        o.worker_deadline = Duration::from_secs(3);
        o.visibility_timeout_secs = Some(4);
        o.worker_concurrency = 2;
        o.duplicate_sends = true;
        o.segment_size = 256 * 1024;
    })
    .await;
    let file = video(2 * 1024 * 1024);
    let post = world
        .start_upload(USER, file.clone(), "twice delivered")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &file);
    assert_eq!(world.emulator.admin().records().tweets.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_rate_limits_dropped_answers_and_a_lost_post_answer_still_publish_once() {
    let world = connected_world("faults", |o| {
        o.worker_deadline = Duration::from_secs(10);
        o.segment_size = 256 * 1024;
    })
    .await;
    let admin = world.emulator.admin();
    admin
        .add_fault(fault(
            "media_append",
            FaultKind::ErrorRate {
                status: 503,
                rate: 0.1,
            },
            None,
        ))
        .unwrap();
    admin
        .add_fault(fault(
            "media_append",
            FaultKind::RateLimit { reset_in_secs: 1 },
            Some(3),
        ))
        .unwrap();
    admin
        .add_fault(fault(
            "media_finalize",
            FaultKind::Drop {
                when: DropWhen::MidResponse,
            },
            Some(1),
        ))
        .unwrap();
    // The post is created, but its answer is lost: the job must find it, not post again.
    admin
        .add_fault(FaultSpec {
            endpoint: "tweets".into(),
            kind: FaultKind::Fail { status: 503 },
            count: Some(1),
            phase: FaultPhase::After,
        })
        .unwrap();
    let file = video(3 * 1024 * 1024);
    let post = world
        .start_upload(USER, file.clone(), "through the storm")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &file);
    let outcomes: Vec<&str> = job.history.iter().map(|a| a.outcome.as_str()).collect();
    assert!(
        outcomes.iter().any(|o| o.starts_with("x_rate_limited")),
        "{outcomes:#?}"
    );
    assert!(
        outcomes.iter().any(|o| o.starts_with("x_server_error")),
        "{outcomes:#?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| o.starts_with("x_unreachable") || o.starts_with("x_timeout")),
        "{outcomes:#?}"
    );
    assert!(
        job.history
            .iter()
            .any(|a| a.step == "find_post" && a.outcome.starts_with("found")),
        "{:#?}",
        job.history
    );
    let calls = admin.records().calls;
    assert!(
        calls["media_append"].get("429").copied().unwrap_or(0) >= 3,
        "{calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_media_write_fails_as_reconnect_and_flags_the_account() {
    let world = connected_world("scope", |_| {}).await;
    // As for tokens issued before the app asked for media.write: X answers 403 on upload.
    let x_user = world.emulator.admin().config().default_user_id;
    assert!(
        world
            .emulator
            .admin()
            .withdraw_scope(&x_user, "media.write")
            > 0
    );
    let post = world
        .start_upload(USER, video(100_000), "no scope")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_eq!(job.phase, Phase::Failed);
    let error = job.error.expect("error");
    assert_eq!(error.code, "reconnect_required");
    assert!(error.message.contains("media.write"), "{}", error.message);
    let platforms: serde_json::Value = world
        .http
        .get(format!("{}/api/platforms", world.runner.http_url))
        .bearer_auth(world.auth.mint(USER))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        platforms.to_string().contains("needs_reconnect"),
        "{platforms}"
    );
    assert!(world.emulator.admin().records().tweets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processing_failure_fails_with_xs_reason() {
    let world = connected_world("procfail", |_| {}).await;
    world.emulator.admin().push_processing_rule(ProcessingRule {
        outcome: ProcessingOutcomeKind::Fail,
        message: Some("Unsupported video encoding".into()),
        media_id: None,
        count: 1,
    });
    let post = world
        .start_upload(USER, video(200_000), "will fail")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_eq!(job.phase, Phase::Failed);
    let error = job.error.expect("error");
    assert_eq!(error.code, "media_processing_failed");
    assert!(
        error.message.contains("Unsupported video encoding"),
        "{}",
        error.message
    );
    assert!(!error.retryable);
    assert!(world.emulator.admin().records().tweets.is_empty());
}

/// Expires the media id at X right after the first segment is accepted, as X does to a session
/// that outlives `expires_after_secs`. Deterministic: it acts at the step point, not on a timer.
struct ExpireAfterFirstAppend {
    admin: std::sync::OnceLock<x_emulator::AdminHandle>,
    expired: Mutex<Option<String>>,
}

impl CrashSwitch for ExpireAfterFirstAppend {
    fn crash_at(&self, point: StepPoint) -> bool {
        let mut expired = self.expired.lock().unwrap();
        if point == StepPoint::AfterAppend && expired.is_none() {
            if let Some(admin) = self.admin.get() {
                if let Some(media) = admin.records().media.last() {
                    assert!(admin.expire_media(&media.id));
                    *expired = Some(media.id.clone());
                }
            }
        }
        false
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_media_id_restarts_at_init_and_completes() {
    let expirer = Arc::new(ExpireAfterFirstAppend {
        admin: std::sync::OnceLock::new(),
        expired: Mutex::new(None),
    });
    let world = connected_world("expire", |o| {
        o.crashes = expirer.clone();
        o.segment_size = 256 * 1024;
    })
    .await;
    assert!(expirer.admin.set(world.emulator.admin()).is_ok());
    let file = video(2 * 1024 * 1024);
    let post = world
        .start_upload(USER, file.clone(), "expiring")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    let first_media = expirer
        .expired
        .lock()
        .unwrap()
        .clone()
        .expect("the media was expired");
    assert_published_once(&world, &job, &file);
    assert_eq!(job.restarts, 1, "{:#?}", job.history);
    assert_ne!(job.media_id.as_deref(), Some(first_media.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed_once_and_the_upload_continues() {
    let world = connected_world("refresh", |_| {}).await;
    // X's clock moves past the token's two hours; Reelay still thinks it is fresh, so X's 401
    // is what tells it.
    world
        .emulator
        .admin()
        .advance_clock(Duration::from_secs(7300));
    let file = video(300_000);
    let post = world
        .start_upload(USER, file.clone(), "after two hours")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &file);
    assert!(
        job.history
            .iter()
            .any(|a| a.outcome.starts_with("x_unauthorized")),
        "{:#?}",
        job.history
    );
    let refreshes = world
        .emulator
        .admin()
        .records()
        .tokens
        .iter()
        .filter(|t| t.event == "refreshed")
        .count();
    assert_eq!(refreshes, 1);
}

/// Crashes every time at INIT's checkpoint, as a bug that kills every invocation would.
struct AlwaysCrash(AtomicBool);

impl CrashSwitch for AlwaysCrash {
    fn crash_at(&self, point: StepPoint) -> bool {
        self.0.store(true, Ordering::SeqCst);
        point == StepPoint::AfterInitialize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_reaches_the_dlq_and_its_job_is_failed() {
    let world = connected_world("dlq", |o| {
        o.worker_deadline = Duration::from_secs(2);
        o.visibility_timeout_secs = Some(3);
        o.max_receive_count = Some(2);
        o.engine = EngineSettings {
            max_receive_count: 2,
            ..quick_engine()
        };
        o.crashes = Arc::new(AlwaysCrash(AtomicBool::new(false)));
    })
    .await;
    let post = world
        .start_upload(USER, video(100_000), "doomed")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_eq!(job.phase, Phase::Failed);
    assert_eq!(
        job.error.as_ref().unwrap().code,
        "gave_up",
        "{:?}",
        job.error
    );
    let mut dead = Vec::new();
    for _ in 0..20 {
        let got = world
            .aws
            .sqs
            .receive_message()
            .queue_url(&world.stack.dlq_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        dead.extend(got.messages.unwrap_or_default());
        if !dead.is_empty() {
            break;
        }
    }
    assert_eq!(dead.len(), 1, "the message should be in the DLQ");
    assert!(world.emulator.admin().records().tweets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_a_video_fail_with_xs_reason_and_no_post() {
    let world = connected_world("invalid", |_| {}).await;
    // The pre-flight check would refuse this; here it reaches X, which must refuse it itself.
    let post = world
        .start_upload(
            USER,
            b"this is not an mp4 at all".repeat(1000),
            "not a video",
        )
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_eq!(job.phase, Phase::Failed);
    let error = job.error.expect("error");
    assert_eq!(error.code, "media_processing_failed");
    assert!(
        error.message.starts_with("X could not process the video: "),
        "{}",
        error.message
    );
    assert!(!error.retryable);
    assert!(world.emulator.admin().records().tweets.is_empty());
}
