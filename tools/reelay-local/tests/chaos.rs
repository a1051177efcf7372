//! The chaos suite: many seeded, randomized runs of one upload through the real handlers, the
//! runner, moto and the X emulator, each under a fault plan drawn from its seed, each checked
//! against what X actually holds afterwards.
//!
//! A run connects one user to X, uploads one small video in several segments and draws its faults
//! from `StdRng::seed_from_u64(seed)`:
//! - process-upload invocations killed at random instants (the runner's kill plan), on top of
//!   Lambda's own timeout, which the runner enforces and which must never fire;
//! - work messages delivered twice, stale ones re-sent later, sends SQS is slow to accept, and
//!   messages never sent (which only the reconciler's sweep recovers; `CHAOS_LOST_MESSAGES=0`
//!   turns losses off);
//! - X answering 5xx and 429 with resets, dropping connections before or after doing the work,
//!   answering slower than the deadline (before or after doing the work), and revoking the
//!   user's tokens mid-upload;
//! - the APPENDs in flight at once (`PARALLEL_APPENDS`): 1, 2, 4 or 8, so segments land out of
//!   order, are killed mid-flight and are sent again.
//!
//! Every third seed (`seed % 3 == 2`) uploads to YouTube instead, through the YouTube emulator,
//! with the same kills and queue chaos and YouTube's faults: 5xx before or after the effect,
//! dropped connections before or after it, 308s holding less than was sent (`short_range`) and
//! sessions that expire (404). Its rules: at most one video at YouTube; a published job's video
//! is exactly the file (SHA-256); a failure is one the plan explains.
//!
//! After each run it checks: the job is final within the time limit (else `stuck`); when
//! published, exactly the file's bytes reached X (SHA-256) and exactly one post carries them;
//! never two posts in any case; a failure carries a code the plan explains and says whether a
//! retry helps; the post's status agrees in the post view and the list; no invocation ran into
//! Lambda's timeout. A failing run prints its seed, plan and event trace (the job's history, the
//! invocation log, the queue's chaos and X's records) to stderr.
//!
//! Environment: `CHAOS_RUNS` (default 6, the slice `make test` runs), `CHAOS_SEED` (first seed;
//! run `i` uses `seed + i`, so `CHAOS_SEED=<a run's seed> CHAOS_RUNS=1` repeats one run's plan),
//! `CHAOS_PARALLEL` (runs at once, default 4), `CHAOS_RUN_LIMIT_SECS` (default 120),
//! `CHAOS_LOST_MESSAGES` (0 to never lose messages), `CHAOS_TRACE_ALL` (1 to print
//! every run's trace). It prints exactly one line to stdout, the summary, and exits non-zero if
//! any run broke a rule. `make chaos` runs 200.
//!
//! A plan repeats from its seed; a run does not exactly: which worker takes which message, when
//! a kill lands relative to the work and the engine's backoff jitter depend on timing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reelay_local::harness::moto_endpoint;
use reelay_local::runner::{FunctionName, Invocation, Killed, Kills};
use reelay_local::world::{World, WorldOptions};
use reelay_shared::engine::{overall_status, EngineSettings};
use reelay_shared::ids::{PostId, UserId};
use reelay_shared::jobs::{JobError, Phase, UploadJob};
use reelay_shared::messages::JobMessage;
use reelay_shared::ports::{QueueError, WorkQueue};
use reelay_shared::posts::Platform;
use reelay_shared::reconcile::ReconcileSettings;
use reelay_shared::store::JobStore;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use x_emulator::{EmulatorConfig, FaultSpec, ProcessingMode, Records};

const USER: &str = "user-1";
/// Process-upload invocations a kill plan covers; later ones are never killed.
const KILL_TABLE: usize = 400;

struct Settings {
    runs: u64,
    seed: u64,
    parallel: usize,
    run_limit: Duration,
    lost_messages: bool,
    trace_all: bool,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        _ => default,
    }
}

impl Settings {
    fn from_env() -> Self {
        Self {
            runs: env_or("CHAOS_RUNS", 6),
            seed: env_or("CHAOS_SEED", 1),
            parallel: env_or("CHAOS_PARALLEL", 4usize).max(1),
            run_limit: Duration::from_secs(env_or("CHAOS_RUN_LIMIT_SECS", 120)),
            lost_messages: env_or("CHAOS_LOST_MESSAGES", 1u8) == 1,
            trace_all: env_or("CHAOS_TRACE_ALL", 0u8) == 1,
        }
    }
}

fn main() -> ExitCode {
    // A harness-less test binary: `cargo test` passes libtest's arguments. Answer `--list` and
    // honour a name filter that does not match, so `cargo test <other test>` skips the suite.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("chaos: test");
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "chaos".contains(f.as_str())) {
        return ExitCode::SUCCESS;
    }
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let started = Instant::now();
    let reports = runtime.block_on(run_all(&settings));
    let summary = Summary::of(&reports, &settings);
    for report in &reports {
        if settings.trace_all || !report.violations.is_empty() {
            eprintln!("{}", report.trace);
        }
    }
    if summary.broken > 0 {
        let seeds: Vec<String> = reports
            .iter()
            .filter(|r| !r.violations.is_empty())
            .map(|r| format!("{} ({})", r.seed, r.violation_kinds().join(", ")))
            .collect();
        eprintln!(
            "chaos: {} of {} runs broke a rule in {:.0?}: {}. Repeat one with CHAOS_SEED=<seed> CHAOS_RUNS=1.",
            summary.broken,
            reports.len(),
            started.elapsed(),
            seeds.join("; ")
        );
    }
    println!("{}", summary.line);
    if summary.broken > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn run_all(settings: &Settings) -> Vec<RunReport> {
    let endpoint = moto_endpoint();
    let seeds: Vec<u64> = (0..settings.runs)
        .map(|i| settings.seed.wrapping_add(i))
        .collect();
    futures::stream::iter(seeds)
        .map(|seed| {
            let endpoint = endpoint.clone();
            async move {
                let plan = Plan::draw(seed, settings.lost_messages);
                run_once(&endpoint, plan, settings.run_limit).await
            }
        })
        .buffer_unordered(settings.parallel)
        .collect()
        .await
}

// ------------------------------------------------------------------------------------ the plan

/// Everything a run's seed decides.
#[derive(Debug, Clone, Serialize)]
struct Plan {
    seed: u64,
    video_bytes: usize,
    segment_size: u64,
    deadline_ms: u64,
    visibility_timeout_secs: u32,
    worker_concurrency: usize,
    processing_polls: u32,
    /// Chance that an invocation is killed, and when (ms into it) each listed one dies.
    kill_rate: f64,
    #[serde(skip)]
    kills: Vec<Option<u64>>,
    queue: QueuePlan,
    /// X faults, as posted to the emulator's `/__admin/faults`.
    x_faults: Vec<Value>,
    /// The user's X tokens are revoked this long after the upload starts.
    revoke_after_ms: Option<u64>,
    /// How long X's timeline takes to show a new post (if the emulator supports it).
    timeline_lag_ms: Option<u64>,
    /// APPENDs in flight at once (`PARALLEL_APPENDS`): 1 (sequential) to 8, the default 4 most.
    parallel_appends: u32,
    /// Where the run uploads: X, or (every third seed) YouTube.
    platform: Platform,
    /// YouTube faults, for a YouTube run.
    youtube_faults: Vec<youtube_emulator::FaultSpec>,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct QueuePlan {
    /// Chance that a sent message is sent a second time (up to 2 s later).
    duplicate: f64,
    /// Chance that a send also re-sends one of the job's earlier messages (up to 3 s later).
    stale: f64,
    /// Chance that a message is never sent.
    lost: f64,
    /// Chance that SQS takes 0.3 to 2.5 s to accept a send (the worker may give up on it first,
    /// and then the message is never sent).
    slow: f64,
}

/// Endpoints the upload uses, with how often a fault lands on each (the post and its lookup
/// carry the exactly-once risk, so they get more).
const ENDPOINTS: &[(&str, u32)] = &[
    ("media_initialize", 2),
    ("media_append", 4),
    ("media_finalize", 2),
    ("media_status", 2),
    ("tweets", 5),
    ("user_tweets", 2),
];

fn pick_endpoint(rng: &mut StdRng) -> &'static str {
    let total: u32 = ENDPOINTS.iter().map(|(_, w)| w).sum();
    let mut n = rng.gen_range(0..total);
    for (name, weight) in ENDPOINTS {
        if n < *weight {
            return name;
        }
        n -= weight;
    }
    "tweets"
}

impl Plan {
    fn draw(seed: u64, lost_messages: bool) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed);
        // Tens of KB to a few MB, log-uniform, in 3 to 24 segments.
        let video_bytes = (rng.gen_range((20_000f64).ln()..(3_000_000f64).ln())).exp() as usize;
        let segments = rng.gen_range(3..=24u64);
        let segment_size = (video_bytes as u64)
            .div_ceil(segments)
            .next_multiple_of(1024)
            .max(8 * 1024);
        // A revocation is met by a token refresh, which the worker starts only with the X
        // client's timeout (2 s here) plus 5 s left (process-upload's wiring): those runs get a
        // 10 s deadline, so that the refresh can happen at all; the others 2 s, for many
        // invocations and hand-offs.
        let revoke_after_ms = rng.gen_bool(0.05).then(|| rng.gen_range(0..4_000));
        let deadline_ms = if revoke_after_ms.is_some() {
            10_000
        } else {
            2_000
        };
        let kill_rate = [0.0, 0.0, 0.1, 0.2, 0.3][rng.gen_range(0..5)];
        let kills = (0..KILL_TABLE)
            .map(|_| {
                rng.gen_bool(kill_rate).then(|| {
                    // Most of an invocation's work is early (a step takes tens of ms here), so
                    // most kills land early too; the rest anywhere before the deadline.
                    if rng.gen_bool(0.6) {
                        rng.gen_range(0..300)
                    } else {
                        rng.gen_range(0..deadline_ms)
                    }
                })
            })
            .collect();
        let queue = QueuePlan {
            duplicate: [0.0, 0.1, 0.3][rng.gen_range(0..3)],
            stale: [0.0, 0.1, 0.2][rng.gen_range(0..3)],
            lost: if lost_messages {
                [0.0, 0.0, 0.05, 0.1][rng.gen_range(0..4)]
            } else {
                0.0
            },
            slow: [0.0, 0.0, 0.05][rng.gen_range(0..3)],
        };
        let mut x_faults = Vec::new();
        for _ in 0..rng.gen_range(0..=4) {
            x_faults.push(draw_x_fault(&mut rng));
        }
        // Now and then a storm that outlasts the engine's attempts: the job must fail, saying so.
        if rng.gen_bool(0.04) {
            x_faults.push(json!({
                "endpoint": pick_endpoint(&mut rng), "kind": "error_rate", "status": 503,
                "rate": 0.95, "phase": "before",
            }));
        }
        let timeline_lag_ms = rng.gen_bool(0.3).then(|| rng.gen_range(100..=1_500));
        let worker_concurrency = rng.gen_range(1..=3);
        let processing_polls = rng.gen_range(0..=3);
        // Drawn last, so that the draws above (and older seeds' plans) stay as they were.
        let parallel_appends = [1, 2, 4, 4, 8][rng.gen_range(0..5)];
        // Not drawn: every third seed, so that any six consecutive runs include two on YouTube.
        let platform = if seed % 3 == 2 {
            Platform::YouTube
        } else {
            Platform::Twitter
        };
        let youtube_faults = if platform == Platform::YouTube {
            // From their own generator, so that X's draws above are those of the seed.
            let mut rng = StdRng::seed_from_u64(seed ^ 0x7975_7475_6265);
            (0..rng.gen_range(0..=4))
                .map(|_| draw_youtube_fault(&mut rng))
                .collect()
        } else {
            Vec::new()
        };
        Plan {
            seed,
            video_bytes,
            segment_size,
            deadline_ms,
            // A killed invocation's messages come back after this; it must outlast the lease.
            visibility_timeout_secs: (deadline_ms / 1000 + 1) as u32,
            worker_concurrency,
            processing_polls,
            kill_rate,
            kills,
            queue,
            x_faults,
            timeline_lag_ms,
            parallel_appends,
            // Revoking X's tokens says nothing of a YouTube run.
            revoke_after_ms: if platform == Platform::YouTube {
                None
            } else {
                revoke_after_ms
            },
            platform,
            youtube_faults,
        }
    }

    fn kill_table(&self) -> Kills {
        let table: Vec<Option<Duration>> = self
            .kills
            .iter()
            .map(|k| k.map(Duration::from_millis))
            .collect();
        Kills(Arc::new(move |n: u64| {
            table.get(n as usize).copied().flatten()
        }))
    }

    /// The longest an X request of this plan may still be running after the client gave up.
    fn longest_latency_ms(&self) -> u64 {
        self.x_faults
            .iter()
            .filter_map(|f| f["ms"].as_u64())
            .max()
            .unwrap_or(0)
    }

    /// Whether the plan holds YouTube faults of `kinds` (`fail`, `drop`, `short_range`,
    /// `expire_session`).
    fn has_youtube_faults(&self, kinds: &[&str]) -> bool {
        self.youtube_faults.iter().any(|f| {
            serde_json::to_value(f)
                .ok()
                .and_then(|v| v["kind"].as_str().map(|k| kinds.contains(&k)))
                .unwrap_or(false)
        })
    }

    /// Whether the plan holds X faults that cost the engine an attempt (5xx, dropped or slow
    /// answers), which may exhaust its attempts.
    fn has_transient_x_faults(&self) -> bool {
        self.x_faults.iter().any(|f| {
            matches!(
                f["kind"].as_str(),
                Some("fail" | "error_rate" | "drop" | "latency")
            )
        })
    }
}

fn draw_x_fault(rng: &mut StdRng) -> Value {
    let endpoint = pick_endpoint(rng);
    let count = rng.gen_range(1..=3u32);
    let phase = if rng.gen_bool(0.5) { "before" } else { "after" };
    let status = [500, 502, 503][rng.gen_range(0..3)];
    match rng.gen_range(0..100) {
        // Server errors, now and then.
        0..=24 => json!({
            "endpoint": endpoint, "kind": "error_rate",
            "status": status,
            "rate": rng.gen_range(0.1..0.5), "count": rng.gen_range(1..=6), "phase": phase,
        }),
        25..=34 => json!({
            "endpoint": endpoint, "kind": "fail", "status": 503, "count": count, "phase": phase,
        }),
        // 429 with a reset a second or three ahead.
        35..=54 => json!({
            "endpoint": endpoint, "kind": "rate_limit",
            "reset_in_secs": rng.gen_range(1..=3), "count": count,
        }),
        // The connection dies, before X did the work or after (the answer is lost).
        55..=79 => json!({
            "endpoint": endpoint, "kind": "drop",
            "when": if rng.gen_bool(0.5) { "before_response" } else { "mid_response" },
            "count": count, "phase": phase,
        }),
        // Slower than the 2 s deadline and the X client's 2 s timeout: before the work (X is
        // slow) or after it (the work is done, the answer comes after the client gave up).
        _ => json!({
            "endpoint": endpoint, "kind": "latency",
            "ms": rng.gen_range(2_200..=3_500), "count": 1, "phase": phase,
        }),
    }
}

/// One YouTube fault: mostly on the chunks, where a resumed upload must ask the session first.
fn draw_youtube_fault(rng: &mut StdRng) -> youtube_emulator::FaultSpec {
    use youtube_emulator::{FaultKind, FaultSpec, Phase as When};
    let endpoint = [
        "start",
        "chunk",
        "chunk",
        "chunk",
        "status_query",
        "videos_list",
    ][rng.gen_range(0..6)];
    let phase = if rng.gen_bool(0.5) {
        When::Before
    } else {
        When::After
    };
    let count = Some(rng.gen_range(1..=3u32));
    let (endpoint, kind, phase, count) = match rng.gen_range(0..100) {
        0..=34 => (
            endpoint,
            FaultKind::Fail {
                status: [500, 502, 503][rng.gen_range(0..3)],
            },
            phase,
            count,
        ),
        35..=64 => (endpoint, FaultKind::Drop, phase, count),
        65..=84 => ("chunk", FaultKind::ShortRange, When::Before, count),
        // A session that is gone: only a new one helps (at most the engine's restarts).
        _ => (
            ["chunk", "status_query"][rng.gen_range(0..2)],
            FaultKind::ExpireSession,
            When::Before,
            Some(1),
        ),
    };
    FaultSpec {
        endpoint: endpoint.into(),
        kind,
        count,
        phase,
    }
}

// ------------------------------------------------------------------------------ the chaos queue

#[derive(Debug, Clone, Serialize)]
struct QueueEvent {
    at_ms: i64,
    what: &'static str,
    step_token: String,
    delay_secs: u32,
}

/// A work queue that, by a seeded draw per send, sends a message twice, re-sends an earlier one
/// of the job, or loses it.
struct ChaosQueue {
    inner: Arc<dyn WorkQueue>,
    plan: QueuePlan,
    rng: Mutex<StdRng>,
    sent: Mutex<Vec<JobMessage>>,
    events: Arc<Mutex<Vec<QueueEvent>>>,
}

impl ChaosQueue {
    fn event(&self, what: &'static str, message: &JobMessage, delay_secs: u32) {
        self.events.lock().unwrap().push(QueueEvent {
            at_ms: now_ms(),
            what,
            step_token: short(&message.step_token),
            delay_secs,
        });
    }
}

#[async_trait]
impl WorkQueue for ChaosQueue {
    async fn send(&self, message: &JobMessage, delay_secs: u32) -> Result<(), QueueError> {
        let (lose, slow, twice, stale) = {
            let mut rng = self.rng.lock().unwrap();
            let lose = rng.gen_bool(self.plan.lost);
            let slow = rng
                .gen_bool(self.plan.slow)
                .then(|| Duration::from_millis(rng.gen_range(300..=2_500)));
            let twice = rng
                .gen_bool(self.plan.duplicate)
                .then(|| delay_secs + rng.gen_range(0..=2));
            let earlier = self.sent.lock().unwrap().clone();
            let stale = (rng.gen_bool(self.plan.stale) && !earlier.is_empty()).then(|| {
                (
                    earlier[rng.gen_range(0..earlier.len())].clone(),
                    rng.gen_range(0..=3),
                )
            });
            (lose, slow, twice, stale)
        };
        self.sent.lock().unwrap().push(message.clone());
        if lose {
            self.event("lost", message, delay_secs);
            return Ok(());
        }
        if let Some(slow) = slow {
            self.event("slow send", message, slow.as_millis() as u32);
            tokio::time::sleep(slow).await;
        }
        self.inner.send(message, delay_secs).await?;
        self.event("sent", message, delay_secs);
        if let Some(delay) = twice {
            match self.inner.send(message, delay).await {
                Ok(()) => self.event("duplicate", message, delay),
                Err(_) => self.event("duplicate send failed", message, delay),
            }
        }
        if let Some((old, delay)) = stale {
            match self.inner.send(&old, delay).await {
                Ok(()) => self.event("stale", &old, delay),
                Err(_) => self.event("stale send failed", &old, delay),
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------ one run

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    /// The job or its post is missing, or a published job's post or media is not at X.
    Lost,
    /// Not final within the time limit.
    Stuck,
    /// More than one post at X.
    DuplicatePosts,
    /// X assembled other bytes than the file's.
    ShaMismatch,
    /// Lambda's timeout fired on an invocation.
    Timeout,
    /// A failure the plan does not explain, or without a clear reason.
    Unexplained,
    /// The post's status in the list disagrees with its jobs.
    StatusStale,
    /// The run could not be set up or observed.
    Harness,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::Lost => "lost",
            Rule::Stuck => "stuck",
            Rule::DuplicatePosts => "duplicate_posts",
            Rule::ShaMismatch => "sha_mismatch",
            Rule::Timeout => "timeouts",
            Rule::Unexplained => "unexplained",
            Rule::StatusStale => "status_stale",
            Rule::Harness => "harness_errors",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    Published,
    Failed(String),
    Unconfirmed,
    NotFinal(String),
    NoJob,
}

struct RunReport {
    seed: u64,
    end: End,
    violations: Vec<(Rule, String)>,
    kills: usize,
    timeouts: usize,
    duplicates: usize,
    stale: usize,
    lost_messages: usize,
    slow_sends: usize,
    /// X's answers that were errors or dropped connections.
    x_errors: u64,
    /// APPENDs in flight at once in this run.
    parallel_appends: u32,
    /// The run uploaded to YouTube.
    youtube: bool,
    /// Upload sessions YouTube saw in the run (more than one: kills or expired sessions).
    youtube_sessions: usize,
    /// APPENDs X received for a segment index it already had (a retry, a resend after a kill).
    appends_resent: usize,
    /// The job learnt of its post by looking it up (the post call's answer was lost).
    post_found: bool,
    /// The job failed (retryably) although X holds its post: a retry finds it, but the status
    /// says failed meanwhile.
    failed_posted: bool,
    /// X holds the post of a job that ended unconfirmed.
    unconfirmed_posted: bool,
    trace: String,
}

impl RunReport {
    fn violation_kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<Rule> = self.violations.iter().map(|(r, _)| *r).collect();
        kinds.sort();
        kinds.dedup();
        let kinds: Vec<&'static str> = kinds.into_iter().map(Rule::name).collect();
        kinds
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn short(token: &str) -> String {
    token.chars().take(8).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The video: a tiny valid MP4 whose filler depends on the seed, so runs differ in content.
fn video(plan: &Plan) -> Vec<u8> {
    let mut bytes = x_emulator::testing::tiny_mp4(plan.video_bytes);
    let mut rng = StdRng::seed_from_u64(plan.seed ^ 0x5eed);
    let header = bytes.len() - plan.video_bytes;
    rng.fill(&mut bytes[header..]);
    bytes
}

/// Production's engine rules with test-sized times: the 2 s deadline leaves room for a few calls,
/// backoffs are a second or two, and a post is looked for 8 s after the call that may have made
/// it (longer than the slowest X answer a plan draws, 3.5 s, plus the timeline lag, 1.5 s), where
/// production waits a minute.
fn quick_engine(parallel_appends: u32) -> EngineSettings {
    EngineSettings {
        parallel_appends,
        deadline_margin_ms: 700,
        min_call_ms: 500,
        initial_segment_estimate_ms: 500,
        backoff_base_secs: 1,
        backoff_cap_secs: 2,
        lost_continuation_grace_ms: 5_000,
        publish_settle_ms: 8_000,
        ..EngineSettings::default()
    }
}

/// The emulator's config for the plan, and whether it supports a timeline lag (set through serde,
/// so this compiles whether or not the emulator has the knob yet).
fn emulator_config(plan: &Plan) -> (EmulatorConfig, bool) {
    let config = EmulatorConfig {
        seed: plan.seed,
        processing: ProcessingMode::Polls {
            steps: plan.processing_polls,
        },
        check_after_secs: 1,
        ..EmulatorConfig::default()
    };
    let Some(lag) = plan.timeline_lag_ms else {
        return (config, false);
    };
    let mut value = serde_json::to_value(&config).expect("config serializes");
    value["timeline_lag_ms"] = json!(lag);
    match serde_json::from_value::<EmulatorConfig>(value) {
        Ok(lagged) => {
            let supported = serde_json::to_value(&lagged)
                .ok()
                .and_then(|v| v["timeline_lag_ms"].as_u64())
                == Some(lag);
            (lagged, supported)
        }
        Err(_) => (config, false),
    }
}

async fn run_once(endpoint: &str, plan: Plan, limit: Duration) -> RunReport {
    let started_ms = now_ms();
    let clock = Instant::now();
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut report = RunReport {
        seed: plan.seed,
        end: End::NoJob,
        violations: Vec::new(),
        kills: 0,
        timeouts: 0,
        duplicates: 0,
        stale: 0,
        lost_messages: 0,
        slow_sends: 0,
        x_errors: 0,
        parallel_appends: plan.parallel_appends,
        youtube: plan.platform == Platform::YouTube,
        youtube_sessions: 0,
        appends_resent: 0,
        post_found: false,
        failed_posted: false,
        unconfirmed_posted: false,
        trace: String::new(),
    };
    let mut notes = Vec::new();
    let observed = match drive(endpoint, &plan, limit, events.clone(), &mut notes).await {
        Ok(observed) => Some(observed),
        Err(err) => {
            report.violations.push((Rule::Harness, format!("{err:#}")));
            None
        }
    };
    let queue_events = events.lock().unwrap().clone();
    report.duplicates = queue_events
        .iter()
        .filter(|e| e.what == "duplicate")
        .count();
    report.stale = queue_events.iter().filter(|e| e.what == "stale").count();
    report.lost_messages = queue_events.iter().filter(|e| e.what == "lost").count();
    report.slow_sends = queue_events
        .iter()
        .filter(|e| e.what == "slow send")
        .count();
    if let Some(observed) = &observed {
        check(&plan, observed, &mut report);
    }
    notes.push(format!("the run took {:.1?}", clock.elapsed()));
    report.trace = trace(
        &plan,
        started_ms,
        observed.as_ref(),
        &queue_events,
        &notes,
        &report,
    );
    report
}

/// What a run left behind.
struct Observed {
    file_sha: String,
    file_len: u64,
    job: Option<UploadJob>,
    final_in_time: bool,
    records: Records,
    /// YouTube's records (a YouTube run's).
    youtube: youtube_emulator::Records,
    invocations: Vec<Invocation>,
    revoked: bool,
    /// The post's status in `GET /api/posts/{id}` and in the list.
    view_status: Option<String>,
    list_status: Option<String>,
}

async fn drive(
    endpoint: &str,
    plan: &Plan,
    limit: Duration,
    events: Arc<Mutex<Vec<QueueEvent>>>,
    notes: &mut Vec<String>,
) -> anyhow::Result<Observed> {
    let (emulator, lag_supported) = emulator_config(plan);
    if plan.timeline_lag_ms.is_some() && !lag_supported {
        notes.push("the emulator has no timeline_lag_ms yet: no lag applied".into());
    }
    let queue_plan = plan.queue;
    let queue_seed = plan.seed ^ 0x9e37_79b9_7f4a_7c15;
    let options = WorldOptions {
        label: format!("chaos{}", plan.seed % 100_000),
        worker_deadline: Duration::from_millis(plan.deadline_ms),
        worker_concurrency: plan.worker_concurrency,
        visibility_timeout_secs: Some(plan.visibility_timeout_secs),
        emulator,
        youtube: youtube_emulator::EmulatorConfig {
            processing_polls: plan.processing_polls,
            ..youtube_emulator::EmulatorConfig::default()
        },
        engine: quick_engine(plan.parallel_appends),
        segment_size: plan.segment_size,
        extra_env: vec![
            ("X_REQUEST_TIMEOUT_SECS".into(), "2".into()),
            ("YOUTUBE_REQUEST_TIMEOUT_SECS".into(), "2".into()),
        ],
        kills: Some(plan.kill_table()),
        wrap_queue: Some(Arc::new(move |inner| {
            Arc::new(ChaosQueue {
                inner,
                plan: queue_plan,
                rng: Mutex::new(StdRng::seed_from_u64(queue_seed)),
                sent: Mutex::new(Vec::new()),
                events: events.clone(),
            }) as Arc<dyn WorkQueue>
        })),
        // The reconciler sweeps every second and re-drives a job 5 s overdue: longer than a
        // message waits for a poll or a killed invocation's lease, so healthy jobs are left alone.
        reconcile_period: Some(Duration::from_secs(1)),
        reconcile: ReconcileSettings {
            grace_ms: 5_000,
            ..ReconcileSettings::default()
        },
        ..WorldOptions::default()
    };
    let world = World::start(endpoint, options).await?;
    world.connect(USER).await?;
    let admin = world.emulator.admin();
    if plan.platform == Platform::YouTube {
        world.connect_youtube(USER).await?;
        for fault in &plan.youtube_faults {
            world
                .youtube
                .admin()
                .add_fault(fault.clone())
                .map_err(anyhow::Error::msg)?;
        }
    } else {
        for fault in &plan.x_faults {
            let spec: FaultSpec = serde_json::from_value(fault.clone())?;
            admin.add_fault(spec).map_err(anyhow::Error::msg)?;
        }
    }
    let file = video(plan);
    let post = world
        .start_upload_on(
            USER,
            file.clone(),
            &format!("chaos run {}", plan.seed),
            plan.platform,
        )
        .await?;

    let revoked = Arc::new(Mutex::new(false));
    let revoker = plan.revoke_after_ms.map(|after| {
        let admin = admin.clone();
        let revoked = revoked.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(after)).await;
            let x_user = admin.config().default_user_id;
            let n = admin.revoke_user_tokens(&x_user);
            *revoked.lock().unwrap() = true;
            n
        })
    });

    let started = Instant::now();
    let mut job = None;
    let mut final_in_time = false;
    while started.elapsed() < limit {
        job = world
            .store
            .get_job(&UserId::parse(USER)?, &post, plan.platform)
            .await?;
        if job.as_ref().is_some_and(|j| j.phase.is_final()) {
            final_in_time = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if let Some(revoker) = revoker {
        revoker.abort();
    }
    // Let X finish requests whose clients gave up (a killed invocation's call may still create a
    // post), and stray messages arrive, before counting what X holds.
    let settle = plan.deadline_ms.max(plan.longest_latency_ms()) + 1_000;
    tokio::time::sleep(Duration::from_millis(settle)).await;
    if final_in_time {
        job = world.job_on(USER, &post, plan.platform).await.ok();
    }
    let (view_status, list_status) = statuses(&world, &post).await?;
    let observed = Observed {
        file_sha: sha256(&file),
        file_len: file.len() as u64,
        job,
        final_in_time,
        records: admin.records(),
        youtube: world.youtube.admin().records(),
        invocations: world
            .runner
            .log
            .snapshot()
            .into_iter()
            .filter(|i| i.function == FunctionName::ProcessUpload)
            .collect(),
        revoked: *revoked.lock().unwrap(),
        view_status,
        list_status,
    };
    let World {
        runner, aws, stack, ..
    } = world;
    runner.stop().await;
    // moto keeps objects in memory: free the video once the run is over.
    let _ = aws
        .s3
        .delete_object()
        .bucket(&stack.bucket_name)
        .key(
            observed
                .job
                .as_ref()
                .map(|j| j.source.key.clone())
                .unwrap_or_default(),
        )
        .send()
        .await;
    Ok(observed)
}

/// The post's status as the user sees it: in its own view (from its jobs) and in the list (the
/// post's own record).
async fn statuses(
    world: &World,
    post: &PostId,
) -> anyhow::Result<(Option<String>, Option<String>)> {
    let bearer = world.auth.mint(USER);
    let view: Value = world
        .http
        .get(format!(
            "{}/api/posts/{}",
            world.runner.http_url,
            post.as_str()
        ))
        .bearer_auth(&bearer)
        .send()
        .await?
        .json()
        .await?;
    let list: Value = world
        .http
        .get(format!("{}/api/posts?limit=10", world.runner.http_url))
        .bearer_auth(&bearer)
        .send()
        .await?
        .json()
        .await?;
    let listed = list["posts"]
        .as_array()
        .and_then(|posts| posts.iter().find(|p| p["post_id"] == post.as_str()))
        .and_then(|p| p["status"].as_str().map(str::to_owned));
    Ok((view["status"].as_str().map(str::to_owned), listed))
}

// ---------------------------------------------------------------------------------- the rules

fn check(plan: &Plan, seen: &Observed, report: &mut RunReport) {
    let mut broke = |rule: Rule, detail: String| report.violations.push((rule, detail));
    report.kills = seen
        .invocations
        .iter()
        .filter(|i| i.killed == Some(Killed::Planned))
        .count();
    report.timeouts = seen
        .invocations
        .iter()
        .filter(|i| i.killed == Some(Killed::Timeout))
        .count();
    if report.timeouts > 0 {
        broke(
            Rule::Timeout,
            format!(
                "{} invocation(s) ran into Lambda's timeout; the engine must hand off before it",
                report.timeouts
            ),
        );
    }

    if plan.platform == Platform::YouTube {
        return check_youtube(plan, seen, report);
    }
    report.x_errors = seen
        .records
        .calls
        .iter()
        .filter(|(endpoint, _)| endpoint.as_str() != "authorize")
        .flat_map(|(_, answers)| answers.iter())
        .filter(|(label, _)| !label.starts_with('2') && !label.starts_with('3'))
        .map(|(_, n)| n)
        .sum();
    report.appends_resent = seen
        .records
        .media
        .iter()
        .map(|m| {
            let distinct: BTreeSet<u32> = m.appends.iter().map(|a| a.index).collect();
            m.appends.len() - distinct.len()
        })
        .sum();
    report.post_found = seen.job.as_ref().is_some_and(|j| {
        j.history
            .iter()
            .any(|a| a.step == "find_post" && a.outcome.starts_with("found"))
    });
    let tweets = &seen.records.tweets;
    if tweets.len() > 1 {
        broke(
            Rule::DuplicatePosts,
            format!(
                "X holds {} posts: {:?}",
                tweets.len(),
                tweets
                    .iter()
                    .map(|t| (&t.id, &t.media_ids))
                    .collect::<Vec<_>>()
            ),
        );
    }
    // Whatever the job says, a post at X must carry exactly the file.
    for tweet in tweets {
        for media_id in &tweet.media_ids {
            match seen.records.media.iter().find(|m| &m.id == media_id) {
                Some(m) if m.sha256.as_deref() == Some(seen.file_sha.as_str()) => {}
                Some(m) => broke(
                    Rule::ShaMismatch,
                    format!("post {} carries media {} with SHA-256 {:?}, {} bytes; the file's is {} ({} bytes)", tweet.id, m.id, m.sha256, m.received_bytes, seen.file_sha, seen.file_len),
                ),
                None => broke(Rule::Lost, format!("post {} carries media {media_id}, which X does not know", tweet.id)),
            }
        }
    }

    let Some(job) = &seen.job else {
        broke(Rule::Lost, "the job is missing from the store".into());
        report.end = End::NoJob;
        return;
    };
    if !seen.final_in_time {
        report.end = End::NotFinal(format!("{:?}", job.phase));
        broke(
            Rule::Stuck,
            format!(
                "still {:?} after the time limit (error: {:?})",
                job.phase, job.error
            ),
        );
        return;
    }

    match job.phase {
        Phase::Published => {
            report.end = End::Published;
            let post = job
                .remote_post_id
                .as_deref()
                .and_then(|id| tweets.iter().find(|t| t.id == id));
            match (post, job.media_id.as_deref()) {
                (None, _) => broke(
                    Rule::Lost,
                    format!(
                        "published as {:?}, but X holds no such post",
                        job.remote_post_id
                    ),
                ),
                (Some(_), None) => broke(Rule::Lost, "published without a media id".into()),
                (Some(post), Some(media_id)) => {
                    if !post.media_ids.iter().any(|m| m == media_id) {
                        broke(
                            Rule::Lost,
                            format!(
                                "post {} carries {:?}, not the job's media {media_id}",
                                post.id, post.media_ids
                            ),
                        );
                    }
                    match seen.records.media.iter().find(|m| m.id == media_id) {
                        None => broke(Rule::Lost, format!("X does not know the job's media {media_id}")),
                        Some(m) if m.received_bytes != seen.file_len
                            || m.sha256.as_deref() != Some(seen.file_sha.as_str()) =>
                        {
                            broke(
                                Rule::ShaMismatch,
                                format!("X assembled {} bytes with SHA-256 {:?}; the file has {} bytes, {}", m.received_bytes, m.sha256, seen.file_len, seen.file_sha),
                            )
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        Phase::Unconfirmed => {
            report.end = End::Unconfirmed;
            report.unconfirmed_posted = !tweets.is_empty();
        }
        Phase::Failed => {
            let Some(error) = &job.error else {
                report.end = End::Failed("(none)".into());
                broke(Rule::Unexplained, "failed without an error".into());
                return finish_status(seen, job, report);
            };
            report.end = End::Failed(error.code.clone());
            if error.code.trim().is_empty() || error.message.trim().is_empty() {
                broke(
                    Rule::Unexplained,
                    format!("failed without a clear reason: {error:?}"),
                );
            }
            let killed = report.kills + report.timeouts > 0;
            let explained = match error.code.as_str() {
                // Attempts used up by X's faults.
                "platform_unavailable" => plan.has_transient_x_faults(),
                // A message that failed on every receive (killed invocations, sends SQS was too
                // slow to take), or a job the reconciler re-drove to its limit (lost messages).
                "gave_up" => killed || report.slow_sends > 0 || report.lost_messages > 0,
                "reconnect_required" | "not_connected" => seen.revoked,
                _ => false,
            };
            if !explained {
                broke(
                    Rule::Unexplained,
                    format!(
                        "failed as {} ({}), which this run's faults do not explain",
                        error.code, error.message
                    ),
                );
            }
            if matches!(error.code.as_str(), "platform_unavailable" | "gave_up") && !error.retryable
            {
                broke(
                    Rule::Unexplained,
                    format!("{} should be retryable: {error:?}", error.code),
                );
            }
            if !tweets.is_empty() {
                report.failed_posted = true;
                if !error.retryable {
                    broke(
                        Rule::Unexplained,
                        format!(
                            "failed for good ({}) although X holds its post {}",
                            error.code, tweets[0].id
                        ),
                    );
                }
            }
        }
        other => {
            report.end = End::NotFinal(format!("{other:?}"));
            broke(Rule::Stuck, format!("{other:?} is not final"));
        }
    }
    finish_status(seen, job, report);
}

/// A YouTube run's rules: at most one video; a published job's video is exactly the file; a
/// failure is one the plan explains.
fn check_youtube(plan: &Plan, seen: &Observed, report: &mut RunReport) {
    report.youtube_sessions = seen.youtube.uploads.len();
    let mut broke = |rule: Rule, detail: String| report.violations.push((rule, detail));
    report.x_errors = seen
        .youtube
        .uploads
        .iter()
        .flat_map(|u| u.chunks.iter())
        .filter(|c| c.status >= 400)
        .count() as u64;
    let videos: Vec<_> = seen
        .youtube
        .uploads
        .iter()
        .filter(|u| u.video_id.is_some())
        .collect();
    if videos.len() > 1 {
        broke(
            Rule::DuplicatePosts,
            format!(
                "YouTube holds {} videos: {:?}",
                videos.len(),
                videos.iter().map(|v| &v.video_id).collect::<Vec<_>>()
            ),
        );
    }
    for video in &videos {
        if video.sha256.as_deref() != Some(seen.file_sha.as_str()) || video.total != seen.file_len {
            broke(
                Rule::ShaMismatch,
                format!(
                    "video {:?} has SHA-256 {:?}, {} bytes; the file's is {} ({} bytes)",
                    video.video_id, video.sha256, video.total, seen.file_sha, seen.file_len
                ),
            );
        }
    }
    let Some(job) = &seen.job else {
        broke(Rule::Lost, "the job is missing from the store".into());
        report.end = End::NoJob;
        return;
    };
    if !seen.final_in_time {
        report.end = End::NotFinal(format!("{:?}", job.phase));
        broke(
            Rule::Stuck,
            format!(
                "still {:?} after the time limit (error: {:?})",
                job.phase, job.error
            ),
        );
        return;
    }
    match job.phase {
        Phase::Published => {
            report.end = End::Published;
            if !videos
                .iter()
                .any(|v| v.video_id.is_some() && v.video_id == job.remote_post_id)
            {
                broke(
                    Rule::Lost,
                    format!(
                        "published as {:?}, but YouTube holds no such video",
                        job.remote_post_id
                    ),
                );
            }
        }
        Phase::Unconfirmed => {
            // The session expired after the last chunk's answer was lost: the job stops rather
            // than risk a second video. Only an expired session explains it.
            report.end = End::Unconfirmed;
            report.unconfirmed_posted = !videos.is_empty();
            if !plan.has_youtube_faults(&["expire_session"]) {
                broke(
                    Rule::Unexplained,
                    format!("unconfirmed without an expired session: {:?}", job.error),
                );
            }
        }
        Phase::Failed => {
            let error = job.error.clone().unwrap_or_else(|| JobError {
                code: String::new(),
                message: String::new(),
                retryable: false,
                at_ms: 0,
            });
            report.end = End::Failed(error.code.clone());
            let killed = report.kills + report.timeouts > 0;
            let explained = match error.code.as_str() {
                "platform_unavailable" => plan.has_youtube_faults(&["fail", "drop", "short_range"]),
                "media_lost" => plan.has_youtube_faults(&["expire_session"]),
                "gave_up" => killed || report.slow_sends > 0 || report.lost_messages > 0,
                _ => false,
            };
            if !explained || error.message.trim().is_empty() {
                broke(
                    Rule::Unexplained,
                    format!(
                        "failed as {} ({}), which this run's faults do not explain",
                        error.code, error.message
                    ),
                );
            }
            if !error.retryable {
                broke(
                    Rule::Unexplained,
                    format!("{} should be retryable: {error:?}", error.code),
                );
            }
            report.failed_posted = !videos.is_empty();
        }
        other => {
            report.end = End::NotFinal(format!("{other:?}"));
            broke(Rule::Stuck, format!("{other:?} is not final"));
        }
    }
    finish_status(seen, job, report);
}

/// The user sees the same final status in the post's view and in the list.
fn finish_status(seen: &Observed, job: &UploadJob, report: &mut RunReport) {
    let expected = serde_json::to_value(overall_status(std::slice::from_ref(job)))
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned));
    if seen.view_status != expected {
        report.violations.push((
            Rule::StatusStale,
            format!(
                "GET /api/posts/{{id}} says {:?}; the job says {expected:?}",
                seen.view_status
            ),
        ));
    }
    if seen.list_status != expected {
        report.violations.push((
            Rule::StatusStale,
            format!(
                "the post list says {:?}; the job says {expected:?}",
                seen.list_status
            ),
        ));
    }
}

// ---------------------------------------------------------------------------------- the trace

fn trace(
    plan: &Plan,
    t0: i64,
    seen: Option<&Observed>,
    queue: &[QueueEvent],
    notes: &[String],
    report: &RunReport,
) -> String {
    let mut out = String::new();
    let rel = |at: i64| format!("{:>+7}", at - t0);
    let _ = writeln!(
        out,
        "===== chaos run seed={} end={:?} =====",
        plan.seed, report.end
    );
    for (rule, detail) in &report.violations {
        let _ = writeln!(out, "BROKE {}: {detail}", rule.name());
    }
    let _ = writeln!(
        out,
        "plan: {}",
        serde_json::to_string(plan).unwrap_or_default()
    );
    let planned: Vec<String> = plan
        .kills
        .iter()
        .enumerate()
        .filter_map(|(n, k)| k.map(|ms| format!("#{n}@{ms}ms")))
        .take(20)
        .collect();
    let _ = writeln!(out, "kill plan (first 20): {}", planned.join(" "));
    for note in notes {
        let _ = writeln!(out, "note: {note}");
    }
    let Some(seen) = seen else {
        return out;
    };
    if let Some(job) = &seen.job {
        let _ = writeln!(
            out,
            "job: phase={:?} error={:?} media_id={:?} remote_post_id={:?} restarts={} attempts={} segments={}/{} bytes_sent={} publish_started={} lookups={} version={}",
            job.phase, job.error, job.media_id, job.remote_post_id, job.restarts, job.attempts,
            job.next_segment, job.total_segments(), job.bytes_sent, job.publish_started, job.lookups, job.version,
        );
        let _ = writeln!(
            out,
            "job history (ms since start; the last {} steps):",
            job.history.len()
        );
        for a in &job.history {
            let _ = writeln!(out, "  {} {:<12} {}", rel(a.at_ms), a.step, a.outcome);
        }
    }
    let _ = writeln!(out, "process-upload invocations (ms since start):");
    let mut invocations: Vec<&Invocation> = seen.invocations.iter().collect();
    invocations.sort_by_key(|i| i.invoked_at_ms);
    for i in invocations {
        let items: Vec<String> = i.items.iter().map(|m| short(m)).collect();
        let mut outcome = i.outcome.clone();
        outcome.truncate(160);
        let _ = writeln!(
            out,
            "  {} msgs={} {}",
            rel(i.invoked_at_ms as i64),
            items.join(","),
            outcome
        );
    }
    let _ = writeln!(
        out,
        "work queue (ms since start; delay in s, or the slowness in ms):"
    );
    for e in queue {
        let _ = writeln!(
            out,
            "  {} {:<10} token={} delay={}",
            rel(e.at_ms),
            e.what,
            e.step_token,
            e.delay_secs
        );
    }
    let _ = writeln!(
        out,
        "X calls: {}",
        serde_json::to_string(&seen.records.calls).unwrap_or_default()
    );
    for m in &seen.records.media {
        let _ = writeln!(
            out,
            "X media {}: state={} bytes={}/{} sha_ok={} appends={}",
            m.id,
            m.state,
            m.received_bytes,
            m.total_bytes,
            m.sha256.as_deref() == Some(seen.file_sha.as_str()),
            m.appends.len()
        );
    }
    for t in &seen.records.tweets {
        let _ = writeln!(
            out,
            "X post {}: media={:?} created_at={}",
            t.id, t.media_ids, t.created_at
        );
    }
    for u in &seen.youtube.uploads {
        let _ = writeln!(
            out,
            "YouTube session {}: held={}/{} chunks={:?} queries={} expired={} video={:?} sha_ok={}",
            short(&u.session_id),
            u.bytes_held,
            u.total,
            u.chunks
                .iter()
                .map(|c| (c.start, c.status))
                .collect::<Vec<_>>(),
            u.status_queries,
            u.expired,
            u.video_id,
            u.sha256.as_deref() == Some(seen.file_sha.as_str()),
        );
    }
    let _ = writeln!(
        out,
        "status: view={:?} list={:?} revoked={}",
        seen.view_status, seen.list_status, seen.revoked
    );
    out
}

// -------------------------------------------------------------------------------- the summary

struct Summary {
    line: String,
    broken: usize,
}

impl Summary {
    fn of(reports: &[RunReport], settings: &Settings) -> Self {
        let count = |f: &dyn Fn(&RunReport) -> bool| reports.iter().filter(|r| f(r)).count();
        let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
        for r in reports {
            if let End::Failed(code) = &r.end {
                *codes.entry(code.as_str()).or_default() += 1;
            }
        }
        let failed: usize = codes.values().sum();
        let codes = codes
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect::<Vec<_>>()
            .join(",");
        let rule = |rule: Rule| count(&|r| r.violations.iter().any(|(v, _)| *v == rule));
        let sum = |f: &dyn Fn(&RunReport) -> usize| reports.iter().map(f).sum::<usize>();
        let line = format!(
            "chaos: runs={} youtube_runs={}(published={} unconfirmed={} sessions={}) published={} failed={failed}({codes}) unconfirmed={}(posted={}) lost={} stuck={} duplicate_posts={} sha_mismatch={} timeouts={} unexplained={} status_stale={} harness_errors={} failed_posted={} posts_found={} kills={} x_errors={} duplicates={} stale={} slow_sends={} lost_messages={}{} parallel_runs={} appends_resent={} seed={}",
            reports.len(),
            count(&|r| r.youtube),
            count(&|r| r.youtube && r.end == End::Published),
            count(&|r| r.youtube && r.end == End::Unconfirmed),
            sum(&|r| r.youtube_sessions),
            count(&|r| r.end == End::Published),
            count(&|r| r.end == End::Unconfirmed),
            count(&|r| r.unconfirmed_posted),
            rule(Rule::Lost),
            rule(Rule::Stuck),
            rule(Rule::DuplicatePosts),
            rule(Rule::ShaMismatch),
            rule(Rule::Timeout),
            rule(Rule::Unexplained),
            rule(Rule::StatusStale),
            rule(Rule::Harness),
            count(&|r| r.failed_posted),
            count(&|r| r.post_found),
            sum(&|r| r.kills),
            reports.iter().map(|r| r.x_errors).sum::<u64>(),
            sum(&|r| r.duplicates),
            sum(&|r| r.stale),
            sum(&|r| r.slow_sends),
            sum(&|r| r.lost_messages),
            if settings.lost_messages { "" } else { "(off)" },
            count(&|r| r.parallel_appends > 1),
            sum(&|r| r.appends_resent),
            settings.seed,
        );
        Summary {
            line,
            broken: count(&|r| !r.violations.is_empty()),
        }
    }
}
