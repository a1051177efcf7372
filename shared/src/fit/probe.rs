//! ffprobe's JSON report, read into the facts the plan needs.
//!
//! The wire structs mirror ffprobe's `-print_format json -show_format -show_streams` output and
//! take every scalar as a loose JSON value: ffprobe writes some numbers as strings (`"duration":
//! "1.000000"`, `"nb_frames": "30"`, `"sample_rate": "48000"`), some as numbers, and `"N/A"` where
//! it does not know, and a field that changes shape between ffmpeg releases must not make a whole
//! report unreadable.

use std::ffi::OsString;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

/// The demuxers an upload may be read with: the containers cameras, phones and browsers write.
/// The upload is hostile input: without a list, ffmpeg picks a demuxer from the content, and a
/// text file shaped as an HLS or concat playlist would make it open other files or URLs (a
/// known way to read a server's local files into a video).
pub const DEMUXERS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,flv,ogg,asf";

/// Input options that confine ffprobe and ffmpeg to the one local file and those demuxers.
pub const INPUT_GUARDS: [&str; 4] = ["-protocol_whitelist", "file", "-format_whitelist", DEMUXERS];

/// The arguments for `ffprobe` (the binary's name not included) to describe `input`.
pub fn ffprobe_args(input: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
    ]
    .iter()
    .chain(INPUT_GUARDS.iter())
    .map(OsString::from)
    .collect();
    // `file:` keeps a name that starts with a protocol (`http:`), or with `-`, a file name.
    let mut named = OsString::from("file:");
    named.push(input.as_os_str());
    args.push(named);
    args
}

/// ffprobe's output could not be read as its JSON report.
#[derive(Debug, Error)]
pub enum ProbeError {
    #[error("ffprobe's report is not the JSON it should print")]
    Json(#[from] serde_json::Error),
}

/// What ffprobe says about a file: its container and its first video and audio streams.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probe {
    /// ffprobe's demuxer names, e.g. `"mov,mp4,m4a,3gp,3g2,mj2"` or `"matroska,webm"`.
    pub format_name: String,
    /// The `ftyp` major brand of an MP4/MOV (`"qt  "` for QuickTime), when there is one.
    pub major_brand: Option<String>,
    /// The container's duration, or the video stream's when the container has none.
    pub duration_secs: Option<f64>,
    /// The first video stream that is not cover art.
    pub video: Option<VideoStream>,
    /// The first audio stream.
    pub audio: Option<AudioStream>,
    /// A still picture attached as cover art was seen (and skipped): an MP3 or M4A with artwork
    /// has one, and is still not a video.
    pub has_cover_art: bool,
}

/// The first real video stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VideoStream {
    /// ffmpeg's decoder name (`"h264"`, `"hevc"`, `"vp9"`, `"mpeg4"`); `None` when ffmpeg has no
    /// decoder for it.
    pub codec_name: Option<String>,
    /// The four-character code, to name a codec ffmpeg cannot decode.
    pub codec_tag: Option<String>,
    /// E.g. `"High"`, `"Main 10"`, `"Profile 0"`.
    pub profile: Option<String>,
    /// Stored size in pixels (before rotation and pixel aspect); 0 when unknown.
    pub width: u32,
    pub height: u32,
    /// E.g. `"yuv420p"`, `"yuv420p10le"`.
    pub pix_fmt: Option<String>,
    /// Pixel aspect ratio; square when ffprobe says `0:1`, `N/A` or nothing.
    pub pixel_aspect: PixelAspect,
    /// The lowest rate that represents every timestamp exactly; `None` for `0/0`.
    pub r_frame_rate: Option<FrameRate>,
    /// Frames over duration; `None` for `0/0`.
    pub avg_frame_rate: Option<FrameRate>,
    /// E.g. `"bt709"`, `"smpte2084"`, `"arib-std-b67"`.
    pub color_transfer: Option<String>,
    /// `"progressive"`, or `"tt"`, `"bb"`, `"tb"`, `"bt"` for interlaced video.
    pub field_order: Option<String>,
    /// Bits per sample, from ffprobe's `bits_per_raw_sample` or the pixel format's name.
    pub bit_depth: Option<u8>,
    /// Clockwise rotation a player applies when displaying: 0, 90, 180 or 270.
    pub rotation_degrees: u16,
    pub nb_frames: Option<u64>,
    pub duration_secs: Option<f64>,
}

/// The first audio stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AudioStream {
    /// `"aac"`, `"mp3"`, `"opus"`, `"ac3"`, …; `None` when ffmpeg has no decoder for it.
    pub codec_name: Option<String>,
    /// `"LC"`, `"HE-AAC"`, … for AAC.
    pub profile: Option<String>,
    /// 0 when unknown.
    pub channels: u32,
    /// E.g. `"mono"`, `"stereo"`, `"5.1"`, `"5.1(side)"`.
    pub channel_layout: Option<String>,
    pub sample_rate: Option<u32>,
}

/// Which HDR transfer function a video is encoded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hdr {
    /// SMPTE ST 2084 (HDR10, Dolby Vision profile 8.1, iPhone HDR exports from some editors).
    Pq,
    /// Hybrid log-gamma (iPhone camera HDR, broadcast).
    Hlg,
}

impl VideoStream {
    /// The HDR transfer, if the stream is tagged with one.
    pub fn hdr(&self) -> Option<Hdr> {
        match self.color_transfer.as_deref() {
            Some("smpte2084") => Some(Hdr::Pq),
            Some("arib-std-b67") => Some(Hdr::Hlg),
            _ => None,
        }
    }

    /// Whether the stream is coded as fields. Unknown counts as progressive: most containers
    /// (AVI, WebM) do not say, and nearly everything made since phones is progressive.
    pub fn interlaced(&self) -> bool {
        matches!(self.field_order.as_deref(), Some("tt" | "bb" | "tb" | "bt"))
    }

    /// The size a player shows, in square pixels: the pixel aspect applied to the width, then
    /// the rotation.
    pub fn display_size(&self) -> (f64, f64) {
        let width = f64::from(self.width) * self.pixel_aspect.ratio();
        let height = f64::from(self.height);
        if self.rotation_degrees % 180 == 90 {
            (height, width)
        } else {
            (width, height)
        }
    }

    /// The stored size turned the way it is displayed (rotation applied, pixel aspect not).
    pub fn oriented_size(&self) -> (u32, u32) {
        if self.rotation_degrees % 180 == 90 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// A frame rate as the rational ffprobe gives (`30000/1001`), kept exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    pub num: u32,
    pub den: u32,
}

impl FrameRate {
    /// A rate in lowest terms; `None` when either part is 0 (ffprobe's `0/0` for unknown).
    pub fn new(num: u32, den: u32) -> Option<Self> {
        if num == 0 || den == 0 {
            return None;
        }
        let divisor = gcd(u64::from(num), u64::from(den)) as u32;
        Some(Self {
            num: num / divisor,
            den: den / divisor,
        })
    }

    /// Parses ffprobe's `"30000/1001"` (or a bare `"25"`).
    pub fn parse(text: &str) -> Option<Self> {
        let (num, den) = match text.trim().split_once('/') {
            Some((num, den)) => (num.trim().parse().ok()?, den.trim().parse().ok()?),
            None => (text.trim().parse().ok()?, 1),
        };
        Self::new(num, den)
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }
}

impl std::fmt::Display for FrameRate {
    /// `30` or `30000/1001`: the form ffmpeg's `-r` takes, exact.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// The width of a pixel over its height, in lowest terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelAspect {
    pub horizontal: u32,
    pub vertical: u32,
}

impl Default for PixelAspect {
    fn default() -> Self {
        Self::SQUARE
    }
}

impl PixelAspect {
    pub const SQUARE: PixelAspect = PixelAspect {
        horizontal: 1,
        vertical: 1,
    };

    /// Parses ffprobe's `"4:3"`; `"0:1"` (unset), `"N/A"` and nonsense mean square pixels,
    /// which is what players assume.
    pub fn parse(text: &str) -> Self {
        let Some((h, v)) = text.split_once(':') else {
            return Self::SQUARE;
        };
        match (h.trim().parse::<u32>(), v.trim().parse::<u32>()) {
            (Ok(h), Ok(v)) if h > 0 && v > 0 => {
                let divisor = gcd(u64::from(h), u64::from(v)) as u32;
                Self {
                    horizontal: h / divisor,
                    vertical: v / divisor,
                }
            }
            _ => Self::SQUARE,
        }
    }

    pub fn is_square(self) -> bool {
        self.horizontal == self.vertical
    }

    pub fn ratio(self) -> f64 {
        f64::from(self.horizontal) / f64::from(self.vertical)
    }
}

/// Reads ffprobe's JSON report (`ffprobe_args`' output).
pub fn parse_probe(json: &[u8]) -> Result<Probe, ProbeError> {
    let raw: RawProbe = serde_json::from_slice(json)?;
    let format = raw.format.unwrap_or_default();

    let mut probe = Probe {
        format_name: format.format_name.unwrap_or_default(),
        major_brand: format
            .tags
            .get("major_brand")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..Probe::default()
    };
    for stream in raw.streams {
        match stream.codec_type.as_deref() {
            Some("video") if stream.is_cover_art() => probe.has_cover_art = true,
            Some("video") if probe.video.is_none() => probe.video = Some(stream.into_video()),
            Some("audio") if probe.audio.is_none() => probe.audio = Some(stream.into_audio()),
            _ => {}
        }
    }
    probe.duration_secs = positive(number(&format.duration))
        .or_else(|| probe.video.as_ref().and_then(|v| v.duration_secs));
    Ok(probe)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawProbe {
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawFormat {
    format_name: Option<String>,
    duration: Value,
    tags: serde_json::Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    codec_tag_string: Option<String>,
    profile: Value,
    width: Value,
    height: Value,
    pix_fmt: Option<String>,
    sample_aspect_ratio: Option<String>,
    r_frame_rate: Option<String>,
    avg_frame_rate: Option<String>,
    color_transfer: Option<String>,
    field_order: Option<String>,
    bits_per_raw_sample: Value,
    nb_frames: Value,
    duration: Value,
    channels: Value,
    channel_layout: Option<String>,
    sample_rate: Value,
    disposition: serde_json::Map<String, Value>,
    tags: serde_json::Map<String, Value>,
    side_data_list: Vec<RawSideData>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawSideData {
    side_data_type: Option<String>,
    rotation: Value,
}

impl RawStream {
    fn is_cover_art(&self) -> bool {
        number(self.disposition.get("attached_pic").unwrap_or(&Value::Null)) == Some(1.0)
    }

    fn into_video(self) -> VideoStream {
        let rotation_degrees = self.rotation_degrees();
        let bit_depth = whole(&self.bits_per_raw_sample)
            .and_then(|bits| u8::try_from(bits).ok())
            .filter(|bits| *bits > 0)
            .or_else(|| self.pix_fmt.as_deref().and_then(bit_depth_of_pix_fmt));
        VideoStream {
            codec_name: known(self.codec_name),
            codec_tag: known(self.codec_tag_string),
            profile: text(&self.profile),
            width: whole(&self.width)
                .and_then(|w| u32::try_from(w).ok())
                .unwrap_or(0),
            height: whole(&self.height)
                .and_then(|h| u32::try_from(h).ok())
                .unwrap_or(0),
            pix_fmt: known(self.pix_fmt),
            pixel_aspect: self
                .sample_aspect_ratio
                .as_deref()
                .map_or(PixelAspect::SQUARE, PixelAspect::parse),
            r_frame_rate: self.r_frame_rate.as_deref().and_then(FrameRate::parse),
            avg_frame_rate: self.avg_frame_rate.as_deref().and_then(FrameRate::parse),
            color_transfer: known(self.color_transfer),
            field_order: known(self.field_order),
            bit_depth,
            rotation_degrees,
            nb_frames: whole(&self.nb_frames),
            duration_secs: positive(number(&self.duration)),
        }
    }

    fn into_audio(self) -> AudioStream {
        AudioStream {
            codec_name: known(self.codec_name),
            profile: text(&self.profile),
            channels: whole(&self.channels)
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(0),
            channel_layout: known(self.channel_layout),
            sample_rate: whole(&self.sample_rate).and_then(|r| u32::try_from(r).ok()),
        }
    }

    /// Clockwise degrees, the way players turn the picture.
    ///
    /// ffmpeg 5 and later report the display matrix as side data whose `rotation` is
    /// counter-clockwise (`av_display_rotation_get`): an iPhone portrait clip says `-90`, and
    /// ffmpeg 5.1 turned a file it reports as `90` a quarter turn counter-clockwise when decoding
    /// (checked with a marked corner, see the tests). Older ffmpeg put a clockwise `rotate` tag
    /// (`"90"` for the same iPhone clip). Angles that are not a quarter turn are rounded to one.
    fn rotation_degrees(&self) -> u16 {
        let from_matrix = self
            .side_data_list
            .iter()
            .filter(|s| s.side_data_type.as_deref() == Some("Display Matrix"))
            .find_map(|s| number(&s.rotation))
            .map(|counter_clockwise| -counter_clockwise);
        let from_tag = || self.tags.get("rotate").and_then(number);
        let Some(clockwise) = from_matrix.or_else(from_tag) else {
            return 0;
        };
        if !clockwise.is_finite() {
            return 0;
        }
        let quarter_turns = (clockwise / 90.0).round().rem_euclid(4.0);
        (quarter_turns as u16 % 4) * 90
    }
}

/// The bit depth a pixel format's name states (`yuv420p10le` → 10, `p010le` → 10), or 8 for the
/// plain planar and packed YUV formats; `None` when the name does not say.
fn bit_depth_of_pix_fmt(pix_fmt: &str) -> Option<u8> {
    let name = pix_fmt
        .strip_suffix("le")
        .or_else(|| pix_fmt.strip_suffix("be"))
        .unwrap_or(pix_fmt);
    let digits_at = name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, digits) = name.split_at(digits_at);
    // Only digits right after a `p` are a depth: `nv12` and `rgb24` name a layout, not bits.
    if !digits.is_empty() && stem.ends_with('p') {
        return digits.parse().ok();
    }
    if name.starts_with("yuv") || name.starts_with("yuvj") || name == "nv12" || name == "nv21" {
        return Some(8);
    }
    None
}

/// A number from a value ffprobe writes as a number, a numeric string, or `"N/A"`.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

fn whole(value: &Value) -> Option<u64> {
    number(value)
        .filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n <= u64::MAX as f64)
        .map(|n| n as u64)
}

fn positive(n: Option<f64>) -> Option<f64> {
    n.filter(|n| *n > 0.0)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => known(Some(s.clone())),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Drops ffprobe's placeholders for "unknown".
fn known(value: Option<String>) -> Option<String> {
    value.filter(|s| {
        let s = s.trim();
        !s.is_empty() && s != "unknown" && s != "none" && s != "N/A"
    })
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from ffprobe 5.1's report on an iPhone-style HEVC clip with 5.1 AAC and a cover.
    const HEVC_ROTATED: &str = r#"{
        "streams": [
            {"index": 0, "codec_name": "hevc", "profile": "Main 10", "codec_type": "video",
             "codec_tag_string": "hvc1", "width": 1920, "height": 1080,
             "sample_aspect_ratio": "1:1", "pix_fmt": "yuv420p10le",
             "color_transfer": "arib-std-b67", "field_order": "progressive",
             "r_frame_rate": "30000/1001", "avg_frame_rate": "30000/1001",
             "duration": "1.001000", "nb_frames": "30",
             "disposition": {"default": 1, "attached_pic": 0},
             "side_data_list": [
                {"side_data_type": "DOVI configuration record"},
                {"side_data_type": "Display Matrix", "displaymatrix": "...", "rotation": -90}
             ],
             "some_future_field": {"nested": [1, 2]}},
            {"index": 1, "codec_name": "aac", "profile": "LC", "codec_type": "audio",
             "sample_rate": "48000", "channels": 6, "channel_layout": "5.1",
             "r_frame_rate": "0/0", "avg_frame_rate": "0/0"},
            {"index": 2, "codec_name": "mjpeg", "codec_type": "video", "width": 600,
             "height": 600, "disposition": {"attached_pic": 1}}
        ],
        "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "1.001000",
                   "tags": {"major_brand": "qt  "}}
    }"#;

    #[test]
    fn reads_the_facts_of_an_hevc_clip() {
        let probe = parse_probe(HEVC_ROTATED.as_bytes()).unwrap();
        assert_eq!(probe.format_name, "mov,mp4,m4a,3gp,3g2,mj2");
        assert_eq!(probe.major_brand.as_deref(), Some("qt  "));
        assert_eq!(probe.duration_secs, Some(1.001));
        assert!(probe.has_cover_art);
        let video = probe.video.unwrap();
        assert_eq!(video.codec_name.as_deref(), Some("hevc"));
        assert_eq!(video.profile.as_deref(), Some("Main 10"));
        assert_eq!((video.width, video.height), (1920, 1080));
        assert_eq!(video.bit_depth, Some(10));
        assert_eq!(video.hdr(), Some(Hdr::Hlg));
        assert_eq!(video.rotation_degrees, 90);
        assert_eq!(video.oriented_size(), (1080, 1920));
        assert_eq!(video.avg_frame_rate, FrameRate::new(30000, 1001));
        assert_eq!(video.nb_frames, Some(30));
        assert!(!video.interlaced());
        let audio = probe.audio.unwrap();
        assert_eq!(audio.codec_name.as_deref(), Some("aac"));
        assert_eq!(audio.profile.as_deref(), Some("LC"));
        assert_eq!(audio.channels, 6);
        assert_eq!(audio.channel_layout.as_deref(), Some("5.1"));
        assert_eq!(audio.sample_rate, Some(48000));
    }

    #[test]
    fn cover_art_alone_is_no_video() {
        let json = r#"{"streams": [
            {"codec_type": "audio", "codec_name": "mp3", "channels": 2},
            {"codec_type": "video", "codec_name": "png", "width": 500, "height": 500,
             "disposition": {"attached_pic": 1}}],
            "format": {"format_name": "mp3", "duration": "3.0"}}"#;
        let probe = parse_probe(json.as_bytes()).unwrap();
        assert!(probe.video.is_none());
        assert!(probe.has_cover_art);
        assert_eq!(probe.audio.unwrap().channels, 2);
    }

    #[test]
    fn rotation_from_the_matrix_is_counter_clockwise_and_from_the_tag_clockwise() {
        let with = |extra: &str| {
            let json = format!(
                r#"{{"streams": [{{"codec_type": "video", "codec_name": "h264",
                    "width": 16, "height": 8 {extra}}}]}}"#
            );
            parse_probe(json.as_bytes())
                .unwrap()
                .video
                .unwrap()
                .rotation_degrees
        };
        let matrix = |rotation: &str| {
            with(&format!(
                r#", "side_data_list": [{{"side_data_type": "Display Matrix", "rotation": {rotation}}}]"#
            ))
        };
        assert_eq!(matrix("-90"), 90);
        assert_eq!(matrix("90"), 270);
        assert_eq!(matrix("180"), 180);
        assert_eq!(matrix("-180"), 180);
        assert_eq!(matrix("-270"), 270);
        assert_eq!(matrix("0"), 0);
        assert_eq!(matrix("-89.97"), 90);
        assert_eq!(with(r#", "tags": {"rotate": "90"}"#), 90);
        assert_eq!(with(r#", "tags": {"rotate": "270"}"#), 270);
        assert_eq!(with(r#", "tags": {"rotate": "-90"}"#), 270);
        assert_eq!(with(r#", "tags": {"rotate": "sideways"}"#), 0);
        assert_eq!(with(""), 0);
    }

    #[test]
    fn unknowns_and_placeholders_are_none() {
        let json = r#"{"streams": [{"codec_type": "video", "width": "N/A",
            "r_frame_rate": "0/0", "avg_frame_rate": "0/0", "sample_aspect_ratio": "0:1",
            "codec_tag_string": "[0][0][0][0]", "pix_fmt": "unknown", "nb_frames": "N/A"}],
            "format": {"duration": "N/A"}}"#;
        let probe = parse_probe(json.as_bytes()).unwrap();
        assert_eq!(probe.duration_secs, None);
        assert_eq!(probe.format_name, "");
        let video = probe.video.unwrap();
        assert_eq!(video.codec_name, None);
        assert_eq!((video.width, video.height), (0, 0));
        assert_eq!(video.r_frame_rate, None);
        assert_eq!(video.avg_frame_rate, None);
        assert!(video.pixel_aspect.is_square());
        assert_eq!(video.pix_fmt, None);
        assert_eq!(video.nb_frames, None);
    }

    #[test]
    fn an_empty_report_has_nothing_and_garbage_is_an_error() {
        assert_eq!(parse_probe(b"{}").unwrap(), Probe::default());
        assert!(parse_probe(b"").is_err());
        assert!(parse_probe(b"not json").is_err());
        assert!(parse_probe(br#"{"streams": 3}"#).is_err());
    }

    #[test]
    fn frame_rates_and_pixel_aspects_parse() {
        assert_eq!(
            FrameRate::parse("30000/1001").unwrap().to_string(),
            "30000/1001"
        );
        assert_eq!(FrameRate::parse("120/2").unwrap().to_string(), "60");
        assert_eq!(FrameRate::parse("25").unwrap().as_f64(), 25.0);
        assert_eq!(FrameRate::parse("0/0"), None);
        assert_eq!(FrameRate::parse("30/0"), None);
        assert_eq!(FrameRate::parse("x/1"), None);
        assert_eq!(
            PixelAspect::parse("8:6"),
            PixelAspect {
                horizontal: 4,
                vertical: 3
            }
        );
        assert!(PixelAspect::parse("0:1").is_square());
        assert!(PixelAspect::parse("N/A").is_square());
        assert!(PixelAspect::parse("1:1").is_square());
    }

    #[test]
    fn bit_depth_comes_from_the_pixel_format_when_ffprobe_does_not_say() {
        assert_eq!(bit_depth_of_pix_fmt("yuv420p"), Some(8));
        assert_eq!(bit_depth_of_pix_fmt("yuvj420p"), Some(8));
        assert_eq!(bit_depth_of_pix_fmt("yuv420p10le"), Some(10));
        assert_eq!(bit_depth_of_pix_fmt("yuv422p12be"), Some(12));
        assert_eq!(bit_depth_of_pix_fmt("p010le"), Some(10));
        assert_eq!(bit_depth_of_pix_fmt("nv12"), Some(8));
        assert_eq!(bit_depth_of_pix_fmt("rgb24"), None);
    }

    #[test]
    fn the_input_is_passed_as_a_file_url() {
        let args = ffprobe_args(Path::new("-odd:name.mp4"));
        assert_eq!(args.last().unwrap(), "file:-odd:name.mp4");
        assert!(args.iter().any(|a| a == "-show_streams"));
    }
}
