//! Fetching a scenario's data file when the site does not embed it: the
//! page before it mounts, the worker before its first job. Both fetch
//! `data/<id>.json` relative to themselves (the page's URL, the worker
//! script's URL), which is the same file in `dist/data/`.

/// Makes sure scenario `id`'s data is installed, fetching it if need be.
pub async fn ensure(id: &str) -> Result<(), String> {
    if crate::scenarios::is_loaded(id) {
        return Ok(());
    }
    fetch_and_install(id).await
}

#[cfg(feature = "embedded-data")]
async fn fetch_and_install(id: &str) -> Result<(), String> {
    crate::scenarios::find(id)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "embedded-data"))]
async fn fetch_and_install(id: &str) -> Result<(), String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let url = format!("data/{id}.json");
    let failed = |what: &str| format!("could not load {url}: {what}");
    let global = js_sys::global();
    let request = match global.dyn_ref::<web_sys::Window>() {
        Some(window) => window.fetch_with_str(&url),
        None => global
            .unchecked_ref::<web_sys::WorkerGlobalScope>()
            .fetch_with_str(&url),
    };
    // A network error, or a host whose answer a sandboxed embed may not
    // read (no Access-Control-Allow-Origin header), rejects the promise.
    let response: web_sys::Response = JsFuture::from(request)
        .await
        .map_err(|_| failed("the request failed (offline, or the host sends no CORS headers)"))?
        .dyn_into()
        .map_err(|_| failed("not a response"))?;
    if !response.ok() {
        return Err(failed(&format!("HTTP {}", response.status())));
    }
    let text = JsFuture::from(response.text().map_err(|_| failed("no body"))?)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .ok_or_else(|| failed("unreadable body"))?;
    crate::scenarios::install(id, &text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
