//! The console counts a post's characters in the browser with the official twitter-text package;
//! the API judges them with `x-text`. This feeds x-text's golden corpus (seeded random posts and
//! twitter-text's own conformance cases) to both and fails on any difference in weighted length
//! or validity: `console/tests/text-agreement.mjs` runs the very bundle the console serves.
//! Needs node and the bundle (`make setup`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every text of x-text's two corpora.
fn corpus() -> Vec<String> {
    let data = repo().join("shared/x-text/tests/data");
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("golden.json")).unwrap()).unwrap();
    let mut texts: Vec<String> = golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| case[0].as_str().unwrap().to_owned())
        .collect();
    let validate: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("validate_weighted.json")).unwrap(),
    )
    .unwrap();
    for group in validate["tests"].as_object().unwrap().values() {
        for case in group.as_array().unwrap() {
            texts.push(case["text"].as_str().unwrap().to_owned());
        }
    }
    texts
}

fn x_text_answers(texts: &[String]) -> Vec<Value> {
    texts
        .iter()
        .map(|text| {
            let parsed = x_text::parse_post(text);
            json!({ "text": text, "weighted_length": parsed.weighted_length, "valid": parsed.valid })
        })
        .collect()
}

/// Runs the node comparison on `cases`; its exit code and output.
fn compare(name: &str, cases: &[Value]) -> (Option<i32>, String) {
    let path = std::env::temp_dir().join(format!("reelay-{name}-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(cases).unwrap()).unwrap();
    let out = Command::new("node")
        .arg(repo().join("console/tests/text-agreement.mjs"))
        .arg(&path)
        .output()
        .expect("node runs (make setup installs it)");
    let _ = std::fs::remove_file(&path);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn the_browser_twitter_text_and_x_text_agree_on_the_golden_corpus() {
    let texts = corpus();
    assert!(texts.len() > 1000, "the corpus has {} texts", texts.len());
    let (code, out) = compare("agree", &x_text_answers(&texts));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("{} texts", texts.len())), "{out}");
}

/// The comparison is not vacuous: a wrong length for a text with a URL and a wrong validity for
/// one with an emoji are each caught and named.
#[test]
fn the_comparison_fails_when_the_counts_differ() {
    let mut cases = x_text_answers(&["see https://example.com".into(), "party 🎉".into()]);
    cases[0]["weighted_length"] = json!(cases[0]["weighted_length"].as_u64().unwrap() + 1);
    cases[1]["valid"] = json!(false);
    let (code, out) = compare("differ", &cases);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("2 of 2 texts are counted differently"),
        "{out}"
    );
    assert!(out.contains("https://example.com"), "{out}");
}
