//! Golden summaries: the default run of every scenario (seed 42), checked
//! natively here and in the browser by tests/web.rs against the same file.
//!
//! The file's values are not a claim that the numbers are right (the lesson
//! tests check that); they pin down *determinism across platforms and
//! builds*: wasm must reproduce the native run bit for bit. Refresh it after
//! an intended model change with `PRODSIM_BLESS=1 cargo test --test golden`.

use prodsim::scenarios::{catalogue, golden_config, summary_json};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/summaries.json");

#[test]
fn native_runs_match_the_golden_summaries() {
    let mut now = serde_json::Map::new();
    for s in catalogue().unwrap_or_else(|e| panic!("{e}")) {
        let out = s
            .run(&s.spec.defaults(), &golden_config(&s.spec))
            .unwrap_or_else(|e| panic!("{}: {e}", s.spec.id));
        now.insert(s.spec.id.clone(), summary_json(&out));
    }
    let now = serde_json::Value::Object(now);
    if std::env::var_os("PRODSIM_BLESS").is_some() {
        let text = serde_json::to_string_pretty(&now).unwrap_or_default() + "\n";
        std::fs::write(PATH, text).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let text = std::fs::read_to_string(PATH).unwrap_or_else(|e| panic!("{PATH}: {e}"));
    let golden: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    for (id, summary) in now.as_object().into_iter().flatten() {
        assert_eq!(
            Some(summary),
            golden.get(id),
            "{id} differs from tests/golden/summaries.json (bless only if the model change was intended)"
        );
    }
    assert_eq!(
        golden.as_object().map(|o| o.len()),
        now.as_object().map(|o| o.len())
    );
}
