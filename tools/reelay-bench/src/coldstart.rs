//! `reelay-bench coldstart` (issue 16): each function's init time, from spawning its release
//! binary to its first `GET /2018-06-01/runtime/invocation/next`, against a minimal Lambda
//! Runtime API stub and a stack in moto; writes BENCHMARKS.md's cold-start section.
//!
//! What a run covers is everything the binary's `main` does before the runtime asks for its
//! first event: the process's own start (exec, dynamic loading, the Rust runtime), the tracing
//! subscriber, the config read once from the environment, the HTTP and AWS SDK clients, the
//! secrets read from Secrets Manager (moto, over plain HTTP on loopback), and `lambda_runtime`'s
//! start. What it cannot cover is Lambda's own part of a cold start: placing the sandbox
//! (Firecracker), fetching and unpacking the package or image, and the CPU share Lambda gives a
//! function of its memory size. It builds nothing: the binaries come from `target/release`
//! (`make bench` builds them first).
//!
//! The stub is written here on a bare TCP listener, not `reelay_local::runtime_api` (which
//! answers `/next` with events and keeps no times): it notes when the first `/next` arrives and
//! leaves it unanswered, and keeps any `POST /init/error`, which makes the run a failure.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use reelay_local::authorizer::{console_url, sign_in_url, CONSOLE_CLIENT_ID};
use reelay_local::env_json::{env_vars, LambdaFunction, FUNCTIONS};
use reelay_local::harness::{aws_clients_for, moto_endpoint_or_start};
use reelay_local::stack::{Stack, StackSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::percentiles::{ms, Samples};
use crate::report::{command_output, replace_section};

pub const BEGIN: &str = "<!-- bench:coldstart:begin (written by `make bench` and `reelay-bench coldstart`; edits here are lost) -->";
pub const END: &str = "<!-- bench:coldstart:end -->";
const HEADING: &str = "## Cold start: process start to the first `/next` (issue 16)\n\n";

/// The template's `MemorySize` per function (Globals: 256; FitVideoFunction: 3538), passed as
/// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`. Nothing here limits memory or CPU to it.
fn memory_mb(function: &LambdaFunction) -> u32 {
    match function.logical_id {
        "FitVideoFunction" => 3538,
        _ => 256,
    }
}

/// Where X would be: the functions only parse these URLs at init and never call X before their
/// first event, so nothing listens there.
const NOWHERE: &str = "http://127.0.0.1:9";
const X_CLIENT_ID: &str = "reelay-bench-coldstart";
const X_CLIENT_SECRET: &str = "reelay-bench-coldstart-secret";

#[derive(Debug, Clone, clap::Args)]
pub struct ColdstartArgs {
    /// Measured runs per function, after one warm-up run each that is not counted.
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Where the functions' release binaries are (default: `$CARGO_TARGET_DIR` or the
    /// repository's `target`, then `release`).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Only these binaries (e.g. `reelay-api,reelay-reconciler`); default: all six.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// How long one run may take to reach its first poll before it counts as a failure.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    /// Where to write the report (the section between the cold-start markers is replaced).
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
}

/// One run that reached its first poll.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Spawn to the first `/next` request's first bytes at the stub.
    init: Duration,
    /// CPU time of the process's threads alive at the poll (`/proc/PID/task/*/schedstat`).
    cpu: Option<Duration>,
    /// `VmHWM` at the poll: the peak resident set so far.
    peak_rss_kib: Option<u64>,
}

/// One function's measurement.
struct Measured {
    function: LambdaFunction,
    memory_mb: u32,
    binary_bytes: u64,
    runs: Vec<Run>,
    /// Why a run did not reach its first poll; no further runs were made.
    failure: Option<String>,
}

pub async fn run(args: &ColdstartArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let load = load_average();
    let bin_dir = args.bin_dir.clone().unwrap_or_else(default_bin_dir);
    let functions: Vec<LambdaFunction> = FUNCTIONS
        .iter()
        .copied()
        .filter(|f| args.only.is_empty() || args.only.iter().any(|o| o == f.binary))
        .collect();
    if functions.is_empty() {
        bail!("--only names none of the functions' binaries");
    }
    let mut binaries = Vec::new();
    for function in &functions {
        let path = bin_dir.join(function.binary);
        let meta = std::fs::metadata(&path).with_context(|| {
            format!(
                "{} is missing: build the functions first (cargo build --release -p reelay-api \
                 -p reelay-create-post -p reelay-fit-video -p reelay-oauth-callback \
                 -p reelay-process-upload -p reelay-reconciler)",
                path.display()
            )
        })?;
        binaries.push((path, meta.len()));
    }

    let (_moto, endpoint) = moto_endpoint_or_start()?;
    let env = stack_env(&endpoint).await?;
    let env_json = env_vars(&env);
    let timeout = Duration::from_secs(args.timeout_secs);

    let mut measured: Vec<Measured> = functions
        .iter()
        .zip(&binaries)
        .map(|(f, (_, size))| Measured {
            function: *f,
            memory_mb: memory_mb(f),
            binary_bytes: *size,
            runs: Vec::new(),
            failure: None,
        })
        .collect();
    // Round robin (one run of each function, then the next round), so a change in the machine's
    // load during the run spreads over every function rather than landing on one. Round 0 is the
    // warm-up: it loads each binary into the page cache and warms moto.
    for round in 0..=args.runs {
        for (m, (binary, _)) in measured.iter_mut().zip(&binaries) {
            if m.failure.is_some() {
                continue;
            }
            let env = &env_json[m.function.logical_id];
            match run_once(m.function, binary, env, &endpoint, m.memory_mb, timeout).await {
                Ok(run) if round > 0 => m.runs.push(run),
                Ok(_) => {}
                Err(failure) => {
                    eprintln!("{}: {failure}", m.function.binary);
                    m.failure = Some(failure);
                }
            }
        }
        if round > 0 {
            eprintln!("coldstart: round {round}/{} done", args.runs);
        }
    }
    for m in &measured {
        let s = Samples::new(m.runs.iter().map(|r| r.init).collect());
        eprintln!(
            "{}: p50 {} ms, max {} ms over {} runs",
            m.function.binary,
            ms(s.percentile(50.0)),
            ms(s.max()),
            s.len()
        );
    }
    replace_section(
        &args.out,
        BEGIN,
        END,
        &section(&measured, args, &load, started.elapsed()),
        HEADING,
    )?;
    let failed: Vec<&str> = measured
        .iter()
        .filter(|m| m.failure.is_some())
        .map(|m| m.function.binary)
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} did not reach the first poll (the report says why)",
            failed.join(", ")
        );
    }
    Ok(())
}

fn default_bin_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| reelay_local::moto::repo_root().join("target"))
        .join("release")
}

/// A fresh stack in moto (table, bucket, queues, KMS key, the X client secret and the PKCE key
/// in Secrets Manager) and the functions' environment for it, as `World::start` builds it but
/// with X nowhere (no function calls X before its first event).
async fn stack_env(endpoint: &str) -> anyhow::Result<HashMap<String, String>> {
    let aws = aws_clients_for(endpoint).await;
    let stack = Stack::create(
        &aws,
        StackSpec::unique("bench-coldstart").with_x_client_secret(X_CLIENT_SECRET),
    )
    .await?;
    let mut env = stack.function_env();
    env.extend(
        [
            ("X_CLIENT_ID", X_CLIENT_ID.to_owned()),
            (
                "X_REDIRECT_URI",
                format!("{NOWHERE}/api/auth/platforms/twitter/callback"),
            ),
            ("X_AUTHORIZE_URL", format!("{NOWHERE}/i/oauth2/authorize")),
            ("X_TOKEN_URL", format!("{NOWHERE}/2/oauth2/token")),
            ("X_REVOKE_URL", format!("{NOWHERE}/2/oauth2/revoke")),
            ("X_API_BASE_URL", NOWHERE.to_owned()),
            ("X_REQUEST_TIMEOUT_SECS", "10".to_owned()),
            ("CONSOLE_SIGN_IN_URL", sign_in_url(NOWHERE)),
            ("CONSOLE_CLIENT_ID", CONSOLE_CLIENT_ID.to_owned()),
            ("CONNECT_RETURN_URLS", console_url(NOWHERE)),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    Ok(env)
}

/// One cold start: a fresh stub, the binary spawned with exactly its `env.json` entry plus what
/// Lambda sets, timed to its first poll; then killed. `Err` says why it never polled.
async fn run_once(
    function: LambdaFunction,
    binary: &Path,
    env: &BTreeMap<String, String>,
    aws_endpoint: &str,
    memory_mb: u32,
    timeout: Duration,
) -> Result<Run, String> {
    let mut stub = Stub::start()
        .await
        .map_err(|e| format!("starting the Runtime API stub: {e}"))?;
    let name = function.binary;
    let mut command = Command::new(binary);
    command
        .env_clear()
        .envs(env)
        // What Lambda sets in every execution environment (`lambda_runtime` reads the function
        // name, memory, version and log names, and the Runtime API's address).
        .env("AWS_LAMBDA_RUNTIME_API", stub.address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/12/02/[$LATEST]0123456789abcdef0123456789abcdef",
        )
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("_HANDLER", "bootstrap")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin")
        .env("LANG", "en_US.UTF-8")
        .env("TZ", ":UTC")
        // The template's global `RUST_LOG`.
        .env("RUST_LOG", "info")
        // moto, with its fixed test credentials, where Lambda would give the role's.
        .env("AWS_ENDPOINT_URL", aws_endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_SESSION_TOKEN", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let spawned_at = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let pid = child.id();
    // What it writes (Lambda sends it to CloudWatch), drained so a full pipe never blocks it, and
    // kept for a failure's report.
    let output = Arc::new(Mutex::new(String::new()));
    let mut readers = Vec::new();
    let streams: [Box<dyn tokio::io::AsyncRead + Unpin + Send>; 2] = [
        Box::new(child.stdout.take().expect("piped stdout")),
        Box::new(child.stderr.take().expect("piped stderr")),
    ];
    for mut stream in streams {
        let output = output.clone();
        readers.push(tokio::spawn(async move {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = stream.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                let mut out = output.lock().unwrap_or_else(|p| p.into_inner());
                if out.len() < 64 * 1024 {
                    out.push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            }
        }));
    }
    let written = |readers: Vec<JoinHandle<()>>| {
        let output = output.clone();
        async move {
            // What it wrote last, once it is gone.
            for reader in readers {
                let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
            }
            let text = output.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if text.trim().is_empty() {
                "(nothing)".to_owned()
            } else {
                text
            }
        }
    };

    enum Ended {
        Polled(Instant),
        InitError(String, String),
        Exited(std::io::Result<std::process::ExitStatus>),
        TimedOut,
    }
    let ended = tokio::select! {
        event = stub.events.recv() => match event {
            Some(StubEvent::Next(at)) => Ended::Polled(at),
            Some(StubEvent::InitError { error_type, body }) => Ended::InitError(error_type, body),
            None => Ended::TimedOut,
        },
        status = child.wait() => Ended::Exited(status),
        _ = tokio::time::sleep(timeout) => Ended::TimedOut,
    };
    let result = match ended {
        Ended::Polled(at) => {
            let run = Run {
                init: at.saturating_duration_since(spawned_at),
                cpu: pid.and_then(cpu_time),
                peak_rss_kib: pid.and_then(|p| status_kib(p, "VmHWM:")),
            };
            Ok(run)
        }
        Ended::InitError(error_type, body) => {
            Err(format!("POST /runtime/init/error ({error_type}): {body}"))
        }
        Ended::Exited(status) => Err(format!(
            "exited before its first poll ({})",
            match status {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            }
        )),
        Ended::TimedOut => Err(format!("no first poll within {timeout:?}")),
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    let output = written(readers).await;
    stub.stop();
    result.map_err(|why| format!("{why}; its output:\n{output}"))
}

/// A field of `/proc/PID/status` in KiB (`VmHWM:`, `VmRSS:`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The CPU time of the process's threads, from each `/proc/PID/task/TID/schedstat` (its first
/// field: nanoseconds on a CPU). Threads that already ended are not counted.
fn cpu_time(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        let text = std::fs::read_to_string(path).ok()?;
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

// ---------------------------------------------------------------- the Runtime API stub

/// What the runtime did at the stub.
#[derive(Debug)]
enum StubEvent {
    /// A `GET /2018-06-01/runtime/invocation/next` arrived (when its first bytes were read).
    Next(Instant),
    /// `POST /2018-06-01/runtime/init/error`: the error type header and the body.
    InitError { error_type: String, body: String },
}

/// Just enough of the Runtime API (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>)
/// for a runtime's start: `/next` is noted and never answered (as Lambda holds it while no event
/// waits), `/init/error` is noted and accepted (202), anything else is 404.
struct Stub {
    address: SocketAddr,
    events: mpsc::UnboundedReceiver<StubEvent>,
    server: JoinHandle<()>,
}

impl Stub {
    async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let address = listener.local_addr()?;
        let (tx, events) = mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            // Dropping the set (when the server task is aborted) aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            connections.spawn(connection(stream, tx.clone()));
                        }
                        Err(_) => return,
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Self {
            address,
            events,
            server,
        })
    }

    fn stop(self) {
        self.server.abort();
    }
}

/// One HTTP/1.1 connection from the runtime: requests one after another (keep-alive).
async fn connection(mut stream: TcpStream, tx: mpsc::UnboundedSender<StubEvent>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // The instant the request's first bytes arrive.
        let mut first_bytes_at = (!buf.is_empty()).then(Instant::now);
        let head_len = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    first_bytes_at.get_or_insert_with(Instant::now);
                }
            }
        };
        let at = first_bytes_at.unwrap_or_else(Instant::now);
        let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
        let mut lines = head.lines();
        let mut request_line = lines.next().unwrap_or_default().split_whitespace();
        let method = request_line.next().unwrap_or_default().to_owned();
        let path = request_line.next().unwrap_or_default().to_owned();
        let header = |name: &str| {
            head.lines().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_len + length {
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let body = String::from_utf8_lossy(&buf[head_len..head_len + length]).into_owned();
        buf.drain(..head_len + length);

        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let _ = tx.send(StubEvent::Next(at));
            // Held open, unanswered, until the runtime is killed.
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            return;
        }
        let answer: &[u8] = if method == "POST" && path.ends_with("/runtime/init/error") {
            let _ = tx.send(StubEvent::InitError {
                error_type: header("lambda-runtime-function-error-type")
                    .unwrap_or_else(|| "Runtime.Unknown".into()),
                body,
            });
            b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"status\":\"OK\"}"
        } else {
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
        };
        if stream.write_all(answer).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------- the report

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn section(measured: &[Measured], args: &ColdstartArgs, load: &str, total: Duration) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "{BEGIN}");
    let _ = writeln!(
        s,
        "Run of {} UTC: `reelay-bench coldstart`, {:.0} s in all, on {} cores ({}, {}; load \
         average {load} at the start), shared with other work. Binaries: `cargo build \
         --release` of the six function crates (the workspace's release profile, x86_64, with \
         cargo's default strip of debug info only). {} measured runs per function after one \
         uncounted warm-up, taken round robin, each a fresh process against a fresh Runtime API \
         stub; moto on loopback plays Secrets Manager and the other services.\n",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M"]),
        total.as_secs_f64(),
        command_output("nproc", &[]),
        command_output("uname", &["-sr"]),
        cpu_model(),
        args.runs,
    );
    let _ = writeln!(
        s,
        "| function | binary MiB | template memory MB | runs | init p50 ms | p90 ms | max ms | min ms | CPU ms at the poll (p50) | peak RSS MiB at the poll (max) |"
    );
    let _ = writeln!(
        s,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for m in measured {
        let init = Samples::new(m.runs.iter().map(|r| r.init).collect());
        let cpu = Samples::new(m.runs.iter().filter_map(|r| r.cpu).collect());
        let rss = m.runs.iter().filter_map(|r| r.peak_rss_kib).max();
        let _ = writeln!(
            s,
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.function.binary,
            mib(m.binary_bytes),
            m.memory_mb,
            init.len(),
            ms(init.percentile(50.0)),
            ms(init.percentile(90.0)),
            ms(init.max()),
            ms(init.min()),
            ms(cpu.percentile(50.0)),
            rss.map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or_else(|| "–".into()),
        );
    }
    for m in measured {
        if let Some(failure) = &m.failure {
            let _ = writeln!(
                s,
                "\n**{} failed** after {} good runs:\n\n```text\n{}\n```",
                m.function.binary,
                m.runs.len(),
                failure.trim()
            );
        }
    }
    let _ = writeln!(
        s,
        "\nInit = from just before spawning the binary to the first bytes of its first \
         `GET /2018-06-01/runtime/invocation/next` at the stub (nearest-rank percentiles). \
         CPU ms = time on a CPU of the threads alive at the poll \
         (`/proc/PID/task/*/schedstat`); peak RSS = `VmHWM` at the poll. Not included: Lambda placing the sandbox (Firecracker), fetching \
         and unpacking the zip (or, for fit-video, the container image), TLS handshakes (moto is \
         plain HTTP), and Lambda's CPU share for the memory size (nothing here limits CPU or \
         memory; `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` is only passed on)."
    );
    let _ = writeln!(s, "{END}");
    s
}

/// The 1-, 5- and 15-minute load averages (`/proc/loadavg`), e.g. `0.52 / 0.61 / 0.70`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" / "))
        .unwrap_or_else(|| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "CPU unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stub notes `/init/error` (answering 202) and the first `/next`, which it holds open.
    #[tokio::test]
    async fn the_stub_notes_init_errors_and_the_first_poll() {
        let mut stub = Stub::start().await.unwrap();
        let base = format!("http://{}/2018-06-01/runtime", stub.address);
        let http = reqwest::Client::new();
        let posted = http
            .post(format!("{base}/init/error"))
            .header("lambda-runtime-function-error-type", "Runtime.InitError")
            .body(r#"{"errorMessage":"no config"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
        match stub.events.recv().await {
            Some(StubEvent::InitError { error_type, body }) => {
                assert_eq!(error_type, "Runtime.InitError");
                assert!(body.contains("no config"), "{body}");
            }
            other => panic!("{other:?}"),
        }
        let before = Instant::now();
        let poll = tokio::spawn({
            let http = http.clone();
            async move { http.get(format!("{base}/invocation/next")).send().await }
        });
        match stub.events.recv().await {
            Some(StubEvent::Next(at)) => assert!(at >= before),
            other => panic!("{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!poll.is_finished(), "the poll is held open");
        stub.stop();
        poll.abort();
    }
}
