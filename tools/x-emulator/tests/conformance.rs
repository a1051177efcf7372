//! Conformance tests: every exchange recorded in research/x-api.md and
//! every limit and error path, against a real server on 127.0.0.1:0.
//! Time moves only through the emulator's admin clock: no sleeps.

use std::time::Duration;

use base64::Engine as _;
use reqwest::{header, Client, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use x_emulator::testing::tiny_mp4;
use x_emulator::{
    ConsentDecision, Emulator, EmulatorConfig, FaultSpec, MintRequest, ProcessingMode,
};

const REDIRECT: &str = "http://127.0.0.1:3000/api/auth/platforms/twitter/callback";
const PUBLIC: &str = "reelay-public";
const CONFIDENTIAL: &str = "reelay-confidential";
const SECRET: &str = "reelay-secret";
const USER: &str = "1072250532645998596";
const OTHER_USER: &str = "1456012973835788293";
const ALL_SCOPES: &str = "tweet.read tweet.write users.read offline.access media.write";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier";

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

async fn start_default() -> Emulator {
    start(EmulatorConfig::default()).await
}

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_url(emu: &Emulator, client_id: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{}/i/oauth2/authorize", emu.base_url)).expect("url");
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", scope)
            .append_pair("state", "st-123")
            .append_pair("code_challenge", &challenge(VERIFIER))
            .append_pair("code_challenge_method", "S256");
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

/// Replaces one query parameter of an authorize URL.
fn with_param(url: &str, key: &str, value: Option<&str>) -> String {
    let mut u = url::Url::parse(url).expect("url");
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != key)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        if let Some(v) = value {
            q.append_pair(key, v);
        }
    }
    u.to_string()
}

fn location_params(resp: &Response) -> std::collections::HashMap<String, String> {
    let loc = resp
        .headers()
        .get(header::LOCATION)
        .expect("Location header")
        .to_str()
        .expect("ascii");
    assert!(
        loc.starts_with(REDIRECT),
        "redirects to the registered URI: {loc}"
    );
    url::Url::parse(loc)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn get_code(emu: &Emulator, client_id: &str, scope: &str) -> String {
    let resp = http()
        .get(authorize_url(emu, client_id, scope, &[]))
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let p = location_params(&resp);
    assert_eq!(p.get("state").map(String::as_str), Some("st-123"));
    p.get("code").expect("code").clone()
}

async fn exchange(emu: &Emulator, form: &[(&str, &str)]) -> Response {
    http()
        .post(format!("{}/2/oauth2/token", emu.base_url))
        .form(form)
        .send()
        .await
        .expect("token call")
}

async fn json_of(resp: Response) -> Value {
    resp.json().await.expect("json body")
}

/// Full public-client login; returns the token response.
async fn login(emu: &Emulator, scope: &str) -> Value {
    let code = get_code(emu, PUBLIC, scope).await;
    let resp = exchange(
        emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", PUBLIC),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    json_of(resp).await
}

fn mint(emu: &Emulator, user: &str, scopes: &str) -> String {
    emu.admin()
        .mint_token(&MintRequest {
            user_id: user.into(),
            scopes: scopes.split(' ').map(String::from).collect(),
            client_id: None,
        })
        .expect("mint")
        .access_token
}

fn bad_code_body() -> Value {
    json!({"error":"invalid_request","error_description":"Value passed for the authorization code was invalid.","errors":[{"message":"Value passed for the authorization code was invalid."}]})
}

fn unauthorized_body() -> Value {
    json!({"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"})
}

// ---------- media helpers ----------

async fn init(emu: &Emulator, tok: &str, body: Value) -> Response {
    http()
        .post(format!("{}/2/media/upload/initialize", emu.base_url))
        .bearer_auth(tok)
        .json(&body)
        .send()
        .await
        .expect("init")
}

async fn init_ok(emu: &Emulator, tok: &str, total: usize, category: &str) -> String {
    let resp = init(
        emu,
        tok,
        json!({"media_type":"video/mp4","total_bytes":total,"media_category":category}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json_of(resp).await;
    v["data"]["id"].as_str().expect("id").to_string()
}

async fn append(emu: &Emulator, tok: &str, id: &str, index: &str, data: Vec<u8>) -> Response {
    let form = reqwest::multipart::Form::new()
        .text("segment_index", index.to_string())
        .part(
            "media",
            reqwest::multipart::Part::bytes(data).file_name("blob"),
        );
    http()
        .post(format!("{}/2/media/upload/{id}/append", emu.base_url))
        .bearer_auth(tok)
        .multipart(form)
        .send()
        .await
        .expect("append")
}

async fn finalize(emu: &Emulator, tok: &str, id: &str) -> Response {
    http()
        .post(format!("{}/2/media/upload/{id}/finalize", emu.base_url))
        .bearer_auth(tok)
        .send()
        .await
        .expect("finalize")
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

/// INIT + APPEND in `chunk` pieces + FINALIZE; returns id and FINALIZE body.
async fn upload(emu: &Emulator, tok: &str, bytes: &[u8], chunk: usize) -> (String, Value) {
    let id = init_ok(emu, tok, bytes.len(), "tweet_video").await;
    for (i, c) in bytes.chunks(chunk).enumerate() {
        let r = append(emu, tok, &id, &i.to_string(), c.to_vec()).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = finalize(emu, tok, &id).await;
    assert_eq!(r.status(), StatusCode::OK);
    (id, json_of(r).await)
}

async fn poll_until_done(emu: &Emulator, tok: &str, id: &str) -> Value {
    for _ in 0..20 {
        let v = json_of(status(emu, tok, id).await).await;
        let state = v["data"]["processing_info"]["state"].as_str().unwrap_or("");
        if state == "succeeded" || state == "failed" {
            return v;
        }
    }
    panic!("processing did not finish within 20 polls");
}

async fn tweet(emu: &Emulator, tok: &str, body: Value) -> Response {
    http()
        .post(format!("{}/2/tweets", emu.base_url))
        .bearer_auth(tok)
        .json(&body)
        .send()
        .await
        .expect("tweet")
}

fn rate_headers(resp: &Response) -> (u64, u64, u64) {
    let h = |n: &str| -> u64 {
        resp.headers()
            .get(n)
            .unwrap_or_else(|| panic!("{n} header"))
            .to_str()
            .expect("ascii")
            .parse()
            .expect("number")
    };
    (
        h("x-rate-limit-limit"),
        h("x-rate-limit-remaining"),
        h("x-rate-limit-reset"),
    )
}

async fn admin_post(emu: &Emulator, path: &str, body: Value) -> Response {
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

// ====================== OAuth ======================

#[tokio::test]
async fn oauth_public_client_login_and_users_me() {
    let emu = start_default().await;
    let tokens = login(&emu, ALL_SCOPES).await;
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 7200);
    assert_eq!(tokens["scope"], ALL_SCOPES);
    assert!(tokens["access_token"]
        .as_str()
        .is_some_and(|s| s.len() > 20));
    assert!(
        tokens["refresh_token"].is_string(),
        "offline.access gives a refresh token"
    );

    // Recorded shape (research §2, TWP test_client_get_me.yaml).
    let resp = http()
        .get(format!("{}/2/users/me", emu.base_url))
        .bearer_auth(tokens["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("me");
    assert_eq!(resp.status(), StatusCode::OK);
    let (limit, remaining, reset) = rate_headers(&resp);
    assert_eq!((limit, remaining), (75, 74));
    assert!(reset > emu.admin().now_ms() / 1000);
    assert_eq!(
        json_of(resp).await,
        json!({"data":{"id":USER,"name":"Reelay Tester","username":"ReelayTester"}})
    );

    // Token records hold ids, never raw tokens.
    let records = serde_json::to_string(&emu.admin().records()).expect("json");
    assert!(!records.contains(tokens["access_token"].as_str().unwrap_or("x")));
    assert!(!records.contains(tokens["refresh_token"].as_str().unwrap_or("x")));
}

#[tokio::test]
async fn oauth_no_refresh_token_without_offline_access() {
    let emu = start_default().await;
    let tokens = login(&emu, "tweet.read users.read").await;
    assert!(tokens.get("refresh_token").is_none());
    assert_eq!(tokens["scope"], "tweet.read users.read");
}

#[tokio::test]
async fn authorize_client_and_redirect_errors_do_not_redirect() {
    let emu = start_default().await;
    let good = authorize_url(&emu, PUBLIC, ALL_SCOPES, &[]);
    for url in [
        with_param(&good, "client_id", Some("nobody")),
        with_param(&good, "client_id", None),
        with_param(&good, "redirect_uri", Some("http://127.0.0.1:3000/evil")),
        with_param(&good, "redirect_uri", None),
    ] {
        let resp = http().get(&url).send().await.expect("authorize");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{url}");
        assert!(resp.headers().get(header::LOCATION).is_none());
        assert_eq!(json_of(resp).await["error"], "invalid_request");
    }
}

#[tokio::test]
async fn authorize_other_errors_redirect_with_error() {
    let emu = start_default().await;
    let good = authorize_url(&emu, PUBLIC, ALL_SCOPES, &[]);
    let long_state = "s".repeat(501);
    let cases = [
        (
            with_param(&good, "response_type", Some("token")),
            "unsupported_response_type",
        ),
        (with_param(&good, "state", None), "invalid_request"),
        (
            with_param(&good, "state", Some(&long_state)),
            "invalid_request",
        ),
        (
            with_param(&good, "scope", Some("tweet.read not.a.scope")),
            "invalid_scope",
        ),
        (with_param(&good, "code_challenge", None), "invalid_request"),
        (
            with_param(&good, "code_challenge_method", Some("S512")),
            "invalid_request",
        ),
    ];
    for (url, error) in cases {
        let resp = http().get(&url).send().await.expect("authorize");
        assert_eq!(resp.status(), StatusCode::FOUND, "{url}");
        let p = location_params(&resp);
        assert_eq!(p.get("error").map(String::as_str), Some(error), "{url}");
        assert!(!p.contains_key("code"));
    }
    // 500 characters is still fine; lowercase s256 (as PLH sends) is accepted.
    let ok = with_param(&good, "state", Some(&"s".repeat(500)));
    let ok = with_param(&ok, "code_challenge_method", Some("s256"));
    let resp = http().get(&ok).send().await.expect("authorize");
    assert!(location_params(&resp).contains_key("code"));
}

#[tokio::test]
async fn consent_deny_and_scope_subset_and_user_choice() {
    let emu = start_default().await;
    let admin = emu.admin();
    admin.push_consent(ConsentDecision {
        action: x_emulator::ConsentAction::Deny,
        user_id: None,
        scopes: None,
        count: 1,
    });
    let resp = http()
        .get(authorize_url(&emu, PUBLIC, ALL_SCOPES, &[]))
        .send()
        .await
        .expect("authorize");
    let p = location_params(&resp);
    assert_eq!(p.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(p.get("state").map(String::as_str), Some("st-123"));

    // Over HTTP admin: approve as the other user without media.write.
    let r = admin_post(
        &emu,
        "consent",
        json!({"user_id": OTHER_USER, "scopes": ["tweet.read","tweet.write","users.read","offline.access"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens = login(&emu, ALL_SCOPES).await;
    assert_eq!(
        tokens["scope"],
        "tweet.read tweet.write users.read offline.access"
    );
    let tok = tokens["access_token"].as_str().unwrap_or_default();
    let me = json_of(
        http()
            .get(format!("{}/2/users/me", emu.base_url))
            .bearer_auth(tok)
            .send()
            .await
            .expect("me"),
    )
    .await;
    assert_eq!(me["data"]["id"], OTHER_USER);

    // Missing media.write: 403 (research §1, PR #25), X's generic body and
    // no rate-limit headers (PLH#588; tests/fidelity.rs has the details).
    let resp = init(
        &emu,
        tok,
        json!({"media_type":"video/mp4","total_bytes":10}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("x-rate-limit-limit").is_none());
    let body = json_of(resp).await;
    assert_eq!(
        body,
        json!({"title":"Forbidden","type":"about:blank","status":403,"detail":"Forbidden"})
    );
    // The granted scopes, not the body, say what is missing.
    assert!(!tokens["scope"]
        .as_str()
        .unwrap_or("")
        .split(' ')
        .any(|s| s == "media.write"));

    // Per-request override needs no admin state.
    let url = authorize_url(&emu, PUBLIC, ALL_SCOPES, &[("x_emulator_consent", "deny")]);
    let resp = http().get(url).send().await.expect("authorize");
    assert_eq!(
        location_params(&resp).get("error").map(String::as_str),
        Some("access_denied")
    );
}

#[tokio::test]
async fn token_pkce_mismatch_reuse_and_expiry() {
    let emu = start_default().await;
    // PKCE mismatch.
    let code = get_code(&emu, PUBLIC, ALL_SCOPES).await;
    let form = |code: &str, verifier: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", REDIRECT.to_string()),
            ("code_verifier", verifier.to_string()),
            ("client_id", PUBLIC.to_string()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let url = format!("{}/2/oauth2/token", emu.base_url);
        async move { http().post(url).form(&f).send().await.expect("token") }
    };
    let resp = send(form(&code, "wrong-verifier-wrong-verifier-wrong-verifier")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(resp).await, bad_code_body());
    // The failed attempt used the code up.
    let resp = send(form(&code, VERIFIER)).await;
    assert_eq!(json_of(resp).await, bad_code_body());

    // Reuse after success.
    let code = get_code(&emu, PUBLIC, ALL_SCOPES).await;
    assert_eq!(send(form(&code, VERIFIER)).await.status(), StatusCode::OK);
    let resp = send(form(&code, VERIFIER)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(resp).await, bad_code_body());

    // Expiry: 30 s (research §1), driven by the admin clock.
    let code = get_code(&emu, PUBLIC, ALL_SCOPES).await;
    emu.admin().advance_clock(Duration::from_secs(30));
    let resp = send(form(&code, VERIFIER)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(resp).await, bad_code_body());
    // 29 s is still inside the window.
    let code = get_code(&emu, PUBLIC, ALL_SCOPES).await;
    emu.admin().advance_clock(Duration::from_secs(29));
    assert_eq!(send(form(&code, VERIFIER)).await.status(), StatusCode::OK);

    // redirect_uri must match the one used at authorize.
    let code = get_code(&emu, PUBLIC, ALL_SCOPES).await;
    let mut f = form(&code, VERIFIER);
    f[2].1 = "http://127.0.0.1:3000/other".into();
    assert_eq!(json_of(send(f).await).await, bad_code_body());

    // Plain PKCE as in X's doc example.
    let url = authorize_url(&emu, PUBLIC, ALL_SCOPES, &[]);
    let url = with_param(&url, "code_challenge", Some("challenge"));
    let url = with_param(&url, "code_challenge_method", Some("plain"));
    let resp = http().get(url).send().await.expect("authorize");
    let code = location_params(&resp)
        .get("code")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        send(form(&code, "challenge")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn token_endpoint_form_and_grant_errors() {
    let emu = start_default().await;
    let resp = http()
        .post(format!("{}/2/oauth2/token", emu.base_url))
        .json(&json!({"grant_type":"authorization_code"}))
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(resp).await["error"], "invalid_request");

    let resp = exchange(
        &emu,
        &[("grant_type", "client_credentials"), ("client_id", PUBLIC)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(resp).await["error"], "unsupported_grant_type");

    let resp = exchange(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", PUBLIC),
            ("code", "x"),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        json_of(resp).await,
        json!({"error":"invalid_request","error_description":"Missing required parameter [code_verifier]."})
    );
}

#[tokio::test]
async fn confidential_client_needs_basic_auth() {
    let emu = start_default().await;
    let code = get_code(&emu, CONFIDENTIAL, ALL_SCOPES).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", CONFIDENTIAL),
    ];
    // research §1: 401 unauthorized_client without the Basic header.
    let resp = exchange(&emu, &form).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        json_of(resp).await,
        json!({"error":"unauthorized_client","error_description":"Missing valid authorization header"})
    );
    let resp = http()
        .post(format!("{}/2/oauth2/token", emu.base_url))
        .basic_auth(CONFIDENTIAL, Some("wrong"))
        .form(&form)
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = http()
        .post(format!("{}/2/oauth2/token", emu.base_url))
        .basic_auth(CONFIDENTIAL, Some(SECRET))
        .form(&form[..4])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens = json_of(resp).await;
    let refresh = tokens["refresh_token"].as_str().unwrap_or_default();

    // Refresh without Basic: the failure of PLH#319.
    let resp = exchange(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", CONFIDENTIAL),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = http()
        .post(format!("{}/2/oauth2/token", emu.base_url))
        .basic_auth(CONFIDENTIAL, Some(SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .expect("refresh");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_rotates_and_old_tokens_die() {
    let emu = start_default().await;
    let first = login(&emu, ALL_SCOPES).await;
    let old_refresh = first["refresh_token"].as_str().unwrap_or_default();
    let old_access = first["access_token"].as_str().unwrap_or_default();
    let refresh = |rt: String| {
        let url = format!("{}/2/oauth2/token", emu.base_url);
        async move {
            http()
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                    ("client_id", PUBLIC),
                ])
                .send()
                .await
                .expect("refresh")
        }
    };
    let resp = refresh(old_refresh.to_string()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let second = json_of(resp).await;
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["scope"], ALL_SCOPES);

    // The spent refresh token (research §1).
    let resp = refresh(old_refresh.to_string()).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(resp).await,
        json!({"error":"invalid_request","error_description":"Value passed for the token was invalid."})
    );
    // Stricter default: the old access token died with the rotation.
    let resp = http()
        .get(format!("{}/2/users/me", emu.base_url))
        .bearer_auth(old_access)
        .send()
        .await
        .expect("me");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(resp).await, unauthorized_body());

    let events: Vec<String> = emu
        .admin()
        .records()
        .tokens
        .iter()
        .map(|t| t.event.clone())
        .collect();
    // Presenting the spent token again revoked its grant (the default
    // `spent_refresh_reuse_revokes_grant`, tests/fidelity.rs).
    assert_eq!(events, ["issued", "refreshed", "grant_revoked"]);
}

#[tokio::test]
async fn revoke_and_expiry_give_401() {
    let emu = start_default().await;
    let tokens = login(&emu, ALL_SCOPES).await;
    let access = tokens["access_token"].as_str().unwrap_or_default();
    let me = |tok: String| {
        let url = format!("{}/2/users/me", emu.base_url);
        async move { http().get(url).bearer_auth(tok).send().await.expect("me") }
    };
    assert_eq!(me(access.into()).await.status(), StatusCode::OK);
    let resp = http()
        .post(format!("{}/2/oauth2/revoke", emu.base_url))
        .form(&[
            ("token", access),
            ("token_type_hint", "access_token"),
            ("client_id", PUBLIC),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json_of(resp).await, json!({"revoked": true}));
    let resp = me(access.into()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get("x-rate-limit-limit").is_none());
    assert_eq!(json_of(resp).await, unauthorized_body());

    // Two-hour lifetime on the admin clock.
    let tok = mint(&emu, USER, "tweet.read users.read");
    emu.admin().advance_clock(Duration::from_secs(7199));
    assert_eq!(me(tok.clone()).await.status(), StatusCode::OK);
    emu.admin().advance_clock(Duration::from_secs(1));
    assert_eq!(me(tok).await.status(), StatusCode::UNAUTHORIZED);

    // No token at all.
    let resp = http()
        .get(format!("{}/2/users/me", emu.base_url))
        .send()
        .await
        .expect("me");
    assert_eq!(json_of(resp).await, unauthorized_body());

    // Admin revokes every token of a user.
    let tok = mint(&emu, USER, "tweet.read users.read");
    let r = admin_post(&emu, &format!("users/{USER}/revoke_tokens"), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(me(tok).await.status(), StatusCode::UNAUTHORIZED);
}

// ====================== media ======================

#[tokio::test]
async fn init_validation() {
    let emu = start_default().await;
    let tok = mint(&emu, USER, "media.write");
    // Recorded body for a non-JSON body (PLH#591).
    let resp = http()
        .post(format!("{}/2/media/upload/initialize", emu.base_url))
        .bearer_auth(&tok)
        .form(&[("media_type", "video/mp4"), ("total_bytes", "10")])
        .send()
        .await
        .expect("init");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert_eq!(
        json_of(resp).await,
        json!({"errors":[{"message":"Requests with bodies must have content-type of application/json."}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"})
    );

    let cases = [
        (
            json!({"media_type":"video/mp4","total_bytes":10,"command":"INIT"}),
            "command",
        ),
        (
            json!({"media_type":"video/avi","total_bytes":10}),
            "media_type",
        ),
        (
            json!({"media_type":"video/mp4","total_bytes":10,"media_category":"video"}),
            "media_category",
        ),
        (
            json!({"media_type":"video/mp4","total_bytes":17_179_869_185u64}),
            "total_bytes",
        ),
        (
            json!({"media_type":"video/mp4","total_bytes":-1}),
            "total_bytes",
        ),
        (
            json!({"media_type":"video/mp4","total_bytes":"10"}),
            "total_bytes",
        ),
        (json!({"total_bytes":10}), "media_type"),
        (
            json!({"media_type":"image/png","total_bytes":10,"media_category":"tweet_video"}),
            "media_category",
        ),
        (
            json!({"media_type":"video/mp4","total_bytes":536_870_913u64,"media_category":"amplify_video"}),
            "total_bytes",
        ),
        (
            json!({"media_type":"video/mp4","total_bytes":20_000_000,"media_category":"tweet_video"}),
            "total_bytes",
        ),
        (
            json!({"media_type":"image/png","total_bytes":6_000_000}),
            "total_bytes",
        ),
    ];
    for (body, field) in cases {
        let resp = init(&emu, &tok, body.clone()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let v = json_of(resp).await;
        assert_eq!(v["title"], "Invalid Request", "{body}");
        let msg = v["errors"][0].to_string();
        assert!(msg.contains(field), "{body} -> {msg}");
    }

    // amplify_video: 13_ key and the documented 1295999 s (research §3a).
    let resp = init(&emu, &tok, json!({"media_type":"video/mp4","total_bytes":536_870_912u64,"media_category":"amplify_video"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json_of(resp).await;
    let id = v["data"]["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(id.len(), 19);
    assert_eq!(v["data"]["media_key"], format!("13_{id}"));
    assert_eq!(v["data"]["expires_after_secs"], 1_295_999);
    // tweet_video: 7_ and 86400; null category as twapi-v2 sends it.
    let v = json_of(init(&emu, &tok, json!({"media_type":"video/mp4","total_bytes":100,"media_category":null,"additional_owners":[]})).await).await;
    let id = v["data"]["id"].as_str().unwrap_or_default();
    assert_eq!(v["data"]["media_key"], format!("7_{id}"));
    assert_eq!(v["data"]["expires_after_secs"], 86_400);
}

#[tokio::test]
async fn append_validation() {
    let emu = start(EmulatorConfig {
        max_segment_bytes: 1024,
        ..Default::default()
    })
    .await;
    let tok = mint(&emu, USER, "media.write");
    let id = init_ok(&emu, &tok, 4096, "tweet_video").await;

    let resp = append(&emu, &tok, &id, "1000", vec![1; 10]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(resp).await["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("maximum value of 999"));
    assert_eq!(
        append(&emu, &tok, &id, "-1", vec![1; 10]).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        append(&emu, &tok, &id, "one", vec![1; 10]).await.status(),
        StatusCode::BAD_REQUEST
    );

    let resp = append(&emu, &tok, &id, "0", vec![1; 1025]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(resp).await["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("maximum segment size"));

    let resp = append(&emu, &tok, "abc", "0", vec![1; 10]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = append(&emu, &tok, "12345678901234567890", "0", vec![1; 10]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = append(&emu, &tok, "1234", "0", vec![1; 10]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(resp).await["type"]
        .as_str()
        .unwrap_or("")
        .ends_with("resource-not-found"));

    let resp = append(&emu, &tok, &id, "0", vec![1; 1024]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json_of(resp).await;
    assert!(v["data"]["expires_at"].as_u64().unwrap_or(0) > emu.admin().now_ms() / 1000);

    // JSON with base64 media, as the OAS allows.
    let resp = http()
        .post(format!("{}/2/media/upload/{id}/append", emu.base_url))
        .bearer_auth(&tok)
        .json(&json!({"segment_index": 1, "media": base64::engine::general_purpose::STANDARD.encode([2u8; 1000])}))
        .send()
        .await
        .expect("append json");
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = http()
        .post(format!("{}/2/media/upload/{id}/append", emu.base_url))
        .bearer_auth(&tok)
        .json(&json!({"segment_index": 2, "media": "AAAA", "media_id": id}))
        .send()
        .await
        .expect("append json");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Another user's token sees nothing.
    let other = mint(&emu, OTHER_USER, "media.write");
    let resp = append(&emu, &other, &id, "2", vec![1; 10]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(resp).await["type"]
        .as_str()
        .unwrap_or("")
        .ends_with("resource-not-found"));
    assert_eq!(
        status(&emu, &other, &id).await.status(),
        StatusCode::BAD_REQUEST
    );

    // Re-sending an index replaces it; the record keeps both attempts.
    assert_eq!(
        append(&emu, &tok, &id, "1", vec![3; 900]).await.status(),
        StatusCode::OK
    );
    let rec = emu
        .admin()
        .records()
        .media
        .into_iter()
        .find(|m| m.id == id)
        .expect("record");
    assert_eq!(rec.received_bytes, 1924);
    assert_eq!(rec.appends.len(), 3);
    assert_eq!(
        rec.segments
            .iter()
            .map(|s| (s.index, s.length))
            .collect::<Vec<_>>(),
        [(0, 1024), (1, 900)]
    );
}

#[tokio::test]
async fn finalize_gap_mismatch_twice_and_expiry() {
    let emu = start_default().await;
    let tok = mint(&emu, USER, "media.write");
    let mp4 = tiny_mp4(3000);
    let id = init_ok(&emu, &tok, mp4.len(), "tweet_video").await;
    assert_eq!(
        append(&emu, &tok, &id, "0", mp4[..1000].to_vec())
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        append(&emu, &tok, &id, "2", mp4[2000..].to_vec())
            .await
            .status(),
        StatusCode::OK
    );
    let resp = finalize(&emu, &tok, &id).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v = json_of(resp).await;
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Segment [1] is missing"),
        "{v}"
    );

    // Fill the gap short: byte total mismatch.
    assert_eq!(
        append(&emu, &tok, &id, "1", mp4[1000..1500].to_vec())
            .await
            .status(),
        StatusCode::OK
    );
    let resp = finalize(&emu, &tok, &id).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v = json_of(resp).await;
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("total_bytes"),
        "{v}"
    );

    assert_eq!(
        append(&emu, &tok, &id, "1", mp4[1000..2000].to_vec())
            .await
            .status(),
        StatusCode::OK
    );
    let resp = finalize(&emu, &tok, &id).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // Twice: 400.
    assert_eq!(
        finalize(&emu, &tok, &id).await.status(),
        StatusCode::BAD_REQUEST
    );
    // APPEND after FINALIZE: 400.
    assert_eq!(
        append(&emu, &tok, &id, "3", vec![1]).await.status(),
        StatusCode::BAD_REQUEST
    );

    let rec = emu
        .admin()
        .records()
        .media
        .into_iter()
        .find(|m| m.id == id)
        .expect("record");
    assert_eq!(
        rec.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&mp4)).as_str())
    );

    // Expiry after 86400 s on the admin clock, and expire-now over admin.
    emu.admin().advance_clock(Duration::from_secs(86_400));
    // The access token died after 2 h too; a fresh one still sees no media.
    let tok = mint(&emu, USER, "media.write");
    let resp = status(&emu, &tok, &id).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(resp).await["type"]
        .as_str()
        .unwrap_or("")
        .ends_with("resource-not-found"));
    let id2 = init_ok(&emu, &tok, 10, "tweet_video").await;
    let r = admin_post(&emu, &format!("media/{id2}/expire"), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        append(&emu, &tok, &id2, "0", vec![1; 10]).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn processing_progresses_to_succeeded() {
    let emu = start_default().await; // Polls { steps: 3 }
    let tok = mint(&emu, USER, "media.write tweet.read tweet.write users.read");
    let mp4 = tiny_mp4(10_000);
    let (id, fin) = upload(&emu, &tok, &mp4, 4096).await;
    // Doc example shape (research §3a).
    assert_eq!(fin["data"]["id"], id);
    assert_eq!(fin["data"]["size"], mp4.len());
    assert_eq!(fin["data"]["media_key"], format!("7_{id}"));
    assert_eq!(fin["data"]["processing_info"]["state"], "pending");
    assert_eq!(fin["data"]["processing_info"]["check_after_secs"], 1);

    // Posting now: media not ready.
    let resp = tweet(
        &emu,
        &tok,
        json!({"text":"too early","media":{"media_ids":[id]}}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(resp).await["errors"][0]["message"],
        "Your media IDs are invalid."
    );

    let mut seen = Vec::new();
    for _ in 0..3 {
        let v = json_of(status(&emu, &tok, &id).await).await;
        let p = &v["data"]["processing_info"];
        seen.push((
            p["state"].as_str().unwrap_or("").to_string(),
            p["progress_percent"].as_u64().unwrap_or(999),
        ));
    }
    assert_eq!(
        seen,
        [
            ("in_progress".to_string(), 33),
            ("in_progress".to_string(), 66),
            ("succeeded".to_string(), 100)
        ]
    );
    let v = json_of(status(&emu, &tok, &id).await).await;
    assert!(v["data"]["processing_info"]
        .get("check_after_secs")
        .is_none());

    let resp = tweet(
        &emu,
        &tok,
        json!({"text":"Check out this video!","media":{"media_ids":[id]}}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let (limit, remaining, _) = rate_headers(&resp);
    assert_eq!((limit, remaining), (100, 98));
    let v = json_of(resp).await;
    let tid = v["data"]["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        v,
        json!({"data":{"id":tid,"text":"Check out this video!","edit_history_tweet_ids":[tid]}})
    );

    // Timeline with the media expansion, newest first.
    assert_eq!(
        tweet(&emu, &tok, json!({"text":"second, no media"}))
            .await
            .status(),
        StatusCode::CREATED
    );
    let resp = http()
        .get(format!(
            "{}/2/users/{USER}/tweets?max_results=5&expansions=attachments.media_keys",
            emu.base_url
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("timeline");
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json_of(resp).await;
    assert_eq!(v["data"][0]["text"], "second, no media");
    assert_eq!(v["data"][1]["id"], tid);
    assert_eq!(
        v["data"][1]["attachments"]["media_keys"],
        json!([format!("7_{id}")])
    );
    assert_eq!(
        v["includes"]["media"],
        json!([{"media_key": format!("7_{id}"), "type": "video"}])
    );
    assert_eq!(v["meta"]["result_count"], 2);
    let resp = http()
        .get(format!(
            "{}/2/users/{USER}/tweets?max_results=3",
            emu.base_url
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("timeline");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = http()
        .get(format!("{}/2/users/{USER}/tweets?foo=1", emu.base_url))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("timeline");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let rec = emu.admin().records();
    assert_eq!(rec.tweets.len(), 2);
    assert_eq!(rec.tweets[0].media_keys, [format!("7_{id}")]);
    assert_eq!(rec.media[0].state, "succeeded");
}

#[tokio::test]
async fn invalid_mp4_fails_processing_and_cannot_be_posted() {
    let emu = start_default().await;
    let tok = mint(&emu, USER, "media.write tweet.read tweet.write users.read");
    let junk = b"this is not an mp4 file at all, just text".repeat(10);
    let (id, _) = upload(&emu, &tok, &junk, 100).await;
    let v = poll_until_done(&emu, &tok, &id).await;
    let p = &v["data"]["processing_info"];
    assert_eq!(p["state"], "failed");
    assert_eq!(p["progress_percent"], 100);
    assert_eq!(p["error"]["code"], 1);
    assert_eq!(p["error"]["name"], "InvalidMedia");
    assert!(p["error"]["message"].is_string());
    let resp = tweet(
        &emu,
        &tok,
        json!({"text":"broken","media":{"media_ids":[id]}}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // A truncated MP4 (box sizes inconsistent) fails too.
    let mp4 = tiny_mp4(500);
    let (id, _) = upload(&emu, &tok, &mp4[..mp4.len() - 10], 200).await;
    assert_eq!(
        poll_until_done(&emu, &tok, &id).await["data"]["processing_info"]["state"],
        "failed"
    );
}

#[tokio::test]
async fn tweet_validation() {
    let emu = start_default().await;
    let tok = mint(&emu, USER, "tweet.read tweet.write users.read media.write");
    let resp = tweet(&emu, &tok, json!({"text":"hello"})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    // Recorded duplicate answer (research §5).
    let resp = tweet(&emu, &tok, json!({"text":"hello"})).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        json_of(resp).await,
        json!({"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403})
    );
    // Another user may post the same text.
    let other = mint(&emu, OTHER_USER, "tweet.read tweet.write users.read");
    assert_eq!(
        tweet(&emu, &other, json!({"text":"hello"})).await.status(),
        StatusCode::CREATED
    );

    // 280 weighted characters: 280 ASCII passes, 141 CJK (282) fails.
    assert_eq!(
        tweet(&emu, &tok, json!({"text":"a".repeat(280)}))
            .await
            .status(),
        StatusCode::CREATED
    );
    let resp = tweet(&emu, &tok, json!({"text":"a".repeat(281)})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(resp).await["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("too long"));
    assert_eq!(
        tweet(&emu, &tok, json!({"text":"漢".repeat(141)}))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    // Unknown fields, bad media ids, missing scopes, non-JSON.
    let resp = tweet(&emu, &tok, json!({"text":"x1","status":"legacy"})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(json_of(resp).await["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("$.status"));
    let resp = tweet(&emu, &tok, json!({"text":"x2","media":{"media_ids":[123]}})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = tweet(
        &emu,
        &tok,
        json!({"text":"x3","media":{"media_ids":["1","2","3","4","5"]}}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = tweet(
        &emu,
        &tok,
        json!({"text":"x4","media":{"media_ids":["1234567890123456789"]}}),
    )
    .await;
    assert_eq!(
        json_of(resp).await["errors"][0]["message"],
        "Your media IDs are invalid."
    );
    assert_eq!(
        tweet(&emu, &tok, json!({})).await.status(),
        StatusCode::BAD_REQUEST
    );
    let read_only = mint(&emu, USER, "tweet.read users.read");
    assert_eq!(
        tweet(&emu, &read_only, json!({"text":"x5"})).await.status(),
        StatusCode::FORBIDDEN
    );
    let resp = http()
        .post(format!("{}/2/tweets", emu.base_url))
        .bearer_auth(&tok)
        .body(r#"{"text":"x6"}"#)
        .send()
        .await
        .expect("tweet");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Two videos in one post: at most one video (research §5).
    let mut cfg_ids = Vec::new();
    for n in [100, 200] {
        let (id, _) = upload(&emu, &tok, &tiny_mp4(n), 1 << 20).await;
        poll_until_done(&emu, &tok, &id).await;
        cfg_ids.push(id);
    }
    let resp = tweet(
        &emu,
        &tok,
        json!({"text":"two videos","media":{"media_ids":cfg_ids}}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // Someone else's media.
    let resp = tweet(
        &emu,
        &other,
        json!({"text":"stolen","media":{"media_ids":[cfg_ids[0]]}}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // Media only, no text (OAS allows).
    let resp = tweet(
        &emu,
        &tok,
        json!({"media":{"media_ids":[cfg_ids[0]],"tagged_user_ids":[]}}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}

// ====================== rate limits ======================

#[tokio::test]
async fn rate_limit_headers_429_and_reset() {
    let emu = start_default().await;
    let r = http()
        .patch(format!("{}/__admin/config", emu.base_url))
        .json(&json!({"rate_limits": {"tweets": {"limit": 2, "window_secs": 900}}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        json_of(r).await["rate_limits"]["media_append"]["limit"],
        1875
    );

    let tok = mint(&emu, USER, "tweet.read tweet.write users.read");
    let r1 = tweet(&emu, &tok, json!({"text":"one"})).await;
    let (_, rem1, reset) = rate_headers(&r1);
    assert_eq!(rem1, 1);
    let r2 = tweet(&emu, &tok, json!({"text":"two"})).await;
    assert_eq!(rate_headers(&r2).1, 0);
    let r3 = tweet(&emu, &tok, json!({"text":"three"})).await;
    assert_eq!(r3.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(rate_headers(&r3), (2, 0, reset));
    assert_eq!(
        json_of(r3).await,
        json!({"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429})
    );
    // Per user: another user is unaffected.
    let other = mint(&emu, OTHER_USER, "tweet.read tweet.write users.read");
    assert_eq!(
        tweet(&emu, &other, json!({"text":"three"})).await.status(),
        StatusCode::CREATED
    );
    // After the window, the limit is back.
    emu.admin().advance_clock(Duration::from_secs(900));
    let r4 = tweet(&emu, &tok, json!({"text":"four"})).await;
    assert_eq!(r4.status(), StatusCode::CREATED);
    assert_eq!(rate_headers(&r4).1, 1);
    assert_eq!(emu.admin().records().calls["tweets"]["429"], 1);
}

// ====================== faults ======================

#[tokio::test]
async fn fault_fail_next_n_and_error_rate_and_burst() {
    let emu = start_default().await;
    let tok = mint(&emu, USER, "tweet.read users.read");
    let me = || {
        let url = format!("{}/2/users/me", emu.base_url);
        let tok = tok.clone();
        async move { http().get(url).bearer_auth(tok).send().await.expect("me") }
    };
    add_fault(
        &emu,
        json!({"endpoint":"users_me","kind":"fail","status":503,"count":2}),
    )
    .await;
    let r = me().await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json_of(r).await["status"], 503);
    assert_eq!(me().await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(me().await.status(), StatusCode::OK);

    // 429 burst with reset 60 s ahead.
    add_fault(
        &emu,
        json!({"endpoint":"users_me","kind":"rate_limit","reset_in_secs":60,"count":1}),
    )
    .await;
    let r = me().await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let (limit, remaining, reset) = rate_headers(&r);
    assert_eq!((limit, remaining), (75, 0));
    let now = emu.admin().now_ms() / 1000;
    assert!(reset >= now + 59 && reset <= now + 61, "{reset} vs {now}");
    assert_eq!(me().await.status(), StatusCode::OK);

    // Error rate: same seed, same sequence.
    async fn sequence(rate: f64) -> Vec<u16> {
        let emu = Emulator::start(EmulatorConfig::default())
            .await
            .expect("start");
        let tok = mint(&emu, USER, "tweet.read users.read");
        emu.admin()
            .add_fault(FaultSpec {
                endpoint: "users_me".into(),
                kind: x_emulator::FaultKind::ErrorRate { status: 500, rate },
                count: None,
                phase: Default::default(),
            })
            .expect("fault");
        let mut out = Vec::new();
        for _ in 0..16 {
            let r = http()
                .get(format!("{}/2/users/me", emu.base_url))
                .bearer_auth(&tok)
                .send()
                .await
                .expect("me");
            out.push(r.status().as_u16());
        }
        out
    }
    let a = sequence(0.5).await;
    assert_eq!(a, sequence(0.5).await);
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");

    // Unknown endpoint names are refused.
    let r = admin_post(
        &emu,
        "faults",
        json!({"endpoint":"nope","kind":"fail","status":500}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn fault_latency_and_dropped_connections() {
    let emu = start_default().await;
    let tok = mint(&emu, USER, "tweet.read tweet.write users.read");
    add_fault(
        &emu,
        json!({"endpoint":"users_me","kind":"latency","ms":300,"count":1}),
    )
    .await;
    let t0 = std::time::Instant::now();
    let r = http()
        .get(format!("{}/2/users/me", emu.base_url))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("me");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(t0.elapsed() >= Duration::from_millis(300));

    // Dropped before any response: the client gets no status at all.
    add_fault(
        &emu,
        json!({"endpoint":"users_me","kind":"drop","when":"before_response","count":1}),
    )
    .await;
    let err = http()
        .get(format!("{}/2/users/me", emu.base_url))
        .bearer_auth(&tok)
        .send()
        .await;
    assert!(err.is_err(), "expected a connection error, got {err:?}");
    assert_eq!(
        http()
            .get(format!("{}/2/users/me", emu.base_url))
            .bearer_auth(&tok)
            .send()
            .await
            .expect("me")
            .status(),
        StatusCode::OK
    );

    // Dropped mid-response after the tweet was created: headers arrive, the
    // body breaks, and the tweet exists (the idempotency case).
    add_fault(
        &emu,
        json!({"endpoint":"tweets","kind":"drop","when":"mid_response","phase":"after","count":1}),
    )
    .await;
    let resp = tweet(&emu, &tok, json!({"text":"did it post?"})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(resp.bytes().await.is_err(), "body must break mid-way");
    let rec = emu.admin().records();
    assert_eq!(rec.tweets.len(), 1);
    assert_eq!(rec.calls["tweets"]["dropped_mid_response"], 1);

    // A 503 after the work was done.
    add_fault(
        &emu,
        json!({"endpoint":"tweets","kind":"fail","status":503,"phase":"after","count":1}),
    )
    .await;
    assert_eq!(
        tweet(&emu, &tok, json!({"text":"posted anyway"}))
            .await
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(emu.admin().records().tweets.len(), 2);
    assert_eq!(emu.admin().records().calls["users_me"]["dropped"], 1);
}

#[tokio::test]
async fn fault_processing_fail_and_stall() {
    let emu = start(EmulatorConfig {
        processing: ProcessingMode::Polls { steps: 1 },
        ..Default::default()
    })
    .await;
    let tok = mint(&emu, USER, "media.write");
    let r = admin_post(
        &emu,
        "processing",
        json!({"outcome":"fail","message":"Unsupported video codec"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (id, _) = upload(&emu, &tok, &tiny_mp4(100), 1 << 20).await;
    let v = poll_until_done(&emu, &tok, &id).await;
    assert_eq!(
        v["data"]["processing_info"]["error"]["message"],
        "Unsupported video codec"
    );

    admin_post(&emu, "processing", json!({"outcome":"stall"})).await;
    let (id, _) = upload(&emu, &tok, &tiny_mp4(100), 1 << 20).await;
    for _ in 0..5 {
        let v = json_of(status(&emu, &tok, &id).await).await;
        assert_eq!(v["data"]["processing_info"]["state"], "in_progress");
    }
    // Rules are used up: the next upload succeeds.
    let (id, _) = upload(&emu, &tok, &tiny_mp4(100), 1 << 20).await;
    assert_eq!(
        poll_until_done(&emu, &tok, &id).await["data"]["processing_info"]["state"],
        "succeeded"
    );
}

#[tokio::test]
async fn time_mode_processing_follows_admin_clock() {
    let emu = start(EmulatorConfig {
        processing: ProcessingMode::Time {
            duration_ms: 10_000,
        },
        ..Default::default()
    })
    .await;
    let tok = mint(&emu, USER, "media.write");
    let (id, fin) = upload(&emu, &tok, &tiny_mp4(100), 1 << 20).await;
    assert_eq!(fin["data"]["processing_info"]["state"], "pending");
    let r = admin_post(&emu, "clock/advance", json!({"secs": 5})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v = json_of(status(&emu, &tok, &id).await).await;
    assert_eq!(v["data"]["processing_info"]["state"], "in_progress");
    let pct = v["data"]["processing_info"]["progress_percent"]
        .as_u64()
        .unwrap_or(0);
    assert!((50..=51).contains(&pct), "{pct}");
    emu.admin().advance_clock(Duration::from_secs(5));
    assert_eq!(
        json_of(status(&emu, &tok, &id).await).await["data"]["processing_info"]["state"],
        "succeeded"
    );
}

#[tokio::test]
async fn admin_records_reset_and_shutdown() {
    let emu = start_default().await;
    let tok = mint(&emu, USER, "tweet.read tweet.write users.read");
    assert_eq!(
        tweet(&emu, &tok, json!({"text":"x"})).await.status(),
        StatusCode::CREATED
    );
    let v = json_of(
        http()
            .get(format!("{}/__admin/records", emu.base_url))
            .send()
            .await
            .expect("records"),
    )
    .await;
    assert_eq!(v["tweets"][0]["text"], "x");
    assert_eq!(v["tweets"][0]["author_id"], USER);
    assert_eq!(v["calls"]["tweets"]["201"], 1);
    let r = admin_post(&emu, "reset", json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v = json_of(
        http()
            .get(format!("{}/__admin/records", emu.base_url))
            .send()
            .await
            .expect("records"),
    )
    .await;
    assert_eq!(v["tweets"], json!([]));
    // Tokens survive a reset; the same text can be posted again.
    assert_eq!(
        tweet(&emu, &tok, json!({"text":"x"})).await.status(),
        StatusCode::CREATED
    );

    // Unknown path: X-shaped 404.
    let r = http()
        .get(format!("{}/2/nope", emu.base_url))
        .send()
        .await
        .expect("404");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(r).await["status"], 404);

    let base = emu.base_url.clone();
    emu.shutdown().await;
    assert!(http()
        .get(format!("{base}/2/users/me"))
        .send()
        .await
        .is_err());
}

// ====================== third-party client ======================

/// twapi-v2 (a maintained client used against live X) uploads and posts
/// against the emulator with only the base URL changed.
#[tokio::test]
async fn twapi_v2_upload_and_post_work_unchanged() {
    use twapi_v2::api::post_2_media_upload_initialize::MediaCategory;
    use twapi_v2::api::{post_2_tweets, BearerAuthentication, TwapiOptions};
    use twapi_v2::upload_v2;

    // twapi-v2 sleeps check_after_secs between polls; keep the test quick.
    let emu = start(EmulatorConfig {
        check_after_secs: 0,
        processing: ProcessingMode::Polls { steps: 2 },
        ..Default::default()
    })
    .await;
    let tok = mint(&emu, USER, "tweet.read tweet.write users.read media.write");
    let auth = BearerAuthentication::new(tok);
    let opts = TwapiOptions {
        prefix_url: Some(emu.base_url.clone()),
        ..Default::default()
    };
    // Bigger than twapi-v2's 5,000,000-byte segment, so two APPENDs.
    let video = tiny_mp4(5_000_100);
    let (resp, _headers) = upload_v2::upload_media_from_bytes(
        &video,
        "video/mp4",
        Some(MediaCategory::AmplifyVideo),
        vec![],
        &auth,
        Some(&opts),
    )
    .await
    .expect("twapi upload");
    let media_id = upload_v2::get_media_id(&resp);
    assert_eq!(media_id.len(), 19);
    upload_v2::check_processing(
        resp,
        &auth,
        None::<
            fn(
                i64,
                &twapi_v2::api::get_2_media_upload::Response,
                &twapi_v2::headers::Headers,
            ) -> Result<(), twapi_v2::error::Error>,
        >,
        Some(&opts),
    )
    .await
    .expect("twapi processing");

    let body = post_2_tweets::Body {
        text: Some("posted by twapi-v2".into()),
        media: Some(post_2_tweets::Media {
            media_ids: vec![media_id.clone()],
            tagged_user_ids: vec![],
        }),
        ..Default::default()
    };
    let (posted, headers) = post_2_tweets::Api::new(body)
        .twapi_options(opts)
        .execute(&auth)
        .await
        .expect("twapi post");
    let data = posted.data.expect("data");
    assert_eq!(data.text.as_deref(), Some("posted by twapi-v2"));
    assert!(headers.x_rate_limit_limit.is_some());

    let rec = emu.admin().records();
    let m = rec
        .media
        .iter()
        .find(|m| m.id == media_id)
        .expect("media record");
    assert_eq!(
        m.segments.iter().map(|s| s.length).collect::<Vec<_>>(),
        [5_000_000, video.len() - 5_000_000]
    );
    assert_eq!(
        m.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&video)).as_str())
    );
    assert_eq!(m.state, "succeeded");
    assert_eq!(rec.tweets[0].media_keys, [format!("13_{media_id}")]);
}
