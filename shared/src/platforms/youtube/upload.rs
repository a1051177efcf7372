//! The resumable upload as steps (docs/research/youtube.md §2): which call comes next, and what
//! each answer changes. The engine checkpoints [`UploadProgress`] after every call, as it does
//! X's segments; this file decides, the engine calls and saves.
//!
//! ```text
//! no session ──start──▶ session, 0 confirmed ──chunk──▶ … ──last chunk──▶ video id
//!      ▲                      │  ▲                                  │
//!      └── 404: start over ───┘  └── after a failure or a resumed invocation: ask first
//! ```
//!
//! The server, not the job, knows how many bytes it holds. So the job trusts its saved offset
//! only within one invocation that has heard from the server: a new invocation (after a crash,
//! a timeout, a duplicate delivery) and any failure ask the session first (`bytes */TOTAL`), then
//! send from what it says. A crash loses at most the chunk in flight, and no byte is sent to a
//! position the server already holds.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{SessionState, UploadStatus, VideoState, YouTubeFailure, CHUNK_MULTIPLE};

/// What the job saves between steps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadProgress {
    /// The session URI. It takes the video's bytes without a token, so it is a credential: it is
    /// stored with the job (not in logs, not in the API's views).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Bytes the server said it holds (`Range: bytes=0-N` → N + 1).
    #[serde(default)]
    pub confirmed_bytes: u64,
    /// Set once the last chunk is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_id: Option<String>,
    /// Sessions started for this upload (a gone session starts a new one; the engine bounds it).
    #[serde(default)]
    pub sessions_started: u32,
}

/// The next call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextCall {
    StartSession,
    /// Ask the session how much it holds before sending anything.
    AskSession {
        session: Url,
    },
    SendChunk {
        session: Url,
        start: u64,
        len: u64,
    },
    /// Every byte is in: go on to processing.
    Uploaded {
        video_id: String,
    },
}

/// One invocation's view of the upload: the saved progress, and whether the server has been
/// heard from since this invocation began (never saved: a new invocation always asks first).
#[derive(Debug, Clone)]
pub struct ResumableUpload {
    progress: UploadProgress,
    in_step_with_server: bool,
}

impl ResumableUpload {
    /// Takes up saved progress at the start of an invocation.
    pub fn resume(progress: UploadProgress) -> Self {
        Self {
            progress,
            in_step_with_server: false,
        }
    }

    pub fn progress(&self) -> &UploadProgress {
        &self.progress
    }

    /// The next call for a `total`-byte video sent in chunks of `chunk_bytes` (rounded down to a
    /// multiple of 256 KiB, at least one).
    pub fn next_call(&self, total: u64, chunk_bytes: u64) -> NextCall {
        if let Some(video_id) = &self.progress.video_id {
            return NextCall::Uploaded {
                video_id: video_id.clone(),
            };
        }
        // A saved URI that no longer parses is as good as a gone session.
        let Some(session) = self
            .progress
            .session
            .as_deref()
            .and_then(|s| Url::parse(s).ok())
        else {
            return NextCall::StartSession;
        };
        if !self.in_step_with_server {
            return NextCall::AskSession { session };
        }
        let chunk = (chunk_bytes / CHUNK_MULTIPLE).max(1) * CHUNK_MULTIPLE;
        let start = self.progress.confirmed_bytes;
        NextCall::SendChunk {
            session,
            start,
            len: chunk.min(total.saturating_sub(start)),
        }
    }

    /// A session was started.
    pub fn started(&mut self, session: &Url) {
        self.progress = UploadProgress {
            session: Some(session.to_string()),
            confirmed_bytes: 0,
            video_id: None,
            sessions_started: self.progress.sessions_started + 1,
        };
        self.in_step_with_server = true;
    }

    /// The session answered a chunk or a question.
    pub fn answered(&mut self, state: SessionState) {
        match state {
            SessionState::Holding { bytes_held } => self.progress.confirmed_bytes = bytes_held,
            SessionState::Complete { video_id } => self.progress.video_id = Some(video_id),
        }
        self.in_step_with_server = true;
    }

    /// A call failed. A gone session starts over from byte 0; anything else leaves the session
    /// in doubt, so it is asked before more is sent. What to do about the failure itself (wait,
    /// refresh the token, fail the job) is the engine's call.
    pub fn failed(&mut self, failure: &YouTubeFailure) {
        if *failure == YouTubeFailure::SessionGone {
            self.progress.session = None;
            self.progress.confirmed_bytes = 0;
        }
        self.in_step_with_server = false;
    }
}

/// What a processing poll means for the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessingVerdict {
    /// Still processing: poll again after `after_secs`.
    Wait {
        after_secs: u64,
        progress_percent: Option<u8>,
    },
    /// Processed: the video is published at its watch URL.
    Published,
    /// YouTube will not show the video; `reason` says why, in words for the user, with
    /// YouTube's own code (`failureReason` / `rejectionReason`, §4).
    Failed { reason: String },
    /// YouTube shows no such video to its owner yet (or any more): poll again, bounded by the
    /// engine's processing timeout.
    NotVisible,
}

/// Polls no sooner than this: a poll costs a unit of the project's daily quota (§3).
const MIN_POLL_SECS: u64 = 5;
/// ... and no later than this, so progress keeps moving on the user's screen.
const MAX_POLL_SECS: u64 = 60;

/// Reads a `videos.list` answer for the job.
pub fn processing_verdict(state: Option<&VideoState>) -> ProcessingVerdict {
    let Some(state) = state else {
        return ProcessingVerdict::NotVisible;
    };
    match &state.upload_status {
        UploadStatus::Processed => ProcessingVerdict::Published,
        UploadStatus::Failed { reason } => ProcessingVerdict::Failed {
            reason: format!("YouTube could not process the video ({reason})"),
        },
        UploadStatus::Rejected { reason } => ProcessingVerdict::Failed {
            reason: format!("YouTube rejected the video ({reason})"),
        },
        UploadStatus::Deleted => ProcessingVerdict::Failed {
            reason: "the video was deleted on YouTube while it was processed".into(),
        },
        UploadStatus::Uploaded => ProcessingVerdict::Wait {
            // Half of YouTube's own estimate, so the poll lands before it, within bounds.
            after_secs: state
                .time_left_ms
                .map_or(MIN_POLL_SECS, |ms| ms / 2000)
                .clamp(MIN_POLL_SECS, MAX_POLL_SECS),
            progress_percent: state.progress_percent,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn session() -> Url {
        Url::parse("https://www.googleapis.com/upload/youtube/v3/videos?upload_id=abc").unwrap()
    }

    #[test]
    fn a_resumed_upload_asks_before_it_sends() {
        let saved = UploadProgress {
            session: Some(session().to_string()),
            confirmed_bytes: 4 * MIB,
            video_id: None,
            sessions_started: 1,
        };
        let mut upload = ResumableUpload::resume(saved);
        assert_eq!(
            upload.next_call(10 * MIB, 4 * MIB),
            NextCall::AskSession { session: session() }
        );
        // The server holds more than was saved: the chunk in flight at the crash landed.
        upload.answered(SessionState::Holding {
            bytes_held: 8 * MIB,
        });
        assert_eq!(
            upload.next_call(10 * MIB, 4 * MIB),
            NextCall::SendChunk {
                session: session(),
                start: 8 * MIB,
                len: 2 * MIB
            }
        );
    }

    #[test]
    fn chunks_are_whole_multiples_of_256_kib() {
        let mut upload = ResumableUpload::resume(UploadProgress::default());
        upload.started(&session());
        let NextCall::SendChunk { len, .. } = upload.next_call(10 * MIB, 300 * 1024) else {
            panic!("expected a chunk");
        };
        assert_eq!(len, CHUNK_MULTIPLE);
    }

    #[test]
    fn a_gone_session_starts_over_and_is_counted() {
        let mut upload = ResumableUpload::resume(UploadProgress::default());
        assert_eq!(upload.next_call(MIB, MIB), NextCall::StartSession);
        upload.started(&session());
        upload.answered(SessionState::Holding {
            bytes_held: CHUNK_MULTIPLE,
        });
        upload.failed(&YouTubeFailure::SessionGone);
        assert_eq!(upload.next_call(MIB, MIB), NextCall::StartSession);
        upload.started(&session());
        assert_eq!(upload.progress().sessions_started, 2);
        assert_eq!(upload.progress().confirmed_bytes, 0);
    }

    #[test]
    fn a_transient_failure_asks_again() {
        let mut upload = ResumableUpload::resume(UploadProgress::default());
        upload.started(&session());
        upload.failed(&YouTubeFailure::Transient);
        assert_eq!(
            upload.next_call(MIB, MIB),
            NextCall::AskSession { session: session() }
        );
    }

    fn state(upload_status: UploadStatus, time_left_ms: Option<u64>) -> VideoState {
        VideoState {
            upload_status,
            processing_status: None,
            progress_percent: Some(40),
            time_left_ms,
        }
    }

    #[test]
    fn processing_is_polled_within_bounds_and_ends_with_youtubes_reason() {
        assert_eq!(
            processing_verdict(Some(&state(UploadStatus::Uploaded, Some(600_000)))),
            ProcessingVerdict::Wait {
                after_secs: 60,
                progress_percent: Some(40)
            }
        );
        assert_eq!(
            processing_verdict(Some(&state(UploadStatus::Uploaded, Some(20_000)))),
            ProcessingVerdict::Wait {
                after_secs: 10,
                progress_percent: Some(40)
            }
        );
        assert_eq!(
            processing_verdict(Some(&state(UploadStatus::Uploaded, None))),
            ProcessingVerdict::Wait {
                after_secs: 5,
                progress_percent: Some(40)
            }
        );
        assert_eq!(
            processing_verdict(Some(&state(
                UploadStatus::Rejected {
                    reason: "duplicate".into()
                },
                None
            ))),
            ProcessingVerdict::Failed {
                reason: "YouTube rejected the video (duplicate)".into()
            }
        );
        assert_eq!(
            processing_verdict(Some(&state(UploadStatus::Processed, None))),
            ProcessingVerdict::Published
        );
        assert_eq!(processing_verdict(None), ProcessingVerdict::NotVisible);
    }
}
