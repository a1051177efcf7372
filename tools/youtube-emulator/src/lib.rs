//! A strict local emulator of the YouTube Data API v3 parts Reelay's
//! upload needs first: Google's OAuth 2.0 (authorize with PKCE, token,
//! refresh, revoke), the resumable `videos.insert` (start, chunks, status
//! query) and the `videos.list` processing poll, with Google's error
//! bodies, bearer tokens, faults on demand and records for tests. Facts and
//! sources: `docs/research/youtube.md`; see README.md.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let emu = youtube_emulator::Emulator::spawn(Default::default()).await?;
//! let token = emu.admin().issue_token("UC_test");
//! println!("YOUTUBE_API_BASE_URL={} token={token}", emu.base_url());
//! # Ok(()) }
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod admin;
mod api;
mod error;
mod oauth;
pub mod state;

pub use admin::AdminHandle;
pub use api::{CHUNK_MULTIPLE, MAX_UPLOAD_BYTES};
pub use oauth::{ACCESS_TOKEN_SECS, TESTING_REFRESH_SECS, UPLOAD_SCOPE};
pub use state::{
    AuthorizeRecord, ChunkRecord, Consent, EmulatorConfig, FaultKind, FaultSpec, GoogleUser,
    OAuthClient, OAuthRecords, Phase, ProcessingOutcome, PublishingStatus, Records, TokenRecord,
    UploadRecord, ENDPOINTS,
};

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    base_url: String,
    addr: SocketAddr,
    admin: AdminHandle,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Binds 127.0.0.1 (`config.port`, 0 = a free port) and serves.
    pub async fn spawn(config: EmulatorConfig) -> std::io::Result<Emulator> {
        config
            .processing_outcome
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let shared = state::Shared::new(config, base_url.clone());
        let admin = AdminHandle {
            shared: shared.clone(),
        };
        let app = router(shared, admin.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Emulator {
            base_url,
            addr,
            admin,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`: the upload and API base alike.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn admin(&self) -> AdminHandle {
        self.admin.clone()
    }

    /// Stops accepting and waits (bounded) for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn router(shared: Arc<state::Shared>, admin: AdminHandle) -> Router {
    Router::new()
        .route(
            "/upload/youtube/v3/videos",
            // Chunks can be large; the emulator holds them in memory.
            post(api::start)
                .put(api::put)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/youtube/v3/videos", get(api::videos_list))
        .route("/youtube/v3/channels", get(api::channels_list))
        .route("/o/oauth2/v2/auth", get(oauth::authorize))
        .route("/token", post(oauth::token))
        .route("/revoke", post(oauth::revoke))
        .fallback(|| async { error::ApiError::not_found() })
        .with_state(shared)
        .merge(admin::router(admin))
}
