//! The YouTube endpoints: resumable `videos.insert` (start, chunk, status
//! query) and `videos.list` for the processing poll. Facts and their
//! sources: `docs/research/youtube.md`; what is chosen: README.md.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::{
    random_string, video_id, ChunkRecord, FaultKind, FaultSpec, Inner, Phase, ProcessingOutcome,
    Session, Shared, UploadRecord, INSERT_SCOPES, READ_SCOPES,
};

/// Chunks but the last must be a multiple of this (research §2).
pub const CHUNK_MULTIPLE: u64 = 262_144;
/// `mediaUpload.maxSize` (research §3).
pub const MAX_UPLOAD_BYTES: u64 = 274_877_906_944;

type Params = Query<HashMap<String, String>>;

fn channel_for(
    inner: &Inner,
    headers: &HeaderMap,
    accepted_scopes: &[&str],
) -> Result<String, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?;
    let token = inner
        .live_token(token.trim())
        .ok_or_else(ApiError::unauthorized)?;
    if let Some(granted) = &token.scopes {
        if !granted
            .iter()
            .any(|g| accepted_scopes.contains(&g.as_str()))
        {
            return Err(ApiError::insufficient_scope());
        }
    }
    Ok(token.channel_id.clone())
}

/// The scopes each bearer-token endpoint accepts (§1).
fn accepted_scopes(endpoint: &str) -> &'static [&'static str] {
    match endpoint {
        "start" | "chunk" | "status_query" => INSERT_SCOPES,
        _ => READ_SCOPES,
    }
}

/// What every bearer-token call does first: the caller's channel, then this endpoint's fault
/// (taken, so its count goes down); a fault that answers before the work ends the call.
fn admit(
    inner: &mut Inner,
    headers: &HeaderMap,
    endpoint: &str,
) -> Result<(String, Option<FaultSpec>), ApiError> {
    let channel = channel_for(inner, headers, accepted_scopes(endpoint))?;
    let fault = inner.take_fault(endpoint);
    match before(&fault) {
        Some(e) => Err(e),
        None => Ok((channel, fault)),
    }
}

/// A fault that replaces the request before its effect, if any.
fn before(fault: &Option<FaultSpec>) -> Option<ApiError> {
    match fault.as_ref().map(|f| (&f.kind, f.phase)) {
        Some((FaultKind::Fail { status }, Phase::Before)) => Some(ApiError::fault(*status)),
        Some((FaultKind::Drop, Phase::Before)) => Some(ApiError::dropped()),
        Some((FaultKind::QuotaExceeded, _)) => Some(ApiError::quota_exceeded()),
        Some((FaultKind::UploadLimitExceeded, _)) => Some(ApiError::video(
            "uploadLimitExceeded",
            "The user has exceeded the number of videos they may upload.",
        )),
        _ => None,
    }
}

/// A fault that replaces the answer after the effect, if any.
fn after(fault: &Option<FaultSpec>) -> Option<ApiError> {
    match fault.as_ref().map(|f| (&f.kind, f.phase)) {
        Some((FaultKind::Fail { status }, Phase::After)) => Some(ApiError::fault(*status)),
        Some((FaultKind::Drop, Phase::After)) => Some(ApiError::dropped()),
        _ => None,
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn has_angle(s: &str) -> bool {
    s.contains('<') || s.contains('>')
}

/// Validates the posted `video` resource (research §3, §5).
fn check_metadata(body: &Value) -> Result<(), ApiError> {
    let snippet = body.get("snippet").and_then(Value::as_object);
    let title = snippet
        .and_then(|s| s.get("title"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if title.trim().is_empty() {
        return Err(ApiError::video(
            "invalidTitle",
            "The request metadata specifies an invalid or empty video title.",
        ));
    }
    if title.chars().count() > 100 || has_angle(title) {
        return Err(ApiError::video("invalidTitle", "The request metadata specifies an invalid or empty video title: at most 100 characters, no < or >."));
    }
    match snippet.and_then(|s| s.get("description")) {
        None => {}
        Some(Value::String(d)) if d.len() <= 5000 && !has_angle(d) => {}
        Some(_) => {
            return Err(ApiError::video("invalidDescription", "The request metadata specifies an invalid video description: at most 5000 bytes, no < or >."));
        }
    }
    let privacy = body
        .get("status")
        .and_then(|s| s.get("privacyStatus"))
        .and_then(Value::as_str);
    if !matches!(privacy, Some("private" | "unlisted" | "public")) {
        return Err(ApiError::video(
            "invalidVideoMetadata",
            "status.privacyStatus must be private, unlisted or public.",
        ));
    }
    Ok(())
}

/// `POST /upload/youtube/v3/videos?uploadType=resumable&part=snippet,status`
pub async fn start(
    State(shared): State<Arc<Shared>>,
    Query(q): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock();
    let (channel, fault) = match admit(&mut inner, &headers, "start") {
        Ok(admitted) => admitted,
        Err(e) => return e.into_response(),
    };
    if q.get("uploadType").map(String::as_str) != Some("resumable") {
        return ApiError::chosen("invalidParameter", "uploadType must be resumable.")
            .into_response();
    }
    let parts: Vec<&str> = q
        .get("part")
        .map(|p| p.split(',').map(str::trim).collect())
        .unwrap_or_default();
    if !parts.contains(&"snippet") || !parts.contains(&"status") {
        return ApiError::chosen("invalidPart", "part must include snippet and status.")
            .into_response();
    }
    if let Some(p) = parts.iter().find(|p| !matches!(**p, "snippet" | "status")) {
        return ApiError::chosen("invalidPart", &format!("part {p:?} is not accepted here."))
            .into_response();
    }
    let Ok(metadata) = serde_json::from_slice::<Value>(&body) else {
        return ApiError::chosen("parseError", "The body is not a JSON video resource.")
            .into_response();
    };
    if let Err(e) = check_metadata(&metadata) {
        return e.into_response();
    }
    let total = match header_str(&headers, "x-upload-content-length").map(str::parse::<u64>) {
        Some(Ok(n)) if n > MAX_UPLOAD_BYTES => {
            return ApiError::chosen("uploadTooLarge", "X-Upload-Content-Length exceeds 256GB.")
                .into_response();
        }
        Some(Ok(n)) if n > 0 => n,
        _ => {
            return ApiError::video(
                "mediaBodyRequired",
                "X-Upload-Content-Length must be a positive byte count.",
            )
            .into_response();
        }
    };
    let content_type = header_str(&headers, "x-upload-content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let ok_type = content_type == "application/octet-stream"
        || content_type
            .strip_prefix("video/")
            .is_some_and(|s| !s.is_empty());
    if !ok_type {
        return ApiError::chosen(
            "badContent",
            "X-Upload-Content-Type must be video/* or application/octet-stream.",
        )
        .into_response();
    }
    let outcome = shared.config().processing_outcome;
    let session_id = random_string(32);
    inner.sessions.push(Session {
        record: UploadRecord {
            session_id: session_id.clone(),
            channel_id: channel,
            total,
            content_type,
            bytes_held: 0,
            chunks: Vec::new(),
            status_queries: 0,
            expired: false,
            sha256: None,
            video_id: None,
            metadata,
            polls: 0,
        },
        data: Vec::new(),
        outcome,
    });
    if let Some(e) = after(&fault) {
        return e.into_response();
    }
    let location = format!(
        "{}/upload/youtube/v3/videos?uploadType=resumable&upload_id={session_id}",
        shared.base_url
    );
    let mut resp = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// The video resource as the upload's final chunk (or `videos.list`) shows it.
fn video_json(s: &Session, status: Value, processing: Option<Value>) -> Value {
    let meta = &s.record.metadata;
    let mut snippet = meta.get("snippet").cloned().unwrap_or_else(|| json!({}));
    snippet["channelId"] = json!(s.record.channel_id);
    if snippet.get("description").is_none() {
        snippet["description"] = json!("");
    }
    let mut status_out = meta.get("status").cloned().unwrap_or_else(|| json!({}));
    if let (Some(out), Some(extra)) = (status_out.as_object_mut(), status.as_object()) {
        out.extend(extra.clone());
    }
    let mut v = json!({
        "kind": "youtube#video",
        "etag": random_string(27),
        "id": s.record.video_id,
        "snippet": snippet,
        "status": status_out,
    });
    if let Some(p) = processing {
        v["processingDetails"] = p;
    }
    v
}

fn resume_incomplete(held: u64) -> Response {
    let mut resp = StatusCode::PERMANENT_REDIRECT.into_response();
    if held > 0 {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes=0-{}", held - 1)) {
            resp.headers_mut().insert(header::RANGE, v);
        }
    }
    resp
}

enum ContentRange {
    Query { total: u64 },
    Chunk { start: u64, end: u64, total: u64 },
}

fn parse_content_range(v: &str) -> Option<ContentRange> {
    let rest = v.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let total = total.parse().ok()?;
    if range == "*" {
        return Some(ContentRange::Query { total });
    }
    let (a, b) = range.split_once('-')?;
    Some(ContentRange::Chunk {
        start: a.parse().ok()?,
        end: b.parse().ok()?,
        total,
    })
}

/// `PUT` on the session URI: a chunk, or an empty status query.
pub async fn put(
    State(shared): State<Arc<Shared>>,
    Query(q): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock();
    // The session URI is the credential (chosen); a token, if sent, must be valid.
    if headers.contains_key(header::AUTHORIZATION) {
        if let Err(e) = channel_for(&inner, &headers, INSERT_SCOPES) {
            return e.into_response();
        }
    }
    let id = q.get("upload_id").cloned().unwrap_or_default();
    let range = header_str(&headers, "content-range").and_then(parse_content_range);
    let endpoint = match range {
        Some(ContentRange::Query { .. }) => "status_query",
        _ => "chunk",
    };
    match inner.session_mut(&id) {
        Some(s) if !s.record.expired => {}
        _ => return ApiError::not_found().into_response(),
    }
    let fault = inner.take_fault(endpoint);
    let Some(s) = inner.session_mut(&id) else {
        return ApiError::not_found().into_response();
    };
    let answer = match range {
        Some(ContentRange::Query { total }) => {
            s.record.status_queries += 1;
            if matches!(
                fault.as_ref().map(|f| &f.kind),
                Some(FaultKind::ExpireSession)
            ) {
                s.record.expired = true;
                return ApiError::not_found().into_response();
            }
            if let Some(e) = before(&fault) {
                return e.into_response();
            }
            if total != s.record.total || !body.is_empty() {
                return ApiError::chosen("badContentRange", "A status query is an empty PUT with Content-Range: bytes */TOTAL of this session.").into_response();
            }
            current_answer(s)
        }
        Some(ContentRange::Chunk { start, end, total }) => {
            let len = body.len() as u64;
            let refuse = |s: &mut Session, e: ApiError| {
                s.record.chunks.push(ChunkRecord {
                    start,
                    len,
                    stored: 0,
                    status: e.status.as_u16(),
                });
                e.into_response()
            };
            if matches!(
                fault.as_ref().map(|f| &f.kind),
                Some(FaultKind::ExpireSession)
            ) {
                s.record.expired = true;
                return refuse(s, ApiError::not_found());
            }
            if let Some(e) = before(&fault) {
                return refuse(s, e);
            }
            if s.record.sha256.is_some() {
                return refuse(
                    s,
                    ApiError::chosen(
                        "uploadComplete",
                        "This upload is complete; query it with Content-Range: bytes */TOTAL.",
                    ),
                );
            }
            if total != s.record.total || end < start || end >= total || end - start + 1 != len {
                return refuse(s, ApiError::chosen("badContentRange", "Content-Range must be bytes START-END/TOTAL matching the body and the session's total."));
            }
            if start != s.record.bytes_held {
                return refuse(
                    s,
                    ApiError::chosen(
                        "badContentRange",
                        &format!(
                            "Content-Range starts at {start}; the server holds {} bytes.",
                            s.record.bytes_held
                        ),
                    ),
                );
            }
            let last = end + 1 == total;
            if !last && len % CHUNK_MULTIPLE != 0 {
                return refuse(
                    s,
                    ApiError::chosen(
                        "badChunkSize",
                        "Every chunk but the last must be a multiple of 262144 bytes.",
                    ),
                );
            }
            let keep = if matches!(fault.as_ref().map(|f| &f.kind), Some(FaultKind::ShortRange)) {
                (len / 2) / CHUNK_MULTIPLE * CHUNK_MULTIPLE
            } else {
                len
            };
            s.data.extend_from_slice(&body[..keep as usize]);
            s.record.bytes_held += keep;
            if s.record.bytes_held == s.record.total {
                s.record.sha256 = Some(hex::encode(Sha256::digest(&s.data)));
                s.record.video_id = Some(video_id());
            }
            let answer = current_answer(s);
            let status = after(&fault).map_or(answer.status().as_u16(), |e| e.status.as_u16());
            s.record.chunks.push(ChunkRecord {
                start,
                len,
                stored: keep,
                status,
            });
            answer
        }
        None => {
            return ApiError::chosen(
                "badContentRange",
                "Content-Range: bytes START-END/TOTAL or bytes */TOTAL is required.",
            )
            .into_response();
        }
    };
    match after(&fault) {
        Some(e) => e.into_response(),
        None => answer,
    }
}

/// 308 with the Range held, or 201 Created with the resource once complete (the guide, Step 4).
fn current_answer(s: &Session) -> Response {
    if s.record.sha256.is_some() {
        let v = video_json(s, json!({"uploadStatus": "uploaded"}), None);
        (StatusCode::CREATED, Json(v)).into_response()
    } else {
        resume_incomplete(s.record.bytes_held)
    }
}

/// The status and processing details at poll number `k` (1-based).
fn processing_view(s: &Session, k: u32, polls: u32) -> (Value, Value) {
    if k <= polls {
        let total = u64::from(polls) + 1;
        let done = 1000 * u64::from(k) / total;
        let progress = json!({
            "partsTotal": "1000",
            "partsProcessed": done.to_string(),
            "timeLeftMs": ((total - u64::from(k)) * 1000).to_string(),
        });
        return (
            json!({"uploadStatus": "uploaded"}),
            json!({"processingStatus": "processing", "processingProgress": progress}),
        );
    }
    match &s.outcome {
        ProcessingOutcome::Succeeded => (
            json!({"uploadStatus": "processed"}),
            json!({"processingStatus": "succeeded"}),
        ),
        ProcessingOutcome::Failed { reason } => (
            json!({"uploadStatus": "failed", "failureReason": reason}),
            json!({"processingStatus": "failed", "processingFailureReason": "transcodeFailed"}),
        ),
        ProcessingOutcome::Rejected { reason } => (
            json!({"uploadStatus": "rejected", "rejectionReason": reason}),
            json!({"processingStatus": "terminated"}),
        ),
    }
}

/// The `part` parameter of a list call: required, and only parts this emulator serves.
fn served_parts<'q>(
    q: &'q HashMap<String, String>,
    served: &[&str],
) -> Result<Vec<&'q str>, ApiError> {
    let parts: Vec<&str> = q
        .get("part")
        .map(|p| p.split(',').map(str::trim).collect())
        .unwrap_or_default();
    if parts.is_empty() {
        return Err(ApiError::chosen("required", "part is required."));
    }
    if let Some(p) = parts.iter().find(|p| !served.contains(p)) {
        return Err(ApiError::new(
            400,
            "youtube.part",
            "unknownPart",
            &format!("part {p:?} is not served by this emulator."),
        ));
    }
    Ok(parts)
}

/// `GET /youtube/v3/channels?part=snippet&mine=true`: the token's own channel, so a connection
/// can name it (§1: needs `youtube.readonly` or broader).
pub async fn channels_list(
    State(shared): State<Arc<Shared>>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let mut inner = shared.lock();
    let (channel, fault) = match admit(&mut inner, &headers, "channels_list") {
        Ok(admitted) => admitted,
        Err(e) => return e.into_response(),
    };
    let parts = match served_parts(&q, &["id", "snippet"]) {
        Ok(parts) => parts,
        Err(e) => return e.into_response(),
    };
    // Only `mine=true` is served: it is the one filter Reelay needs (chosen).
    if q.get("mine").map(String::as_str) != Some("true") {
        return ApiError::chosen(
            "missingRequiredParameter",
            "This emulator serves channels.list with mine=true only.",
        )
        .into_response();
    }
    let mut item = json!({"kind": "youtube#channel", "etag": random_string(27), "id": channel});
    if parts.contains(&"snippet") {
        item["snippet"] = json!({"title": inner.channel_title(&channel), "description": ""});
    }
    let answer = Json(json!({
        "kind": "youtube#channelListResponse",
        "etag": random_string(27),
        "items": [item],
        "pageInfo": {"totalResults": 1, "resultsPerPage": 1},
    }))
    .into_response();
    match after(&fault) {
        Some(e) => e.into_response(),
        None => answer,
    }
}

/// `GET /youtube/v3/videos?part=status,processingDetails&id=ID`
pub async fn videos_list(
    State(shared): State<Arc<Shared>>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let polls = shared.config().processing_polls;
    let mut inner = shared.lock();
    let (channel, fault) = match admit(&mut inner, &headers, "videos_list") {
        Ok(admitted) => admitted,
        Err(e) => return e.into_response(),
    };
    let parts = match served_parts(&q, &["id", "snippet", "status", "processingDetails"]) {
        Ok(parts) => parts,
        Err(e) => return e.into_response(),
    };
    let Some(ids) = q.get("id").filter(|s| !s.is_empty()) else {
        return ApiError::chosen("required", "id is required.").into_response();
    };
    let mut items = Vec::new();
    for id in ids.split(',').map(str::trim) {
        // Only the owner sees its video here (processingDetails is owner-only, research §4).
        let Some(s) = inner
            .video_mut(id)
            .filter(|s| s.record.channel_id == channel)
        else {
            continue;
        };
        s.record.polls += 1;
        let (status, processing) = processing_view(s, s.record.polls, polls);
        let full = video_json(s, status, Some(processing));
        let mut item = json!({"kind": "youtube#video", "etag": full["etag"], "id": full["id"]});
        for p in &parts {
            if *p != "id" {
                item[*p] = full[*p].clone();
            }
        }
        items.push(item);
    }
    let n = items.len();
    let answer = Json(json!({
        "kind": "youtube#videoListResponse",
        "etag": random_string(27),
        "items": items,
        "pageInfo": {"totalResults": n, "resultsPerPage": n},
    }))
    .into_response();
    match after(&fault) {
        Some(e) => e.into_response(),
        None => answer,
    }
}
