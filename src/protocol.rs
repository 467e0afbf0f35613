//! Messages between the page and its simulation worker, as JSON text.
//!
//! The page asks for one job (one run, or two when comparing); the worker
//! answers with progress reports and then the results. The same
//! [`execute`] runs on the page itself when no worker can be started (for
//! example inside a sandboxed iframe).

use crate::engine::progress::set_hook;
use crate::engine::RunResult;
use crate::scenarios::find;
use crate::spec::{Params, RunConfig};
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// One run: parameter values as text, seed and duration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// `key`, `value` pairs, every parameter.
    pub params: Vec<(String, String)>,
    /// Seed.
    pub seed: u64,
    /// Simulated seconds.
    pub duration_s: f64,
}

impl RunSpec {
    /// Captures effective parameters.
    pub fn new(params: &Params, config: RunConfig) -> Self {
        Self {
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            seed: config.seed,
            duration_s: config.duration_s,
        }
    }
}

/// A job for the worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Job number; replies carry it so stale ones can be ignored.
    pub id: u32,
    /// Scenario id.
    pub scenario: String,
    /// The runs, in order (A, then B when comparing).
    pub runs: Vec<RunSpec>,
}

/// What the worker says back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// The worker has started and listens for jobs.
    Ready,
    /// Fraction of the job done.
    Progress {
        /// Job number.
        id: u32,
        /// 0 to 1.
        fraction: f64,
    },
    /// The results, one per run.
    Done {
        /// Job number.
        id: u32,
        /// Results in the order asked.
        results: Vec<RunResult>,
    },
    /// The job could not run.
    Failed {
        /// Job number.
        id: u32,
        /// Why.
        message: String,
    },
}

/// Runs every run of `job`, calling `progress` with the fraction of the
/// whole job done (in steps of at least 5 %).
pub fn execute(job: &Job, progress: Rc<dyn Fn(f64)>) -> Result<Vec<RunResult>, String> {
    let scenario = find(&job.scenario).map_err(|e| e.to_string())?;
    let total = job.runs.len().max(1) as f64;
    let mut results = Vec::with_capacity(job.runs.len());
    for (i, run) in job.runs.iter().enumerate() {
        let params = scenario
            .spec
            .resolve(None, &run.params)
            .map_err(|e| e.to_string())?;
        let config = RunConfig {
            seed: run.seed,
            duration_s: run.duration_s,
        };
        // The engine reports per run; scale that into the whole job.
        let offset = i as f64 / total;
        let report = Rc::clone(&progress);
        let mut last = -1.0;
        set_hook(Some(Box::new(move |f: f64| {
            let overall = offset + f / total;
            if overall - last >= 0.05 {
                last = overall;
                report(overall);
            }
        })));
        let outcome = scenario.run(&params, &config);
        set_hook(None);
        results.push(outcome.map_err(|e| e.to_string())?);
    }
    Ok(results)
}

/// Parses a job sent as JSON text.
pub fn parse_job(text: &str) -> Result<Job, String> {
    serde_json::from_str(text).map_err(|e| format!("bad job: {e}"))
}

fn to_text(reply: &Reply) -> String {
    serde_json::to_string(reply).unwrap_or_default()
}

/// Answers a job given as JSON text: progress replies, then the final one,
/// all through `send`. Unparseable input gets a `Failed` reply with id 0.
pub fn answer(text: &str, send: Rc<dyn Fn(String)>) {
    let job = match parse_job(text) {
        Ok(job) => job,
        Err(message) => return send(to_text(&Reply::Failed { id: 0, message })),
    };
    let id = job.id;
    let progress_send = Rc::clone(&send);
    let progress =
        Rc::new(move |fraction| progress_send(to_text(&Reply::Progress { id, fraction })));
    let reply = match execute(&job, progress) {
        Ok(results) => Reply::Done { id, results },
        Err(message) => Reply::Failed { id, message },
    };
    send(to_text(&reply));
}

/// Parses a reply sent as JSON text.
pub fn parse_reply(text: &str) -> Result<Reply, String> {
    serde_json::from_str(text).map_err(|e| format!("bad reply: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn a_job_round_trips_through_json_and_matches_a_direct_run() {
        let s = find("rate-limiting").unwrap_or_else(|e| panic!("{e}"));
        let cfg = RunConfig {
            seed: 9,
            duration_s: 5.0,
        };
        let mut b = s.spec.defaults();
        s.spec
            .apply_preset(&mut b, "good")
            .unwrap_or_else(|e| panic!("{e}"));
        let job = Job {
            id: 7,
            scenario: "rate-limiting".into(),
            runs: vec![RunSpec::new(&s.spec.defaults(), cfg), RunSpec::new(&b, cfg)],
        };
        let text = serde_json::to_string(&job).unwrap_or_default();
        let replies = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&replies);
        answer(&text, Rc::new(move |r| sink.borrow_mut().push(r)));
        let replies: Vec<Reply> = replies
            .borrow()
            .iter()
            .map(|t| parse_reply(t).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let Some(Reply::Done { id: 7, results }) = replies.last() else {
            panic!("no result: {replies:?}");
        };
        assert_eq!(
            results[0],
            s.run(&s.spec.defaults(), &cfg)
                .unwrap_or_else(|e| panic!("{e}"))
        );
        assert_eq!(
            results[1],
            s.run(&b, &cfg).unwrap_or_else(|e| panic!("{e}"))
        );
        let fractions: Vec<f64> = replies
            .iter()
            .filter_map(|r| match r {
                Reply::Progress { fraction, .. } => Some(*fraction),
                _ => None,
            })
            .collect();
        assert!(fractions.len() > 10);
        assert!(fractions.windows(2).all(|w| w[0] <= w[1]));
        assert!(
            fractions.iter().any(|&f| f > 0.5 && f < 1.0),
            "the second run reports past half"
        );
    }

    #[test]
    fn bad_jobs_get_failed_replies_not_panics() {
        for (text, needle) in [
            ("not json", "bad job"),
            (
                r#"{"id":3,"scenario":"nope","runs":[]}"#,
                "unknown scenario",
            ),
            (
                r#"{"id":4,"scenario":"rate-limiting","runs":[{"params":[["limit","0"]],"seed":1,"duration_s":5.0}]}"#,
                "out of range",
            ),
        ] {
            let out = Rc::new(RefCell::new(Vec::new()));
            let sink = Rc::clone(&out);
            answer(text, Rc::new(move |r| sink.borrow_mut().push(r)));
            let last = out.borrow().last().cloned().unwrap_or_default();
            match parse_reply(&last) {
                Ok(Reply::Failed { message, .. }) => assert!(message.contains(needle), "{message}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
