//! `reelay-bench`: the end-to-end upload benchmark (issue 6, BENCHMARKS.md).
//!
//! - `reelay-bench run` (what `make bench` runs): starts moto and the X emulator as separate
//!   processes, prepares the stack, a connected X account and the videos, runs each case in a
//!   fresh `reelay-bench case` process and writes BENCHMARKS.md; then, with moto and the
//!   emulator stopped, the fitting measurement (`fit`) unless `--skip-fit`.
//! - `reelay-bench case --setup F --mode engine|line|twapi --size-mib N --deadline-secs D
//!   --parallel-appends P`: one measured upload; prints its result as one JSON line.
//! - `reelay-bench fit` (issue 14): generates the two clips, converts each with fit-video's code
//!   in a fresh `reelay-bench fit-case` process and writes BENCHMARKS.md's fitting section.
//! - `reelay-bench fit-case --input F --output F`: one measured conversion; one JSON line.
//! - `reelay-bench schedule` (issue 15): the delay from a scheduled post's time to X's answer,
//!   for videos uploaded ahead and for uploads deferred by X's media expiry; writes
//!   BENCHMARKS.md's scheduled-posts section.
//! - `reelay-bench coldstart` (issue 16): each function's release binary started against a
//!   minimal Runtime API stub, timed to its first `/next`; writes the cold-start section.
//! - `reelay-bench api-latency` (issue 16): `GET /api/posts/{id}` and `POST /api/posts` on the
//!   local stack, one client; writes the API-latency section.

mod api_latency;
mod case;
mod coldstart;
mod counting;
mod driver;
mod emulator;
mod fit;
mod fit_report;
mod percentiles;
mod report;
mod rss;
mod s3_server;
mod schedule;
mod setup;
mod video;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Reelay's upload benchmark: the engine against a plain streaming upload")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prepare everything, run every case in its own process, write BENCHMARKS.md.
    Run(driver::RunArgs),
    /// Run one case (used by `run`).
    Case(case::CaseArgs),
    /// The bench's S3, s3s-fs in its own process (started by `run`).
    #[command(hide = true)]
    S3Server(s3_server::S3ServerArgs),
    /// Measure fit-video's conversion on the two clips; write BENCHMARKS.md's fitting
    /// section.
    Fit {
        #[command(flatten)]
        args: fit::FitArgs,
        /// Where to write the report (the section between the fitting markers is replaced).
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
    },
    /// Measure how soon after its time a scheduled post reaches X; write BENCHMARKS.md's
    /// scheduled-posts section.
    Schedule(schedule::ScheduleArgs),
    /// Time each function's release binary from spawn to its first `/next` poll; write
    /// BENCHMARKS.md's cold-start section.
    Coldstart(coldstart::ColdstartArgs),
    /// Measure `GET /api/posts/{id}` and `POST /api/posts` on the local stack; write
    /// BENCHMARKS.md's API-latency section.
    ApiLatency(api_latency::ApiLatencyArgs),
    /// Convert one file as fit-video does (used by `fit`).
    FitCase {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Like a Lambda container on 2 vCPUs: a multi-threaded runtime with one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => driver::run(args).await,
            Command::Case(args) => case::main(args).await,
            Command::S3Server(args) => s3_server::serve(args).await,
            Command::Fit { args, out } => fit::run(&args, &out).await,
            Command::Schedule(args) => schedule::run(&args).await,
            Command::Coldstart(args) => coldstart::run(&args).await,
            Command::ApiLatency(args) => api_latency::run(&args).await,
            Command::FitCase { input, output } => {
                let result = fit::case(&input, &output).await?;
                println!("{}", serde_json::to_string(&result)?);
                Ok(())
            }
        }
    })
}
