//! Fitting a video for X (issue 14): the pure part. A video X would refuse as it is (HEVC, 4K,
//! 10-bit or HDR, over 60 fps, WebM or MKV, MPEG-4 Part 2, rotated, non-square pixels, variable
//! frame rate, 5.1/MP3/Opus/AC-3 sound, fragmented MP4, …) is converted with ffmpeg to X's
//! recommended profile; one no conversion can save is refused with reasons the user can act on.
//!
//! ```text
//! ffprobe_args ─→ ffprobe ─→ parse_probe ─→ plan ─┬─→ Unusable { reasons }
//!                                                 └─→ FitPlan ─ estimated_secs ─ ffmpeg_args ─→ ffmpeg
//!                                                                                   │ -progress pipe:1
//!                                                               ProgressParser ←────┘
//! ```
//!
//! - [`probe`] reads ffprobe's JSON report into the facts that matter.
//! - [`plan`](mod@plan) decides: unusable (every reason), or the output's size, frame rate and
//!   duration, the list of changes, and the exact ffmpeg arguments.
//! - [`progress`] reads ffmpeg's `-progress` report into a percent.
//!
//! Nothing here runs a process or touches a file: `crate::ffmpeg` runs the binaries and
//! `crate::fitter` does the job around them. The converted file is checked with the same
//! `video_preflight` rules as an upload that needed no conversion.

pub mod plan;
pub mod probe;
pub mod progress;

pub use plan::{plan, FitOptions, FitPlan, SourceFacts, Unusable};
pub use probe::{
    ffprobe_args, parse_probe, AudioStream, FrameRate, Hdr, PixelAspect, Probe, ProbeError,
    VideoStream,
};
pub use progress::{percent, Progress, ProgressParser};
