//! YouTube's side of the resumable upload: the steps themselves are platform-neutral
//! (`crate::resumable`); what a `videos.list` answer means for the job is YouTube's (§4).

pub use crate::resumable::{NextCall, ResumableUpload, UploadProgress};

use super::{UploadStatus, VideoState};

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
