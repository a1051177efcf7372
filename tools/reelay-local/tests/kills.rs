//! The runner stops process-upload as Lambda does: at the invocation's deadline, or earlier when
//! the kill plan says so. A stopped invocation reports nothing, so its whole batch comes back
//! after the visibility timeout, and the log says it was killed and why.

use std::sync::Arc;
use std::time::Duration;

use reelay_local::harness::moto_endpoint;
use reelay_local::runner::{FunctionName, Invocation, Killed, Kills};
use reelay_local::world::{World, WorldOptions};
use reelay_shared::clock::{Clock, SystemClock};
use reelay_shared::engine::EngineSettings;
use reelay_shared::jobs::Phase;
use x_emulator::{EmulatorConfig, FaultKind, FaultSpec, Phase as FaultPhase, ProcessingMode};

const USER: &str = "user-1";
const LIMIT: Duration = Duration::from_secs(90);

fn options(label: &str) -> WorldOptions {
    WorldOptions {
        label: label.into(),
        worker_deadline: Duration::from_secs(2),
        visibility_timeout_secs: Some(3),
        worker_concurrency: 1,
        emulator: EmulatorConfig {
            // One STATUS poll: the upload hands off once, to wait for processing.
            processing: ProcessingMode::Polls { steps: 1 },
            check_after_secs: 1,
            ..EmulatorConfig::default()
        },
        engine: EngineSettings {
            deadline_margin_ms: 700,
            min_call_ms: 500,
            initial_segment_estimate_ms: 500,
            ..EngineSettings::default()
        },
        ..WorldOptions::default()
    }
}

fn upload_invocations(world: &World) -> Vec<Invocation> {
    let mut log: Vec<Invocation> = world
        .runner
        .log
        .snapshot()
        .into_iter()
        .filter(|i| i.function == FunctionName::ProcessUpload)
        .collect();
    log.sort_by_key(|i| i.invoked_at_ms);
    log
}

/// The killed invocation, and proof that its message came back in a later one.
fn killed_and_redelivered(log: &[Invocation], why: Killed) -> &Invocation {
    let killed = log
        .iter()
        .find(|i| i.killed == Some(why))
        .unwrap_or_else(|| panic!("no invocation killed by {why:?}: {log:#?}"));
    assert!(killed.outcome.starts_with("killed: "), "{killed:?}");
    assert!(
        log.iter()
            .any(|i| i.invoked_at_ms > killed.invoked_at_ms && i.items == killed.items),
        "the killed batch {:?} never came back: {log:#?}",
        killed.items
    );
    killed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_kill_drops_the_handler_and_its_batch_comes_back() {
    let mut options = options("kill-plan");
    // The first invocation dies 1 ms in, before it can finish anything.
    options.kills = Some(Kills(Arc::new(|n: u64| {
        (n == 0).then_some(Duration::from_millis(1))
    })));
    let world = World::start(&moto_endpoint(), options).await.unwrap();
    world.connect(USER).await.unwrap();
    let post = world
        .start_upload(USER, x_emulator::testing::tiny_mp4(50_000), "killed once")
        .await
        .unwrap();
    let job = world.wait_until_final(USER, &post, LIMIT).await.unwrap();
    assert_eq!(job.phase, Phase::Published, "{:#?}", job.history);
    let log = upload_invocations(&world);
    let killed = killed_and_redelivered(&log, Killed::Planned);
    assert_eq!(killed.outcome, "killed: planned after 1 ms");
    assert!(
        !log.iter().any(|i| i.killed == Some(Killed::Timeout)),
        "{log:#?}"
    );
}

/// A clock 30 s behind: an engine reading it believes every invocation has 30 s more than it has.
struct LateClock;

impl Clock for LateClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() - 30_000
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_is_stopped_at_the_deadline_and_logged_as_a_timeout() {
    let mut options = options("kill-timeout");
    options.worker_clock = Some(Arc::new(LateClock));
    options.segment_size = 64 * 1024;
    let world = World::start(&moto_endpoint(), options).await.unwrap();
    world.connect(USER).await.unwrap();
    // 16 segments at 1 s each, four at a time (the default), outlast a 2 s invocation that
    // does not know its time is up.
    world
        .emulator
        .admin()
        .add_fault(FaultSpec {
            endpoint: "media_append".into(),
            kind: FaultKind::Latency { ms: 1000 },
            count: None,
            phase: FaultPhase::Before,
        })
        .unwrap();
    let started = std::time::Instant::now();
    world
        .start_upload(
            USER,
            x_emulator::testing::tiny_mp4(1024 * 1024),
            "late clock",
        )
        .await
        .unwrap();
    let (stopped, log) = world
        .runner
        .log
        .wait_until(Duration::from_secs(10), |log| {
            log.iter().any(|i| i.killed == Some(Killed::Timeout))
        })
        .await;
    assert!(
        stopped,
        "no invocation was stopped at its deadline: {log:#?}"
    );
    let killed = log
        .iter()
        .find(|i| i.killed == Some(Killed::Timeout))
        .unwrap();
    assert_eq!(killed.outcome, "killed: timeout");
    assert_eq!(killed.deadline_ms - killed.invoked_at_ms, 2_000);
    // Stopped at the deadline, not when the handler would have finished (about 5 s of appends).
    assert!(
        started.elapsed() < Duration::from_millis(4_500),
        "{:?}",
        started.elapsed()
    );
    // Its message comes back after the visibility timeout, in a later invocation.
    let (back, log) = world
        .runner
        .log
        .wait_until(Duration::from_secs(10), |log| {
            log.iter().any(|i| {
                i.function == FunctionName::ProcessUpload
                    && i.invoked_at_ms > killed.invoked_at_ms
                    && i.items == killed.items
            })
        })
        .await;
    assert!(
        back,
        "the killed batch {:?} never came back: {log:#?}",
        killed.items
    );
}
