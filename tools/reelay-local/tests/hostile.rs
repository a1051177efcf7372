//! Hostile input, property-based (issue 12, item 7): malformed, oversized and hostile input
//! thrown with proptest at every HTTP route (the API behind the authorizer, and the OAuth
//! callback without one), at create-post's S3 events and at process-upload's work messages, on
//! the real local stack (moto, the X emulator, the runner and the real handlers).
//!
//! The properties, for every generated case:
//! - nothing panics (proptest catches a panic as a failing case) and no bad input gets a 5xx:
//!   a route answers a 4xx problem (`application/problem+json` with `type`, `title`, `status`
//!   equal to the HTTP status and a `detail`), API Gateway's own `{"message"}` for 401/404/413,
//!   or a 2xx when the input happens to be valid; an S3 event is answered `Ok` (each record
//!   refused or ignored, never retried); a work message is acknowledged, or reported failed only
//!   when it is not a job message at all (so it reaches the DLQ, the handler's contract);
//! - no answer carries internal details: SDK error words and type names, request ids, stack
//!   text, resource names, the client secret, anyone's tokens (unless the request itself sent
//!   those words, which a 4xx may quote back);
//! - user B never reads or writes user A: B's answers carry none of A's text, X account or (not
//!   given in the request) post ids; B asking for A's post gets 404; and every item of A in the
//!   table (posts, jobs, account, link) and A's objects in S3 are unchanged after each case.
//!
//! One world per surface, built once and reused by every case; a fixed seed and a bounded case
//! count keep the run reproducible and short. A failing case is shrunk (bounded) and printed.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::LambdaEvent;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use reelay_local::runner::Functions;
use reelay_local::world::{World, CALLBACK_PATH, CLIENT_SECRET};
use reelay_shared::accounts::cipher::{KmsTokenCipher, TokenCipher};
use reelay_shared::accounts::store::{AccountStore, DynamoAccountStore};
use reelay_shared::accounts::Platform as AccountPlatform;
use reelay_shared::ids::{PostId, UserId};
use reelay_shared::jobs::{JobError, Phase};
use reelay_shared::messages::JobMessage;
use reelay_shared::posts::new_post_id;
use reelay_shared::store::JobStore;
use serde_json::{json, Value};
use url::Url;

/// The one seed of the suite: the same cases every run.
const SEED: [u8; 32] = *b"reelay hostile-input suite seed!";
const API_CASES: u32 = 160;
const CALLBACK_CASES: u32 = 64;
const S3_CASES: u32 = 96;
const SQS_CASES: u32 = 64;

/// The emulator's two built-in X users (its README).
const X_ALICE: &str = "1072250532645998596";
const X_OTHER: &str = "1456012973835788293";
const USER_A: &str = "victim-a";
const USER_B: &str = "attacker-b";
/// In A's post text only: no input ever contains it, so no answer to B may.
const A_TEXT: &str = "A-private-text-7f3c";

fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        max_shrink_iters: 32,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED))
}

/// Runs `strategy`'s cases through `test`, panicking with the (shrunk) failing case.
fn check<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let started = std::time::Instant::now();
    let mut runner = runner(cases);
    if let Err(err) = runner.run(&strategy, test) {
        panic!("{name}: {err}");
    }
    eprintln!("{name}: {cases} cases passed in {:?}", started.elapsed());
}

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn world(label: &str) -> World {
    World::without_reconciler(label).await.expect("world")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------- the oracles

/// What no answer may contain (lower case): SDK and runtime internals, and this world's secrets
/// and resource names.
fn secrets_of(w: &World, tokens: &[String]) -> Vec<String> {
    let mut needles: Vec<String> = [
        "requestid",
        "request id",
        "request-id",
        "x-amz",
        "dispatch failure",
        "dispatchfailure",
        "service error",
        "serviceerror",
        "sdkerror",
        "construction failure",
        "response error",
        "timeout error",
        "aws_sdk",
        "aws-sdk",
        "smithy",
        "exception",
        "conditionalcheck",
        "panicked",
        "backtrace",
        ".rs:",
        "src/",
        "moto",
        "werkzeug",
        "traceback",
        "reqwest",
        "hyper::",
        "tokio",
        "arn:aws",
        "kms",
    ]
    .map(str::to_owned)
    .to_vec();
    needles.extend(
        [
            w.stack.table_name.clone(),
            w.stack.queue_url.clone(),
            CLIENT_SECRET.to_owned(),
        ]
        .into_iter()
        .chain(tokens.iter().cloned())
        .map(|s| s.to_lowercase()),
    );
    needles
}

/// The first needle in `body` that the request (`input`) did not itself carry.
fn leak<'a>(body: &str, input: &str, needles: &'a [String]) -> Option<&'a str> {
    let (body, input) = (body.to_lowercase(), input.to_lowercase());
    needles
        .iter()
        .find(|n| body.contains(n.as_str()) && !input.contains(n.as_str()))
        .map(String::as_str)
}

/// A refusal of the function's own: problem JSON whose `status` is the HTTP status and that
/// names the problem. API Gateway's own refusals (`{"message"}`) are allowed for the statuses
/// it gives before a function runs.
fn check_refusal(status: u16, content_type: &str, body: &str) -> Result<(), TestCaseError> {
    let value: Value = serde_json::from_str(body).map_err(|e| {
        TestCaseError::fail(format!("{status} answer is not JSON ({e}): {body:.300}"))
    })?;
    if content_type.starts_with("application/problem+json") {
        prop_assert_eq!(
            value["status"].as_u64(),
            Some(u64::from(status)),
            "{}",
            body
        );
        for field in ["type", "title", "detail"] {
            prop_assert!(
                value[field].as_str().is_some_and(|s| !s.trim().is_empty()),
                "{status} problem without {field}: {body:.300}"
            );
        }
        prop_assert_ne!(value["type"].as_str(), Some("internal_error"));
    } else {
        prop_assert!(
            [401, 404, 413].contains(&status) && value["message"].is_string(),
            "{status} answer is neither a problem nor API Gateway's own: {content_type} {body:.300}"
        );
    }
    Ok(())
}

/// Every item of the table that belongs to `user` (their partition, posts index, link), and
/// their objects in S3, as sorted text: equal snapshots mean nothing of theirs changed.
async fn snapshot(w: &World, user: &str) -> BTreeSet<String> {
    let mut items = BTreeSet::new();
    let mut start = None;
    loop {
        let out = w
            .aws
            .dynamodb
            .scan()
            .table_name(&w.stack.table_name)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in out.items.unwrap_or_default() {
            let pk = item
                .get("pk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let mine = item
                .values()
                .any(|v| v.as_s().is_ok_and(|s| s.contains(&format!("USER#{user}"))))
                || item
                    .get("user_id")
                    .is_some_and(|v| v.as_s().is_ok_and(|s| s == user));
            if mine && !pk.starts_with("OAUTH_STATE#") {
                items.insert(canonical(&AttributeValue::M(item)));
            }
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let objects = w
        .aws
        .s3
        .list_objects_v2()
        .bucket(&w.stack.bucket_name)
        .send()
        .await
        .expect("list objects");
    for o in objects.contents() {
        let key = o.key().unwrap_or_default();
        if key.contains(&format!("/{user}/")) {
            items.insert(format!("s3:{key}:{:?}:{:?}", o.e_tag(), o.size()));
        }
    }
    items
}

/// An item as text with its maps' keys sorted (the SDK's maps are unordered).
fn canonical(value: &AttributeValue) -> String {
    match value {
        AttributeValue::M(map) => {
            let sorted: std::collections::BTreeMap<_, _> = map.iter().collect();
            let fields: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{k:?}: {}", canonical(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        AttributeValue::L(list) => {
            format!(
                "[{}]",
                list.iter().map(canonical).collect::<Vec<_>>().join(", ")
            )
        }
        other => format!("{other:?}"),
    }
}

fn same(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Result<(), TestCaseError> {
    if before != after {
        let gone: Vec<_> = before.difference(after).collect();
        let new: Vec<_> = after.difference(before).collect();
        return Err(TestCaseError::fail(format!(
            "user A's items changed: gone {gone:#?}, new {new:#?}"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- set-up helpers

/// Connects `user` to X as `x_user` through the real flow (connect, X's consent, the callback
/// with the binding cookie the connect answer set).
async fn connect_as(w: &World, user: &str, x_user: &str) {
    let start = w
        .http
        .get(format!(
            "{}/api/auth/platforms/twitter/connect",
            w.runner.http_url
        ))
        .bearer_auth(w.auth.mint(user))
        .header("accept", "application/json")
        .send()
        .await
        .expect("connect");
    assert_eq!(start.status(), 200);
    let cookies = set_cookies(&start);
    let body: Value = start.json().await.expect("connect JSON");
    let mut authorize = Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("x_emulator_user", x_user);
    let consent = w.http.get(authorize).send().await.expect("authorize");
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let done = w
        .http
        .get(callback)
        .header("cookie", cookies.join("; "))
        .header("accept", "application/json")
        .send()
        .await
        .expect("callback");
    assert_eq!(done.status(), 200, "{}", done.text().await.unwrap());
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(|p| p.trim().to_owned())
        .collect()
}

/// The plain-text tokens stored for `user`, which no answer may carry.
async fn tokens_of(w: &World, user: &str) -> Vec<String> {
    let id = UserId::parse(user).unwrap();
    let accounts = DynamoAccountStore::new(w.aws.dynamodb.clone(), &w.stack.table_name);
    let account = accounts
        .get_account(&id, AccountPlatform::Twitter)
        .await
        .unwrap()
        .expect("connected");
    let cipher = KmsTokenCipher::new(w.aws.kms.clone(), &w.stack.kms_key_id);
    let pair = cipher
        .decrypt(&id, AccountPlatform::Twitter, &account.tokens)
        .await
        .expect("decrypt");
    let mut tokens = vec![pair.access_token.expose().to_owned()];
    tokens.extend(pair.refresh_token.map(|r| r.expose().to_owned()));
    tokens
}

/// `POST /api/posts` as `user`: the post id and the upload form.
async fn create_post(w: &World, user: &str, text: &str) -> (String, Value) {
    let resp = w
        .http
        .post(format!("{}/api/posts", w.runner.http_url))
        .bearer_auth(w.auth.mint(user))
        .json(&json!({ "text": text, "platforms": ["x"] }))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    (
        body["post_id"].as_str().unwrap().to_owned(),
        body["upload"].clone(),
    )
}

/// A's posts in each state a hostile request could touch: a draft awaiting its upload, a queued
/// job (no message, so no worker moves it) and a failed, retryable one.
async fn posts_of_a(w: &World) -> Vec<String> {
    let (draft, _) = create_post(w, USER_A, &format!("{A_TEXT} draft")).await;
    let queued = w
        .create_upload(USER_A, vec![7; 2048], &format!("{A_TEXT} queued"))
        .await
        .expect("queued job");
    let mut failed = w
        .create_upload(USER_A, vec![8; 2048], &format!("{A_TEXT} failed"))
        .await
        .expect("failed job");
    failed.phase = Phase::Failed;
    failed.error = Some(JobError {
        code: "x_unavailable".into(),
        message: "X did not answer".into(),
        retryable: true,
        at_ms: now_ms(),
    });
    failed.version += 1;
    w.store.save_job(&failed).await.expect("fail the job");
    vec![
        draft,
        queued.post_id.to_string(),
        failed.post_id.to_string(),
    ]
}

// ---------------------------------------------------------------- input strategies

/// Strings an attacker would try: unicode, controls, injections, path tricks, long runs.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "\\PC{0,24}",
        1 => "[ -~]{0,40}",
        2 => prop::sample::select(vec![
            "",
            " ",
            "\u{0}",
            "\u{FEFF}",
            "\u{202E}gnp.exe",
            "🎬🎬🎬",
            "漢字",
            "<script>alert(1)</script>",
            "' OR '1'='1",
            "../../etc/passwd",
            "..",
            "%00",
            "%2e%2e%2f",
            "${jndi:ldap://127.0.0.1/a}",
            "{{7*7}}",
            "\r\nX-Injected: 1",
            "USER#victim-a",
            "null",
            "-1",
            "1e309",
        ])
        .prop_map(str::to_owned),
        1 => (prop::char::any(), 200usize..70_000).prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
}

/// `hostile_string` short enough for a URL (API Gateway refuses request lines over 10 KB, and
/// the HTTP client cannot send a URI over 64 KiB).
fn url_string() -> impl Strategy<Value = String> {
    hostile_string().prop_map(|s| s.chars().take(1500).collect())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,12}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body for any route: garbage bytes, any JSON, `POST /api/posts`'s fields with wrong types or
/// hostile values, deep nesting, or a huge valid-looking one.
fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
    let post_like = (
        prop::option::of(prop_oneof![
            hostile_string().prop_map(Value::String),
            json_value()
        ]),
        prop::option::of(prop_oneof![
            Just(json!(["x"])),
            Just(json!(["twitter", "tiktok"])),
            json_value()
        ]),
        prop::option::of(json_value()),
        prop::option::of(prop_oneof![
            Just(json!("video/mp4")),
            Just(json!("text/html")),
            json_value()
        ]),
        prop::option::of(("[a-z_]{1,10}", json_value())),
    )
        .prop_map(|(text, platforms, file_name, content_type, extra)| {
            let mut m = serde_json::Map::new();
            for (k, v) in [
                ("text", text),
                ("platforms", platforms),
                ("file_name", file_name),
                ("content_type", content_type),
            ] {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            serde_json::to_vec(&Value::Object(m)).unwrap()
        });
    prop_oneof![
        1 => Just(None),
        2 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Some),
        2 => json_value().prop_map(|v| Some(serde_json::to_vec(&v).unwrap())),
        4 => post_like.prop_map(Some),
        1 => (1usize..20_000, prop::bool::ANY).prop_map(|(n, obj)| Some(if obj {
            format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)).into_bytes()
        } else {
            format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()
        })),
        1 => (1usize..3_000_000).prop_map(|n| Some(
            serde_json::to_vec(&json!({ "text": "a".repeat(n), "platforms": ["x"] })).unwrap()
        )),
    ]
}

/// Who sends the request: B (signed in), no token, a forged token, or a token whose `sub` is no
/// valid user id.
#[derive(Debug, Clone)]
enum Caller {
    B,
    Anonymous,
    Forged(String),
    OddSub(String),
}

fn caller() -> impl Strategy<Value = Caller> {
    prop_oneof![
        8 => Just(Caller::B),
        1 => Just(Caller::Anonymous),
        1 => prop_oneof![
            Just("Bearer ".to_owned()),
            Just("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ2aWN0aW0tYSJ9.".to_owned()),
            "[ -~]{0,80}",
        ]
        .prop_map(Caller::Forged),
        1 => prop_oneof![
            Just(String::new()),
            Just(format!("{USER_A} ")),
            Just("../victim-a".to_owned()),
            Just("a".repeat(129)),
            url_string(),
        ]
        .prop_filter("an invalid user id", |s| UserId::parse(s).is_err())
        .prop_map(Caller::OddSub),
    ]
}

/// A path segment an attacker would put where a post id goes; `{a0}`..`{a2}` become A's post ids.
fn post_id_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["{a0}", "{a1}", "{a2}"]).prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "{a0}%2F",
            "{a1}/",
            "{A2}",
            "{a0}%00",
            "..%2F{a1}",
            "%7Ba0%7D",
            "victim-a%2F{a0}",
            "USER%23victim-a",
            "POST%23{a2}",
        ])
        .prop_map(str::to_owned),
        2 => url_string().prop_map(|s| encode_segment(&s)),
        1 => any::<i64>().prop_map(|ms| new_post_id(ms.rem_euclid(4_102_444_800_000)).to_string()),
    ]
}

fn encode_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[derive(Debug, Clone)]
struct ApiCase {
    method: String,
    /// With `{a0}`.. placeholders for A's post ids, filled in at run time.
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
    caller: Caller,
}

fn api_case() -> impl Strategy<Value = ApiCase> {
    let path = prop_oneof![
        2 => Just("/api/posts".to_owned()),
        3 => post_id_segment().prop_map(|id| format!("/api/posts/{id}")),
        3 => post_id_segment().prop_map(|id| format!("/api/posts/{id}/retry")),
        1 => prop::sample::select(vec![
            "/api/health",
            "/api/platforms",
            "/api/auth/platforms/twitter",
            "/api/auth/platforms/twitter/connect",
            "/api/auth/platforms/x/connect",
            "/api/posts/{a0}/retry/again",
            "/api//posts",
            "/api/posts/%2e%2e/health",
            "/API/posts",
            "/",
            "/health",
        ])
        .prop_map(str::to_owned),
        1 => prop::collection::vec(url_string(), 1..4)
            .prop_map(|segs| format!("/api/{}", segs.iter().map(|s| encode_segment(s)).collect::<Vec<_>>().join("/"))),
    ];
    let method = prop::sample::select(vec![
        "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE2",
    ])
    .prop_map(str::to_owned);
    let query_value = prop_oneof![
        prop::sample::select(vec![
            "",
            "0",
            "-1",
            "1",
            "100",
            "101",
            "1e3",
            "4294967296",
            "abc",
            "99999999999999999999",
            "javascript:alert(1)",
            "http://127.0.0.1:9/evil",
            "//evil.example",
        ])
        .prop_map(str::to_owned),
        url_string(),
        cursor(),
    ];
    let query = prop::collection::vec(
        (
            prop::sample::select(vec!["limit", "cursor", "return_to", "user_id", "sub", "x"])
                .prop_map(str::to_owned),
            query_value,
        ),
        0..3,
    );
    let header = (
        prop::sample::select(vec![
            "content-type",
            "accept",
            "x-user-id",
            "x-amzn-oidc-identity",
            "x-forwarded-for",
            "cookie",
            "x-reelay-user",
            "origin",
        ])
        .prop_map(str::to_owned),
        prop_oneof![
            prop::sample::select(vec![
                "application/json",
                "text/plain",
                "multipart/form-data; boundary=x",
                "application/x-www-form-urlencoded",
                USER_A,
                "reelay_oauth=abc; a=b",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            "[ -~]{0,200}".prop_map(String::into_bytes),
            prop::collection::vec(0x80u8..=0xff, 1..20),
        ],
    );
    (
        method,
        path,
        query,
        prop::collection::vec(header, 0..3),
        body(),
        caller(),
    )
        .prop_map(|(method, path, query, headers, body, caller)| ApiCase {
            method,
            path,
            query,
            headers,
            body,
            caller,
        })
}

/// Cursors: garbage, well-formed with odd sort keys, and ones built from A's posts (`{a0}`),
/// which must page only through the caller's own posts.
fn cursor() -> impl Strategy<Value = String> {
    use base64::Engine as _;
    let b64 = |raw: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    prop_oneof![
        url_string(),
        (url_string(), post_id_segment()).prop_map(move |(sk, id)| b64(format!("{sk}|{id}"))),
        (0i64..4_102_444_800_000, 0usize..2000)
            .prop_map(move |(ms, pad)| b64(format!("{ms:013}#{{a0}}{}|{{a0}}", "x".repeat(pad)))),
        Just(b64("|{a1}".to_owned())),
    ]
}

fn fill(template: &str, a_posts: &[String]) -> String {
    template
        .replace("{a0}", &a_posts[0])
        .replace("{a1}", &a_posts[1])
        .replace("{a2}", &a_posts[2])
        .replace("{A2}", &a_posts[2].to_uppercase())
}

// ---------------------------------------------------------------- the API

#[test]
fn api_routes_refuse_hostile_input_with_problems_and_never_cross_users() {
    let rt = tokio();
    let w = rt.block_on(world("hostile-api"));
    rt.block_on(connect_as(&w, USER_A, X_ALICE));
    rt.block_on(connect_as(&w, USER_B, X_OTHER));
    let a_posts = rt.block_on(posts_of_a(&w));
    let mut tokens = rt.block_on(tokens_of(&w, USER_A));
    tokens.extend(rt.block_on(tokens_of(&w, USER_B)));
    let needles = secrets_of(&w, &tokens);
    let a_private = [A_TEXT, X_ALICE, "ReelayTester"];
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let before = rt.block_on(snapshot(&w, USER_A));

    check("api", API_CASES, api_case(), |case| {
        rt.block_on(async {
            let path = fill(&case.path, &a_posts);
            let mut url = Url::parse(&format!("{}{path}", w.runner.http_url))
                .map_err(|e| TestCaseError::reject(format!("not a URL: {e}")))?;
            if !case.query.is_empty() {
                let mut q = url.query_pairs_mut();
                for (k, v) in &case.query {
                    q.append_pair(k, &fill(v, &a_posts));
                }
            }
            let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
            let mut req = http.request(method.clone(), url.clone());
            match &case.caller {
                Caller::B => req = req.bearer_auth(w.auth.mint(USER_B)),
                Caller::Anonymous => {}
                Caller::Forged(header) => req = req.header("authorization", header.as_str()),
                Caller::OddSub(sub) => req = req.bearer_auth(w.auth.mint(sub)),
            }
            for (name, value) in &case.headers {
                if let Ok(value) = reqwest::header::HeaderValue::from_bytes(value) {
                    req = req.header(name.as_str(), value);
                }
            }
            if let Some(body) = &case.body {
                req = req.body(body.clone());
            }
            let resp = req
                .send()
                .await
                .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let text = resp.text().await.unwrap_or_default();
            let input = format!(
                "{url} {:?} {}",
                case.headers,
                String::from_utf8_lossy(case.body.as_deref().unwrap_or_default())
            );

            prop_assert!(
                status < 500,
                "{method} {url} answered {status}: {text:.500}"
            );
            if status >= 400 && method != reqwest::Method::HEAD {
                check_refusal(status, &content_type, &text)?;
            }
            let mut needles = needles.clone();
            if status >= 400 {
                needles.push(w.stack.bucket_name.to_lowercase());
            }
            if let Some(found) = leak(&text, &input, &needles) {
                return Err(TestCaseError::fail(format!(
                    "{method} {url} answered {status} with {found:?}: {text:.500}"
                )));
            }
            for private in a_private
                .iter()
                .copied()
                .chain(a_posts.iter().map(String::as_str))
            {
                prop_assert!(
                    !text.contains(private) || input.contains(private),
                    "B's answer carries A's {private:?}: {text:.500}"
                );
            }
            // B asking for A's post, or cancelling it, by its exact id, is told it does not
            // exist (a PATCH with a bad body is refused for the body first; either way the
            // snapshot below shows A's post unchanged).
            let segments: Vec<&str> = url.path().trim_end_matches('/').split('/').collect();
            if matches!(case.caller, Caller::B)
                && segments.len() >= 4
                && segments[1..3] == ["api", "posts"]
                && a_posts.iter().any(|a| a == segments[3])
                && ((segments.len() == 4
                    && (method == reqwest::Method::GET || method == reqwest::Method::DELETE))
                    || (segments.len() == 5
                        && segments[4] == "retry"
                        && method == reqwest::Method::POST))
            {
                prop_assert_eq!(status, 404, "{} {} as B: {}", method, url, text);
            }
            same(&before, &snapshot(&w, USER_A).await)
        })
    });
    rt.block_on(w.runner.stop());
}

// ---------------------------------------------------------------- the OAuth callback

#[derive(Debug, Clone)]
enum StateParam {
    Absent,
    Given(String),
    /// A fresh state from B's own connect (a real, unused one).
    Fresh,
}

#[derive(Debug, Clone)]
enum CookieParam {
    Absent,
    Given(String),
    /// The binding cookie of B's connect that issued the state.
    Matching,
    /// The binding cookie of another of B's connects.
    Other,
}

#[derive(Debug, Clone)]
struct CallbackCase {
    method: &'static str,
    state: StateParam,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    extra: Vec<(String, String)>,
    cookie: CookieParam,
    json: bool,
}

fn callback_case() -> impl Strategy<Value = CallbackCase> {
    let state = prop_oneof![
        1 => Just(StateParam::Absent),
        3 => url_string().prop_map(StateParam::Given),
        3 => Just(StateParam::Fresh),
    ];
    let cookie = prop_oneof![
        Just(CookieParam::Absent),
        url_string()
            .prop_map(|v| CookieParam::Given(format!("reelay_oauth={}", encode_segment(&v)))),
        "[ -~]{0,200}".prop_map(CookieParam::Given),
        Just(CookieParam::Matching),
        Just(CookieParam::Other),
    ];
    let param = || prop::option::of(url_string());
    (
        prop::sample::select(vec!["GET", "GET", "GET", "POST", "DELETE"]),
        state,
        param(),
        prop::option::of(prop_oneof![Just("access_denied".to_owned()), url_string()]),
        param(),
        prop::collection::vec(("[a-z_]{1,12}", url_string()), 0..2),
        cookie,
        any::<bool>(),
    )
        .prop_map(
            |(method, state, code, error, error_description, extra, cookie, json)| CallbackCase {
                method,
                state,
                code,
                error,
                error_description,
                extra,
                cookie,
                json,
            },
        )
}

/// B's connect: the state in X's authorize URL and the binding cookie set with it.
async fn fresh_state(w: &World) -> (String, String) {
    let resp = w
        .http
        .get(format!(
            "{}/api/auth/platforms/twitter/connect",
            w.runner.http_url
        ))
        .bearer_auth(w.auth.mint(USER_B))
        .header("accept", "application/json")
        .send()
        .await
        .expect("connect");
    let cookie = set_cookies(&resp).pop().expect("binding cookie");
    let body: Value = resp.json().await.unwrap();
    let url = Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    (state, cookie)
}

#[test]
fn the_oauth_callback_refuses_hostile_input_and_links_nothing() {
    let rt = tokio();
    let w = rt.block_on(world("hostile-callback"));
    rt.block_on(connect_as(&w, USER_A, X_ALICE));
    rt.block_on(connect_as(&w, USER_B, X_OTHER));
    let mut tokens = rt.block_on(tokens_of(&w, USER_A));
    tokens.extend(rt.block_on(tokens_of(&w, USER_B)));
    let needles = secrets_of(&w, &tokens);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let before_a = rt.block_on(snapshot(&w, USER_A));
    let before_b = rt.block_on(snapshot(&w, USER_B));

    check("oauth-callback", CALLBACK_CASES, callback_case(), |case| {
        rt.block_on(async {
            let mut url = Url::parse(&format!("{}{CALLBACK_PATH}", w.runner.http_url)).unwrap();
            let (state, matching) = match &case.state {
                StateParam::Fresh => {
                    let (s, c) = fresh_state(&w).await;
                    (Some(s), Some(c))
                }
                StateParam::Given(s) => (Some(s.clone()), None),
                StateParam::Absent => (None, None),
            };
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in [
                    ("state", state.clone()),
                    ("code", case.code.clone()),
                    ("error", case.error.clone()),
                    ("error_description", case.error_description.clone()),
                ] {
                    if let Some(v) = v {
                        q.append_pair(k, &v);
                    }
                }
                for (k, v) in &case.extra {
                    q.append_pair(k, v);
                }
            }
            let cookie = match &case.cookie {
                CookieParam::Absent => None,
                CookieParam::Given(c) => Some(c.clone()),
                CookieParam::Matching => matching.clone(),
                CookieParam::Other => Some(fresh_state(&w).await.1),
            };
            let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
            let mut req = http.request(method.clone(), url.clone());
            if let Some(cookie) = &cookie {
                if let Ok(value) = reqwest::header::HeaderValue::from_str(cookie) {
                    req = req.header("cookie", value);
                }
            }
            if case.json {
                req = req.header("accept", "application/json");
            }
            let resp = req
                .send()
                .await
                .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
            let status = resp.status().as_u16();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let content_type = header("content-type");
            let location = header("location");
            let text = resp.text().await.unwrap_or_default();
            let input = format!("{url} {cookie:?}");

            // The world lists the console as the connect return URL, so a browser callback
            // goes back there, saying it failed with a code of Reelay's, never the input.
            if status == 302 {
                let back = Url::parse(&location)
                    .map_err(|e| TestCaseError::fail(format!("bad Location {location:?}: {e}")))?;
                let pairs: Vec<(String, String)> = back.query_pairs().into_owned().collect();
                prop_assert!(
                    location.starts_with(&w.console_url()) && !case.json,
                    "{method} {url} redirected to {location}"
                );
                prop_assert!(
                    pairs.contains(&("result".into(), "error".into())),
                    "{method} {url} redirected without result=error: {location}"
                );
                for (_, value) in &pairs {
                    prop_assert!(
                        !value.is_empty()
                            && value.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                        "{method} {url} redirected with a value that is not a code: {location}"
                    );
                }
            } else {
                // No code X issued is ever sent here, so nothing can succeed.
                prop_assert!(
                    (400..500).contains(&status),
                    "{method} {url} answered {status}: {text:.500}"
                );
                if content_type.starts_with("text/html") {
                    prop_assert!(
                        !text.contains("<script") || !input.contains("<script"),
                        "the page shows input unescaped: {text:.500}"
                    );
                } else {
                    check_refusal(status, &content_type, &text)?;
                }
            }
            if let Some(found) = leak(&text, &input, &needles) {
                return Err(TestCaseError::fail(format!(
                    "{method} {url} answered {status} with {found:?}: {text:.500}"
                )));
            }
            same(&before_a, &snapshot(&w, USER_A).await)?;
            same(&before_b, &snapshot(&w, USER_B).await)
        })
    });
    rt.block_on(w.runner.stop());
}

// ---------------------------------------------------------------- create-post's S3 events

fn clip() -> Vec<u8> {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile-clip.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=1"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=30:duration=1",
        ])
        .args(["-c:a", "aac", "-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-pix_fmt", "yuv420p", "-threads", "1"])
        .arg(&out)
        .status()
        .expect("ffmpeg is installed (tools/scripts/setup.sh installs it)");
    assert!(status.success(), "ffmpeg failed");
    std::fs::read(out).expect("read clip")
}

#[derive(Debug, Clone)]
enum BucketParam {
    Uploads,
    /// Another bucket that holds a valid video under A's draft's key.
    Other,
    Missing,
    Given(String),
}

#[derive(Debug, Clone)]
struct S3Record {
    bucket: BucketParam,
    /// With `{a0}` (A's draft, no object yet), `{a1}` (A's published post) and `{A}`/`{B}`.
    key: String,
    size: i64,
    event_name: String,
}

fn s3_record() -> impl Strategy<Value = S3Record> {
    let key = prop_oneof![
        3 => prop::sample::select(vec![
            "uploads/{A}/{a0}/clip.mp4",
            "uploads/{A}/{a1}/clip.mp4",
            "uploads%2F{A}%2F{a0}%2Fclip.mp4",
            "uploads/{A}/{a0}/clip+%2B+%F0%9F%8E%AC.mp4",
            "uploads/{B}/{a0}/clip.mp4",
            "uploads/{B}/{a1}/clip.mp4",
            "uploads/{A}/{a0}/../../{B}/x.mp4",
            "uploads/{A}/../{A}/{a0}/clip.mp4",
            "uploads/{A}/{a0}/",
            "uploads/{A}/{a0}",
            "uploads/{A}",
            "uploads/",
            "uploads",
            "",
            "uploads//{a0}/clip.mp4",
            "uploads/{A}/{a0}/a/b.mp4",
            "uploads/%ff%fe/{a0}/clip.mp4",
            "uploads/{A}/{a0}/%zz",
            "uploads/{A}/{a0}/%00",
            "uploads/{A}%00/{a0}/clip.mp4",
            "UPLOADS/{A}/{a0}/clip.mp4",
            "other/{A}/{a0}/clip.mp4",
        ])
        .prop_map(str::to_owned),
        2 => (
            prop::sample::select(vec!["{A}", "{B}", "nobody"]),
            post_id_segment(),
            hostile_string(),
        )
            .prop_map(|(u, p, f)| format!("uploads/{u}/{p}/{}", encode_segment(&f))),
        1 => hostile_string().prop_map(|s| encode_segment(&s)),
        1 => (1usize..3000).prop_map(|n| format!("uploads/{{A}}/{{a0}}/{}.mp4", "a".repeat(n))),
    ];
    let bucket = prop_oneof![
        6 => Just(BucketParam::Uploads),
        2 => Just(BucketParam::Other),
        1 => Just(BucketParam::Missing),
        1 => hostile_string().prop_map(BucketParam::Given),
    ];
    let size = prop_oneof![
        Just(0i64),
        Just(-1),
        Just(i64::MAX),
        Just(i64::MIN),
        Just(512 * 1024 * 1024 + 1),
        any::<i64>(),
    ];
    let event_name = prop::sample::select(vec![
        "ObjectCreated:Put",
        "ObjectCreated:Post",
        "ObjectRemoved:Delete",
        "",
        "s3:TestEvent",
    ])
    .prop_map(str::to_owned);
    (bucket, key, size, event_name).prop_map(|(bucket, key, size, event_name)| S3Record {
        bucket,
        key,
        size,
        event_name,
    })
}

#[test]
fn create_post_ignores_or_refuses_hostile_s3_events_and_never_touches_another_users_post() {
    let rt = tokio();
    let w = rt.block_on(world("hostile-s3"));
    let functions = rt
        .block_on(Functions::from_env(&w.env, &w.aws))
        .expect("functions");
    let other_bucket = format!("{}-other", w.stack.bucket_name);
    let video = clip();
    let a_posts = rt.block_on(async {
        connect_as(&w, USER_A, X_ALICE).await;
        connect_as(&w, USER_B, X_OTHER).await;
        // A draft awaiting its upload, and a post published through the whole flow.
        let (draft, _) = create_post(&w, USER_A, &format!("{A_TEXT} draft")).await;
        let (published, form) = create_post(&w, USER_A, &format!("{A_TEXT} published")).await;
        post_form(&w.http, &form, video.clone()).await;
        let id = PostId::parse(&published).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while w.job(USER_A, &id).await.is_err() {
            assert!(std::time::Instant::now() < deadline, "no job for {id}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let job = w
            .wait_until_final(USER_A, &id, Duration::from_secs(120))
            .await
            .expect("published");
        assert_eq!(job.phase, Phase::Published, "{job:?}");
        // Another bucket holding a valid video under the draft's key: an event naming it must
        // not make the draft a post.
        w.aws
            .s3
            .create_bucket()
            .bucket(&other_bucket)
            .send()
            .await
            .expect("other bucket");
        w.aws
            .s3
            .put_object()
            .bucket(&other_bucket)
            .key(format!("uploads/{USER_A}/{draft}/clip.mp4"))
            .content_type("video/mp4")
            .body(aws_sdk_s3::primitives::ByteStream::from(video.clone()))
            .send()
            .await
            .expect("put in the other bucket");
        vec![draft, published]
    });
    let tokens = rt.block_on(tokens_of(&w, USER_A));
    let needles = secrets_of(&w, &tokens);
    let before = rt.block_on(snapshot(&w, USER_A));
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(
            reelay_local::moto::repo_root().join("events/s3-object-created.json"),
        )
        .unwrap(),
    )
    .unwrap();

    check(
        "create-post",
        S3_CASES,
        prop::collection::vec(s3_record(), 1..4),
        |records| {
            rt.block_on(async {
                let template = sample["Records"][0].clone();
                let event_records: Vec<Value> = records
                    .iter()
                    .map(|r| {
                        let mut record = template.clone();
                        let bucket = match &r.bucket {
                            BucketParam::Uploads => w.stack.bucket_name.clone(),
                            BucketParam::Other => other_bucket.clone(),
                            BucketParam::Missing => format!("{}-missing", w.stack.bucket_name),
                            BucketParam::Given(b) => b.clone(),
                        };
                        let key = r
                            .key
                            .replace("{A}", USER_A)
                            .replace("{B}", USER_B)
                            .replace("{a0}", &a_posts[0])
                            .replace("{a1}", &a_posts[1]);
                        record["eventName"] = json!(r.event_name);
                        record["s3"]["bucket"]["name"] = json!(bucket);
                        record["s3"]["bucket"]["arn"] = json!(format!("arn:aws:s3:::{bucket}"));
                        record["s3"]["object"]["key"] = json!(key);
                        record["s3"]["object"]["size"] = json!(r.size);
                        record
                    })
                    .collect();
                let event: S3Event = serde_json::from_value(json!({ "Records": event_records }))
                    .map_err(|e| TestCaseError::fail(format!("not an S3 event: {e}")))?;
                let mut ctx = lambda_runtime::Context::default();
                ctx.request_id = "hostile".into();
                ctx.deadline = (now_ms() + 60_000) as u64;
                let outcomes = reelay_create_post::handle(
                    &functions.create_post,
                    LambdaEvent::new(event, ctx),
                )
                .await
                .map_err(|e| {
                    TestCaseError::fail(format!(
                        "create-post failed (S3 would retry the event): {e}"
                    ))
                })?;
                let text = serde_json::to_string(&outcomes).unwrap();
                for outcome in &outcomes {
                    prop_assert!(
                        !outcome.result.contains("queued"),
                        "a hostile record started a job: {outcome:?}"
                    );
                }
                let input = format!("{records:?} {a_posts:?}");
                if let Some(found) = leak(&text, &input, &needles) {
                    return Err(TestCaseError::fail(format!(
                        "an outcome carries {found:?}: {text:.500}"
                    )));
                }
                same(&before, &snapshot(&w, USER_A).await)
            })
        },
    );
    rt.block_on(w.runner.stop());
}

/// POSTs the upload form `POST /api/posts` returned, as a browser would.
async fn post_form(http: &reqwest::Client, upload: &Value, bytes: Vec<u8>) {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in upload["fields"].as_object().expect("form fields") {
        form = form.text(name.clone(), value.as_str().unwrap().to_owned());
    }
    let part = reqwest::multipart::Part::bytes(bytes).file_name("clip.mp4");
    let resp = http
        .post(upload["url"].as_str().unwrap())
        .multipart(form.part("file", part))
        .send()
        .await
        .expect("upload");
    assert!(resp.status().is_success(), "{}", resp.status());
}

// ---------------------------------------------------------------- process-upload's messages

#[derive(Debug, Clone)]
enum MessageBody {
    /// Not a job message: garbage, other JSON, wrong types, extra fields, no body.
    Malformed(Option<String>),
    /// A well-formed job message naming `user` / `post` (templates) with `token`.
    Forged {
        user: String,
        post: String,
        platform: String,
        token: String,
    },
}

fn message_body() -> impl Strategy<Value = MessageBody> {
    let malformed = prop_oneof![
        Just(None),
        hostile_string().prop_map(Some),
        json_value().prop_map(|v| Some(v.to_string())),
        (json_value(), json_value()).prop_map(|(u, t)| Some(
            json!({ "user_id": u, "post_id": "{a0}", "platform": "twitter", "step_token": t })
                .to_string()
        )),
        Just(Some(
            r#"{"user_id":"{A}","post_id":"{a0}","platform":"twitter","step_token":"{t0}","admin":true}"#
                .to_owned()
        )),
        Just(Some(
            r#"{"user_id":"{A}","post_id":"{a0}","platform":"tiktok","step_token":"{t0}"}"#
                .to_owned()
        )),
        Just(Some(r#"{"user_id":"{A}","post_id":"{a0}"}"#.to_owned())),
    ]
    .prop_map(MessageBody::Malformed);
    let forged = (
        prop::sample::select(vec!["{A}", "{A}", "{B}", "nobody"]),
        prop_oneof![
            3 => prop::sample::select(vec!["{a0}", "{a1}"]).prop_map(str::to_owned),
            1 => any::<i64>().prop_map(|ms| new_post_id(ms.rem_euclid(4_102_444_800_000)).to_string()),
            1 => "[A-Za-z0-9_-]{1,64}",
        ],
        prop::sample::select(vec!["twitter", "x"]),
        prop_oneof![
            3 => Just("{t0}".to_owned()),
            1 => Just("{T0}".to_owned()),
            1 => Just("{t1}".to_owned()),
            2 => "[0-9a-f]{32}",
            1 => hostile_string(),
        ],
    )
        .prop_map(|(user, post, platform, token)| MessageBody::Forged {
            user: user.to_owned(),
            post,
            platform: platform.to_owned(),
            token,
        })
        // The one message that is not forged: A's own current step of A's own job.
        .prop_filter("A's own current message", |m| {
            !matches!(m, MessageBody::Forged { user, post, token, .. }
                if user == "{A}" && ((post == "{a0}" && token == "{t0}") || (post == "{a1}" && token == "{t1}")))
        });
    prop_oneof![2 => malformed, 3 => forged]
}

#[test]
fn process_upload_drops_forged_messages_and_fails_only_malformed_ones() {
    let rt = tokio();
    let w = rt.block_on(world("hostile-sqs"));
    let functions = rt
        .block_on(Functions::from_env(&w.env, &w.aws))
        .expect("functions");
    rt.block_on(connect_as(&w, USER_A, X_ALICE));
    rt.block_on(connect_as(&w, USER_B, X_OTHER));
    // A's queued job (no message was sent, so only a forged one could move it) and a failed one.
    let a_jobs = rt.block_on(async {
        let queued = w
            .create_upload(USER_A, vec![7; 4096], &format!("{A_TEXT} queued"))
            .await
            .unwrap();
        let mut failed = w
            .create_upload(USER_A, vec![8; 4096], &format!("{A_TEXT} failed"))
            .await
            .unwrap();
        failed.phase = Phase::Failed;
        failed.version += 1;
        w.store.save_job(&failed).await.unwrap();
        [queued, failed]
    });
    let before = rt.block_on(snapshot(&w, USER_A));
    let before_b = rt.block_on(snapshot(&w, USER_B));
    let fill = |s: &str| {
        s.replace("{A}", USER_A)
            .replace("{B}", USER_B)
            .replace("{a0}", a_jobs[0].post_id.as_str())
            .replace("{a1}", a_jobs[1].post_id.as_str())
            .replace("{t0}", &a_jobs[0].step_token)
            .replace("{T0}", &a_jobs[0].step_token.to_uppercase())
            .replace("{t1}", &a_jobs[1].step_token)
    };
    let receive_count = prop_oneof![
        Just(None),
        prop::sample::select(vec!["1", "4", "5", "99999", "-1", "abc", ""]).prop_map(Some),
    ];

    check(
        "process-upload",
        SQS_CASES,
        prop::collection::vec((message_body(), receive_count), 1..6),
        |messages| {
            rt.block_on(async {
                let mut records = Vec::new();
                for (n, (body, count)) in messages.iter().enumerate() {
                    let mut m = SqsMessage::default();
                    m.message_id = Some(format!("hostile-{n}"));
                    m.body = match body {
                        MessageBody::Malformed(b) => b.as_deref().map(fill),
                        MessageBody::Forged {
                            user,
                            post,
                            platform,
                            token,
                        } => Some(
                            json!({
                                "user_id": fill(user),
                                "post_id": fill(post),
                                "platform": platform,
                                "step_token": fill(token),
                            })
                            .to_string(),
                        ),
                    };
                    if let Some(count) = count {
                        m.attributes
                            .insert("ApproximateReceiveCount".into(), (*count).to_owned());
                    }
                    records.push(m);
                }
                let event_bodies: Vec<Option<String>> =
                    records.iter().map(|m| m.body.clone()).collect();
                let mut event = SqsEvent::default();
                event.records = records;
                let mut ctx = lambda_runtime::Context::default();
                ctx.request_id = "hostile".into();
                ctx.deadline = (now_ms() + 30_000) as u64;
                let response = reelay_process_upload::handle(
                    &functions.process_upload,
                    LambdaEvent::new(event, ctx),
                )
                .await
                .map_err(|e| TestCaseError::fail(format!("process-upload failed: {e}")))?;
                let failed: BTreeSet<String> = response
                    .batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.clone())
                    .collect();
                for (n, (body, _)) in messages.iter().enumerate() {
                    let id = format!("hostile-{n}");
                    // A job message that parses (whatever its ids) is acknowledged: it names no
                    // job of its sender's, or a step that is not the job's.
                    let parses = event_bodies[n]
                        .as_deref()
                        .is_some_and(|b| JobMessage::parse(b).is_ok());
                    prop_assert_eq!(
                        failed.contains(&id),
                        !parses,
                        "message {} ({:?}): failures {:?}",
                        n,
                        body,
                        failed
                    );
                }
                same(&before, &snapshot(&w, USER_A).await)?;
                same(&before_b, &snapshot(&w, USER_B).await)
            })
        },
    );
    // The forged messages sent nothing to X on A's behalf.
    let records = w.emulator.admin().records();
    assert!(
        records.media.is_empty() && records.tweets.is_empty(),
        "{records:?}"
    );
    rt.block_on(w.runner.stop());
}

/// Sanity: the oracles catch what they are meant to catch, so a passing run means something.
#[test]
fn the_oracles_reject_what_they_guard_against() {
    let needles: Vec<String> = ["requestid", "dispatch failure", "secret-token"]
        .map(str::to_owned)
        .to_vec();
    assert_eq!(
        leak(
            r#"{"detail":"dispatch failure: RequestId: 1"}"#,
            "/api/posts",
            &needles
        ),
        Some("requestid")
    );
    assert_eq!(
        leak("token secret-token", "", &needles),
        Some("secret-token")
    );
    assert_eq!(leak("echo RequestId", "?q=RequestId", &needles), None);
    let internal = reelay_shared::problem::Problem::internal().to_json();
    assert!(check_refusal(500, "application/problem+json", &internal).is_err());
    assert!(check_refusal(400, "text/plain", "oops").is_err());
    assert!(check_refusal(
        400,
        "application/problem+json",
        r#"{"type":"x","title":"Bad Request","status":404,"detail":"d"}"#
    )
    .is_err());
    assert!(check_refusal(
        400,
        "application/problem+json",
        r#"{"type":"invalid_json","title":"Bad Request","status":400,"detail":"d"}"#
    )
    .is_ok());
    assert!(check_refusal(401, "application/json", r#"{"message":"Unauthorized"}"#).is_ok());
    let a: BTreeSet<String> = ["x".to_owned()].into();
    assert!(same(&a, &BTreeSet::new()).is_err());
    assert!(same(&a, &a.clone()).is_ok());
}
