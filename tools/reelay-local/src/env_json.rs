//! The local stack's settings for each function, written where the Lambda tools read them, so the
//! built binaries can be invoked by hand against the stack `reelay-local up` runs:
//!
//! - `.local/env.json`: SAM's `--env-vars` file, `{"LogicalFunctionId": {"VAR": "value"}}`, one
//!   entry per function of `template.yaml`, for `sam local invoke ApiFunction -e events/... `;
//! - `.local/lambda.env`: `KEY=VALUE` lines for `cargo lambda watch --env-file`, which runs every
//!   function with one environment (the functions' variables never disagree locally), plus the
//!   SDK's endpoint and test credentials for moto.
//!
//! `tests/binaries.rs` starts each binary with exactly its `env.json` entry (plus what Lambda
//! itself sets), so a variable missing here fails that test.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// One function of `template.yaml`.
#[derive(Debug, Clone, Copy)]
pub struct LambdaFunction {
    /// The template's logical id (SAM's key in `env.json`).
    pub logical_id: &'static str,
    /// The binary (`BuildProperties.Binary`), the name `cargo lambda invoke` takes.
    pub binary: &'static str,
    /// Every variable the function may read (its config's `vars()`).
    pub vars: fn() -> Vec<&'static str>,
}

/// The template's six functions.
pub const FUNCTIONS: [LambdaFunction; 6] = [
    LambdaFunction {
        logical_id: "ApiFunction",
        binary: "reelay-api",
        vars: reelay_api::ApiConfig::vars,
    },
    LambdaFunction {
        logical_id: "OAuthCallbackFunction",
        binary: "reelay-oauth-callback",
        vars: reelay_oauth_callback::CallbackConfig::vars,
    },
    LambdaFunction {
        logical_id: "CreatePostFunction",
        binary: "reelay-create-post",
        vars: reelay_create_post::CreatePostConfig::vars,
    },
    LambdaFunction {
        logical_id: "ProcessUploadFunction",
        binary: "reelay-process-upload",
        vars: reelay_process_upload::WorkerConfig::vars,
    },
    LambdaFunction {
        logical_id: "ReconcilerFunction",
        binary: "reelay-reconciler",
        vars: reelay_reconciler::ReconcilerConfig::vars,
    },
    LambdaFunction {
        logical_id: "FitVideoFunction",
        binary: "reelay-fit-video",
        vars: reelay_fit_video::FitVideoConfig::vars,
    },
];

/// SAM's `--env-vars` document for the local stack whose function environment is `env` (the
/// `World`'s `env`): for each function, the variables it reads that the stack sets. Optional
/// variables the stack leaves unset stay unset, so the function uses its default.
pub fn env_vars(env: &HashMap<String, String>) -> BTreeMap<&'static str, BTreeMap<String, String>> {
    FUNCTIONS
        .iter()
        .map(|f| {
            let vars = (f.vars)()
                .into_iter()
                .filter_map(|var| env.get(var).map(|value| (var.to_owned(), value.clone())))
                .collect();
            (f.logical_id, vars)
        })
        .collect()
}

/// The files written for the local stack, and how to use them.
#[derive(Debug)]
pub struct LocalInvokeFiles {
    pub env_json: PathBuf,
    pub lambda_env: PathBuf,
}

impl LocalInvokeFiles {
    /// Writes `env.json` and `lambda.env` into `dir` (created if missing) for the stack whose
    /// function environment is `env`, with AWS at `aws_endpoint` (moto).
    pub fn write(
        dir: &Path,
        env: &HashMap<String, String>,
        aws_endpoint: &str,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let env_json = dir.join("env.json");
        let document =
            serde_json::to_string_pretty(&env_vars(env)).map_err(std::io::Error::other)?;
        std::fs::write(&env_json, document + "\n")?;

        let mut union: BTreeMap<String, String> = env_vars(env).into_values().flatten().collect();
        // moto's endpoint and its fixed test credentials: never real AWS from these files.
        for (k, v) in [
            ("AWS_ENDPOINT_URL", aws_endpoint),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ] {
            union.insert(k.to_owned(), v.to_owned());
        }
        let lambda_env = dir.join("lambda.env");
        let lines: String = union.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(&lambda_env, lines)?;
        Ok(Self {
            env_json,
            lambda_env,
        })
    }
}

/// The lines `reelay-local up` prints: invoking the built binaries with the samples in `events/`.
impl fmt::Display for LocalInvokeFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rel = |p: &Path| {
            let root = crate::moto::repo_root();
            p.strip_prefix(&root)
                .or_else(|_| p.strip_prefix(root.canonicalize().unwrap_or_default()))
                .unwrap_or(p)
                .display()
                .to_string()
        };
        let (json, dotenv) = (rel(&self.env_json), rel(&self.lambda_env));
        writeln!(f, "built binaries against this stack (events/README.md):")?;
        writeln!(
            f,
            "  sam local invoke ApiFunction -e events/apigw-health.json --env-vars {json}"
        )?;
        writeln!(
            f,
            "  cargo lambda watch --env-file {dotenv}   # then, in another shell:"
        )?;
        write!(
            f,
            "  cargo lambda invoke reelay-api --data-file events/apigw-health.json"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{Stack, StackSpec};

    /// The environment `World::start` gives the functions: the stack's variables and X's.
    fn local_env() -> HashMap<String, String> {
        let stack = Stack {
            spec: StackSpec::new("t").with_x_client_secret("s"),
            table_name: "t-table".into(),
            bucket_name: "t-uploads".into(),
            queue_url: "http://moto/q".into(),
            queue_arn: "arn:q".into(),
            dlq_url: "http://moto/dlq".into(),
            dlq_arn: "arn:dlq".into(),
            fit_queue_url: "http://moto/fit".into(),
            fit_queue_arn: "arn:fit".into(),
            s3_events_queue_url: "http://moto/s3".into(),
            kms_key_id: "key".into(),
            alerts_topic_arn: "arn:topic".into(),
            operator_inbox_url: "http://moto/inbox".into(),
            x_client_secret_arn: Some("arn:secret:x".into()),
            google_client_secret_arn: None,
            pkce_key_secret_arn: "arn:secret:pkce".into(),
            schedule_group_name: "t-wake-ups".into(),
            scheduler_role_arn: "arn:aws:iam::123456789012:role/t-scheduler".into(),
        };
        let mut env = stack.function_env();
        for var in [
            "X_CLIENT_ID",
            "X_REDIRECT_URI",
            "X_AUTHORIZE_URL",
            "X_TOKEN_URL",
            "X_REVOKE_URL",
            "X_API_BASE_URL",
            "X_REQUEST_TIMEOUT_SECS",
        ] {
            env.insert(var.into(), format!("value of {var}"));
        }
        env
    }

    fn template() -> serde_yaml::Value {
        let text = std::fs::read_to_string(crate::moto::repo_root().join("template.yaml"))
            .expect("template.yaml");
        serde_yaml::from_str(&text).expect("template.yaml parses")
    }

    /// One entry per function of the template, keyed by its logical id; each holds only
    /// variables its function reads, and every variable the template sets for it that the local
    /// stack has a value for (the others keep the function's default).
    #[test]
    fn env_json_has_each_template_function_with_exactly_its_variables() {
        let t = template();
        let env = local_env();
        let doc = env_vars(&env);
        let functions: Vec<(&str, &serde_yaml::Value)> = t["Resources"]
            .as_mapping()
            .unwrap()
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
            .map(|(id, r)| (id.as_str().unwrap(), r))
            .collect();
        let mut ids: Vec<&str> = functions.iter().map(|(id, _)| *id).collect();
        ids.sort();
        let mut ours: Vec<&str> = doc.keys().copied().collect();
        ours.sort();
        assert_eq!(ids, ours, "env.json has one entry per template function");

        for (id, resource) in functions {
            let spec = FUNCTIONS.iter().find(|f| f.logical_id == id).unwrap();
            let binary = match resource["Properties"]["PackageType"].as_str() {
                // A container image (FitVideoFunction): its Dockerfile's entrypoint is the binary.
                Some("Image") => {
                    let dockerfile = resource["Metadata"]["Dockerfile"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{id} has no Metadata.Dockerfile"));
                    let text = std::fs::read_to_string(crate::moto::repo_root().join(dockerfile))
                        .unwrap_or_else(|e| panic!("{dockerfile}: {e}"));
                    text.lines()
                        .rev()
                        .find(|l| l.starts_with("ENTRYPOINT"))
                        .and_then(|l| l.split('"').nth(1))
                        .and_then(|path| path.rsplit('/').next())
                        .map(str::to_owned)
                }
                _ => resource["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .map(str::to_owned),
            };
            assert_eq!(binary.as_deref(), Some(spec.binary), "{id}'s binary");
            let reads = (spec.vars)();
            let entry = &doc[id];
            for var in entry.keys() {
                assert!(reads.contains(&var.as_str()), "{id} does not read {var}");
                assert_eq!(entry[var], env[var], "{id}'s {var} is the stack's");
            }
            let declared = resource["Properties"]["Environment"]["Variables"]
                .as_mapping()
                .unwrap();
            for var in declared.keys().filter_map(|k| k.as_str()) {
                if reads.contains(&var) && env.contains_key(var) {
                    assert!(entry.contains_key(var), "{id} lacks {var}");
                }
            }
            // What each function cannot run without, whatever the template grows.
            assert!(entry.contains_key("TABLE_NAME"), "{id} lacks TABLE_NAME");
        }
        // Variables stay with the functions that read them.
        assert!(doc["ReconcilerFunction"].contains_key("DLQ_URL"));
        assert!(!doc["ApiFunction"].contains_key("DLQ_URL"));
        assert!(!doc["ReconcilerFunction"].contains_key("KMS_KEY_ID"));
        assert!(doc["ProcessUploadFunction"].contains_key("OPERATOR_ALERTS_TOPIC_ARN"));
        assert!(!doc["CreatePostFunction"].contains_key("X_CLIENT_SECRET_ARN"));
        // Only the worker sets wake-up schedules (issue 15).
        for var in [
            "SCHEDULE_GROUP_NAME",
            "SCHEDULER_ROLE_ARN",
            "WORK_QUEUE_ARN",
        ] {
            assert_eq!(doc["ProcessUploadFunction"][var], env[var], "{var}");
            for other in ["ApiFunction", "ReconcilerFunction", "FitVideoFunction"] {
                assert!(!doc[other].contains_key(var), "{other} has {var}");
            }
        }
    }

    #[test]
    fn writes_both_files_and_names_them_in_the_instructions() {
        let dir = std::env::temp_dir().join(format!("reelay-env-json-{}", uuid::Uuid::new_v4()));
        let files = LocalInvokeFiles::write(&dir, &local_env(), "http://127.0.0.1:5000").unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&files.env_json).unwrap()).unwrap();
        assert_eq!(json["ApiFunction"]["TABLE_NAME"], "t-table");
        let dotenv = std::fs::read_to_string(&files.lambda_env).unwrap();
        assert!(dotenv
            .lines()
            .any(|l| l == "AWS_ENDPOINT_URL=http://127.0.0.1:5000"));
        assert!(dotenv.lines().any(|l| l == "DLQ_URL=http://moto/dlq"));
        let text = files.to_string();
        assert!(text.contains("--env-vars"), "{text}");
        assert!(
            text.contains("cargo lambda invoke reelay-api --data-file events/apigw-health.json")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
