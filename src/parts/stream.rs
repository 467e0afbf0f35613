//! Streaming pipelines: chunks flowing through stages with backpressure,
//! plus the pieces of an HTTP download (compression, the client's link and
//! the gateway's idle timeout).
//!
//! ```text
//!   source ──> [ stage 0 ] ─buf─> [ stage 1 ] ─buf─> … ─> [ last stage ] ──> delivered
//!   (chunks)    e.g. database      e.g. CSV / gzip          e.g. the socket
//!               a stage whose next buffer is full holds its finished chunk
//!               (blocked) and starts nothing new: backpressure
//! ```
//!
//! * [`FlowLine`]: a tandem line of stages with bounded buffers between them
//!   (blocking after service). Each stage works on one chunk at a time; the
//!   model draws service times and schedules the finishes. With small
//!   buffers the number of chunks in the line, hence the memory, is bounded
//!   whatever the length of the stream; with `max_in_line = 1` the stages
//!   run strictly one after another (fetch, then process, then fetch…).
//! * [`Gzip`]: compressed size (`ratio`) and CPU cost (`ms_per_mb`).
//! * [`Link`]: transfer time over a link of `mbps` megabits per second.
//! * [`IdleTimeout`]: a gateway that gives up on a response when no byte
//!   has flowed for `limit` (nginx `proxy_read_timeout`, a load balancer's
//!   idle timeout).
//! * [`StringBuild`]: one JavaScript string grown by appending, refused
//!   past V8's maximum string length (`RangeError: Invalid string length`).

use crate::engine::time::{secs, SimTime};
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Idle,
    Busy(u64),
    /// Finished, waiting for room downstream.
    Blocked(u64),
}

/// A chunk starting work at a stage: the model schedules its finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    /// Stage index (0 is the source side).
    pub stage: usize,
    /// Chunk number, 0, 1, 2… in source order.
    pub chunk: u64,
}

/// A tandem line of stages with bounded buffers and backpressure.
#[derive(Clone, Debug)]
pub struct FlowLine {
    slots: Vec<Slot>,
    /// `buffers[i]` feeds stage `i`; `buffers[0]` is unused.
    buffers: Vec<VecDeque<u64>>,
    buffer_cap: usize,
    max_in_line: u64,
    total: u64,
    released: u64,
    delivered: u64,
    stopped: bool,
}

impl FlowLine {
    /// `stages` stages (at least 1), `buffer_cap` chunks of room before each
    /// stage after the first (0: hand over only to an idle stage), `chunks`
    /// chunks to push through, and at most `max_in_line` chunks between
    /// entering stage 0 and leaving the last (`u64::MAX`: only the buffers limit it).
    pub fn new(stages: usize, buffer_cap: usize, chunks: u64, max_in_line: u64) -> Self {
        let stages = stages.max(1);
        Self {
            slots: vec![Slot::Idle; stages],
            buffers: vec![VecDeque::with_capacity(buffer_cap); stages],
            buffer_cap,
            max_in_line: max_in_line.max(1),
            total: chunks,
            released: 0,
            delivered: 0,
            stopped: false,
        }
    }

    /// Starts the line: pushes the first [`Start`] into `out`.
    pub fn begin(&mut self, out: &mut Vec<Start>) {
        self.propagate(out);
    }

    /// Stage `stage` finished its chunk. Returns the chunk if it left the
    /// last stage, and pushes into `out` every start this made possible.
    /// A stage that was not busy is ignored.
    pub fn finish(&mut self, stage: usize, out: &mut Vec<Start>) -> Option<u64> {
        let last = self.slots.len() - 1;
        let Some(Slot::Busy(chunk)) = self.slots.get(stage).copied() else {
            return None;
        };
        let delivered = if stage == last {
            self.slots[stage] = Slot::Idle;
            self.delivered += 1;
            Some(chunk)
        } else {
            self.slots[stage] = Slot::Blocked(chunk);
            None
        };
        self.propagate(out);
        delivered
    }

    /// No new chunk enters the line from now on (the stream was aborted).
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Moves chunks downstream wherever there is room, last stage first so
    /// that room freed at the end travels all the way up in one pass.
    fn propagate(&mut self, out: &mut Vec<Start>) {
        let last = self.slots.len() - 1;
        for i in (0..=last).rev() {
            if let Slot::Blocked(chunk) = self.slots[i] {
                if i < last {
                    if self.slots[i + 1] == Slot::Idle && self.buffers[i + 1].is_empty() {
                        self.slots[i + 1] = Slot::Busy(chunk);
                        out.push(Start {
                            stage: i + 1,
                            chunk,
                        });
                        self.slots[i] = Slot::Idle;
                    } else if self.buffers[i + 1].len() < self.buffer_cap {
                        self.buffers[i + 1].push_back(chunk);
                        self.slots[i] = Slot::Idle;
                    }
                }
            }
            if self.slots[i] == Slot::Idle {
                if i > 0 {
                    if let Some(chunk) = self.buffers[i].pop_front() {
                        self.slots[i] = Slot::Busy(chunk);
                        out.push(Start { stage: i, chunk });
                    }
                } else if !self.stopped
                    && self.released < self.total
                    && self.in_line() < self.max_in_line
                {
                    let chunk = self.released;
                    self.released += 1;
                    self.slots[0] = Slot::Busy(chunk);
                    out.push(Start { stage: 0, chunk });
                }
            }
        }
    }

    /// Chunks that entered the line and have not left it.
    pub fn in_line(&self) -> u64 {
        self.released - self.delivered
    }

    /// Chunks at stage `stage`: in service, blocked there or waiting in its buffer.
    pub fn held_at(&self, stage: usize) -> usize {
        let own = match self.slots.get(stage) {
            Some(Slot::Busy(_)) | Some(Slot::Blocked(_)) => 1,
            _ => 0,
        };
        own + self.buffers.get(stage).map_or(0, VecDeque::len)
    }

    /// Chunks that left the last stage.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// True once every chunk has left the last stage.
    pub fn is_done(&self) -> bool {
        self.delivered == self.total
    }
}

/// Gzip compression: output size and CPU cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gzip {
    ratio: f64,
    ms_per_mb: f64,
}

impl Gzip {
    /// Output is `1 / ratio` of the input (ratio at least 1); compressing one
    /// MB (10⁶ bytes) of input costs `ms_per_mb` ms of one core.
    pub fn new(ratio: f64, ms_per_mb: f64) -> Self {
        Self {
            ratio: if ratio.is_finite() {
                ratio.max(1.0)
            } else {
                1.0
            },
            ms_per_mb: if ms_per_mb.is_finite() {
                ms_per_mb.max(0.0)
            } else {
                0.0
            },
        }
    }

    /// Compressed size of `bytes` of input, rounded up.
    pub fn compressed(&self, bytes: u64) -> u64 {
        let out = libm::ceil(bytes as f64 / self.ratio);
        out as u64
    }

    /// CPU time to compress `bytes` of input.
    pub fn cpu_time(&self, bytes: u64) -> SimTime {
        secs(bytes as f64 / 1e6 * self.ms_per_mb / 1e3)
    }
}

/// A network link of fixed bandwidth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    mbps: f64,
}

impl Link {
    /// A link carrying `mbps` megabits (10⁶ bits) per second; a non-positive
    /// rate is treated as one bit per second.
    pub fn new(mbps: f64) -> Self {
        Self {
            mbps: if mbps.is_finite() && mbps > 0.0 {
                mbps
            } else {
                1e-6
            },
        }
    }

    /// Time to push `bytes` through the link.
    pub fn transfer_time(&self, bytes: u64) -> SimTime {
        secs(bytes as f64 * 8.0 / (self.mbps * 1e6))
    }
}

/// A gateway's idle timeout on one response: it gives up when no byte has
/// been sent for `limit`. Arm it when the request starts and after each send;
/// the model schedules a check at the returned deadline and asks
/// [`expired`](Self::expired) then. Newer arms make older checks stale.
#[derive(Clone, Debug)]
pub struct IdleTimeout {
    limit: SimTime,
    last_activity: SimTime,
    sending: bool,
    generation: u64,
}

impl IdleTimeout {
    /// A timeout of `limit`, with the request arriving at `now`.
    pub fn new(limit: SimTime, now: SimTime) -> Self {
        Self {
            limit,
            last_activity: now,
            sending: false,
            generation: 0,
        }
    }

    /// Arms a check: returns its deadline and generation.
    pub fn arm(&mut self) -> (SimTime, u64) {
        self.generation += 1;
        (
            self.last_activity.saturating_add(self.limit),
            self.generation,
        )
    }

    /// Bytes start flowing at `now`: no timeout while they do.
    pub fn begin_send(&mut self) {
        self.sending = true;
    }

    /// A send ended at `now`: re-arms, returning the new deadline and generation.
    pub fn end_send(&mut self, now: SimTime) -> (SimTime, u64) {
        self.sending = false;
        self.last_activity = now;
        self.arm()
    }

    /// Whether the check `generation`, firing at `now`, finds the response idle too long.
    pub fn expired(&self, now: SimTime, generation: u64) -> bool {
        generation == self.generation
            && !self.sending
            && now.saturating_sub(self.last_activity) >= self.limit
    }
}

/// V8's maximum string length on 64-bit platforms, in UTF-16 code units:
/// 2^29 − 24 = 536 870 888 (`v8::String::kMaxLength`, raised from
/// 2^28 − 16 in V8 6.2, i.e. since Node 9; Node reports it as
/// `buffer.constants.MAX_STRING_LENGTH`). ASCII CSV is one unit per byte,
/// so about 537 MB.
pub const V8_MAX_STRING_CHARS: u64 = (1 << 29) - 24;

/// One string built by appending pieces (`csv += rows`, or a `join`): an
/// append that would make it longer than `max_chars` is refused, as V8
/// throws `RangeError: Invalid string length`, and the string is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StringBuild {
    len: u64,
    max_chars: u64,
}

impl StringBuild {
    /// An empty string that may grow to `max_chars` characters.
    pub fn new(max_chars: u64) -> Self {
        Self { len: 0, max_chars }
    }

    /// Appends `chars` characters; `false` (nothing appended) if the result
    /// would pass the limit.
    pub fn append(&mut self, chars: u64) -> bool {
        match self.len.checked_add(chars) {
            Some(after) if after <= self.max_chars => {
                self.len = after;
                true
            }
            _ => false,
        }
    }

    /// Characters in the string.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True while nothing has been appended.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a line with constant stage times, returning (finish time of each
    /// chunk at the last stage, most chunks ever in the line).
    fn simulate(times: &[u64], buffer: usize, chunks: u64, max_in_line: u64) -> (Vec<u64>, u64) {
        let mut line = FlowLine::new(times.len(), buffer, chunks, max_in_line);
        let mut out = Vec::new();
        let mut pending: Vec<(u64, usize)> = Vec::new(); // (finish time, stage)
        line.begin(&mut out);
        let mut now = 0;
        let mut done = Vec::new();
        let mut most = 0;
        loop {
            for s in out.drain(..) {
                pending.push((now + times[s.stage], s.stage));
            }
            most = most.max(line.in_line());
            // Earliest finish first; ties: downstream stage first.
            pending.sort_by_key(|&(t, s)| (std::cmp::Reverse(t), s));
            let Some((t, stage)) = pending.pop() else {
                break;
            };
            now = t;
            if line.finish(stage, &mut out).is_some() {
                done.push(now);
            }
        }
        assert!(line.is_done());
        (done, most)
    }

    #[test]
    fn a_pipeline_runs_at_the_pace_of_its_slowest_stage() {
        // Stages of 1, 3 and 2: the first chunk leaves at 6, then one every 3
        // (the bottleneck), so 10 chunks finish at 6 + 9 × 3 = 33.
        let (done, most) = simulate(&[1, 3, 2], 1, 10, u64::MAX);
        assert_eq!(done.len(), 10);
        assert_eq!(done[0], 6);
        assert_eq!(done[9], 33);
        // 3 stages + 2 buffers of 1 bound the chunks in the line.
        assert!(most <= 5, "{most}");
    }

    #[test]
    fn backpressure_bounds_the_line_when_the_sink_is_slow() {
        // A fast source feeding a slow sink: without backpressure the source
        // would run 100 chunks ahead; here at most stages + buffers are held.
        let (done, most) = simulate(&[1, 1, 50], 1, 100, u64::MAX);
        assert_eq!(done[99], 2 + 100 * 50);
        assert!(most <= 5, "{most}");
        let (_, most0) = simulate(&[1, 50], 0, 100, u64::MAX);
        assert_eq!(most0, 2, "no buffer: one in service, one blocked");
    }

    #[test]
    fn one_in_line_runs_the_stages_strictly_in_turn() {
        // Fetch 2 then process 3, never overlapping: 5 per chunk.
        let (done, most) = simulate(&[2, 3], 0, 4, 1);
        assert_eq!(done, [5, 10, 15, 20]);
        assert_eq!(most, 1);
        // With overlap the same work takes 2 + 4 × 3 = 14.
        let (overlap, _) = simulate(&[2, 3], 0, 4, u64::MAX);
        assert_eq!(overlap[3], 14);
    }

    #[test]
    fn stopping_lets_the_line_drain_and_stale_finishes_are_ignored() {
        let mut line = FlowLine::new(2, 0, 10, u64::MAX);
        let mut out = Vec::new();
        line.begin(&mut out);
        assert_eq!(out, [Start { stage: 0, chunk: 0 }]);
        out.clear();
        assert_eq!(line.finish(1, &mut out), None, "stage 1 was idle");
        assert_eq!(line.finish(0, &mut out), None);
        assert_eq!(
            out,
            [Start { stage: 1, chunk: 0 }, Start { stage: 0, chunk: 1 }]
        );
        assert_eq!((line.held_at(0), line.held_at(1)), (1, 1));
        line.stop();
        out.clear();
        assert_eq!(line.finish(1, &mut out), Some(0));
        assert_eq!(line.finish(0, &mut out), None);
        assert_eq!(out, [Start { stage: 1, chunk: 1 }]);
        assert_eq!(line.finish(1, &mut out), Some(1));
        assert_eq!(
            (line.in_line(), line.delivered(), line.is_done()),
            (0, 2, false)
        );
    }

    #[test]
    fn gzip_and_link_arithmetic() {
        let g = Gzip::new(5.0, 20.0);
        assert_eq!(g.compressed(1_000_000), 200_000);
        assert_eq!(g.compressed(7), 2);
        assert_eq!(g.cpu_time(1_000_000), 20_000_000);
        assert_eq!(Gzip::new(0.5, -1.0).compressed(10), 10);
        // 1 MB at 8 Mbit/s takes one second.
        assert_eq!(Link::new(8.0).transfer_time(1_000_000), 1_000_000_000);
        assert!(Link::new(0.0).transfer_time(1) > 0);
    }

    #[test]
    fn a_string_refuses_to_grow_past_v8s_limit() {
        // 2^29 = 536 870 912, less 24.
        assert_eq!(V8_MAX_STRING_CHARS, 536_870_888);
        let mut s = StringBuild::new(V8_MAX_STRING_CHARS);
        assert!(s.is_empty());
        // 536 pieces of 1 MB fit (536 000 000 characters); the 537th would
        // make 537 000 000 > 536 870 888 and is refused, leaving the string.
        for _ in 0..536 {
            assert!(s.append(1_000_000));
        }
        assert!(!s.append(1_000_000));
        assert_eq!(s.len(), 536_000_000);
        // Exactly up to the limit is allowed; one more character is not.
        assert!(s.append(870_888));
        assert!(!s.append(1));
        assert!(!StringBuild::new(10).append(u64::MAX), "no overflow");
    }

    #[test]
    fn idle_timeout_fires_only_after_a_silent_stretch() {
        let mut t = IdleTimeout::new(100, 0);
        let (deadline, g0) = t.arm();
        assert_eq!(deadline, 100);
        t.begin_send();
        assert!(!t.expired(100, g0), "bytes are flowing");
        let (deadline, g1) = t.end_send(150);
        assert_eq!(deadline, 250);
        assert!(!t.expired(250, g0), "stale check");
        assert!(!t.expired(249, g1));
        assert!(t.expired(250, g1));
    }
}
