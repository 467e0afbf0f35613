//! Browser tests, run by `wasm-pack test --headless --chrome -- --test web`
//! in Debian's headless Chromium.

#![cfg(target_arch = "wasm32")]

use prodsim::scenarios::{catalogue, golden_config, summary_json};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Every scenario's default run gives, in wasm, exactly the summary the
/// native build recorded in tests/golden/summaries.json.
#[wasm_bindgen_test]
fn golden_runs_match_native_bit_for_bit() {
    let golden: serde_json::Value = serde_json::from_str(include_str!("golden/summaries.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let all = catalogue().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(golden.as_object().map(|o| o.len()), Some(all.len()));
    for s in all {
        let out = s
            .run(&s.spec.defaults(), &golden_config(&s.spec))
            .unwrap_or_else(|e| panic!("{}: {e}", s.spec.id));
        assert_eq!(
            Some(&summary_json(&out)),
            golden.get(&s.spec.id),
            "{}",
            s.spec.id
        );
    }
}
