//! Issue 15, scheduled posts: the `WakeUps` adapter over EventBridge Scheduler against moto, and
//! the local runner playing EventBridge's part (moto stores schedules but never runs them): a
//! due schedule's message reaches the work queue once, by the runner's clock, and the schedule
//! is then deleted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reelay_local::authorizer::LocalAuthorizer;
use reelay_local::harness::{aws_clients_for, moto_endpoint};
use reelay_local::iam_usage;
use reelay_local::runner::{FiredSchedule, Functions, LambdaClock, Runner, RunnerConfig};
use reelay_local::stack::{Stack, StackSpec};
use reelay_local::world::{World, WorldOptions};
use reelay_shared::aws::AwsClients;
use reelay_shared::clock::{Clock, ManualClock};
use reelay_shared::config::SchedulerConfig;
use reelay_shared::ids::UserId;
use reelay_shared::messages::JobMessage;
use reelay_shared::ports::WakeUps;
use reelay_shared::posts::{new_post_id, Platform};
use reelay_shared::scheduler::{schedule_name, EventBridgeWakeUps};
use reelay_shared::secret_store::SecretsManagerSource;

/// 2026-11-25T14:09:45Z.
const T0_MS: i64 = 1_795_615_785_000;

fn message(step_token: &str) -> JobMessage {
    JobMessage {
        user_id: UserId::parse("user-1").unwrap(),
        post_id: new_post_id(T0_MS),
        platform: Platform::Twitter,
        step_token: step_token.into(),
    }
}

async fn stack(label: &str) -> (AwsClients, Stack) {
    let aws = aws_clients_for(&moto_endpoint()).await;
    let stack = Stack::create(&aws, StackSpec::unique(label))
        .await
        .expect("stack");
    (aws, stack)
}

/// The adapter as process-upload builds it: from the stack's function environment.
fn wake_ups(aws: &AwsClients, stack: &Stack) -> EventBridgeWakeUps {
    let config = SchedulerConfig::from_env(&stack.function_env()).expect("scheduler config");
    assert_eq!(config.group_name, stack.schedule_group_name);
    assert_eq!(config.queue_arn, stack.queue_arn);
    EventBridgeWakeUps::new(aws.scheduler.clone(), &config)
}

/// The names of the group's schedules, sorted.
async fn names(aws: &AwsClients, stack: &Stack) -> Vec<String> {
    let listed = aws
        .scheduler
        .list_schedules()
        .group_name(&stack.schedule_group_name)
        .send()
        .await
        .expect("ListSchedules");
    let mut names: Vec<String> = listed
        .schedules()
        .iter()
        .filter_map(|s| s.name().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Every message now on the work queue (received and deleted), waiting up to `wait_secs`.
async fn drain(aws: &AwsClients, stack: &Stack, wait_secs: i32) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = aws
            .sqs
            .receive_message()
            .queue_url(&stack.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_secs)
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for m in messages {
            bodies.push(m.body.unwrap_or_default());
            aws.sqs
                .delete_message()
                .queue_url(&stack.queue_url)
                .receipt_handle(m.receipt_handle.unwrap_or_default())
                .send()
                .await
                .expect("DeleteMessage");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_at_keeps_one_schedule_per_job_with_the_exact_time_and_message() {
    let (aws, stack) = stack("wake-at").await;
    let adapter = wake_ups(&aws, &stack);
    let first = message("step-a");
    let name = schedule_name(&first);
    assert_eq!(name, format!("twitter-{}", first.post_id));

    // A millisecond past a whole second is rounded up to the next: never early.
    adapter.wake_at(&first, T0_MS + 60_001).await.unwrap();
    let got = aws
        .scheduler
        .get_schedule()
        .group_name(&stack.schedule_group_name)
        .name(&name)
        .send()
        .await
        .expect("the schedule exists");
    assert_eq!(
        got.schedule_expression(),
        Some("at(2026-11-25T14:10:46)"),
        "T0 + 60.001 s, rounded up"
    );
    assert_eq!(got.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(
        got.flexible_time_window().map(|w| w.mode().as_str()),
        Some("OFF")
    );
    assert_eq!(
        got.action_after_completion().map(|a| a.as_str()),
        Some("DELETE")
    );
    assert_eq!(got.state().map(|s| s.as_str()), Some("ENABLED"));
    let target = got.target().expect("a target");
    assert_eq!(target.arn(), stack.queue_arn, "the work queue");
    assert_eq!(target.role_arn(), stack.scheduler_role_arn);
    assert_eq!(target.input(), Some(first.to_body().as_str()));
    assert_eq!(
        JobMessage::parse(target.input().unwrap()).unwrap(),
        first,
        "the very message the worker reads"
    );
    assert_eq!(names(&aws, &stack).await, [name.as_str()]);

    // Again for the same job: the one schedule now holds the new time and message.
    let second = JobMessage {
        step_token: "step-b".into(),
        ..first.clone()
    };
    adapter.wake_at(&second, T0_MS + 3_600_000).await.unwrap();
    assert_eq!(names(&aws, &stack).await, [name.as_str()], "still one");
    let got = aws
        .scheduler
        .get_schedule()
        .group_name(&stack.schedule_group_name)
        .name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(got.schedule_expression(), Some("at(2026-11-25T15:09:45)"));
    assert_eq!(
        got.target().and_then(|t| t.input()),
        Some(second.to_body().as_str())
    );
    assert_eq!(
        got.action_after_completion().map(|a| a.as_str()),
        Some("DELETE")
    );

    // Another job has its own.
    let other = message("step-c");
    adapter.wake_at(&other, T0_MS + 5_000).await.unwrap();
    let mut both = vec![name.clone(), schedule_name(&other)];
    both.sort();
    assert_eq!(names(&aws, &stack).await, both);

    // Forgetting removes the job's schedule only; forgetting again is no error.
    adapter.forget(&second).await.unwrap();
    assert_eq!(names(&aws, &stack).await, [schedule_name(&other)]);
    adapter.forget(&second).await.unwrap();
    adapter.forget(&other).await.unwrap();
    assert!(names(&aws, &stack).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_failure_names_the_action() {
    let (aws, stack) = stack("wake-fail").await;
    let config = SchedulerConfig {
        group_name: format!("{}-no-such-group", stack.spec.prefix),
        ..SchedulerConfig::from_env(&stack.function_env()).unwrap()
    };
    let adapter = EventBridgeWakeUps::new(aws.scheduler.clone(), &config);
    let err = adapter
        .wake_at(&message("step-a"), T0_MS)
        .await
        .expect_err("a schedule in a group that does not exist");
    assert!(
        err.detail.contains("EventBridge Scheduler CreateSchedule"),
        "{}",
        err.detail
    );
}

/// A runner over `stack` that fires schedules by `clock` and leaves the work queue alone, so the
/// test reads what reaches it.
async fn runner(aws: &AwsClients, stack: &Stack, clock: Arc<ManualClock>) -> Runner {
    let mut env = stack.function_env();
    env.extend(HashMap::from([
        ("X_CLIENT_ID".to_owned(), "local-client".to_owned()),
        (
            "X_REDIRECT_URI".to_owned(),
            "http://127.0.0.1:1/api/auth/platforms/twitter/callback".to_owned(),
        ),
    ]));
    let functions = Functions::from_env(&env, aws)
        .await
        .expect("function config");
    let config = RunnerConfig {
        poll_work_queue: false,
        reconcile_period: None,
        lambda_clock: LambdaClock(Some(clock)),
        ..RunnerConfig::default()
    };
    Runner::start(
        functions,
        aws.clone(),
        stack,
        LocalAuthorizer::random(),
        config,
    )
    .await
    .expect("runner")
}

/// Waits until the runner fired `n` schedules, or 10 s.
async fn fired(runner: &Runner, n: usize) -> Vec<FiredSchedule> {
    let started = std::time::Instant::now();
    loop {
        let fired = runner.fired_schedules();
        if fired.len() >= n || started.elapsed() > Duration::from_secs(10) {
            return fired;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_fires_a_schedule_once_its_clock_reaches_it_and_deletes_it() {
    let (aws, stack) = stack("wake-fire").await;
    let clock = Arc::new(ManualClock::new(T0_MS));
    let runner = runner(&aws, &stack, clock.clone()).await;
    let adapter = wake_ups(&aws, &stack);
    let job = message("step-a");
    let name = schedule_name(&job);
    adapter.wake_at(&job, T0_MS + 60_001).await.unwrap();
    let due_ms = T0_MS + 61_000;

    // A millisecond early, over several of the runner's 200 ms rounds: nothing.
    clock.advance_ms(60_999);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(runner.fired_schedules().is_empty(), "fired early");
    assert_eq!(names(&aws, &stack).await, [name.as_str()], "still waiting");
    assert_eq!(drain(&aws, &stack, 0).await, Vec::<String>::new());

    // Due: fired once, at its time by the runner's clock.
    clock.advance_ms(1);
    let fired_now = fired(&runner, 1).await;
    assert_eq!(
        fired_now,
        [FiredSchedule {
            name: name.clone(),
            due_at_ms: due_ms,
            fired_at_ms: due_ms,
        }]
    );
    assert_eq!(
        drain(&aws, &stack, 2).await,
        [job.to_body()],
        "the message reached the work queue once"
    );
    // Deleted after it ran, as ActionAfterCompletion DELETE asks.
    let started = std::time::Instant::now();
    while !names(&aws, &stack).await.is_empty() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(names(&aws, &stack).await.is_empty(), "the schedule is gone");

    // Later rounds fire nothing more.
    clock.advance_ms(3_600_000);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(runner.fired_schedules().len(), 1);
    assert_eq!(drain(&aws, &stack, 1).await, Vec::<String>::new());

    // A job woken again gets a new schedule, fired in its turn with its new message.
    let again = JobMessage {
        step_token: "step-b".into(),
        ..job.clone()
    };
    adapter
        .wake_at(&again, clock.now_ms() + 10_000)
        .await
        .unwrap();
    clock.advance_ms(10_000);
    let fired_now = fired(&runner, 2).await;
    assert_eq!(fired_now.len(), 2, "{fired_now:?}");
    assert_eq!(fired_now[1].name, name);
    assert_eq!(drain(&aws, &stack, 2).await, [again.to_body()]);
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_firing_off_a_due_schedule_stays_and_nothing_is_sent() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let world = World::start(
        &moto_endpoint(),
        WorldOptions {
            label: "wake-off".into(),
            reconcile_period: None,
            lambda_clock: Some(clock.clone()),
            fire_schedules: false,
            ..WorldOptions::default()
        },
    )
    .await
    .unwrap();
    // process-upload's own adapter, built from its configuration as its cold start builds it,
    // over its own recorded clients (`iam_usage`: these are the scheduler calls its policy
    // allows).
    let aws = iam_usage::clients_for(&world.aws, "ProcessUploadFunction");
    let worker = reelay_process_upload::App::cold_start(
        reelay_process_upload::WorkerConfig::from_env(&world.env).unwrap(),
        &aws,
        reqwest::Client::new(),
        &SecretsManagerSource::new(aws.secretsmanager.clone()),
    )
    .await
    .unwrap();
    let job = message("step-a");
    // Created, then moved: the time that counts is the second.
    worker.wake_ups.wake_at(&job, T0_MS + 90_000).await.unwrap();
    worker.wake_ups.wake_at(&job, T0_MS + 1_000).await.unwrap();
    clock.advance_ms(120_000);
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    assert!(world.fired_schedules().is_empty(), "fired with firing off");
    let waiting = world.schedules().await.unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0].name, schedule_name(&job));
    assert_eq!(waiting[0].due_at_ms, Some(T0_MS + 1_000));
    assert_eq!(waiting[0].input, job.to_body());
    assert_eq!(waiting[0].target_arn, world.stack.queue_arn);
    let invoked = world.runner.log.snapshot();
    assert!(
        invoked
            .iter()
            .all(|i| i.function.as_str() != "process-upload"),
        "nothing reached the worker: {invoked:?}"
    );

    worker.wake_ups.forget(&job).await.unwrap();
    assert_eq!(world.schedules().await.unwrap(), []);
}
