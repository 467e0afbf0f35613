//! Messages between the page and its simulation worker.
//!
//! The page asks for one job (one run, or two when comparing); the worker
//! answers with progress reports and then the results. The same
//! [`execute`] runs on the page itself when no worker can be started (for
//! example inside a sandboxed iframe).
//!
//! Messages travel as a [`Wire`]: a list of numbers and a list of words,
//! which the browser copies between threads as a `Float64Array` and an
//! array of strings. Nothing is parsed, floats arrive bit for bit, and the
//! download carries no JSON code for these types (about 5 KB gzipped).

use crate::engine::metrics::{FaultWindow, Mark, Metric, Outcome, Series};
use crate::engine::progress::set_hook;
use crate::engine::RunResult;
use crate::scenarios::find;
use crate::spec::{Params, RunConfig};
use std::rc::Rc;

/// One run: parameter values as text, seed and duration.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Job number; replies carry it so stale ones can be ignored.
    pub id: u32,
    /// Scenario id.
    pub scenario: String,
    /// The runs, in order (A, then B when comparing).
    pub runs: Vec<RunSpec>,
}

/// What the worker says back.
#[derive(Clone, Debug, PartialEq)]
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

/// Answers a job: progress replies, then the final one, all through
/// `send`. A message that is not a job gets a `Failed` reply with id 0.
pub fn answer(message: &Wire, send: Rc<dyn Fn(Wire)>) {
    let job = match Job::decode(message) {
        Ok(job) => job,
        Err(message) => return send(Reply::Failed { id: 0, message }.encode()),
    };
    let id = job.id;
    let progress_send = Rc::clone(&send);
    let progress =
        Rc::new(move |fraction| progress_send(Reply::Progress { id, fraction }.encode()));
    let reply = match execute(&job, progress) {
        Ok(results) => Reply::Done { id, results },
        Err(message) => Reply::Failed { id, message },
    };
    send(reply.encode());
}

/// A message as numbers and words, in the order they were written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Wire {
    /// Every number (counts and integers included), in order.
    pub numbers: Vec<f64>,
    /// Every piece of text, in order.
    pub words: Vec<String>,
}

impl Wire {
    fn number(&mut self, x: f64) {
        self.numbers.push(x);
    }
    /// Counts and ids are far below 2^53, where f64 holds integers exactly.
    fn count(&mut self, n: usize) {
        self.numbers.push(n as f64);
    }
    /// Any u64 (seeds are), as two exact 32-bit halves.
    fn long(&mut self, n: u64) {
        self.numbers.push((n >> 32) as f64);
        self.numbers.push((n & 0xffff_ffff) as f64);
    }
    fn word(&mut self, w: &str) {
        self.words.push(w.to_string());
    }
}

/// Reads a [`Wire`] back in the order it was written.
struct Reader<'a> {
    wire: &'a Wire,
    next_number: usize,
    next_word: usize,
}

impl<'a> Reader<'a> {
    fn new(wire: &'a Wire) -> Self {
        Self {
            wire,
            next_number: 0,
            next_word: 0,
        }
    }
    fn number(&mut self) -> Result<f64, String> {
        let x = self.wire.numbers.get(self.next_number).copied();
        self.next_number += 1;
        x.ok_or_else(|| "bad message: too few numbers".to_string())
    }
    fn count(&mut self) -> Result<usize, String> {
        let x = self.number()?;
        // Never trust a length: each counted item takes at least one number
        // or word, so a count above what is still unread is a bad message.
        let left = (self.wire.numbers.len() + self.wire.words.len())
            .saturating_sub(self.next_number + self.next_word);
        if x.fract() != 0.0 || !(0.0..=left as f64).contains(&x) {
            return Err(format!("bad message: {x} is not a count"));
        }
        Ok(x as usize)
    }
    /// An id, a tag or half of a u64: a whole number that fits 32 bits.
    fn small(&mut self) -> Result<u32, String> {
        let x = self.number()?;
        if x.fract() != 0.0 || !(0.0..=u32::MAX as f64).contains(&x) {
            return Err(format!("bad message: {x} is not a 32-bit whole number"));
        }
        Ok(x as u32)
    }
    fn long(&mut self) -> Result<u64, String> {
        let hi = u64::from(self.small()?);
        let lo = u64::from(self.small()?);
        Ok(hi << 32 | lo)
    }
    fn word(&mut self) -> Result<String, String> {
        let w = self.wire.words.get(self.next_word).cloned();
        self.next_word += 1;
        w.ok_or_else(|| "bad message: too few words".to_string())
    }
    /// `value`, if the whole message was read: anything left over means it
    /// was not what the reader expected.
    fn finish<T>(self, value: T) -> Result<T, String> {
        if self.next_number == self.wire.numbers.len() && self.next_word == self.wire.words.len() {
            Ok(value)
        } else {
            Err("bad message: unexpected data at the end".to_string())
        }
    }
}

impl Job {
    /// The job as a [`Wire`] message.
    pub fn encode(&self) -> Wire {
        let mut w = Wire::default();
        w.count(self.id as usize);
        w.word(&self.scenario);
        w.count(self.runs.len());
        for run in &self.runs {
            w.count(run.params.len());
            for (k, v) in &run.params {
                w.word(k);
                w.word(v);
            }
            w.long(run.seed);
            w.number(run.duration_s);
        }
        w
    }

    /// Reads a job written by [`Job::encode`].
    pub fn decode(wire: &Wire) -> Result<Job, String> {
        let mut r = Reader::new(wire);
        let id = r.small()?;
        let scenario = r.word()?;
        let runs = (0..r.count()?)
            .map(|_| {
                let params = (0..r.count()?)
                    .map(|_| Ok((r.word()?, r.word()?)))
                    .collect::<Result<_, String>>()?;
                Ok(RunSpec {
                    params,
                    seed: r.long()?,
                    duration_s: r.number()?,
                })
            })
            .collect::<Result<_, String>>()?;
        r.finish(Job { id, scenario, runs })
    }
}

impl Reply {
    /// The reply as a [`Wire`] message.
    pub fn encode(&self) -> Wire {
        let mut w = Wire::default();
        match self {
            Reply::Ready => w.count(0),
            Reply::Progress { id, fraction } => {
                w.count(1);
                w.count(*id as usize);
                w.number(*fraction);
            }
            Reply::Done { id, results } => {
                w.count(2);
                w.count(*id as usize);
                w.count(results.len());
                for r in results {
                    w.long(r.events);
                    w.number(r.duration_s);
                    w.number(r.bucket_s);
                    w.count(r.metrics.len());
                    for m in &r.metrics {
                        w.word(&m.key);
                        w.number(m.value);
                    }
                    w.count(r.series.len());
                    for s in &r.series {
                        w.word(&s.key);
                        w.count(s.values.len());
                        w.numbers.extend_from_slice(&s.values);
                    }
                    w.count(r.outcomes.len());
                    for o in &r.outcomes {
                        w.word(&o.kind);
                        w.word(&o.reason);
                        w.long(o.count);
                    }
                    w.count(r.marks.len());
                    for m in &r.marks {
                        w.number(m.t_s);
                        w.word(&m.label);
                    }
                    w.count(r.faults.len());
                    for f in &r.faults {
                        w.number(f.start_s);
                        w.number(f.end_s);
                        w.word(&f.stage);
                        w.word(&f.label);
                    }
                }
            }
            Reply::Failed { id, message } => {
                w.count(3);
                w.count(*id as usize);
                w.word(message);
            }
        }
        w
    }

    /// Reads a reply written by [`Reply::encode`].
    pub fn decode(wire: &Wire) -> Result<Reply, String> {
        let mut r = Reader::new(wire);
        let tag = r.small()?;
        if tag == 0 {
            return r.finish(Reply::Ready);
        }
        let id = r.small()?;
        let reply = match tag {
            1 => Reply::Progress {
                id,
                fraction: r.number()?,
            },
            2 => {
                let results = (0..r.count()?)
                    .map(|_| read_result(&mut r))
                    .collect::<Result<_, String>>()?;
                Reply::Done { id, results }
            }
            3 => Reply::Failed {
                id,
                message: r.word()?,
            },
            other => return Err(format!("bad message: no reply kind {other}")),
        };
        r.finish(reply)
    }
}

fn read_result(r: &mut Reader) -> Result<RunResult, String> {
    let events = r.long()?;
    let duration_s = r.number()?;
    let bucket_s = r.number()?;
    let metrics = (0..r.count()?)
        .map(|_| {
            Ok(Metric {
                key: r.word()?,
                value: r.number()?,
            })
        })
        .collect::<Result<_, String>>()?;
    let series = (0..r.count()?)
        .map(|_| {
            let key = r.word()?;
            let values = (0..r.count()?)
                .map(|_| r.number())
                .collect::<Result<_, String>>()?;
            Ok(Series { key, values })
        })
        .collect::<Result<_, String>>()?;
    let outcomes = (0..r.count()?)
        .map(|_| {
            Ok(Outcome {
                kind: r.word()?,
                reason: r.word()?,
                count: r.long()?,
            })
        })
        .collect::<Result<_, String>>()?;
    let marks = (0..r.count()?)
        .map(|_| {
            Ok(Mark {
                t_s: r.number()?,
                label: r.word()?,
            })
        })
        .collect::<Result<_, String>>()?;
    let faults = (0..r.count()?)
        .map(|_| {
            Ok(FaultWindow {
                start_s: r.number()?,
                end_s: r.number()?,
                stage: r.word()?,
                label: r.word()?,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(RunResult {
        marks,
        faults,
        events,
        duration_s,
        bucket_s,
        metrics,
        series,
        outcomes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn a_job_round_trips_through_the_wire_and_matches_a_direct_run() {
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
        assert_eq!(Job::decode(&job.encode()), Ok(job.clone()));
        let replies = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&replies);
        answer(&job.encode(), Rc::new(move |r| sink.borrow_mut().push(r)));
        let replies: Vec<Reply> = replies
            .borrow()
            .iter()
            .map(|w| Reply::decode(w).unwrap_or_else(|e| panic!("{e}")))
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
        let job = |scenario: &str, params: Vec<(&str, &str)>| Job {
            id: 4,
            scenario: scenario.into(),
            runs: vec![RunSpec {
                params: params
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
                seed: u64::MAX,
                duration_s: 5.0,
            }],
        };
        let mut truncated = job("rate-limiting", vec![]).encode();
        truncated.numbers.pop();
        let mut huge_count = job("rate-limiting", vec![]).encode();
        huge_count.numbers[1] = 1e12;
        let mut trailing = job("rate-limiting", vec![]).encode();
        trailing.words.push("extra".into());
        for (wire, needle) in [
            (Wire::default(), "too few numbers"),
            (truncated, "too few numbers"),
            (huge_count, "is not a count"),
            (trailing, "unexpected data at the end"),
            (job("nope", vec![]).encode(), "unknown scenario"),
            (
                job("rate-limiting", vec![("limit", "0")]).encode(),
                "out of range",
            ),
        ] {
            let out = Rc::new(RefCell::new(Vec::new()));
            let sink = Rc::clone(&out);
            answer(&wire, Rc::new(move |r| sink.borrow_mut().push(r)));
            let last = out.borrow().last().cloned().unwrap_or_default();
            match Reply::decode(&last) {
                Ok(Reply::Failed { message, .. }) => assert!(message.contains(needle), "{message}"),
                other => panic!("{wire:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_reply_and_extreme_seeds_survive_the_wire() {
        let s = find("connection-pool").unwrap_or_else(|e| panic!("{e}"));
        let cfg = RunConfig {
            seed: 3,
            duration_s: 2.0,
        };
        let result = s
            .run(&s.spec.defaults(), &cfg)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!result.outcomes.is_empty() || !result.series.is_empty());
        for reply in [
            Reply::Ready,
            Reply::Progress {
                id: 2,
                fraction: 0.1 + 0.2,
            },
            Reply::Done {
                id: u32::MAX,
                results: vec![result.clone(), result],
            },
            Reply::Failed {
                id: 1,
                message: "no — ünïcode".into(),
            },
        ] {
            assert_eq!(Reply::decode(&reply.encode()), Ok(reply));
        }
        for seed in [0, 1, u64::from(u32::MAX) + 1, u64::MAX] {
            let job = Job {
                id: 0,
                scenario: "x".into(),
                runs: vec![RunSpec {
                    params: vec![],
                    seed,
                    duration_s: 1.5,
                }],
            };
            assert_eq!(Job::decode(&job.encode()), Ok(job));
        }
    }
}
