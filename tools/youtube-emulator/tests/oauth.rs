//! Google's OAuth 2.0 redirect flow against the emulator, driven with
//! reqwest as Reelay would (redirects off: the 302 to the callback is read,
//! not followed).

use std::collections::HashMap;

use reqwest::header::LOCATION;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use youtube_emulator::{Emulator, EmulatorConfig, UPLOAD_SCOPE};

const CLIENT_ID: &str = "reelay-test.apps.googleusercontent.com";
const SECRET: &str = "GOCSPX-emulator-secret";
const CALLBACK: &str = "http://127.0.0.1:3000/oauth/youtube/callback";
const READONLY: &str = "https://www.googleapis.com/auth/youtube.readonly";

struct Env {
    emu: Emulator,
    http: Client,
}

struct Flow {
    verifier: String,
    challenge: String,
}

/// A verifier and its S256 challenge, computed independently (Python hashlib + base64).
fn flow() -> Flow {
    Flow {
        verifier: "dBjftJeZ4CVP-mJ92K9X3kV0kHn2iThlQ5hYr1qcT3Q".into(),
        challenge: "NHR1IKljTY52T8z_RFcnyRGDyaiJWW26a4Akc3_rBLI".into(),
    }
}

async fn env(status: &str) -> Env {
    let emu = Emulator::spawn(EmulatorConfig::default())
        .await
        .expect("spawn");
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let e = Env { emu, http };
    let resp = e
        .http
        .post(e.url("/__admin/oauth/clients"))
        .json(&json!({
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "redirect_uris": [CALLBACK],
            "publishing_status": status,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = e
        .http
        .put(e.url("/__admin/oauth/user"))
        .json(&json!({"channel_id": "UCoauthUser", "title": "OAuth user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    e
}

fn query_of(location: &str) -> HashMap<String, String> {
    reqwest::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.base_url(), path)
    }

    async fn authorize_with(&self, pairs: &[(&str, &str)]) -> Response {
        let mut url = reqwest::Url::parse(&self.url("/o/oauth2/v2/auth")).unwrap();
        url.query_pairs_mut().extend_pairs(pairs);
        self.http.get(url).send().await.unwrap()
    }

    /// Authorize with Reelay's usual parameters; returns the callback query.
    async fn authorize(&self, f: &Flow, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let scope = format!("{UPLOAD_SCOPE} {READONLY}");
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", CALLBACK),
            ("scope", scope.as_str()),
            ("state", "st-123"),
            ("code_challenge", f.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        pairs.extend_from_slice(extra);
        let resp = self.authorize_with(&pairs).await;
        assert_eq!(resp.status(), StatusCode::FOUND);
        let loc = resp.headers()[LOCATION].to_str().unwrap().to_string();
        assert!(loc.starts_with(CALLBACK), "{loc}");
        let q = query_of(&loc);
        assert_eq!(q["state"], "st-123");
        q
    }

    async fn token_form(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url("/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    async fn exchange(&self, code: &str, verifier: &str) -> (StatusCode, Value) {
        self.token_form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
        ])
        .await
    }

    /// Client auth by HTTP Basic this time.
    async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url("/token"))
            .basic_auth(CLIENT_ID, Some(SECRET))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    /// A full offline flow; returns the token response.
    async fn connect(&self) -> Value {
        let f = flow();
        let q = self
            .authorize(&f, &[("access_type", "offline"), ("prompt", "consent")])
            .await;
        let (status, body) = self.exchange(&q["code"], &f.verifier).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn advance(&self, secs: u64) {
        let resp = self
            .http
            .post(self.url("/__admin/clock"))
            .json(&json!({ "advance_secs": secs }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    async fn start_upload(&self, token: &str) -> StatusCode {
        self.http
            .post(self.url("/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status"))
            .bearer_auth(token)
            .header("X-Upload-Content-Length", "1000")
            .header("X-Upload-Content-Type", "video/mp4")
            .json(&json!({"snippet": {"title": "From OAuth"},
                          "status": {"privacyStatus": "private"}}))
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn records(&self) -> Value {
        self.http
            .get(self.url("/__admin/records"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_string()
}

#[tokio::test]
async fn code_flow_with_pkce_gives_a_token_that_uploads() {
    let e = env("production").await;
    let f = flow();
    let q = e
        .authorize(&f, &[("access_type", "offline"), ("prompt", "consent")])
        .await;
    assert_eq!(q["scope"], format!("{UPLOAD_SCOPE} {READONLY}"));
    let (status, body) = e.exchange(&q["code"], &f.verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(s(&body, "scope"), format!("{UPLOAD_SCOPE} {READONLY}"));
    assert!(body["refresh_token"].is_string());
    assert_eq!(
        e.start_upload(&s(&body, "access_token")).await,
        StatusCode::OK
    );

    let records = e.records().await;
    assert_eq!(records["uploads"][0]["channel_id"], "UCoauthUser");
    assert_eq!(records["oauth"]["code_verifiers"], json!([f.verifier]));
    assert_eq!(records["oauth"]["tokens"].as_array().unwrap().len(), 2);
    assert_eq!(
        records["oauth"]["authorizations"][0]["code_challenge"],
        f.challenge
    );
}

#[tokio::test]
async fn online_or_repeat_consent_gets_no_refresh_token() {
    let e = env("production").await;
    // access_type=online (the default): no refresh token.
    let f = flow();
    let q = e.authorize(&f, &[]).await;
    let (_, body) = e.exchange(&q["code"], &f.verifier).await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    // offline after an earlier consent, without prompt=consent: none either.
    let q = e.authorize(&f, &[("access_type", "offline")]).await;
    let (_, body) = e.exchange(&q["code"], &f.verifier).await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    // prompt=consent brings it back.
    let q = e
        .authorize(&f, &[("access_type", "offline"), ("prompt", "consent")])
        .await;
    let (_, body) = e.exchange(&q["code"], &f.verifier).await;
    assert!(body["refresh_token"].is_string(), "{body}");
}

#[tokio::test]
async fn wrong_verifier_is_invalid_grant() {
    let e = env("production").await;
    let f = flow();
    let q = e.authorize(&f, &[]).await;
    let wrong = "w".repeat(43);
    let (status, body) = e.exchange(&q["code"], &wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn code_is_single_use() {
    let e = env("production").await;
    let f = flow();
    let q = e.authorize(&f, &[]).await;
    let (status, _) = e.exchange(&q["code"], &f.verifier).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = e.exchange(&q["code"], &f.verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn redirect_uri_mismatch_is_refused() {
    let e = env("production").await;
    let f = flow();
    // At authorize: an error page, never a redirect to the unknown URI.
    let resp = e
        .authorize_with(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            (
                "redirect_uri",
                "http://127.0.0.1:3000/oauth/youtube/callback/",
            ),
            ("scope", UPLOAD_SCOPE),
            ("code_challenge", f.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get(LOCATION).is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "redirect_uri_mismatch");

    // At the token exchange.
    let q = e.authorize(&f, &[]).await;
    let (status, body) = e
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", "http://127.0.0.1:3000/other"),
            ("code_verifier", &f.verifier),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "redirect_uri_mismatch");
}

#[tokio::test]
async fn pkce_is_required_at_authorize() {
    let e = env("production").await;
    let resp = e
        .authorize_with(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", CALLBACK),
            ("scope", UPLOAD_SCOPE),
            ("state", "s1"),
        ])
        .await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let q = query_of(resp.headers()[LOCATION].to_str().unwrap());
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "s1");
    assert!(!q.contains_key("code"));
}

#[tokio::test]
async fn refresh_gives_new_access_token_without_rotation() {
    let e = env("production").await;
    let first = e.connect().await;
    let refresh = s(&first, "refresh_token");
    let (status, body) = e.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(s(&body, "access_token"), s(&first, "access_token"));
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["scope"], first["scope"]);
    assert_eq!(
        e.start_upload(&s(&body, "access_token")).await,
        StatusCode::OK
    );
    // The same refresh token keeps working.
    let (status, _) = e.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn revoked_refresh_token_is_invalid_grant_exactly() {
    let e = env("production").await;
    let tokens = e.connect().await;
    let refresh = s(&tokens, "refresh_token");
    let resp = e
        .http
        .post(e.url(&format!("/revoke?token={refresh}")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));

    let (status, body) = e.refresh(&refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    );
    // Its access token went with it.
    assert_eq!(
        e.start_upload(&s(&tokens, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    // Revoking again: the token is unknown now.
    let resp = e
        .http
        .post(e.url("/revoke"))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_token"
    );
}

#[tokio::test]
async fn revoking_an_access_token_revokes_its_refresh_token() {
    let e = env("production").await;
    let tokens = e.connect().await;
    let resp = e
        .http
        .post(e.url("/revoke"))
        .form(&[("token", s(&tokens, "access_token").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, body) = e.refresh(&s(&tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn testing_client_refresh_token_lasts_seven_days() {
    let e = env("testing").await;
    let tokens = e.connect().await;
    let refresh = s(&tokens, "refresh_token");
    e.advance(6 * 24 * 3600).await;
    let (status, body) = e.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    e.advance(24 * 3600).await;
    let (status, body) = e.refresh(&refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    );
}

#[tokio::test]
async fn production_client_refresh_token_outlives_seven_days() {
    let e = env("production").await;
    let tokens = e.connect().await;
    e.advance(8 * 24 * 3600).await;
    let (status, _) = e.refresh(&s(&tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn access_token_expires_after_3599_seconds() {
    let e = env("production").await;
    let tokens = e.connect().await;
    let access = s(&tokens, "access_token");
    e.advance(3590).await;
    assert_eq!(e.start_upload(&access).await, StatusCode::OK);
    e.advance(9).await;
    assert_eq!(e.start_upload(&access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn denial_redirects_with_access_denied() {
    let e = env("production").await;
    let resp = e
        .http
        .put(e.url("/__admin/oauth/consent"))
        .json(&json!({"deny": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let q = e.authorize(&flow(), &[]).await;
    assert_eq!(q["error"], "access_denied");
    assert!(!q.contains_key("code"));
}

#[tokio::test]
async fn fewer_scopes_granted_show_in_the_token_response() {
    let e = env("production").await;
    let resp = e
        .http
        .put(e.url("/__admin/oauth/consent"))
        .json(&json!({"grant_scopes": [UPLOAD_SCOPE]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let f = flow();
    let q = e.authorize(&f, &[]).await;
    assert_eq!(q["scope"], UPLOAD_SCOPE);
    let (status, body) = e.exchange(&q["code"], &f.verifier).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["scope"], UPLOAD_SCOPE);
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() {
    let e = env("production").await;
    let f = flow();
    let q = e.authorize(&f, &[]).await;
    let (status, body) = e
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &f.verifier),
            ("client_id", CLIENT_ID),
            ("client_secret", "nope"),
        ])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
}
