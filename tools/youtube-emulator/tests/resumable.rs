//! The resumable upload and the processing poll, driven over loopback with
//! reqwest as a client would (redirects off: 308 is "Resume Incomplete").

use reqwest::header::{HeaderMap, CONTENT_RANGE, LOCATION, RANGE, WWW_AUTHENTICATE};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use youtube_emulator::{Emulator, EmulatorConfig, ProcessingOutcome, CHUNK_MULTIPLE};

const CHUNK: usize = CHUNK_MULTIPLE as usize;

struct Env {
    emu: Emulator,
    http: Client,
    token: String,
}

async fn env_with(config: EmulatorConfig) -> Env {
    let emu = Emulator::spawn(config).await.expect("spawn");
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = http
        .post(format!("{}/__admin/tokens", emu.base_url()))
        .json(&json!({"channel_id": "UCchannel1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let token = resp.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    Env { emu, http, token }
}

async fn env() -> Env {
    env_with(EmulatorConfig::default()).await
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn meta(title: &str) -> Value {
    json!({"snippet": {"title": title, "description": "made by a test"},
           "status": {"privacyStatus": "private"}})
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.base_url(), path)
    }

    async fn start_raw(&self, body: &Value, total: u64, token: Option<&str>) -> Response {
        let mut req = self
            .http
            .post(self.url("/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status"))
            .header("X-Upload-Content-Length", total.to_string())
            .header("X-Upload-Content-Type", "video/mp4")
            .json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Starts a session and returns its URI.
    async fn start(&self, total: u64) -> String {
        let resp = self
            .start_raw(&meta("A test video"), total, Some(&self.token))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let loc = resp.headers()[LOCATION].to_str().unwrap().to_string();
        assert!(
            loc.starts_with(&self.url("/upload/youtube/v3/videos?uploadType=resumable&upload_id="))
        );
        loc
    }

    async fn put(&self, session: &str, all: &[u8], start: usize, len: usize) -> Response {
        let chunk = all[start..start + len].to_vec();
        self.http
            .put(session)
            .header(
                CONTENT_RANGE,
                format!("bytes {}-{}/{}", start, start + len - 1, all.len()),
            )
            .body(chunk)
            .send()
            .await
            .unwrap()
    }

    async fn query(&self, session: &str, total: usize) -> Response {
        self.http
            .put(session)
            .header(CONTENT_RANGE, format!("bytes */{total}"))
            .header("Content-Length", "0")
            .send()
            .await
            .unwrap()
    }

    /// A client as the guide describes: ask what is held (status query),
    /// send from there, follow the Range of each 308. Returns the final 200
    /// body.
    async fn upload_all(&self, session: &str, all: &[u8], chunk: usize) -> Value {
        let first = self.query(session, all.len()).await;
        assert_eq!(first.status(), StatusCode::PERMANENT_REDIRECT);
        let mut held = range_held(first.headers());
        for _ in 0..100 {
            let len = chunk.min(all.len() - held);
            let resp = self.put(session, all, held, len).await;
            match resp.status() {
                StatusCode::OK | StatusCode::CREATED => return resp.json().await.unwrap(),
                StatusCode::PERMANENT_REDIRECT => held = range_held(resp.headers()),
                s => panic!("unexpected {s}: {}", resp.text().await.unwrap()),
            }
        }
        panic!("upload did not finish")
    }

    async fn list(&self, id: &str, token: &str) -> Response {
        self.http
            .get(self.url(&format!(
                "/youtube/v3/videos?part=status,processingDetails&id={id}"
            )))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn fault(&self, spec: Value) {
        let resp = self
            .http
            .post(self.url("/__admin/faults"))
            .json(&spec)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "{spec}");
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

/// Bytes held per a 308's `Range: bytes=0-N`; 0 without the header.
fn range_held(h: &HeaderMap) -> usize {
    match h.get(RANGE) {
        None => 0,
        Some(v) => {
            let v = v.to_str().unwrap();
            let end: usize = v.strip_prefix("bytes=0-").expect(v).parse().unwrap();
            end + 1
        }
    }
}

async fn error_reason(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], status, "{body}");
    (status, body["error"]["errors"][0].clone())
}

#[tokio::test]
async fn three_chunks_complete_with_matching_sha256() {
    let e = env().await;
    let all = data(2 * CHUNK + 1000);
    let session = e.start(all.len() as u64).await;

    let r = e.put(&session, &all, 0, CHUNK).await;
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers()[RANGE], "bytes=0-262143");
    let r = e.put(&session, &all, CHUNK, CHUNK).await;
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers()[RANGE], "bytes=0-524287");
    let r = e.put(&session, &all, 2 * CHUNK, 1000).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let video: Value = r.json().await.unwrap();
    let id = video["id"].as_str().unwrap();
    assert_eq!(id.len(), 11);
    assert_eq!(video["status"]["uploadStatus"], "uploaded");
    assert_eq!(video["status"]["privacyStatus"], "private");
    assert_eq!(video["snippet"]["title"], "A test video");
    assert_eq!(video["snippet"]["channelId"], "UCchannel1");

    let rec = &e.records().await["uploads"][0];
    assert_eq!(rec["sha256"], sha(&all));
    assert_eq!(rec["video_id"], id);
    assert_eq!(rec["total"], all.len());
    assert_eq!(rec["bytes_held"], all.len());
    let statuses: Vec<u64> = rec["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [308, 308, 201]);
    assert_eq!(rec["metadata"]["snippet"]["description"], "made by a test");
}

#[tokio::test]
async fn status_query_answers_the_range_held() {
    let e = env().await;
    let all = data(3 * CHUNK);
    let session = e.start(all.len() as u64).await;

    let r = e.query(&session, all.len()).await;
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert!(r.headers().get(RANGE).is_none(), "no Range before any byte");

    e.put(&session, &all, 0, CHUNK).await;
    e.put(&session, &all, CHUNK, CHUNK).await;
    let r = e.query(&session, all.len()).await;
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers()[RANGE], "bytes=0-524287");

    let done: Value = e
        .put(&session, &all, 2 * CHUNK, CHUNK)
        .await
        .json()
        .await
        .unwrap();
    let r = e.query(&session, all.len()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], done["id"]);
}

#[tokio::test]
async fn a_chunk_not_a_multiple_of_256_kib_is_refused() {
    let e = env().await;
    let all = data(300_000);
    let session = e.start(all.len() as u64).await;
    let r = e.put(&session, &all, 0, 100_000).await;
    let (status, err) = error_reason(r).await;
    assert_eq!(status, 400);
    assert_eq!(err["reason"], "badChunkSize");

    // Nothing was kept; a start past the held bytes is refused too.
    let r = e.query(&session, all.len()).await;
    assert!(r.headers().get(RANGE).is_none());
    let (status, err) = error_reason(e.put(&session, &all, CHUNK, all.len() - CHUNK).await).await;
    assert_eq!(
        (status, err["reason"].as_str()),
        (400, Some("badContentRange"))
    );
    let rec = &e.records().await["uploads"][0];
    assert_eq!(rec["chunks"][0]["stored"], 0);
    assert_eq!(rec["chunks"][0]["status"], 400);
    assert_eq!(rec["bytes_held"], 0);
}

#[tokio::test]
async fn short_range_makes_the_client_resend_and_the_sha_still_matches() {
    let e = env().await;
    e.fault(json!({"endpoint": "chunk", "kind": "short_range", "count": 1}))
        .await;
    let all = data(3 * CHUNK + 500);
    let session = e.start(all.len() as u64).await;

    let r = e.put(&session, &all, 0, 2 * CHUNK).await;
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        r.headers()[RANGE],
        "bytes=0-262143",
        "half of 2 chunks kept"
    );
    let held = range_held(r.headers());
    let r = e.put(&session, &all, held, 2 * CHUNK).await;
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(range_held(r.headers()), 3 * CHUNK);
    let video = e.upload_all(&session, &all, 2 * CHUNK).await;
    assert_eq!(video["id"].as_str().unwrap().len(), 11);

    let rec = &e.records().await["uploads"][0];
    assert_eq!(rec["sha256"], sha(&all));
    assert_eq!(rec["chunks"][0]["len"], 2 * CHUNK);
    assert_eq!(rec["chunks"][0]["stored"], CHUNK);
    assert_eq!(rec["chunks"][1]["start"], CHUNK);
}

#[tokio::test]
async fn a_fail_after_the_effect_keeps_the_bytes() {
    let e = env().await;
    e.fault(
        json!({"endpoint": "chunk", "kind": "fail", "status": 503, "phase": "after", "count": 1}),
    )
    .await;
    let all = data(2 * CHUNK);
    let session = e.start(all.len() as u64).await;
    let r = e.put(&session, &all, 0, CHUNK).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = e.query(&session, all.len()).await;
    assert_eq!(
        r.headers()[RANGE],
        "bytes=0-262143",
        "the chunk took effect"
    );
    let video = e.upload_all(&session, &all, CHUNK).await;
    assert_eq!(video["status"]["uploadStatus"], "uploaded");
    assert_eq!(e.records().await["uploads"][0]["sha256"], sha(&all));
}

#[tokio::test]
async fn expire_session_answers_404_from_then_on() {
    let e = env().await;
    let all = data(2 * CHUNK);
    let session = e.start(all.len() as u64).await;
    assert_eq!(
        e.put(&session, &all, 0, CHUNK).await.status(),
        StatusCode::PERMANENT_REDIRECT
    );
    e.fault(json!({"endpoint": "chunk", "kind": "expire_session", "count": 1}))
        .await;
    assert_eq!(
        e.put(&session, &all, CHUNK, CHUNK).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        e.query(&session, all.len()).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        e.put(&session, &all, CHUNK, CHUNK).await.status(),
        StatusCode::NOT_FOUND
    );
    let rec = &e.records().await["uploads"][0];
    assert_eq!(rec["expired"], true);
    assert_eq!(rec["sha256"], Value::Null);
    // An unknown session is 404 too.
    let bogus = session.replace("upload_id=", "upload_id=x");
    assert_eq!(
        e.query(&bogus, all.len()).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn quota_exceeded_has_googles_shape() {
    let e = env().await;
    e.fault(json!({"endpoint": "start", "kind": "quota_exceeded", "count": 1}))
        .await;
    let r = e.start_raw(&meta("t"), 10, Some(&e.token)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 403);
    let err = &body["error"]["errors"][0];
    assert_eq!(err["domain"], "youtube.quota");
    assert_eq!(err["reason"], "quotaExceeded");
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("exceeded your <a href"));
    assert_eq!(body["error"]["message"], err["message"]);
    // count 1: the next start goes through, and no session was made by the first.
    e.start(10).await;
    assert_eq!(e.records().await["uploads"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn no_or_revoked_token_is_401_with_www_authenticate() {
    let e = env().await;
    let r = e.start_raw(&meta("t"), 10, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()[WWW_AUTHENTICATE],
        "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\""
    );
    let (_, err) = error_reason(r).await;
    assert_eq!(err["reason"], "authError");

    let session = e.start(CHUNK as u64).await;
    let all = data(CHUNK);
    let video = e.upload_all(&session, &all, CHUNK).await;
    let id = video["id"].as_str().unwrap();
    let r = e
        .http
        .delete(e.url(&format!("/__admin/tokens/{}", e.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = e.list(id, &e.token).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key(WWW_AUTHENTICATE));
}

#[tokio::test]
async fn bad_titles_and_descriptions_are_refused_with_the_reason() {
    let e = env().await;
    let t = Some(e.token.as_str());
    for title in ["x".repeat(101), "a <b> c".to_string(), String::new()] {
        let (status, err) = error_reason(e.start_raw(&meta(&title), 10, t).await).await;
        assert_eq!(
            (status, err["reason"].as_str()),
            (400, Some("invalidTitle")),
            "{title:?}"
        );
        assert_eq!(err["domain"], "youtube.video");
    }
    // 100 characters is fine even when they are 200 bytes.
    assert_eq!(
        e.start_raw(&meta(&"é".repeat(100)), 10, t).await.status(),
        StatusCode::OK
    );
    // The description limit is 5000 bytes: 2501 'é' are 5002 bytes.
    let mut m = meta("ok");
    m["snippet"]["description"] = json!("é".repeat(2501));
    let (status, err) = error_reason(e.start_raw(&m, 10, t).await).await;
    assert_eq!(
        (status, err["reason"].as_str()),
        (400, Some("invalidDescription"))
    );
    let mut m = meta("ok");
    m["status"]["privacyStatus"] = json!("secret");
    let (_, err) = error_reason(e.start_raw(&m, 10, t).await).await;
    assert_eq!(err["reason"], "invalidVideoMetadata");
    let (_, err) = error_reason(e.start_raw(&meta("ok"), 0, t).await).await;
    assert_eq!(err["reason"], "mediaBodyRequired");
    assert_eq!(e.records().await["uploads"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn processing_reaches_processed_after_n_polls() {
    let e = env_with(EmulatorConfig {
        processing_polls: 3,
        ..Default::default()
    })
    .await;
    let all = data(CHUNK + 7);
    let session = e.start(all.len() as u64).await;
    let id = e.upload_all(&session, &all, CHUNK).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut last = 0;
    for _ in 0..3 {
        let body: Value = e.list(&id, &e.token).await.json().await.unwrap();
        let item = &body["items"][0];
        assert_eq!(item["status"]["uploadStatus"], "uploaded");
        assert_eq!(item["processingDetails"]["processingStatus"], "processing");
        let p = &item["processingDetails"]["processingProgress"];
        assert_eq!(p["partsTotal"], "1000", "uint64 as a JSON string");
        let done: u64 = p["partsProcessed"].as_str().unwrap().parse().unwrap();
        assert!(done > last);
        last = done;
    }
    let body: Value = e.list(&id, &e.token).await.json().await.unwrap();
    assert_eq!(body["items"][0]["status"]["uploadStatus"], "processed");
    assert_eq!(
        body["items"][0]["processingDetails"]["processingStatus"],
        "succeeded"
    );
    assert_eq!(body["pageInfo"]["totalResults"], 1);

    // Another channel does not see it (owner only).
    let other = e.emu.admin().issue_token("UCsomeoneElse");
    let body: Value = e.list(&id, &other).await.json().await.unwrap();
    assert_eq!(body["items"], json!([]));
}

#[tokio::test]
async fn failed_and_rejected_processing_show_their_reason() {
    let e = env_with(EmulatorConfig {
        processing_polls: 1,
        processing_outcome: ProcessingOutcome::Rejected {
            reason: "duplicate".into(),
        },
        ..Default::default()
    })
    .await;
    let all = data(1000);
    let s1 = e.start(1000).await;
    let v1 = e.upload_all(&s1, &all, CHUNK).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let s2 = e.start(1000).await;
    let v2 = e.upload_all(&s2, &all, CHUNK).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = e
        .http
        .put(e.url(&format!("/__admin/videos/{v1}/outcome")))
        .json(&json!({"outcome": "failed", "reason": "codec"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let bad = e
        .http
        .put(e.url(&format!("/__admin/videos/{v1}/outcome")))
        .json(&json!({"outcome": "failed", "reason": "gremlins"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        bad.status(),
        StatusCode::BAD_REQUEST,
        "only documented reasons"
    );

    for v in [&v1, &v2] {
        let body: Value = e.list(v, &e.token).await.json().await.unwrap();
        assert_eq!(
            body["items"][0]["processingDetails"]["processingStatus"],
            "processing"
        );
    }
    let body: Value = e.list(&v1, &e.token).await.json().await.unwrap();
    let item = &body["items"][0];
    assert_eq!(item["status"]["uploadStatus"], "failed");
    assert_eq!(item["status"]["failureReason"], "codec");
    assert_eq!(item["processingDetails"]["processingStatus"], "failed");
    let body: Value = e.list(&v2, &e.token).await.json().await.unwrap();
    assert_eq!(body["items"][0]["status"]["uploadStatus"], "rejected");
    assert_eq!(body["items"][0]["status"]["rejectionReason"], "duplicate");
}
