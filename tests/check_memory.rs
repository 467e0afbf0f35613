//! The checker's memory check, in a test binary of its own (it counts the
//! whole process's heap): a model that keeps storage per request is
//! caught, and the real models are not.

use prodsim::check::{self, Case, HeapMeter};
use prodsim::engine::RunResult;
use prodsim::scenarios::{self, Scenario};
use prodsim::spec::{Params, RunConfig, ScenarioSpec, SpecError};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;
static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes straight to the system allocator; the counters
// are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { System.alloc(layout) };
        let now = IN_USE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(now, Relaxed);
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Meter;
impl HeapMeter for Meter {
    fn reset_peak(&self) {
        PEAK.store(IN_USE.load(Relaxed), Relaxed);
    }
    fn peak(&self) -> usize {
        PEAK.load(Relaxed)
    }
}

/// connection-pool, plus 64 bytes kept for every request it saw until the
/// run ends: the per-request storage the check exists to catch.
fn keeps_every_request(
    spec: &ScenarioSpec,
    p: &Params,
    cfg: &RunConfig,
) -> Result<RunResult, SpecError> {
    let out = scenarios::connection_pool::run(spec, p, cfg)?;
    let requests = out.metric("requests").unwrap_or(0.0) as usize;
    let kept: Vec<[u8; 64]> = vec![[1; 64]; requests];
    std::hint::black_box(&kept);
    Ok(out)
}

#[test]
fn storage_per_request_is_caught_and_the_real_model_passes() {
    let real = scenarios::find("connection-pool").unwrap_or_else(|e| panic!("{e}"));
    let leaky = Scenario {
        spec: real.spec.clone(),
        model: keeps_every_request,
    };
    // 2 000 req/s for 60 s, then 240 s and 960 s: 64 bytes × 360 000 more
    // requests is 23 MB, far above what the recorder may hold (about
    // 2.3 MB), and as much again per request the second time.
    let case = Case {
        scenario: "connection-pool".into(),
        preset: None,
        sets: vec![],
        seed: 1,
        duration_s: 60.0,
    };
    let verdict = check::check_memory(&leaky, &case, &Meter);
    assert!(
        verdict.as_ref().is_err_and(|e| e.contains("memory grows")),
        "{verdict:?}"
    );
    assert_eq!(check::check_memory(real, &case, &Meter), Ok(true));
}
