//! `cargo run -p youtube-emulator -- --port 8788`: serves the YouTube
//! emulator on 127.0.0.1 and prints its base URL.

use clap::Parser;
use youtube_emulator::{Emulator, EmulatorConfig};

#[derive(Parser, Debug)]
#[command(
    name = "youtube-emulator",
    about = "Strict local emulator of Google OAuth 2.0 and YouTube's resumable upload and processing poll"
)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, env = "YOUTUBE_EMULATOR_PORT", default_value_t = 8788)]
    port: u16,
    /// Polls answering "processing" before the outcome shows.
    #[arg(long, default_value_t = 2)]
    processing_polls: u32,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().init();
    let args = Args::parse();
    let emu = Emulator::spawn(EmulatorConfig {
        port: args.port,
        processing_polls: args.processing_polls,
        ..Default::default()
    })
    .await?;
    println!("YOUTUBE_API_BASE_URL={}", emu.base_url());
    tracing::info!(base_url = emu.base_url(), "youtube-emulator listening");
    tokio::signal::ctrl_c().await?;
    emu.shutdown().await;
    Ok(())
}
