//! The SNS adapter of the operator alerts: one message per alert on the operator's topic (its
//! subscriptions, e.g. an e-mail address, are the operator's choice; see template.yaml).

use async_trait::async_trait;
use serde_json::json;

use crate::ports::{AlertError, OperatorAlert, OperatorAlerts};

#[derive(Clone)]
pub struct SnsAlerts {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsAlerts {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

/// SNS subjects are at most 100 ASCII characters.
fn subject(alert: &OperatorAlert) -> String {
    let text: String = format!("Reelay: operator action needed ({})", alert.code)
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .take(100)
        .collect();
    text
}

#[async_trait]
impl OperatorAlerts for SnsAlerts {
    #[tracing::instrument(skip_all, fields(code = %alert.code), level = "debug")]
    async fn alert(&self, alert: &OperatorAlert) -> Result<(), AlertError> {
        let body = json!({
            "code": alert.code,
            "action": alert.action,
            "detail": alert.detail,
            "post_id": alert.post_id,
        });
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(alert))
            .message(body.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AlertError {
                detail: aws_sdk_sns::error::DisplayErrorContext(&e).to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_fit_sns_rules() {
        let alert = OperatorAlert {
            code: format!("x_credits_depleted{}é\n", "z".repeat(200)),
            action: String::new(),
            detail: String::new(),
            post_id: "p".into(),
        };
        let s = subject(&alert);
        assert!(s.len() <= 100 && s.is_ascii() && !s.contains('\n'), "{s}");
        assert!(s.starts_with("Reelay: operator action needed (x_credits_depleted"));
    }
}
