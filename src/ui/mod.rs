//! The browser playground: thin Leptos components over the pure modules
//! (`spec`, `present`, `draw`, `protocol`). Compiled for wasm32 only.

mod app;
mod browser;
mod catalogue;
mod chart;
mod controls;
pub(crate) mod data;
mod runner;
mod scenario;

pub use app::mount_app;
pub use runner::worker_main;
/// A message's form between threads (tested in the browser tests).
pub use runner::{from_js as wire_from_js, to_js as wire_to_js};

/// True inside a Web Worker (no window to mount into).
pub fn in_worker() -> bool {
    use wasm_bindgen::JsCast;
    js_sys::global().dyn_into::<web_sys::Window>().is_err()
}

/// Starts the app: installs the panic banner, fetches the data file of the
/// scenario the URL names (if the site does not embed it), then mounts
/// the app ([`mount_app`]).
pub fn start() {
    browser::install_panic_banner();
    let query = browser::query();
    wasm_bindgen_futures::spawn_local(async move {
        let id = crate::spec::url::scenario_id(&query);
        let registered = id
            .as_deref()
            .is_some_and(|id| crate::scenarios::REGISTRY.iter().any(|e| e.id == id));
        let load_error = match id {
            Some(id) if registered => data::ensure(&id).await.err(),
            _ => None,
        };
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            // The app lives as long as the page.
            std::mem::forget(mount_app(body, load_error));
        }
        // The page's "loading" line (www/index.html) has done its job.
        if let Some(boot) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("boot"))
        {
            boot.remove();
        }
    });
}
