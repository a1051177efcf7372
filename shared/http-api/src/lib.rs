//! Reelay's HTTP adapter: the axum `Router` (`routes`) with typed extractors (`extract`) over
//! `reelay_shared::api`, which holds what each route does, the bodies it answers with and every
//! problem it can answer; and the web console's files, embedded (`console`).
//!
//! It lives in `shared/` rather than in the API function so that the function crate stays the
//! Lambda glue (configuration, cold start, `lambda_http::run`), and so the local runner and the
//! OpenAPI tests use the very router the binary serves. The OpenAPI document is derived from the
//! same handlers (`routes::openapi`), served at `GET /api/openapi.json`, and `docs/openapi.json` is
//! a copy a test keeps equal.

pub mod console;
mod extract;
pub mod routes;

use lambda_http::{Body, IntoResponse as _, Request, Response};
use reelay_shared::accounts::pkce::PkceKey;
use reelay_shared::accounts::store::DynamoAccountStore;
use reelay_shared::api::config::ApiConfig;
use reelay_shared::aws::AwsClients;
use reelay_shared::s3::S3Blobs;
use reelay_shared::sqs::SqsQueue;
use reelay_shared::store::DynamoStore;
use tower::ServiceExt;

/// Clients, adapters and configuration, built once per container and shared by every request.
pub struct State {
    pub config: ApiConfig,
    pub aws: AwsClients,
    pub http: reqwest::Client,
    /// Read at cold start, as is `config.x.client_secret`.
    pub pkce_key: PkceKey,
    pub posts: DynamoStore,
    pub accounts: DynamoAccountStore,
    pub blobs: S3Blobs,
    pub queue: SqsQueue,
    pub fit_queue: SqsQueue,
}

impl State {
    /// The adapters over the clients, for the table, bucket and queue the configuration names.
    pub fn new(
        config: ApiConfig,
        aws: AwsClients,
        http: reqwest::Client,
        pkce_key: PkceKey,
    ) -> Self {
        let table = &config.table.table_name;
        Self {
            posts: DynamoStore::new(aws.dynamodb.clone(), table),
            accounts: DynamoAccountStore::new(aws.dynamodb.clone(), table.clone()),
            blobs: S3Blobs::with_credentials(aws.s3.clone(), aws.credentials.clone()),
            queue: SqsQueue::new(aws.sqs.clone(), &config.queue.queue_url),
            fit_queue: SqsQueue::new(aws.sqs.clone(), &config.fit_queue.fit_queue_url),
            pkce_key,
            config,
            aws,
            http,
        }
    }
}

/// Runs one API Gateway request through `router` and gives back what API Gateway sends on.
pub async fn serve(router: &axum::Router, req: Request) -> Response<Body> {
    let response = match router.clone().oneshot(without_trailing_slash(req)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let response = response.into_response().await;
    // An empty text body is no body (204, 302), as API Gateway sends it.
    response.map(|body| match body {
        Body::Text(t) if t.is_empty() => Body::Empty,
        body => body,
    })
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
