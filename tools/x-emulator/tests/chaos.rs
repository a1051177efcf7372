//! The emulator plays X's slow and lagging failures as X would: work that X
//! has started finishes even when the client gives up, answers can come
//! after the client's deadline, new posts reach the timeline late, and
//! tokens can be revoked on demand. Real clients (reqwest with a timeout)
//! against a real server on 127.0.0.1:0.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use x_emulator::testing::tiny_mp4;
use x_emulator::{Emulator, EmulatorConfig, MintRequest};

const USER: &str = "1072250532645998596";
const POST_SCOPES: &str = "tweet.read tweet.write users.read";

fn http() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A client that gives up after `ms`, as a Lambda with a short deadline does.
fn impatient(ms: u64) -> Client {
    Client::builder()
        .timeout(Duration::from_millis(ms))
        .build()
        .expect("client")
}

async fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts")
}

fn mint(emu: &Emulator, scopes: &str) -> String {
    emu.admin()
        .mint_token(&MintRequest {
            user_id: USER.into(),
            scopes: scopes.split(' ').map(String::from).collect(),
            client_id: None,
        })
        .expect("mint")
        .access_token
}

async fn admin_post(emu: &Emulator, path: &str, body: Value) -> reqwest::Response {
    http()
        .post(format!("{}/__admin/{path}", emu.base_url))
        .json(&body)
        .send()
        .await
        .expect("admin")
}

async fn add_fault(emu: &Emulator, fault: Value) {
    let r = admin_post(emu, "faults", fault).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

/// Waits (bounded) until `done` holds on the admin records.
async fn eventually(emu: &Emulator, what: &str, done: impl Fn(&x_emulator::Records) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if done(&emu.admin().records()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ============ 1. started work runs to the end ============

#[tokio::test]
async fn a_post_whose_client_gave_up_during_latency_is_still_created() {
    let emu = start().await;
    let tok = mint(&emu, POST_SCOPES);
    add_fault(
        &emu,
        json!({"endpoint":"tweets","kind":"latency","ms":600,"count":1}),
    )
    .await;
    let err = impatient(150)
        .post(format!("{}/2/tweets", emu.base_url))
        .bearer_auth(&tok)
        .json(&json!({"text":"sent before the deadline"}))
        .send()
        .await
        .expect_err("the client must time out");
    assert!(err.is_timeout(), "{err:?}");
    assert!(emu.admin().records().tweets.is_empty(), "not yet handled");

    // X received the request; it finishes it although nobody listens.
    eventually(&emu, "the tweet exists", |r| r.tweets.len() == 1).await;
    let rec = emu.admin().records();
    assert_eq!(rec.tweets[0].text, "sent before the deadline");
    eventually(&emu, "the call is counted", |r| {
        r.calls.get("tweets").and_then(|c| c.get("201")) == Some(&1)
    })
    .await;
}

#[tokio::test]
async fn a_finalize_whose_client_gave_up_is_not_left_half_done() {
    let emu = start().await;
    let tok = mint(&emu, "media.write");
    let video = tiny_mp4(4000);
    let r = http()
        .post(format!("{}/2/media/upload/initialize", emu.base_url))
        .bearer_auth(&tok)
        .json(&json!({"media_type":"video/mp4","total_bytes":video.len(),"media_category":"tweet_video"}))
        .send()
        .await
        .expect("init");
    assert_eq!(r.status(), StatusCode::OK);
    let id = r.json::<Value>().await.expect("json")["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let form = reqwest::multipart::Form::new()
        .text("segment_index", "0")
        .part(
            "media",
            reqwest::multipart::Part::bytes(video).file_name("v"),
        );
    let r = http()
        .post(format!("{}/2/media/upload/{id}/append", emu.base_url))
        .bearer_auth(&tok)
        .multipart(form)
        .send()
        .await
        .expect("append");
    assert_eq!(r.status(), StatusCode::OK);

    add_fault(
        &emu,
        json!({"endpoint":"media_finalize","kind":"latency","ms":500,"count":1}),
    )
    .await;
    let err = impatient(100)
        .post(format!("{}/2/media/upload/{id}/finalize", emu.base_url))
        .bearer_auth(&tok)
        .send()
        .await
        .expect_err("the client must time out");
    assert!(err.is_timeout(), "{err:?}");

    eventually(&emu, "FINALIZE completes", |r| {
        r.media
            .iter()
            .any(|m| m.id == id && m.sha256.is_some() && m.state == "pending")
    })
    .await;
    // A retried FINALIZE now meets X's "already finalized" answer.
    let r = http()
        .post(format!("{}/2/media/upload/{id}/finalize", emu.base_url))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("finalize");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

// ============ 3. the effect happens, the answer comes too late ============

#[tokio::test]
async fn a_slow_answer_after_the_work_times_the_client_out_but_the_post_exists() {
    let emu = start().await;
    let tok = mint(&emu, POST_SCOPES);
    add_fault(
        &emu,
        json!({"endpoint":"tweets","kind":"latency","ms":1500,"phase":"after","count":1}),
    )
    .await;
    let t0 = Instant::now();
    let err = impatient(300)
        .post(format!("{}/2/tweets", emu.base_url))
        .bearer_auth(&tok)
        .json(&json!({"text":"did X post it?"}))
        .send()
        .await
        .expect_err("the client must time out");
    assert!(err.is_timeout(), "{err:?}");
    assert!(t0.elapsed() < Duration::from_millis(1400));
    // The post was created before the answer was delayed: it is there now,
    // while X is still "answering".
    let rec = emu.admin().records();
    assert_eq!(rec.tweets.len(), 1, "exactly one tweet");
    assert_eq!(rec.tweets[0].text, "did X post it?");

    // A client that waits long enough gets the 201 after the delay.
    add_fault(
        &emu,
        json!({"endpoint":"tweets","kind":"latency","ms":300,"phase":"after","count":1}),
    )
    .await;
    let t0 = Instant::now();
    let r = http()
        .post(format!("{}/2/tweets", emu.base_url))
        .bearer_auth(&tok)
        .json(&json!({"text":"slow but fine"}))
        .send()
        .await
        .expect("tweet");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    eventually(&emu, "both answers counted", |r| {
        r.calls.get("tweets").and_then(|c| c.get("201")) == Some(&2)
    })
    .await;
    assert_eq!(emu.admin().records().tweets.len(), 2);
}

#[tokio::test]
async fn latency_range_delays_within_its_bounds_and_is_validated() {
    let emu = start().await;
    let tok = mint(&emu, POST_SCOPES);
    let r = admin_post(
        &emu,
        "faults",
        json!({"endpoint":"users_me","kind":"latency_range","min_ms":300,"max_ms":100}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    add_fault(
        &emu,
        json!({"endpoint":"users_me","kind":"latency_range","min_ms":200,"max_ms":300,"count":2}),
    )
    .await;
    for _ in 0..2 {
        let t0 = Instant::now();
        let r = http()
            .get(format!("{}/2/users/me", emu.base_url))
            .bearer_auth(&tok)
            .send()
            .await
            .expect("me");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(t0.elapsed() >= Duration::from_millis(200));
    }
    // Used up: the next call is fast again.
    assert!(emu.admin().faults().is_empty());
}

// ============ 4. tokens revoked on demand ============

async fn users_me(emu: &Emulator, tok: &str) -> StatusCode {
    http()
        .get(format!("{}/2/users/me", emu.base_url))
        .bearer_auth(tok)
        .send()
        .await
        .expect("me")
        .status()
}

async fn refresh(emu: &Emulator, refresh_token: &str) -> reqwest::Response {
    http()
        .post(format!("{}/2/oauth2/token", emu.base_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "reelay-public"),
        ])
        .send()
        .await
        .expect("refresh")
}

fn mint_offline(emu: &Emulator) -> (String, String) {
    let t = emu
        .admin()
        .mint_token(&MintRequest {
            user_id: USER.into(),
            scopes: ["tweet.read", "users.read", "offline.access"]
                .map(String::from)
                .to_vec(),
            client_id: Some("reelay-public".into()),
        })
        .expect("mint");
    (
        t.access_token,
        t.refresh_token.expect("offline.access gives one"),
    )
}

#[tokio::test]
async fn revoking_only_access_tokens_gives_401_but_refresh_still_works() {
    let emu = start().await;
    let (access, refresh_token) = mint_offline(&emu);
    assert_eq!(users_me(&emu, &access).await, StatusCode::OK);

    let r = admin_post(
        &emu,
        &format!("users/{USER}/revoke_tokens"),
        json!({"refresh_tokens": false}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"revoked": 1})
    );
    assert_eq!(users_me(&emu, &access).await, StatusCode::UNAUTHORIZED);

    // The client refreshes and carries on.
    let r = refresh(&emu, &refresh_token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = r.json::<Value>().await.expect("json");
    let access2 = fresh["access_token"].as_str().expect("access").to_string();
    let refresh2 = fresh["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    assert_eq!(users_me(&emu, &access2).await, StatusCode::OK);

    // In process: the same, through the handle.
    assert_eq!(emu.admin().revoke_user_access_tokens(USER), 1);
    assert_eq!(users_me(&emu, &access2).await, StatusCode::UNAUTHORIZED);
    let events: Vec<String> = emu
        .admin()
        .records()
        .tokens
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        ["issued", "access_revoked", "refreshed", "access_revoked"]
    );
    assert_eq!(refresh(&emu, &refresh2).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn revoking_all_tokens_forces_the_user_to_reconnect() {
    let emu = start().await;
    let (access, refresh_token) = mint_offline(&emu);
    // No body (and `{}`) revoke access and refresh tokens alike.
    let r = http()
        .post(format!(
            "{}/__admin/users/{USER}/revoke_tokens",
            emu.base_url
        ))
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"revoked": 2})
    );
    assert_eq!(users_me(&emu, &access).await, StatusCode::UNAUTHORIZED);
    let r = refresh(&emu, &refresh_token).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"error":"invalid_request","error_description":"Value passed for the token was invalid."})
    );
    // Unknown fields in the admin body are refused, not ignored.
    let r = admin_post(
        &emu,
        &format!("users/{USER}/revoke_tokens"),
        json!({"refresh": false}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
