//! The driver: starts moto (unless `AWS_ENDPOINT_URL` names one), the bench's S3
//! (`crate::s3_server`) and the X emulator as separate processes, creates the stack, connects the
//! user through the real OAuth flow, streams the videos into the bench's S3, then, for each link
//! profile of the emulator, runs every peer (the line rate, twapi-v2, the engine sequential and
//! with segments in flight) on every size, each in a fresh child process, and writes
//! BENCHMARKS.md; then stops them all and runs the fitting measurement (`crate::fit`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use reelay_local::authorizer::LocalAuthorizer;
use reelay_local::moto::{free_port, repo_root, MotoServer};
use reelay_local::runner::{Functions, Runner, RunnerConfig};
use reelay_local::stack::{Stack, StackSpec};
use tokio::io::AsyncReadExt as _;

use crate::case::{case_limit, CaseResult, Mode};
use crate::emulator::{Admin, EmulatorProcess};
use crate::s3_server::S3ServerProcess;
use crate::setup::{Setup, StackNames, CALLBACK_PATH, CLIENT_ID, CLIENT_SECRET, USER};

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Video sizes in MiB.
    #[arg(long, value_delimiter = ',', default_value = "16,128,512")]
    pub sizes: Vec<u64>,
    /// The emulator's link profiles to run every case under, in this order (the first is the
    /// headline; the acceptance is judged on `lambda-to-x`).
    #[arg(long, value_delimiter = ',', default_value = "lambda-to-x,loopback")]
    pub profiles: Vec<String>,
    /// The engine's segments in flight to run (1 = sequential) under the headline profile.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    pub parallel: Vec<u32>,
    /// The same under the other profiles (fewer: they show the modes, not the choice).
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    pub other_parallel: Vec<u32>,
    /// The realistic Lambda deadline for every size, in seconds (process-upload's Timeout in
    /// template.yaml).
    #[arg(long, default_value_t = 60)]
    pub deadline_secs: u64,
    /// A short deadline, to show the cost of continuations (the engine's default parallelism,
    /// headline profile).
    #[arg(long, default_value_t = 10)]
    pub short_deadline_secs: u64,
    /// Sizes that also run with the short deadline.
    #[arg(long, value_delimiter = ',', default_value = "512")]
    pub short_sizes: Vec<u64>,
    /// The x-emulator binary (default: next to this one).
    #[arg(long)]
    pub emulator_bin: Option<PathBuf>,
    /// Where to write the report (the section between the bench markers is replaced).
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
    /// Also write every case's full result here as JSON.
    #[arg(long, default_value = "target/bench/results.json")]
    pub json: PathBuf,
    /// Leave out the fitting measurement (`reelay-bench fit`) that follows the upload cases.
    #[arg(long)]
    pub skip_fit: bool,
    #[command(flatten)]
    pub fit: crate::fit::FitArgs,
}

/// One case to run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    mode: Mode,
    size_mib: u64,
    deadline_secs: u64,
    parallel_appends: u32,
}

/// The engine's default segments in flight, which the acceptance is judged on.
pub const DEFAULT_PARALLEL: u32 = reelay_shared::engine::DEFAULT_PARALLEL_APPENDS;

/// What the emulator said of one link profile (`GET /admin/link`), kept for the report.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProfileRun {
    pub name: String,
    pub link: serde_json::Value,
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    // moto and the emulator stop when `uploads` returns, so the conversions have the cores.
    uploads(&args).await?;
    if args.skip_fit {
        return Ok(());
    }
    crate::fit::run(&args.fit, &args.out).await
}

/// The upload cases and their section of the report.
async fn uploads(args: &RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let work = PathBuf::from("target/bench");
    std::fs::create_dir_all(&work)?;

    // moto: the caller's, or one owned by this process (stopped on drop, also on error).
    let (_moto, aws_endpoint) = match std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.is_empty())
    {
        Some(endpoint) => (None, endpoint),
        None => {
            let server = MotoServer::start(&repo_root()).context("starting moto")?;
            let endpoint = server.endpoint.clone();
            (Some(server), endpoint)
        }
    };
    eprintln!("moto            {aws_endpoint}");
    let aws = reelay_local::harness::aws_clients_for(&aws_endpoint).await;
    // The bench's S3, with the SDK's (test) credentials, so that it checks their signatures.
    let credentials = {
        use aws_sdk_s3::config::ProvideCredentials as _;
        reelay_local::harness::sdk_config_for(&aws_endpoint)
            .await
            .credentials_provider()
            .context("no credentials provider")?
            .provide_credentials()
            .await?
    };
    let s3_root = work.join("s3");
    // Objects of an earlier run are not reused (their buckets had other names).
    let _ = std::fs::remove_dir_all(&s3_root);
    let s3_server = S3ServerProcess::start(
        &s3_root,
        free_port()?,
        (credentials.access_key_id(), credentials.secret_access_key()),
        &work.join("s3-server.log"),
    )
    .await?;
    eprintln!("s3 (s3s-fs)     {}", s3_server.endpoint);
    let stack = Stack::create(
        &aws,
        StackSpec::unique("bench").with_x_client_secret(CLIENT_SECRET),
    )
    .await?;

    // The X emulator, in its own process; the OAuth client's redirect URI is the callback of the
    // runner that connects the user (its port is chosen first).
    let runner_port = free_port()?;
    let redirect_uri = format!("http://127.0.0.1:{runner_port}{CALLBACK_PATH}");
    let emulator_bin = match &args.emulator_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or_else(|| anyhow!("no directory for this binary"))?
            .join("x-emulator"),
    };
    let emulator = EmulatorProcess::start(
        &emulator_bin,
        free_port()?,
        &[
            "--client".into(),
            format!("{CLIENT_ID}:{CLIENT_SECRET}={redirect_uri}"),
            // Processing ends at FINALIZE: the bench measures the upload, not X's transcoding.
            "--processing-polls".into(),
            "0".into(),
        ],
        &work.join("x-emulator.log"),
    )
    .await?;
    eprintln!(
        "x-emulator      {} (pid of its watchdog in the process list)",
        emulator.base_url
    );
    let admin = Admin::new(&emulator.base_url)?;

    let mut setup = Setup {
        aws_endpoint: aws_endpoint.clone(),
        s3_endpoint: Some(s3_server.endpoint.clone()),
        emulator_url: emulator.base_url.clone(),
        redirect_uri,
        stack: StackNames::of(&stack),
        videos: Vec::new(),
    };
    connect(&setup, &aws, &stack, runner_port)
        .await
        .context("connecting X")?;
    eprintln!("connected {USER} to X through the OAuth flow");

    // The videos go to the bench's S3, in a bucket of the stack's name (moto's bucket of that
    // name stays, unused).
    let s3 = setup.aws_clients().await.s3;
    s3.create_bucket()
        .bucket(&stack.bucket_name)
        .send()
        .await
        .context("creating the bucket in the bench's S3")?;
    for &size in &args.sizes {
        let t = Instant::now();
        let key = format!("bench/video-{size}mib.mp4");
        let video = crate::video::upload(&s3, &stack.bucket_name, &key, size).await?;
        eprintln!(
            "generated {key} ({} bytes, sha256 {}) in {:.1} s",
            video.bytes,
            &video.sha256[..16],
            t.elapsed().as_secs_f64()
        );
        setup.videos.push(video);
    }
    let setup_path = work.join("setup.json");
    std::fs::write(&setup_path, serde_json::to_vec_pretty(&setup)?)?;

    let mut results = Vec::new();
    let mut profiles = Vec::new();
    for (p, profile) in args.profiles.iter().enumerate() {
        admin.set_link_profile(profile).await?;
        let link = admin.link().await?;
        eprintln!("link profile    {profile}: {link}");
        profiles.push(ProfileRun {
            name: profile.clone(),
            link,
        });
        let parallel = if p == 0 {
            &args.parallel
        } else {
            &args.other_parallel
        };
        for plan in plans(args, parallel, p == 0) {
            // A stopped runner's last long poll (1 s) may still be open in moto, and moto would
            // hand it the next case's first message, which would then stay invisible for the
            // queue's visibility timeout. Let those polls end first.
            tokio::time::sleep(Duration::from_secs(2)).await;
            admin.reset().await?;
            // The link is the emulator's configuration, kept by a reset; set it again anyway.
            admin.set_link_profile(profile).await?;
            let mut result = run_case(&setup_path, plan).await?;
            result.profile = profile.clone();
            eprintln!(
                "{:<11} {:>4} MiB {:<20} {:>4}  {:>7.2} s  {:>7.1} MiB/s  peak RSS {:>6.1} MiB  sha256 {}",
                profile,
                result.size_mib,
                result.label(),
                result
                    .deadline_secs
                    .map(|d| format!("{d}s"))
                    .unwrap_or_default(),
                result.wall_secs,
                result.mib_per_sec,
                result.peak_rss_kib as f64 / 1024.0,
                if result.sha256_ok { "ok" } else { "MISMATCH" },
            );
            if !result.sha256_ok {
                bail!(
                    "X received other bytes than the file ({} MiB, {}): {:?} != {}",
                    result.size_mib,
                    result.label(),
                    result.sha256_received,
                    result.sha256_expected
                );
            }
            results.push(result);
            // X keeps what it received in memory; forget it before the next case.
            admin.reset().await?;
        }
    }
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_vec_pretty(&results)?)?;
    let total = started.elapsed();
    crate::report::write(&args.out, &results, &profiles, args, total)?;
    for c in crate::report::acceptance(&results) {
        eprintln!(
            "acceptance: {:<60} {:>12}  {}",
            c.what,
            c.measured.as_deref().unwrap_or("not measured"),
            if c.holds { "holds" } else { "DOES NOT HOLD" }
        );
    }
    eprintln!(
        "wrote {} and {} ({:.0} s in all)",
        args.out.display(),
        args.json.display(),
        total.as_secs_f64()
    );
    drop(emulator);
    drop(s3_server);
    // The videos (about 650 MiB) are regenerated by every run.
    let _ = std::fs::remove_dir_all(&s3_root);
    Ok(())
}

/// The cases of one profile: for each size, the line rate, twapi-v2 and the engine with each
/// number of segments in flight, one after the other so that they meet the same conditions;
/// then (headline profile only) the short-deadline runs.
fn plans(args: &RunArgs, parallel: &[u32], headline: bool) -> Vec<Plan> {
    let mut plans = Vec::new();
    for &size in &args.sizes {
        for mode in [Mode::Line, Mode::Twapi] {
            plans.push(Plan {
                mode,
                size_mib: size,
                deadline_secs: 0,
                parallel_appends: 1,
            });
        }
        for &n in parallel {
            plans.push(Plan {
                mode: Mode::Engine,
                size_mib: size,
                deadline_secs: args.deadline_secs,
                parallel_appends: n,
            });
        }
    }
    if headline {
        for &size in args.short_sizes.iter().filter(|s| args.sizes.contains(s)) {
            plans.push(Plan {
                mode: Mode::Engine,
                size_mib: size,
                deadline_secs: args.short_deadline_secs,
                parallel_appends: DEFAULT_PARALLEL,
            });
        }
    }
    plans
}

/// Runs one case in a fresh process of this binary and reads its JSON result.
async fn run_case(setup_path: &Path, plan: Plan) -> anyhow::Result<CaseResult> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .arg("case")
        .arg("--setup")
        .arg(setup_path)
        .arg("--mode")
        .arg(plan.mode.arg())
        .arg("--size-mib")
        .arg(plan.size_mib.to_string())
        .arg("--deadline-secs")
        .arg(plan.deadline_secs.max(1).to_string())
        .arg("--parallel-appends")
        .arg(plan.parallel_appends.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn().context("starting a case process")?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let limit = case_limit(plan.size_mib) + Duration::from_secs(60);
    let finished = tokio::time::timeout(limit, async {
        let mut out = String::new();
        stdout.read_to_string(&mut out).await?;
        let status = child.wait().await?;
        anyhow::Ok((status, out))
    })
    .await;
    let (status, out) = match finished {
        Ok(done) => done?,
        Err(_) => {
            // kill_on_drop ends the child when `child` goes out of scope.
            bail!("the {plan:?} case did not finish within {limit:?}");
        }
    };
    if !status.success() {
        bail!("the {plan:?} case failed ({status})");
    }
    let line = out
        .lines()
        .last()
        .ok_or_else(|| anyhow!("the {plan:?} case printed nothing"))?;
    serde_json::from_str(line)
        .with_context(|| format!("reading the {plan:?} case's result: {line}"))
}

/// Connects the bench user to X through the real flow, as `World::connect` does: the API's
/// connect → X's authorize (the emulator's test consent) → the callback through a runner.
async fn connect(
    setup: &Setup,
    aws: &reelay_shared::aws::AwsClients,
    stack: &Stack,
    runner_port: u16,
) -> anyhow::Result<()> {
    let functions = Functions::from_env(&setup.function_env(), aws).await?;
    let auth = LocalAuthorizer::random();
    let runner = Runner::start(
        functions,
        aws.clone(),
        stack,
        auth.clone(),
        RunnerConfig {
            http_port: runner_port,
            ..RunnerConfig::default()
        },
    )
    .await?;
    let result = connect_through(&runner, &auth).await;
    runner.stop().await;
    result
}

async fn connect_through(runner: &Runner, auth: &LocalAuthorizer) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    reelay_local::world::connect_via_http(&http, &runner.http_url, &auth.mint(USER)).await
}
