//! The OAuth callback: the one route without an authorizer, because X redirects the user's browser
//! here. It consumes the one-time state, exchanges the code and stores the account.

use lambda_http::{Body, Request, RequestExt, Response};
use reelay_shared::aws::AwsClients;
use reelay_shared::config::{ConfigError, Env, KeyConfig, TableConfig, XConfig};
use reelay_shared::problem::{Problem, PROBLEM_CONTENT_TYPE};

#[derive(Debug, Clone)]
pub struct CallbackConfig {
    pub table: TableConfig,
    pub key: KeyConfig,
    pub x: XConfig,
}

impl CallbackConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_env(env)?,
            key: KeyConfig::from_env(env)?,
            x: XConfig::from_env(env)?,
        })
    }

    pub fn vars() -> Vec<&'static str> {
        [TableConfig::VARS, KeyConfig::VARS, XConfig::VARS].concat()
    }
}

pub struct App {
    pub config: CallbackConfig,
    pub aws: AwsClients,
    pub http: reqwest::Client,
}

#[tracing::instrument(skip(_app, req), fields(path = %req.uri().path()))]
pub async fn handle(_app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    let has_state = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("state"))
        .is_some();
    // The connect flow lands with issue 4; until then say so plainly rather than pretend.
    let problem = if has_state {
        Problem::new(
            501,
            "not_implemented",
            "Not Implemented",
            "Connecting X is not available yet in this build of Reelay.",
        )
    } else {
        Problem::new(
            400,
            "missing_state",
            "Bad Request",
            "The callback needs a state parameter.",
        )
        .with_field("state")
    };
    Ok(Response::builder()
        .status(problem.status)
        .header("content-type", PROBLEM_CONTENT_TYPE)
        .body(Body::from(problem.to_json()))
        .unwrap_or_else(|_| Response::new(Body::Empty)))
}
