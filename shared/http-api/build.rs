//! Rebuilds the API when the console's files change (they are embedded by `include_dir!`, which
//! cargo cannot see into), and warns when the generated twitter-text bundle is missing
//! (`src/console.rs` says why that is a warning and not an error).

fn main() {
    let public = concat!(env!("CARGO_MANIFEST_DIR"), "/../../console/public");
    // A directory here means any file under it, added files included.
    println!("cargo:rerun-if-changed={public}");
    let bundle = format!("{public}/vendor/twitter-text.js");
    if !std::path::Path::new(&bundle).exists() {
        println!(
            "cargo:warning=console/public/vendor/twitter-text.js is missing: the console's \
             text counter will not load until `make setup` builds it"
        );
    }
}
