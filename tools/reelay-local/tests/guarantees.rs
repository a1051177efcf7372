//! The guarantees of issue "nothing stuck, lost or posted twice", each reproduced end to end:
//! process-upload driven by the runner over moto, X played by the emulator with the failure at
//! hand. Every test checks what X holds in the end: the media's SHA-256 and how many posts carry
//! it, and that no invocation ran into Lambda's timeout.

use std::time::Duration;

use reelay_local::harness::moto_endpoint;
use reelay_local::runner::{FunctionName, Killed};
use reelay_local::world::{World, WorldOptions};
use reelay_shared::engine::EngineSettings;
use reelay_shared::jobs::{Phase, UploadJob};
use x_emulator::{
    DropWhen, EmulatorConfig, FaultKind, FaultSpec, MintRequest, Phase as FaultPhase,
    ProcessingMode,
};

const USER: &str = "user-1";
const LIMIT: Duration = Duration::from_secs(120);
/// The emulator's default test user, whom `USER` connects as.
const X_USER: &str = "1072250532645998596";

fn engine() -> EngineSettings {
    EngineSettings {
        deadline_margin_ms: 700,
        min_call_ms: 500,
        initial_segment_estimate_ms: 500,
        backoff_base_secs: 1,
        backoff_cap_secs: 2,
        publish_settle_ms: 1_500,
        ..EngineSettings::default()
    }
}

async fn world(label: &str, tweak: impl FnOnce(&mut WorldOptions)) -> World {
    let mut options = WorldOptions {
        label: label.into(),
        emulator: EmulatorConfig {
            processing: ProcessingMode::Polls { steps: 1 },
            check_after_secs: 1,
            ..EmulatorConfig::default()
        },
        engine: engine(),
        worker_deadline: Duration::from_secs(6),
        ..WorldOptions::default()
    };
    tweak(&mut options);
    let world = World::start(&moto_endpoint(), options).await.unwrap();
    world.connect(USER).await.unwrap();
    world
}

fn fault(endpoint: &str, kind: FaultKind, count: u32, phase: FaultPhase) -> FaultSpec {
    FaultSpec {
        endpoint: endpoint.into(),
        kind,
        count: Some(count),
        phase,
    }
}

/// X holds exactly the file, exactly one post carries it, and Lambda's timeout never fired.
fn assert_published_once(world: &World, job: &UploadJob, file: &[u8]) {
    reelay_local::checks::assert_published_once(world, job, file);
    assert_no_timeouts(world);
}

fn assert_no_timeouts(world: &World) {
    let killed: Vec<_> = world
        .runner
        .log
        .snapshot()
        .into_iter()
        .filter(|i| i.function == FunctionName::ProcessUpload)
        .filter(|i| i.killed == Some(Killed::Timeout))
        .collect();
    assert!(killed.is_empty(), "Lambda's timeout fired: {killed:#?}");
}

fn video(len: usize) -> Vec<u8> {
    x_emulator::testing::tiny_mp4(len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_answered_after_the_deadline_and_shown_late_is_found_not_posted_twice() {
    // X creates the post at once, answers 8 s later (after the invocation gave the call up) and
    // shows it in the timeline only 3 s after creating it.
    let world = world("late-post", |o| {
        o.emulator.timeline_lag_ms = 3_000;
        o.engine.publish_settle_ms = 4_000;
    })
    .await;
    world
        .emulator
        .admin()
        .add_fault(fault(
            "tweets",
            FaultKind::Latency { ms: 8_000 },
            1,
            FaultPhase::After,
        ))
        .unwrap();
    let file = video(200_000);
    let post = world
        .start_upload(USER, file.clone(), "answered late")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &file);
    assert!(
        job.history
            .iter()
            .any(|a| a.outcome.starts_with("x_timeout")),
        "{:#?}",
        job.history
    );
    assert_eq!(job.publish_calls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_finalize_answer_then_a_transient_status_error_does_not_upload_again() {
    let world = world("finalize", |o| o.segment_size = 64 * 1024).await;
    let admin = world.emulator.admin();
    admin
        .add_fault(fault(
            "media_finalize",
            FaultKind::Drop {
                when: DropWhen::BeforeResponse,
            },
            1,
            FaultPhase::After,
        ))
        .unwrap();
    // The STATUS that follows the refused second FINALIZE meets a 503.
    admin
        .add_fault(fault(
            "media_status",
            FaultKind::Fail { status: 503 },
            1,
            FaultPhase::Before,
        ))
        .unwrap();
    let file = video(300_000);
    let post = world
        .start_upload(USER, file.clone(), "finalized once")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &file);
    assert_eq!(job.restarts, 0, "{:#?}", job.history);
    let calls = admin.records().calls;
    let inits: u64 = calls["media_initialize"].values().sum();
    assert_eq!(inits, 1, "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_newer_posts_do_not_hide_the_post_from_the_lookup() {
    let world = world("thirty", |o| o.engine.publish_settle_ms = 4_000).await;
    let admin = world.emulator.admin();
    // The post is created but its answer is lost.
    admin
        .add_fault(fault(
            "tweets",
            FaultKind::Drop {
                when: DropWhen::BeforeResponse,
            },
            1,
            FaultPhase::After,
        ))
        .unwrap();
    let file = video(200_000);
    let post = world
        .start_upload(USER, file.clone(), "one among many")
        .await
        .unwrap();
    world
        .wait_for_job(USER, &post, LIMIT, |j| j.publish_calls >= 1, |_| {})
        .await
        .unwrap();
    // Meanwhile the user posts 30 times from another app.
    let minted = admin
        .mint_token(&MintRequest {
            user_id: X_USER.into(),
            scopes: vec![
                "tweet.read".into(),
                "tweet.write".into(),
                "users.read".into(),
            ],
            client_id: None,
        })
        .unwrap();
    let http = reqwest::Client::new();
    for i in 0..30 {
        let answer = http
            .post(format!("{}/2/tweets", world.emulator.base_url))
            .bearer_auth(&minted.access_token)
            .json(&serde_json::json!({ "text": format!("another post {i}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
    }
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &file);
    assert_eq!(job.publish_calls, 1);
    assert!(job.posts_read >= 31, "read {}", job.posts_read);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_refusal_while_publishing_is_evidence_not_a_failure() {
    // The first post's answer is lost and X shows it only after 7 s; the lookup before that sees
    // nothing, the job posts again, and X refuses that as a duplicate.
    let world = world("duplicate", |o| {
        o.emulator.timeline_lag_ms = 7_000;
        o.engine.publish_settle_ms = 1_000;
    })
    .await;
    world
        .emulator
        .admin()
        .add_fault(fault(
            "tweets",
            FaultKind::Drop {
                when: DropWhen::BeforeResponse,
            },
            1,
            FaultPhase::After,
        ))
        .unwrap();
    let file = video(200_000);
    let post = world
        .start_upload(USER, file.clone(), "said twice")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &file);
    assert!(job.duplicate_refused, "{:#?}", job.history);
    assert_eq!(job.publish_calls, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_slower_than_the_deadline_on_append_and_post_never_gets_an_invocation_killed() {
    // X's HTTP timeout (10 s here) is longer than the 6 s invocation: only the engine's own
    // deadline keeps Lambda from killing it.
    let world = world("slow", |o| o.segment_size = 64 * 1024).await;
    let admin = world.emulator.admin();
    for endpoint in ["media_append", "tweets"] {
        admin
            .add_fault(fault(
                endpoint,
                FaultKind::Latency { ms: 20_000 },
                1,
                FaultPhase::Before,
            ))
            .unwrap();
    }
    let file = video(300_000);
    let post = world
        .start_upload(USER, file.clone(), "slow X")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &file);
    let timeouts = job
        .history
        .iter()
        .filter(|a| a.outcome.starts_with("x_timeout"))
        .count();
    assert!(timeouts >= 2, "{:#?}", job.history);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_slower_than_the_http_timeout_on_a_refresh_still_publishes() {
    let world = world("slow-refresh", |o| {
        // A refresh needs X's answer (3 s here) plus 5 s: the 12 s deadline allows one.
        o.worker_deadline = Duration::from_secs(12);
        o.extra_env
            .push(("X_REQUEST_TIMEOUT_SECS".into(), "3".into()));
    })
    .await;
    let admin = world.emulator.admin();
    admin
        .add_fault(fault(
            "token",
            FaultKind::Latency { ms: 20_000 },
            1,
            FaultPhase::Before,
        ))
        .unwrap();
    // X's clock passes the access token's two hours: the first call gets 401 and a refresh,
    // whose first attempt gets no answer in time.
    admin.advance_clock(Duration::from_secs(7_300));
    let file = video(300_000);
    let post = world
        .start_upload(USER, file.clone(), "slow refresh")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &file);
    assert!(
        job.history
            .iter()
            .any(|a| a.step == "token" && a.outcome.starts_with("credentials_unavailable")),
        "{:#?}",
        job.history
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_the_media_expired_starts_over_and_publishes() {
    let world = world("retry-expired", |o| {
        o.engine.max_attempts = 2;
        // After the clock jump X refuses the access token too: the refresh must fit.
        o.worker_deadline = Duration::from_secs(12);
        o.extra_env
            .push(("X_REQUEST_TIMEOUT_SECS".into(), "3".into()));
    })
    .await;
    let admin = world.emulator.admin();
    admin
        .add_fault(fault(
            "tweets",
            FaultKind::Fail { status: 503 },
            2,
            FaultPhase::Before,
        ))
        .unwrap();
    let file = video(200_000);
    let post = world
        .start_upload(USER, file.clone(), "retried later")
        .await
        .unwrap();
    let failed = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_eq!(failed.phase, Phase::Failed, "{:#?}", failed.history);
    let error = failed.error.clone().unwrap();
    assert!(error.retryable, "{error:?}");
    // X forgets the media (its expiry passes), then the user retries.
    admin.advance_clock(Duration::from_secs(30 * 86_400));
    let answer = world
        .http
        .post(format!("{}/api/posts/{post}/retry", world.runner.http_url))
        .bearer_auth(world.auth.mint(USER))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202, "{}", answer.text().await.unwrap());
    let job = world
        .wait_for_job(
            USER,
            &post,
            LIMIT,
            |j| j.phase.is_final() && j.retries == 1,
            |_| {},
        )
        .await
        .unwrap();
    assert_published_once(&world, &job, &file);
    assert_eq!(job.restarts, 1, "{:#?}", job.history);
    assert_ne!(job.media_id, failed.media_id);
}

async fn overwrite_mid_upload(delete: bool) {
    let label = if delete { "deleted" } else { "overwritten" };
    let world = world(label, |o| o.segment_size = 64 * 1024).await;
    world
        .emulator
        .admin()
        .add_fault(FaultSpec {
            endpoint: "media_append".into(),
            kind: FaultKind::Latency { ms: 300 },
            count: None,
            phase: FaultPhase::Before,
        })
        .unwrap();
    let file = video(640 * 1024);
    let post = world.start_upload(USER, file.clone(), label).await.unwrap();
    let job = world
        .wait_for_job(USER, &post, LIMIT, |j| j.next_segment >= 2, |_| {})
        .await
        .unwrap();
    let s3 = &world.aws.s3;
    if delete {
        s3.delete_object()
            .bucket(&job.source.bucket)
            .key(&job.source.key)
            .send()
            .await
            .unwrap();
    } else {
        s3.put_object()
            .bucket(&job.source.bucket)
            .key(&job.source.key)
            .body(video(640 * 1024 + 1).into())
            .send()
            .await
            .unwrap();
    }
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_eq!(job.phase, Phase::Failed, "{:#?}", job.history);
    let error = job.error.unwrap();
    assert_eq!(error.code, "source_changed");
    assert!(!error.retryable);
    assert!(
        error
            .message
            .contains(if delete { "deleted" } else { "changed" }),
        "{}",
        error.message
    );
    let records = world.emulator.admin().records();
    assert!(records.tweets.is_empty(), "{:#?}", records.tweets);
    // Nothing of the new file went to X.
    let media = &records.media[0];
    assert!(media.received_bytes < file.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwritten_source_fails_the_job_and_sends_nothing_of_the_new_file() {
    overwrite_mid_upload(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_source_fails_the_job_with_that_reason() {
    overwrite_mid_upload(true).await;
}
