//! The local runner: wires the functions together as AWS would.
//!
//! It calls the same handler functions the Lambda binaries call, in this process, rather than the
//! built binaries behind a Lambda Runtime API emulator: there is no Docker here for `sam local`,
//! cargo-lambda's emulator needs 400 MB of zig to install, and in-process calls let tests choose
//! each invocation's deadline and watch what was invoked. Events are built as the JSON AWS sends
//! and deserialized by the same `lambda_http` / `aws_lambda_events` code the binaries use.

use crate::iam_usage;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use base64::Engine;
use lambda_runtime::{Context, LambdaEvent};
use reelay_shared::aws::AwsClients;
use reelay_shared::config::ConfigError;
use reelay_shared::secret_store::SecretsManagerSource;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::authorizer::{ConsoleClient, LocalAuthorizer, LocalSignIn, SIGN_IN_PATH};
use crate::stack::Stack;

/// Which function a route or trigger invokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FunctionName {
    Api,
    OauthCallback,
    CreatePost,
    ProcessUpload,
    Reconciler,
    FitVideo,
}

impl FunctionName {
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionName::Api => "api",
            FunctionName::OauthCallback => "oauth-callback",
            FunctionName::CreatePost => "create-post",
            FunctionName::ProcessUpload => "process-upload",
            FunctionName::Reconciler => "reconciler",
            FunctionName::FitVideo => "fit-video",
        }
    }
}

/// An HTTP API route as `template.yaml` declares it (a test checks the two agree).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: FunctionName,
    /// False for the OAuth callback (X redirects a browser there, with no bearer token) and the
    /// console's routes (its static files and its public sign-in settings, fetched before
    /// sign-in).
    pub authorized: bool,
}

pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/api/auth/platforms/twitter/callback",
        function: FunctionName::OauthCallback,
        authorized: false,
    },
    Route {
        method: "GET",
        path: "/api/auth/platforms/youtube/callback",
        function: FunctionName::OauthCallback,
        authorized: false,
    },
    Route {
        method: "GET",
        path: "/",
        function: FunctionName::Api,
        authorized: false,
    },
    Route {
        method: "GET",
        path: "/assets/{proxy+}",
        function: FunctionName::Api,
        authorized: false,
    },
    Route {
        method: "GET",
        path: "/vendor/{proxy+}",
        function: FunctionName::Api,
        authorized: false,
    },
    Route {
        method: "GET",
        path: "/api/console/config",
        function: FunctionName::Api,
        authorized: false,
    },
    Route {
        method: "ANY",
        path: "/api/{proxy+}",
        function: FunctionName::Api,
        authorized: true,
    },
];

/// Picks a route as API Gateway HTTP APIs do: the most specific match wins (an exact path over
/// a greedy one, a longer greedy prefix over a shorter), a greedy `{proxy+}` matches one or more
/// path segments, and a route's method must match (`ANY` matches every method).
pub fn match_route(method: &str, path: &str) -> Option<(&'static Route, Option<String>)> {
    let exact = ROUTES
        .iter()
        .find(|r| r.path == path && (r.method == method || r.method == "ANY"));
    if let Some(route) = exact {
        return Some((route, None));
    }
    ROUTES
        .iter()
        .filter_map(|r| {
            let prefix = r.path.strip_suffix("{proxy+}")?;
            let rest = path.strip_prefix(prefix)?;
            (!rest.is_empty() && (r.method == method || r.method == "ANY"))
                .then(|| (r, prefix.len(), Some(rest.to_owned())))
        })
        .max_by_key(|(_, len, _)| *len)
        .map(|(r, _, rest)| (r, rest))
}

/// The five functions, each built from its own config as its binary's `main` builds it: the
/// environment, then (api, oauth-callback, process-upload) the secrets it names, read from
/// Secrets Manager (moto) at this "cold start".
#[derive(Clone)]
pub struct Functions {
    pub api: Arc<reelay_api::App>,
    pub oauth_callback: Arc<reelay_oauth_callback::App>,
    pub create_post: Arc<reelay_create_post::App>,
    pub process_upload: Arc<reelay_process_upload::App>,
    pub reconciler: Arc<reelay_reconciler::App>,
    pub fit_video: Arc<reelay_fit_video::App>,
}

impl Functions {
    pub async fn from_env(env: &HashMap<String, String>, aws: &AwsClients) -> anyhow::Result<Self> {
        let api = reelay_api::ApiConfig::from_env(env)?;
        let callback = reelay_oauth_callback::CallbackConfig::from_env(env)?;
        let create_post = reelay_create_post::CreatePostConfig::from_env(env)?;
        let worker = reelay_process_upload::WorkerConfig::from_env(env)?;
        let reconciler = reelay_reconciler::ReconcilerConfig::from_env(env)?;
        let fit_video = reelay_fit_video::FitVideoConfig::from_env(env)?;
        let http =
            reelay_shared::http_client::build_http_client(api.x.request_timeout).map_err(|e| {
                ConfigError::Invalid {
                    name: "X_REQUEST_TIMEOUT_SECS",
                    reason: e.to_string(),
                }
            })?;
        // Each function gets its own clients, so `iam_usage` can tell whose calls are whose.
        let api_aws = iam_usage::clients_for(aws, "ApiFunction");
        let callback_aws = iam_usage::clients_for(aws, "OAuthCallbackFunction");
        let worker_aws = iam_usage::clients_for(aws, "ProcessUploadFunction");
        let secrets_of = |aws: &AwsClients| SecretsManagerSource::new(aws.secretsmanager.clone());
        Ok(Self {
            api: Arc::new(
                reelay_api::App::cold_start(
                    api,
                    api_aws.clone(),
                    http.clone(),
                    &secrets_of(&api_aws),
                )
                .await?,
            ),
            oauth_callback: Arc::new(
                reelay_oauth_callback::App::cold_start(
                    callback,
                    callback_aws.clone(),
                    http.clone(),
                    &secrets_of(&callback_aws),
                )
                .await?,
            ),
            create_post: Arc::new(reelay_create_post::App {
                config: create_post,
                aws: iam_usage::clients_for(aws, "CreatePostFunction"),
            }),
            process_upload: Arc::new(
                reelay_process_upload::App::cold_start(
                    worker,
                    &worker_aws,
                    http,
                    &secrets_of(&worker_aws),
                )
                .await?,
            ),
            reconciler: Arc::new(reelay_reconciler::App::new(
                &reconciler,
                &iam_usage::clients_for(aws, "ReconcilerFunction"),
            )),
            fit_video: Arc::new(reelay_fit_video::App::new(
                &fit_video,
                &iam_usage::clients_for(aws, "FitVideoFunction"),
            )),
        })
    }
}

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// 0 picks a free port.
    pub http_port: u16,
    /// How long each process-upload invocation may run: the Lambda deadline in its context.
    pub worker_deadline: Duration,
    /// SQS batch size for process-upload (1 to 10).
    pub worker_batch_size: i32,
    /// How many process-upload invocations may run at once.
    pub worker_concurrency: usize,
    /// Long-poll wait on the queues; short so that stopping is quick.
    pub poll_wait_secs: i32,
    /// Whether to run process-upload on the work queue. Tests that inspect the queue's messages
    /// themselves turn it off.
    pub poll_work_queue: bool,
    /// How often the reconciler's schedule fires (the template's `ReconcileSchedule`); `None`
    /// leaves it off. Tests use short periods.
    pub reconcile_period: Option<Duration>,
    /// Process-upload invocations to kill before their deadline (chaos tests); none by default.
    pub kills: Option<Kills>,
    /// How long each fit-video invocation may run (the template's 900 s by default).
    pub fit_deadline: Duration,
    /// fit-video invocations to kill before their deadline (numbered apart from process-upload's).
    pub fit_kills: Option<Kills>,
    /// The clock process-upload's Lambda context deadlines are read from (AWS's clock). Tests
    /// that move the worker's clock forward (a day passing) move this one with it; the default
    /// is the system clock. Wake-up schedules fall due by this clock too.
    pub lambda_clock: LambdaClock,
    /// Whether the runner fires due wake-up schedules as EventBridge Scheduler would (moto only
    /// stores them). Tests of a schedule that never fires turn it off.
    pub fire_schedules: bool,
}

/// The clock of `RunnerConfig::lambda_clock`.
#[derive(Clone, Default)]
pub struct LambdaClock(pub Option<Arc<dyn reelay_shared::clock::Clock>>);

impl LambdaClock {
    fn now_ms(&self) -> u64 {
        match &self.0 {
            Some(clock) => clock.now_ms().max(0) as u64,
            None => now_ms(),
        }
    }
}

impl fmt::Debug for LambdaClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "LambdaClock(test)"
        } else {
            "LambdaClock(system)"
        })
    }
}

/// Why the runner stopped a process-upload invocation before its handler returned. Either way the
/// handler's future is dropped where it stands, as Lambda stops a function, and the whole batch
/// comes back after the visibility timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Killed {
    /// Lambda's timeout: the handler was still running at the invocation's deadline. The engine
    /// budgets its work so that this never happens (DESIGN §3, "calls fit the deadline").
    Timeout,
    /// The kill plan stopped it early, as a crash, an out-of-memory kill or a lost host would.
    Planned,
}

/// Decides which process-upload invocations die early. `invocation` counts this runner's
/// process-upload invocations from 0; `Some(after)` drops the handler `after` into it (an `after`
/// at or past the deadline leaves it to the timeout).
pub trait KillPlan: Send + Sync {
    fn kill_after(&self, invocation: u64) -> Option<Duration>;
}

impl<F> KillPlan for F
where
    F: Fn(u64) -> Option<Duration> + Send + Sync,
{
    fn kill_after(&self, invocation: u64) -> Option<Duration> {
        self(invocation)
    }
}

/// A shared kill plan, for `RunnerConfig`.
#[derive(Clone)]
pub struct Kills(pub Arc<dyn KillPlan>);

impl fmt::Debug for Kills {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kills(..)")
    }
}

/// The template's default `ReconcileSchedule`, `rate(5 minutes)`.
pub const RECONCILE_PERIOD: Duration = Duration::from_secs(5 * 60);

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            http_port: 0,
            worker_deadline: Duration::from_secs(
                reelay_shared::resources::queue::WORKER_TIMEOUT_SECS.into(),
            ),
            worker_batch_size: 1,
            worker_concurrency: 2,
            poll_wait_secs: 1,
            poll_work_queue: true,
            reconcile_period: Some(RECONCILE_PERIOD),
            kills: None,
            fit_deadline: Duration::from_secs(
                reelay_shared::resources::fit_queue::TIMEOUT_SECS.into(),
            ),
            fit_kills: None,
            lambda_clock: LambdaClock::default(),
            fire_schedules: true,
        }
    }
}

/// One function invocation the runner made, for tests and the demo's read-out.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    pub function: FunctionName,
    pub request_id: String,
    /// The Lambda deadline handed to the function, epoch milliseconds (0 for HTTP functions).
    pub deadline_ms: u64,
    pub invoked_at_ms: u64,
    /// Message ids, object keys or the HTTP route, depending on the trigger.
    pub items: Vec<String>,
    /// The function's answer, or its error, as text (`killed: ...` when the runner stopped it).
    pub outcome: String,
    /// Set when the runner stopped the invocation before its handler returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub killed: Option<Killed>,
}

/// Every invocation so far, with a way to wait for one without sleeping.
#[derive(Default)]
pub struct InvocationLog {
    entries: Mutex<Vec<Invocation>>,
    count: Option<watch::Sender<usize>>,
}

impl InvocationLog {
    fn new() -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
            count: Some(watch::channel(0).0),
        }
    }

    fn push(&self, invocation: Invocation) {
        tracing::info!(function = invocation.function.as_str(), items = ?invocation.items, outcome = %invocation.outcome, "invoked");
        let len = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            entries.push(invocation);
            entries.len()
        };
        if let Some(count) = &self.count {
            count.send_replace(len);
        }
    }

    pub fn snapshot(&self) -> Vec<Invocation> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until `done` holds for the log, or `limit` passes; returns the log either way.
    pub async fn wait_until(
        &self,
        limit: Duration,
        done: impl Fn(&[Invocation]) -> bool,
    ) -> (bool, Vec<Invocation>) {
        let Some(count) = &self.count else {
            return (false, self.snapshot());
        };
        let mut changes = count.subscribe();
        let waited = tokio::time::timeout(limit, async {
            loop {
                if done(&self.snapshot()) {
                    return;
                }
                if changes.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        let entries = self.snapshot();
        (waited.is_ok() && done(&entries), entries)
    }
}

struct Shared {
    functions: Functions,
    authorizer: LocalAuthorizer,
    log: Arc<InvocationLog>,
}

/// A running local runner. `stop` (or dropping it) ends its server and pollers.
pub struct Runner {
    pub http_url: String,
    pub log: Arc<InvocationLog>,
    fired: Arc<Mutex<Vec<FiredSchedule>>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Runner {
    pub async fn start(
        functions: Functions,
        aws: AwsClients,
        stack: &Stack,
        authorizer: LocalAuthorizer,
        config: RunnerConfig,
    ) -> std::io::Result<Self> {
        let log = Arc::new(InvocationLog::new());
        let shared = Arc::new(Shared {
            functions: functions.clone(),
            authorizer,
            log: log.clone(),
        });
        let (shutdown, _) = watch::channel(false);

        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], config.http_port)))
                .await?;
        let http_url = format!("http://{}", listener.local_addr()?);
        // Cognito's hosted UI for the console, locally: its tokens are minted with the key the
        // gateway checks, for the console this gateway serves.
        let sign_in = Arc::new(LocalSignIn::new(
            shared.authorizer.clone(),
            ConsoleClient::for_gateway(&http_url),
        ));
        let router = axum::Router::new()
            .route("/__local/invocations", axum::routing::get(list_invocations))
            .nest(SIGN_IN_PATH, sign_in.router())
            .fallback(serve_http)
            // API Gateway HTTP APIs cap payloads at 10 MB; videos go straight to S3.
            .layer(axum::extract::DefaultBodyLimit::max(10 * 1024 * 1024))
            .with_state(shared);
        let mut stop = shutdown.subscribe();
        let mut tasks = vec![tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            if let Err(err) = serve.await {
                tracing::error!(error = %err, "local HTTP server stopped");
            }
        })];

        tasks.push(tokio::spawn(poll_s3_events(
            aws.clone(),
            stack.s3_events_queue_url.clone(),
            functions.clone(),
            log.clone(),
            config.clone(),
            shutdown.subscribe(),
        )));
        let workers = if config.poll_work_queue {
            config.worker_concurrency.max(1)
        } else {
            0
        };
        let invocations = Arc::new(AtomicU64::new(0));
        let worker = Consumer {
            function: FunctionName::ProcessUpload,
            deadline: config.worker_deadline,
            kills: config.kills.clone(),
            batch_size: config.worker_batch_size,
        };
        for _ in 0..workers {
            tasks.push(tokio::spawn(poll_work_queue(
                aws.clone(),
                (stack.queue_url.clone(), stack.queue_arn.clone()),
                functions.clone(),
                (log.clone(), invocations.clone()),
                (config.clone(), worker.clone()),
                shutdown.subscribe(),
            )));
        }
        // fit-video: one at a time, as its reserved concurrency in the template allows per
        // container (a conversion uses every core it has).
        if config.poll_work_queue {
            tasks.push(tokio::spawn(poll_work_queue(
                aws.clone(),
                (stack.fit_queue_url.clone(), stack.fit_queue_arn.clone()),
                functions.clone(),
                (log.clone(), Arc::new(AtomicU64::new(0))),
                (
                    config.clone(),
                    Consumer {
                        function: FunctionName::FitVideo,
                        deadline: config.fit_deadline,
                        kills: config.fit_kills.clone(),
                        batch_size: 1,
                    },
                ),
                shutdown.subscribe(),
            )));
        }
        if let Some(period) = config.reconcile_period {
            tasks.push(tokio::spawn(fire_schedule(
                period,
                functions.clone(),
                log.clone(),
                shutdown.subscribe(),
            )));
        }
        let fired = Arc::new(Mutex::new(Vec::new()));
        if config.fire_schedules {
            tasks.push(tokio::spawn(fire_wake_ups(
                aws.clone(),
                stack.schedule_group_name.clone(),
                config.lambda_clock.clone(),
                fired.clone(),
                shutdown.subscribe(),
            )));
        }
        Ok(Self {
            http_url,
            log,
            fired,
            shutdown,
            tasks,
        })
    }

    /// The wake-up schedules this runner fired, in order.
    pub fn fired_schedules(&self) -> Vec<FiredSchedule> {
        self.fired.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops the server and the pollers, waiting for in-flight invocations to finish.
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        for task in self.tasks.drain(..) {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "runner task failed");
            }
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn list_invocations(State(shared): State<Arc<Shared>>) -> axum::Json<Vec<Invocation>> {
    axum::Json(shared.log.snapshot())
}

fn gateway_answer(status: u16, message: &str) -> axum::response::Response {
    // API Gateway's own answers carry `{"message": ...}`, not the function's problem JSON.
    let status =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

/// Serves one HTTP request as API Gateway (HTTP API, payload 2.0) would.
async fn serve_http(
    State(shared): State<Arc<Shared>>,
    req: http::Request<axum::body::Body>,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 10 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return gateway_answer(413, "Request Entity Too Large"),
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let Some((route, proxy)) = match_route(&method, &path) else {
        return gateway_answer(404, "Not Found");
    };
    let claims = if route.authorized {
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match shared.authorizer.verify(header) {
            Some(claims) => Some(claims),
            None => return gateway_answer(401, "Unauthorized"),
        }
    } else {
        None
    };
    let event = gateway_event(route, proxy, &parts, &body, claims);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(err) => {
            tracing::error!(error = %err, "could not build the API Gateway event");
            return gateway_answer(500, "Internal Server Error");
        }
    };
    let invoked_at_ms = now_ms();
    let response = match route.function {
        FunctionName::Api => reelay_api::handle(&shared.functions.api, request).await,
        FunctionName::OauthCallback => {
            reelay_oauth_callback::handle(&shared.functions.oauth_callback, request).await
        }
        FunctionName::CreatePost
        | FunctionName::ProcessUpload
        | FunctionName::Reconciler
        | FunctionName::FitVideo => return gateway_answer(500, "Internal Server Error"),
    };
    let response = match response {
        Ok(r) => r,
        Err(never) => match never {},
    };
    shared.log.push(Invocation {
        function: route.function,
        request_id: new_request_id(),
        deadline_ms: 0,
        invoked_at_ms,
        items: vec![format!("{method} {path}")],
        outcome: response.status().as_u16().to_string(),
        killed: None,
    });
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    http::Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// The API Gateway HTTP API (payload format 2.0) event for a request, as AWS would send it.
fn gateway_event(
    route: &Route,
    proxy: Option<String>,
    parts: &http::request::Parts,
    body: &Bytes,
    claims: Option<HashMap<String, String>>,
) -> serde_json::Value {
    let mut headers = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().unwrap_or_default().to_owned();
        if name == http::header::COOKIE {
            cookies.extend(value.split("; ").map(str::to_owned));
            continue;
        }
        // API Gateway lowercases names and joins repeated headers with commas.
        let entry = headers
            .entry(name.as_str().to_owned())
            .or_insert_with(|| serde_json::Value::String(String::new()));
        let joined = match entry.as_str() {
            Some("") | None => value,
            Some(prev) => format!("{prev},{value}"),
        };
        *entry = serde_json::Value::String(joined);
    }
    let raw_query = parts.uri.query().unwrap_or_default().to_owned();
    let mut query = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        let entry = query
            .entry(k.into_owned())
            .or_insert_with(|| serde_json::Value::String(String::new()));
        let joined = match entry.as_str() {
            Some("") | None => v.into_owned(),
            Some(prev) => format!("{prev},{v}"),
        };
        *entry = serde_json::Value::String(joined);
    }
    let route_key = format!("{} {}", route.method, route.path);
    let text_body = std::str::from_utf8(body).ok();
    let (body_value, is_base64) = match (body.is_empty(), text_body) {
        (true, _) => (serde_json::Value::Null, false),
        (false, Some(text)) => (serde_json::Value::String(text.to_owned()), false),
        (false, None) => (
            serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
    };
    let now = now_ms();
    let authorizer =
        claims.map(|claims| serde_json::json!({ "jwt": { "claims": claims, "scopes": null } }));
    let mut event = serde_json::json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers_host(parts),
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": parts.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": new_request_id(),
            "routeKey": route_key,
            "stage": "$default",
            "time": "",
            "timeEpoch": now,
        },
        "isBase64Encoded": is_base64,
    });
    if let Some(obj) = event.as_object_mut() {
        if !cookies.is_empty() {
            obj.insert("cookies".into(), serde_json::json!(cookies));
        }
        if !query.is_empty() {
            obj.insert(
                "queryStringParameters".into(),
                serde_json::Value::Object(query),
            );
        }
        if let Some(proxy) = proxy {
            obj.insert(
                "pathParameters".into(),
                serde_json::json!({ "proxy": proxy }),
            );
        }
        if !body_value.is_null() {
            obj.insert("body".into(), body_value);
        }
        if let (Some(auth), Some(ctx)) = (
            authorizer,
            obj.get_mut("requestContext")
                .and_then(|c| c.as_object_mut()),
        ) {
            ctx.insert("authorizer".into(), auth);
        }
    }
    event
}

fn headers_host(parts: &http::request::Parts) -> String {
    parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned()
}

/// The context Lambda gives an invocation starting at `invoked_at_ms`.
fn lambda_context(function: FunctionName, invoked_at_ms: u64, deadline: Duration) -> Context {
    let mut ctx = Context::default();
    ctx.request_id = new_request_id();
    ctx.deadline = invoked_at_ms + deadline.as_millis() as u64;
    ctx.invoked_function_arn = format!(
        "arn:aws:lambda:us-east-1:000000000000:function:reelay-{}",
        function.as_str()
    );
    ctx
}

/// One long poll of a queue, with the attributes Lambda's event source passes on
/// (ApproximateReceiveCount among them). `None` once the runner is stopping; an empty batch when
/// the poll failed (logged) or found nothing.
async fn receive(
    aws: &AwsClients,
    queue_url: &str,
    max: i32,
    config: &RunnerConfig,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Vec<aws_sdk_sqs::types::Message>> {
    let request = aws
        .sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(max)
        .wait_time_seconds(config.poll_wait_secs)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send();
    let received = tokio::select! {
        r = request => r,
        _ = shutdown.wait_for(|s| *s) => return None,
    };
    match received {
        Ok(out) => Some(out.messages.unwrap_or_default()),
        Err(err) => {
            tracing::warn!(queue_url, error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "could not poll a queue");
            // A pause before polling again, as Lambda's pollers back off, rather than a hot loop
            // while the queue is unreachable.
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => Some(Vec::new()),
                _ = shutdown.wait_for(|s| *s) => None,
            }
        }
    }
}

/// Stands in for the S3 → create-post trigger: moto notifies a queue, this turns each
/// notification into a create-post invocation. A notification is deleted once create-post
/// returned; if it failed, it comes back after the queue's visibility timeout (S3 retries too).
async fn poll_s3_events(
    aws: AwsClients,
    queue_url: String,
    functions: Functions,
    log: Arc<InvocationLog>,
    config: RunnerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let Some(messages) = receive(&aws, &queue_url, 10, &config, &mut shutdown).await else {
            return;
        };
        for message in messages {
            let body = message.body().unwrap_or_default();
            let done = match s3_event_from_notification(body) {
                // moto first sends an s3:TestEvent without Records, as S3 does; nothing to invoke.
                Ok(event) if event.records.is_empty() => true,
                Err(err) => {
                    tracing::error!(error = %err, body, "dropping an S3 notification that is not an S3 event");
                    true
                }
                Ok(event) => {
                    let keys = event
                        .records
                        .iter()
                        .filter_map(|r| r.s3.object.key.clone())
                        .collect();
                    let invoked_at_ms = now_ms();
                    let context = lambda_context(
                        FunctionName::CreatePost,
                        invoked_at_ms,
                        Duration::from_secs(60),
                    );
                    let deadline_ms = context.deadline;
                    let request_id = context.request_id.clone();
                    let result = reelay_create_post::handle(
                        &functions.create_post,
                        LambdaEvent::new(event, context),
                    )
                    .await;
                    let ok = result.is_ok();
                    let outcome = match result {
                        Ok(outcomes) => serde_json::to_string(&outcomes).unwrap_or_default(),
                        Err(err) => format!("error: {err}"),
                    };
                    log.push(Invocation {
                        function: FunctionName::CreatePost,
                        request_id,
                        deadline_ms,
                        invoked_at_ms,
                        items: keys,
                        outcome,
                        killed: None,
                    });
                    ok
                }
            };
            if done {
                delete_message(&aws, &queue_url, message.receipt_handle()).await;
            }
        }
    }
}

/// Parses an S3 notification as delivered to a queue into the event S3 hands to Lambda. moto's
/// records lack `userIdentity` and `requestParameters`, which S3 always sends (and which
/// `aws_lambda_events` requires), so those are filled in as S3 would.
fn s3_event_from_notification(body: &str) -> Result<S3Event, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_str(body)?;
    if let Some(records) = value.get_mut("Records").and_then(|r| r.as_array_mut()) {
        for record in records.iter_mut().filter_map(|r| r.as_object_mut()) {
            record
                .entry("userIdentity")
                .or_insert_with(|| serde_json::json!({ "principalId": "AWS:LOCAL" }));
            record
                .entry("requestParameters")
                .or_insert_with(|| serde_json::json!({ "sourceIPAddress": "127.0.0.1" }));
            record
                .entry("responseElements")
                .or_insert_with(|| serde_json::json!({}));
        }
    } else {
        // A test event (`{"Event":"s3:TestEvent",...}`) carries no records.
        value = serde_json::json!({ "Records": [] });
    }
    serde_json::from_value(value)
}

/// An SQS-triggered function the runner polls a queue for.
#[derive(Clone)]
struct Consumer {
    function: FunctionName,
    deadline: Duration,
    kills: Option<Kills>,
    batch_size: i32,
}

/// Stands in for the SQS event source mapping of process-upload (and fit-video): receives a
/// batch, invokes the function with the configured deadline, and deletes only the messages not reported in
/// `batchItemFailures`, so failed ones come back and, after maxReceiveCount, reach the DLQ.
/// Like Lambda, it stops the handler at the deadline (or earlier, by the kill plan); the whole
/// batch then comes back. `(log, invocations)`: the log, and the process-upload invocation counter
/// shared by the pollers, which numbers invocations for the kill plan.
async fn poll_work_queue(
    aws: AwsClients,
    (queue_url, queue_arn): (String, String),
    functions: Functions,
    (log, invocations): (Arc<InvocationLog>, Arc<AtomicU64>),
    (config, consumer): (RunnerConfig, Consumer),
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let batch = consumer.batch_size.clamp(1, 10);
        let Some(messages) = receive(&aws, &queue_url, batch, &config, &mut shutdown).await else {
            return;
        };
        if messages.is_empty() {
            continue;
        }
        let records: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                let attributes: HashMap<String, String> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                serde_json::json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "md5OfBody": m.md5_of_body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": queue_arn,
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        let event: SqsEvent =
            match serde_json::from_value(serde_json::json!({ "Records": records })) {
                Ok(e) => e,
                Err(err) => {
                    tracing::error!(error = %err, "could not build the SQS event");
                    continue;
                }
            };
        let ids: Vec<String> = messages
            .iter()
            .filter_map(|m| m.message_id().map(str::to_owned))
            .collect();
        let started = tokio::time::Instant::now();
        let invoked_at_ms = config.lambda_clock.now_ms();
        let context = lambda_context(consumer.function, invoked_at_ms, consumer.deadline);
        let deadline_ms = context.deadline;
        let request_id = context.request_id.clone();
        let number = invocations.fetch_add(1, Ordering::SeqCst);
        let (limit, kill) = match consumer.kills.as_ref().and_then(|k| k.0.kill_after(number)) {
            Some(after) if after < consumer.deadline => (after, Killed::Planned),
            _ => (consumer.deadline, Killed::Timeout),
        };
        let event = LambdaEvent::new(event, context);
        let handler: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>> =
            match consumer.function {
                FunctionName::FitVideo => {
                    Box::pin(reelay_fit_video::handle(&functions.fit_video, event))
                }
                _ => Box::pin(reelay_process_upload::handle(
                    &functions.process_upload,
                    event,
                )),
            };
        let result = tokio::time::timeout_at(started + limit, handler).await;
        let mut killed = None;
        let (failed, outcome): (Option<Vec<String>>, String) = match result {
            // Dropped mid-flight: nothing reported, so nothing is deleted and every message of
            // the batch comes back after the visibility timeout.
            Err(_) => {
                killed = Some(kill);
                let outcome = match kill {
                    Killed::Timeout => "killed: timeout".to_owned(),
                    Killed::Planned => format!("killed: planned after {} ms", limit.as_millis()),
                };
                tracing::warn!(request_id, function = consumer.function.as_str(), %outcome, "invocation stopped before it returned");
                (None, outcome)
            }
            Ok(Ok(response)) => {
                let failed: Vec<String> = response
                    .batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.clone())
                    .collect();
                let outcome = serde_json::to_string(&response).unwrap_or_default();
                (Some(failed), outcome)
            }
            // A function error fails the whole batch: every message comes back.
            Ok(Err(err)) => (None, format!("error: {err}")),
        };
        log.push(Invocation {
            function: consumer.function,
            request_id,
            deadline_ms,
            invoked_at_ms,
            items: ids,
            outcome,
            killed,
        });
        let Some(failed) = failed else { continue };
        for m in &messages {
            if !failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                delete_message(&aws, &queue_url, m.receipt_handle()).await;
            }
        }
    }
}

/// Stands in for the EventBridge schedule of the reconciler: every `period` (first after one
/// period, as a new schedule's first run comes), invokes it with a scheduled event as
/// EventBridge sends it. Here sweeps never overlap (a late one delays the next); in AWS two may,
/// which is harmless: every change a sweep makes is a version-checked save.
async fn fire_schedule(
    period: Duration,
    functions: Functions,
    log: Arc<InvocationLog>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let invoked_at_ms = now_ms();
        let event = scheduled_event(invoked_at_ms);
        let context = lambda_context(
            FunctionName::Reconciler,
            invoked_at_ms,
            Duration::from_secs(RECONCILER_TIMEOUT_SECS),
        );
        let deadline_ms = context.deadline;
        let request_id = context.request_id.clone();
        let outcome = match serde_json::from_value(event) {
            Ok(event) => match reelay_reconciler::handle(
                &functions.reconciler,
                LambdaEvent::new(event, context),
            )
            .await
            {
                Ok(summary) => serde_json::to_string(&summary).unwrap_or_default(),
                Err(err) => format!("error: {err}"),
            },
            Err(err) => format!("error: the scheduled event did not parse: {err}"),
        };
        log.push(Invocation {
            function: FunctionName::Reconciler,
            request_id,
            deadline_ms,
            invoked_at_ms,
            items: vec!["schedule".to_owned()],
            outcome,
            killed: None,
        });
    }
}

/// One wake-up schedule the runner fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FiredSchedule {
    pub name: String,
    /// When its `at(...)` expression fell due, epoch milliseconds.
    pub due_at_ms: i64,
    /// When the runner sent its message, by `RunnerConfig::lambda_clock`.
    pub fired_at_ms: i64,
}

/// A wake-up schedule as stored (in moto): what `World::schedules` shows tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSchedule {
    pub name: String,
    pub expression: String,
    /// `None` when the expression is not a one-time `at(...)` in UTC.
    pub due_at_ms: Option<i64>,
    pub target_arn: String,
    /// The message the schedule sends (its target's `Input`).
    pub input: String,
    /// EventBridge deletes the schedule once it ran (`ActionAfterCompletion: DELETE`).
    pub delete_after_completion: bool,
    pub enabled: bool,
    /// Changes with every update: the runner deletes only the version it fired.
    last_modified: Option<aws_smithy_types::DateTime>,
}

fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    aws_sdk_sqs::error::DisplayErrorContext(e).to_string()
}

/// Every schedule of `group`, read as EventBridge would run it: ListSchedules gives names only
/// (and, in moto, only the target's ARN), so each is read whole with GetSchedule. One deleted in
/// between is left out.
pub async fn stored_schedules(
    aws: &AwsClients,
    group: &str,
) -> Result<Vec<StoredSchedule>, String> {
    let mut names = Vec::new();
    let mut next_token = None;
    loop {
        let page = aws
            .scheduler
            .list_schedules()
            .group_name(group)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| format!("ListSchedules: {}", describe(&e)))?;
        names.extend(
            page.schedules()
                .iter()
                .filter_map(|s| s.name().map(str::to_owned)),
        );
        next_token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if next_token.is_none() {
            break;
        }
    }
    let mut schedules = Vec::new();
    for name in names {
        let got = aws
            .scheduler
            .get_schedule()
            .group_name(group)
            .name(&name)
            .send()
            .await;
        let schedule = match got {
            Ok(s) => s,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                continue
            }
            Err(e) => return Err(format!("GetSchedule {name}: {}", describe(&e))),
        };
        let expression = schedule
            .schedule_expression()
            .unwrap_or_default()
            .to_owned();
        // The adapter always writes UTC; a schedule in another zone is not one this reads.
        let utc = matches!(schedule.schedule_expression_timezone(), None | Some("UTC"));
        let target = schedule.target();
        schedules.push(StoredSchedule {
            due_at_ms: reelay_shared::scheduler::parse_at_expression(&expression).filter(|_| utc),
            expression,
            target_arn: target.map(|t| t.arn().to_owned()).unwrap_or_default(),
            input: target
                .and_then(|t| t.input())
                .unwrap_or_default()
                .to_owned(),
            delete_after_completion: schedule
                .action_after_completion()
                .is_some_and(|a| a.as_str() == "DELETE"),
            enabled: schedule.state().is_none_or(|s| s.as_str() == "ENABLED"),
            last_modified: schedule.last_modification_date().copied(),
            name,
        });
    }
    Ok(schedules)
}

/// How often the runner looks for due wake-ups: often enough that a test moving its clock past a
/// schedule's time sees the message within a fraction of a second.
const WAKE_UP_POLL: Duration = Duration::from_millis(200);

/// Stands in for EventBridge Scheduler, which moto does not run: every `WAKE_UP_POLL`, sends the
/// message of each enabled one-time schedule of `group` that is due by `clock` to its target
/// queue (no delay), then deletes the schedule (`ActionAfterCompletion: DELETE`). A failed send
/// is tried again on the next tick, as EventBridge retries; a fired schedule it must not delete
/// is remembered so it never fires twice.
async fn fire_wake_ups(
    aws: AwsClients,
    group: String,
    clock: LambdaClock,
    fired: Arc<Mutex<Vec<FiredSchedule>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(WAKE_UP_POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut completed: std::collections::HashSet<(String, i64)> = Default::default();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let schedules = match stored_schedules(&aws, &group).await {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(group, error = %err, "could not read the wake-up schedules");
                continue;
            }
        };
        for schedule in schedules {
            let Some(due_at_ms) = schedule.due_at_ms else {
                continue;
            };
            let key = (schedule.name.clone(), due_at_ms);
            if !schedule.enabled || completed.contains(&key) {
                continue;
            }
            let now_ms = clock.now_ms() as i64;
            if due_at_ms > now_ms {
                continue;
            }
            if let Err(err) = send_to_target(&aws, &schedule).await {
                tracing::warn!(schedule = schedule.name, error = %err, "a wake-up's send failed; trying again");
                continue;
            }
            tracing::info!(
                schedule = schedule.name,
                due_at_ms,
                fired_at_ms = now_ms,
                "fired a wake-up"
            );
            fired
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(FiredSchedule {
                    name: schedule.name.clone(),
                    due_at_ms,
                    fired_at_ms: now_ms,
                });
            if !schedule.delete_after_completion || !delete_fired(&aws, &group, &schedule).await {
                completed.insert(key);
            }
        }
    }
}

/// Sends a schedule's input to its target queue, found by the queue ARN's name and account.
async fn send_to_target(aws: &AwsClients, schedule: &StoredSchedule) -> Result<(), String> {
    let mut parts = schedule.target_arn.split(':');
    let (Some("arn"), Some(_), Some("sqs"), Some(_), Some(account), Some(name)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(format!(
            "target {} is not an SQS queue",
            schedule.target_arn
        ));
    };
    let url = aws
        .sqs
        .get_queue_url()
        .queue_name(name)
        .queue_owner_aws_account_id(account)
        .send()
        .await
        .map_err(|e| format!("GetQueueUrl: {}", describe(&e)))?
        .queue_url
        .unwrap_or_default();
    aws.sqs
        .send_message()
        .queue_url(url)
        .message_body(&schedule.input)
        .delay_seconds(0)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("SendMessage: {}", describe(&e)))
}

/// Deletes the fired schedule unless it was updated since it was read (a worker may set the job's
/// next wake-up as soon as this one's message arrives: deleting that would lose it). Whether the
/// schedule is gone (or was replaced).
async fn delete_fired(aws: &AwsClients, group: &str, schedule: &StoredSchedule) -> bool {
    let current = aws
        .scheduler
        .get_schedule()
        .group_name(group)
        .name(&schedule.name)
        .send()
        .await;
    match current {
        Ok(current) if current.last_modification_date() != schedule.last_modified.as_ref() => {
            return true;
        }
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return true;
        }
        Err(e) => {
            tracing::warn!(schedule = schedule.name, error = %describe(&e), "could not re-read a fired wake-up");
            return false;
        }
    }
    match aws
        .scheduler
        .delete_schedule()
        .group_name(group)
        .name(&schedule.name)
        .send()
        .await
    {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            true
        }
        Err(e) => {
            tracing::warn!(schedule = schedule.name, error = %describe(&e), "could not delete a fired wake-up");
            false
        }
    }
}

/// The reconciler's Lambda timeout in the template.
const RECONCILER_TIMEOUT_SECS: u64 = 60;

/// A scheduled event as EventBridge delivers it to a Lambda target.
fn scheduled_event(at_ms: u64) -> serde_json::Value {
    let time = chrono::DateTime::from_timestamp_millis(at_ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    serde_json::json!({
        "version": "0",
        "id": new_request_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time,
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/reelay-local-ReconcileSchedule"],
        "detail": {},
    })
}

async fn delete_message(aws: &AwsClients, queue_url: &str, receipt: Option<&str>) {
    let Some(receipt) = receipt else { return };
    if let Err(err) = aws
        .sqs
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(receipt)
        .send()
        .await
    {
        tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "could not delete a message; it will be delivered again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_like_api_gateway() {
        let (r, proxy) = match_route("GET", "/api/auth/platforms/twitter/callback").unwrap();
        assert_eq!(r.function, FunctionName::OauthCallback);
        assert!(proxy.is_none());
        let (r, proxy) = match_route("POST", "/api/auth/platforms/twitter/callback").unwrap();
        assert_eq!(
            r.function,
            FunctionName::Api,
            "only GET goes to the callback"
        );
        assert_eq!(proxy.as_deref(), Some("auth/platforms/twitter/callback"));
        let (r, proxy) = match_route("GET", "/api/posts/p1").unwrap();
        assert_eq!(r.function, FunctionName::Api);
        assert_eq!(proxy.as_deref(), Some("posts/p1"));
        assert!(match_route("GET", "/api/").is_none());
        assert!(match_route("GET", "/other").is_none());
    }

    #[test]
    fn console_routes_are_open_and_everything_else_under_api_needs_a_token() {
        let open = |method: &str, path: &str| {
            let (r, _) = match_route(method, path).unwrap_or_else(|| panic!("{method} {path}"));
            assert_eq!(r.function, FunctionName::Api, "{method} {path}");
            !r.authorized
        };
        assert!(open("GET", "/"));
        assert!(open("GET", "/api/console/config"));
        let (r, proxy) = match_route("GET", "/assets/app/main.js").unwrap();
        assert!(!r.authorized && r.path == "/assets/{proxy+}");
        assert_eq!(proxy.as_deref(), Some("app/main.js"));
        let (r, proxy) = match_route("GET", "/vendor/twitter-text.js").unwrap();
        assert!(!r.authorized && r.path == "/vendor/{proxy+}");
        assert_eq!(proxy.as_deref(), Some("twitter-text.js"));
        // Only GET is open: any other method on those paths is another route, or none.
        assert!(
            !open("POST", "/api/console/config"),
            "falls to ANY /api/{{proxy+}}"
        );
        assert!(!open("GET", "/api/console/config/x"));
        assert!(!open("GET", "/api/posts"));
        assert!(match_route("POST", "/").is_none());
        assert!(match_route("DELETE", "/assets/app.js").is_none());
        assert!(match_route("GET", "/assets/").is_none());
        assert!(match_route("GET", "/index.html").is_none());
    }
}
