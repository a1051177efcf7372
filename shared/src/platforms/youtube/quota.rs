//! When YouTube's daily quota comes back: "Daily quotas reset at midnight Pacific Time (PT)"
//! (docs/research/youtube.md §3). Pacific time moves with daylight saving, so this asks the
//! time-zone database (bundled with `jiff`) rather than adding a fixed offset.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The zone Google names for the reset.
const PACIFIC: &str = "America/Los_Angeles";

/// A day, for when the zone cannot be read (it is bundled, so this is a fallback that waits
/// long enough rather than a guess that retries too early).
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The first midnight in Pacific time strictly after `now_ms` (Unix milliseconds).
pub fn next_quota_reset_ms(now_ms: i64) -> i64 {
    next_midnight(now_ms).unwrap_or(now_ms + DAY_MS)
}

fn next_midnight(now_ms: i64) -> Option<i64> {
    let zone = TimeZone::get(PACIFIC).ok()?;
    let now = Timestamp::from_millisecond(now_ms)
        .ok()?
        .to_zoned_datetime(zone);
    let midnight = now.tomorrow().ok()?.start_of_day().ok()?;
    Some(midnight.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn winter_reset_is_at_eight_utc() {
        // 2026-12-03 07:41 UTC is 23:41 PST on the 2nd: the reset is 08:00 UTC on the 3rd.
        assert_eq!(
            next_quota_reset_ms(ms("2026-12-03T07:41:00Z")),
            ms("2026-12-03T08:00:00Z")
        );
    }

    #[test]
    fn summer_reset_is_at_seven_utc() {
        assert_eq!(
            next_quota_reset_ms(ms("2026-07-01T12:00:00Z")),
            ms("2026-07-02T07:00:00Z")
        );
    }

    #[test]
    fn exactly_at_midnight_waits_for_the_next_one() {
        assert_eq!(
            next_quota_reset_ms(ms("2026-12-03T08:00:00Z")),
            ms("2026-12-04T08:00:00Z")
        );
    }

    #[test]
    fn the_night_clocks_go_back_is_counted() {
        // 2026-11-01 is the end of daylight saving in the US: the day is 25 hours long.
        assert_eq!(
            next_quota_reset_ms(ms("2026-11-01T10:00:00Z")),
            ms("2026-11-02T08:00:00Z")
        );
    }
}
