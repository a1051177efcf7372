//! BENCHMARKS.md's fitting section: the measured tables go between their own two markers; the
//! prose around them is kept. A file without the markers gets them appended under a heading.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use reelay_shared::fitter::FitSettings;

use crate::fit::{ClipResult, AUDIO_KBPS, VIDEO_NOISE, VIDEO_SOURCE};
use crate::report::{command_output, replace_section};

pub const BEGIN: &str =
    "<!-- bench:fit:begin (written by `make bench` and `reelay-bench fit`; edits here are lost) -->";
pub const END: &str = "<!-- bench:fit:end -->";

/// What goes before the markers when the file has none yet.
const HEADING: &str = "## Fitting videos (issue 14)\n\n\
    How long fit-video's conversion takes, how much memory ffmpeg needs and what it costs on \
    Lambda, for the two clips issue 14 names. `make bench` measures it after the upload cases; \
    `cargo run --release --quiet -p reelay-bench -- fit` measures it alone.\n\n";

/// fit-video in template.yaml (`FitVideoFunction`): MemorySize, Timeout, EphemeralStorage.
const LAMBDA_MEMORY_MB: f64 = 3538.0;
const LAMBDA_TIMEOUT_SECS: f64 = 900.0;
const LAMBDA_EPHEMERAL_MB: f64 = 4096.0;
/// Lambda bills memory in GB of 1024 MB.
const LAMBDA_GB: f64 = LAMBDA_MEMORY_MB / 1024.0;

/// Lambda x86_64 duration price, first tier (up to 6 billion GB-s a month), US East
/// (N. Virginia), and the request price. See `PRICE_SOURCE`.
const PRICE_PER_GB_SECOND: f64 = 0.000_016_666_7;
const PRICE_PER_MILLION_REQUESTS: f64 = 0.20;
const PRICE_SOURCE: &str = "AWS Lambda x86_64 in US East (N. Virginia), first tier (up to 6 \
    billion GB-s a month): $0.0000166667 per GB-second and $0.20 per million requests. The stored \
    copy of AWS's page (<https://aws.amazon.com/lambda/pricing/>) renders its rate table in the \
    browser, so the rate was taken from a secondary source quoting it, \
    <https://cloudchipr.com/blog/aws-lambda-pricing> (\"AWS Lambda Pricing Breakdown: Ultimate \
    Guide 2024\", 2024), and matches the x86_64 base rate in Artillery's `prices.js` \
    (artillery 2.0.28, `lib/platform/aws-lambda/prices.js`); not checked against the live page \
    for this run";

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn fps_text(fps: Option<f64>) -> String {
    match fps {
        Some(f) if (f - f.round()).abs() < 0.01 => format!("{f:.0} fps"),
        Some(f) => format!("{f:.2} fps"),
        None => "unknown fps".into(),
    }
}

/// Seconds of conversion at the length: measured, or scaled linearly from a shorter
/// clip (the work is per frame).
fn scale(r: &ClipResult) -> f64 {
    f64::from(r.target_secs) / f64::from(r.measured_secs)
}

fn mpx_per_sec(r: &ClipResult) -> f64 {
    r.case.work_megapixels / r.case.wall_secs
}

/// The recommended `FIT_MEGAPIXELS_PER_SEC`: the slower clip's measured speed, rounded down.
pub fn recommended_mpx_per_sec(results: &[ClipResult]) -> Option<f64> {
    results
        .iter()
        .map(mpx_per_sec)
        .filter(|v| v.is_finite() && *v > 0.0)
        .min_by(f64::total_cmp)
        .map(f64::floor)
}

fn label(r: &ClipResult) -> String {
    if r.measured_secs == r.target_secs {
        format!("{} s {}", r.target_secs, r.title)
    } else {
        format!(
            "{} s {} (**extrapolated** from {} s)",
            r.target_secs, r.title, r.measured_secs
        )
    }
}

pub fn section(results: &[ClipResult], total: Duration) -> String {
    let margin = FitSettings::default().finish_margin.as_secs_f64();
    let budget = LAMBDA_TIMEOUT_SECS - margin;
    let recommended = recommended_mpx_per_sec(results);
    let mut s = String::new();
    let _ = writeln!(s, "{BEGIN}");
    let ffmpeg_version = command_output("ffmpeg", &["-version"]);
    let _ = writeln!(
        s,
        "Run of {} UTC: the fitting step of `make bench` (`reelay-bench fit`), {:.0} s in all, \
         on {} cores ({}), {}. MiB = 2^20 bytes; each conversion ran in a fresh process; each \
         row is one run.\n",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M"]),
        total.as_secs_f64(),
        command_output("nproc", &[]),
        command_output("uname", &["-sr"]),
        ffmpeg_version
            .lines()
            .next()
            .and_then(|l| l.split(" Copyright").next())
            .unwrap_or("ffmpeg")
            .replace("ffmpeg version", "ffmpeg")
            .trim(),
    );
    let _ = writeln!(
        s,
        "Sources, generated with ffmpeg for this run under `target/bench-fit/` and deleted after: \
         `{VIDEO_SOURCE}` (moving colour bars, gradients and a counter) with temporal noise \
         (`{VIDEO_NOISE}`), so that every frame differs everywhere and both encoders have real \
         work (harder to compress than phone footage, so the speeds are on the slow side), and a \
         stereo tone in AAC-LC at {AUDIO_KBPS} kb/s:\n"
    );
    for r in results {
        let _ = writeln!(
            s,
            "- {} s {}, generated in {:.0} s: `{}`",
            r.measured_secs, r.title, r.generate_secs, r.generate_command
        );
    }
    let _ = writeln!(
        s,
        "\nEach was probed with `Ffmpeg::probe`, planned with `fit::plan` and default \
         `FitOptions`, and converted with `Ffmpeg::convert` (fit-video's code path and ffmpeg \
         arguments: H.264 High `veryfast` CRF 23, at most 6 Mb/s, AAC 128 kb/s, `+faststart`).\n"
    );

    let _ = writeln!(
        s,
        "| clip | source | source MiB | output (ffprobe) | output MiB | conversion wall s | × realtime (output s ÷ wall s) | work Mpx | Mpx/s | ffmpeg CPU s | ffmpeg peak RSS MiB | load 1 min before → after |"
    );
    let _ = writeln!(
        s,
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in results {
        let c = &r.case;
        let _ = writeln!(
            s,
            "| {} s {} | {} {}x{} {}, {:.1} s, {}, {} | {:.1} | {} {}x{} {}, {} s, {} | {:.1} | {:.1} | {:.2} | {:.0} | {:.1} | {:.1} | {}{:.0} | {:.2} → {:.2} |",
            r.measured_secs,
            r.title,
            c.source_codec,
            c.source_width,
            c.source_height,
            fps_text(c.source_fps),
            c.source_duration_secs,
            c.source_audio.as_deref().unwrap_or("no sound"),
            c.source_container,
            mib(c.input_bytes),
            c.output_codec,
            c.output_width,
            c.output_height,
            fps_text(c.output_fps),
            c.output_duration_secs
                .map(|d| format!("{d:.1}"))
                .unwrap_or_else(|| "?".into()),
            c.output_audio.as_deref().unwrap_or("no sound"),
            mib(c.output_bytes),
            c.wall_secs,
            c.plan_duration_secs / c.wall_secs,
            c.work_megapixels,
            mpx_per_sec(r),
            c.ffmpeg_cpu_secs,
            if c.ffmpeg_peak_is_exact { "" } else { "≤ " },
            kib_to_mib(c.ffmpeg_peak_rss_kib),
            c.load_before,
            c.load_after,
        );
    }
    for r in results.iter().filter(|r| r.measured_secs != r.target_secs) {
        let c = &r.case;
        let k = scale(r);
        let _ = writeln!(
            s,
            "| {} s {} (**extrapolated** ×{k:.2} from the {} s row: time and sizes scale with \
             the frames) | | {:.1} | | {:.1} | {:.1} | {:.2} | {:.0} | {:.1} | {:.1} | (as measured) | |",
            r.target_secs,
            r.title,
            r.measured_secs,
            mib(c.input_bytes) * k,
            mib(c.output_bytes) * k,
            c.wall_secs * k,
            c.plan_duration_secs / c.wall_secs,
            c.work_megapixels * k,
            mpx_per_sec(r),
            c.ffmpeg_cpu_secs * k,
        );
    }
    let _ = writeln!(
        s,
        "\nWork Mpx = `FitPlan::work_megapixels()` (source pixels decoded plus output pixels \
         encoded, over the output's duration); Mpx/s = work ÷ conversion wall time. ffmpeg CPU s \
         = its user + system time (`getrusage(RUSAGE_CHILDREN)`; above the wall time means it \
         used both cores). ffmpeg peak RSS = `ru_maxrss` of the conversion process's waited-for \
         children, which are only ffprobe and ffmpeg (\"≤\" when ffprobe's peak was the larger). \
         The conversion process's own peak (VmHWM, the part fit-video's Rust code would add) was \
         {} MiB. Load = `/proc/loadavg`: other work shared the 2 cores, so wall times here are \
         pessimistic.\n",
        results
            .iter()
            .map(|r| format!("{:.1}", kib_to_mib(r.case.bench_peak_rss_kib)))
            .collect::<Vec<_>>()
            .join(" and "),
    );

    let _ = writeln!(
        s,
        "Against fit-video's Lambda ({LAMBDA_MEMORY_MB:.0} MB, timeout {LAMBDA_TIMEOUT_SECS:.0} s, \
         ephemeral storage {LAMBDA_EPHEMERAL_MB:.0} MB in template.yaml). Assumption: at \
         {LAMBDA_MEMORY_MB:.0} MB Lambda gives 2 vCPUs, like this machine, so the conversion is \
         taken to last as long as here; Lambda's vCPUs may be slower or faster than these, which \
         this bench has not verified.\n"
    );
    let _ = writeln!(
        s,
        "| clip | conversion at {LAMBDA_MEMORY_MB:.0} MB s | headroom to the {LAMBDA_TIMEOUT_SECS:.0} s timeout | fit-video's limit for converting ({LAMBDA_TIMEOUT_SECS:.0} − {margin:.0} s margin) | its estimate at {} Mpx/s (this build) | at {} Mpx/s (this run's speed) | memory: ffmpeg + conversion process peak vs {LAMBDA_MEMORY_MB:.0} MB | `/tmp`: source + output vs {LAMBDA_EPHEMERAL_MB:.0} MB |",
        results
            .first()
            .map(|r| format!("{:.0}", r.case.default_megapixels_per_sec))
            .unwrap_or_default(),
        recommended.map(|v| format!("{v:.0}")).unwrap_or_default(),
    );
    let _ = writeln!(s, "| --- | ---: | ---: | --- | ---: | ---: | --- | --- |");
    for r in results {
        let c = &r.case;
        let k = scale(r);
        let secs = c.wall_secs * k;
        let work = c.work_megapixels * k;
        let memory_mib = kib_to_mib(c.ffmpeg_peak_rss_kib + c.bench_peak_rss_kib);
        let memory_mb = memory_mib * 1.048_576;
        let disk_mb = (c.input_bytes + c.output_bytes) as f64 * k / 1e6;
        let at_default = work / c.default_megapixels_per_sec;
        let _ = writeln!(
            s,
            "| {} | {secs:.0} | {:.0} s ({:.0}%) | {} | {at_default:.0} s ({}) | {} | {memory_mib:.0} MiB = {memory_mb:.0} MB, {:.0}% ({}) | {disk_mb:.0} MB, {:.0}% ({}) |",
            label(r),
            LAMBDA_TIMEOUT_SECS - secs,
            100.0 * (LAMBDA_TIMEOUT_SECS - secs) / LAMBDA_TIMEOUT_SECS,
            if secs <= budget {
                format!("{budget:.0} s: fits")
            } else {
                format!("{budget:.0} s: **does not fit**")
            },
            if at_default <= budget {
                "started"
            } else {
                "refused up front"
            },
            recommended
                .map(|v| {
                    let est = work / v;
                    format!(
                        "{est:.0} s ({})",
                        if est <= budget {
                            "started"
                        } else {
                            "refused up front"
                        }
                    )
                })
                .unwrap_or_default(),
            100.0 * memory_mb / LAMBDA_MEMORY_MB,
            if memory_mb < LAMBDA_MEMORY_MB {
                "fits"
            } else {
                "**does not fit**"
            },
            100.0 * disk_mb / LAMBDA_EPHEMERAL_MB,
            if disk_mb < LAMBDA_EPHEMERAL_MB {
                "fits"
            } else {
                "**does not fit**"
            },
        );
    }
    let _ = writeln!(
        s,
        "\nAn invocation also downloads the source from S3, probes it, checks the result with \
         Reelay's pre-flight and uploads it; those are not measured here and come out of the \
         headroom.\n"
    );

    let _ = writeln!(
        s,
        "Cost of the conversion at {LAMBDA_MEMORY_MB:.0} MB ({LAMBDA_GB:.3} GB) and \
         ${PRICE_PER_GB_SECOND} per GB-second:\n"
    );
    let _ = writeln!(
        s,
        "| clip | conversion s per minute of video | GB-s per minute of video | $ per minute of video | $ per clip |"
    );
    let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: |");
    for r in results {
        let c = &r.case;
        let k = scale(r);
        let secs = c.wall_secs * k;
        let minutes = c.plan_duration_secs * k / 60.0;
        let per_minute = secs / minutes;
        let gb_s = per_minute * LAMBDA_GB;
        let _ = writeln!(
            s,
            "| {} | {per_minute:.1} | {gb_s:.0} | ${:.4} | ${:.4} |",
            label(r),
            gb_s * PRICE_PER_GB_SECOND,
            secs * LAMBDA_GB * PRICE_PER_GB_SECOND,
        );
    }
    let _ = writeln!(
        s,
        "\nThe request charge (${:.7} per invocation, one or a few per video) is negligible next \
         to that. Ephemeral storage beyond the free 512 MB is billed too and is not included here \
         (its rate was not found in the stored pricing page). Prices: {PRICE_SOURCE}.\n",
        PRICE_PER_MILLION_REQUESTS / 1e6,
    );
    if let Some(v) = recommended {
        let slower = results
            .iter()
            .min_by(|a, b| mpx_per_sec(a).total_cmp(&mpx_per_sec(b)))
            .map(|r| format!("{} s {}", r.measured_secs, r.title))
            .unwrap_or_default();
        // The bench measures; it does not change the code. A run on a quieter machine than the
        // one the default came from would otherwise read as if the default had moved.
        let current = reelay_shared::fitter::DEFAULT_MEGAPIXELS_PER_SEC;
        let verdict = if v.floor() == current.floor() {
            "the same as fit-video's default".to_string()
        } else {
            format!(
                "fit-video's default (`DEFAULT_MEGAPIXELS_PER_SEC`, what `FIT_MEGAPIXELS_PER_SEC` \
                 falls back to) is **{current:.0}**, unchanged by this run: moving it is a decision \
                 (a speed measured on idle cores starts conversions a busier Lambda may not finish)"
            )
        };
        let _ = writeln!(
            s,
            "This run's speed for `FIT_MEGAPIXELS_PER_SEC`: **{v:.0}**, the lower of the two \
             measured speeds (the {slower}), rounded down; {verdict}."
        );
    }
    let _ = writeln!(s, "{END}");
    s
}

/// Replaces the fitting section in `path`, or appends it under a heading.
pub fn write(path: &Path, results: &[ClipResult], total: Duration) -> anyhow::Result<()> {
    replace_section(path, BEGIN, END, &section(results, total), HEADING)
}
