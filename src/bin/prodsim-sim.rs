//! The site's simulator (built by Trunk as a worker, `data-type="worker"`):
//! started inside a Web Worker by the page, it answers simulation jobs. It
//! carries the models; the page (`prodsim-web`) does not.

#[cfg(target_arch = "wasm32")]
fn main() {
    // Also loaded into the page itself, for small jobs: there it only
    // offers its exports (`run_here`, `install_here`).
    if prodsim::ui::in_worker() {
        prodsim::ui::worker_main();
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("prodsim-sim runs in the browser's simulation worker: use the `prodsim` CLI.");
}
