//! Converts each scenario data file (`scenarios/*.toml`, the format people
//! edit) to JSON in OUT_DIR at build time. The binary then parses JSON with
//! the serde_json it already carries, instead of shipping a TOML parser to
//! every browser: a measurable cut in the wasm download.

use std::path::Path;

// The data file's schema and checks, exactly as the crate has them: a data
// file with a misspelt key or a broken reference fails the build, with the
// file and the key named, instead of failing a test or a page later.
#[allow(dead_code, unused_imports)]
mod engine {
    pub mod metrics {
        include!("src/engine/names.rs");
    }
}
#[allow(dead_code, unused_imports)]
#[path = "src/spec/mod.rs"]
mod spec;

fn main() {
    println!("cargo:rerun-if-changed=scenarios");
    let out = std::env::var("OUT_DIR").unwrap_or_else(|_| fail("OUT_DIR is not set"));
    let dir = Path::new("scenarios");
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("scenarios/: {e}")));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        let value: toml::Value =
            toml::from_str(&text).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        let checked: spec::ScenarioSpec =
            toml::from_str(&text).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        if let Err(e) = checked.validate() {
            fail(&format!("{}: {e}", path.display()));
        }
        let json = serde_json::to_string(&value)
            .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let target = Path::new(&out).join(format!("{stem}.json"));
        std::fs::write(&target, json)
            .unwrap_or_else(|e| fail(&format!("{}: {e}", target.display())));
        // The catalogue card: what the catalogue shows without the file.
        let mut card = serde_json::Map::new();
        for key in ["id", "title", "part", "summary", "tags"] {
            if let Some(v) = value.get(key) {
                let v = serde_json::to_value(v)
                    .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
                card.insert(key.to_string(), v);
            }
        }
        let target = Path::new(&out).join(format!("{stem}.card.json"));
        let card = serde_json::to_string(&card)
            .unwrap_or_else(|e| fail(&format!("{}: {e}", target.display())));
        std::fs::write(&target, card)
            .unwrap_or_else(|e| fail(&format!("{}: {e}", target.display())));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}
