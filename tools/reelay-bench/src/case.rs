//! One measured case, run in its own process so that its peak RSS is the worker's alone.
//!
//! - `engine`: the process-upload handler driven by the local runner (SQS poller, Lambda deadline,
//!   partial batch failures) exactly as `World` drives it, until the post is published; with
//!   `--parallel-appends N` in its environment (`PARALLEL_APPENDS`: 1 sequential, N segments in
//!   flight).
//! - `line`: a plain streaming upload of the same S3 object to the same X endpoints with the same
//!   segment size and the same client settings: INIT, sequential ranged GET → APPEND per segment,
//!   FINALIZE, STATUS until succeeded. No checkpoints, no queue.
//! - `twapi`: `twapi-v2`'s own chunked upload (`upload_v2::upload_media`, 5,000,000-byte
//!   segments, one after the other, a new HTTP client per request) as its users call it: from a
//!   local file, which the case first downloads from the same S3 object (timed apart, as a Lambda
//!   would write it to `/tmp`), then `check_processing`.
//!
//! The process prints one JSON line (`CaseResult`) on stdout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use reelay_local::authorizer::LocalAuthorizer;
use reelay_local::runner::{FunctionName, Functions, Runner, RunnerConfig};
use reelay_shared::ids::UserId;
use reelay_shared::jobs::{segment_size_for, Phase, SourceObject, UploadJob};
use reelay_shared::ports::{BlobReader, ObjectRef, WorkQueue};
use reelay_shared::posts::{new_post_id, Platform, Post, PostStatus};
use reelay_shared::s3::S3Blobs;
use reelay_shared::secret::Secret;
use reelay_shared::sqs::SqsQueue;
use reelay_shared::store::{DynamoStore, JobStore, PostStore};
use reelay_shared::x::{ProcessingState, XClient};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;

use crate::counting::{counted_clients, is_dynamodb_write, CallCounter};
use crate::emulator::Admin;
use crate::rss::rss_kib;
use crate::setup::{Setup, SEGMENT_BYTES, USER, X_REQUEST_TIMEOUT_SECS, X_USER_ID};
use crate::video::Video;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Engine,
    Line,
    Twapi,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Engine => "engine",
            Mode::Line => "line rate",
            Mode::Twapi => "twapi-v2",
        }
    }

    pub fn arg(self) -> &'static str {
        match self {
            Mode::Engine => "engine",
            Mode::Line => "line",
            Mode::Twapi => "twapi",
        }
    }
}

/// `reelay-bench case`: one measured upload.
#[derive(Debug, Clone, clap::Args)]
pub struct CaseArgs {
    #[arg(long)]
    pub setup: PathBuf,
    #[arg(long, value_enum)]
    pub mode: Mode,
    #[arg(long)]
    pub size_mib: u64,
    /// The Lambda deadline of each invocation (engine only).
    #[arg(long, default_value_t = 60)]
    pub deadline_secs: u64,
    /// Segments in flight (engine only; `PARALLEL_APPENDS`): 1 is sequential.
    #[arg(long, default_value_t = 1)]
    pub parallel_appends: u32,
}

/// Runs the case and prints its result as one JSON line.
pub async fn main(args: CaseArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.setup)
        .with_context(|| format!("reading {}", args.setup.display()))?;
    let setup: Setup = serde_json::from_str(&text)?;
    let result = run(&setup, &args).await?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    pub mode: Mode,
    pub size_mib: u64,
    pub bytes: u64,
    /// The Lambda deadline of each invocation (engine only).
    pub deadline_secs: Option<u64>,
    /// Segments in flight the engine was configured for (engine only).
    #[serde(default)]
    pub parallel_appends: Option<u32>,
    /// The segment size this upload used.
    #[serde(default)]
    pub segment_bytes: u64,
    /// The emulator's link profile during the case (set by the driver).
    #[serde(default)]
    pub profile: String,
    pub wall_secs: f64,
    pub mib_per_sec: f64,
    /// Resident memory once everything was built, before the upload started.
    pub base_rss_kib: u64,
    /// The process's peak resident memory (VmHWM) at the end.
    pub peak_rss_kib: u64,
    pub final_phase: String,
    /// process-upload invocations (engine only).
    pub invocations: u64,
    /// The job's final version: versioned writes to the job, its creation included.
    pub job_version: u64,
    pub post_version: u64,
    /// Every AWS operation this process ran through the worker's clients, by name.
    pub aws_calls: BTreeMap<String, u64>,
    /// DynamoDB write operations among `aws_calls`.
    pub dynamodb_writes: u64,
    /// SQS messages sent: the first (which create-post sends in AWS) and every continuation.
    pub sqs_messages_sent: u64,
    /// What the X emulator counted: endpoint → status → calls.
    pub x_calls: BTreeMap<String, BTreeMap<String, u64>>,
    pub sha256_expected: String,
    pub sha256_received: Option<String>,
    pub sha256_ok: bool,
    pub tweets_with_media: u64,
    /// Line rate only: time spent in the ranged GETs and in the APPENDs (they do not overlap).
    pub s3_get_secs: Option<f64>,
    pub x_append_secs: Option<f64>,
    /// twapi-v2 only: downloading the object from S3 to the local file it uploads from (not in
    /// `wall_secs`).
    #[serde(default)]
    pub download_secs: Option<f64>,
}

impl CaseResult {
    /// What ran: `line rate`, `twapi-v2`, `engine, sequential`, `engine, 4 in flight`.
    pub fn label(&self) -> String {
        match (self.mode, self.parallel_appends) {
            (Mode::Engine, Some(1) | None) => "engine, sequential".into(),
            (Mode::Engine, Some(n)) => format!("engine, {n} in flight"),
            (mode, _) => mode.as_str().into(),
        }
    }
}

pub async fn run(setup: &Setup, args: &CaseArgs) -> anyhow::Result<CaseResult> {
    let video = setup.video(args.size_mib)?.clone();
    let counter = CallCounter::default();
    let counted =
        counted_clients(&setup.aws_endpoint, setup.s3_endpoint.as_deref(), &counter).await;
    match args.mode {
        Mode::Engine => {
            engine(
                setup,
                &video,
                counted,
                counter,
                args.deadline_secs,
                args.parallel_appends,
            )
            .await
        }
        Mode::Line => line(setup, &video, counted, counter).await,
        Mode::Twapi => twapi(setup, &video, counted, counter).await,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A generous bound on one upload, so that a stuck case ends.
pub fn case_limit(size_mib: u64) -> Duration {
    Duration::from_secs(120 + 2 * size_mib)
}

async fn engine(
    setup: &Setup,
    video: &Video,
    counted: reelay_shared::aws::AwsClients,
    counter: CallCounter,
    deadline_secs: u64,
    parallel_appends: u32,
) -> anyhow::Result<CaseResult> {
    let stack = setup.stack.stack();
    let mut env = setup.function_env();
    env.insert("PARALLEL_APPENDS".into(), parallel_appends.to_string());
    // The worker: the production wiring (process-upload's App::new, default engine settings)
    // over the counted clients, driven by the local runner's SQS poller.
    let functions = Functions::from_env(&env, &counted).await?;
    let runner = Runner::start(
        functions,
        counted.clone(),
        &stack,
        LocalAuthorizer::random(),
        RunnerConfig {
            worker_deadline: Duration::from_secs(deadline_secs),
            ..RunnerConfig::default()
        },
    )
    .await?;
    let result = engine_upload(setup, video, &counted, &counter, &runner, deadline_secs).await;
    runner.stop().await;
    let mut result = result?;
    result.parallel_appends = Some(parallel_appends);
    Ok(result)
}

async fn engine_upload(
    setup: &Setup,
    video: &Video,
    counted: &reelay_shared::aws::AwsClients,
    counter: &CallCounter,
    runner: &Runner,
    deadline_secs: u64,
) -> anyhow::Result<CaseResult> {
    // The bench's own bookkeeping (creating the post and job, watching the job) goes through
    // uncounted clients.
    let plain = setup.aws_clients().await;
    let store = DynamoStore::new(plain.dynamodb.clone(), &setup.stack.table_name);
    // The intake pins the job to the object it checked (its ETag and version, from a HEAD), and
    // the engine reads every segment with `If-Match`, as in production.
    let head = S3Blobs::new(plain.s3.clone())
        .head(&setup.stack.bucket_name, &video.key)
        .await
        .map_err(|e| anyhow!("HEAD of the video: {}", e.detail))?
        .ok_or_else(|| anyhow!("the video {} is not in S3", video.key))?;
    let user_id = UserId::parse(USER)?;
    let now = now_ms();
    let post_id = new_post_id(now);
    let text = format!(
        "benchmark: {} MiB, engine, {deadline_secs} s deadline, {post_id}",
        video.size_mib
    );
    // What create-post does after its pre-flight check (as World::start_upload does).
    let mut post = Post {
        object_key: Some(video.key.clone()),
        ..Post::draft(
            user_id.clone(),
            post_id.clone(),
            text.clone(),
            vec![Platform::Twitter],
            now,
        )
    };
    store.create_post(&post).await?;
    post.status = PostStatus::Processing;
    post.version = 2;
    let job = UploadJob::new(
        &post,
        Platform::Twitter,
        SourceObject {
            bucket: setup.stack.bucket_name.clone(),
            key: video.key.clone(),
            size_bytes: video.bytes,
            media_type: "video/mp4".into(),
            media_category: "amplify_video".into(),
            etag: head.etag.clone(),
            version_id: head.version_id.clone(),
        },
        segment_size_for(video.bytes, SEGMENT_BYTES),
        now,
    );
    store.start_jobs(&post, std::slice::from_ref(&job)).await?;
    let message = job.message();

    // Everything is built; what the runner's idle polling did so far is not the upload's.
    let (base_rss_kib, _) = rss_kib();
    counter.reset();
    let started = Instant::now();
    // The first message (create-post's, in AWS) goes through the counted client.
    SqsQueue::new(counted.sqs.clone(), &setup.stack.queue_url)
        .send(&message, 0)
        .await?;
    let limit = case_limit(video.size_mib);
    let job = loop {
        let seen = runner.log.snapshot().len();
        // Wakes when an invocation ends (the job can only finish at the end of one).
        runner
            .log
            .wait_until(Duration::from_secs(2), |log| log.len() > seen)
            .await;
        let job = store
            .get_job(&user_id, &post_id, Platform::Twitter)
            .await?
            .ok_or_else(|| anyhow!("the job disappeared"))?;
        if job.phase.is_final() {
            break job;
        }
        if started.elapsed() > limit {
            bail!(
                "the job is still {:?} after {limit:?}: {:?}",
                job.phase,
                job.error
            );
        }
    };
    let wall = started.elapsed();
    // The job can be final (seen on a poll) before the invocation that finished it has returned
    // to the runner; let it end, so that its count and its last calls are in the result. Each
    // invocation takes one message (batch size 1).
    let messages = counter
        .snapshot()
        .get("sqs.SendMessage")
        .copied()
        .unwrap_or(0) as usize;
    runner
        .log
        .wait_until(Duration::from_secs(10), |log| {
            log.iter()
                .filter(|i| i.function == FunctionName::ProcessUpload)
                .count()
                >= messages
        })
        .await;
    let (_, peak_rss_kib) = rss_kib();
    let aws_calls = counter.snapshot();
    let post_version = store
        .post_with_jobs(&user_id, &post_id)
        .await?
        .map(|(p, _)| p.version)
        .unwrap_or(0);
    let invocations = runner
        .log
        .snapshot()
        .iter()
        .filter(|i| i.function == FunctionName::ProcessUpload)
        .count() as u64;
    if job.phase != Phase::Published {
        bail!("the job ended {:?}: {:?}", job.phase, job.error);
    }
    let mut result = finish(
        setup,
        video,
        Mode::Engine,
        wall,
        base_rss_kib,
        peak_rss_kib,
        aws_calls,
        job.media_id.as_deref(),
    )
    .await?;
    result.deadline_secs = Some(deadline_secs);
    result.segment_bytes = job.segment_size;
    result.final_phase = format!("{:?}", job.phase);
    result.invocations = invocations;
    result.job_version = job.version;
    result.post_version = post_version;
    Ok(result)
}

async fn line(
    setup: &Setup,
    video: &Video,
    counted: reelay_shared::aws::AwsClients,
    counter: CallCounter,
) -> anyhow::Result<CaseResult> {
    let env = setup.function_env();
    let x_config = reelay_shared::config::XConfig::from_env(&env)?;
    let http =
        reelay_shared::http_client::build_http_client(Duration::from_secs(X_REQUEST_TIMEOUT_SECS))?;
    let x = XClient::new(http, &x_config);
    let blobs = S3Blobs::new(counted.s3.clone());
    let admin = Admin::new(&setup.emulator_url)?;
    let token = Secret::new(
        admin
            .mint_token(
                X_USER_ID,
                &[
                    "tweet.read",
                    "tweet.write",
                    "users.read",
                    "media.write",
                    "offline.access",
                ],
            )
            .await?,
    );
    let bucket = &setup.stack.bucket_name;
    let segment = segment_size_for(video.bytes, SEGMENT_BYTES);
    let segments = video.bytes.div_ceil(segment);

    let (base_rss_kib, _) = rss_kib();
    counter.reset();
    let started = Instant::now();
    let init = x
        .media_initialize(&token, video.bytes, "video/mp4", "amplify_video")
        .await
        .map_err(|e| anyhow!("INIT: {e:?}"))?;
    let (mut get_time, mut append_time) = (Duration::ZERO, Duration::ZERO);
    for index in 0..segments {
        let start = index * segment;
        let len = segment.min(video.bytes - start);
        let t = Instant::now();
        let bytes = blobs
            .read_range(
                ObjectRef {
                    bucket,
                    key: &video.key,
                    etag: None,
                    version_id: None,
                },
                start,
                len,
            )
            .await
            .map_err(|e| anyhow!("ranged GET of segment {index}: {}", e.detail))?;
        get_time += t.elapsed();
        let t = Instant::now();
        x.media_append(&token, &init.id, index as u32, bytes)
            .await
            .map_err(|e| anyhow!("APPEND {index}: {e:?}"))?;
        append_time += t.elapsed();
    }
    let mut status = x
        .media_finalize(&token, &init.id)
        .await
        .map_err(|e| anyhow!("FINALIZE: {e:?}"))?;
    let mut polls = 0;
    while !status.state.is_usable() {
        if status.state == ProcessingState::Failed || status.error.is_some() {
            bail!("X could not process the media: {:?}", status.error);
        }
        polls += 1;
        if polls > 100 {
            bail!("processing did not finish after 100 STATUS polls");
        }
        tokio::time::sleep(Duration::from_secs(
            status.check_after_secs.unwrap_or(1).clamp(1, 30),
        ))
        .await;
        status = x
            .media_status(&token, &init.id)
            .await
            .map_err(|e| anyhow!("STATUS: {e:?}"))?;
    }
    let wall = started.elapsed();
    let (_, peak_rss_kib) = rss_kib();
    let aws_calls = counter.snapshot();
    let mut result = finish(
        setup,
        video,
        Mode::Line,
        wall,
        base_rss_kib,
        peak_rss_kib,
        aws_calls,
        Some(init.id.as_str()),
    )
    .await?;
    result.final_phase = "Succeeded".into();
    result.segment_bytes = segment;
    result.s3_get_secs = Some(get_time.as_secs_f64());
    result.x_append_secs = Some(append_time.as_secs_f64());
    Ok(result)
}

async fn twapi(
    setup: &Setup,
    video: &Video,
    counted: reelay_shared::aws::AwsClients,
    counter: CallCounter,
) -> anyhow::Result<CaseResult> {
    use twapi_v2::api::post_2_media_upload_initialize::MediaCategory;
    use twapi_v2::api::{BearerAuthentication, TwapiOptions};
    use twapi_v2::upload_v2;

    let admin = Admin::new(&setup.emulator_url)?;
    let token = admin
        .mint_token(
            X_USER_ID,
            &[
                "tweet.read",
                "tweet.write",
                "users.read",
                "media.write",
                "offline.access",
            ],
        )
        .await?;
    let auth = BearerAuthentication::new(token);
    let options = TwapiOptions {
        prefix_url: Some(setup.emulator_url.clone()),
        ..Default::default()
    };
    let path = PathBuf::from(format!(
        "target/bench/twapi-{}-{}mib.mp4",
        std::process::id(),
        video.size_mib
    ));

    let (base_rss_kib, _) = rss_kib();
    counter.reset();
    let t = Instant::now();
    download(&counted.s3, &setup.stack.bucket_name, &video.key, &path).await?;
    let download_secs = t.elapsed().as_secs_f64();
    let started = Instant::now();
    let uploaded = async {
        let (response, _) = upload_v2::upload_media(
            &path,
            "video/mp4",
            Some(MediaCategory::AmplifyVideo),
            vec![],
            &auth,
            Some(&options),
        )
        .await
        .map_err(|e| anyhow!("twapi-v2 upload_media: {e:?}"))?;
        let media_id = upload_v2::get_media_id(&response);
        upload_v2::check_processing(
            response,
            &auth,
            None::<
                fn(
                    i64,
                    &twapi_v2::api::get_2_media_upload::Response,
                    &twapi_v2::headers::Headers,
                ) -> Result<(), twapi_v2::error::Error>,
            >,
            Some(&options),
        )
        .await
        .map_err(|e| anyhow!("twapi-v2 check_processing: {e:?}"))?;
        anyhow::Ok(media_id)
    }
    .await;
    let wall = started.elapsed();
    let _ = std::fs::remove_file(&path);
    let media_id = uploaded?;
    let (_, peak_rss_kib) = rss_kib();
    let aws_calls = counter.snapshot();
    let mut result = finish(
        setup,
        video,
        Mode::Twapi,
        wall,
        base_rss_kib,
        peak_rss_kib,
        aws_calls,
        Some(media_id.as_str()),
    )
    .await?;
    result.final_phase = "Succeeded".into();
    result.segment_bytes = TWAPI_SEGMENT_BYTES;
    result.download_secs = Some(download_secs);
    Ok(result)
}

/// twapi-v2's segment size (`upload_v2`, fixed).
pub const TWAPI_SEGMENT_BYTES: u64 = 5_000_000;

/// Streams `bucket/key` into the file `path`, one body chunk at a time.
async fn download(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &Path,
) -> anyhow::Result<()> {
    let mut body = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .with_context(|| format!("GET {key}"))?
        .body;
    let mut file = tokio::fs::File::create(path)
        .await
        .with_context(|| format!("creating {}", path.display()))?;
    while let Some(chunk) = body.try_next().await? {
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(())
}

/// The common part of a result: throughput, AWS and X call counts, and whether X received
/// exactly the file.
#[allow(clippy::too_many_arguments)]
async fn finish(
    setup: &Setup,
    video: &Video,
    mode: Mode,
    wall: Duration,
    base_rss_kib: u64,
    peak_rss_kib: u64,
    aws_calls: BTreeMap<String, u64>,
    media_id: Option<&str>,
) -> anyhow::Result<CaseResult> {
    let records = Admin::new(&setup.emulator_url)?.records().await?;
    let media_id = media_id.context("no media id")?;
    let media = records["media"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["id"].as_str() == Some(media_id)))
        .ok_or_else(|| anyhow!("X does not know media {media_id}"))?;
    let received = media["sha256"].as_str().map(str::to_owned);
    let tweets_with_media = records["tweets"]
        .as_array()
        .map(|tweets| {
            tweets
                .iter()
                .filter(|t| {
                    t["media_ids"]
                        .as_array()
                        .is_some_and(|ids| ids.iter().any(|id| id.as_str() == Some(media_id)))
                })
                .count() as u64
        })
        .unwrap_or(0);
    let x_calls: BTreeMap<String, BTreeMap<String, u64>> =
        serde_json::from_value(records["calls"].clone()).unwrap_or_default();
    let secs = wall.as_secs_f64();
    let dynamodb_writes = aws_calls
        .iter()
        .filter(|(op, _)| is_dynamodb_write(op))
        .map(|(_, n)| n)
        .sum();
    let sqs_messages_sent = aws_calls.get("sqs.SendMessage").copied().unwrap_or(0)
        + aws_calls.get("sqs.SendMessageBatch").copied().unwrap_or(0);
    Ok(CaseResult {
        mode,
        size_mib: video.size_mib,
        bytes: video.bytes,
        deadline_secs: None,
        parallel_appends: None,
        segment_bytes: 0,
        profile: String::new(),
        wall_secs: secs,
        mib_per_sec: video.bytes as f64 / (1024.0 * 1024.0) / secs.max(1e-9),
        base_rss_kib,
        peak_rss_kib,
        final_phase: String::new(),
        invocations: 0,
        job_version: 0,
        post_version: 0,
        aws_calls,
        dynamodb_writes,
        sqs_messages_sent,
        x_calls,
        sha256_ok: received.as_deref() == Some(video.sha256.as_str()),
        sha256_expected: video.sha256.clone(),
        sha256_received: received,
        tweets_with_media,
        s3_get_secs: None,
        x_append_secs: None,
        download_secs: None,
    })
}
