//! Creates in moto the resources `template.yaml` declares, with the same keys and settings
//! (`reelay_shared::resources`), under names unique to one stack so tests can run side by side.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    CorsConfiguration, CorsRule, Event, FilterRule, FilterRuleName, NotificationConfiguration,
    NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use reelay_shared::aws::AwsClients;
use reelay_shared::resources::{bucket, fit_queue, queue, table};
use reelay_shared::secret::Secret;
use std::collections::HashMap;

/// Names and settings of one local stack.
#[derive(Debug, Clone)]
pub struct StackSpec {
    pub prefix: String,
    /// The template's value unless a test needs failed messages back sooner.
    pub visibility_timeout_secs: u32,
    pub max_receive_count: u32,
    /// fit-video's queue: the template's values unless a test needs killed conversions back sooner.
    pub fit_visibility_timeout_secs: u32,
    pub fit_max_receive_count: u32,
    /// The X app's client secret, the template's `XClientSecret` parameter: stored in a Secrets
    /// Manager secret, as the template does, whose ARN the functions get. `None`: a public client.
    pub x_client_secret: Option<Secret>,
    /// YouTube's Google OAuth client secret (`GoogleOAuthClientSecret`), when YouTube is on.
    pub google_client_secret: Option<Secret>,
    /// Origins allowed to POST upload forms to the bucket from a browser (the template's CORS
    /// rule for the console's origin and `AppOrigins`). Empty: no CORS rule.
    pub app_origins: Vec<String>,
}

impl StackSpec {
    /// A stack whose names start with `prefix` (lowercase letters, digits and '-').
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            visibility_timeout_secs: queue::VISIBILITY_TIMEOUT_SECS,
            max_receive_count: queue::MAX_RECEIVE_COUNT,
            fit_visibility_timeout_secs: fit_queue::VISIBILITY_TIMEOUT_SECS,
            fit_max_receive_count: fit_queue::MAX_RECEIVE_COUNT,
            x_client_secret: None,
            google_client_secret: None,
            app_origins: Vec::new(),
        }
    }

    /// The same stack, whose bucket admits browser uploads from these origins.
    pub fn with_app_origins(mut self, origins: impl IntoIterator<Item = String>) -> Self {
        self.app_origins = origins.into_iter().collect();
        self
    }

    /// The same stack, for an X app with this client secret.
    pub fn with_google_client_secret(mut self, secret: impl Into<String>) -> Self {
        self.google_client_secret = Some(Secret::new(secret));
        self
    }

    pub fn with_x_client_secret(mut self, secret: impl Into<String>) -> Self {
        self.x_client_secret = Some(Secret::new(secret));
        self
    }

    /// A stack with a random suffix, for tests.
    pub fn unique(label: &str) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        Self::new(format!("{label}-{}", &suffix[..12]))
    }
}

/// What was created: everything a function's environment needs.
#[derive(Debug, Clone)]
pub struct Stack {
    pub spec: StackSpec,
    pub table_name: String,
    pub bucket_name: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
    /// fit-video's queue (the template's `FitQueue`); its dead letters go to the work DLQ.
    pub fit_queue_url: String,
    pub fit_queue_arn: String,
    /// Local stand-in for the S3 → Lambda trigger: the bucket notifies this queue and the runner
    /// turns its messages into create-post invocations. Not in the template.
    pub s3_events_queue_url: String,
    pub kms_key_id: String,
    /// The operator alerts topic (the template's `OperatorAlertsTopic`).
    pub alerts_topic_arn: String,
    /// Local stand-in for the operator's subscription: a queue subscribed to the alerts topic,
    /// so tests can read what the operator would receive. Not in the template.
    pub operator_inbox_url: String,
    /// The Secrets Manager secret holding the X client secret (the template's `XClientSecret`
    /// resource), when the spec has one.
    pub x_client_secret_arn: Option<String>,
    pub google_client_secret_arn: Option<String>,
    /// The generated server key of the PKCE verifiers (the template's `PkceKeySecret`).
    pub pkce_key_secret_arn: String,
    /// The wake-up schedules' group (the template's `WakeUpScheduleGroup`). moto stores their
    /// schedules but never runs them: the runner fires them (`runner`).
    pub schedule_group_name: String,
    /// The role the schedules send as (the template's `SchedulerRole`). Not created: moto does
    /// not check it, so a fixed fake ARN of moto's account stands in.
    pub scheduler_role_arn: String,
}

#[derive(Debug, thiserror::Error)]
#[error("creating the local stack failed at {step}: {source}")]
pub struct StackError {
    step: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn at<E: std::error::Error + Send + Sync + 'static>(
    step: &'static str,
) -> impl FnOnce(E) -> StackError {
    move |e| StackError {
        step,
        source: Box::new(e),
    }
}

impl Stack {
    pub async fn create(aws: &AwsClients, spec: StackSpec) -> Result<Self, StackError> {
        let table_name = format!("{}-table", spec.prefix);
        let bucket_name = format!("{}-uploads", spec.prefix);
        create_table(aws, &table_name).await?;

        let (dlq_url, dlq_arn) = create_queue(
            aws,
            &format!("{}-work-dlq", spec.prefix),
            HashMap::from([(
                QueueAttributeName::MessageRetentionPeriod,
                queue::DLQ_RETENTION_SECS.to_string(),
            )]),
        )
        .await?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": spec.max_receive_count,
        })
        .to_string();
        let (queue_url, queue_arn) = create_queue(
            aws,
            &format!("{}-work", spec.prefix),
            HashMap::from([
                (
                    QueueAttributeName::VisibilityTimeout,
                    spec.visibility_timeout_secs.to_string(),
                ),
                (QueueAttributeName::RedrivePolicy, redrive),
            ]),
        )
        .await?;
        let fit_redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": spec.fit_max_receive_count,
        })
        .to_string();
        let (fit_queue_url, fit_queue_arn) = create_queue(
            aws,
            &format!("{}-fit", spec.prefix),
            HashMap::from([
                (
                    QueueAttributeName::VisibilityTimeout,
                    spec.fit_visibility_timeout_secs.to_string(),
                ),
                (QueueAttributeName::RedrivePolicy, fit_redrive),
            ]),
        )
        .await?;
        let (s3_events_queue_url, s3_events_queue_arn) =
            create_queue(aws, &format!("{}-s3-events", spec.prefix), HashMap::new()).await?;

        aws.s3
            .create_bucket()
            .bucket(&bucket_name)
            .send()
            .await
            .map_err(at("create bucket"))?;
        // The template's UploadsBucketPolicy (TLS only; PutObject under uploads/ only by the API
        // role's POST forms) is not installed here: moto 5.2.5 applies a bucket policy's Deny
        // statements to object requests but ignores their `Bool` and `ArnNotEquals` conditions,
        // so it would refuse every GET, PUT and DELETE, while its POST uploads skip the policy
        // altogether (README "The local runner"). `foundation.rs` checks the template's policy.
        if !spec.app_origins.is_empty() {
            put_upload_cors(aws, &bucket_name, &spec.app_origins).await?;
        }
        let filter = NotificationConfigurationFilter::builder()
            .key(
                S3KeyFilter::builder()
                    .filter_rules(
                        FilterRule::builder()
                            .name(FilterRuleName::Prefix)
                            .value(bucket::UPLOAD_PREFIX)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let notification = QueueConfiguration::builder()
            .queue_arn(s3_events_queue_arn)
            .events(Event::S3ObjectCreated)
            .filter(filter)
            .build()
            .map_err(at("build bucket notification"))?;
        aws.s3
            .put_bucket_notification_configuration()
            .bucket(&bucket_name)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(notification)
                    .build(),
            )
            .send()
            .await
            .map_err(at("put bucket notification"))?;

        let key = aws
            .kms
            .create_key()
            .description(format!("{} platform tokens", spec.prefix))
            .send()
            .await
            .map_err(at("create KMS key"))?;
        let kms_key_id = key
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .unwrap_or_default();

        let alerts_topic_arn = aws
            .sns
            .create_topic()
            .name(format!("{}-operator-alerts", spec.prefix))
            .send()
            .await
            .map_err(at("create alerts topic"))?
            .topic_arn()
            .unwrap_or_default()
            .to_owned();
        let (operator_inbox_url, operator_inbox_arn) = create_queue(
            aws,
            &format!("{}-operator-inbox", spec.prefix),
            HashMap::new(),
        )
        .await?;
        aws.sns
            .subscribe()
            .topic_arn(&alerts_topic_arn)
            .protocol("sqs")
            .endpoint(operator_inbox_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .map_err(at("subscribe the operator inbox"))?;

        // The template's two secrets, encrypted with Secrets Manager's own key. The PKCE key is
        // generated as the template's `GenerateSecretString` does (64 characters, no
        // punctuation), by Secrets Manager itself.
        let x_client_secret_arn = match &spec.x_client_secret {
            Some(secret) => Some(
                create_secret(
                    aws,
                    &format!("{}-x-client-secret", spec.prefix),
                    secret.expose(),
                )
                .await?,
            ),
            None => None,
        };
        let google_client_secret_arn = match &spec.google_client_secret {
            Some(secret) => Some(
                create_secret(
                    aws,
                    &format!("{}-google-client-secret", spec.prefix),
                    secret.expose(),
                )
                .await?,
            ),
            None => None,
        };
        let pkce_key = aws
            .secretsmanager
            .get_random_password()
            .password_length(PKCE_KEY_LENGTH)
            .exclude_punctuation(true)
            .send()
            .await
            .map_err(at("generate the PKCE key"))?
            .random_password
            .unwrap_or_default();
        let pkce_key_secret_arn =
            create_secret(aws, &format!("{}-pkce-key", spec.prefix), &pkce_key).await?;

        let schedule_group_name = format!("{}-wake-ups", spec.prefix);
        aws.scheduler
            .create_schedule_group()
            .name(&schedule_group_name)
            .send()
            .await
            .map_err(at("create the wake-up schedule group"))?;
        let scheduler_role_arn =
            format!("arn:aws:iam::123456789012:role/{}-scheduler", spec.prefix);

        Ok(Self {
            spec,
            table_name,
            bucket_name,
            queue_url,
            queue_arn,
            dlq_url,
            dlq_arn,
            fit_queue_url,
            fit_queue_arn,
            s3_events_queue_url,
            kms_key_id,
            alerts_topic_arn,
            operator_inbox_url,
            x_client_secret_arn,
            google_client_secret_arn,
            pkce_key_secret_arn,
            schedule_group_name,
            scheduler_role_arn,
        })
    }

    /// The environment variables the template sets on the functions, filled from this stack.
    pub fn function_env(&self) -> HashMap<String, String> {
        let mut env = HashMap::from([
            ("TABLE_NAME".to_owned(), self.table_name.clone()),
            ("BUCKET_NAME".to_owned(), self.bucket_name.clone()),
            ("QUEUE_URL".to_owned(), self.queue_url.clone()),
            ("FIT_QUEUE_URL".to_owned(), self.fit_queue_url.clone()),
            ("DLQ_URL".to_owned(), self.dlq_url.clone()),
            ("KMS_KEY_ID".to_owned(), self.kms_key_id.clone()),
            (
                "OPERATOR_ALERTS_TOPIC_ARN".to_owned(),
                self.alerts_topic_arn.clone(),
            ),
            (
                "PKCE_KEY_SECRET_ARN".to_owned(),
                self.pkce_key_secret_arn.clone(),
            ),
            (
                "SCHEDULE_GROUP_NAME".to_owned(),
                self.schedule_group_name.clone(),
            ),
            (
                "SCHEDULER_ROLE_ARN".to_owned(),
                self.scheduler_role_arn.clone(),
            ),
            ("WORK_QUEUE_ARN".to_owned(), self.queue_arn.clone()),
        ]);
        if let Some(arn) = &self.x_client_secret_arn {
            env.insert("X_CLIENT_SECRET_ARN".to_owned(), arn.clone());
        }
        if let Some(arn) = &self.google_client_secret_arn {
            env.insert("GOOGLE_CLIENT_SECRET_ARN".to_owned(), arn.clone());
        }
        env
    }
}

/// The template's `UploadsBucket` CORS rule: browsers on these origins may POST upload forms
/// (an XMLHttpRequest with upload progress is preflighted, so the rule must also answer the
/// preflight).
async fn put_upload_cors(
    aws: &AwsClients,
    bucket: &str,
    origins: &[String],
) -> Result<(), StackError> {
    let rule = CorsRule::builder()
        .allowed_methods("POST")
        .set_allowed_origins(Some(origins.to_vec()))
        .allowed_headers("*")
        .max_age_seconds(UPLOAD_CORS_MAX_AGE_SECS)
        .build()
        .map_err(at("build bucket CORS rule"))?;
    let cors = CorsConfiguration::builder()
        .cors_rules(rule)
        .build()
        .map_err(at("build bucket CORS configuration"))?;
    aws.s3
        .put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(cors)
        .send()
        .await
        .map_err(at("put bucket CORS"))?;
    Ok(())
}

/// The template's CORS `MaxAge` on the uploads bucket.
pub const UPLOAD_CORS_MAX_AGE_SECS: i32 = 3000;

/// The template's `PkceKeySecret` length.
pub const PKCE_KEY_LENGTH: i64 = 64;

/// A Secrets Manager secret holding `value` (no customer key: Secrets Manager's own); its ARN.
async fn create_secret(aws: &AwsClients, name: &str, value: &str) -> Result<String, StackError> {
    let created = aws
        .secretsmanager
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .map_err(at("create secret"))?;
    Ok(created.arn.unwrap_or_default())
}

async fn create_table(aws: &AwsClients, name: &str) -> Result<(), StackError> {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(at("table attribute"))
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .map_err(at("key schema"))
    };
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(table::POSTS_BY_USER_INDEX)
        .key_schema(key(table::POSTS_BY_USER_PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key(table::POSTS_BY_USER_SORT_KEY, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(at("index"))?;
    // Keys only: a sweep reads each job itself before acting (the index is eventually
    // consistent), and checkpoints that leave the due time alone then never write the index.
    let sweep = GlobalSecondaryIndex::builder()
        .index_name(table::SWEEP_INDEX)
        .key_schema(key(table::SWEEP_PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key(table::SWEEP_SORT_KEY, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(at("sweep index"))?;
    let accounts_by_x_user = GlobalSecondaryIndex::builder()
        .index_name(table::ACCOUNTS_BY_X_USER_INDEX)
        .key_schema(key(table::ACCOUNTS_BY_X_USER_KEY, KeyType::Hash)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(at("accounts index"))?;
    aws.dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(table::PARTITION_KEY)?)
        .attribute_definitions(attr(table::SORT_KEY)?)
        .attribute_definitions(attr(table::POSTS_BY_USER_PARTITION_KEY)?)
        .attribute_definitions(attr(table::POSTS_BY_USER_SORT_KEY)?)
        .attribute_definitions(attr(table::SWEEP_PARTITION_KEY)?)
        .attribute_definitions(attr(table::SWEEP_SORT_KEY)?)
        .attribute_definitions(attr(table::ACCOUNTS_BY_X_USER_KEY)?)
        .key_schema(key(table::PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key(table::SORT_KEY, KeyType::Range)?)
        .global_secondary_indexes(gsi)
        .global_secondary_indexes(sweep)
        .global_secondary_indexes(accounts_by_x_user)
        .send()
        .await
        .map_err(at("create table"))?;
    aws.dynamodb
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(table::TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .map_err(at("ttl spec"))?,
        )
        .send()
        .await
        .map_err(at("enable TTL"))?;
    Ok(())
}

async fn create_queue(
    aws: &AwsClients,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<(String, String), StackError> {
    let created = aws
        .sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(at("create queue"))?;
    let url = created.queue_url().unwrap_or_default().to_owned();
    let attrs = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(at("read queue ARN"))?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default();
    Ok((url, arn))
}
