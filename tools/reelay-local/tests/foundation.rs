//! The foundation, end to end against moto: the local stack matches template.yaml, and the runner
//! delivers HTTP requests, S3 events and SQS batches to the real handlers.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use reelay_local::authorizer::LocalAuthorizer;
use reelay_local::harness::{aws_clients_for, moto_endpoint};
use reelay_local::runner::{
    FunctionName, Functions, Runner, RunnerConfig, RECONCILE_PERIOD, ROUTES,
};
use reelay_local::stack::{Stack, StackSpec};
use reelay_shared::resources::{queue, table};
use serde_yaml::Value;

const WAIT: Duration = Duration::from_secs(60);

fn template() -> Value {
    let text = std::fs::read_to_string(reelay_local::moto::repo_root().join("template.yaml"))
        .expect("template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml parses")
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    &t["Resources"][name]["Properties"]
}

fn x_env() -> HashMap<String, String> {
    HashMap::from([
        ("X_CLIENT_ID".to_owned(), "local-client".to_owned()),
        (
            "X_REDIRECT_URI".to_owned(),
            "http://127.0.0.1:1/api/auth/platforms/twitter/callback".to_owned(),
        ),
    ])
}

#[test]
fn template_declares_the_shape_the_code_uses() {
    let t = template();
    let tbl = resource(&t, "Table");
    let keys: Vec<(String, String)> = tbl["KeySchema"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_owned(),
                k["KeyType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            (table::PARTITION_KEY.into(), "HASH".into()),
            (table::SORT_KEY.into(), "RANGE".into())
        ]
    );
    assert_eq!(
        tbl["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(table::TTL_ATTRIBUTE)
    );
    assert_eq!(
        tbl["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    let index = |name: &str| {
        tbl["GlobalSecondaryIndexes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|i| i["IndexName"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("the table has no index {name}"))
            .clone()
    };
    let gsi = index(table::POSTS_BY_USER_INDEX);
    assert_eq!(
        gsi["KeySchema"][0]["AttributeName"].as_str(),
        Some(table::POSTS_BY_USER_PARTITION_KEY)
    );
    assert_eq!(
        gsi["KeySchema"][1]["AttributeName"].as_str(),
        Some(table::POSTS_BY_USER_SORT_KEY)
    );
    // The reconciler's sparse index: keys only, both keys strings as the store writes them.
    let sweep = index(table::SWEEP_INDEX);
    assert_eq!(
        (
            sweep["KeySchema"][0]["AttributeName"].as_str(),
            sweep["KeySchema"][0]["KeyType"].as_str()
        ),
        (Some(table::SWEEP_PARTITION_KEY), Some("HASH"))
    );
    assert_eq!(
        (
            sweep["KeySchema"][1]["AttributeName"].as_str(),
            sweep["KeySchema"][1]["KeyType"].as_str()
        ),
        (Some(table::SWEEP_SORT_KEY), Some("RANGE"))
    );
    assert_eq!(
        sweep["Projection"]["ProjectionType"].as_str(),
        Some("KEYS_ONLY")
    );
    // The accounts-by-X-user index: keyed on the attribute every account has always carried, so
    // it also holds accounts stored before link items existed; keys only.
    let accounts = index(table::ACCOUNTS_BY_X_USER_INDEX);
    assert_eq!(
        serde_yaml::to_string(&accounts["KeySchema"]).unwrap(),
        format!(
            "- AttributeName: {}\n  KeyType: HASH\n",
            table::ACCOUNTS_BY_X_USER_KEY
        )
    );
    assert_eq!(
        accounts["Projection"]["ProjectionType"].as_str(),
        Some("KEYS_ONLY")
    );
    // The callback reads that index and only that one.
    let callback_queries: Vec<String> = granted(resource(&t, "OAuthCallbackFunction"))
        .into_iter()
        .filter(|(action, _)| action == "dynamodb:Query")
        .map(|(_, resource)| resource)
        .collect();
    assert_eq!(
        callback_queries,
        vec![format!(
            "!Sub ${{Table.Arn}}/index/{}",
            table::ACCOUNTS_BY_X_USER_INDEX
        )]
    );
    for key in [
        table::SWEEP_PARTITION_KEY,
        table::SWEEP_SORT_KEY,
        table::ACCOUNTS_BY_X_USER_KEY,
    ] {
        let defined = tbl["AttributeDefinitions"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|d| d["AttributeName"].as_str() == Some(key))
            .unwrap_or_else(|| panic!("{key} is not defined"));
        assert_eq!(defined["AttributeType"].as_str(), Some("S"), "{key}");
    }

    let work = resource(&t, "WorkQueue");
    assert_eq!(
        work["VisibilityTimeout"].as_u64(),
        Some(queue::VISIBILITY_TIMEOUT_SECS.into())
    );
    assert_eq!(
        work["RedrivePolicy"]["maxReceiveCount"].as_u64(),
        Some(queue::MAX_RECEIVE_COUNT.into())
    );
    assert_eq!(
        resource(&t, "WorkDeadLetterQueue")["MessageRetentionPeriod"].as_u64(),
        Some(queue::DLQ_RETENTION_SECS.into())
    );
    let worker = resource(&t, "ProcessUploadFunction");
    assert_eq!(
        worker["Timeout"].as_u64(),
        Some(queue::WORKER_TIMEOUT_SECS.into())
    );
    let visibility = work["VisibilityTimeout"].as_u64().unwrap();
    let timeout = worker["Timeout"].as_u64().unwrap();
    assert!(
        visibility >= 6 * timeout,
        "AWS asks for a visibility timeout of at least 6x the function timeout"
    );
    assert_eq!(worker["RecursiveLoop"].as_str(), Some("Allow"));
    assert_eq!(
        worker["Events"]["Work"]["Properties"]["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );

    // The reconciler runs on a schedule whose default is the runner's period, and may touch
    // only the sweep index, the table's items, the work and fit queues (send) and the DLQ
    // (drain).
    let reconciler = resource(&t, "ReconcilerFunction");
    let sweep_event = &reconciler["Events"]["Sweep"];
    assert_eq!(sweep_event["Type"].as_str(), Some("Schedule"));
    assert_eq!(
        serde_yaml::to_string(&sweep_event["Properties"]["Schedule"]).unwrap(),
        "!Ref ReconcileSchedule\n"
    );
    assert_eq!(
        t["Parameters"]["ReconcileSchedule"]["Default"].as_str(),
        Some(format!("rate({} minutes)", RECONCILE_PERIOD.as_secs() / 60).as_str())
    );
    let mut granted = granted(reconciler);
    granted.sort();
    let expected: Vec<(String, String)> = [
        ("dynamodb:GetItem", "!GetAtt Table.Arn"),
        ("dynamodb:PutItem", "!GetAtt Table.Arn"),
        ("dynamodb:Query", "!GetAtt Table.Arn"),
        (
            "dynamodb:Query",
            &format!("!Sub ${{Table.Arn}}/index/{}", table::SWEEP_INDEX),
        ),
        ("sqs:DeleteMessage", "!GetAtt WorkDeadLetterQueue.Arn"),
        ("sqs:ReceiveMessage", "!GetAtt WorkDeadLetterQueue.Arn"),
        ("sqs:SendMessage", "!GetAtt FitQueue.Arn"),
        ("sqs:SendMessage", "!GetAtt WorkQueue.Arn"),
    ]
    .iter()
    .map(|(a, r)| (a.to_string(), r.to_string()))
    .collect();
    assert_eq!(granted, expected, "the reconciler's permissions");
}

/// The granted (action, resource) pairs of a function's inline policy, resources as YAML text.
fn granted(function: &Value) -> Vec<(String, String)> {
    let mut granted = Vec::new();
    for statement in function["Policies"][0]["Statement"].as_sequence().unwrap() {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"));
        let resource = serde_yaml::to_string(&statement["Resource"]).unwrap();
        for action in statement["Action"].as_sequence().unwrap() {
            granted.push((
                action.as_str().unwrap().to_owned(),
                resource.trim().to_owned(),
            ));
        }
    }
    granted
}

/// Issue 12: the uploads bucket refuses plain HTTP, admits PutObject under uploads/ only from the
/// API function's role by POST form, create-post may delete only under uploads/, and what is
/// kept still expires after 30 days. moto does not evaluate this policy (README "The local
/// runner"), so the template itself is what is checked.
#[test]
fn the_uploads_bucket_admits_only_the_api_s_forms_and_create_post_deletes_only_uploads() {
    let t = template();
    let policy = &t["Resources"]["UploadsBucketPolicy"];
    assert_eq!(policy["Type"].as_str(), Some("AWS::S3::BucketPolicy"));
    assert_eq!(
        serde_yaml::to_string(&policy["Properties"]["Bucket"]).unwrap(),
        "!Ref UploadsBucket\n"
    );
    let statements = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    let yaml = |v: &Value| serde_yaml::to_string(v).unwrap().trim().to_owned();
    let statement = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"].as_str() == Some(sid))
            .unwrap_or_else(|| panic!("no statement {sid}"))
    };
    for s in statements {
        assert_eq!(s["Effect"].as_str(), Some("Deny"), "only denials: {s:?}");
        assert_eq!(s["Principal"].as_str(), Some("*"), "{s:?}");
    }

    let tls = statement("DenyInsecureTransport");
    assert_eq!(tls["Action"].as_str(), Some("s3:*"));
    assert_eq!(
        tls["Condition"]["Bool"]["aws:SecureTransport"].as_str(),
        Some("false")
    );
    assert_eq!(
        yaml(&tls["Resource"]),
        "- !GetAtt UploadsBucket.Arn\n- !Sub ${UploadsBucket.Arn}/*",
        "the bucket and every object"
    );

    let by_role = statement("DenyUploadsNotSignedByTheApi");
    assert_eq!(by_role["Action"].as_str(), Some("s3:PutObject"));
    assert_eq!(
        yaml(&by_role["Resource"]),
        "!Sub ${UploadsBucket.Arn}/uploads/*"
    );
    assert_eq!(
        yaml(&by_role["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]),
        "!GetAtt ApiFunctionRole.Arn",
        "the role SAM generates for ApiFunction signs the forms"
    );
    let by_form = statement("DenyUploadsOtherThanPostForms");
    assert_eq!(by_form["Action"].as_str(), Some("s3:PutObject"));
    assert_eq!(
        yaml(&by_form["Resource"]),
        "!Sub ${UploadsBucket.Arn}/uploads/*"
    );
    assert_eq!(
        by_form["Condition"]["StringNotEquals"]["s3:authType"].as_str(),
        Some("POST")
    );
    // ApiFunction has no explicit Role, so SAM names its role ApiFunctionRole.
    assert!(resource(&t, "ApiFunction")["Role"].is_null());

    // create-post deletes what it refuses, and only under uploads/; nobody else deletes.
    let uploads =
        "!Sub arn:${AWS::Partition}:s3:::${AWS::StackName}-uploads-${AWS::AccountId}/uploads/*";
    let create_post = granted(resource(&t, "CreatePostFunction"));
    let s3: Vec<_> = create_post
        .iter()
        .filter(|(action, _)| action.starts_with("s3:"))
        .map(|(a, r)| (a.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        s3,
        vec![("s3:GetObject", uploads), ("s3:DeleteObject", uploads)],
        "create-post's S3 permissions"
    );
    for function in [
        "ApiFunction",
        "OAuthCallbackFunction",
        "ProcessUploadFunction",
        "ReconcilerFunction",
        "FitVideoFunction",
    ] {
        assert!(
            granted(resource(&t, function))
                .iter()
                .all(|(action, _)| action != "s3:DeleteObject" && action != "s3:*"),
            "{function} must not delete objects"
        );
    }

    let bucket = resource(&t, "UploadsBucket");
    let rule = &bucket["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(rule["Prefix"].as_str(), Some("uploads/"));
    assert_eq!(rule["ExpirationInDays"].as_u64(), Some(30));
    assert_eq!(
        // The console's rule first (tests/template_security.rs checks the origins).
        yaml(&bucket["CorsConfiguration"]["CorsRules"][0]["AllowedMethods"]),
        "- POST",
        "browsers upload with the POST form"
    );
}

#[test]
fn runner_routes_are_the_templates_routes() {
    let t = template();
    // Each route is an AWS::ApiGatewayV2::Route whose target is an integration of one function
    // (template.yaml says why the HTTP API is not a SAM HttpApi with function events).
    let function_of = |name: &str| match name {
        "ApiFunction" => FunctionName::Api,
        "OAuthCallbackFunction" => FunctionName::OauthCallback,
        other => panic!("a route reaches {other}, which serves no HTTP"),
    };
    let mut declared = Vec::new();
    for (_, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::ApiGatewayV2::Route") {
            continue;
        }
        let p = &r["Properties"];
        let (method, path) = p["RouteKey"]
            .as_str()
            .and_then(|k| k.split_once(' '))
            .expect("a route key is METHOD /path");
        let target = serde_yaml::to_string(&p["Target"]).unwrap();
        let integration = target
            .trim()
            .strip_prefix("!Sub integrations/${")
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or_else(|| panic!("route {method} {path}: target {target}"));
        let uri = serde_yaml::to_string(&resource(&t, integration)["IntegrationUri"]).unwrap();
        let function = uri
            .trim()
            .strip_prefix("!GetAtt ")
            .and_then(|u| u.strip_suffix(".Arn"))
            .unwrap_or_else(|| panic!("integration {integration}: {uri}"));
        let authorized = match p["AuthorizationType"].as_str() {
            Some("JWT") => true,
            Some("NONE") => false,
            other => panic!("route {method} {path}: authorization {other:?}"),
        };
        declared.push((
            method.to_owned(),
            path.to_owned(),
            function_of(function),
            authorized,
        ));
    }
    let mut runner: Vec<_> = ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function,
                r.authorized,
            )
        })
        .collect();
    declared.sort_by(|a, b| a.1.cmp(&b.1));
    runner.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(declared, runner);
}

#[test]
fn every_variable_a_function_reads_is_set_for_it_in_the_template() {
    let t = template();
    for (name, vars) in [
        ("ApiFunction", reelay_api::ApiConfig::vars()),
        (
            "OAuthCallbackFunction",
            reelay_oauth_callback::CallbackConfig::vars(),
        ),
        (
            "CreatePostFunction",
            reelay_create_post::CreatePostConfig::vars(),
        ),
        (
            "ProcessUploadFunction",
            reelay_process_upload::WorkerConfig::vars(),
        ),
        (
            "ReconcilerFunction",
            reelay_reconciler::ReconcilerConfig::vars(),
        ),
        ("FitVideoFunction", reelay_fit_video::FitVideoConfig::vars()),
    ] {
        let set = &resource(&t, name)["Environment"]["Variables"];
        for var in vars {
            // The timeout has a default; every other variable must be set explicitly.
            if var == "X_REQUEST_TIMEOUT_SECS" {
                continue;
            }
            assert!(
                !set[var].is_null(),
                "{name} reads {var} but the template does not set it"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_stack_matches_the_template_settings() {
    let aws = aws_clients_for(&moto_endpoint()).await;
    let stack = Stack::create(&aws, StackSpec::unique("shape"))
        .await
        .expect("stack");

    let described = aws
        .dynamodb
        .describe_table()
        .table_name(&stack.table_name)
        .send()
        .await
        .unwrap();
    let tbl = described.table().unwrap();
    let keys: Vec<_> = tbl
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            (table::PARTITION_KEY.into(), "HASH".into()),
            (table::SORT_KEY.into(), "RANGE".into())
        ]
    );
    let mut indexes: Vec<_> = tbl
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            (
                i.index_name().unwrap_or_default().to_owned(),
                i.projection()
                    .and_then(|p| p.projection_type())
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    indexes.sort();
    assert_eq!(
        indexes,
        vec![
            (table::POSTS_BY_USER_INDEX.to_owned(), "ALL".to_owned()),
            (table::SWEEP_INDEX.to_owned(), "KEYS_ONLY".to_owned()),
            (
                table::ACCOUNTS_BY_X_USER_INDEX.to_owned(),
                "KEYS_ONLY".to_owned()
            ),
        ]
    );
    let ttl = aws
        .dynamodb
        .describe_time_to_live()
        .table_name(&stack.table_name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some(table::TTL_ATTRIBUTE));

    let attrs = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&stack.queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(
        attrs[&QueueAttributeName::VisibilityTimeout],
        queue::VISIBILITY_TIMEOUT_SECS.to_string()
    );
    let redrive: serde_json::Value =
        serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], stack.dlq_arn.as_str());
    assert_eq!(
        redrive["maxReceiveCount"].to_string(),
        queue::MAX_RECEIVE_COUNT.to_string()
    );

    let encrypted = aws
        .kms
        .encrypt()
        .key_id(&stack.kms_key_id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"x".to_vec()))
        .send()
        .await;
    assert!(encrypted.is_ok(), "the stack's KMS key encrypts");
}

struct Local {
    aws: reelay_shared::aws::AwsClients,
    stack: Stack,
    auth: LocalAuthorizer,
    runner: Runner,
}

async fn start_local(
    label: &str,
    spec_tweak: impl FnOnce(&mut StackSpec),
    config: RunnerConfig,
) -> Local {
    let aws = aws_clients_for(&moto_endpoint()).await;
    // The client secret goes to Secrets Manager, as the template's XClientSecret does.
    let mut spec = StackSpec::unique(label).with_x_client_secret("local-secret");
    spec_tweak(&mut spec);
    let stack = Stack::create(&aws, spec).await.expect("stack");
    let mut env = stack.function_env();
    env.extend(x_env());
    let functions = Functions::from_env(&env, &aws)
        .await
        .expect("function config");
    let auth = LocalAuthorizer::random();
    let runner = Runner::start(functions, aws.clone(), &stack, auth.clone(), config)
        .await
        .expect("runner");
    Local {
        aws,
        stack,
        auth,
        runner,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_routes_go_through_the_local_authorizer() {
    let local = start_local("http", |_| {}, RunnerConfig::default()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/health", local.runner.http_url);

    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.json::<serde_json::Value>().await.unwrap()["message"],
        "Unauthorized"
    );

    let forged = LocalAuthorizer::random().mint("user-1");
    assert_eq!(
        http.get(&url)
            .bearer_auth(forged)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let ok = http
        .get(&url)
        .bearer_auth(local.auth.mint("user-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(
        body["user_id"], "user-1",
        "identity comes from the verified token's sub"
    );

    let missing = http
        .get(format!("{}/api/nothing-here", local.runner.http_url))
        .bearer_auth(local.auth.mint("u"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(problem["type"], "not_found");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("/api/nothing-here"));

    // The callback is the one route without the authorizer.
    let callback = http
        .get(format!(
            "{}/api/auth/platforms/twitter/callback",
            local.runner.http_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 400);
    let page = callback.text().await.unwrap();
    assert!(
        page.contains("state"),
        "the answer should name the missing state: {page}"
    );
    local.runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_upload_reaches_create_post_and_sqs_reaches_process_upload_with_the_deadline() {
    let deadline = Duration::from_secs(7);
    let config = RunnerConfig {
        worker_deadline: deadline,
        ..RunnerConfig::default()
    };
    let local = start_local("triggers", |_| {}, config).await;

    // A real S3 upload: moto notifies the events queue, the runner invokes create-post.
    let key = "uploads/user-1/post-1/my clip.mp4";
    local
        .aws
        .s3
        .put_object()
        .bucket(&local.stack.bucket_name)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"not really a video",
        ))
        .send()
        .await
        .unwrap();
    let (seen, log) = local
        .runner
        .log
        .wait_until(WAIT, |log| {
            log.iter().any(|i| i.function == FunctionName::CreatePost)
        })
        .await;
    assert!(seen, "create-post was not invoked: {log:?}");
    let invocation = log
        .iter()
        .find(|i| i.function == FunctionName::CreatePost)
        .unwrap();
    assert!(
        invocation
            .outcome
            .contains(r#""key":"uploads/user-1/post-1/my clip.mp4""#),
        "{}",
        invocation.outcome
    );
    assert!(
        invocation
            .outcome
            .contains("received upload for post post-1"),
        "{}",
        invocation.outcome
    );
    // No draft issued this key: create-post deletes the object (posts.rs covers the details).
    assert!(
        invocation.outcome.contains("rejected and deleted"),
        "{}",
        invocation.outcome
    );

    // A work message reaches process-upload with the configured deadline in its context.
    let body = r#"{"user_id":"user-1","post_id":"post-1","platform":"twitter","step_token":"t1"}"#;
    let sent = local
        .aws
        .sqs
        .send_message()
        .queue_url(&local.stack.queue_url)
        .message_body(body)
        .send()
        .await
        .unwrap();
    let id = sent.message_id().unwrap().to_owned();
    let (seen, log) = local
        .runner
        .log
        .wait_until(WAIT, |log| {
            log.iter()
                .any(|i| i.function == FunctionName::ProcessUpload && i.items.contains(&id))
        })
        .await;
    assert!(seen, "process-upload was not invoked: {log:?}");
    let invocation = log.iter().find(|i| i.items.contains(&id)).unwrap();
    let given = invocation.deadline_ms - invocation.invoked_at_ms;
    assert!(
        given <= deadline.as_millis() as u64 && given + 2_000 >= deadline.as_millis() as u64,
        "deadline was {given} ms after invocation"
    );
    assert_eq!(invocation.outcome, r#"{"batchItemFailures":[]}"#);
    local.runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_failures_stay_on_the_queue_and_reach_the_dlq() {
    // A zero visibility timeout brings a failed message straight back, so the redrive happens
    // within the test instead of after the template's six minutes.
    let local = start_local(
        "dlq",
        |spec| {
            spec.visibility_timeout_secs = 0;
            spec.max_receive_count = 2;
        },
        RunnerConfig::default(),
    )
    .await;
    let sent = local
        .aws
        .sqs
        .send_message()
        .queue_url(&local.stack.queue_url)
        .message_body("not json")
        .send()
        .await
        .unwrap();
    let id = sent.message_id().unwrap().to_owned();
    let (seen, log) = local
        .runner
        .log
        .wait_until(WAIT, |log| {
            log.iter().filter(|i| i.items.contains(&id)).count() >= 2
        })
        .await;
    assert!(seen, "the failed message was not delivered twice: {log:?}");
    assert!(
        log.iter()
            .filter(|i| i.items.contains(&id))
            .all(|i| i.outcome.contains(&id)),
        "reported as a batch item failure"
    );

    // After maxReceiveCount receives, moto's redrive moves it to the DLQ.
    let mut in_dlq = Vec::new();
    for _ in 0..30 {
        let got = local
            .aws
            .sqs
            .receive_message()
            .queue_url(&local.stack.dlq_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        in_dlq.extend(got.messages.unwrap_or_default());
        if !in_dlq.is_empty() {
            break;
        }
    }
    assert_eq!(in_dlq.len(), 1, "the message should be in the DLQ");
    assert_eq!(in_dlq[0].body(), Some("not json"));
    local.runner.stop().await;
}

/// Every sample in `events/` parses as its function's event and runs through that function's
/// handler against the local stack (with the X emulator), answering without a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_runs_through_its_handler() {
    use aws_lambda_events::event::eventbridge::EventBridgeEvent;
    use aws_lambda_events::event::s3::S3Event;
    use aws_lambda_events::event::sqs::SqsEvent;
    use reelay_local::world::{World, WorldOptions};

    let world = World::start(
        &moto_endpoint(),
        WorldOptions {
            label: "events".into(),
            ..WorldOptions::default()
        },
    )
    .await
    .unwrap();
    let functions = Functions::from_env(&world.env, &world.aws).await.unwrap();
    let dir = reelay_local::moto::repo_root().join("events");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        // events/README.md documents the samples; every other file is one.
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    let mut ran = 0;
    for name in &names {
        // Samples name AWS's bucket; point them at this stack's.
        let text = std::fs::read_to_string(dir.join(name))
            .unwrap()
            .replace("reelay-uploads-123456789012", &world.stack.bucket_name);
        let context = || {
            let mut ctx = lambda_runtime::Context::default();
            ctx.deadline = (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 30_000) as u64;
            ctx.request_id = format!("sample-{name}");
            ctx
        };
        if name.starts_with("apigw-") {
            let request = lambda_http::request::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"));
            let response = if request.uri().path() == "/api/auth/platforms/twitter/callback" {
                reelay_oauth_callback::handle(&functions.oauth_callback, request).await
            } else {
                reelay_api::handle(&functions.api, request).await
            }
            .unwrap();
            assert_ne!(response.status(), 500, "{name} hit an internal error");
        } else if name.starts_with("s3-") {
            let event: S3Event = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} is not an S3 event: {e}"));
            reelay_create_post::handle(
                &functions.create_post,
                lambda_runtime::LambdaEvent::new(event, context()),
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: create-post failed: {e}"));
        } else if name.starts_with("sqs-") {
            let event: SqsEvent = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} is not an SQS event: {e}"));
            let response = reelay_process_upload::handle(
                &functions.process_upload,
                lambda_runtime::LambdaEvent::new(event, context()),
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: process-upload failed: {e}"));
            // The sample's job does not exist in a fresh stack: the message is dropped, not failed.
            assert!(
                response.batch_item_failures.is_empty(),
                "{name}: {response:?}"
            );
        } else if name.starts_with("reconciler-") {
            let event: EventBridgeEvent = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} is not an EventBridge event: {e}"));
            let summary = reelay_reconciler::handle(
                &functions.reconciler,
                lambda_runtime::LambdaEvent::new(event, context()),
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: the reconciler failed: {e}"));
            // A fresh stack has nothing to repair.
            assert_eq!(summary, Default::default(), "{name}");
        } else {
            panic!("{name}: samples are named apigw-*, s3-*, sqs-* or reconciler-* so that this test knows their function");
        }
        ran += 1;
    }
    assert!(ran >= 10, "only {ran} samples in events/");
    world.runner.stop().await;
}
