//! The OAuth callback: the one route without an authorizer, because X redirects the user's browser
//! here. It consumes the one-time state, exchanges the code and stores the account.
//!
//! The user is the one the state was bound to when they started connecting (authenticated then);
//! nothing in this request can choose another. And only the browser that started the connect can
//! finish it: it must send back the binding cookie the connect route set (`accounts::binding`),
//! or the state is spent and nothing is linked (issue 12). The answer is a redirect to the app
//! when `CONNECT_RETURN_URLS` is configured, JSON when the client asks for it, or a small HTML
//! page; when the binding was used, it also clears the cookie.

use std::sync::Arc;

use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, RequestExt, Response};
use reelay_shared::accounts::binding;
use reelay_shared::accounts::cipher::KmsTokenCipher;
use reelay_shared::accounts::connect::{
    return_to_allowed, CallbackOutcome, CallbackParams, ConnectError, ConnectionView, Connector,
};
use reelay_shared::accounts::oauth::XOAuth;
use reelay_shared::accounts::pkce::PkceKey;
use reelay_shared::accounts::store::DynamoAccountStore;
use reelay_shared::aws::AwsClients;
use reelay_shared::clock::SystemClock;
use reelay_shared::config::{
    ConfigError, ConnectConfig, Env, KeyConfig, PkceConfig, TableConfig, XConfig,
};
use reelay_shared::problem::{Problem, PROBLEM_CONTENT_TYPE};
use reelay_shared::secret::Secret;
use reelay_shared::secret_store::{SecretReadError, SecretSource};
use reelay_shared::x::XClient;
use reqwest::Url;

#[derive(Debug, Clone)]
pub struct CallbackConfig {
    pub table: TableConfig,
    pub key: KeyConfig,
    pub x: XConfig,
    /// Where the PKCE key is (the callback derives the verifier again from the state).
    pub pkce: PkceConfig,
    /// Optional; see `ConnectConfig`.
    pub connect: ConnectConfig,
}

impl CallbackConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_env(env)?,
            key: KeyConfig::from_env(env)?,
            x: XConfig::from_env(env)?,
            pkce: PkceConfig::from_env(env)?,
            connect: ConnectConfig::from_env(env)?,
        })
    }

    /// Every variable this function may read; the template test checks each is set for it.
    pub fn vars() -> Vec<&'static str> {
        [
            TableConfig::VARS,
            KeyConfig::VARS,
            XConfig::VARS,
            PkceConfig::VARS,
            ConnectConfig::VARS,
        ]
        .concat()
    }
}

pub struct App {
    pub config: CallbackConfig,
    pub aws: AwsClients,
    pub http: reqwest::Client,
    /// Read at cold start (`cold_start`), as is `config.x.client_secret`.
    pub pkce_key: PkceKey,
}

impl App {
    /// The container's start: reads the X client secret and the PKCE key, once, from `secrets`.
    /// A secret that cannot be read fails the start, with an error naming its ARN.
    pub async fn cold_start(
        mut config: CallbackConfig,
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

    fn connector(&self) -> Result<Connector, ConnectError> {
        let oauth = XOAuth::new(self.http.clone(), &self.config.x).map_err(ConnectError::OAuth)?;
        Ok(Connector::new(
            Arc::new(DynamoAccountStore::new(
                self.aws.dynamodb.clone(),
                self.config.table.table_name.clone(),
            )),
            Arc::new(KmsTokenCipher::new(
                self.aws.kms.clone(),
                self.config.key.kms_key_id.clone(),
            )),
            oauth,
            XClient::new(self.http.clone(), &self.config.x),
            Arc::new(SystemClock),
            self.pkce_key.clone(),
        ))
    }
}

#[tracing::instrument(skip(app, req), fields(path = %req.uri().path()))]
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    let query = req.query_string_parameters_ref();
    let get = |name: &str| query.and_then(|q| q.first(name)).map(str::to_owned);
    // API Gateway (payload 2.0) passes cookies apart from the headers; lambda_http joins them
    // back into one `Cookie` header. Repeated headers are read too.
    let cookies = req
        .headers()
        .get_all(lambda_http::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(binding::cookie_values)
        .collect();
    let params = CallbackParams {
        state: get("state"),
        code: get("code").map(Secret::new),
        error: get("error"),
        error_description: get("error_description"),
        cookies,
    };
    let outcome = match app.connector() {
        Ok(connector) => connector.complete(params).await,
        Err(e) => CallbackOutcome {
            result: Err(e),
            return_to: None,
            binding_used: false,
        },
    };
    let json = req
        .headers()
        .get(lambda_http::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let clear = outcome
        .binding_used
        .then(|| binding::clear_cookie(app.config.x.redirect_uri.path()));
    let mut response = respond(&app.config.connect, outcome, json);
    if let Some(clear) = clear.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response
            .headers_mut()
            .append(lambda_http::http::header::SET_COOKIE, clear);
    }
    Ok(response)
}

/// The one place the outcome becomes HTTP.
fn respond(config: &ConnectConfig, outcome: CallbackOutcome, json: bool) -> Response<Body> {
    let problem = outcome.result.as_ref().err().map(ConnectError::to_problem);
    if json {
        return match (&outcome.result, &problem) {
            (Ok(view), _) => response(
                200,
                "application/json",
                serde_json::json!({ "connected": view }).to_string(),
                None,
            ),
            (_, Some(p)) => response(p.status, PROBLEM_CONTENT_TYPE, p.to_json(), None),
            (Err(_), None) => response(
                500,
                PROBLEM_CONTENT_TYPE,
                Problem::internal().to_json(),
                None,
            ),
        };
    }
    // Back to the app when it has a return address: the state's own (checked again against
    // the allow-list, in case the list changed), else the first configured one.
    let target = outcome
        .return_to
        .as_deref()
        .and_then(|r| Url::parse(r).ok())
        .filter(|u| return_to_allowed(u, &config.return_urls))
        .or_else(|| config.return_urls.first().cloned());
    if let Some(mut target) = target {
        {
            let mut q = target.query_pairs_mut();
            q.append_pair("platform", "twitter");
            match (&outcome.result, &problem) {
                (Ok(view), _) => {
                    q.append_pair("result", view.status);
                }
                (Err(e), _) => {
                    q.append_pair("result", "error");
                    q.append_pair("error", e.code());
                }
            }
        }
        return response(302, "text/plain", String::new(), Some(target.as_str()));
    }
    match (&outcome.result, problem) {
        (Ok(view), _) => response(200, "text/html; charset=utf-8", success_page(view), None),
        (Err(_), Some(p)) => response(
            p.status,
            "text/html; charset=utf-8",
            page("X was not connected", &p.detail),
            None,
        ),
        (Err(_), None) => response(
            500,
            "text/html; charset=utf-8",
            page("X was not connected", "Something went wrong."),
            None,
        ),
    }
}

fn success_page(view: &ConnectionView) -> String {
    match &view.reason {
        None => page(
            "X is connected",
            &format!(
                "Reelay can now post to @{}. You can close this window.",
                view.username
            ),
        ),
        Some(reason) => page(
            "X is connected, but Reelay cannot post yet",
            &format!("@{}: {reason}", view.username),
        ),
    }
}

fn page(title: &str, message: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{m}</p></body></html>",
        t = escape(title),
        m = escape(message)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn response(
    status: u16,
    content_type: &str,
    body: String,
    location: Option<&str>,
) -> Response<Body> {
    let mut builder = Response::builder()
        .status(status)
        // The page follows a one-time code exchange; nothing here may be cached.
        .header("cache-control", "no-store");
    if !body.is_empty() {
        builder = builder.header("content-type", content_type);
    }
    if let Some(location) = location {
        builder = builder.header("location", location);
    }
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::from(body)
    };
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        assert_eq!(escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }
}
