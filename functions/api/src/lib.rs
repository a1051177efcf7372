//! The authenticated HTTP API (`/api/...` behind API Gateway's JWT authorizer).
//!
//! The handler finds the caller (the JWT `sub` API Gateway verified), routes the request to the
//! module that owns the path, and turns its `Reply` or `Problem` into HTTP in one place
//! (`respond`). Route modules parse input into domain types and call `reelay_shared`.

pub mod connect;
pub mod console;
pub mod posts;
pub mod reply;

use lambda_http::{Body, Request, RequestExt, Response};
use reelay_shared::accounts::pkce::PkceKey;
use reelay_shared::aws::AwsClients;
use reelay_shared::config::{
    BucketConfig, ConfigError, ConnectConfig, ConsoleConfig, Env, KeyConfig, PkceConfig,
    QueueConfig, QuotaConfig, TableConfig, XConfig,
};
use reelay_shared::ids::UserId;
use reelay_shared::problem::Problem;
use reelay_shared::secret_store::{SecretReadError, SecretSource};

pub use reply::Reply;

/// Everything the API reads from the environment, once, at cold start.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub table: TableConfig,
    pub bucket: BucketConfig,
    pub queue: QueueConfig,
    pub key: KeyConfig,
    pub x: XConfig,
    /// Where the PKCE key is (the connect route derives verifiers with it).
    pub pkce: PkceConfig,
    /// Where the browser may be sent back after connecting X (optional allow-list).
    pub connect: ConnectConfig,
    /// Per-user limits on `POST /api/posts` (optional, with defaults).
    pub quota: QuotaConfig,
    /// The web console's sign-in (optional).
    pub console: ConsoleConfig,
}

impl ApiConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_env(env)?,
            bucket: BucketConfig::from_env(env)?,
            queue: QueueConfig::from_env(env)?,
            key: KeyConfig::from_env(env)?,
            x: XConfig::from_env(env)?,
            pkce: PkceConfig::from_env(env)?,
            connect: ConnectConfig::from_env(env)?,
            quota: QuotaConfig::from_env(env)?,
            console: ConsoleConfig::from_env(env)?,
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
            PkceConfig::VARS,
            ConnectConfig::VARS,
            QuotaConfig::VARS,
            ConsoleConfig::VARS,
        ]
        .concat()
    }
}

/// Clients and configuration, built once per container and shared by every request.
pub struct App {
    pub config: ApiConfig,
    pub aws: AwsClients,
    pub http: reqwest::Client,
    /// Read at cold start (`cold_start`), as is `config.x.client_secret`.
    pub pkce_key: PkceKey,
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
        Ok(Self {
            config,
            aws,
            http,
            pkce_key: pkce_key?,
        })
    }
}

/// Entry point for one HTTP request.
#[tracing::instrument(skip(app, req), fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    // The console's page, files and sign-in settings come before any token: they are how the
    // user gets one.
    if let Some(page) = console::route(&app.config.console, req.method().as_str(), req.uri().path())
    {
        return Ok(page);
    }
    Ok(respond(route(app, &req).await))
}

async fn route(app: &App, req: &Request) -> Result<Reply, Problem> {
    let user = caller(req)?;
    let path = req.uri().path().trim_end_matches('/');
    let method = req.method().as_str();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match segments.as_slice() {
        ["api", "health"] => match method {
            "GET" => Ok(Reply::json(
                200,
                serde_json::json!({ "status": "ok", "user_id": user.as_str() }),
            )),
            _ => Err(method_not_allowed(method, path)),
        },
        ["api", "auth", ..] | ["api", "platforms", ..] => connect::route(app, req, &user).await,
        ["api", "posts", ..] => posts::route(app, req, &user).await,
        _ => Err(Problem::not_found(format!(
            "There is no resource at {path}."
        ))),
    }
}

pub fn method_not_allowed(method: &str, path: &str) -> Problem {
    Problem::method_not_allowed(format!("{method} is not supported on {path}."))
}

/// The caller's user id: the JWT `sub` that API Gateway's authorizer verified and put in the
/// request context. Never read from a header or the body.
pub fn caller(req: &Request) -> Result<UserId, Problem> {
    use lambda_http::request::RequestContext;
    let unauthenticated =
        || Problem::unauthorized("Sign in first: this route needs a valid bearer token.");
    let sub = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("sub"))
            .cloned(),
        _ => None,
    };
    let sub = sub.ok_or_else(unauthenticated)?;
    UserId::parse(&sub).map_err(|_| unauthenticated())
}

/// The one place where results become HTTP.
fn respond(result: Result<Reply, Problem>) -> Response<Body> {
    match result {
        Ok(reply) => reply.into_response(),
        Err(problem) => {
            tracing::info!(status = problem.status, kind = %problem.kind, detail = %problem.detail, "request refused");
            Reply::problem(&problem).into_response()
        }
    }
}
