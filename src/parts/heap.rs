//! A garbage-collected heap (shaped like V8's): a young generation swept by
//! short scavenges and an old generation swept by long mark-compacts.
//!
//! ```text
//!   allocate(garbage, retained)
//!      │ garbage                         │ retained (leaked or cached)
//!      v                                 v
//!   [ young: young_bytes ] ─full─> minor GC: short pause,
//!                                  promote_percent % survives into ─┐
//!   [ old: live + promoted garbage ] <──────────────────────────────┘
//!      │ old reaches the next trigger, or old + young reach the limit
//!      │   ─> major GC: pause ∝ live heap, all garbage (young too) freed,
//!      │      next trigger set
//!      └ a major GC leaves under min_headroom free ─> out of memory (crash)
//! ```
//!
//! Why GC thrashes before the crash. After a major GC the old generation may
//! grow by `headroom_share` of what is left below the limit before the next
//! one, so the trigger is a growing fraction of the limit. Far from the limit
//! that is a lot and major GCs are rare. Near it the free room is smaller than
//! the young generation, and the limit also bounds the young generation here
//! (the model's simplification of what V8 does when it can no longer promise
//! room for a scavenge's survivors: it collects the whole heap instead,
//! "scavenge might not succeed"). Every allocation then eats into the free
//! room, so major GCs come every (free room ÷ allocation rate), which falls
//! towards zero as a leak brings the live heap to the limit, while each one,
//! marking a bigger live heap, lasts longer: the share of time spent in GC
//! climbs towards all of it.
//!
//! Sizes are bytes (integers, so runs are bit-identical everywhere), and
//! MB and KB are decimal, as everywhere in Prodsim: 1 MB = 10^6 bytes,
//! 1 KB = 1 000 bytes. Pauses are simulated time.
//!
//! The old generation never holds more than its limit: when an allocation
//! would take the heap past it, the major GC runs first (the trigger is
//! never above the limit), so the recorded peak is at most the limit; if
//! that GC cannot make room, the process is out of memory. The heap is told
//! about allocations; it never reads a clock or schedules anything.

use crate::engine::time::{millis, SimTime};

/// One megabyte, in bytes (decimal: 10^6).
pub const MB: u64 = 1_000_000;

/// One kilobyte, in bytes (decimal: 1 000).
pub const KB: u64 = 1_000;

/// Sizes and costs of a heap. [`GcConfig::node`] gives Node-like values.
#[derive(Clone, Debug, PartialEq)]
pub struct GcConfig {
    /// Live bytes of a freshly started process (code, modules, pools).
    pub base_bytes: u64,
    /// Old-generation limit (Node's `--max-old-space-size`).
    pub limit_bytes: u64,
    /// Young-generation size: a minor GC runs each time this much is allocated.
    pub young_bytes: u64,
    /// Percentage of the young generation that survives a minor GC and is
    /// promoted, to die later in the old generation.
    pub promote_percent: u64,
    /// Pause of one minor GC.
    pub minor_pause: SimTime,
    /// Fixed part of a major GC pause.
    pub major_base: SimTime,
    /// Major GC pause per MB (10^6 bytes) of live heap marked.
    pub major_per_mb: SimTime,
    /// Fraction of the headroom left below the limit that the old generation
    /// may fill before the next major GC.
    pub headroom_share: f64,
    /// Smallest growth allowed between two major GCs (unless the limit is closer).
    pub min_step_bytes: u64,
    /// A major GC that leaves less than this free below the limit gives up:
    /// out of memory. (V8 can abort sooner: after four mark-compacts in a row
    /// that leave the heap over 80 % of its limit while JavaScript ran less
    /// than 40 % of the time, "Ineffective mark-compacts near heap limit". A
    /// lightly loaded process can hit that before its throughput falls; the
    /// model lets it run on until the room is gone.)
    pub min_headroom_bytes: u64,
}

impl GcConfig {
    /// Node-like defaults for a heap limit of `limit_mb` MB: 50 MB at start,
    /// 16 MB young generation, 10 % promoted, 2 ms scavenges, major pauses of
    /// 5 ms + 1 ms per live MB (a full mark-compact of a 1.4 GB heap takes
    /// about 1.4 s; Node's `--trace-gc` shows one to two seconds there), a
    /// fifth of the headroom per cycle (at least 4 MB), and out of memory
    /// when a major GC leaves less than 1 MB free.
    pub fn node(limit_mb: f64) -> Self {
        Self {
            base_bytes: 50 * MB,
            limit_bytes: (limit_mb.max(1.0) * MB as f64) as u64,
            young_bytes: 16 * MB,
            promote_percent: 10,
            minor_pause: millis(2.0),
            major_base: millis(5.0),
            major_per_mb: millis(1.0),
            headroom_share: 0.2,
            min_step_bytes: 4 * MB,
            min_headroom_bytes: MB,
        }
    }
}

/// What one allocation cost: the collections it triggered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcWork {
    /// Pause of the minor GC it triggered, if any.
    pub minor: Option<SimTime>,
    /// Pause of the major GC it triggered, if any.
    pub major: Option<SimTime>,
    /// The major GC could not free enough: the process is out of memory.
    pub out_of_memory: bool,
}

impl GcWork {
    /// Total stop-the-world pause.
    pub fn pause(&self) -> SimTime {
        self.minor.unwrap_or(0) + self.major.unwrap_or(0)
    }
}

/// What a run of allocations cost: see [`Heap::allocate_many`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Requests allocated: all that were asked for, unless a major GC
    /// stopped the batch early (then the last of them triggered it).
    pub requests: u64,
    /// Minor GCs they triggered (each pausing `minor_pause`).
    pub minors: u64,
    /// Pause of the major GC the last request triggered, if any.
    pub major: Option<SimTime>,
    /// That major GC could not free enough: out of memory.
    pub out_of_memory: bool,
}

/// A heap with a young and an old generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Heap {
    cfg: GcConfig,
    live: u64,
    old_garbage: u64,
    young: u64,
    next_major: u64,
    minors: u64,
    majors: u64,
    peak: u64,
}

impl Heap {
    /// A freshly started heap holding `cfg.base_bytes`.
    pub fn new(cfg: GcConfig) -> Self {
        let mut heap = Self {
            live: cfg.base_bytes,
            cfg,
            old_garbage: 0,
            young: 0,
            next_major: 0,
            minors: 0,
            majors: 0,
            peak: 0,
        };
        heap.peak = heap.used();
        heap.next_major = heap.trigger_after_gc();
        heap
    }

    /// The process restarted: back to the base heap (GC counts are kept).
    pub fn restart(&mut self) {
        self.live = self.cfg.base_bytes;
        self.old_garbage = 0;
        self.young = 0;
        self.next_major = self.trigger_after_gc();
    }

    fn trigger_after_gc(&self) -> u64 {
        let headroom = self.cfg.limit_bytes.saturating_sub(self.live);
        let share = (headroom as f64 * self.cfg.headroom_share.clamp(0.0, 1.0)) as u64;
        let step = share.max(self.cfg.min_step_bytes).min(headroom);
        self.live + step
    }

    /// Allocates `garbage` bytes that die young and `retained` bytes that stay
    /// reachable (a leak, or a cache entry), and runs the collections that
    /// allocation triggers.
    pub fn allocate(&mut self, garbage: u64, retained: u64) -> GcWork {
        let mut work = GcWork::default();
        self.live = self.live.saturating_add(retained);
        self.young = self.young.saturating_add(garbage);
        // The young generation only has the room left below the limit: once
        // old + young reach it, collect everything (no scavenge first).
        let full = self.used().saturating_add(self.young) >= self.cfg.limit_bytes;
        if !full && self.young >= self.cfg.young_bytes {
            let share = u128::from(self.cfg.promote_percent.min(100));
            let promoted = (u128::from(self.young) * share / 100) as u64;
            self.old_garbage = self.old_garbage.saturating_add(promoted);
            self.young = 0;
            self.minors += 1;
            work.minor = Some(self.cfg.minor_pause);
        }
        // The trigger is never above the limit (unless the live heap alone
        // is, which is out of memory below), so the level reached before a
        // collection is at most one allocation past the limit. A real heap
        // collects before crossing it instead: count the limit, not the
        // overshoot.
        let reached = self.used();
        self.peak = self.peak.max(reached.min(self.cfg.limit_bytes));
        if full || reached >= self.next_major {
            work.major = Some(self.major_pause());
            // A full collection: old garbage and the young generation alike.
            self.old_garbage = 0;
            self.young = 0;
            self.majors += 1;
            let headroom = self.cfg.limit_bytes.saturating_sub(self.live);
            if headroom < self.cfg.min_headroom_bytes {
                work.out_of_memory = true;
            }
            self.next_major = self.trigger_after_gc();
        }
        work
    }

    /// Allocates for up to `n` requests, each of which first frees `freed`
    /// bytes (a cache evicting an entry) and then allocates as
    /// [`allocate`](Self::allocate) does; stops right after the first
    /// request that triggers a major GC. The heap ends exactly as if `free`
    /// and `allocate` had been called per request, in far fewer steps:
    /// between two collections every request changes it by the same amounts.
    pub fn allocate_many(&mut self, n: u64, garbage: u64, retained: u64, freed: u64) -> Batch {
        let mut batch = Batch::default();
        while batch.requests < n {
            let quiet = self.quiet_requests(garbage, retained, freed);
            let bulk = quiet.min(n - batch.requests);
            // Each of these requests: young grows by `garbage`, live by
            // `retained - freed`, old garbage by `freed`; used (live + old
            // garbage) only rises, so the last level is the peak.
            self.young += bulk * garbage;
            self.live += bulk * retained.saturating_sub(freed);
            self.old_garbage = self.old_garbage.saturating_add(bulk * freed);
            self.peak = self.peak.max(self.used().min(self.cfg.limit_bytes));
            batch.requests += bulk;
            if batch.requests == n {
                break;
            }
            // The next request triggers a collection: take it exactly.
            self.free(freed);
            let work = self.allocate(garbage, retained);
            batch.requests += 1;
            batch.minors += u64::from(work.minor.is_some());
            if work.major.is_some() {
                batch.major = work.major;
                batch.out_of_memory = work.out_of_memory;
                break;
            }
        }
        batch
    }

    /// How many requests in a row can allocate (`garbage`, `retained`,
    /// after freeing `freed`) without triggering a collection.
    fn quiet_requests(&self, garbage: u64, retained: u64, freed: u64) -> u64 {
        // Freeing more than is retained shrinks the live heap, and `free`
        // stops at zero: leave that rare case to the exact path.
        if freed > retained || freed > self.live {
            return 0;
        }
        // A minor GC comes at the first request that fills the young
        // generation (it is never full between requests).
        let to_minor = match garbage {
            0 => u64::MAX,
            g => self.cfg.young_bytes.saturating_sub(self.young).div_ceil(g),
        };
        // A major GC at the first request that takes used to the trigger;
        // only the retained bytes raise used between minor GCs.
        let used = self.used();
        let to_major = if used >= self.next_major {
            1
        } else if retained == 0 {
            u64::MAX
        } else {
            (self.next_major - used).div_ceil(retained)
        };
        // Or at the first that takes old + young to the limit: each request
        // adds `garbage + retained` to that sum (freeing moves bytes from
        // live to garbage, leaving it unchanged).
        let total = used.saturating_add(self.young);
        let to_full = match garbage.saturating_add(retained) {
            _ if total >= self.cfg.limit_bytes => 1,
            0 => u64::MAX,
            step => (self.cfg.limit_bytes - total).div_ceil(step),
        };
        // Stay clear of overflow in the bulk sums (never near in practice).
        let per_request = garbage.max(retained).max(1);
        let cap = (u64::MAX / 4) / per_request;
        to_minor
            .min(to_major)
            .min(to_full)
            .saturating_sub(1)
            .min(cap)
    }

    /// `bytes` of retained memory become unreachable (a cache evicted an
    /// entry): garbage for the next major GC.
    pub fn free(&mut self, bytes: u64) {
        let bytes = bytes.min(self.live);
        self.live -= bytes;
        self.old_garbage = self.old_garbage.saturating_add(bytes);
    }

    /// The pause a major GC would take now: proportional to the live heap.
    pub fn major_pause(&self) -> SimTime {
        let per_mb = u128::from(self.cfg.major_per_mb);
        let marking = u128::from(self.live) * per_mb / u128::from(MB);
        self.cfg
            .major_base
            .saturating_add(marking.min(u128::from(u64::MAX)) as SimTime)
    }

    /// Reachable bytes in the old generation (what a heap snapshot shows
    /// after a full GC).
    pub fn live_bytes(&self) -> u64 {
        self.live
    }

    /// Old-generation bytes in use, live or not yet collected (what
    /// `heapUsed` shows, minus the young generation).
    pub fn used(&self) -> u64 {
        self.live.saturating_add(self.old_garbage)
    }

    /// The most old-generation bytes ever in use, across restarts; never
    /// more than the limit.
    pub fn peak_used(&self) -> u64 {
        self.peak
    }

    /// Bytes allocated in the young generation since the last minor GC.
    pub fn young_used(&self) -> u64 {
        self.young
    }

    /// The old-generation size at which the next major GC runs.
    pub fn next_major_at(&self) -> u64 {
        self.next_major
    }

    /// The configuration.
    pub fn config(&self) -> &GcConfig {
        &self.cfg
    }

    /// Minor and major GCs so far.
    pub fn gc_counts(&self) -> (u64, u64) {
        (self.minors, self.majors)
    }
}

/// An LRU cache's occupancy: how many entries it holds, up to a capacity.
/// Only the count matters to the heap: once full, each insert evicts one
/// entry, whose memory becomes garbage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundedCache {
    capacity: u64,
    len: u64,
}

impl BoundedCache {
    /// An empty cache holding at most `capacity` entries.
    pub fn new(capacity: u64) -> Self {
        Self { capacity, len: 0 }
    }

    /// Inserts one new entry; returns true if that evicted the least
    /// recently used one (a capacity of 0 evicts the entry itself).
    pub fn insert(&mut self) -> bool {
        if self.len < self.capacity {
            self.len += 1;
            false
        } else {
            true
        }
    }

    /// Entries held.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts `n` new entries; returns how many of them evicted one.
    pub fn insert_many(&mut self, n: u64) -> u64 {
        let room = self.capacity - self.len;
        let stored = n.min(room);
        self.len += stored;
        n - stored
    }

    /// Entries it can take before the first eviction.
    pub fn room(&self) -> u64 {
        self.capacity - self.len
    }

    /// Empties the cache (the process restarted).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> GcConfig {
        GcConfig {
            base_bytes: 10 * MB,
            limit_bytes: 110 * MB,
            young_bytes: MB,
            promote_percent: 50,
            minor_pause: millis(1.0),
            major_base: millis(5.0),
            major_per_mb: millis(1.0),
            headroom_share: 0.5,
            min_step_bytes: MB,
            min_headroom_bytes: MB,
        }
    }

    #[test]
    fn a_minor_gc_runs_each_time_the_young_generation_fills() {
        let mut h = Heap::new(small());
        let mut minors = 0;
        for _ in 0..10 {
            // 1 MB in quarter-MB allocations: a minor GC every fourth one.
            for i in 0..4 {
                let w = h.allocate(MB / 4, 0);
                assert_eq!(w.minor.is_some(), i == 3);
                minors += u64::from(w.minor.is_some());
            }
        }
        assert_eq!(minors, 10);
        // Half of each MB was promoted as garbage.
        assert_eq!(h.used(), 10 * MB + 10 * MB / 2);
        assert_eq!(h.live_bytes(), 10 * MB);
    }

    #[test]
    fn major_gc_frees_garbage_and_its_pause_grows_with_the_live_heap() {
        let mut h = Heap::new(small());
        // Trigger: 10 MB live + half of the 100 MB headroom = 60 MB.
        assert_eq!(h.next_major_at(), 60 * MB);
        let w = h.allocate(0, 50 * MB);
        // 60 MB live: 5 ms + 60 × 1 ms.
        assert_eq!(w.major, Some(millis(65.0)));
        assert_eq!(h.used(), 60 * MB);
        // Next trigger: 60 + (110 − 60) / 2 = 85 MB.
        assert_eq!(h.next_major_at(), 85 * MB);
        h.free(20 * MB);
        assert_eq!((h.live_bytes(), h.used()), (40 * MB, 60 * MB));
    }

    #[test]
    fn a_leak_makes_major_gcs_more_frequent_and_longer_then_runs_out_of_memory() {
        let mut h = Heap::new(small());
        let mut majors: Vec<(u64, SimTime)> = Vec::new();
        let mut oom_at = None;
        // Each step leaks 64 KB and promotes 64 KB of garbage.
        for step in 0..10_000u64 {
            let w = h.allocate(128 * KB, 64 * KB);
            if let Some(p) = w.major {
                majors.push((step, p));
            }
            if w.out_of_memory {
                oom_at = Some(step);
                break;
            }
        }
        let oom_at = oom_at.unwrap_or_else(|| panic!("a leak must end in OOM"));
        // Out of memory once the live heap is over 110 − 1 = 109 MB: after
        // step s it is 10 MB + (s + 1) × 64 KB, over 109 MB from s + 1 =
        // 99 000 / 64 = 1 546.9, so s = 1 546. It shows at the next major GC,
        // at most 1 MB (15.6 steps of leak) later.
        assert!((1_546..=1_562).contains(&oom_at), "oom at {oom_at}");
        let gaps: Vec<u64> = majors.windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert!(gaps.len() > 5);
        let (first, last) = (gaps[0], gaps[gaps.len() - 1]);
        assert!(last * 4 < first, "GCs come more often: {gaps:?}");
        assert!(
            majors.windows(2).all(|m| m[1].1 > m[0].1),
            "and last longer"
        );
        h.restart();
        assert_eq!(
            (h.live_bytes(), h.used(), h.young_used()),
            (10 * MB, 10 * MB, 0)
        );
    }

    #[test]
    fn without_a_leak_the_heap_stays_flat() {
        let mut h = Heap::new(small());
        let mut peak = 0;
        for _ in 0..100_000 {
            assert!(!h.allocate(64 * KB, 0).out_of_memory);
            peak = peak.max(h.used());
        }
        assert_eq!(h.live_bytes(), 10 * MB);
        assert!(peak <= 60 * MB, "garbage never exceeds the first trigger");
        // The peak is seen just before a major GC: the trigger plus at most
        // one promotion (half of the 1 MB young generation).
        assert!(h.peak_used() >= 60 * MB && h.peak_used() <= 60 * MB + MB / 2);
        assert!(h.gc_counts().1 > 10);
    }

    #[test]
    fn old_and_young_never_pass_the_limit_together() {
        // The whole headroom per cycle: the first trigger is the 110 MB limit
        // itself. Each allocation fills the 1 MB young generation, and its
        // scavenge promotes 0.3 MB (30 %), so before allocation i the old
        // generation holds 10 + 0.3 × (i − 1) MB. Old + young first reach the
        // limit when 10 + 0.3 × (i − 1) + 1 ≥ 110, at i − 1 = 330: allocation
        // 331 finds 109 MB old + 1 MB young and collects everything instead
        // of scavenging. The old generation peaked at 109 MB, under the limit.
        let cfg = GcConfig {
            promote_percent: 30,
            headroom_share: 1.0,
            ..small()
        };
        let limit = cfg.limit_bytes;
        let mut h = Heap::new(cfg);
        assert_eq!(h.next_major_at(), limit);
        for i in 1..=331 {
            let w = h.allocate(MB, 0);
            assert!(!w.out_of_memory);
            assert_eq!(w.major.is_some(), i == 331, "allocation {i}");
            assert_eq!(w.minor.is_some(), i < 331, "allocation {i}");
        }
        assert_eq!(h.peak_used(), 109 * MB);
        assert_eq!((h.used(), h.young_used()), (10 * MB, 0));
    }

    #[test]
    fn near_the_limit_major_gcs_come_every_free_room_of_allocation() {
        // A 16 MB young generation, so that with 4 MB free no scavenge comes
        // first: the free room is all the allocations have.
        let cfg = GcConfig {
            young_bytes: 16 * MB,
            ..small()
        };
        let mut h = Heap::new(cfg);
        // 96 MB retained at once: 106 MB live, over the 60 MB trigger, so a
        // major GC of 5 + 106 × 1 ms.
        let w = h.allocate(0, 96 * MB);
        assert_eq!(w.major, Some(millis(111.0)));
        // Each step allocates 100 KB of garbage and leaks 10 KB: 110 KB more
        // towards the limit. The old-generation trigger, 106 + 4 / 2 = 108 MB,
        // would take 200 steps of leak; old + young reach 110 MB first, after
        // ceil(4 MB / 110 KB) = ceil(36.4) = 37 steps.
        let step = 110 * KB;
        let mut since = 0u64;
        let mut gaps = Vec::new();
        let mut pauses = Vec::new();
        let mut free_before = h.config().limit_bytes - h.live_bytes();
        let oom = loop {
            since += 1;
            let w = h.allocate(100 * KB, 10 * KB);
            assert_eq!(w.minor, None, "no scavenge with less than 16 MB free");
            let Some(pause) = w.major else { continue };
            // Every gap is the free room left by the previous GC, in steps.
            assert_eq!(since, free_before.div_ceil(step), "gap {}", gaps.len());
            // And that GC took all the garbage, young and old.
            assert_eq!((h.young_used(), h.used()), (0, h.live_bytes()));
            gaps.push(since);
            pauses.push(pause);
            since = 0;
            free_before = h.config().limit_bytes - h.live_bytes();
            if w.out_of_memory {
                break free_before;
            }
        };
        assert_eq!(gaps[0], 37);
        // The gaps shrink towards nothing while the pauses grow: at the end
        // under 1 MB is free, ceil(1 MB / 110 KB) = 10 steps or fewer apart.
        assert!(gaps.windows(2).all(|g| g[1] <= g[0]), "{gaps:?}");
        assert!(*gaps.last().unwrap_or(&0) <= 10, "{gaps:?}");
        assert!(pauses.windows(2).all(|p| p[1] > p[0]));
        // Out of memory at the first GC leaving under the 1 MB minimum free.
        assert!(oom < MB, "{oom}");
        let before_last = free_before + gaps[gaps.len() - 1] * 10 * KB;
        assert!(before_last >= MB, "the GC before still left {before_last}");
    }

    #[test]
    fn allocate_many_leaves_the_heap_exactly_as_one_request_at_a_time() {
        // The oracle: `free` and `allocate` per request, stopping after a
        // major GC, as `allocate_many` promises.
        fn one_by_one(h: &mut Heap, n: u64, g: u64, r: u64, f: u64) -> Batch {
            let mut b = Batch::default();
            while b.requests < n {
                h.free(f);
                let w = h.allocate(g, r);
                b.requests += 1;
                b.minors += u64::from(w.minor.is_some());
                if w.major.is_some() {
                    b.major = w.major;
                    b.out_of_memory = w.out_of_memory;
                    break;
                }
            }
            b
        }
        let shapes = [
            // (garbage, retained, freed): a leak, an LRU steady state, no
            // leak, retained only, a young generation filled per request,
            // and frees larger than what is retained.
            (64 * KB, 2 * KB, 0),
            (64 * KB, 2 * KB, 2 * KB),
            (64 * KB, 0, 0),
            (0, 30 * KB, 0),
            (2 * MB, 10 * KB, 0),
            (10 * KB, KB, 3 * KB),
        ];
        for (g, r, f) in shapes {
            for cfg in [small(), GcConfig::node(256.0)] {
                let (mut bulk, mut exact) = (Heap::new(cfg.clone()), Heap::new(cfg));
                // Batch sizes that cut across collections in different places.
                for (step, n) in [1_u64, 7, 250, 3_000, 40_000]
                    .iter()
                    .cycle()
                    .take(60)
                    .enumerate()
                {
                    let a = bulk.allocate_many(*n, g, r, f);
                    let b = one_by_one(&mut exact, *n, g, r, f);
                    assert_eq!(a, b, "step {step}, shape {:?}", (g, r, f));
                    assert_eq!(bulk, exact, "step {step}, shape {:?}", (g, r, f));
                    if a.out_of_memory {
                        bulk.restart();
                        exact.restart();
                    }
                }
                assert!(
                    exact.gc_counts().0 > 0 || g == 0,
                    "the test crossed no collection"
                );
            }
        }
    }

    #[test]
    fn bounded_cache_counts_evictions_in_bulk() {
        let mut c = BoundedCache::new(5);
        assert_eq!(c.insert_many(3), 0);
        assert_eq!(c.room(), 2);
        assert_eq!(c.insert_many(4), 2, "two fit, two evict");
        assert_eq!(c.len(), 5);
    }

    #[test]
    fn bounded_cache_evicts_once_full() {
        let mut c = BoundedCache::new(2);
        assert!(!c.insert() && !c.insert());
        assert!(c.insert());
        assert_eq!(c.len(), 2);
        c.clear();
        assert!(c.is_empty());
        assert!(BoundedCache::new(0).insert());
    }
}
