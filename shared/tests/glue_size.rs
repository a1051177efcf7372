//! Function crates are glue (issue 13, STYLE habit 1): each `functions/*/src/` holds under
//! `MAX_GLUE_LINES` lines outside its tests, so the domain cannot drift back out of `shared/`.
//!
//! Counted: every line (code, comments, blanks) of every `.rs` file under `src/`. Not counted:
//! `#[cfg(test)] mod … { … }` blocks and out-of-line test modules (`tests.rs`, `tests/`). A block
//! ends at the first `}` line at the `mod` line's indentation, which is how `cargo fmt` (checked
//! in CI) lays them out.

use std::fs;
use std::path::{Path, PathBuf};

const MAX_GLUE_LINES: usize = 250;

/// Lines of `source` outside its `#[cfg(test)]` modules.
fn glue_lines(source: &str) -> usize {
    let lines: Vec<&str> = source.lines().collect();
    let mut count = 0;
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            // Attributes and blank lines between `#[cfg(test)]` and its item.
            let mut j = i + 1;
            while j < lines.len() && {
                let t = lines[j].trim();
                t.is_empty() || t.starts_with("#[")
            } {
                j += 1;
            }
            if let Some(item) = lines.get(j) {
                let t = item.trim_start();
                let is_mod = t.starts_with("mod ") || t.starts_with("pub mod ");
                if is_mod && t.trim_end().ends_with('{') {
                    let indent = &item[..item.len() - t.len()];
                    let close = format!("{indent}}}");
                    if let Some(end) = (j + 1..lines.len()).find(|&k| lines[k].trim_end() == close)
                    {
                        i = end + 1;
                        continue;
                    }
                }
                if is_mod && t.trim_end().ends_with(';') {
                    // `#[cfg(test)] mod tests;`: the file it names is skipped by `glue_files`.
                    i = j + 1;
                    continue;
                }
            }
        }
        count += 1;
        i += 1;
    }
    count
}

/// The `.rs` files under `dir`, test modules kept apart from their crate (`tests.rs`, `tests/`).
fn glue_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "tests" {
                glue_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") && name != "tests.rs" {
            out.push(path);
        }
    }
}

fn functions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("shared/ sits in the workspace root")
        .join("functions")
}

#[test]
fn the_counter_skips_test_modules_only() {
    let source = "\
use a;
fn f() {}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn t() {
        assert!(true);
    }
}
fn g() {}
#[cfg(test)]
mod other;
mod inner {
    #[cfg(test)]
    #[allow(unused)]
    mod tests {
        fn x() {}
    }
    fn y() {}
}
";
    // Counted: use, fn f, blank, fn g, mod inner {, fn y, its closing brace.
    assert_eq!(glue_lines(source), 7);
    // A `#[cfg(test)]` on anything but a module is glue like any other line.
    assert_eq!(glue_lines("#[cfg(test)]\nfn helper() {}\n"), 2);
}

#[test]
fn every_function_crate_is_glue() {
    let functions = functions_dir();
    let mut crates: Vec<PathBuf> = fs::read_dir(&functions)
        .expect("functions/ is readable")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    crates.sort();
    assert!(
        crates.len() >= 5,
        "expected the five function crates under {}, found {crates:?}",
        functions.display()
    );
    let mut offenders = Vec::new();
    for krate in &crates {
        let mut files = Vec::new();
        glue_files(&krate.join("src"), &mut files);
        assert!(!files.is_empty(), "{} has no src/*.rs", krate.display());
        let mut per_file: Vec<(String, usize)> = files
            .iter()
            .map(|f| {
                let source = fs::read_to_string(f).expect("source is readable");
                let name = f.strip_prefix(krate).unwrap_or(f).display().to_string();
                (name, glue_lines(&source))
            })
            .collect();
        per_file.sort();
        let total: usize = per_file.iter().map(|(_, n)| n).sum();
        let name = krate.file_name().unwrap_or_default().to_string_lossy();
        println!("{name}: {total} lines of glue {per_file:?}");
        if total >= MAX_GLUE_LINES {
            offenders.push(format!(
                "functions/{name}: {total} lines outside tests (limit: under {MAX_GLUE_LINES}; \
                 per file: {per_file:?})"
            ));
        }
    }
    assert!(
        offenders.is_empty(),
        "function crates must be glue; move the domain logic into shared/:\n{}",
        offenders.join("\n")
    );
}
