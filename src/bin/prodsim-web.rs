//! The browser entry point (built by Trunk): mounts the playground, or,
//! when started inside the simulation worker (www/worker.js), answers jobs.

#[cfg(target_arch = "wasm32")]
fn main() {
    if prodsim::ui::in_worker() {
        prodsim::ui::worker_main();
    } else {
        prodsim::ui::start();
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "prodsim-web runs in the browser: use `bash scripts/serve.sh`, or the `prodsim` CLI."
    );
}
