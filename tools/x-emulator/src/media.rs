//! X API v2 chunked media upload (research §3a): INITIALIZE, APPEND,
//! FINALIZE, STATUS.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::config::AppendAnswer;
use crate::guard::AuthUser;
use crate::judge;
use crate::mp4;
use crate::params::{check_path_id, content_type_is, is_id, json_object, query, reject_unknown};
use crate::problem::{schema, ApiError};
use crate::state::{
    processing_view, Inner, Media, MediaKind, MediaState, Outcome, Processing, Shared,
};

type ApiResult = Result<Json<Value>, ApiError>;

/// OAS enum for `media_type`.
pub const MEDIA_TYPES: &[&str] = &[
    "video/mp4",
    "video/webm",
    "video/mp2t",
    "video/quicktime",
    "text/srt",
    "text/vtt",
    "image/jpeg",
    "image/gif",
    "image/bmp",
    "image/png",
    "image/webp",
    "image/pjpeg",
    "image/tiff",
    "model/gltf-binary",
    "model/vnd.usdz+zip",
];

/// OAS enum for `media_category`.
pub const MEDIA_CATEGORIES: &[&str] = &[
    "amplify_video",
    "tweet_gif",
    "tweet_image",
    "tweet_video",
    "dm_gif",
    "dm_image",
    "dm_video",
    "subtitles",
];

/// OAS: `total_bytes` 0..=17179869184.
const MAX_TOTAL_BYTES: u64 = 17_179_869_184;
/// OAS: `segment_index` 0..=999.
const MAX_SEGMENT_INDEX: i64 = 999;

fn kind_of(media_type: &str) -> MediaKind {
    if media_type.starts_with("video/") {
        MediaKind::Video
    } else if media_type == "image/gif" {
        MediaKind::Gif
    } else if media_type.starts_with("image/") {
        MediaKind::Image
    } else {
        MediaKind::Other
    }
}

/// X assumes `tweet_*` from the content type when no category is given
/// (research §6, best-practices.mdx).
fn infer_category(media_type: &str) -> Option<&'static str> {
    match kind_of(media_type) {
        MediaKind::Video => Some("tweet_video"),
        MediaKind::Gif => Some("tweet_gif"),
        MediaKind::Image => Some("tweet_image"),
        MediaKind::Other if media_type.starts_with("text/") => Some("subtitles"),
        MediaKind::Other => None,
    }
}

fn category_fits(category: &str, media_type: &str) -> bool {
    match category {
        "amplify_video" | "tweet_video" | "dm_video" => media_type.starts_with("video/"),
        "tweet_gif" | "dm_gif" => media_type == "image/gif",
        "tweet_image" | "dm_image" => media_type.starts_with("image/"),
        "subtitles" => media_type.starts_with("text/"),
        _ => false,
    }
}

fn get_str<'a>(map: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ApiError> {
    match map.get(key) {
        // UNCONFIRMED whether X accepts an explicit null; twapi-v2 sends
        // `"media_category": null`, so we read null as absent.
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::invalid(schema::wrong_type(
            &format!("$.{key}"),
            schema::type_name(other),
            "string",
        ))),
    }
}

pub async fn initialize(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let map = json_object(&headers, &body)?;
    reject_unknown(
        &map,
        "$",
        &[
            "media_type",
            "total_bytes",
            "media_category",
            "additional_owners",
            "shared",
        ],
    )?;
    let media_type = get_str(&map, "media_type")?
        .ok_or_else(|| ApiError::invalid(schema::missing("$.media_type")))?;
    if !MEDIA_TYPES.contains(&media_type) {
        return Err(ApiError::invalid_param(
            schema::not_in_enum("$.media_type", MEDIA_TYPES),
            "media_type",
            media_type,
        ));
    }
    let total_bytes = match map.get("total_bytes") {
        None => return Err(ApiError::invalid(schema::missing("$.total_bytes"))),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) if i < 0 => {
                return Err(ApiError::invalid(schema::minimum("$.total_bytes", 0)))
            }
            (_, Some(u)) if u > MAX_TOTAL_BYTES => {
                return Err(ApiError::invalid(schema::maximum(
                    "$.total_bytes",
                    MAX_TOTAL_BYTES,
                )))
            }
            (_, Some(u)) => u,
            _ => {
                return Err(ApiError::invalid(schema::wrong_type(
                    "$.total_bytes",
                    "number",
                    "integer",
                )))
            }
        },
        Some(other) => {
            return Err(ApiError::invalid(schema::wrong_type(
                "$.total_bytes",
                schema::type_name(other),
                "integer",
            )))
        }
    };
    let category = match get_str(&map, "media_category")? {
        Some(c) if !MEDIA_CATEGORIES.contains(&c) => {
            return Err(ApiError::invalid_param(
                schema::not_in_enum("$.media_category", MEDIA_CATEGORIES),
                "media_category",
                c,
            ))
        }
        Some(c) => Some(c.to_string()),
        None => infer_category(media_type).map(String::from),
    };
    if let Some(c) = &category {
        if !category_fits(c, media_type) {
            return Err(ApiError::invalid_param(
                format!("media_type [{media_type}] is not allowed for media_category [{c}]."),
                "media_category",
                c,
            ));
        }
    }
    match map.get("additional_owners") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(|v| v.as_str().is_some_and(is_id)) => {}
        Some(_) => {
            return Err(ApiError::invalid(
                "$.additional_owners: must be an array of user id strings",
            ))
        }
    }
    match map.get("shared") {
        None | Some(Value::Null) | Some(Value::Bool(_)) => {}
        Some(other) => {
            return Err(ApiError::invalid(schema::wrong_type(
                "$.shared",
                schema::type_name(other),
                "boolean",
            )))
        }
    }

    let now_ms = shared.clock.now_ms();
    let mut inner = shared.lock();
    let cfg = &inner.config;
    let kind = kind_of(media_type);
    let amplify = category.as_deref() == Some("amplify_video");
    // research §6: images 5 MB, GIF 15 MB, video 512 MB with amplify_video;
    // other video categories get our smaller `tweet_video_max_bytes`.
    let max = match kind {
        MediaKind::Video if amplify => cfg.max_video_bytes,
        MediaKind::Video => cfg.tweet_video_max_bytes.min(cfg.max_video_bytes),
        MediaKind::Gif if matches!(category.as_deref(), Some("tweet_image" | "dm_image")) => {
            cfg.max_image_bytes
        }
        MediaKind::Gif => cfg.max_gif_bytes,
        MediaKind::Image => cfg.max_image_bytes,
        MediaKind::Other => MAX_TOTAL_BYTES,
    };
    if total_bytes > max {
        let hint = if kind == MediaKind::Video && !amplify && total_bytes <= cfg.max_video_bytes {
            " Use media_category amplify_video for videos up to 512 MB."
        } else {
            ""
        };
        return Err(ApiError::invalid_param(
            format!(
                "total_bytes [{total_bytes}] exceeds the maximum of {max} bytes for media_category [{}].{hint}",
                category.as_deref().unwrap_or("none")
            ),
            "total_bytes",
            &total_bytes.to_string(),
        ));
    }
    let expiry_secs = if amplify {
        cfg.amplify_video_expiry_secs
    } else {
        cfg.media_expiry_secs
    };
    // Observed key prefixes: 3 image, 7 video, 13 amplify_video, 16 GIF.
    let prefix = match kind {
        MediaKind::Video if amplify => 13,
        MediaKind::Video => 7,
        MediaKind::Gif if category.as_deref() != Some("tweet_image") => 16,
        _ => 3,
    };
    let async_processing = matches!(kind, MediaKind::Video | MediaKind::Gif)
        && matches!(
            category.as_deref(),
            Some("amplify_video" | "tweet_video" | "dm_video" | "tweet_gif" | "dm_gif")
        );
    let id = inner.new_id();
    let media_key = format!("{prefix}_{id}");
    inner.media.insert(
        id.clone(),
        Media {
            id: id.clone(),
            media_key: media_key.clone(),
            owner_id: user.user_id,
            media_type: media_type.to_string(),
            category,
            kind,
            async_processing,
            total_bytes,
            expires_at_ms: now_ms + expiry_secs * 1000,
            segments: Default::default(),
            appends: Vec::new(),
            sha256: None,
            state: MediaState::Uploading,
        },
    );
    Ok(Json(json!({
        "data": { "id": id, "media_key": media_key, "expires_after_secs": expiry_secs }
    })))
}

/// The caller's live media. Unknown, expired and other users' ids get the
/// same answer (X forgets expired media; ownership must not leak).
fn own_media<'a>(
    inner: &'a mut Inner,
    id: &str,
    user: &AuthUser,
    now_ms: u64,
) -> Result<&'a mut Media, ApiError> {
    inner
        .media
        .get_mut(id)
        .filter(|m| m.owner_id == user.user_id && now_ms < m.expires_at_ms)
        .ok_or_else(|| ApiError::media_not_found(id))
}

struct Segment {
    index: u32,
    data: Bytes,
}

fn parse_index(raw: &str) -> Result<u32, ApiError> {
    let n: i64 = raw.trim().parse().map_err(|_| {
        ApiError::invalid(schema::wrong_type("$.segment_index", "string", "integer"))
    })?;
    check_index(n)
}

fn check_index(n: i64) -> Result<u32, ApiError> {
    if n < 0 {
        return Err(ApiError::invalid_param(
            schema::minimum("$.segment_index", 0),
            "segment_index",
            &n.to_string(),
        ));
    }
    if n > MAX_SEGMENT_INDEX {
        return Err(ApiError::invalid_param(
            schema::maximum("$.segment_index", MAX_SEGMENT_INDEX),
            "segment_index",
            &n.to_string(),
        ));
    }
    Ok(n as u32)
}

async fn parse_multipart(req: Request<Body>) -> Result<Segment, ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::invalid(format!("Malformed multipart body: {e}"))
    };
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::invalid(format!("Malformed multipart body: {e}")))?;
    let (mut index, mut data) = (None, None);
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "segment_index" if index.is_none() => {
                let text = field.text().await.map_err(bad)?;
                index = Some(parse_index(&text)?);
            }
            "media" if data.is_none() => data = Some(field.bytes().await.map_err(bad)?),
            "segment_index" | "media" => {
                return Err(ApiError::invalid_param(
                    format!("Duplicate field [{name}]."),
                    &name,
                    "",
                ))
            }
            _ => {
                return Err(ApiError::invalid_param(
                    schema::unknown_field(&format!("$.{name}")),
                    &name,
                    "",
                ))
            }
        }
    }
    Ok(Segment {
        index: index.ok_or_else(|| ApiError::invalid(schema::missing("$.segment_index")))?,
        data: data.ok_or_else(|| ApiError::invalid(schema::missing("$.media")))?,
    })
}

/// The OAS also allows JSON with `media` base64-encoded.
fn parse_json_segment(headers: &HeaderMap, body: &[u8]) -> Result<Segment, ApiError> {
    let map = json_object(headers, body)?;
    reject_unknown(&map, "$", &["media", "segment_index"])?;
    let index = match map.get("segment_index") {
        None => return Err(ApiError::invalid(schema::missing("$.segment_index"))),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => check_index(i)?,
            None => {
                return Err(ApiError::invalid(schema::wrong_type(
                    "$.segment_index",
                    "number",
                    "integer",
                )))
            }
        },
        Some(other) => {
            return Err(ApiError::invalid(schema::wrong_type(
                "$.segment_index",
                schema::type_name(other),
                "integer",
            )))
        }
    };
    let data = match map.get("media") {
        None => return Err(ApiError::invalid(schema::missing("$.media"))),
        Some(Value::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|_| ApiError::invalid("$.media: is not valid base64"))?,
        Some(other) => {
            return Err(ApiError::invalid(schema::wrong_type(
                "$.media",
                schema::type_name(other),
                "string",
            )))
        }
    };
    Ok(Segment {
        index,
        data: Bytes::from(data),
    })
}

pub async fn append(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    check_path_id(&id)?;
    let max_segment = shared.lock().config.max_segment_bytes;
    // Room for base64 (4/3) and multipart framing; the segment itself is
    // checked against `max_segment_bytes` below.
    let body_limit = max_segment.saturating_mul(2).saturating_add(1 << 20);
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, body_limit).await.map_err(|_| {
        ApiError::invalid_param(
            format!("The request body exceeds {body_limit} bytes; segments may be at most {max_segment} bytes."),
            "media",
            "",
        )
    })?;
    let segment = if content_type_is(&parts.headers, "multipart/form-data") {
        parse_multipart(Request::from_parts(parts, Body::from(bytes))).await?
    } else if content_type_is(&parts.headers, "application/json") {
        parse_json_segment(&parts.headers, &bytes)?
    } else {
        return Err(ApiError::invalid(
            "Requests with bodies must have content-type of multipart/form-data or application/json.",
        ));
    };
    if segment.data.is_empty() {
        return Err(ApiError::invalid_param(
            "$.media: must not be empty",
            "media",
            "",
        ));
    }
    if segment.data.len() > max_segment {
        return Err(ApiError::invalid_param(
            format!(
                "Segment size [{}] exceeds the maximum segment size of {max_segment} bytes.",
                segment.data.len()
            ),
            "media",
            &segment.data.len().to_string(),
        ));
    }

    let now_ms = shared.clock.now_ms();
    let mut inner = shared.lock();
    let media = own_media(&mut inner, &id, &user, now_ms)?;
    if !matches!(media.state, MediaState::Uploading) {
        return Err(ApiError::invalid_param(
            format!("Media [{id}] has already been finalized; APPEND is no longer allowed."),
            "id",
            &id,
        ));
    }
    // Re-sending an index replaces it (retry of one segment).
    let replaced = media
        .segments
        .get(&segment.index)
        .map_or(0, |b| b.len() as u64);
    let after = media.received_bytes() - replaced + segment.data.len() as u64;
    if after > media.total_bytes {
        return Err(ApiError::invalid_param(
            format!(
                "Appended segments would total {after} bytes, more than total_bytes [{}] declared at INIT.",
                media.total_bytes
            ),
            "segment_index",
            &segment.index.to_string(),
        ));
    }
    media.appends.push((segment.index, segment.data.len()));
    media.segments.insert(segment.index, segment.data);
    // OAS: 200 `{"data":{"expires_at"}}`; v1.1 answered 204 with no body
    // (tweepy cassette testmediauploadmp4.yaml).
    let expires_at = media.expires_at_ms / 1000;
    Ok(match inner.config.append_answer {
        AppendAnswer::V2 => Json(json!({ "data": { "expires_at": expires_at } })).into_response(),
        AppendAnswer::V1_204 => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `data` of FINALIZE and STATUS (research §3a).
fn media_data(media: &Media, inner: &Inner, now_ms: u64) -> Value {
    let mut data = json!({
        "id": media.id,
        "media_key": media.media_key,
        "size": media.total_bytes,
        "expires_after_secs": media.expires_at_ms.saturating_sub(now_ms) / 1000,
    });
    if let MediaState::Finalized(p) = &media.state {
        if media.async_processing {
            let view = processing_view(p, &inner.config, now_ms);
            // X's recorded pending answer has no progress_percent
            // (xdevplatform/large-video-upload-python#14, abraham/twitteroauth#1222).
            let mut info = json!({ "state": view.state });
            if view.state != "pending" {
                info["progress_percent"] = json!(view.progress);
            }
            if let Some(c) = view.check_after {
                info["check_after_secs"] = json!(c);
            }
            if let Some(msg) = view.error {
                // v1.1's recorded failure shape (research §3a).
                info["error"] = judge::error_json(&msg);
            }
            data["processing_info"] = info;
        }
    }
    if media.kind == MediaKind::Video {
        data["video"] = json!({ "video_type": media.media_type });
    }
    // Images (and GIFs sent as images) carry `image` (xdevplatform/xurl#18,
    // sferik/x-ruby#54): type and pixel size read from the file's header,
    // 0 when the emulator cannot read it (chosen).
    let still =
        media.kind == MediaKind::Image || (media.kind == MediaKind::Gif && !media.async_processing);
    if still && matches!(media.state, MediaState::Finalized(_)) {
        let head = media.segments.get(&0).map_or(&[][..], |b| &b[..]);
        let (w, h) = image_size(head).unwrap_or((0, 0));
        data["image"] = json!({ "image_type": media.media_type, "w": w, "h": h });
    }
    data
}

/// Width and height from a PNG, GIF, JPEG or BMP header.
fn image_size(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| Some(u32::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let le16 = |i: usize| Some(u32::from(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let le32 = |i: usize| Some(i32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?));
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some((be32(16)?, be32(20)?));
    }
    if b.starts_with(b"GIF8") {
        return Some((le16(6)?, le16(8)?));
    }
    if b.starts_with(b"BM") {
        return Some((le32(18)?.unsigned_abs(), le32(22)?.unsigned_abs()));
    }
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    // JPEG: walk the marker segments to the first start-of-frame.
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        let len = be16(i + 2)? as usize;
        let sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if sof {
            return Some((be16(i + 7)?, be16(i + 5)?));
        }
        i += 2 + len;
    }
    None
}

/// FINALIZE's body, as X checks it (research, Corrections 2026-11-30): none
/// at all is fine (PLH sends none); `{}` as JSON is fine (trypostit/trypost
/// #202); an empty body declared JSON is "Request body is not valid JSON."
/// (sferik/x-ruby #71); `[]` or any other non-object is "Request body must
/// be a JSON object." (trypost #202, whose "no body" was PHP's `[]`). A body
/// that is not declared JSON gets X's content-type answer (PLH#591). An
/// object with any field is rejected as the OAS defines none (chosen).
fn finalize_body(headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let declared_json = content_type_is(headers, "application/json");
    if body.is_empty() && !declared_json {
        return Ok(());
    }
    if !declared_json {
        return Err(ApiError::not_json());
    }
    match serde_json::from_slice::<Value>(body) {
        Err(_) => Err(ApiError::invalid("Request body is not valid JSON.")),
        Ok(Value::Object(map)) => reject_unknown(&map, "$", &[]),
        Ok(_) => Err(ApiError::invalid("Request body must be a JSON object.")),
    }
}

pub async fn finalize(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    check_path_id(&id)?;
    finalize_body(&headers, &body)?;
    let now_ms = shared.clock.now_ms();
    let (segments, media_type, judge_it) = {
        let mut inner = shared.lock();
        let judge_on = inner.config.judge_processing;
        let media = own_media(&mut inner, &id, &user, now_ms)?;
        if !matches!(media.state, MediaState::Uploading) {
            return Err(ApiError::invalid_param(
                format!("Media [{id}] has already been finalized."),
                "id",
                &id,
            ));
        }
        let count = media.segments.len() as u32;
        if let Some(gap) = (0..count).find(|i| !media.segments.contains_key(i)) {
            return Err(ApiError::invalid_param(
                format!("Segment [{gap}] is missing: segments must run from 0 without gaps."),
                "segment_index",
                &gap.to_string(),
            ));
        }
        if media.received_bytes() != media.total_bytes {
            return Err(ApiError::invalid_param(
                format!(
                    "The appended segments total {} bytes, but total_bytes [{}] was declared at INIT.",
                    media.received_bytes(),
                    media.total_bytes
                ),
                "total_bytes",
                &media.total_bytes.to_string(),
            ));
        }
        media.state = MediaState::Finalizing;
        let segs: Vec<Bytes> = media.segments.values().cloned().collect();
        (
            segs,
            media.media_type.clone(),
            judge_on && media.async_processing,
        )
    };

    // Up to 512 MB: hash and check off the async runtime and the lock.
    let check = tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        for s in &segments {
            hasher.update(s);
        }
        (
            hex::encode(hasher.finalize()),
            // Judged only if the container check passed: one ffprobe run.
            mp4::validate(&media_type, &segments).and_then(|()| match judge_it {
                true => judge::judge(&media_type, &segments),
                false => Ok(()),
            }),
        )
    })
    .await;
    let (sha, valid) =
        check.unwrap_or_else(|_| (String::new(), Err("internal check failed".into())));
    // Processing time counts from the end of the check (ffprobe takes a while).
    let now_ms = shared.clock.now_ms();

    let mut inner = shared.lock();
    let forced = take_rule(&mut inner, &id);
    let media = inner
        .media
        .get_mut(&id)
        .ok_or_else(|| ApiError::media_not_found(&id))?;
    let outcome = match (forced, valid) {
        (Some(o), _) if media.async_processing => o,
        (_, Err(msg)) => Outcome::Fail(msg),
        _ => Outcome::Succeed,
    };
    media.sha256 = Some(sha);
    media.state = MediaState::Finalized(Processing {
        outcome,
        polls: 0,
        finalized_ms: now_ms,
    });
    let media = media.clone();
    Ok(Json(json!({ "data": media_data(&media, &inner, now_ms) })))
}

/// An admin processing rule for this id, or the next queued general one.
fn take_rule(inner: &mut Inner, id: &str) -> Option<Outcome> {
    let pos = inner
        .processing_rules
        .iter()
        .position(|r| r.media_id.as_deref() == Some(id))
        .or_else(|| {
            inner
                .processing_rules
                .iter()
                .position(|r| r.media_id.is_none())
        })?;
    let rule = inner.processing_rules.get_mut(pos)?;
    let outcome = Outcome::from_rule(rule);
    rule.count = rule.count.saturating_sub(1);
    if rule.count == 0 {
        inner.processing_rules.remove(pos);
    }
    Some(outcome)
}

pub async fn status(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = query(raw.as_deref(), &["media_id", "command"])?;
    if let Some(c) = q.get("command") {
        if c != "STATUS" {
            return Err(ApiError::invalid_param(
                schema::not_in_enum("$.command", &["STATUS"]),
                "command",
                c,
            ));
        }
    }
    let id = q
        .get("media_id")
        .ok_or_else(|| ApiError::invalid(schema::missing("$.media_id")))?;
    if !is_id(id) {
        return Err(ApiError::invalid_param(
            format!("The `media_id` query parameter value [{id}] does not match ^[0-9]{{1,19}}$"),
            "media_id",
            id,
        ));
    }
    let now_ms = shared.clock.now_ms();
    let mut inner = shared.lock();
    let media = own_media(&mut inner, id, &user, now_ms)?;
    match &mut media.state {
        // Nothing to process (FINALIZE gave no processing_info): X answers
        // its invalid-request problem with "BadRequest: Not found"
        // (xdevplatform/xurl#18, a tweet_image upload, 2025).
        MediaState::Finalized(_) if !media.async_processing => {
            return Err(ApiError::invalid("BadRequest: Not found"))
        }
        MediaState::Finalized(p) => p.polls = p.polls.saturating_add(1),
        _ => {
            return Err(ApiError::invalid_param(
                format!("Media [{id}] has not been finalized."),
                "media_id",
                id,
            ))
        }
    }
    let media = media.clone();
    Ok(Json(json!({ "data": media_data(&media, &inner, now_ms) })))
}

/// Whether `id` can be attached to a post by `user` now.
pub fn attachable(inner: &Inner, id: &str, user_id: &str, now_ms: u64) -> Option<Media> {
    let m = inner
        .media
        .get(id)
        .filter(|m| m.owner_id == user_id && now_ms < m.expires_at_ms)?;
    match &m.state {
        MediaState::Finalized(_) if !m.async_processing => Some(m.clone()),
        MediaState::Finalized(p) => {
            (processing_view(p, &inner.config, now_ms).state == "succeeded").then(|| m.clone())
        }
        _ => None,
    }
}
