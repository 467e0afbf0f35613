use super::url::{decode, encode};
use super::*;

const SAMPLE: &str = r#"
id = "demo"
title = "Demo"
part = "Part 1"
summary = "A tiny scenario for tests."
duration_s = { default = 10.0, min = 1.0, max = 100.0 }

[[params]]
key = "rate"
label = "Rate"
unit = "req/s"
kind = "slider"
min = 1
max = 100
step = 1
default = 10

[[params]]
key = "mode"
label = "Mode"
kind = "select"
options = ["a", "b"]
default = "a"

[[params]]
key = "on"
label = "On"
kind = "toggle"
default = false

[[presets]]
name = "good"
label = "Good"
values = { mode = "b", on = true }

[[metrics]]
key = "x"
label = "X"

[[series]]
key = "depth"
label = "Depth"

[[charts]]
title = "C"
series = ["depth", "throughput_rps"]

[[nodes]]
id = "n1"
label = "N1"
x = 1
y = 1
shows = ["depth"]

[[nodes]]
id = "n2"
label = "N2"
x = 2
y = 2

[[links]]
from = "n1"
to = "n2"

[lesson]
notice = [{ id = "n", text = "n" }]
try_this = [{ id = "t", text = "t" }]
predict = { question = "q", answer = "a" }
interview = { clarify = "c", challenge = "c", solution = "s", tradeoffs = "t", scale = "s", production = "p" }
"#;

fn spec() -> ScenarioSpec {
    match ScenarioSpec::from_toml(SAMPLE) {
        Ok(s) => s,
        Err(e) => panic!("sample spec: {e}"),
    }
}

#[test]
fn parses_typed_defaults() {
    let s = spec();
    let d = s.defaults();
    assert_eq!(d.number("rate"), Ok(10.0));
    assert_eq!(d.choice("mode"), Ok("a"));
    assert_eq!(d.flag("on"), Ok(false));
    assert!(d.number("mode").is_err());
    assert!(d.flag("missing").is_err());
}

#[test]
fn resolve_applies_preset_then_overrides_strictly() {
    let s = spec();
    let p = s.resolve(Some("good"), &[("rate".into(), "55".into())]);
    let p = p.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.choice("mode"), Ok("b"));
    assert_eq!(p.flag("on"), Ok(true));
    assert_eq!(p.number("rate"), Ok(55.0));

    let err = |preset: Option<&str>, k: &str, v: &str| {
        s.resolve(preset, &[(k.to_string(), v.to_string())])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        err(None, "rate", "500"),
        "rate=500 is out of range (valid: 1 to 100 req/s)"
    );
    assert_eq!(
        err(None, "rate", "fast"),
        "rate='fast' is not valid (expected a number from 1 to 100)"
    );
    assert_eq!(
        err(None, "mode", "c"),
        "mode='c' is not an option (valid: a, b)"
    );
    assert_eq!(
        err(None, "on", "maybe"),
        "on='maybe' is not valid (expected true or false)"
    );
    assert_eq!(
        err(None, "nope", "1"),
        "scenario 'demo' has no parameter 'nope' (valid: rate, mode, on)"
    );
    assert_eq!(
        err(Some("best"), "rate", "1"),
        "scenario 'demo' has no preset 'best' (valid: good)"
    );
    assert!(err(None, "rate", "NaN").contains("not valid"));
}

#[test]
fn validation_catches_inconsistent_files() {
    let broken = [
        SAMPLE.replace("default = 10", "default = 1000"),
        SAMPLE.replace("values = { mode = \"b\"", "values = { mode = \"z\""),
        SAMPLE.replace("to = \"n2\"", "to = \"n9\""),
        SAMPLE.replace(
            "series = [\"depth\", \"throughput_rps\"]",
            "series = [\"nope\"]",
        ),
        SAMPLE.replace("min = 1.0, max = 100.0", "min = 20.0, max = 100.0"),
        SAMPLE.replace("title = \"Demo\"", ""),
    ];
    for text in broken {
        assert!(ScenarioSpec::from_toml(&text).is_err());
    }
}

#[test]
fn url_round_trips_every_part_of_the_view() {
    let s = spec();
    let (mut view, notices) = decode(&s, "");
    assert!(notices.is_empty());
    assert_eq!(encode(&s, &view), "s=demo");
    view.params = s
        .resolve(None, &[("rate".into(), "37".into())])
        .unwrap_or_else(|e| panic!("{e}"));
    view.seed = 99;
    view.duration_s = 50.0;
    let mut variant = view.params.clone();
    s.apply_preset(&mut variant, "good")
        .unwrap_or_else(|e| panic!("{e}"));
    view.compare = Some(variant);
    view.time_s = Some(12.5);
    view.embed = true;
    let query = encode(&s, &view);
    assert_eq!(
        query,
        "s=demo&rate=37&seed=99&d=50&cmp=1&cmp.mode=b&cmp.on=true&t=12.5&embed=1"
    );
    let (back, notices) = decode(&s, &format!("?{query}"));
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(back, view);
}

#[test]
fn bad_url_values_are_clamped_or_dropped_with_notices() {
    let s = spec();
    let (view, notices) = decode(
        &s,
        "s=demo&rate=5000&mode=zzz&on=perhaps&bogus=1&seed=-4&d=1e9&t=500&cmp.rate=0",
    );
    assert_eq!(view.params.number("rate"), Ok(100.0));
    assert_eq!(view.params.choice("mode"), Ok("a"));
    assert_eq!(view.params.flag("on"), Ok(false));
    assert_eq!(view.seed, DEFAULT_SEED);
    assert_eq!(view.duration_s, 100.0);
    assert_eq!(view.time_s, Some(100.0));
    assert_eq!(
        view.compare.as_ref().map(|c| c.number("rate")),
        Some(Ok(1.0))
    );
    assert_eq!(notices.len(), 8, "{notices:#?}");
    assert!(notices[0].contains("rate: 5000 is outside 1–100 req/s; using 100"));
    assert!(notices
        .iter()
        .any(|n| n.contains("unknown parameter 'bogus'")));
}

#[test]
fn snapping_respects_the_step() {
    let s = spec();
    let rate = s.param("rate").unwrap_or_else(|| panic!("rate"));
    assert_eq!(rate.snap(3.4), 3.0);
    assert_eq!(rate.snap(-7.0), 1.0);
    assert_eq!(rate.snap(1e12), 100.0);
}
