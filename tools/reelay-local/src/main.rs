//! `reelay-local`: Reelay on this machine, as AWS would run it.
//!
//! - `reelay-local demo`: the whole journey with a generated sample video: starts moto, the X
//!   and YouTube emulators and the runner, connects test X and YouTube accounts through the real
//!   OAuth redirect flows, creates a post to both, uploads the video with the presigned POST form
//!   it returns, shows each platform's progress until the post is published, prints what each
//!   platform received, and stops everything.
//! - `reelay-local post FILE --text TEXT [--platforms twitter,youtube] [--in-secs N]`: the same
//!   journey with your own video, optionally scheduled N seconds ahead.
//! - `reelay-local up`: starts everything and runs until Ctrl-C.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use reelay_local::authorizer::user_sub;
use reelay_local::harness::moto_endpoint_or_start;
use reelay_local::world::{World, WorldOptions};
use reelay_shared::clock::rfc3339;
use reelay_shared::posts::Platform;
use sha2::{Digest, Sha256};
use x_emulator::{EmulatorConfig, ProcessingMode};

#[derive(Parser)]
#[command(
    about = "Run Reelay locally against moto and the X and YouTube emulators, as AWS would run it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Lambda deadline given to each process-upload invocation, in seconds.
    #[arg(long, default_value_t = 20, global = true)]
    worker_deadline_secs: u64,
    /// APPEND segment size in bytes (X allows up to 1000 segments).
    #[arg(long, default_value_t = 1024 * 1024, global = true)]
    segment_size: u64,
    /// How often the reconciler's schedule fires, in seconds (5 minutes in the template; shorter
    /// here so a demo sees it run). 0 turns it off.
    #[arg(long, default_value_t = 10, global = true)]
    reconcile_period_secs: u64,
}

#[derive(Subcommand)]
enum Command {
    /// The whole journey three times: a generated H.264 sample cross-posted to X and YouTube
    /// (sent to each byte for byte), an HEVC 1080p .mov as an iPhone records it cross-posted
    /// (fitted for X only; YouTube gets the original), and the H.264 sample scheduled a minute
    /// ahead on X (uploaded ahead, posted on the second).
    Demo,
    /// The whole journey with your own video file.
    Post {
        file: PathBuf,
        #[arg(long, default_value = "Posted by Reelay's local demo")]
        text: String,
        /// Schedule the post this many seconds ahead (60 to 14 days), instead of at once.
        #[arg(long)]
        in_secs: Option<u64>,
        /// Where to post: `twitter`, `youtube`, or both (`twitter,youtube`).
        #[arg(long, value_delimiter = ',', default_value = "twitter", value_parser = parse_platform)]
        platforms: Vec<Platform>,
    },
    /// Start everything and run until Ctrl-C.
    Up,
}

const USER: &str = "demo-user";

fn parse_platform(raw: &str) -> Result<Platform, String> {
    Platform::parse(raw).ok_or_else(|| format!("{raw:?} is not a platform: twitter or youtube"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            // mp4-atom warns of every QuickTime box it does not model (a phone's .mov has
            // several); the pre-flight reads what it needs regardless.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,mp4_atom=error".into()),
        )
        .init();
    let cli = Cli::parse();
    let (_moto, endpoint) = moto_endpoint_or_start()?;
    let world = World::start(
        &endpoint,
        WorldOptions {
            label: "reelay".into(),
            worker_deadline: Duration::from_secs(cli.worker_deadline_secs),
            emulator: EmulatorConfig {
                // X takes a while to process a video; a few seconds shows the progress.
                processing: ProcessingMode::Time { duration_ms: 4000 },
                check_after_secs: 1,
                ..EmulatorConfig::default()
            },
            extra_env: vec![("SEGMENT_SIZE_BYTES".into(), cli.segment_size.to_string())],
            reconcile_period: (cli.reconcile_period_secs > 0)
                .then(|| Duration::from_secs(cli.reconcile_period_secs)),
            ..WorldOptions::default()
        },
    )
    .await?;
    // The console first: it is what a person opens.
    println!("Reelay console                  {}", world.console_url());
    println!(
        "  sign in with any user name ('{USER}' is the demo's user); the console sends you to"
    );
    println!(
        "  the local sign-in page, {}/oauth2/authorize (Cognito's hosted UI in AWS)",
        world.sign_in_url()
    );
    println!("moto (S3, DynamoDB, SQS, KMS)   {endpoint}");
    println!(
        "X API emulator                  {}",
        world.emulator.base_url
    );
    println!(
        "YouTube API emulator            {}",
        world.youtube.base_url()
    );
    println!("Reelay HTTP API (local gateway) {}", world.runner.http_url);
    match cli.reconcile_period_secs {
        0 => println!("reconciler schedule             off"),
        secs => println!("reconciler schedule             every {secs} s"),
    }
    println!(
        "  table {} · bucket {} · work queue {}",
        world.stack.table_name, world.stack.bucket_name, world.stack.queue_url
    );

    let result = match &cli.command {
        Command::Up => {
            // SAM's --env-vars file and cargo lambda's env file for this stack (events/README.md).
            let dir = reelay_local::moto::repo_root().join(".local");
            let files =
                reelay_local::env_json::LocalInvokeFiles::write(&dir, &world.env, &endpoint)?;
            println!("\n{files}");
            println!(
                "\nbearer token for user '{USER}' (1 h; the console's '{USER}'):\n{}\n",
                world.auth.mint(&user_sub(USER))
            );
            println!("Ctrl-C stops everything.");
            tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
        }
        Command::Demo => demo(&world).await,
        Command::Post {
            file,
            text,
            in_secs,
            platforms,
        } => journey(&world, file, text, *in_secs, platforms).await,
    };
    world.runner.stop().await;
    println!("stopped moto, the X and YouTube emulators and the runner.");
    result
}

async fn demo(world: &World) -> anyhow::Result<()> {
    let h264 = sample_video(
        "sample-720p-20s.mp4",
        "testsrc2=size=1280x720:rate=30",
        20,
        &["-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M"],
    )
    .await?;
    journey(
        world,
        &h264,
        "Hello from Reelay: one video cross-posted to X and YouTube",
        None,
        &[Platform::Twitter, Platform::YouTube],
    )
    .await?;
    println!(
        "\n--- and a phone video X would refuse as it is: fitted for X only, YouTube gets the original ---"
    );
    let hevc = sample_video(
        "iphone-hevc-1080p-10s.mov",
        "testsrc2=size=1920x1080:rate=30",
        10,
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error",
        ],
    )
    .await?;
    journey(
        world,
        &hevc,
        "Hello from Reelay: an HEVC 1080p phone clip, fitted for X",
        None,
        &[Platform::Twitter, Platform::YouTube],
    )
    .await?;
    println!("\n--- and a post scheduled a minute ahead: uploaded now, posted on the second ---");
    journey(
        world,
        &h264,
        "Hello from Reelay: scheduled a minute ahead, uploaded before its time",
        Some(65),
        &[Platform::Twitter],
    )
    .await
}

/// A sample video with a 440 Hz tone (AAC), made once with ffmpeg and kept under target/demo.
async fn sample_video(
    name: &str,
    pattern: &str,
    secs: u32,
    video_codec: &[&str],
) -> anyhow::Result<PathBuf> {
    let dir = reelay_local::moto::repo_root().join("target/demo");
    let file = dir.join(name);
    if file.exists() {
        return Ok(file);
    }
    std::fs::create_dir_all(&dir)?;
    println!("\ngenerating the sample {name} with ffmpeg (once)...");
    let partial = dir.join(format!("{name}.partial"));
    let format = if name.ends_with(".mov") { "mov" } else { "mp4" };
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i", pattern])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &secs.to_string(), "-pix_fmt", "yuv420p"])
        .args(video_codec)
        .args(["-c:a", "aac", "-b:a", "128k", "-ac", "2"])
        .args(["-movflags", "+faststart", "-f", format])
        .arg(&partial)
        .status()
        .await
        .context("running ffmpeg (make setup installs it)")?;
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        bail!("ffmpeg failed to make the sample video {name}");
    }
    std::fs::rename(&partial, &file)?;
    Ok(file)
}

fn sha256_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let len = std::io::copy(&mut file, &mut hasher)?;
    Ok((len, hex::encode(hasher.finalize())))
}

fn bar(done: u64, total: u64) -> String {
    const WIDTH: u64 = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(0).min(WIDTH);
    format!(
        "[{}{}]",
        "#".repeat(filled as usize),
        "-".repeat((WIDTH - filled) as usize)
    )
}

async fn journey(
    world: &World,
    file: &Path,
    text: &str,
    in_secs: Option<u64>,
    platforms: &[Platform],
) -> anyhow::Result<()> {
    let api = &world.runner.http_url;
    // The sub the console's sign-in gives the name USER, so the console shows this journey.
    let user = user_sub(USER);
    let token = world.auth.mint(&user);
    let (size, sha) = sha256_file(file).with_context(|| format!("reading {}", file.display()))?;
    let names: Vec<&str> = platforms.iter().map(|p| p.display_name()).collect();

    println!(
        "\n1. Connect {} (OAuth 2.0 with PKCE, through each one's authorize page and Reelay's callback)",
        names.join(" and ")
    );
    for platform in platforms {
        match platform {
            Platform::Twitter => world.connect(&user).await?,
            Platform::YouTube => world.connect_youtube(&user).await?,
        }
    }
    let connected: serde_json::Value = world
        .http
        .get(format!("{api}/api/platforms"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    for connection in connected["platforms"].as_array().into_iter().flatten() {
        println!(
            "   GET /api/platforms -> {} {} ({}), {}",
            connection["platform"].as_str().unwrap_or("?"),
            connection["name"].as_str().unwrap_or("?"),
            connection["x_user_id"].as_str().unwrap_or("?"),
            connection["status"].as_str().unwrap_or("?")
        );
    }

    println!(
        "\n2. Create the post, and 3. upload the video ({size} bytes, SHA-256 {sha}) with its form"
    );
    // Whole seconds, as the API shows them back.
    let scheduled_at_ms = in_secs.map(|secs| (now_ms() / 1000 + secs as i64) * 1000);
    let mut options = serde_json::json!({
        "platforms": platforms.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
    });
    if platforms.contains(&Platform::YouTube) {
        options["youtube"] = serde_json::json!({ "privacy": "unlisted" });
    }
    if let Some(at) = scheduled_at_ms {
        options["scheduled_at"] = rfc3339(at / 1000).into();
        println!(
            "   scheduled for {} ({} s ahead): uploaded now, posted then",
            rfc3339(at / 1000),
            in_secs.unwrap_or(0)
        );
    }
    let posted = world.post_file(&user, file, text, options).await?;
    let post_id = posted.post_id.to_string();
    let upload = &posted.created["upload"];
    println!(
        "   POST /api/posts -> 201, post {post_id} to {}, upload form valid {}s, for {} up to {} bytes",
        names.join(" and "),
        upload["expires_in_secs"],
        upload["content_type"],
        upload["max_bytes"]
    );
    println!(
        "   POST (multipart/form-data) -> {}; S3 now triggers create-post (pre-flight check), which queues one upload per platform",
        posted.upload_status
    );

    println!("\n4. Progress (GET /api/posts/{post_id}), one line per platform");
    let started = std::time::Instant::now();
    let mut last_lines: Vec<String> = Vec::new();
    let final_view = loop {
        let view: serde_json::Value = world
            .http
            .get(format!("{api}/api/posts/{post_id}"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let status = view["status"].as_str().unwrap_or("?").to_owned();
        let lines: Vec<String> = view["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|target| progress_line(&status, target))
            .collect();
        for (i, line) in lines.iter().enumerate() {
            if last_lines.get(i) != Some(line) {
                println!("{line}");
            }
        }
        std::io::stdout().flush().ok();
        last_lines = lines;
        if matches!(
            status.as_str(),
            "published" | "partially_published" | "failed" | "rejected"
        ) {
            break view;
        }
        if started.elapsed() > Duration::from_secs(300 + in_secs.unwrap_or(0)) {
            bail!("the post did not finish within 5 minutes: {view}");
        }
        // Wake on the runner's next invocation, or after a short bound to show progress.
        let seen = world.runner.log.snapshot().len();
        world
            .runner
            .log
            .wait_until(Duration::from_millis(200), |log| log.len() > seen)
            .await;
    };

    if final_view["status"] != "published" {
        println!("\nThe post ended {}:", final_view["status"]);
        if !final_view["rejection"].is_null() {
            println!("   {}", final_view["rejection"]);
        }
        for target in final_view["targets"].as_array().into_iter().flatten() {
            println!(
                "   {}: {} {}",
                target["platform"], target["phase"], target["error"]
            );
        }
        bail!("the post was not published everywhere");
    }
    let log = world.runner.log.snapshot();
    let count =
        |f: reelay_local::runner::FunctionName| log.iter().filter(|i| i.function == f).count();
    let invocations = count(reelay_local::runner::FunctionName::ProcessUpload);
    println!(
        "\n5. Published in {:.1}s over {invocations} process-upload invocation(s)",
        started.elapsed().as_secs_f64()
    );
    println!(
        "   reconciler sweeps meanwhile: {} (last: {})",
        count(reelay_local::runner::FunctionName::Reconciler),
        log.iter()
            .rev()
            .find(|i| i.function == reelay_local::runner::FunctionName::Reconciler)
            .map_or("none yet", |i| i.outcome.as_str())
    );
    for target in final_view["targets"].as_array().into_iter().flatten() {
        println!(
            "   {:<8} {}",
            target["platform"].as_str().unwrap_or("?"),
            target["url"].as_str().unwrap_or("?")
        );
    }

    let target_of = |platform: Platform| {
        final_view["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["platform"] == platform.as_str())
    };
    if let Some(target) = target_of(Platform::Twitter) {
        check_x(world, target, (size, &sha), scheduled_at_ms).await?;
    }
    if let Some(target) = target_of(Platform::YouTube) {
        check_youtube(world, target, (size, &sha))?;
    }
    Ok(())
}

/// One platform's line of progress.
fn progress_line(status: &str, target: &serde_json::Value) -> String {
    let platform = target["platform"].as_str().unwrap_or("?");
    let phase = target["phase"].as_str().unwrap_or("-");
    if phase == "fitting" {
        let percent = target["fit"]["percent"].as_u64().unwrap_or(0);
        return format!(
            "   {status:<10} {platform:<8} fitting for X {} {percent}%   ({})",
            bar(percent, 100),
            target["fit"]["reason"].as_str().unwrap_or("")
        );
    }
    let (sent, total) = (
        target["bytes_sent"].as_u64().unwrap_or(0),
        target["bytes_total"].as_u64().unwrap_or(0),
    );
    let waiting = target["waiting"]["message"]
        .as_str()
        .map(|m| format!("   waiting: {m}"))
        .unwrap_or_default();
    format!(
        "   {status:<10} {platform:<8} upload {} {:>5.1}/{:.1} MiB   processing {} {:>3}%   phase {phase}{waiting}",
        bar(sent, total),
        sent as f64 / 1_048_576.0,
        total as f64 / 1_048_576.0,
        bar(target["processing_percent"].as_u64().unwrap_or(0), 100),
        target["processing_percent"].as_u64().unwrap_or(0),
    )
}

/// What X (the emulator) received: the file sent (or the one fitted for X), byte for byte, in
/// exactly one post, not before its time.
async fn check_x(
    world: &World,
    target: &serde_json::Value,
    (size, sha): (u64, &str),
    scheduled_at_ms: Option<i64>,
) -> anyhow::Result<()> {
    // A fitted video: X gets the converted file, which is what the comparison is against.
    let (size, sha) = match target["fit"]["fitted_key"].as_str() {
        Some(key) => {
            println!(
                "\n   fitted for X: {} (sent {key})",
                target["fit"]["changes"]
                    .as_array()
                    .map(|c| c
                        .iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()
            );
            let fitted = world
                .aws
                .s3
                .get_object()
                .bucket(&world.stack.bucket_name)
                .key(key)
                .send()
                .await?
                .body
                .collect()
                .await?
                .into_bytes();
            (fitted.len() as u64, hex::encode(Sha256::digest(&fitted)))
        }
        None => (size, sha.to_owned()),
    };

    println!("\n6. What X (the emulator) received");
    let records = world.emulator.admin().records();
    let tweet = records
        .tweets
        .iter()
        .find(|t| Some(t.id.as_str()) == target["remote_id"].as_str())
        .context("the emulator has no such tweet")?;
    let media_id = tweet
        .media_ids
        .first()
        .context("the tweet carries no media")?;
    let media = records
        .media
        .iter()
        .find(|m| &m.id == media_id)
        .context("the emulator has no such media")?;
    let carrying = records
        .tweets
        .iter()
        .filter(|t| t.media_ids.contains(media_id))
        .count();
    println!(
        "   media {media_id}: {} bytes in {} segments, SHA-256 {}",
        media.received_bytes,
        media.segments.len(),
        media.sha256.as_deref().unwrap_or("?")
    );
    println!("   tweets carrying it: {carrying}; text: {:?}", tweet.text);
    if media.sha256.as_deref() != Some(sha.as_str())
        || media.received_bytes != size
        || carrying != 1
    {
        bail!("X did not receive exactly the file, once");
    }
    println!("   = the file sent, byte for byte, in exactly one tweet.");
    if let Some(at) = scheduled_at_ms {
        let delay = tweet.created_at_ms as i64 - at;
        println!(
            "   scheduled for {}; X created it {delay} ms after that{}",
            rfc3339(at / 1000),
            if delay < 0 { " (EARLY)" } else { "" }
        );
        if delay < 0 {
            bail!("the scheduled post reached X before its time");
        }
    }
    Ok(())
}

/// What YouTube (the emulator) received: the original file (YouTube is never sent a fitted
/// one), byte for byte, as exactly one video.
fn check_youtube(
    world: &World,
    target: &serde_json::Value,
    (size, sha): (u64, &str),
) -> anyhow::Result<()> {
    println!("\n7. What YouTube (the emulator) received");
    let records = world.youtube.admin().records();
    let video_id = target["remote_id"].as_str().context("no video id")?;
    let upload = records
        .uploads
        .iter()
        .find(|u| u.video_id.as_deref() == Some(video_id))
        .context("the emulator has no such video")?;
    let same_bytes = records
        .uploads
        .iter()
        .filter(|u| u.video_id.is_some() && u.sha256.as_deref() == Some(sha))
        .count();
    println!(
        "   video {video_id}: {} bytes in {} chunk(s) over {} session(s), SHA-256 {}",
        upload.bytes_held,
        upload.chunks.len(),
        target["recent_attempts"].as_array().map_or(1, |a| a
            .iter()
            .filter(|a| a["step"] == "start session")
            .count()
            .max(1)),
        upload.sha256.as_deref().unwrap_or("?")
    );
    println!(
        "   title {:?}, privacy {}; videos with these bytes: {same_bytes}",
        upload.metadata["snippet"]["title"].as_str().unwrap_or("?"),
        upload.metadata["status"]["privacyStatus"]
    );
    if upload.sha256.as_deref() != Some(sha) || upload.bytes_held != size || same_bytes != 1 {
        bail!("YouTube did not receive exactly the file, once");
    }
    println!("   = the original file, byte for byte, as exactly one video.");
    Ok(())
}

fn now_ms() -> i64 {
    use reelay_shared::clock::Clock as _;
    reelay_shared::clock::SystemClock.now_ms()
}
