//! Issue 12, item 5: the template's security settings, read from template.yaml. There is no AWS
//! here, so these tests prove what the template declares, not how IAM, KMS, CloudWatch or API
//! Gateway evaluate it (SECURITY.md, "Not verifiable here").

use std::collections::BTreeMap;

use reelay_shared::accounts::cipher::{CONTEXT_PLATFORM, CONTEXT_USER};
use reelay_shared::posts::Platform;
use reelay_shared::resources::{bucket, fit_queue};
use serde_yaml::Value;

const FUNCTIONS: [&str; 6] = [
    "ApiFunction",
    "OAuthCallbackFunction",
    "CreatePostFunction",
    "ProcessUploadFunction",
    "ReconcilerFunction",
    "FitVideoFunction",
];

fn template() -> Value {
    let text = std::fs::read_to_string(reelay_local::moto::repo_root().join("template.yaml"))
        .expect("template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml parses")
}

fn yaml(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap().trim().to_owned()
}

fn properties<'a>(t: &'a Value, name: &str) -> &'a Value {
    let resource = &t["Resources"][name];
    assert!(!resource.is_null(), "template.yaml has no resource {name}");
    &resource["Properties"]
}

/// A statement's actions, whether written as one string or a list.
fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Sequence(list) => list
            .iter()
            .map(|a| a.as_str().expect("an action is a string").to_owned())
            .collect(),
        other => panic!("unexpected Action {other:?}"),
    }
}

/// Does the IAM action pattern (with `*` and `?`) match the action? Case-insensitive, as IAM is.
fn matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

/// The KMS operations that use the key (rather than administer it). CreateGrant is here because a
/// grant can hand the others out without the key policy's conditions.
const KMS_USE: [&str; 9] = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:CreateGrant",
];

/// Every KMS use is bound to a Reelay token's encryption context: the platform is twitter, or
/// twitter or youtube when YouTube is on (`!If [YouTubeEnabled, [twitter, youtube], twitter]`),
/// and the context has no key but user_id and platform (reelay_shared::accounts::cipher).
fn assert_token_context(statement: &Value, whose: &str) {
    let condition = &statement["Condition"];
    let platform = format!("kms:EncryptionContext:{CONTEXT_PLATFORM}");
    let all: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
    let names = |v: &Value| -> Option<Vec<String>> {
        match v {
            Value::String(one) => Some(vec![one.clone()]),
            Value::Sequence(list) => list.iter().map(|n| n.as_str().map(str::to_owned)).collect(),
            _ => None,
        }
    };
    let allowed = &condition["StringEquals"][platform.as_str()];
    let (off, on) = match allowed {
        Value::Tagged(t) if t.tag == "!If" => {
            let branches = t.value.as_sequence().expect("!If [condition, then, else]");
            assert_eq!(branches[0].as_str(), Some("YouTubeEnabled"), "{whose}");
            (names(&branches[2]), names(&branches[1]))
        }
        other => (names(other), names(other)),
    };
    assert_eq!(
        off,
        Some(vec![Platform::Twitter.as_str().to_owned()]),
        "{whose}: KMS use not conditioned on the platform context: {statement:?}"
    );
    let all: Vec<String> = all.into_iter().map(str::to_owned).collect();
    assert!(
        on == off || on.as_ref() == Some(&all),
        "{whose}: with YouTube on, exactly the platforms' contexts: {statement:?}"
    );
    let keys: Vec<_> = condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{whose}: KMS use not conditioned on the context keys"))
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(keys, [CONTEXT_USER, CONTEXT_PLATFORM], "{whose}");
}

fn function_statements<'a>(t: &'a Value, function: &str) -> Vec<&'a Value> {
    properties(t, function)["Policies"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{function} has no Policies"))
        .iter()
        .flat_map(|p| {
            p["Statement"].as_sequence().unwrap_or_else(|| {
                panic!("{function}: a policy that is not an inline statement list: {p:?}")
            })
        })
        .collect()
}

/// No function holds a secret in a plain environment variable (anyone with
/// `lambda:GetFunctionConfiguration` reads those): no secret-named variable but a locator of a
/// Secrets Manager secret, no NoEcho parameter and no `{{resolve:...}}` dynamic reference in any
/// variable, whatever its name. The X client secret and the PKCE key are read from Secrets
/// Manager at cold start (their ARNs: X_CLIENT_SECRET_ARN, PKCE_KEY_SECRET_ARN).
#[test]
fn no_function_environment_holds_a_plain_secret() {
    let t = template();
    let no_echo: Vec<&str> = t["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, p)| p["NoEcho"].as_bool() == Some(true))
        .map(|(name, _)| name.as_str().unwrap())
        .collect();
    assert!(no_echo.contains(&"XClientSecret"), "{no_echo:?}");
    // A value that carries a secret whatever the variable's name.
    let carries_a_secret = |value: &Value| {
        let text = yaml(value);
        text.contains("{{resolve:")
            || no_echo.iter().any(|p| {
                text.split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| w == *p)
            })
    };
    let secret_like = |name: &str| {
        let upper = name.to_ascii_uppercase();
        ["SECRET", "PASSWORD", "TOKEN"]
            .iter()
            .any(|w| upper.contains(w))
            // Where to find something (X_TOKEN_URL, a secret's ARN or name) is not the secret.
            && !["_URL", "_ARN", "_NAME"].iter().any(|s| upper.ends_with(s))
    };
    // The only acceptable value for such a variable: a reference to a Secrets Manager secret
    // (its ARN), which the code would read at run time. A literal, a parameter, a
    // `{{resolve:...}}` dynamic reference: all put the secret itself in the configuration.
    let refers_to_a_secret = |value: &Value| {
        let Value::Tagged(tagged) = value else {
            return false;
        };
        let target = match tagged.tag.to_string().as_str() {
            "!Ref" => tagged.value.as_str().map(str::to_owned),
            "!GetAtt" => tagged
                .value
                .as_str()
                .and_then(|s| s.split('.').next())
                .map(str::to_owned),
            _ => None,
        };
        target.is_some_and(|r| {
            t["Resources"][r.as_str()]["Type"].as_str() == Some("AWS::SecretsManager::Secret")
        })
    };
    let mut plain = Vec::new();
    let mut scopes: Vec<(&str, &Value)> = vec![(
        "Globals",
        &t["Globals"]["Function"]["Environment"]["Variables"],
    )];
    for f in FUNCTIONS {
        scopes.push((f, &properties(&t, f)["Environment"]["Variables"]));
    }
    let mut seen = 0;
    for (scope, vars) in scopes {
        let Some(vars) = vars.as_mapping() else {
            continue;
        };
        for (name, value) in vars {
            seen += 1;
            let name = name.as_str().unwrap();
            if (secret_like(name) && !refers_to_a_secret(value)) || carries_a_secret(value) {
                plain.push((scope, name));
            }
        }
    }
    assert!(
        seen > 20,
        "read only {seen} variables: the template's layout changed"
    );
    assert_eq!(
        plain,
        Vec::<(&str, &str)>::new(),
        "plain secrets in function environments"
    );
    // The checker itself: a literal or a parameter is plain, the locator of a token is not a
    // secret.
    assert!(secret_like("DB_PASSWORD") && secret_like("X_ACCESS_TOKEN"));
    assert!(!secret_like("X_TOKEN_URL") && !secret_like("CLIENT_SECRET_ARN"));
    assert!(!refers_to_a_secret(
        &serde_yaml::from_str::<Value>("!Ref XClientSecret").unwrap()
    ));
    assert!(!refers_to_a_secret(&Value::String("hunter2".into())));
    let parse = |s: &str| serde_yaml::from_str::<Value>(s).unwrap();
    assert!(carries_a_secret(&parse("!Ref XClientSecret")));
    assert!(carries_a_secret(&parse(
        "'{{resolve:secretsmanager:x:SecretString}}'"
    )));
    assert!(carries_a_secret(&parse("!Sub 'Basic ${XClientSecret}'")));
    assert!(!carries_a_secret(&parse("!Ref XOAuthClientSecret")));
    assert!(!carries_a_secret(&parse("!Ref XClientId")));
}

/// The secrets each function reads at cold start, by resource: the variable holding its ARN in
/// the function's environment, and the code that reads it.
/// - X_CLIENT_SECRET_ARN (`XConfig::read_client_secret`): api (revokes on disconnect),
///   oauth-callback (code exchange), process-upload (refreshes).
/// - PKCE_KEY_SECRET_ARN (`PkceKey::read`): api (the connect route) and oauth-callback only.
/// - GOOGLE_CLIENT_SECRET_ARN (`YouTubeConfig::read_client_secret`): the same three as X's, and
///   only while YouTube is on.
const SECRET_LOCATORS: [(&str, &str); 3] = [
    ("X_CLIENT_SECRET_ARN", "XOAuthClientSecret"),
    ("PKCE_KEY_SECRET_ARN", "PkceKeySecret"),
    ("GOOGLE_CLIENT_SECRET_ARN", "GoogleOAuthClientSecret"),
];

/// `value` as the `!Ref` it is, or as the `!Ref` it is while YouTube is on
/// (`!If [YouTubeEnabled, !Ref X, !Ref AWS::NoValue]`: nothing at all while it is off).
fn unless_youtube_off(value: &Value) -> &Value {
    match value {
        Value::Tagged(t) if t.tag == "!If" => {
            let branches = t.value.as_sequence().expect("!If [condition, then, else]");
            assert_eq!(branches[0].as_str(), Some("YouTubeEnabled"), "{value:?}");
            assert_eq!(yaml(&branches[2]), "!Ref AWS::NoValue", "{value:?}");
            &branches[1]
        }
        other => other,
    }
}

/// The resource names a `Resource` value refers to with `!Ref`; anything else (a wildcard, an
/// ARN pattern, `!Sub`) is refused here, since a secret's own ARN is what `!Ref` gives.
fn refs(resource: &Value, whose: &str) -> Vec<String> {
    let one = |v: &Value| match unless_youtube_off(v) {
        Value::Tagged(t) if t.tag == "!Ref" => t
            .value
            .as_str()
            .expect("a !Ref names a resource")
            .to_owned(),
        other => panic!("{whose}: a secret must be named by !Ref, not {other:?}"),
    };
    match resource {
        Value::Sequence(list) => list.iter().map(one).collect(),
        other => vec![one(other)],
    }
}

/// A function may read a secret only if it reads it (its ARN is in its environment, from the
/// variable its code reads), with GetSecretValue alone, on exactly that secret's ARN: no other
/// Secrets Manager action, no wildcard, no secret it does not use. The secrets use Secrets
/// Manager's AWS-managed key (no KmsKeyId), so no kms:Decrypt is granted for them (the KMS test
/// checks every KMS grant is on the tokens key).
#[test]
fn each_function_may_read_exactly_the_secrets_it_reads_and_nothing_broader() {
    let t = template();
    // The locators are the variables the code reads.
    let x_vars = reelay_shared::config::XConfig::VARS;
    let pkce_vars = reelay_shared::config::PkceConfig::VARS;
    assert!(x_vars.contains(&"X_CLIENT_SECRET_ARN") && !x_vars.contains(&"X_CLIENT_SECRET"));
    assert_eq!(pkce_vars, ["PKCE_KEY_SECRET_ARN"]);

    let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        (
            "ApiFunction",
            vec![
                "GoogleOAuthClientSecret",
                "PkceKeySecret",
                "XOAuthClientSecret",
            ],
        ),
        (
            "OAuthCallbackFunction",
            vec![
                "GoogleOAuthClientSecret",
                "PkceKeySecret",
                "XOAuthClientSecret",
            ],
        ),
        ("CreatePostFunction", vec![]),
        (
            "ProcessUploadFunction",
            vec!["GoogleOAuthClientSecret", "XOAuthClientSecret"],
        ),
        ("ReconcilerFunction", vec![]),
        ("FitVideoFunction", vec![]),
    ]);
    for (_, resource) in SECRET_LOCATORS {
        let secret = &t["Resources"][resource];
        assert_eq!(
            secret["Type"].as_str(),
            Some("AWS::SecretsManager::Secret"),
            "{resource}"
        );
        assert!(
            secret["Properties"]["KmsKeyId"].is_null(),
            "{resource}: the AWS-managed key, so that no role needs kms:Decrypt for it"
        );
    }
    assert_eq!(
        yaml(&properties(&t, "XOAuthClientSecret")["SecretString"]),
        "!Ref XClientSecret"
    );
    let generated = &properties(&t, "PkceKeySecret")["GenerateSecretString"];
    assert!(
        generated["PasswordLength"]
            .as_u64()
            .is_some_and(|n| n as usize >= reelay_shared::accounts::pkce::MIN_KEY_BYTES),
        "the PKCE key is generated at least as long as the code accepts"
    );

    for f in FUNCTIONS {
        let vars = &properties(&t, f)["Environment"]["Variables"];
        let mut located: Vec<String> = SECRET_LOCATORS
            .iter()
            .filter(|(var, _)| !vars[*var].is_null())
            .map(|(var, resource)| {
                assert_eq!(
                    yaml(unless_youtube_off(&vars[*var])),
                    format!("!Ref {resource}"),
                    "{f}: {var}"
                );
                resource.to_string()
            })
            .collect();
        located.sort();
        let mut granted = Vec::new();
        for statement in function_statements(&t, f) {
            let acts = actions(statement);
            let touches_secrets = acts.iter().any(|a| {
                a == "*"
                    || a.to_ascii_lowercase().starts_with("secretsmanager:")
                    || matches(a, "secretsmanager:GetSecretValue")
            });
            if !touches_secrets {
                continue;
            }
            assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{f}");
            assert_eq!(
                acts,
                ["secretsmanager:GetSecretValue"],
                "{f}: GetSecretValue only, in a statement of its own"
            );
            assert!(statement["Condition"].is_null() && statement["NotResource"].is_null());
            granted.extend(refs(&statement["Resource"], f));
        }
        granted.sort();
        for name in &granted {
            assert_eq!(
                t["Resources"][name.as_str()]["Type"].as_str(),
                Some("AWS::SecretsManager::Secret"),
                "{f}: GetSecretValue on {name}"
            );
        }
        assert_eq!(
            granted, located,
            "{f}: may read exactly the secrets whose ARNs it is given"
        );
        assert_eq!(granted, expected[f], "{f}");
    }
}

/// Each function may use the tokens key only as its code does, and only under a token's
/// encryption context. Where each use is:
/// - ApiFunction: `Connector::disconnect` (shared/src/accounts/connect.rs) decrypts the pair to
///   revoke it at X. It never encrypts: `Connector::start` stores no tokens.
/// - OAuthCallbackFunction: `Connector::complete` encrypts the pair X just issued, and decrypts
///   the pair a reconnect replaced to revoke it at X (`Connector::revoke_stored`); a refused
///   link revokes the pair it holds in memory.
/// - ProcessUploadFunction: `TokenProvider` (shared/src/accounts/tokens.rs) decrypts to post
///   and to refresh, and encrypts the rotated pair.
/// - CreatePostFunction, ReconcilerFunction and FitVideoFunction: no X, no tokens, no KMS (they
///   have no KMS_KEY_ID either).
#[test]
fn each_function_uses_the_tokens_key_only_as_its_code_does_and_only_under_the_token_context() {
    let t = template();
    let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("ApiFunction", vec!["kms:Decrypt"]),
        ("OAuthCallbackFunction", vec!["kms:Decrypt", "kms:Encrypt"]),
        ("CreatePostFunction", vec![]),
        ("ProcessUploadFunction", vec!["kms:Decrypt", "kms:Encrypt"]),
        ("ReconcilerFunction", vec![]),
        ("FitVideoFunction", vec![]),
    ]);
    let mut granted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for f in FUNCTIONS {
        let mut kms = Vec::new();
        for statement in function_statements(&t, f) {
            let these: Vec<_> = actions(statement)
                .into_iter()
                .filter(|a| a.to_ascii_lowercase().starts_with("kms:") || a == "*")
                .collect();
            if these.is_empty() {
                continue;
            }
            assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{f}");
            assert_eq!(
                yaml(&statement["Resource"]),
                "!GetAtt TokensKey.Arn",
                "{f}: KMS on the tokens key only"
            );
            assert_token_context(statement, f);
            kms.extend(these);
        }
        kms.sort();
        let uses_key = !properties(&t, f)["Environment"]["Variables"]["KMS_KEY_ID"].is_null();
        assert_eq!(
            uses_key,
            !kms.is_empty(),
            "{f}: KMS_KEY_ID set iff KMS is granted"
        );
        granted.insert(f, kms);
    }
    let expected: BTreeMap<&str, Vec<String>> = expected
        .into_iter()
        .map(|(f, a)| (f, a.into_iter().map(str::to_owned).collect()))
        .collect();
    assert_eq!(granted, expected, "KMS actions per function");
}

/// The key policy: the account administers the key but cannot use it (no `kms:*`); IAM policies
/// in the account may Encrypt/Decrypt only under a token's context. The key policy names the
/// account, not the roles (their policies reference the key: naming them would be a cycle).
#[test]
fn the_tokens_key_policy_separates_administration_from_use() {
    let t = template();
    let key = properties(&t, "TokensKey");
    assert_eq!(key["EnableKeyRotation"].as_bool(), Some(true));
    let statements = key["KeyPolicy"]["Statement"].as_sequence().unwrap();
    let mut use_statements = 0;
    for statement in statements {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{statement:?}");
        assert_eq!(
            yaml(&statement["Principal"]["AWS"]),
            "!Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:root",
            "{statement:?}"
        );
        let acts = actions(statement);
        let uses: Vec<_> = KMS_USE
            .iter()
            .filter(|u| acts.iter().any(|a| matches(a, u)))
            .collect();
        if uses.is_empty() {
            continue;
        }
        use_statements += 1;
        assert_eq!(
            acts,
            ["kms:Encrypt", "kms:Decrypt"],
            "{:?}: only Encrypt and Decrypt are used, and only in a statement of their own",
            statement["Sid"]
        );
        assert_token_context(statement, "the key policy");
    }
    assert_eq!(
        use_statements, 1,
        "one statement lets the account's IAM policies use the key"
    );
    let admin = statements
        .iter()
        .find(|s| s["Sid"].as_str() == Some("AccountAdministersOnly"))
        .expect("an administration statement");
    for needed in [
        "kms:PutKeyPolicy",
        "kms:ScheduleKeyDeletion",
        "kms:DescribeKey",
    ] {
        assert!(
            actions(admin).iter().any(|a| matches(a, needed)),
            "the account must keep {needed} (or the key becomes unmanageable)"
        );
    }
    // The matcher itself.
    assert!(matches("kms:*", "kms:Decrypt") && matches("kms:Re*", "kms:ReEncryptFrom"));
    assert!(!matches("kms:Get*", "kms:GenerateDataKey"));
}

/// Every function's log group exists with the configured retention, and the HTTP API logs its
/// requests (no headers, no path or query string) and is throttled.
#[test]
fn logs_are_kept_for_a_set_time_and_the_http_api_is_logged_and_throttled() {
    let t = template();
    let retention = &t["Parameters"]["LogRetentionDays"];
    assert_eq!(retention["Default"].as_u64(), Some(30));
    let allowed: Vec<u64> = retention["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(allowed.contains(&30) && allowed.contains(&365) && allowed.len() > 10);

    let log_groups: Vec<&Value> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Logs::LogGroup"))
        .map(|r| &r["Properties"])
        .collect();
    for group in &log_groups {
        assert_eq!(
            yaml(&group["RetentionInDays"]),
            "!Ref LogRetentionDays",
            "{group:?}"
        );
    }
    for f in FUNCTIONS {
        let name = format!("!Sub /aws/lambda/${{{f}}}");
        assert!(
            log_groups.iter().any(|g| yaml(&g["LogGroupName"]) == name),
            "{f} has no log group named {name}"
        );
    }

    let stage = properties(&t, "HttpApiStage");
    assert_eq!(yaml(&stage["ApiId"]), "!Ref HttpApi");
    assert_eq!(stage["StageName"].as_str(), Some("$default"));
    let destination = yaml(&stage["AccessLogSettings"]["DestinationArn"]);
    let group = destination
        .strip_prefix("!GetAtt ")
        .and_then(|d| d.strip_suffix(".Arn"))
        .unwrap_or_else(|| panic!("access logs go to {destination}"));
    assert_eq!(
        t["Resources"][group]["Type"].as_str(),
        Some("AWS::Logs::LogGroup")
    );
    let format = stage["AccessLogSettings"]["Format"].as_str().unwrap();
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(format).expect("the access log format is JSON");
    for field in ["requestId", "ip", "routeKey", "status", "responseLength"] {
        assert!(fields.contains_key(field), "access logs lack {field}");
    }
    for forbidden in [
        "header",
        "authorization",
        "querystring",
        "$context.path",
        "$request",
        "$input",
    ] {
        assert!(
            !format
                .to_ascii_lowercase()
                .contains(&forbidden.to_ascii_lowercase()),
            "access logs must not record {forbidden}: {format}"
        );
    }

    let throttling = &stage["DefaultRouteSettings"];
    for (setting, parameter) in [
        ("ThrottlingBurstLimit", "ApiThrottlingBurstLimit"),
        ("ThrottlingRateLimit", "ApiThrottlingRateLimit"),
    ] {
        assert_eq!(yaml(&throttling[setting]), format!("!Ref {parameter}"));
        let default = t["Parameters"][parameter]["Default"].as_u64();
        assert!(
            default.is_some_and(|d| (1..=1000).contains(&d)),
            "{parameter} needs a modest default, not {default:?}"
        );
    }
}

/// S3 invokes create-post asynchronously: an event it cannot handle goes to an encrypted queue
/// with an alarm, instead of leaving the post awaiting_upload silently.
#[test]
fn create_post_failures_land_on_an_encrypted_queue_that_alarms() {
    let t = template();
    let on_failure = &properties(&t, "CreatePostFunction")["EventInvokeConfig"]
        ["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"].as_str(), Some("SQS"));
    assert_eq!(
        yaml(&on_failure["Destination"]),
        "!GetAtt CreatePostFailuresQueue.Arn"
    );
    let queue = &t["Resources"]["CreatePostFailuresQueue"];
    assert_eq!(queue["Type"].as_str(), Some("AWS::SQS::Queue"));
    assert_eq!(
        queue["Properties"]["SqsManagedSseEnabled"].as_bool(),
        Some(true)
    );

    let alarm = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| {
            r["Type"].as_str() == Some("AWS::CloudWatch::Alarm")
                && yaml(&r["Properties"]["Dimensions"][0]["Value"])
                    == "!GetAtt CreatePostFailuresQueue.QueueName"
        })
        .expect("an alarm on CreatePostFailuresQueue");
    let p = &alarm["Properties"];
    assert_eq!(
        p["MetricName"].as_str(),
        Some("ApproximateNumberOfMessagesVisible")
    );
    assert_eq!(
        p["ComparisonOperator"].as_str(),
        Some("GreaterThanThreshold")
    );
    assert_eq!(p["Threshold"].as_u64(), Some(0));
}

/// The console's URL in AWS, as the template spells it (its outputs, the client's callback).
const CONSOLE_URL: &str = "!Sub https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com/";

/// Browsers may POST upload forms to the bucket only from the console's origin and the operator's
/// AppOrigins, never any origin, and with no other method.
#[test]
fn the_bucket_admits_browser_uploads_only_from_the_console_and_the_app_s_origins() {
    let t = template();
    let parameter = &t["Parameters"]["AppOrigins"];
    assert_eq!(parameter["Type"].as_str(), Some("CommaDelimitedList"));
    let rules = properties(&t, "UploadsBucket")["CorsConfiguration"]["CorsRules"]
        .as_sequence()
        .expect("CORS rules");
    assert_eq!(rules.len(), 2, "{rules:?}");
    // The console's origin: its URL without the trailing slash (an origin has no path).
    let console = &rules[0];
    let origin = CONSOLE_URL.strip_suffix('/').unwrap();
    assert_eq!(yaml(&console["AllowedOrigins"]), format!("- {origin}"));
    // !If [HasAppOrigins, {rule}, !Ref AWS::NoValue]: no AppOrigins, no second rule.
    let app = &rules[1];
    assert_eq!(app[0].as_str(), Some("HasAppOrigins"));
    assert_eq!(yaml(&app[2]), "!Ref AWS::NoValue");
    assert_eq!(yaml(&app[1]["AllowedOrigins"]), "!Ref AppOrigins");
    for rule in [console, &app[1]] {
        assert_eq!(yaml(&rule["AllowedMethods"]), "- POST");
        assert!(
            !yaml(&rule["AllowedOrigins"]).contains('*'),
            "no wildcard origin"
        );
    }
    assert_eq!(
        yaml(&t["Conditions"]["HasAppOrigins"]),
        yaml(
            &serde_yaml::from_str::<Value>(r#"!Not [!Equals [!Join [",", !Ref AppOrigins], ""]]"#)
                .unwrap()
        ),
        "the second rule exists only when AppOrigins is not empty"
    );
}

fn parse(s: &str) -> Value {
    serde_yaml::from_str(s).unwrap()
}

/// Every route but the OAuth callback and the console's four GET routes needs a user token; the
/// open ones are GET only; the API's catch-all needs the JWT authorizer.
#[test]
fn only_the_console_s_get_routes_and_the_callback_are_open() {
    let t = template();
    let mut open = Vec::new();
    let mut guarded = Vec::new();
    for (_, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::ApiGatewayV2::Route") {
            continue;
        }
        let p = &r["Properties"];
        let key = p["RouteKey"].as_str().unwrap().to_owned();
        match p["AuthorizationType"].as_str() {
            Some("NONE") => {
                assert!(p["AuthorizerId"].is_null(), "{key}");
                open.push(key);
            }
            Some("JWT") => {
                assert_eq!(yaml(&p["AuthorizerId"]), "!Ref UserJwtAuthorizer", "{key}");
                guarded.push(key);
            }
            other => panic!("{key}: authorization {other:?}"),
        }
    }
    open.sort();
    assert_eq!(
        open,
        [
            "GET /",
            "GET /api/auth/platforms/twitter/callback",
            "GET /api/auth/platforms/youtube/callback",
            "GET /api/console/config",
            "GET /assets/{proxy+}",
            "GET /vendor/{proxy+}",
        ]
    );
    assert_eq!(guarded, ["ANY /api/{proxy+}"]);
    // No SAM function event adds a route behind the template's back.
    for f in FUNCTIONS {
        if let Some(events) = properties(&t, f)["Events"].as_mapping() {
            for (name, e) in events {
                assert_ne!(e["Type"].as_str(), Some("HttpApi"), "{f}: {name:?}");
            }
        }
    }
}

/// Issue 13, item 3: without an external issuer the template makes a Cognito user pool, its
/// hosted UI and the console's public client, and the HTTP API's JWT authorizer accepts exactly
/// that pool's tokens for that client; with one, the operator's settings.
#[test]
fn the_console_signs_in_with_the_template_s_cognito_pool_unless_an_issuer_is_given() {
    let t = template();
    for p in [
        "JwtIssuer",
        "JwtAudience",
        "ConsoleSignInUrl",
        "ConsoleClientId",
    ] {
        assert_eq!(
            t["Parameters"][p]["Default"].as_str(),
            Some(""),
            "{p} is optional"
        );
    }
    assert_eq!(
        t["Conditions"]["CreateUserPool"],
        parse(r#"!Equals [!Ref JwtIssuer, ""]"#)
    );
    for r in ["UserPool", "UserPoolDomain", "ConsoleClient"] {
        assert_eq!(
            t["Resources"][r]["Condition"].as_str(),
            Some("CreateUserPool"),
            "{r}"
        );
    }

    let pool = properties(&t, "UserPool");
    assert_eq!(
        pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"].as_bool(),
        Some(true),
        "no self sign-up"
    );
    let client = properties(&t, "ConsoleClient");
    assert_eq!(yaml(&client["UserPoolId"]), "!Ref UserPool");
    assert_eq!(client["GenerateSecret"].as_bool(), Some(false), "public");
    assert_eq!(
        client["AllowedOAuthFlowsUserPoolClient"].as_bool(),
        Some(true)
    );
    assert_eq!(yaml(&client["AllowedOAuthFlows"]), "- code");
    assert_eq!(yaml(&client["AllowedOAuthScopes"]), "- openid");
    assert_eq!(yaml(&client["SupportedIdentityProviders"]), "- COGNITO");
    for urls in ["CallbackURLs", "LogoutURLs"] {
        assert_eq!(yaml(&client[urls]), format!("- {CONSOLE_URL}"), "{urls}");
    }
    // The hosted UI alone signs users in: no password flow for the client itself.
    assert_eq!(
        yaml(&client["ExplicitAuthFlows"]),
        "- ALLOW_REFRESH_TOKEN_AUTH"
    );
    assert_eq!(
        yaml(&properties(&t, "UserPoolDomain")["UserPoolId"]),
        "!Ref UserPool"
    );

    let authorizer = properties(&t, "UserJwtAuthorizer");
    assert_eq!(authorizer["AuthorizerType"].as_str(), Some("JWT"));
    assert_eq!(yaml(&authorizer["ApiId"]), "!Ref HttpApi");
    assert_eq!(
        yaml(&authorizer["IdentitySource"]),
        "- $request.header.Authorization"
    );
    let jwt = &authorizer["JwtConfiguration"];
    assert_eq!(
        jwt["Issuer"],
        parse(
            r#"!If [CreateUserPool, !Sub "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}", !Ref JwtIssuer]"#
        )
    );
    // Cognito's access tokens have client_id and no aud: API Gateway then checks client_id.
    assert_eq!(
        jwt["Audience"],
        parse("!If [CreateUserPool, [!Ref ConsoleClient], !Ref JwtAudience]")
    );

    // What the console is told (GET /api/console/config), and where connecting X may return.
    let api_env = &properties(&t, "ApiFunction")["Environment"]["Variables"];
    assert_eq!(
        api_env["CONSOLE_SIGN_IN_URL"],
        parse(
            r#"!If [CreateUserPool, !Sub "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com", !Ref ConsoleSignInUrl]"#
        )
    );
    assert_eq!(
        api_env["CONSOLE_CLIENT_ID"],
        parse("!If [CreateUserPool, !Ref ConsoleClient, !Ref ConsoleClientId]")
    );
    for f in ["ApiFunction", "OAuthCallbackFunction"] {
        let urls = yaml(&properties(&t, f)["Environment"]["Variables"]["CONNECT_RETURN_URLS"]);
        assert!(
            urls.contains(CONSOLE_URL.strip_prefix("!Sub ").unwrap()),
            "{f}: the console is not a return URL: {urls}"
        );
    }
    let outputs = &t["Outputs"];
    assert_eq!(yaml(&outputs["ConsoleUrl"]["Value"]), CONSOLE_URL);
    assert_eq!(
        outputs["SignInUrl"]["Value"],
        api_env["CONSOLE_SIGN_IN_URL"]
    );
    assert_eq!(yaml(&outputs["UserPoolId"]["Value"]), "!Ref UserPool");
}

/// Fair worker slots (issue 12, item 4): one user's jobs can never fill the worker. A user has at
/// most `MaxUploadsInFlight` posts in flight (`quota::reserve`, exact under concurrency: see
/// `tests/posts.rs::a_burst_of_concurrent_creates_never_passes_a_limit`), a post has one job per
/// platform, and a job is driven by one message at a time; so the parameter's largest value times
/// the platforms must stay below the worker's `MaximumConcurrency`.
#[test]
fn one_user_s_uploads_can_never_take_every_worker_slot() {
    let t = template();
    let parameter = &t["Parameters"]["MaxUploadsInFlight"];
    let max_in_flight = parameter["MaxValue"]
        .as_u64()
        .expect("MaxUploadsInFlight has a MaxValue");
    let default = parameter["Default"].as_u64().expect("a default");
    assert!(
        (1..=max_in_flight).contains(&default),
        "{}",
        yaml(parameter)
    );
    let worker = properties(&t, "ProcessUploadFunction");
    let concurrency = worker["Events"]["Work"]["Properties"]["ScalingConfig"]["MaximumConcurrency"]
        .as_u64()
        .expect("the worker's SQS event sets MaximumConcurrency");
    // Jobs per post: at most one per platform; only X's target is ever fitted.
    let jobs_per_post = Platform::ALL.len() as u64;
    let fit_jobs_per_post = 1;
    assert!(
        max_in_flight * jobs_per_post < concurrency,
        "one user could hold {} of {concurrency} worker slots",
        max_in_flight * jobs_per_post
    );
    // The same holds for conversions (issue 14): a job is on the fit queue or the work queue.
    let fit = properties(&t, "FitVideoFunction")["Events"]["Fit"]["Properties"]["ScalingConfig"]
        ["MaximumConcurrency"]
        .as_u64()
        .expect("fit-video's SQS event sets MaximumConcurrency");
    assert!(
        max_in_flight * fit_jobs_per_post < fit,
        "one user could hold {} of {fit} conversion slots",
        max_in_flight * fit_jobs_per_post
    );
    // The API reads the same limit the template bounds.
    let api_env = &properties(&t, "ApiFunction")["Environment"]["Variables"];
    assert_eq!(
        yaml(&api_env["MAX_UPLOADS_IN_FLIGHT"]),
        "!Ref MaxUploadsInFlight"
    );
}

/// The (action, resource) pairs a function's policies grant, resources as YAML text.
fn grants(t: &Value, function: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for statement in function_statements(t, function) {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{function}");
        assert!(
            statement["NotAction"].is_null() && statement["NotResource"].is_null(),
            "{function}: {statement:?}"
        );
        let resources: Vec<String> = match &statement["Resource"] {
            Value::Sequence(list) => list.iter().map(yaml).collect(),
            one => vec![yaml(one)],
        };
        for action in actions(statement) {
            for resource in &resources {
                pairs.push((action.clone(), resource.clone()));
            }
        }
    }
    pairs.sort();
    pairs
}

/// An object ARN under a prefix of the uploads bucket, as the functions' policies spell it (the
/// bucket's name, not its ARN: the bucket's notification names create-post, so a reference
/// would be circular).
fn bucket_objects(prefix: &str) -> String {
    format!("!Sub arn:${{AWS::Partition}}:s3:::${{AWS::StackName}}-uploads-${{AWS::AccountId}}/{prefix}*")
}

/// Issue 14: fit-video converts videos with ffmpeg and writes the result under fitted/. Its role
/// may read the job and the upload, write under fitted/ only, and send work messages: no X
/// tokens (KMS), no secrets, no operator alerts, no other prefix, no delete. Only its role may
/// write under fitted/ (process-upload sends what is there to X as it is), process-upload may
/// read there, and the MP4s expire as the uploads do.
#[test]
fn fit_video_reads_uploads_and_writes_only_fitted_videos() {
    let t = template();
    let f = properties(&t, "FitVideoFunction");
    let pair = |a: &str, r: &str| (a.to_owned(), r.to_owned());
    let mut expected = vec![
        pair("dynamodb:GetItem", "!GetAtt Table.Arn"),
        pair("dynamodb:PutItem", "!GetAtt Table.Arn"),
        pair("dynamodb:Query", "!GetAtt Table.Arn"),
        pair("s3:GetObject", &bucket_objects(bucket::UPLOAD_PREFIX)),
        pair("s3:PutObject", &bucket_objects(bucket::FITTED_PREFIX)),
        pair("sqs:SendMessage", "!GetAtt WorkQueue.Arn"),
    ];
    expected.sort();
    let granted = grants(&t, "FitVideoFunction");
    assert_eq!(granted, expected, "fit-video's permissions");
    // What the exact list above means, spelled out so that a change to it is a decision.
    for (action, resource) in &granted {
        let service = action.split(':').next().unwrap().to_ascii_lowercase();
        assert!(
            ["dynamodb", "s3", "sqs"].contains(&service.as_str()) && !action.contains('*'),
            "fit-video may not {action}"
        );
        let writes = ["s3:PutObject", "s3:DeleteObject", "s3:PutObjectAcl"]
            .iter()
            .any(|w| matches(action, w));
        if writes {
            assert_eq!(
                (action.as_str(), resource.as_str()),
                (
                    "s3:PutObject",
                    bucket_objects(bucket::FITTED_PREFIX).as_str()
                ),
                "fit-video writes only new objects under {}",
                bucket::FITTED_PREFIX
            );
        }
    }
    // No locator of anything it may not use: X, tokens, secrets, alerts.
    let vars: Vec<&str> = f["Environment"]["Variables"]
        .as_mapping()
        .expect("fit-video's environment")
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    for var in &vars {
        assert!(
            !(var.starts_with("X_")
                || var.contains("KMS")
                || var.contains("SECRET")
                || var.contains("TOPIC")
                || var.contains("PKCE")),
            "fit-video has {var}"
        );
    }
    assert_eq!(
        yaml(&f["Environment"]["Variables"]["QUEUE_URL"]),
        "!Ref WorkQueue",
        "fit-video hands each job to the worker"
    );
    assert_eq!(
        f["Environment"]["Variables"]["SEGMENT_SIZE_BYTES"],
        properties(&t, "CreatePostFunction")["Environment"]["Variables"]["SEGMENT_SIZE_BYTES"],
        "converted and unconverted videos are uploaded in segments of one size"
    );
    // SAM names its role FitVideoFunctionRole, which the bucket policy names.
    assert!(f["Role"].is_null());

    // The bucket: only fit-video's role writes under fitted/; nothing in the policy stops it
    // (or process-upload's reads) but TLS.
    let policy = &properties(&t, "UploadsBucketPolicy")["PolicyDocument"]["Statement"];
    let fitted_arn = format!("!Sub ${{UploadsBucket.Arn}}/{}*", bucket::FITTED_PREFIX);
    let guard = policy
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| yaml(&s["Resource"]) == fitted_arn)
        .expect("a bucket policy statement on fitted/");
    assert_eq!(guard["Effect"].as_str(), Some("Deny"));
    assert_eq!(guard["Principal"].as_str(), Some("*"));
    assert_eq!(guard["Action"].as_str(), Some("s3:PutObject"));
    assert_eq!(
        yaml(&guard["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]),
        "!GetAtt FitVideoFunctionRole.Arn"
    );
    for s in policy.as_sequence().unwrap() {
        let sid = s["Sid"].as_str().unwrap_or_default();
        let on_fitted = yaml(&s["Resource"]).contains(bucket::FITTED_PREFIX)
            || yaml(&s["Resource"]).contains("UploadsBucket.Arn}/*");
        if on_fitted && sid != guard["Sid"].as_str().unwrap() {
            assert_eq!(
                sid, "DenyInsecureTransport",
                "{s:?} also applies under fitted/"
            );
        }
    }
    assert!(
        grants(&t, "ProcessUploadFunction").contains(&(
            "s3:GetObject".to_owned(),
            bucket_objects(bucket::FITTED_PREFIX)
        )),
        "process-upload must read the fitted videos"
    );
    for other in FUNCTIONS.iter().filter(|f| **f != "FitVideoFunction") {
        assert!(
            grants(&t, other)
                .iter()
                .all(|(a, r)| !(r.contains(bucket::FITTED_PREFIX) && a != "s3:GetObject")),
            "{other} may do more than read under {}",
            bucket::FITTED_PREFIX
        );
    }
    let rules = &properties(&t, "UploadsBucket")["LifecycleConfiguration"]["Rules"];
    let expiry = |prefix: &str| {
        rules
            .as_sequence()
            .unwrap()
            .iter()
            .find(|r| r["Prefix"].as_str() == Some(prefix))
            .map(|r| {
                (
                    r["Status"].as_str().unwrap_or_default().to_owned(),
                    r["ExpirationInDays"].as_u64(),
                    r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"].as_u64(),
                )
            })
            .unwrap_or_else(|| panic!("no lifecycle rule for {prefix}"))
    };
    assert_eq!(
        expiry(bucket::FITTED_PREFIX),
        expiry(bucket::UPLOAD_PREFIX),
        "fitted videos expire as the uploads do"
    );
}

/// Issue 14: the fit queue. Lambda refuses an SQS event source whose visibility timeout is below
/// the function's timeout, and a conversion's message must not reappear while the conversion
/// still runs; its dead letters go to the DLQ the reconciler drains (which fails the job with a
/// reason), not to a queue nobody reads. The template matches `reelay_shared::resources`.
#[test]
fn the_fit_queue_outlasts_a_conversion_and_dead_letters_where_the_reconciler_drains() {
    let t = template();
    let function = properties(&t, "FitVideoFunction");
    let queue = properties(&t, "FitQueue");
    let timeout = function["Timeout"].as_u64().expect("fit-video's Timeout");
    let visibility = queue["VisibilityTimeout"]
        .as_u64()
        .expect("FitQueue's VisibilityTimeout");
    assert!(
        visibility >= timeout,
        "FitQueue hides a message {visibility} s, fit-video may run {timeout} s"
    );
    assert!(timeout <= 900, "Lambda's longest timeout is 900 s");
    assert_eq!(timeout, u64::from(fit_queue::TIMEOUT_SECS));
    assert_eq!(visibility, u64::from(fit_queue::VISIBILITY_TIMEOUT_SECS));
    assert_eq!(
        queue["RedrivePolicy"]["maxReceiveCount"].as_u64(),
        Some(fit_queue::MAX_RECEIVE_COUNT.into())
    );
    assert_eq!(queue["SqsManagedSseEnabled"].as_bool(), Some(true));

    // The DLQ: the one the reconciler is told of (DLQ_URL) and may drain.
    let dead_letters = yaml(&queue["RedrivePolicy"]["deadLetterTargetArn"]);
    let dlq = dead_letters
        .strip_prefix("!GetAtt ")
        .and_then(|d| d.strip_suffix(".Arn"))
        .unwrap_or_else(|| panic!("FitQueue redrives to {dead_letters}"));
    let reconciler = properties(&t, "ReconcilerFunction");
    assert_eq!(
        yaml(&reconciler["Environment"]["Variables"]["DLQ_URL"]),
        format!("!Ref {dlq}")
    );
    let reconciler_grants = grants(&t, "ReconcilerFunction");
    for action in ["sqs:ReceiveMessage", "sqs:DeleteMessage"] {
        assert!(
            reconciler_grants.contains(&(action.to_owned(), dead_letters.clone())),
            "the reconciler cannot {action} on {dlq}, where FitQueue's dead letters go"
        );
    }
    assert_eq!(
        yaml(&properties(&t, "WorkQueue")["RedrivePolicy"]["deadLetterTargetArn"]),
        dead_letters,
        "both queues' dead letters in the one DLQ"
    );

    // fit-video is the queue's consumer, one message at a time, reporting failures per message.
    let events = function["Events"].as_mapping().expect("fit-video's events");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &function["Events"]["Fit"];
    assert_eq!(event["Type"].as_str(), Some("SQS"));
    let p = &event["Properties"];
    assert_eq!(yaml(&p["Queue"]), "!GetAtt FitQueue.Arn");
    assert_eq!(p["BatchSize"].as_u64(), Some(1));
    assert_eq!(
        yaml(&p["FunctionResponseTypes"]),
        "- ReportBatchItemFailures"
    );

    // Who enqueues conversions: create-post (new posts), the API (retries), the reconciler
    // (lost messages); each is told the queue and may send to it, and nobody else may.
    let senders = ["ApiFunction", "CreatePostFunction", "ReconcilerFunction"];
    for f in FUNCTIONS {
        let may_send = grants(&t, f).contains(&(
            "sqs:SendMessage".to_owned(),
            "!GetAtt FitQueue.Arn".to_owned(),
        ));
        let told = &properties(&t, f)["Environment"]["Variables"]["FIT_QUEUE_URL"];
        if senders.contains(&f) {
            assert!(may_send, "{f} may not send to FitQueue");
            assert_eq!(yaml(told), "!Ref FitQueue", "{f}'s FIT_QUEUE_URL");
        } else {
            assert!(!may_send, "{f} may send to FitQueue");
            assert!(told.is_null(), "{f} is told FIT_QUEUE_URL");
        }
    }
}

/// Issue 14: fit-video is a container image built from functions/fit-video/Dockerfile with the
/// repository as context (the workspace builds it), whose binaries are where the function's
/// environment says, and whose entrypoint is the fit-video binary itself (lambda_runtime is its
/// runtime interface client).
#[test]
fn fit_video_s_image_puts_the_binaries_where_the_function_looks() {
    let t = template();
    let resource = &t["Resources"]["FitVideoFunction"];
    let f = &resource["Properties"];
    assert_eq!(f["PackageType"].as_str(), Some("Image"));
    for zip_only in ["Runtime", "Handler", "Layers", "CodeUri"] {
        assert!(f[zip_only].is_null(), "an image function has no {zip_only}");
        assert!(
            t["Globals"]["Function"][zip_only].is_null(),
            "Globals' {zip_only} would reach the image function"
        );
    }
    let metadata = &resource["Metadata"];
    assert_eq!(metadata["DockerContext"].as_str(), Some("."));
    let path = metadata["Dockerfile"]
        .as_str()
        .expect("Metadata.Dockerfile");
    let dockerfile = std::fs::read_to_string(reelay_local::moto::repo_root().join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    // Instructions, with continuation lines joined and comments dropped.
    let text = dockerfile
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", " ");
    let env_of = |name: &str| -> Option<String> {
        text.lines()
            .filter(|l| l.trim_start().starts_with("ENV "))
            .flat_map(|l| l.split_whitespace().skip(1))
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
    };
    let vars = &f["Environment"]["Variables"];
    for var in ["FFMPEG_PATH", "FFPROBE_PATH"] {
        let in_template = vars[var].as_str().unwrap_or_else(|| panic!("{var} unset"));
        assert_eq!(
            env_of(var).as_deref(),
            Some(in_template),
            "{var}: the template and {path} disagree"
        );
    }
    assert!(
        text.contains("cargo build --release -p reelay-fit-video --locked"),
        "{path} builds the fit-video binary"
    );
    let entrypoint = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("ENTRYPOINT"))
        .expect("an ENTRYPOINT");
    assert!(
        entrypoint.contains(r#"["/usr/local/bin/reelay-fit-video"]"#),
        "{entrypoint}"
    );
    // The final stage runs a glibc binary linked in the build stage: the same Debian release.
    // `rust:1.95-slim-trixie AS build` and `debian:trixie-slim` name it last and first.
    let images: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("FROM "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let (build, run) = (images[0], images[images.len() - 1]);
    let build_release = build
        .strip_prefix("rust:")
        .and_then(|t| t.rsplit('-').next());
    let run_release = run
        .strip_prefix("debian:")
        .and_then(|t| t.split('-').next());
    assert!(
        build_release.is_some() && build_release == run_release,
        "build and final stage on different Debian releases: {images:?}"
    );
    assert!(
        images
            .iter()
            .any(|i| i.starts_with("mwader/static-ffmpeg:") && !i.ends_with(":latest")),
        "ffmpeg pinned by tag: {images:?}"
    );
    // x264 uses every core it is given: Lambda gives one vCPU per 1769 MB of memory.
    let memory = f["MemorySize"].as_u64().expect("fit-video's MemorySize");
    assert!(
        memory >= 2 * 1769,
        "fit-video gets {memory} MB, under two vCPUs"
    );
    let storage = f["EphemeralStorage"]["Size"]
        .as_u64()
        .expect("its /tmp size");
    assert!(
        (512..=10240).contains(&storage) && storage > 512,
        "/tmp of {storage} MB"
    );
    assert_eq!(
        vars["FIT_WORK_DIR"].as_str(),
        Some("/tmp"),
        "Lambda's only writable place"
    );
}

/// Issue 15, scheduled posts: a post's job waits for its time in a one-time schedule of the
/// stack's own group, which EventBridge Scheduler runs as `SchedulerRole`. That role may only
/// send to the work queue, and only schedules of this account's group may assume it (the
/// confused-deputy conditions AWS recommends). Only process-upload sets, moves and removes
/// those schedules, only in that group, and may hand them that role and no other.
#[test]
fn wake_up_schedules_are_process_upload_s_alone_and_may_only_send_to_the_work_queue() {
    let t = template();
    assert_eq!(
        t["Resources"]["WakeUpScheduleGroup"]["Type"].as_str(),
        Some("AWS::Scheduler::ScheduleGroup")
    );

    // The role: trusted by EventBridge Scheduler, for this account's wake-up group only.
    assert_eq!(
        t["Resources"]["SchedulerRole"]["Type"].as_str(),
        Some("AWS::IAM::Role")
    );
    let role = properties(&t, "SchedulerRole");
    let trust = role["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .expect("a trust policy");
    assert_eq!(trust.len(), 1, "{trust:?}");
    let trust = &trust[0];
    assert_eq!(trust["Effect"].as_str(), Some("Allow"));
    assert_eq!(
        yaml(&trust["Principal"]),
        "Service: scheduler.amazonaws.com",
        "EventBridge Scheduler alone"
    );
    assert_eq!(actions(trust), ["sts:AssumeRole"]);
    assert_eq!(
        yaml(&trust["Condition"]["StringEquals"]["aws:SourceAccount"]),
        "!Ref AWS::AccountId"
    );
    assert_eq!(
        yaml(&trust["Condition"]["ArnEquals"]["aws:SourceArn"]),
        "!GetAtt WakeUpScheduleGroup.Arn"
    );
    // What it may do: send to the work queue, nothing else.
    assert!(role["ManagedPolicyArns"].is_null() && role["PermissionsBoundary"].is_null());
    let mut role_grants = Vec::new();
    for policy in role["Policies"].as_sequence().expect("inline policies") {
        for s in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
            assert_eq!(s["Effect"].as_str(), Some("Allow"), "{s:?}");
            assert!(s["NotAction"].is_null() && s["NotResource"].is_null());
            for a in actions(s) {
                role_grants.push((a, yaml(&s["Resource"])));
            }
        }
    }
    assert_eq!(
        role_grants,
        [(
            "sqs:SendMessage".to_owned(),
            "!GetAtt WorkQueue.Arn".to_owned()
        )]
    );
    // The work queue uses SQS's own key: sending needs no KMS grant. A customer key would.
    let queue = properties(&t, "WorkQueue");
    assert_eq!(queue["SqsManagedSseEnabled"].as_bool(), Some(true));
    assert!(
        queue["KmsMasterKeyId"].is_null(),
        "a customer key: SchedulerRole needs kms:GenerateDataKey and kms:Decrypt on it"
    );

    // process-upload: the schedule actions in its group, and passing that role to the scheduler.
    let pair = |a: &str, r: &str| (a.to_owned(), r.to_owned());
    let schedules = "!Sub arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${WakeUpScheduleGroup}/*";
    let expected = vec![
        pair("iam:PassRole", "!GetAtt SchedulerRole.Arn"),
        pair("scheduler:CreateSchedule", schedules),
        pair("scheduler:DeleteSchedule", schedules),
        pair("scheduler:UpdateSchedule", schedules),
    ];
    let scheduling = |f: &str| -> Vec<(String, String)> {
        grants(&t, f)
            .into_iter()
            .filter(|(a, _)| {
                let a = a.to_ascii_lowercase();
                a.starts_with("scheduler:") || a.starts_with("iam:") || a == "*"
            })
            .collect()
    };
    assert_eq!(scheduling("ProcessUploadFunction"), expected);
    let pass_role = function_statements(&t, "ProcessUploadFunction")
        .into_iter()
        .find(|s| actions(s).iter().any(|a| a == "iam:PassRole"))
        .unwrap();
    assert_eq!(
        actions(pass_role),
        ["iam:PassRole"],
        "in a statement of its own"
    );
    assert_eq!(
        yaml(&pass_role["Condition"]),
        "StringEquals:\n  iam:PassedToService: scheduler.amazonaws.com",
        "the role goes to EventBridge Scheduler only"
    );
    let env = &properties(&t, "ProcessUploadFunction")["Environment"]["Variables"];
    let told: Vec<(&str, String)> = reelay_shared::config::SchedulerConfig::VARS
        .iter()
        .map(|v| (*v, yaml(&env[*v])))
        .collect();
    assert_eq!(
        told,
        [
            ("SCHEDULE_GROUP_NAME", "!Ref WakeUpScheduleGroup".to_owned()),
            ("SCHEDULER_ROLE_ARN", "!GetAtt SchedulerRole.Arn".to_owned()),
            ("WORK_QUEUE_ARN", "!GetAtt WorkQueue.Arn".to_owned()),
        ]
    );

    // Nobody else schedules, passes roles, or is told of the group.
    for f in FUNCTIONS.iter().filter(|f| **f != "ProcessUploadFunction") {
        assert_eq!(scheduling(f), [], "{f}");
        let vars = &properties(&t, f)["Environment"]["Variables"];
        for var in reelay_shared::config::SchedulerConfig::VARS {
            assert!(vars[*var].is_null(), "{f} is told {var}");
        }
    }
}
