//! The authenticated HTTP API (`/api/...` behind API Gateway's JWT authorizer).
//!
//! The handler parses the request into domain input, calls `reelay_shared`, and maps the result to
//! HTTP in one place (`respond`). Identity comes only from the authorizer context's `sub` claim.

use lambda_http::{Body, Request, RequestExt, Response};
use reelay_shared::aws::AwsClients;
use reelay_shared::config::{
    BucketConfig, ConfigError, Env, KeyConfig, QueueConfig, TableConfig, XConfig,
};
use reelay_shared::problem::{Problem, PROBLEM_CONTENT_TYPE};
use serde::Serialize;
use thiserror::Error;

/// Everything the API reads from the environment, once, at cold start.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub table: TableConfig,
    pub bucket: BucketConfig,
    pub queue: QueueConfig,
    pub key: KeyConfig,
    pub x: XConfig,
}

impl ApiConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_env(env)?,
            bucket: BucketConfig::from_env(env)?,
            queue: QueueConfig::from_env(env)?,
            key: KeyConfig::from_env(env)?,
            x: XConfig::from_env(env)?,
        })
    }

    /// Every variable this function may read; the template test checks each is set for it.
    pub fn vars() -> Vec<&'static str> {
        [
            TableConfig::VARS,
            BucketConfig::VARS,
            QueueConfig::VARS,
            KeyConfig::VARS,
            XConfig::VARS,
        ]
        .concat()
    }
}

/// Clients and configuration, built once per container and shared by every request.
pub struct App {
    pub config: ApiConfig,
    pub aws: AwsClients,
    pub http: reqwest::Client,
}

/// What can go wrong while answering a request; mapped to HTTP in `respond`.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("no route for {method} {path}")]
    NoRoute { method: String, path: String },
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("the request carries no authenticated user")]
    Unauthenticated,
}

impl ApiError {
    fn problem(&self) -> Problem {
        match self {
            ApiError::NoRoute { path, .. } => {
                Problem::not_found(format!("There is no resource at {path}."))
            }
            ApiError::MethodNotAllowed { method, path } => {
                Problem::method_not_allowed(format!("{method} is not supported on {path}."))
            }
            ApiError::Unauthenticated => {
                Problem::unauthorized("Sign in first: this route needs a valid bearer token.")
            }
        }
    }
}

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    user_id: String,
}

/// Entry point for one HTTP request.
#[tracing::instrument(skip(_app, req), fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(_app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    Ok(respond(route(&req).await))
}

async fn route(req: &Request) -> Result<(u16, serde_json::Value), ApiError> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let user_id = caller(req)?;
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/health") => Ok((
            200,
            serde_json::json!(Health {
                status: "ok",
                user_id
            }),
        )),
        (_, "/api/health") => Err(ApiError::MethodNotAllowed { method, path }),
        _ => Err(ApiError::NoRoute { method, path }),
    }
}

/// The caller's user id: the JWT `sub` that API Gateway's authorizer verified and put in the
/// request context. Never read from a header or the body.
pub fn caller(req: &Request) -> Result<String, ApiError> {
    use lambda_http::request::RequestContext;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("sub"))
            .filter(|sub| !sub.is_empty())
            .cloned()
            .ok_or(ApiError::Unauthenticated),
        _ => Err(ApiError::Unauthenticated),
    }
}

/// The one place where results become HTTP: JSON on success, problem JSON on failure.
fn respond(result: Result<(u16, serde_json::Value), ApiError>) -> Response<Body> {
    let (status, content_type, body) = match result {
        Ok((status, value)) => (status, "application/json", value.to_string()),
        Err(err) => {
            let problem = err.problem();
            tracing::info!(status = problem.status, error = %err, "request refused");
            (problem.status, PROBLEM_CONTENT_TYPE, problem.to_json())
        }
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::from(Problem::internal().to_json())))
}
