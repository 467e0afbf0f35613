//! Browser tests, run by `wasm-pack test --headless --chrome -- --test web`
//! in Debian's headless Chromium: the real app, mounted into the page.

#![cfg(target_arch = "wasm32")]

use gloo_timers::future::TimeoutFuture;
use prodsim::scenarios::{catalogue, golden_config, summary_json};
use prodsim::spec::url::decode;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement};

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

fn window() -> web_sys::Window {
    web_sys::window().unwrap_or_else(|| panic!("no window"))
}

fn set_query(query: &str) {
    let path = window().location().pathname().unwrap_or_default();
    let _ = window().history().and_then(|h| {
        h.replace_state_with_url(
            &wasm_bindgen::JsValue::NULL,
            "",
            Some(&format!("{path}{query}")),
        )
    });
}

fn location_query() -> String {
    window().location().search().unwrap_or_default()
}

/// Mounts the real app as if the page had been opened with `query`.
fn open(query: &str) -> (impl Drop, HtmlElement) {
    set_query(query);
    let doc = window().document().unwrap_or_else(|| panic!("no document"));
    let host: HtmlElement = doc
        .create_element("div")
        .unwrap_or_else(|_| panic!("div"))
        .unchecked_into();
    doc.body().map(|b| b.append_child(&host));
    let handle = prodsim::ui::mount_app(host.clone(), None);
    (Unmount(Some(handle), host.clone()), host)
}

struct Unmount<H>(Option<H>, HtmlElement);
impl<H> Drop for Unmount<H> {
    fn drop(&mut self) {
        drop(self.0.take());
        self.1.remove();
    }
}

fn all(host: &HtmlElement, selector: &str) -> Vec<Element> {
    let list = host
        .query_selector_all(selector)
        .unwrap_or_else(|_| panic!("bad selector {selector}"));
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into::<Element>().ok())
        .collect()
}

fn text(host: &HtmlElement, selector: &str) -> String {
    all(host, selector)
        .iter()
        .filter_map(|e| e.text_content())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Picks `value` in the select of parameter `param`, as a person would.
fn choose(host: &HtmlElement, param: &str, value: &str) {
    let select: web_sys::HtmlSelectElement = all(host, &format!("[data-param={param}] select"))
        .pop()
        .and_then(|e| e.dyn_into().ok())
        .unwrap_or_else(|| panic!("{param} select"));
    select.set_value(value);
    let _ =
        select.dispatch_event(&web_sys::Event::new("change").unwrap_or_else(|_| panic!("event")));
}

/// Waits (up to 20 s) until `ready` holds.
async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..400 {
        if ready() {
            return;
        }
        TimeoutFuture::new(50).await;
    }
    panic!("timed out waiting for {what}");
}

async fn stats_change(host: &HtmlElement, before: &str) {
    until("a new run", || {
        let now = text(host, "[data-testid=sim-stats]");
        now.contains("events in") && now != before
    })
    .await;
}

fn metric_cell(host: &HtmlElement, key: &str, column: usize) -> String {
    all(host, &format!("tr[data-metric={key}] td"))
        .get(column)
        .and_then(|c| c.text_content())
        .unwrap_or_default()
}

fn canvas_pixels(host: &HtmlElement) -> Vec<String> {
    all(host, "canvas")
        .into_iter()
        .filter_map(|c| c.dyn_into::<web_sys::HtmlCanvasElement>().ok())
        .map(|c| c.to_data_url().unwrap_or_default())
        .collect()
}

#[wasm_bindgen_test]
async fn every_scenario_opens_with_diagram_charts_and_numbers() {
    for s in catalogue().unwrap_or_else(|e| panic!("{e}")) {
        let (_mounted, host) = open(&format!(
            "?s={}&d={}",
            s.spec.id,
            golden_config(&s.spec).duration_s
        ));
        stats_change(&host, "").await;
        let id = &s.spec.id;
        assert_eq!(
            all(&host, "canvas").len(),
            s.spec.charts.len(),
            "{id}: one canvas per chart"
        );
        let defaults = s.spec.defaults();
        assert_eq!(
            all(&host, "svg.diagram g.node").len(),
            s.spec
                .nodes
                .iter()
                .filter(|n| n.when.holds(&defaults))
                .count(),
            "{id}: the diagram nodes that apply to the defaults"
        );
        assert_eq!(
            all(&host, "tr[data-metric]").len(),
            s.spec
                .metric_keys()
                .iter()
                .filter(|k| prodsim::present::metric_applies(&s.spec, k))
                .count(),
            "{id}: a summary row per metric that applies"
        );
        assert_eq!(
            all(&host, "[data-param]").len(),
            s.spec.params.len(),
            "{id}: a control per parameter"
        );
        assert!(!text(&host, ".lesson").is_empty(), "{id}: lesson");
        // Every row shows what a direct run gives, as the page words it.
        let direct = s
            .run(&s.spec.defaults(), &golden_config(&s.spec))
            .unwrap_or_else(|e| panic!("{e}"));
        for key in s
            .spec
            .metric_keys()
            .iter()
            .filter(|k| prodsim::present::metric_applies(&s.spec, k))
        {
            assert_eq!(
                Some(metric_cell(&host, key, 0)),
                prodsim::present::format_metric(&s.spec, &direct, key),
                "{id}: {key}"
            );
        }
    }
}

#[wasm_bindgen_test]
async fn changing_a_control_reruns_and_changes_numbers_and_charts() {
    let (_mounted, host) = open("?s=rate-limiting");
    stats_change(&host, "").await;
    assert_eq!(metric_cell(&host, "max_in_any_window", 0), "40 requests");
    let before_stats = text(&host, "[data-testid=sim-stats]");
    let before_pixels = canvas_pixels(&host);
    choose(&host, "algorithm", "sliding_log");
    until("the sliding log result", || {
        metric_cell(&host, "max_in_any_window", 0) == "20 requests"
    })
    .await;
    assert_ne!(text(&host, "[data-testid=sim-stats]"), before_stats);
    TimeoutFuture::new(100).await;
    assert_ne!(canvas_pixels(&host), before_pixels, "charts were redrawn");
    until("the URL to name the new algorithm", || {
        location_query().contains("algorithm=sliding_log")
    })
    .await;
}

#[wasm_bindgen_test]
async fn the_url_restores_the_exact_view_and_round_trips() {
    // `seed=07` is written back as `seed=7`: proof the page rewrote the URL.
    let query = "?s=rate-limiting&limit=15&seed=07&d=12&cmp=1&cmp.algorithm=token_bucket&t=5";
    let (_mounted, host) = open(query);
    stats_change(&host, "").await;
    until("the page to rewrite the URL", || {
        location_query().contains("seed=7")
    })
    .await;
    let input: web_sys::HtmlInputElement = all(&host, "[data-param=limit] input[type=number]")
        .pop()
        .and_then(|e| e.dyn_into().ok())
        .unwrap_or_else(|| panic!("limit input"));
    assert_eq!(input.value(), "15");
    assert_eq!(
        metric_cell(&host, "max_in_any_window", 0),
        "30 requests",
        "fixed window: 2 × 15"
    );
    assert_eq!(text(&host, ".time"), "5 / 12 s");
    let spec = &prodsim::scenarios::find("rate-limiting")
        .unwrap_or_else(|e| panic!("{e}"))
        .spec;
    let (written, notices) = decode(spec, &location_query());
    let (asked, _) = decode(spec, query);
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(written, asked, "the page wrote back the view it was given");
}

#[wasm_bindgen_test]
async fn hiding_the_page_writes_a_pending_url_change_at_once() {
    let (_mounted, host) = open("?s=rate-limiting");
    stats_change(&host, "").await;
    choose(&host, "algorithm", "sliding_log");
    // Let the effects run, but well inside the URL write's delay.
    TimeoutFuture::new(20).await;
    assert!(
        !location_query().contains("sliding_log"),
        "the write waits while changes may still come"
    );
    let _ = window()
        .dispatch_event(&web_sys::Event::new("pagehide").unwrap_or_else(|_| panic!("event")));
    assert!(
        location_query().contains("algorithm=sliding_log"),
        "{}",
        location_query()
    );
}

#[wasm_bindgen_test]
async fn bad_url_values_are_clamped_with_a_visible_notice() {
    let (_mounted, host) = open("?s=rate-limiting&limit=99999&algorithm=leaky&bogus=1&seed=x");
    stats_change(&host, "").await;
    let notices = text(&host, ".notices");
    assert!(
        notices.contains("limit: 99999 is outside 1–1000 requests; using 1000"),
        "{notices}"
    );
    assert!(
        notices.contains("algorithm='leaky' is not an option"),
        "{notices}"
    );
    assert!(notices.contains("unknown parameter 'bogus'"), "{notices}");
    assert!(notices.contains("seed 'x'"), "{notices}");
    until("the clamped limit in the URL", || {
        location_query().contains("limit=1000")
    })
    .await;
}

#[wasm_bindgen_test]
async fn unknown_scenario_falls_back_to_the_catalogue_with_a_notice() {
    let (_mounted, host) = open("?s=no-such-thing");
    TimeoutFuture::new(50).await;
    assert!(text(&host, ".notices").contains("unknown scenario 'no-such-thing'"));
    assert_eq!(
        all(&host, ".card").len(),
        catalogue().map(|c| c.len()).unwrap_or(0)
    );
}

#[wasm_bindgen_test]
async fn compare_mode_shows_both_runs_side_by_side() {
    let (_mounted, host) = open("?s=connection-pool&d=5&cmp=1&cmp.pooling=false");
    stats_change(&host, "").await;
    assert_eq!(all(&host, "svg.diagram").len(), 2, "a diagram per variant");
    assert!(text(&host, "table.summary thead").contains("B − A"));
    // Same arrivals in both runs, so the request counts match...
    assert_eq!(
        metric_cell(&host, "requests", 0),
        metric_cell(&host, "requests", 1)
    );
    // ...while connect-per-request waits the whole 50 ms handshake.
    assert_eq!(metric_cell(&host, "pool_wait_mean_ms", 1), "50 ms");
}

#[wasm_bindgen_test]
async fn an_embed_renders_without_the_chrome() {
    // `d=05` is written back as `d=5`, keeping `embed=1`.
    let (_mounted, host) = open("?s=connection-pool&d=05&embed=1");
    stats_change(&host, "").await;
    assert!(all(&host, ".controls").is_empty() && all(&host, ".lesson").is_empty());
    assert!(all(&host, "header.site").is_empty());
    assert_eq!(all(&host, "canvas").len(), 3);
    assert!(
        all(&host, ".page.embed h1 a[target=_blank]").len() == 1,
        "a link to the full page"
    );
    until("the rewritten URL to keep embed=1", || {
        let q = location_query();
        q.contains("d=5") && q.contains("embed=1")
    })
    .await;
}

#[wasm_bindgen_test]
async fn the_catalogue_lists_every_scenario_and_filters_by_topic() {
    let (_mounted, host) = open("");
    TimeoutFuture::new(50).await;
    let n = catalogue().map(|c| c.len()).unwrap_or(0);
    assert_eq!(all(&host, ".card").len(), n);
    let input: web_sys::HtmlInputElement = all(&host, "input[type=search]")
        .pop()
        .and_then(|e| e.dyn_into().ok())
        .unwrap_or_else(|| panic!("finder"));
    input.set_value("sliding window");
    let _ = input.dispatch_event(&web_sys::Event::new("input").unwrap_or_else(|_| panic!("event")));
    until("the filter", || all(&host, ".card").len() == 1).await;
    assert_eq!(all(&host, ".card[data-scenario=rate-limiting]").len(), 1);
}

#[wasm_bindgen_test]
async fn comparing_with_a_preset_runs_that_preset_and_names_both_variants() {
    // A is edited (20 workers); B is the preset exactly as its button sets
    // it, not A's edits with the preset's values on top.
    let (_mounted, host) = open("?s=bulk-upload&workers=20");
    stats_change(&host, "").await;
    let before = text(&host, "[data-testid=sim-stats]");
    let select: web_sys::HtmlSelectElement = all(&host, "#compare")
        .pop()
        .and_then(|e| e.dyn_into().ok())
        .unwrap_or_else(|| panic!("compare select"));
    select.set_value("preset:retry_duplicates");
    let _ =
        select.dispatch_event(&web_sys::Event::new("change").unwrap_or_else(|_| panic!("event")));
    stats_change(&host, &before).await;
    until("the B diagram", || all(&host, "svg.diagram").len() == 2).await;
    let spec = &prodsim::scenarios::find("bulk-upload")
        .unwrap_or_else(|e| panic!("{e}"))
        .spec;
    let preset = spec
        .preset("retry_duplicates")
        .unwrap_or_else(|e| panic!("{e}"));
    let captions = text(&host, ".diagrams");
    assert!(captions.contains("A: your settings"), "{captions}");
    assert!(
        captions.contains(&format!("B: {}", preset.label)),
        "{captions}"
    );
    assert_eq!(select.value(), "preset:retry_duplicates");
    // B runs the preset's own worker count, not A's 20.
    until("the URL to hold both variants", || {
        location_query().contains("cmp=1")
    })
    .await;
    let url = location_query();
    assert!(
        url.contains("workers=20") && !url.contains("cmp.workers=20"),
        "{url}"
    );
}

/// A message to or from the simulator crosses to JavaScript and back
/// unchanged, whatever its words hold; lengths that cut a character, or
/// do not add up to the text, make it no message.
#[wasm_bindgen_test]
fn a_message_crosses_to_javascript_and_back_unchanged() {
    use prodsim::protocol::Wire;
    use prodsim::ui::{wire_from_js, wire_to_js};
    use wasm_bindgen::JsValue;
    let wire = Wire {
        numbers: vec![1.0, -0.5, f64::MAX, 1e-300, 0.0],
        words: vec![
            String::new(),
            "slow ×20, 30–60 s".into(),
            "é".into(),
            "plain".into(),
            String::new(),
        ],
    };
    assert_eq!(wire_from_js(&wire_to_js(&wire)), Some(wire));
    let posted = |text: &str, lengths: &[u32]| -> JsValue {
        js_sys::Array::of3(
            &js_sys::Float64Array::new_from_slice(&[]),
            &JsValue::from_str(text),
            &js_sys::Uint32Array::new_from_slice(lengths),
        )
        .into()
    };
    // "×" is two bytes in UTF-8: one byte cuts it.
    assert_eq!(wire_from_js(&posted("×", &[1, 1])), None);
    assert_eq!(wire_from_js(&posted("abc", &[1])), None);
    assert_eq!(wire_from_js(&posted("abc", &[2, 2])), None);
    assert_eq!(
        wire_from_js(&posted("abc", &[1, 2])).map(|w| w.words),
        Some(vec!["a".to_string(), "bc".to_string()])
    );
    assert_eq!(wire_from_js(&JsValue::from_str("not a message")), None);
}
