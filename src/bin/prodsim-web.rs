//! The browser entry point (built by Trunk): mounts the playground. Its
//! simulations run in a Web Worker started from `prodsim-sim`.

#[cfg(target_arch = "wasm32")]
fn main() {
    prodsim::ui::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "prodsim-web runs in the browser: use `bash scripts/serve.sh`, or the `prodsim` CLI."
    );
}
