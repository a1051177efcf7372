//! A strict local emulator of the parts of X's API Reelay uses: OAuth 2.0
//! PKCE, `GET /2/users/me`, user timelines, v2 chunked media upload and
//! `POST /2/tweets`, with X's limits and error bodies and with faults on
//! demand. Facts and sources: `research/x-api.md`; see README.md.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let emu = x_emulator::Emulator::start(Default::default()).await?;
//! println!("X_API_BASE_URL={}", emu.base_url);
//! # Ok(()) }
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod admin;
pub mod config;
pub mod faults;
mod guard;
mod judge;
pub mod link;
mod media;
mod mp4;
mod oauth;
mod params;
mod problem;
mod rfc3339;
pub mod state;
pub mod testing;
mod tweets;

pub use admin::{AdminHandle, MediaRecord, MintRequest, MintedToken, Records, SegmentRecord};
pub use config::{
    AppendAnswer, DailyLimit, EmulatorConfig, MissingScopeAnswer, OAuthClient, ProcessingMode,
    RateLimit, TestUser, ENDPOINTS,
};
pub use faults::{DropWhen, FaultKind, FaultSpec, Phase};
pub use link::LinkModel;
pub use state::{
    ConsentAction, ConsentDecision, ProcessingOutcomeKind, ProcessingRule, TokenEvent, TweetRecord,
};

use faults::{KillListener, KillSwitch};
use guard::Route;
use problem::ApiError;
use state::Shared;

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    /// `http://127.0.0.1:PORT`, serving authorize, token and API alike.
    pub base_url: String,
    pub addr: SocketAddr,
    admin: AdminHandle,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

const READ: &[&str] = &["tweet.read", "users.read"];
const POST: &[&str] = &["tweet.read", "tweet.write", "users.read"];
const MEDIA: &[&str] = &["media.write"];

impl Emulator {
    /// Binds 127.0.0.1 (`config.port`, 0 = a free port) and serves.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
        let addr = listener.local_addr()?;
        let mut config = config;
        config.port = addr.port();
        let shared = Shared::new(config);
        let admin = AdminHandle {
            shared: shared.clone(),
        };
        let link = shared.link.clone();
        let app = router(shared, admin.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<KillSwitch>();
            let listener = KillListener {
                listener,
                link: link.clone(),
            };
            let _ = axum::serve(listener, service)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Emulator {
            base_url: format!("http://{addr}"),
            addr,
            admin,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    pub fn admin(&self) -> AdminHandle {
        self.admin.clone()
    }

    /// `X_AUTHORIZE_URL` for callers.
    pub fn authorize_url(&self) -> String {
        format!("{}/i/oauth2/authorize", self.base_url)
    }

    /// `X_TOKEN_URL` for callers.
    pub fn token_url(&self) -> String {
        format!("{}/2/oauth2/token", self.base_url)
    }

    /// Stops accepting, lets in-flight requests finish (bounded), then
    /// ends the server task.
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

fn guarded(
    shared: &Arc<Shared>,
    endpoint: &'static str,
    scopes: Option<&'static [&'static str]>,
    route: MethodRouter<Arc<Shared>>,
) -> MethodRouter<Arc<Shared>> {
    route.layer(from_fn_with_state(
        (shared.clone(), Route { endpoint, scopes }),
        guard::guard,
    ))
}

fn router(shared: Arc<Shared>, admin: AdminHandle) -> Router {
    let s = &shared;
    let api = Router::new()
        .route(
            "/i/oauth2/authorize",
            guarded(s, "authorize", None, get(oauth::authorize)),
        )
        .route(
            "/2/oauth2/token",
            guarded(s, "token", None, post(oauth::token)),
        )
        .route(
            "/2/oauth2/revoke",
            guarded(s, "revoke", None, post(oauth::revoke)),
        )
        .route(
            "/2/users/me",
            guarded(s, "users_me", Some(READ), get(tweets::users_me)),
        )
        .route(
            "/2/users/{id}/tweets",
            guarded(s, "user_tweets", Some(READ), get(tweets::user_tweets)),
        )
        .route(
            "/2/media/upload/initialize",
            guarded(s, "media_initialize", Some(MEDIA), post(media::initialize)),
        )
        .route(
            "/2/media/upload/{id}/append",
            // The handler reads the body with its own segment-based limit.
            guarded(s, "media_append", Some(MEDIA), post(media::append))
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/2/media/upload/{id}/finalize",
            guarded(s, "media_finalize", Some(MEDIA), post(media::finalize)),
        )
        .route(
            "/2/media/upload",
            guarded(s, "media_status", Some(MEDIA), get(media::status)),
        )
        .route(
            "/2/tweets",
            guarded(s, "tweets", Some(POST), post(tweets::create_tweet)),
        )
        .method_not_allowed_fallback(|| async {
            ApiError::blank(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
            )
        })
        .fallback(|| async {
            ApiError::blank(axum::http::StatusCode::NOT_FOUND, "Not Found").into_response()
        })
        // The link model's latency, once per API request (not admin), before
        // anything else: one round trip on a kept-alive connection.
        .layer(from_fn_with_state(shared.link.clone(), link::latency))
        .with_state(shared);
    api.merge(admin::router(admin))
}
