//! The `WakeUps` port over EventBridge Scheduler's one-time schedules (issue 15).
//!
//! Each job that waits for a set time has one schedule in the stack's schedule group, named for
//! the job, whose target sends the job's message to the work queue at that time and which
//! EventBridge deletes once it has run (`ActionAfterCompletion: DELETE`). Moto stores schedules
//! but never runs them; the local runner plays that part (`reelay-local`'s runner).

use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target,
};

use crate::config::SchedulerConfig;
use crate::messages::JobMessage;
use crate::ports::{QueueError, WakeUps};

/// The SDK crate, for the local runner and tests that play EventBridge's part: they read and fire
/// the schedules this adapter writes. The port itself never shows an SDK type.
pub use aws_sdk_scheduler;

/// EventBridge Scheduler's limit on a schedule's name.
const MAX_NAME_LEN: usize = 64;

/// The job's schedule name: platform and post id (a post has one job per platform, and post ids
/// are unique). EventBridge allows 1 to 64 of `[0-9a-zA-Z-_.]`; anything else becomes `_`.
pub fn schedule_name(message: &JobMessage) -> String {
    format!("{}-{}", message.platform.as_str(), message.post_id)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_LEN)
        .collect()
}

/// `at_ms` rounded up to the whole second, so a wake-up is never early.
pub fn due_secs(at_ms: i64) -> i64 {
    at_ms.div_euclid(1000) + i64::from(at_ms.rem_euclid(1000) != 0)
}

/// The one-time expression for `at_ms`: `at(YYYY-MM-DDTHH:MM:SS)`, read in the schedule's
/// timezone, which this adapter sets to UTC.
pub fn at_expression(at_ms: i64) -> String {
    let stamp = crate::clock::rfc3339(due_secs(at_ms));
    format!("at({})", stamp.strip_suffix('Z').unwrap_or(&stamp))
}

/// When an `at(...)` expression in UTC is due, in epoch milliseconds; `None` for any other
/// expression (`rate`, `cron`) or a malformed time.
pub fn parse_at_expression(expression: &str) -> Option<i64> {
    use aws_sdk_scheduler::primitives::{DateTime, DateTimeFormat};
    let stamp = expression.trim().strip_prefix("at(")?.strip_suffix(')')?;
    DateTime::from_str(&format!("{stamp}Z"), DateTimeFormat::DateTime)
        .ok()?
        .to_millis()
        .ok()
}

/// The `WakeUps` adapter: one-time schedules in the stack's group, targeting the work queue.
#[derive(Clone)]
pub struct EventBridgeWakeUps {
    client: aws_sdk_scheduler::Client,
    config: SchedulerConfig,
}

impl EventBridgeWakeUps {
    pub fn new(client: aws_sdk_scheduler::Client, config: &SchedulerConfig) -> Self {
        Self {
            client,
            config: config.clone(),
        }
    }

    /// What a schedule for `message` at `at_ms` holds, for both CreateSchedule and
    /// UpdateSchedule (an update replaces every field, so both are given all of them).
    fn schedule(&self, message: &JobMessage, at_ms: i64) -> Result<Schedule, QueueError> {
        let target = Target::builder()
            .arn(&self.config.queue_arn)
            .role_arn(&self.config.role_arn)
            // The very body `SqsQueue::send` sends, so the worker cannot tell them apart.
            .input(message.to_body())
            .build()
            .map_err(|e| schedule_error("build the schedule's target", &e))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| schedule_error("build the schedule's time window", &e))?;
        Ok(Schedule {
            name: schedule_name(message),
            expression: at_expression(at_ms),
            target,
            window,
        })
    }

    async fn update(&self, s: &Schedule) -> Result<(), UpdateFailed> {
        self.client
            .update_schedule()
            .name(&s.name)
            .group_name(&self.config.group_name)
            .schedule_expression(&s.expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(s.window.clone())
            .target(s.target.clone())
            .state(ScheduleState::Enabled)
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception())
                {
                    UpdateFailed::NotFound
                } else {
                    UpdateFailed::Other(schedule_error("UpdateSchedule", &e))
                }
            })
    }

    async fn create(&self, s: &Schedule) -> Result<(), CreateFailed> {
        self.client
            .create_schedule()
            .name(&s.name)
            .group_name(&self.config.group_name)
            .schedule_expression(&s.expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(s.window.clone())
            .target(s.target.clone())
            .state(ScheduleState::Enabled)
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception())
                {
                    CreateFailed::Exists
                } else {
                    CreateFailed::Other(schedule_error("CreateSchedule", &e))
                }
            })
    }
}

struct Schedule {
    name: String,
    expression: String,
    target: Target,
    window: FlexibleTimeWindow,
}

enum UpdateFailed {
    NotFound,
    Other(QueueError),
}

enum CreateFailed {
    Exists,
    Other(QueueError),
}

fn schedule_error<E: std::error::Error + 'static>(action: &str, e: &E) -> QueueError {
    QueueError {
        detail: format!(
            "EventBridge Scheduler {action}: {}",
            aws_sdk_scheduler::error::DisplayErrorContext(e)
        ),
    }
}

#[async_trait]
impl WakeUps for EventBridgeWakeUps {
    /// An upsert: the schedule usually exists only between this call and its firing, so update
    /// first and create when there is none. Two workers racing to create it: the loser updates,
    /// and the latest call's time and message win, as the port promises.
    #[tracing::instrument(skip(self, message), fields(post_id = %message.post_id), level = "debug")]
    async fn wake_at(&self, message: &JobMessage, at_ms: i64) -> Result<(), QueueError> {
        let schedule = self.schedule(message, at_ms)?;
        match self.update(&schedule).await {
            Ok(()) => return Ok(()),
            Err(UpdateFailed::Other(e)) => return Err(e),
            Err(UpdateFailed::NotFound) => {}
        }
        match self.create(&schedule).await {
            Ok(()) => Ok(()),
            Err(CreateFailed::Other(e)) => Err(e),
            Err(CreateFailed::Exists) => self.update(&schedule).await.map_err(|e| match e {
                UpdateFailed::Other(e) => e,
                // Created by another call, then fired or forgotten in between: this call's time
                // is not in place, so it fails and its caller tries again.
                UpdateFailed::NotFound => QueueError {
                    detail: format!(
                        "EventBridge Scheduler UpdateSchedule: {} vanished after CreateSchedule \
                         found it",
                        schedule.name
                    ),
                },
            }),
        }
    }

    #[tracing::instrument(skip(self, message), fields(post_id = %message.post_id), level = "debug")]
    async fn forget(&self, message: &JobMessage) -> Result<(), QueueError> {
        let deleted = self
            .client
            .delete_schedule()
            .name(schedule_name(message))
            .group_name(&self.config.group_name)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            // Never made, already fired (EventBridge deleted it), or forgotten before.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(schedule_error("DeleteSchedule", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{PostId, UserId};
    use crate::posts::Platform;

    fn message(post: &str) -> JobMessage {
        JobMessage {
            user_id: UserId::parse("u1").unwrap(),
            post_id: PostId::parse(post).unwrap(),
            platform: Platform::Twitter,
            step_token: "t".into(),
        }
    }

    #[test]
    fn the_name_is_platform_and_post_within_eventbridge_s_rules() {
        assert_eq!(
            schedule_name(&message("1795615785123-0123456789ab")),
            "twitter-1795615785123-0123456789ab"
        );
        let long = "a".repeat(64);
        let name = schedule_name(&message(&long));
        assert_eq!(name.len(), 64);
        assert!(name.starts_with("twitter-a"));
    }

    #[test]
    fn the_time_is_rounded_up_to_the_second_never_early() {
        assert_eq!(at_expression(1_795_615_785_000), "at(2026-11-25T14:09:45)");
        assert_eq!(at_expression(1_795_615_785_001), "at(2026-11-25T14:09:46)");
        assert_eq!(at_expression(1_795_615_785_999), "at(2026-11-25T14:09:46)");
        assert_eq!(due_secs(-1), 0);
        assert_eq!(due_secs(-1000), -1);
    }

    #[test]
    fn an_at_expression_reads_back_as_its_due_time() {
        assert_eq!(
            parse_at_expression("at(2026-11-25T14:09:46)"),
            Some(1_795_615_786_000)
        );
        assert_eq!(
            parse_at_expression(&at_expression(1_795_615_785_001)),
            Some(1_795_615_786_000)
        );
        assert_eq!(parse_at_expression("rate(5 minutes)"), None);
        assert_eq!(parse_at_expression("at(tomorrow)"), None);
    }
}
