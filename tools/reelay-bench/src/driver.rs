//! The driver: starts moto (unless `AWS_ENDPOINT_URL` names one) and the X emulator as separate
//! processes, creates the stack, connects the user through the real OAuth flow, streams the
//! videos into S3, then runs every case in a fresh child process and writes BENCHMARKS.md;
//! then stops moto and the emulator and runs the fitting measurement (`crate::fit`).

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
use crate::setup::{Setup, StackNames, CALLBACK_PATH, CLIENT_ID, CLIENT_SECRET, USER};

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Video sizes in MiB.
    #[arg(long, value_delimiter = ',', default_value = "16,128,512")]
    pub sizes: Vec<u64>,
    /// The realistic Lambda deadline for every size, in seconds.
    #[arg(long, default_value_t = 60)]
    pub deadline_secs: u64,
    /// A short deadline, to show the cost of continuations.
    #[arg(long, default_value_t = 10)]
    pub short_deadline_secs: u64,
    /// Sizes that also run with the short deadline.
    #[arg(long, value_delimiter = ',', default_value = "128,512")]
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
        emulator_url: emulator.base_url.clone(),
        redirect_uri,
        stack: StackNames::of(&stack),
        videos: Vec::new(),
    };
    connect(&setup, &aws, &stack, runner_port)
        .await
        .context("connecting X")?;
    eprintln!("connected {USER} to X through the OAuth flow");

    // The videos live outside `uploads/`, so the bucket's notification (create-post) ignores them.
    for &size in &args.sizes {
        let t = Instant::now();
        let key = format!("bench/video-{size}mib.mp4");
        let video = crate::video::upload(&aws.s3, &stack.bucket_name, &key, size).await?;
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

    let mut plans = Vec::new();
    for &size in &args.sizes {
        plans.push(Plan {
            mode: Mode::Line,
            size_mib: size,
            deadline_secs: 0,
        });
        plans.push(Plan {
            mode: Mode::Engine,
            size_mib: size,
            deadline_secs: args.deadline_secs,
        });
        if args.short_sizes.contains(&size) {
            plans.push(Plan {
                mode: Mode::Engine,
                size_mib: size,
                deadline_secs: args.short_deadline_secs,
            });
        }
    }
    let mut results = Vec::new();
    for plan in plans {
        // A stopped runner's last long poll (1 s) may still be open in moto, and moto would hand
        // it the next case's first message, which would then stay invisible for the queue's
        // visibility timeout. Let those polls end first.
        tokio::time::sleep(Duration::from_secs(2)).await;
        admin.reset().await?;
        let result = run_case(&setup_path, plan).await?;
        eprintln!(
            "{:>4} MiB {:<9} {:>3}  {:>7.2} s  {:>7.1} MiB/s  peak RSS {:>6.1} MiB  sha256 {}",
            result.size_mib,
            result.mode.as_str(),
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
                result.mode.as_str(),
                result.sha256_received,
                result.sha256_expected
            );
        }
        results.push(result);
        // X keeps what it received in memory; forget it before the next case.
        admin.reset().await?;
    }
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_vec_pretty(&results)?)?;
    let total = started.elapsed();
    crate::report::write(&args.out, &results, args, total)?;
    eprintln!(
        "wrote {} and {} ({:.0} s in all)",
        args.out.display(),
        args.json.display(),
        total.as_secs_f64()
    );
    drop(emulator);
    Ok(())
}

/// Runs one case in a fresh process of this binary and reads its JSON result.
async fn run_case(setup_path: &Path, plan: Plan) -> anyhow::Result<CaseResult> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .arg("case")
        .arg("--setup")
        .arg(setup_path)
        .arg("--mode")
        .arg(match plan.mode {
            Mode::Engine => "engine",
            Mode::Line => "line",
        })
        .arg("--size-mib")
        .arg(plan.size_mib.to_string())
        .arg("--deadline-secs")
        .arg(plan.deadline_secs.max(1).to_string())
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
