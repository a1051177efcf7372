//! Conformance against X's own OpenAPI document (xdevplatform/docs `openapi.json` v2.167, trimmed
//! to the operations Reelay uses in `spec/x-openapi-subset.json`; see `spec/README.md`).
//!
//! 1. Every answer of the emulator, success and the main error paths of every endpoint Reelay
//!    calls, is validated against the OAS response schema for its status (problem bodies against
//!    the OAS `Problem`, or against `spec/x-recorded-problems.json` for the problem types real X
//!    sends and the OAS omits).
//! 2. Every request Reelay's real X client (`reelay_shared::x::XClient`) sends is captured by a
//!    proxy in front of the emulator and validated: path parameters, query parameters and JSON
//!    bodies against the OAS schemas, multipart APPEND parts against `AppendMediaUploadRequest`.
//!
//! Known differences between the OAS and what X is recorded to send are listed in
//! `KNOWN_DIVERGENCES` with their evidence; each must still occur (a stale entry fails), and any
//! other violation fails.

#[path = "../spec/oas.rs"]
mod oas;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use oas::{Checked, Oas};
use reelay_shared::config::XConfig;
use reelay_shared::secret::Secret;
use reelay_shared::x::{ProcessingState, TimelineQuery, XClient};
use reqwest::{Client, Method};
use serde_json::{json, Value};
use x_emulator::testing::tiny_mp4;
use x_emulator::{Emulator, EmulatorConfig, MintRequest, ProcessingOutcomeKind, ProcessingRule};

const USER: &str = "1072250532645998596";
const OTHER_USER: &str = "1456012973835788293";
const ALL: &[&str] = &[
    "tweet.read",
    "tweet.write",
    "users.read",
    "media.write",
    "offline.access",
];

/// Violations accepted because X itself is recorded to answer that way, against its OAS.
/// (case label prefix, text the violation contains, why). Each must occur at least once.
const KNOWN_DIVERGENCES: &[(&str, &str, &str)] = &[(
    "STATUS failed",
    "error",
    "OAS v2.167 GetMediaUploadStatusResponseDataProcessingInfo has additionalProperties:false and \
     no `error`; X's failed processing carries processing_info.error {code,name,message} \
     (PLhery/node-twitter-api-v2#243 2022, #519 2024; research/x-api.md Corrections), which the \
     emulator sends and Reelay reads",
)];

fn http() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn mint(emu: &Emulator, scopes: &[&str]) -> String {
    emu.admin()
        .mint_token(&MintRequest {
            user_id: USER.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            client_id: None,
        })
        .expect("mint")
        .access_token
}

enum Body {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
    Multipart(Vec<(&'static str, Vec<u8>)>),
}

struct Resp {
    status: u16,
    content_type: String,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn send(emu: &Emulator, method: Method, path: &str, token: Option<&str>, body: Body) -> Resp {
    let mut req = http().request(method, format!("{}{path}", emu.base_url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(&v),
        Body::Raw(ct, bytes) => req.header("content-type", ct).body(bytes),
        Body::Multipart(parts) => {
            let mut form = reqwest::multipart::Form::new();
            for (name, data) in parts {
                form = if name == "media" {
                    form.part(
                        name,
                        reqwest::multipart::Part::bytes(data)
                            .file_name("blob")
                            .mime_str("application/octet-stream")
                            .expect("mime"),
                    )
                } else {
                    form.text(name, String::from_utf8(data).expect("utf8"))
                };
            }
            req.multipart(form)
        }
    };
    let resp = req.send().await.expect("request reaches the emulator");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await.expect("body");
    Resp {
        status,
        content_type,
        text,
    }
}

/// One validated exchange.
struct CaseResult {
    label: String,
    status: u16,
    schema: String,
    errors: Vec<String>,
    host_rewrites: Vec<String>,
}

struct Conformance {
    oas: Oas,
    results: Vec<CaseResult>,
}

impl Conformance {
    fn new() -> Self {
        Conformance {
            oas: Oas::load(),
            results: Vec::new(),
        }
    }

    /// Validates one answer of `method template`, which the case expects with `expect` status.
    fn check(&mut self, label: &str, method: &str, template: &str, expect: u16, resp: &Resp) {
        let mut errors = Vec::new();
        if resp.status != expect {
            errors.push(format!(
                "status {} (expected {expect}): {}",
                resp.status, resp.text
            ));
        }
        let op = self.oas.operation(method, template);
        let declared = op["responses"][resp.status.to_string()].is_object();
        let mut checked = Checked::default();
        if (200..300).contains(&resp.status) && !declared {
            errors.push(format!(
                "success status {} is not one X's OAS declares for {method} {template}",
                resp.status
            ));
        } else if resp.text.is_empty() {
            let media_declared = op["responses"][if declared {
                resp.status.to_string()
            } else {
                "default".into()
            }]["content"]
                .is_object();
            if media_declared {
                errors.push("empty body where the OAS declares content".into());
            }
        } else {
            match serde_json::from_str::<Value>(&resp.text) {
                Ok(body) => {
                    checked = self.oas.validate_response(
                        method,
                        template,
                        resp.status,
                        &resp.content_type,
                        &body,
                    );
                    errors.extend(checked.errors.iter().cloned());
                }
                Err(e) => errors.push(format!("body is not JSON ({e}): {}", resp.text)),
            }
        }
        self.results.push(CaseResult {
            label: label.to_owned(),
            status: resp.status,
            schema: checked.schema,
            errors,
            host_rewrites: checked.host_rewrites,
        });
    }

    /// Prints every case and fails on any violation that `KNOWN_DIVERGENCES` does not explain,
    /// and on any known divergence that no longer occurs.
    fn finish(self, title: &str) {
        let mut unexplained = Vec::new();
        let mut used = BTreeSet::new();
        eprintln!(
            "== {title}: {} cases against OAS {}",
            self.results.len(),
            self.oas.version()
        );
        for r in &self.results {
            let mark = if r.errors.is_empty() { "ok " } else { "BAD" };
            eprintln!("{mark} {} -> {} [{}]", r.label, r.status, r.schema);
            for h in &r.host_rewrites {
                eprintln!("      note: problem type {h} compared as its api.x.com twin");
            }
            for e in &r.errors {
                let known = KNOWN_DIVERGENCES
                    .iter()
                    .position(|(label, text, _)| r.label.starts_with(label) && e.contains(text));
                match known {
                    Some(i) => {
                        used.insert(i);
                        eprintln!("      known divergence: {e}");
                    }
                    None => {
                        eprintln!("      VIOLATION: {e}");
                        unexplained.push(format!("{}: {e}", r.label));
                    }
                }
            }
        }
        let stale: Vec<&str> = KNOWN_DIVERGENCES
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.contains(i))
            .map(|(_, (label, _, _))| *label)
            .collect();
        // The title's suite decides which divergences it can see.
        let stale: Vec<&str> = stale
            .into_iter()
            .filter(|l| self.results.iter().any(|r| r.label.starts_with(l)))
            .collect();
        assert!(
            unexplained.is_empty(),
            "{} answer(s) violate X's OpenAPI:\n{}",
            unexplained.len(),
            unexplained.join("\n")
        );
        assert!(
            stale.is_empty(),
            "known divergences that no longer occur (remove them): {stale:?}"
        );
    }
}

#[test]
fn the_checker_rejects_what_x_spec_rejects() {
    let oas = Oas::load();
    assert_eq!(oas.version(), "2.167");
    assert_eq!(
        oas.doc["x-reelay-subset"]["commit"],
        "287132819074964da9c1c410ba02df5a06c932d3"
    );
    oas::self_test(&oas);
    // Every operation Reelay uses is in the subset, with its response schemas resolvable.
    for (m, p) in [
        ("post", "/2/media/upload/initialize"),
        ("post", "/2/media/upload/{id}/append"),
        ("post", "/2/media/upload/{id}/finalize"),
        ("get", "/2/media/upload"),
        ("post", "/2/tweets"),
        ("get", "/2/users/me"),
        ("get", "/2/users/{id}/tweets"),
    ] {
        let op = oas.operation(m, p);
        assert!(op["responses"]["default"].is_object(), "{m} {p}");
    }
    // A body that breaks the declared schema is caught through `validate_response`.
    let c = oas.validate_response(
        "post",
        "/2/tweets",
        201,
        "application/json",
        &json!({"data":{"id":"12a","text":"x"}}),
    );
    assert!(
        !c.ok(),
        "a non-digit post id must fail CreatePostsResponseData's pattern"
    );
}

/// Uploads `bytes` as one segment; returns the media id (not finalized).
async fn init_append(
    emu: &Emulator,
    tok: &str,
    c: &mut Conformance,
    media_type: &str,
    category: &str,
    bytes: Vec<u8>,
) -> String {
    let r = send(
        emu,
        Method::POST,
        "/2/media/upload/initialize",
        Some(tok),
        Body::Json(json!({"media_type": media_type, "total_bytes": bytes.len(), "media_category": category})),
    )
    .await;
    c.check(
        &format!("INIT {category}"),
        "post",
        "/2/media/upload/initialize",
        200,
        &r,
    );
    let id = r.json()["data"]["id"].as_str().expect("INIT id").to_owned();
    let r = send(
        emu,
        Method::POST,
        &format!("/2/media/upload/{id}/append"),
        Some(tok),
        Body::Multipart(vec![("segment_index", b"0".to_vec()), ("media", bytes)]),
    )
    .await;
    c.check(
        &format!("APPEND {category}"),
        "post",
        "/2/media/upload/{id}/append",
        200,
        &r,
    );
    id
}

async fn status(emu: &Emulator, tok: &str, id: &str) -> Resp {
    send(
        emu,
        Method::GET,
        &format!("/2/media/upload?command=STATUS&media_id={id}"),
        Some(tok),
        Body::None,
    )
    .await
}

#[tokio::test]
async fn emulator_answers_match_x_openapi() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("start");
    let mut c = Conformance::new();
    let tok = mint(&emu, ALL);
    let no_media = mint(&emu, &["tweet.read", "tweet.write", "users.read"]);
    let users_only = mint(&emu, &["users.read"]);
    let media_only = mint(&emu, &["media.write"]);

    // ---- GET /2/users/me
    let r = send(&emu, Method::GET, "/2/users/me", Some(&tok), Body::None).await;
    c.check("users/me", "get", "/2/users/me", 200, &r);
    let r = send(
        &emu,
        Method::GET,
        "/2/users/me",
        Some("not-a-token"),
        Body::None,
    )
    .await;
    c.check("users/me bad token", "get", "/2/users/me", 401, &r);
    let r = send(
        &emu,
        Method::GET,
        "/2/users/me",
        Some(&users_only),
        Body::None,
    )
    .await;
    c.check("users/me missing scope", "get", "/2/users/me", 403, &r);

    // ---- INIT
    let r = send(
        &emu,
        Method::POST,
        "/2/media/upload/initialize",
        Some(&tok),
        Body::Json(
            json!({"media_type":"video/avi","total_bytes":10,"media_category":"tweet_video"}),
        ),
    )
    .await;
    c.check(
        "INIT bad media_type",
        "post",
        "/2/media/upload/initialize",
        400,
        &r,
    );
    let r = send(
        &emu,
        Method::POST,
        "/2/media/upload/initialize",
        Some(&tok),
        Body::Raw(
            "application/x-www-form-urlencoded",
            b"command=INIT&media_type=video%2Fmp4&total_bytes=10".to_vec(),
        ),
    )
    .await;
    c.check(
        "INIT form body",
        "post",
        "/2/media/upload/initialize",
        400,
        &r,
    );
    let r = send(
        &emu,
        Method::POST,
        "/2/media/upload/initialize",
        Some(&no_media),
        Body::Json(
            json!({"media_type":"video/mp4","total_bytes":10,"media_category":"tweet_video"}),
        ),
    )
    .await;
    c.check(
        "INIT missing scope",
        "post",
        "/2/media/upload/initialize",
        403,
        &r,
    );

    // ---- a video through INIT, APPEND, FINALIZE and STATUS to succeeded
    let video = tiny_mp4(3000);
    let vid = init_append(
        &emu,
        &tok,
        &mut c,
        "video/mp4",
        "tweet_video",
        video.clone(),
    )
    .await;
    let r = send(
        &emu,
        Method::POST,
        &format!("/2/media/upload/{vid}/append"),
        Some(&tok),
        Body::Multipart(vec![
            ("segment_index", b"1000".to_vec()),
            ("media", vec![1, 2, 3]),
        ]),
    )
    .await;
    c.check(
        "APPEND segment_index 1000",
        "post",
        "/2/media/upload/{id}/append",
        400,
        &r,
    );
    let r = send(
        &emu,
        Method::POST,
        "/2/media/upload/9999999999/append",
        Some(&tok),
        Body::Multipart(vec![
            ("segment_index", b"0".to_vec()),
            ("media", vec![1, 2, 3]),
        ]),
    )
    .await;
    c.check(
        "APPEND unknown media",
        "post",
        "/2/media/upload/{id}/append",
        400,
        &r,
    );
    let r = status(&emu, &tok, &vid).await;
    c.check("STATUS before FINALIZE", "get", "/2/media/upload", 400, &r);
    let r = send(
        &emu,
        Method::POST,
        &format!("/2/media/upload/{vid}/finalize"),
        Some(&tok),
        Body::None,
    )
    .await;
    c.check(
        "FINALIZE video (pending)",
        "post",
        "/2/media/upload/{id}/finalize",
        200,
        &r,
    );
    assert_eq!(
        r.json()["data"]["processing_info"]["state"],
        "pending",
        "{}",
        r.text
    );
    let r = send(
        &emu,
        Method::POST,
        &format!("/2/media/upload/{vid}/finalize"),
        Some(&tok),
        Body::None,
    )
    .await;
    c.check(
        "FINALIZE twice",
        "post",
        "/2/media/upload/{id}/finalize",
        400,
        &r,
    );
    let mut states = Vec::new();
    for i in 0..10 {
        let r = status(&emu, &tok, &vid).await;
        let state = r.json()["data"]["processing_info"]["state"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        c.check(
            &format!("STATUS {state} #{i}"),
            "get",
            "/2/media/upload",
            200,
            &r,
        );
        states.push(state.clone());
        if state == "succeeded" || state == "failed" {
            break;
        }
    }
    assert_eq!(
        states.last().map(String::as_str),
        Some("succeeded"),
        "{states:?}"
    );
    assert!(states.iter().any(|s| s == "in_progress"), "{states:?}");
    let r = status(&emu, &tok, "9999999999").await;
    c.check("STATUS unknown media", "get", "/2/media/upload", 400, &r);
    let r = send(
        &emu,
        Method::GET,
        "/2/media/upload?command=STATUS",
        Some(&tok),
        Body::None,
    )
    .await;
    c.check("STATUS without media_id", "get", "/2/media/upload", 400, &r);
    let r = status(&emu, &no_media, &vid).await;
    c.check("STATUS missing scope", "get", "/2/media/upload", 403, &r);

    // ---- FINALIZE with a byte-count mismatch, then an image (no processing)
    let r = send(
        &emu,
        Method::POST,
        "/2/media/upload/initialize",
        Some(&media_only),
        Body::Json(json!({"media_type":"video/mp4","total_bytes":video.len() + 10,"media_category":"tweet_video"})),
    )
    .await;
    let short = r.json()["data"]["id"].as_str().expect("id").to_owned();
    let r = send(
        &emu,
        Method::POST,
        &format!("/2/media/upload/{short}/finalize"),
        Some(&media_only),
        Body::None,
    )
    .await;
    c.check(
        "FINALIZE with no bytes",
        "post",
        "/2/media/upload/{id}/finalize",
        400,
        &r,
    );
    let img = init_append(
        &emu,
        &media_only,
        &mut c,
        "image/jpeg",
        "tweet_image",
        vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4],
    )
    .await;
    let r = send(
        &emu,
        Method::POST,
        &format!("/2/media/upload/{img}/finalize"),
        Some(&media_only),
        Body::None,
    )
    .await;
    c.check(
        "FINALIZE image",
        "post",
        "/2/media/upload/{id}/finalize",
        200,
        &r,
    );
    // An image needs no processing: STATUS answers X's "BadRequest: Not found" (xdevplatform/xurl#18).
    let r = status(&emu, &media_only, &img).await;
    c.check(
        "STATUS image (no processing)",
        "get",
        "/2/media/upload",
        400,
        &r,
    );

    // ---- a video whose processing fails
    let bad = init_append(
        &emu,
        &tok,
        &mut c,
        "video/mp4",
        "tweet_video",
        tiny_mp4(100),
    )
    .await;
    emu.admin().push_processing_rule(ProcessingRule {
        outcome: ProcessingOutcomeKind::Fail,
        message: Some("Unsupported video format".into()),
        media_id: Some(bad.clone()),
        count: 1,
    });
    send(
        &emu,
        Method::POST,
        &format!("/2/media/upload/{bad}/finalize"),
        Some(&tok),
        Body::None,
    )
    .await;
    let mut failed = None;
    for _ in 0..10 {
        let r = status(&emu, &tok, &bad).await;
        if r.json()["data"]["processing_info"]["state"] == "failed" {
            failed = Some(r);
            break;
        }
    }
    let failed = failed.expect("processing fails within 10 polls");
    c.check("STATUS failed", "get", "/2/media/upload", 200, &failed);

    // ---- POST /2/tweets
    let r = send(
        &emu,
        Method::POST,
        "/2/tweets",
        Some(&tok),
        Body::Json(json!({"text":"conformance: plain text"})),
    )
    .await;
    c.check("tweets text", "post", "/2/tweets", 201, &r);
    let r = send(
        &emu,
        Method::POST,
        "/2/tweets",
        Some(&tok),
        Body::Json(json!({"text":"conformance: with video","media":{"media_ids":[vid]}})),
    )
    .await;
    c.check("tweets with media", "post", "/2/tweets", 201, &r);
    let r = send(
        &emu,
        Method::POST,
        "/2/tweets",
        Some(&tok),
        Body::Json(json!({"text":"conformance: plain text"})),
    )
    .await;
    c.check("tweets duplicate", "post", "/2/tweets", 403, &r);
    let r = send(
        &emu,
        Method::POST,
        "/2/tweets",
        Some(&tok),
        Body::Json(json!({"text":"x".repeat(281)})),
    )
    .await;
    c.check("tweets too long", "post", "/2/tweets", 400, &r);
    let r = send(
        &emu,
        Method::POST,
        "/2/tweets",
        Some(&tok),
        Body::Json(json!({"text":"conformance: failed media","media":{"media_ids":[bad]}})),
    )
    .await;
    c.check("tweets invalid media ids", "post", "/2/tweets", 400, &r);
    let r = send(
        &emu,
        Method::POST,
        "/2/tweets",
        Some(&tok),
        Body::Json(json!({"text":"conformance: x","bogus":1})),
    )
    .await;
    c.check("tweets unknown field", "post", "/2/tweets", 400, &r);
    let r = send(
        &emu,
        Method::POST,
        "/2/tweets",
        Some(&media_only),
        Body::Json(json!({"text":"conformance: scope"})),
    )
    .await;
    c.check("tweets missing scope", "post", "/2/tweets", 403, &r);

    // ---- GET /2/users/{id}/tweets
    for i in 0..6 {
        let r = send(
            &emu,
            Method::POST,
            "/2/tweets",
            Some(&tok),
            Body::Json(json!({"text": format!("conformance: timeline {i}")})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = send(
        &emu,
        Method::GET,
        &format!("/2/users/{USER}/tweets?max_results=5&expansions=attachments.media_keys&tweet.fields=created_at,author_id,attachments"),
        Some(&tok),
        Body::None,
    )
    .await;
    c.check("timeline page 1", "get", "/2/users/{id}/tweets", 200, &r);
    let next = r.json()["meta"]["next_token"]
        .as_str()
        .expect("next_token")
        .to_owned();
    let r = send(
        &emu,
        Method::GET,
        &format!("/2/users/{USER}/tweets?max_results=5&expansions=attachments.media_keys&pagination_token={next}"),
        Some(&tok),
        Body::None,
    )
    .await;
    c.check(
        "timeline page 2 (with media)",
        "get",
        "/2/users/{id}/tweets",
        200,
        &r,
    );
    let r = send(
        &emu,
        Method::GET,
        &format!("/2/users/{USER}/tweets?start_time=2099-01-01T00:00:00Z"),
        Some(&tok),
        Body::None,
    )
    .await;
    c.check("timeline empty", "get", "/2/users/{id}/tweets", 200, &r);
    let r = send(
        &emu,
        Method::GET,
        "/2/users/1234567/tweets",
        Some(&tok),
        Body::None,
    )
    .await;
    c.check(
        "timeline unknown user",
        "get",
        "/2/users/{id}/tweets",
        200,
        &r,
    );
    let r = send(
        &emu,
        Method::GET,
        &format!("/2/users/{USER}/tweets?max_results=3"),
        Some(&tok),
        Body::None,
    )
    .await;
    c.check(
        "timeline max_results 3",
        "get",
        "/2/users/{id}/tweets",
        400,
        &r,
    );
    let r = send(
        &emu,
        Method::GET,
        &format!("/2/users/{USER}/tweets?pagination_token=zzzz"),
        Some(&tok),
        Body::None,
    )
    .await;
    c.check(
        "timeline bad pagination_token",
        "get",
        "/2/users/{id}/tweets",
        400,
        &r,
    );
    let r = send(
        &emu,
        Method::GET,
        &format!("/2/users/{USER}/tweets"),
        Some(&media_only),
        Body::None,
    )
    .await;
    c.check(
        "timeline missing scope",
        "get",
        "/2/users/{id}/tweets",
        403,
        &r,
    );

    // ---- 429 with the limit spent
    let patch = http()
        .patch(format!("{}/__admin/config", emu.base_url))
        .json(&json!({"rate_limits":{"users_me":{"limit":1,"window_secs":900}}}))
        .send()
        .await
        .expect("admin");
    assert!(patch.status().is_success());
    // Limits are per user; the other test user has not called users/me yet.
    let fresh = emu
        .admin()
        .mint_token(&MintRequest {
            user_id: OTHER_USER.into(),
            scopes: ALL.iter().map(|s| s.to_string()).collect(),
            client_id: None,
        })
        .expect("mint")
        .access_token;
    let r = send(&emu, Method::GET, "/2/users/me", Some(&fresh), Body::None).await;
    c.check("users/me within limit", "get", "/2/users/me", 200, &r);
    let r = send(&emu, Method::GET, "/2/users/me", Some(&fresh), Body::None).await;
    c.check("users/me rate limited", "get", "/2/users/me", 429, &r);

    // ---- the app's access level lacks an endpoint (client-not-enrolled)
    let patch = http()
        .patch(format!("{}/__admin/config", emu.base_url))
        .json(&json!({"not_enrolled_endpoints":["tweets"]}))
        .send()
        .await
        .expect("admin");
    assert!(patch.status().is_success());
    let r = send(
        &emu,
        Method::POST,
        "/2/tweets",
        Some(&tok),
        Body::Json(json!({"text":"conformance: not enrolled"})),
    )
    .await;
    c.check("tweets client not enrolled", "post", "/2/tweets", 403, &r);

    c.finish("emulator answers");
}

/// Requests whose query parameters X's OAS rejects must be refused with 400 and a valid problem,
/// as X refuses them (recorded wording, research/x-api.md §7: "The `tweet.fields` query parameter
/// value [...] is not one of [...]"). Each request is first shown to violate the OAS.
#[tokio::test]
async fn emulator_refuses_parameters_x_spec_refuses() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("start");
    let tok = mint(&emu, ALL);
    let oas = Oas::load();
    let mut c = Conformance::new();
    let cases: &[(&str, &str, &str)] = &[
        (
            "users/me user.fields=bogus",
            "/2/users/me",
            "user.fields=bogus",
        ),
        (
            "users/me expansions=bogus",
            "/2/users/me",
            "expansions=bogus",
        ),
        (
            "timeline tweet.fields=bogus",
            "/2/users/{id}/tweets",
            "tweet.fields=bogus",
        ),
        (
            "timeline expansions=bogus",
            "/2/users/{id}/tweets",
            "expansions=bogus",
        ),
        (
            "timeline max_results=101",
            "/2/users/{id}/tweets",
            "max_results=101",
        ),
        (
            "timeline since_id=abc",
            "/2/users/{id}/tweets",
            "since_id=abc",
        ),
        (
            "timeline start_time not RFC 3339",
            "/2/users/{id}/tweets",
            "start_time=2026-01-01",
        ),
        (
            "STATUS command=FINALIZE",
            "/2/media/upload",
            "command=FINALIZE&media_id=1",
        ),
        (
            "STATUS media_id=abc",
            "/2/media/upload",
            "media_id=abc&command=STATUS",
        ),
    ];
    for (label, template, query) in cases {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        // `tweet.fields` is the docs' name for the OAS's `post.fields`; the OAS checks the value.
        let oas_pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| {
                (
                    if k == "tweet.fields" {
                        "post.fields".into()
                    } else {
                        k.clone()
                    },
                    v.clone(),
                )
            })
            .collect();
        assert!(
            !oas.validate_query("get", template, &oas_pairs).is_empty(),
            "{label}: the OAS accepts {query}, so this case proves nothing"
        );
        let path = template.replace("{id}", USER);
        let r = send(
            &emu,
            Method::GET,
            &format!("{path}?{query}"),
            Some(&tok),
            Body::None,
        )
        .await;
        c.check(label, "get", template, 400, &r);
    }
    c.finish("parameters X's spec refuses");
}

// ====================== Reelay's requests ======================

/// One request as it crossed the proxy, and the emulator's answer.
#[derive(Clone)]
struct Captured {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: axum::http::HeaderMap,
    body: Bytes,
    status: u16,
    response_content_type: String,
    response_body: Bytes,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    log: Arc<Mutex<Vec<Captured>>>,
    client: Client,
}

async fn forward(State(proxy): State<Proxy>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("request body");
    let path = parts.uri.path().to_owned();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let mut upstream = proxy.client.request(
        parts.method.clone(),
        format!("{}{path_and_query}", proxy.upstream),
    );
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream
        .body(body.clone())
        .send()
        .await
        .expect("emulator answers");
    let status = answer.status();
    let headers = answer.headers().clone();
    let response_body = answer.bytes().await.expect("answer body");
    let response_content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    proxy.log.lock().expect("log").push(Captured {
        method: parts.method.to_string(),
        path,
        query,
        headers: parts.headers.clone(),
        body: body.clone(),
        status: status.as_u16(),
        response_content_type,
        response_body: response_body.clone(),
    });
    let mut out = (status, response_body).into_response();
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            out.headers_mut().insert(name, value.clone());
        }
    }
    out
}

async fn start_proxy(upstream: &str) -> (String, Arc<Mutex<Vec<Captured>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let proxy = Proxy {
        upstream: upstream.to_owned(),
        log: log.clone(),
        client: http(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), log)
}

/// The OAS path template a captured path belongs to.
fn template_of(method: &str, path: &str) -> &'static str {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        ("POST", ["2", "media", "upload", "initialize"]) => "/2/media/upload/initialize",
        ("POST", ["2", "media", "upload", _, "append"]) => "/2/media/upload/{id}/append",
        ("POST", ["2", "media", "upload", _, "finalize"]) => "/2/media/upload/{id}/finalize",
        ("GET", ["2", "media", "upload"]) => "/2/media/upload",
        ("POST", ["2", "tweets"]) => "/2/tweets",
        ("GET", ["2", "users", "me"]) => "/2/users/me",
        ("GET", ["2", "users", _, "tweets"]) => "/2/users/{id}/tweets",
        _ => panic!("Reelay called {method} {path}, which is not an operation of the OAS subset"),
    }
}

/// Validates one captured request; returns its violations.
async fn check_request(oas: &Oas, cap: &Captured) -> (String, Vec<String>) {
    let template = template_of(&cap.method, &cap.path);
    let method = cap.method.to_ascii_lowercase();
    let label = format!("{} {template}", cap.method);
    let mut errors = oas.validate_path(&method, template, &cap.path);
    errors.extend(oas.validate_query(&method, template, &cap.query));
    match cap
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        Some(a) if a.starts_with("Bearer ") && a.len() > 7 => {}
        other => errors.push(format!(
            "authorization header is {other:?}, not a bearer token"
        )),
    }
    let content_type = cap
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let op = oas.operation(&method, template);
    let declares_body = op["requestBody"].is_object();
    if !declares_body {
        // FINALIZE, STATUS and the GETs: the OAS defines no request body.
        if !cap.body.is_empty() {
            errors.push(format!(
                "sent a {}-byte body; the OAS defines none",
                cap.body.len()
            ));
        }
        if !content_type.is_empty() {
            errors.push(format!("sent content-type {content_type:?} with no body"));
        }
        return (label, errors);
    }
    let Some(schema) = oas.request_schema(&method, template, &content_type) else {
        errors.push(format!(
            "content-type {content_type:?} is not one the OAS accepts"
        ));
        return (label, errors);
    };
    if op["requestBody"]["required"] == true && cap.body.is_empty() {
        errors.push("empty body; the OAS requires one".into());
    }
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(&cap.body) {
            Ok(v) => errors.extend(oas.validate(&schema, &v)),
            Err(e) => errors.push(format!("body is not JSON: {e}")),
        }
    } else if content_type.starts_with("multipart/form-data") {
        let request = axum::http::Request::builder()
            .method("POST")
            .header("content-type", &content_type)
            .body(axum::body::Body::from(cap.body.clone()))
            .expect("request");
        let mut form = Multipart::from_request(request, &())
            .await
            .expect("a multipart body");
        let resolved = &oas.doc["components"]["schemas"]["AppendMediaUploadRequest"];
        let mut instance = serde_json::Map::new();
        while let Some(field) = form.next_field().await.expect("multipart field") {
            let name = field.name().unwrap_or("").to_owned();
            let file_name = field.file_name().map(str::to_owned);
            let part_type = field.content_type().map(str::to_owned);
            let data = field.bytes().await.expect("field bytes");
            if instance.contains_key(&name) {
                errors.push(format!("multipart field {name} sent twice"));
            }
            let prop = &resolved["properties"][&name];
            let value = if prop["type"] == "integer" {
                // A primitive part is text/plain (OpenAPI 3.0 encoding defaults).
                if part_type.as_deref().is_some_and(|t| t != "text/plain") {
                    errors.push(format!("field {name} has part type {part_type:?}"));
                }
                let text = String::from_utf8_lossy(&data).into_owned();
                oas.param_instance(prop, &text)
            } else {
                if name == "media" {
                    // `format: binary`: a file part, application/octet-stream by default.
                    if file_name.is_none() {
                        errors.push("media part has no filename (not a file part)".into());
                    }
                    if part_type.as_deref() != Some("application/octet-stream") {
                        errors.push(format!(
                            "media part type {part_type:?}, not application/octet-stream"
                        ));
                    }
                    if data.is_empty() {
                        errors.push("media part is empty".into());
                    }
                }
                Value::String(format!("<{} bytes>", data.len()))
            };
            instance.insert(name, value);
        }
        errors.extend(oas.validate(&schema, &Value::Object(instance)));
    } else {
        errors.push(format!("no check for content-type {content_type:?}"));
    }
    (label, errors)
}

#[tokio::test]
async fn reelay_requests_match_x_openapi() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("start");
    let (proxy, log) = start_proxy(&emu.base_url).await;
    let url = |p: &str| url::Url::parse(&format!("{proxy}{p}")).expect("url");
    let config = XConfig {
        client_id: "reelay-public".into(),
        client_secret_arn: None,
        client_secret: None,
        redirect_uri: url::Url::parse("http://127.0.0.1:3000/api/auth/platforms/twitter/callback")
            .expect("url"),
        authorize_url: url("/i/oauth2/authorize"),
        token_url: url("/2/oauth2/token"),
        revoke_url: url("/2/oauth2/revoke"),
        api_base_url: url(""),
        request_timeout: Duration::from_secs(30),
    };
    let x = XClient::new(http(), &config);
    let token = Secret::new(mint(&emu, ALL));

    let me = x.users_me(&token).await.expect("users/me");
    assert_eq!(me.id, USER);

    // A video in two segments, as the engine sends it.
    let video = tiny_mp4(5000);
    let init = x
        .media_initialize(&token, video.len() as u64, "video/mp4", "tweet_video")
        .await
        .expect("INIT");
    let half = video.len() / 2;
    x.media_append(&token, &init.id, 0, Bytes::copy_from_slice(&video[..half]))
        .await
        .expect("APPEND 0");
    x.media_append(&token, &init.id, 1, Bytes::copy_from_slice(&video[half..]))
        .await
        .expect("APPEND 1");
    let fin = x.media_finalize(&token, &init.id).await.expect("FINALIZE");
    assert_eq!(fin.state, ProcessingState::Pending);
    let mut state = fin.state;
    for _ in 0..10 {
        state = x
            .media_status(&token, &init.id)
            .await
            .expect("STATUS")
            .state;
        if state == ProcessingState::Succeeded {
            break;
        }
    }
    assert_eq!(state, ProcessingState::Succeeded);
    let post = x
        .create_post(
            &token,
            "spec conformance: Reelay's post with a video",
            std::slice::from_ref(&init.id),
        )
        .await
        .expect("post with media");
    for i in 0..5 {
        x.create_post(&token, &format!("spec conformance: text only {i}"), &[])
            .await
            .expect("text post");
    }
    let page = x
        .timeline(
            &token,
            USER,
            &TimelineQuery {
                max_results: 5,
                start_time_secs: Some(1_300_000_000),
                pagination_token: None,
            },
        )
        .await
        .expect("timeline");
    let next = page
        .next_token
        .clone()
        .expect("six posts, five a page: a next page");
    let page2 = x
        .timeline(
            &token,
            USER,
            &TimelineQuery {
                max_results: 5,
                start_time_secs: None,
                pagination_token: Some(next),
            },
        )
        .await
        .expect("timeline page 2");
    assert!(
        page2.posts.iter().any(|p| p.id == post.id),
        "the video post is on page 2"
    );
    x.recent_posts(&token, USER, 3)
        .await
        .expect("recent posts (clamped to 5)");

    let captured = log.lock().expect("log").clone();
    let oas = Oas::load();
    let mut c = Conformance {
        oas: Oas::load(),
        results: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    let mut violations = Vec::new();
    for cap in &captured {
        let (label, errors) = check_request(&oas, cap).await;
        eprintln!(
            "{} request {label} {}{}",
            if errors.is_empty() { "ok " } else { "BAD" },
            cap.path,
            if cap.query.is_empty() {
                String::new()
            } else {
                format!(
                    "?{}",
                    cap.query
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("&")
                )
            }
        );
        for e in &errors {
            eprintln!("      VIOLATION: {e}");
            violations.push(format!("{label}: {e}"));
        }
        seen.insert(template_of(&cap.method, &cap.path));
        // The answers Reelay read are validated too.
        let resp = Resp {
            status: cap.status,
            content_type: cap.response_content_type.clone(),
            text: String::from_utf8_lossy(&cap.response_body).into_owned(),
        };
        let expect = cap.status;
        c.check(
            &format!("answer to Reelay's {label}"),
            &cap.method.to_ascii_lowercase(),
            template_of(&cap.method, &cap.path),
            expect,
            &resp,
        );
    }
    assert_eq!(
        seen.len(),
        7,
        "every operation Reelay uses was exercised: {seen:?}"
    );
    assert!(
        captured.len() >= 15,
        "expected the whole journey to cross the proxy, saw {}",
        captured.len()
    );
    assert!(
        violations.is_empty(),
        "Reelay's requests violate X's OpenAPI:\n{}",
        violations.join("\n")
    );
    c.finish("answers Reelay read");
}

/// A multipart part: name, filename, part content type, data.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// The request checks catch what X's spec forbids, so a clean run of Reelay's requests means
/// something: each crafted request breaks one rule and must be reported.
#[tokio::test]
async fn request_checks_catch_what_x_spec_forbids() {
    let oas = Oas::load();
    let headers = |pairs: &[(&str, &str)]| {
        let mut h = axum::http::HeaderMap::new();
        h.insert("authorization", "Bearer t".parse().expect("header"));
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    };
    let cap = |method: &str,
               path: &str,
               query: &[(&str, &str)],
               h: axum::http::HeaderMap,
               body: &[u8]| Captured {
        method: method.into(),
        path: path.into(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        headers: h,
        body: Bytes::copy_from_slice(body),
        status: 200,
        response_content_type: String::new(),
        response_body: Bytes::new(),
    };
    let multipart = |parts: &[Part]| {
        let mut body = Vec::new();
        for (name, file, ct, data) in parts {
            body.extend_from_slice(b"--XB\r\nContent-Disposition: form-data; name=\"");
            body.extend_from_slice(name.as_bytes());
            body.extend_from_slice(b"\"");
            if let Some(f) = file {
                body.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            if let Some(t) = ct {
                body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XB--\r\n");
        body
    };
    let mp = headers(&[("content-type", "multipart/form-data; boundary=XB")]);
    let json_h = headers(&[("content-type", "application/json")]);
    let good_append = multipart(&[
        ("segment_index", None, None, b"0"),
        (
            "media",
            Some("media"),
            Some("application/octet-stream"),
            b"abc",
        ),
    ]);
    // The well-formed request passes, so the failures below are the rule each breaks.
    let (_, errors) = check_request(
        &oas,
        &cap(
            "POST",
            "/2/media/upload/123/append",
            &[],
            mp.clone(),
            &good_append,
        ),
    )
    .await;
    assert!(errors.is_empty(), "{errors:?}");
    let bad: Vec<(&str, Captured)> = vec![
        (
            "segment_index not an integer",
            cap(
                "POST",
                "/2/media/upload/123/append",
                &[],
                mp.clone(),
                &multipart(&[
                    ("segment_index", None, None, b"first"),
                    (
                        "media",
                        Some("media"),
                        Some("application/octet-stream"),
                        b"abc",
                    ),
                ]),
            ),
        ),
        (
            "segment_index above 999",
            cap(
                "POST",
                "/2/media/upload/123/append",
                &[],
                mp.clone(),
                &multipart(&[
                    ("segment_index", None, None, b"1000"),
                    (
                        "media",
                        Some("media"),
                        Some("application/octet-stream"),
                        b"abc",
                    ),
                ]),
            ),
        ),
        (
            "extra multipart field",
            cap(
                "POST",
                "/2/media/upload/123/append",
                &[],
                mp.clone(),
                &multipart(&[
                    ("command", None, None, b"APPEND"),
                    ("segment_index", None, None, b"0"),
                    (
                        "media",
                        Some("media"),
                        Some("application/octet-stream"),
                        b"abc",
                    ),
                ]),
            ),
        ),
        (
            "media not a file part",
            cap(
                "POST",
                "/2/media/upload/123/append",
                &[],
                mp.clone(),
                &multipart(&[
                    ("segment_index", None, None, b"0"),
                    ("media", None, None, b"abc"),
                ]),
            ),
        ),
        (
            "media missing",
            cap(
                "POST",
                "/2/media/upload/123/append",
                &[],
                mp.clone(),
                &multipart(&[("segment_index", None, None, b"0")]),
            ),
        ),
        (
            "media id not digits",
            cap(
                "POST",
                "/2/media/upload/12a/append",
                &[],
                mp.clone(),
                &good_append,
            ),
        ),
        (
            "FINALIZE with a body",
            cap(
                "POST",
                "/2/media/upload/123/finalize",
                &[],
                json_h.clone(),
                b"{}",
            ),
        ),
        (
            "STATUS unknown parameter",
            cap(
                "GET",
                "/2/media/upload",
                &[("media_id", "123"), ("command", "STATUS"), ("x", "1")],
                headers(&[]),
                b"",
            ),
        ),
        (
            "STATUS without media_id",
            cap(
                "GET",
                "/2/media/upload",
                &[("command", "STATUS")],
                headers(&[]),
                b"",
            ),
        ),
        (
            "INIT form-encoded",
            cap(
                "POST",
                "/2/media/upload/initialize",
                &[],
                headers(&[("content-type", "application/x-www-form-urlencoded")]),
                b"media_type=video%2Fmp4",
            ),
        ),
        (
            "INIT unknown field",
            cap(
                "POST",
                "/2/media/upload/initialize",
                &[],
                json_h.clone(),
                br#"{"media_type":"video/mp4","total_bytes":1,"command":"INIT"}"#,
            ),
        ),
        (
            "tweet media id as a number",
            cap(
                "POST",
                "/2/tweets",
                &[],
                json_h.clone(),
                br#"{"text":"x","media":{"media_ids":[123]}}"#,
            ),
        ),
        (
            "tweet empty media_ids",
            cap(
                "POST",
                "/2/tweets",
                &[],
                json_h.clone(),
                br#"{"text":"x","media":{"media_ids":[]}}"#,
            ),
        ),
        (
            "timeline max_results 4",
            cap(
                "GET",
                "/2/users/1/tweets",
                &[("max_results", "4")],
                headers(&[]),
                b"",
            ),
        ),
        (
            "timeline start_time without zone",
            cap(
                "GET",
                "/2/users/1/tweets",
                &[("start_time", "2026-01-01T00:00:00")],
                headers(&[]),
                b"",
            ),
        ),
        ("no bearer token", {
            let mut c = cap("GET", "/2/users/me", &[], headers(&[]), b"");
            c.headers.remove("authorization");
            c
        }),
    ];
    for (rule, request) in bad {
        let (_, errors) = check_request(&oas, &request).await;
        assert!(!errors.is_empty(), "{rule}: not caught");
    }
}
