//! Per-user limits on creating posts (issue 12): posts per rolling day and uploads in flight.
//!
//! The rule is pure: it judges the caller's recent posts (newest first, as the posts index
//! returns them) against the limits and, when a limit is reached, says which and when it frees
//! up. The API reads those posts with one bounded query (`RecentPosts`), at most
//! `posts_to_read` of them, so the check costs the same however many posts a user has.

use crate::posts::{Post, PostStatus};

/// The rolling window of the posts-per-day limit.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// How long a draft (`awaiting_upload`) holds an upload slot: the upload form's 15 minutes plus
/// an hour for an upload S3 accepted before the form expired to finish arriving (512 MiB at
/// ~1.2 Mbit/s). After that its video can no longer come, so an abandoned draft (or one whose
/// create-post invocation crashed) stops blocking the user.
pub const DRAFT_SLOT_MS: i64 = (15 + 60) * 60 * 1000;
/// What `Retry-After` says when the slots are held by posts being uploaded to X: they usually
/// finish within minutes, and `GET /api/posts` shows when.
pub const PROCESSING_RETRY_SECS: u64 = 60;

/// Default posts a user may create per rolling 24 hours: well above a person's posting, well
/// below what would spend the operator's X limits for everyone (X's app cap is per 24 hours too).
pub const DEFAULT_MAX_POSTS_PER_DAY: u32 = 50;
/// Default posts a user may have not yet final (waiting for the video, or being uploaded to X):
/// the worker has 10 concurrent slots for all users, so one user cannot hold them all.
pub const DEFAULT_MAX_UPLOADS_IN_FLIGHT: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimits {
    pub posts_per_day: u32,
    pub uploads_in_flight: u32,
}

impl Default for QuotaLimits {
    fn default() -> Self {
        Self {
            posts_per_day: DEFAULT_MAX_POSTS_PER_DAY,
            uploads_in_flight: DEFAULT_MAX_UPLOADS_IN_FLIGHT,
        }
    }
}

impl QuotaLimits {
    /// How many of the newest posts of the last 24 hours the check needs: if there are
    /// `posts_per_day` of them the day's limit is reached whatever else, and otherwise these
    /// are all of the window's posts, so every post in flight created within it.
    pub fn posts_to_read(&self) -> u32 {
        self.posts_per_day.max(self.uploads_in_flight).max(1)
    }
}

/// A limit the caller reached, with when it frees up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaExceeded {
    PostsPerDay { limit: u32, retry_after_secs: u64 },
    UploadsInFlight { limit: u32, retry_after_secs: u64 },
}

impl QuotaExceeded {
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            QuotaExceeded::PostsPerDay {
                retry_after_secs, ..
            }
            | QuotaExceeded::UploadsInFlight {
                retry_after_secs, ..
            } => *retry_after_secs,
        }
    }

    /// The problem type the API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            QuotaExceeded::PostsPerDay { .. } => "post_quota_exceeded",
            QuotaExceeded::UploadsInFlight { .. } => "uploads_in_flight_exceeded",
        }
    }
}

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuotaExceeded::PostsPerDay {
                limit,
                retry_after_secs,
            } => write!(
                f,
                "You created {limit} posts in the last 24 hours, the most allowed; the oldest of \
                 them leaves the 24-hour window in {}, so try again then.",
                words(*retry_after_secs)
            ),
            QuotaExceeded::UploadsInFlight {
                limit,
                retry_after_secs,
            } => write!(
                f,
                "You have {limit} posts in flight (waiting for their video or being uploaded), the \
                 most allowed at once; a slot frees when one of them is published, fails or its \
                 upload form expires, so try again in {}.",
                words(*retry_after_secs)
            ),
        }
    }
}

fn words(secs: u64) -> String {
    match secs {
        0..=90 => format!("{secs} seconds"),
        91..=5399 => format!("about {} minutes", secs.div_ceil(60)),
        _ => format!("about {} hours", secs.div_ceil(3600)),
    }
}

/// Whether a post holds an upload slot at `now_ms`, and until when if that is known.
fn in_flight_until(post: &Post, now_ms: i64) -> Option<Option<i64>> {
    match post.status {
        PostStatus::AwaitingUpload => {
            let until = post.created_at_ms.saturating_add(DRAFT_SLOT_MS);
            (until > now_ms).then_some(Some(until))
        }
        PostStatus::Processing => Some(None),
        PostStatus::Rejected
        | PostStatus::Published
        | PostStatus::Failed
        | PostStatus::Unconfirmed => None,
    }
}

fn secs_until(at_ms: i64, now_ms: i64) -> u64 {
    // Rounded up, and at least 1: a client waiting this long finds the slot free.
    let ms = at_ms.saturating_sub(now_ms).max(1) as u64;
    ms.div_ceil(1000)
}

/// Judges a new post against `limits`, given the caller's posts created in the last 24 hours,
/// newest first (at most `limits.posts_to_read()` of them; older ones are ignored). The day's
/// limit is checked first: when both are reached it is the one that frees up later.
pub fn check(limits: &QuotaLimits, recent: &[Post], now_ms: i64) -> Result<(), QuotaExceeded> {
    let window: Vec<&Post> = recent
        .iter()
        .filter(|p| p.created_at_ms > now_ms.saturating_sub(DAY_MS))
        .take(limits.posts_to_read() as usize)
        .collect();
    let per_day = limits.posts_per_day as usize;
    if window.len() >= per_day {
        // The posts beyond the newest `per_day - 1` must leave the window: the oldest of the
        // newest `per_day` is the one whose exit brings the count below the limit.
        let oldest = window
            .get(per_day.saturating_sub(1))
            .map_or(now_ms, |p| p.created_at_ms);
        return Err(QuotaExceeded::PostsPerDay {
            limit: limits.posts_per_day,
            retry_after_secs: secs_until(oldest.saturating_add(DAY_MS), now_ms),
        });
    }
    let in_flight: Vec<Option<i64>> = window
        .iter()
        .filter_map(|p| in_flight_until(p, now_ms))
        .collect();
    if in_flight.len() >= limits.uploads_in_flight as usize {
        let retry_after_secs = if in_flight.iter().any(Option::is_none) {
            PROCESSING_RETRY_SECS
        } else {
            let first_free = in_flight.iter().flatten().min().copied().unwrap_or(now_ms);
            secs_until(first_free, now_ms)
        };
        return Err(QuotaExceeded::UploadsInFlight {
            limit: limits.uploads_in_flight,
            retry_after_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{PostId, UserId};

    const NOW: i64 = 1_800_000_000_000;
    const MIN: i64 = 60 * 1000;

    fn post(n: usize, created_at_ms: i64, status: PostStatus) -> Post {
        Post {
            user_id: UserId::parse("ann").unwrap(),
            post_id: PostId::parse(&format!("{created_at_ms:013}-{n:012}")).unwrap(),
            text: "hi".into(),
            platforms: vec![crate::posts::Platform::Twitter],
            status,
            rejection: None,
            object_key: None,
            video: None,
            created_at_ms,
            updated_at_ms: created_at_ms,
            version: 1,
        }
    }

    fn limits(posts_per_day: u32, uploads_in_flight: u32) -> QuotaLimits {
        QuotaLimits {
            posts_per_day,
            uploads_in_flight,
        }
    }

    /// `n` published posts, one every `step_ms` going back from `newest_ms`, newest first.
    fn published(n: usize, newest_ms: i64, step_ms: i64) -> Vec<Post> {
        (0..n)
            .map(|i| post(i, newest_ms - i as i64 * step_ms, PostStatus::Published))
            .collect()
    }

    #[test]
    fn the_day_limit_counts_a_rolling_24_hours_and_frees_when_the_oldest_counted_leaves() {
        let l = limits(3, 5);
        let two = published(2, NOW - MIN, 60 * MIN);
        assert_eq!(check(&l, &two, NOW), Ok(()));
        // Three posts at now-1min, now-61min, now-121min: the third frees at now-121min + 24h.
        let three = published(3, NOW - MIN, 60 * MIN);
        let want = (DAY_MS - 121 * MIN) / 1000;
        assert_eq!(
            check(&l, &three, NOW),
            Err(QuotaExceeded::PostsPerDay {
                limit: 3,
                retry_after_secs: want as u64
            })
        );
        // Posts older than 24 hours do not count, even if the caller passes them.
        let mut old = published(2, NOW - MIN, MIN);
        old.push(post(9, NOW - DAY_MS, PostStatus::Published));
        assert_eq!(check(&l, &old, NOW), Ok(()));
    }

    #[test]
    fn drafts_and_processing_posts_hold_slots_and_final_posts_do_not() {
        let l = limits(50, 2);
        let mut posts = vec![
            post(1, NOW - MIN, PostStatus::Processing),
            post(2, NOW - 2 * MIN, PostStatus::Published),
            post(3, NOW - 3 * MIN, PostStatus::Failed),
            post(4, NOW - 4 * MIN, PostStatus::Rejected),
            post(5, NOW - 5 * MIN, PostStatus::Unconfirmed),
        ];
        assert_eq!(check(&l, &posts, NOW), Ok(()));
        posts.push(post(6, NOW - 6 * MIN, PostStatus::AwaitingUpload));
        assert_eq!(
            check(&l, &posts, NOW),
            Err(QuotaExceeded::UploadsInFlight {
                limit: 2,
                retry_after_secs: PROCESSING_RETRY_SECS
            }),
            "a processing post's end is unknown: try again in a minute"
        );
    }

    #[test]
    fn a_draft_holds_its_slot_until_its_upload_can_no_longer_arrive() {
        let l = limits(50, 2);
        let drafts = vec![
            post(1, NOW - 10 * MIN, PostStatus::AwaitingUpload),
            post(2, NOW - 20 * MIN, PostStatus::AwaitingUpload),
        ];
        assert_eq!(
            check(&l, &drafts, NOW),
            Err(QuotaExceeded::UploadsInFlight {
                limit: 2,
                retry_after_secs: ((DRAFT_SLOT_MS - 20 * MIN) / 1000) as u64
            }),
            "the older draft frees first"
        );
        let abandoned = vec![
            post(1, NOW - 10 * MIN, PostStatus::AwaitingUpload),
            post(2, NOW - DRAFT_SLOT_MS, PostStatus::AwaitingUpload),
        ];
        assert_eq!(check(&l, &abandoned, NOW), Ok(()));
    }

    #[test]
    fn the_day_limit_is_named_first_when_both_are_reached() {
        let l = limits(2, 2);
        let drafts = vec![
            post(1, NOW - MIN, PostStatus::AwaitingUpload),
            post(2, NOW - 2 * MIN, PostStatus::AwaitingUpload),
        ];
        let refused = check(&l, &drafts, NOW).unwrap_err();
        assert_eq!(refused.code(), "post_quota_exceeded");
        assert_eq!(
            refused.retry_after_secs(),
            ((DAY_MS - 2 * MIN) / 1000) as u64
        );
    }

    #[test]
    fn the_read_is_bounded_by_the_larger_limit() {
        assert_eq!(limits(50, 5).posts_to_read(), 50);
        assert_eq!(limits(3, 10).posts_to_read(), 10);
        assert_eq!(limits(0, 0).posts_to_read(), 1);
        // A limit of zero refuses every post.
        assert!(check(&limits(0, 5), &[], NOW).is_err());
    }

    #[test]
    fn limits_come_from_the_environment_with_defaults_and_zero_is_refused() {
        use crate::config::{ConfigError, QuotaConfig};
        use std::collections::HashMap;
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            QuotaConfig::from_env(&env(&[])).unwrap().limits,
            limits(50, 5)
        );
        let set = env(&[("MAX_POSTS_PER_DAY", "3"), ("MAX_UPLOADS_IN_FLIGHT", "1")]);
        assert_eq!(QuotaConfig::from_env(&set).unwrap().limits, limits(3, 1));
        for bad in ["0", "-1", "many"] {
            let err = QuotaConfig::from_env(&env(&[("MAX_UPLOADS_IN_FLIGHT", bad)])).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        name: "MAX_UPLOADS_IN_FLIGHT",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_refusal_says_which_limit_and_when_in_words() {
        let day = QuotaExceeded::PostsPerDay {
            limit: 50,
            retry_after_secs: 3 * 3600 + 5,
        };
        assert!(
            day.to_string().contains("50 posts in the last 24 hours"),
            "{day}"
        );
        assert!(day.to_string().contains("about 4 hours"), "{day}");
        let slots = QuotaExceeded::UploadsInFlight {
            limit: 5,
            retry_after_secs: 60,
        };
        assert!(slots.to_string().contains("5 posts in flight"), "{slots}");
        assert!(slots.to_string().contains("60 seconds"), "{slots}");
        assert_eq!(slots.code(), "uploads_in_flight_exceeded");
    }
}
