//! Small wrappers over browser APIs: the URL, downloads, the clipboard,
//! the colour scheme, the embed host and the panic banner.

use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;

/// The page's query string (with its leading `?`, or empty).
pub fn query() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

/// The page URL without its query: works from any host and sub-path.
pub fn base_url() -> String {
    web_sys::window()
        .and_then(|w| {
            let l = w.location();
            Some(format!("{}{}", l.origin().ok()?, l.pathname().ok()?))
        })
        .unwrap_or_default()
}

/// Replaces the query string without reloading or adding history.
pub fn replace_query(query: &str) {
    let Some(w) = web_sys::window() else { return };
    let path = w.location().pathname().unwrap_or_default();
    let url = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    if let Ok(h) = w.history() {
        let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&url));
    }
}

/// Sets the document's title (each page has its own, for tabs, history and
/// bookmarks).
pub fn set_title(title: &str) {
    if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
        doc.set_title(title);
    }
}

/// True when the reader prefers a dark colour scheme.
pub fn prefers_dark() -> bool {
    web_sys::window()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .is_some_and(|m| m.matches())
}

/// Calls `changed(dark)` whenever the system's colour scheme changes, until
/// the returned handle is dropped (None: no matchMedia).
pub fn on_colour_scheme_change(changed: impl Fn(bool) + 'static) -> Option<SchemeListener> {
    use wasm_bindgen::closure::Closure;
    let query = web_sys::window()?
        .match_media("(prefers-color-scheme: dark)")
        .ok()
        .flatten()?;
    let watched = query.clone();
    let callback = Closure::<dyn FnMut()>::new(move || changed(watched.matches()));
    query
        .add_event_listener_with_callback("change", callback.as_ref().unchecked_ref())
        .ok()?;
    Some(SchemeListener { query, callback })
}

/// A listener from [`on_colour_scheme_change`]; dropping it stops it.
pub struct SchemeListener {
    query: web_sys::MediaQueryList,
    callback: wasm_bindgen::closure::Closure<dyn FnMut()>,
}

impl Drop for SchemeListener {
    fn drop(&mut self) {
        let _ = self
            .query
            .remove_event_listener_with_callback("change", self.callback.as_ref().unchecked_ref());
    }
}

/// Device pixels per CSS pixel (1 on a plain screen, 2–3 on a phone).
pub fn device_pixel_ratio() -> f64 {
    web_sys::window()
        .map(|w| w.device_pixel_ratio())
        .filter(|r| r.is_finite() && *r > 0.0)
        .unwrap_or(1.0)
}

/// Milliseconds from a monotonic clock (for the status line only; never
/// inside a simulation).
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Starts a download of `href` (a data: URL) as `filename`.
pub fn download(filename: &str, href: &str) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(a) = doc.create_element("a") else {
        return;
    };
    let _ = a.set_attribute("href", href);
    let _ = a.set_attribute("download", filename);
    if let Ok(a) = a.dyn_into::<web_sys::HtmlElement>() {
        a.click();
    }
}

/// A `data:` URL holding `text`.
pub fn data_url(mime: &str, text: &str) -> String {
    let encoded: String = js_sys::encode_uri_component(text).into();
    format!("data:{mime};charset=utf-8,{encoded}")
}

/// Copies `text` to the clipboard (best effort: the page also shows it).
pub fn copy(text: &str) {
    if let Some(w) = web_sys::window() {
        let _ = w.navigator().clipboard().write_text(text);
    }
}

/// In an embed: tells the host page how tall the content is, so embed.js
/// can size the iframe.
pub fn post_height() {
    let Some(w) = web_sys::window() else { return };
    let Some(height) = w
        .document()
        .and_then(|d| d.document_element())
        .map(|e| e.scroll_height())
    else {
        return;
    };
    let Ok(Some(parent)) = w.parent() else { return };
    let msg = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&msg, &"prodsim".into(), &"resize".into());
    let _ = js_sys::Reflect::set(&msg, &"height".into(), &JsValue::from(height));
    let _ = parent.post_message(&msg, "*");
}

/// Shows a visible banner when anything panics, instead of a dead page,
/// after logging the panic to the console.
pub fn install_panic_banner() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let Ok(banner) = doc.create_element("div") else {
            return;
        };
        banner.set_class_name("panic-banner");
        let _ = banner.set_attribute("role", "alert");
        banner.set_text_content(Some(&format!(
            "Prodsim hit an internal error and stopped: {info}. Reload the page to continue; \
             if it happens again, please report the URL."
        )));
        if let Some(body) = doc.body() {
            let _ = body.prepend_with_node_1(&banner);
        }
    }));
}

/// Reports whether an element is on screen, or within half a screen of
/// it, each time that changes; stops when dropped.
pub struct Visibility {
    observer: web_sys::IntersectionObserver,
    _callback: wasm_bindgen::closure::Closure<dyn FnMut(js_sys::Array)>,
}

impl Visibility {
    /// Calls `seen(true)` when `el` comes into the viewport and
    /// `seen(false)` when it leaves (None: no IntersectionObserver).
    pub fn watch(el: &web_sys::Element, seen: impl Fn(bool) + 'static) -> Option<Self> {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        let callback = Closure::<dyn FnMut(js_sys::Array)>::new(move |entries: js_sys::Array| {
            // The newest entry says where the element is now.
            if let Some(entry) = entries
                .iter()
                .last()
                .and_then(|e| e.dyn_into::<web_sys::IntersectionObserverEntry>().ok())
            {
                seen(entry.is_intersecting());
            }
        });
        // No margin: a chart just below the fold is drawn right after the
        // frame anyway (see `after_next_frame`), long before anyone can
        // scroll to it, so only what is on screen delays that frame.
        let options = web_sys::IntersectionObserverInit::new();
        options.set_root_margin("0px");
        let observer = web_sys::IntersectionObserver::new_with_options(
            callback.as_ref().unchecked_ref(),
            &options,
        )
        .ok()?;
        observer.observe(el);
        Some(Self {
            observer,
            _callback: callback,
        })
    }
}

impl Drop for Visibility {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// Runs `f` once the next frame has been rendered and the page is idle
/// (within 200 ms even if it never is): work the visitor cannot see yet
/// goes after the work they can.
pub fn after_next_frame(f: impl FnOnce() + 'static) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let Some(window) = web_sys::window() else {
        f();
        return;
    };
    let later = Closure::once_into_js(move || {
        let run: js_sys::Function = Closure::once_into_js(f).unchecked_into();
        let Some(w) = web_sys::window() else {
            return;
        };
        let options = web_sys::IdleRequestOptions::new();
        options.set_timeout(200);
        // Browsers without requestIdleCallback (Safari) throw: a timeout
        // posted from the animation frame still runs after that frame.
        if w.request_idle_callback_with_options(&run, &options)
            .is_err()
        {
            let _ = w.set_timeout_with_callback(&run);
        }
    });
    let _ = window.request_animation_frame(later.unchecked_ref());
}

/// Makes `el`'s content the markup `html`, changing only what differs: the
/// text and attributes of nodes in the same place, and whole subtrees only
/// where the structure changed. A diagram redrawn for a new run or another
/// moment keeps its boxes and lines, so the browser restyles and lays out
/// a few changed labels rather than every node of a fresh copy. The walk is
/// `prodsimMorph` in `www/index.html`: in JavaScript, one call does the
/// whole tree instead of a call from wasm per node and attribute.
pub fn morph_inner_html(el: &web_sys::Element, html: &str) {
    let morph = web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &JsValue::from_str("prodsimMorph")).ok())
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    let morphed = morph.is_some_and(|f| {
        f.call2(&JsValue::NULL, el, &JsValue::from_str(html))
            .is_ok()
    });
    if !morphed {
        el.set_inner_html(html);
    }
}
