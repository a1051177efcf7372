//! BENCHMARKS.md: the measured tables go between two markers; the prose around them is kept.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::case::{CaseResult, Mode};
use crate::driver::RunArgs;

pub const BEGIN: &str =
    "<!-- bench:results:begin (written by `make bench`; edits here are lost) -->";
pub const END: &str = "<!-- bench:results:end -->";

/// A Lambda memory size to compare the 512 MiB run with (DESIGN §3).
const LAMBDA_MIB: f64 = 256.0;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn line_rate(results: &[CaseResult], size: u64) -> Option<&CaseResult> {
    results
        .iter()
        .find(|r| r.mode == Mode::Line && r.size_mib == size)
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

pub fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

pub fn section(results: &[CaseResult], args: &RunArgs, total: Duration) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{BEGIN}");
    let _ = writeln!(
        s,
        "Run of {} UTC: `make bench`, {:.0} s in all, on {} cores ({}). MiB = 2^20 bytes; \
         every case ran in a fresh process; each row is one run.\n",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M"]),
        total.as_secs_f64(),
        command_output("nproc", &[]),
        command_output("uname", &["-sr"]),
    );
    let _ = writeln!(
        s,
        "| size | mode | deadline | wall s | MiB/s | ratio to line rate | peak RSS MiB | invocations | DynamoDB writes | SQS messages sent |"
    );
    let _ = writeln!(
        s,
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in results {
        let ratio = match (r.mode, line_rate(results, r.size_mib)) {
            (Mode::Line, _) => "1.00".to_owned(),
            (Mode::Engine, Some(line)) => format!("{:.2}", r.mib_per_sec / line.mib_per_sec),
            (Mode::Engine, None) => "n/a".to_owned(),
        };
        let (deadline, invocations, writes, messages) = match r.mode {
            Mode::Engine => (
                r.deadline_secs
                    .map(|d| format!("{d} s"))
                    .unwrap_or_default(),
                r.invocations.to_string(),
                r.dynamodb_writes.to_string(),
                r.sqs_messages_sent.to_string(),
            ),
            Mode::Line => ("–".into(), "–".into(), "0".into(), "0".into()),
        };
        let _ = writeln!(
            s,
            "| {} MiB | {} | {} | {:.2} | {:.1} | {} | {:.1} | {} | {} | {} |",
            r.size_mib,
            r.mode.as_str(),
            deadline,
            r.wall_secs,
            r.mib_per_sec,
            ratio,
            mib(r.peak_rss_kib),
            invocations,
            writes,
            messages,
        );
    }
    let _ = writeln!(
        s,
        "\nRatio = the engine's throughput ÷ the line rate's for the same size in the same run. \
         DynamoDB writes = write calls the worker made (counted by an SDK interceptor on its \
         clients); SQS messages sent = the first message plus every continuation.\n"
    );

    let _ = writeln!(s, "Details per case:\n");
    let _ = writeln!(
        s,
        "| size | mode | deadline | RSS before upload MiB | job version | post version | S3 GETs | DynamoDB reads | KMS decrypts | runner SQS receive/delete | X INIT / APPEND / FINALIZE / STATUS / tweets | SHA-256 at X |"
    );
    let _ = writeln!(
        s,
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    );
    for r in results {
        let reads = calls(r, "dynamodb.GetItem")
            + calls(r, "dynamodb.Query")
            + calls(r, "dynamodb.TransactGetItems");
        let (deadline, job_version, post_version) = match r.mode {
            Mode::Engine => (
                r.deadline_secs
                    .map(|d| format!("{d} s"))
                    .unwrap_or_default(),
                r.job_version.to_string(),
                r.post_version.to_string(),
            ),
            Mode::Line => ("–".into(), "–".into(), "–".into()),
        };
        let _ = writeln!(
            s,
            "| {} MiB | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} / {} | {} / {} / {} / {} / {} | {} |",
            r.size_mib,
            r.mode.as_str(),
            deadline,
            mib(r.base_rss_kib),
            job_version,
            post_version,
            calls(r, "s3.GetObject"),
            reads,
            calls(r, "kms.Decrypt"),
            calls(r, "sqs.ReceiveMessage"),
            calls(r, "sqs.DeleteMessage"),
            x_calls(r, "media_initialize"),
            x_calls(r, "media_append"),
            x_calls(r, "media_finalize"),
            x_calls(r, "media_status"),
            x_calls(r, "tweets"),
            if r.sha256_ok {
                format!("matches ({}…)", &r.sha256_expected[..12])
            } else {
                "MISMATCH".into()
            },
        );
    }
    let lines: Vec<&CaseResult> = results.iter().filter(|r| r.mode == Mode::Line).collect();
    if !lines.is_empty() {
        let _ = writeln!(
            s,
            "\nWhere the line rate's time goes (sequential, so the parts add up):\n"
        );
        let _ = writeln!(
            s,
            "| size | ranged GETs from moto s | per GET ms | APPENDs to X s | per APPEND ms |"
        );
        let _ = writeln!(s, "| ---: | ---: | ---: | ---: | ---: |");
        for r in lines {
            let n = calls(r, "s3.GetObject").max(1) as f64;
            let get = r.s3_get_secs.unwrap_or(0.0);
            let append = r.x_append_secs.unwrap_or(0.0);
            let _ = writeln!(
                s,
                "| {} MiB | {:.2} | {:.0} | {:.2} | {:.0} |",
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
        .map(|r| r.peak_rss_kib)
        .max();
    if let Some(peak) = engine_peak {
        let _ = writeln!(
            s,
            "\nPeak RSS of the worker process for the {biggest} MiB video: **{:.1} MiB**, {:.0}% of a \
             {LAMBDA_MIB:.0} MB Lambda ({}).",
            mib(peak),
            100.0 * mib(peak) / LAMBDA_MIB,
            if mib(peak) < LAMBDA_MIB { "fits" } else { "does not fit" },
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
    args: &RunArgs,
    total: Duration,
) -> anyhow::Result<()> {
    replace_section(path, BEGIN, END, &section(results, args, total), "")
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
