//! Reelay's typed client for the parts of X's API v2 it uses (research/x-api.md §2, §3a, §5).
//!
//! It runs over the container's one shared `reqwest::Client` (timeouts set, redirects off; see
//! `http_client`), and turns every answer into a typed value or an [`XError`]. Tokens travel only
//! in the `Authorization` header, never in a URL, an error or a log field.

mod error;
pub mod platform;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::config::XConfig;
use crate::secret::Secret;

pub use error::{classify, error_detail, rate_limit_reset, ForbiddenKind, XError};

/// The X account a token belongs to (`GET /2/users/me`, §2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct XUser {
    /// X user ids are strings of digits (§2).
    pub id: String,
    pub username: String,
    pub name: String,
}

/// The answer to INIT (§3a).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInit {
    pub id: String,
    pub media_key: Option<String>,
    pub expires_after_secs: Option<u64>,
}

/// `processing_info.state` (§3a); `Ready` when X sent no `processing_info` at all, which means
/// the media needs no processing and can be posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingState {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    Ready,
}

impl ProcessingState {
    /// Whether the media can be attached to a post now.
    pub fn is_usable(self) -> bool {
        matches!(self, ProcessingState::Succeeded | ProcessingState::Ready)
    }
}

/// `processing_info.error`: not in the v2 OAS, but v1.1 sent `{code, name, message}` and PLH
/// types v2's as `{code, message}` (§3a), so every field but the message is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaError {
    pub code: Option<i64>,
    pub name: Option<String>,
    pub message: String,
}

/// The answer to FINALIZE and STATUS (same shape, §3a).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaStatus {
    pub id: String,
    pub media_key: Option<String>,
    pub state: ProcessingState,
    pub check_after_secs: Option<u64>,
    pub progress_percent: Option<u8>,
    pub error: Option<MediaError>,
    pub expires_after_secs: Option<u64>,
}

/// The answer to `POST /2/tweets` (§5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedPost {
    pub id: String,
    pub text: String,
}

/// One of a user's recent posts, with the media keys attached to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentPost {
    pub id: String,
    pub text: String,
    pub media_keys: Vec<String>,
}

/// X's API over the shared HTTP client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct XClient {
    http: reqwest::Client,
    api_base: Url,
}

// Wire shapes, deserialized leniently: unknown fields are ignored (X adds fields, e.g.
// `edit_history_tweet_ids`, §5).
#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct WireInit {
    id: String,
    media_key: Option<String>,
    expires_after_secs: Option<u64>,
}

#[derive(Deserialize)]
struct WireMedia {
    id: String,
    media_key: Option<String>,
    expires_after_secs: Option<u64>,
    processing_info: Option<WireProcessing>,
}

#[derive(Deserialize)]
struct WireProcessing {
    state: String,
    check_after_secs: Option<u64>,
    progress_percent: Option<u8>,
    error: Option<WireMediaError>,
}

#[derive(Deserialize)]
struct WireMediaError {
    code: Option<i64>,
    name: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct WireCreated {
    id: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct WireTimeline {
    data: Option<Vec<WireTweet>>,
    errors: Option<Vec<serde_json::Value>>,
    meta: Option<WireTimelineMeta>,
}

#[derive(Deserialize)]
struct WireTimelineMeta {
    next_token: Option<String>,
}

/// One page of a user's posts, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimelinePage {
    pub posts: Vec<RecentPost>,
    /// X's `meta.next_token`: more posts match; pass it back as `pagination_token`.
    pub next_token: Option<String>,
}

/// Which of a user's posts a timeline read asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimelineQuery {
    /// 5..=100 (X's bounds; clamped).
    pub max_results: u8,
    /// Only posts created at or after this instant (epoch seconds; X's `start_time`).
    pub start_time_secs: Option<i64>,
    pub pagination_token: Option<String>,
}

#[derive(Deserialize)]
struct WireTweet {
    id: String,
    #[serde(default)]
    text: String,
    attachments: Option<WireAttachments>,
}

#[derive(Deserialize)]
struct WireAttachments {
    #[serde(default)]
    media_keys: Vec<String>,
}

/// A 2xx answer, read in full.
struct Answer {
    status: u16,
    body: Bytes,
}

impl Answer {
    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, XError> {
        serde_json::from_slice(&self.body).map_err(|e| XError::UnexpectedBody {
            status: self.status,
            detail: e.to_string(),
        })
    }
}

impl XClient {
    pub fn new(http: reqwest::Client, config: &XConfig) -> Self {
        Self {
            http,
            api_base: config.api_base_url.clone(),
        }
    }

    fn url(&self, path: &str) -> Result<Url, XError> {
        self.api_base.join(path).map_err(|e| XError::Rejected {
            status: 0,
            detail: format!("cannot build the URL for {path}: {e}"),
        })
    }

    /// Sends a request with the bearer token, reads the whole answer and classifies failures.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        token: &Secret,
    ) -> Result<Answer, XError> {
        let response = request
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|e| {
                let err = XError::transport(e);
                tracing::info!(code = err.code(), detail = %err.detail(), "X call failed");
                err
            })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // A connection dropped mid-body fails here, as a transport error (retryable).
        let body = response.bytes().await.map_err(XError::transport)?;
        if (200..300).contains(&status) {
            Ok(Answer { status, body })
        } else {
            let err = classify(status, &headers, &body);
            tracing::info!(status, code = err.code(), detail = %err.detail(), "X refused the call");
            Err(err)
        }
    }

    #[tracing::instrument(skip_all)]
    pub async fn users_me(&self, token: &Secret) -> Result<XUser, XError> {
        let answer = self
            .send(self.http.get(self.url("/2/users/me")?), token)
            .await?;
        Ok(answer.json::<Data<XUser>>()?.data)
    }

    /// INIT: `POST /2/media/upload/initialize`, JSON only (§3a; X rejects other content types
    /// since May 2025).
    #[tracing::instrument(skip(self, token))]
    pub async fn media_initialize(
        &self,
        token: &Secret,
        total_bytes: u64,
        media_type: &str,
        media_category: &str,
    ) -> Result<MediaInit, XError> {
        let body = json!({
            "media_type": media_type,
            "total_bytes": total_bytes,
            "media_category": media_category,
        });
        let request = self
            .http
            .post(self.url("/2/media/upload/initialize")?)
            .json(&body);
        let init = self
            .send(request, token)
            .await?
            .json::<Data<WireInit>>()?
            .data;
        Ok(MediaInit {
            id: init.id,
            media_key: init.media_key,
            expires_after_secs: init.expires_after_secs,
        })
    }

    /// APPEND: multipart `segment_index` + `media` (raw bytes), as every client that works
    /// against X sends it (§3a). X's success status and body are UNCONFIRMED, so any 2xx is
    /// success and the body is ignored.
    #[tracing::instrument(skip(self, token, segment), fields(bytes = segment.len()))]
    pub async fn media_append(
        &self,
        token: &Secret,
        media_id: &str,
        segment_index: u32,
        segment: Bytes,
    ) -> Result<(), XError> {
        let url = self.url(&format!(
            "/2/media/upload/{}/append",
            path_segment(media_id)
        ))?;
        let length = segment.len() as u64;
        let part = reqwest::multipart::Part::stream_with_length(segment, length)
            .file_name("media")
            .mime_str("application/octet-stream")
            .map_err(XError::transport)?;
        let form = reqwest::multipart::Form::new()
            .text("segment_index", segment_index.to_string())
            .part("media", part);
        self.send(self.http.post(url).multipart(form), token)
            .await?;
        Ok(())
    }

    /// FINALIZE: `POST /2/media/upload/{id}/finalize` with no body (§3a).
    #[tracing::instrument(skip(self, token))]
    pub async fn media_finalize(
        &self,
        token: &Secret,
        media_id: &str,
    ) -> Result<MediaStatus, XError> {
        let url = self.url(&format!(
            "/2/media/upload/{}/finalize",
            path_segment(media_id)
        ))?;
        let answer = self.send(self.http.post(url), token).await?;
        media_status(&answer)
    }

    /// STATUS: `GET /2/media/upload?command=STATUS&media_id=` (§3a).
    #[tracing::instrument(skip(self, token))]
    pub async fn media_status(
        &self,
        token: &Secret,
        media_id: &str,
    ) -> Result<MediaStatus, XError> {
        let request = self
            .http
            .get(self.url("/2/media/upload")?)
            .query(&[("command", "STATUS"), ("media_id", media_id)]);
        let answer = self.send(request, token).await?;
        media_status(&answer)
    }

    /// `POST /2/tweets` (§5). `media` is left out when there are no media ids: X's schema does not
    /// allow an empty `media_ids`.
    #[tracing::instrument(skip(self, token, text), fields(text_len = text.len()))]
    pub async fn create_post(
        &self,
        token: &Secret,
        text: &str,
        media_ids: &[String],
    ) -> Result<CreatedPost, XError> {
        let body = if media_ids.is_empty() {
            json!({ "text": text })
        } else {
            json!({ "text": text, "media": { "media_ids": media_ids } })
        };
        let request = self.http.post(self.url("/2/tweets")?).json(&body);
        let created = self
            .send(request, token)
            .await?
            .json::<Data<WireCreated>>()?
            .data;
        Ok(CreatedPost {
            id: created.id,
            text: created.text,
        })
    }

    /// `GET /2/users/{id}/tweets` newest first, with each post's media keys.
    pub async fn recent_posts(
        &self,
        token: &Secret,
        x_user_id: &str,
        max_results: u8,
    ) -> Result<Vec<RecentPost>, XError> {
        let query = TimelineQuery {
            max_results,
            ..TimelineQuery::default()
        };
        Ok(self.timeline(token, x_user_id, &query).await?.posts)
    }

    /// One page of `GET /2/users/{id}/tweets` (OAS `usersIdTweets`): newest first, each post with
    /// its media keys, narrowed by `start_time` and paged with `pagination_token`. A 200 carrying
    /// only `errors` (X's partial-error shape, §7, e.g. an unknown user) is reported as
    /// `Rejected` rather than read as "no posts", so a caller checking "did I already post this?"
    /// never mistakes a failed lookup for a clean timeline.
    #[tracing::instrument(skip(self, token))]
    pub async fn timeline(
        &self,
        token: &Secret,
        x_user_id: &str,
        query: &TimelineQuery,
    ) -> Result<TimelinePage, XError> {
        let url = self.url(&format!("/2/users/{}/tweets", path_segment(x_user_id)))?;
        let mut params = vec![
            ("expansions", "attachments.media_keys".to_owned()),
            ("max_results", query.max_results.clamp(5, 100).to_string()),
        ];
        if let Some(secs) = query.start_time_secs {
            // X's `start_time` is RFC 3339 at second precision (OAS: `YYYY-MM-DDTHH:mm:ssZ`).
            params.push(("start_time", crate::clock::rfc3339(secs)));
        }
        if let Some(page) = &query.pagination_token {
            params.push(("pagination_token", page.clone()));
        }
        let request = self.http.get(url).query(&params);
        let answer = self.send(request, token).await?;
        let timeline = answer.json::<WireTimeline>()?;
        let next_token = timeline.meta.and_then(|m| m.next_token);
        match (timeline.data, timeline.errors) {
            (Some(posts), _) => Ok(TimelinePage {
                posts: posts
                    .into_iter()
                    .map(|t| RecentPost {
                        id: t.id,
                        text: t.text,
                        media_keys: t.attachments.map(|a| a.media_keys).unwrap_or_default(),
                    })
                    .collect(),
                next_token,
            }),
            (None, Some(errors)) if !errors.is_empty() => {
                let body = serde_json::to_vec(&json!({ "errors": errors })).unwrap_or_default();
                Err(XError::Rejected {
                    status: answer.status,
                    detail: error_detail(&body).unwrap_or_else(|| "X reported an error".into()),
                })
            }
            // No `data` and no errors: no posts match (X omits `data` then).
            (None, _) => Ok(TimelinePage::default()),
        }
    }
}

/// Ids go into paths; X's are digits, but nothing unescaped from a caller may change the path.
fn path_segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn media_status(answer: &Answer) -> Result<MediaStatus, XError> {
    let media = answer.json::<Data<WireMedia>>()?.data;
    let Some(info) = media.processing_info else {
        return Ok(MediaStatus {
            id: media.id,
            media_key: media.media_key,
            state: ProcessingState::Ready,
            check_after_secs: None,
            progress_percent: None,
            error: None,
            expires_after_secs: media.expires_after_secs,
        });
    };
    let state = match info.state.as_str() {
        "pending" => ProcessingState::Pending,
        "in_progress" => ProcessingState::InProgress,
        "succeeded" => ProcessingState::Succeeded,
        "failed" => ProcessingState::Failed,
        other => {
            return Err(XError::UnexpectedBody {
                status: answer.status,
                detail: format!("unknown processing state {other:?}"),
            })
        }
    };
    let error = info.error.map(|e| MediaError {
        code: e.code,
        message: e
            .message
            .or_else(|| e.name.clone())
            .unwrap_or_else(|| "X gave no reason".to_owned()),
        name: e.name,
    });
    Ok(MediaStatus {
        id: media.id,
        media_key: media.media_key,
        state,
        check_after_secs: info.check_after_secs,
        progress_percent: info.progress_percent,
        error,
        expires_after_secs: media.expires_after_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> Answer {
        Answer {
            status: 200,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn reads_recorded_finalize_and_status_bodies() {
        // research §3a, sns-sdks recorded FINALIZE and STATUS.
        let s = media_status(&answer(r#"{"data":{"id":"1912090619981471744","media_key":"7_1912090619981471744","size":19048761,"expires_after_secs":86400,"processing_info":{"state":"succeeded"}}}"#)).unwrap();
        assert_eq!(s.state, ProcessingState::Succeeded);
        assert_eq!(s.expires_after_secs, Some(86400));
        let s = media_status(&answer(r#"{"data":{"expires_after_secs":83800,"id":"1","processing_info":{"progress_percent":40,"state":"in_progress","check_after_secs":5}}}"#)).unwrap();
        assert_eq!(
            (s.state, s.progress_percent, s.check_after_secs),
            (ProcessingState::InProgress, Some(40), Some(5))
        );
        let s = media_status(&answer(r#"{"data":{"id":"1"}}"#)).unwrap();
        assert_eq!(s.state, ProcessingState::Ready);
        assert!(s.state.is_usable());
        let s = media_status(&answer(r#"{"data":{"id":"1","processing_info":{"state":"failed","progress_percent":100,"error":{"code":1,"name":"InvalidMedia","message":"file is invalid"}}}}"#)).unwrap();
        assert_eq!(s.state, ProcessingState::Failed);
        assert_eq!(s.error.unwrap().message, "file is invalid");
        assert!(matches!(
            media_status(&answer(
                r#"{"data":{"id":"1","processing_info":{"state":"weird"}}}"#
            )),
            Err(XError::UnexpectedBody { .. })
        ));
        assert!(matches!(
            media_status(&answer("not json")),
            Err(XError::UnexpectedBody { status: 200, .. })
        ));
    }
}
