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

/// FNV-1a, 64 bits: a stable hash needing no crate.
fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Every file under `dir`, sorted, so the stamp does not depend on the
/// order the file system lists them in.
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The build stamp: a hash of everything the site's files are made from
/// (the sources, the data files, the lock file). The site names its data
/// directory after it and asks for its own scripts with it, so a returning
/// visitor never runs one build's code against another build's data.
fn stamp() -> String {
    let mut files = Vec::new();
    for dir in ["src", "scenarios"] {
        files_under(Path::new(dir), &mut files);
    }
    files.push("Cargo.lock".into());
    files.sort();
    let mut hash = 0xcbf2_9ce4_8422_2325;
    for f in files {
        hash = fnv(hash, f.to_string_lossy().as_bytes());
        hash = fnv(hash, &std::fs::read(&f).unwrap_or_default());
    }
    format!("{:012x}", hash >> 16)
}

fn main() {
    println!("cargo:rerun-if-changed=scenarios");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rustc-env=PRODSIM_STAMP={}", stamp());
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
