//! Fetching a scenario's data file when the site does not embed it: the
//! page before it mounts, the worker before its first job. Both fetch
//! `data/<id>.json` relative to themselves (the page's URL, the worker
//! script's URL), which is the same file in `dist/data/`. A scenario's
//! lesson is a file of its own (`data/<id>.lesson.json`), fetched after
//! the page is interactive.

/// Makes sure scenario `id`'s data is installed, fetching it if need be.
pub async fn ensure(id: &str) -> Result<(), String> {
    if crate::scenarios::is_loaded(id) {
        return Ok(());
    }
    fetch_and_install(id).await
}

/// Scenario `id`'s default run as the site precomputed it
/// (`data/<id>.first.json`), shown until the simulator has loaded; `None`
/// where there is none (a build with embedded data runs it at once).
pub async fn first_run(id: &str) -> Option<crate::engine::RunResult> {
    #[cfg(not(feature = "embedded-data"))]
    {
        let text = fetch_text(&data_url(id, "first.json")).await.ok()?;
        crate::spec::parse_json_value(&text).ok()
    }
    #[cfg(feature = "embedded-data")]
    {
        let _ = id;
        None
    }
}

/// Makes sure scenario `id`'s lesson is at hand, fetching it if need be.
pub async fn ensure_lesson(id: &str) -> Result<&'static crate::spec::Lesson, String> {
    if let Some(l) = crate::scenarios::lesson(id) {
        return Ok(l);
    }
    fetch_lesson(id).await
}

#[cfg(feature = "embedded-data")]
async fn fetch_lesson(id: &str) -> Result<&'static crate::spec::Lesson, String> {
    Err(format!("scenario '{id}' has no lesson"))
}

#[cfg(not(feature = "embedded-data"))]
async fn fetch_lesson(id: &str) -> Result<&'static crate::spec::Lesson, String> {
    let text = fetch_text(&data_url(id, "lesson.json")).await?;
    crate::scenarios::install_lesson(id, &text).map_err(|e| e.to_string())
}

#[cfg(feature = "embedded-data")]
async fn fetch_and_install(id: &str) -> Result<(), String> {
    crate::scenarios::find(id)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "embedded-data"))]
async fn fetch_and_install(id: &str) -> Result<(), String> {
    let text = fetch_text(&data_url(id, "json")).await?;
    crate::scenarios::install(id, &text).map_err(|e| e.to_string())?;
    TEXTS.with(|t| t.borrow_mut().push((id.to_string(), text)));
    Ok(())
}

#[cfg(not(feature = "embedded-data"))]
thread_local! {
    /// The data files as fetched, for the page's own simulator instance.
    static TEXTS: std::cell::RefCell<Vec<(String, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Scenario `id`'s data file as fetched, if it was.
pub fn text_of(id: &str) -> Option<String> {
    #[cfg(not(feature = "embedded-data"))]
    {
        TEXTS.with(|t| {
            t.borrow()
                .iter()
                .find(|(k, _)| k == id)
                .map(|(_, v)| v.clone())
        })
    }
    #[cfg(feature = "embedded-data")]
    {
        let _ = id;
        None
    }
}

/// Where scenario `id`'s file with `suffix` is: in this build's own data
/// directory, so a page from an older build that a browser kept finds
/// nothing (and says to reload) rather than newer data it cannot read.
#[cfg(not(feature = "embedded-data"))]
fn data_url(id: &str, suffix: &str) -> String {
    format!("data/{}/{id}.{suffix}", crate::STAMP)
}

/// The body of `url` (relative to the page or the worker script), or why not.
#[cfg(not(feature = "embedded-data"))]
async fn fetch_text(url: &str) -> Result<String, String> {
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    let failed = |what: &str| format!("could not load {url}: {what}");
    let global = js_sys::global();
    // In the simulation worker (started from a blob) relative URLs have no
    // base: resolve them against the site's address the page passed in.
    let absolute = js_sys::Reflect::get(&global, &JsValue::from_str("PRODSIM_BASE"))
        .ok()
        .and_then(|b| b.as_string())
        .and_then(|base| web_sys::Url::new_with_base(url, &base).ok())
        .map(|u| u.href());
    let url = absolute.as_deref().unwrap_or(url);
    let request = match global.dyn_ref::<web_sys::Window>() {
        Some(window) => window.fetch_with_str(url),
        None => global
            .unchecked_ref::<web_sys::WorkerGlobalScope>()
            .fetch_with_str(url),
    };
    // A network error, or a host whose answer a sandboxed embed may not
    // read (no Access-Control-Allow-Origin header), rejects the promise.
    let response: web_sys::Response = JsFuture::from(request)
        .await
        .map_err(|_| failed("the request failed (offline, or the host sends no CORS headers)"))?
        .dyn_into()
        .map_err(|_| failed("not a response"))?;
    if response.status() == 404 && url.contains(crate::STAMP) {
        return Err(failed(
            "this page is from an older version of the site; reload it to get the current one",
        ));
    }
    if !response.ok() {
        return Err(failed(&format!("HTTP {}", response.status())));
    }
    JsFuture::from(response.text().map_err(|_| failed("no body"))?)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .ok_or_else(|| failed("unreadable body"))
}
