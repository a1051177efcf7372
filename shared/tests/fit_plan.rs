//! The fit plan against the real ffmpeg and ffprobe (Debian's, on `PATH`): tiny sources of each
//! kind X refuses are probed, planned and converted with the plan's own arguments, and the result
//! must pass Reelay's own pre-flight check, carry no rotation, and have the planned size and
//! frame rate. The kinds no conversion can save must be refused with their reasons.
//!
//! Sources are 1 s (10 to 30 frames) and small unless size is the point, encoded with the
//! fastest presets: the whole file runs in seconds on two cores.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reelay_shared::fit::{
    ffprobe_args, parse_probe, plan, FitOptions, FitPlan, FrameRate, Probe, Progress,
    ProgressParser, Unusable,
};
use serde_json::Value;
use video_preflight::{FileReader, Limits};

/// 1 s of colour bars with a moving pattern, at `size` and `rate`.
fn bars(size: &str, rate: u32) -> Vec<String> {
    lavfi(&format!("testsrc2=s={size}:r={rate}:d=1"))
}

/// 1 s of tone (mono, 48 kHz).
fn tone() -> Vec<String> {
    lavfi("sine=d=1:sample_rate=48000")
}

fn lavfi(graph: &str) -> Vec<String> {
    vec!["-f".into(), "lavfi".into(), "-i".into(), graph.into()]
}

fn x264() -> Vec<String> {
    words("-c:v libx264 -preset ultrafast")
}

fn x265() -> Vec<String> {
    words("-c:v libx265 -preset ultrafast -x265-params log-level=error -tag:v hvc1")
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// A scratch directory, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("reelay-fit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Scratch(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    /// Makes `file` with ffmpeg from `parts` (inputs and options, the output last).
    fn make(&self, file: &str, parts: &[Vec<String>]) -> PathBuf {
        let output = self.path(file);
        let mut command = Command::new("ffmpeg");
        command.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"]);
        for part in parts {
            command.args(part);
        }
        command.arg(&output);
        let result = command.output().expect("ffmpeg runs");
        assert!(
            result.status.success(),
            "making {file} failed: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        output
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// ffprobe with the module's arguments; `Err` with what ffprobe said when it cannot read it.
fn probe(path: &Path) -> Result<Probe, String> {
    let output = Command::new("ffprobe")
        .args(ffprobe_args(path))
        .stdin(Stdio::null())
        .output()
        .expect("ffprobe runs");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    Ok(parse_probe(&output.stdout).expect("ffprobe's report parses"))
}

/// ffprobe's raw JSON report on the first video and audio streams of a converted file.
fn raw_streams(path: &Path) -> (Value, Option<Value>) {
    let output = Command::new("ffprobe")
        .args(ffprobe_args(path))
        .output()
        .expect("ffprobe runs");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let streams = report["streams"].as_array().cloned().unwrap_or_default();
    let of = |kind: &str| streams.iter().find(|s| s["codec_type"] == kind).cloned();
    (of("video").expect("a video stream"), of("audio"))
}

/// Runs the plan's ffmpeg command, reading its progress as the fit step does; returns every
/// progress report.
fn convert(plan: &FitPlan, input: &Path, output: &Path) -> Vec<Progress> {
    let stderr_path = output.with_extension("stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut child = Command::new("ffmpeg")
        .args(plan.ffmpeg_args(input, output))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("ffmpeg starts");
    let mut parser = ProgressParser::default();
    let mut reports = Vec::new();
    let stdout = child.stdout.take().expect("stdout piped");
    for line in BufReader::new(stdout).lines() {
        if let Some(progress) = parser.feed(&line.expect("a progress line")) {
            reports.push(progress);
        }
    }
    let status = child.wait().expect("ffmpeg ends");
    assert!(
        status.success(),
        "ffmpeg {:?} failed: {}",
        plan.ffmpeg_args(input, output),
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    reports
}

/// Probe, plan, convert and check one source; returns the plan for the test's own checks.
async fn fits(scratch: &Scratch, source: &Path, options: &FitOptions) -> FitPlan {
    let probed = probe(source).expect("the source is readable");
    let plan = plan(&probed, options).unwrap_or_else(|e| panic!("planned as unusable: {e}"));
    let output = scratch.path("fitted.mp4");
    let reports = convert(&plan, source, &output);

    // Progress: ffmpeg ended its report, and the last time reached the planned duration.
    let last = reports.last().expect("at least one progress report");
    assert!(last.done, "the last report says progress=end: {reports:?}");
    assert_eq!(last.percent(plan.output_duration_secs()), 100);
    // ffmpeg's last `out_time` trails the end by the encoder's frame delay (B-frames): three
    // frames here, which is 70% of a 1 s clip at 10 fps, 90% at 30 fps.
    let frame_secs = 1.0 / plan.frame_rate().as_f64();
    let shortfall = plan.output_duration_secs() - last.out_time_secs;
    assert!(
        shortfall <= 4.0 * frame_secs + 0.05,
        "output reached {} s of {} s",
        last.out_time_secs,
        plan.output_duration_secs()
    );
    assert!(reports.iter().all(|p| p.out_time_secs >= 0.0));

    // Reelay's own pre-flight accepts the result, at the planned size and rate.
    let reader = FileReader::open(&output).expect("open the output");
    let checked = video_preflight::inspect(&reader, &Limits::default())
        .await
        .unwrap_or_else(|e| panic!("pre-flight refused the fitted video: {e}"));
    let facts = &checked.facts;
    assert_eq!((facts.width, facts.height), (plan.width(), plan.height()));
    assert_eq!(facts.rotation_degrees, 0);
    assert_eq!(facts.media_type, "video/mp4");
    let fps = plan.frame_rate().as_f64();
    assert!(
        (facts.frame_rate - fps).abs() / fps < 0.02,
        "pre-flight saw {} fps, planned {fps}",
        facts.frame_rate
    );
    assert_eq!(facts.audio.is_some(), plan.has_audio());
    assert!((facts.duration_secs - plan.output_duration_secs()).abs() < 0.2);

    // ffprobe agrees, and finds no display matrix or rotate tag left to turn the picture again.
    let (video, audio) = raw_streams(&output);
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["profile"], "High");
    assert_eq!(video["pix_fmt"], "yuv420p");
    assert_eq!(video["width"], plan.width());
    assert_eq!(video["height"], plan.height());
    assert_eq!(video["sample_aspect_ratio"], "1:1");
    let rate = video["avg_frame_rate"].as_str().and_then(FrameRate::parse);
    assert_eq!(rate, Some(plan.frame_rate()), "output frame rate");
    assert!(video["tags"].get("rotate").is_none());
    let side_data = video["side_data_list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        side_data
            .iter()
            .all(|s| s["side_data_type"] != "Display Matrix"),
        "rotation left in the output: {side_data:?}"
    );
    match audio {
        Some(audio) => {
            assert!(plan.has_audio());
            assert_eq!(audio["codec_name"], "aac");
            assert_eq!(audio["profile"], "LC");
            assert!(audio["channels"].as_u64().is_some_and(|c| c == 1 || c == 2));
            assert_eq!(audio["sample_rate"], "48000");
        }
        None => assert!(!plan.has_audio()),
    }
    plan
}

fn unusable(source: &Path, options: &FitOptions) -> Unusable {
    match probe(source) {
        Ok(probed) => plan(&probed, options).expect_err("planned as usable"),
        Err(said) => Unusable::unreadable(said),
    }
}

fn has(plan: &FitPlan, change: &str) -> bool {
    plan.changes().iter().any(|c| c == change)
}

#[tokio::test]
async fn hevc_1080p_quicktime_becomes_720p_h264_mp4() {
    let s = Scratch::new("hevc");
    let source = s.make(
        "hevc.mov",
        &[
            bars("1920x1080", 10),
            tone(),
            x265(),
            words("-c:a aac -shortest"),
        ],
    );
    let plan = fits(&s, &source, &FitOptions::default()).await;
    assert_eq!((plan.width(), plan.height()), (1280, 720));
    assert!(
        has(&plan, "video codec HEVC → H.264 High"),
        "{:?}",
        plan.changes()
    );
    assert!(has(&plan, "1920×1080 → 1280×720"));
    assert!(has(&plan, "container QuickTime → MP4"));
    assert_eq!(plan.source().video_codec, "HEVC Main");
}

#[tokio::test]
async fn four_k_h264_is_scaled_down() {
    let s = Scratch::new("4k");
    let source = s.make("4k.mp4", &[bars("3840x2160", 10), x264()]);
    let plan = fits(&s, &source, &FitOptions::default()).await;
    assert_eq!((plan.width(), plan.height()), (1280, 720));
    assert_eq!(plan.changes(), ["3840×2160 → 1280×720"]);
    assert!(!plan.has_audio());
}

#[tokio::test]
async fn portrait_1080x1920_becomes_720x1280() {
    let s = Scratch::new("portrait");
    let source = s.make("portrait.mp4", &[bars("1080x1920", 10), x264()]);
    let plan = fits(&s, &source, &FitOptions::default()).await;
    assert_eq!((plan.width(), plan.height()), (720, 1280));
}

#[tokio::test]
async fn ten_bit_h264_becomes_eight_bit() {
    let s = Scratch::new("10bit");
    let source = s.make(
        "10bit.mp4",
        &[bars("160x90", 30), x264(), words("-pix_fmt yuv420p10le")],
    );
    let plan = fits(&s, &source, &FitOptions::default()).await;
    assert!(
        has(&plan, "H.264 High 10 → H.264 High"),
        "{:?}",
        plan.changes()
    );
    assert!(has(&plan, "10-bit → 8-bit"));
    assert!(!plan.hdr());
}

#[tokio::test]
async fn hdr_pq_is_tone_mapped_to_sdr() {
    let s = Scratch::new("hdr");
    let source = s.make(
        "hdr.mov",
        &[
            bars("160x90", 30),
            x265(),
            words(
                "-pix_fmt yuv420p10le -color_trc smpte2084 -color_primaries bt2020 \
                 -colorspace bt2020nc",
            ),
        ],
    );
    let plan = fits(&s, &source, &FitOptions::default()).await;
    assert!(plan.hdr());
    assert!(has(&plan, "HDR (PQ) → SDR"), "{:?}", plan.changes());
    assert!(has(&plan, "10-bit → 8-bit"));
    let (video, _) = raw_streams(&s.path("fitted.mp4"));
    assert_eq!(video["color_transfer"], "bt709");
    assert_eq!(video["color_primaries"], "bt709");
}

#[tokio::test]
async fn one_hundred_twenty_fps_is_halved() {
    let s = Scratch::new("120fps");
    let source = s.make("120.mp4", &[bars("160x90", 120), x264()]);
    let plan = fits(&s, &source, &FitOptions::default()).await;
    assert_eq!(plan.frame_rate().to_string(), "60");
    assert!(has(&plan, "120 fps → 60 fps"));
}

#[tokio::test]
async fn variable_frame_rate_becomes_constant() {
    let s = Scratch::new("vfr");
    // 15 frames at 15 fps, then 15 at 30 fps: 1.5 s, an average of 20 fps.
    let source = s.make(
        "vfr.mp4",
        &[
            bars("160x90", 30),
            words("-vf setpts='if(lt(N,15),N*2,15+N)/30/TB' -fps_mode vfr"),
            x264(),
        ],
    );
    let plan = fits(&s, &source, &FitOptions::default()).await;
    assert!(
        plan.changes()
            .iter()
            .any(|c| c.starts_with("variable frame rate → constant")),
        "{:?}",
        plan.changes()
    );
}

#[tokio::test]
async fn vp9_webm_with_opus_becomes_mp4() {
    let s = Scratch::new("webm");
    let source = s.make(
        "vp9.webm",
        &[
            bars("160x90", 30),
            tone(),
            words("-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libopus -shortest"),
        ],
    );
    let plan = fits(&s, &source, &FitOptions::default()).await;
    assert!(
        has(&plan, "video codec VP9 → H.264 High"),
        "{:?}",
        plan.changes()
    );
    assert!(has(&plan, "audio Opus → AAC-LC"));
    assert!(has(&plan, "container WebM → MP4"));
}

#[tokio::test]
async fn mpeg4_part2_with_mp3_in_avi() {
    let s = Scratch::new("mpeg4");
    let source = s.make(
        "mpeg4.avi",
        &[
            bars("160x90", 30),
            tone(),
            words("-c:v mpeg4 -c:a libmp3lame -shortest"),
        ],
    );
    let plan = fits(&s, &source, &FitOptions::default()).await;
    assert!(
        has(&plan, "video codec MPEG-4 Part 2 → H.264 High"),
        "{:?}",
        plan.changes()
    );
    assert!(has(&plan, "audio MP3 → AAC-LC"));
    assert!(has(&plan, "container AVI → MP4"));
}

#[tokio::test]
async fn mkv_with_ac3_is_converted_and_trimmed() {
    let s = Scratch::new("mkv");
    let source = s.make(
        "ac3.mkv",
        &[
            lavfi("testsrc2=s=160x90:r=30:d=2"),
            lavfi("sine=d=2:sample_rate=48000"),
            x264(),
            words("-c:a ac3 -shortest"),
        ],
    );
    let options = FitOptions {
        trim_to_secs: Some(1.0),
        pad: false,
    };
    let plan = fits(&s, &source, &options).await;
    assert_eq!(plan.output_duration_secs(), 1.0);
    assert!(has(&plan, "audio AC-3 → AAC-LC"), "{:?}", plan.changes());
    assert!(has(&plan, "container MKV → MP4"));
    assert!(has(&plan, "trimmed to 1 s"));
}

#[tokio::test]
async fn surround_aac_is_mixed_to_stereo() {
    let s = Scratch::new("51");
    let source = s.make(
        "51.mp4",
        &[
            bars("160x90", 30),
            tone(),
            x264(),
            words("-c:a aac -ac 6 -shortest"),
        ],
    );
    let plan = fits(&s, &source, &FitOptions::default()).await;
    assert!(has(&plan, "5.1 audio → stereo"), "{:?}", plan.changes());
    let (_, audio) = raw_streams(&s.path("fitted.mp4"));
    assert_eq!(audio.expect("audio")["channels"], 2);
}

#[tokio::test]
async fn fragmented_mp4_is_rewritten_whole() {
    let s = Scratch::new("frag");
    let source = s.make(
        "frag.mp4",
        &[
            bars("160x90", 30),
            tone(),
            x264(),
            words("-c:a aac -shortest -movflags frag_keyframe+empty_moov"),
        ],
    );
    // The pre-flight refuses the source itself, which is why it is fitted.
    let reader = FileReader::open(&source).expect("open");
    assert!(video_preflight::inspect(&reader, &Limits::default())
        .await
        .is_err());
    let plan = fits(&s, &source, &FitOptions::default()).await;
    // Its noisy average rate (57600/1961) is read as the constant 30 fps it is.
    assert_eq!(plan.frame_rate().to_string(), "30");
}

#[tokio::test]
async fn rotated_video_is_turned_upright_as_players_show_it() {
    let s = Scratch::new("rotated");
    // Red top-left corner on blue, so the turn can be seen.
    let plain = s.make(
        "plain.mp4",
        &[
            lavfi("color=c=blue:s=160x90:r=30:d=1"),
            words("-vf drawbox=x=0:y=0:w=40:h=30:c=red:t=fill"),
            x264(),
        ],
    );
    let source = s.make(
        "rotated.mp4",
        &[
            vec!["-i".into(), plain.to_string_lossy().into_owned()],
            words("-c copy -metadata:s:v:0 rotate=90"),
        ],
    );
    let probed = probe(&source).expect("readable");
    let rotation = probed.video.as_ref().map(|v| v.rotation_degrees);
    // ffmpeg 5.1 stores this tag as a matrix it reports as `rotation: 90`, counter-clockwise.
    assert_eq!(rotation, Some(270));
    // Reelay's pre-flight reads the same matrix the same way.
    let reader = FileReader::open(&source).expect("open");
    let checked = video_preflight::inspect(&reader, &Limits::default())
        .await
        .expect("the source passes pre-flight");
    assert_eq!(checked.facts.rotation_degrees, 270);

    let plan = fits(&s, &source, &FitOptions::default()).await;
    assert_eq!((plan.width(), plan.height()), (90, 160));
    assert!(has(&plan, "rotation 270° applied"), "{:?}", plan.changes());

    // A quarter turn anticlockwise takes the top-left corner to the bottom left.
    let pixels = first_frame_rgb(&s.path("fitted.mp4"));
    let at = |x: usize, y: usize| {
        let i = (y * 90 + x) * 3;
        (pixels[i], pixels[i + 1], pixels[i + 2])
    };
    let red = |(r, g, b): (u8, u8, u8)| r > 200 && g < 60 && b < 60;
    assert!(red(at(5, 154)), "bottom left is {:?}", at(5, 154));
    assert!(!red(at(5, 5)) && !red(at(84, 5)) && !red(at(84, 154)));
}

fn first_frame_rgb(path: &Path) -> Vec<u8> {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(output.status.success());
    output.stdout
}

#[tokio::test]
async fn non_square_pixels_are_made_square() {
    let s = Scratch::new("sar");
    let source = s.make(
        "sar.mp4",
        &[bars("160x90", 30), words("-vf setsar=4/3"), x264()],
    );
    let plan = fits(&s, &source, &FitOptions::default()).await;
    // 160 × 4/3 = 213.3 wide on screen.
    assert_eq!((plan.width(), plan.height()), (214, 90));
    assert!(
        has(&plan, "pixel aspect 4:3 → square"),
        "{:?}",
        plan.changes()
    );
}

#[tokio::test]
async fn interlaced_video_is_deinterlaced() {
    let s = Scratch::new("interlaced");
    let source = s.make(
        "interlaced.mpg",
        &[
            bars("160x90", 30),
            words("-c:v mpeg2video -flags +ildct+ilme -top 1"),
        ],
    );
    let plan = fits(&s, &source, &FitOptions::default()).await;
    assert!(
        has(&plan, "interlaced → progressive"),
        "{:?}",
        plan.changes()
    );
}

#[tokio::test]
async fn a_too_wide_video_is_refused_unless_padded() {
    let s = Scratch::new("wide");
    let source = s.make("wide.mp4", &[bars("400x80", 30), x264()]);
    let refused = unusable(&source, &FitOptions::default());
    assert_eq!(
        refused.reasons,
        ["aspect ratio 5:1 is outside X's 1:3 to 3:1 (ask pad to add bars)"]
    );
    let padded = FitOptions {
        trim_to_secs: None,
        pad: true,
    };
    let plan = fits(&s, &source, &padded).await;
    assert_eq!((plan.width(), plan.height()), (400, 134));
    assert!(has(&plan, "padded to 3:1"), "{:?}", plan.changes());
}

#[tokio::test]
async fn what_no_conversion_can_save_is_refused() {
    let s = Scratch::new("unusable");
    let audio_only = s.make("audio.m4a", &[tone(), words("-c:a aac")]);
    assert_eq!(
        unusable(&audio_only, &FitOptions::default()).reasons,
        ["the file has no video track"]
    );

    let short = s.make(
        "short.mp4",
        &[lavfi("testsrc2=s=160x90:r=30:d=0.3"), x264()],
    );
    assert_eq!(
        unusable(&short, &FitOptions::default()).reasons,
        ["the video is 0.3 s; X requires at least 0.5 s"]
    );

    // Short and too wide: both reasons, not just the first.
    let both = s.make(
        "both.mp4",
        &[lavfi("testsrc2=s=500x100:r=30:d=0.3"), x264()],
    );
    assert_eq!(unusable(&both, &FitOptions::default()).reasons.len(), 2);

    let garbage = s.path("garbage.mp4");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, bytes).expect("write");
    let refused = unusable(&garbage, &FitOptions::default());
    assert_eq!(refused.reasons.len(), 1);
    assert!(
        refused.reasons[0].starts_with("the file could not be read as a video ("),
        "{refused}"
    );
}

#[test]
fn the_tools_are_there() {
    for tool in ["ffmpeg", "ffprobe"] {
        let ran = Command::new(tool).arg("-version").output();
        assert!(
            ran.is_ok_and(|o| o.status.success()),
            "{tool} is needed on PATH (apt-get install ffmpeg)"
        );
    }
}
