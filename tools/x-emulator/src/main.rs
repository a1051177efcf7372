//! `cargo run -p x-emulator -- --port 8787`: serves the X emulator on
//! 127.0.0.1 and prints its base URL.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use x_emulator::{Emulator, EmulatorConfig, LinkModel, OAuthClient, ProcessingMode, TestUser};

#[derive(Parser, Debug)]
#[command(
    name = "x-emulator",
    about = "Strict local emulator of the X API v2 parts Reelay uses"
)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, env = "X_EMULATOR_PORT", default_value_t = 8787)]
    port: u16,
    /// Full config as JSON (fields of EmulatorConfig; missing ones default).
    #[arg(long, env = "X_EMULATOR_CONFIG")]
    config: Option<PathBuf>,
    /// Extra OAuth client: `client_id[:secret]=redirect_uri[,redirect_uri...]`.
    #[arg(long = "client")]
    clients: Vec<String>,
    /// Extra test user: `id:username[:name]`.
    #[arg(long = "user")]
    users: Vec<String>,
    /// User who approves consent by default.
    #[arg(long)]
    default_user: Option<String>,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    access_token_ttl_secs: Option<u64>,
    #[arg(long)]
    auth_code_ttl_secs: Option<u64>,
    #[arg(long)]
    max_segment_bytes: Option<usize>,
    #[arg(long)]
    tweet_video_max_bytes: Option<u64>,
    #[arg(long)]
    media_expiry_secs: Option<u64>,
    /// Processing ends after this many STATUS polls.
    #[arg(long, conflicts_with = "processing_ms")]
    processing_polls: Option<u32>,
    /// Processing ends this many ms after FINALIZE.
    #[arg(long)]
    processing_ms: Option<u64>,
    #[arg(long)]
    check_after_secs: Option<u64>,
    /// New posts appear in GET /2/users/{id}/tweets this many ms after creation.
    #[arg(long)]
    timeline_lag_ms: Option<u64>,
    /// Network between the client and X: `loopback` (none, the default) or
    /// `lambda-to-x` (60 ms per request, 10 MB/s per connection, 100 MB/s
    /// in total; assumptions, see README). The flags below override it.
    #[arg(long, env = "X_EMULATOR_LINK_PROFILE", value_name = "PROFILE")]
    link_profile: Option<LinkModel>,
    /// Latency each API request waits once before it is answered.
    #[arg(long, value_name = "MS")]
    link_latency_ms: Option<u64>,
    /// Bytes per second read from each connection (0 = unlimited).
    #[arg(long, value_name = "BYTES_PER_SEC")]
    link_connection_bytes_per_sec: Option<u64>,
    /// Bytes per second read from all connections together (0 = unlimited).
    #[arg(long, value_name = "BYTES_PER_SEC")]
    link_total_bytes_per_sec: Option<u64>,
}

fn parse_client(s: &str) -> Result<OAuthClient, String> {
    let (ident, uris) = s
        .split_once('=')
        .ok_or_else(|| format!("--client {s:?}: expected client_id[:secret]=redirect_uri[,..]"))?;
    let (id, secret) = match ident.split_once(':') {
        Some((id, secret)) => (id, Some(secret.to_string())),
        None => (ident, None),
    };
    Ok(OAuthClient {
        client_id: id.to_string(),
        client_secret: secret,
        redirect_uris: uris.split(',').map(String::from).collect(),
    })
}

fn parse_user(s: &str) -> Result<TestUser, String> {
    let mut parts = s.splitn(3, ':');
    let id = parts.next().unwrap_or_default().to_string();
    let username = parts
        .next()
        .ok_or_else(|| format!("--user {s:?}: expected id:username[:name]"))?
        .to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("--user {s:?}: the id must be digits"));
    }
    let name = parts.next().unwrap_or(&username).to_string();
    Ok(TestUser { id, username, name })
}

fn build_config(args: &Args) -> Result<EmulatorConfig, String> {
    let mut cfg = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => EmulatorConfig::default(),
    };
    cfg.port = args.port;
    for c in &args.clients {
        let client = parse_client(c)?;
        cfg.clients.retain(|x| x.client_id != client.client_id);
        cfg.clients.push(client);
    }
    for u in &args.users {
        let user = parse_user(u)?;
        cfg.users.retain(|x| x.id != user.id);
        cfg.users.push(user);
    }
    if let Some(u) = &args.default_user {
        cfg.default_user_id = u.clone();
    }
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = args.$field { cfg.$field = v; } )* };
    }
    set!(
        seed,
        access_token_ttl_secs,
        auth_code_ttl_secs,
        max_segment_bytes,
        tweet_video_max_bytes,
        media_expiry_secs,
        check_after_secs,
        timeline_lag_ms
    );
    if let Some(steps) = args.processing_polls {
        cfg.processing = ProcessingMode::Polls { steps };
    }
    if let Some(duration_ms) = args.processing_ms {
        cfg.processing = ProcessingMode::Time { duration_ms };
    }
    if let Some(profile) = args.link_profile {
        cfg.link = profile;
    }
    if let Some(ms) = args.link_latency_ms {
        cfg.link.latency = Duration::from_millis(ms);
    }
    if let Some(rate) = args.link_connection_bytes_per_sec {
        cfg.link.per_connection_bytes_per_sec = Some(rate);
    }
    if let Some(rate) = args.link_total_bytes_per_sec {
        cfg.link.total_bytes_per_sec = Some(rate);
    }
    cfg.link = cfg.link.normalized();
    cfg.link.validate()?;
    Ok(cfg)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let cfg = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("x-emulator: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let emulator = match Emulator::start(cfg).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("x-emulator: cannot bind 127.0.0.1:{}: {e}", args.port);
            return std::process::ExitCode::from(1);
        }
    };
    // First line is the base URL alone so scripts can read it.
    println!("{}", emulator.base_url);
    println!("X_AUTHORIZE_URL={}", emulator.authorize_url());
    println!("X_TOKEN_URL={}", emulator.token_url());
    println!("X_API_BASE_URL={}", emulator.base_url);
    println!("admin: {}/__admin/records", emulator.base_url);
    println!("link: {}", emulator.admin().link());
    let _ = tokio::signal::ctrl_c().await;
    emulator.shutdown().await;
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<EmulatorConfig, String> {
        let args = Args::try_parse_from(std::iter::once("x-emulator").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        build_config(&args)
    }

    #[test]
    fn link_flags_choose_a_profile_and_override_its_numbers() {
        assert_eq!(config(&[]).unwrap().link, LinkModel::LOOPBACK);
        assert_eq!(
            config(&["--link-profile", "lambda-to-x"]).unwrap().link,
            LinkModel::LAMBDA_TO_X
        );
        assert_eq!(
            config(&[
                "--link-profile",
                "lambda-to-x",
                "--link-latency-ms",
                "20",
                "--link-total-bytes-per-sec",
                "0",
            ])
            .unwrap()
            .link,
            LinkModel::LAMBDA_TO_X
                .with_latency(Duration::from_millis(20))
                .with_total_bytes_per_sec(None)
        );
        assert_eq!(
            config(&["--link-connection-bytes-per-sec", "2000000"])
                .unwrap()
                .link,
            LinkModel::LOOPBACK.with_per_connection_bytes_per_sec(Some(2_000_000))
        );
        assert!(config(&["--link-profile", "dial-up"]).is_err());
        assert!(config(&["--link-latency-ms", "60001"]).is_err());
    }
}
