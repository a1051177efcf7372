//! The reconciler end to end (DESIGN §3, "nothing stays stuck"): its adapters against moto, then
//! the scheduled sweep fired by the runner over moto with X played by the emulator. Each story
//! starts from a job that nothing else would ever move again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use reelay_local::harness::{aws_clients_for, moto_endpoint};
use reelay_local::runner::{FunctionName, Invocation};
use reelay_local::stack::{Stack, StackSpec};
use reelay_local::world::{World, WorldOptions};
use reelay_shared::engine::EngineSettings;
use reelay_shared::ids::UserId;
use reelay_shared::jobs::{JobError, Phase, SourceObject, UploadJob};
use reelay_shared::ports::{CrashSwitch, StepPoint};
use reelay_shared::posts::{new_post_id, Platform, Post, PostStatus};
use reelay_shared::reconcile::{DeadLetters, ReconcileSettings, SweepSummary, REDRIVE_STEP};
use reelay_shared::sqs::SqsDeadLetters;
use reelay_shared::store::{DynamoStore, JobKey, JobStore, PostStore, SweepIndex};
use x_emulator::{EmulatorConfig, FaultKind, FaultSpec, Phase as FaultPhase, ProcessingMode};

const USER: &str = "user-1";
const LIMIT: Duration = Duration::from_secs(120);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ------------------------------------------------------------------------------ the adapters

fn post(user: &str, created_ms: i64) -> Post {
    Post {
        user_id: UserId::parse(user).unwrap(),
        post_id: new_post_id(created_ms),
        text: "t".into(),
        platforms: vec![Platform::Twitter],
        status: PostStatus::Processing,
        rejection: None,
        object_key: None,
        video: None,
        fit: Default::default(),
        options: Default::default(),
        scheduled_at_ms: None,
        cancelled_at_ms: None,
        created_at_ms: created_ms,
        updated_at_ms: created_ms,
        version: 1,
    }
}

fn job_for(post: &Post, due_ms: i64) -> UploadJob {
    let source = SourceObject {
        bucket: "b".into(),
        key: "k".into(),
        size_bytes: 10,
        media_type: "video/mp4".into(),
        media_category: "amplify_video".into(),
        etag: None,
        version_id: None,
    };
    UploadJob::new(post, Platform::Twitter, source, 4, due_ms)
}

/// Stores a post and its job as create-post does (one transaction), the job due at `due_ms`.
async fn stored_job(store: &DynamoStore, user: &str, due_ms: i64) -> UploadJob {
    let mut p = post(user, due_ms);
    store.create_post(&p).await.unwrap();
    p.version = 2;
    let job = job_for(&p, due_ms);
    store
        .start_jobs(&p, std::slice::from_ref(&job))
        .await
        .unwrap();
    job
}

async fn save(store: &DynamoStore, job: &mut UploadJob) {
    job.version += 1;
    store.save_job(job).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_index_lists_exactly_the_overdue_non_final_jobs() {
    let aws = aws_clients_for(&moto_endpoint()).await;
    let stack = Stack::create(&aws, StackSpec::unique("sweep-index"))
        .await
        .unwrap();
    let store = DynamoStore::new(aws.dynamodb.clone(), &stack.table_name);
    let now = now_ms();

    let mut overdue = HashSet::new();
    for n in 0..24 {
        let job = stored_job(&store, &format!("user-{n}"), now - 600_000 + n).await;
        overdue.insert(JobKey::of(&job));
    }
    // Not due yet: a continuation delayed into the future.
    stored_job(&store, "later", now + 600_000).await;
    // Its message is long due, but a worker holds it.
    let mut leased = stored_job(&store, "leased", now - 600_000).await;
    leased.lease_owner = Some("worker".into());
    leased.lease_until_ms = now + 60_000;
    save(&store, &mut leased).await;
    // Final jobs leave the index on the save that ends them.
    for (user, phase) in [
        ("published", Phase::Published),
        ("failed", Phase::Failed),
        ("unconfirmed", Phase::Unconfirmed),
    ] {
        let mut job = stored_job(&store, user, now - 600_000).await;
        job.phase = phase;
        save(&store, &mut job).await;
    }

    let found: HashSet<JobKey> = store
        .overdue_jobs(now, 1000)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(found, overdue);

    // The bound holds across the shards.
    let bounded = store.overdue_jobs(now, 5).await.unwrap();
    assert!(
        !bounded.is_empty() && bounded.len() <= 5,
        "{}",
        bounded.len()
    );
    assert!(bounded.iter().all(|k| overdue.contains(k)));

    // The due time moves with the job: a re-drive's new due time takes it out of this query.
    let key = overdue.iter().next().unwrap().clone();
    let mut job = store
        .get_job(&key.user_id, &key.post_id, key.platform)
        .await
        .unwrap()
        .unwrap();
    job.step_due_at_ms = now + 1;
    save(&store, &mut job).await;
    let found = store.overdue_jobs(now, 1000).await.unwrap();
    assert_eq!(found.len(), overdue.len() - 1);
    assert!(!found.contains(&key));
}

async fn queue_depth(world_aws: &reelay_shared::aws::AwsClients, url: &str) -> u64 {
    let attrs = world_aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|a| attrs[a].parse::<u64>().unwrap())
    .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_adapter_receives_hides_and_deletes() {
    let aws = aws_clients_for(&moto_endpoint()).await;
    let stack = Stack::create(&aws, StackSpec::unique("dlq-adapter"))
        .await
        .unwrap();
    for body in ["one", "two", "three"] {
        aws.sqs
            .send_message()
            .queue_url(&stack.dlq_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let dlq = SqsDeadLetters::new(aws.sqs.clone(), &stack.dlq_url);
    let mut got = Vec::new();
    for _ in 0..5 {
        got.extend(dlq.receive(10, 60).await.unwrap());
        if got.len() == 3 {
            break;
        }
    }
    let mut bodies: Vec<_> = got.iter().map(|l| l.body.as_str()).collect();
    bodies.sort();
    assert_eq!(bodies, ["one", "three", "two"]);
    assert!(
        dlq.receive(10, 60).await.unwrap().is_empty(),
        "received letters stay hidden"
    );
    dlq.delete(&got[0]).await.unwrap();
    assert_eq!(queue_depth(&aws, &stack.dlq_url).await, 2);
}

// ------------------------------------------------------------------------------ end to end

/// A world whose reconciler fires every second with `grace`, and `USER` connected to X.
async fn world(label: &str, grace: Duration, tweak: impl FnOnce(&mut WorldOptions)) -> World {
    let mut options = WorldOptions {
        label: label.into(),
        emulator: EmulatorConfig {
            processing: ProcessingMode::Polls { steps: 2 },
            check_after_secs: 1,
            ..EmulatorConfig::default()
        },
        engine: EngineSettings {
            deadline_margin_ms: 700,
            initial_segment_estimate_ms: 500,
            backoff_base_secs: 1,
            backoff_cap_secs: 2,
            ..EngineSettings::default()
        },
        reconcile_period: Some(Duration::from_secs(1)),
        reconcile: ReconcileSettings {
            grace_ms: grace.as_millis() as i64,
            max_redrives: 3,
            dead_letter_hide_secs: 1,
            ..ReconcileSettings::default()
        },
        ..WorldOptions::default()
    };
    tweak(&mut options);
    let world = World::start(&moto_endpoint(), options).await.unwrap();
    world.connect(USER).await.unwrap();
    world
}

fn sweeps(log: &[Invocation]) -> Vec<SweepSummary> {
    log.iter()
        .filter(|i| i.function == FunctionName::Reconciler)
        .map(|i| {
            serde_json::from_str(&i.outcome)
                .unwrap_or_else(|e| panic!("sweep outcome {:?}: {e}", i.outcome))
        })
        .collect()
}

/// Waits until the runner has fired `n` more sweeps than now.
async fn more_sweeps(world: &World, n: usize) -> Vec<SweepSummary> {
    let seen = sweeps(&world.runner.log.snapshot()).len();
    let (ok, log) = world
        .runner
        .log
        .wait_until(Duration::from_secs(30), |log| sweeps(log).len() >= seen + n)
        .await;
    assert!(ok, "the schedule did not fire");
    sweeps(&log)[seen..].to_vec()
}

/// Puts `job`'s current message in the DLQ, as SQS's redrive would after a worker died on its
/// last receive (so the engine never marked the job).
async fn dead_letter(world: &World, job: &UploadJob) {
    world
        .aws
        .sqs
        .send_message()
        .queue_url(&world.stack.dlq_url)
        .message_body(job.message().to_body())
        .send()
        .await
        .unwrap();
}

/// Records a failed attempt on the stored job, as a worker's checkpoint would have.
async fn with_last_error(world: &World, job: &mut UploadJob, message: &str) {
    let now = now_ms();
    job.record(now, "initialize", format!("x_server_error: {message}"));
    job.error = Some(JobError {
        code: "x_server_error".into(),
        message: message.into(),
        retryable: true,
        at_ms: now,
    });
    save(&world.store, job).await;
}

fn published_once(world: &World, job: &UploadJob) {
    assert_eq!(
        job.phase,
        Phase::Published,
        "{:?} {:?}\n{:#?}",
        job.phase,
        job.error,
        job.history
    );
    let media = job.media_id.as_deref().unwrap();
    let carrying = world
        .emulator
        .admin()
        .records()
        .tweets
        .iter()
        .filter(|t| t.media_ids.iter().any(|m| m == media))
        .count();
    assert_eq!(carrying, 1, "posts carrying the media");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_message_was_lost_is_re_driven_and_posts_exactly_once() {
    let world = world("lost", Duration::from_secs(3), |o| {
        o.reconcile.max_redrives = 5;
    })
    .await;
    // The job is stored but its first message never reaches the queue.
    let job = world
        .create_upload(USER, x_emulator::testing::tiny_mp4(300_000), "found again")
        .await
        .unwrap();
    let done = world
        .wait_until_final(USER, &job.post_id, LIMIT)
        .await
        .unwrap();
    published_once(&world, &done);
    assert!(
        done.history
            .iter()
            .any(|a| a.step == REDRIVE_STEP && a.outcome.contains("sent again")),
        "{:#?}",
        done.history
    );
    let all = sweeps(&world.runner.log.snapshot());
    assert!(all.iter().any(|s| s.redriven >= 1), "{all:?}");
    world.runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_message_died_in_the_dlq_fails_with_its_last_error_and_retries() {
    // A long grace: only the dead letter may settle this job.
    let world = world("dead", Duration::from_secs(600), |_| {}).await;
    let mut job = world
        .create_upload(USER, x_emulator::testing::tiny_mp4(200_000), "back again")
        .await
        .unwrap();
    with_last_error(&world, &mut job, "X answered 503: Service Unavailable").await;
    dead_letter(&world, &job).await;

    let failed = world
        .wait_until_final(USER, &job.post_id, LIMIT)
        .await
        .unwrap();
    assert_eq!(failed.phase, Phase::Failed);
    let error = failed.error.clone().unwrap();
    assert_eq!(error.code, "gave_up");
    assert!(error.retryable);
    assert!(
        error
            .message
            .contains("X answered 503: Service Unavailable"),
        "{}",
        error.message
    );
    // The settled letter is gone; the post says failed.
    let sweeps_after = more_sweeps(&world, 1).await;
    assert_eq!(
        queue_depth(&world.aws, &world.stack.dlq_url).await,
        0,
        "{sweeps_after:?}"
    );
    let (post, _) = world
        .store
        .post_with_jobs(&job.user_id, &job.post_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(post.status, PostStatus::Failed);

    // The user's retry then works.
    let retried = world
        .http
        .post(format!(
            "{}/api/posts/{}/retry",
            world.runner.http_url, job.post_id
        ))
        .bearer_auth(world.auth.mint(USER))
        .send()
        .await
        .unwrap();
    assert_eq!(
        retried.status(),
        202,
        "{}",
        retried.text().await.unwrap_or_default()
    );
    let done = world
        .wait_until_final(USER, &job.post_id, LIMIT)
        .await
        .unwrap();
    published_once(&world, &done);
    world.runner.stop().await;
}

/// Crashes every invocation right after INIT, before its checkpoint, as a bug that kills the
/// worker at that step would: each time the job keeps its step and the lease runs out.
struct CrashAfterInit;

impl CrashSwitch for CrashAfterInit {
    fn crash_at(&self, point: StepPoint) -> bool {
        point == StepPoint::AfterInitialize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_re_driven_more_than_the_limit_fails_with_its_last_reason() {
    let world = world("stuck", Duration::from_secs(2), |o| {
        o.worker_deadline = Duration::from_secs(2);
        // The crashed deliveries do not come back within the test: only re-drives move the job.
        o.visibility_timeout_secs = Some(300);
        o.crashes = Arc::new(CrashAfterInit);
    })
    .await;
    // X's first INIT fails (recorded as the job's last error); every later one is lost to the
    // crash.
    world
        .emulator
        .admin()
        .add_fault(FaultSpec {
            endpoint: "media_initialize".into(),
            kind: FaultKind::Fail { status: 503 },
            count: Some(1),
            phase: FaultPhase::Before,
        })
        .unwrap();
    let post = world
        .start_upload(USER, x_emulator::testing::tiny_mp4(200_000), "stuck")
        .await
        .unwrap();
    let failed = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_eq!(failed.phase, Phase::Failed, "{:#?}", failed.history);
    let error = failed.error.unwrap();
    assert_eq!(error.code, "gave_up", "{}", error.message);
    assert!(error.retryable);
    assert!(
        error.message.contains("sent again 3 times") && error.message.contains("x_server_error"),
        "{}",
        error.message
    );
    assert_eq!(failed.redrives, 3);
    let redrives = failed
        .history
        .iter()
        .filter(|a| a.step == REDRIVE_STEP)
        .count();
    assert_eq!(redrives, 4, "three re-sends and the give-up");
    assert!(world.emulator.admin().records().tweets.is_empty());
    world.runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_never_fails_a_job_another_worker_holds() {
    let world = world("leased", Duration::from_secs(600), |_| {}).await;
    let mut job = world
        .create_upload(USER, x_emulator::testing::tiny_mp4(200_000), "held")
        .await
        .unwrap();
    with_last_error(&world, &mut job, "X answered 500").await;
    // Another worker is running the job for the next few seconds.
    job.lease_owner = Some("another-invocation".into());
    job.lease_until_ms = now_ms() + 8_000;
    save(&world.store, &mut job).await;
    dead_letter(&world, &job).await;

    let while_leased = more_sweeps(&world, 2).await;
    assert!(
        while_leased.iter().any(|s| s.dead_letters_left == 1),
        "{while_leased:?}"
    );
    assert!(while_leased.iter().all(|s| s.dead_letters_failed == 0));
    let checked_at = now_ms();
    let held = world.job(USER, &job.post_id).await.unwrap();
    // (On a machine slow enough for the lease to end meanwhile, the job may rightly be failed.)
    if checked_at < job.lease_until_ms {
        assert_eq!(held, job, "untouched while the lease is live");
        assert_eq!(queue_depth(&world.aws, &world.stack.dlq_url).await, 1);
    }

    // The holder never finished: once its lease has run out, the dead letter fails the job.
    let failed = world
        .wait_until_final(USER, &job.post_id, LIMIT)
        .await
        .unwrap();
    assert_eq!(failed.phase, Phase::Failed);
    let error = failed.error.unwrap();
    assert_eq!(error.code, "gave_up");
    assert!(
        error.message.contains("X answered 500"),
        "{}",
        error.message
    );
    assert!(
        failed.updated_at_ms >= job.lease_until_ms,
        "failed only after the lease ended"
    );
    world.runner.stop().await;
}
