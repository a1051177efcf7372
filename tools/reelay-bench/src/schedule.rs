//! The publish-delay measurement (issue 15, BENCHMARKS.md "Scheduled posts"): how long after a
//! post's `scheduled_at` X answers its `POST /2/tweets`, for a 16 MiB and a 512 MiB video
//! scheduled 2 minutes ahead (uploaded ahead, waiting `ready`), and the same with the upload
//! deferred because X would expire the media before the time.
//!
//! Each case runs on a fresh local world (moto, the X emulator, the runner and the functions in
//! this process). The wait until the time is not spent: the worker's, the runner's and the
//! emulator's clocks are moved forward together to the scheduled second, and the delay is X's
//! record of the post (emulator clock) minus `scheduled_at`. It covers the runner noticing the
//! due schedule (it polls every 200 ms), SQS, process-upload, the token and X's answer; it cannot
//! cover EventBridge Scheduler's own latency, which only AWS has.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use reelay_local::harness::moto_endpoint_or_start;
use reelay_local::world::{World, WorldOptions};
use reelay_shared::clock::{Clock, SystemClock};
use reelay_shared::engine::EngineSettings;
use reelay_shared::jobs::{Phase, UploadJob};
use reelay_shared::ports::WorkQueue as _;
use reelay_shared::schedule::ScheduleSettings;
use reelay_shared::sqs::SqsQueue;
use reelay_shared::store::PostStore as _;
use serde::Serialize;

const USER: &str = "bench-scheduler";
const MIB: usize = 1024 * 1024;
const BEGIN: &str = "<!-- schedule-bench:begin -->";
const END: &str = "<!-- schedule-bench:end -->";

#[derive(Debug, Clone, clap::Args)]
pub struct ScheduleArgs {
    /// Video sizes in MiB.
    #[arg(long, value_delimiter = ',', default_value = "16,512")]
    pub schedule_sizes: Vec<usize>,
    /// Where to write the report (the section between the schedule markers is replaced).
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub schedule_out: std::path::PathBuf,
}

/// The system clock plus an offset the bench moves forward.
#[derive(Default)]
struct MovableClock(AtomicI64);

impl Clock for MovableClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    /// Scheduled 2 minutes ahead: uploaded at once, then `ready`.
    Ahead,
    /// X keeps the media 10 minutes and the post is due in 20: the upload waits to start.
    Deferred,
}

#[derive(Debug, Clone, Serialize)]
struct ScheduleResult {
    size_mib: usize,
    kind: Kind,
    /// Minutes between creating the post and its time (on the moved clock).
    ahead_min: i64,
    /// When the upload started, in seconds before the time (deferred: the computed start).
    upload_started_secs_before: i64,
    /// Wall time the upload ahead took, INIT to `ready`.
    upload_secs: f64,
    /// X's record of `POST /2/tweets` minus `scheduled_at`.
    publish_delay_ms: i64,
    late: Option<String>,
}

pub async fn run(args: &ScheduleArgs) -> anyhow::Result<()> {
    let (_moto, endpoint) = moto_endpoint_or_start()?;
    let mut results = Vec::new();
    for &size in &args.schedule_sizes {
        for kind in [Kind::Ahead, Kind::Deferred] {
            let result = case(&endpoint, size, kind).await?;
            eprintln!("{}", serde_json::to_string(&result)?);
            results.push(result);
        }
    }
    write_report(&args.schedule_out, &results)
}

async fn case(endpoint: &str, size_mib: usize, kind: Kind) -> anyhow::Result<ScheduleResult> {
    let clock = Arc::new(MovableClock::default());
    let lifetime_secs: u64 = 600;
    let mut engine = EngineSettings::default();
    let mut options = WorldOptions {
        label: format!("bench-schedule-{size_mib}-{kind:?}").to_lowercase(),
        worker_clock: Some(clock.clone()),
        lambda_clock: Some(clock.clone()),
        reconcile_period: None,
        segment_size: 8 * MIB as u64,
        worker_deadline: Duration::from_secs(60),
        ..WorldOptions::default()
    };
    let ahead_ms = match kind {
        Kind::Ahead => 2 * 60_000,
        Kind::Deferred => {
            // The engine expects what X will say, so it defers from the start.
            options.emulator.amplify_video_expiry_secs = lifetime_secs;
            engine.schedule = ScheduleSettings {
                expected_media_lifetime_ms: lifetime_secs as i64 * 1000,
                ..ScheduleSettings::default()
            };
            20 * 60_000
        }
    };
    options.engine = engine;
    let world = World::start(endpoint, options).await?;
    world.connect(USER).await?;

    let video =
        x_emulator::testing::tiny_mp4(size_mib * MIB - x_emulator::testing::TINY_MP4_OVERHEAD);
    let job = world
        .create_upload(USER, video, "scheduled by the bench")
        .await?;
    let at = (clock.now_ms() + ahead_ms) / 1000 * 1000;
    schedule_post(&world, &job, at).await?;
    SqsQueue::new(world.aws.sqs.clone(), &world.stack.queue_url)
        .send(&job.message(), 0)
        .await
        .map_err(|e| anyhow!("sending the first message: {}", e.detail))?;

    let limit = Duration::from_secs(1200);
    let mut upload_started_at = None;
    if kind == Kind::Deferred {
        let waiting = world
            .wait_for_job(
                USER,
                &job.post_id,
                limit,
                |j| j.phase == Phase::Queued && j.wake_scheduled,
                |_| {},
            )
            .await?;
        if waiting.step_due_at_ms <= clock.now_ms() {
            bail!(
                "the deferred upload was not deferred: {:?}",
                waiting.history
            );
        }
        upload_started_at = Some(waiting.step_due_at_ms);
        move_to(&world, &clock, waiting.step_due_at_ms);
    }
    let started = Instant::now();
    let upload_started_at = upload_started_at.unwrap_or_else(|| clock.now_ms());
    let ready = world
        .wait_for_job(
            USER,
            &job.post_id,
            limit,
            |j| j.phase == Phase::Ready && j.wake_scheduled || j.phase.is_final(),
            |_| {},
        )
        .await?;
    if !matches!(ready.phase, Phase::Ready | Phase::Published) {
        bail!("the upload ended {:?}: {:?}", ready.phase, ready.error);
    }
    // An upload that took past the time is posted as soon as it is ready (late, and the row
    // says so): on this machine that is moto's ranged GETs, not X.
    let upload_secs = started.elapsed().as_secs_f64();

    if ready.phase == Phase::Ready {
        move_to(&world, &clock, at);
    }
    let done = world
        .wait_for_job(
            USER,
            &job.post_id,
            Duration::from_secs(120),
            |j| j.phase.is_final(),
            |_| {},
        )
        .await?;
    if done.phase != Phase::Published {
        bail!("the post ended {:?}: {:?}", done.phase, done.error);
    }
    let tweets = world.emulator.admin().records().tweets;
    let [tweet] = tweets.as_slice() else {
        bail!("X holds {} posts, not one", tweets.len());
    };
    Ok(ScheduleResult {
        size_mib,
        kind,
        ahead_min: ahead_ms / 60_000,
        upload_started_secs_before: (at - upload_started_at) / 1000,
        upload_secs,
        publish_delay_ms: tweet.created_at_ms as i64 - at,
        late: done.late,
    })
}

/// Sets the post's `scheduled_at` as the API would have; the engine reads it from the post.
async fn schedule_post(world: &World, job: &UploadJob, at_ms: i64) -> anyhow::Result<()> {
    let mut post = world
        .store
        .get_post(&job.user_id, &job.post_id)
        .await?
        .context("the post was just created")?;
    post.scheduled_at_ms = Some(at_ms);
    post.version += 1;
    world.store.save_post(&post).await?;
    Ok(())
}

/// Moves the worker's and runner's clock and X's forward together to `at_ms`.
fn move_to(world: &World, clock: &MovableClock, at_ms: i64) {
    let by = (at_ms - clock.now_ms()).max(0);
    clock.0.fetch_add(by, Ordering::SeqCst);
    world
        .emulator
        .admin()
        .advance_clock(Duration::from_millis(by as u64));
}

fn write_report(out: &Path, results: &[ScheduleResult]) -> anyhow::Result<()> {
    let mut table = String::new();
    table.push_str(BEGIN);
    table.push_str(&format!(
        "\nRun of {} (written by `reelay-bench schedule`; edits here are lost): one run per row, on this machine's 2 shared cores.\n",
        reelay_shared::clock::rfc3339(SystemClock.now_secs())
    ));
    table.push_str("\n| video | scheduled | upload started | upload took | `scheduled_at` → X's answer to `POST /2/tweets` | late |\n");
    table.push_str("| ---: | --- | --- | ---: | ---: | --- |\n");
    for r in results {
        let how = match r.kind {
            Kind::Ahead => format!("{} min ahead", r.ahead_min),
            Kind::Deferred => format!("{} min ahead, X keeps media 10 min", r.ahead_min),
        };
        table.push_str(&format!(
            "| {} MiB | {how} | {} s before the time | {:.1} s | {} ms | {} |\n",
            r.size_mib,
            r.upload_started_secs_before,
            r.upload_secs,
            r.publish_delay_ms,
            r.late.as_deref().unwrap_or("no"),
        ));
    }
    table.push('\n');
    table.push_str(END);
    let text = std::fs::read_to_string(out).unwrap_or_default();
    let updated = match (text.find(BEGIN), text.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{table}{}", &text[..b], &text[e + END.len()..]),
        _ => format!("{text}\n{table}\n"),
    };
    std::fs::write(out, updated).with_context(|| format!("writing {}", out.display()))
}
