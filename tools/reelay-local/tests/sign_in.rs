//! Issue 13, item 3: signing in to the console locally, end to end on the local gateway, as the
//! console's browser code does it (the hosted-UI endpoints under `CONSOLE_SIGN_IN_URL`, the code
//! flow with PKCE S256, then the API with the access token), and the uploads bucket's CORS rule
//! answering the console's preflight in moto.

use base64::Engine;
use reelay_local::authorizer::{user_sub, CONSOLE_CLIENT_ID, SIGN_IN_PATH};
use reelay_local::harness::moto_endpoint;
use reelay_local::runner::FunctionName;
use reelay_local::world::World;
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

async fn world(label: &str) -> World {
    World::without_reconciler(label).await.expect("world")
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Signs `username` in through the sign-in page and the token endpoint; the token answer.
async fn sign_in(w: &World, username: &str) -> Value {
    let env_base = &w.env["CONSOLE_SIGN_IN_URL"];
    assert_eq!(env_base, &w.sign_in_url());
    assert_eq!(w.env["CONSOLE_CLIENT_ID"], CONSOLE_CLIENT_ID);
    let console = w.console_url();
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let mut authorize = Url::parse(&format!("{env_base}/oauth2/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CONSOLE_CLIENT_ID)
        .append_pair("redirect_uri", &console)
        .append_pair("state", "xyz")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("scope", "openid");
    let page = w.http.get(authorize.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("User name"));
    // The form posts the same request back with the user name.
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("username".into(), username.into()));
    let back = w
        .http
        .post(format!("{env_base}/oauth2/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 302);
    let location = Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(&console), "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some("xyz"));
    let code = query(&location, "code").expect("code");
    let tokens = w
        .http
        .post(format!("{env_base}/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &console),
            ("client_id", CONSOLE_CLIENT_ID),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(tokens.status(), 200);
    tokens.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_console_user_calls_the_api_as_their_token_s_sub() {
    let w = world("sign-in").await;
    let tokens = sign_in(&w, "ada").await;
    let access = tokens["access_token"].as_str().unwrap();
    let api = &w.runner.http_url;

    let platforms = w
        .http
        .get(format!("{api}/api/platforms"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(platforms.status(), 200);
    // Without a token, or with one for another audience, the gateway refuses before the API.
    let refused = w
        .http
        .get(format!("{api}/api/platforms"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let foreign = reelay_local::authorizer::LocalAuthorizer::random().mint("ada");
    let refused = w
        .http
        .get(format!("{api}/api/platforms"))
        .bearer_auth(foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // The user is the token's sub: X connected with this token, then a post made with it, is
    // stored under user_sub("ada").
    reelay_local::world::connect_via_http(&w.http, api, access)
        .await
        .expect("connect X with the console's token");
    let created = w
        .http
        .post(format!("{api}/api/posts"))
        .bearer_auth(access)
        .json(&serde_json::json!({ "text": "hi", "platforms": ["twitter"], "content_type": "video/mp4" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let key = created["upload"]["fields"]["key"].as_str().unwrap();
    assert!(
        key.starts_with(&format!("uploads/{}/", user_sub("ada"))),
        "{key}"
    );

    // Signing in again as the same name is the same user.
    let again = sign_in(&w, "ada").await;
    let claims = w
        .auth
        .verify(Some(&format!(
            "Bearer {}",
            again["access_token"].as_str().unwrap()
        )))
        .unwrap();
    assert_eq!(claims["sub"], user_sub("ada"));
    assert_eq!(claims["username"], "ada");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_routes_reach_the_api_without_a_token() {
    let w = world("console-routes").await;
    let api = &w.runner.http_url;
    for path in ["/", "/assets/app.js", "/vendor/x.js", "/api/console/config"] {
        let answer = w.http.get(format!("{api}{path}")).send().await.unwrap();
        // Whatever the API answers (the console's files are another part), the gateway let it
        // through: its own refusal is a 401 `{"message":"Unauthorized"}`.
        assert_ne!(answer.status(), 401, "GET {path}");
    }
    let log = w.runner.log.snapshot();
    for path in ["/", "/assets/app.js", "/vendor/x.js", "/api/console/config"] {
        assert!(
            log.iter()
                .any(|i| i.function == FunctionName::Api && i.items == [format!("GET {path}")]),
            "GET {path} did not reach the API: {log:?}"
        );
    }
    // Other methods on those paths are not open.
    let post = w
        .http
        .post(format!("{api}/api/console/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 401);
    // And the sign-in endpoints are the gateway's own, not the API's.
    let bad = w
        .http
        .post(format!("{api}{SIGN_IN_PATH}/oauth2/token"))
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

/// The console uploads with an XMLHttpRequest that reports progress, which browsers preflight.
/// moto answers the preflight from the console's origin with the rule's headers, and refuses
/// another origin with a 403 (which fails a browser's preflight). moto is laxer than S3 in two
/// ways this test cannot catch (README, "The local runner"): a bucket without any CORS rule
/// answers every preflight as if all were allowed, and the POST's own answer echoes any Origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_uploads_bucket_answers_the_console_s_preflight_only() {
    let w = world("upload-cors").await;
    let console_origin = w.runner.http_url.clone();
    let bucket_url = format!("{}/{}", moto_endpoint(), w.stack.bucket_name);
    let preflight = |origin: &str| {
        w.http
            .request(reqwest::Method::OPTIONS, &bucket_url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight(&console_origin).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        console_origin.as_str()
    );
    assert_eq!(ok.headers()["access-control-allow-methods"], "POST");
    let other = preflight("https://elsewhere.example").await.unwrap();
    assert_eq!(other.status(), 403);

    let cors = w
        .aws
        .s3
        .get_bucket_cors()
        .bucket(&w.stack.bucket_name)
        .send()
        .await
        .unwrap();
    let rules = cors.cors_rules();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].allowed_origins(), [console_origin]);
    assert_eq!(rules[0].allowed_methods(), ["POST"]);
}
