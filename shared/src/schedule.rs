//! Scheduled posts (issue 15): when a scheduled job uploads, and which times a user may pick.
//!
//! X keeps an uploaded video for a while after INIT (`expires_after_secs`: 1,295,999 s, about
//! 15 days, in X's `amplify_video` example; 86,400 s in recorded `tweet_video` answers; research
//! x-api.md §3a). So a scheduled post uploads *ahead*: as soon as its video is in S3 the engine
//! runs INIT, APPENDs, FINALIZE and processing, then waits in `Ready` holding the media id and
//! creates the post at the time. Only when the media would expire before the time does the
//! upload wait, to a start computed here from X's lifetime, the video's size and a margin.

use std::time::Duration;

/// The earliest a post may be scheduled: a minute ahead, so the time cannot pass while the
/// request is answered (an earlier post is simply not scheduled).
pub const MIN_AHEAD: Duration = Duration::from_secs(60);

/// How long X keeps an `amplify_video` upload (every Reelay upload's category): X's own INIT
/// example answers `expires_after_secs: 1295999` (docs `media-upload-chunked.mdx`).
pub const EXPECTED_MEDIA_LIFETIME: Duration = Duration::from_secs(1_295_999);

/// The latest a post may be scheduled: X's 15-day lifetime less one day, so an upload that
/// fails and starts again still finishes with X holding the media at the time (chosen).
pub const MAX_AHEAD: Duration = Duration::from_secs(14 * 86_400);

/// Tunables, with production defaults.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// X should still hold the media this long after the scheduled time.
    pub expiry_margin_ms: i64,
    /// The lifetime assumed before X has said (at INIT), for deciding whether to start at once.
    pub expected_media_lifetime_ms: i64,
    /// A slow link's upload rate, to budget the upload before the time (chosen: 1 MB/s, a tenth
    /// of the `lambda-to-x` link profile of issue 16).
    pub assumed_upload_bytes_per_sec: u64,
    /// X's processing plus the engine's hand-offs, on top of the bytes (chosen).
    pub processing_allowance_ms: i64,
    /// Published this long after the time counts as late, and the post says why.
    pub late_after_ms: i64,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        Self {
            expiry_margin_ms: 3_600_000,
            expected_media_lifetime_ms: EXPECTED_MEDIA_LIFETIME.as_millis() as i64,
            assumed_upload_bytes_per_sec: 1_000_000,
            processing_allowance_ms: 10 * 60_000,
            late_after_ms: 30_000,
        }
    }
}

impl ScheduleSettings {
    /// A generous estimate of how long uploading and processing `size_bytes` takes.
    pub fn upload_estimate_ms(&self, size_bytes: u64) -> i64 {
        let rate = self.assumed_upload_bytes_per_sec.max(1);
        let transfer_ms = size_bytes.saturating_mul(1000) / rate;
        i64::try_from(transfer_ms)
            .unwrap_or(i64::MAX)
            .saturating_add(self.processing_allowance_ms)
    }

    /// How long X must still hold the media after the time, for media X keeps `lifetime_ms`:
    /// the margin, or a quarter of a shorter lifetime.
    pub fn cushion_ms(&self, lifetime_ms: i64) -> i64 {
        self.expiry_margin_ms.min(lifetime_ms / 4).max(0)
    }

    /// When an upload for a post due at `publish_at_ms` should start, for media X keeps
    /// `lifetime_ms` after INIT: as early as keeps the whole margin after the time (most room for
    /// the upload to go wrong and recover), unless that leaves too little time for the upload
    /// itself; then as late as still finishes in time; and never so early that the media would
    /// be gone at the time (with too short a lifetime the post is late rather than never made:
    /// starting earlier would only upload again and again).
    pub fn upload_start_at(&self, publish_at_ms: i64, lifetime_ms: i64, size_bytes: u64) -> i64 {
        let cushion = self.cushion_ms(lifetime_ms);
        let alive_at_the_time = publish_at_ms
            .saturating_add(cushion)
            .saturating_sub(lifetime_ms);
        let whole_margin = publish_at_ms
            .saturating_add(self.expiry_margin_ms)
            .saturating_sub(lifetime_ms);
        let finishes_in_time = publish_at_ms
            .saturating_sub(self.upload_estimate_ms(size_bytes))
            .saturating_sub(cushion);
        whole_margin.min(finishes_in_time).max(alive_at_the_time)
    }

    /// Whether media expiring at `expires_at_ms` would be gone, or nearly, at `publish_at_ms`.
    pub fn expires_before(&self, expires_at_ms: i64, lifetime_ms: i64, publish_at_ms: i64) -> bool {
        expires_at_ms < publish_at_ms.saturating_add(self.cushion_ms(lifetime_ms))
    }
}

/// Why a requested time cannot be scheduled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("scheduled_at must be at least {} seconds ahead (it is {ahead_secs} s ahead); leave it out to publish as soon as the video is ready", MIN_AHEAD.as_secs())]
    TooSoon { ahead_secs: i64 },
    #[error("scheduled_at may be at most {} days ahead: X keeps an uploaded video about 15 days (expires_after_secs), less a day's margin", MAX_AHEAD.as_secs() / 86_400)]
    TooFar,
}

/// Checks a requested publishing time against now.
pub fn check_scheduled_at(at_ms: i64, now_ms: i64) -> Result<(), ScheduleError> {
    let ahead_ms = at_ms.saturating_sub(now_ms);
    if ahead_ms < MIN_AHEAD.as_millis() as i64 {
        return Err(ScheduleError::TooSoon {
            ahead_secs: ahead_ms.div_euclid(1000),
        });
    }
    if ahead_ms > MAX_AHEAD.as_millis() as i64 {
        return Err(ScheduleError::TooFar);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;

    #[test]
    fn a_post_within_the_media_lifetime_uploads_at_once() {
        let s = ScheduleSettings::default();
        let now = 1_000 * DAY;
        let publish = now + 3 * DAY;
        let start = s.upload_start_at(publish, s.expected_media_lifetime_ms, 512 << 20);
        assert!(start <= now, "starts {} h before now", (now - start) / HOUR);
    }

    #[test]
    fn a_post_beyond_the_media_lifetime_waits_to_start_with_the_margin_kept() {
        let s = ScheduleSettings::default();
        let publish = 1_000 * DAY;
        // X said 24 h (as recorded for tweet_video): start 23 h before, so the media outlives the
        // time by the one-hour margin.
        let start = s.upload_start_at(publish, DAY, 16 << 20);
        assert_eq!(start, publish - DAY + s.expiry_margin_ms);
        assert!(!s.expires_before(start + DAY, DAY, publish));
    }

    #[test]
    fn a_lifetime_too_short_for_the_upload_keeps_the_media_alive_at_the_time() {
        let s = ScheduleSettings::default();
        let publish = 1_000 * DAY;
        // 10 minutes of media life for a 512 MiB upload budgeted at ~19 minutes: it cannot be
        // both on time and alive; alive wins (late, never uploaded again and again).
        let start = s.upload_start_at(publish, 600_000, 512 << 20);
        assert_eq!(start, publish + 150_000 - 600_000);
        assert!(!s.expires_before(start + 600_000, 600_000, publish));
        // A 16 MiB one in two hours of life keeps the whole margin and still finishes in time.
        let small = s.upload_start_at(publish, 2 * HOUR, 16 << 20);
        assert_eq!(small, publish + s.expiry_margin_ms - 2 * HOUR);
        assert!(small + s.upload_estimate_ms(16 << 20) < publish);
        assert!(!s.expires_before(small + 2 * HOUR, 2 * HOUR, publish));
    }

    #[test]
    fn requested_times_are_bounded_on_both_sides() {
        let now = 1_000 * DAY;
        assert_eq!(
            check_scheduled_at(now + 30_000, now),
            Err(ScheduleError::TooSoon { ahead_secs: 30 })
        );
        assert!(check_scheduled_at(now - 5_000, now).is_err());
        assert_eq!(check_scheduled_at(now + 60_000, now), Ok(()));
        assert_eq!(check_scheduled_at(now + 14 * DAY, now), Ok(()));
        assert_eq!(
            check_scheduled_at(now + 14 * DAY + 1, now),
            Err(ScheduleError::TooFar)
        );
    }
}
