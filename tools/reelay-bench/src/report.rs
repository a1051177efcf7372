//! BENCHMARKS.md: the measured tables go between two markers; the prose around them is kept.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::case::{CaseResult, Mode};
use crate::driver::{ProfileRun, RunArgs, DEFAULT_PARALLEL};

pub const BEGIN: &str =
    "<!-- bench:results:begin (written by `make bench`; edits here are lost) -->";
pub const END: &str = "<!-- bench:results:end -->";

/// A Lambda memory size to compare the largest run with (DESIGN §3).
const LAMBDA_MIB: f64 = 256.0;

/// The profile and size the acceptance of issue 16 is judged on.
pub const ACCEPTANCE_PROFILE: &str = "lambda-to-x";
pub const ACCEPTANCE_SIZE_MIB: u64 = 512;
/// Issue 16's thresholds.
const MIN_PARALLEL_OVER_LINE: f64 = 2.0;
const MIN_PARALLEL_OVER_TWAPI: f64 = 2.0;
const MAX_PARALLEL_RSS_MIB: f64 = 64.0;
const MIN_SEQUENTIAL_OVER_LINE: f64 = 0.9;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn find<'a>(
    results: &'a [CaseResult],
    profile: &str,
    size: u64,
    f: impl Fn(&CaseResult) -> bool,
) -> Option<&'a CaseResult> {
    results
        .iter()
        .find(|r| r.profile == profile && r.size_mib == size && f(r))
}

fn line_rate<'a>(results: &'a [CaseResult], r: &CaseResult) -> Option<&'a CaseResult> {
    find(results, &r.profile, r.size_mib, |x| x.mode == Mode::Line)
}

fn calls(r: &CaseResult, op: &str) -> u64 {
    r.aws_calls.get(op).copied().unwrap_or(0)
}

fn x_calls(r: &CaseResult, endpoint: &str) -> String {
    let Some(by_status) = r.x_calls.get(endpoint) else {
        return "0".into();
    };
    let total: u64 = by_status.values().sum();
    let other: Vec<String> = by_status
        .iter()
        .filter(|(s, _)| !s.starts_with('2'))
        .map(|(s, n)| format!("{n}×{s}"))
        .collect();
    if other.is_empty() {
        total.to_string()
    } else {
        format!("{total} ({})", other.join(", "))
    }
}

fn x_all(r: &CaseResult) -> String {
    format!(
        "{} / {} / {} / {} / {}",
        x_calls(r, "media_initialize"),
        x_calls(r, "media_append"),
        x_calls(r, "media_finalize"),
        x_calls(r, "media_status"),
        x_calls(r, "tweets"),
    )
}

fn segment(bytes: u64) -> String {
    if bytes > 0 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        // 5,000,000 B
        let digits = bytes.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        format!("{out} B")
    }
}

fn deadline(r: &CaseResult) -> String {
    r.deadline_secs
        .map(|d| format!("{d} s"))
        .unwrap_or_else(|| "–".into())
}

pub fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// One of issue 16's criteria, judged from the run.
#[derive(Debug, Clone)]
pub struct Criterion {
    pub what: String,
    /// The measured value, as shown (`None`: a case it needs did not run).
    pub measured: Option<String>,
    pub holds: bool,
}

/// Issue 16's acceptance, computed from the results of `ACCEPTANCE_PROFILE` at
/// `ACCEPTANCE_SIZE_MIB` with the engine's default segments in flight.
pub fn acceptance(results: &[CaseResult]) -> Vec<Criterion> {
    let (profile, size, n) = (ACCEPTANCE_PROFILE, ACCEPTANCE_SIZE_MIB, DEFAULT_PARALLEL);
    let at = |f: &dyn Fn(&CaseResult) -> bool| find(results, profile, size, f);
    let line = at(&|r| r.mode == Mode::Line);
    let twapi = at(&|r| r.mode == Mode::Twapi);
    let engine_with = |p: u32| {
        at(&|r: &CaseResult| {
            r.mode == Mode::Engine
                && r.parallel_appends == Some(p)
                && r.deadline_secs.is_some_and(|d| d >= 60)
        })
    };
    let parallel = engine_with(n);
    let sequential = engine_with(1);
    let ratio = |a: Option<&CaseResult>, b: Option<&CaseResult>| match (a, b) {
        (Some(a), Some(b)) => Some(a.mib_per_sec / b.mib_per_sec),
        _ => None,
    };
    let mut out = Vec::new();
    let mut ratio_criterion = |what: String, value: Option<f64>, min: f64| {
        out.push(Criterion {
            what,
            measured: value.map(|v| format!("{v:.2}×")),
            holds: value.is_some_and(|v| v >= min),
        })
    };
    ratio_criterion(
        format!("engine, {n} in flight ≥ {MIN_PARALLEL_OVER_LINE}× the line rate"),
        ratio(parallel, line),
        MIN_PARALLEL_OVER_LINE,
    );
    ratio_criterion(
        format!("engine, {n} in flight ≥ {MIN_PARALLEL_OVER_TWAPI}× twapi-v2"),
        ratio(parallel, twapi),
        MIN_PARALLEL_OVER_TWAPI,
    );
    ratio_criterion(
        format!("engine, sequential ≥ {MIN_SEQUENTIAL_OVER_LINE}× the line rate"),
        ratio(sequential, line),
        MIN_SEQUENTIAL_OVER_LINE,
    );
    let rss = parallel.map(|r| mib(r.peak_rss_kib));
    out.push(Criterion {
        what: format!("peak RSS of the worker with {n} in flight < {MAX_PARALLEL_RSS_MIB} MiB"),
        measured: rss.map(|v| format!("{v:.1} MiB")),
        holds: rss.is_some_and(|v| v < MAX_PARALLEL_RSS_MIB),
    });
    out
}

/// The link as the emulator stated it: in words, then its JSON.
fn describe_link(link: &serde_json::Value) -> String {
    let rate = |field: &str| match link[field].as_u64() {
        Some(0) | None => "unlimited".to_owned(),
        Some(b) => format!("{:.0} MB/s ({b} B/s)", b as f64 / 1e6),
    };
    let latency = link["latency_ms"]
        .as_u64()
        .map(|ms| format!("{ms} ms"))
        .unwrap_or_else(|| "?".into());
    format!(
        "{latency} per request, {} per connection, {} in total (`{}`)",
        rate("per_connection_bytes_per_sec"),
        rate("total_bytes_per_sec"),
        serde_json::to_string(link).unwrap_or_default()
    )
}

fn profile_table(s: &mut String, results: &[CaseResult], profile: &str) {
    let _ = writeln!(
        s,
        "| size | peer | segment | deadline | wall s | MiB/s | × line rate | peak RSS MiB | invocations | DynamoDB writes | X INIT / APPEND / FINALIZE / STATUS / tweets | SHA-256 at X |"
    );
    let _ = writeln!(
        s,
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    );
    for r in results.iter().filter(|r| r.profile == profile) {
        let ratio = match line_rate(results, r) {
            Some(line) => format!("{:.2}", r.mib_per_sec / line.mib_per_sec),
            None => "n/a".to_owned(),
        };
        let invocations = match r.mode {
            Mode::Engine => r.invocations.to_string(),
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "| {} MiB | {} | {} | {} | {:.2} | {:.1} | {} | {:.1} | {} | {} | {} | {} |",
            r.size_mib,
            r.label(),
            segment(r.segment_bytes),
            deadline(r),
            r.wall_secs,
            r.mib_per_sec,
            ratio,
            mib(r.peak_rss_kib),
            invocations,
            r.dynamodb_writes,
            x_all(r),
            if r.sha256_ok {
                format!("matches ({}…)", &r.sha256_expected[..12])
            } else {
                "MISMATCH".into()
            },
        );
    }
}

pub fn section(
    results: &[CaseResult],
    profiles: &[ProfileRun],
    args: &RunArgs,
    total: Duration,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{BEGIN}");
    let _ = writeln!(
        s,
        "Run of {} UTC: `make bench` (`reelay-bench run`), {:.0} s in all, on {} cores ({}). \
         MiB = 2^20 bytes; every case ran in a fresh process; each row is one run. S3: s3s-fs \
         (the bench's own, a process of its own); DynamoDB, SQS, KMS: moto; X: the X emulator, \
         one process for every case, its link model set per profile. The engine's Lambda \
         deadline is {} s unless the row says otherwise.\n",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M"]),
        total.as_secs_f64(),
        command_output("nproc", &[]),
        command_output("uname", &["-sr"]),
        args.deadline_secs,
    );
    for profile in profiles {
        let _ = writeln!(s, "### Link profile `{}`\n", profile.name);
        let _ = writeln!(
            s,
            "The emulator's link during these cases (`GET /__admin/link`): {}.\n",
            describe_link(&profile.link)
        );
        profile_table(&mut s, results, &profile.name);
        let _ = writeln!(s);
        if profile.name == ACCEPTANCE_PROFILE {
            let _ = writeln!(
                s,
                "**Issue 16's acceptance** ({ACCEPTANCE_PROFILE}, {ACCEPTANCE_SIZE_MIB} MiB, \
                 the engine's default of {DEFAULT_PARALLEL} segments in flight; computed from \
                 the rows above by the bench):\n"
            );
            let _ = writeln!(s, "| criterion | measured | holds |");
            let _ = writeln!(s, "| --- | ---: | --- |");
            for c in acceptance(results) {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    c.what,
                    c.measured.as_deref().unwrap_or("not measured"),
                    if c.holds { "yes" } else { "**no**" }
                );
            }
            let _ = writeln!(s);
        }
    }
    let _ = writeln!(
        s,
        "× line rate = the row's throughput ÷ the line rate's for the same size and profile in \
         this run. twapi-v2's MiB/s is its upload from a local file alone; the download of the \
         object to that file first (as a Lambda would write it to `/tmp`) is in the details. \
         DynamoDB writes = write calls the worker made (an SDK interceptor on its clients). X \
         calls are the emulator's counts.\n"
    );

    let _ = writeln!(s, "Details per case:\n");
    let _ = writeln!(
        s,
        "| profile | size | peer | deadline | RSS before upload MiB | job version | post version | S3 GETs | DynamoDB reads | KMS decrypts | SQS messages sent | runner SQS receive/delete | twapi-v2 download s |"
    );
    let _ = writeln!(
        s,
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in results {
        let reads = calls(r, "dynamodb.GetItem")
            + calls(r, "dynamodb.Query")
            + calls(r, "dynamodb.TransactGetItems");
        let (job_version, post_version) = match r.mode {
            Mode::Engine => (r.job_version.to_string(), r.post_version.to_string()),
            _ => ("–".into(), "–".into()),
        };
        let _ = writeln!(
            s,
            "| {} | {} MiB | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} / {} | {} |",
            r.profile,
            r.size_mib,
            r.label(),
            deadline(r),
            mib(r.base_rss_kib),
            job_version,
            post_version,
            calls(r, "s3.GetObject"),
            reads,
            calls(r, "kms.Decrypt"),
            r.sqs_messages_sent,
            calls(r, "sqs.ReceiveMessage"),
            calls(r, "sqs.DeleteMessage"),
            r.download_secs
                .map(|d| format!("{d:.2}"))
                .unwrap_or_else(|| "–".into()),
        );
    }
    let lines: Vec<&CaseResult> = results.iter().filter(|r| r.mode == Mode::Line).collect();
    if !lines.is_empty() {
        let _ = writeln!(
            s,
            "\nWhere the line rate's time goes (sequential, so the parts add up); a ranged GET \
             costing the same at every size is what a range-proportional S3 looks like:\n"
        );
        let _ = writeln!(
            s,
            "| profile | size | ranged GETs from S3 s | per GET ms | APPENDs to X s | per APPEND ms |"
        );
        let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: |");
        for r in lines {
            let n = calls(r, "s3.GetObject").max(1) as f64;
            let get = r.s3_get_secs.unwrap_or(0.0);
            let append = r.x_append_secs.unwrap_or(0.0);
            let _ = writeln!(
                s,
                "| {} | {} MiB | {:.2} | {:.1} | {:.2} | {:.0} |",
                r.profile,
                r.size_mib,
                get,
                1000.0 * get / n,
                append,
                1000.0 * append / n
            );
        }
    }
    let biggest = args.sizes.iter().copied().max().unwrap_or(0);
    let engine_peak = results
        .iter()
        .filter(|r| r.mode == Mode::Engine && r.size_mib == biggest)
        .max_by_key(|r| r.peak_rss_kib);
    if let Some(peak) = engine_peak {
        let _ = writeln!(
            s,
            "\nHighest peak RSS of a worker process for the {biggest} MiB video: **{:.1} MiB** \
             ({}, {}), {:.0}% of a {LAMBDA_MIB:.0} MB Lambda ({}).",
            mib(peak.peak_rss_kib),
            peak.label(),
            peak.profile,
            100.0 * mib(peak.peak_rss_kib) / LAMBDA_MIB,
            if mib(peak.peak_rss_kib) < LAMBDA_MIB {
                "fits"
            } else {
                "does not fit"
            },
        );
    }
    let _ = writeln!(s, "{END}");
    s
}

const SKELETON_HEAD: &str = "# Benchmarks\n\n";

/// Replaces the section between the markers in `path`, or writes a new file around it.
pub fn write(
    path: &Path,
    results: &[CaseResult],
    profiles: &[ProfileRun],
    args: &RunArgs,
    total: Duration,
) -> anyhow::Result<()> {
    replace_section(
        path,
        BEGIN,
        END,
        &section(results, profiles, args, total),
        "",
    )
}

/// Replaces what lies between `begin` and `end` in `path` (markers included) with `section`,
/// which starts with `begin` and ends with `end`. Without the markers, `section` is appended
/// after `heading`; a missing file becomes `# Benchmarks` and the section.
pub fn replace_section(
    path: &Path,
    begin: &str,
    end: &str,
    section: &str,
    heading: &str,
) -> anyhow::Result<()> {
    let current = std::fs::read_to_string(path).unwrap_or_default();
    let text = match (current.find(begin), current.find(end)) {
        (Some(b), Some(e)) if b < e => {
            format!(
                "{}{}{}",
                &current[..b],
                section.trim_end(),
                &current[e + end.len()..]
            )
        }
        _ if current.is_empty() => format!("{SKELETON_HEAD}{heading}{section}"),
        _ => format!("{}\n\n{heading}{section}", current.trim_end()),
    };
    std::fs::write(path, text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(profile: &str, mode: Mode, parallel: Option<u32>, mib_per_sec: f64) -> CaseResult {
        CaseResult {
            mode,
            size_mib: ACCEPTANCE_SIZE_MIB,
            bytes: ACCEPTANCE_SIZE_MIB << 20,
            deadline_secs: (mode == Mode::Engine).then_some(60),
            parallel_appends: parallel,
            segment_bytes: 4 << 20,
            profile: profile.into(),
            wall_secs: ACCEPTANCE_SIZE_MIB as f64 / mib_per_sec,
            mib_per_sec,
            base_rss_kib: 20 << 10,
            peak_rss_kib: 40 << 10,
            final_phase: String::new(),
            invocations: 1,
            job_version: 0,
            post_version: 0,
            aws_calls: Default::default(),
            dynamodb_writes: 0,
            sqs_messages_sent: 0,
            x_calls: Default::default(),
            sha256_expected: String::new(),
            sha256_received: None,
            sha256_ok: true,
            tweets_with_media: 0,
            s3_get_secs: None,
            x_append_secs: None,
            download_secs: None,
        }
    }

    #[test]
    fn segments_are_shown_in_mib_or_in_bytes() {
        assert_eq!(segment(4 << 20), "4 MiB");
        assert_eq!(segment(5_000_000), "5,000,000 B");
        assert_eq!(segment(999), "999 B");
    }

    #[test]
    fn the_acceptance_is_computed_from_the_lambda_to_x_rows_of_the_headline_size() {
        let p = ACCEPTANCE_PROFILE;
        let mut results = vec![
            case(p, Mode::Line, None, 9.0),
            case(p, Mode::Twapi, None, 8.0),
            case(p, Mode::Engine, Some(1), 8.2),
            case(p, Mode::Engine, Some(DEFAULT_PARALLEL), 18.1),
            // Other profiles and sizes do not count.
            case("loopback", Mode::Line, None, 1.0),
            case("loopback", Mode::Twapi, None, 1.0),
        ];
        let holds = |r: &[CaseResult]| acceptance(r).iter().map(|c| c.holds).collect::<Vec<_>>();
        // 18.1 / 9 = 2.01, 18.1 / 8 = 2.26, 8.2 / 9 = 0.91, 40 MiB.
        assert_eq!(holds(&results), [true, true, true, true]);
        results[2].mib_per_sec = 8.0; // 0.89 of the line rate
        results[3].peak_rss_kib = 64 << 10;
        assert_eq!(holds(&results), [true, true, false, false]);
        results[3].mib_per_sec = 17.9; // 1.99× the line rate, 2.24× twapi-v2
        assert_eq!(holds(&results), [false, true, false, false]);
        // A missing peer is "not measured", which does not hold.
        results.retain(|r| r.mode != Mode::Twapi);
        let criteria = acceptance(&results);
        assert!(criteria[1].measured.is_none() && !criteria[1].holds);
    }

    #[test]
    fn a_section_replaces_only_what_is_between_its_markers() {
        let dir = std::env::temp_dir().join(format!("reelay-bench-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("B.md");
        std::fs::write(
            &path,
            "# B\n\nintro\n\n<!-- a -->\nold\n<!-- /a -->\n\nafter\n",
        )
        .unwrap();
        replace_section(
            &path,
            "<!-- a -->",
            "<!-- /a -->",
            "<!-- a -->\nnew\n<!-- /a -->\n",
            "",
        )
        .unwrap();
        replace_section(
            &path,
            "<!-- f -->",
            "<!-- /f -->",
            "<!-- f -->\nfit\n<!-- /f -->\n",
            "## F\n\n",
        )
        .unwrap();
        replace_section(
            &path,
            "<!-- f -->",
            "<!-- /f -->",
            "<!-- f -->\nfit 2\n<!-- /f -->\n",
            "## F\n\n",
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            text,
            "# B\n\nintro\n\n<!-- a -->\nnew\n<!-- /a -->\n\nafter\n\n## F\n\n<!-- f -->\nfit 2\n<!-- /f -->\n"
        );
    }
}
