//! Which AWS actions each function's code really calls (issue 12: "no unused action per
//! function"). With `REELAY_IAM_USAGE_DIR` set, `runner::Functions::from_env` gives every function
//! its own SDK clients carrying `Recorder`, which notes each call as the IAM action it needs, under
//! the function's template name, in a file of that directory. `make test` runs every test so, then
//! `tests/iam_usage.rs` compares the union with template.yaml: every action a function called is
//! allowed to it, and every action allowed to it was called by some test.
//!
//! Recording is at the SDK's interceptor hook, not by reading source, so what counts is what the
//! code does against moto, path by path, not what it could do.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use reelay_shared::aws::AwsClients;
use reelay_shared::scheduler::aws_sdk_scheduler;

/// The directory the records go to; unset, nothing is recorded.
pub const DIR_VAR: &str = "REELAY_IAM_USAGE_DIR";

/// `aws`'s clients again, each noting the actions `function` calls, if `DIR_VAR` is set.
pub fn clients_for(aws: &AwsClients, function: &'static str) -> AwsClients {
    let Some(dir) = std::env::var_os(DIR_VAR).map(PathBuf::from) else {
        return aws.clone();
    };
    let recorder = Recorder {
        function,
        file: dir.join(format!("{function}-{}.txt", std::process::id())),
        seen: Arc::default(),
    };
    AwsClients {
        s3: aws_sdk_s3::Client::from_conf(
            aws.s3
                .config()
                .to_builder()
                .interceptor(recorder.clone())
                .build(),
        ),
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws.dynamodb
                .config()
                .to_builder()
                .interceptor(recorder.clone())
                .build(),
        ),
        sqs: aws_sdk_sqs::Client::from_conf(
            aws.sqs
                .config()
                .to_builder()
                .interceptor(recorder.clone())
                .build(),
        ),
        kms: aws_sdk_kms::Client::from_conf(
            aws.kms
                .config()
                .to_builder()
                .interceptor(recorder.clone())
                .build(),
        ),
        sns: aws_sdk_sns::Client::from_conf(
            aws.sns
                .config()
                .to_builder()
                .interceptor(recorder.clone())
                .build(),
        ),
        secretsmanager: aws_sdk_secretsmanager::Client::from_conf(
            aws.secretsmanager
                .config()
                .to_builder()
                .interceptor(recorder.clone())
                .build(),
        ),
        scheduler: aws_sdk_scheduler::Client::from_conf(
            aws.scheduler
                .config()
                .to_builder()
                .interceptor(recorder)
                .build(),
        ),
        credentials: aws.credentials.clone(),
    }
}

/// The IAM service prefix of an SDK service name ("DynamoDB", "Secrets Manager" ...).
fn iam_prefix(service: &str) -> String {
    service.replace(' ', "").to_ascii_lowercase()
}

#[derive(Debug, Clone)]
struct Recorder {
    function: &'static str,
    file: PathBuf,
    seen: Arc<Mutex<HashSet<String>>>,
}

impl Recorder {
    /// Appends `action` to this process's file the first time it is seen (one line each; files
    /// of all test processes are read together afterwards).
    fn note(&self, action: String) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if !seen.insert(action.clone()) {
            return;
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            // One write of the whole line: recorders of other worlds in this process append to
            // the same file, and an `O_APPEND` write this small is not interleaved.
            .and_then(|mut f| f.write_all(format!("{action}\n").as_bytes()));
        if let Err(err) = written {
            eprintln!("iam usage: cannot write {}: {err}", self.file.display());
        }
    }
}

/// The IAM actions a request needs, worked out before it is serialized (its input is readable
/// then) and noted only once it was answered: a presigned request is built but never sent.
#[derive(Debug, Clone)]
struct PendingActions(Vec<String>);

impl aws_smithy_types::config_bag::Storable for PendingActions {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// IAM's name for an S3 operation where it differs from the API's (AWS's "Actions, resources and
/// condition keys for Amazon S3"): reading an object's head is `GetObject`, a versioned read or
/// delete is `*Version`, listing versions is `ListBucketVersions`.
fn s3_action(
    operation: &str,
    input: &aws_smithy_runtime_api::client::interceptors::context::Input,
) -> String {
    use aws_sdk_s3::operation::{
        delete_object::DeleteObjectInput, get_object::GetObjectInput, head_object::HeadObjectInput,
    };
    let versioned = input
        .downcast_ref::<GetObjectInput>()
        .map(|i| i.version_id().is_some())
        .or_else(|| {
            input
                .downcast_ref::<HeadObjectInput>()
                .map(|i| i.version_id().is_some())
        })
        .or_else(|| {
            input
                .downcast_ref::<DeleteObjectInput>()
                .map(|i| i.version_id().is_some())
        })
        .unwrap_or(false);
    match (operation, versioned) {
        ("GetObject" | "HeadObject", false) => "GetObject".into(),
        ("GetObject" | "HeadObject", true) => "GetObjectVersion".into(),
        ("DeleteObject", true) => "DeleteObjectVersion".into(),
        ("ListObjectVersions", _) => "ListBucketVersions".into(),
        ("ListObjectsV2" | "ListObjects", _) => "ListBucket".into(),
        (other, _) => other.into(),
    }
}

/// Whether the request hands a role to the service: an EventBridge schedule whose target names
/// the role it runs as (CreateSchedule, UpdateSchedule).
fn passes_a_role(input: &aws_smithy_runtime_api::client::interceptors::context::Input) -> bool {
    use aws_sdk_scheduler::operation::{
        create_schedule::CreateScheduleInput, update_schedule::UpdateScheduleInput,
    };
    let target = input
        .downcast_ref::<CreateScheduleInput>()
        .and_then(|i| i.target())
        .or_else(|| {
            input
                .downcast_ref::<UpdateScheduleInput>()
                .and_then(|i| i.target())
        });
    target.is_some_and(|t| !t.role_arn().is_empty())
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "IamUsageRecorder"
    }

    // Not `read_before_execution`: a client's interceptors run that before the operation's
    // configuration, which holds its `Metadata`, is in the bag.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let prefix = iam_prefix(metadata.service());
        let input = context.input();
        let actions: Vec<String> =
            if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
                // IAM authorizes a DynamoDB transaction by the action of each item in it, not by
                // `TransactWriteItems`.
                transaction
                    .transact_items()
                    .iter()
                    .map(|item| {
                        if item.put().is_some() {
                            "PutItem"
                        } else if item.update().is_some() {
                            "UpdateItem"
                        } else if item.delete().is_some() {
                            "DeleteItem"
                        } else {
                            "ConditionCheckItem"
                        }
                    })
                    .map(|action| format!("{prefix}:{action}"))
                    .collect()
            } else if prefix == "s3" {
                vec![format!("s3:{}", s3_action(metadata.name(), input))]
            } else if passes_a_role(input) {
                // IAM also asks the caller for iam:PassRole on the role a schedule's target names.
                vec![
                    format!("{prefix}:{}", metadata.name()),
                    "iam:PassRole".to_owned(),
                ]
            } else {
                vec![format!("{prefix}:{}", metadata.name())]
            };
        cfg.interceptor_state().store_put(PendingActions(actions));
        Ok(())
    }

    // After a response came: a presigned request runs the hooks up to transmitting, never this.
    fn read_before_deserialization(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(PendingActions(actions)) = cfg.load::<PendingActions>() {
            for action in actions {
                self.note(format!("{} {action}", self.function));
            }
        }
        Ok(())
    }
}
