//! The X emulator as a separate process (so that its memory, which holds every uploaded media,
//! is not counted as the worker's), and its admin API.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::Value;

/// A running `x-emulator` process. Dropping it stops the process.
///
/// Like `reelay_local::moto::MotoServer`, it runs under a small shell watchdog that also stops it
/// when the bench dies without running `Drop`.
pub struct EmulatorProcess {
    pub base_url: String,
    child: Child,
}

impl EmulatorProcess {
    /// Starts `binary` on `port` with `args`, logging to `log`, and waits until its admin API
    /// answers.
    pub async fn start(
        binary: &Path,
        port: u16,
        args: &[String],
        log: &Path,
    ) -> anyhow::Result<Self> {
        if !binary.exists() {
            bail!(
                "{} not found: build it with `cargo build --release -p x-emulator`",
                binary.display()
            );
        }
        let mut command = vec![
            binary.to_string_lossy().into_owned(),
            "--port".to_owned(),
            port.to_string(),
        ];
        command.extend(args.iter().cloned());
        let child = spawn_watched(&command, log).context("starting the X emulator")?;
        let emulator = Self {
            base_url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let admin = Admin::new(&emulator.base_url)?;
        let started = Instant::now();
        loop {
            if admin.get("/__admin/endpoints").await.is_ok() {
                return Ok(emulator);
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!(
                    "the X emulator did not answer on {} within 30 s (log: {})",
                    emulator.base_url,
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        stop_watched(&mut self.child);
    }
}

/// Starts `command` (program and arguments) with its output in `log`, under a small shell
/// watchdog that also stops it when this process dies without running `Drop` (as
/// `reelay_local::moto::MotoServer` does). Returns the watchdog.
pub fn spawn_watched(command: &[String], log: &Path) -> std::io::Result<Child> {
    let script = format!(
        "{cmd} >{log} 2>&1 & m=$!; \
         trap 'kill $m 2>/dev/null' EXIT INT TERM; \
         tail --pid={parent} -f /dev/null & t=$!; \
         wait -n $m $t",
        cmd = command
            .iter()
            .map(|a| quote(a))
            .collect::<Vec<_>>()
            .join(" "),
        log = quote(&log.to_string_lossy()),
        parent = std::process::id(),
    );
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Stops what `spawn_watched` started: SIGTERM to the watchdog runs its trap, which stops the
/// process.
pub fn stop_watched(watchdog: &mut Child) {
    let _ = Command::new("kill").arg(watchdog.id().to_string()).status();
    let _ = watchdog.wait();
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The emulator's link model (latency per request, bandwidth per connection and in all).
const LINK_PATH: &str = "/__admin/link";

/// The emulator's admin API (`/__admin`).
#[derive(Clone)]
pub struct Admin {
    base: String,
    http: reqwest::Client,
}

impl Admin {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = response.status();
        if !status.is_success() {
            bail!("GET {path} answered {status}");
        }
        Ok(response.json().await?)
    }

    async fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::PUT, path, body).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// Sends `body` as JSON; the answer's JSON (null if it has none), or the error it answered.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let response = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Forgets media, tweets, call counts and rate windows (config and tokens are kept).
    pub async fn reset(&self) -> anyhow::Result<()> {
        self.post("/__admin/reset", Value::Null).await.map(|_| ())
    }

    /// `{"media":[…],"tweets":[…],"tokens":[…],"calls":{endpoint:{status:count}}}`
    pub async fn records(&self) -> anyhow::Result<Value> {
        self.get("/__admin/records").await
    }

    /// Switches the emulator's link model to the named profile (`loopback`, `lambda-to-x`).
    pub async fn set_link_profile(&self, profile: &str) -> anyhow::Result<()> {
        self.put(LINK_PATH, serde_json::json!({ "profile": profile }))
            .await
            .map(|_| ())
    }

    /// The link model in force, as the emulator states it.
    pub async fn link(&self) -> anyhow::Result<Value> {
        self.get(LINK_PATH).await
    }

    /// An access token for `user_id` with `scopes`, without the OAuth flow.
    pub async fn mint_token(&self, user_id: &str, scopes: &[&str]) -> anyhow::Result<String> {
        let answer = self
            .post(
                "/__admin/tokens",
                serde_json::json!({ "user_id": user_id, "scopes": scopes }),
            )
            .await?;
        answer["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("no access_token in the admin answer")
    }
}
