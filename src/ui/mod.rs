//! The browser playground: thin Leptos components over the pure modules
//! (`spec`, `present`, `draw`, `protocol`). Compiled for wasm32 only.

mod app;
mod browser;
mod catalogue;
mod chart;
mod controls;
mod runner;
mod scenario;

pub use app::App;
pub use runner::worker_main;

/// True inside a Web Worker (no window to mount into).
pub fn in_worker() -> bool {
    use wasm_bindgen::JsCast;
    js_sys::global().dyn_into::<web_sys::Window>().is_err()
}

/// Starts the app: installs the panic banner, then mounts [`App`].
pub fn start() {
    browser::install_panic_banner();
    leptos::mount::mount_to_body(App);
}
