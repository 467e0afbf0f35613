//! Errors about scenarios and their parameters, worded for the person who
//! typed the bad value: each names what would have been valid.

use super::ParamValue;
use std::fmt;

/// Something wrong with a scenario id, parameter, preset or data file.
#[derive(Clone, Debug, PartialEq)]
pub enum SpecError {
    /// No scenario with this id.
    UnknownScenario {
        /// What was asked for.
        id: String,
        /// Registered ids.
        valid: Vec<String>,
    },
    /// The scenario has no such parameter.
    UnknownParam {
        /// Scenario id.
        scenario: String,
        /// What was asked for.
        key: String,
        /// Declared keys.
        valid: Vec<String>,
    },
    /// A number outside its range.
    OutOfRange {
        /// Parameter key.
        key: String,
        /// The value given.
        value: String,
        /// Smallest allowed.
        min: f64,
        /// Largest allowed.
        max: f64,
        /// Unit.
        unit: String,
    },
    /// A value of the wrong type.
    WrongType {
        /// Parameter key.
        key: String,
        /// What was expected.
        expected: String,
        /// What was given.
        got: String,
    },
    /// A select value that is not one of the options.
    UnknownOption {
        /// Parameter key.
        key: String,
        /// The value given.
        value: String,
        /// Valid options.
        options: Vec<String>,
    },
    /// No preset with this name.
    UnknownPreset {
        /// Scenario id.
        scenario: String,
        /// What was asked for.
        name: String,
        /// Declared presets.
        valid: Vec<String>,
    },
    /// A data file or model inconsistency.
    Invalid(String),
}

impl SpecError {
    pub(crate) fn wrong_type(key: &str, expected: &str, got: &ParamValue) -> Self {
        SpecError::WrongType {
            key: key.to_string(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::UnknownScenario { id, valid } => {
                write!(f, "unknown scenario '{id}' (valid: {})", list(valid))
            }
            SpecError::UnknownParam {
                scenario,
                key,
                valid,
            } => write!(
                f,
                "scenario '{scenario}' has no parameter '{key}' (valid: {})",
                list(valid)
            ),
            SpecError::OutOfRange {
                key,
                value,
                min,
                max,
                unit,
            } => {
                let unit = if unit.is_empty() {
                    String::new()
                } else {
                    format!(" {unit}")
                };
                write!(
                    f,
                    "{key}={value} is out of range (valid: {min} to {max}{unit})"
                )
            }
            SpecError::WrongType { key, expected, got } => {
                write!(f, "{key}='{got}' is not valid (expected {expected})")
            }
            SpecError::UnknownOption {
                key,
                value,
                options,
            } => write!(
                f,
                "{key}='{value}' is not an option (valid: {})",
                list(options)
            ),
            SpecError::UnknownPreset {
                scenario,
                name,
                valid,
            } => write!(
                f,
                "scenario '{scenario}' has no preset '{name}' (valid: {})",
                list(valid)
            ),
            SpecError::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for SpecError {}
