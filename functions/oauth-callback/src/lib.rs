//! The OAuth callbacks: the routes without an authorizer, because the platform (X, or Google for
//! YouTube) redirects the user's browser here. The path says which platform's callback this is;
//! it consumes the one-time state, exchanges the code and stores the account.
//!
//! The user is the one the state was bound to when they started connecting (authenticated then);
//! nothing in this request can choose another. And only the browser that started the connect can
//! finish it: it must send back the binding cookie the connect route set (`accounts::binding`),
//! or the state is spent and nothing is linked (issue 12). This crate parses the request, runs
//! `Connector::complete` and maps `accounts::callback::reply` onto Lambda's response.

use std::sync::Arc;

use lambda_http::http::{header, HeaderValue};
use lambda_http::{Body, Request, RequestExt, Response};
use reelay_shared::accounts::binding;
use reelay_shared::accounts::callback::{reply, CallbackReply};
use reelay_shared::accounts::cipher::KmsTokenCipher;
use reelay_shared::accounts::connect::{
    connector_for, CallbackOutcome, CallbackParams, ConnectError, ConnectPorts, Connector,
};
use reelay_shared::accounts::pkce::{read_connect_secrets, PkceKey};
use reelay_shared::accounts::store::DynamoAccountStore;
use reelay_shared::accounts::Platform;
use reelay_shared::aws::AwsClients;
use reelay_shared::clock::SystemClock;
use reelay_shared::config::{
    ConfigError, ConnectConfig, Env, KeyConfig, PkceConfig, TableConfig, XConfig, YouTubeConfig,
};
use reelay_shared::secret::Secret;
use reelay_shared::secret_store::{SecretReadError, SecretSource};

#[derive(Debug, Clone)]
pub struct CallbackConfig {
    pub table: TableConfig,
    pub key: KeyConfig,
    pub x: XConfig,
    /// YouTube's Google OAuth app; `None` when the operator has not set it up.
    pub youtube: Option<YouTubeConfig>,
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
            youtube: YouTubeConfig::from_env(env)?,
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
            YouTubeConfig::VARS,
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
        let pkce_key = read_connect_secrets(
            &mut config.x,
            config.youtube.as_mut(),
            &config.pkce,
            secrets,
        )
        .await?;
        Ok(Self {
            config,
            aws,
            http,
            pkce_key,
        })
    }

    /// The platform whose callback `path` is: YouTube's redirect URI's path (or the template's
    /// YouTube callback route on a deployment without YouTube, which `connector` then refuses),
    /// else X's, as before YouTube.
    fn platform_of(&self, path: &str) -> Platform {
        let youtube_path = match &self.config.youtube {
            Some(youtube) => youtube.redirect_uri.path(),
            None => reelay_shared::api::contract::YOUTUBE_CALLBACK_PATH,
        };
        if path == youtube_path {
            Platform::YouTube
        } else {
            Platform::Twitter
        }
    }

    fn callback_path(&self, platform: Platform) -> &str {
        match (platform, &self.config.youtube) {
            (Platform::YouTube, Some(youtube)) => youtube.redirect_uri.path(),
            _ => self.config.x.redirect_uri.path(),
        }
    }

    fn connector(&self, platform: Platform) -> Result<Connector, ConnectError> {
        let ports = ConnectPorts {
            store: Arc::new(DynamoAccountStore::new(
                self.aws.dynamodb.clone(),
                self.config.table.table_name.clone(),
            )),
            cipher: Arc::new(KmsTokenCipher::new(
                self.aws.kms.clone(),
                self.config.key.kms_key_id.clone(),
            )),
            clock: Arc::new(SystemClock),
            pkce: self.pkce_key.clone(),
        };
        connector_for(
            platform,
            &self.http,
            &self.config.x,
            self.config.youtube.as_ref(),
            ports,
        )
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
        .get_all(header::COOKIE)
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
    let platform = app.platform_of(req.uri().path());
    let outcome = match app.connector(platform) {
        Ok(connector) => connector.complete(params).await,
        Err(e) => CallbackOutcome {
            result: Err(e),
            return_to: None,
            binding_used: false,
        },
    };
    let json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    Ok(response(reply(
        &app.config.connect,
        platform,
        app.callback_path(platform),
        outcome,
        json,
    )))
}

fn response(reply: CallbackReply) -> Response<Body> {
    let mut builder = Response::builder()
        .status(reply.status)
        // The page follows a one-time code exchange; nothing here may be cached.
        .header(header::CACHE_CONTROL, "no-store");
    if let Some(content_type) = reply.content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    if let Some(location) = &reply.location {
        builder = builder.header(header::LOCATION, location);
    }
    if let Some(clear) = reply
        .clear_cookie
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        builder = builder.header(header::SET_COOKIE, clear);
    }
    let body = if reply.body.is_empty() {
        Body::Empty
    } else {
        Body::from(reply.body)
    };
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::Empty))
}
