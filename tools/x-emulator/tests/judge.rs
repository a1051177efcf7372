//! The emulator's processing judges videos with ffprobe (src/judge.rs);
//! Reelay's pre-flight (`video_preflight`) judges them from the MP4 boxes.
//! Each clip here is made with ffmpeg at test time (the cases of
//! shared/video-preflight/tests/preflight.rs), uploaded through the
//! emulator's HTTP API (INIT, APPEND, FINALIZE, STATUS), and checked by the
//! pre-flight on the same bytes: both must pass good clips and both must
//! refuse bad ones for compatible reasons.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use video_preflight::{inspect, BytesReader, Limits, PreflightError};
use x_emulator::testing::{tiny_mp4, TINY_MP4_OVERHEAD};
use x_emulator::{Emulator, EmulatorConfig, MintRequest, ProcessingMode};

const USER: &str = "1072250532645998596";

// ---------------------------------------------------------------- clips

fn ffmpeg_available() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        for tool in ["ffmpeg", "ffprobe"] {
            let ok = Command::new(tool)
                .arg("-version")
                .output()
                .is_ok_and(|o| o.status.success());
            // Fail loudly: a skipped media test would pass without checking anything.
            assert!(
                ok,
                "{tool} is not installed or not on PATH; these tests make their videos with \
                 ffmpeg and the emulator judges them with ffprobe (apt-get install ffmpeg)"
            );
        }
    });
}

fn workdir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("x-emulator-judge");
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// Runs ffmpeg with lavfi sources into `name` and returns the file's bytes.
fn clip(name: &str, args: &[&str]) -> Vec<u8> {
    ffmpeg_available();
    let out = workdir().join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .args(["-threads", "1"])
        .arg(&out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg failed making {name}: {args:?}");
    std::fs::read(&out).expect("read clip")
}

/// H.264 video (+ extra args) from testsrc, as preflight.rs makes them.
fn video(name: &str, size: &str, rate: &str, duration: &str, extra: &[&str]) -> Vec<u8> {
    let src = format!("testsrc=size={size}:rate={rate}:duration={duration}");
    let mut args = vec!["-f", "lavfi", "-i", &src];
    args.extend_from_slice(extra);
    if !extra.contains(&"-c:v") {
        args.extend_from_slice(&["-c:v", "libx264", "-preset", "ultrafast"]);
    }
    if !extra.contains(&"-pix_fmt") {
        args.extend_from_slice(&["-pix_fmt", "yuv420p"]);
    }
    clip(name, &args)
}

/// H.264 + AAC mono (or the audio options in `extra`).
fn av(name: &str, size: &str, duration: &str, extra: &[&str]) -> Vec<u8> {
    let sine = format!("sine=frequency=440:duration={duration}");
    let mut args = vec!["-f", "lavfi", "-i", &sine];
    args.extend_from_slice(extra);
    if !extra.contains(&"-c:a") {
        args.extend_from_slice(&["-c:a", "aac"]);
    }
    video(name, size, "30", duration, &args)
}

// ---------------------------------------------------------------- the two judges

fn http() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// What the emulator's processing said: `Ok(())` or `processing_info.error`.
async fn emulator_verdict(bytes: &[u8], media_type: &str) -> Result<(), Value> {
    emulator_verdict_with(EmulatorConfig::default(), bytes, media_type).await
}

async fn emulator_verdict_with(
    config: EmulatorConfig,
    bytes: &[u8],
    media_type: &str,
) -> Result<(), Value> {
    let emu = Emulator::start(EmulatorConfig {
        processing: ProcessingMode::Polls { steps: 2 },
        ..config
    })
    .await
    .expect("emulator starts");
    let tok = emu
        .admin()
        .mint_token(&MintRequest {
            user_id: USER.into(),
            scopes: vec!["media.write".into()],
            client_id: None,
        })
        .expect("mint")
        .access_token;
    let base = &emu.base_url;
    let http = http();
    let r = http
        .post(format!("{base}/2/media/upload/initialize"))
        .bearer_auth(&tok)
        .json(
            &json!({"media_type": media_type, "total_bytes": bytes.len(),
                      "media_category": "amplify_video"}),
        )
        .send()
        .await
        .expect("init");
    assert_eq!(r.status(), StatusCode::OK, "INIT");
    let v: Value = r.json().await.expect("init json");
    let id = v["data"]["id"].as_str().expect("media id").to_string();
    for (i, chunk) in bytes.chunks(1 << 20).enumerate() {
        let form = reqwest::multipart::Form::new()
            .text("segment_index", i.to_string())
            .part(
                "media",
                reqwest::multipart::Part::bytes(chunk.to_vec()).file_name("v"),
            );
        let r = http
            .post(format!("{base}/2/media/upload/{id}/append"))
            .bearer_auth(&tok)
            .multipart(form)
            .send()
            .await
            .expect("append");
        assert!(r.status().is_success(), "APPEND {}", r.status());
    }
    let r = http
        .post(format!("{base}/2/media/upload/{id}/finalize"))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("finalize");
    assert_eq!(r.status(), StatusCode::OK, "FINALIZE");
    let v: Value = r.json().await.expect("finalize json");
    assert_eq!(v["data"]["processing_info"]["state"], "pending", "{v}");
    for _ in 0..10 {
        let r = http
            .get(format!(
                "{base}/2/media/upload?command=STATUS&media_id={id}"
            ))
            .bearer_auth(&tok)
            .send()
            .await
            .expect("status");
        assert_eq!(r.status(), StatusCode::OK, "STATUS");
        let v: Value = r.json().await.expect("status json");
        let info = &v["data"]["processing_info"];
        match info["state"].as_str() {
            Some("succeeded") => {
                assert_eq!(info["progress_percent"], 100);
                assert!(info.get("error").is_none(), "{v}");
                return Ok(());
            }
            Some("failed") => {
                assert_eq!(info["progress_percent"], 100);
                return Err(info["error"].clone());
            }
            Some("pending" | "in_progress") => {}
            other => panic!("unexpected processing state {other:?}: {v}"),
        }
    }
    panic!("processing did not finish within 10 polls");
}

/// Reelay's pre-flight with its default limits: `Ok(())` or the rejection code.
async fn preflight_verdict(bytes: &[u8]) -> Result<(), &'static str> {
    match inspect(
        &BytesReader(Bytes::copy_from_slice(bytes)),
        &Limits::default(),
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(PreflightError::Rejected(r)) => Err(r.code()),
        Err(e) => panic!("pre-flight could not read bytes in memory: {e:?}"),
    }
}

/// The pre-flight rejection codes that mean the same as an emulator failure.
fn compatible_rejections(message: &str) -> &'static [&'static str] {
    let table: &[(&str, &[&str])] = &[
        (
            "file is invalid",
            &[
                "not_mp4",
                "malformed",
                "no_video_track",
                "truncated",
                "missing_moov",
                "unverifiable",
                "fragmented",
                "empty",
            ],
        ),
        ("Duration", &[]), // split below
        ("Video codec ", &["video_codec"]),
        ("Video pixel format ", &["chroma_format", "bit_depth"]),
        ("Video profile ", &["chroma_format", "bit_depth"]),
        ("Video scan type ", &["interlaced"]),
        ("Video pixel aspect ratio ", &["pixel_aspect"]),
        ("Video aspect ratio ", &["aspect_ratio"]),
        ("Video frame rate ", &["frame_rate"]),
        ("Video GOP ", &["gop_too_long"]),
        ("Audio codec ", &["audio_codec"]),
        ("Audio profile ", &["audio_profile"]),
        ("Audio channels ", &["audio_channels"]),
    ];
    if message.starts_with("Duration ") {
        return if message.contains(" exceeds ") {
            &["too_long"]
        } else {
            &["too_short"]
        };
    }
    if message.starts_with("Video dimensions ") {
        return if message.contains(" exceed ") {
            &["dimensions_too_large"]
        } else {
            &["dimensions_too_small"]
        };
    }
    table
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map(|(_, codes)| *codes)
        .unwrap_or_else(|| panic!("no pre-flight counterpart known for {message:?}"))
}

enum Expect {
    Pass,
    /// The emulator's exact `processing_info.error` (code, name, message).
    Fail(u32, &'static str, &'static str),
}

/// Judges `bytes` both ways and checks the two verdicts against `expect` and
/// against each other.
async fn agree(name: &str, bytes: &[u8], expect: Expect) {
    agree_as(name, bytes, "video/mp4", expect).await;
}

async fn agree_as(name: &str, bytes: &[u8], media_type: &str, expect: Expect) {
    let emulator = emulator_verdict(bytes, media_type).await;
    let preflight = preflight_verdict(bytes).await;
    println!("{name}: emulator {emulator:?}, pre-flight {preflight:?}");
    match expect {
        Expect::Pass => {
            assert_eq!(emulator, Ok(()), "{name}: the emulator should pass it");
            assert_eq!(preflight, Ok(()), "{name}: the pre-flight should pass it");
        }
        Expect::Fail(code, error_name, message) => {
            assert_eq!(
                emulator,
                Err(json!({"code": code, "name": error_name, "message": message})),
                "{name}: the emulator's processing error"
            );
            let Err(rejection) = preflight else {
                panic!("{name}: the emulator refuses it ({message}) but the pre-flight passes it");
            };
            let compatible = compatible_rejections(message);
            assert!(
                compatible.contains(&rejection),
                "{name}: the emulator says {message:?}, the pre-flight says {rejection:?} \
                 (compatible: {compatible:?})"
            );
        }
    }
}

// ---------------------------------------------------------------- good videos

#[tokio::test]
async fn h264_aac_720p_30fps_stereo_passes_both() {
    let bytes = av("good-720p.mp4", "1280x720", "2", &["-ac", "2"]);
    agree("720p H.264/AAC stereo 30 fps", &bytes, Expect::Pass).await;
}

#[tokio::test]
async fn portrait_720x1280_passes_both() {
    let bytes = av("good-portrait.mp4", "720x1280", "1", &[]);
    agree("portrait 720x1280", &bytes, Expect::Pass).await;
}

#[tokio::test]
async fn silent_video_passes_both() {
    let bytes = video("good-silent.mp4", "160x120", "25", "1", &["-an"]);
    agree("silent", &bytes, Expect::Pass).await;
}

#[tokio::test]
async fn mono_aac_passes_both() {
    let bytes = av("good-mono.mp4", "160x120", "1", &["-ac", "1"]);
    agree("mono AAC", &bytes, Expect::Pass).await;
}

#[tokio::test]
async fn faststart_60fps_and_mov_pass_both() {
    let bytes = av(
        "good-faststart.mp4",
        "320x240",
        "1",
        &["-movflags", "+faststart"],
    );
    agree("faststart", &bytes, Expect::Pass).await;
    let bytes = video("good-60fps.mp4", "160x120", "60", "1", &[]);
    agree("60 fps", &bytes, Expect::Pass).await;
    let bytes = av("good.mov", "160x120", "1", &[]);
    agree_as("MOV", &bytes, "video/quicktime", Expect::Pass).await;
}

#[tokio::test]
async fn tiny_mp4_passes_both_whatever_its_filler() {
    agree("tiny_mp4(0)", &tiny_mp4(0), Expect::Pass).await;
    // As tools/reelay-local/tests/chaos.rs does: the filler replaced by
    // random bytes (here a fixed pattern of them) keeps the video valid.
    let n = 50_000;
    let mut bytes = tiny_mp4(n);
    let header = bytes.len() - n;
    assert_eq!(header, TINY_MP4_OVERHEAD);
    let mut x: u32 = 0x9e37_79b9;
    for b in &mut bytes[header..] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    agree("tiny_mp4(50_000), random filler", &bytes, Expect::Pass).await;
}

// ---------------------------------------------------------------- bad videos

#[tokio::test]
async fn too_long_fails_both() {
    // 141 frames at 1 fps: 141 s that encode in a blink.
    let bytes = video("bad-too-long.mp4", "64x48", "1", "141", &[]);
    agree(
        "141 s",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Duration 2.minutes+21.seconds exceeds max duration of 2.minutes+20.seconds",
        ),
    )
    .await;
}

#[tokio::test]
async fn too_short_fails_both() {
    let bytes = video("bad-too-short.mp4", "160x120", "30", "0.3", &[]);
    agree(
        "0.3 s",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Duration 300.milliseconds is below min duration of 500.milliseconds",
        ),
    )
    .await;
}

#[tokio::test]
async fn full_hd_fails_both() {
    let bytes = video("bad-1080p.mp4", "1920x1080", "1", "1", &[]);
    agree(
        "1920x1080",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Video dimensions 1920x1080 exceed max dimensions of 1280x1024",
        ),
    )
    .await;
}

#[tokio::test]
async fn tiny_dimensions_fail_both() {
    let bytes = video("bad-16x16.mp4", "16x16", "30", "1", &[]);
    agree(
        "16x16",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Video dimensions 16x16 are below min dimensions of 32x32",
        ),
    )
    .await;
}

#[tokio::test]
async fn hevc_fails_both() {
    let bytes = video(
        "bad-hevc.mp4",
        "160x120",
        "30",
        "1",
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
            "-tag:v",
            "hvc1",
        ],
    );
    agree(
        "HEVC",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Video codec hevc is not supported. Supported video codec: h264",
        ),
    )
    .await;
}

#[tokio::test]
async fn mpeg4_part2_fails_both() {
    let bytes = video("bad-mp4v.mp4", "160x120", "30", "1", &["-c:v", "mpeg4"]);
    agree(
        "MPEG-4 Part 2",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Video codec mpeg4 is not supported. Supported video codec: h264",
        ),
    )
    .await;
}

#[tokio::test]
async fn ten_bit_fails_both() {
    let bytes = video(
        "bad-10bit.mp4",
        "160x120",
        "30",
        "1",
        &["-pix_fmt", "yuv420p10le"],
    );
    agree(
        "10-bit",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Video pixel format yuv420p10le is not supported. Supported pixel format: yuv420p",
        ),
    )
    .await;
}

#[tokio::test]
async fn yuv444_fails_both() {
    let bytes = video(
        "bad-444.mp4",
        "160x120",
        "30",
        "1",
        &["-pix_fmt", "yuv444p"],
    );
    agree(
        "yuv444p",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Video pixel format yuv444p is not supported. Supported pixel format: yuv420p",
        ),
    )
    .await;
}

#[tokio::test]
async fn interlaced_fails_both() {
    let bytes = video(
        "bad-interlaced.mp4",
        "160x120",
        "30",
        "1",
        &["-flags", "+ildct+ilme", "-x264-params", "tff=1"],
    );
    agree(
        "interlaced",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Video scan type tt (interlaced) is not supported. Supported scan type: progressive",
        ),
    )
    .await;
}

#[tokio::test]
async fn non_square_pixels_fail_both() {
    let bytes = video("bad-sar.mp4", "160x120", "30", "1", &["-vf", "setsar=4/3"]);
    agree(
        "SAR 4:3",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Video pixel aspect ratio 4:3 is not supported. Supported pixel aspect ratio: 1:1",
        ),
    )
    .await;
}

#[tokio::test]
async fn high_frame_rate_fails_both() {
    let bytes = video("bad-120fps.mp4", "160x120", "120", "1", &[]);
    agree(
        "120 fps",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Video frame rate 120 exceeds max frame rate of 60",
        ),
    )
    .await;
}

#[tokio::test]
async fn aspect_4_to_1_fails_both() {
    let bytes = video("bad-aspect.mp4", "400x100", "30", "1", &[]);
    agree(
        "400x100",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Video aspect ratio 4:1 is outside the allowed range of 1:3 to 3:1",
        ),
    )
    .await;
}

#[tokio::test]
async fn mp3_audio_fails_both() {
    let bytes = av("bad-mp3.mp4", "160x120", "1", &["-c:a", "libmp3lame"]);
    agree(
        "MP3 in MP4",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Audio codec mp3 is not supported. Supported audio codec: aac",
        ),
    )
    .await;
}

#[tokio::test]
async fn surround_aac_fails_both() {
    let bytes = av("bad-5.1.mp4", "160x120", "1", &["-ac", "6"]);
    agree(
        "AAC 5.1",
        &bytes,
        Expect::Fail(
            3,
            "UnsupportedMedia",
            "Audio channels 6 exceeds max channels of 2",
        ),
    )
    .await;
}

/// Both refuse, for different reasons. ffmpeg's native encoder writes only
/// the HE-AAC header (AOT 5) over an object type its own decoder does not
/// implement ("Audio object type SBR+21 is not implemented"), so ffprobe 5.1
/// cannot open the file at all and the emulator answers as for an unreadable
/// file, while the pre-flight reads the AudioSpecificConfig and names the
/// profile. A real HE-AAC file (e.g. from libfdk_aac) is read by ffprobe and
/// refused as "Audio profile HE-AAC is not supported" (unit test in
/// src/judge.rs).
#[tokio::test]
async fn ffmpeg_he_aac_fails_both_for_different_reasons() {
    let bytes = av("bad-he-aac.mp4", "160x120", "1", &["-profile:a", "aac_he"]);
    let emulator = emulator_verdict(&bytes, "video/mp4").await;
    assert_eq!(
        emulator,
        Err(json!({"code": 1, "name": "InvalidMedia", "message": "file is invalid"}))
    );
    assert_eq!(preflight_verdict(&bytes).await, Err("audio_profile"));
}

#[tokio::test]
async fn a_file_ffprobe_cannot_read_fails_both() {
    // Passes the emulator's box check (ftyp, moov/mvhd) but has no tracks,
    // like tiny_mp4 before it held a real video.
    let mut bytes = Vec::new();
    let boxed = |out: &mut Vec<u8>, kind: &[u8; 4], payload: &[u8]| {
        out.extend_from_slice(&(8 + payload.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
    };
    boxed(&mut bytes, b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41");
    let mut mvhd = vec![0u8; 100];
    mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
    mvhd[16..20].copy_from_slice(&1000u32.to_be_bytes());
    let mut moov = Vec::new();
    boxed(&mut moov, b"mvhd", &mvhd);
    boxed(&mut bytes, b"moov", &moov);
    boxed(&mut bytes, b"mdat", &[7u8; 1000]);
    agree(
        "no tracks",
        &bytes,
        Expect::Fail(1, "InvalidMedia", "file is invalid"),
    )
    .await;
}

// ---------------------------------------------------------------- GOP length

/// X refuses a GOP over 512 frames (recorded, nununoisy/spc-presenter-rs #3); the emulator and
/// the pre-flight (from `stss`) both do. Until 2026-12-02 the pre-flight did not look, and this
/// clip passed it.
#[tokio::test]
async fn a_gop_over_512_frames_fails_both() {
    let bytes = video(
        "bad-long-gop.mp4",
        "64x64",
        "30",
        "20",
        &["-x264-params", "keyint=600:min-keyint=600:scenecut=0"],
    );
    let emulator = emulator_verdict(&bytes, "video/mp4").await;
    assert_eq!(
        emulator,
        Err(json!({"code": 3, "name": "UnsupportedMedia",
                   "message": "Video GOP is too large. Largest number of frames allowed in one GOP: 512"}))
    );
    let preflight = preflight_verdict(&bytes).await;
    assert_eq!(preflight, Err("gop_too_long"), "{preflight:?}");
    assert_eq!(
        compatible_rejections(emulator.unwrap_err()["message"].as_str().unwrap()),
        &["gop_too_long"]
    );
}

// ---------------------------------------------------------------- switches

#[tokio::test]
async fn judge_processing_false_keeps_the_container_check_only() {
    let bytes = video("off-1080p.mp4", "1920x1080", "1", "1", &[]);
    let off = EmulatorConfig {
        judge_processing: false,
        ..EmulatorConfig::default()
    };
    assert_eq!(
        emulator_verdict_with(off, &bytes, "video/mp4").await,
        Ok(())
    );
    let on = emulator_verdict(&bytes, "video/mp4").await;
    assert_eq!(on.unwrap_err()["code"], 3);
    // The container check still runs with the judge off.
    let off = EmulatorConfig {
        judge_processing: false,
        ..EmulatorConfig::default()
    };
    let broken = emulator_verdict_with(off, &bytes[..bytes.len() - 1], "video/mp4").await;
    assert_eq!(broken.unwrap_err()["name"], "InvalidMedia");
}
