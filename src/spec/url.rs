//! The URL query codec: a link holds the scenario, every non-default
//! parameter, the seed, the duration, the compare variant and the time
//! position, so opening it reproduces exactly what the sender saw.
//!
//! `?s=rate-limiting&algorithm=token_bucket&seed=7&cmp=1&cmp.algorithm=sliding_log&t=12.5`
//!
//! Decoding never fails: unknown keys are dropped and bad values clamped or
//! replaced by defaults, each with a notice for the page to show.

use super::{Params, ScenarioSpec, DEFAULT_SEED};

/// Query keys that are not parameters.
pub const RESERVED: &[&str] = &["s", "seed", "d", "t", "cmp", "embed"];

/// Prefix of the compare variant's parameters.
const CMP: &str = "cmp.";

/// Everything a URL can say about a scenario view.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewState {
    /// Parameters of the main run.
    pub params: Params,
    /// Seed.
    pub seed: u64,
    /// Simulated seconds.
    pub duration_s: f64,
    /// Parameters of the compare variant, when comparing.
    pub compare: Option<Params>,
    /// Scrubber position, seconds (None = end of run).
    pub time_s: Option<f64>,
    /// Chrome-free embed rendering.
    pub embed: bool,
}

impl ViewState {
    /// The default view of `spec`.
    pub fn new(spec: &ScenarioSpec) -> Self {
        Self {
            params: spec.defaults(),
            seed: DEFAULT_SEED,
            duration_s: spec.duration_s.default,
            compare: None,
            time_s: None,
            embed: false,
        }
    }
}

/// Splits a query string (with or without `?`) into decoded pairs.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The scenario id named by a query string, if any.
pub fn scenario_id(query: &str) -> Option<String> {
    parse_query(query)
        .into_iter()
        .find(|(k, _)| k == "s")
        .map(|(_, v)| v)
}

/// Decodes a query into a view of `spec`, with notices for whatever had to
/// be dropped, clamped or replaced.
pub fn decode(spec: &ScenarioSpec, query: &str) -> (ViewState, Vec<String>) {
    let mut view = ViewState::new(spec);
    let mut notices = Vec::new();
    let pairs = parse_query(query);
    let mut compare: Option<Params> = None;
    let mut compare_sets = Vec::new();
    for (key, value) in &pairs {
        match key.as_str() {
            "s" => {}
            "seed" => match value.parse::<u64>() {
                Ok(seed) => view.seed = seed,
                Err(_) => notices.push(format!(
                    "seed '{value}' is not a whole number from 0 to {}; using {DEFAULT_SEED}",
                    u64::MAX
                )),
            },
            "d" => match value.parse::<f64>() {
                Ok(d) if d.is_finite() => {
                    let (lo, hi) = (spec.duration_s.min, spec.duration_s.max);
                    view.duration_s = d.clamp(lo, hi);
                    if view.duration_s != d {
                        notices.push(format!(
                            "duration {d} s is outside {lo}–{hi} s; using {}",
                            view.duration_s
                        ));
                    }
                }
                _ => notices.push(format!(
                    "duration '{value}' is not a number; using the default"
                )),
            },
            "t" => match value.parse::<f64>() {
                Ok(t) if t.is_finite() && t >= 0.0 => view.time_s = Some(t),
                _ => notices.push(format!("time '{value}' is not a position; showing the end")),
            },
            "embed" => view.embed = value == "1" || value == "true",
            "cmp" => compare = Some(view.params.clone()),
            k if k.starts_with(CMP) => compare_sets.push((&k[CMP.len()..], value.as_str())),
            k => {
                if let Some(n) = spec.set_clamped(&mut view.params, k, value) {
                    notices.push(n);
                }
            }
        }
    }
    if let Some(t) = view.time_s {
        if t > view.duration_s {
            view.time_s = Some(view.duration_s);
            notices.push(format!(
                "time {t} s is past the end; showing {} s",
                view.duration_s
            ));
        }
    }
    // The variant starts from the main parameters (as finally decoded).
    if compare.is_some() || !compare_sets.is_empty() {
        let mut variant = view.params.clone();
        for (key, value) in compare_sets {
            if let Some(n) = spec.set_clamped(&mut variant, key, value) {
                notices.push(format!("compare variant: {n}"));
            }
        }
        view.compare = Some(variant);
    }
    (view, notices)
}

/// Encodes a view as a query string (without `?`): only what differs from
/// the defaults, so links stay short and survive new parameters.
pub fn encode(spec: &ScenarioSpec, view: &ViewState) -> String {
    let mut out = vec![format!("s={}", percent_encode(&spec.id))];
    let defaults = spec.defaults();
    for (key, value) in view.params.iter() {
        if defaults.get(key) != Some(value) {
            out.push(format!(
                "{}={}",
                percent_encode(key),
                percent_encode(&value.to_string())
            ));
        }
    }
    if view.seed != DEFAULT_SEED {
        out.push(format!("seed={}", view.seed));
    }
    if view.duration_s != spec.duration_s.default {
        out.push(format!("d={}", view.duration_s));
    }
    if let Some(variant) = &view.compare {
        out.push("cmp=1".into());
        for (key, value) in variant.iter() {
            if view.params.get(key) != Some(value) {
                out.push(format!(
                    "{CMP}{}={}",
                    percent_encode(key),
                    percent_encode(&value.to_string())
                ));
            }
        }
    }
    if let Some(t) = view.time_s {
        out.push(format!("t={t}"));
    }
    if view.embed {
        out.push("embed=1".into());
    }
    out.join("&")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_codec_round_trips_and_tolerates_garbage() {
        for s in ["plain", "a b&c=d", "ünï", "100%"] {
            assert_eq!(percent_decode(&percent_encode(s)), s);
        }
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("a+b"), "a b");
    }

    #[test]
    fn query_pairs_split_cleanly() {
        let pairs = parse_query("?s=x&&flag&k=v%3D1");
        assert_eq!(
            pairs,
            vec![
                ("s".into(), "x".into()),
                ("flag".into(), "".into()),
                ("k".into(), "v=1".into())
            ]
        );
        assert_eq!(scenario_id("a=1&s=pool"), Some("pool".into()));
    }
}
