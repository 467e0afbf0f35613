//! Fault schedules as text: what a `faults` parameter holds, in data files,
//! presets, the CLI's `--set` and the URL.
//!
//! ```text
//!   schedule = fault ("," fault)*          (empty: no faults)
//!   fault    = stage ":" kind ":" start ":" duration     (seconds)
//!   kind     = "down" | "slow" factor | "errors" percent | "traffic" factor
//! ```
//!
//! `provider:slow20:30:30` slows the provider 20 × from 30 s for 30 s;
//! `catalogue_db:down:60:5,users:traffic3:0:20` takes the database down for
//! 5 s at 60 s and triples the traffic for the first 20 s (traffic faults
//! name the `users`, whose rate they change). The stages a schedule may
//! name are the parameter's `options`. Parsed strictly for the CLI, and
//! leniently for URLs: out-of-range numbers are clamped and unusable
//! entries dropped, each with a notice, as every parameter is.

/// Faults a schedule holds at most (more make no lesson clearer).
pub const MAX_FAULTS: usize = 8;
/// Range of a `slow` factor.
pub const SLOW: (f64, f64) = (1.0, 1000.0);
/// Range of a `traffic` factor.
pub const TRAFFIC: (f64, f64) = (0.0, 100.0);
/// Range of an `errors` percentage.
pub const ERRORS_PCT: (f64, f64) = (0.0, 100.0);

/// One fault of a schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    /// The stage (diagram node) it hits.
    pub stage: String,
    /// What it does.
    pub kind: FaultSpecKind,
    /// When it starts, seconds from the start of the run.
    pub start_s: f64,
    /// How long it lasts, seconds.
    pub duration_s: f64,
}

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultSpecKind {
    /// Refuses every request.
    Down,
    /// Work and latency take this many times longer.
    Slow(f64),
    /// This percentage of requests fail (0–100).
    Errors(f64),
    /// The traffic is multiplied by this.
    Traffic(f64),
}

/// Parses `text` strictly: every entry well formed, every stage in
/// `stages`, every number in range and start and duration within
/// `max_s`. The error names the entry and what is wrong with it.
pub fn parse(text: &str, stages: &[String], max_s: f64) -> Result<Vec<FaultSpec>, String> {
    let (faults, notices) = parse_lenient(text, stages, max_s);
    match notices.into_iter().next() {
        // The lenient notice, without what leniency would have done.
        Some(n) => Err(n
            .replacen("dropped ", "", 1)
            .split("; using")
            .next()
            .unwrap_or_default()
            .to_string()),
        None => Ok(faults),
    }
}

/// Parses `text` leniently: clamps what is out of range and drops what is
/// unusable, saying so in one notice per change.
pub fn parse_lenient(text: &str, stages: &[String], max_s: f64) -> (Vec<FaultSpec>, Vec<String>) {
    let mut faults = Vec::new();
    let mut notices = Vec::new();
    let max_s = if max_s.is_finite() {
        max_s.max(0.0)
    } else {
        0.0
    };
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if faults.len() == MAX_FAULTS {
            notices.push(format!(
                "at most {MAX_FAULTS} faults; dropped '{entry}' and any after it"
            ));
            break;
        }
        match parse_one(entry, stages, max_s, &mut notices) {
            Ok(f) => faults.push(f),
            Err(why) => notices.push(format!("dropped '{entry}': {why}")),
        }
    }
    (faults, notices)
}

fn parse_one(
    entry: &str,
    stages: &[String],
    max_s: f64,
    notices: &mut Vec<String>,
) -> Result<FaultSpec, String> {
    let parts: Vec<&str> = entry.split(':').map(str::trim).collect();
    let [stage, kind, start, duration] = parts[..] else {
        // The example names one of this scenario's own stages.
        let example = stages
            .iter()
            .rev()
            .find(|s| s.as_str() != "users")
            .map_or("users", String::as_str);
        return Err(format!(
            "expected stage:kind:start:duration, e.g. {example}:slow20:30:30"
        ));
    };
    if !stages.iter().any(|s| s == stage) {
        return Err(format!("no stage '{stage}' (valid: {})", stages.join(", ")));
    }
    let mut clamp = |what: &str, v: f64, (lo, hi): (f64, f64)| {
        let c = v.clamp(lo, hi);
        if c != v {
            notices.push(format!(
                "{what} {v} in '{entry}' is outside {lo}–{hi}; using {c}"
            ));
        }
        c
    };
    let number = |s: &str, what: &str| -> Result<f64, String> {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{what} '{s}' is not a number"))
    };
    let kind = if kind == "down" {
        FaultSpecKind::Down
    } else if let Some(x) = kind.strip_prefix("slow") {
        FaultSpecKind::Slow(clamp("slow factor", number(x, "slow factor")?, SLOW))
    } else if let Some(x) = kind.strip_prefix("errors") {
        FaultSpecKind::Errors(clamp(
            "error percentage",
            number(x, "error percentage")?,
            ERRORS_PCT,
        ))
    } else if let Some(x) = kind.strip_prefix("traffic") {
        FaultSpecKind::Traffic(clamp(
            "traffic factor",
            number(x, "traffic factor")?,
            TRAFFIC,
        ))
    } else {
        return Err(format!(
            "no fault '{kind}' (valid: down, slow<factor>, errors<percent>, traffic<factor>)"
        ));
    };
    let start_s = clamp("start", number(start, "start")?, (0.0, max_s));
    let duration_s = clamp("duration", number(duration, "duration")?, (0.0, max_s));
    if duration_s <= 0.0 {
        return Err("it lasts 0 s, so it would do nothing".into());
    }
    // Traffic faults change the users' rate: say so when they name another
    // stage, where a reader would expect them to act.
    let mut stage = stage.to_string();
    if matches!(kind, FaultSpecKind::Traffic(_))
        && stage != "users"
        && stages.iter().any(|s| s == "users")
    {
        notices.push(format!(
            "'{entry}': traffic faults change the users' rate; using users"
        ));
        stage = "users".into();
    }
    Ok(FaultSpec {
        stage,
        kind,
        start_s,
        duration_s,
    })
}

/// The schedule as canonical text (what the URL and the box show).
pub fn format(faults: &[FaultSpec]) -> String {
    faults
        .iter()
        .map(|f| {
            let kind = match f.kind {
                FaultSpecKind::Down => "down".to_string(),
                FaultSpecKind::Slow(x) => format!("slow{x}"),
                FaultSpecKind::Errors(p) => format!("errors{p}"),
                FaultSpecKind::Traffic(x) => format!("traffic{x}"),
            };
            format!("{}:{kind}:{}:{}", f.stage, f.start_s, f.duration_s)
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A notice for each fault that starts at or after `run_s`, the run's
/// length: it would do nothing.
pub fn after_the_end(faults: &[FaultSpec], run_s: f64) -> Vec<String> {
    faults
        .iter()
        .filter(|f| f.start_s >= run_s)
        .map(|f| {
            format!(
                "{} starts at {} s, after the run ends at {} s: it does nothing",
                format(std::slice::from_ref(f)),
                f.start_s,
                run_s
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_after_the_end_of_the_run_is_pointed_out() {
        let (faults, _) = parse_lenient("provider:down:30:10,db:slow5:95:5", &stages(), 3600.0);
        assert!(after_the_end(&faults, 120.0).is_empty());
        assert_eq!(
            after_the_end(&faults, 90.0),
            vec!["db:slow5:95:5 starts at 95 s, after the run ends at 90 s: it does nothing"]
        );
        // A fault that starts exactly at the end has no time left either.
        assert_eq!(after_the_end(&faults, 95.0).len(), 1);
    }

    fn stages() -> Vec<String> {
        ["provider", "db", "users"].map(String::from).to_vec()
    }

    #[test]
    fn a_schedule_parses_and_prints_back_the_same() {
        let text = "provider:slow20:30:30,db:down:60:5,users:traffic3:0:20,db:errors10:5:1.5";
        let faults = parse(text, &stages(), 600.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(faults.len(), 4);
        assert_eq!(faults[0].kind, FaultSpecKind::Slow(20.0));
        assert_eq!((faults[0].start_s, faults[0].duration_s), (30.0, 30.0));
        assert_eq!(faults[1].kind, FaultSpecKind::Down);
        assert_eq!(faults[3].kind, FaultSpecKind::Errors(10.0));
        assert_eq!(format(&faults), text);
        assert_eq!(parse(" ", &stages(), 600.0), Ok(vec![]));
    }

    #[test]
    fn strict_parsing_names_the_bad_entry() {
        let err = |t: &str| parse(t, &stages(), 600.0).err().unwrap_or_default();
        assert!(err("cache:down:1:1").contains("no stage 'cache' (valid: provider, db, users)"));
        assert!(err("db:melt:1:1").contains("no fault 'melt'"));
        assert!(err("db:down:1").contains("expected stage:kind:start:duration"));
        assert!(err("db:slowfast:1:1").contains("slow factor 'fast' is not a number"));
        assert!(err("db:slow0.5:1:1").contains("outside 1–1000"));
        assert!(err("db:down:NaN:1").contains("start 'NaN' is not a number"));
    }

    #[test]
    fn a_fault_of_no_length_is_refused_and_traffic_goes_to_the_users() {
        let err = parse("db:down:5:0", &stages(), 60.0)
            .err()
            .unwrap_or_default();
        assert!(err.contains("lasts 0 s"), "{err}");
        let (faults, notices) = parse_lenient("db:traffic3:0:10", &stages(), 60.0);
        assert_eq!(faults[0].stage, "users");
        assert_eq!(notices.len(), 1, "{notices:?}");
        // Where there are no users to name, the entry stays as written.
        let only = ["provider".to_string()];
        let (faults, notices) = parse_lenient("provider:traffic3:0:10", &only, 60.0);
        assert_eq!((faults[0].stage.as_str(), notices.len()), ("provider", 0));
    }

    #[test]
    fn lenient_parsing_clamps_and_drops_with_a_notice_each() {
        let many = ["db:down:1:1"; MAX_FAULTS + 2].join(",");
        let (faults, notices) = parse_lenient(&many, &stages(), 60.0);
        assert_eq!(faults.len(), MAX_FAULTS);
        assert_eq!(notices.len(), 1);
        let (faults, notices) = parse_lenient(
            "db:slow5000:-3:999,nope:down:1:1,db:errors150:1:1",
            &stages(),
            60.0,
        );
        assert_eq!(faults.len(), 2);
        assert_eq!(faults[0].kind, FaultSpecKind::Slow(1000.0));
        assert_eq!((faults[0].start_s, faults[0].duration_s), (0.0, 60.0));
        assert_eq!(faults[1].kind, FaultSpecKind::Errors(100.0));
        // slow factor, start, duration, the unknown stage, the percentage.
        assert_eq!(notices.len(), 5, "{notices:?}");
    }
}
