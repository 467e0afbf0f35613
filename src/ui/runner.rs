//! Runs simulations off the page's thread: a Web Worker gets each job and
//! sends back progress and results, so the page never freezes. A newer job
//! cancels an older one by terminating the worker. Where no worker can be
//! started (a sandboxed embed has no origin to load one from) the job runs
//! on the page after yielding once, so input is still handled first.

use crate::protocol::{answer, execute, parse_reply, Job, Reply};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

/// The worker script Trunk emits for the `prodsim-worker` binary.
const WORKER_URL: &str = "./prodsim-worker_loader.js";

type OnReply = Rc<dyn Fn(Reply)>;
type Listener = Closure<dyn FnMut(web_sys::MessageEvent)>;

#[derive(Default)]
struct Runner {
    worker: Option<web_sys::Worker>,
    /// The worker has loaded its wasm and installed its listener; until
    /// then a message would be lost, so the latest job waits here.
    ready: bool,
    pending: Option<String>,
    busy: bool,
    unavailable: bool,
    on_reply: Option<OnReply>,
    // Kept alive as long as the worker uses it.
    _listener: Option<Listener>,
}

thread_local! {
    static RUNNER: RefCell<Runner> = RefCell::new(Runner::default());
}

fn spawn_worker() -> Option<(web_sys::Worker, Listener)> {
    let options = web_sys::WorkerOptions::new();
    let worker = web_sys::Worker::new_with_options(WORKER_URL, &options).ok()?;
    let listener = Listener::new(|ev: web_sys::MessageEvent| {
        let Some(text) = ev.data().as_string() else {
            return;
        };
        let Ok(reply) = parse_reply(&text) else {
            return;
        };
        let handler = RUNNER.with(|r| {
            let mut r = r.borrow_mut();
            match reply {
                Reply::Ready => {
                    r.ready = true;
                    if let (Some(job), Some(w)) = (r.pending.take(), r.worker.as_ref()) {
                        let _ = w.post_message(&job.into());
                    }
                    return None;
                }
                Reply::Done { .. } | Reply::Failed { .. } => r.busy = false,
                Reply::Progress { .. } => {}
            }
            r.on_reply.clone()
        });
        if let Some(h) = handler {
            h(reply);
        }
    });
    worker.set_onmessage(Some(listener.as_ref().unchecked_ref()));
    Some((worker, listener))
}

/// Submits `job`; `on_reply` hears its progress and result. Replies of an
/// earlier job are never delivered after this call.
pub fn submit(job: Job, on_reply: impl Fn(Reply) + 'static) {
    let on_reply: OnReply = Rc::new(on_reply);
    let text = serde_json::to_string(&job).unwrap_or_default();
    let sent = RUNNER.with(|r| {
        let mut r = r.borrow_mut();
        r.on_reply = Some(Rc::clone(&on_reply));
        if r.unavailable {
            return false;
        }
        if r.busy && r.ready {
            // Cancel the stale run for real: stop its worker.
            if let Some(w) = r.worker.take() {
                w.terminate();
            }
        }
        if r.worker.is_none() {
            match spawn_worker() {
                Some((w, l)) => {
                    r.worker = Some(w);
                    r._listener = Some(l);
                    r.ready = false;
                }
                None => {
                    r.unavailable = true;
                    return false;
                }
            }
        }
        r.busy = true;
        if !r.ready {
            // Sent as soon as the worker says it is listening.
            r.pending = Some(text.clone());
            return true;
        }
        let Some(w) = r.worker.as_ref() else {
            return false;
        };
        if w.post_message(&text.clone().into()).is_err() {
            r.unavailable = true;
            return false;
        }
        true
    });
    if !sent {
        run_on_page(job, on_reply);
    }
}

fn run_on_page(job: Job, on_reply: OnReply) {
    leptos::task::spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(0).await;
        // A newer job replaced ours while we waited: drop this one.
        let current = RUNNER.with(|r| r.borrow().on_reply.clone());
        if !current.is_some_and(|c| Rc::ptr_eq(&c, &on_reply)) {
            return;
        }
        let reply = match execute(&job, Rc::new(|_| {})) {
            Ok(results) => Reply::Done {
                id: job.id,
                results,
            },
            Err(message) => Reply::Failed {
                id: job.id,
                message,
            },
        };
        on_reply(reply);
    });
}

/// The worker's entry point: answers each job message in turn.
pub fn worker_main() {
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let reply_scope = scope.clone();
    let listener =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else {
                return;
            };
            let out = reply_scope.clone();
            answer(
                &text,
                Rc::new(move |reply: String| {
                    let _ = out.post_message(&reply.into());
                }),
            );
        });
    scope.set_onmessage(Some(listener.as_ref().unchecked_ref()));
    listener.forget();
    let ready = serde_json::to_string(&Reply::Ready).unwrap_or_default();
    let _ = scope.post_message(&ready.into());
}
