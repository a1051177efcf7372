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

// ============ 2. the timeline: lag, X's query parameters, counting ============

const READ_SCOPES: &str = "tweet.read tweet.write users.read";

async fn post(emu: &Emulator, tok: &str, text: &str) -> String {
    let r = http()
        .post(format!("{}/2/tweets", emu.base_url))
        .bearer_auth(tok)
        .json(&json!({ "text": text }))
        .send()
        .await
        .expect("tweet");
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.expect("json")["data"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn timeline(emu: &Emulator, tok: &str, query: &str) -> (StatusCode, Value) {
    let r = http()
        .get(format!("{}/2/users/{USER}/tweets?{query}", emu.base_url))
        .bearer_auth(tok)
        .send()
        .await
        .expect("timeline");
    let status = r.status();
    (status, r.json().await.expect("json"))
}

fn ids(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t["id"].as_str().expect("id").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `n` posts one second apart on the emulator clock; ids oldest first.
async fn posts_one_second_apart(emu: &Emulator, tok: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(post(emu, tok, &format!("post number {i}")).await);
        emu.admin().advance_clock(Duration::from_secs(1));
    }
    out
}

fn newest_first(ids: &[String]) -> Vec<String> {
    ids.iter().rev().cloned().collect()
}

fn returned(emu: &Emulator) -> u64 {
    emu.admin()
        .records()
        .timeline_posts_returned
        .get(USER)
        .copied()
        .unwrap_or(0)
}

/// X's invalid-request problem, naming the parameter and its value.
fn assert_invalid(v: &Value, name: &str, value: &str, message: &str) {
    assert_eq!(v["title"], "Invalid Request", "{v}");
    assert_eq!(
        v["type"],
        "https://api.twitter.com/2/problems/invalid-request"
    );
    assert_eq!(
        v["detail"],
        "One or more parameters to your request was invalid."
    );
    assert_eq!(v["errors"][0]["parameters"][name], json!([value]), "{v}");
    assert_eq!(v["errors"][0]["message"], message, "{v}");
}

#[tokio::test]
async fn new_posts_reach_the_timeline_after_the_configured_lag() {
    let emu = start().await;
    let tok = mint(&emu, READ_SCOPES);
    let r = http()
        .patch(format!("{}/__admin/config", emu.base_url))
        .json(&json!({"timeline_lag_ms": 5000}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.expect("json")["timeline_lag_ms"],
        5000
    );
    let id = post(&emu, &tok, "not there yet").await;

    let (s, v) = timeline(&emu, &tok, "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"meta":{"result_count":0}}));
    emu.admin().advance_clock(Duration::from_millis(4000));
    assert_eq!(timeline(&emu, &tok, "").await.1["meta"]["result_count"], 0);
    emu.admin().advance_clock(Duration::from_millis(1000));
    let (_, v) = timeline(&emu, &tok, "").await;
    assert_eq!(ids(&v), std::slice::from_ref(&id));
    // Two empty reads and one read of one post.
    assert_eq!(returned(&emu), 1);

    // The lag holds per post: a second post lags behind the first.
    let id2 = post(&emu, &tok, "second").await;
    assert_eq!(
        ids(&timeline(&emu, &tok, "").await.1),
        std::slice::from_ref(&id)
    );
    emu.admin().advance_clock(Duration::from_secs(5));
    assert_eq!(ids(&timeline(&emu, &tok, "").await.1), [id2, id]);
    assert_eq!(returned(&emu), 4);

    // Default: no lag.
    assert_eq!(EmulatorConfig::default().timeline_lag_ms, 0);
    let emu = start().await;
    let tok = mint(&emu, READ_SCOPES);
    let id = post(&emu, &tok, "at once").await;
    assert_eq!(ids(&timeline(&emu, &tok, "").await.1), [id]);
}

#[tokio::test]
async fn timeline_pages_with_next_and_previous_tokens() {
    let emu = start().await;
    let tok = mint(&emu, READ_SCOPES);
    let all = newest_first(&posts_one_second_apart(&emu, &tok, 12).await);

    let (s, p1) = timeline(&emu, &tok, "max_results=5").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&p1), all[0..5]);
    assert_eq!(p1["meta"]["result_count"], 5);
    assert_eq!(p1["meta"]["newest_id"], all[0].as_str());
    assert_eq!(p1["meta"]["oldest_id"], all[4].as_str());
    assert!(p1["meta"].get("previous_token").is_none(), "first page");
    let next = p1["meta"]["next_token"].as_str().expect("next_token");
    // OAS v2.167: a base32hex token.
    assert!(next
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'v').contains(&c)));

    let (_, p2) = timeline(
        &emu,
        &tok,
        &format!("max_results=5&pagination_token={next}"),
    )
    .await;
    assert_eq!(ids(&p2), all[5..10]);
    let prev = p2["meta"]["previous_token"].as_str().expect("previous");
    let next = p2["meta"]["next_token"].as_str().expect("next");
    let (_, p3) = timeline(
        &emu,
        &tok,
        &format!("max_results=5&pagination_token={next}"),
    )
    .await;
    assert_eq!(ids(&p3), all[10..12]);
    assert!(p3["meta"].get("next_token").is_none(), "last page");
    assert!(p3["meta"].get("previous_token").is_some());
    let (_, back) = timeline(
        &emu,
        &tok,
        &format!("max_results=5&pagination_token={prev}"),
    )
    .await;
    assert_eq!(ids(&back), all[0..5]);
    assert!(back["meta"].get("previous_token").is_none());
    assert!(back["meta"].get("next_token").is_some());
    // Every post returned is counted, repeats included (X bills per post).
    assert_eq!(returned(&emu), 5 + 5 + 2 + 5);

    // Default page size 10.
    assert_eq!(ids(&timeline(&emu, &tok, "").await.1), all[0..10]);

    // Bad tokens and sizes.
    let (s, v) = timeline(&emu, &tok, "pagination_token=not-a-token").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_invalid(
        &v,
        "pagination_token",
        "not-a-token",
        "The `pagination_token` query parameter value [not-a-token] is not valid",
    );
    let (s, _) = timeline(&emu, &tok, "pagination_token=").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A token of this timeline does not page another user's timeline.
    let r = http()
        .get(format!(
            "{}/2/users/1456012973835788293/tweets?pagination_token={next}",
            emu.base_url
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("other timeline");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for bad in ["4", "101", "ten"] {
        let (s, v) = timeline(&emu, &tok, &format!("max_results={bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_invalid(
            &v,
            "max_results",
            bad,
            &format!("The `max_results` query parameter value [{bad}] is not between 5 and 100"),
        );
    }
}

#[tokio::test]
async fn timeline_since_id_and_until_id_are_exclusive() {
    let emu = start().await;
    let tok = mint(&emu, READ_SCOPES);
    let old = posts_one_second_apart(&emu, &tok, 10).await; // oldest first
    let q = |k: &str, i: usize| format!("{k}={}", old[i]);

    let (_, v) = timeline(&emu, &tok, &q("since_id", 6)).await;
    assert_eq!(ids(&v), newest_first(&old[7..]));
    let (_, v) = timeline(&emu, &tok, &q("until_id", 3)).await;
    assert_eq!(ids(&v), newest_first(&old[..3]));
    let (_, v) = timeline(
        &emu,
        &tok,
        &format!("{}&{}", q("since_id", 2), q("until_id", 5)),
    )
    .await;
    assert_eq!(ids(&v), newest_first(&old[3..5]));
    // Polling with the newest id seen: nothing new.
    let (_, v) = timeline(&emu, &tok, &q("since_id", 9)).await;
    assert_eq!(v, json!({"meta":{"result_count":0}}));

    let (s, v) = timeline(
        &emu,
        &tok,
        &format!("{}&{}", q("since_id", 5), q("until_id", 5)),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_invalid(
        &v,
        "since_id",
        &old[5],
        &format!(
            "Invalid 'since_id':'{}'. 'since_id' must be less than 'until_id'",
            old[5]
        ),
    );
    let (s, v) = timeline(&emu, &tok, "since_id=12ab").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_invalid(
        &v,
        "since_id",
        "12ab",
        "The `since_id` query parameter value [12ab] does not match ^[0-9]{1,19}$",
    );
    let (s, _) = timeline(&emu, &tok, "until_id=12345678901234567890").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn timeline_start_and_end_time_are_second_granular_rfc3339() {
    use x_emulator::testing::rfc3339_ms;
    let emu = start().await;
    let tok = mint(&emu, READ_SCOPES);
    let old = posts_one_second_apart(&emu, &tok, 10).await;
    let rec = emu.admin().records();
    let at = |i: usize| {
        rec.tweets
            .iter()
            .find(|t| t.id == old[i])
            .expect("record")
            .created_at_ms
    };
    assert_eq!(rec.tweets[0].created_at, at(0) / 1000);
    let t = |i: usize| rfc3339_ms(at(i));

    // Inclusive on both ends, to the second (the fraction is dropped).
    let (s, v) = timeline(&emu, &tok, &format!("start_time={}", t(6))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), newest_first(&old[6..]));
    let (_, v) = timeline(&emu, &tok, &format!("end_time={}", t(2))).await;
    assert_eq!(ids(&v), newest_first(&old[..3]));
    let (_, v) = timeline(
        &emu,
        &tok,
        &format!("start_time={}&end_time={}", t(3), t(5)),
    )
    .await;
    assert_eq!(ids(&v), newest_first(&old[3..6]));
    // An offset other than Z is read as RFC 3339 says.
    let whole = |i: usize| at(i) / 1000 * 1000;
    let plus_two = rfc3339_ms(whole(6) + 2 * 3600 * 1000).replace(".000Z", "+02:00");
    let (_, v) = timeline(
        &emu,
        &tok,
        &format!("start_time={}", plus_two.replace('+', "%2B")),
    )
    .await;
    assert_eq!(ids(&v), newest_first(&old[6..]));
    // since_id takes precedence over start_time (OAS v2.112).
    let (_, v) = timeline(
        &emu,
        &tok,
        &format!("since_id={}&start_time={}", old[7], t(2)),
    )
    .await;
    assert_eq!(ids(&v), newest_first(&old[8..]));

    // created_at, when asked for, in X's format.
    let (_, v) = timeline(
        &emu,
        &tok,
        "tweet.fields=created_at,author_id&max_results=5",
    )
    .await;
    assert_eq!(v["data"][0]["created_at"], t(9));
    assert_eq!(v["data"][0]["author_id"], USER);
    let (_, v) = timeline(&emu, &tok, "post.fields=created_at&max_results=5").await;
    assert_eq!(v["data"][0]["created_at"], t(9));
    let (_, v) = timeline(&emu, &tok, "max_results=5").await;
    assert!(v["data"][0].get("created_at").is_none());

    for bad in [
        "2024-01-01",
        "2024-01-01T00:00",
        "2024-02-30T00:00:00Z",
        "2024-01-01 00:00:00Z",
    ] {
        let (s, v) = timeline(&emu, &tok, &format!("start_time={bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_invalid(
            &v,
            "start_time",
            bad,
            &format!("Invalid 'start_time':'{bad}'. 'start_time' must be an RFC 3339 date-time, e.g. YYYY-MM-DDTHH:mm:ssZ"),
        );
    }
    let (s, v) = timeline(&emu, &tok, "end_time=2010-11-05T23:59:59Z").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_invalid(
        &v,
        "end_time",
        "2010-11-05T23:59:59Z",
        "Invalid 'end_time':'2010-11-05T23:59:59Z'. 'end_time' must be on or after 2010-11-06T00:00:00Z",
    );
    let (s, v) = timeline(
        &emu,
        &tok,
        &format!("start_time={}&end_time={}", t(5), t(5)),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_invalid(
        &v,
        "start_time",
        &t(5),
        &format!(
            "Invalid 'start_time':'{}'. 'start_time' must be earlier than 'end_time'",
            t(5)
        ),
    );
}

#[tokio::test]
async fn timeline_exclude_enum_and_the_3200_post_reach() {
    let emu = start().await;
    let tok = mint(&emu, READ_SCOPES);
    assert_eq!(EmulatorConfig::default().timeline_max_posts, 3200);
    emu.admin().update_config(|c| c.timeline_max_posts = 5);
    let old = posts_one_second_apart(&emu, &tok, 7).await;

    let (_, v) = timeline(&emu, &tok, "max_results=100&exclude=replies,retweets").await;
    assert_eq!(ids(&v), newest_first(&old[2..]));
    assert!(v["meta"].get("next_token").is_none());
    // Beyond the reach: a success with no data.
    let (s, v) = timeline(&emu, &tok, &format!("until_id={}", old[2])).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"meta":{"result_count":0}}));

    let (s, v) = timeline(&emu, &tok, "exclude=quotes").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_invalid(
        &v,
        "exclude",
        "quotes",
        "The `exclude` query parameter value [quotes] is not one of [replies,retweets]",
    );
    let (s, _) = timeline(&emu, &tok, "exclude=replies,replies").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = timeline(&emu, &tok, "exclude=").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Reset forgets the read counts.
    assert_eq!(returned(&emu), 5);
    emu.admin().reset();
    assert!(emu.admin().records().timeline_posts_returned.is_empty());
}

// ============ 5. other ways X is slower than the client's deadline ============

#[tokio::test]
async fn a_slow_body_shows_the_201_then_times_the_client_out() {
    let emu = start().await;
    let tok = mint(&emu, POST_SCOPES);
    add_fault(
        &emu,
        json!({"endpoint":"tweets","kind":"slow_body","ms":1500,"count":1}),
    )
    .await;
    let resp = impatient(400)
        .post(format!("{}/2/tweets", emu.base_url))
        .bearer_auth(&tok)
        .json(&json!({"text":"headers came, body did not"}))
        .send()
        .await
        .expect("the status line and headers arrive in time");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let err = resp.bytes().await.expect_err("the body must time out");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(emu.admin().records().tweets.len(), 1);

    // A patient client reads the whole, valid body.
    add_fault(
        &emu,
        json!({"endpoint":"tweets","kind":"slow_body","ms":200,"count":1}),
    )
    .await;
    let t0 = Instant::now();
    let resp = http()
        .post(format!("{}/2/tweets", emu.base_url))
        .bearer_auth(&tok)
        .json(&json!({"text":"slow but whole"}))
        .send()
        .await
        .expect("tweet");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let v: Value = resp.json().await.expect("whole JSON");
    assert_eq!(v["data"]["text"], "slow but whole");
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert_eq!(emu.admin().records().tweets.len(), 2);
}

#[tokio::test]
async fn a_refresh_answered_after_the_deadline_still_rotates_the_tokens() {
    // The dangerous case for a token store: X rotated the refresh token, the
    // client never saw the new one, and its retry with the old one fails.
    let emu = start().await;
    let (access, refresh_token) = mint_offline(&emu);
    add_fault(
        &emu,
        json!({"endpoint":"token","kind":"latency","ms":1000,"phase":"after","count":1}),
    )
    .await;
    let err = impatient(200)
        .post(format!("{}/2/oauth2/token", emu.base_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", "reelay-public"),
        ])
        .send()
        .await
        .expect_err("the client must time out");
    assert!(err.is_timeout(), "{err:?}");
    let events: Vec<String> = emu
        .admin()
        .records()
        .tokens
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["issued", "refreshed"]);
    let r = refresh(&emu, &refresh_token).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The old access token died with the rotation (the emulator's default).
    assert_eq!(users_me(&emu, &access).await, StatusCode::UNAUTHORIZED);
}
