//! X's OpenAPI subset (`spec/x-openapi-subset.json`) as JSON-schema checks. Test helper shared by
//! `tests/spec_conformance.rs` and `tests/exchanges.rs` (`#[path = "../spec/oas.rs"] mod oas;`).
//!
//! OpenAPI 3.0 schema objects are checked as JSON Schema draft 4 (3.0's base, with the boolean
//! `exclusiveMinimum`), formats asserted (`date-time` is checked; OpenAPI-only formats such as
//! `int32`, `binary`, `byte` are ignored). A schema's `$ref: #/components/...` is resolved against
//! the subset document: each checked schema is compiled as a document holding that schema plus the
//! subset's `components`.
//!
//! Problem bodies. The OAS's `Problem` is a oneOf of nine types, all under
//! `https://api.x.com/2/problems/`. Real X still sends the `https://api.twitter.com/2/problems/`
//! host (e.g. PLhery/node-twitter-api-v2#591, 2025; xdevplatform/xurl#18, 2025) and sends
//! `about:blank` and `client-forbidden` problems the OAS does not define. So a problem is checked
//! this way, and every step is reported in the `Checked` result:
//! - a `type` under the twitter.com host is compared with its api.x.com twin (`host_rewrites`);
//! - a type the OAS maps is validated against the OAS `Problem`;
//! - `about:blank` and `client-forbidden` are validated against `spec/x-recorded-problems.json`,
//!   which holds only what recorded bodies show;
//! - any other `type` is an error.

#![allow(dead_code)] // Each test binary uses a different part.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

pub const LEGACY_PROBLEM_BASE: &str = "https://api.twitter.com/2/problems/";
pub const OAS_PROBLEM_BASE: &str = "https://api.x.com/2/problems/";

/// The outcome of one check: the validation errors, and the problem `type`s that were compared
/// under the api.x.com host because the body used the api.twitter.com one.
#[derive(Debug, Default, Clone)]
pub struct Checked {
    pub errors: Vec<String>,
    pub host_rewrites: Vec<String>,
    /// Which schema the body was checked against, for messages.
    pub schema: String,
}

impl Checked {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

pub struct Oas {
    pub doc: Value,
    pub recorded: Value,
    cache: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn read_json(name: &str) -> Value {
    let path = format!("{}/spec/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

impl Oas {
    pub fn load() -> Oas {
        Oas {
            doc: read_json("x-openapi-subset.json"),
            recorded: read_json("x-recorded-problems.json"),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn version(&self) -> &str {
        self.doc["info"]["version"].as_str().unwrap_or("")
    }

    /// The operation object of `method path` (path as templated in the OAS).
    pub fn operation(&self, method: &str, template: &str) -> &Value {
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{method} {template} is not in the OAS subset"
        );
        op
    }

    /// Validates `instance` against `schema` (which may `$ref` into `root`'s components).
    fn validate_in(
        &self,
        root: &Value,
        root_name: &str,
        schema: &Value,
        instance: &Value,
    ) -> Vec<String> {
        let key = format!("{root_name}|{schema}");
        let validator = {
            let mut cache = self.cache.lock().expect("cache lock");
            match cache.get(&key) {
                Some(v) => v.clone(),
                None => {
                    let mut doc = Map::new();
                    doc.insert("components".into(), root["components"].clone());
                    if let Some(obj) = schema.as_object() {
                        for (k, v) in obj {
                            doc.insert(k.clone(), v.clone());
                        }
                    }
                    let v = Arc::new(
                        jsonschema::draft4::options()
                            .should_validate_formats(true)
                            .build(&Value::Object(doc))
                            .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}")),
                    );
                    cache.insert(key, v.clone());
                    v
                }
            }
        };
        validator
            .iter_errors(instance)
            .map(|e| format!("at '{}': {e}", e.instance_path()))
            .collect()
    }

    /// Validates against a schema of the OAS subset (inline or `$ref`).
    pub fn validate(&self, schema: &Value, instance: &Value) -> Vec<String> {
        self.validate_in(&self.doc, "oas", schema, instance)
    }

    /// Validates against `#/components/schemas/{name}` of the OAS subset.
    pub fn validate_named(&self, name: &str, instance: &Value) -> Vec<String> {
        assert!(
            self.doc["components"]["schemas"][name].is_object(),
            "no schema {name} in the OAS subset"
        );
        let schema = serde_json::json!({ "$ref": format!("#/components/schemas/{name}") });
        self.validate(&schema, instance)
    }

    fn validate_recorded(&self, name: &str, instance: &Value) -> Vec<String> {
        assert!(
            self.recorded["components"]["schemas"][name].is_object(),
            "no schema {name} in x-recorded-problems.json"
        );
        let schema = serde_json::json!({ "$ref": format!("#/components/schemas/{name}") });
        self.validate_in(&self.recorded, "recorded", &schema, instance)
    }

    /// The problem types the OAS `Problem` discriminator maps.
    pub fn oas_problem_types(&self) -> Vec<String> {
        self.doc["components"]["schemas"]["Problem"]["discriminator"]["mapping"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Rewrites every `"type": "https://api.twitter.com/2/problems/x"` (at any depth) to the
    /// api.x.com host, returning the rewritten types.
    fn rewrite_hosts(value: &mut Value, rewrites: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(t)) = map.get_mut("type") {
                    if let Some(rest) = t.strip_prefix(LEGACY_PROBLEM_BASE) {
                        rewrites.push(t.clone());
                        *t = format!("{OAS_PROBLEM_BASE}{rest}");
                    }
                }
                for v in map.values_mut() {
                    Self::rewrite_hosts(v, rewrites);
                }
            }
            Value::Array(items) => {
                for v in items {
                    Self::rewrite_hosts(v, rewrites);
                }
            }
            _ => {}
        }
    }

    /// Validates a problem body (see the module comment for the rules).
    pub fn validate_problem(&self, body: &Value) -> Checked {
        let mut body = body.clone();
        let mut out = Checked::default();
        Self::rewrite_hosts(&mut body, &mut out.host_rewrites);
        let Some(t) = body.get("type").and_then(Value::as_str).map(str::to_owned) else {
            out.errors
                .push(format!("problem body has no string `type`: {body}"));
            return out;
        };
        if t == "about:blank" {
            out.schema = "x-recorded-problems GenericProblem".into();
            out.errors = self.validate_recorded("GenericProblem", &body);
        } else if self.oas_problem_types().contains(&t) {
            out.schema = "OAS Problem".into();
            out.errors = self.validate_named("Problem", &body);
        } else if t == format!("{OAS_PROBLEM_BASE}client-forbidden") {
            out.schema = "x-recorded-problems ClientForbiddenProblem".into();
            out.errors = self.validate_recorded("ClientForbiddenProblem", &body);
        } else {
            out.schema = "none".into();
            out.errors.push(format!(
                "problem type {t:?} is neither in X's OAS Problem nor in the recorded problems"
            ));
        }
        out
    }

    /// Validates a response body of `method template` with `status` and `content_type` against
    /// the OAS: the schema of that status, else `default`; problem JSON goes through
    /// `validate_problem`, and so do the `errors[]` items of a success body.
    pub fn validate_response(
        &self,
        method: &str,
        template: &str,
        status: u16,
        content_type: &str,
        body: &Value,
    ) -> Checked {
        let op = self.operation(method, template);
        let responses = &op["responses"];
        let declared = &responses[status.to_string()];
        let (response, which) = if declared.is_object() {
            (declared, status.to_string())
        } else {
            (&responses["default"], "default".to_string())
        };
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let Some(schema) = response["content"][&media]["schema"].as_object() else {
            return Checked {
                errors: vec![format!(
                    "{method} {template}: response {which} declares no {media:?} content (status {status})"
                )],
                ..Checked::default()
            };
        };
        if media == "application/problem+json" {
            let mut c = self.validate_problem(body);
            c.schema = format!("{which} {media} -> {}", c.schema);
            return c;
        }
        // A success body: rewrite legacy problem hosts in `errors[]`, validate the rest as is.
        let mut rewritten = body.clone();
        let mut out = Checked::default();
        Self::rewrite_hosts(&mut rewritten, &mut out.host_rewrites);
        out.schema = format!("{which} {media} -> {}", Value::Object(schema.clone()));
        out.errors = self.validate(&Value::Object(schema.clone()), &rewritten);
        out
    }

    /// The request body schema of `method template` for `content_type`.
    pub fn request_schema(
        &self,
        method: &str,
        template: &str,
        content_type: &str,
    ) -> Option<Value> {
        let op = self.operation(method, template);
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let s = &op["requestBody"]["content"][&media]["schema"];
        s.is_object().then(|| s.clone())
    }

    /// The parameters of an operation, `$ref`s resolved.
    pub fn parameters(&self, method: &str, template: &str) -> Vec<Value> {
        let op = self.operation(method, template);
        let mut out = Vec::new();
        for p in op["parameters"].as_array().cloned().unwrap_or_default() {
            if let Some(r) = p.get("$ref").and_then(Value::as_str) {
                let name = r
                    .strip_prefix("#/components/parameters/")
                    .unwrap_or_else(|| panic!("unexpected parameter ref {r}"));
                out.push(self.doc["components"]["parameters"][name].clone());
            } else {
                out.push(p);
            }
        }
        out
    }

    /// Resolves a `$ref` to a component schema once (for reading `type`).
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/components/schemas/").unwrap_or("");
                &self.doc["components"]["schemas"][name]
            }
            None => schema,
        }
    }

    /// A parameter value as the JSON instance its schema describes: `style: form` with
    /// `explode: false` arrays are comma lists; integers and booleans are parsed (a value that
    /// does not parse stays a string, so the schema rejects it).
    pub fn param_instance(&self, schema: &Value, raw: &str) -> Value {
        let resolved = self.resolve(schema);
        match resolved.get("type").and_then(Value::as_str) {
            Some("array") => Value::Array(
                raw.split(',')
                    .map(|item| self.param_instance(&resolved["items"], item))
                    .collect(),
            ),
            Some("integer") => raw
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(raw.into())),
            Some("boolean") => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(raw.into()),
            },
            _ => Value::String(raw.into()),
        }
    }

    /// Checks the query of a request against the operation's `in: query` parameters: each
    /// value against its schema, required ones present, none unknown, none repeated.
    pub fn validate_query(
        &self,
        method: &str,
        template: &str,
        pairs: &[(String, String)],
    ) -> Vec<String> {
        let params: Vec<Value> = self
            .parameters(method, template)
            .into_iter()
            .filter(|p| p["in"] == "query")
            .collect();
        let mut errors = Vec::new();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (name, _) in pairs {
            *seen.entry(name.as_str()).or_default() += 1;
        }
        for (name, count) in &seen {
            if *count > 1 {
                errors.push(format!("query parameter {name} sent {count} times"));
            }
            if !params.iter().any(|p| p["name"] == *name) {
                errors.push(format!(
                    "query parameter {name} is not a parameter of {method} {template}"
                ));
            }
        }
        for p in &params {
            let name = p["name"].as_str().unwrap_or("");
            match pairs.iter().find(|(n, _)| n == name) {
                Some((_, raw)) => {
                    let instance = self.param_instance(&p["schema"], raw);
                    for e in self.validate(&p["schema"], &instance) {
                        errors.push(format!("query {name}={raw}: {e}"));
                    }
                }
                None if p["required"] == true => {
                    errors.push(format!("required query parameter {name} missing"))
                }
                None => {}
            }
        }
        errors
    }

    /// Matches a concrete path against the operation's template and checks its path parameters.
    pub fn validate_path(&self, method: &str, template: &str, path: &str) -> Vec<String> {
        let t: Vec<&str> = template.trim_matches('/').split('/').collect();
        let p: Vec<&str> = path.trim_matches('/').split('/').collect();
        if t.len() != p.len() {
            return vec![format!("path {path} does not match {template}")];
        }
        let params = self.parameters(method, template);
        let mut errors = Vec::new();
        for (ts, ps) in t.iter().zip(&p) {
            if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let decoded = percent_decode(ps);
                let Some(param) = params
                    .iter()
                    .find(|q| q["in"] == "path" && q["name"] == name)
                else {
                    errors.push(format!("no path parameter {name} in the OAS"));
                    continue;
                };
                let instance = self.param_instance(&param["schema"], &decoded);
                for e in self.validate(&param["schema"], &instance) {
                    errors.push(format!("path {name}={decoded}: {e}"));
                }
            } else if ts != ps {
                errors.push(format!("path {path} does not match {template}"));
            }
        }
        errors
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

/// Checks the checker: the OAS subset must reject what X's spec rejects, so that a passing
/// validation means something.
pub fn self_test(oas: &Oas) {
    // INIT: additionalProperties false, enums, bounds.
    assert!(oas
        .validate_named("InitializeMediaUploadRequest", &serde_json::json!({"media_type":"video/mp4","total_bytes":10,"media_category":"tweet_video"}))
        .is_empty());
    assert!(!oas
        .validate_named(
            "InitializeMediaUploadRequest",
            &serde_json::json!({"media_type":"video/mp4","total_bytes":10,"command":"INIT"})
        )
        .is_empty());
    assert!(!oas
        .validate_named(
            "InitializeMediaUploadRequest",
            &serde_json::json!({"media_type":"video/avi","total_bytes":10})
        )
        .is_empty());
    assert!(!oas
        .validate_named(
            "InitializeMediaUploadRequest",
            &serde_json::json!({"media_type":"video/mp4","total_bytes":-1})
        )
        .is_empty());
    // Tweets: media_ids are digit strings, 1..4.
    assert!(!oas
        .validate_named(
            "CreatePostsRequest",
            &serde_json::json!({"text":"x","media":{"media_ids":[123]}})
        )
        .is_empty());
    assert!(!oas
        .validate_named(
            "CreatePostsRequest",
            &serde_json::json!({"text":"x","media":{"media_ids":[]}})
        )
        .is_empty());
    // Problems: required fields, known types only.
    assert!(oas
        .validate_problem(&serde_json::json!({"type":"about:blank","title":"Forbidden","status":403,"detail":"Forbidden"}))
        .ok());
    assert!(!oas
        .validate_problem(&serde_json::json!({"type":"about:blank","title":"Forbidden","status":"403","detail":"Forbidden"}))
        .ok());
    assert!(!oas
        .validate_problem(&serde_json::json!({"type":"https://api.x.com/2/problems/invalid-request","title":"Invalid Request"}))
        .ok());
    assert!(!oas
        .validate_problem(&serde_json::json!({"type":"https://api.x.com/2/problems/no-such-problem","title":"x","detail":"y"}))
        .ok());
    // The legacy host is compared as the api.x.com type and reported.
    let c = oas.validate_problem(&serde_json::json!({"type":"https://api.twitter.com/2/problems/invalid-request","title":"Invalid Request","detail":"d"}));
    assert!(c.ok(), "{:?}", c.errors);
    assert_eq!(c.host_rewrites.len(), 1);
    // Formats are asserted.
    assert!(!oas
        .validate(
            &serde_json::json!({"type":"string","format":"date-time"}),
            &serde_json::json!("2026-01-01 12:00")
        )
        .is_empty());
}
