//! Issue 13: the API's OpenAPI 3.1 document (`docs/openapi.json`) is what the API serves at
//! `GET /api/openapi.json`, covers exactly the template's routes, validates as OpenAPI 3.1, and
//! lists the problems each operation answers.
//!
//! Regenerate the committed copy after changing a route or a body:
//! `REELAY_WRITE_OPENAPI=1 bash tools/scripts/with-moto.sh cargo test -p reelay-local --test openapi`.

use std::collections::BTreeSet;

use reelay_local::runner::{match_route, FunctionName, ROUTES};
use reelay_local::world::World;
use reelay_shared::api::contract::{problems_of, OPERATION_PROBLEMS};
use reelay_shared::api::problems::PROBLEM_TYPES;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

fn committed_path() -> std::path::PathBuf {
    reelay_local::moto::repo_root().join("docs/openapi.json")
}

/// Every (method, path) operation of the document.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.push((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

fn generated() -> Value {
    serde_json::from_str(reelay_api::routes::openapi_text()).expect("the document is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committed_document_is_what_the_api_serves() {
    let w = World::without_reconciler("openapi").await.expect("world");
    let url = format!("{}/api/openapi.json", w.runner.http_url);
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        401,
        "behind the authorizer"
    );
    let res = http
        .get(&url)
        .bearer_auth(w.auth.mint("reader"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let served_text = res.text().await.unwrap();
    w.runner.stop().await;
    let served: Value = serde_json::from_str(&served_text).expect("served JSON");
    assert_eq!(served["openapi"], "3.1.0");

    let path = committed_path();
    if std::env::var_os("REELAY_WRITE_OPENAPI").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &served_text).unwrap();
    }
    let committed: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    assert!(
        committed == served,
        "docs/openapi.json differs from what GET /api/openapi.json serves; regenerate it with \
         REELAY_WRITE_OPENAPI=1 bash tools/scripts/with-moto.sh cargo test -p reelay-local --test openapi \
         and commit it"
    );
}

/// Each document path is routed by a template route (to the function that serves it), and each
/// template route serves at least one document path.
#[test]
fn document_paths_and_template_routes_agree() {
    let doc = generated();
    let mut used = BTreeSet::new();
    for (method, path) in operations(&doc) {
        // A concrete request for the path: each `{param}` becomes one segment.
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "p1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let (route, _) = match_route(&method.to_uppercase(), &concrete).unwrap_or_else(|| {
            panic!("{method} {path} is in the document but no template route serves it")
        });
        let expected = if path.ends_with("/callback") {
            FunctionName::OauthCallback
        } else {
            FunctionName::Api
        };
        assert_eq!(route.function, expected, "{method} {path}");
        // The document says who needs a token; the route must agree.
        let secured = doc["paths"][&path][&method]["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        assert_eq!(
            secured, route.authorized,
            "{method} {path}: security vs the route's authorizer"
        );
        used.insert((route.method, route.path));
    }
    for route in ROUTES {
        assert!(
            used.contains(&(route.method, route.path)),
            "template route {} {} has no path in the document",
            route.method,
            route.path
        );
    }
}

#[test]
fn the_committed_document_validates_as_openapi_3_1() {
    let root = reelay_local::moto::repo_root();
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "no .venv: run tools/scripts/setup.sh");
    let out = std::process::Command::new(python)
        .args(["-m", "openapi_spec_validator"])
        .arg(committed_path())
        .output()
        .expect("run openapi_spec_validator (tools/scripts/setup.sh installs it)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.contains("OK"), "{said}");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(committed_path()).unwrap()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

/// Each operation says which problems it answers (`contract::OPERATION_PROBLEMS`), each as a
/// response of its status, and together they (with the fallbacks' `not_found` and
/// `method_not_allowed`) cover the whole catalogue that the `Problem` schema lists.
#[test]
fn every_problem_is_answered_by_some_operation_and_documented() {
    let doc = generated();
    let api = reelay_api::routes::openapi();
    let ops = operations(&doc);
    let mut answered: BTreeSet<&str> = ["not_found", "method_not_allowed"].into();
    for (method, path) in &ops {
        let operation = api.paths.paths[path]
            .get
            .as_ref()
            .filter(|_| method == "get")
            .or(api.paths.paths[path]
                .post
                .as_ref()
                .filter(|_| method == "post"))
            .or(api.paths.paths[path]
                .delete
                .as_ref()
                .filter(|_| method == "delete"))
            .or(api.paths.paths[path]
                .put
                .as_ref()
                .filter(|_| method == "put"))
            .or(api.paths.paths[path]
                .patch
                .as_ref()
                .filter(|_| method == "patch"))
            .unwrap_or_else(|| panic!("{method} {path}"));
        let kinds = problems_of(method, path, operation)
            .unwrap_or_else(|| panic!("{method} {path} has no entry in OPERATION_PROBLEMS"));
        for kind in kinds {
            let t = PROBLEM_TYPES
                .iter()
                .find(|t| t.kind == kind)
                .unwrap_or_else(|| panic!("{kind} not in the catalogue"));
            let response = &doc["paths"][path][method]["responses"][t.status.to_string()];
            assert!(
                response["description"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(&format!("`{kind}`")),
                "{method} {path}: {kind} ({}) is not documented: {response}",
                t.status
            );
            answered.insert(kind);
        }
    }
    for (method, path, _) in OPERATION_PROBLEMS {
        assert!(
            ops.iter().any(|(m, p)| m == method && p == path),
            "OPERATION_PROBLEMS names {method} {path}, which the document does not have"
        );
    }
    // The console's own problem (shared/http-api/src/console.rs) is catalogued with its status.
    let not_built = reelay_api::console::not_built();
    assert!(PROBLEM_TYPES
        .iter()
        .any(|t| t.kind == not_built.kind && t.status == not_built.status));
    let catalogue: BTreeSet<&str> = PROBLEM_TYPES.iter().map(|t| t.kind).collect();
    assert_eq!(
        answered, catalogue,
        "problems no operation answers, or answered but not catalogued"
    );
    let listed: BTreeSet<&str> = doc["components"]["schemas"]["Problem"]["properties"]["type"]
        ["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed, catalogue);
}
