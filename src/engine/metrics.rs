//! Streaming metrics: bounded memory whatever the length of the run.
//!
//! * [`Histogram`]: log-linear buckets (the HDR-histogram layout) giving
//!   percentiles within a fixed relative error, with no per-sample storage.
//! * [`Recorder`]: the common request accounting every scenario shares
//!   (conservation of requests, latency percentiles, throughput) plus
//!   model-specific series in at most [`MAX_POINTS`] time buckets. The
//!   buckets start fine and merge in pairs as the run goes on, so a run
//!   whose action ends early (a crash at 4 s of an hour) is charted at the
//!   resolution of its active span, and one that lasts the whole run ends
//!   with the coarsest width, `duration / MAX_POINTS`.

use super::time::{as_secs, SimTime, MILLISECOND};
use serde::{Deserialize, Serialize};

/// The most points any series holds, whatever the duration of the run.
pub const MAX_POINTS: usize = 300;

/// A log-linear histogram of `u64` values (nanoseconds, bytes...).
///
/// Values below `2^bits` are exact; above that each power of two is split
/// into `2^bits` equal sub-buckets, so a bucket is at most `2^-bits` of its
/// value wide and the midpoint we report is within `2^-(bits+1)` of any
/// value in it (0.4 % at 7 bits). Only the buckets from the smallest value's
/// to the largest's are stored: latencies of milliseconds in nanoseconds
/// would otherwise carry hundreds of empty buckets below them, zeroed on
/// every growth and walked by every quantile.
#[derive(Clone, Debug)]
pub struct Histogram {
    bits: u32,
    /// Counts of buckets `first..first + counts.len()`.
    counts: Vec<u64>,
    first: usize,
    total: u64,
    sum: f64,
    min: u64,
    max: u64,
}

impl Histogram {
    /// Sub-bucket bits for summary percentiles: at most 0.4 % error.
    pub const PRECISE: u32 = 7;
    /// Sub-bucket bits for per-time-bucket percentiles: at most 3.2 % error.
    pub const COARSE: u32 = 4;

    /// An empty histogram with `2^bits` sub-buckets per power of two.
    pub fn new(bits: u32) -> Self {
        Self {
            bits: bits.clamp(1, 16),
            counts: Vec::new(),
            first: 0,
            total: 0,
            sum: 0.0,
            min: u64::MAX,
            max: 0,
        }
    }

    #[inline]
    fn index(&self, v: u64) -> usize {
        let b = self.bits;
        if v < (1u64 << b) {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // floor(log2 v) >= b
        let sub = (v >> (e - b)) - (1u64 << b);
        ((1u64 << b) + u64::from(e - b) * (1u64 << b) + sub) as usize
    }

    /// The midpoint of bucket `i`, the value we report for samples in it.
    fn value_at(&self, i: usize) -> f64 {
        let b = self.bits;
        let base = 1usize << b;
        if i < base {
            return i as f64;
        }
        let shift = ((i - base) >> b) as u32; // e - b
        let sub = ((i - base) & (base - 1)) as u64;
        let lower = ((1u64 << b) + sub) << shift;
        let width = 1u64 << shift;
        lower as f64 + (width - 1) as f64 / 2.0
    }

    /// Adds one sample.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.record_n(v, 1);
    }

    /// Adds `n` samples of the same value.
    #[inline]
    pub fn record_n(&mut self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        let i = self.index(v);
        if i.wrapping_sub(self.first) >= self.counts.len() {
            self.cover(i, i);
        }
        self.counts[i - self.first] += n;
        self.total += n;
        self.sum += v as f64 * n as f64;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Makes the stored range include buckets `lo..=hi`: rare once the
    /// first few samples are in, so kept out of the recording path.
    #[cold]
    #[inline(never)]
    fn cover(&mut self, lo: usize, hi: usize) {
        // Grown by at least half an octave at a time, so that samples
        // spreading out one bucket at a time do not reallocate each time.
        let slack = 1usize << self.bits.saturating_sub(1);
        if self.counts.is_empty() {
            self.first = lo.saturating_sub(slack);
            self.counts.resize(hi + slack - self.first + 1, 0);
            return;
        }
        if lo < self.first {
            let new_first = lo.saturating_sub(slack);
            let grow = self.first - new_first;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.first = new_first;
        }
        if hi >= self.first + self.counts.len() {
            self.counts.resize(hi + slack - self.first + 1, 0);
        }
    }

    /// Adds every sample of `other` (same `bits`) to this histogram.
    pub fn merge(&mut self, other: &Histogram) {
        if other.counts.is_empty() {
            return;
        }
        self.cover(other.first, other.first + other.counts.len() - 1);
        let from = other.first - self.first;
        for (mine, theirs) in self.counts[from..].iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Exact mean of the samples (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum / self.total as f64
        }
    }

    /// Largest sample seen (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Smallest sample seen (exact; 0 when empty).
    pub fn min(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            self.min
        }
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) by the nearest-rank rule: the smallest
    /// value with at least `q` of the samples at or below it. 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in (self.first..).zip(&self.counts) {
            seen += c;
            if seen >= rank {
                // Never outside the true range: a run whose samples are all
                // equal reports that value, not its bucket's midpoint
                // (which could fall below the exact mean).
                return self.value_at(i).clamp(self.min as f64, self.max as f64);
            }
        }
        self.max as f64
    }
}

/// How a model-specific series turns samples into one value per time bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesKind {
    /// Counts per bucket, reported per second.
    Rate,
    /// A level (queue length, heap size): the highest value set in the
    /// bucket; a bucket with no sample carries forward the last value set
    /// before it (a queue that drained to 0 reads 0 afterwards, not the
    /// peak of the bucket it drained in).
    Gauge,
}

/// Handle to a series registered with [`Recorder::series`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesId(usize);

struct SeriesData {
    key: String,
    kind: SeriesKind,
    values: Vec<f64>,
    touched: Vec<bool>,
    /// For gauges: the last value set in each bucket.
    latest: Vec<f64>,
}

/// One named summary number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Metric key, as declared in the scenario file.
    pub key: String,
    /// Its value (finite).
    pub value: f64,
}

/// One charted series: `values[i]` covers `[i, i+1) × bucket_s` seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Series key, as declared in the scenario file.
    pub key: String,
    /// One value per time bucket.
    pub values: Vec<f64>,
}

/// How many requests ended one way for one reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// "failed" or "rejected".
    pub kind: String,
    /// Why, e.g. "rate_limited", "db_refused".
    pub reason: String,
    /// How many requests.
    pub count: u64,
}

/// A moment worth marking on the charts: out of memory, a crash, a restart,
/// a gateway timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// When, in simulated seconds.
    pub t_s: f64,
    /// What happened, short ("out of memory", "504").
    pub label: String,
}

/// The most marks a run keeps: the first ones, which tell the story.
pub const MAX_MARKS: usize = 24;

/// A fault on the timeline: the charts shade it, the diagram marks its
/// stage while it lasts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// When it starts, in simulated seconds.
    pub start_s: f64,
    /// When it ends (at most the run's end).
    pub end_s: f64,
    /// The diagram node (stage) it hits.
    pub stage: String,
    /// What it does, short ("slow ×20", "down").
    pub label: String,
}

impl FaultWindow {
    /// Whether the fault is on at `t_s`.
    pub fn active(&self, t_s: f64) -> bool {
        t_s >= self.start_s && t_s < self.end_s
    }
}

/// Everything a run produces: summary numbers, series and event count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Events the engine processed.
    pub events: u64,
    /// Simulated duration in seconds.
    pub duration_s: f64,
    /// Width of one series bucket in seconds.
    pub bucket_s: f64,
    /// Summary metrics: the common ones first, then the scenario's own.
    pub metrics: Vec<Metric>,
    /// Time series: the common ones first, then the scenario's own.
    pub series: Vec<Series>,
    /// Failures and rejections by reason.
    pub outcomes: Vec<Outcome>,
    /// Marked moments, in time order, at most [`MAX_MARKS`].
    #[serde(default)]
    pub marks: Vec<Mark>,
    /// Faults on the timeline, in start order, at most [`MAX_MARKS`].
    #[serde(default)]
    pub faults: Vec<FaultWindow>,
}

impl RunResult {
    /// The summary metric called `key`.
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.key == key).map(|m| m.value)
    }

    /// The series called `key`.
    pub fn series(&self, key: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.key == key)
    }
}

// COMMON_METRICS and COMMON_SERIES, shared with build.rs.
include!("names.rs");

/// Collects a run's measurements. Every request a model creates must end in
/// exactly one of [`complete`](Self::complete), [`fail`](Self::fail) or
/// [`reject`](Self::reject), or be in flight at the end: the totals are then
/// conserved by construction and checked by the registry-wide tests.
pub struct Recorder {
    duration: SimTime,
    /// The current bucket width; doubles (and the buckets merge in pairs)
    /// whenever a time past the last bucket is recorded.
    bucket: SimTime,
    /// The highest bucket anything was recorded in, at the current width.
    high: usize,
    /// The bucket [`Self::slot`] returned last, and where it starts.
    last_slot: usize,
    last_slot_from: SimTime,
    requests: u64,
    completed: u64,
    failed: u64,
    rejected: u64,
    outcomes: Vec<(bool, &'static str, u64)>,
    latency: Histogram,
    bucket_latency: Vec<Histogram>,
    arrivals_per_bucket: Vec<u64>,
    completions_per_bucket: Vec<u64>,
    errors_per_bucket: Vec<u64>,
    ends_per_bucket: Vec<u64>,
    /// The most requests in flight at once after an arrival, per bucket.
    in_flight_peak: Vec<u64>,
    extra: Vec<SeriesData>,
    marks: Vec<(SimTime, &'static str)>,
    faults: Vec<FaultWindow>,
    next_progress: SimTime,
    /// When set, only these series are kept, in this order.
    keep: Option<Vec<String>>,
}

/// The finest bucket width a run of `duration` starts with: the coarsest
/// width, `duration / MAX_POINTS`, halved up to ten times while it stays a
/// whole number of nanoseconds. Runs of 60 s, 5 min, 1 h or 12 h halve
/// exactly; when fewer than seven halvings are exact, the coarsest width is
/// rounded up to a multiple of 1,024 ns (under a microsecond off) instead.
fn finest_bucket(duration: SimTime) -> SimTime {
    const HALVINGS: u32 = 10;
    let coarsest = duration.div_ceil(MAX_POINTS as u64).max(1);
    let halvings = coarsest.trailing_zeros().min(HALVINGS);
    if halvings >= 7 {
        coarsest >> halvings
    } else {
        coarsest.div_ceil(1 << HALVINGS)
    }
}

/// The width buckets end with when something happens until the end of the
/// run: the smallest doubling of [`finest_bucket`] with `MAX_POINTS`
/// buckets covering `duration`.
fn coarsest_bucket(duration: SimTime) -> SimTime {
    let mut w = finest_bucket(duration);
    while w * (MAX_POINTS as u64) < duration {
        w *= 2;
    }
    w
}

/// Progress is reported every this fraction of the run.
const PROGRESS_STEPS: u64 = 50;

impl Recorder {
    /// A recorder for a run of `duration` simulated time.
    pub fn new(duration: SimTime) -> Self {
        let duration = duration.max(1);
        let bucket = finest_bucket(duration);
        let n = MAX_POINTS;
        Self {
            duration,
            bucket,
            high: 0,
            last_slot: 0,
            last_slot_from: 0,
            requests: 0,
            completed: 0,
            failed: 0,
            rejected: 0,
            outcomes: Vec::new(),
            latency: Histogram::new(Histogram::PRECISE),
            bucket_latency: vec![Histogram::new(Histogram::COARSE); n],
            arrivals_per_bucket: vec![0; n],
            completions_per_bucket: vec![0; n],
            errors_per_bucket: vec![0; n],
            ends_per_bucket: vec![0; n],
            in_flight_peak: vec![0; n],
            extra: Vec::new(),
            marks: Vec::new(),
            faults: Vec::new(),
            next_progress: duration / PROGRESS_STEPS,
            keep: None,
        }
    }

    /// Keeps only the series called `keys` (a scenario's declared list), in
    /// that order: a shared layer can offer many standard series, and a
    /// series nobody declared then costs nothing to record.
    pub fn keep_only(&mut self, keys: &[&str]) {
        self.keep = Some(keys.iter().map(|k| k.to_string()).collect());
    }

    /// Width of one time bucket so far (it only grows during a run; the
    /// final width is [`RunResult::bucket_s`]).
    pub fn bucket_width(&self) -> SimTime {
        self.bucket
    }

    /// The width the buckets reach when the run is busy to its end, for a
    /// model that aggregates its own work in chart-sized spans.
    pub fn coarsest_width(&self) -> SimTime {
        coarsest_bucket(self.duration)
    }

    /// The bucket for time `t` (clamped to the run), merging buckets in
    /// pairs until it fits in [`MAX_POINTS`].
    #[inline]
    fn slot(&mut self, t: SimTime) -> usize {
        let t = t.min(self.duration - 1);
        // Most samples land in the bucket of the one before: skip the
        // division (the slowest instruction here, and this runs several
        // times per event).
        if t.wrapping_sub(self.last_slot_from) < self.bucket {
            return self.last_slot;
        }
        self.slot_slow(t)
    }

    /// [`Self::slot`] for a time outside the last bucket: kept out of line
    /// so that the fast path stays small enough to inline everywhere.
    #[cold]
    #[inline(never)]
    fn slot_slow(&mut self, t: SimTime) -> usize {
        let mut s = (t / self.bucket) as usize;
        while s >= MAX_POINTS {
            self.coarsen();
            s = (t / self.bucket) as usize;
        }
        self.high = self.high.max(s);
        self.last_slot = s;
        self.last_slot_from = s as SimTime * self.bucket;
        s
    }

    /// Doubles the bucket width: bucket `i` becomes the sum (or, for a
    /// gauge, the peak and the later last value) of buckets `2i` and `2i+1`.
    fn coarsen(&mut self) {
        fn pairs<T: Copy>(v: &mut [T], zero: T, join: impl Fn(T, T) -> T) {
            let half = v.len() / 2;
            for i in 0..half {
                v[i] = join(v[2 * i], v[2 * i + 1]);
            }
            for x in &mut v[half..] {
                *x = zero;
            }
        }
        let add = |a: u64, b: u64| a + b;
        pairs(&mut self.arrivals_per_bucket, 0, add);
        pairs(&mut self.completions_per_bucket, 0, add);
        pairs(&mut self.errors_per_bucket, 0, add);
        pairs(&mut self.ends_per_bucket, 0, add);
        pairs(&mut self.in_flight_peak, 0, u64::max);
        let half = self.bucket_latency.len() / 2;
        for i in 0..half {
            let mut joined = std::mem::replace(&mut self.bucket_latency[2 * i], Histogram::new(1));
            joined.merge(&self.bucket_latency[2 * i + 1]);
            self.bucket_latency[i] = joined;
        }
        for h in &mut self.bucket_latency[half..] {
            *h = Histogram::new(Histogram::COARSE);
        }
        for data in &mut self.extra {
            match data.kind {
                SeriesKind::Rate => {
                    pairs(&mut data.values, 0.0, |a, b| a + b);
                    pairs(&mut data.touched, false, |a, b| a || b);
                }
                SeriesKind::Gauge => {
                    for i in 0..half {
                        let (a, b) = (2 * i, 2 * i + 1);
                        let (ta, tb) = (data.touched[a], data.touched[b]);
                        data.values[i] = match (ta, tb) {
                            (true, true) => data.values[a].max(data.values[b]),
                            (true, false) => data.values[a],
                            (false, true) => data.values[b],
                            (false, false) => 0.0,
                        };
                        data.latest[i] = if tb { data.latest[b] } else { data.latest[a] };
                        data.touched[i] = ta || tb;
                    }
                    for i in half..data.values.len() {
                        data.values[i] = 0.0;
                        data.latest[i] = 0.0;
                        data.touched[i] = false;
                    }
                }
            }
        }
        self.high /= 2;
        self.bucket *= 2;
        self.last_slot /= 2;
        self.last_slot_from = self.last_slot as SimTime * self.bucket;
    }

    /// A request arrived.
    #[inline]
    pub fn arrival(&mut self, now: SimTime) {
        self.arrivals(now, 1);
    }

    /// `n` requests arrived (a model that simulates requests in aggregate).
    #[inline]
    pub fn arrivals(&mut self, now: SimTime, n: u64) {
        self.requests += n;
        let s = self.slot(now);
        self.arrivals_per_bucket[s] += n;
        let level = self.in_flight();
        let peak = &mut self.in_flight_peak[s];
        *peak = (*peak).max(level);
        if now >= self.next_progress {
            super::progress::report(now as f64 / self.duration as f64);
            self.next_progress = now + (self.duration / PROGRESS_STEPS).max(1);
        }
    }

    /// A request finished successfully after `latency`.
    #[inline]
    pub fn complete(&mut self, now: SimTime, latency: SimTime) {
        self.complete_many(now, latency, 1);
    }

    /// `n` requests finished successfully, each after `latency`.
    #[inline]
    pub fn complete_many(&mut self, now: SimTime, latency: SimTime, n: u64) {
        if n == 0 {
            return;
        }
        self.completed += n;
        self.latency.record_n(latency, n);
        let s = self.slot(now);
        self.bucket_latency[s].record_n(latency, n);
        self.completions_per_bucket[s] += n;
        self.ends_per_bucket[s] += n;
    }

    /// A request was accepted but failed, for `reason`.
    pub fn fail(&mut self, now: SimTime, reason: &'static str) {
        self.fail_many(now, reason, 1);
    }

    /// `n` accepted requests failed, for `reason`.
    pub fn fail_many(&mut self, now: SimTime, reason: &'static str, n: u64) {
        self.failed += n;
        self.end_badly(now, true, reason, n);
    }

    /// A request was turned away at the door, for `reason`.
    pub fn reject(&mut self, now: SimTime, reason: &'static str) {
        self.reject_many(now, reason, 1);
    }

    /// `n` requests were turned away at the door, for `reason`.
    pub fn reject_many(&mut self, now: SimTime, reason: &'static str, n: u64) {
        self.rejected += n;
        self.end_badly(now, false, reason, n);
    }

    fn end_badly(&mut self, now: SimTime, failed: bool, reason: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        let s = self.slot(now);
        self.errors_per_bucket[s] += n;
        self.ends_per_bucket[s] += n;
        match self
            .outcomes
            .iter_mut()
            .find(|(f, r, _)| *f == failed && *r == reason)
        {
            Some(entry) => entry.2 += n,
            None => self.outcomes.push((failed, reason, n)),
        }
    }

    /// Requests so far that have not ended.
    pub fn in_flight(&self) -> u64 {
        self.requests - self.completed - self.failed - self.rejected
    }

    /// Marks a moment on the charts (the first [`MAX_MARKS`] are kept, so
    /// memory stays bounded whatever happens in a long run).
    pub fn mark(&mut self, now: SimTime, label: &'static str) {
        if self.marks.len() < MAX_MARKS {
            self.marks.push((now.min(self.duration), label));
        }
    }

    /// Puts a fault on the timeline, from `start` for `duration` (cut at
    /// the run's end; one starting after it is left out), hitting `stage`.
    pub fn fault(&mut self, start: SimTime, duration: SimTime, stage: &str, label: String) {
        if start >= self.duration || self.faults.len() >= MAX_MARKS {
            return;
        }
        let end = start.saturating_add(duration).min(self.duration);
        self.faults.push(FaultWindow {
            start_s: as_secs(start),
            end_s: as_secs(end),
            stage: stage.into(),
            label,
        });
    }

    /// Registers a model-specific series. Register each key once, before the
    /// run starts, and keep the handle: recording is then an index, not a
    /// lookup. A key outside [`keep_only`](Self::keep_only)'s list gets a
    /// handle that records nothing.
    pub fn series(&mut self, key: impl Into<String>, kind: SeriesKind) -> SeriesId {
        let key = key.into();
        if self.keep.as_ref().is_some_and(|keep| !keep.contains(&key)) {
            return SeriesId(usize::MAX);
        }
        // The same key twice is the same series (two stages' calls to one
        // callee share its breaker chart).
        if let Some(i) = self.extra.iter().position(|d| d.key == key) {
            return SeriesId(i);
        }
        let n = MAX_POINTS;
        self.extra.push(SeriesData {
            key,
            kind,
            values: vec![0.0; n],
            touched: vec![false; n],
            latest: vec![0.0; n],
        });
        SeriesId(self.extra.len() - 1)
    }

    /// Adds `n` to a [`SeriesKind::Rate`] series at time `now`.
    #[inline]
    pub fn count(&mut self, id: SeriesId, now: SimTime, n: f64) {
        if id.0 >= self.extra.len() {
            return;
        }
        let s = self.slot(now);
        if let Some(series) = self.extra.get_mut(id.0) {
            series.values[s] += n;
            series.touched[s] = true;
        }
    }

    /// Adds `amount` to a [`SeriesKind::Rate`] series spread evenly over
    /// `[from, to)`, bucket by bucket, so work that takes a while (a page
    /// read, a batch written, a chunk sent) shows as a plateau over its
    /// span rather than a spike where it ends. The part past the end of the
    /// run is dropped.
    pub fn count_spread(&mut self, id: SeriesId, from: SimTime, to: SimTime, amount: f64) {
        if id.0 >= self.extra.len() {
            return;
        }
        if to <= from {
            if from < self.duration {
                self.count(id, from, amount);
            }
            return;
        }
        // Coarsen for the far end first, so the loop walks final buckets.
        self.slot(to.min(self.duration) - 1);
        let width = self.bucket;
        let span = (to - from) as f64;
        let mut t = from;
        while t < to.min(self.duration) {
            let next = ((t / width + 1) * width).min(to);
            self.count(id, t, amount * (next - t) as f64 / span);
            t = next;
        }
    }

    /// Sets a [`SeriesKind::Gauge`] series to `value` at time `now`.
    #[inline(always)]
    pub fn gauge(&mut self, id: SeriesId, now: SimTime, value: f64) {
        if id.0 >= self.extra.len() {
            return;
        }
        let s = self.slot(now);
        if let Some(series) = self.extra.get_mut(id.0) {
            if !series.touched[s] || value > series.values[s] {
                series.values[s] = value;
            }
            series.latest[s] = value;
            series.touched[s] = true;
        }
    }

    /// Closes the run: `events` processed, plus the model's own summary
    /// metrics, in the order the scenario file declares them.
    pub fn finish(mut self, events: u64, own_metrics: Vec<(&'static str, f64)>) -> RunResult {
        // Report the buckets up to the last one anything happened in, plus
        // one that shows where the levels settled (a rate back to 0, a
        // gauge's last value); what follows would only repeat it, and
        // charts and `value_at` carry the last value on.
        let n = (self.duration.div_ceil(self.bucket) as usize)
            .min(self.high + 2)
            .min(MAX_POINTS);
        self.arrivals_per_bucket.truncate(n);
        self.completions_per_bucket.truncate(n);
        self.errors_per_bucket.truncate(n);
        self.ends_per_bucket.truncate(n);
        self.in_flight_peak.truncate(n);
        self.bucket_latency.truncate(n);
        for data in &mut self.extra {
            data.values.truncate(n);
            data.touched.truncate(n);
            data.latest.truncate(n);
        }
        let secs = as_secs(self.duration);
        let bucket_s = as_secs(self.bucket);
        let ms = |ns: f64| ns / MILLISECOND as f64;
        let in_flight = self.in_flight();
        let mut metrics: Vec<Metric> = [
            ("requests", self.requests as f64),
            ("completed", self.completed as f64),
            ("failed", self.failed as f64),
            ("rejected", self.rejected as f64),
            ("in_flight", in_flight as f64),
            ("throughput_rps", self.completed as f64 / secs),
            ("latency_mean_ms", ms(self.latency.mean())),
            ("latency_p50_ms", ms(self.latency.quantile(0.50))),
            ("latency_p95_ms", ms(self.latency.quantile(0.95))),
            ("latency_p99_ms", ms(self.latency.quantile(0.99))),
            ("latency_p999_ms", ms(self.latency.quantile(0.999))),
        ]
        .into_iter()
        .chain(own_metrics)
        .map(|(key, value)| Metric {
            key: key.to_string(),
            value: if value.is_finite() { value } else { 0.0 },
        })
        .collect();
        metrics.shrink_to_fit();

        let per_sec = |counts: &[u64]| counts.iter().map(|&c| c as f64 / bucket_s).collect();
        let pct = |q: f64| {
            self.bucket_latency
                .iter()
                .map(|h| ms(h.quantile(q)))
                .collect()
        };
        // Per bucket, the most in flight at once: the level it started at
        // (what the buckets before left) or the peak after an arrival in it,
        // the same "most at once" a gauge series shows.
        let mut level = 0i64;
        let in_flight_series = self
            .arrivals_per_bucket
            .iter()
            .zip(&self.ends_per_bucket)
            .zip(&self.in_flight_peak)
            .map(|((&a, &e), &peak)| {
                let most = level.max(peak as i64);
                level += a as i64 - e as i64;
                most as f64
            })
            .collect();
        let mut series = vec![
            Series {
                key: "throughput_rps".into(),
                values: per_sec(&self.completions_per_bucket),
            },
            Series {
                key: "errors_rps".into(),
                values: per_sec(&self.errors_per_bucket),
            },
            Series {
                key: "in_flight".into(),
                values: in_flight_series,
            },
            Series {
                key: "latency_p50_ms".into(),
                values: pct(0.50),
            },
            Series {
                key: "latency_p95_ms".into(),
                values: pct(0.95),
            },
            Series {
                key: "latency_p99_ms".into(),
                values: pct(0.99),
            },
        ];
        let mut extra = self.extra;
        if let Some(keep) = &self.keep {
            extra.sort_by_key(|d| keep.iter().position(|k| *k == d.key));
        }
        for data in extra {
            let values = match data.kind {
                SeriesKind::Rate => data.values.iter().map(|v| v / bucket_s).collect(),
                SeriesKind::Gauge => {
                    let mut carried = 0.0;
                    data.values
                        .iter()
                        .zip(&data.touched)
                        .zip(&data.latest)
                        .map(|((&peak, &touched), &latest)| {
                            if touched {
                                carried = latest;
                                peak
                            } else {
                                carried
                            }
                        })
                        .collect()
                }
            };
            series.push(Series {
                key: data.key,
                values,
            });
        }

        let outcomes = self
            .outcomes
            .iter()
            .map(|&(failed, reason, count)| Outcome {
                kind: if failed { "failed" } else { "rejected" }.into(),
                reason: reason.into(),
                count,
            })
            .collect();
        let mut marks: Vec<Mark> = self
            .marks
            .iter()
            .map(|&(t, label)| Mark {
                t_s: as_secs(t),
                label: label.into(),
            })
            .collect();
        marks.sort_unstable_by(|a, b| a.t_s.total_cmp(&b.t_s));
        let mut faults = self.faults;
        faults.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        RunResult {
            marks,
            faults,
            events,
            duration_s: secs,
            bucket_s,
            metrics,
            series,
            outcomes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::SECOND;
    use crate::engine::{Dist, RngStream};

    #[test]
    fn fault_windows_are_cut_at_the_run_end_and_sorted() {
        let mut rec = Recorder::new(100 * SECOND);
        rec.fault(90 * SECOND, 30 * SECOND, "db", "down".into());
        rec.fault(10 * SECOND, 5 * SECOND, "api", "slow ×2".into());
        // Starting at or after the end: not on the timeline.
        rec.fault(100 * SECOND, SECOND, "api", "late".into());
        let out = rec.finish(0, vec![]);
        let spans: Vec<(f64, f64, &str)> = out
            .faults
            .iter()
            .map(|f| (f.start_s, f.end_s, f.stage.as_str()))
            .collect();
        assert_eq!(spans, [(10.0, 15.0, "api"), (90.0, 100.0, "db")]);
        assert!(out.faults[1].active(99.9) && !out.faults[1].active(100.0));
    }

    #[test]
    fn marks_come_out_in_time_order_and_stay_bounded() {
        let mut rec = Recorder::new(100 * SECOND);
        rec.mark(7 * SECOND, "restart");
        rec.mark(3 * SECOND, "out of memory");
        // Past the end: drawn at the end.
        rec.mark(500 * SECOND, "late");
        for i in 0..100 {
            rec.mark(i * SECOND, "many");
        }
        let out = rec.finish(0, Vec::new());
        assert_eq!(out.marks.len(), MAX_MARKS);
        assert_eq!(out.marks[0].label, "many");
        assert!(out.marks.windows(2).all(|w| w[0].t_s <= w[1].t_s));
        let first_three: Vec<(f64, &str)> = out
            .marks
            .iter()
            .filter(|m| m.label != "many")
            .map(|m| (m.t_s, m.label.as_str()))
            .collect();
        assert_eq!(
            first_three,
            vec![(3.0, "out of memory"), (7.0, "restart"), (100.0, "late")]
        );
    }

    #[test]
    fn a_gauge_shows_its_peak_and_then_carries_its_last_value() {
        // 300 s in 300 points: one bucket per second.
        let mut rec = Recorder::new(300 * SECOND);
        let q = rec.series("queue", SeriesKind::Gauge);
        rec.gauge(q, 2 * SECOND, 5.0);
        rec.gauge(q, 2 * SECOND + 100 * MILLISECOND, 71.0);
        rec.gauge(q, 2 * SECOND + 900 * MILLISECOND, 0.0);
        rec.gauge(q, 5 * SECOND, 3.0);
        // A last sample near the end, so the buckets coarsen to 1 s.
        rec.gauge(q, 299 * SECOND, 3.0);
        let out = rec.finish(0, Vec::new());
        assert_eq!(out.bucket_s, 1.0);
        let v = &out
            .series("queue")
            .map(|s| s.values.clone())
            .unwrap_or_default();
        // Bucket 2 peaked at 71; it drained to 0, so buckets 3 and 4 read 0,
        // not 71; bucket 5 reads 3, and so does every later one.
        assert_eq!(&v[..7], &[0.0, 0.0, 71.0, 0.0, 0.0, 3.0, 3.0]);
        assert_eq!(v.last(), Some(&3.0));
    }

    #[test]
    fn a_spread_count_covers_its_span_and_stops_at_the_end_of_the_run() {
        // 300 s in 300 points: one bucket per second.
        let mut rec = Recorder::new(300 * SECOND);
        let r = rec.series("rows", SeriesKind::Rate);
        // 30 over [1.5 s, 4.5 s): 5 in bucket 1, 10 in 2 and 3, 5 in 4.
        rec.count_spread(r, 1_500 * MILLISECOND, 4_500 * MILLISECOND, 30.0);
        // An instant: all of it in its bucket.
        rec.count_spread(r, 10 * SECOND, 10 * SECOND, 7.0);
        // Straddling the end (298 s to 302 s): half falls past the run.
        rec.count_spread(r, 298 * SECOND, 302 * SECOND, 8.0);
        let out = rec.finish(0, Vec::new());
        assert_eq!(out.bucket_s, 1.0);
        let v = out
            .series("rows")
            .map(|s| s.values.clone())
            .unwrap_or_default();
        assert_eq!(&v[..6], &[0.0, 5.0, 10.0, 10.0, 5.0, 0.0]);
        assert_eq!(v[10], 7.0);
        assert_eq!(&v[298..], &[2.0, 2.0]);
        assert_eq!(v.iter().sum::<f64>(), 30.0 + 7.0 + 4.0);
    }

    #[test]
    fn in_flight_is_the_most_at_once_in_each_bucket() {
        // 300 s in 1 s buckets. Two requests arrive in bucket 0 and both end
        // within it: it reads 2, not the 0 left at its end. One arrives in
        // bucket 1 and ends in bucket 4: buckets 1–4 read 1, bucket 5 reads 0.
        let mut rec = Recorder::new(300 * SECOND);
        rec.arrival(100 * MILLISECOND);
        rec.arrival(200 * MILLISECOND);
        rec.complete(300 * MILLISECOND, 200 * MILLISECOND);
        rec.complete(400 * MILLISECOND, 200 * MILLISECOND);
        rec.arrival(1_500 * MILLISECOND);
        rec.complete(4_500 * MILLISECOND, 3 * SECOND);
        rec.arrival(299 * SECOND);
        let out = rec.finish(0, Vec::new());
        assert_eq!(out.bucket_s, 1.0);
        let v = out
            .series("in_flight")
            .map(|s| s.values.clone())
            .unwrap_or_default();
        assert_eq!(&v[..6], &[2.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn an_hour_run_ends_with_buckets_of_twelve_seconds() {
        // 3 600 s / 300 points = 12 s, whatever the finer widths on the way.
        let hour = 3_600 * SECOND;
        let mut rec = Recorder::new(hour);
        assert!(rec.bucket_width() <= 12 * SECOND / 1_000);
        rec.arrival(hour - 1);
        let out = rec.finish(0, Vec::new());
        assert_eq!(out.bucket_s, 12.0);
        assert_eq!(out.series[0].values.len(), MAX_POINTS);
    }

    #[test]
    fn a_run_whose_action_ends_early_is_charted_finely() {
        // A job that crashes at 4.1 s of an hour: 41 arrivals, one every
        // 100 ms, each completing 50 ms later.
        let hour = 3_600 * SECOND;
        let mut rec = Recorder::new(hour);
        let mem = rec.series("memory", SeriesKind::Gauge);
        for i in 0..41u64 {
            let t = i * 100 * MILLISECOND;
            rec.arrival(t);
            rec.complete(t + 50 * MILLISECOND, 50 * MILLISECOND);
            rec.gauge(mem, t, i as f64);
        }
        rec.gauge(mem, 4_100 * MILLISECOND, 0.0);
        let out = rec.finish(0, Vec::new());
        // 4.1 s in at most 300 buckets of a power-of-two fraction of 12 s:
        // 12 s / 2^9 = 23.4 ms covers 7.03 s; 2^10 (11.7 ms) only 3.5 s.
        assert_eq!(out.bucket_s, 12.0 / 512.0);
        let tp = out
            .series("throughput_rps")
            .map(|s| s.values.clone())
            .unwrap_or_default();
        // Up to the bucket of 4.1 s and one more.
        assert_eq!(tp.len(), (4.1_f64 / out.bucket_s) as usize + 2);
        // Nothing is lost in the merges: 41 completions in all.
        let total: f64 = tp.iter().map(|v| v * out.bucket_s).sum();
        assert!((total - 41.0).abs() < 1e-9, "{total}");
        let m = out
            .series("memory")
            .map(|s| s.values.clone())
            .unwrap_or_default();
        assert_eq!(m.iter().copied().fold(0.0, f64::max), 40.0);
        assert_eq!(m.last(), Some(&0.0));
    }

    #[test]
    fn merged_buckets_add_counts_and_keep_a_gauge_peak_and_last_value() {
        // Four fine buckets, then a sample near the end of the run forces
        // the width up until they are one bucket: it holds all the counts,
        // the highest gauge value, and carries the last one set.
        let run = 300 * SECOND;
        let mut rec = Recorder::new(run);
        let fine = rec.bucket_width();
        let g = rec.series("g", SeriesKind::Gauge);
        let r = rec.series("r", SeriesKind::Rate);
        for (i, v) in [(0, 2.0), (1, 9.0), (2, 4.0), (3, 1.0)] {
            rec.gauge(g, i * fine, v);
            rec.count(r, i * fine, 1.0);
            rec.arrival(i * fine);
            rec.complete(i * fine, (i + 1) * MILLISECOND);
        }
        rec.count(r, run - 1, 0.0);
        let out = rec.finish(0, Vec::new());
        assert_eq!(out.bucket_s, 1.0);
        let first = |k: &str| out.series(k).map(|s| s.values[0]);
        assert_eq!(first("g"), Some(9.0));
        assert_eq!(out.series("g").map(|s| s.values[1]), Some(1.0));
        assert_eq!(first("r"), Some(4.0));
        assert_eq!(first("throughput_rps"), Some(4.0));
        // The bucket's median is that of all four latencies (1–4 ms), 2 ms,
        // as one coarse histogram of the four reports it (within 1/32).
        let mut all = Histogram::new(Histogram::COARSE);
        (1..=4).for_each(|i| all.record(i * MILLISECOND));
        let p50 = all.quantile(0.5) / MILLISECOND as f64;
        assert!((p50 - 2.0).abs() <= 2.0 / 32.0);
        assert_eq!(first("latency_p50_ms"), Some(p50));
    }

    #[test]
    fn odd_durations_get_a_width_that_still_covers_the_run() {
        for secs in [1u64, 7, 15, 100, 1_001, 86_399] {
            let d = secs * SECOND + 13;
            let mut rec = Recorder::new(d);
            rec.arrival(d - 1);
            let out = rec.finish(0, Vec::new());
            assert!(out.bucket_s * MAX_POINTS as f64 >= as_secs(d), "{secs}");
            assert!(
                out.bucket_s - as_secs(d) / MAX_POINTS as f64 <= 1.1e-6,
                "{secs}"
            );
            assert!(out.series[0].values.len() <= MAX_POINTS);
        }
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new(Histogram::PRECISE);
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), 50.0);
        assert_eq!(h.quantile(0.99), 99.0);
        assert_eq!(h.quantile(1.0), 100.0);
        assert_eq!(h.mean(), 50.5);
        assert_eq!(Histogram::new(7).quantile(0.5), 0.0);
        // Equal samples report their value, not their bucket's midpoint:
        // 50 ms sits in a bucket 0.26 ms wide whose midpoint is not 50 ms.
        let mut equal = Histogram::new(Histogram::PRECISE);
        equal.record_n(50_000_000, 10);
        assert_eq!(equal.quantile(0.99), 50_000_000.0);
        assert_eq!(equal.quantile(0.01), equal.mean());
    }

    #[test]
    fn percentiles_are_within_one_percent_of_exact_ones() {
        // Compare against the exact nearest-rank percentile of the sorted samples.
        let d = Dist::lognormal(0.05, 1.0);
        let mut rng = RngStream::new(2, "lat");
        let mut h = Histogram::new(Histogram::PRECISE);
        let mut all: Vec<u64> = (0..100_000)
            .map(|_| (d.sample(&mut rng) * 1e9) as u64)
            .collect();
        for &v in &all {
            h.record(v);
        }
        all.sort_unstable();
        for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
            let exact = all[((q * all.len() as f64).ceil() as usize).max(1) - 1] as f64;
            let err = (h.quantile(q) - exact).abs() / exact;
            assert!(err < 0.01, "q {q}: {} vs {exact}", h.quantile(q));
        }
    }

    #[test]
    fn order_of_recording_and_merging_never_changes_a_histogram() {
        // Only the range between the smallest and largest bucket is
        // stored; it grows at either end. Whatever the order the samples
        // come in, or how they are split and merged, every quantile is
        // the one of the sorted samples (within the bucket width).
        let values: Vec<u64> = (0..2_000u64)
            .map(|i| (i * 7_919) % 50_000_000 + 3)
            .collect();
        let mut up = Histogram::new(Histogram::COARSE);
        let mut down = Histogram::new(Histogram::COARSE);
        let (mut low, mut high) = (
            Histogram::new(Histogram::COARSE),
            Histogram::new(Histogram::COARSE),
        );
        let mut sorted = values.clone();
        sorted.sort_unstable();
        for &v in &sorted {
            up.record(v);
        }
        for &v in sorted.iter().rev() {
            down.record(v);
        }
        for &v in &values {
            if v < 1_000_000 {
                low.record(v)
            } else {
                high.record(v)
            }
        }
        // Merged both ways round: a merge may extend either end.
        let mut high_then_low = high.clone();
        high_then_low.merge(&low);
        low.merge(&high);
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 1.0] {
            let exact = sorted[((q * sorted.len() as f64).ceil() as usize).max(1) - 1] as f64;
            for h in [&up, &down, &low, &high_then_low] {
                assert_eq!(h.quantile(q), up.quantile(q), "q {q}");
                assert!(
                    (h.quantile(q) - exact).abs() <= exact / 16.0 + 1.0,
                    "q {q}: {} vs {exact}",
                    h.quantile(q)
                );
            }
        }
        assert_eq!(low.count(), 2_000);
        assert_eq!(high_then_low.mean(), up.mean());
    }

    #[test]
    fn coarse_histogram_stays_within_its_bound() {
        let mut h = Histogram::new(Histogram::COARSE);
        for v in [1_000_000u64, 12_345_678, 987_654_321] {
            let mut one = h.clone();
            one.record(v);
            let err = (one.quantile(0.5) - v as f64).abs() / v as f64;
            assert!(err <= 1.0 / 32.0, "{v}: {}", one.quantile(0.5));
        }
        h.record(5);
        assert_eq!(h.count(), 1);
    }

    #[test]
    fn series_stay_bounded_and_totals_are_conserved() {
        let hour = 3_600 * crate::engine::time::SECOND;
        let mut r = Recorder::new(hour);
        let q = r.series("queue", SeriesKind::Gauge);
        let mut t = 0;
        while t < hour {
            r.arrival(t);
            r.complete(t, 5 * MILLISECOND);
            r.gauge(q, t, 3.0);
            t += crate::engine::time::SECOND / 10;
        }
        r.arrival(t - 1);
        r.reject(t - 1, "limited");
        r.arrival(t - 1);
        let out = r.finish(0, vec![]);
        assert!(out.series.iter().all(|s| s.values.len() <= MAX_POINTS));
        let m = |k| out.metric(k).unwrap_or(-1.0);
        assert_eq!(
            m("requests"),
            m("completed") + m("failed") + m("rejected") + m("in_flight")
        );
        assert_eq!(m("in_flight"), 1.0);
        assert_eq!(m("rejected"), 1.0);
        assert!((m("throughput_rps") - 10.0).abs() < 1e-9);
        assert_eq!(out.outcomes[0].reason, "limited");
        let tp = out.series("throughput_rps").map(|s| s.values[10]);
        assert_eq!(tp, Some(10.0));
        assert_eq!(out.series("queue").map(|s| s.values[299]), Some(3.0));
    }
}
