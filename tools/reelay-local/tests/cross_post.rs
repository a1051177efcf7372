//! Issue 17: one post to X and YouTube through the same engine, end to end over moto, the X
//! emulator and the YouTube emulator. Each test checks what the platforms hold: YouTube's
//! assembled bytes (SHA-256) and its number of videos, X's media and posts.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reelay_local::checks::{assert_published_once, sha256_hex};
use reelay_local::crashes::CrashOnce;
use reelay_local::harness::moto_endpoint;
use reelay_local::world::{World, WorldOptions};
use reelay_shared::engine::EngineSettings;
use reelay_shared::ids::PostId;
use reelay_shared::jobs::{Phase, UploadJob};
use reelay_shared::platforms::youtube::quota::next_quota_reset_ms;
use reelay_shared::ports::StepPoint;
use reelay_shared::posts::Platform;
use serde_json::{json, Value};
use youtube_emulator::{FaultKind, FaultSpec, Phase as FaultPhase, ProcessingOutcome};

const USER: &str = "crosser";
const LIMIT: Duration = Duration::from_secs(180);

fn quick_engine() -> EngineSettings {
    EngineSettings {
        deadline_margin_ms: 700,
        initial_segment_estimate_ms: 500,
        backoff_base_secs: 1,
        backoff_cap_secs: 2,
        publish_settle_ms: 500,
        ..EngineSettings::default()
    }
}

/// A world whose user connected X and YouTube through the real OAuth flows.
async fn connected_world(label: &str, tweak: impl FnOnce(&mut WorldOptions)) -> World {
    let mut options = WorldOptions {
        label: label.into(),
        engine: quick_engine(),
        emulator: x_emulator::EmulatorConfig {
            processing: x_emulator::ProcessingMode::Polls { steps: 1 },
            check_after_secs: 1,
            ..x_emulator::EmulatorConfig::default()
        },
        reconcile_period: None,
        ..WorldOptions::default()
    };
    tweak(&mut options);
    let world = World::start(&moto_endpoint(), options).await.unwrap();
    world.connect(USER).await.unwrap();
    world.connect_youtube(USER).await.unwrap();
    world
}

/// A clip made once with ffmpeg: `seconds` of 160x120 H.264 at `fps` (141 s at 1 fps is too long
/// for X and fine for YouTube).
fn clip(name: &str, seconds: u32, fps: u32) -> std::path::PathBuf {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = reelay_local::moto::repo_root().join("target/test-clips/cross-post");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    });
    let out = dir.join(name);
    if !out.exists() {
        let src = format!("testsrc=size=160x120:rate={fps}:duration={seconds}");
        let status = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i", &src])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ])
            .arg(&out)
            .status()
            .expect("ffmpeg is installed (tools/scripts/setup.sh installs it)");
        assert!(status.success(), "ffmpeg failed making {name}");
    }
    out
}

/// The target of `platform` in a post view.
fn target<'a>(view: &'a Value, platform: &str) -> &'a Value {
    view["targets"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["platform"] == platform))
        .unwrap_or_else(|| panic!("no {platform} target in {view}"))
}

/// YouTube holds exactly one video of `file`, byte for byte, and it is the job's.
fn assert_on_youtube_once(world: &World, job: &UploadJob, file: &[u8]) {
    assert_eq!(
        job.phase,
        Phase::Published,
        "YouTube job ended {:?}: {:?}\n{:#?}",
        job.phase,
        job.error,
        job.history
    );
    let records = world.youtube.admin().records();
    let sha = sha256_hex(file);
    let complete: Vec<_> = records
        .uploads
        .iter()
        .filter(|u| u.video_id.is_some())
        .collect();
    assert_eq!(complete.len(), 1, "videos on YouTube: {complete:#?}");
    assert_eq!(complete[0].sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(complete[0].video_id, job.remote_post_id);
    assert_eq!(
        job.remote_post_url.as_deref(),
        Some(
            format!(
                "https://www.youtube.com/watch?v={}",
                job.remote_post_id.as_deref().unwrap()
            )
            .as_str()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_post_reaches_x_and_youtube_once_each_byte_for_byte() {
    let world = connected_world("cross", |_| {}).await;
    let file = clip("ok.mp4", 2, 30);
    let bytes = std::fs::read(&file).unwrap();
    let options = json!({
        "platforms": ["twitter", "youtube"],
        "youtube": {"title": "Harbour at dawn", "privacy": "unlisted", "category_id": "22"}
    });
    let posted = world
        .post_file(USER, &file, "Harbour at dawn\nfrom the pier", options)
        .await
        .unwrap();
    let view = world
        .wait_for_post(USER, &posted.post_id, LIMIT)
        .await
        .unwrap();
    assert_eq!(view["status"], "published", "{view:#}");
    let youtube = target(&view, "youtube");
    let video_id = youtube["remote_id"].as_str().expect("a video id");
    assert_eq!(
        youtube["url"],
        format!("https://www.youtube.com/watch?v={video_id}")
    );
    assert_eq!(youtube["tweet_id"], Value::Null);
    assert_eq!(youtube["bytes_sent"], bytes.len());
    assert!(target(&view, "twitter")["url"].is_string(), "{view:#}");
    assert!(
        !view.to_string().contains("upload_id"),
        "the session URI (a credential) never reaches the API: {view}"
    );

    let x_job = world
        .job_on(USER, &posted.post_id, Platform::Twitter)
        .await
        .unwrap();
    assert_published_once(&world, &x_job, &bytes);
    let yt_job = world
        .job_on(USER, &posted.post_id, Platform::YouTube)
        .await
        .unwrap();
    assert_on_youtube_once(&world, &yt_job, &bytes);
    let metadata = &world.youtube.admin().records().uploads[0].metadata;
    assert_eq!(metadata["snippet"]["title"], "Harbour at dawn");
    assert_eq!(
        metadata["snippet"]["description"],
        "Harbour at dawn\nfrom the pier"
    );
    assert_eq!(metadata["snippet"]["categoryId"], "22");
    assert_eq!(metadata["status"]["privacyStatus"], "unlisted");
    world.runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_too_long_for_x_still_goes_to_youtube_and_the_post_says_partially_published() {
    let world = connected_world("too-long", |_| {}).await;
    let file = clip("long.mp4", 141, 1);
    let bytes = std::fs::read(&file).unwrap();
    let posted = world
        .post_file(
            USER,
            &file,
            "the whole talk",
            json!({"platforms": ["x", "youtube"]}),
        )
        .await
        .unwrap();
    let view = world
        .wait_for_post(USER, &posted.post_id, LIMIT)
        .await
        .unwrap();
    assert_eq!(view["status"], "partially_published", "{view:#}");
    let x = target(&view, "twitter");
    assert_eq!(x["phase"], "failed");
    assert_eq!(x["error"]["code"], "media_rejected");
    assert!(
        x["error"]["message"]
            .as_str()
            .unwrap()
            .contains("video is 141.0 s; X allows at most 140 s"),
        "{x}"
    );
    assert!(
        world.emulator.admin().records().media.is_empty(),
        "nothing was sent to X"
    );
    let yt_job = world
        .job_on(USER, &posted.post_id, Platform::YouTube)
        .await
        .unwrap();
    assert_on_youtube_once(&world, &yt_job, &bytes);
    // The title defaulted to the text's first line; privacy to private.
    let metadata = &world.youtube.admin().records().uploads[0].metadata;
    assert_eq!(metadata["snippet"]["title"], "the whole talk");
    assert_eq!(metadata["status"]["privacyStatus"], "private");
    world.runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn youtube_rejecting_the_video_fails_that_target_with_its_reason_while_x_publishes() {
    let world = connected_world("rejected", |o| {
        o.youtube.processing_outcome = ProcessingOutcome::Rejected {
            reason: "duplicate".into(),
        };
    })
    .await;
    let file = clip("dup.mp4", 2, 30);
    let bytes = std::fs::read(&file).unwrap();
    let posted = world
        .post_file(
            USER,
            &file,
            "again",
            json!({"platforms": ["twitter", "youtube"]}),
        )
        .await
        .unwrap();
    let view = world
        .wait_for_post(USER, &posted.post_id, LIMIT)
        .await
        .unwrap();
    assert_eq!(view["status"], "partially_published", "{view:#}");
    let youtube = target(&view, "youtube");
    assert_eq!(youtube["phase"], "failed");
    assert_eq!(youtube["error"]["code"], "media_processing_failed");
    assert_eq!(
        youtube["error"]["message"],
        "YouTube rejected the video (duplicate)"
    );
    let x_job = world
        .job_on(USER, &posted.post_id, Platform::Twitter)
        .await
        .unwrap();
    assert_published_once(&world, &x_job, &bytes);
    world.runner.stop().await;
}

/// A YouTube-only upload started directly (the pre-flight is X's business); its final job.
async fn youtube_upload(world: &World, bytes: &[u8], text: &str) -> (PostId, UploadJob) {
    let post = world
        .start_upload_on(USER, bytes.to_vec(), text, Platform::YouTube)
        .await
        .unwrap();
    let job = world
        .wait_until_final_on(USER, &post, Platform::YouTube, LIMIT)
        .await
        .unwrap();
    (post, job)
}

fn clear_youtube(world: &World) {
    world.youtube.admin().clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_every_youtube_step_resumes_and_makes_exactly_one_video() {
    let crashes = Arc::new(CrashOnce::default());
    let world = connected_world("yt-crash", |o| {
        o.worker_deadline = Duration::from_secs(3);
        o.visibility_timeout_secs = Some(4);
        o.crashes = crashes.clone();
        o.segment_size = 256 * 1024;
    })
    .await;
    for (n, point) in [
        StepPoint::AfterInitialize,
        StepPoint::AfterAppend,
        StepPoint::AfterStatus,
    ]
    .into_iter()
    .enumerate()
    {
        crashes.arm(point);
        let bytes = x_emulator::testing::tiny_mp4(1024 * 1024 + n * 1000);
        let before = world.youtube.admin().records().uploads.len();
        let (_, job) = youtube_upload(&world, &bytes, &format!("crash at {point:?}")).await;
        assert_eq!(crashes.fired(), n as u32 + 1, "{point:?}");
        let records = world.youtube.admin().records();
        let videos: Vec<_> = records.uploads[before..]
            .iter()
            .filter(|u| u.video_id.is_some())
            .collect();
        assert_eq!(videos.len(), 1, "one video after a crash at {point:?}");
        assert_eq!(
            videos[0].sha256.as_deref(),
            Some(sha256_hex(&bytes).as_str())
        );
        assert_eq!(job.phase, Phase::Published, "{:?}", job.error);
        assert_eq!(videos[0].video_id, job.remote_post_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shorter_range_resumes_from_the_servers_offset_and_an_expired_session_starts_over() {
    let world = connected_world("yt-session", |o| {
        o.segment_size = 512 * 1024;
    })
    .await;
    let bytes = x_emulator::testing::tiny_mp4(2 * 1024 * 1024 + 77);
    let admin = world.youtube.admin();
    admin
        .add_fault(FaultSpec {
            endpoint: "chunk".into(),
            kind: FaultKind::ShortRange,
            count: Some(2),
            phase: FaultPhase::Before,
        })
        .unwrap();
    let (_, job) = youtube_upload(&world, &bytes, "short ranges").await;
    assert_on_youtube_once(&world, &job, &bytes);
    let upload = &admin.records().uploads[0];
    // Two chunks were half kept: the engine sent their rest again from the server's offset.
    assert!(upload.chunks.len() >= 6, "{:#?}", upload.chunks);
    let progress = job.resumable.as_ref().unwrap();
    assert_eq!(progress.sessions_started, 1);

    clear_youtube(&world);
    admin
        .add_fault(FaultSpec {
            endpoint: "chunk".into(),
            kind: FaultKind::ExpireSession,
            count: Some(1),
            phase: FaultPhase::Before,
        })
        .unwrap();
    let before = admin.records().uploads.len();
    let (_, job) = youtube_upload(&world, &bytes, "an expired session").await;
    assert_eq!(
        job.phase,
        Phase::Published,
        "{:?}\n{:#?}",
        job.error,
        job.history
    );
    assert_eq!(job.resumable.as_ref().unwrap().sessions_started, 2);
    let records = admin.records();
    let ours = &records.uploads[before..];
    assert_eq!(ours.len(), 2, "a second session after the first expired");
    assert!(ours[0].video_id.is_none());
    assert_eq!(ours[1].sha256.as_deref(), Some(sha256_hex(&bytes).as_str()));
    world.runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_exceeded_waits_until_midnight_pacific_and_the_post_says_when() {
    let world = connected_world("yt-quota", |_| {}).await;
    world
        .youtube
        .admin()
        .add_fault(FaultSpec {
            endpoint: "start".into(),
            kind: FaultKind::QuotaExceeded,
            count: None,
            phase: FaultPhase::Before,
        })
        .unwrap();
    let bytes = x_emulator::testing::tiny_mp4(300 * 1024);
    let asked_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let post = world
        .start_upload_on(USER, bytes, "over quota", Platform::YouTube)
        .await
        .unwrap();
    let job = world
        .wait_for_job_on(
            USER,
            &post,
            Platform::YouTube,
            LIMIT,
            |j| j.error.is_some() || j.phase.is_final(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(
        job.phase,
        Phase::Queued,
        "still to do, not failed: {:?}",
        job.error
    );
    let error = job.error.as_ref().unwrap();
    assert_eq!(error.code, "youtube_quota_exceeded");
    let reset = next_quota_reset_ms(asked_at);
    let reset_text = reelay_shared::clock::rfc3339(reset / 1000);
    assert!(error.message.contains(&reset_text), "{}", error.message);
    // The wait runs to the reset (one second past it), in delayed links of the queue.
    let until = job
        .wait_until_ms
        .expect("a wait longer than one queue delay");
    assert!(
        (reset..=reset + 5_000).contains(&until),
        "{until} vs {reset}"
    );
    let view = world.post_view(USER, &post).await.unwrap();
    let youtube = target(&view, "youtube");
    assert_eq!(youtube["waiting"]["code"], "youtube_quota_exceeded");
    assert!(youtube["waiting"]["message"]
        .as_str()
        .unwrap()
        .contains("midnight Pacific"));
    assert!(
        world.youtube.admin().records().uploads.is_empty(),
        "no session was started"
    );
    world.runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_youtube_refresh_token_needs_reconnecting_youtube_and_leaves_x_alone() {
    let world = connected_world("yt-revoked", |_| {}).await;
    let admin = world.youtube.admin();
    // The user revoked Reelay's access at Google (its revoke endpoint, as "Remove access" in
    // the Google account does), and the access token has since expired.
    let records = admin.records();
    let refresh = records
        .oauth
        .tokens
        .iter()
        .find(|t| t.kind == "refresh")
        .expect("the connect was granted a refresh token");
    let revoked = world
        .http
        .post(format!("{}/revoke", world.youtube.base_url()))
        .form(&[("token", refresh.token.as_str())])
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    admin.advance_clock(2 * 3600);
    let file = clip("revoked.mp4", 2, 30);
    let bytes = std::fs::read(&file).unwrap();
    let posted = world
        .post_file(
            USER,
            &file,
            "after revoking",
            json!({"platforms": ["twitter", "youtube"]}),
        )
        .await
        .unwrap();
    let view = world
        .wait_for_post(USER, &posted.post_id, LIMIT)
        .await
        .unwrap();
    assert_eq!(view["status"], "partially_published", "{view:#}");
    let youtube = target(&view, "youtube");
    assert_eq!(youtube["error"]["code"], "reconnect_required", "{youtube}");
    assert!(
        youtube["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Connect YouTube again"),
        "{youtube}"
    );
    let x_job = world
        .job_on(USER, &posted.post_id, Platform::Twitter)
        .await
        .unwrap();
    assert_published_once(&world, &x_job, &bytes);

    let platforms: Value = world
        .http
        .get(format!("{}/api/platforms", world.runner.http_url))
        .bearer_auth(world.auth.mint(USER))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status_of = |name: &str| {
        platforms["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["platform"] == name)
            .map(|p| p["status"].clone())
    };
    assert_eq!(
        status_of("youtube"),
        Some(json!("needs_reconnect")),
        "{platforms}"
    );
    assert_eq!(status_of("twitter"), Some(json!("active")), "{platforms}");
    world.runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_the_last_chunk_then_an_expired_session_stops_unconfirmed_not_twice() {
    let world = connected_world("yt-unconfirmed", |_| {}).await;
    let admin = world.youtube.admin();
    // The only chunk is stored and the video made, but the answer is a 500; the session then
    // answers 404 to the question that follows. A new session would make a second video.
    for (endpoint, kind, phase) in [
        ("chunk", FaultKind::Fail { status: 500 }, FaultPhase::After),
        ("status_query", FaultKind::ExpireSession, FaultPhase::Before),
    ] {
        admin
            .add_fault(FaultSpec {
                endpoint: endpoint.into(),
                kind,
                count: Some(1),
                phase,
            })
            .unwrap();
    }
    let bytes = x_emulator::testing::tiny_mp4(100 * 1024);
    let (post, job) = youtube_upload(&world, &bytes, "answer lost").await;
    assert_eq!(
        job.phase,
        Phase::Unconfirmed,
        "{:?}\n{:#?}",
        job.error,
        job.history
    );
    let error = job.error.as_ref().unwrap();
    assert_eq!(error.code, "upload_unconfirmed");
    assert!(error.retryable);
    assert!(
        error.message.contains("Check your channel"),
        "{}",
        error.message
    );
    let records = admin.records();
    let videos: Vec<_> = records
        .uploads
        .iter()
        .filter(|u| u.video_id.is_some())
        .collect();
    assert_eq!(
        videos.len(),
        1,
        "one video, never a second: {:#?}",
        records.uploads
    );
    assert_eq!(records.uploads.len(), 1, "no second session was started");
    let view = world.post_view(USER, &post).await.unwrap();
    assert_eq!(view["status"], "unconfirmed", "{view:#}");
    world.runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_started_for_x_cannot_finish_on_youtubes_callback_and_a_channel_links_to_one_user(
) {
    let world = connected_world("yt-links", |_| {}).await;
    let api = &world.runner.http_url;
    let bearer = world.auth.mint("mallory");
    // Mallory starts connecting X and approves at X; the callback URL X sends her to is then
    // brought, with her binding cookie, to YouTube's callback instead.
    let start = world
        .http
        .get(format!("{api}/api/auth/platforms/twitter/connect"))
        .bearer_auth(&bearer)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert!(start.status().is_success());
    let cookie: String = start.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body: Value = start.json().await.unwrap();
    let consent = world
        .http
        .get(body["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let x_callback = url::Url::parse(consent.headers()["location"].to_str().unwrap()).unwrap();
    let swapped = format!(
        "{api}/api/auth/platforms/youtube/callback?{}",
        x_callback.query().unwrap()
    );
    let answer = world
        .http
        .get(&swapped)
        .header("cookie", &cookie)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let problem: Value = answer.json().await.unwrap();
    assert_eq!(problem["type"], "unknown_state", "{problem}");
    // The state is spent: X's own callback refuses it now too, and nothing was linked.
    let again = world
        .http
        .get(x_callback.as_str())
        .header("cookie", &cookie)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    let platforms: Value = world
        .http
        .get(format!("{api}/api/platforms"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(platforms["platforms"], json!([]), "{platforms}");

    // The emulator's one Google user's channel is already USER's: a second Reelay user cannot
    // link it (one channel, one user), and USER's connection is untouched.
    // (The callback sends the browser back to the console with `error=x_account_linked_elsewhere`;
    // what counts is what is stored.)
    world.connect_youtube("bob").await.unwrap();
    let bobs: Value = world
        .http
        .get(format!("{api}/api/platforms"))
        .bearer_auth(world.auth.mint("bob"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        bobs["platforms"],
        json!([]),
        "bob linked USER's channel: {bobs}"
    );
    let theirs: Value = world
        .http
        .get(format!("{api}/api/platforms"))
        .bearer_auth(world.auth.mint(USER))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let youtube = theirs["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["platform"] == "youtube")
        .cloned();
    assert_eq!(
        youtube.map(|p| p["status"].clone()),
        Some(json!("active")),
        "{theirs}"
    );
    world.runner.stop().await;
}
