//! SDK clients that count every AWS operation they run, by service and operation name
//! (`dynamodb.PutItem`, `sqs.SendMessage`, `s3.GetObject`, ...).
//!
//! The counter is an SDK interceptor, so it sees exactly the calls the functions make through
//! these clients (one count per operation, retries not counted separately), without touching
//! their code. It counts in `read_before_serialization`: a client-level interceptor's
//! `read_before_execution` runs before the operation's name is in the config bag.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use reelay_shared::aws::AwsClients;

#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallCounter {
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn reset(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "reelay-bench-call-counter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = match cfg.load::<Metadata>() {
            Some(m) => format!("{}.{}", m.service().to_lowercase(), m.name()),
            None => "unknown".to_owned(),
        };
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
        Ok(())
    }
}

/// Clients for `endpoint` (moto) whose S3, DynamoDB, SQS and KMS calls are counted by `counter`.
/// With `s3_endpoint`, S3 goes there instead (the bench's own S3, `crate::s3_server`) and every
/// other service to moto.
pub async fn counted_clients(
    endpoint: &str,
    s3_endpoint: Option<&str>,
    counter: &CallCounter,
) -> AwsClients {
    clients(endpoint, s3_endpoint, Some(counter)).await
}

/// Clients for moto at `endpoint`, with S3 at `s3_endpoint` when given; counted when `counter`
/// is given.
pub async fn clients(
    endpoint: &str,
    s3_endpoint: Option<&str>,
    counter: Option<&CallCounter>,
) -> AwsClients {
    let conf = reelay_local::harness::sdk_config_for(endpoint).await;
    let mut s3 = aws_sdk_s3::config::Builder::from(&conf).force_path_style(true);
    if let Some(s3_endpoint) = s3_endpoint {
        // A client's own endpoint wins over the shared configuration's.
        s3 = s3.endpoint_url(s3_endpoint);
    }
    let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&conf);
    let mut sqs = aws_sdk_sqs::config::Builder::from(&conf);
    let mut kms = aws_sdk_kms::config::Builder::from(&conf);
    if let Some(counter) = counter {
        s3 = s3.interceptor(counter.clone());
        dynamodb = dynamodb.interceptor(counter.clone());
        sqs = sqs.interceptor(counter.clone());
        kms = kms.interceptor(counter.clone());
    }
    AwsClients {
        s3: aws_sdk_s3::Client::from_conf(s3.build()),
        dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
        sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
        kms: aws_sdk_kms::Client::from_conf(kms.build()),
        // Alerts are not on the measured path, nor are the secrets read at cold start.
        sns: aws_sdk_sns::Client::new(&conf),
        secretsmanager: AwsClients::from_config(&conf).secretsmanager,
        scheduler: AwsClients::from_config(&conf).scheduler,
        credentials: conf.credentials_provider(),
    }
}

/// Operations that write to DynamoDB.
pub fn is_dynamodb_write(op: &str) -> bool {
    const WRITES: [&str; 5] = [
        "dynamodb.PutItem",
        "dynamodb.UpdateItem",
        "dynamodb.DeleteItem",
        "dynamodb.TransactWriteItems",
        "dynamodb.BatchWriteItem",
    ];
    WRITES.contains(&op)
}
