//! The fitting measurement (issue 14, BENCHMARKS.md "Fitting videos"): how long fit-video's
//! conversion takes and how much memory ffmpeg needs for the two clips the issue names, through
//! the production code path: `Ffmpeg::probe`, `fit::plan` with default `FitOptions`, then
//! `Ffmpeg::convert` with the plan's exact ffmpeg arguments.
//!
//! - `reelay-bench fit` (also the last step of `reelay-bench run`): for each clip, generates the
//!   source with ffmpeg under `target/bench-fit/`, converts it in a fresh `reelay-bench fit-case`
//!   process, deletes both files, and finally writes the fitting section of BENCHMARKS.md.
//! - `reelay-bench fit-case --input F --output F`: one conversion; prints a `FitCaseResult` as
//!   one JSON line. Run in its own process so that `getrusage(RUSAGE_CHILDREN)` covers exactly
//!   this conversion's ffprobe and ffmpeg.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use reelay_shared::ffmpeg::Ffmpeg;
use reelay_shared::fit::{plan, FitOptions, Probe};
use reelay_shared::fitter::{Transcoder, DEFAULT_MEGAPIXELS_PER_SEC};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;

use crate::rss::{children_usage, rss_kib};

#[derive(Debug, Clone, clap::Args)]
pub struct FitArgs {
    /// Length of the 1080p HEVC clip in seconds (the is 60).
    #[arg(long, default_value_t = 60)]
    pub hevc_secs: u32,
    /// Length of the 4K H.264 clip in seconds (the is 140, X's longest). Shortened
    /// automatically when the disk cannot hold it; the report then extrapolates and says so.
    #[arg(long, default_value_t = 140)]
    pub uhd_secs: u32,
    /// Where the generated sources and the converted files go (removed afterwards).
    #[arg(long, default_value = "target/bench-fit")]
    pub fit_work_dir: PathBuf,
    /// Keep the generated and converted files (for looking at them).
    #[arg(long)]
    pub keep_fit_files: bool,
    /// Also write every conversion's full result here as JSON.
    #[arg(long, default_value = "target/bench/fit-results.json")]
    pub fit_json: PathBuf,
}

/// One of the clips.
#[derive(Debug, Clone, Copy)]
pub struct ClipSpec {
    pub id: &'static str,
    /// What the issue asks for, e.g. "60 s 1080p HEVC".
    pub title: &'static str,
    pub file: &'static str,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    pub hevc: bool,
}

pub const HEVC_1080P: ClipSpec = ClipSpec {
    id: "hevc-1080p",
    title: "1080p HEVC (iPhone-like .mov)",
    file: "source-hevc-1080p.mov",
    width: 1920,
    height: 1080,
    fps: 30,
    video_kbps: 9_000,
    hevc: true,
};

pub const H264_2160P: ClipSpec = ClipSpec {
    id: "h264-2160p",
    title: "4K H.264 (.mp4)",
    file: "source-h264-2160p.mp4",
    width: 3840,
    height: 2160,
    fps: 30,
    video_kbps: 30_000,
    hevc: false,
};

pub const AUDIO_KBPS: u32 = 128;
/// The moving picture: `testsrc2` with temporal noise, so every frame differs everywhere and
/// both the source's encoder and fit-video's have real work (phone footage compresses better).
pub const VIDEO_SOURCE: &str = "testsrc2";
pub const VIDEO_NOISE: &str = "noise=alls=20:allf=t";
/// A stereo tone (440 Hz left, 660 Hz right), 48 kHz.
const AUDIO_SOURCE: &str = "aevalsrc=0.3*sin(440*2*PI*t)|0.3*sin(660*2*PI*t):s=48000";
/// The conversion's video bitrate cap (`fit::plan`'s `-maxrate 6M`), for the disk estimate.
const OUTPUT_MAX_KBPS: u32 = 6_000;
/// Free disk kept beyond what the files need.
const DISK_MARGIN_BYTES: u64 = 1024 * 1024 * 1024;
/// Shorter than this, a measurement says little.
const MIN_SECS: u32 = 10;

impl ClipSpec {
    /// The ffmpeg arguments that generate `secs` seconds of this clip into `path`.
    fn generate_args(&self, secs: u32, path: &Path) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        let mut push = |list: &[&str]| args.extend(list.iter().map(|a| a.to_string()));
        push(&["-hide_banner", "-loglevel", "error", "-nostdin", "-y"]);
        let video = format!(
            "{VIDEO_SOURCE}=s={}x{}:r={}:d={secs}",
            self.width, self.height, self.fps
        );
        push(&["-f", "lavfi", "-i", &video]);
        push(&["-f", "lavfi", "-i", &format!("{AUDIO_SOURCE}:d={secs}")]);
        push(&["-map", "0:v", "-map", "1:a", "-vf", VIDEO_NOISE]);
        let kbps = format!("{}k", self.video_kbps);
        if self.hevc {
            push(&["-c:v", "libx265", "-preset", "ultrafast", "-b:v", &kbps]);
            push(&["-x265-params", "log-level=error", "-tag:v", "hvc1"]);
        } else {
            let buffer = format!("{}k", 2 * self.video_kbps);
            push(&["-c:v", "libx264", "-preset", "ultrafast", "-b:v", &kbps]);
            push(&["-maxrate", &kbps, "-bufsize", &buffer]);
        }
        push(&[
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            &format!("{AUDIO_KBPS}k"),
        ]);
        push(&["-ac", "2", "-t", &secs.to_string()]);
        args.push(path.display().to_string());
        args
    }

    /// Bytes of source plus output for `secs` seconds, with some slack.
    fn disk_bytes(&self, secs: u32) -> u64 {
        let kbps = u64::from(self.video_kbps + AUDIO_KBPS) * 11 / 10
            + u64::from(OUTPUT_MAX_KBPS + AUDIO_KBPS) * 11 / 10;
        u64::from(secs) * kbps * 1000 / 8
    }

    /// The ffmpeg command that generates the source, for the report.
    pub fn generate_command(&self, secs: u32) -> String {
        let args = self.generate_args(secs, Path::new(self.file));
        let quoted: Vec<String> = args
            .into_iter()
            .skip(5) // -hide_banner -loglevel error -nostdin -y
            .map(|a| {
                if a.contains(['|', '(', ')', '*', ' ']) {
                    format!("'{a}'")
                } else {
                    a
                }
            })
            .collect();
        format!("ffmpeg {}", quoted.join(" "))
    }
}

/// One clip's result in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClipResult {
    pub id: String,
    pub title: String,
    /// The length the issue asks for.
    pub target_secs: u32,
    /// The length generated and converted (shorter only when the disk could not hold it).
    pub measured_secs: u32,
    pub generate_secs: f64,
    pub generate_command: String,
    pub case: FitCaseResult,
}

/// One conversion, measured in its own process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitCaseResult {
    pub input_bytes: u64,
    pub source_container: String,
    pub source_codec: String,
    pub source_width: u32,
    pub source_height: u32,
    pub source_fps: Option<f64>,
    pub source_duration_secs: f64,
    pub source_audio: Option<String>,
    /// What the plan changes, in the words the user sees.
    pub changes: Vec<String>,
    pub plan_width: u32,
    pub plan_height: u32,
    pub plan_fps: String,
    pub plan_duration_secs: f64,
    /// `FitPlan::work_megapixels`.
    pub work_megapixels: f64,
    /// `FitPlan::estimated_secs` at the `DEFAULT_MEGAPIXELS_PER_SEC` this binary was built with.
    pub default_megapixels_per_sec: f64,
    pub estimated_secs_at_default: f64,
    /// `Ffmpeg::probe` of the source.
    pub probe_secs: f64,
    /// `Ffmpeg::convert`, wall clock.
    pub wall_secs: f64,
    /// The last `-progress` position ffmpeg reported, in seconds of output.
    pub last_progress_secs: f64,
    /// `ru_maxrss` of the children once ffprobe had been waited for.
    pub ffprobe_peak_rss_kib: u64,
    /// `ru_maxrss` of the children once ffmpeg had been waited for: ffmpeg's peak unless
    /// ffprobe's was higher (`ffmpeg_peak_is_exact` false: then ffmpeg's is at most this).
    pub ffmpeg_peak_rss_kib: u64,
    pub ffmpeg_peak_is_exact: bool,
    /// ffmpeg's user plus system CPU time.
    pub ffmpeg_cpu_secs: f64,
    /// This process's own peak (VmHWM): what fit-video's Rust side would add, roughly.
    pub bench_peak_rss_kib: u64,
    pub output_bytes: u64,
    pub output_codec: String,
    pub output_width: u32,
    pub output_height: u32,
    pub output_fps: Option<f64>,
    pub output_duration_secs: Option<f64>,
    pub output_audio: Option<String>,
    /// `/proc/loadavg`'s 1-minute figure before and after the conversion: the machine is shared.
    pub load_before: f64,
    pub load_after: f64,
}

fn load_1min() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn codec_text(probe: &Probe) -> String {
    let Some(video) = &probe.video else {
        return "no video".into();
    };
    let name = video.codec_name.clone().unwrap_or_else(|| "unknown".into());
    match &video.profile {
        Some(profile) => format!("{name} {profile}"),
        None => name,
    }
}

fn audio_text(probe: &Probe) -> Option<String> {
    let audio = probe.audio.as_ref()?;
    let mut text = audio.codec_name.clone().unwrap_or_else(|| "unknown".into());
    if let Some(profile) = &audio.profile {
        text.push(' ');
        text.push_str(profile);
    }
    if let Some(layout) = &audio.channel_layout {
        text.push(' ');
        text.push_str(layout);
    }
    Some(text)
}

/// `fit-case`: probe, plan and convert `input` into `output` exactly as fit-video does.
pub async fn case(input: &Path, output: &Path) -> anyhow::Result<FitCaseResult> {
    let ffmpeg = Ffmpeg::default();
    let input_bytes = std::fs::metadata(input)
        .with_context(|| format!("reading {}", input.display()))?
        .len();

    let started = Instant::now();
    let probe = ffmpeg
        .probe(input)
        .await
        .map_err(|e| anyhow!("ffprobe of {}: {e}", input.display()))?;
    let probe_secs = started.elapsed().as_secs_f64();
    let after_probe = children_usage();

    let plan = plan(&probe, &FitOptions::default())
        .map_err(|unusable| anyhow!("fit::plan refused the source: {unusable}"))?;

    let (progress, watched) = tokio::sync::watch::channel(0.0_f64);
    let load_before = load_1min();
    let started = Instant::now();
    ffmpeg
        .convert(&plan, input, output, progress)
        .await
        .map_err(|e| anyhow!("ffmpeg conversion: {e}"))?;
    let wall_secs = started.elapsed().as_secs_f64();
    let load_after = load_1min();
    // Read before anything else runs a child (the output's probe below).
    let after_convert = children_usage();
    let (_, bench_peak_rss_kib) = rss_kib();
    let last_progress_secs = *watched.borrow();

    let output_bytes = std::fs::metadata(output)
        .with_context(|| format!("reading {}", output.display()))?
        .len();
    let out = ffmpeg
        .probe(output)
        .await
        .map_err(|e| anyhow!("ffprobe of the output: {e}"))?;
    let out_video = out.video.clone().unwrap_or_default();
    let source = plan.source();
    Ok(FitCaseResult {
        input_bytes,
        source_container: source.container.clone(),
        source_codec: source.video_codec.clone(),
        source_width: source.width,
        source_height: source.height,
        source_fps: source.frame_rate,
        source_duration_secs: source.duration_secs,
        source_audio: source.audio.clone(),
        changes: plan.changes().to_vec(),
        plan_width: plan.width(),
        plan_height: plan.height(),
        plan_fps: plan.frame_rate().to_string(),
        plan_duration_secs: plan.output_duration_secs(),
        work_megapixels: plan.work_megapixels(),
        default_megapixels_per_sec: DEFAULT_MEGAPIXELS_PER_SEC,
        estimated_secs_at_default: plan.estimated_secs(DEFAULT_MEGAPIXELS_PER_SEC),
        probe_secs,
        wall_secs,
        last_progress_secs,
        ffprobe_peak_rss_kib: after_probe.max_rss_kib,
        ffmpeg_peak_rss_kib: after_convert.max_rss_kib,
        ffmpeg_peak_is_exact: after_convert.max_rss_kib > after_probe.max_rss_kib,
        ffmpeg_cpu_secs: after_convert.cpu_secs - after_probe.cpu_secs,
        bench_peak_rss_kib,
        output_bytes,
        output_codec: codec_text(&out),
        output_width: out_video.width,
        output_height: out_video.height,
        output_fps: out_video.avg_frame_rate.map(|r| r.as_f64()),
        output_duration_secs: out.duration_secs,
        output_audio: audio_text(&out),
        load_before,
        load_after,
    })
}

/// Free bytes on the file system holding `dir` (`df -Pk`).
fn free_bytes(dir: &Path) -> anyhow::Result<u64> {
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(dir)
        .output()
        .context("running df")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: u64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("could not read df's answer: {text}"))?;
    Ok(kib * 1024)
}

/// The longest the clip can be, at most `wanted`, for the free disk.
fn secs_that_fit(spec: &ClipSpec, wanted: u32, free: u64) -> anyhow::Result<u32> {
    if spec.disk_bytes(wanted) + DISK_MARGIN_BYTES <= free {
        return Ok(wanted);
    }
    let per_sec = spec.disk_bytes(1).max(1);
    let secs = (free.saturating_sub(DISK_MARGIN_BYTES) / per_sec) as u32;
    if secs < MIN_SECS {
        bail!(
            "only {} MiB free for {}: not even {MIN_SECS} s fit (with {} MiB kept free)",
            free / (1024 * 1024),
            spec.title,
            DISK_MARGIN_BYTES / (1024 * 1024)
        );
    }
    Ok(secs.min(wanted))
}

/// `fit`: every clip in turn (generate, convert in a fresh process, delete), then the report.
pub async fn run(args: &FitArgs, out: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let work = &args.fit_work_dir;
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let mut results = Vec::new();
    let outcome = async {
        for (spec, target) in [(HEVC_1080P, 60), (H264_2160P, 140)] {
            let wanted = if spec.hevc {
                args.hevc_secs
            } else {
                args.uhd_secs
            };
            results.push(clip(args, spec, target, wanted).await?);
        }
        anyhow::Ok(())
    }
    .await;
    if !args.keep_fit_files {
        let _ = std::fs::remove_dir_all(work);
    }
    outcome?;
    if let Some(dir) = args.fit_json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.fit_json, serde_json::to_vec_pretty(&results)?)?;
    let total = started.elapsed();
    crate::fit_report::write(out, &results, total)?;
    eprintln!(
        "wrote the fitting section of {} and {} ({:.0} s in all)",
        out.display(),
        args.fit_json.display(),
        total.as_secs_f64()
    );
    Ok(())
}

async fn clip(
    args: &FitArgs,
    spec: ClipSpec,
    target_secs: u32,
    wanted_secs: u32,
) -> anyhow::Result<ClipResult> {
    let work = &args.fit_work_dir;
    let free = free_bytes(work)?;
    let secs = secs_that_fit(&spec, wanted_secs, free)?;
    if secs < wanted_secs {
        eprintln!(
            "{}: {} MiB free; generating {secs} s instead of {wanted_secs} s",
            spec.id,
            free / (1024 * 1024)
        );
    }
    let source = work.join(spec.file);
    let output = work.join(format!("fitted-{}.mp4", spec.id));

    let t = Instant::now();
    let status = tokio::process::Command::new("ffmpeg")
        .args(spec.generate_args(secs, &source))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .context("running ffmpeg to generate a source")?;
    if !status.success() {
        bail!("generating {} failed ({status})", spec.id);
    }
    let generate_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "generated {} ({secs} s, {:.1} MiB) in {generate_secs:.0} s",
        source.display(),
        std::fs::metadata(&source)?.len() as f64 / (1024.0 * 1024.0)
    );

    let result = run_case(&source, &output, Duration::from_secs(3600)).await;
    if !args.keep_fit_files {
        let _ = std::fs::remove_file(&source);
        let _ = std::fs::remove_file(&output);
    }
    let case = result?;
    eprintln!(
        "converted {} in {:.1} s ({:.1} Mpx/s), ffmpeg peak RSS {:.0} MiB, output {:.1} MiB",
        spec.id,
        case.wall_secs,
        case.work_megapixels / case.wall_secs,
        case.ffmpeg_peak_rss_kib as f64 / 1024.0,
        case.output_bytes as f64 / (1024.0 * 1024.0),
    );
    Ok(ClipResult {
        id: spec.id.into(),
        title: spec.title.into(),
        target_secs,
        measured_secs: secs,
        generate_secs,
        generate_command: spec.generate_command(secs),
        case,
    })
}

/// Runs one conversion in a fresh process of this binary and reads its JSON result.
async fn run_case(source: &Path, output: &Path, limit: Duration) -> anyhow::Result<FitCaseResult> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("fit-case")
        .arg("--input")
        .arg(source)
        .arg("--output")
        .arg(output)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting a fit-case process")?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let finished = tokio::time::timeout(limit, async {
        let mut out = String::new();
        stdout.read_to_string(&mut out).await?;
        let status = child.wait().await?;
        anyhow::Ok((status, out))
    })
    .await;
    let (status, out) = match finished {
        Ok(done) => done?,
        // kill_on_drop ends the child (and its ffmpeg: kill_on_drop there too, when it exits).
        Err(_) => bail!("the conversion of {} took over {limit:?}", source.display()),
    };
    if !status.success() {
        bail!("the conversion of {} failed ({status})", source.display());
    }
    let line = out
        .lines()
        .last()
        .ok_or_else(|| anyhow!("fit-case printed nothing"))?;
    serde_json::from_str(line).with_context(|| format!("reading fit-case's result: {line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clip_is_shortened_only_when_the_disk_cannot_hold_it() {
        let gib = 1024 * 1024 * 1024;
        assert_eq!(secs_that_fit(&H264_2160P, 140, 10 * gib).unwrap(), 140);
        let short = secs_that_fit(&H264_2160P, 140, gib + H264_2160P.disk_bytes(50)).unwrap();
        assert!((49..=50).contains(&short), "{short}");
        assert!(secs_that_fit(&H264_2160P, 140, gib).is_err());
    }

    #[test]
    fn the_generation_command_names_the_pattern_and_the_codec() {
        let hevc = HEVC_1080P.generate_command(60);
        assert!(hevc.contains("testsrc2=s=1920x1080:r=30:d=60"), "{hevc}");
        assert!(hevc.contains("libx265") && hevc.contains("hvc1"), "{hevc}");
        let uhd = H264_2160P.generate_command(140);
        assert!(uhd.contains("testsrc2=s=3840x2160:r=30:d=140"), "{uhd}");
        assert!(uhd.contains("libx264") && uhd.contains("-t 140"), "{uhd}");
    }
}
