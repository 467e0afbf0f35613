//! The scenario data-file format and everything that checks values against it.
//!
//! A scenario file (`scenarios/<id>.toml`) holds everything presentational:
//! titles, parameters with ranges, presets, metrics, charts, the diagram and
//! the lesson. The model in `src/scenarios/<id>.rs` holds only behaviour.
//! Parameter values are checked here, strictly for the CLI (bad input is an
//! error naming the valid choices) and leniently for URLs (clamped, with a
//! notice the page shows).

pub mod choice;
mod error;
pub mod faults;
pub mod url;

pub use choice::{with_read_log, Choice};
pub use error::SpecError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A parameter value: a number, a choice among options, or an on/off flag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A toggle.
    Flag(bool),
    /// A slider.
    Number(f64),
    /// A select.
    Choice(String),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Flag(b) => write!(f, "{b}"),
            ParamValue::Number(n) => write!(f, "{n}"),
            ParamValue::Choice(c) => f.write_str(c),
        }
    }
}

/// How a parameter is edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// A number in `[min, max]` in steps of `step`.
    Slider,
    /// One of `options`.
    Select,
    /// On or off.
    Toggle,
    /// A fault schedule ([`faults`]): text naming stages from `options`,
    /// with times up to `max` seconds.
    Faults,
}

/// One parameter of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct ParamSpec {
    /// Key used in URLs, `--set key=value` and the model.
    pub key: String,
    /// Human label.
    pub label: String,
    /// Unit shown after the value ("ms", "req/s").
    #[serde(default)]
    pub unit: String,
    /// Slider, select or toggle.
    pub kind: ParamKind,
    /// Slider minimum.
    #[serde(default)]
    pub min: f64,
    /// Slider maximum.
    #[serde(default)]
    pub max: f64,
    /// Slider step.
    #[serde(default)]
    pub step: f64,
    /// Default value.
    pub default: ParamValue,
    /// Select options.
    #[serde(default)]
    pub options: Vec<String>,
    /// One-sentence explanation.
    #[serde(default)]
    pub help: String,
    /// When the control applies; otherwise it is shown disabled with
    /// `disabled_reason` (refill rate means nothing to a fixed window).
    #[serde(default, skip_serializing_if = "Condition::is_always")]
    pub enabled_when: Condition,
    /// Why the control is disabled when `enabled_when` does not hold.
    #[serde(default)]
    pub disabled_reason: String,
}

/// A condition on parameter values: every listed key must hold one of its
/// listed values (`{ strategy = ["stream"], gzip = [true] }`). Empty means
/// always. Used to show diagram parts and controls only where they apply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Condition(pub BTreeMap<String, Vec<ParamValue>>);

impl Condition {
    /// True when the condition has no clauses.
    pub fn is_always(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `params` satisfy every clause.
    pub fn holds(&self, params: &Params) -> bool {
        self.0
            .iter()
            .all(|(key, allowed)| params.get(key).is_some_and(|v| allowed.contains(v)))
    }
}

/// When a stage counts as "in trouble": its value is above a fixed level,
/// or above a fraction of a parameter (heap near its limit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct WarnSpec {
    /// Warn above this value.
    #[serde(default)]
    pub above: Option<f64>,
    /// Warn above `fraction` × this parameter's value.
    #[serde(default)]
    pub above_param: Option<String>,
    /// The fraction of `above_param` (default 1).
    #[serde(default = "one")]
    pub fraction: f64,
}

fn one() -> f64 {
    1.0
}

impl WarnSpec {
    /// The level above which a value warns, for these parameters.
    pub fn level(&self, params: &Params) -> Option<f64> {
        match (&self.above_param, self.above) {
            (Some(key), _) => params.number(key).ok().map(|v| v * self.fraction),
            (None, Some(level)) => Some(level),
            (None, None) => None,
        }
    }
}

/// How to show a metric that measures something which did not happen in
/// this run (the time to the first crash, when nothing crashed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct NeverSpec {
    /// The metric that counts the event; when it is 0 the value is not shown.
    pub unless: String,
    /// What is shown instead ("—, no crash").
    pub text: String,
}

/// A named set of parameter values ("bad", "good"...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct Preset {
    /// Name used by `--preset` and in URLs.
    pub name: String,
    /// Button label.
    pub label: String,
    /// What this preset shows.
    #[serde(default)]
    pub description: String,
    /// Values that differ from the defaults.
    pub values: BTreeMap<String, ParamValue>,
}

/// A summary number or a charted series declared by the scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct MetricSpec {
    /// Key the model reports.
    pub key: String,
    /// Human label.
    pub label: String,
    /// Unit.
    #[serde(default)]
    pub unit: String,
    /// A one-line definition: what is measured, over what span.
    #[serde(default)]
    pub description: String,
    /// For a series shown on the diagram: when its stage is in trouble.
    #[serde(default)]
    pub warn: Option<WarnSpec>,
    /// For a summary metric: what to show when the event never happened.
    #[serde(default)]
    pub never: Option<NeverSpec>,
}

/// One chart: several series sharing a unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct ChartSpec {
    /// Chart title.
    pub title: String,
    /// Y-axis unit.
    #[serde(default)]
    pub unit: String,
    /// Series keys drawn on it (common or scenario-specific).
    pub series: Vec<String>,
}

/// A box in the architecture diagram.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct NodeSpec {
    /// Node id, referenced by links.
    pub id: String,
    /// Label in the box.
    pub label: String,
    /// Centre, in a 0–100 × 0–60 layout grid.
    pub x: f64,
    /// Centre, in a 0–100 × 0–60 layout grid.
    pub y: f64,
    /// Series keys whose value at the current time the box displays.
    #[serde(default)]
    pub shows: Vec<String>,
    /// When the box is drawn (object storage only for the job strategies).
    #[serde(default, skip_serializing_if = "Condition::is_always")]
    pub when: Condition,
}

/// An arrow between two diagram nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct LinkSpec {
    /// Source node id.
    pub from: String,
    /// Target node id.
    pub to: String,
    /// Optional label.
    #[serde(default)]
    pub label: String,
    /// When the arrow is drawn (it is never drawn without both ends).
    #[serde(default, skip_serializing_if = "Condition::is_always")]
    pub when: Condition,
}

/// A predict-then-run question.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct Predict {
    /// The question.
    pub question: String,
    /// The answer, revealed after the user's guess has been run.
    pub answer: String,
    /// The preset the question starts from (the defaults when absent).
    #[serde(default)]
    pub from: Option<String>,
    /// The change the question asks about, applied on top of `from`.
    #[serde(default)]
    pub set: BTreeMap<String, ParamValue>,
    /// The metric the user guesses; the page runs the change and shows the
    /// guess beside this metric's value.
    #[serde(default)]
    pub metric: String,
}

impl Predict {
    /// The parameters of the run the question asks about.
    pub fn params(&self, spec: &ScenarioSpec) -> Result<Params, SpecError> {
        let mut params = spec.defaults();
        if let Some(from) = &self.from {
            spec.apply_preset(&mut params, from)?;
        }
        for (key, value) in &self.set {
            let p = spec
                .param(key)
                .ok_or_else(|| SpecError::Invalid(format!("predict sets unknown '{key}'")))?;
            p.check(value)?;
            params.put(key, value.clone());
        }
        Ok(params)
    }
}

/// An interview-style answer, in six steps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct Interview {
    /// Questions to ask first.
    pub clarify: String,
    /// What makes it hard.
    pub challenge: String,
    /// The design.
    pub solution: String,
    /// What it costs.
    pub tradeoffs: String,
    /// How it grows.
    pub scale: String,
    /// Running it for real.
    pub production: String,
}

/// One sentence of a lesson that says what happens: a claim. Its id ties it
/// to the lesson test that runs what it describes and checks what it says
/// (`claim("<scenario>/<id>")` in `tests/`; a registry test enforces it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct Claim {
    /// Stable id, unique within the scenario.
    pub id: String,
    /// The sentence shown.
    pub text: String,
}

/// A lesson's table: a heading, column headings, and rows whose first
/// cell names the row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct LessonTable {
    /// The heading above it.
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// The rows, each a claim that a lesson test checks.
    pub rows: Vec<TableRow>,
}

/// One row of a [`LessonTable`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct TableRow {
    /// Stable id, unique within the scenario (its claim id).
    pub id: String,
    /// One text per column.
    pub cells: Vec<String>,
}

/// The lesson shown beside the simulation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct Lesson {
    /// What to notice.
    pub notice: Vec<Claim>,
    /// Guided experiments.
    pub try_this: Vec<Claim>,
    /// A table that compares cases side by side (db-suddenly-slow's "what
    /// to check first"); each row is a claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<LessonTable>,
    /// Predict, then run.
    pub predict: Predict,
    /// The interview answer.
    pub interview: Interview,
}

/// Simulated duration bounds, seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct DurationSpec {
    /// Default run length.
    pub default: f64,
    /// Shortest allowed.
    pub min: f64,
    /// Longest allowed.
    pub max: f64,
    /// The unit the page's duration control counts in ("s", "min" or "h";
    /// seconds when absent). URLs and the CLI always use seconds.
    #[serde(default)]
    pub unit: String,
}

impl DurationSpec {
    /// Seconds per unit of the control, and the unit's name.
    pub fn control_unit(&self) -> (f64, &str) {
        match self.unit.as_str() {
            "h" => (3600.0, "h"),
            "min" => (60.0, "min"),
            _ => (1.0, "s"),
        }
    }
}

/// A whole scenario data file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(deny_unknown_fields))]
pub struct ScenarioSpec {
    /// Stable id (also the file name and the URL's `s=`).
    pub id: String,
    /// Title.
    pub title: String,
    /// Which part of the notes it comes from ("Part 1", "Node/Express").
    pub part: String,
    /// One-line summary for the catalogue.
    pub summary: String,
    /// Words the topic finder matches.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Duration bounds in seconds.
    pub duration_s: DurationSpec,
    /// Parameters, in display order.
    pub params: Vec<ParamSpec>,
    /// Presets.
    #[serde(default)]
    pub presets: Vec<Preset>,
    /// The common metrics that mean something for this scenario, shown on
    /// the page (all when absent). A single export has no "throughput".
    #[serde(default)]
    pub common_metrics: Option<Vec<String>>,
    /// The series whose peak is the moment the diagram opens on; without
    /// it, the first marked event or the middle of the active span.
    #[serde(default)]
    pub focus: Option<String>,
    /// The scenario's own summary metrics (the common ones are implicit).
    pub metrics: Vec<MetricSpec>,
    /// The scenario's own series (the common ones are implicit).
    #[serde(default)]
    pub series: Vec<MetricSpec>,
    /// Charts to draw.
    pub charts: Vec<ChartSpec>,
    /// Diagram boxes.
    pub nodes: Vec<NodeSpec>,
    /// Diagram arrows.
    pub links: Vec<LinkSpec>,
    /// The lesson. The site's data file for a scenario leaves it out: the
    /// page fetches it apart (`data/<id>.lesson.json`) once the scenario is
    /// interactive, so the text is not in the way of the first run.
    /// (`tests/registry.rs` checks that every scenario has a full lesson.)
    /// The browser build never reads it here, which keeps a second copy of
    /// the lesson's parser out of the wasm.
    #[cfg_attr(
        any(not(target_arch = "wasm32"), feature = "embedded-data"),
        serde(default)
    )]
    #[cfg_attr(
        all(target_arch = "wasm32", not(feature = "embedded-data")),
        serde(skip)
    )]
    pub lesson: Lesson,
}

/// Effective parameter values for one run, in the spec's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    values: Vec<(String, ParamValue)>,
}

/// Run settings besides the parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunConfig {
    /// Seed of every random stream.
    pub seed: u64,
    /// Simulated seconds.
    pub duration_s: f64,
}

/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 42;

impl Params {
    /// All values in spec order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&ParamValue> {
        self.values.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` (already validated) to `value`.
    fn put(&mut self, key: &str, value: ParamValue) {
        if let Some(slot) = self.values.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
        }
    }

    /// A numeric parameter.
    pub fn number(&self, key: &str) -> Result<f64, SpecError> {
        choice::note(key, None);
        match self.get(key) {
            Some(ParamValue::Number(n)) => Ok(*n),
            Some(other) => Err(SpecError::wrong_type(key, "a number", other)),
            None => Err(SpecError::Invalid(format!(
                "model reads undeclared parameter '{key}'"
            ))),
        }
    }

    /// A numeric parameter as a count (rounded, at least 0).
    pub fn count(&self, key: &str) -> Result<u64, SpecError> {
        Ok(self.number(key)?.round().max(0.0) as u64)
    }

    /// A select parameter read into its enum: the option's variant, or an
    /// error naming the options the enum knows.
    pub fn pick<C: Choice>(&self, key: &str) -> Result<C, SpecError> {
        let name = self.text(key)?;
        choice::note(key, Some(C::NAMES));
        C::from_name(name).ok_or_else(|| SpecError::UnknownOption {
            key: key.to_string(),
            value: name.to_string(),
            options: C::NAMES.iter().map(|n| n.to_string()).collect(),
        })
    }

    /// A parameter held as text (a fault schedule). Select parameters are
    /// read with [`Params::pick`].
    pub fn choice(&self, key: &str) -> Result<&str, SpecError> {
        choice::note(key, None);
        self.text(key)
    }

    fn text(&self, key: &str) -> Result<&str, SpecError> {
        match self.get(key) {
            Some(ParamValue::Choice(c)) => Ok(c),
            Some(other) => Err(SpecError::wrong_type(key, "one of the options", other)),
            None => Err(SpecError::Invalid(format!(
                "model reads undeclared parameter '{key}'"
            ))),
        }
    }

    /// A toggle parameter.
    pub fn flag(&self, key: &str) -> Result<bool, SpecError> {
        choice::note(key, None);
        match self.get(key) {
            Some(ParamValue::Flag(b)) => Ok(*b),
            Some(other) => Err(SpecError::wrong_type(key, "true or false", other)),
            None => Err(SpecError::Invalid(format!(
                "model reads undeclared parameter '{key}'"
            ))),
        }
    }
}

impl ParamSpec {
    /// Checks `value` strictly: right type, in range, a known option.
    pub fn check(&self, value: &ParamValue) -> Result<(), SpecError> {
        match (self.kind, value) {
            (ParamKind::Slider, ParamValue::Number(n)) => {
                if n.is_finite() && *n >= self.min && *n <= self.max {
                    Ok(())
                } else {
                    Err(SpecError::OutOfRange {
                        key: self.key.clone(),
                        value: n.to_string(),
                        min: self.min,
                        max: self.max,
                        unit: self.unit.clone(),
                    })
                }
            }
            (ParamKind::Select, ParamValue::Choice(c)) => {
                if self.options.iter().any(|o| o == c) {
                    Ok(())
                } else {
                    Err(SpecError::UnknownOption {
                        key: self.key.clone(),
                        value: c.clone(),
                        options: self.options.clone(),
                    })
                }
            }
            (ParamKind::Toggle, ParamValue::Flag(_)) => Ok(()),
            (ParamKind::Faults, ParamValue::Choice(c)) => faults::parse(c, &self.options, self.max)
                .map(|_| ())
                .map_err(|why| self.bad_schedule(&why, c)),
            (_, other) => Err(SpecError::wrong_type(&self.key, self.expects(), other)),
        }
    }

    /// A schedule that does not parse, as the error users see.
    fn bad_schedule(&self, why: &str, got: &str) -> SpecError {
        SpecError::WrongType {
            key: self.key.clone(),
            expected: format!("a fault schedule ({why})"),
            got: got.to_string(),
        }
    }

    fn expects(&self) -> &'static str {
        match self.kind {
            ParamKind::Slider => "a number",
            ParamKind::Select => "one of the options",
            ParamKind::Toggle => "true or false",
            ParamKind::Faults => "a fault schedule (stage:kind:start:duration, …)",
        }
    }

    /// Parses text typed by a user (CLI `--set`, URL) strictly.
    pub fn parse(&self, raw: &str) -> Result<ParamValue, SpecError> {
        let raw = raw.trim();
        let value = match self.kind {
            ParamKind::Slider => match raw.parse::<f64>() {
                Ok(n) if n.is_finite() => ParamValue::Number(n),
                _ => {
                    return Err(SpecError::WrongType {
                        key: self.key.clone(),
                        expected: format!("a number from {} to {}", self.min, self.max),
                        got: raw.to_string(),
                    })
                }
            },
            ParamKind::Select => ParamValue::Choice(raw.to_string()),
            ParamKind::Faults => {
                let parsed = faults::parse(raw, &self.options, self.max)
                    .map_err(|why| self.bad_schedule(&why, raw))?;
                ParamValue::Choice(faults::format(&parsed))
            }
            ParamKind::Toggle => match raw {
                "true" | "1" | "on" | "yes" => ParamValue::Flag(true),
                "false" | "0" | "off" | "no" => ParamValue::Flag(false),
                _ => {
                    return Err(SpecError::WrongType {
                        key: self.key.clone(),
                        expected: "true or false".into(),
                        got: raw.to_string(),
                    })
                }
            },
        };
        self.check(&value)?;
        Ok(value)
    }

    /// Parses leniently (for URLs): a number out of range is clamped to the
    /// range and snapped to the step; anything unusable falls back to the
    /// default. Returns the value and, if it was changed, a notice.
    pub fn parse_clamped(&self, raw: &str) -> (ParamValue, Option<String>) {
        if self.kind == ParamKind::Faults {
            let (parsed, notices) = faults::parse_lenient(raw, &self.options, self.max);
            let value = ParamValue::Choice(faults::format(&parsed));
            let key = &self.key;
            return (
                value,
                (!notices.is_empty()).then(|| format!("{key}: {}", notices.join("; "))),
            );
        }
        match self.parse(raw) {
            Ok(v) => (v, None),
            Err(SpecError::OutOfRange { .. }) => {
                let n = raw.trim().parse::<f64>().unwrap_or(self.min);
                let v = ParamValue::Number(self.snap(n));
                let note = format!(
                    "{}: {} is outside {}–{}{}; using {}",
                    self.key,
                    raw.trim(),
                    self.min,
                    self.max,
                    unit_suffix(&self.unit),
                    v
                );
                (v, Some(note))
            }
            Err(e) => (
                self.default.clone(),
                Some(format!("{e}; using the default {}", self.default)),
            ),
        }
    }

    /// Clamps `n` into range and onto the step grid.
    pub fn snap(&self, n: f64) -> f64 {
        let clamped = n.clamp(self.min, self.max);
        if self.step > 0.0 {
            let steps = libm::round((clamped - self.min) / self.step);
            (self.min + steps * self.step).clamp(self.min, self.max)
        } else {
            clamped
        }
    }
}

/// Parses JSON text into `T`. In the browser, the browser's own
/// `JSON.parse` reads the text and serde walks the resulting object: the
/// site then carries no JSON parser of its own (serde_json is about 15 KB
/// of the download).
#[cfg(target_arch = "wasm32")]
pub fn parse_json_value<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let value = js_sys::JSON::parse(text).map_err(|_| "not valid JSON".to_string())?;
    serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
}

/// Parses JSON text into `T` (natively, with serde_json).
#[cfg(not(target_arch = "wasm32"))]
pub fn parse_json_value<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

fn unit_suffix(unit: &str) -> String {
    if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    }
}

impl ScenarioSpec {
    /// Parses a data file (as the JSON the build script converts each
    /// `scenarios/*.toml` into) and checks it for internal consistency.
    pub fn from_json(text: &str) -> Result<Self, SpecError> {
        let spec = Self::parse_json(text)?;
        spec.validate()?;
        Ok(spec)
    }

    fn parse_json(text: &str) -> Result<Self, SpecError> {
        parse_json_value(text).map_err(|e| SpecError::Invalid(format!("data file: {e}")))
    }

    /// Parses a TOML data file directly (tests and tools; the binaries use
    /// the build-time JSON).
    #[cfg(test)]
    pub fn from_toml(text: &str) -> Result<Self, SpecError> {
        let spec: ScenarioSpec =
            toml::from_str(text).map_err(|e| SpecError::Invalid(format!("data file: {e}")))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the file against itself: unique keys, defaults and presets in
    /// range, diagram links between existing nodes, charts of known series.
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |msg: String| Err(SpecError::Invalid(format!("{}: {msg}", self.id)));
        for (i, p) in self.params.iter().enumerate() {
            if self.params[..i].iter().any(|q| q.key == p.key) {
                return bad(format!("parameter '{}' declared twice", p.key));
            }
            if p.kind == ParamKind::Slider && !(p.min <= p.max && p.step >= 0.0) {
                return bad(format!("parameter '{}' has an empty range", p.key));
            }
            p.check(&p.default)
                .or_else(|e| bad(format!("default of '{}': {e}", p.key)))?;
        }
        for preset in &self.presets {
            for (key, value) in &preset.values {
                let Some(p) = self.param(key) else {
                    return bad(format!("preset '{}' sets unknown '{key}'", preset.name));
                };
                p.check(value)
                    .or_else(|e| bad(format!("preset '{}': {e}", preset.name)))?;
            }
        }
        for link in &self.links {
            for end in [&link.from, &link.to] {
                if !self.nodes.iter().any(|n| &n.id == end) {
                    return bad(format!("link to unknown node '{end}'"));
                }
            }
        }
        let conditions = self
            .params
            .iter()
            .map(|p| (format!("parameter '{}'", p.key), &p.enabled_when))
            .chain(
                self.nodes
                    .iter()
                    .map(|n| (format!("node '{}'", n.id), &n.when)),
            )
            .chain(
                self.links
                    .iter()
                    .map(|l| (format!("link {}->{}", l.from, l.to), &l.when)),
            );
        for (owner, condition) in conditions {
            for (key, values) in &condition.0 {
                let Some(p) = self.param(key) else {
                    return bad(format!("{owner}: condition on unknown parameter '{key}'"));
                };
                for v in values {
                    p.check(v).or_else(|e| bad(format!("{owner}: {e}")))?;
                }
            }
        }
        for m in self.series.iter() {
            if let Some(key) = m.warn.as_ref().and_then(|w| w.above_param.as_ref()) {
                if !matches!(self.param(key), Some(p) if p.kind == ParamKind::Slider) {
                    return bad(format!(
                        "series '{}' warns on unknown number '{key}'",
                        m.key
                    ));
                }
            }
        }
        let metric_keys = self.metric_keys();
        let predict = &self.lesson.predict;
        if let Err(e) = predict.params(self) {
            return bad(format!("lesson.predict: {e}"));
        }
        if !predict.metric.is_empty() && !metric_keys.contains(&predict.metric) {
            return bad(format!(
                "lesson.predict: unknown metric '{}'",
                predict.metric
            ));
        }
        for m in &self.metrics {
            if let Some(never) = &m.never {
                if !metric_keys.contains(&never.unless) {
                    return bad(format!(
                        "metric '{}': unknown metric '{}'",
                        m.key, never.unless
                    ));
                }
            }
        }
        for key in self.common_metrics.iter().flatten() {
            if !crate::engine::metrics::COMMON_METRICS.contains(&key.as_str()) {
                return bad(format!("common_metrics: '{key}' is not a common metric"));
            }
        }
        let known = self.series_keys();
        if let Some(focus) = &self.focus {
            if !known.contains(focus) {
                return bad(format!("focus: unknown series '{focus}'"));
            }
        }
        for key in self
            .charts
            .iter()
            .flat_map(|c| &c.series)
            .chain(self.nodes.iter().flat_map(|n| &n.shows))
        {
            if !known.iter().any(|k| k == key) {
                return bad(format!("chart or node shows unknown series '{key}'"));
            }
        }
        let d = &self.duration_s;
        if !["", "s", "min", "h"].contains(&d.unit.as_str()) {
            return bad(format!("duration_s.unit '{}' is not s, min or h", d.unit));
        }
        if !(d.min > 0.0 && d.min <= d.default && d.default <= d.max) {
            return bad("duration_s needs 0 < min <= default <= max".into());
        }
        Ok(())
    }

    /// The parameter called `key`.
    pub fn param(&self, key: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.key == key)
    }

    /// All parameter keys, for error messages.
    pub fn param_keys(&self) -> Vec<String> {
        self.params.iter().map(|p| p.key.clone()).collect()
    }

    /// Every series key a run of this scenario produces: common + own.
    pub fn series_keys(&self) -> Vec<String> {
        crate::engine::metrics::COMMON_SERIES
            .iter()
            .map(|s| s.to_string())
            .chain(self.series.iter().map(|s| s.key.clone()))
            .collect()
    }

    /// Every summary metric key a run produces: common + own.
    pub fn metric_keys(&self) -> Vec<String> {
        crate::engine::metrics::COMMON_METRICS
            .iter()
            .map(|s| s.to_string())
            .chain(self.metrics.iter().map(|m| m.key.clone()))
            .collect()
    }

    /// The default value of every parameter.
    pub fn defaults(&self) -> Params {
        Params {
            values: self
                .params
                .iter()
                .map(|p| (p.key.clone(), p.default.clone()))
                .collect(),
        }
    }

    /// The preset called `name`.
    pub fn preset(&self, name: &str) -> Result<&Preset, SpecError> {
        self.presets
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| SpecError::UnknownPreset {
                scenario: self.id.clone(),
                name: name.to_string(),
                valid: self.presets.iter().map(|p| p.name.clone()).collect(),
            })
    }

    /// Defaults, then a preset's values, then each `key=value` override, all
    /// checked strictly (the CLI's rules).
    pub fn resolve(
        &self,
        preset: Option<&str>,
        overrides: &[(String, String)],
    ) -> Result<Params, SpecError> {
        let mut params = self.defaults();
        if let Some(name) = preset {
            for (key, value) in &self.preset(name)?.values {
                params.put(key, value.clone());
            }
        }
        for (key, raw) in overrides {
            let spec = self.param(key).ok_or_else(|| SpecError::UnknownParam {
                scenario: self.id.clone(),
                key: key.clone(),
                valid: self.param_keys(),
            })?;
            params.put(key, spec.parse(raw)?);
        }
        Ok(params)
    }

    /// Applies a preset's values on top of `params` (already valid values).
    pub fn apply_preset(&self, params: &mut Params, name: &str) -> Result<(), SpecError> {
        for (key, value) in &self.preset(name)?.values {
            params.put(key, value.clone());
        }
        Ok(())
    }

    /// Sets one parameter leniently (the URL's and the UI's rules): returns a
    /// notice when the value had to be clamped or replaced.
    pub fn set_clamped(&self, params: &mut Params, key: &str, raw: &str) -> Option<String> {
        let Some(spec) = self.param(key) else {
            return Some(format!(
                "unknown parameter '{key}' ignored (valid: {})",
                self.param_keys().join(", ")
            ));
        };
        let (value, notice) = spec.parse_clamped(raw);
        params.put(key, value);
        notice
    }

    /// Checks a requested duration strictly.
    pub fn check_duration(&self, seconds: f64) -> Result<f64, SpecError> {
        let d = &self.duration_s;
        if seconds.is_finite() && seconds >= d.min && seconds <= d.max {
            Ok(seconds)
        } else {
            Err(SpecError::OutOfRange {
                key: "duration".into(),
                value: seconds.to_string(),
                min: d.min,
                max: d.max,
                unit: "s".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests;
