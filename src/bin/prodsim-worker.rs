//! The simulation worker's entry point (built by Trunk as a Web Worker).

#[cfg(target_arch = "wasm32")]
fn main() {
    prodsim::ui::worker_main();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("prodsim-worker runs inside the browser as a Web Worker.");
}
