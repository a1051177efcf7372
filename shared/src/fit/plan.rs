//! The decision: refuse a video no conversion can save, or plan the conversion to X's
//! recommended profile and spell out the ffmpeg command for it.

use std::ffi::OsString;
use std::fmt::Display;
use std::path::Path;

use thiserror::Error;

use super::probe::{AudioStream, FrameRate, Hdr, Probe, VideoStream};

/// X's limits, as `video_preflight::Limits::default()` states them (the converted file is
/// checked against those; these decide what to aim for).
const MIN_DURATION_SECS: f64 = 0.5;
const MAX_DURATION_SECS: f64 = 140.0;
const MAX_FPS: f64 = 60.0;
/// The 1280x1024 box applies to the long and the short side, so portrait 720x1280 fits.
const MAX_LONG_SIDE: f64 = 1280.0;
const MAX_SHORT_SIDE: f64 = 1024.0;
const MIN_SIDE: f64 = 32.0;
/// Long side over short side, both ways (1:3 to 3:1).
const MAX_ASPECT: f64 = 3.0;
/// A source this close to 3:1 is squeezed to exactly 3:1 rather than refused: rounding the
/// output to even pixels moves the ratio by as much anyway, and nobody sees a 1% squeeze.
const ASPECT_SLACK: f64 = 1.01;

/// When no frame rate can be read: what phones and screen recorders mostly use.
const FALLBACK_FPS: u32 = 30;
/// Key frames every 2 s: seeks stay quick and X's limit of 512 frames between key frames is
/// never near (240 at most, at 120 fps before halving; 120 at 60 fps).
const KEYFRAME_SECS: f64 = 2.0;
const MAX_GOP_FRAMES: u32 = 240;

/// The video bitrate cap. 6 Mbit/s × 140 s = 840 Mbit = 105 MB, plus 128 kbit/s × 140 s = 2.2 MB
/// of audio: about 107 MB at X's longest, a fifth of its 512 MiB limit, and more than CRF 23
/// needs for 1280x720 at 60 fps. `-bufsize` of 2 s lets hard scenes borrow from easy ones.
const MAX_VIDEO_BITRATE: &str = "6M";
const VIDEO_BUFFER: &str = "12M";

/// HDR to SDR: to linear light (100 nits peak of SDR), to BT.709 primaries in float, Hable's
/// curve without desaturation, then BT.709 transfer and matrix in limited range. zscale does
/// the colour maths correctly where swscale does not; checked to run on Debian's ffmpeg 5.1.
const TONEMAP_TO_SDR: &str = "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,\
                              tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv";

/// What the user asked for besides fitting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitOptions {
    /// Keep only the first this-many seconds (at most 140); must be over 0.5.
    pub trim_to_secs: Option<f64>,
    /// Add black bars to bring a too wide or too tall picture to 3:1 or 1:3.
    pub pad: bool,
}

/// Why no conversion can make the video acceptable to X: every reason that applies, in words
/// the user can act on.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{}", .reasons.join("; "))]
pub struct Unusable {
    pub reasons: Vec<String>,
}

impl Unusable {
    /// ffprobe could not read the file at all (`detail`: what it said).
    pub fn unreadable(detail: impl Display) -> Self {
        let detail = detail.to_string();
        let detail = detail.trim();
        let reason = if detail.is_empty() {
            "the file could not be read as a video".to_string()
        } else {
            format!("the file could not be read as a video ({detail})")
        };
        Self {
            reasons: vec![reason],
        }
    }
}

/// The source, as it is summarised to the user and in logs.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFacts {
    /// E.g. `"MP4"`, `"QuickTime"`, `"WebM"`, `"MKV"`.
    pub container: String,
    /// E.g. `"HEVC Main 10"`.
    pub video_codec: String,
    /// Stored pixels turned as displayed (rotation applied, pixel aspect not).
    pub width: u32,
    pub height: u32,
    pub rotation_degrees: u16,
    /// The rate the conversion takes as the source's, before any halving.
    pub frame_rate: Option<f64>,
    pub duration_secs: f64,
    /// E.g. `"Opus mono"`, `"AAC LC 5.1"`; `None` when silent.
    pub audio: Option<String>,
}

/// A conversion to X's recommended profile: H.264 High, yuv420p 8-bit, at most 1280x1024 and
/// 60 fps, constant frame rate, key frames every 2 s, AAC-LC mono or stereo, MP4 with the index
/// first.
#[derive(Debug, Clone, PartialEq)]
pub struct FitPlan {
    source: SourceFacts,
    /// Stored size of the source, for the decode side of the work estimate.
    source_pixels: f64,
    source_fps: f64,
    /// The output frame, bars included.
    width: u32,
    height: u32,
    /// The picture inside the frame; the frame's size unless padded.
    picture_width: u32,
    picture_height: u32,
    frame_rate: FrameRate,
    output_duration_secs: f64,
    /// `-t`, when the output is cut short of the source.
    trim_secs: Option<f64>,
    hdr: bool,
    deinterlace: bool,
    audio_channels: Option<u8>,
    changes: Vec<String>,
}

/// Decides whether `probe`'s video can be fitted for X, and how.
pub fn plan(probe: &Probe, options: &FitOptions) -> Result<FitPlan, Unusable> {
    let mut reasons = Vec::new();

    let Some(video) = &probe.video else {
        reasons.push(if probe.has_cover_art {
            "the file has no video track (only a cover picture)".to_string()
        } else {
            "the file has no video track".to_string()
        });
        return Err(Unusable { reasons });
    };

    if video.codec_name.is_none() {
        let tag = video.codec_tag.as_deref().unwrap_or("unknown");
        reasons.push(format!("the video codec ({tag}) cannot be decoded"));
    }

    let duration = output_duration(probe.duration_secs, options, &mut reasons);

    let sized = video.width > 0 && video.height > 0;
    if !sized {
        reasons.push("the video's width and height cannot be read".to_string());
    }
    let (display_width, display_height) = video.display_size();
    if sized && !options.pad {
        let ratio = long_over_short(display_width, display_height);
        if ratio > MAX_ASPECT * ASPECT_SLACK {
            reasons.push(format!(
                "aspect ratio {} is outside X's 1:3 to 3:1 (ask pad to add bars)",
                aspect_text(display_width, display_height)
            ));
        }
    }

    let Some((output_secs, trim_secs)) = duration else {
        return Err(Unusable { reasons });
    };
    if !reasons.is_empty() {
        return Err(Unusable { reasons });
    }

    let layout = fit_size(display_width, display_height, options.pad);
    let rate = choose_frame_rate(video);
    let audio = probe.audio.as_ref();
    let audio_channels =
        audio
            .filter(|a| a.codec_name.is_some())
            .map(|a| if a.channels == 1 { 1 } else { 2 });

    let (oriented_width, oriented_height) = video.oriented_size();
    let source = SourceFacts {
        container: container_name(probe),
        video_codec: video_codec_text(video),
        width: oriented_width,
        height: oriented_height,
        rotation_degrees: video.rotation_degrees,
        frame_rate: rate.source.map(FrameRate::as_f64),
        duration_secs: probe.duration_secs.unwrap_or(output_secs),
        audio: audio.map(audio_text),
    };

    let mut plan = FitPlan {
        source_pixels: f64::from(video.width) * f64::from(video.height),
        source_fps: rate
            .source
            .map_or(f64::from(FALLBACK_FPS), FrameRate::as_f64),
        width: layout.frame.0,
        height: layout.frame.1,
        picture_width: layout.picture.0,
        picture_height: layout.picture.1,
        frame_rate: rate.output,
        output_duration_secs: output_secs,
        trim_secs,
        hdr: video.hdr().is_some(),
        deinterlace: video.interlaced(),
        audio_channels,
        changes: Vec::new(),
        source,
    };
    plan.changes = describe_changes(probe, video, &plan, &rate, layout.padded);
    Ok(plan)
}

impl FitPlan {
    pub fn source(&self) -> &SourceFacts {
        &self.source
    }

    /// The source's width as displayed (rotation applied).
    pub fn source_width(&self) -> u32 {
        self.source.width
    }

    pub fn source_height(&self) -> u32 {
        self.source.height
    }

    /// The output's width as displayed (the file carries no rotation).
    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The output's constant frame rate.
    pub fn frame_rate(&self) -> FrameRate {
        self.frame_rate
    }

    /// How long the output runs: what ffmpeg's progress is measured against.
    pub fn output_duration_secs(&self) -> f64 {
        self.output_duration_secs
    }

    /// Whether the source is HDR (PQ or HLG) and is tone mapped to SDR.
    pub fn hdr(&self) -> bool {
        self.hdr
    }

    /// Whether the output has a sound track.
    pub fn has_audio(&self) -> bool {
        self.audio_channels.is_some()
    }

    /// What the conversion changes, in words for the user: "video codec HEVC → H.264 High".
    pub fn changes(&self) -> &[String] {
        &self.changes
    }

    /// The key frame interval in frames: 2 s of output frames, at most 240.
    pub fn gop_frames(&self) -> u32 {
        let frames = (self.frame_rate.as_f64() * KEYFRAME_SECS).round();
        (frames as u32).clamp(1, MAX_GOP_FRAMES)
    }

    /// The decode plus encode work in megapixels: every source pixel is decoded and every output
    /// pixel encoded, for the output's duration (a trimmed source is not decoded past the cut).
    /// Encoding costs more per pixel than decoding; the measured speed this is divided by
    /// absorbs that, as long as it is measured on a conversion of the same kind.
    pub fn work_megapixels(&self) -> f64 {
        let decoded = self.source_pixels * self.source_fps;
        let encoded = f64::from(self.width) * f64::from(self.height) * self.frame_rate.as_f64();
        self.output_duration_secs * (decoded + encoded) / 1e6
    }

    /// Seconds the conversion should take at `megapixels_per_sec` (measured on the function's
    /// hardware); infinite for a speed that is not positive, so nothing is started on a guess.
    pub fn estimated_secs(&self, megapixels_per_sec: f64) -> f64 {
        if megapixels_per_sec.is_finite() && megapixels_per_sec > 0.0 {
            self.work_megapixels() / megapixels_per_sec
        } else {
            f64::INFINITY
        }
    }

    /// The ffmpeg command line (the binary's name not included) that converts `input` into
    /// `output`. Progress goes to stdout as `-progress` blocks (see `progress`), diagnostics to
    /// stderr.
    pub fn ffmpeg_args(&self, input: &Path, output: &Path) -> Vec<OsString> {
        let mut args = Args::default();
        args.push_all(["-hide_banner", "-nostdin", "-y"]);
        args.push_all(super::probe::INPUT_GUARDS);
        args.push("-i");
        // ffmpeg turns the picture by the display matrix while decoding (its default
        // `-autorotate`) and writes no matrix for the output, so the frames come out upright.
        args.push_path(input);
        args.push_all(["-map", "0:v:0"]);
        if self.has_audio() {
            // `?`: a sound track the demuxer drops does not fail the conversion.
            args.push_all(["-map", "0:a:0?"]);
        } else {
            args.push("-an");
        }
        // Subtitles, data tracks (timecode, GPS), titles, chapters and location stay behind.
        args.push_all(["-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1"]);
        if let Some(secs) = self.trim_secs {
            args.push("-t");
            args.push(format!("{secs:.3}"));
        }
        args.push("-vf");
        args.push(self.video_filters());
        args.push_all(["-fps_mode", "cfr", "-r"]);
        args.push(self.frame_rate.to_string());
        args.push_all([
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-maxrate",
            MAX_VIDEO_BITRATE,
            "-bufsize",
            VIDEO_BUFFER,
        ]);
        let gop = self.gop_frames();
        args.push("-g");
        args.push(gop.to_string());
        args.push("-keyint_min");
        args.push((gop / 2).max(1).to_string());
        // Key frames on the fixed 2 s grid only, not also at scene cuts.
        args.push_all(["-sc_threshold", "0"]);
        if let Some(channels) = self.audio_channels {
            args.push_all(["-c:a", "aac", "-b:a", "128k", "-ac"]);
            args.push(channels.to_string());
            args.push_all(["-ar", "48000"]);
        }
        // The index first, so X (and browsers) can start reading before the end.
        args.push_all(["-movflags", "+faststart", "-f", "mp4"]);
        args.push_all(["-progress", "pipe:1", "-nostats"]);
        args.push_path(output);
        args.0
    }

    /// The `-vf` chain, in the order that costs least: deinterlace at the source's size (it
    /// needs the fields), scale next so tone mapping works on the smaller picture, then 8-bit
    /// 4:2:0 and the bars.
    fn video_filters(&self) -> String {
        let mut filters = Vec::new();
        if self.deinterlace {
            filters.push("yadif".to_string());
        }
        // One scale to the final size also makes the pixels square: it is the same as first
        // widening by the pixel aspect (`scale=iw*sar:ih`) and then fitting, with one
        // resampling instead of two. `setsar=1` then says so.
        filters.push(format!(
            "scale={}:{}",
            self.picture_width, self.picture_height
        ));
        filters.push("setsar=1".to_string());
        if self.hdr {
            filters.push(TONEMAP_TO_SDR.to_string());
        }
        filters.push("format=yuv420p".to_string());
        if (self.picture_width, self.picture_height) != (self.width, self.height) {
            filters.push(format!(
                "pad={}:{}:(ow-iw)/2:(oh-ih)/2:black",
                self.width, self.height
            ));
        }
        filters.join(",")
    }
}

/// Builds an argument list from strings and paths.
#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn push(&mut self, arg: impl Into<OsString>) {
        self.0.push(arg.into());
    }

    fn push_all<const N: usize>(&mut self, args: [&str; N]) {
        self.0.extend(args.iter().map(OsString::from));
    }

    /// `file:` keeps a name that starts with `-` or looks like a protocol (`http:`) a file name.
    fn push_path(&mut self, path: &Path) {
        let mut arg = OsString::from("file:");
        arg.push(path.as_os_str());
        self.0.push(arg);
    }
}

/// The output's duration and the `-t` cut, or `None` (with the reason) when unusable.
fn output_duration(
    source_secs: Option<f64>,
    options: &FitOptions,
    reasons: &mut Vec<String>,
) -> Option<(f64, Option<f64>)> {
    let trim = match options.trim_to_secs {
        Some(secs) if !(secs.is_finite() && secs > MIN_DURATION_SECS) => {
            reasons.push(format!(
                "trim_to_secs must be more than {} s (it is {})",
                num(MIN_DURATION_SECS),
                num(secs)
            ));
            return None;
        }
        other => other,
    };
    let Some(source) = source_secs else {
        reasons.push("the video's duration cannot be read".to_string());
        return None;
    };
    let limit = trim.map_or(source, |trim| trim.min(MAX_DURATION_SECS));
    let output = source.min(limit);
    if output < MIN_DURATION_SECS {
        reasons.push(format!(
            "the video is {} s; X requires at least {} s",
            num(output),
            num(MIN_DURATION_SECS)
        ));
        return None;
    }
    if output > MAX_DURATION_SECS {
        reasons.push(format!(
            "the video is {} s; X allows at most {} s (ask trim_to_secs to cut it)",
            num(output),
            num(MAX_DURATION_SECS)
        ));
        return None;
    }
    let cut = (output < source).then_some(output);
    Some((output, cut))
}

/// The output frame and the picture inside it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Layout {
    frame: (u32, u32),
    picture: (u32, u32),
    padded: bool,
}

/// Fits a picture of `width`×`height` square pixels into X's box: long side ≤ 1280, short side
/// ≤ 1024, both ≥ 32, aspect within 3:1 (with bars when `pad`), even sizes for 4:2:0. Never
/// scales up, except to reach the 32-pixel minimum.
fn fit_size(width: f64, height: f64, pad: bool) -> Layout {
    let (width, height) = (width.max(1.0), height.max(1.0));
    let ratio = long_over_short(width, height);
    let padded = pad && ratio > MAX_ASPECT;
    // The frame: the picture, or the picture with bars to exactly 3:1 / 1:3.
    let (canvas_width, canvas_height) = if !padded {
        (width, height)
    } else if width > height {
        (width, width / MAX_ASPECT)
    } else {
        (height / MAX_ASPECT, height)
    };

    let long = canvas_width.max(canvas_height);
    let short = canvas_width.min(canvas_height);
    let mut scale = (MAX_LONG_SIDE / long).min(MAX_SHORT_SIDE / short).min(1.0);
    if short * scale < MIN_SIDE {
        scale = MIN_SIDE / short;
    }

    let mut frame_width = even(canvas_width * scale);
    let mut frame_height = even(canvas_height * scale);
    // Rounding must not push the frame past 3:1: widen the short side to the next even size.
    if frame_width > frame_height * 3 {
        frame_height = even_up(f64::from(frame_width) / MAX_ASPECT);
    } else if frame_height > frame_width * 3 {
        frame_width = even_up(f64::from(frame_height) / MAX_ASPECT);
    }
    let min_side = MIN_SIDE as u32;
    let frame = (frame_width.max(min_side), frame_height.max(min_side));

    let picture = if padded {
        (
            even(width * scale).min(frame.0),
            even(height * scale).min(frame.1),
        )
    } else {
        frame
    };
    Layout {
        frame,
        picture,
        padded,
    }
}

/// The nearest even whole number, at least 2 (x264 needs even sizes for 4:2:0).
fn even(x: f64) -> u32 {
    ((x / 2.0).round() as u32 * 2).max(2)
}

fn even_up(x: f64) -> u32 {
    ((x / 2.0 - 1e-9).ceil() as u32 * 2).max(2)
}

fn long_over_short(width: f64, height: f64) -> f64 {
    width.max(height) / width.min(height).max(f64::MIN_POSITIVE)
}

/// The frame rate read from the source, and the one written.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RateChoice {
    source: Option<FrameRate>,
    variable: bool,
    output: FrameRate,
}

/// The source's rate: its average (frames over duration), unless that is within 5% of the
/// timestamp rate (`r_frame_rate`), in which case the stream is constant and the average is
/// container noise (a fragmented MP4 of a 30 fps stream reports 57600/1961). An average well
/// below the timestamp rate is a variable-rate video (phones, screen recorders).
///
/// The output: the source's, snapped to a standard rate when it is near one, halved (or divided
/// further) while above 60 fps, so every kept frame is a source frame: 120 → 60, 90 → 45, 240 → 60.
fn choose_frame_rate(video: &VideoStream) -> RateChoice {
    let plausible = |rate: &FrameRate| rate.as_f64() <= 1000.0;
    let average = video.avg_frame_rate.filter(plausible);
    let timestamps = video.r_frame_rate.filter(plausible);
    let (source, variable) = match (average, timestamps) {
        (Some(avg), Some(r)) if (avg.as_f64() / r.as_f64() - 1.0).abs() <= 0.05 => (Some(r), false),
        (Some(avg), Some(_)) => (Some(avg), true),
        (Some(avg), None) => (Some(avg), false),
        (None, r) => (r, false),
    };
    let output = match source {
        Some(rate) => cap_frame_rate(sensible_rate(rate)),
        None => FrameRate {
            num: FALLBACK_FPS,
            den: 1,
        },
    };
    RateChoice {
        source,
        variable,
        output,
    }
}

/// Keeps an exact whole or NTSC (×1000/1001) rate; snaps anything else to the NTSC rate within
/// 0.1%, or to the nearest whole rate (at least 1 fps).
fn sensible_rate(rate: FrameRate) -> FrameRate {
    if rate.den == 1 || rate.den == 1001 {
        return rate;
    }
    let fps = rate.as_f64();
    let whole = fps.round().max(1.0);
    let ntsc = whole * 1000.0 / 1001.0;
    if ((fps - ntsc) / ntsc).abs() <= 0.001 {
        FrameRate::new(whole as u32 * 1000, 1001).unwrap_or(rate)
    } else {
        FrameRate::new(whole as u32, 1).unwrap_or(rate)
    }
}

fn cap_frame_rate(rate: FrameRate) -> FrameRate {
    let fps = rate.as_f64();
    if fps <= MAX_FPS {
        return rate;
    }
    let divisor = (fps / MAX_FPS - 1e-9).ceil() as u32;
    FrameRate::new(rate.num, rate.den.saturating_mul(divisor)).unwrap_or(rate)
}

fn describe_changes(
    probe: &Probe,
    video: &VideoStream,
    plan: &FitPlan,
    rate: &RateChoice,
    padded: bool,
) -> Vec<String> {
    let mut changes = Vec::new();

    let codec = video.codec_name.as_deref().unwrap_or("");
    let profile = video.profile.as_deref().unwrap_or("");
    if codec != "h264" {
        changes.push(format!(
            "video codec {} → H.264 High",
            video_codec_name(codec)
        ));
    } else if !matches!(
        profile,
        "High" | "Main" | "Baseline" | "Constrained Baseline" | ""
    ) {
        changes.push(format!("H.264 {profile} → H.264 High"));
    }
    if let Some(bits) = video.bit_depth.filter(|bits| *bits > 8) {
        changes.push(format!("{bits}-bit → 8-bit"));
    }
    if let Some(pix_fmt) = video.pix_fmt.as_deref() {
        if !pix_fmt.starts_with("yuv420p") {
            changes.push(format!("pixel format {pix_fmt} → yuv420p"));
        }
    }
    match video.hdr() {
        Some(Hdr::Pq) => changes.push("HDR (PQ) → SDR".to_string()),
        Some(Hdr::Hlg) => changes.push("HDR (HLG) → SDR".to_string()),
        None => {}
    }
    if plan.deinterlace {
        changes.push("interlaced → progressive".to_string());
    }
    if video.rotation_degrees != 0 {
        changes.push(format!("rotation {}° applied", video.rotation_degrees));
    }
    if !video.pixel_aspect.is_square() {
        changes.push(format!(
            "pixel aspect {}:{} → square",
            video.pixel_aspect.horizontal, video.pixel_aspect.vertical
        ));
    }
    let from = video.oriented_size();
    if from != (plan.width, plan.height) {
        changes.push(format!(
            "{}×{} → {}×{}",
            from.0, from.1, plan.width, plan.height
        ));
    }
    if padded {
        changes.push(if plan.width > plan.height {
            "padded to 3:1".to_string()
        } else {
            "padded to 1:3".to_string()
        });
    }
    let output_fps = num(plan.frame_rate.as_f64());
    match rate.source {
        None => changes.push(format!("unknown frame rate → constant {output_fps} fps")),
        Some(_) if rate.variable => {
            changes.push(format!("variable frame rate → constant {output_fps} fps"))
        }
        Some(source) if (source.as_f64() - plan.frame_rate.as_f64()).abs() > 0.01 => {
            changes.push(format!("{} fps → {output_fps} fps", num(source.as_f64())))
        }
        Some(_) => {}
    }
    if let Some(audio) = &probe.audio {
        describe_audio_changes(audio, &mut changes);
    }
    let container = container_name(probe);
    if container != "MP4" {
        changes.push(format!("container {container} → MP4"));
    }
    if let Some(secs) = plan.trim_secs {
        changes.push(format!("trimmed to {} s", num(secs)));
    }
    if changes.is_empty() {
        // Fitting was asked for something ffprobe does not show, such as key frames too far
        // apart (the pre-flight's GOP check); re-encoding is then the whole change.
        changes.push(format!(
            "re-encoded with a key frame every {} frames",
            plan.gop_frames()
        ));
    }
    changes
}

fn describe_audio_changes(audio: &AudioStream, changes: &mut Vec<String>) {
    let Some(codec) = audio.codec_name.as_deref() else {
        changes.push("audio track with an unknown codec dropped".to_string());
        return;
    };
    let is_aac_lc = codec == "aac" && matches!(audio.profile.as_deref(), Some("LC") | None);
    if !is_aac_lc {
        let name = match (codec, audio.profile.as_deref()) {
            ("aac", Some(profile)) => format!("AAC {profile}"),
            _ => audio_codec_name(codec),
        };
        changes.push(format!("audio {name} → AAC-LC"));
    }
    if audio.channels > 2 {
        let layout = audio
            .channel_layout
            .clone()
            .unwrap_or_else(|| format!("{}-channel", audio.channels));
        changes.push(format!("{layout} audio → stereo"));
    }
    if let Some(rate) = audio.sample_rate.filter(|r| *r != 44_100 && *r != 48_000) {
        changes.push(format!(
            "audio {} kHz → 48 kHz",
            num(f64::from(rate) / 1000.0)
        ));
    }
}

/// The container in words. ffprobe names demuxers, not formats: MP4 and MOV share one (the
/// `ftyp` brand tells them apart), and so do Matroska and WebM (the codecs do).
fn container_name(probe: &Probe) -> String {
    let format = probe.format_name.as_str();
    if format.starts_with("mov,mp4") {
        return match probe.major_brand.as_deref() {
            Some("qt  ") => "QuickTime".to_string(),
            _ => "MP4".to_string(),
        };
    }
    if format.starts_with("matroska") {
        let webm_video = probe
            .video
            .as_ref()
            .is_some_and(|v| matches!(v.codec_name.as_deref(), Some("vp8" | "vp9" | "av1")));
        return if webm_video { "WebM" } else { "MKV" }.to_string();
    }
    match format {
        "avi" => "AVI",
        "mpeg" => "MPEG program stream",
        "mpegts" => "MPEG transport stream",
        "flv" => "FLV",
        "asf" => "WMV/ASF",
        "gif" => "GIF",
        "" => "unknown",
        other => other.split(',').next().unwrap_or(other),
    }
    .to_string()
}

fn video_codec_name(codec: &str) -> String {
    match codec {
        "h264" => "H.264",
        "hevc" => "HEVC",
        "vp8" => "VP8",
        "vp9" => "VP9",
        "av1" => "AV1",
        "mpeg4" => "MPEG-4 Part 2",
        "mpeg2video" => "MPEG-2",
        "mpeg1video" => "MPEG-1",
        "prores" => "ProRes",
        "mjpeg" => "Motion JPEG",
        "gif" => "GIF",
        "" => "unknown",
        other => return other.to_uppercase(),
    }
    .to_string()
}

fn video_codec_text(video: &VideoStream) -> String {
    let name = video_codec_name(video.codec_name.as_deref().unwrap_or(""));
    match video.profile.as_deref() {
        Some(profile) => format!("{name} {profile}"),
        None => name,
    }
}

fn audio_codec_name(codec: &str) -> String {
    match codec {
        "aac" => "AAC",
        "mp3" => "MP3",
        "mp2" => "MP2",
        "opus" => "Opus",
        "vorbis" => "Vorbis",
        "ac3" => "AC-3",
        "eac3" => "E-AC-3",
        "flac" => "FLAC",
        "alac" => "ALAC",
        "dts" => "DTS",
        "truehd" => "TrueHD",
        other if other.starts_with("pcm_") => "PCM",
        other => return other.to_uppercase(),
    }
    .to_string()
}

fn audio_text(audio: &AudioStream) -> String {
    let mut text = audio_codec_name(audio.codec_name.as_deref().unwrap_or("unknown"));
    if let Some(profile) = &audio.profile {
        text.push(' ');
        text.push_str(profile);
    }
    match (&audio.channel_layout, audio.channels) {
        (Some(layout), _) => {
            text.push(' ');
            text.push_str(layout);
        }
        (None, 0) => {}
        (None, channels) => text.push_str(&format!(" {channels}-channel")),
    }
    text
}

/// `4.2:1` or `1:3.5`.
fn aspect_text(width: f64, height: f64) -> String {
    let ratio = long_over_short(width, height);
    let shown = format!("{ratio:.2}");
    let shown = shown.trim_end_matches('0').trim_end_matches('.');
    if width >= height {
        format!("{shown}:1")
    } else {
        format!("1:{shown}")
    }
}

/// A number without noise: `200`, `0.3`, `29.97`, `140.001`.
fn num(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::probe::{AudioStream, PixelAspect};

    fn video(width: u32, height: u32) -> VideoStream {
        VideoStream {
            codec_name: Some("h264".into()),
            profile: Some("High".into()),
            width,
            height,
            pix_fmt: Some("yuv420p".into()),
            r_frame_rate: FrameRate::new(30, 1),
            avg_frame_rate: FrameRate::new(30, 1),
            field_order: Some("progressive".into()),
            bit_depth: Some(8),
            ..VideoStream::default()
        }
    }

    fn probe_of(video: VideoStream, duration: f64) -> Probe {
        Probe {
            format_name: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            major_brand: Some("isom".into()),
            duration_secs: Some(duration),
            video: Some(video),
            audio: Some(AudioStream {
                codec_name: Some("aac".into()),
                profile: Some("LC".into()),
                channels: 2,
                channel_layout: Some("stereo".into()),
                sample_rate: Some(48000),
            }),
            has_cover_art: false,
        }
    }

    fn frame(width: f64, height: f64, pad: bool) -> (u32, u32) {
        fit_size(width, height, pad).frame
    }

    #[test]
    fn sizes_fit_the_box_on_the_long_and_short_side() {
        assert_eq!(frame(1920.0, 1080.0, false), (1280, 720));
        assert_eq!(frame(1080.0, 1920.0, false), (720, 1280));
        assert_eq!(frame(3840.0, 2160.0, false), (1280, 720));
        assert_eq!(frame(1440.0, 1440.0, false), (1024, 1024));
        assert_eq!(frame(1280.0, 720.0, false), (1280, 720));
        assert_eq!(frame(1280.0, 1024.0, false), (1280, 1024));
        assert_eq!(frame(640.0, 360.0, false), (640, 360));
        // Odd sizes become even, never larger than the box.
        assert_eq!(frame(161.0, 91.0, false), (162, 92));
        // Only the 32-pixel minimum scales up.
        assert_eq!(frame(16.0, 16.0, false), (32, 32));
        assert_eq!(frame(20.0, 10.0, false), (64, 32));
    }

    #[test]
    fn rounding_never_leaves_the_aspect_range() {
        // 3000x1000 scaled by 0.4267 is 1280x426.7; 426 would be 3.005:1.
        let (w, h) = frame(3000.0, 1000.0, false);
        assert_eq!((w, h), (1280, 428));
        assert!(f64::from(w) <= f64::from(h) * 3.0);
        let (w, h) = frame(1000.0, 3000.0, false);
        assert_eq!((w, h), (428, 1280));
    }

    #[test]
    fn padding_brings_a_wide_picture_to_three_to_one() {
        let layout = fit_size(4000.0, 1000.0, true);
        assert!(layout.padded);
        assert_eq!(layout.frame, (1280, 428));
        assert_eq!(layout.picture, (1280, 320));
        let layout = fit_size(500.0, 2500.0, true);
        assert_eq!(layout.frame, (428, 1280));
        assert_eq!(layout.picture, (256, 1280));
        // Within range, pad asks for nothing.
        let layout = fit_size(1920.0, 1080.0, true);
        assert!(!layout.padded);
        assert_eq!(layout.picture, layout.frame);
    }

    fn output_rate(avg: &str, r: &str) -> String {
        let mut v = video(160, 90);
        v.avg_frame_rate = FrameRate::parse(avg);
        v.r_frame_rate = FrameRate::parse(r);
        choose_frame_rate(&v).output.to_string()
    }

    #[test]
    fn frame_rates_above_sixty_are_divided_down() {
        assert_eq!(output_rate("120/1", "120/1"), "60");
        assert_eq!(output_rate("90/1", "90/1"), "45");
        assert_eq!(output_rate("240/1", "240/1"), "60");
        assert_eq!(output_rate("120000/1001", "120000/1001"), "60000/1001");
        assert_eq!(output_rate("25/1", "25/1"), "25");
        assert_eq!(output_rate("60/1", "60/1"), "60");
        assert_eq!(output_rate("30000/1001", "30000/1001"), "30000/1001");
    }

    #[test]
    fn noisy_and_variable_rates_become_sensible_constant_ones() {
        // A fragmented MP4's average is container noise around the timestamp rate.
        assert_eq!(output_rate("57600/1961", "30/1"), "30");
        // A phone's variable-rate clip: the average, snapped to NTSC or a whole rate.
        assert_eq!(output_rate("2997/100", "90000/1"), "30000/1001");
        assert_eq!(output_rate("1468/100", "30/1"), "15");
        assert_eq!(output_rate("0/0", "25/1"), "25");
        assert_eq!(output_rate("0/0", "0/0"), "30");
        assert_eq!(output_rate("1/10", "0/0"), "1");
        let mut v = video(160, 90);
        v.avg_frame_rate = FrameRate::new(15, 1);
        assert!(choose_frame_rate(&v).variable);
    }

    #[test]
    fn gop_is_two_seconds_and_at_most_240() {
        let mut v = video(160, 90);
        v.avg_frame_rate = FrameRate::new(30000, 1001);
        v.r_frame_rate = v.avg_frame_rate;
        let plan = plan(&probe_of(v, 10.0), &FitOptions::default()).unwrap();
        assert_eq!(plan.gop_frames(), 60);
    }

    #[test]
    fn collects_every_reason_a_video_is_unusable() {
        let mut v = video(4200, 1000);
        v.codec_name = None;
        v.codec_tag = Some("xyz1".into());
        let err = plan(&probe_of(v, 200.0), &FitOptions::default()).unwrap_err();
        assert_eq!(
            err.reasons,
            vec![
                "the video codec (xyz1) cannot be decoded",
                "the video is 200 s; X allows at most 140 s (ask trim_to_secs to cut it)",
                "aspect ratio 4.2:1 is outside X's 1:3 to 3:1 (ask pad to add bars)",
            ]
        );
        assert_eq!(err.to_string(), err.reasons.join("; "));
    }

    #[test]
    fn durations_outside_x_limits_are_unusable_unless_trimmed() {
        let short = plan(&probe_of(video(160, 90), 0.3), &FitOptions::default()).unwrap_err();
        assert_eq!(
            short.reasons,
            vec!["the video is 0.3 s; X requires at least 0.5 s"]
        );

        let mut unknown = probe_of(video(160, 90), 1.0);
        unknown.duration_secs = None;
        let err = plan(&unknown, &FitOptions::default()).unwrap_err();
        assert_eq!(err.reasons, vec!["the video's duration cannot be read"]);

        let trim = |secs| FitOptions {
            trim_to_secs: Some(secs),
            pad: false,
        };
        let long = probe_of(video(160, 90), 200.0);
        let cut = plan(&long, &trim(30.0)).unwrap();
        assert_eq!(cut.output_duration_secs(), 30.0);
        assert!(cut.changes().contains(&"trimmed to 30 s".to_string()));
        let at_most = plan(&long, &trim(500.0)).unwrap();
        assert_eq!(at_most.output_duration_secs(), 140.0);
        let err = plan(&long, &trim(0.4)).unwrap_err();
        assert_eq!(
            err.reasons,
            vec!["trim_to_secs must be more than 0.5 s (it is 0.4)"]
        );
        assert!(plan(&long, &trim(f64::NAN)).is_err());

        // A trim past the end cuts nothing.
        let whole = plan(&probe_of(video(160, 90), 10.0), &trim(60.0)).unwrap();
        assert_eq!(whole.output_duration_secs(), 10.0);
        let args = whole.ffmpeg_args(Path::new("in"), Path::new("out"));
        assert!(!args.iter().any(|a| a == "-t"));
    }

    #[test]
    fn no_video_and_no_size_are_unusable() {
        let mut audio_only = probe_of(video(1, 1), 3.0);
        audio_only.video = None;
        let err = plan(&audio_only, &FitOptions::default()).unwrap_err();
        assert_eq!(err.reasons, vec!["the file has no video track"]);
        audio_only.has_cover_art = true;
        let err = plan(&audio_only, &FitOptions::default()).unwrap_err();
        assert_eq!(
            err.reasons,
            vec!["the file has no video track (only a cover picture)"]
        );

        let err = plan(&probe_of(video(0, 0), 3.0), &FitOptions::default()).unwrap_err();
        assert_eq!(
            err.reasons,
            vec!["the video's width and height cannot be read"]
        );
        assert_eq!(
            Unusable::unreadable("x.bin: Invalid data found when processing input\n").to_string(),
            "the file could not be read as a video \
             (x.bin: Invalid data found when processing input)"
        );
    }

    #[test]
    fn aspect_is_judged_as_displayed() {
        // 1000x300 stored with 2:1 pixels is 2000x300 on screen: 6.67:1.
        let mut wide = video(1000, 300);
        wide.pixel_aspect = PixelAspect::parse("2:1");
        let err = plan(&probe_of(wide, 2.0), &FitOptions::default()).unwrap_err();
        assert_eq!(
            err.reasons,
            vec!["aspect ratio 6.67:1 is outside X's 1:3 to 3:1 (ask pad to add bars)"]
        );
        let mut tall = video(1000, 250);
        tall.rotation_degrees = 90;
        let err = plan(&probe_of(tall, 2.0), &FitOptions::default()).unwrap_err();
        assert!(err.reasons[0].starts_with("aspect ratio 1:4 "), "{err}");
    }

    #[test]
    fn a_plan_lists_its_changes_and_its_command() {
        let mut v = video(3840, 2160);
        v.codec_name = Some("hevc".into());
        v.profile = Some("Main 10".into());
        v.pix_fmt = Some("yuv420p10le".into());
        v.bit_depth = Some(10);
        v.color_transfer = Some("smpte2084".into());
        v.avg_frame_rate = FrameRate::new(120, 1);
        v.r_frame_rate = FrameRate::new(120, 1);
        v.rotation_degrees = 90;
        let mut probe = probe_of(v, 10.0);
        probe.major_brand = Some("qt  ".into());
        probe.audio = Some(AudioStream {
            codec_name: Some("opus".into()),
            profile: None,
            channels: 6,
            channel_layout: Some("5.1".into()),
            sample_rate: Some(48000),
        });
        let plan = plan(&probe, &FitOptions::default()).unwrap();
        assert_eq!(
            plan.changes(),
            [
                "video codec HEVC → H.264 High",
                "10-bit → 8-bit",
                "HDR (PQ) → SDR",
                "rotation 90° applied",
                "2160×3840 → 720×1280",
                "120 fps → 60 fps",
                "audio Opus → AAC-LC",
                "5.1 audio → stereo",
                "container QuickTime → MP4",
            ]
        );
        assert_eq!((plan.width(), plan.height()), (720, 1280));
        assert_eq!((plan.source_width(), plan.source_height()), (2160, 3840));
        assert!(plan.hdr() && plan.has_audio());

        let args: Vec<String> = plan
            .ffmpeg_args(Path::new("/tmp/in.mov"), Path::new("/tmp/out.mp4"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let expected = "-hide_banner -nostdin -y -protocol_whitelist file \
             -format_whitelist mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,flv,ogg,asf \
             -i file:/tmp/in.mov -map 0:v:0 -map 0:a:0? \
             -sn -dn -map_metadata -1 -map_chapters -1 \
             -vf scale=720:1280,setsar=1,zscale=t=linear:npl=100,format=gbrpf32le,\
             zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,\
             format=yuv420p \
             -fps_mode cfr -r 60 -c:v libx264 -profile:v high -pix_fmt yuv420p -preset veryfast \
             -crf 23 -maxrate 6M -bufsize 12M -g 120 -keyint_min 60 -sc_threshold 0 \
             -c:a aac -b:a 128k -ac 2 -ar 48000 -movflags +faststart -f mp4 \
             -progress pipe:1 -nostats file:/tmp/out.mp4";
        assert_eq!(args.join(" "), expected);
    }

    #[test]
    fn silent_mono_interlaced_and_padded_sources_get_their_own_arguments() {
        let mut v = video(4000, 1000);
        v.field_order = Some("tt".into());
        let mut probe = probe_of(v, 2.0);
        probe.audio = None;
        let padded = plan(
            &probe,
            &FitOptions {
                trim_to_secs: None,
                pad: true,
            },
        )
        .unwrap();
        let args: Vec<String> = padded
            .ffmpeg_args(Path::new("a"), Path::new("b"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert!(args.contains(&"-an".to_string()));
        assert!(!args.iter().any(|a| a == "-c:a"));
        assert!(args.contains(
            &"yadif,scale=1280:320,setsar=1,format=yuv420p,pad=1280:428:(ow-iw)/2:(oh-ih)/2:black"
                .to_string()
        ));
        assert!(padded.changes().contains(&"padded to 3:1".to_string()));
        assert!(padded
            .changes()
            .contains(&"interlaced → progressive".to_string()));

        let mut mono = probe_of(video(160, 90), 2.0);
        if let Some(audio) = mono.audio.as_mut() {
            audio.channels = 1;
            audio.channel_layout = Some("mono".into());
        }
        let plan = plan(&mono, &FitOptions::default()).unwrap();
        let args = plan.ffmpeg_args(Path::new("a"), Path::new("b"));
        let ac = args.iter().position(|a| a == "-ac").unwrap();
        assert_eq!(args[ac + 1], "1");
        // Nothing visible to change: re-encoding (key frames) is the change.
        assert_eq!(
            plan.changes(),
            ["re-encoded with a key frame every 60 frames"]
        );
    }

    #[test]
    fn work_counts_decoded_and_encoded_pixels() {
        let mut v = video(3840, 2160);
        v.avg_frame_rate = FrameRate::new(60, 1);
        v.r_frame_rate = FrameRate::new(60, 1);
        let plan = plan(&probe_of(v, 10.0), &FitOptions::default()).unwrap();
        // 10 s × (3840×2160×60 + 1280×720×60) / 1e6
        let expected = 10.0 * (3840.0 * 2160.0 * 60.0 + 1280.0 * 720.0 * 60.0) / 1e6;
        assert!((plan.work_megapixels() - expected).abs() < 1e-6);
        assert!((plan.estimated_secs(expected / 20.0) - 20.0).abs() < 1e-9);
        assert_eq!(plan.estimated_secs(0.0), f64::INFINITY);
    }
}
