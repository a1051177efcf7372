//! Reelay against X's real answers (issue "faithful to the real X"), end to end: process-upload
//! driven by the runner over moto, X played by the emulator answering as X does (its README cites
//! each shape). Each test checks what the user and the operator are told, and what X holds.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reelay_local::checks::assert_published_once;
use reelay_local::harness::moto_endpoint;
use reelay_local::world::{World, WorldOptions};
use reelay_shared::accounts::store::{AccountStore, DynamoAccountStore};
use reelay_shared::accounts::AccountStatus;
use reelay_shared::clock::{Clock, SystemClock};
use reelay_shared::engine::EngineSettings;
use reelay_shared::ids::UserId;
use reelay_shared::jobs::Phase;
use reelay_shared::ports::WorkQueue;
use reelay_shared::posts::Platform;
use reelay_shared::sqs::SqsQueue;
use serde_json::Value;
use x_emulator::{AppendAnswer, DailyLimit, EmulatorConfig, ProcessingMode};

const USER: &str = "user-1";
const X_USER: &str = "1072250532645998596";
const LIMIT: Duration = Duration::from_secs(90);

fn engine() -> EngineSettings {
    EngineSettings {
        deadline_margin_ms: 700,
        min_call_ms: 500,
        initial_segment_estimate_ms: 500,
        backoff_base_secs: 1,
        backoff_cap_secs: 2,
        publish_settle_ms: 1_500,
        operator_retry_secs: 1,
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
        // Room for a token refresh: X's timeout (2 s) plus 5 s (TokenSettings).
        worker_deadline: Duration::from_secs(10),
        extra_env: vec![("X_REQUEST_TIMEOUT_SECS".into(), "2".into())],
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

async fn account_status(world: &World) -> AccountStatus {
    let accounts = DynamoAccountStore::new(world.aws.dynamodb.clone(), &world.stack.table_name);
    accounts
        .get_account(&UserId::parse(USER).unwrap(), Platform::Twitter)
        .await
        .unwrap()
        .expect("the account is still there")
        .status
}

/// What the operator's subscription received (a queue subscribed to the alerts topic).
async fn operator_inbox(world: &World) -> Vec<Value> {
    let received = world
        .aws
        .sqs
        .receive_message()
        .queue_url(&world.stack.operator_inbox_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    received
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap_or_default()).unwrap())
        .collect()
}

/// `GET /api/posts/{id}` as the user.
async fn post_view(world: &World, post: &str) -> Value {
    let response = world
        .http
        .get(format!("{}/api/posts/{post}", world.runner.http_url))
        .bearer_auth(world.auth.mint(USER))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn calls(world: &World, endpoint: &str, status: &str) -> u64 {
    world
        .emulator
        .admin()
        .records()
        .calls
        .get(endpoint)
        .and_then(|by_status| by_status.get(status))
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_shaped_403_without_media_write_asks_the_user_to_reconnect_and_flags_the_account() {
    // X took media.write away from the grant (as for tokens issued before the scope existed):
    // its answer is the bare about:blank 403 (PLH#588). Reelay's stored scopes still say
    // media.write, so it refreshes once, reads the scopes X grants now, and tells the user.
    let world = world("no-media-write", |_| {}).await;
    assert!(world.emulator.admin().withdraw_scope(X_USER, "media.write") > 0);
    let post = world
        .start_upload(USER, video(100_000), "needs media.write")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();

    assert_eq!(job.phase, Phase::Failed, "{:#?}", job.history);
    let error = job.error.unwrap();
    assert_eq!(
        error.code, "reconnect_required",
        "{error:?}\n{:#?}",
        job.history
    );
    assert!(error.retryable);
    assert!(
        error.message.contains("\"upload media\" (media.write)")
            && error.message.contains("Disconnect X")
            && error.message.contains("connect it again"),
        "{}",
        error.message
    );
    match account_status(&world).await {
        AccountStatus::NeedsReconnect { reason } => assert_eq!(reason, error.message),
        other => panic!("the account must be flagged, is {other:?}"),
    }
    // X really answered the bare 403, and nothing was uploaded or posted.
    assert!(calls(&world, "media_initialize", "403") >= 1);
    assert!(world.emulator.admin().records().tweets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_without_access_to_media_upload_waits_for_the_operator_and_flags_no_account() {
    let world = world("not-enrolled", |o| {
        o.emulator.not_enrolled_endpoints = vec!["media_initialize".into()];
    })
    .await;
    let file = video(100_000);
    let post = world
        .start_upload(USER, file.clone(), "waits for the operator")
        .await
        .unwrap();
    let waiting = world
        .wait_for_job(
            USER,
            &post,
            LIMIT,
            |j| j.operator_blocked_since_ms.is_some(),
            |_| {},
        )
        .await
        .unwrap();
    let error = waiting.error.clone().unwrap();
    assert_eq!(error.code, "x_app_not_enrolled");
    assert!(
        error
            .message
            .starts_with("X access for this app is not enabled"),
        "{}",
        error.message
    );
    assert_eq!(account_status(&world).await, AccountStatus::Active);
    // The post view says so while it waits.
    let view = post_view(&world, post.as_str()).await;
    let target = &view["targets"][0];
    assert_eq!(target["waiting"]["code"], "x_app_not_enrolled", "{view:#}");
    // The operator was told once, with the fix.
    let alerts = operator_inbox(&world).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["code"], "x_app_not_enrolled");
    assert_eq!(alerts[0]["post_id"], post.as_str());
    assert!(alerts[0]["action"]
        .as_str()
        .unwrap()
        .contains("developer portal"));

    // The operator fixes the app's access: the post goes out without the user doing anything.
    world
        .emulator
        .admin()
        .update_config(|c| c.not_enrolled_endpoints.clear());
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &file);
    assert!(operator_inbox(&world).await.is_empty(), "one alert per job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_up_credits_wait_bounded_then_fail_retryable_without_flagging_the_account() {
    let world = world("credits", |o| {
        o.emulator.credits_depleted = true;
        o.engine.operator_wait_ms = 3_000;
    })
    .await;
    let post = world
        .start_upload(USER, video(100_000), "no credits")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_eq!(job.phase, Phase::Failed, "{:#?}", job.history);
    let error = job.error.unwrap();
    assert_eq!(error.code, "x_credits_depleted");
    assert!(error.retryable);
    assert!(
        error
            .message
            .starts_with("X credits for this app are used up")
            && error.message.contains("Gave up after waiting"),
        "{}",
        error.message
    );
    assert!(
        calls(&world, "media_initialize", "402") >= 2,
        "it tried again while waiting"
    );
    assert_eq!(account_status(&world).await, AccountStatus::Active);
    let alerts = operator_inbox(&world).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["code"], "x_credits_depleted");
}

/// A clock the test moves forward, as if a day passed.
struct MovableClock(AtomicI64);

impl Clock for MovableClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.0.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_daily_cap_delays_the_post_to_the_reset_and_says_when() {
    let clock = Arc::new(MovableClock(AtomicI64::new(0)));
    let world = world("daily-cap", |o| {
        o.emulator.daily_limits.insert(
            "tweets".into(),
            DailyLimit {
                app: None,
                user: Some(1),
                window_secs: 86_400,
            },
        );
        o.worker_clock = Some(clock.clone());
        o.lambda_clock = Some(clock.clone());
    })
    .await;
    let first_file = video(60_000);
    let first = world
        .start_upload(USER, first_file.clone(), "first of the day")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &first, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &first_file);

    let file = video(70_000);
    let post = world
        .start_upload(USER, file.clone(), "second of the day")
        .await
        .unwrap();
    let waiting = world
        .wait_for_job(USER, &post, LIMIT, |j| j.wait_until_ms.is_some(), |_| {})
        .await
        .unwrap();
    // X's 24-hour reset, as the emulator's clock has it.
    let reset_secs = world.emulator.admin().now_ms() as i64 / 1000 + 86_400;
    let until = waiting.wait_until_ms.unwrap() / 1000;
    assert!(
        (reset_secs - 5..=reset_secs + 5).contains(&until),
        "waits until {until}, X resets at {reset_secs}"
    );
    assert_eq!(waiting.attempts, 0);
    let error = waiting.error.clone().unwrap();
    assert_eq!(error.code, "x_daily_limit");
    let shown = reelay_shared::clock::rfc3339(until);
    assert!(
        error.message.contains(&shown),
        "{} / {shown}",
        error.message
    );
    let view = post_view(&world, post.as_str()).await;
    assert_eq!(view["targets"][0]["waiting"]["until"], shown, "{view:#}");
    assert_eq!(view["status"], "processing");
    assert_eq!(world.emulator.admin().records().tweets.len(), 1);

    // A day later (for X and for Reelay's worker) the next link of the wait runs the post. The
    // link in the queue is 15 minutes away; the same message is sent now instead.
    world
        .emulator
        .admin()
        .advance_clock(Duration::from_secs(86_400 + 5));
    clock.0.store((86_400 + 5) * 1000, Ordering::SeqCst);
    let now = world.job(USER, &post).await.unwrap();
    SqsQueue::new(world.aws.sqs.clone(), &world.stack.queue_url)
        .send(&now.message(), 0)
        .await
        .unwrap();
    let job = match world.wait_until_final(USER, &post, LIMIT).await {
        Ok(job) => job,
        Err(e) => panic!("{e}\n{:#?}", world.job(USER, &post).await.unwrap().history),
    };
    assert_published_once(&world, &job, &file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_answered_as_v1_did_with_204_and_no_body_work() {
    let world = world("append-204", |o| {
        o.emulator.append_answer = AppendAnswer::V1_204;
        o.segment_size = 64 * 1024;
    })
    .await;
    let file = video(300_000);
    let post = world
        .start_upload(USER, file.clone(), "appends answered 204")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_published_once(&world, &job, &file);
    assert_eq!(calls(&world, "media_append", "204"), 5);
}
