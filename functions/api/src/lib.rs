//! The authenticated HTTP API (`/api/...` behind API Gateway's JWT authorizer): an axum `Router`
//! (`routes`) with typed extractors (`extract`) over `reelay_shared::api`, which holds what each
//! route does, the bodies it answers with and every problem it can answer.
//!
//! `handle` is the one entry point, for the Lambda binary (`lambda_http::run`) and the local
//! runner alike. The OpenAPI document is derived from the same handlers (`routes::openapi`) and
//! served at `GET /api/openapi.json`; `docs/openapi.json` is a copy a test keeps equal.

pub mod console;
mod extract;
pub mod routes;

use std::ops::Deref;
use std::sync::Arc;

use lambda_http::{Body, IntoResponse as _, Request, Response};
use reelay_shared::accounts::pkce::PkceKey;
use reelay_shared::accounts::store::DynamoAccountStore;
use reelay_shared::aws::AwsClients;
use reelay_shared::s3::S3Blobs;
use reelay_shared::secret_store::{SecretReadError, SecretSource};
use reelay_shared::sqs::SqsQueue;
use reelay_shared::store::DynamoStore;
use tower::ServiceExt;

pub use reelay_shared::api::config::ApiConfig;

/// Kept at its old path for callers that count retries.
pub mod posts {
    pub use reelay_shared::api::posts::MAX_RETRIES;
}

/// Clients, adapters and configuration, built once per container and shared by every request.
pub struct State {
    pub config: ApiConfig,
    pub aws: AwsClients,
    pub http: reqwest::Client,
    /// Read at cold start (`App::cold_start`), as is `config.x.client_secret`.
    pub pkce_key: PkceKey,
    pub posts: DynamoStore,
    pub accounts: DynamoAccountStore,
    pub blobs: S3Blobs,
    pub queue: SqsQueue,
}

/// The function: its state and the router over it.
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
        let (client_secret, pkce_key) = tokio::join!(
            config.x.read_client_secret(secrets),
            PkceKey::read(secrets, &config.pkce.key_secret_arn)
        );
        client_secret?;
        let table = &config.table.table_name;
        let state = Arc::new(State {
            posts: DynamoStore::new(aws.dynamodb.clone(), table),
            accounts: DynamoAccountStore::new(aws.dynamodb.clone(), table.clone()),
            blobs: S3Blobs::with_credentials(aws.s3.clone(), aws.credentials.clone()),
            queue: SqsQueue::new(aws.sqs.clone(), &config.queue.queue_url),
            pkce_key: pkce_key?,
            config,
            aws,
            http,
        });
        let router = routes::router(state.clone());
        Ok(Self { state, router })
    }
}

/// Entry point for one HTTP request.
#[tracing::instrument(skip(app, req), fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    let response = match app
        .router
        .clone()
        .oneshot(without_trailing_slash(req))
        .await
    {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let response = response.into_response().await;
    // An empty text body is no body (204, 302), as API Gateway sends it.
    Ok(response.map(|body| match body {
        Body::Text(t) if t.is_empty() => Body::Empty,
        body => body,
    }))
}

/// `/api/posts/` is `/api/posts`, as it always was here (API Gateway passes both on).
fn without_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = match path.trim_end_matches('/') {
            "" => "/",
            trimmed => trimmed,
        };
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = path_and_query.parse().ok();
        if let Ok(uri) = lambda_http::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_slash_is_dropped_and_the_query_kept() {
        let req = |uri: &str| {
            let mut r = Request::default();
            *r.uri_mut() = uri.parse().unwrap();
            without_trailing_slash(r).uri().to_string()
        };
        assert_eq!(
            req("https://h.example/api/posts/?limit=2"),
            "https://h.example/api/posts?limit=2"
        );
        assert_eq!(req("/api/posts//"), "/api/posts");
        assert_eq!(req("/"), "/");
        assert_eq!(req("/api/health"), "/api/health");
    }
}
