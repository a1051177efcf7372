//! Fidelity: the emulator answers as X does where a public record says how
//! (issue 11, "emulator answers like X"). Each test names its source; the
//! README's "Behaviour: documented by X or chosen by us" table has one row
//! per behaviour. Time moves only through the admin clock.

use std::time::Duration;

use reqwest::{header, Client, Response, StatusCode};
use serde_json::{json, Value};
use x_emulator::testing::tiny_mp4;
use x_emulator::{
    AppendAnswer, DailyLimit, Emulator, EmulatorConfig, MintRequest, MissingScopeAnswer,
};

const USER: &str = "1072250532645998596";
const OTHER_USER: &str = "1456012973835788293";
const PUBLIC: &str = "reelay-public";
const POSTING: &[&str] = &["tweet.read", "tweet.write", "users.read", "media.write"];

fn http() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn start(cfg: EmulatorConfig) -> Emulator {
    Emulator::start(cfg).await.expect("emulator starts")
}

fn mint(emu: &Emulator, user: &str, scopes: &[&str]) -> x_emulator::MintedToken {
    emu.admin()
        .mint_token(&MintRequest {
            user_id: user.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            client_id: None,
        })
        .expect("mint")
}

fn token(emu: &Emulator, user: &str, scopes: &[&str]) -> String {
    mint(emu, user, scopes).access_token
}

fn header_str(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

fn header_u64(resp: &Response, name: &str) -> u64 {
    header_str(resp, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("header {name} missing or not a number"))
}

fn rate_headers(resp: &Response) -> Vec<String> {
    resp.headers()
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("x-rate-limit") || k.contains("limit-24hour"))
        .collect()
}

async fn json_of(resp: Response) -> Value {
    resp.json().await.expect("JSON body")
}

async fn me(emu: &Emulator, tok: &str) -> Response {
    http()
        .get(format!("{}/2/users/me", emu.base_url))
        .bearer_auth(tok)
        .send()
        .await
        .expect("users/me")
}

async fn init(emu: &Emulator, tok: &str, body: Value) -> Response {
    http()
        .post(format!("{}/2/media/upload/initialize", emu.base_url))
        .bearer_auth(tok)
        .json(&body)
        .send()
        .await
        .expect("initialize")
}

async fn init_ok(emu: &Emulator, tok: &str, media_type: &str, category: &str, n: usize) -> String {
    let resp = init(
        emu,
        tok,
        json!({"media_type": media_type, "total_bytes": n, "media_category": category}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    json_of(resp).await["data"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn append(emu: &Emulator, tok: &str, id: &str, index: u32, bytes: Vec<u8>) -> Response {
    let form = reqwest::multipart::Form::new()
        .text("segment_index", index.to_string())
        .part("media", reqwest::multipart::Part::bytes(bytes));
    http()
        .post(format!("{}/2/media/upload/{id}/append", emu.base_url))
        .bearer_auth(tok)
        .multipart(form)
        .send()
        .await
        .expect("append")
}

/// A video upload with every byte appended, ready for FINALIZE.
async fn appended_video(emu: &Emulator, tok: &str) -> String {
    let mp4 = tiny_mp4(200);
    let id = init_ok(emu, tok, "video/mp4", "tweet_video", mp4.len()).await;
    assert_eq!(append(emu, tok, &id, 0, mp4).await.status(), StatusCode::OK);
    id
}

/// FINALIZE with an optional content type and a raw body.
async fn finalize_with(
    emu: &Emulator,
    tok: &str,
    id: &str,
    content_type: Option<&str>,
    body: &'static str,
) -> Response {
    let mut req = http()
        .post(format!("{}/2/media/upload/{id}/finalize", emu.base_url))
        .bearer_auth(tok)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    req.send().await.expect("finalize")
}

async fn status(emu: &Emulator, tok: &str, id: &str) -> Response {
    http()
        .get(format!(
            "{}/2/media/upload?command=STATUS&media_id={id}",
            emu.base_url
        ))
        .bearer_auth(tok)
        .send()
        .await
        .expect("status")
}

async fn post_tweet(emu: &Emulator, tok: &str, text: &str) -> Response {
    http()
        .post(format!("{}/2/tweets", emu.base_url))
        .bearer_auth(tok)
        .json(&json!({ "text": text }))
        .send()
        .await
        .expect("tweet")
}

async fn timeline(emu: &Emulator, tok: &str) -> Response {
    http()
        .get(format!("{}/2/users/{USER}/tweets", emu.base_url))
        .bearer_auth(tok)
        .send()
        .await
        .expect("timeline")
}

async fn patch_config(emu: &Emulator, patch: Value) {
    let resp = http()
        .patch(format!("{}/__admin/config", emu.base_url))
        .json(&patch)
        .send()
        .await
        .expect("patch config");
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap_or_default()
    );
}

async fn refresh(emu: &Emulator, refresh_token: &str) -> Response {
    http()
        .post(format!("{}/2/oauth2/token", emu.base_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", PUBLIC),
        ])
        .send()
        .await
        .expect("token")
}

const GENERIC_403: &str = "{\n  \"title\": \"Forbidden\",\n  \"type\": \"about:blank\",\n  \"status\": 403,\n  \"detail\": \"Forbidden\"\n}";

/// Asserts X's generic 403 exactly as PLH #588/#265 recorded it.
async fn assert_generic_403(resp: Response) {
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        header_str(&resp, "content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(header_u64(&resp, "content-length"), 93, "recorded length");
    assert!(rate_headers(&resp).is_empty(), "{:?}", rate_headers(&resp));
    let text = resp.text().await.expect("body");
    assert_eq!(text, GENERIC_403);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json"),
        json!({"title":"Forbidden","type":"about:blank","status":403,"detail":"Forbidden"})
    );
}

/// PLhery/node-twitter-api-v2 #588 (v2 media upload, 2025) and #265
/// (GET /2/users/me, 2022): a token without the endpoint's scope gets the
/// generic `about:blank` 403, 93 bytes of problem JSON, no rate headers.
#[tokio::test]
async fn missing_scope_is_x_generic_403_plh588_plh265() {
    let emu = start(EmulatorConfig::default()).await;
    // No media.write: INITIALIZE (PLH#588).
    let tok = token(&emu, USER, &["tweet.read", "tweet.write", "users.read"]);
    assert_generic_403(
        init(
            &emu,
            &tok,
            json!({"media_type":"video/mp4","total_bytes":10}),
        )
        .await,
    )
    .await;
    // No users.read: users/me (PLH#265).
    let tok = token(&emu, USER, &["tweet.read", "media.write"]);
    assert_generic_403(me(&emu, &tok).await).await;
    // No tweet.write: POST /2/tweets, the same answer.
    let tok = token(&emu, USER, &["tweet.read", "users.read"]);
    assert_generic_403(post_tweet(&emu, &tok, "hello").await).await;

    // The refusal used no rate-limit allowance (X sent no headers for it).
    let ok = token(&emu, USER, POSTING);
    let resp = me(&emu, &ok).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header_u64(&resp, "x-rate-limit-remaining"), 74);
}

/// The former answer (`client-forbidden` + `missing_scopes`, with rate
/// headers) is not X's; it stays available only behind
/// `missing_scope_answer: "client_forbidden"` (chosen).
#[tokio::test]
async fn missing_scope_client_forbidden_answer_only_when_configured() {
    let emu = start(EmulatorConfig::default()).await;
    patch_config(&emu, json!({"missing_scope_answer": "client_forbidden"})).await;
    assert_eq!(
        emu.admin().config().missing_scope_answer,
        MissingScopeAnswer::ClientForbidden
    );
    let tok = token(&emu, USER, &["tweet.read", "users.read"]);
    let resp = init(
        &emu,
        &tok,
        json!({"media_type":"video/mp4","total_bytes":10}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(header_str(&resp, "x-rate-limit-limit").is_some());
    let body = json_of(resp).await;
    assert_eq!(body["missing_scopes"], json!(["media.write"]));
    assert_eq!(
        body["type"],
        "https://api.twitter.com/2/problems/client-forbidden"
    );
}

/// The app's access level lacks the endpoint: X's recorded
/// `client-not-enrolled` body (xdevplatform/twitter-api-java-sdk#64 for
/// POST /2/tweets, 2023; #67; xdevplatform/samples#160, 2024).
#[tokio::test]
async fn not_enrolled_endpoint_answers_recorded_client_forbidden_java_sdk_64() {
    let emu = start(EmulatorConfig::default()).await;
    patch_config(
        &emu,
        json!({"not_enrolled_endpoints": ["tweets", "media_initialize"]}),
    )
    .await;
    let tok = token(&emu, USER, POSTING);
    let app_id = emu.admin().config().app_id;
    let expected = json!({
        "client_id": app_id,
        "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project. You can create a project via the developer portal.",
        "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
        "title": "Client Forbidden",
        "required_enrollment": "Appropriate Level of API Access",
        "reason": "client-not-enrolled",
        "type": "https://api.twitter.com/2/problems/client-forbidden",
    });
    for resp in [
        post_tweet(&emu, &tok, "hello").await,
        init(
            &emu,
            &tok,
            json!({"media_type":"video/mp4","total_bytes":10}),
        )
        .await,
    ] {
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(rate_headers(&resp).is_empty(), "{:?}", rate_headers(&resp));
        let text = resp.text().await.expect("body");
        // The recorded key order.
        assert!(text.starts_with("{\"client_id\":"), "{text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).expect("json"),
            expected
        );
    }
    // Endpoints the access level includes still work.
    assert_eq!(me(&emu, &tok).await.status(), StatusCode::OK);
}

/// Pay-per-use credits used up: 402 with the body public clients logged
/// (title CreditsDepleted, type …/2/problems/credits); 185 bytes and
/// `application/json; charset=utf-8` as tryethernal/ethernal #1289ff
/// recorded for POST /2/tweets in 2026. users/me keeps answering 200 (two
/// public reports); OAuth is not billed.
#[tokio::test]
async fn credits_depleted_answers_402_creditsdepleted_ethernal_1289() {
    let emu = start(EmulatorConfig::default()).await;
    let minted = mint(
        &emu,
        USER,
        &[
            "tweet.read",
            "tweet.write",
            "users.read",
            "media.write",
            "offline.access",
        ],
    );
    let tok = minted.access_token.clone();
    patch_config(&emu, json!({"credits_depleted": true})).await;
    let account = emu.admin().config().account_id;
    assert_eq!(account.len(), 19);

    let resp = post_tweet(&emu, &tok, "hello").await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        header_str(&resp, "content-type").as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(header_u64(&resp, "content-length"), 185, "recorded length");
    assert!(rate_headers(&resp).is_empty());
    assert_eq!(
        json_of(resp).await,
        json!({
            "title": "CreditsDepleted",
            "detail": format!("Your enrolled account [{account}] does not have any credits to fulfill this request."),
            "type": "https://api.twitter.com/2/problems/credits",
        })
    );
    assert!(
        emu.admin().records().tweets.is_empty(),
        "nothing was posted"
    );

    // Timelines and media are billed too; users/me and OAuth are not.
    assert_eq!(
        timeline(&emu, &tok).await.status(),
        StatusCode::PAYMENT_REQUIRED
    );
    let resp = init(
        &emu,
        &tok,
        json!({"media_type":"video/mp4","total_bytes":10}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(me(&emu, &tok).await.status(), StatusCode::OK);
    let rt = minted.refresh_token.expect("refresh token");
    assert_eq!(refresh(&emu, &rt).await.status(), StatusCode::OK);

    // Credits bought: posting works again.
    patch_config(&emu, json!({"credits_depleted": false})).await;
    let fresh = token(&emu, USER, POSTING);
    assert_eq!(
        post_tweet(&emu, &fresh, "hello").await.status(),
        StatusCode::CREATED
    );
}

/// DOCS `x-api/fundamentals/rate-limits.mdx` (xdevplatform/docs): per app
/// per 24 h, POST /2/tweets 10,000, media initialize/append/finalize
/// 180,000, GET /2/media/upload 100,000; header names as X sends them
/// (PLhery/node-twitter-api-v2 #495 `x-app-limit-24hour-*`, #553
/// `x-user-limit-24hour-*`).
#[tokio::test]
async fn default_24h_app_limits_from_docs_rate_limits_mdx() {
    let emu = start(EmulatorConfig::default()).await;
    let limits = emu.admin().config().daily_limits;
    let app = |e: &str| limits.get(e).and_then(|d| d.app);
    assert_eq!(app("tweets"), Some(10_000));
    assert_eq!(app("media_initialize"), Some(180_000));
    assert_eq!(app("media_append"), Some(180_000));
    assert_eq!(app("media_finalize"), Some(180_000));
    assert_eq!(app("media_status"), Some(100_000));
    assert!(!limits.contains_key("users_me") && !limits.contains_key("user_tweets"));

    let tok = token(&emu, USER, POSTING);
    let now = emu.admin().now_ms() / 1000;
    let resp = post_tweet(&emu, &tok, "one").await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(header_u64(&resp, "x-app-limit-24hour-limit"), 10_000);
    assert_eq!(header_u64(&resp, "x-app-limit-24hour-remaining"), 9_999);
    let reset = header_u64(&resp, "x-app-limit-24hour-reset");
    assert!((now + 86_400..=now + 86_401).contains(&reset), "{reset}");
    assert!(header_str(&resp, "x-user-limit-24hour-limit").is_none());
    assert_eq!(header_u64(&resp, "x-rate-limit-limit"), 100);

    let resp = init(
        &emu,
        &tok,
        json!({"media_type":"video/mp4","total_bytes":10}),
    )
    .await;
    assert_eq!(header_u64(&resp, "x-app-limit-24hour-limit"), 180_000);
    // No 24-hour cap is documented for users/me.
    let resp = me(&emu, &tok).await;
    assert!(header_str(&resp, "x-app-limit-24hour-limit").is_none());
}

/// A per-user 24 h cap set at run time (PATCH /__admin/config), used up:
/// 429 with `x-user-limit-24hour-remaining: 0` and the 24 h reset, while
/// `x-rate-limit-*` show the 15-minute window; the emulator clock resets it.
#[tokio::test]
async fn user_24h_cap_gives_429_with_24h_headers_plh553() {
    let emu = start(EmulatorConfig::default()).await;
    patch_config(&emu, json!({"daily_limits": {"tweets": {"user": 2}}})).await;
    // The patch merged: the documented app cap stays.
    assert_eq!(
        emu.admin().config().daily_limits.get("tweets").copied(),
        Some(DailyLimit {
            app: Some(10_000),
            user: Some(2),
            window_secs: 86_400
        })
    );
    let tok = token(&emu, USER, POSTING);
    let start_secs = emu.admin().now_ms() / 1000;
    for (i, left) in [(1, 1), (2, 0)] {
        let resp = post_tweet(&emu, &tok, &format!("post {i}")).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(header_u64(&resp, "x-user-limit-24hour-limit"), 2);
        assert_eq!(header_u64(&resp, "x-user-limit-24hour-remaining"), left);
    }
    let resp = post_tweet(&emu, &tok, "post 3").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header_u64(&resp, "x-user-limit-24hour-remaining"), 0);
    let day_reset = header_u64(&resp, "x-user-limit-24hour-reset");
    assert!((start_secs + 86_400..=start_secs + 86_401).contains(&day_reset));
    assert_eq!(header_u64(&resp, "x-app-limit-24hour-remaining"), 9_998);
    // The 15-minute window: three requests counted, reset 900 s out.
    assert_eq!(header_u64(&resp, "x-rate-limit-limit"), 100);
    assert_eq!(header_u64(&resp, "x-rate-limit-remaining"), 97);
    let window_reset = header_u64(&resp, "x-rate-limit-reset");
    assert!((start_secs + 900..=start_secs + 901).contains(&window_reset));
    assert_eq!(
        json_of(resp).await,
        json!({"title":"Too Many Requests","type":"about:blank","status":429,"detail":"Too Many Requests"})
    );
    assert_eq!(emu.admin().records().tweets.len(), 2);

    // A new 15-minute window does not lift the 24-hour cap.
    emu.admin().advance_clock(Duration::from_secs(901));
    let resp = post_tweet(&emu, &tok, "post 4").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header_u64(&resp, "x-user-limit-24hour-reset"), day_reset);
    assert_eq!(header_u64(&resp, "x-rate-limit-remaining"), 99);
    // Another user has an allowance of their own.
    let other = token(&emu, OTHER_USER, POSTING);
    assert_eq!(
        post_tweet(&emu, &other, "theirs").await.status(),
        StatusCode::CREATED
    );

    // The 24-hour reset passes on the emulator clock.
    emu.admin().advance_clock(Duration::from_secs(86_400));
    let tok = token(&emu, USER, POSTING);
    let resp = post_tweet(&emu, &tok, "next day").await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(header_u64(&resp, "x-user-limit-24hour-remaining"), 1);
}

/// A per-app 24 h cap is shared by every user of the app (DOCS
/// rate-limits.mdx "Per App" column): the second user meets the 429.
#[tokio::test]
async fn app_24h_cap_is_shared_by_users_docs_rate_limits() {
    let emu = start(EmulatorConfig::default()).await;
    emu.admin().update_config(|c| {
        c.daily_limits.insert(
            "media_initialize".into(),
            DailyLimit {
                app: Some(1),
                user: None,
                window_secs: 86_400,
            },
        );
    });
    let a = token(&emu, USER, POSTING);
    let b = token(&emu, OTHER_USER, POSTING);
    let body = json!({"media_type":"video/mp4","total_bytes":10});
    let resp = init(&emu, &a, body.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header_u64(&resp, "x-app-limit-24hour-remaining"), 0);
    let resp = init(&emu, &b, body).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header_u64(&resp, "x-app-limit-24hour-limit"), 1);
    assert_eq!(header_u64(&resp, "x-app-limit-24hour-remaining"), 0);
    assert_eq!(header_u64(&resp, "x-rate-limit-limit"), 1875);
}

/// FINALIZE body rules (research Corrections 2026-11-30): no body is
/// accepted (PLH sends none); `{}` as JSON is accepted (trypostit/trypost
/// #202); an empty body declared JSON is "Request body is not valid JSON."
/// (sferik/x-ruby #71); `[]` is "Request body must be a JSON object.".
#[tokio::test]
async fn finalize_body_rules_x_ruby_71_trypost_202() {
    let emu = start(EmulatorConfig::default()).await;
    let tok = token(&emu, USER, POSTING);
    let invalid = |message: &str| {
        json!({
            "errors": [{"message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        })
    };
    let id = appended_video(&emu, &tok).await;
    for (ct, body, message) in [
        (
            Some("application/json"),
            "",
            "Request body is not valid JSON.",
        ),
        (
            Some("application/json"),
            "[]",
            "Request body must be a JSON object.",
        ),
        (
            Some("application/json"),
            "\"x\"",
            "Request body must be a JSON object.",
        ),
        (
            Some("application/json"),
            "{",
            "Request body is not valid JSON.",
        ),
        (
            Some("text/plain"),
            "{}",
            "Requests with bodies must have content-type of application/json.",
        ),
    ] {
        let resp = finalize_with(&emu, &tok, &id, ct, body).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(json_of(resp).await, invalid(message), "{body:?}");
    }
    // Chosen: a field in the object is rejected (the OAS defines none).
    let resp = finalize_with(
        &emu,
        &tok,
        &id,
        Some("application/json"),
        "{\"media_id\":\"1\"}",
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v = json_of(resp).await;
    assert_eq!(
        v["errors"][0]["message"],
        "$.media_id: is not defined in the schema and the schema does not allow additional properties"
    );
    // The rejected attempts left the upload intact: `{}` finalizes it.
    let resp = finalize_with(&emu, &tok, &id, Some("application/json"), "{}").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json_of(resp).await["data"]["id"], id.as_str());

    // No body and no content type, as PLH sends it.
    let id = appended_video(&emu, &tok).await;
    let resp = finalize_with(&emu, &tok, &id, None, "").await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// STATUS of media that needs no processing (FINALIZE gave no
/// processing_info, an image): xdevplatform/xurl#18 recorded
/// `{"errors":[{"message":"BadRequest: Not found"}],"title":"Invalid
/// Request","detail":"One or more parameters to your request was
/// invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}`.
#[tokio::test]
async fn status_of_image_is_bad_request_not_found_xurl_18() {
    let emu = start(EmulatorConfig::default()).await;
    let tok = token(&emu, USER, POSTING);
    let id = init_ok(&emu, &tok, "image/jpeg", "tweet_image", 4).await;
    assert_eq!(
        append(&emu, &tok, &id, 0, vec![0xff, 0xd8, 0xff, 0xd9])
            .await
            .status(),
        StatusCode::OK
    );
    let resp = finalize_with(&emu, &tok, &id, None, "").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(json_of(resp).await["data"].get("processing_info").is_none());

    let resp = status(&emu, &tok, &id).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        header_str(&resp, "content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(
        json_of(resp).await,
        json!({
            "errors": [{"message": "BadRequest: Not found"}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        })
    );
    // The image is still attachable: nothing needed processing.
    let resp = http()
        .post(format!("{}/2/tweets", emu.base_url))
        .bearer_auth(&tok)
        .json(&json!({"text": "pic", "media": {"media_ids": [id]}}))
        .send()
        .await
        .expect("tweet");
    assert_eq!(resp.status(), StatusCode::CREATED);
}

/// APPEND's answer: the OAS's 200 `{"data":{"expires_at"}}` by default;
/// `append_answer: "v1_204"` gives v1.1's 204 with no body (tweepy cassette
/// testmediauploadmp4.yaml) so clients can be tested against both.
#[tokio::test]
async fn append_answer_v2_by_default_or_v1_204_oas_and_tweepy_cassette() {
    let emu = start(EmulatorConfig::default()).await;
    let tok = token(&emu, USER, POSTING);
    let mp4 = tiny_mp4(300);
    let id = init_ok(&emu, &tok, "video/mp4", "tweet_video", mp4.len()).await;
    let resp = append(&emu, &tok, &id, 0, mp4[..100].to_vec()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json_of(resp).await;
    assert!(v["data"]["expires_at"].as_u64().is_some(), "{v}");

    patch_config(&emu, json!({"append_answer": "v1_204"})).await;
    assert_eq!(emu.admin().config().append_answer, AppendAnswer::V1_204);
    let resp = append(&emu, &tok, &id, 1, mp4[100..].to_vec()).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(header_str(&resp, "x-rate-limit-limit").is_some());
    assert!(resp.bytes().await.expect("body").is_empty());
    // The segment was stored all the same.
    let resp = finalize_with(&emu, &tok, &id, None, "").await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// A spent refresh token answers 400 "Value passed for the token was
/// invalid." (research §1); presenting it again also revokes every token of
/// its grant by default (`spent_refresh_reuse_revokes_grant`, chosen:
/// community reports only, UNCONFIRMED at X).
#[tokio::test]
async fn spent_refresh_reuse_revokes_the_grant_chosen() {
    let emu = start(EmulatorConfig::default()).await;
    let scopes = ["tweet.read", "users.read", "offline.access"];
    let first = mint(&emu, USER, &scopes);
    // Another grant of the same user (another device) is not touched.
    let elsewhere = mint(&emu, USER, &scopes);
    let old_refresh = first.refresh_token.expect("refresh token");
    let resp = refresh(&emu, &old_refresh).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let second = json_of(resp).await;
    let new_access = second["access_token"].as_str().expect("access").to_string();
    let new_refresh = second["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    assert_eq!(me(&emu, &new_access).await.status(), StatusCode::OK);

    let resp = refresh(&emu, &old_refresh).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(resp).await,
        json!({"error":"invalid_request","error_description":"Value passed for the token was invalid."})
    );
    // The whole grant is gone: the new access and refresh tokens too.
    assert_eq!(
        me(&emu, &new_access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&emu, &new_refresh).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        me(&emu, &elsewhere.access_token).await.status(),
        StatusCode::OK
    );
    let events: Vec<String> = emu
        .admin()
        .records()
        .tokens
        .iter()
        .map(|t| t.event.clone())
        .collect();
    assert_eq!(events, ["issued", "issued", "refreshed", "grant_revoked"]);
}

/// With `spent_refresh_reuse_revokes_grant: false` the spent token still
/// answers 400 but the rotated pair keeps working.
#[tokio::test]
async fn spent_refresh_reuse_only_400_when_revocation_is_off() {
    let emu = start(EmulatorConfig::default()).await;
    patch_config(&emu, json!({"spent_refresh_reuse_revokes_grant": false})).await;
    let first = mint(&emu, USER, &["tweet.read", "users.read", "offline.access"]);
    let old_refresh = first.refresh_token.expect("refresh token");
    let second = json_of(refresh(&emu, &old_refresh).await).await;
    assert_eq!(
        refresh(&emu, &old_refresh).await.status(),
        StatusCode::BAD_REQUEST
    );
    let new_access = second["access_token"].as_str().expect("access");
    assert_eq!(me(&emu, new_access).await.status(), StatusCode::OK);
    let new_refresh = second["refresh_token"].as_str().expect("refresh");
    assert_eq!(refresh(&emu, new_refresh).await.status(), StatusCode::OK);
}

/// FINALIZE of an image carries `image {image_type, w, h}` and no
/// processing_info (xdevplatform/xurl#18, sferik/x-ruby#54); a video's
/// pending processing_info has no progress_percent
/// (xdevplatform/large-video-upload-python#14).
#[tokio::test]
async fn finalize_shapes_image_and_pending_xurl_18_large_video_upload_14() {
    let emu = start(EmulatorConfig::default()).await;
    let tok = token(&emu, USER, POSTING);
    // A PNG header declaring 640x480.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend_from_slice(&640u32.to_be_bytes());
    png.extend_from_slice(&480u32.to_be_bytes());
    png.extend_from_slice(&[8, 6, 0, 0, 0]);
    let id = init_ok(&emu, &tok, "image/png", "tweet_image", png.len()).await;
    assert_eq!(
        append(&emu, &tok, &id, 0, png).await.status(),
        StatusCode::OK
    );
    let data = json_of(finalize_with(&emu, &tok, &id, None, "").await).await["data"].clone();
    assert_eq!(
        data["image"],
        json!({"image_type": "image/png", "w": 640, "h": 480})
    );
    assert!(data.get("processing_info").is_none());

    let id = appended_video(&emu, &tok).await;
    let data = json_of(finalize_with(&emu, &tok, &id, None, "").await).await["data"].clone();
    assert_eq!(
        data["processing_info"],
        json!({"state": "pending", "check_after_secs": 1})
    );
}

/// A fields value outside X's enums is X's recorded 400 "The `…` query
/// parameter value [...] is not one of [...]" (research §7); Tweet-era
/// names stay accepted beside the OAS v2.167 ones (chosen).
#[tokio::test]
async fn unknown_fields_values_are_400_is_not_one_of() {
    let emu = start(EmulatorConfig::default()).await;
    let tok = token(&emu, USER, POSTING);
    let get = |path: String| {
        let tok = tok.clone();
        async move { http().get(path).bearer_auth(tok).send().await.expect("get") }
    };
    let base = &emu.base_url;
    let resp = get(format!("{base}/2/users/me?user.fields=bogus")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v = json_of(resp).await;
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("The `user.fields` query parameter value [bogus] is not one of ["),
        "{v}"
    );
    let resp = get(format!("{base}/2/users/{USER}/tweets?tweet.fields=bogus")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    for ok in [
        format!("{base}/2/users/me?user.fields=created_at,pinned_tweet_id&expansions=pinned_post_id"),
        format!("{base}/2/users/{USER}/tweets?tweet.fields=created_at,author_id&post.fields=edit_history_tweet_ids&expansions=attachments.media_keys&media.fields=type"),
    ] {
        assert_eq!(get(ok.clone()).await.status(), StatusCode::OK, "{ok}");
    }
}
