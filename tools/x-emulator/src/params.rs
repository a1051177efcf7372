//! Parsing requests at the edge, with X's error shapes.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use serde_json::{Map, Value};

use crate::problem::{schema, ApiError};

pub fn content_type_is(headers: &HeaderMap, want: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(want))
}

/// A JSON object body, as X's v2 POST endpoints require (PLH#591).
pub fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if !content_type_is(headers, "application/json") {
        return Err(ApiError::not_json());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::invalid(schema::wrong_type(
            "$",
            schema::type_name(&other),
            "object",
        ))),
        Err(e) => Err(ApiError::invalid(format!(
            "Request body is not valid JSON: {e}"
        ))),
    }
}

/// OAS `additionalProperties: false`: an unknown key is a 400 naming it.
pub fn reject_unknown(
    map: &Map<String, Value>,
    prefix: &str,
    allowed: &[&str],
) -> Result<(), ApiError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::invalid_param(
            schema::unknown_field(&format!("{prefix}.{k}")),
            k,
            &short(&map[k]),
        )),
        None => Ok(()),
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    s.chars().take(100).collect()
}

/// Query parameters; an unknown one is rejected the way X's v2 GETs do
/// ("The query parameter [x] is not one of [...]").
pub fn query(raw: Option<&str>, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(ApiError::invalid_param(
                format!(
                    "The query parameter [{k}] is not one of [{}]",
                    allowed.join(",")
                ),
                &k,
                &v,
            ));
        }
        if map.insert(k.to_string(), v.to_string()).is_some() {
            return Err(ApiError::invalid_param(
                format!("Duplicate parameters are not allowed: the `{k}` query parameter"),
                &k,
                &v,
            ));
        }
    }
    Ok(map)
}

/// X ids in paths and bodies: `^[0-9]{1,19}$` (OAS).
pub fn is_id(s: &str) -> bool {
    (1..=19).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

pub fn check_path_id(id: &str) -> Result<(), ApiError> {
    if is_id(id) {
        Ok(())
    } else {
        Err(ApiError::invalid_param(
            format!("The `id` path parameter value [{id}] does not match ^[0-9]{{1,19}}$"),
            "id",
            id,
        ))
    }
}
