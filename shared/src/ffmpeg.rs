//! The `Transcoder` port over the ffmpeg and ffprobe binaries (Debian's locally, the container
//! image's in AWS: README "Fitting videos").
//!
//! Run as child processes rather than linked (ffmpeg-next and friends): the binaries are what
//! every packaging of ffmpeg ships, their licence stays theirs, and a crash in a decoder fed a
//! hostile file ends the child, not the Lambda. `kill_on_drop` stops ffmpeg when the fit step
//! drops the conversion (its deadline) or Lambda ends the invocation.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::fit::progress::ProgressParser;
use crate::fit::{ffprobe_args, parse_probe, FitPlan, Probe};
use crate::fitter::{TranscodeError, Transcoder};

/// How much of ffmpeg's stderr a failure quotes: its last lines say what went wrong.
const STDERR_LINES_KEPT: usize = 6;
/// Longest quoted stderr line (ffmpeg may print a whole corrupt header).
const STDERR_LINE_CHARS: usize = 200;

/// The binaries; `ffmpeg` and `ffprobe` on `PATH` by default.
#[derive(Debug, Clone)]
pub struct Ffmpeg {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

impl Default for Ffmpeg {
    fn default() -> Self {
        Self {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
        }
    }
}

#[async_trait]
impl Transcoder for Ffmpeg {
    async fn probe(&self, input: &Path) -> Result<Probe, TranscodeError> {
        let output = Command::new(&self.ffprobe)
            .args(ffprobe_args(input))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| unavailable(&self.ffprobe, e))?;
        if !output.status.success() {
            let said = last_lines(&String::from_utf8_lossy(&output.stderr));
            return Err(TranscodeError::Unreadable(if said.is_empty() {
                format!("ffprobe ended with {}", output.status)
            } else {
                said
            }));
        }
        parse_probe(&output.stdout).map_err(|e| TranscodeError::Unreadable(e.to_string()))
    }

    async fn convert(
        &self,
        plan: &FitPlan,
        input: &Path,
        output: &Path,
        progress: tokio::sync::watch::Sender<f64>,
    ) -> Result<(), TranscodeError> {
        let mut child = Command::new(&self.ffmpeg)
            .args(plan.ffmpeg_args(input, output))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| unavailable(&self.ffmpeg, e))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        // `-progress pipe:1` blocks of key=value lines on stdout; the last stderr lines kept for
        // the reason of a failure. Both drained concurrently so neither pipe fills and stalls it.
        let read_progress = async {
            let Some(stdout) = stdout else { return };
            let mut lines = BufReader::new(stdout).lines();
            let mut parser = ProgressParser::default();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = parser.feed(&line) {
                    let _ = progress.send(at.out_time_secs);
                }
            }
        };
        let read_stderr = async {
            let mut kept = VecDeque::new();
            let Some(stderr) = stderr else {
                return kept;
            };
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if kept.len() == STDERR_LINES_KEPT {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
            kept
        };
        let ((), kept, status) = tokio::join!(read_progress, read_stderr, child.wait());
        let status = status.map_err(|e| unavailable(&self.ffmpeg, e))?;
        if status.success() {
            return Ok(());
        }
        let said = last_lines(&kept.into_iter().collect::<Vec<_>>().join("\n"));
        Err(TranscodeError::Failed(if said.is_empty() {
            format!("ffmpeg ended with {status}")
        } else {
            said
        }))
    }
}

fn unavailable(binary: &Path, err: std::io::Error) -> TranscodeError {
    TranscodeError::Unavailable(format!("could not run {}: {err}", binary.display()))
}

/// The last few non-empty lines of a tool's stderr, each cut short, joined with " / ".
fn last_lines(stderr: &str) -> String {
    let lines: Vec<String> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.chars().take(STDERR_LINE_CHARS).collect())
        .collect();
    let start = lines.len().saturating_sub(STDERR_LINES_KEPT);
    lines[start..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ffmpeg's own failure (here: the source gone between probe and conversion) comes back as
    /// `Failed` with ffmpeg's last words, which the fit step puts on the job; a missing binary is
    /// `Unavailable` (an operator problem, retried), never a rejection of the video.
    #[tokio::test]
    async fn ffmpeg_s_failure_is_reported_in_its_own_words() {
        let dir = std::env::temp_dir().join(format!("reelay-ffmpeg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.mp4");
        let status = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=160x90:rate=30:duration=1")
            .args(["-c:v", "mpeg4"])
            .arg(&input)
            .status()
            .expect("ffmpeg is installed (tools/scripts/setup.sh)");
        assert!(status.success());
        let ffmpeg = Ffmpeg::default();
        let probe = ffmpeg.probe(&input).await.unwrap();
        let plan = crate::fit::plan(&probe, &crate::fit::FitOptions::default()).unwrap();
        std::fs::remove_file(&input).unwrap();
        let (progress, _) = tokio::sync::watch::channel(0.0);
        let err = ffmpeg
            .convert(&plan, &input, &dir.join("out.mp4"), progress)
            .await
            .unwrap_err();
        match err {
            TranscodeError::Failed(said) => {
                assert!(said.contains("No such file"), "{said}")
            }
            other => panic!("{other:?}"),
        }
        let missing = Ffmpeg {
            ffmpeg: dir.join("no-ffmpeg"),
            ffprobe: dir.join("no-ffprobe"),
        };
        assert!(matches!(
            missing.probe(&input).await,
            Err(TranscodeError::Unavailable(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failure_quotes_the_last_lines_cut_short() {
        let stderr = format!("a\n\nb\nc\nd\ne\nf\ng\n{}\n", "x".repeat(500));
        let said = last_lines(&stderr);
        assert!(said.starts_with("c / d / e / f / g / x"), "{said}");
        assert_eq!(said.rsplit(" / ").next().unwrap().len(), STDERR_LINE_CHARS);
    }
}
