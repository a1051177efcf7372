//! A resumable upload as steps, in any platform's terms (YouTube's is the first:
//! docs/research/youtube.md §2): which call comes next, and what each answer changes. The engine
//! (`engine/resumable.rs`) checkpoints [`UploadProgress`] after every call, as it does X's
//! segments; this file decides, the engine calls and saves.
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

use crate::ports::SessionState;

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
    /// The last chunk was sent (saved before sending it) and the server has not answered for it
    /// since: the video may exist. A session gone now cannot say, so a new one could make a
    /// second video; the engine stops instead (`Unconfirmed`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub last_chunk_sent: bool,
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

    /// The next call for a `total`-byte video sent in chunks of `chunk_bytes` (see
    /// [`chunk_size`]).
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
        let start = self.progress.confirmed_bytes;
        NextCall::SendChunk {
            session,
            start,
            len: chunk_bytes.max(1).min(total.saturating_sub(start)),
        }
    }

    /// A session was started.
    pub fn started(&mut self, session: &Url) {
        self.progress = UploadProgress {
            session: Some(session.to_string()),
            confirmed_bytes: 0,
            video_id: None,
            sessions_started: self.progress.sessions_started + 1,
            last_chunk_sent: false,
        };
        self.in_step_with_server = true;
    }

    /// The session answered a chunk or a question.
    pub fn answered(&mut self, state: SessionState) {
        match state {
            SessionState::Holding { bytes_held } => {
                self.progress.confirmed_bytes = bytes_held;
                // Still incomplete: whatever the last chunk did, it did not make the video.
                self.progress.last_chunk_sent = false;
            }
            SessionState::Complete { video_id } => self.progress.video_id = Some(video_id),
        }
        self.in_step_with_server = true;
    }

    /// The chunk about to be sent ends the upload: from now until the server answers, the video
    /// may exist (`UploadProgress::last_chunk_sent`). Save the progress before sending it.
    pub fn sending_last_chunk(&mut self) {
        self.progress.last_chunk_sent = true;
    }

    /// Whether the video may exist although no answer said so.
    pub fn may_be_complete(&self) -> bool {
        self.progress.last_chunk_sent && self.progress.video_id.is_none()
    }

    /// A call failed. A gone session (`session_gone`: the platform says it no longer exists)
    /// starts over from byte 0; anything else leaves the session in doubt, so it is asked before
    /// more is sent. What to do about the failure itself (wait, refresh the token, fail the job)
    /// is the engine's call.
    pub fn failed(&mut self, session_gone: bool) {
        if session_gone {
            self.progress.last_chunk_sent = false;
            self.progress.session = None;
            self.progress.confirmed_bytes = 0;
        }
        self.in_step_with_server = false;
    }
}

/// The chunk size for an upload: `preferred` rounded down to a whole multiple of the platform's
/// `multiple` (every chunk but the last must be one), and at least one multiple.
pub fn chunk_size(preferred: u64, multiple: u64) -> u64 {
    let multiple = multiple.max(1);
    (preferred / multiple).max(1) * multiple
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
            last_chunk_sent: false,
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
    fn chunks_are_whole_multiples() {
        const KIB_256: u64 = 256 * 1024;
        assert_eq!(chunk_size(300 * 1024, KIB_256), KIB_256);
        assert_eq!(chunk_size(1, KIB_256), KIB_256);
        assert_eq!(chunk_size(4 * MIB, KIB_256), 4 * MIB);
        let mut upload = ResumableUpload::resume(UploadProgress::default());
        upload.started(&session());
        let NextCall::SendChunk { len, .. } =
            upload.next_call(10 * MIB, chunk_size(300 * 1024, KIB_256))
        else {
            panic!("expected a chunk");
        };
        assert_eq!(len, KIB_256);
    }

    #[test]
    fn a_gone_session_starts_over_and_is_counted() {
        let mut upload = ResumableUpload::resume(UploadProgress::default());
        assert_eq!(upload.next_call(MIB, MIB), NextCall::StartSession);
        upload.started(&session());
        upload.answered(SessionState::Holding {
            bytes_held: 256 * 1024,
        });
        upload.failed(true);
        assert_eq!(upload.next_call(MIB, MIB), NextCall::StartSession);
        upload.started(&session());
        assert_eq!(upload.progress().sessions_started, 2);
        assert_eq!(upload.progress().confirmed_bytes, 0);
    }

    #[test]
    fn the_last_chunk_sent_and_unanswered_means_the_video_may_exist() {
        let mut upload = ResumableUpload::resume(UploadProgress::default());
        upload.started(&session());
        upload.sending_last_chunk();
        assert!(upload.may_be_complete());
        // The answer was lost; a question answers that the server holds less: not complete.
        upload.failed(false);
        assert!(upload.may_be_complete(), "a failure proves nothing");
        upload.answered(SessionState::Holding { bytes_held: 10 });
        assert!(!upload.may_be_complete());
        upload.sending_last_chunk();
        upload.answered(SessionState::Complete {
            video_id: "v".into(),
        });
        assert!(!upload.may_be_complete(), "known complete, with its id");
    }

    #[test]
    fn a_transient_failure_asks_again() {
        let mut upload = ResumableUpload::resume(UploadProgress::default());
        upload.started(&session());
        upload.failed(false);
        assert_eq!(
            upload.next_call(MIB, MIB),
            NextCall::AskSession { session: session() }
        );
    }
}
