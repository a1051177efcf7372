//! `GET /2/users/me`, `GET /2/users/{id}/tweets`, `POST /2/tweets`
//! (research §2 and §5).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde_json::{json, Value};

use crate::guard::AuthUser;
use crate::media::attachable;
use crate::params::{check_path_id, is_id, json_object, query, reject_unknown};
use crate::problem::{schema, ApiError};
use crate::state::{MediaKind, Shared, TweetRecord};

/// X's weighted length (twitter-text v3, research §5), from the workspace
/// crate that owns the rules.
fn weighted_length(text: &str) -> usize {
    x_text::weighted_length(text)
}

pub async fn users_me(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    query(
        raw.as_deref(),
        &["user.fields", "expansions", "tweet.fields"],
    )?;
    let inner = shared.lock();
    let u = inner
        .config
        .user(&user.user_id)
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(
        json!({ "data": { "id": u.id, "name": u.name, "username": u.username } }),
    ))
}

const TIMELINE_PARAMS: &[&str] = &[
    "max_results",
    "expansions",
    "tweet.fields",
    "media.fields",
    "user.fields",
    "place.fields",
    "poll.fields",
    "pagination_token",
    "since_id",
    "until_id",
    "start_time",
    "end_time",
    "exclude",
];

const EXPANSIONS: &[&str] = &[
    "attachments.media_keys",
    "attachments.poll_ids",
    "author_id",
    "edit_history_tweet_ids",
    "entities.mentions.username",
    "geo.place_id",
    "in_reply_to_user_id",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
];

pub async fn user_tweets(
    State(shared): State<Arc<Shared>>,
    Extension(_user): Extension<AuthUser>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    check_path_id(&id)?;
    let q = query(raw.as_deref(), TIMELINE_PARAMS)?;
    let max_results = match q.get("max_results") {
        None => 10,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (5..=100).contains(&n) => n as usize,
            _ => {
                return Err(ApiError::invalid_param(
                    format!(
                        "The `max_results` query parameter value [{v}] is not between 5 and 100"
                    ),
                    "max_results",
                    v,
                ))
            }
        },
    };
    let expansions: Vec<&str> = q
        .get("expansions")
        .map(|e| e.split(',').collect())
        .unwrap_or_default();
    if let Some(bad) = expansions.iter().find(|e| !EXPANSIONS.contains(e)) {
        return Err(ApiError::invalid_param(
            format!(
                "The `expansions` query parameter value [{bad}] is not one of [{}]",
                EXPANSIONS.join(",")
            ),
            "expansions",
            bad,
        ));
    }
    let want_media = expansions.contains(&"attachments.media_keys");
    let want_attachments = want_media
        || q.get("tweet.fields")
            .is_some_and(|f| f.split(',').any(|f| f == "attachments"));

    let inner = shared.lock();
    if inner.config.user(&id).is_none() {
        // X answers an unknown user with 200 and a resource-not-found error.
        return Ok(Json(json!({ "errors": [{
            "value": id,
            "detail": format!("Could not find user with id: [{id}]."),
            "title": "Not Found Error",
            "resource_type": "user",
            "parameter": "id",
            "resource_id": id,
            "type": format!("{}resource-not-found", crate::problem::PROBLEM_BASE),
        }]})));
    }
    let tweets: Vec<&TweetRecord> = inner
        .tweets
        .iter()
        .rev()
        .filter(|t| t.author_id == id)
        .take(max_results)
        .collect();
    if tweets.is_empty() {
        return Ok(Json(json!({ "meta": { "result_count": 0 } })));
    }
    let mut media = Vec::new();
    let data: Vec<Value> = tweets
        .iter()
        .map(|t| {
            let mut v = json!({ "id": t.id, "text": t.text, "edit_history_tweet_ids": [t.id] });
            if want_attachments && !t.media_keys.is_empty() {
                v["attachments"] = json!({ "media_keys": t.media_keys });
                for (key, mid) in t.media_keys.iter().zip(&t.media_ids) {
                    let kind = match inner.media.get(mid).map(|m| m.kind) {
                        Some(MediaKind::Video) => "video",
                        Some(MediaKind::Gif) => "animated_gif",
                        _ => "photo",
                    };
                    media.push(json!({ "media_key": key, "type": kind }));
                }
            }
            v
        })
        .collect();
    let mut body = json!({
        "data": data,
        "meta": {
            "result_count": tweets.len(),
            "newest_id": tweets.first().map(|t| t.id.clone()),
            "oldest_id": tweets.last().map(|t| t.id.clone()),
        }
    });
    if want_media && !media.is_empty() {
        body["includes"] = json!({ "media": media });
    }
    Ok(Json(body))
}

/// OAS `TweetCreateRequest` top-level properties (additionalProperties:
/// false, research §5).
const TWEET_FIELDS: &[&str] = &[
    "card_uri",
    "community_id",
    "direct_message_deep_link",
    "edit_options",
    "for_super_followers_only",
    "geo",
    "made_with_ai",
    "media",
    "nullcast",
    "paid_partnership",
    "poll",
    "quote_tweet_id",
    "reply",
    "reply_settings",
    "share_with_followers",
    "text",
];

const TWEET_MEDIA_FIELDS: &[&str] = &[
    "media_ids",
    "tagged_user_ids",
    "title",
    "description",
    "preview_media_id",
    "embeddable",
    "call_to_actions",
];

fn string_ids(
    v: Option<&Value>,
    path: &str,
    min: usize,
    max: usize,
) -> Result<Vec<String>, ApiError> {
    let arr = match v {
        Some(Value::Array(a)) => a,
        None if min == 0 => return Ok(Vec::new()),
        None => return Err(ApiError::invalid(schema::missing(path))),
        Some(other) => {
            return Err(ApiError::invalid(schema::wrong_type(
                path,
                schema::type_name(other),
                "array",
            )))
        }
    };
    if arr.len() < min || arr.len() > max {
        return Err(ApiError::invalid(format!(
            "{path}: there must be between {min} and {max} items in the array"
        )));
    }
    arr.iter()
        .map(|v| match v.as_str() {
            Some(s) if is_id(s) => Ok(s.to_string()),
            _ => Err(ApiError::invalid_param(
                format!("{path}[*]: does not match the regex pattern ^[0-9]{{1,19}}$"),
                path.trim_start_matches("$."),
                &v.to_string(),
            )),
        })
        .collect()
}

pub async fn create_tweet(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<AuthUser>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let map = json_object(&headers, &body)?;
    reject_unknown(&map, "$", TWEET_FIELDS)?;
    let text = match map.get("text") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ApiError::invalid(schema::wrong_type(
                "$.text",
                schema::type_name(other),
                "string",
            )))
        }
    };
    let media_ids = match map.get("media") {
        None => Vec::new(),
        Some(Value::Object(m)) => {
            reject_unknown(m, "$.media", TWEET_MEDIA_FIELDS)?;
            string_ids(m.get("tagged_user_ids"), "$.media.tagged_user_ids", 0, 10)?;
            string_ids(m.get("media_ids"), "$.media.media_ids", 1, 4)?
        }
        Some(other) => {
            return Err(ApiError::invalid(schema::wrong_type(
                "$.media",
                schema::type_name(other),
                "object",
            )))
        }
    };
    let text = text.unwrap_or_default();
    // OAS: text may be omitted only when media (or a poll, quote...) is given.
    if text.is_empty()
        && media_ids.is_empty()
        && !map.contains_key("poll")
        && !map.contains_key("quote_tweet_id")
    {
        return Err(ApiError::invalid(
            "One or more of [text, media, poll, quote_tweet_id] is required.",
        ));
    }

    let now_ms = shared.clock.now_ms();
    let mut inner = shared.lock();
    // Recorded v2 wording for too-long text (gundogan8/FotBot#22, 2023);
    // research §5 marks the exact body UNCONFIRMED.
    if weighted_length(&text) > inner.config.max_tweet_weighted_length {
        return Err(ApiError::invalid_param(
            "Your Tweet text is too long. For more information on how Twitter determines text length see https://github.com/twitter/twitter-text.",
            "text",
            &text.chars().take(100).collect::<String>(),
        ));
    }
    let mut media_keys = Vec::new();
    let mut videos = 0;
    for (i, id) in media_ids.iter().enumerate() {
        if media_ids[..i].contains(id) {
            return Err(ApiError::invalid_param(
                "Your media IDs are invalid.",
                "media.media_ids",
                id,
            ));
        }
        // Unknown, foreign, expired, unprocessed or failed media: X's v2
        // "Your media IDs are invalid." (v1.1 code 324, research §7).
        let m = attachable(&inner, id, &user.user_id, now_ms).ok_or_else(|| {
            ApiError::invalid_param("Your media IDs are invalid.", "media.media_ids", id)
        })?;
        if matches!(m.kind, MediaKind::Video | MediaKind::Gif) {
            videos += 1;
        }
        media_keys.push(m.media_key);
    }
    // research §5: up to 4 photos, or 1 video, or 1 GIF.
    if videos > 0 && media_ids.len() > 1 {
        return Err(ApiError::invalid_param(
            "You may attach up to 4 photos, or 1 video or GIF, per post.",
            "media.media_ids",
            &media_ids.join(","),
        ));
    }
    if !text.is_empty()
        && inner
            .tweets
            .iter()
            .any(|t| t.author_id == user.user_id && t.text == text)
    {
        // Recorded 2026 body (akrherz/iembot#163, research §5).
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            body: json!({
                "detail": "You are not allowed to create a Tweet with duplicate content.",
                "type": "about:blank",
                "title": "Forbidden",
                "status": 403,
            }),
            problem: true,
        });
    }
    let id = inner.new_id();
    inner.tweets.push(TweetRecord {
        id: id.clone(),
        author_id: user.user_id.clone(),
        text: text.clone(),
        media_ids,
        media_keys,
        created_at: now_ms / 1000,
    });
    Ok((
        StatusCode::CREATED,
        Json(json!({ "data": { "id": id, "text": text, "edit_history_tweet_ids": [id] } })),
    ))
}
