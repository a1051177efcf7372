//! The HTTP API function (`/api/...` behind API Gateway's JWT authorizer, and the console's public
//! files at `/`): Lambda glue around `reelay_http_api`, which holds the router, its extractors,
//! the OpenAPI document and the embedded console, over `reelay_shared::api`.
//!
//! `handle` is the one entry point, for the Lambda binary (`lambda_http::run`) and the local
//! runner alike.

use std::ops::Deref;
use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use reelay_shared::accounts::pkce::read_connect_secrets;
use reelay_shared::aws::AwsClients;
use reelay_shared::secret_store::{SecretReadError, SecretSource};

pub use reelay_http_api::{console, routes, State};
pub use reelay_shared::api::config::ApiConfig;

/// Kept at its old path for callers that count retries.
pub mod posts {
    pub use reelay_shared::api::posts::MAX_RETRIES;
}

/// The function: its state and the router over it, built once per container.
pub struct App {
    state: Arc<State>,
    router: axum::Router,
}

impl Deref for App {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

impl App {
    /// The container's start: reads the secrets the configuration names (the X client secret,
    /// the PKCE key), once, from `secrets`. A secret that cannot be read fails the start, with
    /// an error naming its ARN.
    pub async fn cold_start(
        mut config: ApiConfig,
        aws: AwsClients,
        http: reqwest::Client,
        secrets: &dyn SecretSource,
    ) -> Result<Self, SecretReadError> {
        let pkce_key = read_connect_secrets(
            &mut config.x,
            config.youtube.as_mut(),
            &config.pkce,
            secrets,
        )
        .await?;
        let state = Arc::new(State::new(config, aws, http, pkce_key));
        let router = routes::router(state.clone());
        Ok(Self { state, router })
    }
}

/// Entry point for one HTTP request.
#[tracing::instrument(skip(app, req), fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    Ok(reelay_http_api::serve(&app.router, req).await)
}
