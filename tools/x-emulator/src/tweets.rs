//! `GET /2/users/me`, `GET /2/users/{id}/tweets`, `POST /2/tweets`
//! (research §2 and §5).

use std::collections::HashMap;
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
use crate::rfc3339;
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
    let q = query(
        raw.as_deref(),
        &["user.fields", "expansions", "tweet.fields", "post.fields"],
    )?;
    enum_list(&q, "user.fields", USER_FIELDS)?;
    enum_list(&q, "expansions", USER_EXPANSIONS)?;
    enum_list(&q, "tweet.fields", POST_FIELDS)?;
    enum_list(&q, "post.fields", POST_FIELDS)?;
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
    // OAS v2.167 names the fields parameter `post.fields`; X's docs and
    // clients still send `tweet.fields`. Both are read.
    "post.fields",
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
    // OAS v2.167 `PostExpansionsParameter` names.
    "article.cover_media",
    "article.media_entities",
    "attachments.media_source_tweet",
    "edit_history_post_ids",
    "referenced_posts",
    "username",
];

/// The fields enums of OAS v2.167 (`UserFieldsParameter`,
/// `PostFieldsParameter`, `MediaFieldsParameter`, `PlaceFieldsParameter`,
/// `PollFieldsParameter`, `UserExpansionsParameter`), plus the Tweet-era
/// names the spec renamed, which X's docs and clients still send (chosen:
/// both accepted). A value outside them is X's recorded 400 "The
/// `tweet.fields` query parameter value [...] is not one of [...]" (§7).
const USER_FIELDS: &[&str] = &[
    "confirmed_email",
    "connection_status",
    "created_at",
    "description",
    "entities",
    "id",
    "is_identity_verified",
    "location",
    "name",
    "parody",
    "profile_banner_url",
    "profile_image_url",
    "protected",
    "public_metrics",
    "receives_your_dm",
    "subscribes_to_you",
    "subscription",
    "subscription_type",
    "url",
    "username",
    "verified",
    "verified_followers_count",
    "verified_type",
    "withheld",
    // Tweet-era names.
    "most_recent_tweet_id",
    "pinned_tweet_id",
];

const USER_EXPANSIONS: &[&str] = &[
    "affiliation",
    "most_recent_post_id",
    "pinned_post_id",
    // Tweet-era names.
    "most_recent_tweet_id",
    "pinned_tweet_id",
];

const POST_FIELDS: &[&str] = &[
    "article",
    "article_title",
    "attachments",
    "card_uri",
    "community_id",
    "context_annotations",
    "conversation_id",
    "created_at",
    "display_text_range",
    "edit_controls",
    "entities",
    "geo",
    "id",
    "lang",
    "matched_media_notes",
    "media_metadata",
    "non_public_metrics",
    "note_post",
    "note_request_suggestions",
    "organic_metrics",
    "paid_partnership",
    "possibly_sensitive",
    "promoted_metrics",
    "public_metrics",
    "reply_settings",
    "scopes",
    "source",
    "suggested_source_links",
    "suggested_source_links_with_counts",
    "text",
    "withheld",
    // Tweet-era names.
    "author_id",
    "edit_history_tweet_ids",
    "in_reply_to_user_id",
    "note_tweet",
    "referenced_tweets",
];

const MEDIA_FIELDS: &[&str] = &[
    "alt_text",
    "duration_ms",
    "height",
    "media_key",
    "non_public_metrics",
    "organic_metrics",
    "preview_image_url",
    "promoted_metrics",
    "public_metrics",
    "type",
    "url",
    "variants",
    "width",
];

const PLACE_FIELDS: &[&str] = &[
    "contained_within",
    "country",
    "country_code",
    "full_name",
    "geo",
    "id",
    "name",
    "place_type",
];

const POLL_FIELDS: &[&str] = &[
    "duration_minutes",
    "end_datetime",
    "id",
    "options",
    "voting_status",
];

/// OAS `exclude` items enum.
const EXCLUDE: &[&str] = &["replies", "retweets"];

/// OAS v2.167: `start_time` and `end_time` "Must be on or after 2010-11-06".
const EARLIEST_TIME: &str = "2010-11-06T00:00:00Z";

/// X's invalid-request body for a bad time value, in the recorded shape
/// `Invalid 'start_time':'…'. 'start_time' must be on or after …`
/// (medialab/minet#445, search counts).
fn bad_time(name: &str, value: &str, why: &str) -> ApiError {
    ApiError::invalid_param(format!("Invalid '{name}':'{value}'. {why}"), name, value)
}

fn time_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(v) = q.get(name) else {
        return Ok(None);
    };
    let secs = rfc3339::parse_secs(v).ok_or_else(|| {
        bad_time(
            name,
            v,
            &format!("'{name}' must be an RFC 3339 date-time, e.g. YYYY-MM-DDTHH:mm:ssZ"),
        )
    })?;
    let earliest = rfc3339::parse_secs(EARLIEST_TIME).unwrap_or(0);
    if secs < earliest {
        return Err(bad_time(
            name,
            v,
            &format!("'{name}' must be on or after {EARLIEST_TIME}"),
        ));
    }
    Ok(Some(secs))
}

fn id_param(q: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if is_id(v) => Ok(Some(n)),
            _ => Err(ApiError::invalid_param(
                format!("The `{name}` query parameter value [{v}] does not match ^[0-9]{{1,19}}$"),
                name,
                v,
            )),
        },
    }
}

/// A comma-separated enum list (OAS `style: form, explode: false`,
/// `minItems: 1`, `uniqueItems: true`), with X's "is not one of" wording.
fn enum_list<'a>(
    q: &'a HashMap<String, String>,
    name: &str,
    allowed: &[&str],
) -> Result<Vec<&'a str>, ApiError> {
    let Some(v) = q.get(name) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<&str> = Vec::new();
    for item in v.split(',') {
        if !allowed.contains(&item) {
            return Err(ApiError::invalid_param(
                format!(
                    "The `{name}` query parameter value [{item}] is not one of [{}]",
                    allowed.join(",")
                ),
                name,
                item,
            ));
        }
        if out.contains(&item) {
            return Err(ApiError::invalid_param(
                format!("The `{name}` query parameter value [{item}] is duplicated"),
                name,
                item,
            ));
        }
        out.push(item);
    }
    Ok(out)
}

/// Which side of a page a pagination token points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// `next_token`: posts older than the boundary id.
    Older,
    /// `previous_token`: posts newer than the boundary id.
    Newer,
}

/// RFC 4648 base32hex alphabet, lower case (OAS v2.167: "A base32hex-encoded
/// pagination token").
const B32HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

fn b32hex_encode(data: &[u8]) -> String {
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(B32HEX[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(B32HEX[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn b32hex_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B32HEX.iter().position(|&a| a == c)? as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
        buf &= (1 << bits) - 1;
    }
    Some(out)
}

/// Opaque to clients; binds the timeline's user, the direction and the
/// boundary post id, so a token from another user's timeline is refused.
fn encode_token(dir: Direction, user_id: &str, boundary: u64) -> String {
    let d = match dir {
        Direction::Older => 'n',
        Direction::Newer => 'p',
    };
    b32hex_encode(format!("{d}:{user_id}:{boundary}").as_bytes())
}

fn decode_token(token: &str, user_id: &str) -> Result<(Direction, u64), ApiError> {
    let invalid = || {
        ApiError::invalid_param(
            format!("The `pagination_token` query parameter value [{token}] is not valid"),
            "pagination_token",
            token,
        )
    };
    let raw = b32hex_decode(token).ok_or_else(invalid)?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, ':');
    let dir = match parts.next() {
        Some("n") => Direction::Older,
        Some("p") => Direction::Newer,
        _ => return Err(invalid()),
    };
    if parts.next() != Some(user_id) {
        return Err(invalid());
    }
    let boundary = parts
        .next()
        .filter(|b| is_id(b))
        .and_then(|b| b.parse::<u64>().ok())
        .ok_or_else(invalid)?;
    // The token must be exactly what `encode_token` would print.
    if encode_token(dir, user_id, boundary) != token {
        return Err(invalid());
    }
    Ok((dir, boundary))
}

fn tweet_num(t: &TweetRecord) -> u64 {
    t.id.parse().unwrap_or(0)
}

/// `GET /2/users/{id}/tweets` (OAS `getUsersPosts`): newest first, the
/// `timeline_max_posts` most recent posts that are older than
/// `timeline_lag_ms`, filtered by `since_id` / `until_id` (exclusive) and
/// `start_time` / `end_time` (second granular, inclusive), paged by
/// `pagination_token`.
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
    let expansions = enum_list(&q, "expansions", EXPANSIONS)?;
    for (name, allowed) in [
        ("tweet.fields", POST_FIELDS),
        ("post.fields", POST_FIELDS),
        ("user.fields", USER_FIELDS),
        ("media.fields", MEDIA_FIELDS),
        ("place.fields", PLACE_FIELDS),
        ("poll.fields", POLL_FIELDS),
    ] {
        enum_list(&q, name, allowed)?;
    }
    // Our posts are never replies or retweets, so `exclude` filters nothing;
    // its values are still checked against the OAS enum.
    enum_list(&q, "exclude", EXCLUDE)?;
    let fields: Vec<&str> = ["tweet.fields", "post.fields"]
        .iter()
        .filter_map(|k| q.get(*k))
        .flat_map(|f| f.split(','))
        .collect();
    let want_media = expansions.contains(&"attachments.media_keys");
    let want_attachments = want_media || fields.contains(&"attachments");

    let since_id = id_param(&q, "since_id")?;
    let until_id = id_param(&q, "until_id")?;
    let start_time = time_param(&q, "start_time")?;
    let end_time = time_param(&q, "end_time")?;
    // OAS v2.167: "When both are provided, `start_time` must be earlier than
    // `end_time`. When both are provided, `since_id` must be less than
    // `until_id`."
    if let (Some(s), Some(u)) = (since_id, until_id) {
        if s >= u {
            let v = &q["since_id"];
            return Err(ApiError::invalid_param(
                format!("Invalid 'since_id':'{v}'. 'since_id' must be less than 'until_id'"),
                "since_id",
                v,
            ));
        }
    }
    if let (Some(s), Some(e)) = (start_time, end_time) {
        if s >= e {
            return Err(bad_time(
                "start_time",
                &q["start_time"],
                "'start_time' must be earlier than 'end_time'",
            ));
        }
    }
    let token = match q.get("pagination_token") {
        Some(t) => Some(decode_token(t, &id)?),
        None => None,
    };

    let now_ms = shared.clock.now_ms();
    let mut inner = shared.lock();
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
    let lag = inner.config.timeline_lag_ms;
    let cap = inner.config.timeline_max_posts;
    // Newest first: ids grow with creation time, as X's snowflakes do.
    let matching: Vec<TweetRecord> = inner
        .tweets
        .iter()
        .rev()
        .filter(|t| t.author_id == id && t.created_at_ms.saturating_add(lag) <= now_ms)
        .take(cap)
        .filter(|t| {
            let n = tweet_num(t);
            let secs = (t.created_at_ms / 1000) as i64;
            since_id.is_none_or(|s| n > s)
                && until_id.is_none_or(|u| n < u)
                // since_id / until_id take precedence over the times (OAS
                // v2.112 parameter descriptions).
                && (since_id.is_some() || start_time.is_none_or(|s| secs >= s))
                && (until_id.is_some() || end_time.is_none_or(|e| secs <= e))
        })
        .cloned()
        .collect();
    let (lo, hi) = match token {
        None => (0, max_results.min(matching.len())),
        Some((Direction::Older, b)) => {
            let lo = matching.partition_point(|t| tweet_num(t) >= b);
            (lo, (lo + max_results).min(matching.len()))
        }
        Some((Direction::Newer, b)) => {
            let hi = matching.partition_point(|t| tweet_num(t) > b);
            (hi.saturating_sub(max_results), hi)
        }
    };
    let page = &matching[lo..hi];
    *inner.timeline_posts_returned.entry(id.clone()).or_default() += page.len() as u64;
    if page.is_empty() {
        return Ok(Json(json!({ "meta": { "result_count": 0 } })));
    }
    let mut media = Vec::new();
    let data: Vec<Value> = page
        .iter()
        .map(|t| {
            let mut v = json!({ "id": t.id, "text": t.text, "edit_history_tweet_ids": [t.id] });
            if fields.contains(&"created_at") {
                v["created_at"] = json!(rfc3339::format_ms(t.created_at_ms));
            }
            if fields.contains(&"author_id") {
                v["author_id"] = json!(t.author_id);
            }
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
    let mut meta = json!({
        "result_count": page.len(),
        "newest_id": page[0].id,
        "oldest_id": page[page.len() - 1].id,
    });
    // X: no `next_token` on the last page; `previous_token` only when there
    // is a previous page (DOCS `x-api/fundamentals/pagination.mdx`).
    if hi < matching.len() {
        meta["next_token"] = json!(encode_token(
            Direction::Older,
            &id,
            tweet_num(&page[page.len() - 1])
        ));
    }
    if token.is_some() && lo > 0 {
        meta["previous_token"] = json!(encode_token(Direction::Newer, &id, tweet_num(&page[0])));
    }
    let mut body = json!({ "data": data, "meta": meta });
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
        created_at_ms: now_ms,
    });
    Ok((
        StatusCode::CREATED,
        Json(json!({ "data": { "id": id, "text": text, "edit_history_tweet_ids": [id] } })),
    ))
}
