//! The built binaries, run as Lambda runs them: every event in `events/` goes through its
//! function's own executable (its `main.rs`: logging, config from the environment, secrets read at
//! cold start, clients, `lambda_runtime::run`) behind a Lambda Runtime API
//! (`reelay_local::runtime_api`), against moto and the X emulator. The other tests call the
//! handlers in process, so only this one checks the `main.rs` wiring.
//!
//! Each binary gets exactly its entry of SAM's `env.json` (`reelay_local::env_json`, what
//! `reelay-local up` writes) plus what Lambda itself sets, and nothing from this process's
//! environment.
//!
//! The test builds the binaries itself (`build_binaries`), so they are never stale.
//!
//! The events carry placeholders (the post id, the bucket, the OAuth state and code, the object's
//! key, the work message) that this test fills in from the live stack; `events/README.md` lists
//! them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reelay_local::env_json::{env_vars, LambdaFunction, FUNCTIONS};
use reelay_local::harness::{aws_clients_for, moto_endpoint};
use reelay_local::runtime_api::RuntimeApi;
use reelay_local::stack::{Stack, StackSpec};
use reelay_shared::ids::{PostId, UserId};
use reelay_shared::jobs::Phase;
use reelay_shared::posts::Platform;
use reelay_shared::reconcile::SweepSummary;
use reelay_shared::store::{DynamoStore, JobStore};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;
use x_emulator::{Emulator, EmulatorConfig, OAuthClient, ProcessingMode};

const CLIENT_ID: &str = "reelay-binaries";
const CLIENT_SECRET: &str = "reelay-binaries-secret";
/// Registered with X; never served here: the test reads X's redirect and builds the callback's
/// event from it.
const REDIRECT_URI: &str = "http://127.0.0.1:9/api/auth/platforms/twitter/callback";
const CALLBACK_PATH: &str = "/api/auth/platforms/twitter/callback";
/// The samples' post id, replaced with the real one.
const SAMPLE_POST_ID: &str = "1795615200000-0123456789ab";
/// The samples' bucket, replaced with the stack's.
const SAMPLE_BUCKET: &str = "reelay-uploads-123456789012";
const CONSOLE_SIGN_IN_URL: &str = "http://127.0.0.1:9/__local/auth/";
const CONSOLE_CLIENT_ID: &str = "reelay-console";
/// Each invocation's deadline (the template's longest timeout is 60 s).
const DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------- the binaries

/// Builds the five function binaries with the cargo running this test, and returns their paths
/// (from cargo's own report, so `CARGO_TARGET_DIR` and the like are honoured). Building here,
/// rather than in the Makefile, means `cargo test` alone never runs stale binaries.
///
/// It cannot deadlock: cargo releases the target directory's lock once the test binaries are
/// built, before it runs them (checked with cargo 1.95: a test running `cargo build` on its own
/// package works). And it adds little to `make test`: `--workspace` plus one test target (this
/// one) resolves features exactly as `cargo test --workspace` does (resolver 2 adds dev-dependency
/// features when any test target is built), so every dependency is already built and only the
/// five `main.rs` are compiled and linked (18 s measured, on 2 cores). Plain `-p reelay-api ...`
/// would resolve fewer features and rebuild about 100 dependencies (tokio, hyper, the SDK).
async fn build_binaries() -> HashMap<&'static str, PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(reelay_local::moto::repo_root())
        .args(["build", "--workspace", "--test", "binaries"])
        .arg("--message-format=json-render-diagnostics");
    for function in &FUNCTIONS {
        command.args(["--bin", function.binary]);
    }
    let output = command.output().await.expect("running cargo");
    assert!(
        output.status.success(),
        "building the function binaries failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut built = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let (Some(name), Some(executable)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) else {
            continue;
        };
        if let Some(function) = FUNCTIONS.iter().find(|f| f.binary == name) {
            built.insert(function.binary, PathBuf::from(executable));
        }
    }
    for function in &FUNCTIONS {
        assert!(
            built.contains_key(function.binary),
            "cargo built no {} binary",
            function.binary
        );
    }
    built
}

/// One function's binary running against its own Runtime API, as in one Lambda execution
/// environment. Killed when dropped.
struct Lambda {
    function: LambdaFunction,
    api: RuntimeApi,
    child: Child,
    /// Everything it wrote (stdout and stderr), for failure messages.
    output: Arc<Mutex<String>>,
    /// The samples it was invoked with.
    handled: Vec<String>,
}

impl Lambda {
    async fn start(
        function: LambdaFunction,
        binary: PathBuf,
        env: &BTreeMap<String, String>,
        aws_endpoint: &str,
    ) -> Lambda {
        let api = RuntimeApi::start(function.binary).await.unwrap();
        let name = function.binary;
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .envs(env)
            // What Lambda sets in every execution environment (the `lambda_runtime` crate reads
            // the function name, memory, version and log names, and the Runtime API's address).
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/12/02/[$LATEST]0123456789abcdef0123456789abcdef",
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("_HANDLER", "bootstrap")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("TZ", ":UTC")
            // The template's global `RUST_LOG`.
            .env("RUST_LOG", "info")
            // moto, with its fixed test credentials, where Lambda would give the role's.
            .env("AWS_ENDPOINT_URL", aws_endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let streams: [Box<dyn tokio::io::AsyncRead + Unpin + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped stdout")),
            Box::new(child.stderr.take().expect("piped stderr")),
        ];
        for stream in streams {
            let output = output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut out = output.lock().unwrap_or_else(|p| p.into_inner());
                    out.push_str(&line);
                    out.push('\n');
                }
            });
        }
        Lambda {
            function,
            api,
            child,
            output,
            handled: Vec::new(),
        }
    }

    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Invokes the binary with `event` (sample `name`) and returns its JSON answer. Fails the test
    /// with the binary's output if it exits, reports an error, or does not answer in time.
    async fn invoke(&mut self, name: &str, event: &Value) -> Value {
        let bin = self.function.binary;
        self.handled.push(name.to_owned());
        let outcome = tokio::select! {
            outcome = self.api.invoke(event.to_string(), DEADLINE) => outcome,
            status = self.child.wait() => {
                // Let the readers drain what it wrote last.
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!("{bin} exited ({status:?}) while handling {name}; its output:\n{}", self.output())
            }
        };
        match outcome.map_err(|e| e.to_string()).and_then(|o| o.json()) {
            Ok(answer) => answer,
            Err(err) => panic!("{bin} on {name}: {err}; its output:\n{}", self.output()),
        }
    }

    /// Checks it is still waiting for events (a runtime never exits by itself), then kills it.
    async fn stop(mut self) {
        let bin = self.function.binary;
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{bin} exited by itself ({status}); its output:\n{}",
                self.output()
            );
        }
        self.child.kill().await.unwrap();
        self.api.stop().await;
    }
}

// ---------------------------------------------------------------- the events

fn events_dir() -> PathBuf {
    reelay_local::moto::repo_root().join("events")
}

/// Sample `name` with the stack's bucket and, when there is one, the real post id.
fn sample(name: &str, post_id: Option<&str>, bucket: &str) -> Value {
    let mut text = std::fs::read_to_string(events_dir().join(name))
        .unwrap_or_else(|e| panic!("events/{name}: {e}"))
        .replace(SAMPLE_BUCKET, bucket);
    if let Some(id) = post_id {
        text = text.replace(SAMPLE_POST_ID, id);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("events/{name} is not JSON: {e}"))
}

/// An API Gateway (payload 2.0) answer, as `lambda_http` writes it.
#[derive(Debug)]
struct HttpAnswer {
    status: u64,
    headers: Value,
    body: String,
    cookies: Vec<String>,
}

impl HttpAnswer {
    fn from(answer: &Value) -> Self {
        let body = answer["body"].as_str().unwrap_or_default();
        let body = if answer["isBase64Encoded"] == true {
            use base64::Engine;
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap_or_default(),
            )
            .into_owned()
        } else {
            body.to_owned()
        };
        HttpAnswer {
            status: answer["statusCode"].as_u64().unwrap_or(0),
            headers: answer["headers"].clone(),
            body,
            cookies: answer["cookies"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// `event` carrying X's redirect query (`state`, `code` or `error`), as API Gateway sends it.
fn with_query(mut event: Value, query: &str) -> Value {
    let params: serde_json::Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    event["queryStringParameters"] = Value::Object(params);
    event["rawQueryString"] = Value::String(query.into());
    event
}

/// `event` from a browser holding `cookie` (`name=value`): payload 2.0 puts cookies apart.
fn with_cookie(mut event: Value, cookie: &str) -> Value {
    event["cookies"] = json!([cookie]);
    event
}

/// A 1-second 160x120 H.264/AAC MP4 that passes create-post's pre-flight check.
fn sample_video() -> Vec<u8> {
    sample_video_with(&[
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ])
}

/// A 1-second 160x120 MP4 with AAC audio, its video encoded by `video_codec`.
fn sample_video_with(video_codec: &[&str]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("reelay-binaries-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("clip.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=160x120:rate=30:duration=1")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=1"])
        .args(video_codec)
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&file)
        .status()
        .expect("ffmpeg (make setup installs it)");
    assert!(status.success(), "ffmpeg failed");
    let bytes = std::fs::read(&file).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

// ---------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_runs_through_its_built_binary() {
    let binaries = build_binaries().await;
    let endpoint = moto_endpoint();
    let aws = aws_clients_for(&endpoint).await;
    let stack = Stack::create(
        &aws,
        StackSpec::unique("binaries").with_x_client_secret(CLIENT_SECRET),
    )
    .await
    .unwrap();
    let emulator = Emulator::start(EmulatorConfig {
        clients: vec![OAuthClient {
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            redirect_uris: vec![REDIRECT_URI.into()],
        }],
        // X processes the video on the first status check.
        processing: ProcessingMode::Polls { steps: 1 },
        check_after_secs: 1,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    // The functions' environment as `World::start` builds it.
    let mut env = stack.function_env();
    let base = emulator.base_url.clone();
    for (k, v) in [
        ("X_CLIENT_ID", CLIENT_ID.to_owned()),
        ("X_REDIRECT_URI", REDIRECT_URI.to_owned()),
        ("X_AUTHORIZE_URL", emulator.authorize_url()),
        ("X_TOKEN_URL", emulator.token_url()),
        ("X_REVOKE_URL", format!("{base}/2/oauth2/revoke")),
        ("X_API_BASE_URL", base.clone()),
        ("X_REQUEST_TIMEOUT_SECS", "10".to_owned()),
        // The console's sign-in (the template's ConsoleSignInUrl); never visited here.
        ("CONSOLE_SIGN_IN_URL", CONSOLE_SIGN_IN_URL.to_owned()),
        ("CONSOLE_CLIENT_ID", CONSOLE_CLIENT_ID.to_owned()),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    let env_json = env_vars(&env);

    // Five cold starts at once, as five execution environments.
    let mut started = Vec::new();
    for function in FUNCTIONS {
        let env = env_json[function.logical_id].clone();
        let endpoint = endpoint.clone();
        let binary = binaries[function.binary].clone();
        started.push(tokio::spawn(async move {
            Lambda::start(function, binary, &env, &endpoint).await
        }));
    }
    let mut lambdas: HashMap<&str, Lambda> = HashMap::new();
    for handle in started {
        let lambda = handle.await.unwrap();
        lambdas.insert(lambda.function.logical_id, lambda);
    }
    let bucket = stack.bucket_name.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    macro_rules! call {
        ($function:literal, $name:expr, $event:expr) => {
            lambdas
                .get_mut($function)
                .expect($function)
                .invoke($name, &$event)
                .await
        };
    }

    // The caller is the samples' own: API Gateway's authorizer put `sub` in the claims.
    let health = sample("apigw-health.json", None, &bucket);
    let user = health["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
        .as_str()
        .expect("the sample carries the authorizer's claims")
        .to_owned();
    let answer = HttpAnswer::from(&call!("ApiFunction", "apigw-health.json", health));
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json()["status"], "ok", "{answer:?}");
    assert_eq!(answer.json()["user_id"], user.as_str(), "{answer:?}");

    let platforms = |answer: &HttpAnswer| {
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body.clone()
    };
    let before = platforms(&HttpAnswer::from(&call!(
        "ApiFunction",
        "apigw-platforms-list.json",
        sample("apigw-platforms-list.json", None, &bucket)
    )));
    assert!(!before.contains("\"status\":\"active\""), "{before}");

    // Connect: X's authorize URL, and the cookie binding the flow to this browser.
    macro_rules! connect {
        () => {{
            let answer = HttpAnswer::from(&call!(
                "ApiFunction",
                "apigw-connect-twitter.json",
                sample("apigw-connect-twitter.json", None, &bucket)
            ));
            assert_eq!(answer.status, 200, "{answer:?}");
            let authorize = answer.json()["authorize_url"]
                .as_str()
                .unwrap_or_else(|| panic!("no authorize_url: {answer:?}"))
                .to_owned();
            let cookie = answer
                .cookies
                .first()
                .and_then(|c| c.split(';').next())
                .unwrap_or_else(|| panic!("connect set no binding cookie: {answer:?}"))
                .to_owned();
            (Url::parse(&authorize).unwrap(), cookie)
        }};
    }
    let consent = |mut authorize: Url, deny: bool| {
        let http = http.clone();
        async move {
            if deny {
                authorize
                    .query_pairs_mut()
                    .append_pair("x_emulator_consent", "deny");
            }
            let resp = http.get(authorize).send().await.unwrap();
            assert_eq!(resp.status(), 302, "X answers consent with a redirect");
            let location = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
            assert!(location.as_str().starts_with(REDIRECT_URI), "{location}");
            location.query().unwrap_or_default().to_owned()
        }
    };
    // X's consent denied: the callback answers with a page saying so.
    let (authorize, cookie) = connect!();
    let denied = consent(authorize, true).await;
    let event = with_cookie(
        with_query(
            sample("apigw-callback-twitter-denied.json", None, &bucket),
            &denied,
        ),
        &cookie,
    );
    let answer = HttpAnswer::from(&call!(
        "OAuthCallbackFunction",
        "apigw-callback-twitter-denied.json",
        event
    ));
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(
        answer.body.contains("X was not connected"),
        "{}",
        answer.body
    );

    // Connect again and approve: the callback exchanges the code (with the client secret it read
    // from Secrets Manager at cold start) and stores the account.
    let (authorize, cookie) = connect!();
    let approved = consent(authorize, false).await;
    let event = with_cookie(
        with_query(
            sample("apigw-callback-twitter-success.json", None, &bucket),
            &approved,
        ),
        &cookie,
    );
    let answer = HttpAnswer::from(&call!(
        "OAuthCallbackFunction",
        "apigw-callback-twitter-success.json",
        event
    ));
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.contains("@ReelayTester"), "{}", answer.body);
    let after = platforms(&HttpAnswer::from(&call!(
        "ApiFunction",
        "apigw-platforms-list.json",
        sample("apigw-platforms-list.json", None, &bucket)
    )));
    assert!(after.contains("\"status\":\"active\""), "{after}");

    // A post, its video in S3, and S3's event for it through create-post.
    let answer = HttpAnswer::from(&call!(
        "ApiFunction",
        "apigw-posts-create.json",
        sample("apigw-posts-create.json", None, &bucket)
    ));
    assert_eq!(answer.status, 201, "{answer:?}");
    let created = answer.json();
    let post_id = created["post_id"].as_str().expect("post_id").to_owned();
    let key = created["upload"]["key"]
        .as_str()
        .expect("upload key")
        .to_owned();
    assert!(
        key.starts_with(&format!("uploads/{user}/{post_id}/")),
        "{key}"
    );
    let video = sample_video();
    let put = aws
        .s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .content_type("video/mp4")
        .body(aws_sdk_s3::primitives::ByteStream::from(video.clone()))
        .send()
        .await
        .unwrap();
    let mut event = sample("s3-object-created.json", Some(&post_id), &bucket);
    let object = &mut event["Records"][0]["s3"]["object"];
    // S3 URL-encodes keys in events, spaces as '+'.
    object["key"] = json!(key.replace(' ', "+"));
    object["size"] = json!(video.len());
    object["eTag"] = json!(put.e_tag().unwrap_or_default().trim_matches('"'));
    let outcomes = call!("CreatePostFunction", "s3-object-created.json", event);
    assert_eq!(outcomes[0]["post_id"], post_id.as_str(), "{outcomes}");
    assert_eq!(outcomes[0]["key"], key.as_str(), "{outcomes}");
    assert!(
        outcomes[0]["result"]
            .as_str()
            .unwrap_or_default()
            .contains("upload job(s) queued"),
        "{outcomes}"
    );

    // The work message create-post sent, delivered as Lambda's SQS poller would.
    let received = aws
        .sqs
        .receive_message()
        .queue_url(&stack.queue_url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    let message = received
        .messages()
        .first()
        .expect("create-post sent a work message")
        .clone();
    let mut event = sample("sqs-job-message.json", Some(&post_id), &bucket);
    let record = &mut event["Records"][0];
    record["messageId"] = json!(message.message_id());
    record["receiptHandle"] = json!(message.receipt_handle());
    record["body"] = json!(message.body());
    record["md5OfBody"] = json!(message.md5_of_body());
    record["eventSourceARN"] = json!(stack.queue_arn);
    let body: Value = serde_json::from_str(message.body().unwrap_or_default()).unwrap();
    assert_eq!(body["post_id"], post_id.as_str(), "{body}");
    let batch = call!("ProcessUploadFunction", "sqs-job-message.json", event);
    assert_eq!(batch, json!({ "batchItemFailures": [] }));
    // The worker decrypted the account's token and sent the whole video to X.
    let records = emulator.admin().records();
    assert!(
        records
            .media
            .iter()
            .any(|m| m.received_bytes == video.len() as u64),
        "X received no media of {} bytes: {:?}",
        video.len(),
        records
            .media
            .iter()
            .map(|m| m.received_bytes)
            .collect::<Vec<_>>()
    );

    let answer = HttpAnswer::from(&call!(
        "ApiFunction",
        "apigw-posts-get.json",
        sample("apigw-posts-get.json", Some(&post_id), &bucket)
    ));
    assert_eq!(answer.status, 200, "{answer:?}");
    let view = answer.json();
    assert_eq!(view["post_id"], post_id.as_str(), "{view}");
    assert_eq!(view["targets"][0]["bytes_sent"], video.len(), "{view}");

    let answer = HttpAnswer::from(&call!(
        "ApiFunction",
        "apigw-posts-list.json",
        sample("apigw-posts-list.json", Some(&post_id), &bucket)
    ));
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.json()["posts"][0]["post_id"],
        post_id.as_str(),
        "{answer:?}"
    );

    // Retry: refused while nothing failed, accepted once the job failed.
    let retry = || sample("apigw-posts-retry.json", Some(&post_id), &bucket);
    let answer = HttpAnswer::from(&call!("ApiFunction", "apigw-posts-retry.json", retry()));
    assert_eq!(answer.status, 409, "{answer:?}");
    let store = DynamoStore::new(aws.dynamodb.clone(), &stack.table_name);
    let (user_id, post) = (
        UserId::parse(&user).unwrap(),
        PostId::parse(&post_id).unwrap(),
    );
    let mut job = store
        .get_job(&user_id, &post, Platform::Twitter)
        .await
        .unwrap()
        .expect("the post's X job");
    job.phase = Phase::Failed;
    job.version += 1;
    store.save_job(&job).await.unwrap();
    let answer = HttpAnswer::from(&call!("ApiFunction", "apigw-posts-retry.json", retry()));
    assert_eq!(answer.status, 202, "{answer:?}");

    // A video X would refuse as it is (HEVC): create-post sends it to fit-video's queue, and
    // fit-video (running Debian's ffmpeg here) converts it and hands it to the upload.
    let answer = HttpAnswer::from(&call!(
        "ApiFunction",
        "apigw-posts-create.json",
        sample("apigw-posts-create.json", None, &bucket)
    ));
    assert_eq!(answer.status, 201, "{answer:?}");
    let created = answer.json();
    let fit_post_id = created["post_id"].as_str().expect("post_id").to_owned();
    let fit_key = created["upload"]["key"].as_str().expect("key").to_owned();
    let hevc = sample_video_with(&[
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-tag:v",
        "hvc1",
        "-x265-params",
        "log-level=error",
    ]);
    let put = aws
        .s3
        .put_object()
        .bucket(&bucket)
        .key(&fit_key)
        .content_type("video/mp4")
        .body(aws_sdk_s3::primitives::ByteStream::from(hevc.clone()))
        .send()
        .await
        .unwrap();
    let mut event = sample("s3-object-created.json", Some(&fit_post_id), &bucket);
    let object = &mut event["Records"][0]["s3"]["object"];
    object["key"] = json!(fit_key.replace(' ', "+"));
    object["size"] = json!(hevc.len());
    object["eTag"] = json!(put.e_tag().unwrap_or_default().trim_matches('"'));
    let outcomes = call!("CreatePostFunction", "s3-object-created.json", event);
    assert!(
        outcomes[0]["result"]
            .as_str()
            .unwrap_or_default()
            .contains("being fitted"),
        "{outcomes}"
    );
    let received = aws
        .sqs
        .receive_message()
        .queue_url(&stack.fit_queue_url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    let message = received
        .messages()
        .first()
        .expect("create-post sent a fit message")
        .clone();
    let mut event = sample("sqs-fit-message.json", Some(&fit_post_id), &bucket);
    let record = &mut event["Records"][0];
    record["messageId"] = json!(message.message_id());
    record["receiptHandle"] = json!(message.receipt_handle());
    record["body"] = json!(message.body());
    record["md5OfBody"] = json!(message.md5_of_body());
    record["eventSourceARN"] = json!(stack.fit_queue_arn);
    let batch = call!("FitVideoFunction", "sqs-fit-message.json", event);
    assert_eq!(batch, json!({ "batchItemFailures": [] }));
    let fitted = store
        .get_job(
            &user_id,
            &PostId::parse(&fit_post_id).unwrap(),
            Platform::Twitter,
        )
        .await
        .unwrap()
        .expect("the fitted post's job");
    assert_eq!(fitted.phase, Phase::Queued, "{:?}", fitted.error);
    assert!(
        fitted.source.key.starts_with("fitted/"),
        "{}",
        fitted.source.key
    );
    // The work queue also holds the retry's message for the first post: read until found.
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let batch = aws
            .sqs
            .receive_message()
            .queue_url(&stack.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        bodies.extend(
            batch
                .messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_owned)),
        );
        if bodies.iter().any(|b| b.contains(&fit_post_id)) {
            break;
        }
    }
    assert!(
        bodies.iter().any(|b| b.contains(&fit_post_id)),
        "fit-video sent the upload's first work message: {bodies:?}"
    );

    let answer = HttpAnswer::from(&call!(
        "ApiFunction",
        "apigw-disconnect-twitter.json",
        sample("apigw-disconnect-twitter.json", None, &bucket)
    ));
    assert_eq!(answer.status, 204, "{answer:?}");

    // The schedule's sweep: its report, in the shape the code declares, with nothing failed.
    let report = call!(
        "ReconcilerFunction",
        "reconciler-schedule.json",
        sample("reconciler-schedule.json", None, &bucket)
    );
    let summary: SweepSummary = serde_json::from_value(report.clone())
        .unwrap_or_else(|e| panic!("the reconciler's report {report} is not a sweep summary: {e}"));
    assert_eq!(summary.errors, 0, "{summary:?}");
    assert_eq!(summary.failed, 0, "{summary:?}");

    // The console: its page, and where to sign in, both before any token (no authorizer claims).
    let answer = HttpAnswer::from(&call!(
        "ApiFunction",
        "apigw-console-page.json",
        sample("apigw-console-page.json", None, &bucket)
    ));
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        answer.headers["content-type"]
            .as_str()
            .is_some_and(|t| t.starts_with("text/html")),
        "{answer:?}"
    );
    assert!(answer.body.contains("<html"), "{}", answer.body);
    let answer = HttpAnswer::from(&call!(
        "ApiFunction",
        "apigw-console-config.json",
        sample("apigw-console-config.json", None, &bucket)
    ));
    assert_eq!(answer.status, 200, "{answer:?}");
    let sign_in = &answer.json()["sign_in"];
    assert_eq!(sign_in["client_id"], CONSOLE_CLIENT_ID, "{answer:?}");
    assert!(
        sign_in["authorize_url"]
            .as_str()
            .is_some_and(|u| u.starts_with(CONSOLE_SIGN_IN_URL)),
        "{answer:?}"
    );

    // Samples added since (e.g. more routes): through their function, without a server error.
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let ran = |lambdas: &HashMap<&str, Lambda>| -> Vec<String> {
        let mut ran: Vec<String> = lambdas.values().flat_map(|l| l.handled.clone()).collect();
        ran.sort();
        ran.dedup();
        ran
    };
    let done = ran(&lambdas);
    for name in &names {
        if done.contains(name) {
            continue;
        }
        let event = sample(name, Some(&post_id), &bucket);
        assert!(
            name.starts_with("apigw-"),
            "events/{name}: no check for it in tests/binaries.rs (samples are apigw-*, s3-*, \
             sqs-* or reconciler-*; only apigw-* ones run without one)"
        );
        let answer = if event["rawPath"].as_str() == Some(CALLBACK_PATH) {
            call!("OAuthCallbackFunction", name, event)
        } else {
            call!("ApiFunction", name, event)
        };
        let answer = HttpAnswer::from(&answer);
        assert!(
            (200..500).contains(&answer.status),
            "events/{name}: {answer:?}"
        );
    }
    assert_eq!(ran(&lambdas), names, "every sample ran through a binary");

    for (_, lambda) in lambdas {
        lambda.stop().await;
    }
}
