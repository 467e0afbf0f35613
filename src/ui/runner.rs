//! Runs simulations without freezing the page, in a Web Worker that starts
//! the simulator (`prodsim-sim.js` and its wasm, which carry the models; the
//! page's own wasm does not). The worker sends back progress and results; a
//! newer job cancels an older one by terminating the worker. The worker is
//! a classic script made from a blob that imports the simulator by its
//! absolute URL, so it starts in a sandboxed embed too (which has no origin
//! to load a worker script from). A worker that errors, or stays silent
//! past [`STALL_MS`] while it owes an answer, is stopped and its job rerun
//! on the page.
//!
//! A job expected to be small (judged by the events per simulated second
//! its scenario produced last time) runs on the page instead, skipping the
//! round trip: in the page's own instance of the simulator, loaded after the
//! page is interactive (or directly, in a build with the models, feature
//! `sim`: the browser tests, which also run every job on the page when no
//! worker can start).

use crate::protocol::{answer, execute, Job, Reply, Wire};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// The simulator's script and wasm, next to the page (Trunk's worker build
/// of the `prodsim-sim` binary).
const SIM_JS: &str = "prodsim-sim.js";
const SIM_WASM: &str = "prodsim-sim_bg.wasm";

/// Jobs estimated below this many events run on the page: a few
/// milliseconds of work, less than a round trip through the worker costs.
const PAGE_EVENT_BUDGET: f64 = 150_000.0;

/// A worker that has said nothing for this long since it was started or
/// handed a job has stalled (a start or a data fetch that never finished,
/// with no error event): it is stopped and the job reruns on the page, as
/// after a crash. Once a job reports progress it is trusted to finish, as a
/// long run may take minutes.
const STALL_MS: f64 = 15_000.0;

type OnReply = Rc<dyn Fn(Reply)>;
type Listener = Closure<dyn FnMut(web_sys::MessageEvent)>;
type ErrorListener = Closure<dyn FnMut(web_sys::Event)>;

#[derive(Default)]
struct Runner {
    worker: Option<web_sys::Worker>,
    /// The worker has loaded its wasm and installed its listener; until
    /// then a message would be lost, so the latest job waits in `current`.
    ready: bool,
    /// The job in the worker (or waiting for it), kept to rerun on the page
    /// if the worker fails.
    current: Option<Job>,
    busy: bool,
    unavailable: bool,
    /// Workers that failed to start or died.
    worker_errors: u32,
    /// When the worker was started or handed `current`, while it has not
    /// answered since (the watchdog's clock, in page milliseconds).
    waiting_since: Option<f64>,
    /// A watchdog task is running.
    watching: bool,
    /// The page's simulator failed to answer a small job: send every job
    /// to the worker.
    page_sim_broken: bool,
    on_reply: Option<OnReply>,
    /// Events per simulated second of each scenario's latest run.
    event_rates: Vec<(String, f64)>,
    // Kept alive as long as the worker uses them.
    _listeners: Option<(Listener, ErrorListener)>,
}

impl Runner {
    /// Remembers how many events per simulated second `scenario` produced.
    fn learn(&mut self, scenario: &str, results: &[crate::engine::RunResult]) {
        let seconds: f64 = results.iter().map(|r| r.duration_s).sum();
        let events: u64 = results.iter().map(|r| r.events).sum();
        if seconds <= 0.0 {
            return;
        }
        let rate = events as f64 / seconds;
        match self.event_rates.iter_mut().find(|(s, _)| s == scenario) {
            Some(entry) => entry.1 = rate,
            None => self.event_rates.push((scenario.to_string(), rate)),
        }
    }

    /// True when `job` is known to be small enough to run on the page.
    fn small(&self, job: &Job) -> bool {
        if !cfg!(feature = "sim") && (self.page_sim_broken || !page_sim::ready()) {
            return false;
        }
        let Some((_, rate)) = self.event_rates.iter().find(|(s, _)| *s == job.scenario) else {
            return false;
        };
        let seconds: f64 = job.runs.iter().map(|r| r.duration_s).sum();
        rate * seconds < PAGE_EVENT_BUDGET
    }
}

thread_local! {
    static RUNNER: RefCell<Runner> = RefCell::new(Runner::default());
}

/// A [`Wire`] message as the value posted between threads (and passed to
/// the page's simulator): `[Float64Array numbers, string text,
/// Uint32Array lengths]`, every word in one string with its length in
/// UTF-8 bytes, so a message crosses between wasm and JavaScript in three
/// pieces rather than one per word.
pub fn to_js(wire: &Wire) -> JsValue {
    let numbers = js_sys::Float64Array::new_from_slice(&wire.numbers);
    let text = JsValue::from_str(&wire.words.concat());
    let lengths: Vec<u32> = wire.words.iter().map(|w| w.len() as u32).collect();
    let lengths = js_sys::Uint32Array::new_from_slice(&lengths);
    js_sys::Array::of3(&numbers, &text, &lengths).into()
}

/// The [`Wire`] message in a posted value, if it is one (lengths that do
/// not cut the text into whole characters make it none).
pub fn from_js(value: &JsValue) -> Option<Wire> {
    let parts: &js_sys::Array = value.dyn_ref()?;
    let numbers: js_sys::Float64Array = parts.get(0).dyn_into().ok()?;
    let text = parts.get(1).as_string()?;
    let lengths: js_sys::Uint32Array = parts.get(2).dyn_into().ok()?;
    let mut words = Vec::with_capacity(lengths.length() as usize);
    let mut at = 0usize;
    for len in lengths.to_vec() {
        let end = at.checked_add(len as usize)?;
        words.push(text.get(at..end)?.to_string());
        at = end;
    }
    if at != text.len() {
        return None;
    }
    Some(Wire {
        numbers: numbers.to_vec(),
        words,
    })
}

fn post(worker: &web_sys::Worker, job: &Job) -> bool {
    worker.post_message(&to_js(&job.encode())).is_ok()
}

fn on_message(ev: web_sys::MessageEvent) {
    let Some(reply) = from_js(&ev.data()).and_then(|w| Reply::decode(&w).ok()) else {
        return;
    };
    let handler = RUNNER.with(|r| {
        let mut r = r.borrow_mut();
        if let Reply::Ready = reply {
            r.ready = true;
            r.waiting_since = None;
            if let (Some(job), Some(w)) = (r.current.as_ref(), r.worker.as_ref()) {
                post(w, job);
                r.waiting_since = Some(crate::ui::browser::now_ms());
            }
            return None;
        }
        // Any answer to the job shows the worker alive.
        r.waiting_since = None;
        match reply {
            Reply::Done { ref results, .. } => {
                if let Some(job) = r.current.take() {
                    r.learn(&job.scenario, results);
                }
                r.busy = false;
            }
            Reply::Failed { .. } => {
                r.busy = false;
                r.current = None;
            }
            Reply::Ready | Reply::Progress { .. } => {}
        }
        r.on_reply.clone()
    });
    if let Some(h) = handler {
        h(reply);
    }
}

/// The worker could not start or crashed: stop using workers and run the
/// job it had on the page instead.
fn on_error(_: web_sys::Event) {
    fail_over();
}

/// Stops the worker and reruns its job on the page (after three failed
/// workers, every later job runs there).
fn fail_over() {
    let retry = RUNNER.with(|r| {
        let mut r = r.borrow_mut();
        // A worker can fail to start once (the browser short of memory for
        // another wasm instance): give up on workers only after three.
        r.worker_errors += 1;
        r.unavailable = r.worker_errors >= 3;
        r.busy = false;
        r.waiting_since = None;
        if let Some(w) = r.worker.take() {
            w.terminate();
        }
        r.current.take().zip(r.on_reply.clone())
    });
    if let Some((job, on_reply)) = retry {
        run_on_page(job, on_reply, true);
    }
}

/// Watches the worker while it owes an answer (see [`STALL_MS`]); one task
/// at a time, ending when nothing is owed.
fn watch() {
    let start = RUNNER.with(|r| !std::mem::replace(&mut r.borrow_mut().watching, true));
    if !start {
        return;
    }
    leptos::task::spawn_local(async {
        loop {
            gloo_timers::future::TimeoutFuture::new(1_000).await;
            let stalled = RUNNER.with(|r| {
                let mut r = r.borrow_mut();
                let stalled = r
                    .waiting_since
                    .map(|since| crate::ui::browser::now_ms() - since > STALL_MS);
                if stalled != Some(false) {
                    r.watching = false;
                }
                stalled
            });
            match stalled {
                None => return,
                Some(true) => return fail_over(),
                Some(false) => {}
            }
        }
    });
}

/// The simulator's script and wasm by absolute URL (a blob worker has no
/// base to resolve relative ones against).
fn sim_urls() -> Option<(String, String)> {
    let base = web_sys::window()?.document()?.base_uri().ok()??;
    let absolute = |file: &str| {
        web_sys::Url::new_with_base(file, &base)
            .ok()
            .map(|u| u.href())
    };
    // Asked for with the build stamp: a browser that kept an older build's
    // simulator cannot hand it to this page.
    let stamped = |file: &str| absolute(&format!("{file}?v={}", crate::STAMP));
    Some((stamped(SIM_JS)?, stamped(SIM_WASM)?))
}

fn spawn_worker() -> Option<(web_sys::Worker, Listener, ErrorListener)> {
    let base = web_sys::window()?.document()?.base_uri().ok()??;
    let (js, wasm) = sim_urls()?;
    // JSON string literals: the URLs quoted and escaped for the script.
    let quote = |s: &str| {
        js_sys::JSON::stringify(&JsValue::from_str(s))
            .ok()
            .and_then(|q| q.as_string())
    };
    // The worker's own URL is a blob: it is told the site's address, which
    // its data fetches resolve against. A failed start (the browser short of
    // memory for one more wasm instance) is rethrown as an uncaught error,
    // which the page hears as the worker's `error` event; a rejected promise
    // alone would leave the job waiting for ever.
    let source = format!(
        "self.PRODSIM_BASE={};importScripts({});wasm_bindgen({{module_or_path:{}}}).catch(e=>setTimeout(()=>{{throw e}}));",
        quote(&base)?,
        quote(&js)?,
        quote(&wasm)?
    );
    let parts = js_sys::Array::of1(&JsValue::from_str(&source));
    let bag = web_sys::BlobPropertyBag::new();
    bag.set_type("text/javascript");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &bag).ok()?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
    let worker = web_sys::Worker::new(&url).ok()?;
    if !cfg!(feature = "sim") {
        page_sim::load(&js, &wasm);
    }
    let listener = Listener::new(on_message);
    let error_listener = ErrorListener::new(on_error);
    worker.set_onmessage(Some(listener.as_ref().unchecked_ref()));
    worker.set_onerror(Some(error_listener.as_ref().unchecked_ref()));
    Some((worker, listener, error_listener))
}

/// Whether a job of `scenario` would find the simulator started: its
/// wasm loaded (in the page or the worker) and the scenario's data file
/// installed. Until a first run of the scenario has come back, a job's time
/// includes that start, which can be far longer than the run itself. A
/// build with the models in the page has nothing to start.
pub fn started_for(scenario: &str) -> bool {
    cfg!(feature = "sim")
        || RUNNER.with(|r| r.borrow().event_rates.iter().any(|(s, _)| s == scenario))
}

/// Submits `job`; `on_reply` hears its progress and result. Replies of an
/// earlier job are never delivered after this call. Returns false when the
/// job runs on the page right away (its result comes before the next
/// frame), true when it runs in the background.
pub fn submit(job: Job, on_reply: impl Fn(Reply) + 'static) -> bool {
    let on_reply: OnReply = Rc::new(on_reply);
    let route = RUNNER.with(|r| {
        let mut r = r.borrow_mut();
        r.on_reply = Some(Rc::clone(&on_reply));
        if r.unavailable {
            return Route::PageAfterYield;
        }
        if r.small(&job) {
            // Any older job in the worker is stale now.
            if r.busy {
                if let Some(w) = r.worker.take() {
                    w.terminate();
                }
                r.busy = false;
                r.current = None;
                r.waiting_since = None;
            }
            return Route::PageNow;
        }
        if r.busy && r.ready {
            // Cancel the stale run for real: stop its worker.
            if let Some(w) = r.worker.take() {
                w.terminate();
            }
        }
        if r.worker.is_none() {
            let Some((w, l, e)) = spawn_worker() else {
                r.unavailable = true;
                return Route::PageAfterYield;
            };
            r.worker = Some(w);
            r._listeners = Some((l, e));
            r.ready = false;
            r.waiting_since = Some(crate::ui::browser::now_ms());
        }
        r.busy = true;
        // Not ready yet: sent as soon as the worker says it is listening
        // (the start-up clock already runs).
        if r.ready {
            if !r.worker.as_ref().is_some_and(|w| post(w, &job)) {
                r.unavailable = true;
                return Route::PageAfterYield;
            }
            r.waiting_since = Some(crate::ui::browser::now_ms());
        }
        r.current = Some(job.clone());
        Route::Worker
    });
    match route {
        Route::Worker => {
            watch();
            true
        }
        Route::PageNow => {
            run_on_page(job, on_reply, false);
            false
        }
        Route::PageAfterYield => {
            run_on_page(job, on_reply, true);
            true
        }
    }
}

/// Where a job runs.
enum Route {
    Worker,
    /// Small: on the page, in the next microtask.
    PageNow,
    /// No worker: on the page, after letting input and paint happen.
    PageAfterYield,
}

fn run_on_page(job: Job, on_reply: OnReply, yield_first: bool) {
    leptos::task::spawn_local(async move {
        if yield_first {
            gloo_timers::future::TimeoutFuture::new(0).await;
        }
        // Without the models here, wait for the page's own simulator (a
        // worker that failed sends its job here before that has loaded).
        if !cfg!(feature = "sim") {
            if let Some((js, wasm)) = sim_urls() {
                page_sim::load(&js, &wasm);
            }
            for _ in 0..1_500 {
                if !page_sim::loading() {
                    break;
                }
                gloo_timers::future::TimeoutFuture::new(20).await;
            }
        }
        // A newer job replaced ours while we waited: drop this one.
        let current = RUNNER.with(|r| r.borrow().on_reply.clone());
        if !current.is_some_and(|c| Rc::ptr_eq(&c, &on_reply)) {
            return;
        }
        let result = run_on_this_page(&job);
        if matches!(&result, Err(m) if m == PAGE_SIM_SILENT) && !yield_first {
            // The page's simulator took a small job and gave no answer:
            // stop using it and send the job to the worker instead.
            RUNNER.with(|r| r.borrow_mut().page_sim_broken = true);
            submit(job, move |reply| on_reply(reply));
            return;
        }
        let reply = match result {
            Ok(results) => {
                RUNNER.with(|r| r.borrow_mut().learn(&job.scenario, &results));
                Reply::Done {
                    id: job.id,
                    results,
                }
            }
            Err(message) => Reply::Failed {
                id: job.id,
                message,
            },
        };
        on_reply(reply);
    });
}

/// What a run on the page reports when the page's simulator gave no reply.
const PAGE_SIM_SILENT: &str = "the simulator on the page did not answer";

/// Runs `job` on the page: in this wasm when it has the models, else in the
/// page's instance of the simulator.
fn run_on_this_page(job: &Job) -> Result<Vec<crate::engine::RunResult>, String> {
    if cfg!(feature = "sim") {
        return execute(job, Rc::new(|_| {}));
    }
    match page_sim::run(job) {
        Some(Reply::Done { results, .. }) => Ok(results),
        Some(Reply::Failed { message, .. }) => Err(message),
        _ => Err(PAGE_SIM_SILENT.into()),
    }
}

/// The simulator loaded into the page itself (its no-modules script defines
/// a global `wasm_bindgen` object whose functions are its exports), for
/// jobs too small to be worth the trip to the worker.
mod page_sim {
    use super::{from_js, to_js, JsValue};
    use crate::protocol::{Job, Reply};
    use std::cell::RefCell;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    #[derive(Default)]
    enum State {
        #[default]
        NotLoaded,
        Loading,
        Ready(JsValue),
        Failed,
    }

    thread_local! {
        static STATE: RefCell<State> = RefCell::new(State::default());
        /// Scenarios whose data file the page's simulator has installed.
        static INSTALLED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    /// Whether the page's simulator can take a job now.
    pub fn ready() -> bool {
        STATE.with(|s| matches!(*s.borrow(), State::Ready(_)))
    }

    /// Whether it is on its way (neither ready nor failed).
    pub fn loading() -> bool {
        STATE.with(|s| matches!(*s.borrow(), State::Loading | State::NotLoaded))
    }

    fn call(sim: &JsValue, name: &str, args: &[JsValue]) -> Option<JsValue> {
        let f: js_sys::Function = js_sys::Reflect::get(sim, &JsValue::from_str(name))
            .ok()?
            .dyn_into()
            .ok()?;
        let list: js_sys::Array = args.iter().collect();
        f.apply(sim, &list).ok()
    }

    /// Starts loading the simulator into the page (once), after the page is
    /// up: a classic script, then its wasm.
    pub fn load(js_url: &str, wasm_url: &str) {
        let start = STATE.with(|s| {
            let mut s = s.borrow_mut();
            if matches!(*s, State::NotLoaded) {
                *s = State::Loading;
                true
            } else {
                false
            }
        });
        if !start {
            return;
        }
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let Ok(script) = document.create_element("script") else {
            return;
        };
        let _ = script.set_attribute("src", js_url);
        let wasm_url = wasm_url.to_string();
        let onload = Closure::once(move || {
            // A top-level `let` of a classic script: a global binding, but
            // not a property of `window`, so it is read by name.
            let sim = js_sys::Function::new_no_args(
                "return typeof wasm_bindgen === 'undefined' ? undefined : wasm_bindgen",
            )
            .call0(&JsValue::NULL)
            .unwrap_or(JsValue::UNDEFINED);
            let Ok(init) = sim.clone().dyn_into::<js_sys::Function>() else {
                STATE.with(|s| *s.borrow_mut() = State::Failed);
                return;
            };
            let options = js_sys::Object::new();
            let _ = js_sys::Reflect::set(
                &options,
                &JsValue::from_str("module_or_path"),
                &JsValue::from_str(&wasm_url),
            );
            let Ok(promise) = init
                .call1(&JsValue::NULL, &options)
                .and_then(|p| p.dyn_into::<js_sys::Promise>())
            else {
                STATE.with(|s| *s.borrow_mut() = State::Failed);
                return;
            };
            wasm_bindgen_futures::spawn_local(async move {
                let loaded = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
                STATE.with(|s| {
                    *s.borrow_mut() = if loaded {
                        State::Ready(sim)
                    } else {
                        State::Failed
                    }
                });
            });
        });
        let onerror = Closure::once(move || STATE.with(|s| *s.borrow_mut() = State::Failed));
        let _ = js_sys::Reflect::set(&script, &JsValue::from_str("onload"), onload.as_ref());
        let _ = js_sys::Reflect::set(&script, &JsValue::from_str("onerror"), onerror.as_ref());
        onload.forget();
        onerror.forget();
        if let Some(head) = document.head() {
            let _ = head.append_child(&script);
        }
    }

    /// Runs `job` in the page's simulator (its data file installed first).
    pub fn run(job: &Job) -> Option<Reply> {
        let sim = STATE.with(|s| match &*s.borrow() {
            State::Ready(sim) => Some(sim.clone()),
            _ => None,
        })?;
        let installed = INSTALLED.with(|i| i.borrow().contains(&job.scenario));
        if !installed {
            let text = crate::ui::data::text_of(&job.scenario)?;
            let ok = call(
                &sim,
                "install_here",
                &[JsValue::from_str(&job.scenario), JsValue::from_str(&text)],
            )?;
            if ok.as_bool() != Some(true) {
                return None;
            }
            INSTALLED.with(|i| i.borrow_mut().push(job.scenario.clone()));
        }
        let answer = call(&sim, "run_here", &[to_js(&job.encode())])?;
        from_js(&answer).and_then(|w| Reply::decode(&w).ok())
    }
}

/// The simulator's side of [`page_sim`]: installs a fetched data file in
/// this instance.
#[cfg(all(feature = "sim", not(feature = "embedded-data")))]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn install_here(id: &str, json: &str) -> bool {
    crate::scenarios::install(id, json).is_ok()
}

/// The simulator's side of [`page_sim`]: runs one job to its end on the
/// calling thread and returns the final reply.
#[cfg(feature = "sim")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn run_here(message: JsValue) -> JsValue {
    let Some(wire) = from_js(&message) else {
        return JsValue::NULL;
    };
    let last = Rc::new(RefCell::new(None::<Wire>));
    let keep = Rc::clone(&last);
    answer(
        &wire,
        Rc::new(move |reply: Wire| *keep.borrow_mut() = Some(reply)),
    );
    let reply = last.borrow_mut().take();
    reply.map_or(JsValue::NULL, |w| to_js(&w))
}

/// The worker's entry point: answers each job message in turn.
pub fn worker_main() {
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let reply_scope = scope.clone();
    let listener = Listener::new(move |ev: web_sys::MessageEvent| {
        // Anything that is not a message gets a `Failed` reply, not silence.
        let message = from_js(&ev.data()).unwrap_or_default();
        let out = reply_scope.clone();
        let send: Rc<dyn Fn(Wire)> = Rc::new(move |reply: Wire| {
            let _ = out.post_message(&to_js(&reply));
        });
        // The first job of a scenario may have to fetch its data file.
        match Job::decode(&message) {
            Ok(job) if !crate::scenarios::is_loaded(&job.scenario) => {
                wasm_bindgen_futures::spawn_local(async move {
                    match super::data::ensure(&job.scenario).await {
                        Ok(()) => answer(&message, send),
                        Err(message) => send(
                            Reply::Failed {
                                id: job.id,
                                message,
                            }
                            .encode(),
                        ),
                    }
                });
            }
            _ => answer(&message, send),
        }
    });
    scope.set_onmessage(Some(listener.as_ref().unchecked_ref()));
    listener.forget();
    let _ = scope.post_message(&to_js(&Reply::Ready.encode()));
}
