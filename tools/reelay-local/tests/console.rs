//! The web console in a real browser (issue 13): Debian's headless Chromium, driven by
//! `console/tests/browser.mjs` (playwright-core), against the whole local world: the gateway
//! serving the console and its sign-in page, moto's S3 taking the browser's upload, create-post's
//! pre-flight, the worker, and the X emulator's consent and media API.
//!
//! The journey: sign in; connect X through the emulator's consent; the live count and the
//! browser's file checks; a real ffmpeg-made video uploaded with its progress bar moving, X's
//! upload and processing bars moving, and the published link; a 141 s video rejected with its
//! reason; X withdrawing "Upload media" (done here, when the script asks), the post failing with
//! what to do, Platforms showing "needs reconnecting", reconnecting, and Retry publishing it;
//! then a scheduled post (issue 15): "Publish at" refused in the past, sent with the browser's
//! offset (+05:30), "Scheduled for" in the list, its time changed and the post cancelled (its
//! upload is cut off in the browser, so it never reaches X whatever the engine does).
//! This side then checks X (the emulator) really holds the two posts with their media.
//!
//! Screenshots of each view go to `target/console-screenshots` (a run must not dirty the work
//! tree); `REELAY_SCREENSHOTS=docs/screenshots` refreshes the README's.
//!
//! Run: `bash tools/scripts/with-moto.sh cargo test -p reelay-local --test console` (after
//! `make setup`, which installs node's packages, the twitter-text bundle and Chromium).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reelay_local::harness::moto_endpoint;
use reelay_local::moto::repo_root;
use reelay_local::world::{World, WorldOptions};
use x_emulator::faults::{FaultKind, FaultSpec};

/// The whole journey, sign-in to the retried post: three uploads and a reconnect.
const JOURNEY_LIMIT: Duration = Duration::from_secs(300);

fn workdir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-browser");
    std::fs::create_dir_all(&dir).expect("create the work folder");
    dir
}

fn ffmpeg(name: &str, args: &[&str]) -> PathBuf {
    let out = workdir().join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .args(["-threads", "2"])
        .arg(&out)
        .status()
        .expect("ffmpeg is installed (tools/scripts/setup.sh installs it)");
    assert!(status.success(), "ffmpeg failed making {name}");
    out
}

/// A real clip X takes: H.264 + AAC, 640x360, 8 s, about 6 MB (big enough for the bars to move
/// through several S3 progress events and several waves of segments to X).
#[rustfmt::skip]
fn good_video() -> PathBuf {
    // Noise keeps the encoder from squeezing the clip below the size the bars need.
    ffmpeg(
        "launch.mp4",
        &[
            "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30:duration=8",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=8",
            "-vf", "noise=alls=30:allf=t",
            "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "6M", "-maxrate", "6M",
            "-bufsize", "2M", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart",
        ],
    )
}

/// An MP4 the browser cannot judge (its type and size are fine) but Reelay's pre-flight refuses:
/// 141 s, one more than X allows.
#[rustfmt::skip]
fn too_long_video() -> PathBuf {
    ffmpeg(
        "too-long.mp4",
        &[
            "-f", "lavfi", "-i", "testsrc=size=64x48:rate=1:duration=141",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_connects_x_posts_a_video_and_recovers_from_a_missing_permission() {
    let world = World::start(
        &moto_endpoint(),
        WorldOptions {
            label: "console".into(),
            // create-post's segments (its SEGMENT_SIZE_BYTES): 512 KiB, so the 6 MB clip goes to
            // X in twelve segments, four at a time (PARALLEL_APPENDS' default): three waves the
            // console's one-second polls can show apart.
            extra_env: vec![("SEGMENT_SIZE_BYTES".into(), (512 * 1024).to_string())],
            ..WorldOptions::default()
        },
    )
    .await
    .expect("the local world");
    // X is slow to take each segment, as over a real link, so the console's upload-to-X bar
    // has something to show between its polls (a wave of four lands about every second).
    world
        .emulator
        .admin()
        .add_fault(FaultSpec {
            endpoint: "media_append".into(),
            kind: FaultKind::Latency { ms: 1000 },
            count: None,
            phase: Default::default(),
        })
        .expect("latency fault");

    let good = good_video();
    let bad = too_long_video();
    let not_a_video = workdir().join("notes.txt");
    std::fs::write(&not_a_video, "not a video").unwrap();
    let screenshots = std::env::var("REELAY_SCREENSHOTS")
        .map(|dir| repo_root().join(dir))
        .unwrap_or_else(|_| repo_root().join("target/console-screenshots"));

    let mut child = Command::new("node")
        .arg(repo_root().join("console/tests/browser.mjs"))
        .current_dir(repo_root().join("console"))
        .env("CONSOLE_URL", world.console_url())
        .env("GOOD_VIDEO", &good)
        .env("BAD_VIDEO", &bad)
        .env("NOT_A_VIDEO", &not_a_video)
        .env("SCREENSHOTS", &screenshots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (make setup installs the console's packages)");
    let mut to_browser = child.stdin.take().unwrap();
    let from_browser = child.stdout.take().unwrap();

    // The script's lines arrive on a thread; the steps it asks for are done here, in the world.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from_browser).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut published = None;
    let mut steps = Vec::new();
    loop {
        let left = JOURNEY_LIMIT.saturating_sub(started.elapsed());
        let line = match tokio::time::timeout(left, lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(_) => {
                let _ = child.kill();
                panic!("the browser journey took longer than {JOURNEY_LIMIT:?}");
            }
        };
        println!("{line}");
        if let Some(step) = line.strip_prefix("@@step ") {
            match step {
                "withdraw-media-write" => {
                    // As X does for tokens granted before the app asked for media.write.
                    let x_user = world.emulator.admin().config().default_user_id;
                    let n = world
                        .emulator
                        .admin()
                        .withdraw_scope(&x_user, "media.write");
                    assert!(n > 0, "the connected account had tokens with media.write");
                }
                other => panic!("the browser asked for an unknown step {other:?}"),
            }
            steps.push(step.to_owned());
            writeln!(to_browser, "ok").unwrap();
        } else if let Some(ids) = line.strip_prefix("@@published ") {
            published = Some(ids.split(' ').map(str::to_owned).collect::<Vec<_>>());
        }
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the browser journey failed ({status}); see its output above and {}/failure.png",
        screenshots.display()
    );
    assert_eq!(steps, ["withdraw-media-write"]);
    let published = published.expect("the script names the posts it saw published");
    assert_eq!(published.len(), 2);

    // What the browser showed is what X holds: the two posts, each with its video.
    let records = world.emulator.admin().records();
    let texts: Vec<&str> = records.tweets.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(
        texts,
        ["Launch day 🎉 https://example.com/launch", "Second clip"],
        "{texts:?}"
    );
    assert!(records.tweets.iter().all(|t| t.media_ids.len() == 1));
    for view in [
        "new-post",
        "post",
        "platforms-needs-reconnecting",
        "platforms",
        "posts",
        "post-scheduled",
    ] {
        let shot = screenshots.join(format!("{view}.png"));
        assert!(shot.exists(), "{} was not written", shot.display());
    }
}
