//! The link model (issue 16): bandwidth caps on what the emulator reads, per
//! connection and in total, and a latency per API request, set by config and
//! the admin API. Real requests through a real server on 127.0.0.1:0.
//!
//! Timing on a loaded 2-core machine: lower bounds follow from the caps and
//! are asserted firmly; upper bounds are loose.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use x_emulator::{Emulator, EmulatorConfig, LinkModel, MintRequest};

const USER: &str = "1072250532645998596";
const MIB: usize = 1 << 20;
/// 2 MB/s: a 1 MiB APPEND (plus multipart framing and headers) needs more
/// than 0.5 s, less the 20 ms burst a bucket starts with.
const CAP: u64 = 2_000_000;

/// A client of its own, so each caller gets its own connection.
fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

async fn start(link: LinkModel) -> Emulator {
    Emulator::start(EmulatorConfig {
        link,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts")
}

fn token(emu: &Emulator, scopes: &[&str]) -> String {
    emu.admin()
        .mint_token(&MintRequest {
            user_id: USER.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            client_id: None,
        })
        .expect("mint")
        .access_token
}

/// A real INIT for `total` bytes of video; returns the media id.
async fn init(emu: &Emulator, tok: &str, total: usize) -> String {
    let resp = client()
        .post(format!("{}/2/media/upload/initialize", emu.base_url))
        .bearer_auth(tok)
        .json(&json!({"media_type":"video/mp4","total_bytes":total,"media_category":"tweet_video"}))
        .send()
        .await
        .expect("init");
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.expect("json");
    v["data"]["id"].as_str().expect("id").to_string()
}

/// One APPEND of `len` bytes as segment `index` on `http`; returns how long
/// it took from sending to the answer.
async fn append(
    http: &Client,
    emu: &Emulator,
    tok: &str,
    id: &str,
    index: u32,
    len: usize,
) -> Duration {
    let form = reqwest::multipart::Form::new()
        .text("segment_index", index.to_string())
        .part(
            "media",
            reqwest::multipart::Part::bytes(vec![7u8; len]).file_name("blob"),
        );
    let started = Instant::now();
    let resp = http
        .post(format!("{}/2/media/upload/{id}/append", emu.base_url))
        .bearer_auth(tok)
        .multipart(form)
        .send()
        .await
        .expect("append");
    let status = resp.status();
    let _ = resp.bytes().await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    took
}

/// One 1 MiB APPEND on a fresh connection.
async fn one_append(emu: &Emulator) -> Duration {
    let tok = token(emu, &["media.write"]);
    let id = init(emu, &tok, MIB).await;
    let took = append(&client(), emu, &tok, &id, 0, MIB).await;
    eprintln!("one 1 MiB APPEND: {took:?}");
    took
}

/// Two 1 MiB APPENDs at once, on two connections; how long until both answered.
async fn two_appends_in_parallel(emu: &Emulator) -> Duration {
    let tok = token(emu, &["media.write"]);
    let id = init(emu, &tok, 2 * MIB).await;
    let (a, b) = (client(), client());
    let started = Instant::now();
    let (ta, tb) = tokio::join!(
        append(&a, emu, &tok, &id, 0, MIB),
        append(&b, emu, &tok, &id, 1, MIB)
    );
    let took = started.elapsed();
    assert!(ta <= took && tb <= took);
    eprintln!("two 1 MiB APPENDs in parallel: {took:?} ({ta:?}, {tb:?})");
    took
}

fn per_connection(cap: u64) -> LinkModel {
    LinkModel::LOOPBACK.with_per_connection_bytes_per_sec(Some(cap))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_mib_append_under_a_2_mb_per_s_connection_cap_takes_at_least_half_a_second() {
    let emu = start(LinkModel::LOOPBACK).await;
    let loopback = one_append(&emu).await;
    emu.admin().set_link(per_connection(CAP)).expect("set link");
    let capped = one_append(&emu).await;
    assert!(
        capped >= Duration::from_millis(450),
        "1 MiB at 2 MB/s took only {capped:?}"
    );
    assert!(
        loopback * 2 < capped,
        "loopback {loopback:?} is not much faster than capped {capped:?}"
    );
    // The emulator stored the whole segment.
    let records = emu.admin().records();
    assert!(records
        .media
        .iter()
        .all(|m| m.segments.iter().all(|s| s.length == MIB)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_opened_under_loopback_is_capped_once_the_model_changes() {
    let emu = start(LinkModel::LOOPBACK).await;
    let tok = token(&emu, &["media.write"]);
    let id = init(&emu, &tok, 2 * MIB).await;
    let http = client();
    // Opens the connection (and keeps it alive) under loopback.
    let fast = append(&http, &emu, &tok, &id, 0, MIB).await;
    emu.admin().set_link(per_connection(CAP)).expect("set link");
    let slow = append(&http, &emu, &tok, &id, 1, MIB).await;
    assert!(
        slow >= Duration::from_millis(450),
        "the open connection was not capped: {slow:?} (before: {fast:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_each_get_the_per_connection_cap_without_a_total_cap() {
    let emu = start(per_connection(CAP)).await;
    let single = one_append(&emu).await;
    let parallel = two_appends_in_parallel(&emu).await;
    assert!(single >= Duration::from_millis(450), "single: {single:?}");
    assert!(
        parallel >= Duration::from_millis(450),
        "parallel: {parallel:?}"
    );
    assert!(
        parallel.as_secs_f64() < 1.6 * single.as_secs_f64(),
        "two connections in parallel took {parallel:?}, one alone {single:?}: \
         they should take about the time of one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_cap_equal_to_the_connection_cap_makes_two_in_parallel_take_twice_as_long() {
    let emu = start(per_connection(CAP).with_total_bytes_per_sec(Some(CAP))).await;
    let single = one_append(&emu).await;
    let parallel = two_appends_in_parallel(&emu).await;
    assert!(single >= Duration::from_millis(450), "single: {single:?}");
    // 2 MiB through 2 MB/s: over a second, less the buckets' bursts.
    assert!(
        parallel >= Duration::from_millis(900),
        "two connections sharing 2 MB/s took only {parallel:?} (one alone {single:?})"
    );
    assert!(
        parallel.as_secs_f64() < 3.0 * single.as_secs_f64(),
        "two connections sharing the cap took {parallel:?}, one alone {single:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_request_waits_the_latency_once_and_admin_routes_do_not() {
    let latency = Duration::from_millis(300);
    let emu = start(LinkModel::LOOPBACK.with_latency(latency)).await;
    let tok = token(&emu, &["tweet.read", "users.read"]);
    let http = client();
    for _ in 0..2 {
        let started = Instant::now();
        let resp = http
            .get(format!("{}/2/users/me", emu.base_url))
            .bearer_auth(&tok)
            .send()
            .await
            .expect("users/me");
        assert_eq!(resp.status(), StatusCode::OK);
        let took = started.elapsed();
        assert!(took >= latency, "GET /2/users/me took only {took:?}");
        assert!(took < latency * 3, "GET /2/users/me took {took:?}");
    }
    // An unknown path is an API request too (X answers it).
    let started = Instant::now();
    let resp = http
        .get(format!("{}/2/nowhere", emu.base_url))
        .send()
        .await
        .expect("404");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(started.elapsed() >= latency);
    // Admin is not behind the link.
    let started = Instant::now();
    let resp = http
        .get(format!("{}/__admin/link", emu.base_url))
        .send()
        .await
        .expect("admin");
    assert_eq!(resp.status(), StatusCode::OK);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(250), "admin took {took:?}");
    // Back to loopback: no wait.
    emu.admin().set_link(LinkModel::LOOPBACK).expect("set link");
    let started = Instant::now();
    let resp = http
        .get(format!("{}/2/users/me", emu.base_url))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("users/me");
    assert_eq!(resp.status(), StatusCode::OK);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(250), "loopback took {took:?}");
}

async fn put_link(http: &Client, emu: &Emulator, body: &str) -> (StatusCode, Value) {
    let resp = http
        .put(format!("{}/__admin/link", emu.base_url))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("put link");
    let status = resp.status();
    (status, resp.json().await.expect("json"))
}

async fn get_json(http: &Client, url: String) -> Value {
    let resp = http.get(url).send().await.expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

#[tokio::test]
async fn the_admin_api_reads_and_sets_the_link_and_refuses_bad_input() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts");
    let admin = emu.admin();
    let http = client();
    let link_url = format!("{}/__admin/link", emu.base_url);
    let loopback = json!({"profile":"loopback","latency_ms":0,
        "per_connection_bytes_per_sec":null,"total_bytes_per_sec":null});
    let lambda = json!({"profile":"lambda-to-x","latency_ms":60,
        "per_connection_bytes_per_sec":10_000_000,"total_bytes_per_sec":100_000_000});

    // The default is loopback.
    assert_eq!(get_json(&http, link_url.clone()).await, loopback);
    assert_eq!(admin.link(), LinkModel::LOOPBACK);

    // A profile by name.
    let (status, body) = put_link(&http, &emu, r#"{"profile":"lambda-to-x"}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, lambda);
    assert_eq!(get_json(&http, link_url.clone()).await, lambda);
    assert_eq!(admin.link(), LinkModel::LAMBDA_TO_X);
    assert_eq!(admin.config().link, LinkModel::LAMBDA_TO_X);
    assert_eq!(
        get_json(&http, format!("{}/__admin/config", emu.base_url)).await["link"],
        lambda
    );

    // Explicit fields; absent ones are loopback's, 0 is unlimited.
    let (status, body) = put_link(
        &http,
        &emu,
        r#"{"latency_ms":25,"per_connection_bytes_per_sec":5000000,"total_bytes_per_sec":0}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"profile":null,"latency_ms":25,"per_connection_bytes_per_sec":5_000_000,
               "total_bytes_per_sec":null})
    );
    assert_eq!(
        admin.link(),
        LinkModel {
            latency: Duration::from_millis(25),
            per_connection_bytes_per_sec: Some(5_000_000),
            total_bytes_per_sec: None,
        }
    );

    // A profile with an override.
    let (status, body) = put_link(
        &http,
        &emu,
        r#"{"profile":"lambda-to-x","total_bytes_per_sec":null}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["latency_ms"], 60);
    assert_eq!(body["per_connection_bytes_per_sec"], 10_000_000);
    assert_eq!(body["total_bytes_per_sec"], Value::Null);
    let before = admin.link();

    // Bad input: 400 with an error, and the model stays.
    for bad in [
        r#"{"profile":"dial-up"}"#,
        r#"{"latency_ms":-5}"#,
        r#"{"latency_ms":60001}"#,
        r#"{"per_connection_bytes_per_sec":"fast"}"#,
        r#"{"bandwidth":1000}"#,
        r#"[]"#,
        r#"not json"#,
    ] {
        let (status, body) = put_link(&http, &emu, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{bad}: {body}"
        );
        assert_eq!(admin.link(), before, "{bad} changed the link");
    }
    assert!(admin
        .set_link(LinkModel::LOOPBACK.with_latency(Duration::from_secs(61)))
        .is_err());
    assert_eq!(admin.link(), before);

    // PATCH /__admin/config with a profile starts from that profile.
    let resp = http
        .patch(format!("{}/__admin/config", emu.base_url))
        .json(&json!({"link":{"profile":"loopback"}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(admin.link(), LinkModel::LOOPBACK);
    let resp = http
        .patch(format!("{}/__admin/config", emu.base_url))
        .json(&json!({"link":{"latency_ms":7}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        admin.link(),
        LinkModel::LOOPBACK.with_latency(Duration::from_millis(7))
    );

    // In process.
    admin.set_link(LinkModel::LAMBDA_TO_X).expect("set link");
    assert_eq!(get_json(&http, link_url).await, lambda);
}
