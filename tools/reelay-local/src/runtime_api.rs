//! A minimal Lambda Runtime API, so that the functions' built binaries (their `main.rs` wiring,
//! not just their handlers) can be run on this machine the way Lambda runs them.
//!
//! Lambda starts a function's `bootstrap` with `AWS_LAMBDA_RUNTIME_API=host:port`; the runtime
//! (here the `lambda_runtime` crate) then loops: `GET /next` for an event, `POST /{id}/response`
//! (or `/{id}/error`) with the answer. A runtime that fails before its first `/next` reports it on
//! `POST /init/error`. The endpoints, status codes and headers below follow AWS's reference,
//! "Using the Lambda runtime API for custom runtimes":
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html> (API version 2018-06-01).
//!
//! One stub serves one execution environment: one binary, one invocation at a time, as Lambda
//! (outside Managed Instances) does. [`RuntimeApi::invoke`] plays the Lambda service's side: it
//! queues an event, and answers with what the runtime posted back.
//!
//! Not modelled: streaming responses, SnapStart's `/restore` endpoints, extensions, and the
//! deadline itself (Lambda kills a runtime past it; callers here bound `invoke` with a timeout).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The API version every path starts with.
const PREFIX: &str = "/2018-06-01/runtime";

/// What the runtime posted back for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST /invocation/{id}/response`: the function's result, as sent (JSON for every Reelay
    /// function).
    Response(Bytes),
    /// `POST /invocation/{id}/error`: the function returned an error. `error_type` is the
    /// `Lambda-Runtime-Function-Error-Type` header; `body` is usually
    /// `{"errorMessage": ..., "errorType": ...}`.
    Error {
        error_type: Option<String>,
        body: Bytes,
    },
}

impl Outcome {
    /// The response as JSON, or why not.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        match self {
            Outcome::Response(body) => serde_json::from_slice(body)
                .map_err(|e| format!("the response is not JSON ({e}): {}", lossy(body))),
            Outcome::Error { error_type, body } => Err(format!(
                "the function reported an error ({}): {}",
                error_type.as_deref().unwrap_or("no type"),
                lossy(body)
            )),
        }
    }
}

fn lossy(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

/// Why [`RuntimeApi::invoke`] has no outcome.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The runtime posted to `/init/error`: it will not take events.
    #[error("the runtime failed to initialize ({error_type}): {body}")]
    InitFailed { error_type: String, body: String },
    #[error("no answer within {0:?} (the runtime did not ask for the event, or did not answer)")]
    TimedOut(Duration),
    #[error("the Runtime API stub stopped")]
    Stopped,
}

/// One event waiting for the runtime's `GET /next`.
struct Pending {
    request_id: String,
    deadline_ms: u64,
    payload: Bytes,
    answer: oneshot::Sender<Outcome>,
}

struct Shared {
    /// Events waiting for `/next`. Behind an async mutex: only one `/next` waits at a time.
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    /// Invocations handed out and not yet answered, by request id.
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// Set once the runtime reports `/init/error`: (error type, body).
    init_error: watch::Sender<Option<(String, String)>>,
    function_arn: String,
}

/// A running Runtime API stub on a loopback port. `stop` (or dropping it) ends its server.
pub struct RuntimeApi {
    address: SocketAddr,
    sender: mpsc::UnboundedSender<Pending>,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl RuntimeApi {
    /// Starts a stub for the function `function_name` (named in the invoked function ARN each
    /// event carries) on a free loopback port.
    pub async fn start(function_name: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let address = listener.local_addr()?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
            init_error: watch::channel(None).0,
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
        });
        let router = axum::Router::new()
            .route(&format!("{PREFIX}/invocation/next"), get(next))
            .route(
                &format!("{PREFIX}/invocation/{{id}}/response"),
                post(response),
            )
            .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(error))
            .route(&format!("{PREFIX}/init/error"), post(init_error))
            // Lambda's limit on a synchronous response payload is 6 MB; answer 413 above it.
            .layer(axum::extract::DefaultBodyLimit::max(6 * 1024 * 1024))
            .with_state(shared.clone());
        let (shutdown, mut stop) = watch::channel(false);
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            if let Err(err) = serve.await {
                tracing::error!(error = %err, "the Runtime API stub stopped");
            }
        });
        Ok(Self {
            address,
            sender,
            shared,
            shutdown,
            server: Some(server),
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` for the runtime: `host:port`, no scheme.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// What the runtime reported on `/init/error`, if it did.
    pub fn init_error(&self) -> Option<(String, String)> {
        self.shared.init_error.borrow().clone()
    }

    /// Invokes the function with `payload` as Lambda would (synchronously): queues the event with
    /// a deadline `timeout` from now, and waits up to `timeout` for the runtime's answer.
    pub async fn invoke(
        &self,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Outcome, InvokeError> {
        let (answer, outcome) = oneshot::channel();
        let pending = Pending {
            request_id: uuid::Uuid::new_v4().to_string(),
            deadline_ms: now_ms() + timeout.as_millis() as u64,
            payload: payload.into(),
            answer,
        };
        self.sender
            .send(pending)
            .map_err(|_| InvokeError::Stopped)?;
        let mut init = self.shared.init_error.subscribe();
        let failed_init = async move {
            match init.wait_for(Option::is_some).await {
                Ok(e) => e.clone().unwrap_or_default(),
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            outcome = outcome => outcome.map_err(|_| InvokeError::Stopped),
            (error_type, body) = failed_init => Err(InvokeError::InitFailed { error_type, body }),
            _ = tokio::time::sleep(timeout) => Err(InvokeError::TimedOut(timeout)),
        }
    }

    /// Stops the server (a runtime still polling `/next` sees its connection close).
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        // A long-polling `/next` holds graceful shutdown open (it has no answer coming): bounded.
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(2), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `GET /runtime/invocation/next`: blocks until there is an event, then returns it with the
/// invocation's details in headers. `lambda_runtime` requires the request id and the deadline
/// (it panics without them) and reads the ARN and trace id.
async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let pending = {
        let mut queue = shared.queue.lock().await;
        queue.recv().await
    };
    let Some(pending) = pending else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the stub is stopping").into_response();
    };
    shared
        .in_flight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(pending.request_id.clone(), pending.answer);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", &pending.request_id);
    set(
        "lambda-runtime-deadline-ms",
        &pending.deadline_ms.to_string(),
    );
    set("lambda-runtime-invoked-function-arn", &shared.function_arn);
    // The X-Ray header format: Root=1-{8 hex digits of epoch seconds}-{24 hex digits}.
    let trace = format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        now_ms() / 1000,
        &uuid::Uuid::new_v4().simple().to_string()[..24],
        &uuid::Uuid::new_v4().simple().to_string()[..16],
    );
    set("lambda-runtime-trace-id", &trace);
    set("content-type", "application/json");
    (StatusCode::OK, headers, pending.payload).into_response()
}

/// The answer for request `id`, if it is in flight; AWS answers an unknown id with 400.
fn take(shared: &Shared, id: &str) -> Option<oneshot::Sender<Outcome>> {
    shared
        .in_flight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(id)
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "status": "OK" })),
    )
        .into_response()
}

fn unknown(id: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({
            "errorMessage": format!("no invocation {id} in flight"),
            "errorType": "InvalidRequestID",
        })),
    )
        .into_response()
}

/// `POST /runtime/invocation/{id}/response`: the function's result (202 Accepted).
async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match take(&shared, &id) {
        Some(answer) => {
            let _ = answer.send(Outcome::Response(body));
            accepted()
        }
        None => unknown(&id),
    }
}

/// `POST /runtime/invocation/{id}/error`: the function failed; the error type comes in the
/// `Lambda-Runtime-Function-Error-Type` header (202 Accepted).
async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match take(&shared, &id) {
        Some(answer) => {
            let _ = answer.send(Outcome::Error {
                error_type: error_type(&headers),
                body,
            });
            accepted()
        }
        None => unknown(&id),
    }
}

/// `POST /runtime/init/error`: the runtime failed before taking an event (202 Accepted). Lambda
/// then reports the failure to every caller; `invoke` does the same.
async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kind = error_type(&headers).unwrap_or_else(|| "Runtime.Unknown".into());
    shared.init_error.send_replace(Some((kind, lossy(&body))));
    accepted()
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime written against the documented protocol, by hand: the stub hands out the event
    /// with the headers `lambda_runtime` needs and takes the response and the error back.
    #[tokio::test]
    async fn hands_out_events_and_takes_answers() {
        let api = RuntimeApi::start("reelay-test").await.unwrap();
        let base = format!("http://{}{PREFIX}", api.address());
        let http = reqwest::Client::new();
        let runtime = {
            let (http, base) = (http.clone(), base.clone());
            tokio::spawn(async move {
                for answer in ["response", "error"] {
                    let next = http
                        .get(format!("{base}/invocation/next"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(next.status(), 200);
                    let h = next.headers().clone();
                    let id = h["lambda-runtime-aws-request-id"]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    let deadline: u64 = h["lambda-runtime-deadline-ms"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!(deadline > now_ms(), "the deadline is ahead");
                    assert!(h["lambda-runtime-invoked-function-arn"]
                        .to_str()
                        .unwrap()
                        .ends_with(":function:reelay-test"));
                    assert!(h["lambda-runtime-trace-id"]
                        .to_str()
                        .unwrap()
                        .starts_with("Root=1-"));
                    let event: serde_json::Value = next.json().await.unwrap();
                    let mut post = http
                        .post(format!("{base}/invocation/{id}/{answer}"))
                        .json(&serde_json::json!({ "echo": event }));
                    if answer == "error" {
                        post = post.header("lambda-runtime-function-error-type", "Oops");
                    }
                    assert_eq!(post.send().await.unwrap().status(), 202);
                    // A second answer for the same invocation is refused.
                    let again = http
                        .post(format!("{base}/invocation/{id}/response"))
                        .body("{}")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(again.status(), 400);
                }
            })
        };
        let first = api
            .invoke(r#"{"n":1}"#, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(first.json().unwrap(), serde_json::json!({"echo": {"n": 1}}));
        let second = api
            .invoke(r#"{"n":2}"#, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            matches!(&second, Outcome::Error { error_type: Some(t), .. } if t == "Oops"),
            "{second:?}"
        );
        runtime.await.unwrap();
        api.stop().await;
    }

    #[tokio::test]
    async fn an_init_error_fails_the_invocation() {
        let api = RuntimeApi::start("reelay-test").await.unwrap();
        let posted = reqwest::Client::new()
            .post(format!("http://{}{PREFIX}/init/error", api.address()))
            .header("lambda-runtime-function-error-type", "Runtime.InitError")
            .body(r#"{"errorMessage":"no config"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
        let err = api.invoke("{}", Duration::from_secs(5)).await.unwrap_err();
        assert!(
            matches!(&err, InvokeError::InitFailed { error_type, body } if error_type == "Runtime.InitError" && body.contains("no config")),
            "{err}"
        );
        assert!(api.init_error().is_some());
    }

    #[tokio::test]
    async fn no_runtime_means_a_timeout() {
        let api = RuntimeApi::start("reelay-test").await.unwrap();
        let err = api
            .invoke("{}", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, InvokeError::TimedOut(_)), "{err}");
    }
}
