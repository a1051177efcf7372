//! Issue 12, acceptance: "no unused action per function (each allowed action is used by that
//! function's code)". `make test` runs every test with `REELAY_IAM_USAGE_DIR` set, so each
//! function's SDK calls are recorded as IAM actions (`reelay_local::iam_usage`); this test, run
//! after them (`--ignored`), compares the union with each function's policy in template.yaml:
//! - an action a function called that its policy does not allow would fail in AWS;
//! - an action its policy allows that no test saw it call is a grant nobody needs.
//!
//! An action IAM asks for beside the call's own is recorded with it: `iam:PassRole` with each
//! EventBridge schedule whose target names a role (process-upload's wake-ups, issue 15).
//!
//! Actions only: which table index, key, queue or secret a statement names is checked by
//! `template_security.rs`. Permissions SAM adds for event sources and destinations are the
//! Lambda service's own and are not in `Policies`, so not here.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

const FUNCTIONS: [&str; 6] = [
    "ApiFunction",
    "OAuthCallbackFunction",
    "CreatePostFunction",
    "ProcessUploadFunction",
    "ReconcilerFunction",
    "FitVideoFunction",
];

/// Grants used through a signature rather than a call, so no SDK call records them: the API signs
/// the presigned POST forms (`shared/src/s3.rs::sign_post_form`) with its role's credentials, and
/// S3 authorizes each browser upload as that role (`tests/posts.rs` uploads through such forms).
const USED_BY_SIGNATURE: [(&str, &str); 1] = [("ApiFunction", "s3:putobject")];

fn allowed_actions(template: &Value, function: &str) -> BTreeSet<String> {
    let policies = &template["Resources"][function]["Properties"]["Policies"];
    let mut actions = BTreeSet::new();
    for policy in policies.as_sequence().expect("Policies is a list") {
        let statements = policy["Statement"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{function}: only inline statements, no policy templates"));
        for statement in statements {
            assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{function}");
            match &statement["Action"] {
                Value::String(a) => {
                    actions.insert(a.to_ascii_lowercase());
                }
                Value::Sequence(list) => actions.extend(
                    list.iter()
                        .map(|a| a.as_str().expect("an action").to_ascii_lowercase()),
                ),
                other => panic!("{function}: unexpected Action {other:?}"),
            }
        }
    }
    actions
}

fn recorded_actions() -> BTreeMap<String, BTreeSet<String>> {
    let dir = std::env::var(reelay_local::iam_usage::DIR_VAR)
        .expect("run by `make test`, after the other tests, with REELAY_IAM_USAGE_DIR set");
    let mut by_function: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("the records' directory") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (function, action) = line.split_once(' ').expect("`function action` lines");
            by_function
                .entry(function.to_owned())
                .or_default()
                .insert(action.to_ascii_lowercase());
        }
    }
    by_function
}

#[test]
#[ignore = "run by `make test` after every other test, which record what they call"]
fn each_function_is_allowed_exactly_the_actions_its_code_calls() {
    let text = std::fs::read_to_string(reelay_local::moto::repo_root().join("template.yaml"))
        .expect("template.yaml");
    let template: Value = serde_yaml::from_str(&text).expect("template.yaml parses");
    let recorded = recorded_actions();
    assert!(
        recorded.keys().all(|f| FUNCTIONS.contains(&f.as_str())),
        "{recorded:?}"
    );
    let mut problems = Vec::new();
    for function in FUNCTIONS {
        let allowed = allowed_actions(&template, function);
        let mut called = recorded.get(function).cloned().unwrap_or_default();
        let signed = USED_BY_SIGNATURE
            .iter()
            .filter(|(f, _)| *f == function)
            .map(|(_, action)| action.to_string());
        called.extend(signed);
        for action in called.difference(&allowed) {
            problems.push(format!(
                "{function} calls {action}, which its policy does not allow"
            ));
        }
        for action in allowed.difference(&called) {
            problems.push(format!(
                "{function} is allowed {action}, which no test saw it call"
            ));
        }
        println!(
            "{function}: {}",
            called.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
