//! Replays of real exchanges with X (`fixtures/exchanges.json`: each transcribed from a public
//! source, with its link and date) against the emulator. Each test sets up the state the recorded
//! request needs (a token with or without a scope, a media id in the right state, a text already
//! posted, a spent limit, a used code), sends the request, and compares the answer with what X
//! answered: the status, the headers that matter, and the body's shape: every recorded key must
//! exist with the same JSON type, the values at `compare.fixed` must be equal, and where the source
//! shows the whole body (`exact_keys`) the emulator may add no key. Ids, times and tokens differ
//! and are compared by type only.

#[path = "../spec/oas.rs"]
mod oas;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use base64::Engine as _;
use reqwest::{Client, Method};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use x_emulator::testing::tiny_mp4;
use x_emulator::{Emulator, EmulatorConfig, MintRequest, ProcessingOutcomeKind, ProcessingRule};

const USER: &str = "1072250532645998596";
const REDIRECT: &str = "http://127.0.0.1:3000/api/auth/platforms/twitter/callback";
const VERIFIER: &str = "exchanges-replay-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/exchanges.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read fixture"))
        .expect("fixture is JSON")
}

fn exchange(id: &str) -> Value {
    fixture()["exchanges"]
        .as_array()
        .expect("exchanges")
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no exchange {id} in fixtures/exchanges.json"))
        .clone()
}

fn http() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("the emulator answers");
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        text: resp.text().await.expect("body"),
    }
}

/// Replaces `{name}` placeholders in every string of a JSON value.
fn fill(value: &Value, vars: &HashMap<&str, String>) -> Value {
    match value {
        Value::String(s) => Value::String(fill_str(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|v| fill(v, vars)).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), fill(v, vars))).collect())
        }
        other => other.clone(),
    }
}

fn fill_str(s: &str, vars: &HashMap<&str, String>) -> String {
    let mut out = s.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    assert!(
        !out.contains("{media_id}") && !out.contains("{code}") && !out.contains("{refresh_token}"),
        "placeholder left unfilled in {s:?}: the setup did not provide it"
    );
    out
}

struct Replay {
    emu: Emulator,
    token: Option<String>,
    vars: HashMap<&'static str, String>,
}

impl Replay {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url)
    }

    fn mint(&self, scopes: &[String]) -> String {
        self.emu
            .admin()
            .mint_token(&MintRequest {
                user_id: USER.into(),
                scopes: scopes.to_vec(),
                client_id: None,
            })
            .expect("mint")
            .access_token
    }

    async fn patch_config(&self, patch: &Value) {
        let a = answer(http().patch(self.url("/__admin/config")).json(patch)).await;
        assert!(
            (200..300).contains(&a.status),
            "the emulator refuses the setup config {patch}: {} {}",
            a.status,
            a.text
        );
    }

    /// Sends the fixture's replay request.
    async fn send(&self, request: &Value) -> Answer {
        let method = Method::from_bytes(request["method"].as_str().expect("method").as_bytes())
            .expect("method");
        let path = fill_str(request["path"].as_str().expect("path"), &self.vars);
        let mut req = http().request(method, self.url(&path));
        if let Some(b) = request["bearer"].as_str() {
            req = req.bearer_auth(b);
        } else if let (Some(t), false) = (&self.token, path.starts_with("/2/oauth2/")) {
            req = req.bearer_auth(t);
        }
        if let Some([id, secret]) = request["basic_auth"].as_array().map(Vec::as_slice) {
            req = req.basic_auth(id.as_str().unwrap_or(""), secret.as_str());
        }
        if request["json"].is_object() {
            req = req.json(&fill(&request["json"], &self.vars));
        } else if let Some(form) = request["form"].as_object() {
            let pairs: Vec<(String, String)> = form
                .iter()
                .map(|(k, v)| (k.clone(), fill_str(v.as_str().unwrap_or(""), &self.vars)))
                .collect();
            req = req.form(&pairs);
        } else if let Some(raw) = request["raw"].as_str() {
            req = req
                .header(
                    "content-type",
                    request["content_type"]
                        .as_str()
                        .expect("content_type with raw"),
                )
                .body(raw.to_owned());
        }
        answer(req).await
    }

    async fn api(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Answer {
        let mut req = http().request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        answer(req).await
    }

    async fn append_one(
        &self,
        token: &str,
        media_type: &str,
        category: &str,
        bytes: Vec<u8>,
    ) -> String {
        let a = self
            .api(
                Method::POST,
                "/2/media/upload/initialize",
                token,
                Some(json!({"media_type": media_type, "total_bytes": bytes.len(), "media_category": category})),
            )
            .await;
        assert_eq!(a.status, 200, "setup INIT: {}", a.text);
        let id = a.json()["data"]["id"].as_str().expect("id").to_owned();
        let form = reqwest::multipart::Form::new()
            .text("segment_index", "0")
            .part(
                "media",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name("media")
                    .mime_str("application/octet-stream")
                    .expect("mime"),
            );
        let a = answer(
            http()
                .post(self.url(&format!("/2/media/upload/{id}/append")))
                .bearer_auth(token)
                .multipart(form),
        )
        .await;
        assert!(
            (200..300).contains(&a.status),
            "setup APPEND: {} {}",
            a.status,
            a.text
        );
        id
    }

    async fn finalize(&self, token: &str, id: &str) {
        let a = self
            .api(
                Method::POST,
                &format!("/2/media/upload/{id}/finalize"),
                token,
                None,
            )
            .await;
        assert_eq!(a.status, 200, "setup FINALIZE: {}", a.text);
    }

    async fn poll_until(&self, token: &str, id: &str, want: &str) {
        let mut seen = Vec::new();
        for _ in 0..10 {
            let a = self
                .api(
                    Method::GET,
                    &format!("/2/media/upload?command=STATUS&media_id={id}"),
                    token,
                    None,
                )
                .await;
            let state = a.json()["data"]["processing_info"]["state"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if state == want {
                return;
            }
            seen.push(format!("{} {state}", a.status));
        }
        panic!("setup: processing never reached {want}: {seen:?}");
    }

    /// An authorization code from the authorize endpoint (S256 with `VERIFIER`).
    async fn code(&self, client_id: &str, scope: &str) -> String {
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(VERIFIER.as_bytes()));
        let mut url = url::Url::parse(&self.url("/i/oauth2/authorize")).expect("url");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", scope)
            .append_pair("state", "replay")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let a = answer(http().get(url.as_str())).await;
        assert_eq!(a.status, 302, "setup authorize: {}", a.text);
        let location =
            url::Url::parse(&a.header("location").expect("location")).expect("location url");
        let code = location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned());
        code.expect("code in the redirect")
    }
}

async fn set_up(ex: &Value) -> Replay {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts");
    let mut r = Replay {
        emu,
        token: None,
        vars: HashMap::new(),
    };
    let setup = &ex["replay"]["setup"];
    if setup["config_patch"].is_object() {
        r.patch_config(&setup["config_patch"]).await;
    }
    if let Some(limit) = setup["rate_limit"].as_object() {
        let endpoint = limit["endpoint"].as_str().expect("endpoint");
        r.patch_config(&json!({"rate_limits": {endpoint: {"limit": limit["limit"], "window_secs": limit["window_secs"]}}}))
            .await;
    }
    if let Some(scopes) = setup["token_scopes"].as_array() {
        let scopes: Vec<String> = scopes
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        r.token = Some(r.mint(&scopes));
    }
    if let Some(kind) = setup["media"].as_str() {
        // Media belongs to the replay's user; the setup uses its own media.write token.
        let setup_token = r.mint(&["media.write".to_owned()]);
        let id = match kind {
            "appended_video" | "finalized_video_pending" | "processed_video" | "failed_video" => {
                r.append_one(&setup_token, "video/mp4", "tweet_video", tiny_mp4(2000))
                    .await
            }
            "appended_image" | "finalized_image" => {
                let jpeg = vec![
                    0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 0xFF, 0xD9,
                ];
                r.append_one(&setup_token, "image/jpeg", "tweet_image", jpeg)
                    .await
            }
            other => panic!("unknown media setup {other}"),
        };
        match kind {
            "finalized_video_pending" | "finalized_image" => r.finalize(&setup_token, &id).await,
            "processed_video" => {
                r.finalize(&setup_token, &id).await;
                r.poll_until(&setup_token, &id, "succeeded").await;
            }
            "failed_video" => {
                r.emu.admin().push_processing_rule(ProcessingRule {
                    outcome: ProcessingOutcomeKind::Fail,
                    message: setup["fail_message"].as_str().map(str::to_owned),
                    media_id: Some(id.clone()),
                    count: 1,
                });
                r.finalize(&setup_token, &id).await;
                r.poll_until(&setup_token, &id, "failed").await;
            }
            _ => {}
        }
        r.vars.insert("media_id", id);
    }
    if let Some(text) = setup["post_text_first"].as_str() {
        let token = r.token.clone().expect("a token to post with");
        let a = r
            .api(
                Method::POST,
                "/2/tweets",
                &token,
                Some(json!({"text": text})),
            )
            .await;
        assert_eq!(a.status, 201, "setup: first post: {}", a.text);
    }
    if setup["used_code"] == true {
        let code = r.code("reelay-confidential", "tweet.read users.read").await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", VERIFIER),
            ("redirect_uri", REDIRECT),
        ];
        let a = answer(
            http()
                .post(r.url("/2/oauth2/token"))
                .basic_auth("reelay-confidential", Some("reelay-secret"))
                .form(&form),
        )
        .await;
        assert_eq!(
            a.status, 200,
            "setup: the first exchange of the code works: {}",
            a.text
        );
        r.vars.insert("code", code);
        r.vars.insert("verifier", VERIFIER.to_owned());
    }
    if setup["spent_refresh_token"] == true {
        let code = r
            .code("reelay-public", "tweet.read users.read offline.access")
            .await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", VERIFIER),
            ("redirect_uri", REDIRECT),
            ("client_id", "reelay-public"),
        ];
        let a = answer(http().post(r.url("/2/oauth2/token")).form(&form)).await;
        assert_eq!(a.status, 200, "setup: code exchange: {}", a.text);
        let first = a.json()["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned();
        let refresh = [
            ("grant_type", "refresh_token"),
            ("refresh_token", first.as_str()),
            ("client_id", "reelay-public"),
        ];
        let a = answer(http().post(r.url("/2/oauth2/token")).form(&refresh)).await;
        assert_eq!(a.status, 200, "setup: the first refresh works: {}", a.text);
        r.vars.insert("refresh_token", first);
    }
    if setup["spend_first"] == true {
        let a = r.send(&ex["replay"]["request"]).await;
        assert!(
            (200..300).contains(&a.status),
            "setup: the call within the limit: {} {}",
            a.status,
            a.text
        );
    }
    r
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compares the shape of `actual` with `recorded`: every recorded key exists with the same JSON
/// type (arrays: the first recorded element against the first actual one); with `exact`, the
/// actual objects have no other keys.
fn compare_shape(recorded: &Value, actual: &Value, at: &str, exact: bool, out: &mut Vec<String>) {
    match (recorded, actual) {
        (Value::Null, _) => {}
        (Value::Object(r), Value::Object(a)) => {
            for (k, rv) in r {
                match a.get(k) {
                    Some(av) => compare_shape(rv, av, &format!("{at}/{k}"), exact, out),
                    None => out.push(format!("{at}/{k}: missing (X sent {rv})")),
                }
            }
            if exact {
                for k in a.keys().filter(|k| !r.contains_key(*k)) {
                    out.push(format!(
                        "{at}/{k}: not in X's answer (emulator sent {})",
                        a[k]
                    ));
                }
            }
        }
        (Value::Array(r), Value::Array(a)) => match (r.first(), a.first()) {
            (Some(rv), Some(av)) => compare_shape(rv, av, &format!("{at}/0"), exact, out),
            (Some(_), None) => out.push(format!("{at}: empty, X's had items")),
            _ => {}
        },
        (r, a) if json_type(r) != json_type(a) => out.push(format!(
            "{at}: {} {a}, X sent {} {r}",
            json_type(a),
            json_type(r)
        )),
        _ => {}
    }
}

/// Everything in `actual` (an answer) that differs from the exchange's recorded answer.
fn differences(ex: &Value, actual: &Answer, now_secs: u64) -> Vec<String> {
    let compare = &ex["compare"];
    let recorded = &ex["recorded"]["response"];
    let mut out = Vec::new();
    let expected_status = compare["status"]
        .as_u64()
        .or_else(|| recorded["status"].as_u64())
        .expect("the fixture gives a numeric status (compare.status or recorded.response.status)");
    if u64::from(actual.status) != expected_status {
        out.push(format!("status {} (X: {expected_status})", actual.status));
    }
    for rule in compare["headers"].as_array().into_iter().flatten() {
        let name = rule["name"].as_str().expect("header name");
        let got = actual.header(name);
        let value = rule["value"].as_str().unwrap_or("");
        match (rule["rule"].as_str().expect("rule"), &got) {
            ("absent", Some(v)) => out.push(format!("header {name}: {v:?}, X sent none")),
            ("absent", None) => {}
            ("present", Some(_)) => {}
            (_, None) => out.push(format!("header {name}: missing")),
            ("equals", Some(v)) if v != value => {
                out.push(format!("header {name}: {v:?}, X sent {value:?}"))
            }
            ("content_type", Some(v)) if v.split(';').next().unwrap_or("").trim() != value => {
                out.push(format!("header {name}: {v:?}, X sent {value:?}"))
            }
            ("reset_in_future", Some(v)) => match v.parse::<u64>() {
                Ok(reset) if reset >= now_secs => {}
                _ => out.push(format!(
                    "header {name}: {v:?} is not an epoch second at or after now ({now_secs})"
                )),
            },
            ("equals" | "content_type", Some(_)) => {}
            (other, _) => panic!("unknown header rule {other}"),
        }
    }
    if let Some(body_at) = compare["body_at"].as_str() {
        let expected_root = if compare["expected_body"].is_object() {
            &compare["expected_body"]
        } else {
            &recorded["body"]
        };
        let expected = expected_root
            .pointer(compare["recorded_at"].as_str().unwrap_or(""))
            .expect("the fixture's recorded body has the compared part");
        let body = actual.json();
        match body.pointer(body_at) {
            None => out.push(format!("body has nothing at {body_at:?}: {}", actual.text)),
            Some(got) => {
                let exact = compare["exact_keys"] == true;
                compare_shape(expected, got, body_at, exact, &mut out);
                for p in compare["fixed"].as_array().into_iter().flatten() {
                    let p = p.as_str().expect("pointer");
                    let want = expected
                        .pointer(p)
                        .expect("a fixed pointer names a recorded value");
                    match got.pointer(p) {
                        Some(v) if v == want => {}
                        Some(v) => out.push(format!("{body_at}{p}: {v}, X sent {want}")),
                        None => out.push(format!("{body_at}{p}: missing, X sent {want}")),
                    }
                }
            }
        }
    }
    if let Some(schema) = compare["schema"].as_str() {
        let oas = oas::Oas::load();
        for e in oas.validate_named(schema, &actual.json()) {
            out.push(format!("not a {schema} (OAS): {e}"));
        }
    }
    out
}

async fn run(id: &str) {
    let ex = exchange(id);
    let r = set_up(&ex).await;
    let a = r.send(&ex["replay"]["request"]).await;
    let now = r.emu.admin().now_ms() / 1000;
    let diffs = differences(&ex, &a, now);
    assert!(
        diffs.is_empty(),
        "{id}: the emulator answers differently from X ({} {}):\n  {}\nemulator answered {} {}",
        ex["source"]["url"].as_str().unwrap_or(""),
        ex["source"]["date"].as_str().unwrap_or(""),
        diffs.join("\n  "),
        a.status,
        a.text
    );
}

macro_rules! replays {
    ($($id:ident),* $(,)?) => {
        const REPLAYED: &[&str] = &[$(stringify!($id)),*];
        $(
            #[tokio::test]
            async fn $id() {
                run(stringify!($id)).await;
            }
        )*
    };
}

replays!(
    missing_scope_media_upload_403,
    missing_scope_users_me_403,
    duplicate_post_403,
    client_not_enrolled_403,
    credits_depleted_402,
    bad_credentials_401,
    rate_limited_429,
    bad_authorization_code_400,
    spent_refresh_token_400,
    media_ids_invalid_400,
    finalize_empty_json_body_400,
    finalize_json_array_body_400,
    finalize_json_object_body_200,
    status_without_processing_400,
    init_success_200,
    finalize_image_success_200,
    finalize_video_pending_200,
    status_in_progress_200,
    status_succeeded_200,
    finalize_video_succeeded_200,
    status_failed_200,
);

#[test]
fn every_recorded_exchange_is_replayed_and_cites_its_source() {
    let f = fixture();
    let ids: BTreeSet<&str> = f["exchanges"]
        .as_array()
        .expect("exchanges")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    let replayed: BTreeSet<&str> = REPLAYED.iter().copied().collect();
    assert_eq!(
        ids, replayed,
        "each exchange in the fixture has exactly one replay test"
    );
    for e in f["exchanges"].as_array().expect("exchanges") {
        let id = e["id"].as_str().unwrap_or("");
        let url = e["source"]["url"].as_str().unwrap_or("");
        assert!(
            url.starts_with("https://github.com/"),
            "{id}: source url {url:?}"
        );
        let date = e["source"]["date"].as_str().unwrap_or("");
        assert!(
            date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-',
            "{id}: source date {date:?} is not YYYY-MM-DD"
        );
        assert!(
            !e["source"]["quote"].as_str().unwrap_or("").is_empty(),
            "{id}: no quote"
        );
        assert!(
            e["recorded"]["request"]["method"].is_string(),
            "{id}: no recorded request"
        );
        assert!(
            e["replay"]["request"]["path"].is_string(),
            "{id}: no replay request"
        );
        assert!(
            e["compare"]["status"].is_u64() || e["recorded"]["response"]["status"].is_u64(),
            "{id}: no status to compare"
        );
    }
}

#[test]
fn the_comparison_catches_differences() {
    let ex = exchange("duplicate_post_403");
    let answer_with = |status: u16, body: Value, headers: &[(&str, &str)]| {
        let mut h = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        Answer {
            status,
            headers: h,
            text: body.to_string(),
        }
    };
    let recorded = ex["recorded"]["response"]["body"].clone();
    let limit = [("x-rate-limit-limit", "100")];
    assert!(differences(&ex, &answer_with(403, recorded.clone(), &limit), 0).is_empty());
    let mut other_detail = recorded.clone();
    other_detail["detail"] = json!("Forbidden");
    assert!(!differences(&ex, &answer_with(403, other_detail, &limit), 0).is_empty());
    let mut extra = recorded.clone();
    extra["reason"] = json!("duplicate");
    assert!(!differences(&ex, &answer_with(403, extra, &limit), 0).is_empty());
    let mut wrong_type = recorded.clone();
    wrong_type["status"] = json!("403");
    assert!(!differences(&ex, &answer_with(403, wrong_type, &limit), 0).is_empty());
    assert!(!differences(&ex, &answer_with(400, recorded.clone(), &limit), 0).is_empty());
    assert!(!differences(&ex, &answer_with(403, recorded, &[]), 0).is_empty());
}
