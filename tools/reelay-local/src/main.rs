//! `reelay-local`: the local stack in one command.
//!
//! - `reelay-local up`: starts moto, creates the stack, starts the runner, prints where each part
//!   listens and a bearer token, and runs until Ctrl-C.
//! - `reelay-local demo`: the same, then walks the user journey as far as it is built, and stops.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use reelay_local::authorizer::LocalAuthorizer;
use reelay_local::harness::aws_clients_for;
use reelay_local::moto::{repo_root, MotoServer};
use reelay_local::runner::{FunctionName, Functions, Runner, RunnerConfig};
use reelay_local::stack::{Stack, StackSpec};

#[derive(Parser)]
#[command(about = "Run Reelay locally against moto, as AWS would run it")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Port for the local HTTP API (0 picks a free one).
    #[arg(long, default_value_t = 0, global = true)]
    port: u16,
    /// Lambda deadline given to each process-upload invocation, in seconds.
    #[arg(long, default_value_t = 60, global = true)]
    worker_deadline_secs: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Start everything and run until Ctrl-C.
    Up,
    /// Start everything, run the journey as far as it is built, and stop.
    Demo,
}

struct Running {
    _moto: Option<MotoServer>,
    aws: reelay_shared::aws::AwsClients,
    stack: Stack,
    auth: LocalAuthorizer,
    runner: Runner,
}

async fn start(cli: &Cli) -> anyhow::Result<Running> {
    // An endpoint given by the caller is used as is; otherwise this process owns a moto server.
    let (moto, endpoint) = match std::env::var("AWS_ENDPOINT_URL")
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
    println!("moto (S3, DynamoDB, SQS, KMS)  {endpoint}");
    let aws = aws_clients_for(&endpoint).await;
    let stack = Stack::create(&aws, StackSpec::unique("reelay")).await?;
    println!("  table  {}", stack.table_name);
    println!("  bucket {}", stack.bucket_name);
    println!("  queue  {} (DLQ {})", stack.queue_url, stack.dlq_url);
    let mut env = stack.function_env();
    // X's OAuth client settings; the X emulator (issue 3) will provide real endpoints here.
    env.extend([
        ("X_CLIENT_ID".to_owned(), "reelay-local".to_owned()),
        (
            "X_CLIENT_SECRET".to_owned(),
            "reelay-local-secret".to_owned(),
        ),
        (
            "X_REDIRECT_URI".to_owned(),
            "http://127.0.0.1/api/auth/platforms/twitter/callback".to_owned(),
        ),
    ]);
    let functions = Functions::from_env(&env, &aws)?;
    let auth = LocalAuthorizer::random();
    let config = RunnerConfig {
        http_port: cli.port,
        worker_deadline: Duration::from_secs(cli.worker_deadline_secs),
        ..RunnerConfig::default()
    };
    let runner = Runner::start(functions, aws.clone(), &stack, auth.clone(), config).await?;
    println!("runner (HTTP API)  {}", runner.http_url);
    Ok(Running {
        _moto: moto,
        aws,
        stack,
        auth,
        runner,
    })
}

async fn demo(running: &Running) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let user = "demo-user";
    let token = running.auth.mint(user);

    println!("\n1. HTTP API through the local JWT authorizer");
    let health: serde_json::Value = http
        .get(format!("{}/api/health", running.runner.http_url))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("   GET /api/health -> {health}");

    println!("\n2. S3 upload -> create-post");
    let key = format!("uploads/{user}/demo-post/clip.mp4");
    running
        .aws
        .s3
        .put_object()
        .bucket(&running.stack.bucket_name)
        .key(&key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"demo bytes",
        ))
        .send()
        .await?;
    let (seen, log) = running
        .runner
        .log
        .wait_until(Duration::from_secs(60), |l| {
            l.iter().any(|i| i.function == FunctionName::CreatePost)
        })
        .await;
    anyhow::ensure!(seen, "create-post was not invoked within 60 s");
    if let Some(i) = log.iter().find(|i| i.function == FunctionName::CreatePost) {
        println!("   create-post got {:?} -> {}", i.items, i.outcome);
    }

    println!("\n3. work queue -> process-upload");
    let body = format!(r#"{{"user_id":"{user}","post_id":"demo-post","platform":"twitter","step_token":"demo"}}"#);
    running
        .aws
        .sqs
        .send_message()
        .queue_url(&running.stack.queue_url)
        .message_body(body)
        .send()
        .await?;
    let (seen, log) = running
        .runner
        .log
        .wait_until(Duration::from_secs(60), |l| {
            l.iter().any(|i| i.function == FunctionName::ProcessUpload)
        })
        .await;
    anyhow::ensure!(seen, "process-upload was not invoked within 60 s");
    if let Some(i) = log
        .iter()
        .find(|i| i.function == FunctionName::ProcessUpload)
    {
        println!(
            "   process-upload got {:?} with a {} ms deadline -> {}",
            i.items,
            i.deadline_ms.saturating_sub(i.invoked_at_ms),
            i.outcome
        );
    }

    println!("\nNot built yet (see `issues`): connecting X (OAuth), creating posts, the pre-flight video check,");
    println!("the upload engine and the X API emulator. The demo grows as they land.");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let running = start(&cli).await?;
    let result = match cli.command {
        Command::Up => {
            println!(
                "\nbearer token for user 'local-user' (1 h):\n{}\n",
                running.auth.mint("local-user")
            );
            println!("Ctrl-C stops everything.");
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            Ok(())
        }
        Command::Demo => demo(&running).await,
    };
    running.runner.stop().await;
    println!("stopped.");
    result
}
