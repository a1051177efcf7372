//! Per-user limits on creating posts (issue 12): posts per rolling day and uploads in flight.
//!
//! Each user has a **ledger** (`QuotaLedger`): the creation times of their newest posts of the
//! last 24 hours and the posts that entered flight (created, or retried) and were not yet seen
//! final. A create or a retry *reserves* against it (`reserve`): read the ledger, read the
//! current status of its in-flight posts, judge (`judge`, pure), and write the next ledger on
//! condition that nobody wrote it since. Two requests that judged the same ledger cannot both
//! commit: the loser reads again and is judged with the winner counted. So a burst of concurrent
//! creates never passes a limit, which a check of the (eventually consistent) posts index then a
//! write could not promise; and since a user's jobs are at most their posts in flight, the
//! worker's concurrency is shared fairly (see `DEFAULT_MAX_UPLOADS_IN_FLIGHT`).
//!
//! Every read is bounded: one ledger item, and one consistent read per post in flight (at most the
//! in-flight limit of them, since an entry is added only when there is room), so a check costs the
//! same however many posts a user has.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{PostId, UserId};
use crate::posts::{Post, PostStatus};
use crate::store::{PostStore, QuotaLedgers, RecentPosts, StoreError};

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
/// Default posts a user may have not yet final (waiting for the video, or being uploaded to X).
/// This is also what keeps the worker fair: a post's upload to a platform is one job, driven by
/// one message at a time, so a user holds at most this many of the worker's concurrent slots per
/// platform; the template refuses a value that is not below the worker's `MaximumConcurrency` (10),
/// so other users always find slots free.
pub const DEFAULT_MAX_UPLOADS_IN_FLIGHT: u32 = 5;
/// How long a reservation holds its slot whatever the post's stored status says: the request
/// that made it writes the post (or restarts its jobs) right after, and API Gateway ends every
/// request within 30 seconds. Until then a retried post still reads `failed`, and a created one may
/// not be written yet; after that the stored status is the truth.
pub const RESERVATION_GRACE_MS: i64 = 30 * 1000;
/// Concurrent requests of one user that lose the ledger's conditional write read it again; after
/// this many losses the request is refused (`Contended`) rather than kept waiting.
pub const RESERVE_ATTEMPTS: u32 = 6;

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

/// What a reservation is for: a new post counts against both limits, a retried one only against
/// the posts in flight (it was counted in its day when it was created).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    NewPost,
    Retry,
}

/// A post that entered flight at `since_ms` (created, or retried).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlightEntry {
    pub post_id: PostId,
    pub since_ms: i64,
}

/// A user's record of what their limits count (see the module's text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaLedger {
    pub user_id: UserId,
    /// Bumped by every write; 0 for a ledger not stored yet. Writes are conditional on it.
    pub version: u64,
    /// Creation times of the user's newest posts of the last 24 hours, newest first; at most
    /// the day's limit of them, which is all the day's check needs.
    pub created_ms: Vec<i64>,
    /// Posts that entered flight and were not yet seen final, newest first.
    pub in_flight: Vec<FlightEntry>,
}

impl QuotaLedger {
    /// The ledger of a user who has none yet (every user, once, when ledgers were introduced, and
    /// anyone whose ledger expired after two idle days): built from their posts of the last 24
    /// hours as the posts index lists them, newest first.
    pub fn seed(user: &UserId, recent: &[Post], now_ms: i64) -> Self {
        let window = recent
            .iter()
            .filter(|p| p.created_at_ms > now_ms.saturating_sub(DAY_MS));
        Self {
            user_id: user.clone(),
            version: 0,
            created_ms: window.clone().map(|p| p.created_at_ms).collect(),
            in_flight: window
                .filter(|p| in_flight_until(p.status, p.created_at_ms, now_ms).is_some())
                .map(|p| FlightEntry {
                    post_id: p.post_id.clone(),
                    since_ms: p.created_at_ms,
                })
                .collect(),
        }
    }

    /// When the stored ledger may be dropped: two days after its last write, when nothing in it
    /// counts any more (its day has passed and no post stays in flight that long).
    pub fn expires_at_secs(now_ms: i64) -> i64 {
        now_ms.saturating_add(2 * DAY_MS) / 1000
    }
}

/// Whether a post in flight since `since_ms` with this stored status holds its slot at `now_ms`,
/// and until when if that is known.
fn in_flight_until(status: PostStatus, since_ms: i64, now_ms: i64) -> Option<Option<i64>> {
    match status {
        PostStatus::AwaitingUpload => {
            let until = since_ms.saturating_add(DRAFT_SLOT_MS);
            (until > now_ms).then_some(Some(until))
        }
        PostStatus::Processing => Some(None),
        // Waiting for its time holds no worker: scheduling a week of posts takes no slots.
        PostStatus::Scheduled
        | PostStatus::Cancelled
        | PostStatus::Rejected
        | PostStatus::Published
        | PostStatus::PartiallyPublished
        | PostStatus::Failed
        | PostStatus::Unconfirmed => None,
    }
}

/// A post's status as stored now, and when it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredStatus {
    pub status: PostStatus,
    pub updated_at_ms: i64,
}

impl From<&Post> for StoredStatus {
    fn from(post: &Post) -> Self {
        Self {
            status: post.status,
            updated_at_ms: post.updated_at_ms,
        }
    }
}

/// Whether a ledger entry holds its slot, given its post as stored now (`None`: no such post).
/// A status written since the reservation is the truth. Before that (the post not written yet,
/// or a retried post still reading `failed` until the retry restarts it) the reservation holds
/// the slot for `RESERVATION_GRACE_MS`, and then the stored status decides.
fn entry_holds_until(
    entry: &FlightEntry,
    stored: Option<StoredStatus>,
    now_ms: i64,
) -> Option<Option<i64>> {
    let by_status = |s: StoredStatus| in_flight_until(s.status, entry.since_ms, now_ms);
    match stored {
        Some(s) if s.updated_at_ms >= entry.since_ms => by_status(s),
        _ => {
            let reserved_until = entry.since_ms.saturating_add(RESERVATION_GRACE_MS);
            if reserved_until > now_ms {
                Some(Some(reserved_until))
            } else {
                stored.and_then(by_status)
            }
        }
    }
}

fn secs_until(at_ms: i64, now_ms: i64) -> u64 {
    // Rounded up, and at least 1: a client waiting this long finds the slot free.
    let ms = at_ms.saturating_sub(now_ms).max(1) as u64;
    ms.div_ceil(1000)
}

/// Judges a reservation for `post_id` against `limits`, given the user's ledger and the stored
/// status of each post in its `in_flight` (absent: no such post). Admitted, it returns the
/// ledger to write: the day's creations and the posts still holding slots, with this one added.
/// The day's limit is checked first: when both are reached it is the one that frees up later.
pub fn judge(
    limits: &QuotaLimits,
    ledger: &QuotaLedger,
    statuses: &HashMap<PostId, StoredStatus>,
    post_id: &PostId,
    kind: Reservation,
    now_ms: i64,
) -> Result<QuotaLedger, QuotaExceeded> {
    let per_day = limits.posts_per_day as usize;
    let day: Vec<i64> = ledger
        .created_ms
        .iter()
        .copied()
        .filter(|&at| at > now_ms.saturating_sub(DAY_MS))
        .take(per_day.max(1))
        .collect();
    if kind == Reservation::NewPost && day.len() >= per_day {
        // The creations beyond the newest `per_day - 1` must leave the window: the oldest of
        // the newest `per_day` is the one whose exit brings the count below the limit.
        let oldest = day
            .get(per_day.saturating_sub(1))
            .copied()
            .unwrap_or(now_ms);
        return Err(QuotaExceeded::PostsPerDay {
            limit: limits.posts_per_day,
            retry_after_secs: secs_until(oldest.saturating_add(DAY_MS), now_ms),
        });
    }
    let mut holding: Vec<(FlightEntry, Option<i64>)> = Vec::new();
    for entry in &ledger.in_flight {
        if &entry.post_id == post_id {
            continue; // a retried post is counted once, as the new entry below
        }
        if let Some(until) = entry_holds_until(entry, statuses.get(&entry.post_id).copied(), now_ms)
        {
            holding.push((entry.clone(), until));
        }
    }
    if holding.len() >= limits.uploads_in_flight as usize {
        let retry_after_secs = if holding.iter().any(|(_, until)| until.is_none()) {
            PROCESSING_RETRY_SECS
        } else {
            let first_free = holding
                .iter()
                .filter_map(|(_, until)| *until)
                .min()
                .unwrap_or(now_ms);
            secs_until(first_free, now_ms)
        };
        return Err(QuotaExceeded::UploadsInFlight {
            limit: limits.uploads_in_flight,
            retry_after_secs,
        });
    }
    let mut created_ms = day;
    if kind == Reservation::NewPost {
        created_ms.insert(0, now_ms);
        created_ms.truncate(per_day.max(1));
    }
    let mut in_flight = vec![FlightEntry {
        post_id: post_id.clone(),
        since_ms: now_ms,
    }];
    in_flight.extend(holding.into_iter().map(|(entry, _)| entry));
    Ok(QuotaLedger {
        user_id: ledger.user_id.clone(),
        version: ledger.version + 1,
        created_ms,
        in_flight,
    })
}

/// Why a reservation was not made.
#[derive(Debug, Error)]
pub enum ReserveError {
    #[error("{0}")]
    Exceeded(QuotaExceeded),
    /// Other requests of the same user kept writing the ledger first.
    #[error("too many requests of this user at once")]
    Contended,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reserves a slot for `post_id` (see the module's text): judged on the ledger as stored, written
/// only if nobody wrote it since; a lost write is judged again on what won.
pub async fn reserve<S>(
    store: &S,
    limits: &QuotaLimits,
    user: &UserId,
    post_id: &PostId,
    kind: Reservation,
    now_ms: i64,
) -> Result<(), ReserveError>
where
    S: QuotaLedgers + PostStore + RecentPosts + ?Sized,
{
    for _ in 0..RESERVE_ATTEMPTS {
        let (ledger, mut statuses) = match store.quota_ledger(user).await? {
            Some(ledger) => (ledger, HashMap::new()),
            None => {
                let posts = store
                    .posts_created_since(user, now_ms - DAY_MS, limits.posts_to_read())
                    .await?;
                let statuses = posts
                    .iter()
                    .map(|p| (p.post_id.clone(), p.into()))
                    .collect();
                (QuotaLedger::seed(user, &posts, now_ms), statuses)
            }
        };
        // The truth about each post in flight is its own item, read consistently (the posts
        // index lags). At most the in-flight limit of reads: entries are added only with room.
        for entry in &ledger.in_flight {
            if !statuses.contains_key(&entry.post_id) {
                if let Some(post) = store.get_post(user, &entry.post_id).await? {
                    statuses.insert(entry.post_id.clone(), (&post).into());
                }
            }
        }
        let next = judge(limits, &ledger, &statuses, post_id, kind, now_ms)
            .map_err(ReserveError::Exceeded)?;
        match store
            .save_quota_ledger(&next, QuotaLedger::expires_at_secs(now_ms))
            .await
        {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ReserveError::Contended)
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
            fit: Default::default(),
            options: Default::default(),
            scheduled_at_ms: None,
            cancelled_at_ms: None,
            created_at_ms,
            updated_at_ms: created_at_ms,
            version: 1,
        }
    }

    /// Judges a new post on the ledger seeded from `recent` (as for a user without a ledger).
    fn check(l: &QuotaLimits, recent: &[Post], now: i64) -> Result<(), QuotaExceeded> {
        let user = UserId::parse("ann").unwrap();
        let statuses = recent
            .iter()
            .map(|p| (p.post_id.clone(), p.into()))
            .collect();
        let ledger = QuotaLedger::seed(&user, recent, now);
        judge(l, &ledger, &statuses, &new_id(), Reservation::NewPost, now).map(|_| ())
    }

    fn new_id() -> PostId {
        PostId::parse(&format!("{NOW:013}-{:012}", 999)).unwrap()
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

    fn ledger(created_ms: Vec<i64>, in_flight: Vec<(usize, i64)>) -> QuotaLedger {
        QuotaLedger {
            user_id: UserId::parse("ann").unwrap(),
            version: 4,
            created_ms,
            in_flight: in_flight
                .into_iter()
                .map(|(n, since_ms)| FlightEntry {
                    post_id: post(n, since_ms, PostStatus::Processing).post_id,
                    since_ms,
                })
                .collect(),
        }
    }

    /// Stored statuses of posts `(n, created and last written at, status)`.
    fn statuses(of: &[(usize, i64, PostStatus)]) -> HashMap<PostId, StoredStatus> {
        of.iter()
            .map(|&(n, at, status)| {
                let stored = StoredStatus {
                    status,
                    updated_at_ms: at,
                };
                (post(n, at, status).post_id, stored)
            })
            .collect()
    }

    #[test]
    fn an_admitted_post_is_written_into_the_next_ledger_and_finished_ones_leave_it() {
        let l = limits(3, 2);
        let held = ledger(
            vec![NOW - MIN, NOW - 2 * MIN, NOW - DAY_MS - 1],
            vec![(1, NOW - MIN), (2, NOW - 2 * MIN)],
        );
        let stored = statuses(&[
            (1, NOW - MIN, PostStatus::Published),
            (2, NOW - 2 * MIN, PostStatus::Processing),
        ]);
        let next = judge(&l, &held, &stored, &new_id(), Reservation::NewPost, NOW).unwrap();
        assert_eq!(next.version, 5, "written on condition the stored one is 4");
        assert_eq!(
            next.created_ms,
            vec![NOW, NOW - MIN, NOW - 2 * MIN],
            "newest first; the one older than a day is dropped"
        );
        let ids: Vec<&PostId> = next.in_flight.iter().map(|e| &e.post_id).collect();
        let processing = post(2, NOW - 2 * MIN, PostStatus::Processing).post_id;
        assert_eq!(ids, vec![&new_id(), &processing], "the published post left");
        // The next create is refused on the day: three in the last 24 hours.
        let refused = judge(&l, &next, &stored, &new_id(), Reservation::NewPost, NOW).unwrap_err();
        assert_eq!(refused.code(), "post_quota_exceeded");
    }

    #[test]
    fn a_fresh_reservation_holds_its_slot_before_its_post_is_written() {
        let l = limits(50, 1);
        // Reserved 10 s ago; the post is not stored (yet, or its write failed).
        let held = ledger(vec![NOW - 10_000], vec![(1, NOW - 10_000)]);
        let none = HashMap::new();
        let refused = judge(&l, &held, &none, &new_id(), Reservation::NewPost, NOW).unwrap_err();
        assert_eq!(
            refused,
            QuotaExceeded::UploadsInFlight {
                limit: 1,
                retry_after_secs: ((RESERVATION_GRACE_MS - 10_000) / 1000) as u64
            }
        );
        // After the grace, a reservation whose post never came frees its slot.
        let later = NOW + RESERVATION_GRACE_MS;
        assert!(judge(&l, &held, &none, &new_id(), Reservation::NewPost, later).is_ok());
        // A retried post still reads `failed` (written before the reservation) within the grace,
        // and holds its slot all the same; after the grace that stale status decides.
        let mut failed = statuses(&[(1, NOW - 10_000, PostStatus::Failed)]);
        for stored in failed.values_mut() {
            stored.updated_at_ms = NOW - 60_000;
        }
        assert!(judge(&l, &held, &failed, &new_id(), Reservation::NewPost, NOW).is_err());
        assert!(judge(&l, &held, &failed, &new_id(), Reservation::NewPost, later).is_ok());
        // A post that failed after its reservation frees its slot at once.
        let mut failed_since = failed.clone();
        for stored in failed_since.values_mut() {
            stored.updated_at_ms = NOW - 5_000;
        }
        assert!(judge(
            &l,
            &held,
            &failed_since,
            &new_id(),
            Reservation::NewPost,
            NOW
        )
        .is_ok());
    }

    #[test]
    fn a_retry_takes_a_slot_but_not_a_day_s_post_and_counts_its_own_post_once() {
        let l = limits(1, 2);
        let failed = post(1, NOW - 3 * MIN, PostStatus::Failed);
        let held = ledger(vec![NOW - 3 * MIN], vec![]);
        let none = HashMap::new();
        // The day is full, yet the failed post may be retried: it was counted when created.
        let next = judge(&l, &held, &none, &failed.post_id, Reservation::Retry, NOW).unwrap();
        assert_eq!(
            next.created_ms,
            vec![NOW - 3 * MIN],
            "a retry is not a new post"
        );
        assert_eq!(next.in_flight.len(), 1);
        // Retrying it again (say the first answer was lost) does not count it twice.
        let again = judge(&l, &next, &none, &failed.post_id, Reservation::Retry, NOW).unwrap();
        assert_eq!(again.in_flight.len(), 1);
        // But a retry needs a free slot like a new post does.
        let full = ledger(vec![], vec![(2, NOW - MIN), (3, NOW - 2 * MIN)]);
        let busy = statuses(&[
            (2, NOW - MIN, PostStatus::Processing),
            (3, NOW - 2 * MIN, PostStatus::AwaitingUpload),
        ]);
        let refused =
            judge(&l, &full, &busy, &failed.post_id, Reservation::Retry, NOW).unwrap_err();
        assert_eq!(refused.code(), "uploads_in_flight_exceeded");
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
