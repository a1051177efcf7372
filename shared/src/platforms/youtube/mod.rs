//! Reelay's client for the parts of the YouTube Data API v3 it uses (docs/research/youtube.md):
//! the resumable `videos.insert` (§2) and the `videos.list` processing poll (§4), over the
//! container's one shared `reqwest::Client` (redirects off, so a `308 Resume Incomplete` comes
//! back to this code instead of being followed).
//!
//! The protocol fits a resumable engine: the server says how many bytes it holds (`Range` on a
//! 308), so after a crash or a lost answer the client asks (`query`) and resumes from there.
//! Access tokens travel only in the `Authorization` header; the session URI needs none (§2) and is
//! itself a credential for the upload, so it is never logged.

mod error;
pub mod metadata;
pub mod platform;
pub mod quota;
pub mod upload;

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, LOCATION, RANGE};
use reqwest::{Response, StatusCode};
use serde::Deserialize;
use url::Url;

use crate::secret::Secret;

pub use error::{api_error, YouTubeError, YouTubeFailure};
pub use metadata::{MetadataError, Privacy, VideoMetadata, YouTubeOptions};

/// Every chunk but the last must be a multiple of this many bytes (§2: Google's client
/// libraries' minimum chunk, 256 KiB).
pub const CHUNK_MULTIPLE: u64 = 256 * 1024;

pub use crate::ports::SessionState;

/// `status.uploadStatus` (§4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStatus {
    Uploaded,
    Processed,
    /// `failureReason`, e.g. `codec`, `conversion`.
    Failed {
        reason: String,
    },
    /// `rejectionReason`, e.g. `duplicate`, `copyright`.
    Rejected {
        reason: String,
    },
    Deleted,
}

/// What `videos.list?part=status,processingDetails` says of one video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoState {
    pub upload_status: UploadStatus,
    /// `processingDetails.processingStatus`: `processing`, `succeeded`, `failed`, `terminated`.
    pub processing_status: Option<String>,
    /// From `processingProgress`: parts processed out of parts total, as a percentage.
    pub progress_percent: Option<u8>,
    /// `processingProgress.timeLeftMs`: YouTube's estimate.
    pub time_left_ms: Option<u64>,
}

/// The channel a token belongs to (`channels.list?mine=true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub title: String,
}

/// The link a published video has.
pub fn watch_url(video_id: &str) -> String {
    format!("https://www.youtube.com/watch?v={video_id}")
}

/// YouTube's API over the shared HTTP client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct YouTubeClient {
    http: reqwest::Client,
    /// `https://www.googleapis.com` in production; the emulator's base URL here.
    api_base: Url,
}

// Wire shapes, read leniently: Google adds fields.
#[derive(Deserialize)]
struct WireVideo {
    id: String,
}

#[derive(Deserialize)]
struct WireChannels {
    #[serde(default)]
    items: Vec<WireChannel>,
}

#[derive(Deserialize)]
struct WireChannel {
    id: String,
    snippet: Option<WireChannelSnippet>,
}

#[derive(Deserialize)]
struct WireChannelSnippet {
    #[serde(default)]
    title: String,
}

#[derive(Deserialize)]
struct WireList {
    #[serde(default)]
    items: Vec<WireItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireItem {
    status: Option<WireStatus>,
    processing_details: Option<WireProcessing>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStatus {
    upload_status: String,
    failure_reason: Option<String>,
    rejection_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireProcessing {
    processing_status: Option<String>,
    processing_progress: Option<WireProgress>,
}

/// Google sends these counts as strings (§4, "int64 as string").
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireProgress {
    parts_total: Option<String>,
    parts_processed: Option<String>,
    time_left_ms: Option<String>,
}

impl YouTubeClient {
    pub fn new(http: reqwest::Client, api_base: Url) -> Self {
        Self { http, api_base }
    }

    fn url(&self, path_and_query: &str) -> Result<Url, YouTubeError> {
        self.api_base
            .join(path_and_query)
            .map_err(|e| YouTubeError::Protocol(format!("bad API base URL: {e}")))
    }

    /// Starts a resumable upload of `total_bytes` of `content_type` (§2) and returns the session
    /// URI. The session URI must be on the API's own origin: it receives the video's bytes
    /// without a token, so one pointing elsewhere is refused rather than followed.
    pub async fn start_session(
        &self,
        token: &Secret,
        total_bytes: u64,
        content_type: &str,
        metadata: &VideoMetadata,
    ) -> Result<Url, YouTubeError> {
        let url = self.url("/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status")?;
        let response = self
            .http
            .post(url)
            .bearer_auth(token.expose())
            .header("X-Upload-Content-Length", total_bytes.to_string())
            .header("X-Upload-Content-Type", content_type)
            .json(&metadata.to_resource())
            .send()
            .await
            .map_err(network)?;
        let status = response.status();
        if !status.is_success() {
            return Err(error_answer(response).await);
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| YouTubeError::Protocol("the start answer has no Location".into()))?;
        let session = self
            .api_base
            .join(location)
            .map_err(|_| YouTubeError::Protocol("the session URI is not a URL".into()))?;
        if session.origin() != self.api_base.origin() {
            return Err(YouTubeError::Protocol(format!(
                "the session URI is on {}, not on the API's host",
                session.host_str().unwrap_or("an unknown host")
            )));
        }
        Ok(session)
    }

    /// Sends `chunk`, the bytes at `start` of a `total`-byte upload (§2). Every chunk but the
    /// last must be a multiple of [`CHUNK_MULTIPLE`]. The answer says how much the server holds,
    /// which may be less than was sent: resume from there.
    pub async fn send_chunk(
        &self,
        session: &Url,
        start: u64,
        chunk: Bytes,
        total: u64,
    ) -> Result<SessionState, YouTubeError> {
        let len = chunk.len() as u64;
        if len == 0 || start + len > total {
            return Err(YouTubeError::Protocol(format!(
                "a chunk of {len} bytes at {start} does not fit a {total}-byte upload"
            )));
        }
        let response = self
            .http
            .put(session.clone())
            .header(
                CONTENT_RANGE,
                format!("bytes {start}-{}/{total}", start + len - 1),
            )
            .header(CONTENT_LENGTH, len)
            .body(chunk)
            .send()
            .await
            .map_err(network)?;
        session_answer(response).await
    }

    /// Asks the session how many bytes it holds (an empty PUT with `bytes */TOTAL`, §2): the
    /// first call after any crash, lost answer or 5xx.
    pub async fn query(&self, session: &Url, total: u64) -> Result<SessionState, YouTubeError> {
        let response = self
            .http
            .put(session.clone())
            .header(CONTENT_RANGE, format!("bytes */{total}"))
            .header(CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(network)?;
        session_answer(response).await
    }

    /// The token's own channel, to name the connection (needs `youtube.readonly`, §1). `None`
    /// for a Google account without a YouTube channel.
    pub async fn my_channel(&self, token: &Secret) -> Result<Option<Channel>, YouTubeError> {
        let url = self.url("/youtube/v3/channels?part=snippet&mine=true")?;
        let list: WireChannels = self.get_json(token, url).await?;
        Ok(list.items.into_iter().next().map(|c| Channel {
            title: c.snippet.map(|s| s.title).unwrap_or_default(),
            id: c.id,
        }))
    }

    /// The video's upload and processing status (`videos.list`, §4); `None` when YouTube shows
    /// no such video to this token's channel.
    pub async fn video_state(
        &self,
        token: &Secret,
        video_id: &str,
    ) -> Result<Option<VideoState>, YouTubeError> {
        let mut url = self.url("/youtube/v3/videos")?;
        url.query_pairs_mut()
            .append_pair("part", "status,processingDetails")
            .append_pair("id", video_id);
        let list: WireList = self.get_json(token, url).await?;
        Ok(list.items.into_iter().next().map(video_state))
    }

    /// A `GET` of the Data API with the user's token, read as `T` or as Google's error.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        token: &Secret,
        url: Url,
    ) -> Result<T, YouTubeError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(network)?;
        if !response.status().is_success() {
            return Err(error_answer(response).await);
        }
        read_json(response).await
    }
}

fn video_state(item: WireItem) -> VideoState {
    let status = item.status;
    let upload_status = match status.as_ref().map(|s| s.upload_status.as_str()) {
        Some("processed") => UploadStatus::Processed,
        Some("failed") => UploadStatus::Failed {
            reason: status
                .as_ref()
                .and_then(|s| s.failure_reason.clone())
                .unwrap_or_else(|| "unknown".into()),
        },
        Some("rejected") => UploadStatus::Rejected {
            reason: status
                .as_ref()
                .and_then(|s| s.rejection_reason.clone())
                .unwrap_or_else(|| "unknown".into()),
        },
        Some("deleted") => UploadStatus::Deleted,
        // `uploaded`, or a status Reelay does not know yet: still in YouTube's hands.
        _ => UploadStatus::Uploaded,
    };
    let processing = item.processing_details;
    let progress = processing
        .as_ref()
        .and_then(|p| p.processing_progress.as_ref());
    let number = |s: Option<&String>| s.and_then(|s| s.parse::<u64>().ok());
    let progress_percent = progress.and_then(|p| {
        let total = number(p.parts_total.as_ref())?;
        let done = number(p.parts_processed.as_ref())?;
        (total > 0).then(|| (done.min(total) * 100 / total) as u8)
    });
    let time_left_ms = progress.and_then(|p| number(p.time_left_ms.as_ref()));
    VideoState {
        upload_status,
        processing_status: processing.and_then(|p| p.processing_status),
        progress_percent,
        time_left_ms,
    }
}

/// Reads a session's answer to a chunk or a query: 308 is "resume incomplete" with the bytes
/// held; 200 or 201 is complete (§2: the guide says 201, Google's clients take 200 as well).
async fn session_answer(response: Response) -> Result<SessionState, YouTubeError> {
    match response.status() {
        StatusCode::PERMANENT_REDIRECT => {
            let bytes_held = match response.headers().get(RANGE) {
                None => 0,
                Some(value) => value
                    .to_str()
                    .ok()
                    .and_then(parse_range_end)
                    .map(|end| end + 1)
                    .ok_or_else(|| {
                        YouTubeError::Protocol(format!("unreadable Range header {value:?}"))
                    })?,
            };
            Ok(SessionState::Holding { bytes_held })
        }
        StatusCode::OK | StatusCode::CREATED => {
            let video: WireVideo = read_json(response).await?;
            Ok(SessionState::Complete { video_id: video.id })
        }
        StatusCode::NOT_FOUND | StatusCode::GONE => Err(YouTubeError::SessionGone {
            status: response.status().as_u16(),
        }),
        _ => Err(error_answer(response).await),
    }
}

/// `bytes=0-N` → N. The server holds a prefix, so anything not starting at 0 is refused.
fn parse_range_end(value: &str) -> Option<u64> {
    let (start, end) = value.strip_prefix("bytes=")?.split_once('-')?;
    (start == "0").then_some(())?;
    end.parse().ok()
}

async fn read_json<T: serde::de::DeserializeOwned>(response: Response) -> Result<T, YouTubeError> {
    let body = response.bytes().await.map_err(network)?;
    serde_json::from_slice(&body)
        .map_err(|e| YouTubeError::Protocol(format!("unreadable answer: {e}")))
}

async fn error_answer(response: Response) -> YouTubeError {
    let status = response.status().as_u16();
    match response.bytes().await {
        Ok(body) => api_error(status, &body),
        Err(e) => network(e),
    }
}

/// A transport failure, without the URL: a session URI is a credential for the upload.
fn network(e: reqwest::Error) -> YouTubeError {
    YouTubeError::Network(crate::http_client::transport_detail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers one request with `answer` and closes.
    async fn answer_once(answer: &'static str) -> Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut request).await;
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        Url::parse(&format!("http://{addr}")).unwrap()
    }

    #[tokio::test]
    async fn a_session_uri_on_another_host_is_refused() {
        // The session URI takes the video without a token: one pointing elsewhere would hand the
        // user's video to that host.
        let base = answer_once(
            "HTTP/1.1 200 OK\r\nLocation: https://attacker.example/upload?upload_id=x\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        let client = YouTubeClient::new(reqwest::Client::new(), base);
        let metadata = VideoMetadata::for_post("t", &YouTubeOptions::default()).unwrap();
        let error = client
            .start_session(&Secret::new("tok"), 10, "video/mp4", &metadata)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, YouTubeError::Protocol(m) if m.contains("attacker.example")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn no_error_carries_the_session_uri() {
        // Nothing listens on the session's port: the connection fails.
        let session =
            Url::parse("http://127.0.0.1:9/upload/youtube/v3/videos?upload_id=SECRETSESSION")
                .unwrap();
        let client = YouTubeClient::new(reqwest::Client::new(), session.clone());
        let error = client.query(&session, 10).await.unwrap_err();
        assert!(matches!(error, YouTubeError::Network(_)), "{error:?}");
        assert!(
            !format!("{error} {error:?}").contains("SECRETSESSION"),
            "{error:?}"
        );
    }

    #[test]
    fn range_headers() {
        assert_eq!(parse_range_end("bytes=0-262143"), Some(262_143));
        assert_eq!(parse_range_end("bytes=5-9"), None);
        assert_eq!(parse_range_end("0-9"), None);
    }
}
